//! Server-side conversations keyed by the session cookie, behind the [`SessionStore`] trait with
//! two implementations: [`MemoryStore`] (one task's memory, the default) and
//! [`dynamo::DynamoStore`] (a DynamoDB table shared by every task).
//!
//! The rules both keep: one run at a time per session, and each run has an identity (a run that
//! is no longer its session's current one changes nothing when it ends); session ids are issued
//! by the store only; every operation names the session's owner (the signed-in user's `sub`, or
//! the empty string when anonymous) and a session asked for by another owner does not exist;
//! idle sessions expire; each client address may open only so many new chats per minute (429).

pub mod dynamo;
mod memory;
mod openings;
mod store;

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::conversation::{Block, Message, Role};
use crate::transcript::ShownMessage;

pub use memory::MemoryStore;
pub use openings::Openings;
pub use store::SessionStore;

/// The owner of chats opened without a signed-in user.
pub const ANONYMOUS: &str = "";

/// Bounds of the store.
#[derive(Debug, Clone)]
pub struct SessionLimits {
    /// Sessions held at once (the memory store; DynamoDB's storage is not the task's memory).
    pub max_sessions: usize,
    pub idle_ttl: Duration,
    /// Model history plus transcript, per session.
    pub max_session_bytes: usize,
    /// New sessions one client address may open per minute.
    pub new_per_client_per_minute: u32,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            max_sessions: 1000,
            idle_ttl: Duration::from_secs(3600),
            max_session_bytes: 512 * 1024,
            new_per_client_per_minute: 30,
        }
    }
}

/// Why a session or a run cannot start, or why the store cannot answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("an answer is already running in this chat; stop it or wait for it to finish")]
    Busy,
    #[error("the server is at its limit of {0} active chats; try again later")]
    Full(usize),
    #[error("too many new chats from your address; try again in {0} s")]
    TooManyNew(u64),
    #[error("this chat no longer exists; reload the page to start a new one")]
    Gone,
    /// The store itself failed (DynamoDB unreachable, throttled, denied): the message is AWS's.
    #[error("the chat store is unavailable; try again shortly ({0})")]
    Unavailable(String),
}

/// A started run: its identity (for [`SessionStore::apply`] and [`SessionStore::finish_run`])
/// and the token that stops it.
#[derive(Debug, Clone)]
pub struct RunTicket {
    pub run: u64,
    pub cancel: CancellationToken,
}

/// A read-only copy of a session for `GET /api/session`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SessionView {
    pub running: bool,
    pub messages: Vec<ShownMessage>,
}

/// A new run identity: random, so runs started on different tasks never share one.
pub fn new_run_id() -> u64 {
    uuid::Uuid::new_v4().as_u64_pair().0
}

/// Drops the oldest exchanges (from one user question to the next) until the history fits.
/// Cutting only at a user question keeps every tool use paired with its result.
pub fn bound_history(history: &mut Vec<Message>, max_bytes: usize) {
    let mut total: usize = history.iter().map(Message::approx_bytes).sum();
    while total > max_bytes {
        let next_question = history.iter().enumerate().skip(1).find(|(_, m)| {
            m.role == Role::User && m.content.iter().all(|b| matches!(b, Block::Text { .. }))
        });
        let Some((cut, _)) = next_question else {
            // A single exchange larger than the bound: keep it rather than break it.
            return;
        };
        total -= history
            .drain(..cut)
            .map(|m| m.approx_bytes())
            .sum::<usize>();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::check_history;

    #[test]
    fn history_is_cut_at_questions_only() {
        let mut history = Vec::new();
        for i in 0..5 {
            history.push(Message::user_text(format!("question {i}")));
            history.push(Message {
                role: Role::Assistant,
                content: vec![Block::ToolUse {
                    id: format!("t{i}"),
                    name: "x".into(),
                    input: serde_json::json!({}),
                }],
            });
            history.push(Message {
                role: Role::User,
                content: vec![Block::ToolResult {
                    id: format!("t{i}"),
                    text: "r".repeat(200),
                    is_error: false,
                }],
            });
            history.push(Message::assistant_text("answer"));
        }
        bound_history(&mut history, 700);
        check_history(&history).unwrap();
        assert_eq!(history[0].text(), "question 3");
        assert_eq!(history.len(), 8);
    }
}
