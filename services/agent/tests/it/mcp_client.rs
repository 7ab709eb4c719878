//! The MCP client against the real cloudtrail-mcp server: tool listing with prefixes and
//! Converse-safe schemas, calls, errors, and exactly one HTTP request per tool call.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use agent::tools::{ToolError, ToolProvider};
use axum::middleware::{self, Next};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn lists_prefixed_tools_with_converse_safe_schemas() {
    let mcp = spawn_mcp().await;
    let tools = toolbox(&[&mcp.url], "ct_");
    let listing = tools.list_tools().await;
    assert!(listing.unavailable.is_empty());
    let mut names: Vec<_> = listing.tools.iter().map(|t| t.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        ["ct_get_event", "ct_lookup_events", "ct_summarize_activity"]
    );
    for tool in &listing.tools {
        let schema = tool.input_schema.to_string();
        assert_eq!(tool.input_schema["type"], "object", "{}", tool.name);
        assert!(
            !schema.contains("$ref") && !schema.contains("$schema"),
            "{schema}"
        );
        assert!(!tool.description.is_empty());
    }
    // The attribute key enum survived the $ref inlining.
    let lookup = listing
        .tools
        .iter()
        .find(|t| t.name == "ct_lookup_events")
        .unwrap();
    assert!(
        lookup.input_schema.to_string().contains("AccessKeyId"),
        "{}",
        lookup.input_schema
    );
}

#[tokio::test]
async fn calls_return_results_tool_errors_and_protocol_errors() {
    let mcp = spawn_mcp().await;
    let tools = toolbox(&[&mcp.url], "");
    tools.list_tools().await;
    let output = tools
        .call_tool(
            "lookup_events",
            json!({"start_time": "7d ago", "attribute_key": "Username", "attribute_value": "bob", "max_results": 5, "detail": true}),
        )
        .await
        .unwrap();
    assert!(!output.is_error);
    let answer: serde_json::Value = serde_json::from_str(&output.text).unwrap();
    assert_eq!(answer["returned"], 5);
    assert_eq!(answer["events"][0]["principal"]["name"], "bob");

    // A tool that ran and failed: a result the model can act on.
    let output = tools
        .call_tool("lookup_events", json!({"start_time": "next tuesday"}))
        .await
        .unwrap();
    assert!(output.is_error);
    assert!(output.text.contains("start_time"), "{}", output.text);

    // Invalid arguments: refused by the server, named.
    let error = tools
        .call_tool("lookup_events", json!({"max_results": "many"}))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ToolError::Rejected { message, .. } if message.contains("max_results")),
        "{error}"
    );
    let error = tools.call_tool("drop_tables", json!({})).await.unwrap_err();
    assert!(matches!(error, ToolError::UnknownTool(name) if name == "drop_tables"));
}

#[tokio::test]
async fn each_tool_call_is_exactly_one_http_request() {
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    let mcp = spawn_mcp_with(move |router| {
        router.layer(middleware::from_fn(move |request, next: Next| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                next.run(request).await
            }
        }))
    })
    .await;
    let tools = toolbox(&[&mcp.url], "");
    tools.list_tools().await;
    let after_setup = requests.load(Ordering::SeqCst);
    // initialize, initialized, tools/list.
    assert!(after_setup <= 3, "set-up took {after_setup} requests");
    for _ in 0..10 {
        let output = tools
            .call_tool("summarize_activity", json!({"start_time": "24h ago"}))
            .await
            .unwrap();
        assert!(!output.is_error);
    }
    // A second listing within the TTL is served from the cache.
    tools.list_tools().await;
    assert_eq!(requests.load(Ordering::SeqCst) - after_setup, 10);
}
