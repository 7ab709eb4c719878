//! The three tools through a real MCP client (rmcp) over HTTP, against the built-in sample.

use std::collections::HashSet;

use cloudtrail_contract::{ActivitySummary, Events, LookupAnswer};
use cloudtrail_mcp::ToolSettings;
use serde_json::{Value, json};

use crate::helpers::{call, call_ok, client, expand, spawn_app, spawn_app_with};

#[tokio::test]
async fn lists_three_read_only_tools_with_bedrock_valid_names() {
    let app = spawn_app().await;
    let client = client(&app).await;
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, ["lookup_events", "summarize_activity", "get_event"]);
    for tool in &tools {
        assert!(
            tool.name.len() <= 64
                && tool
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            "{}",
            tool.name
        );
        let annotations = tool.annotations.as_ref().expect("annotated");
        assert_eq!(annotations.read_only_hint, Some(true), "{}", tool.name);
        assert_eq!(annotations.destructive_hint, Some(false), "{}", tool.name);
        assert_eq!(tool.input_schema.get("type"), Some(&json!("object")));
        // Sub-schemas are inlined: no $ref for clients to resolve.
        assert!(
            !Value::Object((*tool.input_schema).clone())
                .to_string()
                .contains("$ref")
        );
    }
    let lookup = &tools[0].input_schema["properties"]["attribute_key"];
    let text = lookup.to_string();
    for key in [
        "EventId",
        "EventName",
        "ReadOnly",
        "Username",
        "ResourceType",
        "ResourceName",
        "EventSource",
        "AccessKeyId",
    ] {
        assert!(
            text.contains(key),
            "attribute_key schema lacks {key}: {text}"
        );
    }
}

#[tokio::test]
async fn lookup_finds_alices_events_yesterday_and_echoes_the_window() {
    let app = spawn_app().await;
    let client = client(&app).await;
    let answer = call_ok(
        &client,
        "lookup_events",
        json!({"start_time": "yesterday", "end_time": "today", "timezone": "Asia/Tokyo",
               "attribute_key": "Username", "attribute_value": "alice", "max_results": 200}),
    )
    .await;
    let today_tokyo = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::get("Asia/Tokyo").unwrap())
        .date();
    let expected_end = today_tokyo
        .in_tz("Asia/Tokyo")
        .unwrap()
        .timestamp()
        .to_string();
    assert_eq!(answer["window"]["end"], json!(expected_end));
    assert_eq!(
        answer["filter"],
        json!({"attribute_key": "Username", "attribute_value": "alice"})
    );
    let events = expand(&answer);
    assert!(
        events.len() >= 5,
        "alice should have several events yesterday: {answer}"
    );
    assert_eq!(answer["returned"], json!(events.len()));
    let (start, end) = (
        answer["window"]["start"].as_str().unwrap(),
        answer["window"]["end"].as_str().unwrap(),
    );
    let mut previous = "9999".to_owned();
    for event in &events {
        assert_eq!(event["principal"]["name"], json!("alice"), "{event}");
        let t = event["event_time"].as_str().unwrap();
        assert!(t >= start && t <= end, "{t} outside {start}..{end}");
        assert!(t <= previous.as_str(), "not newest first");
        previous = t.to_owned();
        // Compact projection, not the raw record.
        assert!(event.get("userIdentity").is_none() && event.get("eventVersion").is_none());
    }
    assert!(
        events.iter().any(|e| e["error"]["code"].is_string()),
        "alice has a denied call yesterday"
    );
    assert!(
        events.iter().any(|e| e["read_only"] == json!(false)),
        "alice made changes yesterday"
    );
}

