//! The store's requests to DynamoDB, one function per operation. Reads are strongly consistent
//! and skip expired items; conditional writes keep the lease rules.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};

use super::items::{
    self, EXCHANGE, EXPIRES_AT, HEAD, HISTORY, Item, LEASE_RUN, LEASE_UNTIL, PK, RUN_DONE,
    RUNNING_SK, SHOWN, SK, STOP_ASKED, get_n, get_s, live, n, run_value, s,
};
use super::{Inner, describe, now_ms, now_secs, unavailable};
use crate::conversation::Message;
use crate::session::{SessionError, SessionView};
use crate::transcript::Transcript;

/// Exchange items read per Query page.
const PAGE: i32 = 16;

fn bool_value(value: bool) -> AttributeValue {
    AttributeValue::Bool(value)
}

fn build_error(error: impl std::fmt::Display) -> SessionError {
    SessionError::Unavailable(format!("DynamoDB request: {error}"))
}

/// The session's head item, if it exists and has not expired.
pub async fn live_head(inner: &Inner, pk: &str) -> Result<Option<Item>, SessionError> {
    let out = inner
        .client
        .get_item()
        .table_name(&inner.table)
        .key(PK, s(pk))
        .key(SK, s(HEAD))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| unavailable(&e))?;
    Ok(out.item.filter(|item| live(item, now_secs())))
}

pub async fn create_head(inner: &Inner, pk: &str) -> Result<(), SessionError> {
    inner
        .client
        .put_item()
        .table_name(&inner.table)
        .item(PK, s(pk))
        .item(SK, s(HEAD))
        .item(EXPIRES_AT, n(inner.head_expiry()))
        .condition_expression("attribute_not_exists(#pk)")
        .expression_attribute_names("#pk", PK)
        .send()
        .await
        .map_err(|e| unavailable(&e))?;
    Ok(())
}

/// Takes the session's lease for `run` and writes its exchange item (the question) in one
/// transaction. `Busy` if a live lease is held, `Gone` if the session does not exist.
pub async fn take_lease(
    inner: &Inner,
    pk: &str,
    sk: &str,
    run: u64,
    exchange: &Transcript,
) -> Result<(), SessionError> {
    let now = now_ms();
    let head = Update::builder()
        .table_name(&inner.table)
        .key(PK, s(pk))
        .key(SK, s(HEAD))
        .update_expression(
            "SET #run = :run, #until = :until, #stop = :false, #rsk = :sk, #exp = :exp",
        )
        .condition_expression(
            "attribute_exists(#pk) AND #exp > :now_s AND \
             (attribute_not_exists(#run) OR #until < :now_ms)",
        )
        .expression_attribute_names("#pk", PK)
        .expression_attribute_names("#run", LEASE_RUN)
        .expression_attribute_names("#until", LEASE_UNTIL)
        .expression_attribute_names("#stop", STOP_ASKED)
        .expression_attribute_names("#rsk", RUNNING_SK)
        .expression_attribute_names("#exp", EXPIRES_AT)
        .expression_attribute_values(":run", run_value(run))
        .expression_attribute_values(":until", n(now + inner.lease.lease.as_millis() as u64))
        .expression_attribute_values(":false", bool_value(false))
        .expression_attribute_values(":sk", s(sk))
        .expression_attribute_values(":exp", n(inner.head_expiry()))
        .expression_attribute_values(":now_s", n(now / 1000))
        .expression_attribute_values(":now_ms", n(now))
        .build()
        .map_err(build_error)?;
    let question = Put::builder()
        .table_name(&inner.table)
        .item(PK, s(pk))
        .item(SK, s(sk))
        .item(LEASE_RUN, run_value(run))
        .item(RUN_DONE, bool_value(false))
        .item(SHOWN, s(items::encode_exchange(exchange, &[]).shown))
        .item(EXPIRES_AT, n(inner.exchange_expiry()))
        .build()
        .map_err(build_error)?;
    let result = inner
        .client
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().update(head).build())
        .transact_items(TransactWriteItem::builder().put(question).build())
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_transaction_canceled_exception()) =>
        {
            // Refused by the condition: no session, or one whose answer is running.
            match live_head(inner, pk).await? {
                None => Err(SessionError::Gone),
                Some(_) => Err(SessionError::Busy),
            }
        }
        Err(e) => Err(unavailable(&e)),
    }
}

