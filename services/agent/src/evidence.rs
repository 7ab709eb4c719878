//! Evidence: the short event references (`ref`s) tools return, the citations (`[ev:1a2b3c4d]`)
//! the model writes with them, and the check that each citation names an event a tool actually
//! returned in this chat.
//!
//! A tool answer's full event ids travel outside the model's text, in the MCP result's `_meta`
//! under [`REFS_META_KEY`] (`{"<ref>": "<event id>"}`); the agent keeps them per chat (on the
//! transcript's tool cards) and never shows them to the model. Everything here is pure.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use cloudtrail_contract::evidence::{REFS_META_KEY, RefMap, event_ref, is_ref};

/// Longest event id accepted from a tool (CloudTrail's are 36-character UUIDs).
const MAX_EVENT_ID: usize = 128;

/// A citation in an answer: `[ev:` + 8 lowercase hex digits + `]`.
static CITATION: LazyLock<Regex> = LazyLock::new(|| {
    // A fixed pattern: it compiles.
    Regex::new(r"\[ev:([0-9a-f]{8})\]").unwrap_or_else(|_| unreachable!("a valid pattern"))
});

/// Whether `s` may be an event id: short, printable, no spaces (tool data is untrusted).
fn is_event_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_EVENT_ID
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'))
}

/// The refs of a tool result's `_meta`: only pairs whose ref is its id's (the contract's
/// check), and ids with an event id's shape.
pub fn refs_from_meta(meta: &serde_json::Map<String, Value>) -> RefMap {
    cloudtrail_contract::evidence::refs_from_meta(meta)
        .into_iter()
        .filter(|(_, id)| is_event_id(id))
        .collect()
}

/// One checked citation, as the `citations` event and the transcript carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citation {
    #[serde(rename = "ref")]
    pub event_ref: String,
    /// The full event id, `None` when no tool of this chat returned that ref.
    pub event_id: Option<String>,
    pub known: bool,
}

/// The refs cited in `text`, each once, in order of first appearance.
pub fn cited(text: &str) -> Vec<String> {
    let mut refs: Vec<String> = Vec::new();
    for capture in CITATION.captures_iter(text) {
        let r = &capture[1];
        if !refs.iter().any(|seen| seen == r) {
            refs.push(r.to_owned());
        }
    }
    refs
}

/// Checks every citation of `text` against the refs `known` in this chat.
pub fn check(text: &str, known: &RefMap) -> Vec<Citation> {
    cited(text)
        .into_iter()
        .map(|r| {
            let event_id = known.get(&r).cloned();
            Citation {
                known: event_id.is_some(),
                event_ref: r,
                event_id,
            }
        })
        .collect()
}

/// `input` with an `event_id` that is a known ref replaced by its full id (the model may pass
/// the ref it saw; the `api` event source cannot resolve a ref itself). Whether it changed.
pub fn substitute_event_id(input: &mut Value, known: &RefMap) -> bool {
    let Some(slot) = input.get_mut("event_id") else {
        return false;
    };
    let Some(full) = slot
        .as_str()
        .map(|s| s.trim().trim_start_matches("ev:"))
        .and_then(|r| known.get(r))
    else {
        return false;
    };
    *slot = Value::String(full.clone());
    true
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn known() -> RefMap {
        RefMap::from([(
            "1a2b3c4d".to_owned(),
            "0b5c3f4e-1111-2222-3333-444455556666".to_owned(),
        )])
    }

    #[test]
    fn refs_come_from_meta_and_bad_entries_are_dropped() {
        let id = "0b5c3f4e-1111-2222-3333-444455556666";
        let html = "<img src=x onerror=alert(1)>";
        let meta = json!({REFS_META_KEY: {
            event_ref(id): id,
            "NOTAREF!": "x",
            "deadbeef": id,
            event_ref(html): html,
            "0000ffff": 7,
        }, "other": 1});
        let Value::Object(meta) = meta else {
            unreachable!()
        };
        assert_eq!(
            refs_from_meta(&meta),
            RefMap::from([(event_ref(id), id.to_owned())])
        );
        assert!(refs_from_meta(&serde_json::Map::new()).is_empty());
    }

    #[test]
    fn citations_are_found_once_each_and_checked() {
        let text = "Alice deleted it [ev:1a2b3c4d] at 09:00 [ev:deadbeef]; again [ev:1a2b3c4d]. \
                    Not citations: [ev:1A2B3C4D] [ev:123] ev:cafebabe";
        assert_eq!(cited(text), ["1a2b3c4d", "deadbeef"]);
        let checked = check(text, &known());
        assert_eq!(
            checked,
            [
                Citation {
                    event_ref: "1a2b3c4d".into(),
                    event_id: Some("0b5c3f4e-1111-2222-3333-444455556666".into()),
                    known: true
                },
                Citation {
                    event_ref: "deadbeef".into(),
                    event_id: None,
                    known: false
                },
            ]
        );
        assert_eq!(
            serde_json::to_value(&checked[1]).unwrap(),
            json!({"ref": "deadbeef", "event_id": null, "known": false})
        );
        assert!(check("no citations here", &known()).is_empty());
    }

    #[test]
    fn a_known_ref_passed_as_event_id_becomes_the_full_id() {
        let mut input = json!({"event_id": "1a2b3c4d"});
        assert!(substitute_event_id(&mut input, &known()));
        assert_eq!(input["event_id"], "0b5c3f4e-1111-2222-3333-444455556666");
        let mut cited_form = json!({"event_id": "ev:1a2b3c4d"});
        assert!(substitute_event_id(&mut cited_form, &known()));
        let mut unknown = json!({"event_id": "deadbeef"});
        assert!(!substitute_event_id(&mut unknown, &known()));
        assert_eq!(unknown["event_id"], "deadbeef");
        let mut other = json!({"start_time": "1a2b3c4d"});
        assert!(!substitute_event_id(&mut other, &known()));
    }
}
