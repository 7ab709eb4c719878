//! `CloudTrailApi` with the real aws-sdk-cloudtrail client against a loopback stand-in that
//! speaks the CloudTrail JSON 1.1 protocol, and the MCP tools on top of it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use cloudtrail_mcp::ToolSettings;
use cloudtrail_mcp::source::api::CloudTrailApi;
use cloudtrail_mcp::source::{AttributeKey, EventSource, Filter, Query, SourceError};
use serde_json::{Value, json};

use crate::helpers::{call, call_ok, client, expand, spawn_source};

/// The target the SDK sends (the service also accepts the `com.amazonaws...` prefixed form).
const TARGET: &str = "CloudTrail_20131101.LookupEvents";

/// Answers in order from a script (the last answer repeats) and records each request body.
#[derive(Clone, Default)]
struct StandIn {
    script: Arc<Mutex<Vec<(u16, Value)>>>,
    seen: Arc<Mutex<Vec<(Instant, Value)>>>,
}

async fn lookup_events(
    State(s): State<StandIn>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, HeaderMap, String) {
    let target = headers["x-amz-target"].to_str().unwrap();
    assert!(
        target == TARGET || target == format!("com.amazonaws.cloudtrail.v20131101.{TARGET}"),
        "{target}"
    );
    assert_eq!(headers["content-type"], "application/x-amz-json-1.1");
    let auth = headers["authorization"].to_str().unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDTEST/"),
        "{auth}"
    );
    assert!(
        auth.contains("/us-east-1/cloudtrail/aws4_request"),
        "{auth}"
    );
    s.seen
        .lock()
        .unwrap()
        .push((Instant::now(), serde_json::from_str(&body).unwrap()));
    let (status, answer) = {
        let mut script = s.script.lock().unwrap();
        if script.len() > 1 {
            script.remove(0)
        } else {
            script[0].clone()
        }
    };
    let mut out = HeaderMap::new();
    out.insert(
        "content-type",
        "application/x-amz-json-1.1".parse().unwrap(),
    );
    out.insert(
        "x-amzn-requestid",
        "00000000-0000-0000-0000-000000000001".parse().unwrap(),
    );
    if let Some(kind) = answer.get("__type").and_then(Value::as_str) {
        out.insert("x-amzn-errortype", kind.parse().unwrap());
    }
    (
        StatusCode::from_u16(status).unwrap(),
        out,
        answer.to_string(),
    )
}

async fn stand_in(script: Vec<(u16, Value)>) -> (StandIn, SdkConfig) {
    let state = StandIn {
        script: Arc::new(Mutex::new(script)),
        ..Default::default()
    };
    let app = Router::new()
        .route("/", post(lookup_events))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let sdk = crate::helpers::test_sdk(&format!("http://{addr}"), "us-east-1").await;
    (state, sdk)
}

fn fast_retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(5))
}

fn event(id: &str, secs: i64, user: &str) -> Value {
    let record = json!({"eventVersion": "1.08", "eventID": id, "eventName": "CreateBucket",
        "eventSource": "s3.amazonaws.com", "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.9",
        "userIdentity": {"type": "IAMUser", "userName": user, "arn": format!("arn:aws:iam::123456789012:user/{user}")},
        "eventTime": jiff::Timestamp::from_second(secs).unwrap().to_string()});
    json!({"EventId": id, "EventName": "CreateBucket", "ReadOnly": "false", "AccessKeyId": "AKIAEXAMPLE",
           "EventTime": secs, "EventSource": "s3.amazonaws.com", "Username": user,
           "Resources": [{"ResourceType": "AWS::S3::Bucket", "ResourceName": "logs"}],
           "CloudTrailEvent": record.to_string()})
}

fn query(now: jiff::Timestamp) -> Query {
    Query {
        start: now - jiff::SignedDuration::from_hours(24),
        end: now,
        filter: Some(Filter {
            attribute_key: AttributeKey::Username,
            attribute_value: "alice".into(),
        }),
        max_results: 200,
        next_token: None,
        scope: Default::default(),
    }
}

#[tokio::test]
async fn pages_through_next_tokens_with_the_filter_and_window() {
    let now = jiff::Timestamp::now();
    let t = now.as_second();
    let (state, sdk) = stand_in(vec![
        (200, json!({"Events": [event("e3", t - 10, "alice"), event("e2", t - 20, "alice")], "NextToken": "page-2"})),
        (200, json!({"Events": [event("e1", t - 30, "alice")]})),
    ])
    .await;
    let api = CloudTrailApi::with_retry(&sdk, fast_retries()).unwrap();
    assert_eq!(api.id(), "api:us-east-1");
    let first = api.lookup(&query(now)).await.unwrap();
    assert_eq!(
        first
            .events
            .iter()
            .map(|e| e.event_id.as_str())
            .collect::<Vec<_>>(),
        ["e3", "e2"]
    );
    assert_eq!(first.next_token.as_deref(), Some("page-2"));
    assert_eq!(first.events[0].read_only, Some(false));
    assert_eq!(
        first.events[0].resources[0].resource_name.as_deref(),
        Some("logs")
    );
    let mut next = query(now);
    next.next_token = first.next_token;
    let second = api.lookup(&next).await.unwrap();
    assert_eq!(second.events[0].event_id, "e1");
    assert_eq!(second.next_token, None);

    let seen = state.seen.lock().unwrap();
    let (_, body) = &seen[0];
    assert_eq!(
        body["LookupAttributes"],
        json!([{"AttributeKey": "Username", "AttributeValue": "alice"}])
    );
    assert_eq!(body["MaxResults"], json!(50), "pages are capped at 50");
    assert_eq!(body["StartTime"].as_f64().unwrap() as i64, t - 86_400);
    assert_eq!(body["EndTime"].as_f64().unwrap() as i64, t);
    assert_eq!(seen[1].1["NextToken"], json!("page-2"));
    // The client-side limit of 2 requests per second spaces the two calls.
    assert!(
        seen[1].0 - seen[0].0 >= Duration::from_millis(450),
        "{:?}",
        seen[1].0 - seen[0].0
    );
}

