//! Benchmark of the DynamoDB session store: the `agent` release binary with the Bedrock stand-in
//! (one tool call, then a 20-chunk answer) and the real cloudtrail-mcp router, once with the
//! memory store and once with `--session-store dynamodb` against moto's local DynamoDB behind a
//! counting proxy. Prints the per-question latency of both (p50/p99) and the difference, the
//! DynamoDB requests per question by operation, the read and write units per question estimated
//! with DynamoDB's rules from the items the proxy saw, and the idle RSS of each agent holding
//! the chats it answered. Last, it stores [`STORED_CHATS`] chats in the table and has a fresh
//! agent serve each of them, to show its memory does not grow with the number of stored chats.
//!
//! Run through `scripts/bench-sessions` (needs moto: `scripts/setup-tools`).

#![allow(clippy::unwrap_used)]

#[path = "../tests/it/bedrock_standin.rs"]
#[allow(dead_code)]
mod bedrock_standin;
#[path = "../tests/it/moto.rs"]
#[allow(dead_code)]
mod moto;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use bedrock_standin::{Standin, serve};

/// Chats per store (the second argument overrides it). moto slows down as its table grows (each
/// transaction deep-copies the table state for its rollback), so more chats measure moto.
const DEFAULT_CHATS: usize = 200;
const QUESTIONS_PER_CHAT: usize = 2;
/// Chats stored in the table for the idle-memory figure, and held by the memory store for the
/// comparison.
const STORED_CHATS: usize = 1000;

/// What the proxy saw: requests per operation and estimated capacity units.
#[derive(Debug, Default)]
struct Stats {
    requests: BTreeMap<String, usize>,
    read_units: f64,
    write_units: f64,
}

/// DynamoDB's item size: attribute names plus values (numbers about half their digits).
fn value_size(value: &Value) -> usize {
    let Some((kind, inner)) = value.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    match kind.as_str() {
        "S" => inner.as_str().map_or(0, str::len),
        "N" => inner.as_str().map_or(0, |n| n.len() / 2 + 1),
        "B" => inner.as_str().map_or(0, |b| b.len() * 3 / 4),
        "M" => 3 + item_size(inner),
        "L" => {
            3 + inner
                .as_array()
                .map_or(0, |l| l.iter().map(value_size).sum())
        }
        _ => 1,
    }
}

fn item_size(item: &Value) -> usize {
    item.as_object().map_or(0, |o| {
        o.iter().map(|(name, v)| name.len() + value_size(v)).sum()
    })
}

fn units(bytes: usize, per_unit: usize) -> f64 {
    bytes.div_ceil(per_unit).max(1) as f64
}

/// An update's item after it: the key and the values it sets, plus the attributes it keeps
/// (estimated at 64 bytes for a head; an exchange's progress rewrites its large `shown`).
fn update_size(update: &Value) -> usize {
    item_size(&update["Key"])
        + update["ExpressionAttributeValues"]
            .as_object()
            .map_or(0, |o| o.values().map(value_size).sum::<usize>())
        + 64
}

impl Stats {
    fn record(&mut self, op: &str, request: &Value, response: &Value) {
        *self.requests.entry(op.to_owned()).or_default() += 1;
        match op {
            // Strongly consistent reads: 4 KB per unit.
            "GetItem" => self.read_units += units(item_size(&response["Item"]), 4096),
            "Query" => {
                let bytes = response["Items"]
                    .as_array()
                    .map_or(0, |items| items.iter().map(item_size).sum());
                self.read_units += units(bytes, 4096);
            }
            "PutItem" => self.write_units += units(item_size(&request["Item"]), 1024),
            "UpdateItem" => self.write_units += units(update_size(request), 1024),
            "DeleteItem" => self.write_units += 1.0,
            // Transactions cost twice per item.
            "TransactWriteItems" => {
                for item in request["TransactItems"].as_array().into_iter().flatten() {
                    let size = if item.get("Put").is_some() {
                        item_size(&item["Put"]["Item"])
                    } else {
                        update_size(&item["Update"])
                    };
                    self.write_units += 2.0 * units(size, 1024);
                }
            }
            _ => {}
        }
    }
}

struct Proxy {
    upstream: String,
    http: reqwest::Client,
    stats: Mutex<Stats>,
}

/// Forwards one DynamoDB request to moto and records it.
async fn forward(State(proxy): State<Arc<Proxy>>, headers: HeaderMap, body: Bytes) -> Response {
    let op = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit('.').next())
        .unwrap_or("")
        .to_owned();
    let mut request = proxy.http.post(&proxy.upstream).body(body.clone());
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    let Ok(upstream) = request.send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = upstream.status();
    let response_headers = upstream.headers().clone();
    let bytes = upstream.bytes().await.unwrap_or_default();
    if status.is_success() {
        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let response: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        proxy.stats.lock().unwrap().record(&op, &request, &response);
    }
    let mut out = (status, bytes).into_response();
    for (name, value) in &response_headers {
        if name != "content-length" && name != "transfer-encoding" && name != "connection" {
            out.headers_mut().insert(name, value.clone());
        }
    }
    out
}

