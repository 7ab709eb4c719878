//! `MultiRegionApi`: the real aws-sdk-cloudtrail clients of several regions against one
//! loopback stand-in of the CloudTrail JSON 1.1 protocol that reads each request's region from
//! its SigV4 credential scope and answers from that region's events, with paging, throttling and
//! denials per region; then the MCP tools on top, and once the real binary configured by env.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use cloudtrail_mcp::ToolSettings;
use cloudtrail_mcp::source::EventSource;
use cloudtrail_mcp::source::multi_region::MultiRegionApi;
use serde_json::{Value, json};

use crate::helpers::{call, call_ok, client, expand, spawn_source};

/// One request the stand-in received.
#[derive(Debug, Clone)]
struct Seen {
    region: String,
    at: Instant,
    status: u16,
    /// The SDK's attempt number (`amz-sdk-request: attempt=N; max=M`): retries are the SDK's
    /// own, outside the client-side limiter.
    attempt: u32,
    body: Value,
}

/// Per-region events (newest first), throttles still to answer and standing denials.
#[derive(Clone, Default)]
struct Regions {
    events: Arc<BTreeMap<String, Vec<Value>>>,
    throttles: Arc<Mutex<HashMap<String, usize>>>,
    denied: Arc<HashMap<String, String>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Regions {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn requests_in(&self, region: &str) -> usize {
        self.seen().iter().filter(|s| s.region == region).count()
    }
}

/// The region of a SigV4 `Authorization` header (`Credential=AKID/date/REGION/service/...`).
fn signed_region(headers: &HeaderMap) -> String {
    let auth = headers["authorization"].to_str().unwrap();
    let scope = auth
        .split("Credential=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    let parts: Vec<&str> = scope.split('/').collect();
    assert_eq!(parts[3], "cloudtrail", "{auth}");
    parts[2].to_owned()
}

fn error(kind: &str, message: &str) -> (StatusCode, HeaderMap, String) {
    let mut out = HeaderMap::new();
    out.insert(
        "content-type",
        "application/x-amz-json-1.1".parse().unwrap(),
    );
    out.insert("x-amzn-errortype", kind.parse().unwrap());
    (
        StatusCode::BAD_REQUEST,
        out,
        json!({"__type": kind, "message": message}).to_string(),
    )
}

async fn lookup_events(
    State(s): State<Regions>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, HeaderMap, String) {
    let region = signed_region(&headers);
    let body: Value = serde_json::from_str(&body).unwrap();
    let attempt = headers
        .get("amz-sdk-request")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("attempt="))
        .and_then(|h| h.split(';').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    let record = |status: u16| {
        s.seen.lock().unwrap().push(Seen {
            region: region.clone(),
            at: Instant::now(),
            status,
            attempt,
            body: body.clone(),
        })
    };
    if let Some(message) = s.denied.get(&region) {
        record(400);
        return error("AccessDeniedException", message);
    }
    {
        let mut throttles = s.throttles.lock().unwrap();
        if let Some(left) = throttles.get_mut(&region)
            && *left > 0
        {
            *left -= 1;
            drop(throttles);
            record(400);
            return error("ThrottlingException", "Rate exceeded");
        }
    }
    record(200);
    let start = body["StartTime"].as_f64().unwrap();
    let end = body["EndTime"].as_f64().unwrap();
    let attribute = body["LookupAttributes"].get(0).cloned();
    let matching: Vec<&Value> = s
        .events
        .get(&region)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|e| {
            let t = e["EventTime"].as_f64().unwrap();
            t >= start && t <= end
        })
        .filter(|e| match &attribute {
            Some(a) => e[a["AttributeKey"].as_str().unwrap()] == a["AttributeValue"],
            None => true,
        })
        .collect();
    // Tokens are "<region>:<offset>": a token of another region is refused, as AWS would.
    let from = match body["NextToken"].as_str() {
        None => 0,
        Some(token) => match token.split_once(':') {
            Some((r, offset)) if r == region => offset.parse::<usize>().unwrap(),
            _ => return error("InvalidNextTokenException", "Invalid NextToken"),
        },
    };
    let size = body["MaxResults"].as_u64().unwrap_or(50) as usize;
    let to = (from + size).min(matching.len());
    let mut answer = json!({"Events": matching[from..to]});
    if to < matching.len() {
        answer["NextToken"] = json!(format!("{region}:{to}"));
    }
    let mut out = HeaderMap::new();
    out.insert(
        "content-type",
        "application/x-amz-json-1.1".parse().unwrap(),
    );
    (StatusCode::OK, out, answer.to_string())
}

async fn serve(regions: Regions) -> String {
    let app = Router::new()
        .route("/", post(lookup_events))
        .with_state(regions);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn fast_retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(5))
}

