//! Opaque, self-contained paging cursors.
//!
//! A cursor carries everything needed to fetch the next page: the resolved window, the filter and
//! the source's own page token, so the model pages by passing only the cursor. It is
//! `base64url(json).base64url(mac)`: the MAC (HMAC-SHA256 over the source id and the payload)
//! lets us tell a cursor that was edited or copied from another server apart from a valid one
//! and answer with a precise error. Cursors grant nothing a caller could not ask for directly, so
//! the key protects integrity of error reporting, not access; it may be set per deployment.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::source::{Filter, Scope};

const VERSION: u8 = 2;
const MAC_LEN: usize = 16;

/// What a cursor resumes. Short field names and epoch seconds: the cursor is opaque, and it
/// goes into the model's context with every page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CursorState {
    /// The id of the source that issued it ([`crate::source::EventSource::id`]).
    #[serde(rename = "s")]
    pub source: String,
    #[serde(rename = "a", with = "jiff::fmt::serde::timestamp::second::required")]
    pub start: Timestamp,
    #[serde(rename = "b", with = "jiff::fmt::serde::timestamp::second::required")]
    pub end: Timestamp,
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
    /// The source's page token for the next page.
    #[serde(rename = "t")]
    pub next_token: String,
    /// The accounts and regions searched (absent: all).
    #[serde(rename = "o", default, skip_serializing_if = "Scope::is_all")]
    pub scope: Scope,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    v: u8,
    #[serde(flatten)]
    state: CursorState,
}

/// Why a cursor was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error(
        "is not a cursor this server issued (it is malformed or was modified); pass `next_cursor` exactly as returned, or start a new query without `cursor`"
    )]
    Invalid,
    #[error(
        "was issued for another event source ({issued_by}); this server reads {this}. Start a new query without `cursor`"
    )]
    Foreign { issued_by: String, this: String },
}

/// Signs and checks cursors with one key.
#[derive(Clone)]
pub struct CursorCodec {
    key: Vec<u8>,
}

impl std::fmt::Debug for CursorCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorCodec { key: <redacted> }")
    }
}

impl CursorCodec {
    /// A codec with the given key (any length).
    pub fn new(key: impl Into<Vec<u8>>) -> Self {
        Self { key: key.into() }
    }

    fn mac(&self, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC accepts keys of any length");
        mac.update(payload);
        mac
    }

    /// Encodes `state` into an opaque string.
    pub fn encode(&self, state: &CursorState) -> String {
        let payload = serde_json::to_vec(&Envelope {
            v: VERSION,
            state: state.clone(),
        })
        .expect("cursor state serialises");
        let tag = self.mac(&payload).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(&tag[..MAC_LEN])
        )
    }

    /// Decodes a cursor issued by this codec for the source `this_source`.
    pub fn decode(&self, cursor: &str, this_source: &str) -> Result<CursorState, CursorError> {
        let (payload, tag) = cursor.trim().split_once('.').ok_or(CursorError::Invalid)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| CursorError::Invalid)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| CursorError::Invalid)?;
        if tag.len() != MAC_LEN {
            return Err(CursorError::Invalid);
        }
        self.mac(&payload)
            .verify_truncated_left(&tag)
            .map_err(|_| CursorError::Invalid)?;
        let envelope: Envelope =
            serde_json::from_slice(&payload).map_err(|_| CursorError::Invalid)?;
        if envelope.v != VERSION {
            return Err(CursorError::Invalid);
        }
        if envelope.state.source != this_source {
            return Err(CursorError::Foreign {
                issued_by: envelope.state.source,
                this: this_source.to_owned(),
            });
        }
        Ok(envelope.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::AttributeKey;

    fn state(source: &str) -> CursorState {
        CursorState {
            source: source.into(),
            start: "2026-11-23T00:00:00Z".parse().unwrap(),
            end: "2026-11-24T00:00:00Z".parse().unwrap(),
            filter: Some(Filter {
                attribute_key: AttributeKey::Username,
                attribute_value: "alice".into(),
            }),
            next_token: "token/with+odd=chars".into(),
            scope: Scope::default(),
        }
    }

    #[test]
    fn round_trip() {
        let codec = CursorCodec::new("k");
        let cursor = codec.encode(&state("api:us-east-1"));
        assert!(
            cursor
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        );
        assert_eq!(
            codec.decode(&cursor, "api:us-east-1").unwrap(),
            state("api:us-east-1")
        );
    }

    #[test]
    fn tampering_is_detected() {
        let codec = CursorCodec::new("k");
        let cursor = codec.encode(&state("sample"));
        let (payload, tag) = cursor.split_once('.').unwrap();
        let mut json = URL_SAFE_NO_PAD.decode(payload).unwrap();
        let text = String::from_utf8(json.clone())
            .unwrap()
            .replace("alice", "bob__");
        json = text.into_bytes();
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(&json));
        assert_eq!(codec.decode(&forged, "sample"), Err(CursorError::Invalid));
        assert_eq!(codec.decode("garbage", "sample"), Err(CursorError::Invalid));
        assert_eq!(codec.decode("a.b", "sample"), Err(CursorError::Invalid));
        assert_eq!(
            codec.decode(&format!("{payload}."), "sample"),
            Err(CursorError::Invalid)
        );
        // A different key (another deployment) is refused too.
        assert_eq!(
            CursorCodec::new("other").decode(&cursor, "sample"),
            Err(CursorError::Invalid)
        );
    }

    #[test]
    fn foreign_source_is_named() {
        let codec = CursorCodec::new("k");
        let cursor = codec.encode(&state("archive:/logs"));
        let err = codec.decode(&cursor, "api:us-east-1").unwrap_err();
        assert_eq!(
            err,
            CursorError::Foreign {
                issued_by: "archive:/logs".into(),
                this: "api:us-east-1".into()
            }
        );
        assert!(err.to_string().contains("archive:/logs"));
    }
}
