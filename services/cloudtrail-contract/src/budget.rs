//! The size budget of one tool answer, which both sides honour.
//!
//! The server fits every answer into its own limit (`--max-response-bytes`) or into a smaller
//! one a client asks for with the `max_bytes` argument, by leaving list items out, never by
//! cutting the JSON. A client that still receives more than it can take replaces the answer with
//! a [`TooLarge`] object, which is valid JSON too: a reader never sees half an answer.

use serde::{Deserialize, Serialize};

/// The argument every tool takes to ask for a smaller answer.
pub const MAX_BYTES_ARG: &str = "max_bytes";
/// The smallest budget a client may ask for (and the smallest server limit): below it even a
/// summary's fixed part may not fit.
pub const MIN_BYTES: u32 = 4_096;
/// The largest budget a client may ask for (and the largest server limit).
pub const MAX_BYTES: u32 = 1_048_576;
/// The server's limit unless configured otherwise.
pub const DEFAULT_SERVER_BYTES: u32 = 65_536;

/// What a client passes on instead of an answer larger than its budget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "error", rename = "too_large")]
pub struct TooLarge {
    /// What happened and what to do, for a model or a person.
    pub message: String,
    /// The size of the answer that was left out.
    pub bytes: usize,
    /// The budget it did not fit.
    pub limit: usize,
}

impl TooLarge {
    /// The replacement for an answer of `bytes` bytes from `tool` over a budget of `limit`.
    pub fn new(tool: &str, bytes: usize, limit: usize) -> Self {
        Self {
            message: format!(
                "the answer of `{tool}` ({bytes} bytes) is larger than the {limit} bytes one tool \
                 result may hold, so it was left out rather than cut; ask again with a narrower \
                 window, a filter or fewer results"
            ),
            bytes,
            limit,
        }
    }

    /// The object, if `text` is one.
    pub fn parse(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }

    /// Compact JSON of the object.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            // Serialising a struct of strings and integers cannot fail; keep valid JSON anyway.
            format!(
                "{{\"error\":\"too_large\",\"bytes\":{},\"limit\":{}}}",
                self.bytes, self.limit
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn too_large_is_a_tagged_json_object() {
        let note = TooLarge::new("summarize_activity", 40_000, 32_768);
        let value: serde_json::Value = serde_json::from_str(&note.to_json()).unwrap();
        assert_eq!(value["error"], json!("too_large"));
        assert_eq!(value["bytes"], json!(40_000));
        assert_eq!(value["limit"], json!(32_768));
        assert!(
            value["message"]
                .as_str()
                .unwrap()
                .contains("narrower window")
        );
        assert_eq!(TooLarge::parse(&note.to_json()), Some(note));
        assert_eq!(TooLarge::parse("{\"scanned\": 3}"), None);
        assert_eq!(TooLarge::parse("not json"), None);
    }
}
