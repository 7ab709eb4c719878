//! One chat, traced across both processes: the agent binary (Bedrock through the ConverseStream
//! stand-in) and the cloudtrail-mcp binary (built-in sample) export to an OTLP/HTTP receiver
//! started here, which decodes the protobuf batches with opentelemetry-proto. The spans must form
//! one trace from the chat's HTTP request through the model and tool calls to the server's HTTP
//! request, tool call and event source query, with the right parents and the GenAI attributes,
//! and without the question's text unless content capture is on. The agent's EMF line for the
//! answer is read back from its stdout.
//!
//! As deployed (context `traces=true`), both processes send to X-Ray's OTLP endpoint, signed with
//! SigV4: the same chat with that endpoint (redirected here by `AWS_ENDPOINT_URL_XRAY`) must
//! arrive with every export's signature valid for the service `xray` (checked by the independent
//! verifier of `sigv4.rs`), and an ordinary collector must never get credentials.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::bedrock_standin::{Reply, spawn_standin};

const MODEL: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
const MARKER: &str = "QUESTION-MARKER-7f3a";

/// A span as received, with the service that sent it.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    span: Span,
}

impl Received {
    fn attr(&self, key: &str) -> Option<String> {
        self.span
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref())
            .map(text)
    }
    fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }
    fn id(&self) -> String {
        hex(&self.span.span_id)
    }
    fn parent(&self) -> String {
        hex(&self.span.parent_span_id)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::ArrayValue(a)) => {
            a.values.iter().map(text).collect::<Vec<_>>().join(",")
        }
        _ => String::new(),
    }
}

type Spans = Arc<Mutex<Vec<Received>>>;
/// Per export request: `None` when unsigned, else whether its SigV4 signature (service `xray`)
/// is valid.
type Signatures = Arc<Mutex<Vec<Option<Result<(), String>>>>>;

/// Where the processes send spans.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Export {
    /// The receiver's URL as the OTLP endpoint (a collector).
    Collector,
    /// X-Ray's OTLP endpoint, as deployed, redirected to the receiver.
    XRay,
}

async fn export(
    State((spans, signatures)): State<(Spans, Signatures)>,
    request: Request,
) -> &'static [u8] {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 << 20).await.unwrap();
    let signature = parts
        .headers
        .contains_key("authorization")
        .then(|| crate::sigv4::verify(&parts, &body, "xray"));
    signatures.lock().unwrap().push(signature);
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf batch");
    let mut spans = spans.lock().unwrap();
    for resource in request.resource_spans {
        let service = resource
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref())
            .map(text)
            .unwrap_or_default();
        for scope in resource.scope_spans {
            for span in scope.spans {
                spans.push(Received {
                    service: service.clone(),
                    span,
                });
            }
        }
    }
    // An empty ExportTraceServiceResponse.
    b""
}

/// An OTLP/HTTP receiver on loopback: its endpoint and what it received.
async fn spawn_receiver() -> (String, Spans, Signatures) {
    let spans = Spans::default();
    let signatures = Signatures::default();
    let app = axum::Router::new()
        .route("/v1/traces", post(export))
        .with_state((spans.clone(), signatures.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), spans, signatures)
}

/// The cloudtrail-mcp binary of this build, built if needed (cargo builds only the binaries of
/// the package under test).
fn mcp_binary() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args([
            "build",
            "-q",
            "-p",
            "cloudtrail-mcp",
            "--bin",
            "cloudtrail-mcp",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build -p cloudtrail-mcp failed");
    PathBuf::from(env!("CARGO_BIN_EXE_agent")).with_file_name("cloudtrail-mcp")
}

fn otel_env(command: &mut Command, receiver: &str, export: Export) {
    command
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env_remove("OTEL_SERVICE_NAME")
        .env_remove("OTEL_TRACES_EXPORTER")
        .env_remove("OTEL_SDK_DISABLED");
    match export {
        Export::Collector => {
            command
                .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver)
                .env_remove("AWS_ENDPOINT_URL_XRAY");
        }
        // The environment infra/lib/traces.ts gives both processes, and the role's credentials.
        Export::XRay => {
            command
                .env(
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    format!(
                        "https://xray.{}.amazonaws.com/v1/traces",
                        crate::sigv4::REGION
                    ),
                )
                .env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf")
                .env("AWS_ENDPOINT_URL_XRAY", receiver)
                .env("AWS_ACCESS_KEY_ID", crate::sigv4::KEY_ID)
                .env("AWS_SECRET_ACCESS_KEY", crate::sigv4::SECRET)
                .env("AWS_SESSION_TOKEN", crate::sigv4::TOKEN)
                .env("AWS_EC2_METADATA_DISABLED", "true");
        }
    }
}

