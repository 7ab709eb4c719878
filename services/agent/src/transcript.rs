//! What the chat shows: the conversation as the page renders it (user text, assistant text,
//! tool cards, errors), rebuilt from a run's events so a reload restores the chat. Kept apart
//! from the model history, which holds what Bedrock needs rather than what the user saw.
//!
//! An answer is a sequence of parts in the order they happened: the text of one model turn, then
//! the tool cards of its calls, then the next turn's text, and so on. A text delta continues the
//! current text part only if nothing but text came since; after a tool card or a status note it
//! starts a new part, so the text a model writes before a tool call stays before that call's card
//! and two model turns never run together. The page (`assets/app.js`) applies the same rule to the
//! live events, so a reload shows what the stream showed.

use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use crate::conversation::{Role, Usage};
use crate::events::{AgentEvent, ErrorKind, ToolStatus};
use crate::evidence::{Citation, RefMap};
use crate::metrics::RunStats;
use crate::suggestions::Suggestion;

/// One tool card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCard {
    pub id: String,
    pub name: String,
    pub input: Value,
    /// `None` while the call runs.
    pub status: Option<ToolStatus>,
    pub output: String,
    pub duration_ms: u64,
    /// The result's refs -> full event ids: the evidence this chat may cite.
    #[serde(default, skip_serializing_if = "RefMap::is_empty")]
    pub refs: RefMap,
}

/// An error shown in an answer: its kind lets the page word it for the user (an MCP server's
/// message names its internal URL, kept as the detail).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShownError {
    pub kind: ErrorKind,
    pub message: String,
}

/// One piece of a message, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    /// Text of one model turn (Markdown for an answer, plain text for a question), and the
    /// refs it cites, checked (`known: false` for a ref no tool of the chat returned).
    Text {
        text: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        citations: Vec<Citation>,
    },
    /// The tool card with this id (the card itself is in [`ShownMessage::tools`]).
    Tool { id: String },
}

/// One message as shown. Serialized as `{"role", "text", "parts"?, "tools"?, "errors"?}`:
/// `text` is all its text, the parts separated by a blank line; `parts` (answers only) gives the
/// order of text and tool cards; `errors` are `{"kind", "message"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ShownMessage {
    pub role: Role,
    pub parts: Vec<Part>,
    pub tools: Vec<ToolCard>,
    pub errors: Vec<ShownError>,
    /// Follow-up questions offered after the answer.
    pub suggestions: Vec<Suggestion>,
    /// What the answer cost (its `done` event's usage and stats), shown under it after a reload
    /// as under the live answer.
    pub usage: Option<Usage>,
    pub stats: Option<RunStats>,
    /// Whether the next text delta continues the last text part (nothing else came since).
    text_open: bool,
}

impl ShownMessage {
    fn new(role: Role, text: &str) -> Self {
        let parts = if text.is_empty() {
            Vec::new()
        } else {
            vec![Part::Text {
                text: text.to_owned(),
                citations: Vec::new(),
            }]
        };
        Self {
            role,
            text_open: !parts.is_empty(),
            parts,
            tools: Vec::new(),
            errors: Vec::new(),
            suggestions: Vec::new(),
            usage: None,
            stats: None,
        }
    }

    /// All the message's text; separate parts are separate paragraphs (joined by a blank line).
    pub fn text(&self) -> String {
        let mut out = String::new();
        for part in &self.parts {
            let Part::Text { text, .. } = part else {
                continue;
            };
            if !out.is_empty() && !out.ends_with("\n\n") {
                out.push_str(if out.ends_with('\n') { "\n" } else { "\n\n" });
            }
            out.push_str(text);
        }
        out
    }

    fn push_text(&mut self, delta: &str) {
        if delta.is_empty() {
            return;
        }
        match self.parts.last_mut() {
            Some(Part::Text { text, .. }) if self.text_open => text.push_str(delta),
            _ => self.parts.push(Part::Text {
                text: delta.to_owned(),
                citations: Vec::new(),
            }),
        }
        self.text_open = true;
    }

