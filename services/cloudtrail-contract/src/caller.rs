//! Who a tool call is for: the signed-in user on whose behalf the agent calls a tool. The agent
//! sends it with every MCP `tools/call`, in the request's `_meta` under [`CALLER_META_KEY`] and as
//! the [`CALLER_HEADER`] HTTP header (which the agent's SigV4 signature covers), and cloudtrail-mcp
//! writes it into its audit line for the call.
//!
//! The MCP specification reserves unprefixed `_meta` keys for itself, so ours carries a prefix.

use serde::{Deserialize, Serialize};

/// The `_meta` key of a `tools/call` request that holds the [`Caller`].
pub const CALLER_META_KEY: &str = "io.cloudtrail-agent/caller";

/// The HTTP header that carries the caller's `sub` (only when it is a plain token: visible ASCII
/// without spaces, at most [`MAX_HEADER_SUB`] bytes; the `_meta` entry always carries it).
pub const CALLER_HEADER: &str = "x-cloudtrail-agent-caller";

/// Longest `sub` sent in [`CALLER_HEADER`].
pub const MAX_HEADER_SUB: usize = 256;

/// The user a tool call is made for, as the identity provider named them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// The identity provider's subject identifier (stable per user).
    pub sub: String,
    /// The user's e-mail address, when the provider shared it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl Caller {
    /// The value of [`CALLER_HEADER`] for this caller, if `sub` can travel as a header as is.
    pub fn header_value(&self) -> Option<&str> {
        let plain = !self.sub.is_empty()
            && self.sub.len() <= MAX_HEADER_SUB
            && self.sub.bytes().all(|b| b.is_ascii_graphic());
        plain.then_some(self.sub.as_str())
    }

    /// The caller in a request's `_meta` object, if it holds a well-formed one.
    pub fn from_meta(meta: &serde_json::Map<String, serde_json::Value>) -> Option<Self> {
        serde_json::from_value(meta.get(CALLER_META_KEY)?.clone()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_and_header_rules() {
        let caller = Caller {
            sub: "4f1c-aa".into(),
            email: Some("alice@example.com".into()),
        };
        let mut meta = serde_json::Map::new();
        meta.insert(
            CALLER_META_KEY.into(),
            serde_json::json!({"sub": "4f1c-aa", "email": "alice@example.com"}),
        );
        assert_eq!(Caller::from_meta(&meta), Some(caller.clone()));
        assert_eq!(caller.header_value(), Some("4f1c-aa"));

        let spaced = Caller {
            sub: "alice smith".into(),
            email: None,
        };
        assert_eq!(spaced.header_value(), None);
        assert_eq!(
            serde_json::to_value(&spaced).unwrap_or_default(),
            serde_json::json!({"sub": "alice smith"})
        );
        meta.insert(CALLER_META_KEY.into(), serde_json::json!("not an object"));
        assert_eq!(Caller::from_meta(&meta), None);
    }
}
