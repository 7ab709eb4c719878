//! Benchmark of the `agent` release binary on loopback, with a Bedrock ConverseStream stand-in
//! that calls one tool and then streams a fixed answer, and the real cloudtrail-mcp router
//! counting the HTTP requests it gets. Prints: start-up time, idle RSS, per-turn latency
//! (p50/p99: the agent's whole server-side path, stand-ins answering at once), MCP HTTP requests
//! per tool call, memory per idle session, memory per session holding a full (512 KiB) history,
//! and memory/CPU with 500 concurrent streaming chats.
//!
//! Run through `scripts/bench-agent`.

#![allow(clippy::unwrap_used)]

#[path = "../tests/it/bedrock_standin.rs"]
#[allow(dead_code)]
mod bedrock_standin;

use axum::serve::ListenerExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::middleware::{self, Next};
use cloudtrail_mcp::cursor::CursorCodec;
use cloudtrail_mcp::source::builtin::SampleSource;
use cloudtrail_mcp::{CloudTrailServer, HostPolicy, ToolSettings};
use serde_json::json;

use bedrock_standin::{Standin, serve};

const TURNS: usize = 300;
const IDLE_SESSIONS: usize = 2000;
const CONCURRENT: usize = 500;

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after ") ".
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    ticks as f64 / 100.0
}

async fn spawn_mcp(counter: Arc<AtomicUsize>) -> String {
    let source = Arc::new(SampleSource::new(jiff::Timestamp::now(), 42));
    source.warm_up();
    let server = CloudTrailServer::new(source, CursorCodec::new("bench"), ToolSettings::default());
    let router = cloudtrail_mcp::app(server, HostPolicy::loopback()).layer(middleware::from_fn(
        move |request, next: Next| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                next.run(request).await
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}/mcp")
}

struct AgentProcess {
    child: tokio::process::Child,
    pid: u32,
    base: String,
    started_in: Duration,
}

async fn start_agent(binary: &str, bedrock: &str, mcp: &str) -> AgentProcess {
    start_agent_with(binary, bedrock, mcp, &[]).await
}

async fn start_agent_with(
    binary: &str,
    bedrock: &str,
    mcp: &str,
    env: &[(&str, &str)],
) -> AgentProcess {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let child = tokio::process::Command::new(binary)
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--model",
            "bedrock",
            "--mcp-url",
            mcp,
        ])
        .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", bedrock)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDBENCH")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AGENT_MAX_SESSIONS", "10000")
        // Every benchmark client comes from 127.0.0.1: lift the per-address limit on new chats.
        .env("AGENT_NEW_CHATS_PER_CLIENT_PER_MINUTE", "1000000")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    loop {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    AgentProcess {
        child,
        pid,
        base,
        started_in: started.elapsed(),
    }
}

/// One chat turn in a new session; true when it ended with `done`/`end_turn`.
async fn turn(client: &reqwest::Client, base: &str) -> bool {
    let Ok(response) = client
        .post(format!("{base}/api/chat"))
        .json(&json!({"message": "what did alice do yesterday?", "timezone": "Asia/Tokyo"}))
        .send()
        .await
    else {
        return false;
    };
    if !response.status().is_success() {
        return false;
    }
    let Ok(body) = response.text().await else {
        return false;
    };
    let tail = body.rsplit("event: done").next().unwrap_or("");
    body.contains("event: tool_end") && tail.contains("\"end_turn\"")
}

/// One turn in the session of `cookie` (a new one when `None`); the session's cookie after it.
async fn turn_in(
    client: &reqwest::Client,
    base: &str,
    cookie: Option<&str>,
    message: &str,
) -> Option<String> {
    let mut request = client
        .post(format!("{base}/api/chat"))
        .json(&json!({"message": message, "timezone": "UTC"}));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.ok()?;
    let issued = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    let body = response.text().await.ok()?;
    body.contains("\"end_turn\"")
        .then(|| issued.or(cookie.map(str::to_owned)))
        .flatten()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// An OTLP/HTTP sink that accepts every batch (the exporter's cost, not a collector's); returns
/// its endpoint and how many batches it took.
async fn spawn_otlp_sink() -> (String, Arc<AtomicUsize>) {
    let batches = Arc::new(AtomicUsize::new(0));
    let counted = batches.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |_body: axum::body::Bytes| {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), batches)
}