    fn bytes(&self) -> usize {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Text { text, citations } => text.len() + citations.len() * 64,
                Part::Tool { id } => id.len() + 16,
            })
            .sum::<usize>()
            + self
                .tools
                .iter()
                .map(|t| t.output.len() + t.input.to_string().len() + 64 + t.refs.len() * 56)
                .sum::<usize>()
            + self
                .errors
                .iter()
                .map(|e| e.message.len() + 16)
                .sum::<usize>()
            + if self.usage.is_some() { 160 } else { 0 }
    }
}

impl Serialize for ShownMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a> {
            role: Role,
            text: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            parts: Option<&'a [Part]>,
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            tools: &'a [ToolCard],
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            errors: &'a [ShownError],
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            suggestions: &'a [Suggestion],
            #[serde(skip_serializing_if = "Option::is_none")]
            usage: Option<&'a Usage>,
            #[serde(skip_serializing_if = "Option::is_none")]
            stats: Option<&'a RunStats>,
        }
        Wire {
            role: self.role,
            text: self.text(),
            parts: (self.role == Role::Assistant).then_some(self.parts.as_slice()),
            tools: &self.tools,
            errors: &self.errors,
            suggestions: &self.suggestions,
            usage: self.usage.as_ref(),
            stats: self.stats.as_ref(),
        }
        .serialize(serializer)
    }
}

/// A shown message as a store outside memory keeps it (the page's form, `text`, is derived).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredMessage {
    pub role: Role,
    #[serde(default)]
    pub parts: Vec<Part>,
    #[serde(default)]
    pub tools: Vec<ToolCard>,
    #[serde(default)]
    pub errors: Vec<ShownError>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<Suggestion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<RunStats>,
}

impl From<&ShownMessage> for StoredMessage {
    fn from(m: &ShownMessage) -> Self {
        Self {
            role: m.role,
            parts: m.parts.clone(),
            tools: m.tools.clone(),
            errors: m.errors.clone(),
            suggestions: m.suggestions.clone(),
            usage: m.usage,
            stats: m.stats,
        }
    }
}

impl From<StoredMessage> for ShownMessage {
    fn from(m: StoredMessage) -> Self {
        Self {
            role: m.role,
            parts: m.parts,
            tools: m.tools,
            errors: m.errors,
            suggestions: m.suggestions,
            usage: m.usage,
            stats: m.stats,
            text_open: false,
        }
    }
}

