//! The streaming chat API end to end over HTTP: event order, the transcript on reload, 409 on a
//! concurrent request, stop, reset, bad input, limits, and an MCP server that goes down.

use std::sync::Arc;

use agent::agent::Limits;
use agent::testing::{Behaviour, MemoryTools, ScriptedModel, Step};
use futures::StreamExt;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn offline_question_streams_text_tool_cards_and_done_in_order() {
    let mcp = spawn_mcp().await;
    let agent = spawn_agent(AgentOptions::offline(Arc::new(toolbox(&[&mcp.url], "")), 0)).await;
    let response = agent
        .post_chat(
            None,
            json!({"message": "what did alice do yesterday?", "timezone": "Asia/Tokyo"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    let cookie = cookie_of(&response).unwrap();
    let events = parse_sse(&response.text().await.unwrap());
    let order = names(&events);
    let start = order
        .iter()
        .position(|e| *e == "tool_start")
        .expect("a tool card");
    let end = order.iter().position(|e| *e == "tool_end").unwrap();
    assert!(order[0] == "text" && start < end, "{order:?}");
    assert_eq!(order.last(), Some(&"done"));
    assert_eq!(events[end].data["status"], "ok");
    assert_eq!(events[start].data["name"], "summarize_activity");
    assert_eq!(events[start].data["input"]["attribute_value"], "alice");
    let answer = text_of(&events);
    assert!(answer.contains("**alice** made"), "{answer}");
    assert!(answer.contains("CreateBucket"), "{answer}");
    assert_eq!(events.last().unwrap().data["stop_reason"], "end_turn");

    // A reload gets the same conversation back.
    let session = agent.session(&cookie).await;
    assert_eq!(session["model"]["kind"], "offline");
    assert_eq!(session["running"], false);
    let messages = session["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["text"], "what did alice do yesterday?");
    assert_eq!(messages[1]["tools"][0]["status"], "ok");
    assert_eq!(messages[1]["text"], answer);

    // Japanese question, same session: answered in Japanese.
    let (_, events) = agent.ask(Some(&cookie), "昨日aliceは何をした？").await;
    assert!(
        text_of(&events).contains("**alice** のイベントは"),
        "{}",
        text_of(&events)
    );
    assert_eq!(
        agent.session(&cookie).await["messages"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

#[tokio::test]
async fn second_request_gets_409_stop_ends_the_run_and_the_next_question_works() {
    let mcp = spawn_mcp().await;
    let agent = spawn_agent(AgentOptions::offline(
        Arc::new(toolbox(&[&mcp.url], "")),
        150,
    ))
    .await;
    let first = agent
        .post_chat(None, json!({"message": "what did alice do yesterday?"}))
        .await;
    let cookie = cookie_of(&first).unwrap();
    let mut stream = first.bytes_stream();
    // Wait until the answer is under way.
    let mut seen = String::new();
    while !seen.contains("event: text") {
        seen.push_str(&String::from_utf8_lossy(
            &stream.next().await.unwrap().unwrap(),
        ));
    }
    let busy = agent
        .post_chat(Some(&cookie), json!({"message": "again"}))
        .await;
    assert_eq!(busy.status(), 409);
    let error: serde_json::Value = busy.json().await.unwrap();
    assert!(
        error["error"].as_str().unwrap().contains("already running"),
        "{error}"
    );
    assert_eq!(agent.session(&cookie).await["running"], true);

    let stopped: serde_json::Value = agent
        .post("/api/chat/stop", &cookie)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stopped["stopped"], true);
    while let Some(chunk) = stream.next().await {
        seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    let events = parse_sse(&seen);
    assert_eq!(events.last().unwrap().event, "done");
    assert_eq!(events.last().unwrap().data["stop_reason"], "stopped");

    let (_, events) = agent.ask(Some(&cookie), "who deleted bob-old-logs?").await;
    assert_eq!(events.last().unwrap().data["stop_reason"], "end_turn");
    assert!(
        text_of(&events).contains("DeleteBucket"),
        "{}",
        text_of(&events)
    );
    // Nothing to stop now.
    let stopped: serde_json::Value = agent
        .post("/api/chat/stop", &cookie)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stopped["stopped"], false);
}

#[tokio::test]
async fn reset_clears_the_conversation() {
    let mcp = spawn_mcp().await;
    let agent = spawn_agent(AgentOptions::offline(Arc::new(toolbox(&[&mcp.url], "")), 0)).await;
    let (cookie, _) = agent.ask(None, "any console logins this week?").await;
    assert_eq!(
        agent.session(&cookie).await["messages"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        agent.post("/api/session/reset", &cookie).await.status(),
        204
    );
    assert!(
        agent.session(&cookie).await["messages"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(agent.sessions.is_empty());
}

#[tokio::test]
async fn bad_requests_are_refused_with_a_message_naming_the_problem() {
    let tools = Arc::new(MemoryTools::new(&[]));
    let agent = spawn_agent(AgentOptions::offline(tools, 0)).await;
    let cases = [
        (json!({"message": "   "}), "`message` is empty"),
        (json!({"message": "x".repeat(8001)}), "8001 characters"),
        (
            json!({"message": "hi", "timezone": "Mars/Olympus"}),
            "Mars/Olympus",
        ),
        (json!({"message": "hi", "extra": 1}), "extra"),
        (json!({"text": "hi"}), "message"),
    ];
    for (body, expected) in cases {
        let response = agent.post_chat(None, body.clone()).await;
        assert!(
            response.status().is_client_error(),
            "{body}: {}",
            response.status()
        );
        let error: serde_json::Value = response.json().await.unwrap();
        assert!(
            error["error"].as_str().unwrap().contains(expected),
            "{body}: {error}"
        );
    }
    let response = agent
        .http
        .post(format!("{}/api/chat", agent.base))
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    // Nothing was stored for refused requests.
    assert!(agent.sessions.is_empty());
}

#[tokio::test]
async fn limits_end_the_run_with_a_named_limit() {
    let steps = (0..5)
        .map(|i| Step::tools(&[(&format!("t{i}"), "probe", json!({}))]))
        .collect();
    let scripted = spawn_agent(AgentOptions {
        model: Arc::new(ScriptedModel::new(steps)),
        tools: Arc::new(MemoryTools::new(&[(
            "probe",
            Behaviour::Answer("{}".into()),
        )])),
        limits: Limits {
            max_model_calls: 2,
            ..Limits::default()
        },
        sessions: Default::default(),
        access: Default::default(),
        sign_in: Default::default(),
        server: Default::default(),
    })
    .await;
    let (_, events) = scripted.ask(None, "loop forever").await;
    let error = events
        .iter()
        .find(|e| e.event == "error")
        .expect("an error event");
    assert_eq!(error.data["kind"], "limit");
    assert!(
        error.data["message"]
            .as_str()
            .unwrap()
            .contains("model turns (2)")
    );
    assert_eq!(events.last().unwrap().data["stop_reason"], "limit");
    assert_eq!(events.iter().filter(|e| e.event == "tool_end").count(), 2);
}

#[tokio::test]
async fn a_server_that_goes_down_shows_on_the_tool_card_and_the_chat_goes_on() {
    let mut mcp = spawn_mcp().await;
    let agent = spawn_agent(AgentOptions::offline(Arc::new(toolbox(&[&mcp.url], "")), 0)).await;
    let (cookie, events) = agent.ask(None, "what did bob do yesterday?").await;
    assert!(
        events
            .iter()
            .any(|e| e.event == "tool_end" && e.data["status"] == "ok")
    );
    mcp.stop().await;

    let (_, events) = agent
        .ask(Some(&cookie), "what did alice do yesterday?")
        .await;
    let end = events
        .iter()
        .find(|e| e.event == "tool_end")
        .expect("a tool card");
    assert_eq!(end.data["status"], "error");
    assert!(
        end.data["output"].as_str().unwrap().contains("unavailable"),
        "{:?}",
        end.data
    );
    assert_eq!(events.last().unwrap().data["stop_reason"], "end_turn");
    assert!(text_of(&events).contains("error"), "{}", text_of(&events));

    // A server that was never reachable: reported, and the answer says the tool is missing.
    let lonely = spawn_agent(AgentOptions::offline(
        Arc::new(toolbox(&["http://127.0.0.1:9/mcp"], "")),
        0,
    ))
    .await;
    let (_, events) = lonely.ask(None, "what did alice do yesterday?").await;
    let error = events
        .iter()
        .find(|e| e.event == "error")
        .expect("an error event");
    assert_eq!(error.data["kind"], "mcp_unavailable");
    assert!(
        text_of(&events).contains("not available"),
        "{}",
        text_of(&events)
    );
    assert_eq!(events.last().unwrap().event, "done");
}

#[tokio::test]
async fn page_and_assets_are_served_with_a_strict_policy() {
    let agent = spawn_agent(AgentOptions::offline(Arc::new(MemoryTools::new(&[])), 0)).await;
    let page = agent.http.get(&agent.base).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    assert!(page.headers().contains_key("x-request-id"));
    let html = page.text().await.unwrap();
    assert!(
        html.contains("/assets/app.js") && !html.contains("<script>"),
        "inline script in page"
    );
    for asset in [
        "app.js",
        "i18n.js",
        "evidence.js",
        "chart.js",
        "results.js",
        "style.css",
        "vendor/markdown-it.min.js",
        "vendor/purify.min.js",
    ] {
        let response = agent
            .http
            .get(format!("{}/assets/{asset}", agent.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{asset}");
    }
    let missing = agent
        .http
        .get(format!("{}/assets/../Cargo.toml", agent.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        agent
            .http
            .get(format!("{}/healthz", agent.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok"
    );
}
