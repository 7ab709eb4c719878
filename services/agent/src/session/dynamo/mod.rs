//! The DynamoDB store: every task of the service shares one table, so a chat continues on any
//! task. The layout is in [`items`]; "one answer at a time per chat" is a lease on the session's
//! head item, taken with a conditional write and kept by a heartbeat ([`lease`]) that also
//! carries Stop from any task to the one running the answer. A run that lost its lease (reset,
//! or its task too slow to renew) changes nothing when it ends: its final write is a transaction
//! conditioned on still holding the lease.

pub mod items;
mod lease;
mod ops;
mod table;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Openings, RunTicket, SessionError, SessionLimits, SessionStore, SessionView};
use crate::conversation::Message;
use crate::events::AgentEvent;
use crate::transcript::Transcript;

pub use lease::LeaseSettings;
pub use table::create_table;

/// How long the session cookie lives (`api::set_cookie`): exchanges are kept that long, so a
/// chat in use keeps its beginning; the head item's expiry is the idle limit.
const COOKIE_LIFETIME: Duration = Duration::from_secs(86_400);

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub(crate) fn now_secs() -> u64 {
    now_ms() / 1000
}

/// An SDK error as the user and the log see it: AWS's code and message, or the transport error.
pub(crate) fn describe<E, R>(error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("DynamoDB {code}: {message}"),
        (Some(code), None) => format!("DynamoDB {code}"),
        _ => format!("DynamoDB: {}", DisplayErrorContext(error)),
    }
}

fn unavailable<E, R>(error: &SdkError<E, R>) -> SessionError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let message = describe(error);
    tracing::warn!(error = %message, "session store request failed");
    SessionError::Unavailable(message)
}

/// A run answering on this task.
struct LocalRun {
    pk: String,
    sk: String,
    /// This exchange as shown (question and answer so far).
    exchange: Transcript,
    /// How many history messages the run was given (the rest is this exchange's).
    loaded: usize,
    /// Whether the exchange changed since its progress was last written.
    dirty: bool,
    /// Whether the lease was lost (the run's end then changes nothing).
    lost: bool,
    cancel: CancellationToken,
    heartbeat_stop: CancellationToken,
    heartbeat: Option<JoinHandle<()>>,
}

/// What the store and its heartbeats share.
pub struct Inner {
    client: aws_sdk_dynamodb::Client,
    table: String,
    limits: SessionLimits,
    lease: LeaseSettings,
    runs: Mutex<HashMap<u64, LocalRun>>,
}

impl Inner {
    fn runs(&self) -> std::sync::MutexGuard<'_, HashMap<u64, LocalRun>> {
        self.runs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The head item's TTL: the idle limit from now.
    fn head_expiry(&self) -> u64 {
        now_secs() + self.limits.idle_ttl.as_secs().max(1)
    }

    /// An exchange item's TTL: as long as a cookie can name the session (at least the idle limit).
    fn exchange_expiry(&self) -> u64 {
        now_secs() + self.limits.idle_ttl.max(COOKIE_LIFETIME).as_secs()
    }

    fn mark_lost(&self, run: u64) {
        if let Some(local) = self.runs().get_mut(&run) {
            local.lost = true;
        }
    }

    /// The answer so far as stored JSON, if it changed since the last call.
    fn take_progress(&self, run: u64) -> Option<String> {
        let mut runs = self.runs();
        let local = runs.get_mut(&run).filter(|r| r.dirty)?;
        local.dirty = false;
        Some(items::encode_exchange(&local.exchange, &[]).shown)
    }

    /// Cancels the runs of partition `pk` on this task; whether there was one.
    fn cancel_local(&self, pk: &str) -> bool {
        let runs = self.runs();
        let mut found = false;
        for local in runs.values().filter(|r| r.pk == pk && !r.lost) {
            local.cancel.cancel();
            found = true;
        }
        found
    }
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner").field("table", &self.table).finish()
    }
}

/// Sessions in a DynamoDB table (`--session-store dynamodb --sessions-table NAME`).
#[derive(Debug)]
pub struct DynamoStore {
    inner: Arc<Inner>,
    openings: Openings,
}

impl DynamoStore {
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        limits: SessionLimits,
        lease: LeaseSettings,
    ) -> Self {
        Self {
            openings: Openings::new(limits.new_per_client_per_minute),
            inner: Arc::new(Inner {
                client,
                table: table.into(),
                limits,
                lease,
                runs: Mutex::new(HashMap::new()),
            }),
        }
    }
}