/// Every ref the tool cards of `messages` hold, with its full event id.
pub fn known_refs(messages: &[ShownMessage]) -> RefMap {
    messages
        .iter()
        .flat_map(|m| &m.tools)
        .flat_map(|card| card.refs.iter())
        .map(|(r, id)| (r.clone(), id.clone()))
        .collect()
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
        self.messages.push(ShownMessage::new(Role::User, question));
        self.messages.push(ShownMessage::new(Role::Assistant, ""));
    }

    /// Applies one event of the running answer.
    pub fn apply(&mut self, event: &AgentEvent) {
        let Some(answer) = self.messages.last_mut() else {
            return;
        };
        match event {
            AgentEvent::Text { delta } => answer.push_text(delta),
            AgentEvent::ToolStart { id, name, input } => {
                answer.text_open = false;
                answer.parts.push(Part::Tool { id: id.clone() });
                answer.tools.push(ToolCard {
                    id: id.clone(),
                    name: name.clone(),
                    input: input.clone(),
                    status: None,
                    output: String::new(),
                    duration_ms: 0,
                    refs: RefMap::new(),
                });
            }
            AgentEvent::ToolEnd {
                id,
                name,
                status,
                duration_ms,
                output,
                refs,
            } => {
                answer.text_open = false;
                match answer.tools.iter_mut().find(|c| &c.id == id) {
                    Some(card) => {
                        card.status = Some(*status);
                        card.duration_ms = *duration_ms;
                        card.output.clone_from(output);
                        card.refs.clone_from(refs);
                    }
                    // A call cancelled before it started has only its end: a card still (the
                    // page shows one too).
                    None => {
                        answer.parts.push(Part::Tool { id: id.clone() });
                        answer.tools.push(ToolCard {
                            id: id.clone(),
                            name: name.clone(),
                            input: Value::Object(Default::default()),
                            status: Some(*status),
                            output: output.clone(),
                            duration_ms: *duration_ms,
                            refs: refs.clone(),
                        });
                    }
                }
            }
            // A status note (thinking about tool results, throttled, trimmed) comes between
            // model turns: the next text is a new part.
            AgentEvent::Status { .. } => answer.text_open = false,
            AgentEvent::Error { kind, message } => answer.errors.push(ShownError {
                kind: *kind,
                message: message.clone(),
            }),
            // The checked citations of the turn whose text just ended: its last text part.
            AgentEvent::Citations { refs } => {
                answer.text_open = false;
                if let Some(Part::Text { citations, .. }) = answer
                    .parts
                    .iter_mut()
                    .rev()
                    .find(|p| matches!(p, Part::Text { .. }))
                {
                    citations.clone_from(refs);
                }
            }
            AgentEvent::Suggestions { items } => answer.suggestions.clone_from(items),
            AgentEvent::Done { usage, stats, .. } => {
                answer.usage = Some(*usage);
                answer.stats = Some(*stats);
            }
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

    /// The messages as stored.
    pub fn stored(&self) -> Vec<StoredMessage> {
        self.messages.iter().map(StoredMessage::from).collect()
    }

    /// A transcript of stored messages.
    pub fn from_stored(messages: Vec<StoredMessage>) -> Self {
        Self {
            messages: messages.into_iter().map(ShownMessage::from).collect(),
        }
    }

    /// Cuts every tool card's output to `max_chars` characters, saying so (a stored exchange
    /// must fit in one DynamoDB item).
    pub fn shorten_outputs(&mut self, max_chars: usize) {
        for card in self.messages.iter_mut().flat_map(|m| m.tools.iter_mut()) {
            if card.output.chars().count() > max_chars {
                let kept: String = card.output.chars().take(max_chars).collect();
                card.output = format!("{kept}… (output shortened to be stored)");
            }
        }
    }

    /// Every ref the chat's tools returned, with its full event id.
    pub fn refs(&self) -> RefMap {
        known_refs(&self.messages)
    }

    /// Total size, as counted for the bounds.
    pub fn bytes(&self) -> usize {
        self.messages.iter().map(ShownMessage::bytes).sum()
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
            refs: RefMap::new(),
        });
        t.apply(&AgentEvent::Text {
            delta: "Done".into(),
        });
        t.close();
        let answer = &t.messages()[1];
        assert_eq!(answer.text(), "Look\n\nDone");
        assert_eq!(answer.tools[0].status, Some(ToolStatus::Ok));
        assert_eq!(answer.tools[0].duration_ms, 12);
        assert_eq!(answer.tools[1].status, Some(ToolStatus::Cancelled));
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json[0]["role"], "user");
        assert_eq!(json[1]["tools"][0]["status"], "ok");
        assert!(
            json[0].get("parts").is_none(),
            "a question is just its text"
        );
    }

    #[test]
    fn the_answers_cost_is_kept_and_survives_the_store() {
        let mut t = Transcript::default();
        t.begin("what did alice do?");
        t.apply(&text("Nothing."));
        let usage = Usage {
            input_tokens: 120,
            output_tokens: 30,
            total_tokens: 1_150,
            cache_read_input_tokens: 1_000,
            cache_write_input_tokens: 0,
        };
        let stats = RunStats {
            model_calls: 2,
            tool_calls: 1,
            duration_ms: 900,
            cost_usd: Some(0.0012),
        };
        t.apply(&AgentEvent::Done {
            stop_reason: crate::events::RunEnd::EndTurn,
            usage,
            stats,
        });
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json[1]["usage"]["cache_read_input_tokens"], 1_000);
        assert_eq!(json[1]["stats"]["cost_usd"], 0.0012);
        assert!(json[0].get("usage").is_none(), "a question has no cost");
        let stored = serde_json::to_string(&t.stored()).unwrap();
        let back = Transcript::from_stored(serde_json::from_str(&stored).unwrap());
        assert_eq!(back.messages()[1].usage, Some(usage));
        assert_eq!(back.messages()[1].stats, Some(stats));
        // Messages stored before the cost was kept still load.
        let old: Vec<StoredMessage> =
            serde_json::from_str(r#"[{"role":"assistant","parts":[]}]"#).unwrap();
        assert_eq!(old[0].usage, None);
    }

    fn text(delta: &str) -> AgentEvent {
        AgentEvent::Text {
            delta: delta.into(),
        }
    }

    fn tool_start(id: &str) -> AgentEvent {
        AgentEvent::ToolStart {
            id: id.into(),
            name: "lookup_events".into(),
            input: json!({}),
        }
    }

    fn tool_end(id: &str, status: ToolStatus) -> AgentEvent {
        AgentEvent::ToolEnd {
            id: id.into(),
            name: "lookup_events".into(),
            status,
            duration_ms: 3,
            output: "{}".into(),
            refs: RefMap::new(),
        }
    }

    fn thinking() -> AgentEvent {
        AgentEvent::Status {
            kind: crate::events::StatusKind::Thinking,
            message: "reading the tool results".into(),
            retry_in_secs: None,
        }
    }

    #[test]
    fn text_before_a_tool_call_stays_before_its_card_and_turns_stay_apart() {
        let mut t = Transcript::default();
        t.begin("what did alice do?");
        for event in [
            text("Let me "),
            text("look that up."),
            tool_start("t1"),
            tool_end("t1", ToolStatus::Ok),
            thinking(),
            text("Alice was busy…"),
        ] {
            t.apply(&event);
        }
        let answer = &t.messages()[1];
        assert_eq!(
            answer.parts,
            [
                Part::Text {
                    text: "Let me look that up.".into(),
                    citations: vec![]
                },
                Part::Tool { id: "t1".into() },
                Part::Text {
                    text: "Alice was busy…".into(),
                    citations: vec![]
                },
            ]
        );
        assert_eq!(answer.text(), "Let me look that up.\n\nAlice was busy…");
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json[1]["text"], "Let me look that up.\n\nAlice was busy…");
        assert_eq!(
            json[1]["parts"],
            json!([
                {"type": "text", "text": "Let me look that up."},
                {"type": "tool", "id": "t1"},
                {"type": "text", "text": "Alice was busy…"},
            ])
        );
    }

    #[test]
    fn a_status_note_between_turns_separates_their_text() {
        let mut t = Transcript::default();
        t.begin("q");
        for event in [text("First turn."), thinking(), text("Second turn.")] {
            t.apply(&event);
        }
        assert_eq!(t.messages()[1].text(), "First turn.\n\nSecond turn.");
        assert_eq!(t.messages()[1].parts.len(), 2);
    }

    #[test]
    fn text_that_already_ends_a_paragraph_is_not_padded() {
        let mut t = Transcript::default();
        t.begin("q");
        for event in [
            text("Looking it up.\n\n"),
            tool_start("a"),
            tool_end("a", ToolStatus::Ok),
            text("One line\n"),
            tool_start("b"),
            tool_end("b", ToolStatus::Ok),
            text("Done."),
        ] {
            t.apply(&event);
        }
        assert_eq!(
            t.messages()[1].text(),
            "Looking it up.\n\nOne line\n\nDone."
        );
    }

    #[test]
    fn a_call_cancelled_before_it_started_still_gets_a_card() {
        let mut t = Transcript::default();
        t.begin("q");
        t.apply(&text("Two lookups."));
        t.apply(&tool_start("a"));
        t.apply(&tool_end("b", ToolStatus::Cancelled));
        t.close();
        let answer = &t.messages()[1];
        let ids: Vec<_> = answer.tools.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(answer.tools[1].status, Some(ToolStatus::Cancelled));
        assert_eq!(answer.parts.len(), 3);
    }

    #[test]
    fn errors_keep_their_kind() {
        let mut t = Transcript::default();
        t.begin("q");
        t.apply(&AgentEvent::Error {
            kind: crate::events::ErrorKind::McpUnavailable,
            message: "MCP server `a` is unavailable: cannot reach http://10.0.0.1/mcp".into(),
        });
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json[1]["errors"][0]["kind"], "mcp_unavailable");
        assert!(
            json[1]["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("10.0.0.1")
        );
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
        assert_eq!(t.messages().last().unwrap().text().len(), 100);
        assert_eq!(t.messages()[0].text(), "q6");
    }
}
