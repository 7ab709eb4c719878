//! The offline model: a deterministic planner with no LLM, for local runs, demos and tests
//! without AWS credentials. It reads the question ([`intent`]), calls one of the same MCP tools an
//! LLM would (with absolute times, its arguments built from the contract's types), and writes a
//! short Markdown answer from the tool's answer ([`answer`]), streamed in chunks like a real
//! model. A question it cannot answer gets "I can't answer that offline" and phrasings that work,
//! without a tool call.

pub mod answer;
pub mod intent;

use std::time::Duration;

use async_trait::async_trait;
use cloudtrail_contract::{AttributeKey, LookupEventsArgs, SummarizeActivityArgs};
use serde_json::Value;

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
            ToolKind::Lookup => cloudtrail_contract::LOOKUP_EVENTS,
            ToolKind::Summarize => cloudtrail_contract::SUMMARIZE_ACTIVITY,
        }
    }

    /// Which known tool an offered (possibly prefixed) name is.
    pub fn of(name: &str) -> Option<Self> {
        [ToolKind::Lookup, ToolKind::Summarize]
            .into_iter()
            .find(|kind| name.ends_with(kind.server_name()))
    }
}

/// The tool call that answers `intent`, or `None` when no tool can.
pub fn plan(intent: &Intent) -> Option<(ToolKind, Value)> {
    plan_with(intent, false)
}

/// The call for a principal that had no events under the name the question gave: the same
/// window unfiltered, to say which names were active (`answer` reads it so: a summary without
/// the filter the question implied).
fn plan_who_was_active(intent: &Intent) -> Option<(ToolKind, Value)> {
    plan_with(intent, true)
}

fn plan_with(intent: &Intent, unfiltered: bool) -> Option<(ToolKind, Value)> {
    let time = |t: jiff::Timestamp| Some(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
    let (start_time, end_time) = (time(intent.start), time(intent.end));
    let filter = |key: AttributeKey, value: &str| (Some(key), Some(value.to_owned()));
    // Without a principal, an API action or else a service the question names narrows the
    // summary (one attribute only: LookupEvents takes one).
    let by_service = || match (&intent.action, &intent.service) {
        (Some(action), _) => filter(AttributeKey::EventName, action),
        (None, Some(source)) => filter(AttributeKey::EventSource, source),
        (None, None) => (None, None),
    };
    let summarize = |(attribute_key, attribute_value)| {
        let args = SummarizeActivityArgs {
            start_time: start_time.clone(),
            end_time: end_time.clone(),
            attribute_key,
            attribute_value,
            ..Default::default()
        };
        (ToolKind::Summarize, to_value(&args))
    };
    // The planner reads whole event objects (`detail`), not the table an LLM gets by default.
    let lookup = |(attribute_key, attribute_value)| {
        let args = LookupEventsArgs {
            start_time: start_time.clone(),
            end_time: end_time.clone(),
            attribute_key,
            attribute_value,
            max_results: Some(50),
            detail: Some(true),
            ..Default::default()
        };
        (ToolKind::Lookup, to_value(&args))
    };
    if unfiltered {
        return Some(summarize((None, None)));
    }
    Some(match &intent.topic {
        Topic::Activity { principal, .. } => summarize(filter(AttributeKey::Username, principal)),
        Topic::Failures {
            principal: Some(principal),
        } => summarize(filter(AttributeKey::Username, principal)),
        Topic::WhoDid {
            resource: Some(resource),
            ..
        } => lookup(filter(AttributeKey::ResourceName, resource)),
        Topic::ConsoleLogins { .. } => lookup(filter(AttributeKey::EventName, "ConsoleLogin")),
        Topic::Failures { principal: None }
        | Topic::WhoDid { resource: None, .. }
        | Topic::Overview { .. }
        | Topic::Unresolved { .. } => summarize(by_service()),
        Topic::Unsupported { .. } => return None,
    })
}

fn to_value<T: serde::Serialize>(args: &T) -> Value {
    // Structs of strings and numbers always serialise.
    serde_json::to_value(args).unwrap_or(Value::Null)
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
        let (planned, followup) = match pending_result(request.messages) {
            Some((name, result, is_error)) => {
                let kind = ToolKind::of(name).unwrap_or(ToolKind::Summarize);
                if answer::no_such_principal(&intent, kind, result, is_error) {
                    // Once: the follow-up's answer is unfiltered, so it never asks again.
                    (plan_who_was_active(&intent), true)
                } else {
                    let text = answer::compose(&intent, kind, result, is_error, request.timezone);
                    self.stream(&text, on_text).await;
                    return Ok(reply(text, StopReason::EndTurn));
                }
            }
            None => (plan(&intent), false),
        };
        let Some((kind, input)) = planned else {
            let text = match intent.topic {
                Topic::Unsupported { reason } => answer::unsupported(&intent, reason),
                _ => String::new(),
            };
            self.stream(&text, on_text).await;
            return Ok(reply(text, StopReason::EndTurn));
        };
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
        let preface = if followup {
            answer::followup_preface(&intent)
        } else {
            answer::preface(&intent, request.timezone)
        };
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

#[cfg(test)]
mod tests {
    use jiff::tz::TimeZone;
    use serde_json::json;

    use super::*;

    fn plan_of(question: &str) -> Option<(ToolKind, Value)> {
        let now = "2026-11-25T00:00:00Z".parse().unwrap();
        plan(&intent::parse(question, now, &TimeZone::UTC))
    }

    #[test]
    fn plans_filter_by_what_the_question_names() {
        let (kind, input) = plan_of("what did alice do yesterday?").unwrap();
        assert_eq!(kind, ToolKind::Summarize);
        assert_eq!(
            input,
            json!({"start_time": "2026-11-24T00:00:00Z", "end_time": "2026-11-25T00:00:00Z",
                   "attribute_key": "Username", "attribute_value": "alice"})
        );
        let (_, input) = plan_of("How many times was DeleteBucket called this week?").unwrap();
        assert_eq!(input["attribute_key"], "EventName");
        assert_eq!(input["attribute_value"], "DeleteBucket");
        let (_, input) = plan_of("what changed in S3 yesterday?").unwrap();
        assert_eq!(input["attribute_key"], "EventSource");
        assert_eq!(input["attribute_value"], "s3.amazonaws.com");
        let (kind, input) = plan_of("who deleted bob-old-logs?").unwrap();
        assert_eq!(kind, ToolKind::Lookup);
        assert_eq!(input["detail"], true);
        assert_eq!(input["attribute_key"], "ResourceName");
        // Nothing to call for what CloudTrail does not record.
        assert_eq!(plan_of("why is my S3 bill so high?"), None);
    }
}
