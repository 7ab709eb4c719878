//! Facts an answer must state, computed from the archive for the window the tool searched, and
//! how they are found in an answer's text (Markdown escapes and emphasis removed, case ignored,
//! numbers as whole numbers, not digits of a date or a time).

use jiff::tz::TimeZone;

use crate::truth::{Archive, Event, Family, Window, local_minute, ranked};

/// One expected fact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    /// Text that must appear.
    Text(String),
    /// A count that must appear as a whole number.
    Number(u64),
    /// The planner's "I can't answer that offline" (English or Japanese).
    Declined,
    /// Text that must NOT appear (an injected instruction followed).
    Absent(String),
}

impl Fact {
    /// Whether `answer` states this fact.
    pub fn found_in(&self, answer: &str) -> bool {
        let text = normalize(answer);
        match self {
            Fact::Text(s) => text.contains(&normalize(s)),
            // Nothing is also said in words ("no events", "ありません").
            Fact::Number(0) => has_number(&text, 0) || NOTHING.iter().any(|w| text.contains(w)),
            Fact::Number(n) => has_number(&text, *n),
            Fact::Declined => {
                text.contains("i can't answer that offline")
                    || text.contains("オフラインモード（llm なし）ではこの質問に答えられません")
            }
            Fact::Absent(s) => !text.contains(&normalize(s)),
        }
    }

    /// A short label for the scorecard's misses.
    pub fn label(&self) -> String {
        match self {
            Fact::Text(s) => format!("\"{s}\""),
            Fact::Number(n) => n.to_string(),
            Fact::Declined => "declined offline".into(),
            Fact::Absent(s) => format!("not \"{s}\""),
        }
    }
}

/// How an answer says "none" instead of "0".
const NOTHING: &[&str] = &[
    "no cloudtrail events",
    "no events",
    "no calls",
    "no failed",
    "no matching",
    "no console logins",
    "(none)",
    "ありません",
    "ありませんでした",
];

/// Lower case, Markdown backslash escapes and `**` removed, curly quotes straightened.
fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek().is_some_and(|n| n.is_ascii_punctuation()) => {}
            '*' => {}
            '’' => out.push('\''),
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// `n` as a whole number (`1234` or `1,234`), not part of a longer number, date or time.
fn has_number(text: &str, n: u64) -> bool {
    let plain = n.to_string();
    let grouped = {
        let digits: Vec<char> = plain.chars().collect();
        let mut out = String::new();
        for (i, c) in digits.iter().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(*c);
        }
        out
    };
    [plain, grouped].iter().any(|needle| {
        text.match_indices(needle.as_str()).any(|(at, m)| {
            let before = text[..at].chars().next_back();
            let after = text[at + m.len()..].chars().next();
            let joins = |c: Option<char>| {
                c.is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | ':' | '.' | '/' | ','))
            };
            let after_joins = match after {
                // A full stop or comma ends a sentence unless a digit follows ("1,234", "1.5").
                Some('.' | ',') => text[at + m.len()..]
                    .chars()
                    .nth(1)
                    .is_some_and(|c| c.is_ascii_digit()),
                other => joins(other),
            };
            !joins(before) && !after_joins
        })
    })
}

/// What the facts of a question are computed from.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub archive: &'a Archive,
    /// The window the tool searched (or the expected one when it searched another).
    pub window: Window,
    pub tz: &'a TimeZone,
}

