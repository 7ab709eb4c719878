//! What `GET /api/session` keeps of an answer: the text of separate model turns stays apart, and
//! text written before a tool call stays before its card (the page renders `parts` in order).

use std::sync::Arc;
use std::time::Duration;

use agent::testing::{Behaviour, MemoryTools, ScriptedModel, Step};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn text_of_separate_model_turns_stays_apart_and_before_the_card() {
    let steps = vec![
        // One turn: text, then a tool call.
        Step::Reply {
            chunks: vec!["Let me ".into(), "look that up.".into()],
            tool_uses: vec![(
                "t1".into(),
                "summarize_activity".into(),
                json!({"attribute_value": "alice"}),
            )],
            delay: Duration::ZERO,
        },
        // The next turn, with the tool's result.
        Step::text("Alice was busy…"),
    ];
    let tools = Arc::new(MemoryTools::new(&[(
        "summarize_activity",
        Behaviour::Answer("{\"events\": 3}".into()),
    )]));
    // The offline options for the rest (limits, sessions...), so new options need no edit here.
    let agent = spawn_agent(AgentOptions {
        model: Arc::new(ScriptedModel::new(steps)),
        ..AgentOptions::offline(tools, 0)
    })
    .await;
    let (cookie, events) = agent.ask(None, "what did alice do?").await;
    assert_eq!(events.last().unwrap().data["stop_reason"], "end_turn");

    let session = agent.session(&cookie).await;
    let answer = &session["messages"][1];
    assert_eq!(answer["role"], "assistant");
    assert_eq!(
        answer["text"], "Let me look that up.\n\nAlice was busy…",
        "two model turns are two paragraphs, not one glued sentence"
    );
    assert_eq!(
        answer["parts"],
        json!([
            {"type": "text", "text": "Let me look that up."},
            {"type": "tool", "id": "t1"},
            {"type": "text", "text": "Alice was busy…"},
        ]),
        "the text before the call comes before its card"
    );
    assert_eq!(answer["tools"][0]["id"], "t1");
    assert_eq!(answer["tools"][0]["status"], "ok");
    assert_eq!(session["messages"][0]["text"], "what did alice do?");
    assert!(session["messages"][0].get("parts").is_none());
}
