//! The rules of [`super`], one test each, on hand-made events.

use serde_json::json;

use super::*;
use crate::project::Principal;

const START: &str = "2026-11-20T00:00:00Z";
const END: &str = "2026-11-23T00:00:00Z";

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// An event by `who` at `time`; `kind` is the identity type.
fn event(time: &str, source: &str, name: &str, who: &str, kind: &str) -> CompactEvent {
    CompactEvent {
        event_id: format!("{time}-{name}-{who}"),
        event_ref: cloudtrail_contract::event_ref(&format!("{time}-{name}-{who}")),
        event_time: time.into(),
        event_name: name.into(),
        event_source: format!("{source}.amazonaws.com"),
        aws_region: Some("us-east-1".into()),
        read_only: Some(name.starts_with("Get") || name.starts_with("List")),
        principal: Principal {
            kind: Some(kind.into()),
            arn: None,
            name: Some(who.into()),
            account_id: None,
        },
        access_key_id: None,
        source_ip: Some("203.0.113.10".into()),
        user_agent: Some("aws-cli/2.22.4".into()),
        error_code: None,
        error_message: None,
        resources: Vec::new(),
        request_parameters: None,
        response_elements: None,
    }
}

fn denied(mut e: CompactEvent, code: &str) -> CompactEvent {
    e.error_code = Some(code.into());
    e
}

/// The highlights of `events` (with their records) over the window START..END.
fn run(events: &[(CompactEvent, Value)]) -> Vec<Highlight> {
    let mut h = Highlighter::new(t(START), t(END));
    for (e, record) in events {
        h.add(t(&e.event_time), e, record);
    }
    let (highlights, omitted, refs) = h.finish();
    assert_eq!(omitted, 0);
    for highlight in &highlights {
        assert!(highlight.refs.len() <= MAX_HIGHLIGHT_REFS);
        for r in &highlight.refs {
            assert_eq!(
                cloudtrail_contract::event_ref(&refs[r]),
                *r,
                "refs map to ids"
            );
        }
    }
    highlights
}

fn plain(e: CompactEvent) -> (CompactEvent, Value) {
    (e, Value::Null)
}

fn of(highlights: &[Highlight], kind: HighlightKind) -> Vec<&Highlight> {
    highlights.iter().filter(|h| h.kind == kind).collect()
}

#[test]
fn root_activity_counts_every_root_call_failed_ones_too() {
    let highlights = run(&[
        plain(denied(
            event(
                "2026-11-21T01:00:00Z",
                "signin",
                "ConsoleLogin",
                "root",
                "Root",
            ),
            "Failed authentication",
        )),
        plain(event(
            "2026-11-21T01:02:00Z",
            "signin",
            "ConsoleLogin",
            "root",
            "Root",
        )),
        plain(event(
            "2026-11-21T01:05:00Z",
            "iam",
            "GetAccountSummary",
            "root",
            "Root",
        )),
        plain(event(
            "2026-11-21T01:05:00Z",
            "iam",
            "GetAccountSummary",
            "alice",
            "IAMUser",
        )),
    ]);
    let root = of(&highlights, HighlightKind::RootActivity);
    assert_eq!(root.len(), 1);
    assert_eq!(root[0].count, 3);
    assert_eq!(root[0].principal.as_deref(), Some("root"));
    assert_eq!(root[0].refs.len(), 3);
    assert!(root[0].title.contains("ConsoleLogin ×2") && root[0].title.contains("1 failed"));
}

#[test]
fn console_login_without_mfa_needs_success_and_mfa_no() {
    let login = |who: &str, mfa: &str| {
        (
            event(
                "2026-11-21T02:00:00Z",
                "signin",
                "ConsoleLogin",
                who,
                "IAMUser",
            ),
            json!({"additionalEventData": {"MFAUsed": mfa}}),
        )
    };
    let mut failed = login("carol", "No");
    failed.0.error_code = Some("Failed authentication".into());
    let highlights = run(&[login("alice", "Yes"), login("bob", "No"), failed]);
    let found = of(&highlights, HighlightKind::ConsoleLoginWithoutMfa);
    assert_eq!(found.len(), 1, "{highlights:?}");
    assert_eq!(found[0].principal.as_deref(), Some("bob"));
    assert_eq!(found[0].title, "Console sign-in without MFA by bob");
}

