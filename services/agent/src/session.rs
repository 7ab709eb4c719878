//! Server-side conversations keyed by the session cookie. One run at a time per session, and
//! each run has an identity: a run that is no longer its session's current one (stopped then
//! reset, or replaced) changes nothing when it ends. Session ids are issued here only (a
//! client-chosen id is never adopted). Idle sessions expire; the number of sessions and the size
//! of each are bounded, and a new chat never evicts someone else's: when the store is full it is
//! refused (503), and each client address may open only so many new chats per minute (429).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// Why a session or a run cannot start.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("an answer is already running in this chat; stop it or wait for it to finish")]
    Busy,
    #[error("the server is at its limit of {0} active chats; try again later")]
    Full(usize),
    #[error("too many new chats from your address; try again in {0} s")]
    TooManyNew(u64),
    #[error("this chat no longer exists; reload the page to start a new one")]
    Gone,
}

/// The run a session is answering now.
#[derive(Debug)]
struct Running {
    run: u64,
    cancel: CancellationToken,
}

#[derive(Debug, Default)]
struct Session {
    history: Vec<Message>,
    transcript: Transcript,
    running: Option<Running>,
    last_used: Option<Instant>,
}

impl Session {
    fn is_current(&self, run: u64) -> bool {
        self.running.as_ref().is_some_and(|r| r.run == run)
    }
}

/// A started run: its identity (for [`SessionStore::apply`] and [`SessionStore::finish_run`])
/// and the token that stops it.
#[derive(Debug, Clone)]
pub struct RunTicket {
    pub run: u64,
    pub cancel: CancellationToken,
}

/// A read-only copy of a session for `GET /api/session`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SessionView {
    pub running: bool,
    pub messages: Vec<ShownMessage>,
}

/// New sessions per client address in the current minute.
#[derive(Debug, Default)]
struct Openings {
    window: Option<Instant>,
    by_client: HashMap<IpAddr, u32>,
}

/// All sessions.
#[derive(Debug)]
pub struct SessionStore {
    sessions: Mutex<HashMap<String, Session>>,
    openings: Mutex<Openings>,
    next_run: AtomicU64,
    limits: SessionLimits,
}

