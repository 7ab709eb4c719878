//! Cold-start benchmark of the cloudtrail-mcp Lambda binary; run by `scripts/bench-lambda`.
//!
//! A Lambda Runtime API emulator on loopback (the wire protocol a `provided.al2023` function's
//! runtime speaks: `GET /2018-06-01/runtime/invocation/next`, `POST .../{id}/response`,
//! `.../{id}/error`, `.../init/error`) starts the bootstrap as Lambda does (a clean environment
//! with the variables Lambda sets, the function's own variables from `infra/lib/mcp-function.ts`,
//! credentials in the environment) and measures, per run:
//! - init: from spawning the process to its first `GET .../invocation/next` (Lambda's Init phase);
//! - first invoke: from handing it a Function URL event (payload format 2.0, `POST /mcp`) with an
//!   MCP `initialize` request to its `POST .../response`;
//! - second invoke: the same for `tools/list` on the now warm process.
//!
//! Usage: `bench_lambda <bootstrap> [runs, default 10] [source: api (as deployed) | sample]`.

// A benchmark program: any failure should stop it loudly.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "123456789012";
const FUNCTION: &str = "cloudtrail-mcp-bench";
const URL_ID: &str = "abcdefghijklmnopqrstuvwxyz012345";
/// The function's timeout (`infra/lib/mcp-function.ts`): the deadline handed to each invocation.
const TIMEOUT: Duration = Duration::from_secs(55);

/// The result of one invocation: how long the function took, and what it answered.
type Answer = Result<(Duration, Value), String>;

struct Invocation {
    id: String,
    event: Value,
    done: oneshot::Sender<Answer>,
}

/// One run's Runtime API: invocations queued by the benchmark, handed to the function's
/// long-polling `next` request, completed by its `response` (or `error`).
struct Runtime {
    first_next: OnceLock<Instant>,
    queue: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    pending: Mutex<HashMap<String, (Instant, oneshot::Sender<Answer>)>>,
    init_error: Mutex<Option<String>>,
}

async fn next(State(rt): State<Arc<Runtime>>) -> Response {
    let _ = rt.first_next.set(Instant::now());
    // `None`: the run is over and the process is being stopped.
    let Some(invocation) = rt.queue.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let deadline = jiff::Timestamp::now().as_millisecond() + TIMEOUT.as_millis() as i64;
    let headers = [
        ("content-type", "application/json".to_owned()),
        ("lambda-runtime-aws-request-id", invocation.id.clone()),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION}"),
        ),
        (
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000;Sampled=0".to_owned(),
        ),
    ];
    let body = invocation.event.to_string();
    rt.pending
        .lock()
        .unwrap()
        .insert(invocation.id, (Instant::now(), invocation.done));
    let mut response = body.into_response();
    for (name, value) in headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

async fn done(
    State(rt): State<Arc<Runtime>>,
    Path((id, kind)): Path<(String, String)>,
    body: Bytes,
) -> StatusCode {
    let Some((delivered, sender)) = rt.pending.lock().unwrap().remove(&id) else {
        return StatusCode::BAD_REQUEST;
    };
    let elapsed = delivered.elapsed();
    let answer = match kind.as_str() {
        "response" => serde_json::from_slice(&body)
            .map(|v| (elapsed, v))
            .map_err(|e| format!("the response is not JSON ({e}): {body:?}")),
        _ => Err(format!("the function reported an error: {body:?}")),
    };
    let _ = sender.send(answer);
    StatusCode::ACCEPTED
}

async fn init_error(State(rt): State<Arc<Runtime>>, body: Bytes) -> StatusCode {
    *rt.init_error.lock().unwrap() = Some(String::from_utf8_lossy(&body).into_owned());
    StatusCode::ACCEPTED
}

/// A Function URL event (payload format 2.0) for `POST /mcp` with a JSON-RPC `body`, as an IAM
/// caller, with the Function URL's own host name.
fn url_event(request_id: &str, body: &str) -> Value {
    let host = format!("{URL_ID}.lambda-url.{REGION}.on.aws");
    let now = jiff::Timestamp::now();
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/mcp",
        "rawQueryString": "",
        "headers": {
            "host": host,
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            "content-length": body.len().to_string(),
            "user-agent": "bench-lambda",
            "x-forwarded-proto": "https",
            "x-forwarded-port": "443",
            "x-forwarded-for": "203.0.113.10",
            "x-amzn-trace-id": "Root=1-00000000-000000000000000000000000",
        },
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": URL_ID,
            "authorizer": {"iam": {
                "accessKey": "ASIATESTTESTTESTTEST",
                "accountId": ACCOUNT,
                "callerId": "AROATEST:agent",
                "userArn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/agent/session"),
                "userId": "AROATEST:agent",
            }},
            "domainName": host,
            "domainPrefix": URL_ID,
            "http": {"method": "POST", "path": "/mcp", "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.10", "userAgent": "bench-lambda"},
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000").to_string(),
            "timeEpoch": now.as_millisecond(),
        },
        "body": body,
        "isBase64Encoded": false,
    })
}

fn rpc(method: &str, params: Value) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string()
}