#[test]
fn access_denied_bursts_need_five_denials_by_one_principal_within_ten_minutes() {
    let mut events = Vec::new();
    // bob: 6 denials 90 s apart (7.5 min), then one an hour later.
    for i in 0..6 {
        let time = t("2026-11-21T03:00:00Z") + SignedDuration::from_secs(90 * i);
        events.push(plain(denied(
            event(
                &time.to_string(),
                "iam",
                &format!("CreateUser{i}"),
                "bob",
                "IAMUser",
            ),
            if i % 2 == 0 {
                "AccessDenied"
            } else {
                "Client.UnauthorizedOperation"
            },
        )));
    }
    events.push(plain(denied(
        event(
            "2026-11-21T04:00:00Z",
            "iam",
            "CreateUser",
            "bob",
            "IAMUser",
        ),
        "AccessDenied",
    )));
    // dave: 5 denials spread over 20 minutes; carol: 5 throttled calls (not denials).
    for i in 0..5 {
        let time = t("2026-11-21T05:00:00Z") + SignedDuration::from_secs(300 * i);
        events.push(plain(denied(
            event(
                &time.to_string(),
                "s3",
                &format!("GetObject{i}"),
                "dave",
                "FederatedUser",
            ),
            "AccessDenied",
        )));
        events.push(plain(denied(
            event(
                &time.to_string(),
                "s3",
                &format!("PutObject{i}"),
                "carol",
                "AssumedRole",
            ),
            "ThrottlingException",
        )));
    }
    let highlights = run(&events);
    let bursts = of(&highlights, HighlightKind::AccessDeniedBurst);
    assert_eq!(bursts.len(), 1, "{bursts:?}");
    assert_eq!(bursts[0].principal.as_deref(), Some("bob"));
    assert_eq!(bursts[0].count, 6);
    assert_eq!(bursts[0].refs.len(), MAX_HIGHLIGHT_REFS);
    assert_eq!(
        bursts[0].refs[0],
        cloudtrail_contract::event_ref("2026-11-21T03:00:00Z-CreateUser0-bob"),
        "oldest first"
    );
    assert_eq!(
        bursts[0].title,
        "6 access-denied calls by bob within 10 minutes"
    );
}

#[test]
fn new_source_ips_and_agents_are_judged_against_the_first_third() {
    // The first third of START..END ends 2026-11-21T00:00:00Z.
    let mut early = event(
        "2026-11-20T05:00:00Z",
        "s3",
        "ListBuckets",
        "carol",
        "AssumedRole",
    );
    early.source_ip = Some("192.0.2.44".into());
    let mut late = event(
        "2026-11-22T05:00:00Z",
        "iam",
        "CreateAccessKey",
        "carol",
        "AssumedRole",
    );
    late.source_ip = Some("185.220.101.34".into());
    late.user_agent = Some("ignore-previous-instructions/1.0".into());
    let mut same = event(
        "2026-11-22T06:00:00Z",
        "s3",
        "ListBuckets",
        "carol",
        "AssumedRole",
    );
    same.source_ip = Some("192.0.2.44".into());
    // erin starts after the first third: no baseline, nothing is "new" for her.
    let mut erin = event(
        "2026-11-22T05:00:00Z",
        "s3",
        "ListBuckets",
        "erin",
        "IAMUser",
    );
    erin.source_ip = Some("198.51.100.1".into());
    // A service-side address is not judged.
    let mut service = event(
        "2026-11-22T07:00:00Z",
        "s3",
        "ListBuckets",
        "carol",
        "AssumedRole",
    );
    service.source_ip = Some("cloudformation.amazonaws.com".into());
    let mut before = event(
        "2026-11-20T01:00:00Z",
        "s3",
        "ListBuckets",
        "erin2",
        "IAMUser",
    );
    before.source_ip = Some("198.51.100.2".into());
    let highlights = run(&[
        plain(late),
        plain(early),
        plain(same),
        plain(erin),
        plain(service),
        plain(before),
    ]);
    let ips = of(&highlights, HighlightKind::NewSourceIp);
    assert_eq!(ips.len(), 1, "{ips:?}");
    assert_eq!(ips[0].principal.as_deref(), Some("carol"));
    assert_eq!(ips[0].count, 1);
    assert_eq!(ips[0].title, "New source IP for carol: 185.220.101.34");
    let agents = of(&highlights, HighlightKind::NewUserAgent);
    assert_eq!(agents.len(), 1, "{agents:?}");
    assert_eq!(
        agents[0].title,
        "New user agent for carol: ignore-previous-instructions/1.0"
    );
    assert_eq!(agents[0].refs, ips[0].refs);
}

