//! Benchmark of the athena source on a generated organization archive; run by
//! `scripts/bench-athena`.
//!
//! Writes the sample generator's events scaled up (several accounts, the sample's 3 regions,
//! 96 days, late and duplicate deliveries) as an organization trail on disk, serves it with the
//! local Athena stand-in (DuckDB), and runs tool calls through the real server and
//! aws-sdk-athena client. Per call it prints the queries run, the data scanned, the time on our
//! side (the call's wall time minus the engine's execution time: compiling, starting, polling,
//! paging the results and projecting), the engine's time, and the answer's bytes. The compile
//! time of the SQL alone is measured apart.
//!
//! Usage: `bench_athena <events> <dir> <stand-in script>`.

// A benchmark program: any failure should stop it loudly.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region};
use cloudtrail_mcp::cursor::CursorCodec;
use cloudtrail_mcp::sample::{Delivery, generate, write_delivered};
use cloudtrail_mcp::source::athena::sql::{self, Scan, Table};
use cloudtrail_mcp::source::athena::{AthenaSettings, AthenaSource};
use cloudtrail_mcp::source::{AttributeKey, Filter, Scope};
use cloudtrail_mcp::{CloudTrailServer, ToolSettings};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

const ACCOUNTS: usize = 5;
/// The sample covers 8 days; 12 periods make 96.
const PERIODS: usize = 12;

fn account(i: usize) -> String {
    format!("{}", 100_000_000_000u64 + 111_111_111 * i as u64)
}

/// Writes about `target` events (whole sample runs, several per account and period, written
/// together so files stay few); returns (events, files, bytes on disk).
fn write_org(dir: &Path, anchor: Timestamp, target: usize) -> (usize, usize, u64) {
    let per_run = generate(anchor, 1).len();
    let runs = target.div_ceil(per_run * PERIODS * ACCOUNTS).max(1);
    let (mut events, mut files, mut bytes) = (0, 0, 0);
    let mut seed = 1;
    for period in 0..PERIODS {
        for a in 0..ACCOUNTS {
            let at = anchor - SignedDuration::from_hours(24 * 8 * period as i64);
            let mut records = Vec::with_capacity(per_run * runs);
            for _ in 0..runs {
                records.extend(generate(at, seed));
                seed += 1;
            }
            for r in &mut records {
                r["recipientAccountId"] = json!(account(a));
            }
            let delivery = Delivery {
                organization: Some("o-exampleorgid".into()),
                tag: format!("p{period}"),
                ..Delivery::default()
            };
            for f in write_delivered(dir, &records, &delivery).unwrap() {
                files += 1;
                bytes += std::fs::metadata(f).unwrap().len();
            }
            events += records.len();
        }
    }
    (events, files, bytes)
}