/// The `done` event's usage of one answer in the session of `cookie`, and the session's cookie.
async fn usage_of_turn(
    client: &reqwest::Client,
    base: &str,
    cookie: Option<&str>,
    message: &str,
) -> (serde_json::Value, String) {
    let mut request = client
        .post(format!("{base}/api/chat"))
        .json(&json!({"message": message, "timezone": "UTC"}));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.unwrap();
    let issued = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    let body = response.text().await.unwrap();
    let done = body.rsplit("event: done\ndata: ").next().unwrap();
    let done: serde_json::Value = serde_json::from_str(done.lines().next().unwrap()).unwrap();
    (
        done["usage"].clone(),
        issued.unwrap_or_else(|| cookie.unwrap().to_owned()),
    )
}

/// The telemetry figures: turn latency with tracing off and on (spans exported to a local sink),
/// idle RSS with the exporter on, and the share of prompt tokens read from the prompt cache
/// over a three-question conversation.
async fn telemetry_figures(binary: &str, bedrock: &str, mcp: &str, client: &reqwest::Client) {
    let (sink, batches) = spawn_otlp_sink().await;
    for (label, env) in [
        ("tracing off", vec![]),
        (
            "tracing on ",
            vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT", sink.as_str()),
                ("OTEL_BSP_SCHEDULE_DELAY", "200"),
            ],
        ),
    ] {
        let agent = start_agent_with(binary, bedrock, mcp, &env).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let idle = rss_kb(agent.pid);
        for _ in 0..20 {
            assert!(turn(client, &agent.base).await, "warm-up turn failed");
        }
        let mut latencies = Vec::with_capacity(TURNS);
        for _ in 0..TURNS {
            let started = Instant::now();
            assert!(turn(client, &agent.base).await, "turn failed");
            latencies.push(started.elapsed());
        }
        latencies.sort();
        println!(
            "turn, {label}:                   p50 {:>6.2} ms   p99 {:>6.2} ms   idle RSS {:.1} MB",
            percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
            percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
            idle as f64 / 1024.0
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    println!(
        "OTLP batches received:               {:>8}",
        batches.load(Ordering::SeqCst)
    );
    // Three questions in one chat: what the prompt cache saves (the stand-in reports cache
    // reads and writes for the prefix up to the request's last cache point, as Bedrock does).
    let agent = start_agent(binary, bedrock, mcp).await;
    let mut cookie: Option<String> = None;
    let (mut prompt, mut read) = (0u64, 0u64);
    for question in [
        "what did alice do yesterday?",
        "and bob?",
        "who deleted a bucket last week?",
    ] {
        let (usage, next) = usage_of_turn(client, &agent.base, cookie.as_deref(), question).await;
        let n = |k: &str| usage[k].as_u64().unwrap_or(0);
        prompt += n("input_tokens") + n("cache_read_input_tokens") + n("cache_write_input_tokens");
        read += n("cache_read_input_tokens");
        cookie = Some(next);
    }
    println!(
        "cache-read share of prompt tokens:   {:>7.1} %   (3 questions, 6 model calls: {read} of {prompt})",
        read as f64 * 100.0 / prompt as f64
    );
}

#[tokio::main]
async fn main() {
    let binary = std::env::args()
        .nth(1)
        .expect("usage: bench_agent <path to the agent binary> [telemetry]");
    if std::env::args().nth(2).as_deref() == Some("telemetry") {
        let mcp = spawn_mcp(Arc::new(AtomicUsize::new(0))).await;
        let (bedrock, _standin) = serve(Standin {
            auto_tool: Some(("lookup_events", "{\"max_results\": 1}")),
            auto_chunks: 20,
            ..Standin::default()
        })
        .await;
        let client = reqwest::Client::new();
        telemetry_figures(&binary, &bedrock, &mcp, &client).await;
        return;
    }
    let mcp_requests = Arc::new(AtomicUsize::new(0));
    let mcp = spawn_mcp(mcp_requests.clone()).await;
    let (bedrock, standin) = serve(Standin {
        auto_tool: Some(("lookup_events", "{\"max_results\": 1}")),
        auto_chunks: 20,
        ..Standin::default()
    })
    .await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1000)
        .build()
        .unwrap();

    // Start-up and idle memory.
    let agent = start_agent(&binary, &bedrock, &mcp).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle_rss = rss_kb(agent.pid);
    println!(
        "agent start-up (spawn to healthy):   {:>8.1} ms",
        agent.started_in.as_secs_f64() * 1000.0
    );
    println!(
        "idle RSS:                            {:>8.1} MB",
        idle_rss as f64 / 1024.0
    );

    // Per-turn latency and MCP requests per tool call.
    for _ in 0..20 {
        assert!(turn(&client, &agent.base).await, "warm-up turn failed");
    }
    let before = mcp_requests.load(Ordering::SeqCst);
    let mut latencies = Vec::with_capacity(TURNS);
    for _ in 0..TURNS {
        let started = Instant::now();
        assert!(turn(&client, &agent.base).await, "turn failed");
        latencies.push(started.elapsed());
    }
    let per_call = (mcp_requests.load(Ordering::SeqCst) - before) as f64 / TURNS as f64;
    latencies.sort();
    println!(
        "turn (2 model calls + 1 tool call):  p50 {:>6.2} ms   p99 {:>6.2} ms   ({TURNS} sequential turns)",
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0
    );
    println!("MCP HTTP requests per tool call:     {per_call:>8.2}");

    // Memory per idle session.
    let sessions_before = TURNS + 20;
    let rss_before = rss_kb(agent.pid);
    let extra = IDLE_SESSIONS - sessions_before;
    for chunk in 0..extra.div_ceil(50) {
        let batch = (extra - chunk * 50).min(50);
        let results =
            futures::future::join_all((0..batch).map(|_| turn(&client, &agent.base))).await;
        assert!(results.iter().all(|ok| *ok), "session set-up failed");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_after = rss_kb(agent.pid);
    println!(
        "memory per idle session:             {:>8.1} KB   ({extra} sessions added: {:.1} MB -> {:.1} MB RSS)",
        (rss_after.saturating_sub(rss_before)) as f64 / extra as f64,
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0
    );

    // Memory per session holding a full history: long questions until the 512 KiB bound drops
    // the oldest exchanges.
    const FULL_SESSIONS: usize = 20;
    const FULL_TURNS: usize = 80;
    let question = format!("what did alice do yesterday? {}", "x".repeat(7900));
    let rss_before = rss_kb(agent.pid);
    let full = futures::future::join_all((0..FULL_SESSIONS).map(|_| {
        let (client, base, question) = (client.clone(), agent.base.clone(), question.clone());
        async move {
            let mut cookie = turn_in(&client, &base, None, &question).await;
            for _ in 1..FULL_TURNS {
                cookie = turn_in(&client, &base, cookie.as_deref(), &question).await;
            }
            cookie.is_some()
        }
    }))
    .await;
    assert!(full.iter().all(|ok| *ok), "full-history sessions failed");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_after = rss_kb(agent.pid);
    println!(
        "memory per session, full history:    {:>8.1} KB   ({FULL_SESSIONS} sessions x {FULL_TURNS} questions of 7.9 KB; bound 512 KiB)",
        (rss_after.saturating_sub(rss_before)) as f64 / FULL_SESSIONS as f64
    );
    drop(agent.child);
    drop(standin);

    // 500 concurrent streaming chats: each answer streams 20 chunks 50 ms apart (about 1 s).
    let (slow_bedrock, _slow) = serve(Standin {
        auto_tool: Some(("lookup_events", "{\"max_results\": 1}")),
        auto_chunks: 20,
        chunk_delay: Duration::from_millis(50),
        ..Standin::default()
    })
    .await;
    let agent = start_agent(&binary, &slow_bedrock, &mcp).await;
    assert!(turn(&client, &agent.base).await);
    let start_rss = rss_kb(agent.pid);
    let cpu_before = cpu_secs(agent.pid);
    let peak = Arc::new(AtomicUsize::new(start_rss as usize));
    let sampler = {
        let (peak, pid) = (peak.clone(), agent.pid);
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kb(pid) as usize, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let started = Instant::now();
    let results =
        futures::future::join_all((0..CONCURRENT).map(|_| turn(&client, &agent.base))).await;
    let wall = started.elapsed();
    sampler.abort();
    let failed = results.iter().filter(|ok| !**ok).count();
    let cpu = cpu_secs(agent.pid) - cpu_before;
    println!(
        "{CONCURRENT} concurrent streaming chats:     {failed} failed, all done in {:.2} s; peak RSS {:.1} MB (from {:.1} MB); agent CPU {:.2} s",
        wall.as_secs_f64(),
        peak.load(Ordering::SeqCst) as f64 / 1024.0,
        start_rss as f64 / 1024.0,
        cpu
    );
    if failed > 0 {
        std::process::exit(1);
    }
}
