//! Aggregates of many events, small enough for a model's context.
//!
//! `summarize_activity` pages through every event of a window and folds each one here: counts by
//! service, action, error code and principal, read vs write, first/last seen, regions, source
//! IPs, top resources, and the lists of write actions and of failed calls with their times (so
//! "which calls were denied?" is answered without paging through raw events), the timeline
//! ([`crate::timeline`]) and the highlights ([`crate::highlights`]). Every event is counted;
//! only the lists are capped, so the counts stay exact however busy the window is.

use std::collections::HashMap;

use cloudtrail_contract::RefMap;
pub use cloudtrail_contract::summary::{ActionLine, ActivitySummary, Count};
use cloudtrail_contract::{Filter, Window};
use jiff::Timestamp;
use serde_json::Value;

use crate::highlights::Highlighter;
use crate::project::CompactEvent;
use crate::source::Group;
use crate::timeline::TimelineBuilder;

/// How many entries each ranked list keeps.
pub const TOP_N: usize = 15;
/// How many write actions are listed one by one.
pub const MAX_WRITE_ACTIONS: usize = 100;
/// How many failed calls (any error code, read or write) are listed one by one.
pub const MAX_FAILURES: usize = 50;

/// Folds the events of one window one at a time, in any order.
#[derive(Debug)]
pub struct Aggregator {
    scanned: u64,
    first_seen: Option<String>,
    last_seen: Option<String>,
    read_events: u64,
    write_events: u64,
    failed_events: u64,
    by_service: HashMap<String, u64>,
    by_action: HashMap<String, u64>,
    by_error_code: HashMap<String, u64>,
    by_principal: HashMap<String, u64>,
    regions: HashMap<String, u64>,
    source_ips: HashMap<String, u64>,
    resources: HashMap<String, u64>,
    write_actions: Vec<ActionLine>,
    write_actions_omitted: u64,
    failures: Vec<ActionLine>,
    failures_omitted: u64,
    /// The full ids of the listed lines, by reference.
    line_ids: RefMap,
    timeline: TimelineBuilder,
    highlights: Highlighter,
}

/// A summary and the full ids of the events it names by reference (lines and highlights).
#[derive(Debug)]
pub struct Finished {
    pub summary: ActivitySummary,
    pub refs: RefMap,
}

impl Finished {
    /// The full ids of the events the summary still names (after lists were shortened).
    pub fn cited_ids(&self) -> impl Iterator<Item = &str> {
        let s = &self.summary;
        s.write_actions
            .iter()
            .chain(&s.failures)
            .map(|line| &line.event_ref)
            .chain(s.highlights.iter().flat_map(|h| &h.refs))
            .filter_map(|r| self.refs.get(r).map(String::as_str))
    }
}

fn bump(map: &mut HashMap<String, u64>, key: &str) {
    if let Some(n) = map.get_mut(key) {
        *n += 1;
    } else {
        map.insert(key.to_owned(), 1);
    }
}

impl Aggregator {
    /// An aggregator for the window `[start, end]` (the timeline's buckets and the highlights'
    /// first third depend on it).
    pub fn new(start: Timestamp, end: Timestamp) -> Self {
        Self {
            scanned: 0,
            first_seen: None,
            last_seen: None,
            read_events: 0,
            write_events: 0,
            failed_events: 0,
            by_service: HashMap::new(),
            by_action: HashMap::new(),
            by_error_code: HashMap::new(),
            by_principal: HashMap::new(),
            regions: HashMap::new(),
            source_ips: HashMap::new(),
            resources: HashMap::new(),
            write_actions: Vec::new(),
            write_actions_omitted: 0,
            failures: Vec::new(),
            failures_omitted: 0,
            line_ids: RefMap::new(),
            timeline: TimelineBuilder::new(start, end),
            highlights: Highlighter::new(start, end),
        }
    }