/// An event as LookupEvents returns it, its record in `region`.
fn event(region: &str, id: &str, secs: i64, source: &str, user: &str) -> Value {
    let record = json!({"eventVersion": "1.08", "eventID": id, "eventName": "Call",
        "eventSource": source, "awsRegion": region, "sourceIPAddress": "203.0.113.9",
        "readOnly": true,
        "userIdentity": {"type": "IAMUser", "userName": user,
                         "arn": format!("arn:aws:iam::123456789012:user/{user}")},
        "eventTime": jiff::Timestamp::from_second(secs).unwrap().to_string()});
    json!({"EventId": id, "EventName": "Call", "ReadOnly": "true", "EventTime": secs,
           "EventSource": source, "Username": user, "CloudTrailEvent": record.to_string()})
}

/// eu-west-1: 70 EC2 events every 40 s; ap-south-1: 30 every 90 s; us-east-1: 55 IAM events
/// every 50 s (two of them at the same second as an eu-west-1 event: the first, and the 5th
/// against eu-west-1's 6th).
fn three_regions(now: i64) -> BTreeMap<String, Vec<Value>> {
    let series = |region: &str, n: i64, step: i64, offset: i64, source: &str| -> Vec<Value> {
        (0..n)
            .map(|i| {
                let id = format!("{region}-{i:03}");
                event(region, &id, now - offset - i * step, source, "alice")
            })
            .collect()
    };
    let mut regions = BTreeMap::new();
    regions.insert(
        "eu-west-1".to_owned(),
        series("eu-west-1", 70, 40, 5, "ec2.amazonaws.com"),
    );
    regions.insert(
        "ap-south-1".to_owned(),
        series("ap-south-1", 30, 90, 7, "ec2.amazonaws.com"),
    );
    regions.insert(
        "us-east-1".to_owned(),
        series("us-east-1", 55, 50, 5, "iam.amazonaws.com"),
    );
    regions
}

