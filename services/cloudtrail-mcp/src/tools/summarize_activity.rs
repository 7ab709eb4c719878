//! `summarize_activity`: pages through every event of a window and returns aggregates (see
//! [`crate::summary`]) instead of the events themselves.
//!
//! The counts are exact: every event of the window is counted, and only the lists are capped.
//! Two things stop a scan early, and the answer then says so (`hit_cap`, `note`), so a reader
//! presents the counts as lower bounds: `max_events`, and the server's scan time limit
//! ([`crate::tools::ToolSettings::summary_scan_time`]), which matters for the LookupEvents API
//! (2 pages of 50 events a second).

use cloudtrail_contract::{ActivitySummary, QueryUsage};
use tokio::time::Instant;

use serde_json::Value;

use super::selection::{self, Selection, SelectionArgs};
use super::{Budget, ToolContext, ToolOutput};
use crate::cursor::{CursorError, CursorState};
use crate::error::ToolError;
use crate::project::{ProjectionOptions, project_record};
use crate::source::{Query, Summarized, SummaryQuery};
use crate::summary::{Aggregator, Finished};
use crate::timeline;

pub use cloudtrail_contract::SummarizeActivityArgs;

pub const NAME: &str = cloudtrail_contract::SUMMARIZE_ACTIVITY;
pub const DESCRIPTION: &str = "Summarize AWS CloudTrail activity in a time window, optionally filtered by ONE \
attribute (e.g. attribute_key Username + attribute_value alice). Counts every event of the window: counts by \
service, action, error code, principal, region and source IP, read vs write totals, first/last seen, top \
resources, and the write (non-read-only) actions and failed calls with their times (lists capped, counts exact), \
a `timeline` of read/write/failed calls in buckets sized to the window, and `highlights` the server found (root \
activity, console sign-in without MFA, bursts of denied calls, new source IPs or user agents, access keys \
created, IAM policy changes, deletions, CloudTrail tampering), each with the `ref`s of its events. Every listed \
event has a `ref` to cite it by or to open with get_event. \
If the window holds more than `max_events` or the scan reaches the server's time limit, `hit_cap` is true and \
the counts are lower bounds. Best first call for \"what did X do\", \"how many\" or \"what failed\" questions. \
Times as in lookup_events.";

const DEFAULT_MAX_EVENTS: u32 = 100_000;
const MAX_MAX_EVENTS: u32 = 100_000;

/// Why a scan stopped before the end of the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    MaxEvents(usize),
    TimeLimit(u64),
}