#[tokio::test]
async fn paging_with_only_the_cursor_visits_every_event_once() {
    // A budget large enough that the reference page of up to 200 events is never cut.
    let app = spawn_app_with(ToolSettings {
        redact_source_ip: false,
        max_response_bytes: 1 << 20,
        ..ToolSettings::default()
    })
    .await;
    let client = client(&app).await;
    // Absolute times, so both queries resolve the same window.
    let now = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second()).unwrap();
    // A full day of bob's work: dozens of events, fewer than 200.
    let start = (now - jiff::SignedDuration::from_hours(24)).to_string();
    let selection = json!({"start_time": start, "end_time": now.to_string(),
                           "attribute_key": "Username", "attribute_value": "bob"});
    let mut all = selection.clone();
    all["max_results"] = json!(200);
    // `detail` gives whole events, ids included.
    all["detail"] = json!(true);
    let whole = call_ok(&client, "lookup_events", all).await;
    assert_eq!(
        whole["truncated"],
        json!(false),
        "the reference page must be complete"
    );
    let expected: Vec<String> = whole["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        expected.len() > 7 && expected.len() < 200,
        "{}",
        expected.len()
    );

    let mut first = selection;
    first["max_results"] = json!(7);
    first["detail"] = json!(true);
    let mut page = call_ok(&client, "lookup_events", first).await;
    let mut seen = Vec::new();
    loop {
        seen.extend(
            page["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["event_id"].as_str().unwrap().to_owned()),
        );
        assert_eq!(
            page["window"], whole["window"],
            "the cursor carries the window"
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                page = call_ok(
                    &client,
                    "lookup_events",
                    json!({"cursor": cursor, "max_results": 7, "detail": true}),
                )
                .await
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), expected.len());
    assert_eq!(seen, expected);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len());
}

#[tokio::test]
async fn summary_aggregates_alices_week() {
    let app = spawn_app().await;
    let client = client(&app).await;
    let (is_error, text) = call(
        &client,
        "summarize_activity",
        json!({"start_time": "7d ago", "attribute_key": "Username", "attribute_value": "alice"}),
    )
    .await;
    assert!(!is_error, "{text}");
    let s: ActivitySummary = serde_json::from_str(&text).unwrap();
    assert!(s.scanned > 20, "{s:?}");
    assert!(!s.hit_cap);
    assert_eq!(s.read_events + s.write_events, s.scanned);
    assert_eq!(s.by_principal[0].key, "alice");
    assert!(s.by_service.len() >= 2, "{s:?}");
    assert!(!s.write_actions.is_empty());
    // Alice's AccessDenied calls are listed one by one.
    assert!(!s.failures.is_empty(), "{s:?}");
    assert!(
        s.failures
            .iter()
            .all(|f| f.principal.as_deref() == Some("alice"))
    );
    assert!(
        s.failures
            .iter()
            .any(|f| f.error_code.as_deref() == Some("AccessDenied")),
        "{s:?}"
    );
    assert!(s.first_seen <= s.last_seen && s.first_seen.is_some());

    // A small cap is reported as hit.
    let capped = call_ok(
        &client,
        "summarize_activity",
        json!({"start_time": "7d ago", "max_events": 10}),
    )
    .await;
    assert_eq!(capped["scanned"], json!(10));
    assert_eq!(capped["hit_cap"], json!(true));
}

#[tokio::test]
async fn get_event_returns_the_raw_record() {
    let app = spawn_app().await;
    let client = client(&app).await;
    let page = call_ok(
        &client,
        "lookup_events",
        json!({"max_results": 1, "start_time": "2d ago", "detail": true}),
    )
    .await;
    let id = page["events"][0]["event_id"].as_str().unwrap().to_owned();
    let answer = call_ok(&client, "get_event", json!({"event_id": id})).await;
    assert_eq!(answer["event"]["eventID"], json!(id));
    assert!(answer["event"]["userIdentity"].is_object());
    assert_eq!(answer["truncated"], json!(false));

    let (is_error, text) = call(
        &client,
        "get_event",
        json!({"event_id": "00000000-0000-0000-0000-000000000000"}),
    )
    .await;
    assert!(is_error && text.contains("no event with id"), "{text}");
}

