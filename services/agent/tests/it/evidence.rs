//! Evidence end to end, the real agent API over the real cloudtrail-mcp (built-in sample): an
//! offline answer cites refs the `citations` event marks known; a model's invented ref is
//! marked unknown in the stream and after a reload; `GET /api/events/{ref}` answers the event
//! to the chat's owner only; `GET /api/report.md` holds the evidence.

use std::sync::Arc;

use agent::allow::AllowList;
use agent::evidence::event_ref;
use agent::testing::{ScriptedModel, Step};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::signin::{Alb, claims};

/// The `citations` events of a stream.
fn citations(events: &[Sse]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e.event == "citations")
        .flat_map(|e| e.data["refs"].as_array().cloned().unwrap_or_default())
        .collect()
}

async fn get(agent: &AgentApp, path: &str, cookie: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = agent
        .http
        .get(format!("{}{path}", agent.base))
        .header("cookie", cookie);
    if let Some(token) = token {
        request = request.header("x-amzn-oidc-data", token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn an_offline_answer_cites_known_events_that_open_for_the_owner_only_and_fill_the_report() {
    let mcp = spawn_mcp().await;
    let alb = Alb::start().await;
    let agent = spawn_agent(AgentOptions {
        sign_in: alb.sign_in(AllowList::new(&["example.com".into()], &[], "groups")),
        ..AgentOptions::offline(Arc::new(toolbox(&[&mcp.url], "")), 0)
    })
    .await;
    let alice = alb.token(claims("u-alice", "alice@example.com"));
    let bob = alb.token(claims("u-bob", "bob@example.com"));
    let response = agent
        .http
        .post(format!("{}/api/chat", agent.base))
        .header("x-amzn-oidc-data", &alice)
        .json(&json!({"message": "what did alice do yesterday?", "timezone": "Asia/Tokyo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cookie = cookie_of(&response).unwrap();
    let events = parse_sse(&response.text().await.unwrap());
    let answer = text_of(&events);

    // The answer cites; every citation is a ref the tool returned, with its full id.
    let cited = citations(&events);
    assert!(!cited.is_empty(), "no citations event: {answer}");
    for citation in &cited {
        let r = citation["ref"].as_str().unwrap();
        assert!(answer.contains(&format!("[ev:{r}]")), "{r} not in {answer}");
        assert_eq!(citation["known"], true, "{citation}");
        let id = citation["event_id"].as_str().unwrap();
        assert_eq!(event_ref(id), r);
    }
    let tool_end = events.iter().find(|e| e.event == "tool_end").unwrap();
    let first = &cited[0];
    let (r, id) = (
        first["ref"].as_str().unwrap(),
        first["event_id"].as_str().unwrap(),
    );
    assert_eq!(
        tool_end.data["refs"][r], id,
        "the card carries the evidence"
    );
    let order = names(&events);
    assert!(
        order.iter().position(|e| *e == "citations") < order.iter().position(|e| *e == "done"),
        "{order:?}"
    );
    let suggestions = events
        .iter()
        .find(|e| e.event == "suggestions")
        .expect("suggestions");
    assert!(!suggestions.data["items"].as_array().unwrap().is_empty());

    // The event opens for its owner, through get_event.
    let opened = get(&agent, &format!("/api/events/{r}"), &cookie, Some(&alice)).await;
    assert_eq!(opened.status(), 200);
    let body: Value = opened.json().await.unwrap();
    assert_eq!(body["ref"], r);
    assert_eq!(body["event_id"], id);
    assert_eq!(body["event"]["eventID"], id, "{body}");
    // Another user with the same cookie has no such chat, so no such ref.
    let refused = get(&agent, &format!("/api/events/{r}"), &cookie, Some(&bob)).await;
    assert_eq!(refused.status(), 404);
    let error: Value = refused.json().await.unwrap();
    assert!(error["error"].as_str().unwrap().contains(r), "{error}");
    // A ref nobody returned is 404 for the owner too.
    let unknown = get(&agent, "/api/events/00000000", &cookie, Some(&alice)).await;
    assert_eq!(unknown.status(), 404);

    // The report downloads with the answer and its evidence.
    let report = get(&agent, "/api/report.md", &cookie, Some(&alice)).await;
    assert_eq!(report.status(), 200);
    let disposition = report.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"cloudtrail-report-"),
        "{disposition}"
    );
    let report = report.text().await.unwrap();
    assert!(
        report.contains("### 1. what did alice do yesterday?"),
        "{report}"
    );
    assert!(report.contains(&format!("[ev:{r}]")));
    let row = report
        .lines()
        .find(|l| l.starts_with(&format!("| `{r}` |")))
        .unwrap_or_else(|| panic!("no evidence row for {r}:\n{report}"));
    assert!(row.contains(id), "{row}");
    assert!(
        report.contains("| 1 | 1 | summarize\\_activity |"),
        "{report}"
    );
    assert!(report.contains("Username = alice"), "{report}");
    assert!(report.contains("Only these windows were searched"));
    // Bob's report of that cookie is empty.
    let his = get(&agent, "/api/report.md", &cookie, Some(&bob)).await;
    assert!(his.text().await.unwrap().contains("no questions yet"));
}

#[tokio::test]
async fn an_invented_ref_is_marked_unknown_in_the_stream_and_after_reload() {
    let mcp = spawn_mcp().await;
    let now = jiff::Timestamp::now();
    let start = now
        .checked_sub(jiff::SignedDuration::from_hours(24))
        .unwrap();
    let model = ScriptedModel::new(vec![
        Step::tools(&[(
            "t1",
            "summarize_activity",
            json!({"start_time": start.to_string(), "end_time": now.to_string()}),
        )]),
        Step::text("Root deleted the trail [ev:deadbeef]."),
    ]);
    let agent = spawn_agent(AgentOptions {
        model: Arc::new(model),
        ..AgentOptions::offline(Arc::new(toolbox(&[&mcp.url], "")), 0)
    })
    .await;
    let (cookie, events) = agent.ask(None, "who stopped the trail?").await;
    assert_eq!(
        citations(&events),
        [json!({"ref": "deadbeef", "event_id": null, "known": false})]
    );
    // The stored answer keeps the same marks on its text part.
    let session = agent.session(&cookie).await;
    let parts = session["messages"][1]["parts"].as_array().unwrap();
    let text = parts.iter().rev().find(|p| p["type"] == "text").unwrap();
    assert_eq!(text["text"], "Root deleted the trail [ev:deadbeef].");
    assert_eq!(
        text["citations"],
        json!([{"ref": "deadbeef", "event_id": null, "known": false}])
    );
    // Nothing to open, and the report says the citation is not evidence.
    assert_eq!(
        get(&agent, "/api/events/deadbeef", &cookie, None)
            .await
            .status(),
        404
    );
    let report = get(&agent, "/api/report.md", &cookie, None)
        .await
        .text()
        .await
        .unwrap();
    assert!(report.contains("| `deadbeef` | **unknown"), "{report}");
    assert!(
        report.contains("Answer 1 cites `[ev:deadbeef]`"),
        "{report}"
    );
}
