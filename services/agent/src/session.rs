//! Server-side conversations keyed by the session cookie. One run at a time per session; idle
//! sessions expire; the number of sessions and the size of each are bounded, so memory stays
//! bounded whatever the traffic.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::conversation::{Message, Role};
use crate::events::AgentEvent;
use crate::transcript::{ShownMessage, Transcript};

/// Bounds of the store.
#[derive(Debug, Clone)]
pub struct SessionLimits {
    pub max_sessions: usize,
    pub idle_ttl: Duration,
    /// Model history plus transcript, per session.
    pub max_session_bytes: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            max_sessions: 1000,
            idle_ttl: Duration::from_secs(3600),
            max_session_bytes: 512 * 1024,
        }
    }
}

/// Why a run cannot start.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("an answer is already running in this chat; stop it or wait for it to finish")]
    Busy,
    #[error("the server is at its limit of {0} active chats; try again later")]
    Full(usize),
}

#[derive(Debug, Default)]
struct Session {
    history: Vec<Message>,
    transcript: Transcript,
    running: Option<CancellationToken>,
    last_used: Option<Instant>,
}

/// A read-only copy of a session for `GET /api/session`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SessionView {
    pub running: bool,
    pub messages: Vec<ShownMessage>,
}

/// All sessions.
#[derive(Debug)]
pub struct SessionStore {
    sessions: Mutex<HashMap<String, Session>>,
    limits: SessionLimits,
}

