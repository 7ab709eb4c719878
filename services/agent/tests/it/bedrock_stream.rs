//! The Bedrock adapter with the real SDK client against a loopback stand-in that speaks the
//! ConverseStream wire protocol (`application/vnd.amazon.eventstream` frames): text, tool use,
//! throttling (HTTP 429 and in-stream) then success, a stream cut mid-way, and the real `agent`
//! binary finding the stand-in through `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`.

use std::collections::VecDeque;
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
use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message as Frame};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// What the stand-in answers to one ConverseStream call.
#[derive(Debug, Clone)]
enum Reply {
    /// Text in chunks, then `end_turn`.
    Text(Vec<&'static str>),
    /// A tool use whose input JSON arrives in fragments.
    ToolUse {
        id: &'static str,
        name: &'static str,
        fragments: Vec<&'static str>,
    },
    /// HTTP 429 ThrottlingException before any stream.
    Throttle429,
    /// A stream that starts, then carries a throttlingException frame.
    ThrottleInStream,
    /// Some text, then the connection breaks.
    Cut(Vec<&'static str>),
}

#[derive(Default)]
struct Standin {
    replies: Mutex<VecDeque<Reply>>,
    /// (path, authorization header, body) of each call.
    requests: Mutex<Vec<(String, String, Value)>>,
}

fn frame(event_type: &'static str, payload: Value) -> Bytes {
    let message = Frame::new(payload.to_string().into_bytes())
        .add_header(Header::new(
            ":event-type",
            HeaderValue::String(event_type.into()),
        ))
        .add_header(Header::new(
            ":content-type",
            HeaderValue::String("application/json".into()),
        ))
        .add_header(Header::new(
            ":message-type",
            HeaderValue::String("event".into()),
        ));
    let mut out = Vec::new();
    write_message_to(&message, &mut out).unwrap();
    out.into()
}

fn exception(kind: &'static str, message: &str) -> Bytes {
    let message = Frame::new(json!({"message": message}).to_string().into_bytes())
        .add_header(Header::new(
            ":exception-type",
            HeaderValue::String(kind.into()),
        ))
        .add_header(Header::new(
            ":content-type",
            HeaderValue::String("application/json".into()),
        ))
        .add_header(Header::new(
            ":message-type",
            HeaderValue::String("exception".into()),
        ));
    let mut out = Vec::new();
    write_message_to(&message, &mut out).unwrap();
    out.into()
}

fn text_frames(chunks: &[&str]) -> Vec<Bytes> {
    let mut frames = vec![frame("messageStart", json!({"role": "assistant"}))];
    for chunk in chunks {
        frames.push(frame(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": chunk}}),
        ));
    }
    frames
}

fn end_frames(stop: &str, index: i32) -> Vec<Bytes> {
    vec![
        frame("contentBlockStop", json!({"contentBlockIndex": index})),
        frame("messageStop", json!({"stopReason": stop})),
        frame(
            "metadata",
            json!({"usage": {"inputTokens": 120, "outputTokens": 30, "totalTokens": 150}, "metrics": {"latencyMs": 42}}),
        ),
    ]
}

fn stream_response(frames: Vec<Result<Bytes, std::io::Error>>) -> Response {
    stream_body(Body::from_stream(futures::stream::iter(frames)))
}

fn stream_body(body: Body) -> Response {
    Response::builder()
        .status(200)
        .header("content-type", "application/vnd.amazon.eventstream")
        .body(body)
        .unwrap()
}

async fn converse_stream(
    State(standin): State<Arc<Standin>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    standin
        .requests
        .lock()
        .unwrap()
        .push((uri.path().to_owned(), auth, body));
    let reply = standin
        .replies
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(Reply::Text(vec!["(script exhausted)"]));
    match reply {
        Reply::Text(chunks) => {
            let mut frames = text_frames(&chunks);
            frames.extend(end_frames("end_turn", 0));
            stream_response(frames.into_iter().map(Ok).collect())
        }
        Reply::ToolUse {
            id,
            name,
            fragments,
        } => {
            let mut frames = text_frames(&["Let me check."]);
            frames.push(frame("contentBlockStop", json!({"contentBlockIndex": 0})));
            frames.push(frame(
                "contentBlockStart",
                json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": id, "name": name}}}),
            ));
            for fragment in fragments {
                frames.push(frame(
                    "contentBlockDelta",
                    json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": fragment}}}),
                ));
            }
            frames.extend(end_frames("tool_use", 1));
            stream_response(frames.into_iter().map(Ok).collect())
        }
        Reply::Throttle429 => (
            StatusCode::TOO_MANY_REQUESTS,
            [
                (
                    "x-amzn-errortype",
                    "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/",
                ),
                ("content-type", "application/json"),
            ],
            json!({"message": "Too many requests, please wait before trying again."}).to_string(),
        )
            .into_response(),
        Reply::ThrottleInStream => {
            let mut frames = vec![frame("messageStart", json!({"role": "assistant"}))];
            frames.push(exception(
                "throttlingException",
                "Too many tokens per minute",
            ));
            stream_response(frames.into_iter().map(Ok).collect())
        }
        Reply::Cut(chunks) => {
            // The first frames reach the client; then the connection breaks.
            let frames = futures::stream::iter(text_frames(&chunks).into_iter().map(Ok));
            let cut = futures::stream::once(async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Err::<Bytes, _>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "cut",
                ))
            });
            stream_body(Body::from_stream(futures::StreamExt::chain(frames, cut)))
        }
    }
}

async fn spawn_standin(replies: Vec<Reply>) -> (String, Arc<Standin>) {
    let standin = Arc::new(Standin::default());
    standin.replies.lock().unwrap().extend(replies);
    let router = axum::Router::new()
        .route("/model/{model}/converse-stream", post(converse_stream))
        .with_state(standin.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}"), standin)
}

/// The real SDK client pointed at the stand-in, retries off as in `startup`.
fn model(endpoint: &str) -> BedrockModel {
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
