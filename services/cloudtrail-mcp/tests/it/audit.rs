//! Each tool call leaves one audit line naming the user the agent called it for (from `_meta`
//! and the caller header), the tool, what was searched, the outcome and the answer's size.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// The real binary, logging JSON as on Lambda: the audit line is read from its stderr, as
/// CloudWatch Logs would receive it (an in-process log subscriber would share tracing's global
/// state with the tests running beside it).
#[tokio::test]
async fn a_tool_call_is_audited_with_its_caller() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cloudtrail-mcp"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--source",
            "sample",
            "--log-json",
        ])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start cloudtrail-mcp");
    let url = crate::helpers::listening_url(&mut child).await;
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();

    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "lookup_events",
        "arguments": {"start_time": "24h ago", "attribute_key": "Username",
                      "attribute_value": "alice", "max_results": 3, "max_bytes": 9000},
        "_meta": {"io.cloudtrail-agent/caller": {"sub": "u-alice", "email": "alice@example.com"}}
    }});
    let response = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("x-cloudtrail-agent-caller", "u-alice")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer = response.text().await.unwrap();

    let mut logs = String::new();
    let audit: Vec<Value> = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            logs.push_str(&line);
            logs.push('\n');
            let Ok(line) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if line["target"] == "audit" {
                return vec![line];
            }
        }
        Vec::new()
    })
    .await
    .unwrap_or_default();
    assert_eq!(audit.len(), 1, "{logs}");
    let fields = &audit[0]["fields"];
    assert_eq!(fields["user"], "u-alice");
    assert_eq!(fields["email"], "alice@example.com");
    assert_eq!(fields["user_header"], "u-alice");
    assert_eq!(fields["tool"], "lookup_events");
    assert_eq!(fields["outcome"], "ok");
    let searched = fields["arguments"].as_str().unwrap();
    assert!(
        searched.contains("\"attribute_value\":\"alice\""),
        "{searched}"
    );
    assert!(!searched.contains("max_bytes"), "{searched}");
    let bytes = fields["bytes"].as_u64().unwrap();
    assert!(
        bytes > 0 && (bytes as usize) < answer.len(),
        "{bytes} vs {}",
        answer.len()
    );
}
