//! Each tool call leaves one audit line naming the user the agent called it for (from `_meta`
//! and the caller header), the tool, what was searched, the outcome and the answer's size.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tracing_subscriber::fmt::MakeWriter;

use crate::helpers::spawn_app;

/// Log output collected in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

// A current-thread runtime: the server's tasks run on this thread, under its log subscriber.
#[tokio::test(flavor = "current_thread")]
async fn a_tool_call_is_audited_with_its_caller() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let app = spawn_app().await;

    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "lookup_events",
        "arguments": {"start_time": "24h ago", "attribute_key": "Username",
                      "attribute_value": "alice", "max_results": 3, "max_bytes": 9000},
        "_meta": {"io.cloudtrail-agent/caller": {"sub": "u-alice", "email": "alice@example.com"}}
    }});
    let response = reqwest::Client::new()
        .post(&app.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("x-cloudtrail-agent-caller", "u-alice")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer = response.text().await.unwrap();

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let audit: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["target"] == "audit")
        .collect();
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