impl SessionStore {
    pub fn new(limits: SessionLimits) -> Self {
        Self {
            sessions: Mutex::new(HashMap::new()),
            limits,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many sessions exist.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Starts a run in session `id` (created if new): returns its model history and the token
    /// that stops it.
    pub fn begin_run(
        &self,
        id: &str,
        question: &str,
    ) -> Result<(Vec<Message>, CancellationToken), SessionError> {
        let mut sessions = self.lock();
        if !sessions.contains_key(id) && sessions.len() >= self.limits.max_sessions {
            self.evict(&mut sessions);
            if sessions.len() >= self.limits.max_sessions {
                return Err(SessionError::Full(self.limits.max_sessions));
            }
        }
        let session = sessions.entry(id.to_owned()).or_default();
        if session.running.is_some() {
            return Err(SessionError::Busy);
        }
        let cancel = CancellationToken::new();
        session.running = Some(cancel.clone());
        session.last_used = Some(Instant::now());
        session.transcript.begin(question);
        Ok((std::mem::take(&mut session.history), cancel))
    }

    /// Records one event of the running answer in the transcript.
    pub fn apply(&self, id: &str, event: &AgentEvent) {
        if let Some(session) = self.lock().get_mut(id) {
            session.transcript.apply(event);
        }
    }

    /// Ends the run: stores the history back, bounded.
    pub fn finish_run(&self, id: &str, mut history: Vec<Message>) {
        let mut sessions = self.lock();
        // The session may have been reset or evicted meanwhile: then the run is dropped.
        let Some(session) = sessions.get_mut(id) else {
            return;
        };
        if session.running.is_none() {
            return;
        }
        session.running = None;
        session.last_used = Some(Instant::now());
        session.transcript.close();
        let shown = session.transcript.bound(self.limits.max_session_bytes / 2);
        bound_history(
            &mut history,
            self.limits.max_session_bytes.saturating_sub(shown),
        );
        session.history = history;
    }

    /// Stops the running answer of session `id`; false if none runs.
    pub fn stop(&self, id: &str) -> bool {
        match self.lock().get(id).and_then(|s| s.running.as_ref()) {
            Some(cancel) => {
                cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Forgets session `id`, stopping its run.
    pub fn reset(&self, id: &str) {
        if let Some(session) = self.lock().remove(id)
            && let Some(cancel) = session.running
        {
            cancel.cancel();
        }
    }

    /// What session `id` shows.
    pub fn view(&self, id: &str) -> SessionView {
        match self.lock().get(id) {
            Some(session) => SessionView {
                running: session.running.is_some(),
                messages: session.transcript.messages().to_vec(),
            },
            None => SessionView {
                running: false,
                messages: Vec::new(),
            },
        }
    }

    /// Removes sessions idle for longer than the TTL (never a running one).
    pub fn expire_idle(&self) -> usize {
        let mut sessions = self.lock();
        let before = sessions.len();
        let ttl = self.limits.idle_ttl;
        sessions
            .retain(|_, s| s.running.is_some() || s.last_used.is_some_and(|t| t.elapsed() < ttl));
        before - sessions.len()
    }

    /// Makes room: expired sessions first, then the least recently used idle one.
    fn evict(&self, sessions: &mut HashMap<String, Session>) {
        let ttl = self.limits.idle_ttl;
        sessions
            .retain(|_, s| s.running.is_some() || s.last_used.is_some_and(|t| t.elapsed() < ttl));
        if sessions.len() < self.limits.max_sessions {
            return;
        }
        let oldest = sessions
            .iter()
            .filter(|(_, s)| s.running.is_none())
            .min_by_key(|(_, s)| s.last_used)
            .map(|(id, _)| id.clone());
        if let Some(id) = oldest {
            sessions.remove(&id);
        }
    }
}

/// Drops the oldest exchanges (from one user question to the next) until the history fits.
/// Cutting only at a user question keeps every tool use paired with its result.
pub fn bound_history(history: &mut Vec<Message>, max_bytes: usize) {
    let mut total: usize = history.iter().map(Message::approx_bytes).sum();
    while total > max_bytes {
        let next_question = history.iter().enumerate().skip(1).find(|(_, m)| {
            m.role == Role::User
                && m.content
                    .iter()
                    .all(|b| matches!(b, crate::conversation::Block::Text { .. }))
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

    #[tokio::test]
    async fn one_run_at_a_time_and_stop() {
        let store = SessionStore::new(SessionLimits::default());
        let (history, cancel) = store.begin_run("s1", "q").unwrap();
        assert!(history.is_empty());
        assert_eq!(store.begin_run("s1", "again"), Err(SessionError::Busy));
        assert!(store.view("s1").running);
        assert!(store.stop("s1"));
        assert!(cancel.is_cancelled());
        store.finish_run(
            "s1",
            vec![Message::user_text("q"), Message::assistant_text("a")],
        );
        assert!(!store.stop("s1"));
        let (history, _) = store.begin_run("s1", "next").unwrap();
        assert_eq!(history.len(), 2);
    }

    #[tokio::test]
    async fn reset_forgets_and_cancels() {
        let store = SessionStore::new(SessionLimits::default());
        let (_, cancel) = store.begin_run("s1", "q").unwrap();
        store.reset("s1");
        assert!(cancel.is_cancelled());
        assert!(store.view("s1").messages.is_empty());
        // The stopped run finishing later does not resurrect the session.
        store.finish_run(
            "s1",
            vec![Message::user_text("q"), Message::assistant_text("a")],
        );
        assert!(store.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn sessions_are_bounded_and_expire() {
        let limits = SessionLimits {
            max_sessions: 2,
            idle_ttl: Duration::from_secs(60),
            max_session_bytes: 1024,
        };
        let store = SessionStore::new(limits);
        store.begin_run("a", "q").unwrap();
        store.begin_run("b", "q").unwrap();
        // Both running: no room.
        assert_eq!(store.begin_run("c", "q"), Err(SessionError::Full(2)));
        store.finish_run("a", vec![]);
        tokio::time::advance(Duration::from_secs(1)).await;
        // The idle one makes room.
        store.begin_run("c", "q").unwrap();
        assert_eq!(store.len(), 2);
        assert!(store.view("a").messages.is_empty());
        store.finish_run("b", vec![]);
        store.finish_run("c", vec![]);
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(store.expire_idle(), 2);
        assert!(store.is_empty());
    }

    #[test]
    fn history_is_cut_at_questions_only() {
        let mut history = Vec::new();
        for i in 0..5 {
            history.push(Message::user_text(format!("question {i}")));
            history.push(Message {
                role: Role::Assistant,
                content: vec![crate::conversation::Block::ToolUse {
                    id: format!("t{i}"),
                    name: "x".into(),
                    input: serde_json::json!({}),
                }],
            });
            history.push(Message {
                role: Role::User,
                content: vec![crate::conversation::Block::ToolResult {
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