/// Starts cloudtrail-mcp on a free port; returns it and its MCP URL.
async fn spawn_mcp_process(otlp: &str, export: Export) -> (Child, String) {
    let mut command = Command::new(mcp_binary());
    command
        .args(["--listen", "127.0.0.1:0", "--source", "sample"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    otel_env(&mut command, otlp, export);
    let mut child = command.spawn().expect("start cloudtrail-mcp");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("cloudtrail-mcp listening on ") {
                return url.to_owned();
            }
        }
        panic!("cloudtrail-mcp exited before listening");
    })
    .await
    .expect("cloudtrail-mcp listens");
    (child, url)
}

/// Starts the agent binary against the stand-in and `mcp_url`; returns it, its base URL and
/// the lines it writes on stdout (logs and EMF).
async fn spawn_agent_process(
    otlp: &str,
    mcp_url: &str,
    bedrock: &str,
    capture: bool,
    export: Export,
) -> (Child, String, Arc<Mutex<Vec<String>>>) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_agent"));
    command
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--mcp-url",
            mcp_url,
        ])
        .env("AGENT_MODEL", "bedrock")
        .env("AGENT_BEDROCK_MODEL_ID", MODEL)
        .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", bedrock)
        .env("AWS_REGION", "us-west-2")
        .env("AWS_ACCESS_KEY_ID", "AKIDTRACES")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AGENT_METRICS_EMF", "true")
        .env("RUST_LOG", "warn")
        .env(
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
            capture.to_string(),
        )
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    otel_env(&mut command, otlp, export);
    let mut child = command.spawn().expect("start the agent");
    let stdout = Arc::new(Mutex::new(Vec::new()));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let collected = stdout.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            collected.lock().unwrap().push(line);
        }
    });
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            return (child, base, stdout);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the agent did not start");
}

/// Waits until the spans named `names` have arrived (each at least once).
async fn wait_for(spans: &Spans, names: &[&str]) -> Vec<Received> {
    for _ in 0..200 {
        let received = spans.lock().unwrap().clone();
        if names
            .iter()
            .all(|n| received.iter().any(|r| r.span.name == *n))
        {
            return received;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got: Vec<String> = spans
        .lock()
        .unwrap()
        .iter()
        .map(|r| format!("{}:{}", r.service, r.span.name))
        .collect();
    panic!("spans {names:?} did not all arrive; got {got:?}");
}

fn one<'a>(spans: &'a [Received], service: &str, name: &str, trace: &str) -> &'a Received {
    let found: Vec<&Received> = spans
        .iter()
        .filter(|r| r.service == service && r.span.name == name && r.trace_id() == trace)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{service} {name} in trace {trace}: {found:?}"
    );
    found[0]
}

