//! The conversation as the agent keeps it: provider-neutral messages that the Bedrock adapter
//! converts to Converse types and the session store keeps between turns.
//!
//! Invariant kept by the agent loop: roles alternate (user, assistant, user, ...), the history
//! starts with a user message and, between runs, ends with an assistant message; every tool use
//! in an assistant message is answered by a tool result in the next user message. Bedrock
//! rejects any history that breaks these rules.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

/// One piece of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    Text {
        text: String,
    },
    /// The model asks for a tool call; `id` pairs it with its [`Block::ToolResult`].
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    /// What a tool returned (always text here: the MCP server answers JSON text).
    ToolResult {
        id: String,
        text: String,
        is_error: bool,
    },
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Block>,
}

impl Message {
    /// A user message with one text block.
    pub fn user_text(text: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: vec![Block::Text { text: text.into() }],
        }
    }

    /// An assistant message with one text block.
    pub fn assistant_text(text: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: vec![Block::Text { text: text.into() }],
        }
    }

    /// The concatenated text blocks of this message.
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter_map(|block| match block {
                Block::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("")
    }

    /// The tool uses of this message, in order.
    pub fn tool_uses(&self) -> impl Iterator<Item = (&str, &str, &Value)> {
        self.content.iter().filter_map(|block| match block {
            Block::ToolUse { id, name, input } => Some((id.as_str(), name.as_str(), input)),
            _ => None,
        })
    }

    /// Approximate size in bytes, used to bound what a session keeps.
    pub fn approx_bytes(&self) -> usize {
        self.content
            .iter()
            .map(|block| match block {
                Block::Text { text } => text.len(),
                Block::ToolUse { id, name, input } => {
                    id.len() + name.len() + input.to_string().len()
                }
                Block::ToolResult { id, text, .. } => id.len() + text.len(),
            })
            .sum::<usize>()
            + 16
    }
}

/// Token counts reported by the model. With prompt caching, Bedrock counts the prompt in three
/// parts: `input_tokens` (read and not cached), `cache_read_input_tokens` (read from the cache)
/// and `cache_write_input_tokens` (read and written to the cache); `total_tokens` counts all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
    #[serde(default)]
    pub cache_read_input_tokens: u64,
    #[serde(default)]
    pub cache_write_input_tokens: u64,
}

impl Usage {
    /// Adds another call's usage to this one.
    pub fn add(&mut self, other: Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.total_tokens += other.total_tokens;
        self.cache_read_input_tokens += other.cache_read_input_tokens;
        self.cache_write_input_tokens += other.cache_write_input_tokens;
    }

    /// Every prompt token, cached or not.
    pub fn prompt_tokens(&self) -> u64 {
        self.input_tokens + self.cache_read_input_tokens + self.cache_write_input_tokens
    }
}

/// Checks the invariant above; returns what is wrong, for tests and debug assertions.
pub fn check_history(history: &[Message]) -> Result<(), String> {
    let mut expected = Role::User;
    for (i, message) in history.iter().enumerate() {
        if message.role != expected {
            return Err(format!(
                "message {i} has role {:?}, expected {expected:?}",
                message.role
            ));
        }
        if message.role == Role::Assistant {
            let uses: Vec<&str> = message.tool_uses().map(|(id, _, _)| id).collect();
            if !uses.is_empty() {
                let Some(next) = history.get(i + 1) else {
                    return Err(format!("tool uses of message {i} have no results"));
                };
                for id in uses {
                    let answered = next.content.iter().any(
                        |block| matches!(block, Block::ToolResult { id: rid, .. } if rid == id),
                    );
                    if !answered {
                        return Err(format!("tool use {id} of message {i} has no result"));
                    }
                }
            }
        }
        expected = match expected {
            Role::User => Role::Assistant,
            Role::Assistant => Role::User,
        };
    }
    Ok(())
}