async fn stats(url: &str) -> Value {
    reqwest::get(format!("{url}/_stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let target: usize = args.get(1).map_or(1_000_000, |a| a.parse().unwrap());
    let dir = Path::new(
        args.get(2)
            .expect("usage: bench_athena <events> <dir> <stand-in>"),
    );
    let script = args.get(3).expect("the stand-in script");
    let now = Timestamp::now().as_second();
    let anchor = Timestamp::from_second(now - now % 86_400).unwrap();

    let started = Instant::now();
    let (events, files, bytes) = write_org(dir, anchor, target);
    println!(
        "archive: {events} events ({ACCOUNTS} accounts, 3 regions, {} days), {files} files, {:.1} MB gzip, written in {:.1} s",
        PERIODS * 8,
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );

    // The SQL compiler alone.
    let table = Table::new("cloudtrail", "trail").unwrap();
    let filter = Filter {
        attribute_key: AttributeKey::Username,
        attribute_value: "alice".into(),
    };
    let t = Instant::now();
    for _ in 0..1_000 {
        let scan = Scan::new(
            &table,
            anchor - SignedDuration::from_hours(24 * 90),
            anchor,
            Some(&filter),
            &Scope::default(),
        );
        let bucket = cloudtrail_mcp::timeline::window_bucket_seconds(
            anchor - SignedDuration::from_hours(24 * 90),
            anchor,
        );
        std::hint::black_box(sql::summary(&scan, bucket, 15, 100, 50));
        std::hint::black_box(sql::lookup(&scan, None, 51));
    }
    println!(
        "compile (lookup + summary SQL): {:.1} µs per pair",
        t.elapsed().as_secs_f64() * 1e6 / 1_000.0
    );

    let mut child = Command::new("python3")
        .arg(script)
        .arg("--root")
        .arg(dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("athena-standin listening on ")
        .unwrap()
        .to_owned();
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(&url)
        .credentials_provider(aws_credential_types::Credentials::new(
            "AKIDTEST", "secret", None, None, "bench",
        ))
        .load()
        .await;
    let source = AthenaSource::new(
        &sdk,
        AthenaSettings {
            workgroup: "bench".into(),
            database: "cloudtrail".into(),
            table: "trail".into(),
            catalog: None,
            wait: Duration::from_secs(600),
            max_days: 365,
        },
    )
    .unwrap();
    let server = CloudTrailServer::new(
        Arc::new(source),
        CursorCodec::new("bench"),
        ToolSettings::default(),
    );
    let start_90 = (anchor - SignedDuration::from_hours(24 * 90)).to_string();
    let start_1 = (anchor - SignedDuration::from_hours(24)).to_string();
    let end = anchor.to_string();
    let calls: Vec<(&str, &str, Value)> = vec![
        (
            "summary, 90 days, one principal",
            "summarize_activity",
            json!({"start_time": start_90, "end_time": end, "attribute_key": "Username", "attribute_value": "alice"}),
        ),
        (
            "summary, 90 days, one principal, 1 account + 1 region",
            "summarize_activity",
            json!({"start_time": start_90, "end_time": end, "attribute_key": "Username", "attribute_value": "alice",
                   "accounts": [account(0)], "regions": ["us-east-1"]}),
        ),
        (
            "lookup 50, 90 days, EventName DeleteBucket",
            "lookup_events",
            json!({"start_time": start_90, "end_time": end, "attribute_key": "EventName", "attribute_value": "DeleteBucket"}),
        ),
        (
            "lookup 50, last day, all accounts",
            "lookup_events",
            json!({"start_time": start_1, "end_time": end}),
        ),
        (
            "lookup 50, last day, 1 account + 1 region",
            "lookup_events",
            json!({"start_time": start_1, "end_time": end, "accounts": [account(1)], "regions": ["eu-west-1"]}),
        ),
    ];
    println!(
        "{:<55} {:>7} {:>14} {:>10} {:>10} {:>9}",
        "tool call", "queries", "scanned bytes", "ours ms", "engine ms", "answer B"
    );
    for (label, tool, arguments) in calls {
        let before = stats(&url).await["queries"].as_array().unwrap().len();
        let t = Instant::now();
        let result = server
            .call(tool, Some(arguments.as_object().unwrap().clone()))
            .await
            .unwrap();
        let wall = t.elapsed();
        let text = result.content[0].as_text().unwrap().text.clone();
        assert_ne!(result.is_error, Some(true), "{label}: {text}");
        let answer: Value = serde_json::from_str(&text).unwrap();
        let s = stats(&url).await;
        let engine_ms: u64 = s["queries"].as_array().unwrap()[before..]
            .iter()
            .map(|q| q["engine_ms"].as_u64().unwrap())
            .sum();
        println!(
            "{:<55} {:>7} {:>14} {:>10} {:>10} {:>9}",
            label,
            answer["usage"]["queries"],
            answer["usage"]["data_scanned_bytes"],
            wall.as_millis() as u64 - engine_ms.min(wall.as_millis() as u64),
            engine_ms,
            text.len()
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}
