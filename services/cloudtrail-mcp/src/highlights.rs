//! Highlights: what a security reviewer should look at first, found by the server over every
//! event a summary counts (not by the model, which only sees capped lists).
//!
//! The rules, one highlight per kind and principal (`principal` is the caller's name):
//!
//! - `root_activity`: any call by the root user (`userIdentity.type` `Root`), failed ones too.
//! - `console_login_without_mfa`: a successful `ConsoleLogin` (no error code) whose
//!   `additionalEventData.MFAUsed` is `No`.
//! - `access_denied_burst`: at least [`BURST_CALLS`] calls by one principal denied (an error
//!   code containing `AccessDenied` or `Unauthorized`) within [`BURST_SECONDS`]; the highlight
//!   is the principal's busiest such 10 minutes, `count` the calls in it.
//! - `new_source_ip` / `new_user_agent`: a source IP (user agent, as the table shortens it) first
//!   seen for a principal after the first third of the window, when that principal made calls in
//!   the first third too (without a baseline everything would be new). AWS services, and the
//!   `*.amazonaws.com` addresses and agents services call with, are not judged. `count` is the
//!   calls made from the new values.
//! - `access_key_created`: a successful `iam:CreateAccessKey`.
//! - `iam_policy_change`: a successful IAM call that changes who may do what (attaching,
//!   detaching, putting or deleting a policy, a policy version, a permissions boundary or a role's
//!   trust policy): [`IAM_POLICY_CHANGES`].
//! - `deletion`: a successful write whose name starts with `Delete` or `Terminate`, or
//!   `ScheduleKeyDeletion`, unless it is an IAM policy change or CloudTrail tampering already.
//! - `cloudtrail_tampering`: `StopLogging`, `DeleteTrail`, `PutEventSelectors` or `UpdateTrail`
//!   on CloudTrail, attempts included: a denied attempt to stop the trail is itself a finding
//!   (the title says how many failed).
//!
//! Each highlight lists the references of its oldest [`MAX_HIGHLIGHT_REFS`] events; the
//! highlights are ordered by kind as [`HighlightKind::ALL`] lists them (tampering first), then
//! by count, and at most [`MAX_HIGHLIGHTS`] are kept.

use std::collections::{BTreeMap, HashMap};

use cloudtrail_contract::RefMap;
pub use cloudtrail_contract::summary::{Highlight, HighlightKind, MAX_HIGHLIGHT_REFS};
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use crate::project::CompactEvent;

/// Denied calls that make a burst...
pub const BURST_CALLS: usize = 5;
/// ...within this many seconds.
pub const BURST_SECONDS: i64 = 600;
/// The most highlights a summary lists.
pub const MAX_HIGHLIGHTS: usize = 30;
/// Distinct source IPs (user agents) tracked per principal; later new values are not judged.
const MAX_VALUES_PER_PRINCIPAL: usize = 1_000;

/// IAM calls that change permissions.
pub const IAM_POLICY_CHANGES: [&str; 22] = [
    "AttachUserPolicy",
    "AttachRolePolicy",
    "AttachGroupPolicy",
    "DetachUserPolicy",
    "DetachRolePolicy",
    "DetachGroupPolicy",
    "PutUserPolicy",
    "PutRolePolicy",
    "PutGroupPolicy",
    "DeleteUserPolicy",
    "DeleteRolePolicy",
    "DeleteGroupPolicy",
    "CreatePolicy",
    "CreatePolicyVersion",
    "DeletePolicy",
    "DeletePolicyVersion",
    "SetDefaultPolicyVersion",
    "UpdateAssumeRolePolicy",
    "PutUserPermissionsBoundary",
    "PutRolePermissionsBoundary",
    "DeleteUserPermissionsBoundary",
    "DeleteRolePermissionsBoundary",
];

/// CloudTrail calls that stop or narrow what is logged.
pub const CLOUDTRAIL_TAMPERING: [&str; 4] = [
    "StopLogging",
    "DeleteTrail",
    "PutEventSelectors",
    "UpdateTrail",
];