#[tokio::test]
async fn throttling_is_retried_then_succeeds() {
    let t = jiff::Timestamp::now().as_second();
    let (state, sdk) = stand_in(vec![
        (
            400,
            json!({"__type": "ThrottlingException", "message": "Rate exceeded"}),
        ),
        (200, json!({"Events": [event("e1", t - 5, "alice")]})),
    ])
    .await;
    let api = CloudTrailApi::with_retry(&sdk, fast_retries()).unwrap();
    let page = api.lookup(&query(jiff::Timestamp::now())).await.unwrap();
    assert_eq!(page.events.len(), 1);
    assert_eq!(
        state.seen.lock().unwrap().len(),
        2,
        "one throttled attempt, one retry"
    );
}

#[tokio::test]
async fn aws_errors_become_clear_source_errors() {
    let cases = [
        (
            400,
            json!({"__type": "AccessDeniedException", "message": "User: arn:aws:iam::1:user/x is not authorized to perform: cloudtrail:LookupEvents"}),
        ),
        (
            400,
            json!({"__type": "ThrottlingException", "message": "Rate exceeded"}),
        ),
        (
            400,
            json!({"__type": "ExpiredTokenException", "message": "The security token included in the request is expired"}),
        ),
        (
            400,
            json!({"__type": "InvalidNextTokenException", "message": "Invalid NextToken"}),
        ),
        (
            400,
            json!({"__type": "InvalidTimeRangeException", "message": "Start time is after end time"}),
        ),
        (500, json!({"__type": "InternalFailure", "message": "boom"})),
    ];
    let mut messages = Vec::new();
    for (status, answer) in cases {
        let (_, sdk) = stand_in(vec![(status, answer)]).await;
        let api = CloudTrailApi::with_retry(&sdk, fast_retries()).unwrap();
        messages.push(
            api.lookup(&query(jiff::Timestamp::now()))
                .await
                .unwrap_err(),
        );
    }
    assert!(
        matches!(&messages[0], SourceError::AccessDenied(m) if m.contains("cloudtrail:LookupEvents")),
        "{}",
        messages[0]
    );
    assert!(
        matches!(&messages[1], SourceError::Throttled(m) if m.contains("Rate exceeded")),
        "{}",
        messages[1]
    );
    assert!(
        matches!(&messages[2], SourceError::Credentials(m) if m.contains("expired")),
        "{}",
        messages[2]
    );
    assert!(
        matches!(&messages[3], SourceError::InvalidNextToken(_)),
        "{}",
        messages[3]
    );
    assert!(
        matches!(&messages[4], SourceError::InvalidQuery(m) if m.contains("Start time")),
        "{}",
        messages[4]
    );
    assert!(
        matches!(&messages[5], SourceError::Unavailable(_)),
        "{}",
        messages[5]
    );
    assert!(
        messages[0]
            .to_string()
            .contains("needs cloudtrail:LookupEvents")
    );
}

#[tokio::test]
async fn tools_over_the_api_report_aws_failures_as_tool_errors() {
    let t = jiff::Timestamp::now().as_second();
    let (seen, sdk) = stand_in(vec![(
        200,
        json!({"Events": [event("e1", t - 5, "alice")]}),
    )])
    .await;
    let api: Arc<dyn EventSource> =
        Arc::new(CloudTrailApi::with_retry(&sdk, fast_retries()).unwrap());
    let app = spawn_source(api, ToolSettings::default()).await;
    let mcp = client(&app).await;
    let page = call_ok(
        &mcp,
        "lookup_events",
        json!({"attribute_key": "Username", "attribute_value": "alice"}),
    )
    .await;
    let events = expand(&page);
    assert_eq!(events[0]["principal"]["name"], json!("alice"));
    assert_eq!(events[0]["service"], json!("s3"));
    // The API filters on whole event ids only: a reference is refused with what to pass instead,
    // before any request.
    let requests = seen.seen.lock().unwrap().len();
    let (is_error, text) = call(
        &mcp,
        "get_event",
        json!({"event_id": cloudtrail_contract::event_ref("e1")}),
    )
    .await;
    assert!(
        is_error && text.contains("is an event reference") && text.contains("full event id"),
        "{text}"
    );
    assert_eq!(seen.seen.lock().unwrap().len(), requests);
    // LookupEvents keeps 90 days: older windows are refused before any request.
    let (is_error, text) = call(&mcp, "lookup_events", json!({"start_time": "120d ago"})).await;
    assert!(is_error && text.contains("90 days"), "{text}");

    let (_, sdk) = stand_in(vec![(400, json!({"__type": "AccessDeniedException", "message": "not authorized to perform: cloudtrail:LookupEvents"}))]).await;
    let api: Arc<dyn EventSource> =
        Arc::new(CloudTrailApi::with_retry(&sdk, fast_retries()).unwrap());
    let app = spawn_source(api, ToolSettings::default()).await;
    let denied_client = client(&app).await;
    let (is_error, text) = call(&denied_client, "summarize_activity", json!({})).await;
    assert!(is_error && text.contains("access denied"), "{text}");
}
