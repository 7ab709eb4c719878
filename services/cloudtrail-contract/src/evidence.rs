//! Event references: the short, citable name of an event.
//!
//! Full CloudTrail event ids are 36 characters; tables of 50 events cannot afford them in every
//! row, and a model copies short tokens more reliably. So every event a tool returns carries a
//! reference, the first 8 lowercase hex characters of SHA-256 of its event id, which every crate
//! computes with [`event_ref`] (the same function everywhere: a reference is never stored, only
//! recomputed). The full ids travel beside the model-facing text, in the tool result's `_meta`
//! under [`REFS_META_KEY`], as a JSON object `{ "<ref>": "<event id>" }` ([`RefMap`]).
//!
//! 32 bits make a collision within one answer or one chat very unlikely but not impossible; a
//! server resolving a reference over a whole archive says so when two events share it.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// The `_meta` key of a `tools/call` result that maps each reference in the answer to its full
/// event id.
pub const REFS_META_KEY: &str = "io.cloudtrail-agent/refs";

/// How many characters a reference has.
pub const REF_LEN: usize = 8;

/// References mapped to full event ids, as carried in `_meta`.
pub type RefMap = BTreeMap<String, String>;

/// The reference of an event: the first 8 lowercase hex characters of SHA-256(`event_id`).
pub fn event_ref(event_id: &str) -> String {
    let digest = Sha256::digest(event_id.as_bytes());
    digest
        .iter()
        .take(REF_LEN / 2)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `text` has the shape of a reference (8 lowercase hex characters), as opposed to a
/// full event id.
pub fn is_ref(text: &str) -> bool {
    text.len() == REF_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The reference map of a result's `_meta` object; empty when it has none. Entries whose key is
/// not the reference of their id are left out, so a reader never trusts a mismatched pair.
pub fn refs_from_meta(meta: &serde_json::Map<String, serde_json::Value>) -> RefMap {
    let Some(map) = meta.get(REFS_META_KEY).and_then(|v| v.as_object()) else {
        return RefMap::new();
    };
    map.iter()
        .filter_map(|(r, id)| {
            let id = id.as_str()?;
            (event_ref(id) == *r).then(|| (r.clone(), id.to_owned()))
        })
        .collect()
}

/// The `_meta` value of `refs` (the object under [`REFS_META_KEY`]).
pub fn refs_to_meta(refs: &RefMap) -> serde_json::Value {
    serde_json::Value::Object(
        refs.iter()
            .map(|(r, id)| (r.clone(), serde_json::Value::String(id.clone())))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_ref_is_the_sha256_prefix_of_the_id() {
        // sha256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
        assert_eq!(event_ref("abc"), "ba7816bf");
        // sha256("") = e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
        assert_eq!(event_ref(""), "e3b0c442");
        let id = "5f2a0d4e-7c1b-4a8e-9f3d-2b6c8e1a4d70";
        assert_eq!(event_ref(id), event_ref(id));
        assert_ne!(
            event_ref(id),
            event_ref("5f2a0d4e-7c1b-4a8e-9f3d-2b6c8e1a4d71")
        );
        assert!(is_ref(&event_ref(id)));
    }

    #[test]
    fn refs_are_told_apart_from_ids() {
        assert!(is_ref("1a2b3c4d"));
        assert!(!is_ref("1A2B3C4D"), "lowercase only");
        assert!(!is_ref("1a2b3c4"));
        assert!(!is_ref("1a2b3c4g"));
        assert!(!is_ref("5f2a0d4e-7c1b-4a8e-9f3d-2b6c8e1a4d70"));
    }

    #[test]
    fn meta_maps_round_trip_and_mismatched_pairs_are_dropped() {
        let id = "5f2a0d4e-7c1b-4a8e-9f3d-2b6c8e1a4d70";
        let refs: RefMap = [(event_ref(id), id.to_owned())].into();
        let mut meta = serde_json::Map::new();
        meta.insert(REFS_META_KEY.into(), refs_to_meta(&refs));
        assert_eq!(refs_from_meta(&meta), refs);
        meta.insert(
            REFS_META_KEY.into(),
            json!({"deadbeef": id, (event_ref(id)): id, "x": 3}),
        );
        assert_eq!(refs_from_meta(&meta), refs);
        assert!(refs_from_meta(&serde_json::Map::new()).is_empty());
    }
}
