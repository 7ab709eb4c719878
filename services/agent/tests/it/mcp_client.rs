//! The MCP client against the real cloudtrail-mcp server: tool listing with prefixes and
//! Converse-safe schemas, calls, errors, exactly one HTTP request per tool call, and the result
//! budget: an answer the server would make larger than the agent's 32 KiB reaches the offline
//! planner and Bedrock as whole JSON.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use agent::agent::{Agent, Limits, RunInput};
use agent::conversation::{Block, Role};
use agent::events::{AgentEvent, RunEnd};
use agent::model::Model;
use agent::model::offline::OfflineModel;
use agent::prompt::Persona;
use agent::tools::{RESULT_BUDGET, ToolError, ToolProvider};
use async_trait::async_trait;
use axum::middleware::{self, Next};
use cloudtrail_contract::ActivitySummary;
use cloudtrail_mcp::cursor::CursorCodec;
use cloudtrail_mcp::source::{EventSource, Page, Query, RawEvent, Resource, SourceError};
use cloudtrail_mcp::{CloudTrailServer, HostPolicy, ToolSettings};
use jiff::SignedDuration;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::bedrock_standin::{Reply, spawn_standin};
use crate::bedrock_stream::model as bedrock_model;
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
            json!({"start_time": "7d ago", "attribute_key": "Username", "attribute_value": "bob", "max_results": 5, "detail": true}), &Default::default(),
        )
        .await
        .unwrap();
    assert!(!output.is_error);
    let answer: serde_json::Value = serde_json::from_str(&output.text).unwrap();
    assert_eq!(answer["returned"], 5);
    assert_eq!(answer["events"][0]["principal"]["name"], "bob");

    // A tool that ran and failed: a result the model can act on.
    let output = tools
        .call_tool(
            "lookup_events",
            json!({"start_time": "next tuesday"}),
            &Default::default(),
        )
        .await
        .unwrap();
    assert!(output.is_error);
    assert!(output.text.contains("start_time"), "{}", output.text);

    // Invalid arguments: refused by the server, named.
    let error = tools
        .call_tool(
            "lookup_events",
            json!({"max_results": "many"}),
            &Default::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ToolError::Rejected { message, .. } if message.contains("max_results")),
        "{error}"
    );
    let error = tools
        .call_tool("drop_tables", json!({}), &Default::default())
        .await
        .unwrap_err();
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
            .call_tool(
                "summarize_activity",
                json!({"start_time": "24h ago"}),
                &Default::default(),
            )
            .await
            .unwrap();
        assert!(!output.is_error);
    }
    // A second listing within the TTL is served from the cache.
    tools.list_tools().await;
    assert_eq!(requests.load(Ordering::SeqCst) - after_setup, 10);
}

/// A busy account: `total` events, one a minute back from the end of the window, every third
/// one denied, with long resource names, so a summary of them is far larger than 32 KiB.
struct Busy {
    total: usize,
}

#[async_trait]
impl EventSource for Busy {
    fn id(&self) -> &str {
        "test:busy"
    }
    fn retention(&self) -> Option<SignedDuration> {
        None
    }
    async fn lookup(&self, query: &Query) -> Result<Page, SourceError> {
        let from: usize = query
            .next_token
            .as_deref()
            .map_or(0, |t| t.parse().unwrap());
        let to = (from + query.max_results).min(self.total);
        let events = (from..to)
            .map(|i| RawEvent {
                event_id: format!("id-{i}"),
                event_time: query.end - SignedDuration::from_mins(i as i64),
                event_name: format!("PutBucketPolicy{}", i % 30),
                event_source: "s3.amazonaws.com".into(),
                username: Some(format!("deploy-user-{}", i % 25)),
                access_key_id: None,
                read_only: Some(false),
                resources: vec![Resource {
                    resource_type: Some("AWS::S3::Bucket".into()),
                    resource_name: Some(format!("{}-{i}", "a-long-bucket-name".repeat(5))),
                }],
                record: json!({"errorCode": (i % 3 == 0).then_some("AccessDenied"),
                               "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.9"})
                .to_string(),
            })
            .collect();
        Ok(Page {
            events,
            next_token: (to < self.total).then(|| to.to_string()),
            ..Page::default()
        })
    }
}

/// The real cloudtrail-mcp router, with its default 64 KiB budget, over a busy account.
async fn spawn_busy_mcp() -> String {
    let server = CloudTrailServer::new(
        Arc::new(Busy { total: 3_000 }),
        CursorCodec::new("k"),
        ToolSettings::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = cloudtrail_mcp::app(server, HostPolicy::loopback());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}/mcp")
}

