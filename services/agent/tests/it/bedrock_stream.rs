//! The Bedrock adapter with the real SDK client against a loopback stand-in that speaks the
//! ConverseStream wire protocol (`application/vnd.amazon.eventstream` frames): text, tool use,
//! throttling (HTTP 429 and in-stream) then success, a stream cut mid-way, and the real `agent`
//! binary finding the stand-in through `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent::agent::{Agent, Limits, RunInput};
use agent::conversation::{Block, Message};
use agent::events::{AgentEvent, RunEnd, StatusKind};
use agent::model::bedrock::BedrockModel;
use agent::model::{Model, ModelError, ModelRequest, StopReason};
use agent::prompt::Persona;
use agent::testing::{Behaviour, MemoryTools};
use agent::tools::ToolSpec;
use aws_credential_types::Credentials;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::bedrock_standin::{Reply, spawn_standin};

/// The real SDK client pointed at the stand-in, retries off as in `startup`.
pub fn model(endpoint: &str) -> BedrockModel {
    let config = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version_latest()
        .endpoint_url(endpoint)
        .region(aws_sdk_bedrockruntime::config::Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    BedrockModel::new(
        aws_sdk_bedrockruntime::Client::from_conf(config),
        "us.anthropic.test-model-v1:0".into(),
        1024,
    )
}

async fn converse(
    model: &BedrockModel,
    messages: &[Message],
) -> (Result<agent::model::ModelTurn, ModelError>, String) {
    let tools = vec![ToolSpec {
        name: "lookup_events".into(),
        description: "Look up events".into(),
        input_schema: json!({"type": "object", "properties": {"max_results": {"type": "integer"}}}),
    }];
    let streamed = Mutex::new(String::new());
    let on_text = |delta: &str| streamed.lock().unwrap().push_str(delta);
    let request = ModelRequest {
        system: "be brief",
        messages,
        tools: &tools,
        now: jiff::Timestamp::now(),
        timezone: &jiff::tz::TimeZone::UTC,
    };
    let result = model.converse(&request, &on_text).await;
    (result, streamed.into_inner().unwrap())
}

#[tokio::test]
async fn text_streams_and_the_request_carries_system_tools_and_history() {
    let (endpoint, standin) =
        spawn_standin(vec![Reply::Text(vec!["Hello ", "from ", "Bedrock"])]).await;
    let model = model(&endpoint);
    let (turn, streamed) = converse(&model, &[Message::user_text("hi")]).await;
    let turn = turn.unwrap();
    assert_eq!(streamed, "Hello from Bedrock");
    assert_eq!(
        turn.content,
        vec![Block::Text {
            text: "Hello from Bedrock".into()
        }]
    );
    assert_eq!(turn.stop, StopReason::EndTurn);
    assert_eq!(turn.usage.total_tokens, 150);
    let requests = standin.requests.lock().unwrap();
    let (path, auth, body) = &requests[0];
    assert_eq!(
        path,
        "/model/us.anthropic.test-model-v1%3A0/converse-stream"
    );
    assert!(auth.contains("/us-east-1/bedrock/aws4_request"), "{auth}");
    assert_eq!(body["system"][0]["text"], "be brief");
    assert_eq!(body["messages"][0]["content"][0]["text"], "hi");
    assert_eq!(
        body["toolConfig"]["tools"][0]["toolSpec"]["name"],
        "lookup_events"
    );
    assert_eq!(body["inferenceConfig"]["maxTokens"], 1024);
}

#[tokio::test]
async fn tool_use_input_is_assembled_from_fragments() {
    let (endpoint, standin) = spawn_standin(vec![Reply::ToolUse {
        id: "tooluse_1",
        name: "lookup_events",
        fragments: vec!["{\"max_", "results\": ", "5}"],
    }])
    .await;
    let (turn, _) = converse(&model(&endpoint), &[Message::user_text("look")]).await;
    let turn = turn.unwrap();
    assert_eq!(turn.stop, StopReason::ToolUse);
    assert_eq!(
        turn.content[1],
        Block::ToolUse {
            id: "tooluse_1".into(),
            name: "lookup_events".into(),
            input: json!({"max_results": 5})
        }
    );
    drop(standin);
}

#[tokio::test]
async fn throttling_and_cut_streams_map_to_model_errors() {
    let (endpoint, _standin) = spawn_standin(vec![
        Reply::Throttle429,
        Reply::ThrottleInStream,
        Reply::Cut(vec!["partial "]),
    ])
    .await;
    let model = model(&endpoint);
    let history = [Message::user_text("hi")];
    let (result, _) = converse(&model, &history).await;
    assert!(
        matches!(&result, Err(ModelError::Throttled { message, .. }) if message.contains("Too many requests")),
        "{result:?}"
    );
    let (result, _) = converse(&model, &history).await;
    assert!(
        matches!(&result, Err(ModelError::Throttled { message, .. }) if message.contains("Too many tokens")),
        "{result:?}"
    );
    let (result, streamed) = converse(&model, &history).await;
    assert!(
        matches!(result, Err(ModelError::Interrupted(_))),
        "{result:?}"
    );
    assert_eq!(streamed, "partial ");
}

#[tokio::test]
async fn the_loop_retries_throttling_visibly_then_runs_tools_over_bedrock() {
    let (endpoint, standin) = spawn_standin(vec![
        Reply::Throttle429,
        Reply::ToolUse {
            id: "tu1",
            name: "lookup_events",
            fragments: vec!["{}"],
        },
        Reply::Text(vec!["Alice created a bucket."]),
    ])
    .await;
    let agent = Agent {
        model: Arc::new(model(&endpoint)),
        tools: Arc::new(MemoryTools::new(&[(
            "lookup_events",
            Behaviour::Answer("{\"events\":[]}".into()),
        )])),
        limits: Limits {
            throttle_base_delay: Duration::from_millis(10),
            ..Limits::default()
        },
        persona: Persona::Analyst,
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut history = Vec::new();
    let input = RunInput {
        text: "what did alice do?".into(),
        now: jiff::Timestamp::now(),
        timezone: jiff::tz::TimeZone::UTC,
        context: Default::default(),
        known_refs: Default::default(),
    };
    let end = agent
        .run(&mut history, input, &tx, &CancellationToken::new())
        .await;
    drop(tx);
    assert_eq!(end, RunEnd::EndTurn);
    let mut events = Vec::new();
    while let Some(event) = rx.recv().await {
        events.push(event);
    }
    assert!(events.iter().any(|e| matches!(e, AgentEvent::Status { kind: StatusKind::Throttled, message, .. } if message.starts_with("throttled, retrying in"))));
    assert_eq!(history.last().unwrap().text(), "Alice created a bucket.");
    // The third call carried the tool result back, paired with its id.
    let requests = standin.requests.lock().unwrap();
    let third = &requests[2].2;
    assert_eq!(
        third["messages"][2]["content"][0]["toolResult"]["toolUseId"],
        "tu1"
    );
    assert_eq!(
        third["messages"][2]["content"][0]["toolResult"]["status"],
        "success"
    );
}

#[tokio::test]
async fn the_agent_binary_uses_the_standard_bedrock_endpoint_override() {
    let (endpoint, standin) =
        spawn_standin(vec![Reply::Text(vec!["Answer from the stand-in."])]).await;
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_agent"))
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--mcp-url",
            "http://127.0.0.1:9/mcp",
        ])
        .env("AGENT_MODEL", "bedrock")
        .env("AGENT_BEDROCK_MODEL_ID", "us.anthropic.test-model-v1:0")
        .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", &endpoint)
        .env("AWS_REGION", "us-west-2")
        .env("AWS_ACCESS_KEY_ID", "AKIDBINARY")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AGENT_LOG_FORMAT", "text")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..100 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "agent did not start");
    let session: Value = client
        .get(format!("{base}/api/session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        session["model"],
        json!({"kind": "bedrock", "id": "us.anthropic.test-model-v1:0"})
    );
    let body = client
        .post(format!("{base}/api/chat"))
        .json(&json!({"message": "hi", "timezone": "Europe/Paris"}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events = crate::helpers::parse_sse(&body);
    assert_eq!(
        crate::helpers::text_of(&events),
        "Answer from the stand-in."
    );
    // The unreachable MCP server was reported, and the system prompt used the browser's zone.
    assert!(
        events
            .iter()
            .any(|e| e.event == "error" && e.data["kind"] == "mcp_unavailable")
    );
    let requests = standin.requests.lock().unwrap().clone();
    assert!(
        requests[0].1.contains("AKIDBINARY/") && requests[0].1.contains("/us-west-2/bedrock/"),
        "{}",
        requests[0].1
    );
    assert!(
        requests[0].2["system"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Europe/Paris")
    );
    child.kill().await.unwrap();
}