/// Every event id, newest first, ties by id: the order a merged search must return.
fn merged_order(regions: &BTreeMap<String, Vec<Value>>) -> Vec<String> {
    let mut all: Vec<(i64, String)> = regions
        .values()
        .flatten()
        .map(|e| {
            (
                e["EventTime"].as_i64().unwrap(),
                e["EventId"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    all.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    all.into_iter().map(|(_, id)| id).collect()
}

fn configured() -> Vec<String> {
    vec!["eu-west-1".to_owned(), "ap-south-1".to_owned()]
}

#[tokio::test]
async fn three_regions_merge_newest_first_across_pages_in_parallel_per_region_rate() {
    let now = jiff::Timestamp::now().as_second();
    let data = three_regions(now);
    let regions = Regions {
        events: Arc::new(data.clone()),
        // eu-west-1 throttles its first request; the SDK's retry gets the page.
        throttles: Arc::new(Mutex::new(HashMap::from([("eu-west-1".to_owned(), 1)]))),
        ..Default::default()
    };
    let endpoint = serve(regions.clone()).await;
    let api = MultiRegionApi::with_retry(
        &crate::helpers::test_sdk(&endpoint, "eu-west-1").await,
        &configured(),
        fast_retries(),
    )
    .unwrap();
    assert_eq!(api.id(), "api:ap-south-1,eu-west-1");
    let source: Arc<dyn EventSource> = Arc::new(api);
    let app = spawn_source(source, ToolSettings::default()).await;
    let mcp = client(&app).await;

    // lookup_events pages of 40 through all 155 events (no filter: us-east-1 is searched for
    // the global services).
    let mut ids = Vec::new();
    let mut page = call_ok(
        &mcp,
        "lookup_events",
        json!({"start_time": "24h ago", "max_results": 40, "detail": true}),
    )
    .await;
    let mut pages = 1;
    loop {
        assert_eq!(
            page["searched_regions"],
            json!(["ap-south-1", "eu-west-1", "us-east-1"])
        );
        for event in page["events"].as_array().unwrap() {
            let id = event["event_id"].as_str().unwrap();
            // The projection reads each record's own region.
            assert_eq!(event["aws_region"].as_str().unwrap(), &id[..id.len() - 4]);
            ids.push(id.to_owned());
        }
        let Some(cursor) = page["next_cursor"].as_str() else {
            break;
        };
        assert_eq!(page["returned"], json!(40), "only the last page is short");
        page = call_ok(
            &mcp,
            "lookup_events",
            json!({"cursor": cursor, "max_results": 40, "detail": true}),
        )
        .await;
        pages += 1;
    }
    assert_eq!(pages, 4);
    assert_eq!(ids, merged_order(&data), "newest first, ties by id");
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 155);

    let seen = regions.seen();
    // A region's page is fetched once, plus at most once again per later tool page when some
    // of its events were left over (the token holds positions, not events).
    for (region, pages) in [("ap-south-1", 1), ("eu-west-1", 2), ("us-east-1", 2)] {
        let answered = seen
            .iter()
            .filter(|s| s.region == region && s.status == 200)
            .count();
        assert!(
            answered >= pages && answered <= pages + 3,
            "{region}: {answered} requests"
        );
    }
    // The throttled request was retried: every region's events arrived anyway.
    assert_eq!(
        seen.iter()
            .filter(|s| s.region == "eu-west-1" && s.status == 400)
            .count(),
        1
    );
    assert!(
        seen.iter()
            .any(|s| s.region == "eu-west-1" && s.attempt == 2)
    );
    // Every regional request asks for whole pages, with the tool's window.
    assert!(seen.iter().all(|s| s.body["MaxResults"] == json!(50)));
    assert!(
        seen.iter()
            .all(|s| s.body.get("LookupAttributes").is_none())
    );
    // Each region's requests are spaced by its own 2 requests/s limiter (first attempts: the
    // SDK retries a throttled request by itself, after the limiter). The limiter spaces the
    // sends, the stand-in sees arrivals: a loaded machine delays single arrivals, so each gap
    // gets some slack and the whole run is held to the rate.
    for region in ["ap-south-1", "eu-west-1", "us-east-1"] {
        let times: Vec<Instant> = seen
            .iter()
            .filter(|s| s.region == region && s.attempt == 1)
            .map(|s| s.at)
            .collect();
        assert!(times.len() >= 4, "{region}: {}", times.len());
        for pair in times.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(gap >= Duration::from_millis(300), "{region}: {gap:?}");
        }
        let span = *times.last().unwrap() - times[0];
        let least = Duration::from_millis(500) * (times.len() as u32 - 1);
        assert!(
            span + Duration::from_millis(100) >= least,
            "{region}: {} requests in {span:?}",
            times.len()
        );
    }
    // ...and the regions are not serialized behind each other: the first request of each
    // region went out together.
    let firsts: Vec<Instant> = ["ap-south-1", "eu-west-1", "us-east-1"]
        .iter()
        .map(|r| seen.iter().find(|s| s.region == *r).unwrap().at)
        .collect();
    let spread = *firsts.iter().max().unwrap() - *firsts.iter().min().unwrap();
    assert!(spread < Duration::from_millis(300), "{spread:?}");

    // summarize_activity counts every region's events and says which regions it searched; it
    // asks for several pages per call, so each page is fetched once.
    let before = regions.seen().len();
    let summary = call_ok(&mcp, "summarize_activity", json!({"start_time": "24h ago"})).await;
    assert_eq!(regions.seen().len() - before, 5);
    assert_eq!(summary["scanned"], json!(155));
    assert_eq!(summary["hit_cap"], json!(false));
    assert_eq!(
        summary["searched_regions"],
        json!(["ap-south-1", "eu-west-1", "us-east-1"])
    );
    let by_region: BTreeMap<String, u64> = summary["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["key"].as_str().unwrap().to_owned(),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        by_region,
        BTreeMap::from([
            ("ap-south-1".to_owned(), 30),
            ("eu-west-1".to_owned(), 70),
            ("us-east-1".to_owned(), 55)
        ])
    );
}

#[tokio::test]
async fn regions_are_narrowed_exactly_and_global_only_when_it_can_match() {
    let now = jiff::Timestamp::now().as_second();
    let regions = Regions {
        events: Arc::new(three_regions(now)),
        ..Default::default()
    };
    let endpoint = serve(regions.clone()).await;
    let api = MultiRegionApi::with_retry(
        &crate::helpers::test_sdk(&endpoint, "eu-west-1").await,
        &configured(),
        fast_retries(),
    )
    .unwrap();
    let app = spawn_source(Arc::new(api), ToolSettings::default()).await;
    let mcp = client(&app).await;

    // One region: a plain LookupEvents query, still listed.
    let page = call_ok(
        &mcp,
        "lookup_events",
        json!({"regions": ["eu-west-1"], "max_results": 5}),
    )
    .await;
    assert_eq!(page["searched_regions"], json!(["eu-west-1"]));
    let events = expand(&page);
    assert_eq!(events.len(), 5);
    assert!(events.iter().all(|e| e["region"] == json!("eu-west-1")));
    assert_eq!(regions.seen().len(), 1);

    // An EC2 filter cannot match global events: us-east-1 is not searched.
    let page = call_ok(
        &mcp,
        "lookup_events",
        json!({"attribute_key": "EventSource", "attribute_value": "ec2.amazonaws.com",
               "max_results": 10}),
    )
    .await;
    assert_eq!(page["searched_regions"], json!(["ap-south-1", "eu-west-1"]));
    assert_eq!(regions.requests_in("us-east-1"), 0);
    // A principal can act on global services: us-east-1 is searched.
    let page = call_ok(
        &mcp,
        "lookup_events",
        json!({"attribute_key": "Username", "attribute_value": "alice", "max_results": 10}),
    )
    .await;
    assert_eq!(
        page["searched_regions"],
        json!(["ap-south-1", "eu-west-1", "us-east-1"])
    );
    assert_eq!(regions.requests_in("us-east-1"), 1);
    let seen = regions.seen();
    assert_eq!(
        seen.last().unwrap().body["LookupAttributes"],
        json!([{"AttributeKey": "Username", "AttributeValue": "alice"}])
    );

    // A region outside the deployment's list is a tool error naming the allowed ones, before
    // any request.
    let before = regions.seen().len();
    let (is_error, text) = call(
        &mcp,
        "summarize_activity",
        json!({"regions": ["sa-east-1"]}),
    )
    .await;
    assert!(is_error, "{text}");
    assert!(
        text.contains("`sa-east-1`") && text.contains("ap-south-1, eu-west-1, us-east-1"),
        "{text}"
    );
    assert_eq!(regions.seen().len(), before);
    // Accounts are not a LookupEvents scope.
    let (is_error, text) = call(&mcp, "lookup_events", json!({"accounts": ["123456789012"]})).await;
    assert!(is_error && text.contains("accounts"), "{text}");
}

#[tokio::test]
async fn a_failing_region_fails_the_call_naming_it_and_aws_message() {
    let now = jiff::Timestamp::now().as_second();
    let regions = Regions {
        events: Arc::new(three_regions(now)),
        denied: Arc::new(HashMap::from([(
            "ap-south-1".to_owned(),
            "The region ap-south-1 is not enabled for this account".to_owned(),
        )])),
        ..Default::default()
    };
    let endpoint = serve(regions.clone()).await;
    let api = MultiRegionApi::with_retry(
        &crate::helpers::test_sdk(&endpoint, "eu-west-1").await,
        &configured(),
        fast_retries(),
    )
    .unwrap();
    let app = spawn_source(Arc::new(api), ToolSettings::default()).await;
    let mcp = client(&app).await;
    for tool in ["lookup_events", "summarize_activity"] {
        let (is_error, text) = call(&mcp, tool, json!({})).await;
        assert!(is_error, "{tool}: {text}");
        assert!(
            text.contains("region ap-south-1 failed")
                && text.contains("not enabled for this account")
                && text.contains(r#"pass `regions`: ["eu-west-1", "us-east-1"]"#),
            "{tool}: {text}"
        );
    }
    // The hint works: without the failing region the search answers.
    let page = call_ok(
        &mcp,
        "lookup_events",
        json!({"regions": ["eu-west-1", "us-east-1"], "max_results": 3}),
    )
    .await;
    assert_eq!(page["returned"], json!(3));
}

/// The real binary with `--source api` and `CLOUDTRAIL_MCP_REGIONS`, pointed at the stand-in by
/// `AWS_ENDPOINT_URL` (no profile files, static keys from the environment).
#[tokio::test]
async fn the_binary_searches_the_regions_of_its_environment() {
    let now = jiff::Timestamp::now().as_second();
    let regions = Regions {
        events: Arc::new(three_regions(now)),
        ..Default::default()
    };
    let endpoint = serve(regions.clone()).await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cloudtrail-mcp"))
        .env_clear()
        .args(["--listen", "127.0.0.1:0"])
        .env("CLOUDTRAIL_MCP_SOURCE", "api")
        .env("CLOUDTRAIL_MCP_REGIONS", "eu-west-1, ap-south-1")
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "test-secret")
        .env("AWS_CONFIG_FILE", "/nonexistent/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start cloudtrail-mcp");
    let url = crate::helpers::listening_url(&mut child).await;
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "lookup_events", "arguments": {"max_results": 60, "detail": true}}});
    let response = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let reply: Value = response.json().await.unwrap();
    let text = reply["result"]["content"][0]["text"].as_str().unwrap();
    let page: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {reply}"));
    assert_eq!(
        page["searched_regions"],
        json!(["ap-south-1", "eu-west-1", "us-east-1"])
    );
    assert_eq!(page["returned"], json!(60));
    let answered: HashSet<String> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["aws_region"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(answered.len(), 3, "{answered:?}");
    for region in ["ap-south-1", "eu-west-1", "us-east-1"] {
        assert!(regions.requests_in(region) >= 1, "{region}");
    }
    child.kill().await.unwrap();
}
