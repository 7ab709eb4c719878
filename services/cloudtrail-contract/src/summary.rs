//! The answer of `summarize_activity`: exact counts over every event of a window (unless
//! `hit_cap` says the scan stopped early), ranked lists, capped lists of write actions and
//! failed calls with their times, a timeline of the window in buckets, and highlights the server
//! found (root activity, sign-ins without MFA, bursts of denied calls...), each with the
//! references of its events.

use serde::{Deserialize, Serialize};

use crate::selection::{Filter, Window};

/// A key and how often it occurred.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    pub key: String,
    pub count: u64,
}

/// One call, listed by time (write actions and failures).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionLine {
    /// The event's reference ([`crate::evidence::event_ref`]), to cite it or open it with
    /// `get_event`.
    #[serde(rename = "ref")]
    pub event_ref: String,
    pub event_time: String,
    pub event_name: String,
    pub event_source: String,
    pub principal: Option<String>,
    pub error_code: Option<String>,
    pub resources: Vec<String>,
}

/// The answer of `summarize_activity`.
///
/// The counts (`scanned`, `read_events`, `write_events`, `failed_events` and every `count` of
/// the ranked lists) cover every event of the window when `hit_cap` is false; when it is true
/// the scan stopped early and they are lower bounds. The ranked lists keep the top entries and
/// the two event lists a bounded number of lines (`*_omitted` counts the rest), so the counts
/// stay exact however long the lists would be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivitySummary {
    pub window: Window,
    pub filter: Option<Filter>,
    /// How many events were counted.
    pub scanned: u64,
    /// The scan stopped before the end of the window (`max_events` or the server's time limit;
    /// `note` says which): every count is then a lower bound.
    pub hit_cap: bool,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    pub read_events: u64,
    pub write_events: u64,
    /// Calls with an error code (denied, throttled, invalid...), read or write.
    pub failed_events: u64,
    pub by_service: Vec<Count>,
    /// `service:Action` keys (`s3:DeleteBucket`).
    pub by_action: Vec<Count>,
    pub by_error_code: Vec<Count>,
    pub by_principal: Vec<Count>,
    pub regions: Vec<Count>,
    pub source_ips: Vec<Count>,
    pub top_resources: Vec<Count>,
    /// Non-read-only calls, newest first.
    pub write_actions: Vec<ActionLine>,
    pub write_actions_omitted: u64,
    /// Calls with an error code, newest first.
    pub failures: Vec<ActionLine>,
    pub failures_omitted: u64,
    /// Activity over the window in equal buckets.
    pub timeline: Timeline,
    /// What a reviewer should look at first, found by the server over every event counted.
    pub highlights: Vec<Highlight>,
    /// Lists were shortened to fit the byte budget (the counts are not affected).
    pub truncated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The Athena queries behind this answer (sources that query Athena only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<crate::usage::QueryUsage>,
    /// Set when the query was still running (`usage.still_running`): pass it alone as `cursor`
    /// to collect the summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// The regions this summary searched, sorted (the LookupEvents API source only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub searched_regions: Option<Vec<String>>,
}

/// The window cut into `bucket_seconds`-long buckets (about 24 to 48 of them: an hour each for
/// a day, a day each for a month), each with its counts. Buckets start at multiples of
/// `bucket_seconds` since the Unix epoch (UTC), from the one holding the window's start to the
/// one holding its end; every bucket is listed, empty ones too. The counts are exact, or lower
/// bounds when the summary's `hit_cap` is true; `read + write` over all buckets is
/// `read_events + write_events`, and `failed` sums to `failed_events`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeline {
    pub bucket_seconds: u64,
    pub buckets: Vec<Bucket>,
}

/// One bucket of a [`Timeline`]. `failed` counts calls with an error code, which are also
/// counted in `read` or `write`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// RFC 3339, UTC.
    pub start: String,
    pub read: u64,
    pub write: u64,
    pub failed: u64,
}

/// The kinds of [`Highlight`]. The rules that find each are documented on the server
/// (`cloudtrail-mcp`'s `highlights` module) and in docs/interfaces.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HighlightKind {
    RootActivity,
    ConsoleLoginWithoutMfa,
    AccessDeniedBurst,
    NewSourceIp,
    NewUserAgent,
    AccessKeyCreated,
    IamPolicyChange,
    Deletion,
    CloudtrailTampering,
}

