//! `spawn_app()`: the real router on 127.0.0.1:0 over the built-in sample, plus small clients.

use std::net::SocketAddr;
use std::sync::Arc;

use cloudtrail_mcp::cursor::CursorCodec;
use cloudtrail_mcp::source::EventSource;
use cloudtrail_mcp::source::builtin::SampleSource;
use cloudtrail_mcp::{CloudTrailServer, HostPolicy, ToolSettings, app};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult, JsonObject};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::Value;

pub const CURSOR_KEY: &str = "test-cursor-key";

pub struct TestApp {
    pub addr: SocketAddr,
    pub url: String,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(ToolSettings::default()).await
}

pub async fn spawn_app_with(settings: ToolSettings) -> TestApp {
    let source: Arc<dyn EventSource> = Arc::new(SampleSource::new(jiff::Timestamp::now(), 42));
    spawn_source(source, settings).await
}

pub async fn spawn_source(source: Arc<dyn EventSource>, settings: ToolSettings) -> TestApp {
    let server = CloudTrailServer::new(source, CursorCodec::new(CURSOR_KEY), settings);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app(server, HostPolicy::loopback()))
            .await
            .unwrap()
    });
    TestApp {
        addr,
        url: format!("http://{addr}/mcp"),
    }
}

pub type Client = RunningService<RoleClient, ()>;

/// A real MCP client (rmcp) connected to the app.
pub async fn client(app: &TestApp) -> Client {
    ().serve(StreamableHttpClientTransport::from_uri(app.url.clone()))
        .await
        .expect("MCP handshake")
}

pub fn args(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        other => panic!("arguments must be an object, got {other}"),
    }
}

/// Calls a tool and returns its whole result (`_meta` included).
pub async fn call_result(client: &Client, tool: &str, arguments: Value) -> CallToolResult {
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args(arguments)))
        .await
        .unwrap_or_else(|e| panic!("{tool} failed at protocol level: {e}"))
}

/// The text of a result.
pub fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("")
}

/// Calls a tool and returns (is_error, text).
pub async fn call(client: &Client, tool: &str, arguments: Value) -> (bool, String) {
    let result = call_result(client, tool, arguments).await;
    let text = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("");
    (result.is_error == Some(true), text)
}

/// Calls a tool that must succeed and parses its JSON answer.
pub async fn call_ok(client: &Client, tool: &str, arguments: Value) -> Value {
    let (is_error, text) = call(client, tool, arguments).await;
    assert!(!is_error, "{tool} returned a tool error: {text}");
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{tool} answer is not JSON ({e}): {text}"))
}

/// A raw JSON-RPC POST, as a stateless client without `initialize` would send it.
pub async fn raw_post(app: &TestApp, body: impl Into<reqwest::Body>) -> reqwest::Response {
    reqwest::Client::new()
        .post(&app.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body)
        .send()
        .await
        .unwrap()
}

pub fn call_body(tool: &str, arguments: Value) -> String {
    serde_json::json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                       "params": {"name": tool, "arguments": arguments}})
    .to_string()
}

/// The events of a `lookup_events` table answer as objects keyed by column name, with the
/// dictionary keys (principal, region, source IP, user agent, error, each resource) replaced by
/// their entries.
/// Strict: a missing column list, dictionary or key fails the test (a renamed dictionary must
/// not read as "no value").
pub fn expand(page: &Value) -> Vec<Value> {
    let columns: Vec<&str> = page["columns"]
        .as_array()
        .unwrap_or_else(|| panic!("not a table answer: {page}"))
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let dictionary = |column: &str| match column {
        "principal" => Some("principals"),
        "region" => Some("regions"),
        "source_ip" => Some("source_ips"),
        "user_agent" => Some("user_agents"),
        "error" => Some("errors"),
        _ => None,
    };
    page["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no `events` list: {page}"))
        .iter()
        .map(|row| {
            let row = row
                .as_array()
                .unwrap_or_else(|| panic!("a row is not an array: {row}"));
            assert_eq!(
                row.len(),
                columns.len(),
                "row length differs from columns: {row:?}"
            );
            let mut event = serde_json::Map::new();
            let entry = |dict: &str, column: &str, key: &str| {
                page.get(dict)
                    .and_then(|d| d.get(key))
                    .unwrap_or_else(|| {
                        panic!("`{column}` refers to `{key}`, which `{dict}` does not list: {page}")
                    })
                    .clone()
            };
            for (column, value) in columns.iter().zip(row) {
                let value = match (dictionary(column), value) {
                    (None, Value::Array(keys)) if *column == "resources" => keys
                        .iter()
                        .map(|k| {
                            let k = k.as_str().unwrap_or_else(|| panic!("a resource key: {k}"));
                            entry("resources", column, k)
                        })
                        .collect(),
                    (Some(dict), Value::String(key)) => entry(dict, column, key),
                    (Some(_), Value::Null) => Value::Null,
                    (Some(_), other) => panic!("`{column}` holds {other}, not a dictionary key"),
                    (None, _) => value.clone(),
                };
                event.insert(column.to_string(), value);
            }
            Value::Object(event)
        })
        .collect()
}

/// The MCP URL a spawned `cloudtrail-mcp` (stdout piped) prints once it listens; the rest of its
/// stdout is drained so the process never writes into a closed pipe.
pub async fn listening_url(child: &mut tokio::process::Child) -> String {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout piped")).lines();
    let url = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = stdout.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("cloudtrail-mcp listening on ") {
                return url.to_owned();
            }
        }
        panic!("cloudtrail-mcp exited before listening");
    })
    .await
    .expect("cloudtrail-mcp listens");
    tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
    url
}

/// The start of the current hour: an anchor for generated archives that stays the same for the
/// whole of a test (the sample follows the clock).
pub fn hour_anchor() -> jiff::Timestamp {
    let now = jiff::Timestamp::now().as_second();
    jiff::Timestamp::from_second(now - now % 3_600).expect("a valid hour")
}

/// An SDK configuration for a loopback stand-in at `endpoint`: `region` and fixed test
/// credentials (`AKIDTEST` / `test-secret`, which stand-ins check in the SigV4 scope).
pub async fn test_sdk(endpoint: &str, region: &'static str) -> aws_config::SdkConfig {
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDTEST",
            "test-secret",
            None,
            None,
            "test",
        )))
        .load()
        .await
}
