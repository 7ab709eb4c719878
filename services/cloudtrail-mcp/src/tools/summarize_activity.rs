//! `summarize_activity`: pages through up to a bounded number of events of a window and returns
//! aggregates (see [`crate::summary`]) instead of the events themselves.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::selection::{self, SelectionArgs};
use super::{Budget, ToolContext, WindowOut};
use crate::error::ToolError;
use crate::project::{ProjectionOptions, project};
use crate::source::{AttributeKey, Filter, Query};
use crate::summary::{Aggregator, Summary};

pub const NAME: &str = "summarize_activity";
pub const DESCRIPTION: &str = "Summarize AWS CloudTrail activity in a time window, optionally filtered by ONE \
attribute (e.g. attribute_key Username + attribute_value alice). Scans up to `max_events` events and returns \
counts by service, action, error code, principal, region and source IP, read vs write totals, first/last seen, \
top resources, and every write (non-read-only) action with its time. Says how many events it scanned and \
whether it hit the cap. Best first call for \"what did X do\" or \"what failed\" questions. Times as in lookup_events.";

const DEFAULT_MAX_EVENTS: u32 = 1_000;
const MAX_MAX_EVENTS: u32 = 5_000;
/// Events requested per page; the API returns at most 50.
const PAGE: usize = 50;

/// Arguments of `summarize_activity`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct SummarizeActivityArgs {
    /// Start of the window (inclusive). Default `24h ago`.
    pub start_time: Option<String>,
    /// End of the window (inclusive). Default `now`.
    pub end_time: Option<String>,
    /// IANA timezone for `today`, `yesterday` and plain dates. Default `UTC`.
    pub timezone: Option<String>,
    /// The one attribute to filter on; requires `attribute_value`.
    pub attribute_key: Option<AttributeKey>,
    /// The value the attribute must equal exactly.
    pub attribute_value: Option<String>,
    /// The most events to scan, 1-5000. Default 1000.
    pub max_events: Option<u32>,
}

#[derive(Serialize)]
struct Answer {
    window: WindowOut,
    filter: Option<Filter>,
    scanned: usize,
    hit_cap: bool,
    #[serde(flatten)]
    summary: Summary,
    truncated: bool,
}

/// Runs the tool and returns the answer as JSON text.
pub async fn run(ctx: &ToolContext, args: SummarizeActivityArgs) -> Result<String, ToolError> {
    let cap = selection::ranged(
        "max_events",
        args.max_events,
        DEFAULT_MAX_EVENTS,
        1,
        MAX_MAX_EVENTS,
    )?;
    let source = ctx.source.as_ref();
    let selection = selection::resolve(
        SelectionArgs {
            start_time: args.start_time.as_deref(),
            end_time: args.end_time.as_deref(),
            timezone: args.timezone.as_deref(),
            attribute_key: args.attribute_key,
            attribute_value: args.attribute_value.as_deref(),
        },
        ctx.now(),
        source.retention(),
    )?;
    // Summaries never carry raw IPs further than the projection allows.
    let options = ProjectionOptions {
        redact_source_ip: ctx.settings.redact_source_ip,
        detail: false,
    };
    let mut aggregator = Aggregator::default();
    let mut scanned = 0;
    let mut next_token = None;
    loop {
        let query = Query {
            start: selection.start,
            end: selection.end,
            filter: selection.filter.clone(),
            max_results: PAGE.min(cap - scanned),
            next_token: next_token.take(),
        };
        let page = source.lookup(&query).await?;
        for event in &page.events {
            aggregator.add(&project(event, options));
        }
        scanned += page.events.len();
        next_token = page.next_token;
        if scanned >= cap || next_token.is_none() {
            break;
        }
    }
    let mut answer = Answer {
        window: WindowOut::new(selection.start, selection.end),
        filter: selection.filter,
        scanned,
        hit_cap: next_token.is_some(),
        summary: aggregator.finish(),
        truncated: false,
    };
    let budget = Budget::new(ctx.settings.max_response_bytes);
    let mut text = budget.render(&answer);
    // Halve the longest list until the answer fits.
    let lists_empty =
        |a: &Answer| a.summary.write_actions.is_empty() && a.summary.failures.is_empty();
    while !budget.fits(&text) && !lists_empty(&answer) {
        let summary = &mut answer.summary;
        let (list, omitted) = if summary.write_actions.len() >= summary.failures.len() {
            (
                &mut summary.write_actions,
                &mut summary.write_actions_omitted,
            )
        } else {
            (&mut summary.failures, &mut summary.failures_omitted)
        };
        let keep = list.len() / 2;
        *omitted += (list.len() - keep) as u64;
        list.truncate(keep);
        answer.truncated = true;
        text = budget.render(&answer);
    }
    Ok(text)
}