/// Runs one chat (a tool call, then an answer) and returns its spans, the agent's stdout and
/// the export requests' signatures.
async fn traced_chat(
    capture: bool,
    export: Export,
) -> (Vec<Received>, Vec<String>, Vec<Option<Result<(), String>>>) {
    let (otlp, spans, signatures) = spawn_receiver().await;
    let (_mcp, mcp_url) = spawn_mcp_process(&otlp, export).await;
    let (bedrock, _standin) = spawn_standin(vec![
        Reply::ToolUse {
            id: "tu-trace-1",
            name: "lookup_events",
            fragments: vec!["{\"max_results\":", " 3}"],
        },
        Reply::Text(vec!["Three events."]),
    ])
    .await;
    let (_agent, base, stdout) =
        spawn_agent_process(&otlp, &mcp_url, &bedrock, capture, export).await;
    let body = reqwest::Client::new()
        .post(format!("{base}/api/chat"))
        .json(&json!({"message": format!("What happened? {MARKER}"), "timezone": "UTC"}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events = crate::helpers::parse_sse(&body);
    let done = events.iter().find(|e| e.event == "done").expect("done");
    assert_eq!(done.data["stop_reason"], "end_turn", "{body}");
    assert_eq!(done.data["stats"]["model_calls"], 2);
    assert_eq!(done.data["stats"]["tool_calls"], 1);
    let received = wait_for(
        &spans,
        &[
            "POST /api/chat",
            "invoke_agent aws-ops-agent",
            "execute_tool lookup_events",
            "tools/call lookup_events",
            "source.lookup",
        ],
    )
    .await;
    let lines = stdout.lock().unwrap().clone();
    let signatures = signatures.lock().unwrap().clone();
    (received, lines, signatures)
}

#[tokio::test]
async fn one_chat_is_one_trace_from_the_browser_to_the_event_source() {
    let (spans, stdout, signatures) = traced_chat(false, Export::Collector).await;
    assert!(
        signatures.iter().all(Option::is_none),
        "a collector that is not X-Ray gets no signature (no credentials): {signatures:?}"
    );
    let request = spans
        .iter()
        .find(|r| r.service == "agent" && r.span.name == "POST /api/chat")
        .unwrap();
    let trace = request.trace_id();
    assert_eq!(request.parent(), "", "the chat's request starts the trace");

    let run = one(&spans, "agent", "invoke_agent aws-ops-agent", &trace);
    assert_eq!(run.parent(), request.id());
    assert_eq!(run.attr("gen_ai.operation.name").unwrap(), "invoke_agent");
    assert_eq!(run.attr("gen_ai.provider.name").unwrap(), "aws.bedrock");
    assert_eq!(run.attr("gen_ai.request.model").unwrap(), MODEL);
    let conversation = run.attr("gen_ai.conversation.id").unwrap();
    assert!(
        conversation.len() == 16 && conversation.bytes().all(|b| b.is_ascii_hexdigit()),
        "a digest of the chat id, not the id: {conversation}"
    );
    // Prompt caching (the default model takes cache points): the first call writes the tools
    // and the stable system prompt to the cache, the second reads them.
    let written: u64 = run
        .attr("gen_ai.usage.cache_creation.input_tokens")
        .unwrap()
        .parse()
        .unwrap();
    let read: u64 = run
        .attr("gen_ai.usage.cache_read.input_tokens")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        written > 100 && read == written,
        "written {written}, read {read}"
    );
    assert_eq!(
        run.attr("gen_ai.usage.input_tokens").unwrap(),
        (240 + read + written).to_string()
    );
    assert_eq!(run.attr("gen_ai.usage.output_tokens").unwrap(), "60");
    assert_eq!(run.attr("agent.tool_calls").unwrap(), "1");

    let chats: Vec<&Received> = spans
        .iter()
        .filter(|r| r.span.name == format!("chat {MODEL}") && r.trace_id() == trace)
        .collect();
    assert_eq!(chats.len(), 2, "two model calls");
    for chat in &chats {
        assert_eq!(chat.parent(), run.id());
        assert_eq!(chat.attr("gen_ai.operation.name").unwrap(), "chat");
        assert_eq!(chat.attr("gen_ai.request.model").unwrap(), MODEL);
        assert_eq!(
            chat.attr("gen_ai.usage.input_tokens").unwrap(),
            (120 + written).to_string()
        );
        assert_eq!(chat.attr("gen_ai.usage.output_tokens").unwrap(), "30");
    }
    let reasons: Vec<String> = chats
        .iter()
        .map(|c| c.attr("gen_ai.response.finish_reasons").unwrap())
        .collect();
    assert!(reasons.contains(&"tool_use".to_owned()) && reasons.contains(&"end_turn".to_owned()));

    let tool = one(&spans, "agent", "execute_tool lookup_events", &trace);
    assert_eq!(tool.parent(), run.id());
    assert_eq!(tool.attr("gen_ai.tool.name").unwrap(), "lookup_events");
    assert_eq!(tool.attr("gen_ai.tool.call.id").unwrap(), "tu-trace-1");
    assert_eq!(tool.attr("error.type"), None);

    // The server continues the trace: its HTTP request is a child of the agent's tool call.
    let server_request = one(&spans, "cloudtrail-mcp", "POST /mcp", &trace);
    assert_eq!(server_request.parent(), tool.id());
    assert_eq!(
        server_request.attr("http.response.status_code").unwrap(),
        "200"
    );
    let server_tool = one(&spans, "cloudtrail-mcp", "tools/call lookup_events", &trace);
    assert_eq!(server_tool.parent(), server_request.id());
    assert_eq!(
        server_tool.attr("gen_ai.tool.name").unwrap(),
        "lookup_events"
    );
    let query = one(&spans, "cloudtrail-mcp", "source.lookup", &trace);
    assert_eq!(query.parent(), server_tool.id());
    assert!(
        query
            .attr("cloudtrail.source")
            .unwrap()
            .starts_with("sample")
    );
    assert_eq!(query.attr("cloudtrail.events").unwrap(), "3");

    // No prompt, answer or tool data without content capture.
    for span in &spans {
        for kv in &span.span.attributes {
            let value = kv.value.as_ref().map(text).unwrap_or_default();
            assert!(
                !value.contains(MARKER),
                "{} carries the question in {}",
                span.span.name,
                kv.key
            );
            assert!(!kv.key.ends_with(".messages") && !kv.key.starts_with("gen_ai.tool.call.arg"));
        }
    }

    // The answer's metrics, as CloudWatch would read them from the EMF line.
    let emf: Vec<Value> = stdout
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect();
    assert_eq!(emf.len(), 1, "{stdout:?}");
    let metrics = agent::metrics::read_emf(&emf[0]).unwrap();
    assert_eq!(metrics["InputTokens"], 240.0);
    assert_eq!(metrics["OutputTokens"], 60.0);
    assert_eq!(metrics["CacheReadTokens"], read as f64);
    assert_eq!(metrics["CacheWriteTokens"], written as f64);
    assert_eq!(metrics["ModelCalls"], 2.0);
    assert_eq!(metrics["ToolCalls"], 1.0);
    // Sonnet 4.5 list prices per million tokens: $3 input, $15 output, $0.30 cache read,
    // $3.75 cache write.
    let cost = (240.0 * 3.0 + 60.0 * 15.0 + read as f64 * 0.3 + written as f64 * 3.75) / 1e6;
    assert!((metrics["CostUSD"] - cost).abs() < 1e-9, "{metrics:?}");
}

#[tokio::test]
async fn content_goes_into_spans_only_when_capture_is_on() {
    let (spans, _, _) = traced_chat(true, Export::Collector).await;
    let run = spans
        .iter()
        .find(|r| r.span.name == "invoke_agent aws-ops-agent")
        .unwrap();
    assert!(run.attr("gen_ai.input.messages").unwrap().contains(MARKER));
    let tool = spans
        .iter()
        .find(|r| r.span.name == "execute_tool lookup_events")
        .unwrap();
    assert_eq!(
        tool.attr("gen_ai.tool.call.arguments").unwrap(),
        "{\"max_results\":3}"
    );
    assert!(
        tool.attr("gen_ai.tool.call.result")
            .unwrap()
            .contains("events")
    );
}

#[tokio::test]
async fn as_deployed_both_processes_send_signed_spans_to_xray() {
    let (spans, _, signatures) = traced_chat(false, Export::XRay).await;
    assert!(!signatures.is_empty());
    for signature in &signatures {
        match signature {
            Some(Ok(())) => {}
            other => panic!("an export to X-Ray was not validly signed: {other:?}"),
        }
    }
    let request = spans
        .iter()
        .find(|r| r.service == "agent" && r.span.name == "POST /api/chat")
        .unwrap();
    let trace = request.trace_id();
    let server = one(&spans, "cloudtrail-mcp", "tools/call lookup_events", &trace);
    let tool = one(&spans, "agent", "execute_tool lookup_events", &trace);
    assert_eq!(server.trace_id(), tool.trace_id());
}