impl SessionStore {
    pub fn new(limits: SessionLimits) -> Self {
        Self {
            sessions: Mutex::new(HashMap::new()),
            openings: Mutex::new(Openings::default()),
            next_run: AtomicU64::new(1),
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

    /// Whether `id` names a live session (one this store issued and still keeps).
    pub fn exists(&self, id: &str) -> bool {
        self.lock().contains_key(id)
    }

    /// Opens a new, empty session for `client` and returns its id (a fresh UUID). Refused when
    /// the client opened too many this minute, or when the store is full even after dropping
    /// expired sessions: existing conversations are never evicted to make room.
    pub fn create(&self, client: IpAddr) -> Result<String, SessionError> {
        self.count_opening(client)?;
        let mut sessions = self.lock();
        if sessions.len() >= self.limits.max_sessions {
            Self::drop_expired(&mut sessions, self.limits.idle_ttl);
            if sessions.len() >= self.limits.max_sessions {
                return Err(SessionError::Full(self.limits.max_sessions));
            }
        }
        let id = uuid::Uuid::new_v4().to_string();
        sessions.insert(
            id.clone(),
            Session {
                last_used: Some(Instant::now()),
                ..Session::default()
            },
        );
        Ok(id)
    }

    fn count_opening(&self, client: IpAddr) -> Result<(), SessionError> {
        let mut openings = self.openings.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let minute = Duration::from_secs(60);
        match openings.window {
            Some(start) if now.duration_since(start) < minute => {}
            _ => {
                openings.window = Some(now);
                openings.by_client.clear();
            }
        }
        let count = openings.by_client.entry(client).or_default();
        if *count >= self.limits.new_per_client_per_minute {
            let start = openings.window.unwrap_or(now);
            let wait = minute.saturating_sub(now.duration_since(start)).as_secs() + 1;
            return Err(SessionError::TooManyNew(wait));
        }
        *count += 1;
        Ok(())
    }

    /// Starts a run in session `id`: returns its model history and the run's ticket.
    pub fn begin_run(
        &self,
        id: &str,
        question: &str,
    ) -> Result<(Vec<Message>, RunTicket), SessionError> {
        let mut sessions = self.lock();
        let session = sessions.get_mut(id).ok_or(SessionError::Gone)?;
        if session.running.is_some() {
            return Err(SessionError::Busy);
        }
        let ticket = RunTicket {
            run: self.next_run.fetch_add(1, Ordering::Relaxed),
            cancel: CancellationToken::new(),
        };
        session.running = Some(Running {
            run: ticket.run,
            cancel: ticket.cancel.clone(),
        });
        session.last_used = Some(Instant::now());
        session.transcript.begin(question);
        Ok((std::mem::take(&mut session.history), ticket))
    }

    /// Records one event of run `run` in the transcript, if it is still the session's run.
    pub fn apply(&self, id: &str, run: u64, event: &AgentEvent) {
        if let Some(session) = self.lock().get_mut(id)
            && session.is_current(run)
        {
            session.transcript.apply(event);
        }
    }

    /// Ends run `run`: stores the history back, bounded. A run that is no longer the session's
    /// current one (the session was reset, expired or replaced meanwhile) changes nothing.
    pub fn finish_run(&self, id: &str, run: u64, mut history: Vec<Message>) {
        let mut sessions = self.lock();
        let Some(session) = sessions.get_mut(id) else {
            return;
        };
        if !session.is_current(run) {
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
            Some(running) => {
                running.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Forgets session `id`, stopping its run.
    pub fn reset(&self, id: &str) {
        if let Some(session) = self.lock().remove(id)
            && let Some(running) = session.running
        {
            running.cancel.cancel();
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
        Self::drop_expired(&mut sessions, self.limits.idle_ttl);
        before - sessions.len()
    }

    fn drop_expired(sessions: &mut HashMap<String, Session>, ttl: Duration) {
        sessions
            .retain(|_, s| s.running.is_some() || s.last_used.is_some_and(|t| t.elapsed() < ttl));
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

    const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[tokio::test]
    async fn one_run_at_a_time_and_stop() {
        let store = SessionStore::new(SessionLimits::default());
        let s1 = store.create(CLIENT).unwrap();
        let (history, ticket) = store.begin_run(&s1, "q").unwrap();
        assert!(history.is_empty());
        assert_eq!(
            store.begin_run(&s1, "again").unwrap_err(),
            SessionError::Busy
        );
        assert!(store.view(&s1).running);
        assert!(store.stop(&s1));
        assert!(ticket.cancel.is_cancelled());
        store.finish_run(
            &s1,
            ticket.run,
            vec![Message::user_text("q"), Message::assistant_text("a")],
        );
        assert!(!store.stop(&s1));
        let (history, _) = store.begin_run(&s1, "next").unwrap();
        assert_eq!(history.len(), 2);
    }

    #[tokio::test]
    async fn ids_are_issued_here_only() {
        let store = SessionStore::new(SessionLimits::default());
        // A client-chosen id is not a session: nothing is adopted or created for it.
        let chosen = uuid::Uuid::new_v4().to_string();
        assert_eq!(
            store.begin_run(&chosen, "q").unwrap_err(),
            SessionError::Gone
        );
        assert!(!store.exists(&chosen));
        let issued = store.create(CLIENT).unwrap();
        assert!(store.exists(&issued));
        assert_ne!(issued, chosen);
    }

    #[tokio::test]
    async fn reset_forgets_and_cancels() {
        let store = SessionStore::new(SessionLimits::default());
        let s1 = store.create(CLIENT).unwrap();
        let (_, ticket) = store.begin_run(&s1, "q").unwrap();
        store.reset(&s1);
        assert!(ticket.cancel.is_cancelled());
        assert!(store.view(&s1).messages.is_empty());
        // The stopped run finishing later does not resurrect the session.
        store.finish_run(
            &s1,
            ticket.run,
            vec![Message::user_text("q"), Message::assistant_text("a")],
        );
        assert!(store.is_empty());
    }

    #[tokio::test]
    async fn a_stale_run_changes_nothing_in_the_current_one() {
        let store = SessionStore::new(SessionLimits::default());
        let s1 = store.create(CLIENT).unwrap();
        let (_, old) = store.begin_run(&s1, "old question").unwrap();
        assert!(store.stop(&s1));
        // The stopped run is still winding down when a newer run takes the session over (the
        // case a reset plus a new question on the same id produced before run identities).
        store.lock().get_mut(&s1).unwrap().running = None;
        let (_, new) = store.begin_run(&s1, "new question").unwrap();
        assert_ne!(old.run, new.run);
        store.apply(
            &s1,
            old.run,
            &AgentEvent::Text {
                delta: "stale text".into(),
            },
        );
        store.finish_run(
            &s1,
            old.run,
            vec![
                Message::user_text("old question"),
                Message::assistant_text("old"),
            ],
        );
        let view = store.view(&s1);
        assert!(
            view.running,
            "the old run's end did not clear the new run's flag"
        );
        assert_eq!(
            store.begin_run(&s1, "third").unwrap_err(),
            SessionError::Busy
        );
        assert!(!format!("{:?}", view.messages).contains("stale text"));
        store.finish_run(&s1, new.run, vec![]);
        let (history, _) = store.begin_run(&s1, "third").unwrap();
        assert!(
            history.is_empty(),
            "the old run's history was not written back"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_store_refuses_newcomers_and_never_evicts_a_conversation() {
        let limits = SessionLimits {
            max_sessions: 2,
            idle_ttl: Duration::from_secs(60),
            max_session_bytes: 1024,
            new_per_client_per_minute: 100,
        };
        let store = SessionStore::new(limits);
        let a = store.create(CLIENT).unwrap();
        let b = store.create(CLIENT).unwrap();
        let (_, ticket) = store.begin_run(&a, "q").unwrap();
        store.finish_run(
            &a,
            ticket.run,
            vec![Message::user_text("q"), Message::assistant_text("a")],
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        // Idle but not expired: both kept, the newcomer refused.
        assert_eq!(store.create(CLIENT).unwrap_err(), SessionError::Full(2));
        assert!(store.exists(&a) && store.exists(&b));
        assert_eq!(store.view(&a).messages.len(), 2);
        // Expired sessions make room.
        tokio::time::advance(Duration::from_secs(61)).await;
        store.create(CLIENT).unwrap();
        assert_eq!(store.len(), 1);
        assert_eq!(store.expire_idle(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn new_chats_are_rate_limited_per_client() {
        let limits = SessionLimits {
            new_per_client_per_minute: 3,
            ..SessionLimits::default()
        };
        let store = SessionStore::new(limits);
        let other: IpAddr = "203.0.113.7".parse().unwrap();
        for _ in 0..3 {
            store.create(CLIENT).unwrap();
        }
        assert!(matches!(store.create(CLIENT), Err(SessionError::TooManyNew(s)) if s <= 61));
        // Another address is not affected, and the limit renews each minute.
        store.create(other).unwrap();
        tokio::time::advance(Duration::from_secs(61)).await;
        store.create(CLIENT).unwrap();
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