/// Gives the lease back (a run that could not start).
pub async fn release(inner: &Inner, pk: &str, run: u64) {
    let result = inner
        .client
        .update_item()
        .table_name(&inner.table)
        .key(PK, s(pk))
        .key(SK, s(HEAD))
        .update_expression("REMOVE #run, #until, #rsk")
        .condition_expression("#run = :run")
        .expression_attribute_names("#run", LEASE_RUN)
        .expression_attribute_names("#until", LEASE_UNTIL)
        .expression_attribute_names("#rsk", RUNNING_SK)
        .expression_attribute_values(":run", run_value(run))
        .send()
        .await;
    if let Err(e) = result {
        tracing::warn!(error = %describe(&e), "releasing a lease failed; it expires by itself");
    }
}

/// Reads the session's live exchange items, newest first, `attributes` projected besides the
/// sort key, expiry and done flag, until `keep` returns false.
async fn exchanges(
    inner: &Inner,
    pk: &str,
    attribute: &str,
    mut keep: impl FnMut(&Item) -> bool,
) -> Result<(), SessionError> {
    let now = now_secs();
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let out = inner
            .client
            .query()
            .table_name(&inner.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :x)")
            .projection_expression("#sk, #exp, #done, #attr")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_names("#exp", EXPIRES_AT)
            .expression_attribute_names("#done", RUN_DONE)
            .expression_attribute_names("#attr", attribute)
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":x", s(EXCHANGE))
            .scan_index_forward(false)
            .consistent_read(true)
            .limit(PAGE)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        for item in out.items() {
            if live(item, now) && !keep(item) {
                return Ok(());
            }
        }
        match out.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok(()),
        }
    }
}

/// The model history of the finished exchanges, newest kept until the history bound (a single
/// exchange over the bound is kept whole rather than broken).
pub async fn load_history(inner: &Inner, pk: &str) -> Result<Vec<Message>, SessionError> {
    let budget = inner.limits.max_session_bytes / 2;
    let mut chunks: Vec<Vec<Message>> = Vec::new();
    let mut bytes = 0;
    exchanges(inner, pk, HISTORY, |item| {
        if !items::get_bool(item, RUN_DONE) {
            return true;
        }
        let history = items::decode_history(item);
        let size: usize = history.iter().map(Message::approx_bytes).sum();
        if !chunks.is_empty() && bytes + size > budget {
            return false;
        }
        bytes += size;
        if !history.is_empty() {
            chunks.push(history);
        }
        true
    })
    .await?;
    Ok(chunks.into_iter().rev().flatten().collect())
}

/// Stores run `run`'s finished exchange and gives the lease back, in one transaction that
/// happens only if the run still holds the lease (otherwise nothing changes).
pub async fn store_exchange(
    inner: &Inner,
    pk: &str,
    sk: &str,
    run: u64,
    exchange: items::Exchange,
) {
    let head = Update::builder()
        .table_name(&inner.table)
        .key(PK, s(pk))
        .key(SK, s(HEAD))
        .update_expression("REMOVE #run, #until, #rsk SET #stop = :false, #exp = :exp")
        .condition_expression("#run = :run")
        .expression_attribute_names("#run", LEASE_RUN)
        .expression_attribute_names("#until", LEASE_UNTIL)
        .expression_attribute_names("#rsk", RUNNING_SK)
        .expression_attribute_names("#stop", STOP_ASKED)
        .expression_attribute_names("#exp", EXPIRES_AT)
        .expression_attribute_values(":run", run_value(run))
        .expression_attribute_values(":false", bool_value(false))
        .expression_attribute_values(":exp", n(inner.head_expiry()))
        .build();
    let item = Put::builder()
        .table_name(&inner.table)
        .item(PK, s(pk))
        .item(SK, s(sk))
        .item(LEASE_RUN, run_value(run))
        .item(RUN_DONE, bool_value(true))
        .item(SHOWN, s(exchange.shown))
        .item(HISTORY, s(exchange.history))
        .item(EXPIRES_AT, n(inner.exchange_expiry()))
        .build();
    let (Ok(head), Ok(item)) = (head, item) else {
        tracing::error!("building the final write of an answer failed");
        return;
    };
    let result = inner
        .client
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().update(head).build())
        .transact_items(TransactWriteItem::builder().put(item).build())
        .send()
        .await;
    match result {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_transaction_canceled_exception()) =>
        {
            tracing::info!("an answer ended after its chat moved on; nothing stored");
        }
        Err(e) => tracing::warn!(error = %describe(&e), "storing an answer failed"),
    }
}

