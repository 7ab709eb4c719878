//! The agent loop: model -> tools -> model, iteratively, until the model answers or a limit,
//! an error or the user's Stop ends the run. It depends only on the [`Model`] and
//! [`ToolProvider`] traits, so it is tested with a scripted model and in-memory tools.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use jiff::{Timestamp, tz::TimeZone};
use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::conversation::{Block, Message, Role, Usage};
use crate::events::{AgentEvent, ErrorKind, RunEnd, StatusKind, ToolStatus};
use crate::evidence::{self, RefMap};
use crate::model::{Model, ModelError, ModelRequest, ModelTurn};
use crate::prompt::{Persona, system_prompt};
use crate::tools::{CallContext, ToolProvider, ToolSpec};

/// Per-run limits. Hitting one ends the run cleanly with a message naming it.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_model_calls: u32,
    pub max_total_tokens: u64,
    pub max_wall_time: Duration,
    pub tool_timeout: Duration,
    pub tool_concurrency: usize,
    pub max_tool_output_bytes: usize,
    pub max_throttle_retries: u32,
    pub throttle_base_delay: Duration,
    pub max_context_trims: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_model_calls: 12,
            max_total_tokens: 300_000,
            max_wall_time: Duration::from_secs(240),
            tool_timeout: Duration::from_secs(30),
            tool_concurrency: 4,
            max_tool_output_bytes: 32 * 1024,
            max_throttle_retries: 4,
            throttle_base_delay: Duration::from_secs(2),
            max_context_trims: 3,
        }
    }
}

/// What the user asked, and when and where.
#[derive(Debug, Clone)]
pub struct RunInput {
    pub text: String,
    pub now: Timestamp,
    pub timezone: TimeZone,
    /// Sent with every tool call of the run.
    pub context: CallContext,
    /// The refs the chat's tools returned before this run (its citable evidence); this run's
    /// tool results add to them.
    pub known_refs: RefMap,
}

/// Where a run's events go (the SSE response and the session transcript).
pub type EventSink = UnboundedSender<AgentEvent>;

/// Text that replaces a tool result removed to fit the context window.
pub const TRIMMED_RESULT: &str = "[result removed to fit the context window]";

/// The agent: a model, the tools it may call and the limits of one run.
pub struct Agent {
    pub model: Arc<dyn Model>,
    pub tools: Arc<dyn ToolProvider>,
    pub limits: Limits,
    pub persona: Persona,
}

/// Why a model call did not produce a turn.
enum Interrupt {
    Cancelled { partial: String },
    Deadline { partial: String },
    Failed { error: ModelError },
}