impl HighlightKind {
    /// Every kind, in the order highlights are listed.
    pub const ALL: [HighlightKind; 9] = [
        HighlightKind::CloudtrailTampering,
        HighlightKind::RootActivity,
        HighlightKind::ConsoleLoginWithoutMfa,
        HighlightKind::AccessKeyCreated,
        HighlightKind::IamPolicyChange,
        HighlightKind::AccessDeniedBurst,
        HighlightKind::Deletion,
        HighlightKind::NewSourceIp,
        HighlightKind::NewUserAgent,
    ];

    /// The wire name (`root_activity`).
    pub fn as_str(self) -> &'static str {
        match self {
            HighlightKind::RootActivity => "root_activity",
            HighlightKind::ConsoleLoginWithoutMfa => "console_login_without_mfa",
            HighlightKind::AccessDeniedBurst => "access_denied_burst",
            HighlightKind::NewSourceIp => "new_source_ip",
            HighlightKind::NewUserAgent => "new_user_agent",
            HighlightKind::AccessKeyCreated => "access_key_created",
            HighlightKind::IamPolicyChange => "iam_policy_change",
            HighlightKind::Deletion => "deletion",
            HighlightKind::CloudtrailTampering => "cloudtrail_tampering",
        }
    }
}

/// The most references a [`Highlight`] lists.
pub const MAX_HIGHLIGHT_REFS: usize = 5;

/// Something the server found that a reviewer should look at, with the events behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Highlight {
    pub kind: HighlightKind,
    /// A short English sentence naming what was found (untrusted values in it are data).
    pub title: String,
    /// Whose events these are, when one principal's.
    pub principal: Option<String>,
    /// How many events the highlight covers (`refs` lists at most [`MAX_HIGHLIGHT_REFS`]).
    pub count: u64,
    /// References of its events, oldest first.
    pub refs: Vec<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_summary_reads_with_its_wire_names_and_writes_back_unchanged() {
        let line = json!({"ref": "1a2b3c4d", "event_time": "2026-11-23T09:00:00Z", "event_name": "DeleteBucket",
            "event_source": "s3.amazonaws.com", "principal": "alice", "error_code": null,
            "resources": ["alice-tmp"]});
        let wire = json!({"window": {"start": "2026-11-23T00:00:00Z", "end": "2026-11-24T00:00:00Z"},
            "filter": null, "scanned": 120, "hit_cap": false,
            "first_seen": "2026-11-23T01:00:00Z", "last_seen": "2026-11-23T09:00:00Z",
            "read_events": 90, "write_events": 30, "failed_events": 2,
            "by_service": [{"key": "s3.amazonaws.com", "count": 40}], "by_action": [],
            "by_error_code": [{"key": "AccessDenied", "count": 2}], "by_principal": [],
            "regions": [], "source_ips": [], "top_resources": [],
            "write_actions": [line], "write_actions_omitted": 29,
            "failures": [], "failures_omitted": 2,
            "timeline": {"bucket_seconds": 3600, "buckets": [
                {"start": "2026-11-23T09:00:00Z", "read": 90, "write": 30, "failed": 2}]},
            "highlights": [{"kind": "console_login_without_mfa", "title": "Console sign-in without MFA by alice",
                "principal": "alice", "count": 1, "refs": ["1a2b3c4d"]}],
            "truncated": true});
        let summary: ActivitySummary = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(summary.by_error_code[0].count, 2);
        assert_eq!(summary.write_actions[0].event_name, "DeleteBucket");
        assert_eq!(summary.write_actions[0].event_ref, "1a2b3c4d");
        assert_eq!(summary.timeline.buckets[0].write, 30);
        assert_eq!(
            summary.highlights[0].kind,
            HighlightKind::ConsoleLoginWithoutMfa
        );
        assert_eq!(serde_json::to_value(&summary).unwrap(), wire);
        let mut renamed = wire;
        let failed = renamed
            .as_object_mut()
            .unwrap()
            .remove("failed_events")
            .unwrap();
        renamed["failed"] = failed;
        let error = serde_json::from_value::<ActivitySummary>(renamed).unwrap_err();
        assert!(error.to_string().contains("failed_events"), "{error}");
    }

    #[test]
    fn highlight_kinds_have_their_wire_names() {
        for kind in HighlightKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
        }
        let unknown = serde_json::from_value::<HighlightKind>(json!("bad_weather"));
        assert!(unknown.is_err());
    }
}
