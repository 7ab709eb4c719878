//! Bad input: tool errors (`isError: true`) for calls that ran and failed, JSON-RPC errors for
//! invalid calls, HTTP statuses for invalid requests. Nothing panics and nothing answers 5xx.

use serde_json::{Value, json};

use cloudtrail_mcp::cursor::{CursorCodec, CursorState};

use crate::helpers::{CURSOR_KEY, call, call_body, call_ok, client, raw_post, spawn_app};

#[tokio::test]
async fn tool_errors_name_the_field_and_what_is_expected() {
    let app = spawn_app().await;
    let client = client(&app).await;
    let cases = [
        (json!({"start_time": "last tuesday"}), "`start_time`"),
        (json!({"end_time": "2026-11-23T10:00:00"}), "no UTC offset"),
        (json!({"start_time": ""}), "`start_time` is empty"),
        (
            json!({"start_time": "now", "end_time": "1h ago"}),
            "is after `end_time`",
        ),
        (json!({"timezone": "Tokyo"}), "`timezone`"),
        (json!({"attribute_key": "Username"}), "go together"),
        (json!({"attribute_value": "alice"}), "go together"),
        (
            json!({"attribute_key": "ReadOnly", "attribute_value": "maybe"}),
            "`true` or `false`",
        ),
        (
            json!({"max_results": 0}),
            "`max_results` must be between 1 and 200; got 0",
        ),
        (
            json!({"max_results": 201}),
            "`max_results` must be between 1 and 200; got 201",
        ),
        (
            json!({"cursor": "not-a-cursor"}),
            "`cursor` is not a cursor this server issued",
        ),
    ];
    for (arguments, expected) in cases {
        let (is_error, text) = call(&client, "lookup_events", arguments.clone()).await;
        assert!(is_error, "{arguments} should be a tool error, got {text}");
        assert!(
            text.contains(expected),
            "{arguments}: expected `{expected}` in: {text}"
        );
    }
    let (is_error, text) = call(
        &client,
        "summarize_activity",
        json!({"max_events": 100_001}),
    )
    .await;
    assert!(
        is_error && text.contains("`max_events` must be between 1 and 100000"),
        "{text}"
    );
    let (is_error, text) = call(&client, "get_event", json!({"event_id": "  "})).await;
    assert!(
        is_error && text.contains("`event_id` must not be empty"),
        "{text}"
    );
}

#[tokio::test]
async fn tampered_foreign_and_mixed_cursors_are_refused() {
    let app = spawn_app().await;
    let client = client(&app).await;
    let page = call_ok(
        &client,
        "lookup_events",
        json!({"start_time": "7d ago", "max_results": 3}),
    )
    .await;
    let cursor = page["next_cursor"].as_str().expect("more pages").to_owned();

    // One character changed in the payload.
    let mut tampered = cursor.clone().into_bytes();
    tampered[10] = if tampered[10] == b'A' { b'B' } else { b'A' };
    let (is_error, text) = call(
        &client,
        "lookup_events",
        json!({"cursor": String::from_utf8(tampered).unwrap()}),
    )
    .await;
    assert!(
        is_error && text.contains("malformed or was modified"),
        "{text}"
    );

    // A valid cursor of another source.
    let foreign = CursorCodec::new(CURSOR_KEY).encode(&CursorState {
        source: "api:eu-west-1".into(),
        start: "2026-11-01T00:00:00Z".parse().unwrap(),
        end: "2026-11-02T00:00:00Z".parse().unwrap(),
        filter: None,
        next_token: "x".into(),
        scope: Default::default(),
    });
    let (is_error, text) = call(&client, "lookup_events", json!({"cursor": foreign})).await;
    assert!(
        is_error && text.contains("another event source (api:eu-west-1)"),
        "{text}"
    );

    // The cursor must come alone.
    let (is_error, text) = call(
        &client,
        "lookup_events",
        json!({"cursor": cursor, "start_time": "1h ago"}),
    )
    .await;
    assert!(is_error && text.contains("without `start_time`"), "{text}");
}

async fn rpc_error(app: &crate::helpers::TestApp, body: String) -> (reqwest::StatusCode, Value) {
    let response = raw_post(app, body).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (status, body)
}

#[tokio::test]
async fn tools_call_works_without_initialize() {
    let app = spawn_app().await;
    let response = raw_post(&app, call_body("lookup_events", json!({"max_results": 1}))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(
        response.headers().get("mcp-session-id").is_none(),
        "stateless: no session id"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], json!(7));
    assert_ne!(body["result"]["isError"], json!(true));
    let text = body["result"]["content"][0]["text"].as_str().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(text).unwrap()["returned"],
        json!(1)
    );
}

