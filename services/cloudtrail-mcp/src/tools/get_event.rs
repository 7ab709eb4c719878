//! `get_event`: one event in full (the raw CloudTrail record) by event id, size-capped.

use cloudtrail_contract::{EventAnswer, QueryUsage};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::selection::{self, SelectionArgs};
use super::{ToolContext, ToolOutput};
use crate::error::ToolError;
use crate::project::cut;
use crate::source::{AttributeKey, Filter, Query};

pub use cloudtrail_contract::GetEventArgs;

pub const NAME: &str = cloudtrail_contract::GET_EVENT;
pub const DESCRIPTION: &str = "Get one CloudTrail event in full (the raw CloudTrail record, size-capped) \
by its `event_id`: the full id, or the 8-character `ref` any tool answer gives for each event (the built-in \
sample and log archives resolve refs; the LookupEvents API needs the full id, which lookup_events gives with \
`detail: true`). Searches the last 90 days unless a window is given.";

/// The window searched when none is given.
const DEFAULT_WINDOW: SignedDuration = SignedDuration::from_hours(24 * 90);

/// Record fields that can be large, in the order they are cut when a record is over budget.
const BULKY_FIELDS: [&str; 4] = [
    "responseElements",
    "requestParameters",
    "additionalEventData",
    "serviceEventDetails",
];

/// The full event id `given` names: itself, or the one event whose reference it is (when the
/// source can resolve references).
async fn full_id(ctx: &ToolContext, given: &str) -> Result<String, ToolError> {
    if !cloudtrail_contract::evidence::is_ref(given) {
        return Ok(given.to_owned());
    }
    match ctx.source.ids_for_ref(given).await? {
        None => Err(ToolError::RefNotResolvable {
            event_ref: given.to_owned(),
            source_id: ctx.source.id().to_owned(),
        }),
        Some(ids) => match ids.as_slice() {
            [] => Err(ToolError::RefNotFound(given.to_owned())),
            [id] => Ok(id.clone()),
            _ => Err(ToolError::RefAmbiguous {
                event_ref: given.to_owned(),
                count: ids.len(),
            }),
        },
    }
}

/// Runs the tool and returns the answer as JSON text.
pub async fn run(ctx: &ToolContext, args: GetEventArgs) -> Result<ToolOutput, ToolError> {
    let given = args.event_id.trim();
    if given.is_empty() {
        return Err(ToolError::Empty("event_id"));
    }
    let id = full_id(ctx, given).await?;
    let id = id.as_str();
    let budget = selection::budget(args.max_bytes, ctx.settings.max_response_bytes)?;
    let source = ctx.source.as_ref();
    let now = ctx.now();
    let default_start = match source.retention() {
        // At most the 90 days the description promises: on Athena a longer default would scan
        // (and bill) that much more of the trail for one event.
        Some(retention) => (now - retention.min(DEFAULT_WINDOW)).to_string(),
        None => Timestamp::UNIX_EPOCH.to_string(),
    };
    let selection = selection::resolve(
        SelectionArgs {
            start_time: Some(args.start_time.as_deref().unwrap_or(&default_start)),
            end_time: args.end_time.as_deref(),
            timezone: args.timezone.as_deref(),
            attribute_key: Some(AttributeKey::EventId),
            attribute_value: Some(id),
            accounts: None,
            regions: None,
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
        scope: Default::default(),
    };
    let mut page = crate::source::lookup_traced(source, &query).await?;
    let mut usage = page.usage;
    // A query engine may outlive its time budget; an event is small, so wait for it here.
    while page.still_running {
        let mut resume = query.clone();
        resume.next_token = page.next_token.take();
        page = crate::source::lookup_traced(source, &resume).await?;
        if let Some(more) = page.usage {
            usage = Some(usage.unwrap_or_default().plus(more));
        }
    }
    let usage = usage.map(|u| QueryUsage::new(u.queries, u.bytes_scanned, false));
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
    let mut answer = EventAnswer {
        event: record,
        truncated: false,
        usage: usage.clone(),
    };
    let mut text = budget.render(&answer);
    for field in BULKY_FIELDS {
        if budget.fits(&text) {
            break;
        }
        if let Some(value) = answer.event.get_mut(field) {
            let preview = cut(&value.to_string(), 1_000);
            *value = json!(format!("[cut to fit the response limit] {preview}"));
            answer.truncated = true;
            text = budget.render(&answer);
        }
    }
    // Still too large: the record as a string, cut until it fits (a string, so the answer stays
    // valid JSON; shorter each time because escaping and wide characters make bytes exceed
    // characters).
    let whole = answer.event.to_string();
    let mut chars = budget.limit() / 2;
    while !budget.fits(&text) && chars > 0 {
        answer = EventAnswer {
            event: Value::String(cut(&whole, chars)),
            truncated: true,
            usage: usage.clone(),
        };
        text = budget.render(&answer);
        chars /= 2;
    }
    Ok(ToolOutput::new(text, [id]))
}
