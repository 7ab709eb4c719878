//! The three tools: their names and their arguments. The server parses these structs (and
//! publishes their JSON Schema, built from the doc comments below); a client such as the agent's
//! offline planner builds them, so an argument cannot be misspelt on either side.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::selection::AttributeKey;

/// One page of events in a window (see [`crate::lookup::LookupAnswer`]).
pub const LOOKUP_EVENTS: &str = "lookup_events";
/// Aggregates of every event in a window (see [`crate::summary::ActivitySummary`]).
pub const SUMMARIZE_ACTIVITY: &str = "summarize_activity";
/// One raw CloudTrail record (see [`crate::event::EventAnswer`]).
pub const GET_EVENT: &str = "get_event";

/// Arguments of `lookup_events`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LookupEventsArgs {
    /// Start of the window (inclusive). Default `24h ago`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// End of the window (inclusive). Default `now`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// IANA timezone for `today`, `yesterday` and plain dates. Default `UTC`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The one attribute to filter on; requires `attribute_value`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribute_key: Option<AttributeKey>,
    /// The value the attribute must equal exactly (e.g. a user name `alice`, an event name
    /// `DeleteBucket`, an event source `s3.amazonaws.com`, `true`/`false` for ReadOnly).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribute_value: Option<String>,
    /// Accounts to search (12-digit ids), for a source that holds several (an organization
    /// trail queried with Athena). Default: every account the source holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounts: Option<Vec<String>>,
    /// Regions to search (`us-east-1`). Events of global services (IAM, STS, console sign-in)
    /// are recorded in us-east-1. Default: every region the source holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regions: Option<Vec<String>>,
    /// How many events to return, 1-200. Default 50.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_results: Option<u32>,
    /// `next_cursor` from a previous answer; pass it alone to get the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Return whole event objects with longer request parameters and response elements instead
    /// of the table. Default false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<bool>,
    /// The most bytes the answer may hold, 4096-1048576, for a client whose budget is smaller
    /// than the server's: older events are left out until the answer fits (it is never cut
    /// inside its JSON). Capped at the server's own limit (default 65536).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u32>,
}

/// Arguments of `summarize_activity`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SummarizeActivityArgs {
    /// Start of the window (inclusive). Default `24h ago`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// End of the window (inclusive). Default `now`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// IANA timezone for `today`, `yesterday` and plain dates. Default `UTC`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The one attribute to filter on; requires `attribute_value`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribute_key: Option<AttributeKey>,
    /// The value the attribute must equal exactly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribute_value: Option<String>,
    /// Accounts to search (12-digit ids), for a source that holds several (an organization
    /// trail queried with Athena). Default: every account the source holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounts: Option<Vec<String>>,
    /// Regions to search (`us-east-1`). Events of global services (IAM, STS, console sign-in)
    /// are recorded in us-east-1. Default: every region the source holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regions: Option<Vec<String>>,
    /// The most events to count, 1-100000. Default 100000. Every event of the window is counted
    /// unless it holds more, or the scan reaches the server's time limit; then `hit_cap` is true
    /// and the counts are lower bounds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_events: Option<u32>,
    /// The most bytes the answer may hold, 4096-1048576, for a client whose budget is smaller
    /// than the server's: the lists are shortened until the answer fits (the counts stay whole;
    /// it is never cut inside its JSON). Capped at the server's own limit (default 65536).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u32>,
    /// `next_cursor` of an answer whose query was still running; pass it alone to collect the
    /// summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// Arguments of `get_event`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GetEventArgs {
    /// The event id (a UUID such as `3f0a...`) or its 8-character reference (`ref`, such as
    /// `1a2b3c4d`) from any tool answer.
    pub event_id: String,
    /// Optional start of the window to search. Default: 90 days ago.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// Optional end of the window to search. Default: now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// IANA timezone for `today`, `yesterday` and plain dates. Default `UTC`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The most bytes the answer may hold, 4096-1048576, for a client whose budget is smaller
    /// than the server's: the record's bulky fields are shortened until it fits (it is never
    /// cut inside its JSON). Capped at the server's own limit (default 65536).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u32>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn arguments_serialise_to_the_names_the_server_reads() {
        let args = SummarizeActivityArgs {
            start_time: Some("2026-11-23T00:00:00Z".into()),
            attribute_key: Some(AttributeKey::Username),
            attribute_value: Some("alice".into()),
            max_bytes: Some(32_768),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&args).unwrap(),
            json!({"start_time": "2026-11-23T00:00:00Z", "attribute_key": "Username",
                   "attribute_value": "alice", "max_bytes": 32768})
        );
        let lookup: LookupEventsArgs =
            serde_json::from_value(json!({"cursor": "c", "detail": true})).unwrap();
        assert_eq!(lookup.cursor.as_deref(), Some("c"));
        assert_eq!(
            serde_json::to_value(&lookup).unwrap(),
            json!({"cursor": "c", "detail": true})
        );
    }
}
