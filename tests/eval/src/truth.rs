//! Ground truth: the sample archive's records read by this crate's own code (not the server's
//! projection or summary code, which is what is being evaluated), and the questions' answers
//! computed from them for a window.
//!
//! Names follow CloudTrail's `LookupEvents` semantics as AWS documents them: an IAM user by its
//! user name, an assumed role or federated user by its session name (the ARN's last part), the
//! root user as `root`, and an AWS service's own calls under no user name.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::Value;

/// One CloudTrail event, as the evaluation reads it.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub time: Timestamp,
    pub name: String,
    pub source: String,
    pub region: String,
    /// The `LookupEvents` user name; `None` for calls AWS services make on their own.
    pub user: Option<String>,
    pub read_only: bool,
    pub error_code: Option<String>,
    pub source_ip: String,
    pub user_agent: String,
    /// A console sign-in's `additionalEventData.MFAUsed` (`Yes`/`No`).
    pub mfa_used: Option<String>,
    /// Names of the resources the call touched (request parameters, instance ids, ARNs' last
    /// part), as `LookupEvents`' `ResourceName` matches them.
    pub resources: BTreeSet<String>,
}

impl Event {
    /// Reads one raw record; `None` when it lacks a time or a name.
    pub fn from_record(record: &Value) -> Option<Self> {
        let s = |key: &str| record.get(key).and_then(Value::as_str).map(str::to_owned);
        let identity = record.get("userIdentity").unwrap_or(&Value::Null);
        let id_field = |key: &str| identity.get(key).and_then(Value::as_str);
        let user = match id_field("type") {
            Some("Root") => Some("root".to_owned()),
            Some("AWSService") => None,
            Some("AssumedRole" | "FederatedUser") => id_field("arn")
                .and_then(|arn| arn.rsplit('/').next())
                .map(str::to_owned),
            _ => id_field("userName").map(str::to_owned),
        };
        let read_only = match record.get("readOnly") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true",
            _ => false,
        };
        Some(Event {
            id: s("eventID").unwrap_or_default(),
            time: s("eventTime")?.parse().ok()?,
            name: s("eventName")?,
            source: s("eventSource").unwrap_or_default(),
            region: s("awsRegion").unwrap_or_default(),
            user,
            read_only,
            error_code: s("errorCode"),
            source_ip: s("sourceIPAddress").unwrap_or_default(),
            user_agent: s("userAgent").unwrap_or_default(),
            mfa_used: record
                .get("additionalEventData")
                .and_then(|d| d.get("MFAUsed"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            resources: resource_names(record),
        })
    }

    /// Whether the call failed with an access denial (any code naming one).
    pub fn denied(&self) -> bool {
        self.error_code.as_deref().is_some_and(|code| {
            let code = code.to_ascii_lowercase();
            code.contains("denied") || code.contains("unauthorized") || code.contains("forbidden")
        })
    }
}

/// Resource names in a record: the request's name-bearing parameters, EC2 item ids and the
/// `resources` ARNs' last part.
fn resource_names(record: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let request = record.get("requestParameters").unwrap_or(&Value::Null);
    for key in [
        "bucketName",
        "userName",
        "roleName",
        "policyArn",
        "functionName",
        "stackName",
        "keyId",
        "logGroupName",
        "groupId",
    ] {
        if let Some(name) = request.get(key).and_then(Value::as_str) {
            out.insert(name.to_owned());
        }
    }
    for side in [
        request,
        record.get("responseElements").unwrap_or(&Value::Null),
    ] {
        for set in ["instancesSet", "resourcesSet"] {
            let items = side
                .get(set)
                .and_then(|s| s.get("items"))
                .and_then(Value::as_array);
            for item in items.into_iter().flatten() {
                for key in ["instanceId", "resourceId"] {
                    if let Some(id) = item.get(key).and_then(Value::as_str) {
                        out.insert(id.to_owned());
                    }
                }
            }
        }
    }
    for resource in record
        .get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(arn) = resource.get("ARN").and_then(Value::as_str) {
            let last = arn.rsplit([':', '/']).next().unwrap_or(arn);
            out.insert(last.to_owned());
        }
    }
    out
}

/// The archive the server serves, as events newest first.
#[derive(Debug, Clone, Default)]
pub struct Archive {
    pub events: Vec<Event>,
    /// Each event's ref (`evidence::event_ref` of its id) -> its index in `events`.
    refs: HashMap<String, usize>,
}

/// A half-open window `[start, end)`, as the tools use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Window {
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start <= t && t < self.end
    }
}