    /// Adds one event at `time`; `record` is its raw CloudTrail record (`Value::Null` when not
    /// JSON), which the highlights read beyond the projection.
    pub fn add(&mut self, time: Timestamp, event: &CompactEvent, record: &Value) {
        self.scanned += 1;
        self.timeline.add(
            time,
            event.read_only == Some(true),
            event.error_code.is_some(),
        );
        self.highlights.add(time, event, record);
        // RFC 3339 UTC strings of one format compare in time order.
        if self
            .first_seen
            .as_ref()
            .is_none_or(|t| event.event_time < *t)
        {
            self.first_seen = Some(event.event_time.clone());
        }
        if self
            .last_seen
            .as_ref()
            .is_none_or(|t| event.event_time > *t)
        {
            self.last_seen = Some(event.event_time.clone());
        }
        bump(&mut self.by_service, &event.event_source);
        bump(
            &mut self.by_action,
            &format!(
                "{}:{}",
                service_prefix(&event.event_source),
                event.event_name
            ),
        );
        if let Some(code) = &event.error_code {
            self.failed_events += 1;
            bump(&mut self.by_error_code, code);
        }
        if let Some(name) = &event.principal.name {
            bump(&mut self.by_principal, name);
        }
        if let Some(region) = &event.aws_region {
            bump(&mut self.regions, region);
        }
        if let Some(ip) = &event.source_ip {
            bump(&mut self.source_ips, ip);
        }
        for name in event.resources.iter().filter_map(|r| r.name.as_deref()) {
            bump(&mut self.resources, name);
        }
        let line = || action_line(event);
        let mut listed = false;
        if event.error_code.is_some() {
            if self.failures.len() < MAX_FAILURES {
                listed = true;
                self.failures.push(line());
            } else {
                self.failures_omitted += 1;
            }
        }
        if event.read_only == Some(true) {
            self.read_events += 1;
        } else {
            self.write_events += 1;
            if self.write_actions.len() < MAX_WRITE_ACTIONS {
                listed = true;
                self.write_actions.push(line());
            } else {
                self.write_actions_omitted += 1;
            }
        }
        if listed {
            self.line_ids
                .insert(event.event_ref.clone(), event.event_id.clone());
        }
    }

    /// Adds a group of `group.count` events that share every counted field (a query engine's
    /// `GROUP BY` row). Their lines are not listed: the write and failed ones count as omitted
    /// until [`list`](Self::list) lists them.
    pub fn add_group(&mut self, group: &Group, redact_source_ip: bool) {
        let n = group.count;
        if n == 0 {
            return;
        }
        self.scanned += n;
        // The engine groups by the timeline's bucket too, so every event of a group is in the
        // bucket of its first one.
        self.timeline.add_many(
            group.first,
            group.read_only == Some(true),
            group.error_code.is_some(),
            n,
        );
        let (first, last) = (group.first.to_string(), group.last.to_string());
        if self.first_seen.as_ref().is_none_or(|t| first < *t) {
            self.first_seen = Some(first);
        }
        if self.last_seen.as_ref().is_none_or(|t| last > *t) {
            self.last_seen = Some(last);
        }
        let add = |map: &mut HashMap<String, u64>, key: &str| {
            *map.entry(key.to_owned()).or_default() += n;
        };
        add(&mut self.by_service, &group.event_source);
        add(
            &mut self.by_action,
            &format!(
                "{}:{}",
                service_prefix(&group.event_source),
                group.event_name
            ),
        );
        if let Some(code) = &group.error_code {
            self.failed_events += n;
            self.failures_omitted += n;
            add(&mut self.by_error_code, code);
        }
        if let Some(name) = &group.principal {
            add(&mut self.by_principal, name);
        }
        if let Some(region) = &group.region {
            add(&mut self.regions, region);
        }
        if let Some(ip) = &group.source_ip {
            add(
                &mut self.source_ips,
                &crate::project::redact_ip(ip, redact_source_ip),
            );
        }
        if group.read_only == Some(true) {
            self.read_events += n;
        } else {
            self.write_events += n;
            self.write_actions_omitted += n;
        }
    }

    /// Counts a resource name seen in `count` events (after [`add_group`](Self::add_group)).
    pub fn add_resource(&mut self, name: &str, count: u64) {
        *self.resources.entry(name.to_owned()).or_default() += count;
    }

