//! The session-store interface the API and the runner use, whatever keeps the chats.

use std::net::IpAddr;

use async_trait::async_trait;

use super::{RunTicket, SessionError, SessionView};
use crate::conversation::Message;
use crate::events::AgentEvent;

/// Where conversations live. Every operation names the session's `owner`; a session asked for
/// by another owner behaves exactly as one that does not exist.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Whether `id` names a live session of `owner` (one this store issued and still keeps).
    async fn exists(&self, owner: &str, id: &str) -> Result<bool, SessionError>;

    /// Opens a new, empty session for `owner` from `client` and returns its id (a fresh UUID).
    async fn create(&self, owner: &str, client: IpAddr) -> Result<String, SessionError>;

    /// Starts a run: the model history to continue from and the run's ticket. `Busy` while
    /// another run holds the session, `Gone` if there is no such session.
    async fn begin_run(
        &self,
        owner: &str,
        id: &str,
        question: &str,
    ) -> Result<(Vec<Message>, RunTicket), SessionError>;

    /// Records one event of run `run`, if it is still the session's run.
    async fn apply(&self, owner: &str, id: &str, run: u64, event: &AgentEvent);

    /// Ends run `run`, storing the history it ended with (bounded). A run that is no longer the
    /// session's current one changes nothing.
    async fn finish_run(&self, owner: &str, id: &str, run: u64, history: Vec<Message>);

    /// Stops the session's running answer, wherever it runs; false if none runs.
    async fn stop(&self, owner: &str, id: &str) -> Result<bool, SessionError>;

    /// Forgets the session, stopping its run.
    async fn reset(&self, owner: &str, id: &str) -> Result<(), SessionError>;

    /// What the session shows (empty if there is no such session).
    async fn view(&self, owner: &str, id: &str) -> Result<SessionView, SessionError>;

    /// Drops what expired from this task's memory; how many sessions went.
    async fn expire_idle(&self) -> usize;
}