#[tokio::test]
async fn invalid_calls_are_json_rpc_errors_naming_the_problem() {
    let app = spawn_app().await;
    let cases = [
        (
            call_body("drop_table", json!({})),
            "unknown tool `drop_table`",
        ),
        (
            call_body("lookup_events", json!({"max_results": "ten"})),
            "`max_results`",
        ),
        (
            call_body("lookup_events", json!({"max_results": -1})),
            "`max_results`",
        ),
        (
            call_body(
                "lookup_events",
                json!({"attribute_key": "UserName", "attribute_value": "a"}),
            ),
            "`attribute_key`",
        ),
        (
            call_body("lookup_events", json!({"username": "alice"})),
            "no argument `username`",
        ),
        (call_body("get_event", json!({})), "event_id"),
    ];
    for (body, expected) in cases {
        let (status, answer) = rpc_error(&app, body.clone()).await;
        assert!(
            status.is_client_error() || status == 200,
            "{status} for {body}"
        );
        let message = answer["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no error for {body}: {answer}"));
        assert!(
            message.contains(expected),
            "{body}: expected `{expected}` in: {message}"
        );
        assert_eq!(answer["error"]["code"], json!(-32602), "{answer}");
    }
    let (status, answer) =
        rpc_error(&app, "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\":".into()).await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"]["code"], json!(-32700), "{answer}");
    let (status, answer) = rpc_error(
        &app,
        json!({"jsonrpc": "2.0", "id": 1, "params": {}}).to_string(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"]["code"], json!(-32600), "{answer}");
    let (_, answer) = rpc_error(
        &app,
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/explode"}).to_string(),
    )
    .await;
    assert_eq!(answer["error"]["code"], json!(-32601), "{answer}");
}

/// rmcp parses a `tools/call` whose params do not fit `CallToolRequestParams` as a custom
/// request and answers "method not found"; the method exists, so it must be invalid params
/// naming the field, with the request's id.
#[tokio::test]
async fn malformed_tools_call_params_are_invalid_params_naming_the_field() {
    let app = spawn_app().await;
    let request = |params: Option<Value>| {
        let mut body = json!({"jsonrpc": "2.0", "id": 11, "method": "tools/call"});
        if let Some(params) = params {
            body["params"] = params;
        }
        body.to_string()
    };
    let cases = [
        (request(None), "params are required"),
        (request(Some(Value::Null)), "params are required"),
        (
            request(Some(json!(["lookup_events"]))),
            "params must be an object; got an array",
        ),
        (request(Some(json!({}))), "params.name is required"),
        (
            request(Some(json!({"name": 5, "arguments": {}}))),
            "params.name must be a string; got a number",
        ),
        (
            request(Some(json!({"name": "lookup_events", "arguments": [1, 2]}))),
            "params.arguments must be an object; got an array",
        ),
        (
            request(Some(json!({"name": "lookup_events", "arguments": "{}"}))),
            "params.arguments must be an object; got a string",
        ),
        (
            request(Some(json!({"name": "lookup_events", "_meta": 3}))),
            "params._meta",
        ),
    ];
    for (body, expected) in cases {
        let (status, answer) = rpc_error(&app, body.clone()).await;
        assert_eq!(status, 200, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], json!(-32602), "{body}: {answer}");
        assert_eq!(answer["id"], json!(11), "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(expected),
            "{body}: expected `{expected}` in: {message}"
        );
    }
    // Well-formed calls are untouched: `arguments` may be left out or null.
    for params in [
        json!({"name": "lookup_events"}),
        json!({"name": "lookup_events", "arguments": null}),
    ] {
        let response = raw_post(&app, request(Some(params.clone()))).await;
        let answer: Value = response.json().await.unwrap();
        assert!(answer["result"]["content"].is_array(), "{params}: {answer}");
    }
    // Other methods keep their own answers: unknown ones are still "method not found".
    let (_, answer) = rpc_error(
        &app,
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/calls", "params": {"name": 5}})
            .to_string(),
    )
    .await;
    assert_eq!(answer["error"]["code"], json!(-32601), "{answer}");
}

#[tokio::test]
async fn http_level_checks() {
    let app = spawn_app().await;
    let http = reqwest::Client::new();
    let get = http
        .get(&app.url)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);

    let wrong_accept = http
        .post(&app.url)
        .header("content-type", "application/json")
        .header("accept", "text/html")
        .body(call_body("lookup_events", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_accept.status(), 406);

    let wrong_type = http
        .post(&app.url)
        .header("content-type", "text/plain")
        .header("accept", "application/json, text/event-stream")
        .body(call_body("lookup_events", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), 415);

    let huge = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{{\"pad\":\"{}\"}}}}",
        "x".repeat(1024 * 1024 + 10)
    );
    assert_eq!(raw_post(&app, huge).await.status(), 413);

    let rebinding = http
        .post(&app.url)
        .header("host", "attacker.example")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(call_body("lookup_events", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(rebinding.status(), 403);

    let health = http
        .get(format!("http://{}/healthz", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}