/// The JSON-RPC answer in a Function URL response, which must be a 200.
fn jsonrpc_answer(response: &Value) -> Value {
    assert_eq!(response["statusCode"], json!(200), "{response}");
    let body = response["body"]
        .as_str()
        .unwrap_or_else(|| panic!("{response}"));
    let body = if response["isBase64Encoded"] == json!(true) {
        use base64::Engine;
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .unwrap(),
        )
        .unwrap()
    } else {
        body.to_owned()
    };
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON-RPC ({e}): {body}"))
}

struct Timings {
    init: Duration,
    first: Duration,
    second: Duration,
}

/// Collects a pipe's bytes on a thread (Lambda reads the function's stdout and stderr too).
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = pipe.read_to_end(&mut all);
        String::from_utf8_lossy(&all).into_owned()
    })
}

async fn one_run(bootstrap: &str, source: &str) -> Timings {
    let (queue, receiver) = mpsc::channel(4);
    let rt = Arc::new(Runtime {
        first_next: OnceLock::new(),
        queue: tokio::sync::Mutex::new(receiver),
        pending: Mutex::new(HashMap::new()),
        init_error: Mutex::new(None),
    });
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/{kind}", post(done))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(rt.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let log_stream = uuid::Uuid::new_v4().simple().to_string();
    let mut command = Command::new(bootstrap);
    command
        .env_clear()
        .envs([
            ("AWS_LAMBDA_RUNTIME_API", api.as_str()),
            ("AWS_LAMBDA_FUNCTION_NAME", FUNCTION),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                "/aws/lambda/cloudtrail-mcp-bench",
            ),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME",
                &format!("2026/01/01/[$LATEST]{log_stream}"),
            ),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
            ("AWS_REGION", REGION),
            ("AWS_DEFAULT_REGION", REGION),
            ("AWS_ACCESS_KEY_ID", "ASIATESTTESTTESTTEST"),
            ("AWS_SECRET_ACCESS_KEY", "bench-secret-key"),
            ("AWS_SESSION_TOKEN", "bench-session-token"),
            ("_HANDLER", "bootstrap"),
            ("LAMBDA_TASK_ROOT", "/var/task"),
            ("LAMBDA_RUNTIME_DIR", "/var/runtime"),
            ("TZ", ":UTC"),
            ("LANG", "en_US.UTF-8"),
            ("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin"),
            // The function's own environment (infra/lib/mcp-function.ts).
            ("CLOUDTRAIL_MCP_SOURCE", source),
            ("CLOUDTRAIL_MCP_REDACT_SOURCE_IP", "false"),
            ("RUST_LOG", "info"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());

    let spawned = Instant::now();
    let mut child = command.spawn().expect("start the bootstrap");
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());

    let mut durations = Vec::new();
    let mut failure = None;
    let requests = [
        rpc(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "bench-lambda", "version": "1"}}),
        ),
        rpc("tools/list", json!({})),
    ];
    for request in &requests {
        let id = uuid::Uuid::new_v4().to_string();
        let (sender, answer) = oneshot::channel();
        let event = url_event(&id, request);
        queue
            .send(Invocation {
                id,
                event,
                done: sender,
            })
            .await
            .unwrap();
        match tokio::time::timeout(TIMEOUT, answer).await {
            Ok(Ok(Ok((elapsed, response)))) => {
                let answer = jsonrpc_answer(&response);
                assert!(answer.get("result").is_some(), "{answer}");
                durations.push(elapsed);
            }
            Ok(Ok(Err(error))) => {
                failure = Some(error);
                break;
            }
            Ok(Err(_)) | Err(_) => {
                failure = Some("no answer within the function's timeout".to_owned());
                break;
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    drop(queue);
    server.abort();
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    if let Some(error) = rt.init_error.lock().unwrap().take() {
        failure = Some(format!("init error: {error}"));
    }
    if let Some(failure) = failure {
        panic!("{failure}\n--- stdout:\n{stdout}\n--- stderr:\n{stderr}");
    }
    Timings {
        init: *rt.first_next.get().unwrap() - spawned,
        first: durations[0],
        second: durations[1],
    }
}

fn stats(label: &str, mut values: Vec<Duration>) {
    values.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    // Nearest-rank median.
    let p50 = values[values.len().div_ceil(2) - 1];
    println!(
        "{label:<44} p50 {:>7.2} ms   min {:>7.2} ms   max {:>7.2} ms",
        ms(p50),
        ms(values[0]),
        ms(values[values.len() - 1])
    );
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: bench_lambda <bootstrap> [runs] [api|sample]";
    let bootstrap = args.next().expect(usage);
    let runs: usize = args.next().map_or(10, |s| s.parse().expect(usage));
    let source = args.next().unwrap_or_else(|| "api".to_owned());
    assert!(
        runs > 0 && ["api", "sample"].contains(&source.as_str()),
        "{usage}"
    );

    let mut all = Vec::new();
    for _ in 0..runs {
        all.push(one_run(&bootstrap, &source).await);
    }
    println!("source {source}, {runs} cold starts (a new process each):");
    stats(
        "init (spawn to first invocation/next)",
        all.iter().map(|t| t.init).collect(),
    );
    stats(
        "first invoke (MCP initialize)",
        all.iter().map(|t| t.first).collect(),
    );
    stats(
        "second invoke (tools/list)",
        all.iter().map(|t| t.second).collect(),
    );
}
