//! The S3 archive with the real aws-sdk-s3 client against a local S3 (moto's server mode,
//! installed by `scripts/setup-tools`), compared with the directory archive over the very same
//! files: the same tool calls give the same answers. An SDK interceptor records every
//! ListObjectsV2 request, so the tests see which prefixes a query lists.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_runtime_api::box_error::BoxError;
use cloudtrail_mcp::ToolSettings;
use cloudtrail_mcp::sample::{Delivery, generate, write_delivered};
use cloudtrail_mcp::source::archive::LogArchive;
use cloudtrail_mcp::source::s3::{S3Archive, S3ArchiveSettings};
use cloudtrail_mcp::source::{AttributeKey, EventSource, Filter, Query, Scope, SourceError};
use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::{Client, call, call_ok, client, spawn_source};

const OTHER_ACCOUNT: &str = "210987654321";
const ORG: &str = "o-exampleorgid";

/// A running moto server, killed (by its PID) when dropped.
struct Moto {
    endpoint: String,
    _child: Child,
}

impl Moto {
    async fn start() -> Moto {
        let program = std::env::var("MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        let mut child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{program} runs (scripts/setup-tools installs moto[server]): {e}")
            });
        // Werkzeug prints "Running on http://127.0.0.1:PORT" on stderr.
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let endpoint = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(at) = line.find("http://127.0.0.1:") {
                    return Some(line[at..].trim().to_owned());
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("{program} did not say where it listens"));
        // Keep draining its request log so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Moto {
            endpoint,
            _child: child,
        }
    }
}

/// The `prefix` of every ListObjectsV2 request a client sent, in order.
#[derive(Debug, Clone, Default)]
struct Listings(Arc<Mutex<Vec<String>>>);

impl Listings {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Intercept for Listings {
    fn name(&self) -> &'static str {
        "Listings"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let url = reqwest::Url::parse(context.request().uri())?;
        let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        if query.iter().any(|(k, v)| k == "list-type" && v == "2") {
            let prefix = query
                .iter()
                .find(|(k, _)| k == "prefix")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            assert!(
                query.iter().any(|(k, v)| k == "delimiter" && v == "/"),
                "a listing without a delimiter: {url}"
            );
            self.0.lock().unwrap().push(prefix);
        }
        Ok(())
    }
}

fn s3_client(moto: &Moto, listings: Option<&Listings>) -> aws_sdk_s3::Client {
    let mut config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(&moto.endpoint)
        .force_path_style(true)
        .credentials_provider(Credentials::new("AKIDLOCAL", "secret", None, None, "test"));
    if let Some(listings) = listings {
        config = config.interceptor(listings.clone());
    }
    aws_sdk_s3::Client::from_conf(config.build())
}

fn s3_archive(
    moto: &Moto,
    url: &str,
    listings: Option<&Listings>,
    settings: S3ArchiveSettings,
) -> Arc<S3Archive> {
    Arc::new(S3Archive::new(
        s3_client(moto, listings),
        url.parse().unwrap(),
        settings,
    ))
}

