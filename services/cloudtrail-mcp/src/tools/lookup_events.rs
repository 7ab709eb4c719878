//! `lookup_events`: one page of events in a window, optionally filtered by one attribute, as
//! compact projections, with an opaque cursor for the next page.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::selection::{self, SelectionArgs};
use super::{Budget, ToolContext, WindowOut};
use crate::cursor::CursorState;
use crate::error::ToolError;
use crate::project::{CompactEvent, ProjectionOptions, project};
use crate::source::{AttributeKey, Filter, Query};
use crate::table::EventTable;

pub const NAME: &str = "lookup_events";
pub const DESCRIPTION: &str = "Look up AWS CloudTrail management events in a time window, newest first, \
optionally filtered by ONE attribute (Username, EventName, EventSource, ResourceName, ResourceType, \
ReadOnly, AccessKeyId or EventId). Returns a table: each event is a row of `columns` (event_time, \
event_name, service, region, principal, source_ip, user_agent, read_only, error, resources, \
request_parameters); region, principal, source_ip, user_agent and error are keys into the `regions`, \
`principals`, `source_ips`, `user_agents` and `errors` dictionaries. `detail: true` returns whole event objects instead, with event ids (for \
get_event) and longer request parameters. `next_cursor` gives the next page: to continue, pass only `cursor`. Times: RFC 3339 with offset (2026-11-23T09:00:00Z), a date (2026-11-23), `now`, `today`, \
`yesterday` (midnight in `timezone`), or `24h ago`/`7d ago`. Use summarize_activity first for broad questions.";

const DEFAULT_MAX: u32 = 50;
const MAX_MAX: u32 = 200;

/// Arguments of `lookup_events`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct LookupEventsArgs {
    /// Start of the window (inclusive). Default `24h ago`.
    pub start_time: Option<String>,
    /// End of the window (inclusive). Default `now`.
    pub end_time: Option<String>,
    /// IANA timezone for `today`, `yesterday` and plain dates. Default `UTC`.
    pub timezone: Option<String>,
    /// The one attribute to filter on; requires `attribute_value`.
    pub attribute_key: Option<AttributeKey>,
    /// The value the attribute must equal exactly (e.g. a user name `alice`, an event name
    /// `DeleteBucket`, an event source `s3.amazonaws.com`, `true`/`false` for ReadOnly).
    pub attribute_value: Option<String>,
    /// How many events to return, 1-200. Default 50.
    pub max_results: Option<u32>,
    /// `next_cursor` from a previous answer; pass it alone to get the next page.
    pub cursor: Option<String>,
    /// Return whole event objects with longer request parameters and response elements instead
    /// of the table. Default false.
    pub detail: Option<bool>,
}

/// The events: a table by default, whole objects with `detail`.
#[derive(Serialize)]
#[serde(untagged)]
enum Events {
    Table(Box<EventTable>),
    Detailed { events: Vec<CompactEvent> },
}

impl Events {
    fn of(events: &[CompactEvent], detail: bool) -> Self {
        if detail {
            Events::Detailed {
                events: events.to_vec(),
            }
        } else {
            Events::Table(Box::new(EventTable::new(events)))
        }
    }
}

#[derive(Serialize)]
struct Answer {
    window: WindowOut,
    filter: Option<Filter>,
    #[serde(flatten)]
    events: Events,
    returned: usize,
    next_cursor: Option<String>,
    truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

/// Runs the tool and returns the answer as JSON text.
pub async fn run(ctx: &ToolContext, args: LookupEventsArgs) -> Result<String, ToolError> {
    let max = selection::ranged("max_results", args.max_results, DEFAULT_MAX, 1, MAX_MAX)?;
    let selection_args = SelectionArgs {
        start_time: args.start_time.as_deref(),
        end_time: args.end_time.as_deref(),
        timezone: args.timezone.as_deref(),
        attribute_key: args.attribute_key,
        attribute_value: args.attribute_value.as_deref(),
    };
    let source = ctx.source.as_ref();
    let (start, end, filter, mut next_token) = match args.cursor.as_deref() {
        Some(cursor) => {
            if let Some(field) = selection_args.first_set() {
                return Err(ToolError::CursorWithSelection(field));
            }
            let state = ctx.cursors.decode(cursor, source.id())?;
            (state.start, state.end, state.filter, Some(state.next_token))
        }
        None => {
            let s = selection::resolve(selection_args, ctx.now(), source.retention())?;
            (s.start, s.end, s.filter, None)
        }
    };
    let options = ProjectionOptions {
        redact_source_ip: ctx.settings.redact_source_ip,
        detail: args.detail.unwrap_or(false),
    };
    let mut events = Vec::with_capacity(max.min(64));
    loop {
        let query = Query {
            start,
            end,
            filter: filter.clone(),
            max_results: max - events.len(),
            next_token: next_token.take(),
        };
        let page = source.lookup(&query).await?;
        events.extend(page.events.iter().map(|e| project(e, options)));
        next_token = page.next_token;
        if events.len() >= max || next_token.is_none() {
            break;
        }
    }
    events.truncate(max);
    let next_cursor = next_token.map(|token| {
        ctx.cursors.encode(&CursorState {
            source: source.id().to_owned(),
            start,
            end,
            filter: filter.clone(),
            next_token: token,
        })
    });
    let mut answer = Answer {
        window: WindowOut::new(start, end),
        filter,
        returned: events.len(),
        events: Events::of(&events, options.detail),
        next_cursor,
        truncated: false,
        note: None,
    };
    let budget = Budget::new(ctx.settings.max_response_bytes);
    let mut text = budget.render(&answer);
    let mut omitted = 0;
    while !budget.fits(&text) && !events.is_empty() {
        // Drop a share proportional to the overshoot, at least one event, newest kept.
        let over = text.len() - budget.limit();
        let per_event = text.len() / events.len().max(1);
        let drop = (over / per_event.max(1)).max(1).min(events.len());
        events.truncate(events.len() - drop);
        omitted += drop;
        answer.events = Events::of(&events, options.detail);
        answer.returned = events.len();
        answer.truncated = true;
        answer.note = Some(format!(
            "{omitted} older events of this page did not fit in the {} byte response limit and were left out; repeat with a smaller max_results (or narrower window) to see them",
            budget.limit()
        ));
        text = budget.render(&answer);
    }
    Ok(text)
}
