//! The athena source with the real aws-sdk-athena client against the local Athena stand-in
//! (`tests/athena-standin/athena_standin.py`: DuckDB running the transpiled SQL over CloudTrail
//! files on disk), compared with the log archive source over the very same files.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use cloudtrail_mcp::ToolSettings;
use cloudtrail_mcp::sample::{Delivery, generate, write_delivered};
use cloudtrail_mcp::source::archive::LogArchive;
use cloudtrail_mcp::source::athena::{AthenaSettings, AthenaSource};
use cloudtrail_mcp::source::{EventSource, Query};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use cloudtrail_contract::RefMap;
use cloudtrail_contract::evidence::refs_from_meta;

use crate::helpers::{Client, call, call_ok, call_result, client, spawn_source, text_of};

const OTHER_ACCOUNT: &str = "210987654321";

/// The stand-in, stopped (by its PID) when dropped.
struct StandIn {
    child: Child,
    url: String,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl StandIn {
    fn start(root: &Path, extra: &[&str]) -> Self {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/athena-standin/athena_standin.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg("--root")
            .arg(root)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs (scripts/setup-tools installs duckdb and sqlglot)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("athena-standin listening on ")
            .unwrap_or_else(|| {
                panic!("the Athena stand-in did not start (is duckdb + sqlglot installed? scripts/setup-tools): {line:?}")
            })
            .to_owned();
        Self { child, url }
    }

    async fn stats(&self) -> Value {
        reqwest::get(format!("{}/_stats", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

async fn athena(stand_in: &StandIn, wait: Duration) -> Arc<AthenaSource> {
    let source = AthenaSource::new(
        &crate::helpers::test_sdk(&stand_in.url, "us-east-1").await,
        AthenaSettings {
            workgroup: "cloudtrail-mcp".into(),
            database: "cloudtrail".into(),
            table: "trail".into(),
            catalog: None,
            wait,
            max_days: 365,
        },
    )
    .unwrap();
    Arc::new(source)
}

/// The sample of the last days (some of it in a second account), written as an organization
/// trail delivers it: 12 minutes late, the first file of each day twice.
fn organization_archive(dir: &Path, anchor: Timestamp) -> Vec<Value> {
    let mut records = generate(anchor, 42);
    for (i, record) in records.iter_mut().enumerate() {
        if i % 4 == 0 {
            record["recipientAccountId"] = json!(OTHER_ACCOUNT);
        }
    }
    let delivery = Delivery {
        organization: Some("o-exampleorgid".into()),
        ..Delivery::default()
    };
    write_delivered(dir, &records, &delivery).unwrap();
    records
}

/// The answer without what only a query engine reports.
fn comparable(mut answer: Value) -> Value {
    if let Some(o) = answer.as_object_mut() {
        o.remove("usage");
        o.remove("next_cursor");
    }
    answer
}

/// A successful answer and its `_meta` reference map.
async fn answer(client: &Client, tool: &str, arguments: Value) -> (Value, RefMap) {
    let result = call_result(client, tool, arguments).await;
    let text = text_of(&result);
    assert_ne!(result.is_error, Some(true), "{tool}: {text}");
    let refs = result
        .meta
        .as_ref()
        .map(|m| refs_from_meta(m))
        .unwrap_or_default();
    (serde_json::from_str(&text).unwrap(), refs)
}

/// Every page of a lookup, each compared (events, count, whether a next page exists) between
/// the two sources; returns the events.
async fn same_pages(archive: &Client, athena: &Client, first: Value) -> Vec<Value> {
    let mut args = (first.clone(), first);
    let mut events = Vec::new();
    for _ in 0..50 {
        let (a, a_refs) = answer(archive, "lookup_events", args.0.clone()).await;
        let (b, b_refs) = answer(athena, "lookup_events", args.1.clone()).await;
        // Every event of the page has its ref in `_meta`, the same on both sources.
        let only = |x: &RefMap, y: &RefMap| -> Vec<(String, String)> {
            x.iter()
                .filter(|(k, v)| y.get(*k) != Some(*v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        assert!(
            a_refs == b_refs,
            "archive only {:?}, athena only {:?}: {args:?}",
            only(&a_refs, &b_refs),
            only(&b_refs, &a_refs)
        );
        for e in a["events"].as_array().into_iter().flatten() {
            let id = e["event_id"].as_str().unwrap();
            assert_eq!(
                e["ref"].as_str(),
                Some(cloudtrail_contract::event_ref(id).as_str())
            );
            assert_eq!(
                b_refs.get(e["ref"].as_str().unwrap()).map(String::as_str),
                Some(id)
            );
        }
        let usage = &b["usage"];
        assert_eq!(usage["queries"], json!(1), "{b}");
        assert!(usage["data_scanned_bytes"].as_u64().unwrap() > 0, "{b}");
        assert!(usage["estimated_cost_usd"].is_string(), "{b}");
        assert!(a.get("usage").is_none());
        assert_eq!(
            a["next_cursor"].is_string(),
            b["next_cursor"].is_string(),
            "cursor behaviour differs for {args:?}"
        );
        assert_eq!(comparable(a.clone()), comparable(b.clone()), "{args:?}");
        events.extend(a["events"].as_array().cloned().unwrap_or_default());
        match (a["next_cursor"].as_str(), b["next_cursor"].as_str()) {
            (Some(x), Some(y)) => {
                args = (
                    json!({"cursor": x, "detail": true}),
                    json!({"cursor": y, "detail": true}),
                )
            }
            _ => return events,
        }
    }
    panic!("more than 50 pages")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_and_athena_give_the_same_events_summaries_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let anchor = crate::helpers::hour_anchor();
    let records = organization_archive(dir.path(), anchor);

    // The files hold an event delivered in the next day's folder, and a file delivered twice.
    let mut late = 0;
    let mut copies = std::collections::HashMap::new();
    for entry in walk(dir.path()) {
        let rel = entry
            .strip_prefix(dir.path())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let folder_day = rel.split('/').skip(5).take(3).collect::<Vec<_>>().join("-");
        let text = read_gz(&entry);
        *copies.entry(text.clone()).or_insert(0) += 1;
        let log: Value = serde_json::from_str(&text).unwrap();
        late += log["Records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| !r["eventTime"].as_str().unwrap().starts_with(&folder_day))
            .count();
    }
    assert!(late > 0, "no event sits in the next day's folder");
    assert!(
        copies.values().any(|&n| n > 1),
        "no file is delivered twice"
    );

    let stand_in = StandIn::start(dir.path(), &[]);
    let archive_source = LogArchive::from_dir(dir.path()).unwrap();
    assert_eq!(
        archive_source.len(),
        records.len(),
        "the archive drops duplicate deliveries"
    );
    // Room for whole pages: Athena's answers carry `usage` too, so under one byte budget the two
    // sources may cut a page one event apart (the cut is the budget's, not the source's).
    let settings = ToolSettings {
        max_response_bytes: 1_000_000,
        ..ToolSettings::default()
    };
    let archive_app = spawn_source(Arc::new(archive_source), settings.clone()).await;
    let athena_app = spawn_source(athena(&stand_in, Duration::from_secs(60)).await, settings).await;
    let (archive, athena) = (client(&archive_app).await, client(&athena_app).await);

    // A window across midnights (the late events), paged in uneven pages.
    let start = (anchor - SignedDuration::from_hours(50)).to_string();
    let end = (anchor - SignedDuration::from_hours(2)).to_string();
    let window = |extra: Value| {
        let mut args =
            json!({"start_time": start, "end_time": end, "detail": true, "max_results": 200});
        args.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        args
    };
    let all = same_pages(&archive, &athena, window(json!({}))).await;
    assert!(all.len() > 200, "{}", all.len());
    let ids: std::collections::HashSet<&str> = all
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), all.len(), "an event came twice");
    let near_midnight = all
        .iter()
        .filter(|e| e["event_time"].as_str().unwrap()[11..13] == *"23")
        .count();
    assert!(near_midnight > 0);

    // A resource of the window, found by name; bob's old bucket, outside it, by no one.
    let resource = all
        .iter()
        .find_map(|e| e["resources"][0]["name"].as_str())
        .unwrap()
        .to_owned();
    let mut found = 0;
    for filter in [
        json!({"attribute_key": "ResourceName", "attribute_value": resource, "max_results": 9}),
        json!({"attribute_key": "Username", "attribute_value": "alice", "max_results": 7}),
        json!({"attribute_key": "Username", "attribute_value": "carol@example.com"}),
        json!({"attribute_key": "EventName", "attribute_value": "DeleteBucket"}),
        json!({"attribute_key": "EventSource", "attribute_value": "iam.amazonaws.com"}),
        json!({"attribute_key": "ReadOnly", "attribute_value": "false", "max_results": 150}),
        json!({"attribute_key": "ResourceName", "attribute_value": "bob-old-logs"}),
        json!({"attribute_key": "ResourceType", "attribute_value": "AWS::EC2::Instance"}),
        json!({"attribute_key": "AccessKeyId", "attribute_value": "AKIA3SAMPLEBOB000001"}),
        json!({"accounts": [OTHER_ACCOUNT], "max_results": 120}),
        json!({"regions": ["eu-west-1"], "accounts": ["123456789012"]}),
    ] {
        let events = same_pages(&archive, &athena, window(filter.clone())).await;
        if filter["attribute_value"] == json!(resource) {
            assert!(!events.is_empty(), "{filter}");
        }
        found += events.len();
    }
    assert!(found > 200, "{found}");

    // Summaries: one query each on Athena, the same counts and lists.
    for filter in [
        json!({}),
        json!({"attribute_key": "Username", "attribute_value": "bob"}),
        json!({"attribute_key": "ReadOnly", "attribute_value": "false", "regions": ["us-east-1"]}),
    ] {
        let mut args = json!({"start_time": start, "end_time": end});
        args.as_object_mut()
            .unwrap()
            .extend(filter.as_object().unwrap().clone());
        let (mut a, a_refs) = answer(&archive, "summarize_activity", args.clone()).await;
        let (mut b, b_refs) = answer(&athena, "summarize_activity", args.clone()).await;
        assert_eq!(b["usage"]["queries"], json!(1), "{b}");
        assert!(a["scanned"].as_u64().unwrap() > 0, "{a}");
        // One query that reads the trail once: the bytes of its partitions, as a lookup over
        // the same window and filter scans them (the stand-in bills every read of the table
        // once its `WITH` queries are inlined, as Athena does).
        let mut lookup = args.clone();
        lookup["max_results"] = json!(1);
        let (page, _) = answer(&athena, "lookup_events", lookup).await;
        let scanned = page["usage"]["data_scanned_bytes"].as_u64().unwrap();
        assert!(scanned > 0, "{page}");
        assert_eq!(
            b["usage"]["data_scanned_bytes"].as_u64(),
            Some(scanned),
            "a summary must read its partitions once: {args}"
        );
        // The timeline is compared with everything else below; it counts every event.
        let in_buckets: u64 = b["timeline"]["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["read"].as_u64().unwrap() + k["write"].as_u64().unwrap())
            .sum();
        assert_eq!(in_buckets, b["scanned"].as_u64().unwrap(), "{b}");
        assert!(b["timeline"]["buckets"].as_array().unwrap().len() > 1);
        // Highlights are the archive's alone; Athena says it did not compute them.
        assert_eq!(b["highlights"], json!([]), "{b}");
        assert!(
            b["note"]
                .as_str()
                .unwrap()
                .contains("highlights are not computed on the Athena source"),
            "{b}"
        );
        // Every listed line's ref is in `_meta` with the id the archive gives it, and
        // `_meta` names nothing else.
        let lines: Vec<&str> = ["write_actions", "failures"]
            .iter()
            .flat_map(|list| b[*list].as_array().unwrap())
            .map(|line| line["ref"].as_str().unwrap())
            .collect();
        assert!(!lines.is_empty(), "{b}");
        for r in &lines {
            assert_eq!(b_refs.get(*r), a_refs.get(*r), "{r}");
            assert!(b_refs.contains_key(*r), "{r}");
        }
        assert!(b_refs.keys().all(|r| lines.contains(&r.as_str())));
        for o in [&mut a, &mut b] {
            let o = o.as_object_mut().unwrap();
            o.remove("highlights");
            o.remove("note");
        }
        assert_eq!(comparable(a), comparable(b), "{args}");
    }

    // get_event finds the same event (rebuilt from the table's columns).
    let one = all[17]["event_id"].as_str().unwrap();
    let a = call_ok(
        &archive,
        "get_event",
        json!({"event_id": one, "start_time": start}),
    )
    .await;
    let b = call_ok(
        &athena,
        "get_event",
        json!({"event_id": one, "start_time": start}),
    )
    .await;
    for field in [
        "eventID",
        "eventTime",
        "eventName",
        "userIdentity",
        "requestParameters",
    ] {
        let (x, y) = (&a["event"][field], &b["event"][field]);
        if field == "userIdentity" {
            assert_eq!(x["arn"], y["arn"]);
        } else {
            assert_eq!(x, y, "{field}");
        }
    }
    assert_eq!(b["usage"]["queries"], json!(1));

    // The compact table: the `ref` column and `_meta` map, the same on both sources.
    let table = json!({"start_time": start, "end_time": end, "max_results": 40});
    let (a, a_refs) = answer(&archive, "lookup_events", table.clone()).await;
    let (b, b_refs) = answer(&athena, "lookup_events", table).await;
    assert_eq!(comparable(a), comparable(b));
    assert_eq!(a_refs.len(), 40);
    assert_eq!(a_refs, b_refs);

    // get_event by ref: the archive resolves it; Athena asks for the full id (a tool error).
    let short = cloudtrail_contract::event_ref(one);
    let a = call_ok(
        &archive,
        "get_event",
        json!({"event_id": short, "start_time": start}),
    )
    .await;
    assert_eq!(a["event"]["eventID"], json!(one));
    let (is_error, text) = call(&athena, "get_event", json!({"event_id": short})).await;
    assert!(is_error, "{text}");
    assert!(text.contains("pass the full event id"), "{text}");

    // Every query the stand-in ran carried its partition predicates as parameters.
    let stats = stand_in.stats().await;
    for q in stats["queries"].as_array().unwrap() {
        assert_eq!(q["state"], "SUCCEEDED", "{q}");
        assert!(
            q["sql"]
                .as_str()
                .unwrap()
                .contains("\"timestamp\" BETWEEN ? AND ?")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_query_answers_still_running_and_its_cursor_collects_it_without_a_second_query() {
    let dir = tempfile::tempdir().unwrap();
    let anchor = crate::helpers::hour_anchor();
    organization_archive(dir.path(), anchor);
    let stand_in = StandIn::start(dir.path(), &["--delay-ms", "2500"]);
    let app = spawn_source(
        athena(&stand_in, Duration::from_millis(300)).await,
        ToolSettings::default(),
    )
    .await;
    let mcp = client(&app).await;
    let window = json!({"start_time": (anchor - SignedDuration::from_hours(30)).to_string(),
                        "end_time": anchor.to_string(), "max_results": 3});
    let first = call_ok(&mcp, "lookup_events", window.clone()).await;
    assert_eq!(first["usage"]["still_running"], json!(true), "{first}");
    assert_eq!(first["returned"], json!(0));
    assert!(first["note"].as_str().unwrap().contains("still running"));
    let mut cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let page = loop {
        let page = call_ok(
            &mcp,
            "lookup_events",
            json!({"cursor": cursor, "max_results": 3}),
        )
        .await;
        if page["usage"]["still_running"] != json!(true) {
            break page;
        }
        cursor = page["next_cursor"].as_str().unwrap().to_owned();
    };
    assert_eq!(page["returned"], json!(3), "{page}");
    assert!(page["next_cursor"].is_string());

    let summary = call_ok(
        &mcp,
        "summarize_activity",
        window
            .as_object()
            .map(|o| {
                let mut o = o.clone();
                o.remove("max_results");
                Value::Object(o)
            })
            .unwrap(),
    )
    .await;
    assert_eq!(summary["usage"]["still_running"], json!(true), "{summary}");
    let mut cursor = summary["next_cursor"].as_str().unwrap().to_owned();
    let summary = loop {
        let s = call_ok(&mcp, "summarize_activity", json!({"cursor": cursor})).await;
        if s["usage"]["still_running"] != json!(true) {
            break s;
        }
        cursor = s["next_cursor"].as_str().unwrap().to_owned();
    };
    assert!(summary["scanned"].as_u64().unwrap() > 0, "{summary}");
    assert_eq!(summary["hit_cap"], json!(false));
    // Two tool answers each, one query each.
    assert_eq!(stand_in.stats().await["started"], json!(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_call_stops_its_query_and_the_cutoff_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let anchor = crate::helpers::hour_anchor();
    organization_archive(dir.path(), anchor);
    let query = Query {
        start: anchor - SignedDuration::from_hours(30),
        end: anchor,
        filter: None,
        max_results: 10,
        next_token: None,
        scope: Default::default(),
    };

    let slow = StandIn::start(dir.path(), &["--delay-ms", "20000"]);
    let source = athena(&slow, Duration::from_secs(30)).await;
    let cancelled = tokio::time::timeout(Duration::from_millis(800), source.lookup(&query)).await;
    assert!(cancelled.is_err(), "the query should still be running");
    let mut stopped = Value::Null;
    for _ in 0..50 {
        stopped = slow.stats().await["stopped"].clone();
        if stopped.as_array().is_some_and(|s| !s.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stopped.as_array().map(Vec::len), Some(1), "{stopped}");

    let capped = StandIn::start(dir.path(), &["--cutoff-bytes", "1000"]);
    let app = spawn_source(
        athena(&capped, Duration::from_secs(30)).await,
        ToolSettings::default(),
    )
    .await;
    let mcp = client(&app).await;
    let (is_error, text) = call(
        &mcp,
        "lookup_events",
        json!({"start_time": query.start.to_string(), "end_time": query.end.to_string()}),
    )
    .await;
    assert!(is_error, "{text}");
    assert!(
        text.contains("bytes-scanned cutoff (1000 bytes in workgroup `cloudtrail-mcp`"),
        "{text}"
    );

    // The stand-in itself refuses a query without a predicate on the date partition.
    let raw =
        aws_sdk_athena::Client::new(&crate::helpers::test_sdk(&capped.url, "us-east-1").await);
    let id = raw
        .start_query_execution()
        .query_string("SELECT count(*) FROM \"cloudtrail\".\"trail\" WHERE account = ?")
        .execution_parameters("'123456789012'")
        .send()
        .await
        .unwrap()
        .query_execution_id()
        .unwrap()
        .to_owned();
    let mut reason = String::new();
    for _ in 0..50 {
        let out = raw
            .get_query_execution()
            .query_execution_id(&id)
            .send()
            .await
            .unwrap();
        let status = out.query_execution().unwrap().status().unwrap();
        if let Some(r) = status.state_change_reason() {
            reason = r.to_owned();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        reason.contains("no predicate on the partition column `timestamp`"),
        "{reason}"
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn read_gz(path: &Path) -> String {
    use std::io::Read;
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    text
}