#[async_trait]
impl SessionStore for DynamoStore {
    async fn exists(&self, owner: &str, id: &str) -> Result<bool, SessionError> {
        let pk = items::partition(owner, id);
        Ok(ops::live_head(&self.inner, &pk).await?.is_some())
    }

    /// Refused when the client opened too many this minute. There is no slot limit: the table,
    /// not this task's memory, holds the chats.
    async fn create(&self, owner: &str, client: IpAddr) -> Result<String, SessionError> {
        self.openings.count(client)?;
        let id = uuid::Uuid::new_v4().to_string();
        ops::create_head(&self.inner, &items::partition(owner, &id)).await?;
        Ok(id)
    }

    async fn begin_run(
        &self,
        owner: &str,
        id: &str,
        question: &str,
    ) -> Result<(Vec<Message>, RunTicket), SessionError> {
        let pk = items::partition(owner, id);
        let run = super::new_run_id();
        let sk = items::exchange_key(now_ms(), run);
        let mut exchange = Transcript::default();
        exchange.begin(question);
        ops::take_lease(&self.inner, &pk, &sk, run, &exchange).await?;
        let history = match ops::load_history(&self.inner, &pk).await {
            Ok(history) => history,
            Err(error) => {
                ops::release(&self.inner, &pk, run).await;
                return Err(error);
            }
        };
        let ticket = RunTicket {
            run,
            cancel: CancellationToken::new(),
        };
        let heartbeat_stop = CancellationToken::new();
        let mut runs = self.inner.runs();
        runs.insert(
            run,
            LocalRun {
                pk: pk.clone(),
                sk: sk.clone(),
                exchange,
                loaded: history.len(),
                dirty: false,
                lost: false,
                cancel: ticket.cancel.clone(),
                heartbeat_stop: heartbeat_stop.clone(),
                heartbeat: None,
            },
        );
        let handle = tokio::spawn(lease::heartbeat(
            self.inner.clone(),
            pk,
            sk,
            run,
            ticket.cancel.clone(),
            heartbeat_stop,
        ));
        if let Some(local) = runs.get_mut(&run) {
            local.heartbeat = Some(handle);
        }
        Ok((history, ticket))
    }

    async fn apply(&self, owner: &str, id: &str, run: u64, event: &AgentEvent) {
        let pk = items::partition(owner, id);
        if let Some(local) = self.inner.runs().get_mut(&run)
            && local.pk == pk
            && !local.lost
        {
            local.exchange.apply(event);
            local.dirty = true;
        }
    }

    async fn finish_run(&self, owner: &str, id: &str, run: u64, history: Vec<Message>) {
        let pk = items::partition(owner, id);
        let local = {
            let mut runs = self.inner.runs();
            match runs.get(&run) {
                Some(local) if local.pk == pk => runs.remove(&run),
                _ => None,
            }
        };
        let Some(mut local) = local else { return };
        local.heartbeat_stop.cancel();
        if let Some(handle) = local.heartbeat.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), handle).await;
        }
        if local.lost {
            return;
        }
        local.exchange.close();
        let added = history.get(local.loaded..).unwrap_or_default();
        let added = if added
            .first()
            .is_some_and(|m| m.role == crate::conversation::Role::User)
        {
            added
        } else {
            &[]
        };
        let stored = items::encode_exchange(&local.exchange, added);
        ops::store_exchange(&self.inner, &pk, &local.sk, run, stored).await;
    }

    async fn stop(&self, owner: &str, id: &str) -> Result<bool, SessionError> {
        let pk = items::partition(owner, id);
        let here = self.inner.cancel_local(&pk);
        Ok(ops::ask_stop(&self.inner, &pk).await? || here)
    }

    async fn reset(&self, owner: &str, id: &str) -> Result<(), SessionError> {
        let pk = items::partition(owner, id);
        self.inner.cancel_local(&pk);
        ops::delete_session(&self.inner, &pk).await
    }

    async fn view(&self, owner: &str, id: &str) -> Result<SessionView, SessionError> {
        let pk = items::partition(owner, id);
        ops::view(&self.inner, &pk).await
    }

    /// Nothing to do here: the table's TTL deletes expired items, and reads skip them already.
    async fn expire_idle(&self) -> usize {
        0
    }
}