    /// Lists an event already counted by [`add_group`](Self::add_group) among the write
    /// actions and failures, while their lists have room. Give events newest first.
    pub fn list(&mut self, event: &CompactEvent) {
        let line = || action_line(event);
        let mut listed = false;
        if event.error_code.is_some() && self.failures.len() < MAX_FAILURES {
            listed = true;
            self.failures.push(line());
            self.failures_omitted = self.failures_omitted.saturating_sub(1);
        }
        if event.read_only != Some(true) && self.write_actions.len() < MAX_WRITE_ACTIONS {
            listed = true;
            self.write_actions.push(line());
            self.write_actions_omitted = self.write_actions_omitted.saturating_sub(1);
        }
        if listed {
            self.line_ids
                .insert(event.event_ref.clone(), event.event_id.clone());
        }
    }

    /// How many events were added.
    pub fn scanned(&self) -> u64 {
        self.scanned
    }

    /// The ranked, bounded result for `window` and `filter`, as a complete scan (the caller
    /// sets `hit_cap` when it stopped early), with the full ids of the events it names.
    pub fn finish(mut self, window: Window, filter: Option<Filter>) -> Finished {
        self.write_actions
            .sort_by(|a, b| b.event_time.cmp(&a.event_time));
        self.failures
            .sort_by(|a, b| b.event_time.cmp(&a.event_time));
        let (highlights, highlights_omitted, mut refs) = self.highlights.finish();
        refs.append(&mut self.line_ids);
        let summary = ActivitySummary {
            window,
            filter,
            scanned: self.scanned,
            hit_cap: false,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            read_events: self.read_events,
            write_events: self.write_events,
            failed_events: self.failed_events,
            by_service: top(self.by_service),
            by_action: top(self.by_action),
            by_error_code: top(self.by_error_code),
            by_principal: top(self.by_principal),
            regions: top(self.regions),
            source_ips: top(self.source_ips),
            top_resources: top(self.resources),
            write_actions: self.write_actions,
            write_actions_omitted: self.write_actions_omitted,
            failures: self.failures,
            failures_omitted: self.failures_omitted,
            timeline: self.timeline.finish(),
            highlights,
            truncated: false,
            note: (highlights_omitted > 0).then(|| {
                format!(
                    "{highlights_omitted} more highlights (of the kinds listed last) were left out; narrow the window or filter by principal to see them"
                )
            }),
            usage: None,
            next_cursor: None,
            searched_regions: None,
        };
        Finished { summary, refs }
    }
}

/// `s3.amazonaws.com` -> `s3`, the prefix IAM actions use.
fn service_prefix(event_source: &str) -> &str {
    event_source.split('.').next().unwrap_or(event_source)
}

fn top(map: HashMap<String, u64>) -> Vec<Count> {
    let mut counts: Vec<Count> = map
        .into_iter()
        .map(|(key, count)| Count { key, count })
        .collect();
    counts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    counts.truncate(TOP_N);
    counts
}