async fn spawn_proxy(upstream: &str) -> (String, Arc<Proxy>) {
    let proxy = Arc::new(Proxy {
        upstream: upstream.to_owned(),
        http: reqwest::Client::new(),
        stats: Mutex::new(Stats::default()),
    });
    let router = axum::Router::new()
        .fallback(axum::routing::post(forward))
        .with_state(proxy.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}"), proxy)
}

async fn spawn_mcp() -> String {
    use cloudtrail_mcp::cursor::CursorCodec;
    use cloudtrail_mcp::source::builtin::SampleSource;
    use cloudtrail_mcp::{CloudTrailServer, HostPolicy, ToolSettings};
    let source = Arc::new(SampleSource::new(jiff::Timestamp::now(), 42));
    source.warm_up();
    let server = CloudTrailServer::new(source, CursorCodec::new("bench"), ToolSettings::default());
    let router = cloudtrail_mcp::app(server, HostPolicy::loopback());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}/mcp")
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn start_agent(
    binary: &str,
    bedrock: &str,
    mcp: &str,
    dynamodb: Option<(&str, &str)>,
) -> (tokio::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = tokio::process::Command::new(binary);
    command
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--model", "bedrock", "--mcp-url", mcp])
        .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", bedrock)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDBENCH")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AGENT_MAX_SESSIONS", "10000")
        .env("AGENT_NEW_CHATS_PER_CLIENT_PER_MINUTE", "1000000")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    if let Some((endpoint, table)) = dynamodb {
        command
            .args(["--session-store", "dynamodb", "--sessions-table", table])
            .env("AWS_ENDPOINT_URL_DYNAMODB", endpoint);
    }
    let child = command.spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (child, base)
}

