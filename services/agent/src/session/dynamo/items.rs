//! The table's layout. One partition per session, its key `s#<owner hash>#<session id>` (the
//! owner is part of the key, so a cookie presented by someone else addresses nothing); in it a
//! small head item (`sk = head`: expiry, the answer lease, the stop flag) and one item per
//! exchange (`sk = x#<start ms>#<run>`: the question and answer as shown, tool cards included,
//! and the exchange's model history), so no item grows with the chat. Every item carries the TTL
//! attribute `expires_at` (epoch seconds), and reads skip expired items themselves (DynamoDB's
//! TTL deletion can lag by a day or more).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use sha2::{Digest, Sha256};

use crate::conversation::Message;
use crate::transcript::{StoredMessage, Transcript};

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const HEAD: &str = "head";
/// Prefix of the exchange items' sort keys.
pub const EXCHANGE: &str = "x#";
/// The TTL attribute (epoch seconds), on every item.
pub const EXPIRES_AT: &str = "expires_at";
/// Head: the run holding the answer lease, until when (epoch ms), and its exchange's sort key.
pub const LEASE_RUN: &str = "lease_run";
pub const LEASE_UNTIL: &str = "lease_until";
pub const RUNNING_SK: &str = "running_sk";
/// Head: a Stop asked on any task, read by the lease holder's heartbeat.
pub const STOP_ASKED: &str = "stop_asked";
/// Exchange: whether the run finished and stored it (false while it runs or if its task died).
pub const RUN_DONE: &str = "run_done";
pub const SHOWN: &str = "shown";
pub const HISTORY: &str = "history";

/// DynamoDB's item limit is 400 KB; an exchange item stays under this many bytes of payload.
pub const MAX_EXCHANGE_BYTES: usize = 300 * 1024;

/// The partition key of session `id` of `owner`: the owner hashed (a `sub` can be long and need
/// not be stored in the clear), then the id.
pub fn partition(owner: &str, id: &str) -> String {
    let digest = Sha256::digest(owner.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("s#{hex}#{id}")
}

/// The sort key of the exchange run `run` started at `started_ms`: exchanges sort by start.
pub fn exchange_key(started_ms: u64, run: u64) -> String {
    format!("{EXCHANGE}{started_ms:013}#{run:016x}")
}

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub fn run_value(run: u64) -> AttributeValue {
    s(format!("{run:016x}"))
}

pub type Item = HashMap<String, AttributeValue>;

pub fn get_n(item: &Item, name: &str) -> Option<u64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

pub fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

pub fn get_bool(item: &Item, name: &str) -> bool {
    item.get(name)
        .and_then(|v| v.as_bool().ok())
        .copied()
        .unwrap_or(false)
}

/// Whether an item is still live at `now_secs` (its TTL not passed).
pub fn live(item: &Item, now_secs: u64) -> bool {
    get_n(item, EXPIRES_AT).is_some_and(|t| t > now_secs)
}

/// One exchange ready to store: the shown question and answer, and the model history it added.
#[derive(Debug)]
pub struct Exchange {
    pub shown: String,
    pub history: String,
}

/// Encodes an exchange within [`MAX_EXCHANGE_BYTES`]: first the history is reduced to the
/// question and the answer's text (a valid pair without the tool turns), then tool outputs are
/// shortened, then, if still too large, the outputs go and the answer is cut.
pub fn encode_exchange(transcript: &Transcript, history: &[Message]) -> Exchange {
    let mut shown = json(&transcript.stored());
    let mut history_json = json(&history);
    if shown.len() + history_json.len() <= MAX_EXCHANGE_BYTES {
        return Exchange {
            shown,
            history: history_json,
        };
    }
    let question = history.first().map(Message::text).unwrap_or_default();
    let answer = history
        .iter()
        .rev()
        .find(|m| m.role == crate::conversation::Role::Assistant)
        .map(Message::text)
        .unwrap_or_default();
    let reduced = if question.is_empty() {
        Vec::new()
    } else {
        vec![
            Message::user_text(question),
            Message::assistant_text(cut(&answer, MAX_EXCHANGE_BYTES / 8)),
        ]
    };
    history_json = json(&reduced);
    let mut transcript = transcript.clone();
    for max_chars in [4096, 512, 0] {
        if shown.len() + history_json.len() <= MAX_EXCHANGE_BYTES {
            break;
        }
        transcript.shorten_outputs(max_chars);
        shown = json(&transcript.stored());
    }
    if shown.len() + history_json.len() > MAX_EXCHANGE_BYTES {
        // Only text is left: keep the question and the start of the answer.
        let mut stored = transcript.stored();
        for message in &mut stored {
            for part in &mut message.parts {
                if let crate::transcript::Part::Text { text, .. } = part {
                    *text = cut(text, MAX_EXCHANGE_BYTES / 8);
                }
            }
        }
        shown = json(&stored);
    }
    Exchange {
        shown,
        history: history_json,
    }
}

/// The first `max_bytes` of `text`, at a character boundary.
fn cut(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_owned();
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… (shortened to be stored)", &text[..end])
}

/// JSON of a value that always serializes (plain data: strings, numbers, JSON values).
fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".into())
}

pub fn decode_shown(item: &Item) -> Vec<StoredMessage> {
    get_s(item, SHOWN)
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default()
}

pub fn decode_history(item: &Item) -> Vec<Message> {
    get_s(item, HISTORY)
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{AgentEvent, ToolStatus};

    #[test]
    fn the_owner_is_part_of_the_key() {
        let id = "0b7c0a52-2f0e-4d5b-9d59-3cbb0f4c7f10";
        assert_ne!(partition("alice", id), partition("bob", id));
        assert_eq!(partition("", id), partition("", id));
        assert!(partition("alice", id).ends_with(id));
        assert!(exchange_key(2, 1) > exchange_key(1, u64::MAX));
    }

    #[test]
    fn an_exchange_too_large_for_an_item_is_reduced_not_refused() {
        let mut transcript = Transcript::default();
        transcript.begin("what did alice do?");
        let mut history = vec![Message::user_text("what did alice do?")];
        for i in 0..40 {
            let id = format!("t{i}");
            transcript.apply(&AgentEvent::ToolStart {
                id: id.clone(),
                name: "lookup_events".into(),
                input: serde_json::json!({}),
            });
            transcript.apply(&AgentEvent::ToolEnd {
                id: id.clone(),
                name: "lookup_events".into(),
                status: ToolStatus::Ok,
                duration_ms: 1,
                output: "x".repeat(30_000),
                refs: crate::evidence::RefMap::from([(format!("{i:08x}"), format!("event-{i}"))]),
            });
            history.push(Message {
                role: crate::conversation::Role::User,
                content: vec![crate::conversation::Block::ToolResult {
                    id,
                    text: "y".repeat(30_000),
                    is_error: false,
                }],
            });
        }
        history.push(Message::assistant_text("Alice deleted a bucket."));
        let exchange = encode_exchange(&transcript, &history);
        assert!(exchange.shown.len() + exchange.history.len() <= MAX_EXCHANGE_BYTES);
        let kept: Vec<Message> = serde_json::from_str(&exchange.history).unwrap();
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[1].text(), "Alice deleted a bucket.");
        let shown: Vec<StoredMessage> = serde_json::from_str(&exchange.shown).unwrap();
        assert_eq!(shown[1].tools.len(), 40, "every card is kept");
        assert_eq!(
            shown[1].tools[7].refs.get("00000007").map(String::as_str),
            Some("event-7"),
            "with its evidence"
        );
    }
}