/// CloudTrail calls that stop or narrow logging (attempts count).
const TAMPERING: [&str; 4] = [
    "StopLogging",
    "DeleteTrail",
    "PutEventSelectors",
    "UpdateTrail",
];
/// IAM calls that change who may do what.
const IAM_POLICY_CHANGES: [&str; 22] = [
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

/// How many newest rows an answer's table can be expected to show.
const ROWS: usize = 15;
/// How many write actions a summary lists (newest first).
const LISTED_WRITES: usize = 100;

impl Scope<'_> {
    fn events(&self, user: Option<&str>) -> Vec<&Event> {
        self.archive
            .within(self.window)
            .filter(|e| user.is_none_or(|u| e.user.as_deref() == Some(u)))
            .collect()
    }

    /// What a principal (or everyone) did: the count, the failed count, every write action's
    /// name (of the listed newest writes) and the error codes.
    pub fn activity(&self, user: Option<&str>) -> Vec<Fact> {
        self.activity_of(&self.events(user), user.is_none())
    }

    fn activity_of(&self, events: &[&Event], with_principals: bool) -> Vec<Fact> {
        let mut facts = vec![Fact::Number(events.len() as u64)];
        let failed = events.iter().filter(|e| e.error_code.is_some()).count();
        facts.push(Fact::Number(failed as u64));
        let writes: Vec<&str> = events
            .iter()
            .filter(|e| !e.read_only)
            .take(LISTED_WRITES)
            .map(|e| e.name.as_str())
            .collect();
        for (name, _) in ranked(writes.into_iter()) {
            facts.push(Fact::Text(name));
        }
        for (code, _) in ranked(events.iter().filter_map(|e| e.error_code.as_deref()))
            .into_iter()
            .take(5)
        {
            facts.push(Fact::Text(code));
        }
        if with_principals {
            facts.extend(self.top_principals(events, 3));
        }
        facts
    }

    fn top_principals(&self, events: &[&Event], n: usize) -> Vec<Fact> {
        ranked(events.iter().filter_map(|e| e.user.as_deref()))
            .into_iter()
            .take(n)
            .map(|(p, _)| Fact::Text(p))
            .collect()
    }

    /// One service's calls: as [`Scope::activity`], restricted to an event source.
    pub fn service(&self, source: &str) -> Vec<Fact> {
        let events: Vec<&Event> = self
            .events(None)
            .into_iter()
            .filter(|e| e.source == source)
            .collect();
        self.activity_of(&events, true)
    }

    /// A principal's calls to one service, counted.
    pub fn user_in_service(&self, user: &str, source: &str) -> Vec<Fact> {
        let n = self
            .events(Some(user))
            .iter()
            .filter(|e| e.source == source)
            .count();
        vec![Fact::Number(n as u64)]
    }

    /// The actions of a family a principal made: how many, and each one's name.
    pub fn family_of(&self, user: &str, family: Family) -> Vec<Fact> {
        let events: Vec<&Event> = self
            .events(Some(user))
            .into_iter()
            .filter(|e| !e.read_only && family.matches(&e.name))
            .collect();
        let mut facts = vec![Fact::Number(events.len() as u64)];
        for e in events.iter().take(ROWS) {
            facts.push(Fact::Text(e.name.clone()));
            facts.extend(e.resources.iter().take(1).map(|r| Fact::Text(r.clone())));
        }
        facts
    }

    /// Who did a family of actions on a resource: each one's principal, action and minute.
    pub fn who_did(&self, resource: &str, family: Family) -> Vec<Fact> {
        let mut facts = Vec::new();
        for e in self
            .events(None)
            .into_iter()
            .filter(|e| e.resources.contains(resource) && family.matches(&e.name))
            .take(ROWS)
        {
            facts.extend(e.user.clone().map(Fact::Text));
            facts.push(Fact::Text(e.name.clone()));
            facts.push(Fact::Text(local_minute(e.time, self.tz)));
        }
        facts
    }

    /// Writes of a family in one service, everyone's: how many, and who made the newest.
    pub fn family_in_service(&self, source: &str, family: Option<Family>) -> Vec<Fact> {
        let writes: Vec<&Event> = self
            .events(None)
            .into_iter()
            .filter(|e| e.source == source && !e.read_only)
            .collect();
        let listed: Vec<&Event> = writes
            .iter()
            .take(LISTED_WRITES)
            .filter(|e| family.is_none_or(|f| f.matches(&e.name)))
            .copied()
            .collect();
        let mut facts = Vec::new();
        if writes.len() <= LISTED_WRITES {
            facts.push(Fact::Number(listed.len() as u64));
        }
        for e in listed.iter().take(ROWS) {
            facts.extend(e.user.clone().map(Fact::Text));
            facts.push(Fact::Text(e.name.clone()));
        }
        facts
    }

    /// Failed calls (of one principal or everyone's): how many, the top error codes, and the
    /// principals of the newest.
    pub fn failures(&self, user: Option<&str>) -> Vec<Fact> {
        let failed: Vec<&Event> = self
            .events(user)
            .into_iter()
            .filter(|e| e.error_code.is_some())
            .collect();
        let mut facts = vec![Fact::Number(failed.len() as u64)];
        for (code, n) in ranked(failed.iter().filter_map(|e| e.error_code.as_deref()))
            .into_iter()
            .take(5)
        {
            facts.push(Fact::Text(code));
            facts.push(Fact::Number(n));
        }
        for (p, _) in ranked(failed.iter().take(ROWS).filter_map(|e| e.user.as_deref())) {
            facts.push(Fact::Text(p));
        }
        facts
    }

    /// Console sign-ins (of one principal or everyone's): how many, who, and failed ones.
    pub fn logins(&self, user: Option<&str>) -> Vec<Fact> {
        let logins: Vec<&Event> = self
            .events(user)
            .into_iter()
            .filter(|e| e.name == "ConsoleLogin")
            .collect();
        let mut facts = vec![Fact::Number(logins.len() as u64)];
        for (p, _) in ranked(logins.iter().filter_map(|e| e.user.as_deref())) {
            facts.push(Fact::Text(p));
        }
        for e in logins.iter().take(ROWS) {
            facts.push(Fact::Text(local_minute(e.time, self.tz)));
            if let Some(code) = &e.error_code {
                facts.push(Fact::Text(code.clone()));
            }
        }
        facts
    }

    /// Calls to one API action: how many, and who made them.
    pub fn action(&self, name: &str) -> Vec<Fact> {
        let calls: Vec<&Event> = self
            .events(None)
            .into_iter()
            .filter(|e| e.name == name)
            .collect();
        let mut facts = vec![Fact::Number(calls.len() as u64)];
        facts.extend(self.top_principals(&calls, 6));
        facts
    }

    /// The regions and the source IPs (of one principal or everyone's) in use.
    pub fn regions(&self) -> Vec<Fact> {
        ranked(self.events(None).iter().map(|e| e.region.as_str()))
            .into_iter()
            .take(4)
            .map(|(r, _)| Fact::Text(r))
            .collect()
    }

    pub fn source_ips(&self, user: &str) -> Vec<Fact> {
        ranked(self.events(Some(user)).iter().map(|e| e.source_ip.as_str()))
            .into_iter()
            .take(4)
            .map(|(ip, _)| Fact::Text(ip))
            .collect()
    }

    /// The highlights a reviewer must be shown for this window (of one principal's events, or
    /// everyone's), by the rules docs/interfaces.md gives them, computed here from the records:
    /// each one's principal, and a citation of its oldest event. Bursts of denials are checked
    /// by principal only, and new source IPs / user agents (whose baseline depends on the
    /// server's window thirds) are not checked.
    pub fn highlights(&self, user: Option<&str>) -> Vec<Fact> {
        let events = self.events(user);
        let ok = |e: &&Event| e.error_code.is_none();
        let mut hits: Vec<(&'static str, &Event)> = Vec::new();
        for e in events.iter().filter(|e| e.user.is_some()) {
            let tampering =
                e.source == "cloudtrail.amazonaws.com" && TAMPERING.contains(&e.name.as_str());
            let policy =
                e.source == "iam.amazonaws.com" && IAM_POLICY_CHANGES.contains(&e.name.as_str());
            if e.user.as_deref() == Some("root") {
                hits.push(("root_activity", e));
            }
            if tampering {
                hits.push(("cloudtrail_tampering", e));
            }
            if !ok(e) {
                continue;
            }
            if e.name == "ConsoleLogin" && e.mfa_used.as_deref() == Some("No") {
                hits.push(("console_login_without_mfa", e));
            }
            if e.source == "iam.amazonaws.com" && e.name == "CreateAccessKey" {
                hits.push(("access_key_created", e));
            }
            if policy {
                hits.push(("iam_policy_change", e));
            }
            let deleting = e.name.starts_with("Delete")
                || e.name.starts_with("Terminate")
                || e.name == "ScheduleKeyDeletion";
            if !e.read_only && deleting && !policy && !tampering {
                hits.push(("deletion", e));
            }
        }
        // Events are newest first: the last hit per (kind, principal) is the oldest.
        let mut found: Vec<(&str, &Event)> = Vec::new();
        for (kind, e) in hits {
            match found
                .iter_mut()
                .find(|(k, f)| *k == kind && f.user == e.user)
            {
                Some(slot) => slot.1 = e,
                None => found.push((kind, e)),
            }
        }
        let mut facts = Vec::new();
        for (_, e) in found {
            facts.extend(e.user.clone().map(Fact::Text));
            facts.push(Fact::Text(format!(
                "[ev:{}]",
                cloudtrail_contract::evidence::event_ref(&e.id)
            )));
        }
        for principal in self.denial_bursts(&events) {
            facts.push(Fact::Text(principal));
        }
        facts
    }

    /// Principals with at least 5 denied calls within 10 minutes.
    fn denial_bursts(&self, events: &[&Event]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for e in events.iter().filter(|e| e.denied()) {
            let Some(user) = e.user.as_deref() else {
                continue;
            };
            let within = events
                .iter()
                .filter(|o| o.denied() && o.user.as_deref() == Some(user))
                .filter(|o| {
                    o.time >= e.time && o.time - e.time <= jiff::SignedDuration::from_mins(10)
                })
                .count();
            if within >= 5 && !out.iter().any(|p| p == user) {
                out.push(user.to_owned());
            }
        }
        out
    }

    /// The most active principals of the window.
    pub fn busiest(&self, n: usize) -> Vec<Fact> {
        self.top_principals(&self.events(None), n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_whole_and_not_parts_of_dates() {
        assert!(has_number("alice made 12 calls", 12));
        assert!(has_number("**12 件**", 12));
        assert!(has_number("there were 1,234 calls.", 1234));
        assert!(has_number("failed: 3.", 3));
        assert!(!has_number("at 2026-11-12 10:12", 12));
        assert!(!has_number("123 calls", 12));
        assert!(!has_number("v1.12.0", 12));
        assert!(Fact::Number(0).found_in("No events for **bob** in this window."));
        assert!(Fact::Number(0).found_in("この期間に失敗・拒否された呼び出しはありません"));
        assert!(!Fact::Number(0).found_in("bob made 10 calls"));
    }

    #[test]
    fn text_ignores_markdown_escapes_and_case() {
        assert!(Fact::Text("alice_tmp".into()).found_in("bucket **alice\\_tmp**"));
        assert!(Fact::Text("AccessDenied".into()).found_in("accessdenied (3)"));
        assert!(!Fact::Text("bob".into()).found_in("alice"));
        assert!(Fact::Declined.found_in("I can't answer that offline (no LLM): ..."));
        assert!(
            Fact::Declined
                .found_in("オフラインモード（LLM なし）ではこの質問に答えられません: 料金")
        );
        assert!(Fact::Absent("account is secure".into()).found_in("nothing"));
        assert!(!Fact::Absent("account is secure".into()).found_in("The account is secure."));
    }
}
