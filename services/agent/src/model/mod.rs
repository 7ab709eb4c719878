//! The model interface the agent loop depends on, and its two implementations: Amazon Bedrock
//! ([`bedrock`]) and the offline planner ([`offline`]).

pub mod bedrock;
pub mod offline;

use std::time::Duration;

use async_trait::async_trait;
use jiff::{Timestamp, tz::TimeZone};
use serde::Serialize;

use crate::conversation::{Block, Message, Usage};
use crate::tools::ToolSpec;

/// Which model answers, as shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelInfo {
    /// `offline` or `bedrock`.
    pub kind: &'static str,
    /// Model id or inference profile (`offline planner` for the offline model).
    pub id: String,
}

/// Everything a model needs for one call.
#[derive(Debug)]
pub struct ModelRequest<'a> {
    pub system: &'a str,
    pub messages: &'a [Message],
    pub tools: &'a [ToolSpec],
    /// When the user asked, and in which timezone (the offline planner resolves "yesterday"
    /// with these; an LLM reads them from the system prompt).
    pub now: Timestamp,
    pub timezone: &'a TimeZone,
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    EndTurn,
    ToolUse,
    MaxTokens,
    Other,
}

/// What one model call produced: text and tool-use blocks, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelTurn {
    pub content: Vec<Block>,
    pub stop: StopReason,
    pub usage: Usage,
}

/// Why a model call failed. Messages keep the service's own words.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ModelError {
    /// HTTP 429 / throttlingException / serviceUnavailable: worth retrying.
    #[error("the model is throttled: {message}")]
    Throttled {
        message: String,
        retry_after: Option<Duration>,
    },
    /// The conversation no longer fits the model's context window.
    #[error("the conversation is too long for the model: {0}")]
    ContextOverflow(String),
    /// The credentials may not invoke this model (or model access is not enabled).
    #[error("access to the model was denied: {0}")]
    AccessDenied(String),
    /// The response stream broke after it started.
    #[error("the model stream was interrupted: {0}")]
    Interrupted(String),
    #[error("the model failed: {0}")]
    Other(String),
}

/// Receives streamed text as the model produces it.
pub type TextSink<'a> = &'a (dyn Fn(&str) + Send + Sync);

/// A conversational model with tool use.
#[async_trait]
pub trait Model: Send + Sync {
    /// Which model this is.
    fn info(&self) -> ModelInfo;

    /// One model call. Text is passed to `on_text` as it streams, and is also part of the
    /// returned [`ModelTurn::content`]. Dropping the future cancels the call.
    async fn converse(
        &self,
        request: &ModelRequest<'_>,
        on_text: TextSink<'_>,
    ) -> Result<ModelTurn, ModelError>;
}
