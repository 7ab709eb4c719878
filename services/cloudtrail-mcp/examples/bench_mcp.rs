//! Benchmark of the cloudtrail-mcp server binary on loopback; run by `scripts/bench-mcp`.
//!
//! Prints: time from process start to the first successful `initialize` answer, RSS after start
//! and after 1,000 tool calls, tools/list and lookup_events throughput and p50/p99 latency with
//! 16 concurrent connections, and the bytes returned for 50 events (compact vs raw).
//!
//! Usage: `bench_mcp <path to cloudtrail-mcp> [seconds per load phase]`.

// A benchmark program: any failure should stop it loudly.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const CONCURRENCY: usize = 16;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn body(method: &str, params: Value) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string()
}

async fn post(client: &reqwest::Client, url: &str, body: String) -> Result<String, String> {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    response.text().await.map_err(|e| e.to_string())
}

fn tool_text(answer: &str) -> Value {
    let v: Value = serde_json::from_str(answer).expect("JSON-RPC answer");
    let text = v["result"]["content"][0]["text"]
        .as_str()
        .expect("tool text");
    serde_json::from_str(text).expect("tool JSON")
}

/// Runs `make_body` requests from 16 tasks for `seconds`; returns (requests/s, p50 ms, p99 ms, errors).
async fn load(
    url: &str,
    seconds: u64,
    make_body: Arc<dyn Fn(usize) -> String + Send + Sync>,
) -> (f64, f64, f64, usize) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap();
    let stop = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..CONCURRENCY {
        let (client, url, make_body) = (client.clone(), url.to_owned(), make_body.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            let mut i = worker;
            // Bounded in time and in count.
            while Instant::now() < stop && latencies.len() < 2_000_000 {
                let t = Instant::now();
                match post(&client, &url, make_body(i)).await {
                    Ok(_) => latencies.push(t.elapsed()),
                    Err(_) => errors += 1,
                }
                i += CONCURRENCY;
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await.unwrap();
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    (all.len() as f64 / elapsed, pct(0.50), pct(0.99), errors)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let binary = args
        .next()
        .expect("usage: bench_mcp <cloudtrail-mcp binary> [seconds]");
    let seconds: u64 = args.next().map_or(5, |s| s.parse().expect("seconds"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let client = reqwest::Client::new();
    let init = body(
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}),
    );

    let started = Instant::now();
    let mut child = Command::new(&binary)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .spawn()
        .expect("start cloudtrail-mcp");
    let ready = loop {
        if post(&client, &url, init.clone()).await.is_ok() {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "server did not become ready"
        );
        tokio::time::sleep(Duration::from_micros(200)).await;
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_start = rss_kib(child.id());

    // 1,000 tool calls, then RSS.
    let lookup = |i: usize| {
        let users = ["alice", "bob", "carol@example.com", "github-actions-deploy"];
        body(
            "tools/call",
            json!({"name": "lookup_events", "arguments": {"start_time": "7d ago", "attribute_key": "Username", "attribute_value": users[i % 4], "max_results": 20}}),
        )
    };
    for i in 0..1_000 {
        post(&client, &url, lookup(i)).await.expect("tool call");
    }
    let rss_1000 = rss_kib(child.id());

    let (list_rps, list_p50, list_p99, list_err) =
        load(&url, seconds, Arc::new(|_| body("tools/list", json!({})))).await;
    let (lookup_rps, lookup_p50, lookup_p99, lookup_err) =
        load(&url, seconds, Arc::new(lookup)).await;
    let rss_after_load = rss_kib(child.id());

    // Bytes for the same 50 events: the compact (default) answer vs the raw CloudTrail records,
    // fetched one by one with the ids from the same page in `detail` form.
    let lookup_50 = |detail: bool| {
        body(
            "tools/call",
            json!({"name": "lookup_events", "arguments": {"start_time": "7d ago", "max_results": 50, "detail": detail}}),
        )
    };
    let page = tool_text(&post(&client, &url, lookup_50(false)).await.unwrap());
    let rows = page["events"].as_array().unwrap();
    assert_eq!(rows.len(), 50);
    let compact_bytes = serde_json::to_string(&page).unwrap().len();
    let detailed = tool_text(&post(&client, &url, lookup_50(true)).await.unwrap());
    let mut raw_bytes = 0;
    for event in detailed["events"].as_array().unwrap() {
        let id = event["event_id"].as_str().unwrap();
        let full = tool_text(
            &post(
                &client,
                &url,
                body(
                    "tools/call",
                    json!({"name": "get_event", "arguments": {"event_id": id}}),
                ),
            )
            .await
            .unwrap(),
        );
        raw_bytes += serde_json::to_string(&full["event"]).unwrap().len();
    }
    let _ = child.kill();
    let _ = child.wait();

    println!(
        "cloudtrail-mcp benchmark ({} cores, {CONCURRENCY} concurrent connections, {seconds} s per load phase)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "ready (process start -> first initialize answer): {:.1} ms",
        ready.as_secs_f64() * 1000.0
    );
    println!(
        "RSS after start:            {:.1} MB",
        rss_start as f64 / 1024.0
    );
    println!(
        "RSS after 1,000 tool calls: {:.1} MB",
        rss_1000 as f64 / 1024.0
    );
    println!(
        "RSS after load phases:      {:.1} MB",
        rss_after_load as f64 / 1024.0
    );
    println!(
        "tools/list:    {list_rps:>8.0} req/s  p50 {list_p50:.2} ms  p99 {list_p99:.2} ms  errors {list_err}"
    );
    println!(
        "lookup_events: {lookup_rps:>8.0} req/s  p50 {lookup_p50:.2} ms  p99 {lookup_p99:.2} ms  errors {lookup_err}"
    );
    println!(
        "50 events: compact answer {compact_bytes} bytes, raw records {raw_bytes} bytes ({:.1}% of raw)",
        compact_bytes as f64 * 100.0 / raw_bytes.max(1) as f64
    );
    assert_eq!(rows.len(), 50, "the sample should hold 50 events in 7 days");
}
