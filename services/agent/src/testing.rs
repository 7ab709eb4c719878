//! Test doubles for the loop's two traits: a scripted [`Model`] and in-memory tools. Used by the
//! unit tests, the integration tests and the benchmark (never by the service itself).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::conversation::{Block, Message, Usage};
use crate::model::{Model, ModelError, ModelInfo, ModelRequest, ModelTurn, StopReason, TextSink};
use crate::tools::{CallContext, ToolError, ToolListing, ToolOutput, ToolProvider, ToolSpec};

/// One scripted model reply.
#[derive(Debug, Clone)]
pub enum Step {
    /// Streams `text` in the given chunks (with `delay` before each), then returns them plus the
    /// tool uses.
    Reply {
        chunks: Vec<String>,
        tool_uses: Vec<(String, String, Value)>,
        delay: Duration,
    },
    Fail(ModelError),
    /// Streams the chunks, then never finishes (for cancel and deadline tests).
    Hang {
        chunks: Vec<String>,
    },
}

impl Step {
    /// A plain text answer.
    pub fn text(text: &str) -> Self {
        Step::Reply {
            chunks: vec![text.into()],
            tool_uses: vec![],
            delay: Duration::ZERO,
        }
    }

    /// A turn that asks for tool calls: `(id, name, input)`.
    pub fn tools(uses: &[(&str, &str, Value)]) -> Self {
        Step::Reply {
            chunks: vec![],
            tool_uses: uses
                .iter()
                .map(|(id, name, input)| (id.to_string(), name.to_string(), input.clone()))
                .collect(),
            delay: Duration::ZERO,
        }
    }
}

/// A model that replays [`Step`]s in order and records what it was sent.
#[derive(Debug, Default)]
pub struct ScriptedModel {
    steps: Mutex<VecDeque<Step>>,
    /// The message histories it received, one per call.
    pub requests: Mutex<Vec<Vec<Message>>>,
    /// Token usage reported per reply.
    pub usage_per_call: Usage,
}

impl ScriptedModel {
    pub fn new(steps: Vec<Step>) -> Self {
        Self {
            steps: Mutex::new(steps.into()),
            requests: Mutex::default(),
            usage_per_call: Usage {
                input_tokens: 100,
                output_tokens: 10,
                total_tokens: 110,
            },
        }
    }

    /// How many times the model was called.
    pub fn calls(&self) -> usize {
        self.requests.lock().map(|r| r.len()).unwrap_or(0)
    }
}

#[async_trait]
impl Model for ScriptedModel {
    fn info(&self) -> ModelInfo {
        ModelInfo {
            kind: "scripted",
            id: "scripted".into(),
        }
    }

    async fn converse(
        &self,
        request: &ModelRequest<'_>,
        on_text: TextSink<'_>,
    ) -> Result<ModelTurn, ModelError> {
        if let Ok(mut requests) = self.requests.lock() {
            requests.push(request.messages.to_vec());
        }
        let step = self.steps.lock().ok().and_then(|mut s| s.pop_front());
        match step {
            None => Err(ModelError::Other("script exhausted".into())),
            Some(Step::Fail(error)) => Err(error),
            Some(Step::Hang { chunks }) => {
                for chunk in chunks {
                    on_text(&chunk);
                }
                futures::future::pending().await
            }
            Some(Step::Reply {
                chunks,
                tool_uses,
                delay,
            }) => {
                let mut content = Vec::new();
                let mut text = String::new();
                for chunk in chunks {
                    tokio::time::sleep(delay).await;
                    on_text(&chunk);
                    text.push_str(&chunk);
                }
                if !text.is_empty() {
                    content.push(Block::Text { text });
                }
                let stop = if tool_uses.is_empty() {
                    StopReason::EndTurn
                } else {
                    StopReason::ToolUse
                };
                for (id, name, input) in tool_uses {
                    content.push(Block::ToolUse { id, name, input });
                }
                Ok(ModelTurn {
                    content,
                    stop,
                    usage: self.usage_per_call,
                })
            }
        }
    }
}

/// What an in-memory tool does when called.
#[derive(Debug, Clone)]
pub enum Behaviour {
    Answer(String),
    Fail(String),
    Unavailable,
    /// Sleeps, then answers.
    Slow(Duration, String),
    /// Answers, with these refs -> event ids (a result's `_meta`, see `crate::evidence`).
    Evidence(String, crate::evidence::RefMap),
}

/// In-memory tools with call counting and a high-water mark of concurrent calls.
#[derive(Debug, Default)]
pub struct MemoryTools {
    tools: HashMap<String, Behaviour>,
    pub calls: AtomicUsize,
    running: AtomicUsize,
    pub max_concurrent: AtomicUsize,
    /// The context of every call, in order.
    pub contexts: Mutex<Vec<CallContext>>,
    /// The name and input of every call, in order.
    pub inputs: Mutex<Vec<(String, Value)>>,
}

impl MemoryTools {
    pub fn new(tools: &[(&str, Behaviour)]) -> Self {
        Self {
            tools: tools
                .iter()
                .map(|(name, b)| (name.to_string(), b.clone()))
                .collect(),
            ..Self::default()
        }
    }
}

#[async_trait]
impl ToolProvider for MemoryTools {
    async fn list_tools(&self) -> ToolListing {
        let mut names: Vec<_> = self.tools.keys().cloned().collect();
        names.sort();
        ToolListing {
            tools: names
                .into_iter()
                .map(|name| ToolSpec {
                    description: format!("test tool {name}"),
                    name,
                    input_schema: json!({"type": "object", "properties": {}}),
                })
                .collect(),
            unavailable: vec![],
        }
    }

    async fn call_tool(
        &self,
        name: &str,
        input: Value,
        context: &CallContext,
    ) -> Result<ToolOutput, ToolError> {
        if let Ok(mut contexts) = self.contexts.lock() {
            contexts.push(context.clone());
        }
        if let Ok(mut inputs) = self.inputs.lock() {
            inputs.push((name.to_owned(), input));
        }
        self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_concurrent.fetch_max(now, Ordering::SeqCst);
        let result = match self.tools.get(name) {
            None => Err(ToolError::UnknownTool(name.into())),
            Some(Behaviour::Answer(text)) => Ok(ToolOutput {
                text: text.clone(),
                is_error: false,
                refs: Default::default(),
            }),
            Some(Behaviour::Fail(text)) => Ok(ToolOutput {
                text: text.clone(),
                is_error: true,
                refs: Default::default(),
            }),
            Some(Behaviour::Evidence(text, refs)) => Ok(ToolOutput {
                text: text.clone(),
                is_error: false,
                refs: refs.clone(),
            }),
            Some(Behaviour::Unavailable) => Err(ToolError::Unavailable {
                server: "test".into(),
                message: "connection refused".into(),
            }),
            Some(Behaviour::Slow(delay, text)) => {
                tokio::time::sleep(*delay).await;
                Ok(ToolOutput {
                    text: text.clone(),
                    is_error: false,
                    refs: Default::default(),
                })
            }
        };
        self.running.fetch_sub(1, Ordering::SeqCst);
        result
    }
}
