//! The typed events a run emits, in the order the browser receives them as Server-Sent Events.
//! The JSON shapes are the contract in `docs/interfaces.md`.

use serde::Serialize;
use serde_json::Value;

use crate::conversation::Usage;
use crate::evidence::{Citation, RefMap};
use crate::suggestions::Suggestion;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunEnd {
    EndTurn,
    Stopped,
    Limit,
    Error,
}

/// The outcome of one tool call as shown on its card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolStatus {
    Ok,
    Error,
    Cancelled,
}

/// Kinds of progress notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusKind {
    Thinking,
    Throttled,
    Trimmed,
}

/// Kinds of errors shown as banners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Throttled,
    AccessDenied,
    McpUnavailable,
    Limit,
    Model,
    Internal,
}

/// One event of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum AgentEvent {
    Status {
        kind: StatusKind,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_in_secs: Option<u64>,
    },
    Text {
        delta: String,
    },
    ToolStart {
        id: String,
        name: String,
        input: Value,
    },
    ToolEnd {
        id: String,
        name: String,
        status: ToolStatus,
        duration_ms: u64,
        output: String,
        /// The result's refs -> full event ids (see [`crate::evidence`]); omitted when empty.
        #[serde(skip_serializing_if = "RefMap::is_empty")]
        refs: RefMap,
    },
    /// The citations of one model turn's text, checked against the refs the chat's tools
    /// returned; sent when the turn's text is complete and cites at least one ref.
    Citations {
        refs: Vec<Citation>,
    },
    /// Follow-up questions computed from the run's tool results, sent before `done`.
    Suggestions {
        items: Vec<Suggestion>,
    },
    Error {
        kind: ErrorKind,
        message: String,
    },
    Done {
        stop_reason: RunEnd,
        usage: Usage,
    },
}

impl AgentEvent {
    /// The SSE `event:` name.
    pub fn name(&self) -> &'static str {
        match self {
            AgentEvent::Status { .. } => "status",
            AgentEvent::Text { .. } => "text",
            AgentEvent::ToolStart { .. } => "tool_start",
            AgentEvent::ToolEnd { .. } => "tool_end",
            AgentEvent::Citations { .. } => "citations",
            AgentEvent::Suggestions { .. } => "suggestions",
            AgentEvent::Error { .. } => "error",
            AgentEvent::Done { .. } => "done",
        }
    }

    /// The SSE `data:` payload: the event's fields as one JSON object.
    pub fn data(&self) -> Value {
        match serde_json::to_value(self) {
            Ok(Value::Object(mut map)) => map.remove("data").unwrap_or(Value::Null),
            _ => Value::Null,
        }
    }
}