/// One question in the chat of `cookie` (a new chat when `None`); the chat's cookie after it.
async fn ask(client: &reqwest::Client, base: &str, cookie: Option<&str>) -> String {
    let mut request = client
        .post(format!("{base}/api/chat"))
        .json(&json!({"message": "what did alice do yesterday?", "timezone": "UTC"}));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200, "question refused");
    let issued = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    let body = response.text().await.unwrap();
    assert!(body.contains("\"end_turn\""), "question failed");
    issued.or(cookie.map(str::to_owned)).unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Copies one answered chat of the table (the anonymous owner's, as the DynamoDB phase wrote
/// them) into `count` new chats, and returns their cookies. Batch writes, not the agent: moto's
/// transactions copy the whole table each time, so asking 1,000 chats' questions would measure
/// moto's slowdown, while the agent's memory only depends on what it reads back.
async fn store_chats(client: &aws_sdk_dynamodb::Client, table: &str, count: usize) -> Vec<String> {
    use agent::session::dynamo::items::{EXCHANGE, PK, SK, partition};
    use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
    let scan = client.scan().table_name(table).send().await.unwrap();
    // The partition of a chat with an exchange: its items are the template.
    let template_pk = scan
        .items()
        .iter()
        .find(|item| {
            item.get(SK)
                .and_then(|v| v.as_s().ok())
                .is_some_and(|sk| sk.starts_with(EXCHANGE))
        })
        .and_then(|item| item.get(PK)?.as_s().ok())
        .expect("the DynamoDB phase stored no exchange to copy")
        .clone();
    let template = client
        .query()
        .table_name(table)
        .key_condition_expression("#pk = :pk")
        .expression_attribute_names("#pk", PK)
        .expression_attribute_values(":pk", AttributeValue::S(template_pk))
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    let mut cookies = Vec::with_capacity(count);
    let mut requests = Vec::new();
    for _ in 0..count {
        let id = uuid::Uuid::new_v4().to_string();
        let pk = partition(agent::session::ANONYMOUS, &id);
        for item in &template {
            let mut item = item.clone();
            item.insert(PK.to_owned(), AttributeValue::S(pk.clone()));
            let put = PutRequest::builder().set_item(Some(item)).build().unwrap();
            requests.push(WriteRequest::builder().put_request(put).build());
        }
        cookies.push(format!("{}={id}", agent::api::COOKIE));
    }
    for chunk in requests.chunks(25) {
        let mut pending = chunk.to_vec();
        while !pending.is_empty() {
            let out = client
                .batch_write_item()
                .request_items(table, pending)
                .send()
                .await
                .unwrap();
            pending = out
                .unprocessed_items()
                .and_then(|items| items.get(table).cloned())
                .unwrap_or_default();
        }
    }
    cookies
}

/// Has the agent at `base` serve each stored chat (what a reload does), checking it is whole.
async fn view_all(base: &str, cookies: &[String]) {
    let client = reqwest::Client::new();
    for cookie in cookies {
        let view: Value = client
            .get(format!("{base}/api/session"))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let messages = view["messages"].as_array().map_or(0, Vec::len);
        assert!(
            messages >= 2,
            "a stored chat came back without its exchange: {view}"
        );
    }
}

/// Asks `QUESTIONS_PER_CHAT` questions in each of `chats` chats (sequentially); the latencies
/// (sorted) and the agent's idle RSS afterwards.
async fn run(base: &str, pid: u32, chats: usize) -> (Vec<Duration>, u64) {
    let client = reqwest::Client::new();
    for _ in 0..10 {
        ask(&client, base, None).await;
    }
    let mut latencies = Vec::with_capacity(chats * QUESTIONS_PER_CHAT);
    for _ in 0..chats {
        let mut cookie = None;
        for _ in 0..QUESTIONS_PER_CHAT {
            let started = Instant::now();
            cookie = Some(ask(&client, base, cookie.as_deref()).await);
            latencies.push(started.elapsed());
        }
    }
    latencies.sort();
    tokio::time::sleep(Duration::from_millis(500)).await;
    (latencies, rss_kb(pid))
}

#[tokio::main]
async fn main() {
    let binary = std::env::args()
        .nth(1)
        .expect("usage: bench_sessions <path to the agent binary> [chats]");
    let chats: usize = std::env::args()
        .nth(2)
        .map_or(DEFAULT_CHATS, |n| n.parse().expect("a number of chats"));
    let moto = moto::Moto::start().await.expect("moto is needed");
    let table = "bench-sessions";
    agent::session::dynamo::create_table(&moto.client(), table)
        .await
        .unwrap();
    let (endpoint, proxy) = spawn_proxy(&moto.endpoint).await;
    let mcp = spawn_mcp().await;
    let (bedrock, _standin) = serve(Standin {
        auto_tool: Some(("lookup_events", "{\"max_results\": 1}")),
        auto_chunks: 20,
        ..Standin::default()
    })
    .await;

    let (mut memory, base) = start_agent(&binary, &bedrock, &mcp, None).await;
    let (memory_latency, memory_rss) = run(&base, memory.id().unwrap(), chats).await;
    // The same agent goes on to hold STORED_CHATS chats, for the memory comparison.
    let (_, memory_stored_rss) = run(
        &base,
        memory.id().unwrap(),
        STORED_CHATS.saturating_sub(chats + 20),
    )
    .await;
    memory.kill().await.unwrap();

    let (mut dynamo, base) = start_agent(&binary, &bedrock, &mcp, Some((&endpoint, table))).await;
    let (dynamo_latency, dynamo_rss) = run(&base, dynamo.id().unwrap(), chats).await;
    dynamo.kill().await.unwrap();

    let cookies = store_chats(&moto.client(), table, STORED_CHATS).await;
    // Straight to moto, not through the proxy: the per-question counts stay those of questions.
    let (mut fresh, base) =
        start_agent(&binary, &bedrock, &mcp, Some((&moto.endpoint, table))).await;
    let fresh_pid = fresh.id().unwrap();
    let served = Instant::now();
    view_all(&base, &cookies).await;
    let served = served.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stored_rss = rss_kb(fresh_pid);
    fresh.kill().await.unwrap();

    let questions = (chats * QUESTIONS_PER_CHAT + 10) as f64;
    let n = chats * QUESTIONS_PER_CHAT;
    println!("{n} questions ({chats} chats x {QUESTIONS_PER_CHAT}), sequential");
    for (name, latencies) in [("memory", &memory_latency), ("dynamodb", &dynamo_latency)] {
        println!(
            "question latency, {name:<8}          p50 {:>7.2} ms   p99 {:>7.2} ms",
            ms(percentile(latencies, 0.5)),
            ms(percentile(latencies, 0.99))
        );
    }
    println!(
        "added by the DynamoDB store:         p50 {:>7.2} ms   p99 {:>7.2} ms",
        ms(percentile(&dynamo_latency, 0.5)) - ms(percentile(&memory_latency, 0.5)),
        ms(percentile(&dynamo_latency, 0.99)) - ms(percentile(&memory_latency, 0.99))
    );
    {
        let stats = proxy.stats.lock().unwrap();
        let per_op: Vec<String> = stats
            .requests
            .iter()
            .map(|(op, count)| format!("{op} {:.2}", *count as f64 / questions))
            .collect();
        println!("DynamoDB requests per question:      {}", per_op.join(", "));
        println!(
            "units per question (estimated):      read {:.2} RCU, write {:.2} WCU",
            stats.read_units / questions,
            stats.write_units / questions
        );
        println!(
            "idle RSS after {chats} chats:           memory store {:.1} MB, DynamoDB store {:.1} MB",
            memory_rss as f64 / 1024.0,
            dynamo_rss as f64 / 1024.0
        );
    }
    println!(
        "idle RSS holding {STORED_CHATS} chats:         memory store {:.1} MB, DynamoDB store {:.1} MB \
         (a fresh agent after serving each stored chat once, {:.1} ms per chat)",
        memory_stored_rss as f64 / 1024.0,
        stored_rss as f64 / 1024.0,
        ms(served) / STORED_CHATS as f64
    );
    moto.stop().await;
}
