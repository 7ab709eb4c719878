//! The offline model: a deterministic planner with no LLM, for local runs, demos and tests
//! without AWS credentials. It reads the question ([`intent`]), calls one of the same MCP tools an
//! LLM would (with absolute times), and writes a short Markdown answer from the tool's JSON
//! ([`answer`]), streamed in chunks like a real model.

pub mod answer;
pub mod intent;

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use self::intent::{Intent, Lang, Topic};
use crate::conversation::{Block, Message, Role, Usage};
use crate::model::{Model, ModelError, ModelInfo, ModelRequest, ModelTurn, StopReason, TextSink};
use crate::tools::ToolSpec;

/// The offline planner. `chunk_delay` slows streaming down (demos, Stop tests).
#[derive(Debug, Default)]
pub struct OfflineModel {
    pub chunk_delay: Duration,
}

/// The MCP tools the planner knows, by their server-side names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolKind {
    Lookup,
    Summarize,
}

impl ToolKind {
    fn server_name(self) -> &'static str {
        match self {
            ToolKind::Lookup => "lookup_events",
            ToolKind::Summarize => "summarize_activity",
        }
    }

    /// Which known tool an offered (possibly prefixed) name is.
    pub fn of(name: &str) -> Option<Self> {
        [ToolKind::Lookup, ToolKind::Summarize]
            .into_iter()
            .find(|kind| name.ends_with(kind.server_name()))
    }
}

/// The tool call that answers `intent`.
pub fn plan(intent: &Intent) -> (ToolKind, Value) {
    let mut input = json!({
        "start_time": intent.start.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "end_time": intent.end.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    });
    let mut filter = |key: &str, value: &str| {
        input["attribute_key"] = json!(key);
        input["attribute_value"] = json!(value);
    };
    let kind = match &intent.topic {
        Topic::Activity { principal } => {
            filter("Username", principal);
            ToolKind::Summarize
        }
        Topic::Failures { principal } => {
            if let Some(principal) = principal {
                filter("Username", principal);
            }
            ToolKind::Summarize
        }
        Topic::WhoDid {
            resource: Some(resource),
            ..
        } => {
            filter("ResourceName", resource);
            detailed_lookup(&mut input);
            ToolKind::Lookup
        }
        Topic::ConsoleLogins => {
            filter("EventName", "ConsoleLogin");
            detailed_lookup(&mut input);
            ToolKind::Lookup
        }
        Topic::WhoDid { resource: None, .. } | Topic::Overview => ToolKind::Summarize,
    };
    (kind, input)
}

/// The planner reads whole event objects (`detail`), not the table an LLM gets by default.
fn detailed_lookup(input: &mut Value) {
    input["max_results"] = json!(50);
    input["detail"] = json!(true);
}

fn last_question(messages: &[Message]) -> &str {
    messages
        .iter()
        .rev()
        .filter(|m| m.role == Role::User)
        .find_map(|m| {
            m.content.iter().find_map(|b| match b {
                Block::Text { text } => Some(text.as_str()),
                _ => None,
            })
        })
        .unwrap_or("")
}

fn find_tool(tools: &[ToolSpec], kind: ToolKind) -> Option<&ToolSpec> {
    tools
        .iter()
        .find(|t| t.name == kind.server_name())
        .or_else(|| tools.iter().find(|t| ToolKind::of(&t.name) == Some(kind)))
}

/// The tool use the last assistant message made and the result that answered it, if the
/// conversation is waiting for an answer to tool results.
fn pending_result(messages: &[Message]) -> Option<(&str, &str, bool)> {
    let [.., asked, answered] = messages else {
        return None;
    };
    if asked.role != Role::Assistant || answered.role != Role::User {
        return None;
    }
    let (id, name, _) = asked.tool_uses().next()?;
    answered.content.iter().find_map(|b| match b {
        Block::ToolResult {
            id: rid,
            text,
            is_error,
        } if rid == id => Some((name, text.as_str(), *is_error)),
        _ => None,
    })
}

impl OfflineModel {
    async fn stream(&self, text: &str, on_text: TextSink<'_>) {
        for chunk in text.split_inclusive('\n') {
            if !self.chunk_delay.is_zero() {
                tokio::time::sleep(self.chunk_delay).await;
            }
            on_text(chunk);
        }
    }
}

#[async_trait]
impl Model for OfflineModel {
    fn info(&self) -> ModelInfo {
        ModelInfo {
            kind: "offline",
            id: "offline planner (no LLM)".into(),
        }
    }

    async fn converse(
        &self,
        request: &ModelRequest<'_>,
        on_text: TextSink<'_>,
    ) -> Result<ModelTurn, ModelError> {
        let intent = intent::parse(
            last_question(request.messages),
            request.now,
            request.timezone,
        );
        let reply = |text: String, stop| ModelTurn {
            content: vec![Block::Text { text }],
            stop,
            usage: Usage::default(),
        };
        if let Some((name, result, is_error)) = pending_result(request.messages) {
            let kind = ToolKind::of(name).unwrap_or(ToolKind::Summarize);
            let text = answer::compose(&intent, kind, result, is_error, request.timezone);
            self.stream(&text, on_text).await;
            return Ok(reply(text, StopReason::EndTurn));
        }
        let (kind, input) = plan(&intent);
        let Some(tool) = find_tool(request.tools, kind) else {
            let text = match intent.lang {
                Lang::En => format!(
                    "The CloudTrail tool `{}` is not available right now (its MCP server did not \
                     answer), so I cannot look this up.",
                    kind.server_name()
                ),
                Lang::Ja => format!(
                    "CloudTrail ツール `{}` が現在利用できません（MCP サーバーが応答しません）。",
                    kind.server_name()
                ),
            };
            self.stream(&text, on_text).await;
            return Ok(reply(text, StopReason::EndTurn));
        };
        let preface = answer::preface(&intent, request.timezone);
        self.stream(&preface, on_text).await;
        let id = format!("tooluse_{}", uuid::Uuid::new_v4().simple());
        Ok(ModelTurn {
            content: vec![
                Block::Text { text: preface },
                Block::ToolUse {
                    id,
                    name: tool.name.clone(),
                    input,
                },
            ],
            stop: StopReason::ToolUse,
            usage: Usage::default(),
        })
    }
}