/// Events behind one finding: how many, the oldest few (time, event id), and by name.
#[derive(Debug, Default, Clone)]
struct Evidence {
    count: u64,
    failed: u64,
    oldest: Vec<(Timestamp, String)>,
    names: BTreeMap<String, u64>,
}

impl Evidence {
    fn add(&mut self, time: Timestamp, event: &CompactEvent) {
        self.count += 1;
        if event.error_code.is_some() {
            self.failed += 1;
        }
        *self.names.entry(event.event_name.clone()).or_default() += 1;
        self.keep(time, &event.event_id);
    }

    /// Keeps `(time, id)` if it is among the oldest [`MAX_HIGHLIGHT_REFS`].
    fn keep(&mut self, time: Timestamp, id: &str) {
        let key = (time, id);
        let at = self.oldest.partition_point(|(t, i)| (*t, i.as_str()) < key);
        if at < MAX_HIGHLIGHT_REFS {
            self.oldest.insert(at, (time, id.to_owned()));
            self.oldest.truncate(MAX_HIGHLIGHT_REFS);
        }
    }

    fn merge(&mut self, other: &Evidence) {
        self.count += other.count;
        self.failed += other.failed;
        for (name, n) in &other.names {
            *self.names.entry(name.clone()).or_default() += n;
        }
        for (time, id) in &other.oldest {
            self.keep(*time, id);
        }
    }

    /// `Name ×n, Other` for a title: the names by count, at most three.
    fn names(&self) -> String {
        let mut names: Vec<(&String, &u64)> = self.names.iter().collect();
        names.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        let mut text: Vec<String> = names
            .iter()
            .take(3)
            .map(|(name, n)| match n {
                1 => (*name).clone(),
                n => format!("{name} ×{n}"),
            })
            .collect();
        if names.len() > 3 {
            text.push(format!("{} more", names.len() - 3));
        }
        text.join(", ")
    }
}

/// The values (source IPs or user agents) one principal used.
#[derive(Debug, Default)]
struct Usage {
    /// The principal's first call of the window.
    first: Option<Timestamp>,
    /// Each value's first use and its calls.
    values: HashMap<String, (Timestamp, Evidence)>,
}

impl Usage {
    fn add(&mut self, time: Timestamp, value: Option<&str>, event: &CompactEvent) {
        self.first = Some(self.first.map_or(time, |t| t.min(time)));
        let Some(value) = value else { return };
        if !self.values.contains_key(value) && self.values.len() >= MAX_VALUES_PER_PRINCIPAL {
            return;
        }
        let (first, evidence) = self
            .values
            .entry(value.to_owned())
            .or_insert_with(|| (time, Evidence::default()));
        *first = (*first).min(time);
        evidence.add(time, event);
    }

    /// The values first used at or after `baseline_end` (by first use), and their calls merged;
    /// none when the principal made no call before `baseline_end`.
    fn new_values(&self, baseline_end: Timestamp) -> Option<(Vec<&str>, Evidence)> {
        if self.first? >= baseline_end {
            return None;
        }
        let mut new: Vec<(&Timestamp, &str, &Evidence)> = self
            .values
            .iter()
            .filter(|(_, (first, _))| *first >= baseline_end)
            .map(|(value, (first, evidence))| (first, value.as_str(), evidence))
            .collect();
        if new.is_empty() {
            return None;
        }
        new.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let mut merged = Evidence::default();
        for (_, _, evidence) in &new {
            merged.merge(evidence);
        }
        Some((new.into_iter().map(|(_, v, _)| v).collect(), merged))
    }
}

/// Whether an error code says the caller was not allowed.
pub fn is_denied(code: &str) -> bool {
    code.contains("AccessDenied") || code.contains("Unauthorized")
}

/// Addresses and agents AWS services call with, which say nothing about a person's habits.
fn judged(value: &str) -> bool {
    !value.ends_with(".amazonaws.com") && value != "AWS Internal"
}