impl Archive {
    /// The sample the server generates for `anchor` and `seed`.
    pub fn sample(anchor: Timestamp, seed: u64) -> Self {
        let events = cloudtrail_mcp::sample::generate(anchor, seed)
            .iter()
            .filter_map(Event::from_record)
            .collect();
        Archive::new(events)
    }

    /// An archive of `events` (newest first).
    pub fn new(events: Vec<Event>) -> Self {
        let refs = events
            .iter()
            .enumerate()
            .map(|(i, e)| (cloudtrail_contract::evidence::event_ref(&e.id), i))
            .collect();
        Archive { events, refs }
    }

    /// The event a ref names, if any.
    pub fn by_ref(&self, reference: &str) -> Option<&Event> {
        self.refs.get(reference).map(|&i| &self.events[i])
    }

    /// The events of a window, newest first.
    pub fn within(&self, window: Window) -> impl Iterator<Item = &Event> {
        self.events.iter().filter(move |e| window.contains(e.time))
    }

    /// The events of a window by one user name.
    pub fn by_user<'a>(&'a self, window: Window, user: &'a str) -> impl Iterator<Item = &'a Event> {
        self.within(window)
            .filter(move |e| e.user.as_deref() == Some(user))
    }
}

/// Keys of `events` counted, most frequent first (ties by key).
pub fn ranked<'a>(keys: impl Iterator<Item = &'a str>) -> Vec<(String, u64)> {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for key in keys {
        *counts.entry(key).or_default() += 1;
    }
    let mut out: Vec<(String, u64)> = counts.into_iter().map(|(k, n)| (k.to_owned(), n)).collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

/// Families of actions a question names ("who deleted ..."), by CloudTrail name prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Delete,
    Create,
    Stop,
}

impl Family {
    pub fn matches(self, event_name: &str) -> bool {
        let prefixes: &[&str] = match self {
            Family::Delete => &["Delete", "Remove", "Terminate", "Deregister", "Purge"],
            Family::Create => &[
                "Create", "Run", "Launch", "Add", "Register", "Allocate", "Import",
            ],
            Family::Stop => &["Stop", "Terminate", "Disable", "Suspend", "Deactivate"],
        };
        prefixes.iter().any(|p| event_name.starts_with(p))
    }
}

/// A time as the answers write it: `YYYY-MM-DD HH:MM` in the user's zone.
pub fn local_minute(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned_datetime(tz.clone())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn names_follow_lookup_events() {
        let event = |identity: Value| {
            Event::from_record(
                &json!({"eventTime": "2026-11-24T01:00:00Z", "eventName": "X",
                                       "userIdentity": identity}),
            )
            .unwrap()
            .user
        };
        assert_eq!(
            event(json!({"type": "IAMUser", "userName": "alice"})).as_deref(),
            Some("alice")
        );
        assert_eq!(
            event(json!({"type": "AssumedRole",
                "arn": "arn:aws:sts::1:assumed-role/AWSReservedSSO_A/carol@example.com"}))
            .as_deref(),
            Some("carol@example.com")
        );
        assert_eq!(event(json!({"type": "Root"})).as_deref(), Some("root"));
        assert_eq!(event(json!({"type": "AWSService", "invokedBy": "x"})), None);
    }

    #[test]
    fn resources_come_from_parameters_items_and_arns() {
        let e = Event::from_record(&json!({"eventTime": "2026-11-24T01:00:00Z",
            "eventName": "StopInstances",
            "requestParameters": {"bucketName": "b1",
                "instancesSet": {"items": [{"instanceId": "i-1"}]}},
            "resources": [{"ARN": "arn:aws:s3:::b2"}]}))
        .unwrap();
        assert_eq!(
            e.resources.iter().map(String::as_str).collect::<Vec<_>>(),
            ["b1", "b2", "i-1"]
        );
    }

    #[test]
    fn the_sample_holds_the_storyline() {
        let anchor: Timestamp = "2026-11-25T09:30:00Z".parse().unwrap();
        let archive = Archive::sample(anchor, 42);
        assert!(archive.events.len() > 3_000);
        let all = Window {
            start: anchor - jiff::SignedDuration::from_hours(24 * 9),
            end: anchor,
        };
        let deleted: Vec<&Event> = archive
            .within(all)
            .filter(|e| e.resources.contains("bob-old-logs") && e.name == "DeleteBucket")
            .collect();
        assert_eq!(deleted.len(), 1);
        assert_eq!(deleted[0].user.as_deref(), Some("bob"));
        assert_eq!(
            ranked(["a", "b", "a"].into_iter()),
            [("a".to_owned(), 2), ("b".to_owned(), 1)]
        );
    }
}