impl Agent {
    /// Runs one user message to completion, appending to `history` and emitting events; the
    /// last event is always [`AgentEvent::Done`]. Whatever happens, `history` stays valid for
    /// Bedrock afterwards (see [`crate::conversation`]).
    pub async fn run(
        &self,
        history: &mut Vec<Message>,
        input: RunInput,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> RunEnd {
        let started = Instant::now();
        let deadline = started + self.limits.max_wall_time;
        let mut usage = Usage::default();
        let started_at = history.len();
        history.push(Message::user_text(input.text.clone()));
        let mut known = input.known_refs.clone();
        let end = self
            .run_inner(
                history, &input, events, cancel, deadline, &mut usage, &mut known,
            )
            .await;
        if end == RunEnd::EndTurn {
            let items = follow_ups(&history[started_at..], &input.text);
            if !items.is_empty() {
                let _ = events.send(AgentEvent::Suggestions { items });
            }
        }
        if history.last().is_some_and(|m| m.role == Role::User) {
            let note = match end {
                RunEnd::Stopped => "[stopped by the user]",
                RunEnd::Limit => "[stopped: limit reached]",
                _ => "[no answer: an error occurred]",
            };
            history.push(Message::assistant_text(note));
        }
        let _ = events.send(AgentEvent::Done {
            stop_reason: end,
            usage,
        });
        tracing::info!(
            end = ?end,
            elapsed_ms = started.elapsed().as_millis() as u64,
            input_tokens = usage.input_tokens,
            output_tokens = usage.output_tokens,
            "run finished"
        );
        end
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_inner(
        &self,
        history: &mut Vec<Message>,
        input: &RunInput,
        events: &EventSink,
        cancel: &CancellationToken,
        deadline: Instant,
        usage: &mut Usage,
        known: &mut RefMap,
    ) -> RunEnd {
        // The listing is awaited like everything else in a run: Stop and the wall-time limit end
        // it, however long the server takes.
        let listing = tokio::select! {
            listing = self.tools.list_tools() => listing,
            () = cancel.cancelled() => return RunEnd::Stopped,
            () = tokio::time::sleep_until(deadline) => {
                return self.limit(events, wall_time_text(self.limits.max_wall_time));
            }
        };
        for problem in &listing.unavailable {
            emit_error(events, ErrorKind::McpUnavailable, problem.to_string());
        }
        let system = system_prompt(input.now, &input.timezone, self.persona);
        let mut calls = 0;
        loop {
            if calls >= self.limits.max_model_calls {
                return self.limit(events, format!("model turns ({calls})"));
            }
            calls += 1;
            if calls > 1 {
                // The model now reads tool results; with an LLM that can take seconds.
                let _ = events.send(AgentEvent::Status {
                    kind: StatusKind::Thinking,
                    message: "reading the tool results".into(),
                    retry_in_secs: None,
                });
            }
            let turn = match self
                .call_model(
                    history,
                    &system,
                    &listing.tools,
                    input,
                    events,
                    cancel,
                    deadline,
                )
                .await
            {
                Ok(turn) => turn,
                Err(Interrupt::Cancelled { partial }) => {
                    history.push(Message::assistant_text(format!(
                        "{partial} [stopped by the user]"
                    )));
                    return RunEnd::Stopped;
                }
                Err(Interrupt::Deadline { partial }) => {
                    if !partial.is_empty() {
                        history.push(Message::assistant_text(format!("{partial} [cut off]")));
                    }
                    return self.limit(events, wall_time_text(self.limits.max_wall_time));
                }
                Err(Interrupt::Failed { error }) => {
                    emit_model_error(events, &error);
                    return RunEnd::Error;
                }
            };
            usage.add(turn.usage);
            // The turn's text is complete: check what it cites against the chat's evidence.
            let said: String = turn
                .content
                .iter()
                .filter_map(|block| match block {
                    Block::Text { text } => Some(text.as_str()),
                    _ => None,
                })
                .collect();
            let refs = evidence::check(&said, known);
            if !refs.is_empty() {
                let unknown = refs.iter().filter(|c| !c.known).count();
                if unknown > 0 {
                    tracing::warn!(unknown, "the model cited refs no tool returned");
                }
                let _ = events.send(AgentEvent::Citations { refs });
            }
            let uses: Vec<(String, String, Value)> = turn
                .content
                .iter()
                .filter_map(|block| match block {
                    Block::ToolUse { id, name, input } => {
                        Some((id.clone(), name.clone(), input.clone()))
                    }
                    _ => None,
                })
                .collect();
            let mut content = turn.content;
            if content.is_empty() {
                // Bedrock rejects an empty assistant message.
                content.push(Block::Text {
                    text: "(no answer)".into(),
                });
            }
            history.push(Message {
                role: Role::Assistant,
                content,
            });
            if uses.is_empty() {
                if usage.total_tokens > self.limits.max_total_tokens {
                    return self.limit(events, format!("total tokens ({})", usage.total_tokens));
                }
                return RunEnd::EndTurn;
            }
            if usage.total_tokens > self.limits.max_total_tokens {
                history.push(unanswered_results(
                    &uses,
                    "not run: the token limit was reached",
                ));
                return self.limit(events, format!("total tokens ({})", usage.total_tokens));
            }
            // A ref the model passes as an event id is the full id the tool needs (the history
            // keeps what the model asked).
            let calls: Vec<(String, String, Value)> = uses
                .iter()
                .map(|(id, name, input)| {
                    let mut input = input.clone();
                    evidence::substitute_event_id(&mut input, known);
                    (id.clone(), name.clone(), input)
                })
                .collect();
            let (results, interrupted, found) = self
                .run_tools(&calls, &input.context, events, cancel, deadline)
                .await;
            known.extend(found);
            history.push(Message {
                role: Role::User,
                content: results,
            });
            match interrupted {
                Some(RunEnd::Stopped) => return RunEnd::Stopped,
                Some(_) => return self.limit(events, wall_time_text(self.limits.max_wall_time)),
                None => {}
            }
        }
    }

    /// One model call with throttling retries and context-overflow trimming.
    #[allow(clippy::too_many_arguments)]
    async fn call_model(
        &self,
        history: &mut [Message],
        system: &str,
        tools: &[ToolSpec],
        input: &RunInput,
        events: &EventSink,
        cancel: &CancellationToken,
        deadline: Instant,
    ) -> Result<ModelTurn, Interrupt> {
        let mut retries = 0;
        let mut trims = 0;
        loop {
            let partial = Mutex::new(String::new());
            let on_text = |delta: &str| {
                if let Ok(mut text) = partial.lock() {
                    text.push_str(delta);
                }
                let _ = events.send(AgentEvent::Text {
                    delta: delta.to_owned(),
                });
            };
            let request = ModelRequest {
                system,
                messages: history,
                tools,
                now: input.now,
                timezone: &input.timezone,
            };
            let outcome = tokio::select! {
                biased;
                () = cancel.cancelled() => None,
                () = tokio::time::sleep_until(deadline) => Some(None),
                result = self.model.converse(&request, &on_text) => Some(Some(result)),
            };
            let partial = partial.into_inner().unwrap_or_default();
            let result = match outcome {
                None => return Err(Interrupt::Cancelled { partial }),
                Some(None) => return Err(Interrupt::Deadline { partial }),
                Some(Some(result)) => result,
            };
            match result {
                Ok(turn) => return Ok(turn),
                // Retrying after text was shown would repeat it; only clean failures retry.
                Err(ModelError::Throttled { retry_after, .. })
                    if partial.is_empty() && retries < self.limits.max_throttle_retries =>
                {
                    let delay = retry_after
                        .unwrap_or(self.limits.throttle_base_delay * 2u32.pow(retries))
                        .max(Duration::from_millis(1));
                    retries += 1;
                    let secs = delay.as_secs_f64().ceil() as u64;
                    let _ = events.send(AgentEvent::Status {
                        kind: StatusKind::Throttled,
                        message: format!("throttled, retrying in {secs} s"),
                        retry_in_secs: Some(secs),
                    });
                    tokio::select! {
                        biased;
                        () = cancel.cancelled() => return Err(Interrupt::Cancelled { partial }),
                        () = tokio::time::sleep_until(deadline) => {
                            return Err(Interrupt::Deadline { partial })
                        }
                        () = tokio::time::sleep(delay) => {}
                    }
                }
                Err(ModelError::ContextOverflow(message))
                    if partial.is_empty() && trims < self.limits.max_context_trims =>
                {
                    let removed = trim_tool_results(history);
                    if removed == 0 {
                        return Err(Interrupt::Failed {
                            error: ModelError::ContextOverflow(message),
                        });
                    }
                    trims += 1;
                    let _ = events.send(AgentEvent::Status {
                        kind: StatusKind::Trimmed,
                        message: format!(
                            "the conversation was too long: removed the {removed} oldest tool results"
                        ),
                        retry_in_secs: None,
                    });
                }
                Err(error) => return Err(Interrupt::Failed { error }),
            }
        }
    }

    /// Runs one turn's tool calls concurrently (bounded). Returns the tool results in the order
    /// of the uses, why the calls were interrupted, if they were, and the refs they returned.
    async fn run_tools(
        &self,
        uses: &[(String, String, Value)],
        context: &CallContext,
        events: &EventSink,
        cancel: &CancellationToken,
        deadline: Instant,
    ) -> (Vec<Block>, Option<RunEnd>, RefMap) {
        let finished: Mutex<HashMap<String, (Block, RefMap)>> = Mutex::new(HashMap::new());
        // Boxed futures in a Vec (not a lazy `map` over borrowed items): keeps the future
        // `Send` for every lifetime, which `tokio::spawn` in the API needs.
        let calls: Vec<BoxFuture<'_, ()>> = uses
            .iter()
            .map(|(id, name, input)| {
                let finished = &finished;
                async move {
                    let block = self
                        .run_tool(id, name, input.clone(), context, events)
                        .await;
                    if let Ok(mut map) = finished.lock() {
                        map.insert(id.clone(), block);
                    }
                }
                .boxed()
            })
            .collect();
        let calls = futures::stream::iter(calls)
            .buffer_unordered(self.limits.tool_concurrency.max(1))
            .collect::<Vec<()>>();
        let interrupted = tokio::select! {
            biased;
            () = cancel.cancelled() => Some(RunEnd::Stopped),
            () = tokio::time::sleep_until(deadline) => Some(RunEnd::Limit),
            _ = calls => None,
        };
        let mut finished = finished.into_inner().unwrap_or_default();
        let mut found = RefMap::new();
        let reason = match interrupted {
            Some(RunEnd::Stopped) => "cancelled by the user",
            _ => "cancelled: the run's time limit was reached",
        };
        let results = uses
            .iter()
            .map(|(id, name, _)| match finished.remove(id) {
                Some((block, refs)) => {
                    found.extend(refs);
                    block
                }
                None => {
                    let _ = events.send(AgentEvent::ToolEnd {
                        id: id.clone(),
                        name: name.clone(),
                        status: ToolStatus::Cancelled,
                        duration_ms: 0,
                        output: reason.into(),
                        refs: RefMap::new(),
                    });
                    Block::ToolResult {
                        id: id.clone(),
                        text: reason.into(),
                        is_error: true,
                    }
                }
            })
            .collect();
        (results, interrupted, found)
    }

    async fn run_tool(
        &self,
        id: &str,
        name: &str,
        input: Value,
        context: &CallContext,
        events: &EventSink,
    ) -> (Block, RefMap) {
        let _ = events.send(AgentEvent::ToolStart {
            id: id.into(),
            name: name.into(),
            input: input.clone(),
        });
        let started = Instant::now();
        let call = self.tools.call_tool(name, input, context);
        let outcome = tokio::time::timeout(self.limits.tool_timeout, call).await;
        let (text, is_error, refs) = match outcome {
            Ok(Ok(output)) => (output.text, output.is_error, output.refs),
            Ok(Err(error)) => (error.to_string(), true, RefMap::new()),
            Err(_) => (
                format!(
                    "the tool did not answer within {} s",
                    self.limits.tool_timeout.as_secs()
                ),
                true,
                RefMap::new(),
            ),
        };
        let capped = text.len() > self.limits.max_tool_output_bytes;
        let text = cap_text(text, self.limits.max_tool_output_bytes);
        // A cut result may have lost some of its events: only refs the model can still read
        // are evidence.
        let refs = if capped {
            refs.into_iter()
                .filter(|(r, _)| text.contains(r.as_str()))
                .collect()
        } else {
            refs
        };
        let duration_ms = started.elapsed().as_millis() as u64;
        tracing::info!(
            tool = name,
            is_error,
            duration_ms,
            bytes = text.len(),
            "tool call"
        );
        let _ = events.send(AgentEvent::ToolEnd {
            id: id.into(),
            name: name.into(),
            status: if is_error {
                ToolStatus::Error
            } else {
                ToolStatus::Ok
            },
            duration_ms,
            output: text.clone(),
            refs: refs.clone(),
        });
        (
            Block::ToolResult {
                id: id.into(),
                text,
                is_error,
            },
            refs,
        )
    }

    fn limit(&self, events: &EventSink, which: String) -> RunEnd {
        emit_error(
            events,
            ErrorKind::Limit,
            format!("stopped: the limit on {which} per request was reached"),
        );
        RunEnd::Limit
    }
}

/// The follow-up suggestions of a finished run: from the tool answers of `exchange` (the run's
/// part of the history), in the language of `question`.
fn follow_ups(exchange: &[Message], question: &str) -> Vec<crate::suggestions::Suggestion> {
    let results: Vec<crate::observed::Observed> = exchange
        .iter()
        .flat_map(|m| &m.content)
        .filter_map(|block| match block {
            Block::ToolResult {
                text,
                is_error: false,
                ..
            } => crate::observed::read(text),
            _ => None,
        })
        .collect();
    crate::suggestions::suggest(
        &results,
        crate::suggestions::is_japanese(question),
        question,
    )
}

fn wall_time_text(limit: Duration) -> String {
    format!("wall time ({} s)", limit.as_secs())
}

fn emit_error(events: &EventSink, kind: ErrorKind, message: String) {
    let _ = events.send(AgentEvent::Error { kind, message });
}

fn emit_model_error(events: &EventSink, error: &ModelError) {
    let kind = match error {
        ModelError::Throttled { .. } => ErrorKind::Throttled,
        ModelError::AccessDenied(_) => ErrorKind::AccessDenied,
        _ => ErrorKind::Model,
    };
    tracing::warn!(%error, "model call failed");
    emit_error(events, kind, error.to_string());
}

fn unanswered_results(uses: &[(String, String, Value)], reason: &str) -> Message {
    Message {
        role: Role::User,
        content: uses
            .iter()
            .map(|(id, _, _)| Block::ToolResult {
                id: id.clone(),
                text: reason.into(),
                is_error: true,
            })
            .collect(),
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary, saying so.
pub fn cap_text(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(
        "{}\n[truncated: {cut} of {} bytes shown]",
        &text[..cut],
        text.len()
    )
}

/// Replaces the oldest half (at least one) of the tool results not yet removed. Returns how many
/// were removed; 0 when there is nothing left to remove.
pub fn trim_tool_results(history: &mut [Message]) -> usize {
    let remaining = history
        .iter()
        .flat_map(|m| &m.content)
        .filter(|b| matches!(b, Block::ToolResult { text, .. } if text != TRIMMED_RESULT))
        .count();
    let mut to_remove = remaining.div_ceil(2);
    let removed = to_remove;
    for block in history.iter_mut().flat_map(|m| m.content.iter_mut()) {
        if to_remove == 0 {
            break;
        }
        if let Block::ToolResult { text, .. } = block
            && text != TRIMMED_RESULT
        {
            *text = TRIMMED_RESULT.into();
            to_remove -= 1;
        }
    }
    removed
}

#[cfg(test)]
mod loop_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_text_cuts_on_char_boundary_and_says_so() {
        let text = "あいう".to_string(); // 9 bytes
        let capped = cap_text(text, 4);
        assert!(
            capped.starts_with("あ\n[truncated: 3 of 9 bytes shown]"),
            "{capped}"
        );
        assert_eq!(cap_text("short".into(), 10), "short");
    }

    #[test]
    fn trimming_removes_oldest_half_then_nothing() {
        let result = |id: &str| Block::ToolResult {
            id: id.into(),
            text: format!("result {id}"),
            is_error: false,
        };
        let mut history = vec![
            Message::user_text("q"),
            Message {
                role: Role::User,
                content: vec![result("a"), result("b"), result("c")],
            },
        ];
        assert_eq!(trim_tool_results(&mut history), 2);
        let texts: Vec<_> = history[1]
            .content
            .iter()
            .map(|b| match b {
                Block::ToolResult { text, .. } => text.clone(),
                _ => String::new(),
            })
            .collect();
        assert_eq!(texts, [TRIMMED_RESULT, TRIMMED_RESULT, "result c"]);
        assert_eq!(trim_tool_results(&mut history), 1);
        assert_eq!(trim_tool_results(&mut history), 0);
    }
}