#[tokio::test]
async fn every_answer_fits_the_configured_budget() {
    let app = spawn_app_with(ToolSettings {
        redact_source_ip: false,
        max_response_bytes: 4_096,
        ..ToolSettings::default()
    })
    .await;
    let client = client(&app).await;
    let (is_error, text) = call(
        &client,
        "lookup_events",
        json!({"start_time": "7d ago", "max_results": 200, "detail": true}),
    )
    .await;
    assert!(!is_error, "{text}");
    assert!(text.len() <= 4_096, "{} bytes", text.len());
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["truncated"], json!(true));
    assert!(answer["note"].as_str().unwrap().contains("response limit"));
    let (is_error, text) = call(
        &client,
        "summarize_activity",
        json!({"start_time": "7d ago", "max_events": 5000}),
    )
    .await;
    assert!(!is_error, "{text}");
    assert!(text.len() <= 4_096, "{} bytes", text.len());
    let summary: ActivitySummary = serde_json::from_str(&text).unwrap();
    assert!(summary.truncated, "a week's lists do not fit in 4 KiB");
    assert!(
        summary.scanned > 1_000,
        "the counts stay whole: {}",
        summary.scanned
    );
}

#[tokio::test]
async fn a_client_budget_max_bytes_is_honoured_and_listed_in_every_schema() {
    let app = spawn_app().await;
    let client = client(&app).await;
    for tool in client.list_all_tools().await.unwrap() {
        let description = tool.input_schema["properties"]["max_bytes"]["description"]
            .as_str()
            .unwrap_or_else(|| panic!("{} does not offer max_bytes", tool.name))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(description.contains("never cut"), "{description}");
    }
    let week = json!({"start_time": "7d ago", "max_bytes": 8_192});
    let (is_error, text) = call(&client, "summarize_activity", week.clone()).await;
    assert!(!is_error, "{text}");
    assert!(text.len() <= 8_192, "{} bytes", text.len());
    let summary: ActivitySummary = serde_json::from_str(&text).unwrap();
    assert!(summary.truncated);
    let mut lookup = week;
    lookup["max_results"] = json!(200);
    lookup["detail"] = json!(true);
    let (is_error, text) = call(&client, "lookup_events", lookup).await;
    assert!(!is_error, "{text}");
    assert!(text.len() <= 8_192, "{} bytes", text.len());
    let page: LookupAnswer = serde_json::from_str(&text).unwrap();
    assert!(page.truncated && matches!(page.events, Events::Detailed(_)));
    let (is_error, text) = call(
        &client,
        "summarize_activity",
        json!({"start_time": "7d ago", "max_bytes": 100}),
    )
    .await;
    assert!(
        is_error && text.contains("`max_bytes` must be between 4096 and 1048576"),
        "{text}"
    );
}

#[tokio::test]
async fn the_summary_counts_every_event_of_the_window_exactly() {
    let app = spawn_app_with(ToolSettings {
        max_response_bytes: 1 << 20,
        ..ToolSettings::default()
    })
    .await;
    let client = client(&app).await;
    let now = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second()).unwrap();
    let window = json!({"start_time": (now - jiff::SignedDuration::from_hours(7 * 24)).to_string(),
                        "end_time": now.to_string()});
    // Every event of the week, page by page.
    let mut args = window.clone();
    args["max_results"] = json!(200);
    let mut page = call_ok(&client, "lookup_events", args).await;
    let (mut events, mut failed) = (0_u64, 0_u64);
    loop {
        let rows = expand(&page);
        events += rows.len() as u64;
        failed += rows.iter().filter(|r| !r["error"].is_null()).count() as u64;
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                page = call_ok(
                    &client,
                    "lookup_events",
                    json!({"cursor": cursor, "max_results": 200}),
                )
                .await
            }
            None => break,
        }
    }
    assert!(events > 1_000, "a busy week: {events}");
    let (is_error, text) = call(&client, "summarize_activity", window).await;
    assert!(!is_error, "{text}");
    let summary: ActivitySummary = serde_json::from_str(&text).unwrap();
    assert!(!summary.hit_cap, "{:?}", summary.note);
    assert_eq!(summary.scanned, events);
    assert_eq!(summary.read_events + summary.write_events, events);
    assert_eq!(summary.failed_events, failed);
    assert_eq!(
        summary.by_error_code.iter().map(|c| c.count).sum::<u64>(),
        failed
    );
    assert_eq!(
        summary.failures.len() as u64 + summary.failures_omitted,
        failed
    );
}