/// Folds events, in any order, into highlights for the window `[start, end]`.
#[derive(Debug)]
pub struct Highlighter {
    baseline_end: Timestamp,
    findings: BTreeMap<(HighlightKind, String), Evidence>,
    denied: HashMap<String, Vec<(Timestamp, String)>>,
    source_ips: HashMap<String, Usage>,
    user_agents: HashMap<String, Usage>,
}

impl Highlighter {
    /// A highlighter for the window `[start, end]`.
    pub fn new(start: Timestamp, end: Timestamp) -> Self {
        let third =
            SignedDuration::from_secs(end.as_second().saturating_sub(start.as_second()) / 3);
        Self {
            baseline_end: start.checked_add(third).unwrap_or(start),
            findings: BTreeMap::new(),
            denied: HashMap::new(),
            source_ips: HashMap::new(),
            user_agents: HashMap::new(),
        }
    }

    /// Adds one event at `time`; `record` is its raw CloudTrail record (for what the compact
    /// projection leaves out, such as whether a sign-in used MFA).
    pub fn add(&mut self, time: Timestamp, event: &CompactEvent, record: &Value) {
        let principal = event.principal.name.clone().unwrap_or_default();
        let ok = event.error_code.is_none();
        let source = event.event_source.as_str();
        let name = event.event_name.as_str();
        let mut found = |kind: HighlightKind| {
            self.findings
                .entry((kind, principal.clone()))
                .or_default()
                .add(time, event);
        };
        if event.principal.kind.as_deref() == Some("Root") {
            found(HighlightKind::RootActivity);
        }
        if name == "ConsoleLogin"
            && ok
            && record
                .pointer("/additionalEventData/MFAUsed")
                .and_then(Value::as_str)
                == Some("No")
        {
            found(HighlightKind::ConsoleLoginWithoutMfa);
        }
        let tampering =
            source == "cloudtrail.amazonaws.com" && CLOUDTRAIL_TAMPERING.contains(&name);
        let policy = source == "iam.amazonaws.com" && IAM_POLICY_CHANGES.contains(&name);
        if tampering {
            found(HighlightKind::CloudtrailTampering);
        }
        if ok && policy {
            found(HighlightKind::IamPolicyChange);
        }
        if ok && source == "iam.amazonaws.com" && name == "CreateAccessKey" {
            found(HighlightKind::AccessKeyCreated);
        }
        let deletes = name.starts_with("Delete")
            || name.starts_with("Terminate")
            || name == "ScheduleKeyDeletion";
        if ok && deletes && event.read_only != Some(true) && !tampering && !policy {
            found(HighlightKind::Deletion);
        }
        if event.error_code.as_deref().is_some_and(is_denied) {
            self.denied
                .entry(principal.clone())
                .or_default()
                .push((time, event.event_id.clone()));
        }
        if event.principal.kind.as_deref() != Some("AWSService") {
            let ip = event.source_ip.as_deref().filter(|v| judged(v));
            self.source_ips
                .entry(principal.clone())
                .or_default()
                .add(time, ip, event);
            let agent = event.user_agent.as_deref().filter(|v| judged(v));
            self.user_agents
                .entry(principal)
                .or_default()
                .add(time, agent, event);
        }
    }