fn walk(dir: &Path) -> Vec<PathBuf> {
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

/// Uploads every file below `dir` into `bucket` under `prefix`, keeping its relative path.
async fn upload(moto: &Moto, bucket: &str, prefix: &str, dir: &Path) -> usize {
    let s3 = s3_client(moto, None);
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    let files = walk(dir);
    let puts = files.iter().map(|file| {
        let key = format!(
            "{prefix}{}",
            file.strip_prefix(dir).unwrap().to_string_lossy()
        );
        let s3 = s3.clone();
        async move {
            let body = ByteStream::from(std::fs::read(file).unwrap());
            s3.put_object()
                .bucket(bucket)
                .key(&key)
                .body(body)
                .send()
                .await
                .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
        }
    });
    futures::stream::iter(puts)
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    files.len()
}

/// The sample (a quarter of it in a second account) as an organization trail delivers it: 12
/// minutes late (events before midnight in the next day's folder), the first file of each day
/// twice.
fn organization_archive(dir: &Path, anchor: Timestamp) -> Vec<Value> {
    let mut records = generate(anchor, 42);
    for (i, record) in records.iter_mut().enumerate() {
        if i % 4 == 0 {
            record["recipientAccountId"] = json!(OTHER_ACCOUNT);
        }
    }
    let delivery = Delivery {
        organization: Some(ORG.into()),
        ..Delivery::default()
    };
    write_delivered(dir, &records, &delivery).unwrap();
    records
}

/// An answer without its cursor (cursors name their source, which differs).
fn comparable(mut answer: Value) -> Value {
    if let Some(o) = answer.as_object_mut() {
        o.remove("next_cursor");
    }
    answer
}

/// Every page of a lookup, each the same from both archives; returns the events.
async fn same_pages(dir: &Client, s3: &Client, first: Value) -> Vec<Value> {
    let mut args = (first.clone(), first);
    let mut events = Vec::new();
    for _ in 0..60 {
        let a = call_ok(dir, "lookup_events", args.0.clone()).await;
        let b = call_ok(s3, "lookup_events", args.1.clone()).await;
        assert_eq!(comparable(a.clone()), comparable(b.clone()), "{args:?}");
        assert_eq!(
            a["next_cursor"].is_string(),
            b["next_cursor"].is_string(),
            "cursor behaviour differs for {args:?}"
        );
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
    panic!("more than 60 pages")
}

fn with(mut args: Value, extra: Value) -> Value {
    args.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    args
}

fn query(start: Timestamp, end: Timestamp, scope: Scope) -> Query {
    Query {
        start,
        end,
        filter: None,
        max_results: 50,
        next_token: None,
        scope,
    }
}

/// The delivery day (`YYYY-MM-DD`) a day-folder prefix names, if it is one.
fn listed_day(prefix: &str) -> Option<String> {
    let parts: Vec<&str> = prefix.trim_end_matches('/').rsplit('/').take(3).collect();
    match parts.as_slice() {
        [d, m, y] if y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()) => {
            Some(format!("{y}-{m}-{d}"))
        }
        _ => None,
    }
}

fn date(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_and_directory_archives_give_the_same_answers() {
    let moto = Moto::start().await;
    let dir = tempfile::tempdir().unwrap();
    let anchor = crate::helpers::hour_anchor();
    let records = organization_archive(dir.path(), anchor);
    // A JSON file that is not a CloudTrail log, in both archives: skipped by both.
    let stray = dir
        .path()
        .join(format!(
            "AWSLogs/{ORG}/{OTHER_ACCOUNT}/CloudTrail/eu-west-1"
        ))
        .join(
            (anchor - SignedDuration::from_hours(24))
                .strftime("%Y/%m/%d")
                .to_string(),
        );
    std::fs::create_dir_all(&stray).unwrap();
    std::fs::write(stray.join("notes.json"), r#"{"note":"not a log"}"#).unwrap();
    let uploaded = upload(&moto, "trail-bucket", "org/trail/", dir.path()).await;
    assert!(uploaded > 100, "{uploaded}");

    let directory = LogArchive::from_dir(dir.path()).unwrap();
    assert_eq!(directory.len(), records.len(), "duplicates dropped");
    let s3 = s3_archive(
        &moto,
        "s3://trail-bucket/org/trail/",
        None,
        S3ArchiveSettings::default(),
    );
    assert_eq!(s3.id(), "archive:s3://trail-bucket/org/trail/");
    let settings = ToolSettings {
        max_response_bytes: 1_000_000,
        ..ToolSettings::default()
    };
    let dir_app = spawn_source(Arc::new(directory), settings.clone()).await;
    let s3_app = spawn_source(s3.clone(), settings).await;
    let (a, b) = (client(&dir_app).await, client(&s3_app).await);

    // A window across midnights (the late events), paged in uneven pages.
    let start = (anchor - SignedDuration::from_hours(50)).to_string();
    let end = (anchor - SignedDuration::from_hours(2)).to_string();
    let window = json!({"start_time": start, "end_time": end, "detail": true, "max_results": 200});
    let all = same_pages(&a, &b, window.clone()).await;
    assert!(all.len() > 200, "{}", all.len());
    let late = all
        .iter()
        .filter(|e| e["event_time"].as_str().unwrap()[11..13] == *"23")
        .count();
    assert!(late > 0, "no event near midnight");
    let ids: BTreeSet<&str> = all
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), all.len(), "an event came twice");

    // A window ending at midnight: its last minutes' events sit in the next day's folder.
    let midnight = anchor
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp();
    let last = midnight - SignedDuration::from_secs(1);
    let events = same_pages(
        &a,
        &b,
        json!({"start_time": (last - SignedDuration::from_hours(30)).to_string(),
               "end_time": last.to_string(), "detail": true, "max_results": 200}),
    )
    .await;
    let delivered_next_day = events
        .iter()
        .filter(|e| {
            let t: Timestamp = e["event_time"].as_str().unwrap().parse().unwrap();
            t >= midnight - SignedDuration::from_mins(12)
        })
        .count();
    assert!(
        delivered_next_day > 0,
        "no event in the window's last minutes"
    );

    let resource = all
        .iter()
        .find_map(|e| e["resources"][0]["name"].as_str())
        .unwrap()
        .to_owned();
    let mut found = 0;
    for filter in [
        json!({"attribute_key": "ResourceName", "attribute_value": resource, "max_results": 9}),
        json!({"attribute_key": "Username", "attribute_value": "alice", "max_results": 7}),
        json!({"attribute_key": "EventName", "attribute_value": "DeleteBucket"}),
        json!({"attribute_key": "ReadOnly", "attribute_value": "false", "max_results": 150}),
        json!({"attribute_key": "AccessKeyId", "attribute_value": "AKIA3SAMPLEBOB000001"}),
        json!({"accounts": [OTHER_ACCOUNT], "max_results": 120}),
        json!({"regions": ["eu-west-1"], "accounts": ["123456789012"]}),
    ] {
        let events = same_pages(&a, &b, with(window.clone(), filter.clone())).await;
        if filter["attribute_value"] == json!(resource) {
            assert!(!events.is_empty(), "{filter}");
        }
        found += events.len();
    }
    assert!(found > 200, "{found}");

    // The whole sample (8 days), in the compact table.
    let whole = json!({"start_time": (anchor - SignedDuration::from_hours(24 * 9)).to_string(),
        "end_time": anchor.to_string(), "max_results": 40});
    let (x, y) = (
        call_ok(&a, "lookup_events", whole.clone()).await,
        call_ok(&b, "lookup_events", whole).await,
    );
    assert_eq!(comparable(x), comparable(y));

    // Summaries (paged and counted by the tool over either source): identical.
    for filter in [
        json!({}),
        json!({"attribute_key": "Username", "attribute_value": "bob"}),
        json!({"attribute_key": "ReadOnly", "attribute_value": "false", "regions": ["us-east-1"]}),
    ] {
        let args = with(json!({"start_time": start, "end_time": end}), filter);
        let x = call_ok(&a, "summarize_activity", args.clone()).await;
        let y = call_ok(&b, "summarize_activity", args.clone()).await;
        assert!(x["scanned"].as_u64().unwrap() > 0, "{x}");
        assert_eq!(x, y, "{args}");
    }

    // get_event, by full id and by the ref an answer gave.
    let one = &all[17];
    for id in [
        one["event_id"].as_str().unwrap(),
        one["ref"].as_str().unwrap(),
    ] {
        let args = json!({"event_id": id, "start_time": start});
        let x = call_ok(&a, "get_event", args.clone()).await;
        let y = call_ok(&b, "get_event", args).await;
        assert_eq!(x["event"]["eventID"], one["event_id"]);
        assert_eq!(x, y, "{id}");
    }

    // A single-account trail as `write-sample` writes it (`AWSLogs/ACCOUNT/...`, no prefix).
    let single = tempfile::tempdir().unwrap();
    cloudtrail_mcp::sample::write_archive(single.path(), &generate(anchor, 7)).unwrap();
    upload(&moto, "single-account", "", single.path()).await;
    let directory = LogArchive::from_dir(single.path()).unwrap();
    let s3 = s3_archive(
        &moto,
        "s3://single-account",
        None,
        S3ArchiveSettings::default(),
    );
    let (c, d) = (
        client(&spawn_source(Arc::new(directory), ToolSettings::default()).await).await,
        client(&spawn_source(s3, ToolSettings::default()).await).await,
    );
    let events = same_pages(&c, &d, with(window.clone(), json!({"max_results": 170}))).await;
    assert!(events.len() > 170, "{}", events.len());
    let args = json!({"start_time": start, "end_time": end, "attribute_key": "Username", "attribute_value": "alice"});
    assert_eq!(
        call_ok(&c, "summarize_activity", args.clone()).await,
        call_ok(&d, "summarize_activity", args).await
    );

    // The binary, configured as a deployment would be: AWS_ENDPOINT_URL_S3 and path style.
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cloudtrail-mcp"))
        .args([
            "--source",
            "archive",
            "--archive-s3",
            "s3://trail-bucket/org/trail",
            "--s3-force-path-style",
            "--region",
            "us-east-1",
            "--listen",
            "127.0.0.1:0",
            // The in-process apps' budget, so no answer is cut differently.
            "--max-response-bytes",
            "1000000",
        ])
        .env("AWS_ENDPOINT_URL_S3", &moto.endpoint)
        .env("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = crate::helpers::listening_url(&mut child).await;
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .parse()
        .unwrap();
    let binary = client(&crate::helpers::TestApp { addr, url }).await;
    let first = with(window, json!({"max_results": 60}));
    let x = call_ok(&a, "lookup_events", first.clone()).await;
    let y = call_ok(&binary, "lookup_events", first).await;
    // The same events and paging. (Not byte for byte: the binary at CARGO_BIN_EXE may come
    // from a build with other serde_json features, which orders the keys of the JSON strings
    // derived from records differently.)
    let ids = |v: &Value| -> Vec<String> {
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&x).len(), 60);
    assert_eq!(ids(&x), ids(&y));
    assert_eq!(x["next_cursor"].is_string(), y["next_cursor"].is_string());
    drop(binary);
    let _ = child.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_lists_only_its_days_in_its_scope() {
    let moto = Moto::start().await;
    let dir = tempfile::tempdir().unwrap();
    let anchor = crate::helpers::hour_anchor();
    organization_archive(dir.path(), anchor);
    upload(&moto, "trail", "", dir.path()).await;
    let (start, end) = (
        anchor - SignedDuration::from_hours(24 * 6),
        anchor - SignedDuration::from_hours(30),
    );
    // The window's days and the day after it (late deliveries), nothing else.
    let days: Vec<String> = (0..=7)
        .map(|n| date(start + SignedDuration::from_hours(24 * n)))
        .filter(|d| *d <= date(end + SignedDuration::from_hours(24)))
        .collect();
    assert!(days.len() >= 6, "{days:?}");
    let nobody = |scope: Scope| Query {
        filter: Some(Filter {
            attribute_key: AttributeKey::Username,
            attribute_value: "nobody".into(),
        }),
        ..query(start, end, scope)
    };

    let listings = Listings::default();
    let settings = S3ArchiveSettings {
        refresh: Duration::from_secs(3_600),
        ..S3ArchiveSettings::default()
    };
    let s3 = s3_archive(&moto, "s3://trail/", Some(&listings), settings.clone());
    // A first page reads the newest days only, enough to fill it.
    let page = s3
        .lookup(&query(start, end, Scope::default()))
        .await
        .unwrap();
    assert_eq!(page.events.len(), 50);
    let first = listings.take();
    let newest: Vec<String> = first
        .iter()
        .filter_map(|p| listed_day(p))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(newest.len() < days.len(), "{newest:?} of {days:?}");
    assert!(days.ends_with(&newest), "{newest:?} of {days:?}");

    // A lookup that matches nothing reads every day of the window, and nothing else.
    assert!(
        s3.lookup(&nobody(Scope::default()))
            .await
            .unwrap()
            .events
            .is_empty()
    );
    let all: Vec<String> = first.into_iter().chain(listings.take()).collect();
    let listed: BTreeSet<String> = all.iter().filter_map(|p| listed_day(p)).collect();
    assert_eq!(listed.iter().cloned().collect::<Vec<_>>(), days, "{all:?}");
    // Discovery: AWSLogs/, the organization's folder, each account's trail folder; then one
    // listing per account, region and day (each day once: read days are kept).
    let discovery = [
        "AWSLogs/".to_owned(),
        format!("AWSLogs/{ORG}/"),
        format!("AWSLogs/{ORG}/123456789012/CloudTrail/"),
        format!("AWSLogs/{ORG}/{OTHER_ACCOUNT}/CloudTrail/"),
    ];
    let (day_listings, other): (Vec<&String>, Vec<&String>) =
        all.iter().partition(|p| listed_day(p).is_some());
    assert_eq!(other.len(), discovery.len(), "{other:?}");
    let other: BTreeSet<&str> = other.iter().map(|s| s.as_str()).collect();
    assert_eq!(other, discovery.iter().map(String::as_str).collect());
    assert_eq!(day_listings.len(), 2 * 3 * days.len(), "{day_listings:?}");
    assert!(
        day_listings
            .iter()
            .all(|p| p.starts_with(&format!("AWSLogs/{ORG}/"))),
        "{day_listings:?}"
    );

    // The next page and a narrower window of the same days list nothing again: settled days
    // and the layout are cached.
    let mut next = query(start, end, Scope::default());
    next.next_token = page.next_token.clone();
    assert!(!s3.lookup(&next).await.unwrap().events.is_empty());
    s3.lookup(&query(
        start + SignedDuration::from_hours(20),
        end,
        Scope::default(),
    ))
    .await
    .unwrap();
    assert_eq!(listings.take(), Vec::<String>::new());

    // A narrowed scope lists one account's one region, and discovers nothing it names.
    let narrow = Listings::default();
    let s3 = s3_archive(&moto, "s3://trail/", Some(&narrow), settings.clone());
    let scope = Scope {
        accounts: vec![OTHER_ACCOUNT.into()],
        regions: vec!["eu-west-1".into()],
    };
    assert!(
        s3.lookup(&nobody(scope.clone()))
            .await
            .unwrap()
            .events
            .is_empty()
    );
    assert!(
        !s3.lookup(&query(start, end, scope))
            .await
            .unwrap()
            .events
            .is_empty()
    );
    let few = narrow.take();
    assert_eq!(few.len(), 1 + days.len(), "{few:?}");
    assert!(few.len() < all.len());
    assert!(
        few.iter()
            .filter(|p| listed_day(p).is_some())
            .all(|p| p.starts_with(&format!(
                "AWSLogs/{ORG}/{OTHER_ACCOUNT}/CloudTrail/eu-west-1/"
            ))),
        "{few:?}"
    );

    // Today's folder is live: with no refresh interval it is listed again on every query (and
    // a file delivered since is read), while settled days are not.
    let live = Listings::default();
    let s3 = s3_archive(
        &moto,
        "s3://trail/",
        Some(&live),
        S3ArchiveSettings {
            refresh: Duration::ZERO,
            ..settings
        },
    );
    let today = (anchor - SignedDuration::from_hours(50), Timestamp::now());
    let scope = Scope {
        accounts: vec!["123456789012".into()],
        regions: vec!["us-east-1".into()],
    };
    let before = s3
        .lookup(&query(today.0, today.1, scope.clone()))
        .await
        .unwrap();
    live.take();
    let late = json!({"Records": [{"eventVersion": "1.08", "eventID": "delivered-just-now",
        "eventTime": (Timestamp::now() - SignedDuration::from_secs(5)).to_string(),
        "eventName": "GetCallerIdentity", "eventSource": "sts.amazonaws.com",
        "awsRegion": "us-east-1", "recipientAccountId": "123456789012", "readOnly": true,
        "userIdentity": {"type": "IAMUser", "userName": "alice"}}]});
    let key = format!(
        "AWSLogs/{ORG}/123456789012/CloudTrail/us-east-1/{}/late.json",
        Timestamp::now().strftime("%Y/%m/%d")
    );
    s3_client(&moto, None)
        .put_object()
        .bucket("trail")
        .key(&key)
        .body(ByteStream::from(late.to_string().into_bytes()))
        .send()
        .await
        .unwrap();
    let after = s3.lookup(&query(today.0, today.1, scope)).await.unwrap();
    assert_eq!(after.events[0].event_id, "delivered-just-now");
    assert_ne!(before.events[0].event_id, "delivered-just-now");
    // Only today is listed again (and yesterday in the minutes after midnight, while
    // deliveries for it may still arrive).
    let relisted: Vec<String> = live.take().iter().filter_map(|p| listed_day(p)).collect();
    assert!(relisted.contains(&date(Timestamp::now())), "{relisted:?}");
    assert!(relisted.len() <= 2, "{relisted:?}");
    assert!(!relisted.contains(&date(today.0)), "{relisted:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_the_bucket_and_key_and_spare_other_days() {
    let moto = Moto::start().await;
    let dir = tempfile::tempdir().unwrap();
    let anchor = crate::helpers::hour_anchor();
    organization_archive(dir.path(), anchor);
    upload(&moto, "broken-trail", "x/", dir.path()).await;
    let day = anchor - SignedDuration::from_hours(24 * 5);
    let key = format!(
        "x/AWSLogs/{ORG}/123456789012/CloudTrail/eu-west-1/{}/broken.json.gz",
        day.strftime("%Y/%m/%d")
    );
    let s3 = s3_client(&moto, None);
    s3.put_object()
        .bucket("broken-trail")
        .key(&key)
        .body(ByteStream::from_static(b"\x1f\x8bnot gzip at all"))
        .send()
        .await
        .unwrap();

    let settings = ToolSettings::default();
    let archive = s3_archive(
        &moto,
        "s3://broken-trail/x/",
        None,
        S3ArchiveSettings::default(),
    );
    let app = spawn_source(archive.clone(), settings.clone()).await;
    let tools = client(&app).await;
    let around = |t: Timestamp| {
        json!({"start_time": (t - SignedDuration::from_hours(3)).to_string(),
               "end_time": (t + SignedDuration::from_hours(3)).to_string(), "detail": true})
    };
    let (failed, text) = call(&tools, "lookup_events", around(day)).await;
    assert!(failed, "{text}");
    assert!(
        text.contains(&format!("s3://broken-trail/{key}")) && text.contains("decompress"),
        "{text}"
    );
    // Days without the file answer as the directory archive does.
    let directory = LogArchive::from_dir(dir.path()).unwrap();
    let dir_app = spawn_source(Arc::new(directory), settings.clone()).await;
    let dir_tools = client(&dir_app).await;
    let other = around(anchor - SignedDuration::from_hours(24 * 2));
    let x = call_ok(&dir_tools, "lookup_events", other.clone()).await;
    let y = call_ok(&tools, "lookup_events", other).await;
    assert!(!x["events"].as_array().unwrap().is_empty(), "{x}");
    assert_eq!(comparable(x), comparable(y));
    // A failed day is not cached: once the file is gone, the day reads.
    s3.delete_object()
        .bucket("broken-trail")
        .key(&key)
        .send()
        .await
        .unwrap();
    let x = call_ok(&dir_tools, "lookup_events", around(day)).await;
    let y = call_ok(&tools, "lookup_events", around(day)).await;
    assert_eq!(comparable(x), comparable(y));

    // A missing bucket: a tool error naming it, with S3's message.
    let missing = s3_archive(
        &moto,
        "s3://no-such-trail/",
        None,
        S3ArchiveSettings::default(),
    );
    let err = missing
        .lookup(&query(day, anchor, Scope::default()))
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::S3NoBucket { .. }), "{err}");
    let app = spawn_source(missing, settings).await;
    let (failed, text) = call(&client(&app).await, "lookup_events", around(day)).await;
    assert!(failed, "{text}");
    assert!(
        text.contains("`no-such-trail`") && text.contains("NoSuchBucket"),
        "{text}"
    );
}