/// The line a summary lists an event by (among the write actions or the failures).
fn action_line(event: &CompactEvent) -> ActionLine {
    ActionLine {
        event_ref: event.event_ref.clone(),
        event_time: event.event_time.clone(),
        event_name: event.event_name.clone(),
        event_source: event.event_source.clone(),
        principal: event.principal.name.clone(),
        error_code: event.error_code.clone(),
        resources: event
            .resources
            .iter()
            .filter_map(|r| r.name.clone())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::{Principal, ResourceRef};

    fn window() -> Window {
        Window {
            start: "2026-11-23T00:00:00Z".into(),
            end: "2026-11-24T00:00:00Z".into(),
        }
    }

    fn aggregator() -> Aggregator {
        let w = window();
        Aggregator::new(w.start.parse().unwrap(), w.end.parse().unwrap())
    }

    fn add(agg: &mut Aggregator, event: &CompactEvent) {
        agg.add(event.event_time.parse().unwrap(), event, &Value::Null);
    }

    fn event(
        time: &str,
        name: &str,
        read_only: bool,
        error: Option<&str>,
        who: &str,
    ) -> CompactEvent {
        CompactEvent {
            event_id: format!("{time}-{name}"),
            event_ref: cloudtrail_contract::event_ref(&format!("{time}-{name}")),
            event_time: time.into(),
            event_name: name.into(),
            event_source: "s3.amazonaws.com".into(),
            aws_region: Some("us-east-1".into()),
            read_only: Some(read_only),
            principal: Principal {
                kind: None,
                arn: None,
                name: Some(who.into()),
                account_id: None,
            },
            access_key_id: None,
            source_ip: Some("203.0.113.1".into()),
            user_agent: None,
            error_code: error.map(Into::into),
            error_message: None,
            resources: vec![ResourceRef {
                kind: None,
                name: Some("bucket-a".into()),
            }],
            request_parameters: None,
            response_elements: None,
        }
    }

    #[test]
    fn folds_counts_and_bounds() {
        let mut agg = aggregator();
        add(
            &mut agg,
            &event("2026-11-23T10:00:00Z", "ListBuckets", true, None, "alice"),
        );
        add(
            &mut agg,
            &event(
                "2026-11-23T09:00:00Z",
                "DeleteBucket",
                false,
                Some("AccessDenied"),
                "bob",
            ),
        );
        add(
            &mut agg,
            &event("2026-11-23T11:00:00Z", "CreateBucket", false, None, "alice"),
        );
        let finished = agg.finish(window(), None);
        let cited: Vec<String> = finished.cited_ids().map(str::to_owned).collect();
        let s = finished.summary;
        // Both writes and the failure (one of the writes) are listed, each cited once or twice.
        assert!(
            cited
                .iter()
                .any(|c| c == "2026-11-23T09:00:00Z-DeleteBucket"),
            "{cited:?}"
        );
        assert!(
            cited
                .iter()
                .any(|c| c == "2026-11-23T11:00:00Z-CreateBucket"),
            "{cited:?}"
        );
        assert!(
            !cited
                .iter()
                .any(|c| c == "2026-11-23T10:00:00Z-ListBuckets"),
            "{cited:?}"
        );
        assert_eq!(
            s.write_actions[0].event_ref,
            cloudtrail_contract::event_ref("2026-11-23T11:00:00Z-CreateBucket")
        );
        // The timeline: an hour a bucket, each call in its hour.
        assert_eq!(s.timeline.bucket_seconds, 3_600);
        assert_eq!(s.timeline.buckets.len(), 25);
        let b = |h: usize| &s.timeline.buckets[h];
        assert_eq!((b(9).read, b(9).write, b(9).failed), (0, 1, 1));
        assert_eq!((b(10).read, b(10).write, b(11).write), (1, 0, 1));
        // A deletion that was denied is no deletion highlight.
        assert!(s.highlights.is_empty(), "{:?}", s.highlights);
        assert_eq!(s.first_seen.as_deref(), Some("2026-11-23T09:00:00Z"));
        assert_eq!(s.last_seen.as_deref(), Some("2026-11-23T11:00:00Z"));
        assert_eq!((s.read_events, s.write_events, s.failed_events), (1, 2, 1));
        assert_eq!(
            s.by_principal[0],
            Count {
                key: "alice".into(),
                count: 2
            }
        );
        assert_eq!(
            s.by_error_code,
            vec![Count {
                key: "AccessDenied".into(),
                count: 1
            }]
        );
        assert_eq!(s.by_action.len(), 3);
        assert!(s.by_action.iter().any(|c| c.key == "s3:DeleteBucket"));
        // Write actions newest first.
        assert_eq!(s.write_actions[0].event_name, "CreateBucket");
        assert_eq!(
            s.write_actions[1].error_code.as_deref(),
            Some("AccessDenied")
        );
        // Failures are listed whether read or write.
        assert_eq!(s.failures.len(), 1);
        assert_eq!(s.failures[0].event_name, "DeleteBucket");
        assert_eq!(s.failures[0].principal.as_deref(), Some("bob"));
        assert_eq!(
            s.top_resources[0],
            Count {
                key: "bucket-a".into(),
                count: 3
            }
        );
    }

    #[test]
    fn grouped_counts_and_listed_lines_equal_folding_every_event() {
        // 130 events newest first: writes and failures beyond the lists' caps.
        let events: Vec<CompactEvent> = (0..130)
            .map(|i| {
                let time = format!("2026-11-23T{:02}:{:02}:00Z", 20 - i / 60, 59 - i % 60);
                let error = (i % 3 == 0).then_some("AccessDenied");
                event(
                    &time,
                    ["GetObject", "PutObject"][i % 2],
                    i % 2 == 0,
                    error,
                    ["alice", "bob"][i % 5 / 4],
                )
            })
            .collect();
        let mut one_by_one = aggregator();
        events.iter().for_each(|e| add(&mut one_by_one, e));
        let mut grouped = aggregator();
        // Grouped as the engine does, the timeline's bucket (an hour for this day) included.
        let mut groups: HashMap<(String, Option<String>, String, bool, i64), Group> =
            HashMap::new();
        for e in &events {
            let time: jiff::Timestamp = e.event_time.parse().unwrap();
            let key = (
                e.event_name.clone(),
                e.error_code.clone(),
                e.principal.name.clone().unwrap(),
                e.read_only == Some(true),
                time.as_second().div_euclid(3_600),
            );
            let g = groups.entry(key).or_insert_with(|| Group {
                event_source: e.event_source.clone(),
                event_name: e.event_name.clone(),
                error_code: e.error_code.clone(),
                principal: e.principal.name.clone(),
                region: e.aws_region.clone(),
                source_ip: e.source_ip.clone(),
                read_only: e.read_only,
                count: 0,
                first: time,
                last: time,
            });
            g.count += 1;
            g.first = g.first.min(time);
            g.last = g.last.max(time);
        }
        groups.values().for_each(|g| grouped.add_group(g, false));
        grouped.add_resource("bucket-a", events.len() as u64);
        events.iter().for_each(|e| grouped.list(e));
        let (grouped, one_by_one) = (
            grouped.finish(window(), None),
            one_by_one.finish(window(), None),
        );
        assert_eq!(grouped.summary, one_by_one.summary);
        assert_eq!(grouped.refs, one_by_one.refs);
        assert!(
            grouped
                .summary
                .timeline
                .buckets
                .iter()
                .any(|b| b.failed > 0)
        );
    }

    #[test]
    fn lists_are_capped() {
        let mut agg = aggregator();
        for i in 0..(MAX_WRITE_ACTIONS + 7) {
            let mut e = event("2026-11-23T10:00:00Z", &format!("Op{i}"), false, None, "ci");
            e.principal.name = Some(format!("user{i}"));
            add(&mut agg, &e);
        }
        let finished = agg.finish(window(), None);
        assert_eq!(finished.cited_ids().count(), MAX_WRITE_ACTIONS);
        let s = finished.summary;
        assert_eq!(s.write_actions.len(), MAX_WRITE_ACTIONS);
        assert_eq!(s.write_actions_omitted, 7);
        assert_eq!(s.by_principal.len(), TOP_N);
        // The list is capped, the counts are not.
        assert_eq!(s.write_events, (MAX_WRITE_ACTIONS + 7) as u64);
        assert_eq!(s.scanned, (MAX_WRITE_ACTIONS + 7) as u64);
        let mut agg = aggregator();
        for i in 0..(MAX_FAILURES + 3) {
            add(
                &mut agg,
                &event(
                    "2026-11-23T10:00:00Z",
                    &format!("Get{i}"),
                    true,
                    Some("AccessDenied"),
                    "eve",
                ),
            );
        }
        let s = agg.finish(window(), None).summary;
        assert_eq!((s.failures.len(), s.failures_omitted), (MAX_FAILURES, 3));
        assert_eq!(s.failed_events, (MAX_FAILURES + 3) as u64);
        assert_eq!(s.by_error_code[0].count, (MAX_FAILURES + 3) as u64);
    }
}