#[tokio::test]
async fn source_ips_can_be_redacted_in_code() {
    let app = spawn_app_with(ToolSettings {
        redact_source_ip: true,
        max_response_bytes: 65_536,
        ..ToolSettings::default()
    })
    .await;
    let client = client(&app).await;
    let page = call_ok(
        &client,
        "lookup_events",
        json!({"start_time": "2d ago", "max_results": 200}),
    )
    .await;
    let events = expand(&page);
    assert!(!events.is_empty());
    for e in &events {
        // Every sample event has a source IP: a missing one is a failure, not "redacted".
        let ip = e["source_ip"]
            .as_str()
            .unwrap_or_else(|| panic!("no source IP: {e}"));
        assert!(ip == "[redacted]" || ip.ends_with("amazonaws.com"), "{ip}");
    }
    let s = call_ok(
        &client,
        "summarize_activity",
        json!({"start_time": "2d ago"}),
    )
    .await;
    assert!(
        !s["source_ips"].to_string().contains("203.0.113."),
        "{}",
        s["source_ips"]
    );
    let detailed = call_ok(
        &client,
        "lookup_events",
        json!({"start_time": "2d ago", "max_results": 1, "detail": true}),
    )
    .await;
    let ip = detailed["events"][0]["source_ip"].as_str().unwrap();
    assert!(ip == "[redacted]" || ip.ends_with("amazonaws.com"), "{ip}");
    let id = detailed["events"][0]["event_id"].as_str().unwrap();
    let full = call_ok(&client, "get_event", json!({"event_id": id})).await;
    let ip = full["event"]["sourceIPAddress"].as_str().unwrap();
    assert!(ip == "[redacted]" || ip.ends_with("amazonaws.com"), "{ip}");
}

#[tokio::test]
async fn lookup_answers_a_table_by_default_and_whole_events_with_detail() {
    let app = spawn_app().await;
    let client = client(&app).await;
    let args = json!({"start_time": "7d ago", "max_results": 50});
    let table = call_ok(&client, "lookup_events", args.clone()).await;
    let mut detailed_args = args;
    detailed_args["detail"] = json!(true);
    let detailed = call_ok(&client, "lookup_events", detailed_args).await;
    let rows = expand(&table);
    let objects = detailed["events"].as_array().unwrap();
    assert_eq!(rows.len(), 50);
    assert_eq!(objects.len(), 50);
    // The same events, in the same order, with the same facts.
    for (row, object) in rows.iter().zip(objects) {
        assert_eq!(row["event_time"], object["event_time"]);
        assert_eq!(row["event_name"], object["event_name"]);
        assert_eq!(row["principal"]["name"], object["principal"]["name"]);
        assert_eq!(row["source_ip"], object["source_ip"]);
        assert_eq!(row["error"]["code"], object["error_code"]);
        assert!(object["event_id"].is_string());
        assert!(row.get("event_id").is_none());
    }
    // Repeated principals are listed once.
    let principals = table["principals"].as_object().unwrap();
    assert!(principals.len() < 20, "{}", principals.len());
    // The table is a fraction of the detailed form.
    let (small, large) = (table.to_string().len(), detailed.to_string().len());
    assert!(
        small * 2 < large,
        "table {small} bytes, detailed {large} bytes"
    );
}