/// Sets the stop flag if an answer runs (its lease is live); whether one does.
pub async fn ask_stop(inner: &Inner, pk: &str) -> Result<bool, SessionError> {
    let now = now_ms();
    let result = inner
        .client
        .update_item()
        .table_name(&inner.table)
        .key(PK, s(pk))
        .key(SK, s(HEAD))
        .update_expression("SET #stop = :true")
        .condition_expression("attribute_exists(#run) AND #until > :now_ms AND #exp > :now_s")
        .expression_attribute_names("#stop", STOP_ASKED)
        .expression_attribute_names("#run", LEASE_RUN)
        .expression_attribute_names("#until", LEASE_UNTIL)
        .expression_attribute_names("#exp", EXPIRES_AT)
        .expression_attribute_values(":true", bool_value(true))
        .expression_attribute_values(":now_ms", n(now))
        .expression_attribute_values(":now_s", n(now / 1000))
        .send()
        .await;
    match result {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(unavailable(&e)),
    }
}

/// Deletes the head (the session is gone at once: its run loses the lease) and then its
/// exchanges.
pub async fn delete_session(inner: &Inner, pk: &str) -> Result<(), SessionError> {
    inner
        .client
        .delete_item()
        .table_name(&inner.table)
        .key(PK, s(pk))
        .key(SK, s(HEAD))
        .send()
        .await
        .map_err(|e| unavailable(&e))?;
    let mut keys = Vec::new();
    exchanges(inner, pk, RUN_DONE, |item| {
        if let Some(sk) = get_s(item, SK) {
            keys.push(sk.to_owned());
        }
        true
    })
    .await?;
    for sk in keys {
        let result = inner
            .client
            .delete_item()
            .table_name(&inner.table)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .send()
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %describe(&e), "deleting a reset chat's exchange failed");
        }
    }
    Ok(())
}

/// What the session shows: its exchanges, newest kept until the transcript bound. The running
/// exchange is this task's copy when the answer runs here, else its last written progress; an
/// exchange whose task died shows as it was, its running tool cards cancelled.
pub async fn view(inner: &Inner, pk: &str) -> Result<SessionView, SessionError> {
    let Some(head) = live_head(inner, pk).await? else {
        return Ok(SessionView::default());
    };
    let now = now_ms();
    let running =
        get_s(&head, LEASE_RUN).is_some() && get_n(&head, LEASE_UNTIL).is_some_and(|u| u > now);
    let running_sk = if running {
        get_s(&head, RUNNING_SK)
    } else {
        None
    };
    let budget = inner.limits.max_session_bytes / 2;
    let mut shown: Vec<Transcript> = Vec::new();
    let mut bytes = 0;
    exchanges(inner, pk, SHOWN, |item| {
        let sk = get_s(item, SK);
        let here = inner
            .runs()
            .values()
            .find(|r| Some(r.sk.as_str()) == sk && !r.lost)
            .map(|r| r.exchange.clone());
        let transcript = match here {
            Some(transcript) if running_sk == sk => transcript,
            _ => {
                let mut transcript = Transcript::from_stored(items::decode_shown(item));
                if running_sk != sk {
                    transcript.close();
                }
                transcript
            }
        };
        let size = transcript.bytes();
        if !shown.is_empty() && bytes + size > budget {
            return false;
        }
        bytes += size;
        shown.push(transcript);
        true
    })
    .await?;
    Ok(SessionView {
        running,
        messages: shown
            .iter()
            .rev()
            .flat_map(|t| t.messages().iter().cloned())
            .collect(),
    })
}
