//! The answer lease of a running run: renewed by a heartbeat on the task that runs the answer.
//! Each beat extends the lease (a conditional write that fails once the run lost the session:
//! reset, or the lease taken over after it lapsed), reads the stop flag any task may set, and
//! every few seconds writes the answer so far, so a reload on another task shows it.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::ReturnValue;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::items::{
    EXPIRES_AT, HEAD, LEASE_RUN, LEASE_UNTIL, PK, RUN_DONE, SHOWN, SK, STOP_ASKED, get_bool, n,
    run_value, s,
};
use super::{Inner, now_ms};

/// Timing of the lease.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// How long a lease lasts without renewal: a task that dies mid-answer locks its chat this
    /// long at most.
    pub lease: Duration,
    /// How often the holder renews it and looks for a stop.
    pub heartbeat: Duration,
    /// How often the answer so far is written.
    pub progress: Duration,
}

impl Default for LeaseSettings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(10),
            heartbeat: Duration::from_secs(1),
            progress: Duration::from_secs(2),
        }
    }
}

/// What one renewal found.
enum Beat {
    Renewed { stop_asked: bool },
    Lost,
    Failed(String),
}

async fn renew(inner: &Inner, pk: &str, run: u64) -> Beat {
    let now = now_ms();
    let result = inner
        .client
        .update_item()
        .table_name(&inner.table)
        .key(PK, s(pk))
        .key(SK, s(HEAD))
        .update_expression("SET #until = :until, #exp = :exp")
        .condition_expression("#run = :run")
        .expression_attribute_names("#until", LEASE_UNTIL)
        .expression_attribute_names("#exp", EXPIRES_AT)
        .expression_attribute_names("#run", LEASE_RUN)
        .expression_attribute_values(":until", n(now + inner.lease.lease.as_millis() as u64))
        .expression_attribute_values(":exp", n(inner.head_expiry()))
        .expression_attribute_values(":run", run_value(run))
        .return_values(ReturnValue::AllNew)
        .send()
        .await;
    match result {
        Ok(out) => Beat::Renewed {
            stop_asked: out
                .attributes()
                .is_some_and(|item| get_bool(item, STOP_ASKED)),
        },
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
        {
            Beat::Lost
        }
        Err(e) => Beat::Failed(super::describe(&e)),
    }
}

/// Writes the answer so far, unless the run already stored its final exchange.
async fn write_progress(inner: &Inner, pk: &str, sk: &str, shown: String) {
    let result = inner
        .client
        .update_item()
        .table_name(&inner.table)
        .key(PK, s(pk))
        .key(SK, s(sk))
        .update_expression("SET #shown = :shown")
        .condition_expression("#done = :false")
        .expression_attribute_names("#shown", SHOWN)
        .expression_attribute_names("#done", RUN_DONE)
        .expression_attribute_values(":shown", s(shown))
        .expression_attribute_values(
            ":false",
            aws_sdk_dynamodb::types::AttributeValue::Bool(false),
        )
        .send()
        .await;
    if let Err(e) = result
        && !e
            .as_service_error()
            .is_some_and(|e| e.is_conditional_check_failed_exception())
    {
        tracing::warn!(error = %super::describe(&e), "writing an answer's progress failed");
    }
}

/// Keeps run `run`'s lease until `stop` is cancelled; cancels the run (`cancel`) when a stop is
/// asked, when the lease is lost, or when it could not be renewed for a whole lease period.
pub async fn heartbeat(
    inner: Arc<Inner>,
    pk: String,
    sk: String,
    run: u64,
    cancel: CancellationToken,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(inner.lease.heartbeat);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick.tick().await;
    let mut renewed = Instant::now();
    let mut progress = Instant::now();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        match renew(&inner, &pk, run).await {
            Beat::Renewed { stop_asked } => {
                renewed = Instant::now();
                if stop_asked {
                    cancel.cancel();
                }
            }
            Beat::Lost => {
                inner.mark_lost(run);
                cancel.cancel();
                return;
            }
            Beat::Failed(error) => {
                tracing::warn!(%error, "renewing an answer's lease failed");
                if renewed.elapsed() >= inner.lease.lease {
                    inner.mark_lost(run);
                    cancel.cancel();
                    return;
                }
            }
        }
        if progress.elapsed() >= inner.lease.progress {
            progress = Instant::now();
            if let Some(shown) = inner.take_progress(run) {
                write_progress(&inner, &pk, &sk, shown).await;
            }
        }
    }
}