/// Runs the tool and returns the answer as JSON text.
pub async fn run(ctx: &ToolContext, args: SummarizeActivityArgs) -> Result<ToolOutput, ToolError> {
    let cap = selection::ranged(
        "max_events",
        args.max_events,
        DEFAULT_MAX_EVENTS,
        1,
        MAX_MAX_EVENTS,
    )?;
    let budget = selection::budget(args.max_bytes, ctx.settings.max_response_bytes)?;
    let source = ctx.source.as_ref();
    let selection_args = SelectionArgs {
        start_time: args.start_time.as_deref(),
        end_time: args.end_time.as_deref(),
        timezone: args.timezone.as_deref(),
        attribute_key: args.attribute_key,
        attribute_value: args.attribute_value.as_deref(),
        accounts: args.accounts.as_deref(),
        regions: args.regions.as_deref(),
    };
    let (selection, resume) = match args.cursor.as_deref() {
        Some(cursor) => {
            if let Some(field) = selection_args.first_set() {
                return Err(ToolError::CursorWithSelection(field));
            }
            let state = ctx.cursors.decode(cursor, source.id())?;
            let selection = Selection {
                start: state.start,
                end: state.end,
                filter: state.filter,
                scope: state.scope,
            };
            (selection, Some(state.next_token))
        }
        None => (
            selection::resolve(selection_args, ctx.now(), source.retention())?,
            None,
        ),
    };
    // Before any request: a region outside the deployment's list is refused here.
    let searched_regions = source.regions_searched(selection.filter.as_ref(), &selection.scope)?;
    // Summaries never carry raw IPs further than the projection allows.
    let options = ProjectionOptions {
        redact_source_ip: ctx.settings.redact_source_ip,
        detail: false,
    };
    let pushed = source
        .summarize(&SummaryQuery {
            start: selection.start,
            end: selection.end,
            filter: selection.filter.clone(),
            scope: selection.scope.clone(),
            resume: resume.clone(),
        })
        .await;
    if let Some(outcome) = pushed {
        let mut finished = pushed_down(ctx, &selection, outcome?, options);
        finished.summary.searched_regions = searched_regions;
        let text = fit(&mut finished.summary, budget);
        return Ok(ToolOutput::new(text, finished.cited_ids()));
    }
    if resume.is_some() {
        // Only a source that summarizes by itself issues summary cursors.
        return Err(ToolError::Cursor(CursorError::Invalid));
    }
    let deadline = Instant::now() + ctx.settings.summary_scan_time;
    let mut aggregator = Aggregator::new(selection.start, selection.end);
    let mut scanned = 0;
    let mut next_token = None;
    let stop = loop {
        let query = Query {
            start: selection.start,
            end: selection.end,
            filter: selection.filter.clone(),
            max_results: source.scan_page().min(cap - scanned),
            next_token: next_token.take(),
            scope: selection.scope.clone(),
        };
        let page = crate::source::lookup_traced(source, &query).await?;
        for event in &page.events {
            // Parsed once for the projection and for what the highlights read beyond it.
            let record: Value = serde_json::from_str(&event.record).unwrap_or(Value::Null);
            let compact = project_record(event, &record, options);
            aggregator.add(event.event_time, &compact, &record);
        }
        scanned += page.events.len();
        next_token = page.next_token;
        if next_token.is_none() {
            break None;
        }
        if scanned >= cap {
            break Some(Stop::MaxEvents(cap));
        }
        if Instant::now() >= deadline {
            break Some(Stop::TimeLimit(ctx.settings.summary_scan_time.as_secs()));
        }
    };
    let mut finished = aggregator.finish(
        selection::window(selection.start, selection.end),
        selection.filter,
    );
    let answer = &mut finished.summary;
    answer.searched_regions = searched_regions;
    if let Some(stop) = stop {
        answer.hit_cap = true;
        let highlights_note = answer.note.take();
        answer.note = Some(match stop {
            Stop::MaxEvents(cap) => format!(
                "the window holds more than max_events ({cap}) events: the counts cover the newest {scanned} and are lower bounds; narrow the window or filter for exact counts"
            ),
            Stop::TimeLimit(secs) => format!(
                "the scan reached the server's {secs} s time limit: the counts cover the newest {scanned} events (from {}) and are lower bounds; narrow the window or filter for exact counts",
                answer
                    .first_seen
                    .as_deref()
                    .unwrap_or("the end of the window")
            ),
        });
        if let (Some(note), Some(more)) = (answer.note.as_mut(), highlights_note) {
            note.push_str("; ");
            note.push_str(&more);
        }
    }
    let text = fit(&mut finished.summary, budget);
    Ok(ToolOutput::new(text, finished.cited_ids()))
}

/// The answer from a source's own aggregates (exact: the engine counted every event, the
/// timeline too since its bucket is one of the grouping keys), or a "still running" answer
/// whose cursor collects them. Highlights are not computed on this path: they need every event
/// of the window, which the engine does not send (the note says so).
fn pushed_down(
    ctx: &ToolContext,
    selection: &Selection,
    outcome: Summarized,
    options: ProjectionOptions,
) -> Finished {
    let window = selection::window(selection.start, selection.end);
    let aggregator = Aggregator::new(selection.start, selection.end);
    match outcome {
        Summarized::Done(aggregates, usage) => {
            let mut aggregator = aggregator;
            for group in &aggregates.groups {
                aggregator.add_group(group, options.redact_source_ip);
            }
            for (name, count) in &aggregates.resources {
                aggregator.add_resource(name, *count);
            }
            for event in &aggregates.latest {
                let record: Value = serde_json::from_str(&event.record).unwrap_or(Value::Null);
                aggregator.list(&project_record(event, &record, options));
            }
            let mut finished = aggregator.finish(window, selection.filter.clone());
            let answer = &mut finished.summary;
            answer.usage = Some(QueryUsage::new(usage.queries, usage.bytes_scanned, false));
            answer.note = Some(HIGHLIGHTS_NOT_COMPUTED.to_owned());
            finished
        }
        Summarized::Running { token, usage } => {
            let mut finished = aggregator.finish(window, selection.filter.clone());
            let answer = &mut finished.summary;
            answer.hit_cap = true;
            answer.usage = Some(QueryUsage::new(usage.queries, usage.bytes_scanned, true));
            answer.note = Some("the summary query is still running: call summarize_activity again with only `cursor` set to `next_cursor` to collect it (the query is not run again); nothing is counted yet".to_owned());
            answer.next_cursor = Some(ctx.cursors.encode(&CursorState {
                source: ctx.source.id().to_owned(),
                start: selection.start,
                end: selection.end,
                filter: selection.filter.clone(),
                next_token: token,
                scope: selection.scope.clone(),
            }));
            finished
        }
    }
}

