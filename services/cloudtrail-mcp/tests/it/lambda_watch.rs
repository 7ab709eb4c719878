//! The real Lambda binary under `cargo lambda watch` (a Lambda runtime API and Function URL
//! emulator): initialize, tools/list and tools/call through `/lambda-url/cloudtrail-mcp/mcp`,
//! and the Lambda-mode Host policy.
//!
//! Needs `cargo lambda` (pip install cargo-lambda); `scripts/test` installs it. Set
//! `SKIP_LAMBDA_WATCH=1` to skip it explicitly on a machine without it.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::expand;

/// Stops the emulator and the function it started (its whole process group) on drop.
struct Emulator {
    child: Child,
    port: u16,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        std::thread::sleep(Duration::from_millis(300));
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_emulator() -> Emulator {
    let version = Command::new("cargo").args(["lambda", "--version"]).output();
    assert!(
        version.is_ok_and(|o| o.status.success()),
        "`cargo lambda` is not installed: run `pip install cargo-lambda==1.9.2` (scripts/test does), or set SKIP_LAMBDA_WATCH=1"
    );
    let port = free_port();
    let child = Command::new("cargo")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["lambda", "watch", "--ignore-changes", "--quiet", "--bin", "cloudtrail-mcp"])
        .args(["--invoke-address", "127.0.0.1", "--invoke-port", &port.to_string()])
        .args([
            "--env-var",
            "CLOUDTRAIL_MCP_SOURCE=sample,CLOUDTRAIL_MCP_ALLOWED_HOSTS=127.0.0.1,AWS_REGION=us-east-1,RUST_LOG=warn",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start cargo lambda watch");
    Emulator { child, port }
}

fn rpc(method: &str, params: Value) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string()
}

/// Generous: a debug build of the function on a loaded 2-core CI machine, not a latency check.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

async fn post(url: &str, host: Option<&str>, body: String) -> reqwest::Result<reqwest::Response> {
    post_within(url, host, body, CALL_TIMEOUT).await
}

async fn post_within(
    url: &str,
    host: Option<&str>,
    body: String,
    timeout: Duration,
) -> reqwest::Result<reqwest::Response> {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .timeout(timeout)
        .body(body);
    if let Some(host) = host {
        request = request.header("host", host);
    }
    request.send().await
}

#[tokio::test]
async fn lambda_binary_serves_mcp_through_the_function_url() {
    if std::env::var_os("SKIP_LAMBDA_WATCH").is_some() {
        eprintln!("SKIP_LAMBDA_WATCH is set: not running the Lambda emulator test");
        return;
    }
    let emulator = start_emulator();
    let url = format!(
        "http://127.0.0.1:{}/lambda-url/cloudtrail-mcp/mcp",
        emulator.port
    );
    let initialize = rpc(
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}),
    );
    // The first invocation compiles and boots the function. One request waits for that: a
    // request given up on stays queued in the emulator as an invocation nobody reads, so retry
    // only when the emulator is not listening yet or answered at once.
    let deadline = Instant::now() + Duration::from_secs(600);
    let answer: Value = loop {
        let wait = deadline.saturating_duration_since(Instant::now());
        match post_within(&url, None, initialize.clone(), wait).await {
            Ok(r) if r.status() == 200 => break r.json().await.unwrap(),
            Ok(r) if Instant::now() < deadline => {
                eprintln!("emulator answered {} while booting; retrying", r.status());
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) if e.is_connect() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => panic!("the function never answered initialize: {other:?}"),
        }
    };
    assert_eq!(
        answer["result"]["serverInfo"]["name"],
        json!("cloudtrail-mcp"),
        "{answer}"
    );

    let tools: Value = post(&url, None, rpc("tools/list", json!({})))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["lookup_events", "summarize_activity", "get_event"]);

    // A Function URL host of the function's region is allowed in Lambda mode.
    let call = rpc(
        "tools/call",
        json!({"name": "lookup_events", "arguments": {"start_time": "yesterday", "end_time": "today",
               "attribute_key": "Username", "attribute_value": "alice"}}),
    );
    let response = post(
        &url,
        Some("abcdefghij.lambda-url.us-east-1.on.aws"),
        call.clone(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    let text = answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"));
    let page: Value = serde_json::from_str(text).unwrap();
    let events = expand(&page);
    assert!(!events.is_empty(), "{page}");
    assert!(
        events
            .iter()
            .all(|e| e["principal"]["name"] == json!("alice"))
    );

    // Another region's Function URL host, or any other host, is refused.
    let refused = post(&url, Some("abcdefghij.lambda-url.eu-west-1.on.aws"), call)
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    drop(emulator);
}
