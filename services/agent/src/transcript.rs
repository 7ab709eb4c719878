//! What the chat shows: the conversation as the page renders it (user text, assistant text,
//! tool cards, errors), rebuilt from a run's events so a reload restores the chat. Kept apart
//! from the model history, which holds what Bedrock needs rather than what the user saw.

use serde::Serialize;
use serde_json::Value;

use crate::conversation::Role;
use crate::events::{AgentEvent, ToolStatus};

/// One tool card.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolCard {
    pub id: String,
    pub name: String,
    pub input: Value,
    /// `None` while the call runs.
    pub status: Option<ToolStatus>,
    pub output: String,
    pub duration_ms: u64,
}

/// One message as shown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShownMessage {
    pub role: Role,
    pub text: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolCard>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl ShownMessage {
    fn new(role: Role, text: String) -> Self {
        Self {
            role,
            text,
            tools: Vec::new(),
            errors: Vec::new(),
        }
    }

    fn bytes(&self) -> usize {
        self.text.len()
            + self
                .tools
                .iter()
                .map(|t| t.output.len() + t.input.to_string().len() + 64)
                .sum::<usize>()
            + self.errors.iter().map(String::len).sum::<usize>()
    }
}

/// The shown conversation.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(transparent)]
pub struct Transcript {
    messages: Vec<ShownMessage>,
}

impl Transcript {
    /// Starts a run: the user's message and an empty answer that events fill in.
    pub fn begin(&mut self, question: &str) {
        self.messages
            .push(ShownMessage::new(Role::User, question.to_owned()));
        self.messages
            .push(ShownMessage::new(Role::Assistant, String::new()));
    }

    /// Applies one event of the running answer.
    pub fn apply(&mut self, event: &AgentEvent) {
        let Some(answer) = self.messages.last_mut() else {
            return;
        };
        match event {
            AgentEvent::Text { delta } => answer.text.push_str(delta),
            AgentEvent::ToolStart { id, name, input } => answer.tools.push(ToolCard {
                id: id.clone(),
                name: name.clone(),
                input: input.clone(),
                status: None,
                output: String::new(),
                duration_ms: 0,
            }),
            AgentEvent::ToolEnd {
                id,
                status,
                duration_ms,
                output,
                ..
            } => {
                if let Some(card) = answer.tools.iter_mut().find(|c| &c.id == id) {
                    card.status = Some(*status);
                    card.duration_ms = *duration_ms;
                    card.output.clone_from(output);
                }
            }
            AgentEvent::Error { message, .. } => answer.errors.push(message.clone()),
            AgentEvent::Status { .. } | AgentEvent::Done { .. } => {}
        }
    }

    /// Marks cards still running as cancelled (a run that ended without finishing them).
    pub fn close(&mut self) {
        if let Some(answer) = self.messages.last_mut() {
            for card in answer.tools.iter_mut().filter(|c| c.status.is_none()) {
                card.status = Some(ToolStatus::Cancelled);
            }
        }
    }

    /// Drops the oldest exchanges until the transcript is at most `max_bytes`; returns bytes kept.
    pub fn bound(&mut self, max_bytes: usize) -> usize {
        let mut total: usize = self.messages.iter().map(ShownMessage::bytes).sum();
        while total > max_bytes && self.messages.len() > 2 {
            let removed: usize = self.messages.drain(..2).map(|m| m.bytes()).sum();
            total -= removed;
        }
        total
    }

    pub fn messages(&self) -> &[ShownMessage] {
        &self.messages
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn events_build_cards_and_text() {
        let mut t = Transcript::default();
        t.begin("what did alice do?");
        t.apply(&AgentEvent::Text {
            delta: "Look".into(),
        });
        t.apply(&AgentEvent::ToolStart {
            id: "1".into(),
            name: "summarize_activity".into(),
            input: json!({"a": 1}),
        });
        t.apply(&AgentEvent::ToolStart {
            id: "2".into(),
            name: "lookup_events".into(),
            input: json!({}),
        });
        t.apply(&AgentEvent::ToolEnd {
            id: "1".into(),
            name: "summarize_activity".into(),
            status: ToolStatus::Ok,
            duration_ms: 12,
            output: "{}".into(),
        });
        t.apply(&AgentEvent::Text {
            delta: "ing".into(),
        });
        t.close();
        let answer = &t.messages()[1];
        assert_eq!(answer.text, "Looking");
        assert_eq!(answer.tools[0].status, Some(ToolStatus::Ok));
        assert_eq!(answer.tools[0].duration_ms, 12);
        assert_eq!(answer.tools[1].status, Some(ToolStatus::Cancelled));
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json[0]["role"], "user");
        assert_eq!(json[1]["tools"][0]["status"], "ok");
    }

    #[test]
    fn bounding_drops_whole_exchanges() {
        let mut t = Transcript::default();
        for i in 0..10 {
            t.begin(&format!("q{i}"));
            t.apply(&AgentEvent::Text {
                delta: "x".repeat(100),
            });
        }
        let kept = t.bound(450);
        assert!(kept <= 450);
        assert_eq!(t.messages().len() % 2, 0);
        assert_eq!(t.messages().last().unwrap().text.len(), 100);
        assert_eq!(t.messages()[0].text, "q6");
    }
}
