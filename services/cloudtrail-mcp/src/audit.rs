//! One structured audit line per tool call (log target `audit`): who it was for, which tool,
//! the arguments that say what was searched (window and filter; not the opaque cursor), whether
//! it failed, how large the answer was and how long it took.
//!
//! The caller is the one the agent sends (cloudtrail_contract::caller): from the request's
//! `_meta`, and the signed `x-cloudtrail-agent-caller` header when the request came over HTTP.
//! Both are logged as sent; a mismatch between them is itself worth seeing in an audit trail.

use std::time::Duration;

use cloudtrail_contract::Caller;
use cloudtrail_contract::caller::CALLER_HEADER;
use rmcp::model::{Extensions, JsonObject};

/// Longest rendering of the arguments in an audit line.
const MAX_ARGUMENTS_CHARS: usize = 512;

/// Arguments that say nothing about what was searched.
const NOT_LOGGED: &[&str] = &[cloudtrail_contract::budget::MAX_BYTES_ARG, "cursor"];

/// Who a call was for, as the request says.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CallFor {
    /// From `_meta`.
    pub caller: Option<Caller>,
    /// From the HTTP header.
    pub header: Option<String>,
}

impl CallFor {
    /// Reads the caller from a request's `_meta` and, over HTTP, its headers (rmcp puts the
    /// request's `http::request::Parts` in the extensions).
    pub fn of(meta: &JsonObject, extensions: &Extensions) -> Self {
        let header = extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.headers.get(CALLER_HEADER))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Self {
            caller: Caller::from_meta(meta),
            header,
        }
    }
}

/// The search arguments of a call as one short line of JSON.
pub fn searched(arguments: Option<&JsonObject>) -> String {
    let mut shown = JsonObject::new();
    for (key, value) in arguments.into_iter().flatten() {
        if !NOT_LOGGED.contains(&key.as_str()) {
            shown.insert(key.clone(), value.clone());
        }
    }
    let mut text = serde_json::Value::Object(shown).to_string();
    if text.len() > MAX_ARGUMENTS_CHARS {
        let mut cut = MAX_ARGUMENTS_CHARS;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// Writes the audit line of one call.
pub fn record(
    tool: &str,
    who: &CallFor,
    arguments: &str,
    outcome: &str,
    bytes: usize,
    took: Duration,
) {
    let caller = who.caller.as_ref();
    tracing::info!(
        target: "audit",
        user = caller.map_or("", |c| c.sub.as_str()),
        email = caller.and_then(|c| c.email.as_deref()).unwrap_or(""),
        user_header = who.header.as_deref().unwrap_or(""),
        tool,
        arguments,
        outcome,
        bytes,
        duration_ms = took.as_millis() as u64,
        "tool call"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_cursor_and_budget_are_left_out_and_long_arguments_cut() {
        let arguments = json!({"start_time": "24h ago", "cursor": "opaque", "max_bytes": 100});
        let shown = searched(arguments.as_object());
        assert_eq!(shown, r#"{"start_time":"24h ago"}"#);
        let long = json!({"attribute_value": "é".repeat(600)});
        let shown = searched(long.as_object());
        assert!(shown.chars().count() <= MAX_ARGUMENTS_CHARS + 1 && shown.ends_with('…'));
    }

    #[test]
    fn the_caller_comes_from_meta_and_the_header() {
        let meta = json!({"io.cloudtrail-agent/caller": {"sub": "u-1", "email": "a@example.com"}});
        let mut extensions = Extensions::new();
        let (mut parts, ()) = http::Request::new(()).into_parts();
        parts
            .headers
            .insert(CALLER_HEADER, http::HeaderValue::from_static("u-1"));
        extensions.insert(parts);
        let who = CallFor::of(meta.as_object().expect("object"), &extensions);
        assert_eq!(who.caller.map(|c| c.sub), Some("u-1".to_owned()));
        assert_eq!(who.header.as_deref(), Some("u-1"));
        assert_eq!(
            CallFor::of(&JsonObject::new(), &Extensions::new()),
            CallFor::default()
        );
    }
}