    /// The highlights, how many more were left out, and the full ids of the events they cite.
    pub fn finish(self) -> (Vec<Highlight>, usize, RefMap) {
        let mut found: Vec<(HighlightKind, String, Evidence, String)> = Vec::new();
        for ((kind, principal), evidence) in self.findings {
            let title = title(kind, &principal, &evidence);
            found.push((kind, principal, evidence, title));
        }
        for (principal, denied) in self.denied {
            if let Some(evidence) = burst(denied) {
                let title = format!(
                    "{} access-denied calls by {principal} within 10 minutes",
                    evidence.count
                );
                found.push((HighlightKind::AccessDeniedBurst, principal, evidence, title));
            }
        }
        for (kind, usage, what) in [
            (HighlightKind::NewSourceIp, self.source_ips, "source IP"),
            (HighlightKind::NewUserAgent, self.user_agents, "user agent"),
        ] {
            for (principal, usage) in usage {
                if let Some((values, evidence)) = usage.new_values(self.baseline_end) {
                    let plural = if values.len() == 1 { "" } else { "s" };
                    let mut listed = values
                        .iter()
                        .take(3)
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ");
                    if values.len() > 3 {
                        listed.push_str(&format!(" and {} more", values.len() - 3));
                    }
                    let title = format!("New {what}{plural} for {principal}: {listed}");
                    found.push((kind, principal, evidence, title));
                }
            }
        }
        let rank = |kind: HighlightKind| HighlightKind::ALL.iter().position(|k| *k == kind);
        found.sort_by(|a, b| {
            rank(a.0)
                .cmp(&rank(b.0))
                .then_with(|| b.2.count.cmp(&a.2.count))
                .then_with(|| a.1.cmp(&b.1))
        });
        let omitted = found.len().saturating_sub(MAX_HIGHLIGHTS);
        found.truncate(MAX_HIGHLIGHTS);
        let mut refs = RefMap::new();
        let highlights = found
            .into_iter()
            .map(|(kind, principal, evidence, title)| Highlight {
                kind,
                title,
                principal: (!principal.is_empty()).then_some(principal),
                count: evidence.count,
                refs: evidence
                    .oldest
                    .iter()
                    .map(|(_, id)| {
                        let r = cloudtrail_contract::event_ref(id);
                        refs.insert(r.clone(), id.clone());
                        r
                    })
                    .collect(),
            })
            .collect();
        (highlights, omitted, refs)
    }
}

/// The title of a finding of a per-event kind.
fn title(kind: HighlightKind, principal: &str, evidence: &Evidence) -> String {
    let failed = match evidence.failed {
        0 => String::new(),
        n => format!(" ({n} failed)"),
    };
    let names = evidence.names();
    match kind {
        HighlightKind::RootActivity => {
            format!("{} calls by the root user: {names}{failed}", evidence.count)
        }
        HighlightKind::ConsoleLoginWithoutMfa => {
            format!("Console sign-in without MFA by {principal}")
        }
        HighlightKind::AccessKeyCreated => format!("Access key created by {principal}"),
        HighlightKind::IamPolicyChange => format!("IAM policies changed by {principal}: {names}"),
        HighlightKind::Deletion => format!("Deletions by {principal}: {names}"),
        HighlightKind::CloudtrailTampering => {
            format!("CloudTrail logging changed by {principal}: {names}{failed}")
        }
        // Not per-event kinds; titled where they are found.
        HighlightKind::AccessDeniedBurst
        | HighlightKind::NewSourceIp
        | HighlightKind::NewUserAgent => names,
    }
}

/// The busiest [`BURST_SECONDS`] of one principal's denied calls, if it holds at least
/// [`BURST_CALLS`] of them.
fn burst(mut denied: Vec<(Timestamp, String)>) -> Option<Evidence> {
    denied.sort();
    let mut best = (0, 0);
    let mut from = 0;
    for to in 0..denied.len() {
        while denied[to].0.as_second() - denied[from].0.as_second() > BURST_SECONDS {
            from += 1;
        }
        if to + 1 - from > best.1 - best.0 {
            best = (from, to + 1);
        }
    }
    let calls = denied.get(best.0..best.1)?;
    if calls.len() < BURST_CALLS {
        return None;
    }
    let mut evidence = Evidence {
        count: calls.len() as u64,
        failed: calls.len() as u64,
        ..Evidence::default()
    };
    for (time, id) in calls {
        evidence.keep(*time, id);
    }
    Some(evidence)
}

#[cfg(test)]
#[path = "highlights_tests.rs"]
mod tests;
