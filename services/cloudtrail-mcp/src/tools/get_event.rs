//! `get_event`: one event in full (the raw CloudTrail record) by event id, size-capped.

use jiff::{SignedDuration, Timestamp};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::selection::{self, SelectionArgs};
use super::{Budget, ToolContext};
use crate::error::ToolError;
use crate::project::cut;
use crate::source::{AttributeKey, Filter, Query};

pub const NAME: &str = "get_event";
pub const DESCRIPTION: &str = "Get one CloudTrail event in full (the raw CloudTrail record, size-capped) \
by its `event_id` (lookup_events gives ids with `detail: true`). Searches the last 90 days unless a window is given.";

/// Arguments of `get_event`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct GetEventArgs {
    /// The event id (a UUID such as `3f0a...`), from lookup_events with `detail: true`.
    pub event_id: String,
    /// Optional start of the window to search. Default: 90 days ago.
    pub start_time: Option<String>,
    /// Optional end of the window to search. Default: now.
    pub end_time: Option<String>,
    /// IANA timezone for `today`, `yesterday` and plain dates. Default `UTC`.
    pub timezone: Option<String>,
}

/// Record fields that can be large, in the order they are cut when a record is over budget.
const BULKY_FIELDS: [&str; 4] = [
    "responseElements",
    "requestParameters",
    "additionalEventData",
    "serviceEventDetails",
];

/// Runs the tool and returns the answer as JSON text.
pub async fn run(ctx: &ToolContext, args: GetEventArgs) -> Result<String, ToolError> {
    let id = args.event_id.trim();
    if id.is_empty() {
        return Err(ToolError::Empty("event_id"));
    }
    let source = ctx.source.as_ref();
    let now = ctx.now();
    let default_start = match source.retention() {
        Some(retention) => (now - retention).to_string(),
        None => Timestamp::UNIX_EPOCH.to_string(),
    };
    let selection = selection::resolve(
        SelectionArgs {
            start_time: Some(args.start_time.as_deref().unwrap_or(&default_start)),
            end_time: args.end_time.as_deref(),
            timezone: args.timezone.as_deref(),
            attribute_key: Some(AttributeKey::EventId),
            attribute_value: Some(id),
        },
        // Resolve against a slightly later "now" so the default start is not refused as older
        // than the retention by the time it is checked.
        now + SignedDuration::from_secs(1),
        source.retention(),
    )?;
    let query = Query {
        start: selection.start,
        end: selection.end,
        filter: Some(Filter {
            attribute_key: AttributeKey::EventId,
            attribute_value: id.to_owned(),
        }),
        max_results: 1,
        next_token: None,
    };
    let page = source.lookup(&query).await?;
    let Some(event) = page.events.into_iter().next() else {
        return Err(ToolError::EventNotFound {
            id: id.to_owned(),
            start: selection.start.to_string(),
            end: selection.end.to_string(),
        });
    };
    let mut record: Value =
        serde_json::from_str(&event.record).unwrap_or(Value::String(event.record));
    if ctx.settings.redact_source_ip
        && let Some(ip) = record.get_mut("sourceIPAddress")
        && ip.as_str().is_some_and(|s| !s.ends_with(".amazonaws.com"))
    {
        *ip = json!("[redacted]");
    }
    let budget = Budget::new(ctx.settings.max_response_bytes);
    let mut answer = json!({ "event": record, "truncated": false });
    let mut text = budget.render(&answer);
    for field in BULKY_FIELDS {
        if budget.fits(&text) {
            break;
        }
        if let Some(value) = answer["event"].get_mut(field) {
            let preview = cut(&value.to_string(), 1_000);
            *value = json!(format!("[cut to fit the response limit] {preview}"));
            answer["truncated"] = json!(true);
            text = budget.render(&answer);
        }
    }
    if !budget.fits(&text) {
        let whole = answer["event"].to_string();
        answer = json!({ "event": cut(&whole, budget.limit() / 2), "truncated": true });
        text = budget.render(&answer);
    }
    Ok(text)
}