/// Runs one question through the agent loop; returns the history and the events.
async fn ask(
    model: Arc<dyn Model>,
    tools: Arc<dyn ToolProvider>,
    question: &str,
) -> (Vec<agent::conversation::Message>, Vec<AgentEvent>) {
    let agent = Agent {
        model,
        tools,
        limits: Limits::default(),
        persona: Persona::Analyst,
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut history = Vec::new();
    let input = RunInput {
        text: question.into(),
        now: jiff::Timestamp::now(),
        timezone: jiff::tz::TimeZone::UTC,
        context: Default::default(),
        known_refs: Default::default(),
    };
    let end = agent
        .run(&mut history, input, &tx, &CancellationToken::new())
        .await;
    assert_eq!(end, RunEnd::EndTurn);
    drop(tx);
    let mut events = Vec::new();
    while let Some(event) = rx.recv().await {
        events.push(event);
    }
    (history, events)
}

/// The text of every tool result in `history`.
fn tool_results(history: &[agent::conversation::Message]) -> Vec<String> {
    history
        .iter()
        .filter(|m| m.role == Role::User)
        .flat_map(|m| &m.content)
        .filter_map(|b| match b {
            Block::ToolResult { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_server_is_asked_for_the_agents_budget_and_the_answer_arrives_whole() {
    let url = spawn_busy_mcp().await;
    let tools = toolbox(&[&url], "");
    tools.list_tools().await;
    // Unbudgeted, the server fills its own 64 KiB: the case the agent must never cut.
    let output = tools
        .call_tool(
            "summarize_activity",
            json!({"start_time": "7d ago"}),
            &Default::default(),
        )
        .await
        .unwrap();
    assert!(!output.is_error, "{}", output.text);
    assert!(
        output.text.len() <= RESULT_BUDGET,
        "{} bytes",
        output.text.len()
    );
    let summary: ActivitySummary = serde_json::from_str(&output.text).unwrap();
    assert_eq!(summary.scanned, 3_000, "every event is counted");
    assert!(summary.truncated, "the lists were shortened to fit");
    // A smaller budget the model asked for is kept.
    let output = tools
        .call_tool(
            "summarize_activity",
            json!({"start_time": "7d ago", "max_bytes": 8_192}),
            &Default::default(),
        )
        .await
        .unwrap();
    assert!(output.text.len() <= 8_192, "{} bytes", output.text.len());
}

#[tokio::test]
async fn a_summary_larger_than_the_budget_reaches_the_offline_model_as_valid_json() {
    let url = spawn_busy_mcp().await;
    let (history, events) = ask(
        Arc::new(OfflineModel::default()),
        Arc::new(toolbox(&[&url], "")),
        "which calls were denied in the last 7 days?",
    )
    .await;
    let results = tool_results(&history);
    assert_eq!(results.len(), 1);
    assert!(
        results[0].len() <= RESULT_BUDGET,
        "{} bytes",
        results[0].len()
    );
    let summary: ActivitySummary = serde_json::from_str(&results[0]).unwrap_or_else(|e| {
        panic!(
            "not whole JSON ({e}): …{}",
            &results[0][results[0].len() - 80..]
        )
    });
    assert_eq!(summary.failed_events, 1_000);
    let answer = history.last().unwrap().text();
    assert!(!answer.contains("could not be read"), "{answer}");
    assert!(answer.contains("**1000 calls failed**"), "{answer}");
    // The tool card shows the same whole answer.
    let card = events.iter().find_map(|e| match e {
        AgentEvent::ToolEnd { output, .. } => Some(output.clone()),
        _ => None,
    });
    assert_eq!(card.as_deref(), Some(results[0].as_str()));
}

#[tokio::test]
async fn a_summary_larger_than_the_budget_reaches_bedrock_as_valid_json() {
    let url = spawn_busy_mcp().await;
    let (endpoint, standin) = spawn_standin(vec![
        Reply::ToolUse {
            id: "tu1",
            name: "summarize_activity",
            fragments: vec!["{\"start_time\": ", "\"7d ago\"}"],
        },
        Reply::Text(vec!["Many calls were denied."]),
    ])
    .await;
    let (_, _) = ask(
        Arc::new(bedrock_model(&endpoint)),
        Arc::new(toolbox(&[&url], "")),
        "which calls were denied this week?",
    )
    .await;
    let requests = standin.requests.lock().unwrap();
    let result = &requests[1].2["messages"][2]["content"][0]["toolResult"];
    assert_eq!(result["status"], "success");
    let text = result["content"][0]["text"].as_str().unwrap();
    assert!(text.len() <= RESULT_BUDGET, "{} bytes", text.len());
    let summary: ActivitySummary = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("Bedrock got cut JSON ({e}): …{}", &text[text.len() - 80..]));
    assert_eq!(summary.scanned, 3_000);
}

#[tokio::test]
async fn a_principal_unknown_by_that_name_is_looked_up_among_those_active() {
    let mcp = spawn_mcp().await;
    let (history, events) = ask(
        Arc::new(OfflineModel::default()),
        Arc::new(toolbox(&[&mcp.url], "")),
        "what did carol do in the last 3 days?",
    )
    .await;
    // First by the name given, then everyone in the same window.
    let inputs: Vec<serde_json::Value> = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::ToolStart { input, .. } => Some(input.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(inputs.len(), 2, "{inputs:?}");
    assert_eq!(inputs[0]["attribute_value"], "carol");
    assert!(inputs[1].get("attribute_key").is_none(), "{}", inputs[1]);
    assert_eq!(inputs[0]["start_time"], inputs[1]["start_time"]);
    let answer = history.last().unwrap().text();
    assert!(answer.contains("exact name **carol**"), "{answer}");
    assert!(
        answer.contains("what did carol@example.com do?"),
        "{answer}"
    );
}
