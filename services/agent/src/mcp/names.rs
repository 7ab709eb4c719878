//! Making MCP tools acceptable to Bedrock Converse: tool names must match
//! `^[a-zA-Z0-9_-]{1,64}$` and be unique, and input schemas must be a self-contained JSON Schema
//! object (no `$schema`, no `$ref` into `$defs`).

use std::collections::HashSet;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Longest tool name Bedrock accepts.
pub const MAX_NAME: usize = 64;

/// The Bedrock name for MCP tool `name` of a server with `prefix`: invalid characters become
/// `_`; a name that would be too long keeps its start and gets a short hash of the full name so
/// two long names stay distinct; `taken` names get a numbered suffix.
pub fn bedrock_tool_name(prefix: &str, name: &str, taken: &HashSet<String>) -> String {
    let full = format!("{prefix}{name}");
    let mut clean: String = full
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() {
        clean.push_str("tool");
    }
    if clean.len() > MAX_NAME {
        let hash = hex8(&full);
        clean.truncate(MAX_NAME - 9);
        clean = format!("{clean}_{hash}");
    }
    let mut candidate = clean.clone();
    let mut n = 2;
    while taken.contains(&candidate) {
        let suffix = format!("_{n}");
        let keep = clean.len().min(MAX_NAME - suffix.len());
        candidate = format!("{}{suffix}", &clean[..keep]);
        n += 1;
    }
    candidate
}

fn hex8(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A schema Converse accepts: an object schema with `$ref`s to local `$defs`/`definitions`
/// inlined (bounded depth, so a recursive schema cannot loop) and meta keys removed.
pub fn converse_schema(schema: &Map<String, Value>) -> Value {
    let defs = schema
        .get("$defs")
        .or_else(|| schema.get("definitions"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut root = Value::Object(schema.clone());
    if let Value::Object(map) = &mut root {
        for key in ["$schema", "$defs", "definitions", "$id"] {
            map.remove(key);
        }
        map.insert("type".into(), Value::String("object".into()));
        map.entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
    }
    inline_refs(&mut root, &defs, 0);
    root
}

fn inline_refs(value: &mut Value, defs: &Map<String, Value>, depth: usize) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                let name = reference
                    .strip_prefix("#/$defs/")
                    .or_else(|| reference.strip_prefix("#/definitions/"));
                let target = name.and_then(|n| defs.get(n)).cloned();
                map.remove("$ref");
                match target {
                    Some(Value::Object(target)) if depth < 8 => {
                        for (k, v) in target {
                            map.entry(k).or_insert(v);
                        }
                    }
                    // Unresolvable or too deep: accept anything rather than send a dangling ref.
                    _ => {}
                }
            }
            for child in map.values_mut() {
                inline_refs(child, defs, depth + 1);
            }
        }
        Value::Array(items) => {
            for item in items {
                inline_refs(item, defs, depth + 1);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn valid(name: &str) -> bool {
        (1..=MAX_NAME).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }

    #[test]
    fn names_are_cleaned_prefixed_bounded_and_unique() {
        let mut taken = HashSet::new();
        assert_eq!(
            bedrock_tool_name("ct_", "lookup_events", &taken),
            "ct_lookup_events"
        );
        assert_eq!(bedrock_tool_name("", "ns.tool/v1", &taken), "ns_tool_v1");
        let long_a = bedrock_tool_name("prefix_", &"a".repeat(80), &taken);
        let long_b = bedrock_tool_name("prefix_", &format!("{}b", "a".repeat(79)), &taken);
        assert!(valid(&long_a) && valid(&long_b), "{long_a} {long_b}");
        assert_eq!(long_a.len(), MAX_NAME);
        assert_ne!(long_a, long_b);
        taken.insert("dup".to_string());
        assert_eq!(bedrock_tool_name("", "dup", &taken), "dup_2");
        taken.insert(long_a.clone());
        let again = bedrock_tool_name("prefix_", &"a".repeat(80), &taken);
        assert!(valid(&again) && again != long_a, "{again}");
    }

    #[test]
    fn schemas_lose_meta_keys_and_get_refs_inlined() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Args",
            "properties": {"key": {"$ref": "#/$defs/Key", "description": "which"}},
            "$defs": {"Key": {"type": "string", "enum": ["EventName", "Username"]}}
        });
        let out = converse_schema(schema.as_object().unwrap());
        assert_eq!(
            out,
            json!({
                "type": "object",
                "title": "Args",
                "properties": {"key": {"type": "string", "enum": ["EventName", "Username"],
                                       "description": "which"}}
            })
        );
        let recursive = json!({"properties": {"n": {"$ref": "#/$defs/N"}},
                               "$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}}});
        let out = converse_schema(recursive.as_object().unwrap());
        assert!(!out.to_string().contains("$ref"), "{out}");
    }
}
