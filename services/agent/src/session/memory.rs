//! The in-memory store: conversations in this task's memory (the default; `scripts/run` needs
//! no AWS). The number of sessions and the size of each are bounded, and a new chat never evicts
//! someone else's: when the store is full it is refused (503).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{
    Openings, RunTicket, SessionError, SessionLimits, SessionStore, SessionView, bound_history,
    new_run_id,
};
use crate::conversation::Message;
use crate::events::AgentEvent;
use crate::transcript::Transcript;

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

/// The map key: the owner is part of it, so another owner's request cannot address the session.
fn key(owner: &str, id: &str) -> String {
    format!("{owner}\u{0}{id}")
}

/// All sessions, in memory.
#[derive(Debug)]
pub struct MemoryStore {
    sessions: Mutex<HashMap<String, Session>>,
    openings: Openings,
    limits: SessionLimits,
}

impl MemoryStore {
    pub fn new(limits: SessionLimits) -> Self {
        Self {
            sessions: Mutex::new(HashMap::new()),
            openings: Openings::new(limits.new_per_client_per_minute),
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

    fn drop_expired(sessions: &mut HashMap<String, Session>, ttl: Duration) {
        sessions
            .retain(|_, s| s.running.is_some() || s.last_used.is_some_and(|t| t.elapsed() < ttl));
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn exists(&self, owner: &str, id: &str) -> Result<bool, SessionError> {
        Ok(self.lock().contains_key(&key(owner, id)))
    }

    /// Refused when the client opened too many this minute, or when the store is full even
    /// after dropping expired sessions: existing conversations are never evicted to make room.
    async fn create(&self, owner: &str, client: IpAddr) -> Result<String, SessionError> {
        self.openings.count(client)?;
        let mut sessions = self.lock();
        if sessions.len() >= self.limits.max_sessions {
            Self::drop_expired(&mut sessions, self.limits.idle_ttl);
            if sessions.len() >= self.limits.max_sessions {
                return Err(SessionError::Full(self.limits.max_sessions));
            }
        }
        let id = uuid::Uuid::new_v4().to_string();
        sessions.insert(
            key(owner, &id),
            Session {
                last_used: Some(Instant::now()),
                ..Session::default()
            },
        );
        Ok(id)
    }

    async fn begin_run(
        &self,
        owner: &str,
        id: &str,
        question: &str,
    ) -> Result<(Vec<Message>, RunTicket), SessionError> {
        let mut sessions = self.lock();
        let session = sessions
            .get_mut(&key(owner, id))
            .ok_or(SessionError::Gone)?;
        if session.running.is_some() {
            return Err(SessionError::Busy);
        }
        let ticket = RunTicket {
            run: new_run_id(),
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

    async fn apply(&self, owner: &str, id: &str, run: u64, event: &AgentEvent) {
        if let Some(session) = self.lock().get_mut(&key(owner, id))
            && session.is_current(run)
        {
            session.transcript.apply(event);
        }
    }

    async fn finish_run(&self, owner: &str, id: &str, run: u64, mut history: Vec<Message>) {
        let mut sessions = self.lock();
        let Some(session) = sessions.get_mut(&key(owner, id)) else {
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

    async fn stop(&self, owner: &str, id: &str) -> Result<bool, SessionError> {
        Ok(
            match self
                .lock()
                .get(&key(owner, id))
                .and_then(|s| s.running.as_ref())
            {
                Some(running) => {
                    running.cancel.cancel();
                    true
                }
                None => false,
            },
        )
    }

    async fn reset(&self, owner: &str, id: &str) -> Result<(), SessionError> {
        if let Some(session) = self.lock().remove(&key(owner, id))
            && let Some(running) = session.running
        {
            running.cancel.cancel();
        }
        Ok(())
    }

    async fn view(&self, owner: &str, id: &str) -> Result<SessionView, SessionError> {
        Ok(match self.lock().get(&key(owner, id)) {
            Some(session) => SessionView {
                running: session.running.is_some(),
                messages: session.transcript.messages().to_vec(),
            },
            None => SessionView::default(),
        })
    }

    /// Removes sessions idle for longer than the TTL (never a running one).
    async fn expire_idle(&self) -> usize {
        let mut sessions = self.lock();
        let before = sessions.len();
        Self::drop_expired(&mut sessions, self.limits.idle_ttl);
        before - sessions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const O: &str = "alice-sub";

    const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[tokio::test]
    async fn one_run_at_a_time_and_stop() {
        let store = MemoryStore::new(SessionLimits::default());
        let s1 = store.create(O, CLIENT).await.unwrap();
        let (history, ticket) = store.begin_run(O, &s1, "q").await.unwrap();
        assert!(history.is_empty());
        assert_eq!(
            store.begin_run(O, &s1, "again").await.unwrap_err(),
            SessionError::Busy
        );
        assert!(store.view(O, &s1).await.unwrap().running);
        assert!(store.stop(O, &s1).await.unwrap());
        assert!(ticket.cancel.is_cancelled());
        store
            .finish_run(
                O,
                &s1,
                ticket.run,
                vec![Message::user_text("q"), Message::assistant_text("a")],
            )
            .await;
        assert!(!store.stop(O, &s1).await.unwrap());
        let (history, _) = store.begin_run(O, &s1, "next").await.unwrap();
        assert_eq!(history.len(), 2);
    }

    #[tokio::test]
    async fn ids_are_issued_here_only() {
        let store = MemoryStore::new(SessionLimits::default());
        // A client-chosen id is not a session: nothing is adopted or created for it.
        let chosen = uuid::Uuid::new_v4().to_string();
        assert_eq!(
            store.begin_run(O, &chosen, "q").await.unwrap_err(),
            SessionError::Gone
        );
        assert!(!store.exists(O, &chosen).await.unwrap());
        let issued = store.create(O, CLIENT).await.unwrap();
        assert!(store.exists(O, &issued).await.unwrap());
        assert_ne!(issued, chosen);
    }

    #[tokio::test]
    async fn reset_forgets_and_cancels() {
        let store = MemoryStore::new(SessionLimits::default());
        let s1 = store.create(O, CLIENT).await.unwrap();
        let (_, ticket) = store.begin_run(O, &s1, "q").await.unwrap();
        store.reset(O, &s1).await.unwrap();
        assert!(ticket.cancel.is_cancelled());
        assert!(store.view(O, &s1).await.unwrap().messages.is_empty());
        // The stopped run finishing later does not resurrect the session.
        store
            .finish_run(
                O,
                &s1,
                ticket.run,
                vec![Message::user_text("q"), Message::assistant_text("a")],
            )
            .await;
        assert!(store.is_empty());
    }

    #[tokio::test]
    async fn a_stale_run_changes_nothing_in_the_current_one() {
        let store = MemoryStore::new(SessionLimits::default());
        let s1 = store.create(O, CLIENT).await.unwrap();
        let (_, old) = store.begin_run(O, &s1, "old question").await.unwrap();
        assert!(store.stop(O, &s1).await.unwrap());
        // The stopped run is still winding down when a newer run takes the session over (the
        // case a reset plus a new question on the same id produced before run identities).
        store.lock().get_mut(&key(O, &s1)).unwrap().running = None;
        let (_, new) = store.begin_run(O, &s1, "new question").await.unwrap();
        assert_ne!(old.run, new.run);
        store
            .apply(
                O,
                &s1,
                old.run,
                &AgentEvent::Text {
                    delta: "stale text".into(),
                },
            )
            .await;
        store
            .finish_run(
                O,
                &s1,
                old.run,
                vec![
                    Message::user_text("old question"),
                    Message::assistant_text("old"),
                ],
            )
            .await;
        let view = store.view(O, &s1).await.unwrap();
        assert!(
            view.running,
            "the old run's end did not clear the new run's flag"
        );
        assert_eq!(
            store.begin_run(O, &s1, "third").await.unwrap_err(),
            SessionError::Busy
        );
        assert!(!format!("{:?}", view.messages).contains("stale text"));
        store.finish_run(O, &s1, new.run, vec![]).await;
        let (history, _) = store.begin_run(O, &s1, "third").await.unwrap();
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
        let store = MemoryStore::new(limits);
        let a = store.create(O, CLIENT).await.unwrap();
        let b = store.create(O, CLIENT).await.unwrap();
        let (_, ticket) = store.begin_run(O, &a, "q").await.unwrap();
        store
            .finish_run(
                O,
                &a,
                ticket.run,
                vec![Message::user_text("q"), Message::assistant_text("a")],
            )
            .await;
        tokio::time::advance(Duration::from_secs(1)).await;
        // Idle but not expired: both kept, the newcomer refused.
        assert_eq!(
            store.create(O, CLIENT).await.unwrap_err(),
            SessionError::Full(2)
        );
        assert!(store.exists(O, &a).await.unwrap() && store.exists(O, &b).await.unwrap());
        assert_eq!(store.view(O, &a).await.unwrap().messages.len(), 2);
        // Expired sessions make room.
        tokio::time::advance(Duration::from_secs(61)).await;
        store.create(O, CLIENT).await.unwrap();
        assert_eq!(store.len(), 1);
        assert_eq!(store.expire_idle().await, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn new_chats_are_rate_limited_per_client() {
        let limits = SessionLimits {
            new_per_client_per_minute: 3,
            ..SessionLimits::default()
        };
        let store = MemoryStore::new(limits);
        let other: IpAddr = "203.0.113.7".parse().unwrap();
        for _ in 0..3 {
            store.create(O, CLIENT).await.unwrap();
        }
        assert!(
            matches!(store.create(O, CLIENT).await, Err(SessionError::TooManyNew(s)) if s <= 61)
        );
        // Another address is not affected, and the limit renews each minute.
        store.create(O, other).await.unwrap();
        tokio::time::advance(Duration::from_secs(61)).await;
        store.create(O, CLIENT).await.unwrap();
    }

    #[tokio::test]
    async fn another_owner_sees_no_session() {
        let store = MemoryStore::new(SessionLimits::default());
        let s1 = store.create(O, CLIENT).await.unwrap();
        let (_, ticket) = store.begin_run(O, &s1, "q").await.unwrap();
        let mallory = "mallory-sub";
        assert!(!store.exists(mallory, &s1).await.unwrap());
        assert!(!store.view(mallory, &s1).await.unwrap().running);
        assert!(!store.stop(mallory, &s1).await.unwrap());
        assert!(!ticket.cancel.is_cancelled());
        assert_eq!(
            store.begin_run(mallory, &s1, "x").await.unwrap_err(),
            SessionError::Gone
        );
        store.reset(mallory, &s1).await.unwrap();
        assert!(store.view(O, &s1).await.unwrap().running);
    }
}
