//! The agent's spans, after the OpenTelemetry GenAI semantic conventions: `invoke_agent` for a
//! question (the run), `chat <model>` for each model call, `execute_tool <tool>` for each tool
//! call. Token usage, tool names and call ids, the conversation (a digest of the chat id, never
//! the id: it is the cookie's secret) and the user's `sub` are attributes; prompts, answers and
//! tool arguments and results only with `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`.
//!
//! Every builder goes through [`telemetry::span`]: with tracing off nothing here runs.

use tracing::Span;
use tracing::field::Empty;

use crate::conversation::{Message, Usage};
use crate::events::RunEnd;
use crate::metrics::RunStats;
use crate::model::{Model, ModelError, ModelInfo, ModelRequest, ModelTurn, StopReason};

/// The agent's name in `gen_ai.agent.name`.
pub const AGENT_NAME: &str = "aws-ops-agent";

/// `gen_ai.provider.name` of a model kind.
fn provider(info: &ModelInfo) -> &'static str {
    match info.kind {
        "bedrock" => "aws.bedrock",
        other => other,
    }
}

/// The span of one question. `conversation` is the chat's digest, `user` the caller's `sub`.
pub fn run_span(model: &ModelInfo, conversation: &str, user: Option<&str>, question: &str) -> Span {
    telemetry::span(|| {
        let span = tracing::info_span!(
            "invoke_agent",
            otel.name = %format!("invoke_agent {AGENT_NAME}"),
            otel.kind = "internal",
            otel.status_code = Empty,
            gen_ai.operation.name = "invoke_agent",
            gen_ai.agent.name = AGENT_NAME,
            gen_ai.provider.name = provider(model),
            gen_ai.request.model = %model.id,
            gen_ai.conversation.id = conversation,
            user.id = user.unwrap_or(""),
            gen_ai.usage.input_tokens = Empty,
            gen_ai.usage.output_tokens = Empty,
            gen_ai.usage.cache_read.input_tokens = Empty,
            gen_ai.usage.cache_creation.input_tokens = Empty,
            agent.model_calls = Empty,
            agent.tool_calls = Empty,
            agent.cost_usd = Empty,
            agent.stop_reason = Empty,
            error.type = Empty,
            gen_ai.input.messages = Empty,
        );
        if telemetry::capture_content() {
            let messages = serde_json::json!([{"role": "user", "parts": [{"type": "text", "content": question}]}]);
            span.record("gen_ai.input.messages", messages.to_string());
        }
        span
    })
}

fn record_usage(span: &Span, usage: &Usage) {
    span.record("gen_ai.usage.input_tokens", usage.prompt_tokens());
    span.record("gen_ai.usage.output_tokens", usage.output_tokens);
    span.record(
        "gen_ai.usage.cache_read.input_tokens",
        usage.cache_read_input_tokens,
    );
    span.record(
        "gen_ai.usage.cache_creation.input_tokens",
        usage.cache_write_input_tokens,
    );
}

/// Records a run's totals on its span.
pub fn record_run(span: &Span, usage: &Usage, stats: &RunStats, end: RunEnd) {
    if span.is_disabled() {
        return;
    }
    record_usage(span, usage);
    span.record("agent.model_calls", stats.model_calls);
    span.record("agent.tool_calls", stats.tool_calls);
    span.record("agent.stop_reason", format!("{end:?}").to_ascii_lowercase());
    if end == RunEnd::Error {
        span.record("error.type", "run_failed");
        span.record("otel.status_code", "ERROR");
    }
}

/// The span of one model call.
pub fn model_span(model: &dyn Model, request: &ModelRequest<'_>) -> Span {
    telemetry::span(|| {
        let info = model.info();
        let span = tracing::info_span!(
            "chat",
            otel.name = %format!("chat {}", info.id),
            otel.kind = "client",
            otel.status_code = Empty,
            gen_ai.operation.name = "chat",
            gen_ai.provider.name = provider(&info),
            gen_ai.request.model = %info.id,
            gen_ai.usage.input_tokens = Empty,
            gen_ai.usage.output_tokens = Empty,
            gen_ai.usage.cache_read.input_tokens = Empty,
            gen_ai.usage.cache_creation.input_tokens = Empty,
            error.type = Empty,
            gen_ai.input.messages = Empty,
            gen_ai.output.messages = Empty,
        );
        if telemetry::capture_content() {
            let last: Option<&Message> = request.messages.last();
            if let Ok(json) = serde_json::to_string(&last) {
                span.record("gen_ai.input.messages", json);
            }
        }
        span
    })
}

/// Records how a model call ended: `None` when the user stopped it, `Some(None)` at the
/// deadline.
pub fn record_model(span: &Span, outcome: Option<&Option<Result<ModelTurn, ModelError>>>) {
    if span.is_disabled() {
        return;
    }
    let error = match outcome {
        None => Some("cancelled"),
        Some(None) => Some("timeout"),
        Some(Some(Ok(turn))) => {
            record_usage(span, &turn.usage);
            let reason = match turn.stop {
                StopReason::EndTurn => "end_turn",
                StopReason::ToolUse => "tool_use",
                StopReason::MaxTokens => "max_tokens",
                StopReason::Other => "other",
            };
            telemetry::set_string_array(span, "gen_ai.response.finish_reasons", &[reason]);
            if telemetry::capture_content()
                && let Ok(json) = serde_json::to_string(&turn.content)
            {
                span.record("gen_ai.output.messages", json);
            }
            None
        }
        Some(Some(Err(error))) => Some(match error {
            ModelError::Throttled { .. } => "throttled",
            ModelError::ContextOverflow(_) => "context_overflow",
            ModelError::AccessDenied(_) => "access_denied",
            ModelError::Interrupted(_) => "interrupted",
            ModelError::Other(_) => "model_error",
        }),
    };
    if let Some(kind) = error {
        span.record("error.type", kind);
        span.record("otel.status_code", "ERROR");
    }
}

/// The span of one tool call.
pub fn tool_span(id: &str, name: &str, input: &serde_json::Value) -> Span {
    telemetry::span(|| {
        let span = tracing::info_span!(
            "execute_tool",
            otel.name = %format!("execute_tool {name}"),
            otel.kind = "internal",
            otel.status_code = Empty,
            gen_ai.operation.name = "execute_tool",
            gen_ai.tool.name = name,
            gen_ai.tool.call.id = id,
            gen_ai.tool.type = "function",
            error.type = Empty,
            gen_ai.tool.call.arguments = Empty,
            gen_ai.tool.call.result = Empty,
        );
        if telemetry::capture_content() {
            span.record("gen_ai.tool.call.arguments", input.to_string());
        }
        span
    })
}

/// Records how a tool call ended (`error`: why it failed, if it did).
pub fn record_tool(span: &Span, result: &str, is_error: bool, error: Option<&'static str>) {
    if span.is_disabled() {
        return;
    }
    if telemetry::capture_content() {
        span.record("gen_ai.tool.call.result", result);
    }
    if is_error {
        span.record("error.type", error.unwrap_or("tool_error"));
        span.record("otel.status_code", "ERROR");
    }
}
