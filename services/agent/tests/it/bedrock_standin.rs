//! A loopback stand-in for Amazon Bedrock's ConverseStream: real `application/vnd.amazon.eventstream`
//! frames (encoded with aws-smithy-eventstream) on `POST /model/{id}/converse-stream`, HTTP 429
//! throttling, in-stream exceptions and cut connections. Shared by the tests and the benchmark
//! (`examples/bench_agent.rs` includes this file).

use axum::serve::ListenerExt;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message as Frame};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// What the stand-in answers to one ConverseStream call.
#[derive(Debug, Clone)]
pub enum Reply {
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
pub struct Standin {
    pub replies: Mutex<VecDeque<Reply>>,
    /// (path, authorization header, body) of each call.
    pub requests: Mutex<Vec<(String, String, Value)>>,
    /// With no scripted reply left: call `auto_tool` once per question, then answer with
    /// `auto_chunks` text chunks, `chunk_delay` apart (the benchmark's model).
    pub auto_tool: Option<(&'static str, &'static str)>,
    pub auto_chunks: usize,
    pub chunk_delay: Duration,
    /// The prompt prefixes (up to a request's last cache point) seen so far: Bedrock's prompt
    /// cache as the usage fields report it.
    pub cached: Mutex<std::collections::HashSet<String>>,
}

/// Uncached input tokens the stand-in reports for every call.
const INPUT_TOKENS: u64 = 120;

/// The usage of a call: with a cache point in the request, the prompt up to the last one
/// (tools, then system blocks) is written to the cache the first time (`cacheWriteInputTokens`)
/// and read from it afterwards (`cacheReadInputTokens`), about one token per 4 bytes.
fn usage_for(standin: &Standin, body: &Value) -> Value {
    let mut prefix = Vec::new();
    let mut cached_len = 0;
    let tools = body["toolConfig"]["tools"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let system = body["system"].as_array().cloned().unwrap_or_default();
    for block in tools.iter().chain(system.iter()) {
        prefix.push(block.to_string());
        if block.get("cachePoint").is_some() {
            cached_len = prefix.len();
        }
    }
    let mut usage = json!({"inputTokens": INPUT_TOKENS, "outputTokens": 30});
    if cached_len > 0 {
        let key = prefix[..cached_len].concat();
        let tokens = (key.len() / 4) as u64;
        let hit = !standin.cached.lock().unwrap().insert(key);
        let field = if hit {
            "cacheReadInputTokens"
        } else {
            "cacheWriteInputTokens"
        };
        usage[field] = json!(tokens);
        usage["totalTokens"] = json!(INPUT_TOKENS + 30 + tokens);
    } else {
        usage["totalTokens"] = json!(INPUT_TOKENS + 30);
    }
    usage
}

fn frame(event_type: &'static str, payload: Value) -> Bytes {
    message(("event", ":event-type", event_type), payload)
}

fn exception(kind: &'static str, message_text: &str) -> Bytes {
    message(
        ("exception", ":exception-type", kind),
        json!({"message": message_text}),
    )
}

/// One eventstream message: `(message type, type header name, type)` and a JSON payload.
fn message(
    (message_type, type_header, kind): (&'static str, &'static str, &str),
    payload: Value,
) -> Bytes {
    let message = Frame::new(payload.to_string().into_bytes())
        .add_header(Header::new(
            type_header,
            HeaderValue::String(kind.to_owned().into()),
        ))
        .add_header(Header::new(
            ":content-type",
            HeaderValue::String("application/json".into()),
        ))
        .add_header(Header::new(
            ":message-type",
            HeaderValue::String(message_type.into()),
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

fn end_frames(stop: &str, index: i32, usage: &Value) -> Vec<Bytes> {
    vec![
        frame("contentBlockStop", json!({"contentBlockIndex": index})),
        frame("messageStop", json!({"stopReason": stop})),
        frame(
            "metadata",
            json!({"usage": usage, "metrics": {"latencyMs": 42}}),
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
        .push((uri.path().to_owned(), auth, body.clone()));
    let scripted = standin.replies.lock().unwrap().pop_front();
    let Some(reply) = scripted else {
        return auto_reply(&standin, &body);
    };
    let usage = usage_for(&standin, &body);
    match reply {
        Reply::Text(chunks) => {
            let mut frames = text_frames(&chunks);
            frames.extend(end_frames("end_turn", 0, &usage));
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
            frames.extend(end_frames("tool_use", 1, &usage));
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

pub async fn spawn_standin(replies: Vec<Reply>) -> (String, Arc<Standin>) {
    let standin = Standin::default();
    standin.replies.lock().unwrap().extend(replies);
    serve(standin).await
}

/// Serves `standin` on 127.0.0.1:0; returns its endpoint URL.
pub async fn serve(standin: Standin) -> (String, Arc<Standin>) {
    let standin = Arc::new(standin);
    let router = axum::Router::new()
        .route("/model/{model}/converse-stream", post(converse_stream))
        .with_state(standin.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}"), standin)
}

/// The unscripted reply: a tool use for a new question, a streamed answer after tool results.
fn auto_reply(standin: &Standin, body: &Value) -> Response {
    let last = &body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .cloned()
        .unwrap_or(Value::Null);
    let answered = last["content"]
        .as_array()
        .is_some_and(|c| c.iter().any(|b| b.get("toolResult").is_some()));
    let mut frames = Vec::new();
    let usage = usage_for(standin, body);
    match standin.auto_tool {
        Some((name, input)) if !answered => {
            frames.push(frame("messageStart", json!({"role": "assistant"})));
            frames.push(frame(
                "contentBlockStart",
                json!({"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": format!("tu-{}", uuid::Uuid::new_v4().simple()), "name": name}}}),
            ));
            frames.push(frame(
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"toolUse": {"input": input}}}),
            ));
            frames.extend(end_frames("tool_use", 0, &usage));
        }
        _ => {
            let chunks: Vec<&str> = (0..standin.auto_chunks.max(1))
                .map(|_| "The answer streams in. ")
                .collect();
            frames.extend(text_frames(&chunks));
            frames.extend(end_frames("end_turn", 0, &usage));
        }
    }
    let delay = standin.chunk_delay;
    let stream = futures::stream::unfold(frames.into_iter(), move |mut frames| async move {
        let next = frames.next()?;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Some((Ok::<_, std::io::Error>(next), frames))
    });
    stream_body(Body::from_stream(stream))
}