/// The note of a summary the source computed itself.
pub const HIGHLIGHTS_NOT_COMPUTED: &str = "highlights are not computed on the Athena source (the query engine counts the events but does not send each one); `highlights` is empty: look at write_actions and failures, or use lookup_events with a filter";

/// The answer as JSON within `budget`: the event lists are halved first (the longest of the two
/// each time), then the highlights, then the ranked lists, and last the timeline is coarsened
/// (buckets twice as long); the counts are never touched.
fn fit(answer: &mut ActivitySummary, budget: Budget) -> String {
    let mut text = budget.render(&answer);
    while !budget.fits(&text) && shorten(answer) {
        answer.truncated = true;
        text = budget.render(&answer);
    }
    text
}

/// Halves the longest shortenable list, or coarsens the timeline; false when nothing is left
/// to shorten.
fn shorten(answer: &mut ActivitySummary) -> bool {
    if !answer.write_actions.is_empty() || !answer.failures.is_empty() {
        let (list, omitted) = if answer.write_actions.len() >= answer.failures.len() {
            (&mut answer.write_actions, &mut answer.write_actions_omitted)
        } else {
            (&mut answer.failures, &mut answer.failures_omitted)
        };
        let keep = list.len() / 2;
        *omitted += (list.len() - keep) as u64;
        list.truncate(keep);
        return true;
    }
    if !answer.highlights.is_empty() {
        let keep = answer.highlights.len() / 2;
        answer.highlights.truncate(keep);
        return true;
    }
    let ranked = [
        &mut answer.by_service,
        &mut answer.by_action,
        &mut answer.by_error_code,
        &mut answer.by_principal,
        &mut answer.regions,
        &mut answer.source_ips,
        &mut answer.top_resources,
    ];
    match ranked.into_iter().max_by_key(|list| list.len()) {
        Some(list) if !list.is_empty() => {
            list.truncate(list.len() / 2);
            true
        }
        _ if answer.timeline.buckets.len() > 1 => {
            answer.timeline = timeline::coarsen(&answer.timeline);
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use async_trait::async_trait;
    use jiff::{SignedDuration, Timestamp};
    use serde_json::{Value, json};

    use super::*;
    use crate::cursor::CursorCodec;
    use crate::source::{EventSource, Page, RawEvent, Resource, SourceError};
    use crate::tools::ToolSettings;

    /// `total` events, one a minute back from now, `denied_every`th one denied, each page taking
    /// `page_time` (the API's rate), and long resource names so the lists are large.
    struct Busy {
        total: usize,
        page_time: Duration,
    }

    #[async_trait]
    impl EventSource for Busy {
        fn id(&self) -> &str {
            "test:busy"
        }
        fn retention(&self) -> Option<SignedDuration> {
            None
        }
        async fn lookup(&self, query: &Query) -> Result<Page, SourceError> {
            tokio::time::sleep(self.page_time).await;
            let from: usize = query
                .next_token
                .as_deref()
                .map_or(0, |t| t.parse().unwrap());
            let to = (from + query.max_results).min(self.total);
            let events = (from..to)
                .map(|i| {
                    let time = query.end - SignedDuration::from_mins(i as i64);
                    let denied = i % 3 == 0;
                    RawEvent {
                        event_id: format!("id-{i}"),
                        event_time: time,
                        event_name: format!("PutObject{}", i % 40),
                        event_source: "s3.amazonaws.com".into(),
                        username: Some(format!("user-{}", i % 20)),
                        access_key_id: None,
                        read_only: Some(false),
                        resources: vec![Resource {
                            resource_type: Some("AWS::S3::Object".into()),
                            resource_name: Some(format!(
                                "{}-{i}",
                                "very-long-object-key".repeat(4)
                            )),
                        }],
                        record: json!({"errorCode": denied.then_some("AccessDenied"),
                                       "awsRegion": "us-east-1"})
                        .to_string(),
                    }
                })
                .collect();
            Ok(Page {
                events,
                next_token: (to < self.total).then(|| to.to_string()),
                ..Page::default()
            })
        }
    }

    fn context(source: Busy, scan: Duration) -> ToolContext {
        ToolContext {
            source: Arc::new(source),
            cursors: CursorCodec::new("k"),
            settings: ToolSettings {
                summary_scan_time: scan,
                ..ToolSettings::default()
            },
        }
    }

    fn args(max_bytes: Option<u32>) -> SummarizeActivityArgs {
        let end = Timestamp::now();
        SummarizeActivityArgs {
            start_time: Some((end - SignedDuration::from_hours(24 * 30)).to_string()),
            end_time: Some(end.to_string()),
            max_bytes,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn every_event_of_the_window_is_counted_and_only_the_lists_are_capped() {
        let ctx = context(
            Busy {
                total: 2_715,
                page_time: Duration::ZERO,
            },
            Duration::from_secs(60),
        );
        let output = run(&ctx, args(Some(32_768))).await.unwrap();
        let text = output.text;
        assert!(text.len() <= 32_768, "{} bytes", text.len());
        let s: ActivitySummary = serde_json::from_str(&text).unwrap();
        assert_eq!(s.scanned, 2_715);
        assert!(!s.hit_cap && s.note.is_none(), "{:?}", s.note);
        // 0, 3, 6... 2712: 905 denied calls, all counted though at most 50 are listed.
        assert_eq!(s.failed_events, 905);
        assert_eq!(s.by_error_code[0].count, 905);
        assert_eq!(
            s.failures.len() as u64 + s.failures_omitted,
            905,
            "listed and omitted add up"
        );
        assert_eq!(s.write_events, 2_715);
        assert_eq!(
            s.write_actions.len() as u64 + s.write_actions_omitted,
            2_715
        );
        assert_eq!(
            s.by_principal.iter().map(|c| c.count).sum::<u64>(),
            15 * 136
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_scan_stopped_by_time_or_max_events_says_its_counts_are_lower_bounds() {
        // 2 pages a second, as LookupEvents allows: 10 s of scanning is 20 pages.
        let ctx = context(
            Busy {
                total: 10_000,
                page_time: Duration::from_millis(500),
            },
            Duration::from_secs(10),
        );
        let s: ActivitySummary =
            serde_json::from_str(&run(&ctx, args(None)).await.unwrap().text).unwrap();
        assert!(s.hit_cap);
        assert_eq!(s.scanned, 20 * 50);
        let note = s.note.unwrap();
        assert!(
            note.contains("10 s time limit") && note.contains("lower bounds"),
            "{note}"
        );
        let mut capped = args(None);
        capped.max_events = Some(120);
        let s: Value = serde_json::from_str(&run(&ctx, capped).await.unwrap().text).unwrap();
        assert_eq!(
            (s["scanned"].clone(), s["hit_cap"].clone()),
            (json!(120), json!(true))
        );
        assert!(s["note"].as_str().unwrap().contains("max_events (120)"));
    }

    #[tokio::test]
    async fn the_budget_shortens_lists_never_the_json() {
        let ctx = context(
            Busy {
                total: 3_000,
                page_time: Duration::ZERO,
            },
            Duration::from_secs(60),
        );
        for max_bytes in [4_096, 8_192, 32_768] {
            let output = run(&ctx, args(Some(max_bytes))).await.unwrap();
            let text = output.text;
            assert!(
                text.len() <= max_bytes as usize,
                "{} > {max_bytes}",
                text.len()
            );
            let s: ActivitySummary = serde_json::from_str(&text).unwrap();
            assert!(s.truncated);
            assert_eq!(s.scanned, 3_000, "counts are never shortened");
            let buckets = &s.timeline.buckets;
            assert_eq!(
                buckets.iter().map(|b| b.read + b.write).sum::<u64>(),
                3_000,
                "coarsening keeps every call"
            );
            // The `_meta` map names exactly the events the shortened answer still cites.
            let cited: std::collections::BTreeSet<&String> = s
                .write_actions
                .iter()
                .chain(&s.failures)
                .map(|l| &l.event_ref)
                .chain(s.highlights.iter().flat_map(|h| &h.refs))
                .collect();
            assert_eq!(
                output
                    .refs
                    .keys()
                    .collect::<std::collections::BTreeSet<_>>(),
                cited
            );
        }
        let e = run(&ctx, args(Some(10))).await.unwrap_err().to_string();
        assert!(e.contains("`max_bytes` must be between 4096"), "{e}");
    }
}
