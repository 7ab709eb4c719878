//! `lookup_events`: one page of events in a window, optionally filtered by one attribute, as
//! compact projections, with an opaque cursor for the next page.

use cloudtrail_contract::{DetailedEvents, Events, LookupAnswer, QueryUsage};

use super::selection::{self, SelectionArgs};
use super::{ToolContext, ToolOutput};
use crate::cursor::CursorState;
use crate::error::ToolError;
use crate::project::{CompactEvent, ProjectionOptions, project};
use crate::source::{Query, Usage};
use crate::table::table;

pub use cloudtrail_contract::LookupEventsArgs;

pub const NAME: &str = cloudtrail_contract::LOOKUP_EVENTS;
pub const DESCRIPTION: &str = "Look up AWS CloudTrail management events in a time window, newest first, \
optionally filtered by ONE attribute (Username, EventName, EventSource, ResourceName, ResourceType, \
ReadOnly, AccessKeyId or EventId). Returns a table: each event is a row of `columns` (ref, event_time, \
event_name, service, region, principal, source_ip, user_agent, read_only, error, resources, \
request_parameters); `ref` is the event's short reference, to cite it by or to pass to get_event; \
request_parameters is null when they only name the row's resources; region, principal, source_ip, user_agent, error and each of resources are keys into the `regions`, \
`principals`, `source_ips`, `user_agents`, `errors` and `resources` dictionaries. `detail: true` returns whole event objects instead, with full event ids \
and longer request parameters. `next_cursor` gives the next page: to continue, pass only `cursor`. \
Answers fit the server's byte limit or a smaller `max_bytes` (older events of the page are then left out and \
`truncated` is true). Times: RFC 3339 with offset (2026-11-23T09:00:00Z), a date (2026-11-23), `now`, `today`, \
`yesterday` (midnight in `timezone`), or `24h ago`/`7d ago`. Use summarize_activity first for broad questions.";

const DEFAULT_MAX: u32 = 50;
const MAX_MAX: u32 = 200;

/// The events: a table by default, whole objects with `detail`.
fn events_of(events: &[CompactEvent], detail: bool) -> Events {
    if detail {
        Events::Detailed(DetailedEvents {
            events: events.to_vec(),
        })
    } else {
        Events::Table(Box::new(table(events)))
    }
}

/// Runs the tool and returns the answer as JSON text.
pub async fn run(ctx: &ToolContext, args: LookupEventsArgs) -> Result<ToolOutput, ToolError> {
    let max = selection::ranged("max_results", args.max_results, DEFAULT_MAX, 1, MAX_MAX)?;
    let budget = selection::budget(args.max_bytes, ctx.settings.max_response_bytes)?;
    let selection_args = SelectionArgs {
        start_time: args.start_time.as_deref(),
        end_time: args.end_time.as_deref(),
        timezone: args.timezone.as_deref(),
        attribute_key: args.attribute_key,
        attribute_value: args.attribute_value.as_deref(),
        accounts: args.accounts.as_deref(),
        regions: args.regions.as_deref(),
    };
    let source = ctx.source.as_ref();
    let (start, end, filter, scope, mut next_token) = match args.cursor.as_deref() {
        Some(cursor) => {
            if let Some(field) = selection_args.first_set() {
                return Err(ToolError::CursorWithSelection(field));
            }
            let state = ctx.cursors.decode(cursor, source.id())?;
            (
                state.start,
                state.end,
                state.filter,
                state.scope,
                Some(state.next_token),
            )
        }
        None => {
            let s = selection::resolve(selection_args, ctx.now(), source.retention())?;
            (s.start, s.end, s.filter, s.scope, None)
        }
    };
    // Before any request: a region outside the deployment's list is refused here.
    let searched_regions = source.regions_searched(filter.as_ref(), &scope)?;
    let options = ProjectionOptions {
        redact_source_ip: ctx.settings.redact_source_ip,
        detail: args.detail.unwrap_or(false),
    };
    let mut events = Vec::with_capacity(max.min(64));
    let mut usage: Option<Usage> = None;
    let mut still_running;
    loop {
        let query = Query {
            start,
            end,
            filter: filter.clone(),
            max_results: max - events.len(),
            next_token: next_token.take(),
            scope: scope.clone(),
        };
        let page = crate::source::lookup_traced(source, &query).await?;
        events.extend(page.events.iter().map(|e| project(e, options)));
        next_token = page.next_token;
        if let Some(page_usage) = page.usage {
            usage = Some(usage.unwrap_or_default().plus(page_usage));
        }
        // A query still running ends the page: its cursor collects it.
        still_running = page.still_running;
        if still_running || events.len() >= max || next_token.is_none() {
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
            scope: scope.clone(),
        })
    });
    let mut answer = LookupAnswer {
        window: selection::window(start, end),
        filter,
        returned: events.len(),
        events: events_of(&events, options.detail),
        next_cursor,
        truncated: false,
        note: still_running.then(|| {
            "the query is still running: call lookup_events again with only `cursor` set to `next_cursor` to collect its events (the query is not run again)".to_owned()
        }),
        usage: usage.map(|u| QueryUsage::new(u.queries, u.bytes_scanned, still_running)),
        searched_regions,
    };
    let mut text = budget.render(&answer);
    let mut omitted = 0;
    while !budget.fits(&text) && !events.is_empty() {
        // Drop a share proportional to the overshoot, at least one event, newest kept.
        let over = text.len() - budget.limit();
        let per_event = text.len() / events.len().max(1);
        let drop = (over / per_event.max(1)).max(1).min(events.len());
        events.truncate(events.len() - drop);
        omitted += drop;
        answer.events = events_of(&events, options.detail);
        answer.returned = events.len();
        answer.truncated = true;
        answer.note = Some(format!(
            "{omitted} older events of this page did not fit in the {} byte response limit and were left out; repeat with a smaller max_results (or narrower window) to see them",
            budget.limit()
        ));
        text = budget.render(&answer);
    }
    Ok(ToolOutput::new(
        text,
        events.iter().map(|e| e.event_id.as_str()),
    ))
}