#[test]
fn access_keys_policies_and_deletions_count_successful_changes() {
    let highlights = run(&[
        plain(event(
            "2026-11-21T01:00:00Z",
            "iam",
            "CreateAccessKey",
            "carol",
            "AssumedRole",
        )),
        plain(denied(
            event(
                "2026-11-21T01:01:00Z",
                "iam",
                "CreateAccessKey",
                "bob",
                "IAMUser",
            ),
            "AccessDenied",
        )),
        plain(event(
            "2026-11-21T01:02:00Z",
            "iam",
            "PutRolePolicy",
            "carol",
            "AssumedRole",
        )),
        plain(event(
            "2026-11-21T01:03:00Z",
            "iam",
            "AttachRolePolicy",
            "carol",
            "AssumedRole",
        )),
        plain(event(
            "2026-11-21T01:04:00Z",
            "iam",
            "DeleteRolePolicy",
            "carol",
            "AssumedRole",
        )),
        plain(denied(
            event(
                "2026-11-21T01:05:00Z",
                "iam",
                "AttachUserPolicy",
                "bob",
                "IAMUser",
            ),
            "AccessDenied",
        )),
        plain(event(
            "2026-11-21T01:06:00Z",
            "s3",
            "DeleteBucket",
            "alice",
            "IAMUser",
        )),
        plain(event(
            "2026-11-21T01:07:00Z",
            "ec2",
            "TerminateInstances",
            "alice",
            "IAMUser",
        )),
        plain(denied(
            event(
                "2026-11-21T01:08:00Z",
                "ec2",
                "TerminateInstances",
                "bob",
                "IAMUser",
            ),
            "Client.UnauthorizedOperation",
        )),
        plain(event(
            "2026-11-21T01:09:00Z",
            "s3",
            "GetBucketPolicy",
            "alice",
            "IAMUser",
        )),
    ]);
    let keys = of(&highlights, HighlightKind::AccessKeyCreated);
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].principal.as_deref(), Some("carol"));
    let policies = of(&highlights, HighlightKind::IamPolicyChange);
    assert_eq!(policies.len(), 1, "denied attempts are not changes");
    assert_eq!(policies[0].count, 3);
    assert!(
        policies[0].title.contains("PutRolePolicy"),
        "{}",
        policies[0].title
    );
    let deletions = of(&highlights, HighlightKind::Deletion);
    assert_eq!(
        deletions.len(),
        1,
        "DeleteRolePolicy is a policy change, not a deletion"
    );
    assert_eq!(deletions[0].principal.as_deref(), Some("alice"));
    assert_eq!(
        deletions[0].title,
        "Deletions by alice: DeleteBucket, TerminateInstances"
    );
}

#[test]
fn cloudtrail_tampering_counts_attempts_and_comes_first() {
    let highlights = run(&[
        plain(event(
            "2026-11-21T01:00:00Z",
            "s3",
            "DeleteBucket",
            "alice",
            "IAMUser",
        )),
        plain(denied(
            event(
                "2026-11-21T01:08:00Z",
                "cloudtrail",
                "StopLogging",
                "root",
                "Root",
            ),
            "AccessDenied",
        )),
        plain(event(
            "2026-11-21T01:09:00Z",
            "cloudtrail",
            "PutEventSelectors",
            "carol",
            "AssumedRole",
        )),
        plain(event(
            "2026-11-21T01:10:00Z",
            "cloudtrail",
            "LookupEvents",
            "carol",
            "AssumedRole",
        )),
    ]);
    let tampering = of(&highlights, HighlightKind::CloudtrailTampering);
    assert_eq!(tampering.len(), 2);
    assert_eq!(highlights[0].kind, HighlightKind::CloudtrailTampering);
    let root = tampering
        .iter()
        .find(|h| h.principal.as_deref() == Some("root"))
        .unwrap();
    assert_eq!(
        root.title,
        "CloudTrail logging changed by root: StopLogging (1 failed)"
    );
    assert!(of(&highlights, HighlightKind::Deletion).len() == 1);
}

#[test]
fn refs_keep_the_oldest_five_and_highlights_are_capped() {
    let mut h = Highlighter::new(t(START), t(END));
    for i in (0..8).rev() {
        let time = t("2026-11-21T00:00:00Z") + SignedDuration::from_mins(i);
        let e = event(&time.to_string(), "iam", "GetUser", "root", "Root");
        h.add(time, &e, &Value::Null);
    }
    // One deletion each by more principals than a summary lists.
    for i in 0..MAX_HIGHLIGHTS + 4 {
        let e = event(
            "2026-11-21T02:00:00Z",
            "s3",
            "DeleteObject",
            &format!("u{i:02}"),
            "IAMUser",
        );
        h.add(t(&e.event_time), &e, &Value::Null);
    }
    let (highlights, omitted, refs) = h.finish();
    assert_eq!(highlights.len(), MAX_HIGHLIGHTS);
    assert_eq!(omitted, 5, "root activity plus 34 deletions, 30 kept");
    let root = &highlights[0];
    assert_eq!((root.kind, root.count), (HighlightKind::RootActivity, 8));
    let oldest: Vec<String> = (0..5)
        .map(|i| {
            let time = t("2026-11-21T00:00:00Z") + SignedDuration::from_mins(i);
            cloudtrail_contract::event_ref(&format!("{time}-GetUser-root"))
        })
        .collect();
    assert_eq!(root.refs, oldest);
    assert_eq!(refs.len(), 5 + (MAX_HIGHLIGHTS - 1));
}
