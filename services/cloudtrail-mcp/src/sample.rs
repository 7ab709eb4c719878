//! A realistic sample CloudTrail archive, generated relative to a given "now".
//!
//! Local runs and tests need events for "yesterday" and "the last 24 hours" whenever they run,
//! so the sample is generated at start from an anchor time; everything else is deterministic
//! (a seeded PRNG), so the same anchor and seed give the same records byte for byte.
//!
//! The account has IAM users `alice` and `bob`, an IAM Identity Center session
//! `carol@example.com`, a CI role session `github-actions-deploy`, a federated user `dave` (a
//! support portal's `GetFederationToken` session), the root user and AWS services, calling S3,
//! EC2, IAM, STS, Lambda, CloudFormation, KMS, CloudWatch Logs, CloudTrail and sign-in across
//! three regions, with reads, writes and access-denied failures. Each principal is denied at its
//! own rate (bob often, dave now and then, the others rarely, AWS services never), and every
//! denial names the caller's own ARN and the policy kind that plausibly refused it. On top of
//! that background sits a storyline a demo can find: alice's day yesterday (including a tag value
//! carrying HTML/script and a prompt-injection string, to prove the UI and the model treat tool
//! output as data), her last 24 hours, bob deleting the bucket `bob-old-logs`, and the root user
//! denied stopping the trail.

mod actors;
mod delivery;
mod story;
mod write;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

pub use actors::{ACCOUNT, Actor};
pub use delivery::{Delivery, write_delivered};
pub use write::write_archive;

/// How many background events the sample holds (the storyline adds a few dozen).
pub const BACKGROUND_EVENTS: usize = 3_000;
/// How far back the sample reaches.
pub const SPAN_DAYS: i64 = 8;

/// Makes a call's `(requestParameters, responseElements)`.
pub type MakeElements = fn(&mut fastrand::Rng) -> (Value, Value);

/// One API call to turn into a record.
#[derive(Debug, Clone)]
pub struct Call {
    pub time: Timestamp,
    pub actor: &'static Actor,
    pub source: &'static str,
    pub name: &'static str,
    pub region: &'static str,
    pub read_only: bool,
    pub request: Value,
    pub response: Value,
    /// Makes `request` and `response` when the record is made instead: thousands of planned
    /// calls then hold no JSON (a peak of short-lived allocations that stayed in the RSS).
    pub make: Option<MakeElements>,
    /// `(errorCode, errorMessage)`.
    pub error: Option<(&'static str, String)>,
    /// `resources` entries `(type, ARN)` where CloudTrail includes them.
    pub resources: Vec<(&'static str, String)>,
    /// Console session instead of CLI/SDK.
    pub console: bool,
    /// Whether a console sign-in used MFA (`additionalEventData.MFAUsed`).
    pub mfa: bool,
    /// A source IP and user agent other than the actor's usual ones.
    pub from: Option<(&'static str, &'static str)>,
}

/// Generates the sample: records sorted newest first, all before `anchor`.
pub fn generate(anchor: Timestamp, seed: u64) -> Vec<Value> {
    let mut records: Vec<Value> = records(anchor, seed).collect();
    records.sort_by(|a, b| {
        let key = |v: &Value| {
            (
                v["eventTime"].as_str().unwrap_or("").to_owned(),
                v["eventID"].as_str().unwrap_or("").to_owned(),
            )
        };
        key(b).cmp(&key(a))
    });
    records
}

/// The same records as [`generate`], one at a time, so an index can be built without holding
/// every record as a JSON tree at once (that peak stayed in the process's RSS). They come newest
/// first by time (ties in no particular order), which keeps an archive's pages in few blocks.
pub fn records(anchor: Timestamp, seed: u64) -> impl Iterator<Item = Value> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let anchor = anchor.round(jiff::Unit::Second).unwrap_or(anchor);
    let mut calls = actors::background(&mut rng, anchor, BACKGROUND_EVENTS);
    calls.extend(story::storyline(anchor));
    calls.sort_by_key(|call| std::cmp::Reverse(call.time));
    calls.into_iter().map(move |call| record(&call, &mut rng))
}

fn uuid(rng: &mut fastrand::Rng) -> String {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// Turns a call into a CloudTrail record in the format CloudTrail delivers.
pub fn record(call: &Call, rng: &mut fastrand::Rng) -> Value {
    let actor = call.actor;
    let signin = call.source == "signin.amazonaws.com";
    let (request, response) = match call.make {
        Some(make) => make(rng),
        None => (call.request.clone(), call.response.clone()),
    };
    // A failed call has no response elements.
    let response = if call.error.is_some() {
        Value::Null
    } else {
        response
    };
    let mut r = json!({
        "eventVersion": if signin { "1.09" } else { "1.08" },
        "userIdentity": actor.identity(call.console, call.time),
        "eventTime": call.time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "eventSource": call.source,
        "eventName": call.name,
        "awsRegion": call.region,
        "sourceIPAddress": match call.from {
            Some((ip, _)) => ip.to_owned(),
            None => actor.source_ip(rng, call.source),
        },
        "userAgent": match call.from {
            Some((_, agent)) => agent.to_owned(),
            None => actor.user_agent(rng, call.console),
        },
        "requestParameters": request,
        "responseElements": response,
        "requestID": uuid(rng).to_uppercase(),
        "eventID": uuid(rng),
        "readOnly": call.read_only,
        "eventType": if signin { "AwsConsoleSignIn" } else { "AwsApiCall" },
        "managementEvent": true,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    });
    if let Some((code, message)) = &call.error {
        r["errorCode"] = json!(code);
        r["errorMessage"] = json!(message);
    }
    if !call.resources.is_empty() {
        r["resources"] = call
            .resources
            .iter()
            .map(|(kind, arn)| json!({"accountId": ACCOUNT, "type": kind, "ARN": arn}))
            .collect();
    }
    if signin {
        r.as_object_mut().map(|o| o.remove("requestID"));
        r["additionalEventData"] = json!({"LoginTo": "https://console.aws.amazon.com/console/home",
            "MobileVersion": "No", "MFAUsed": if call.mfa { "Yes" } else { "No" }});
    } else if !actor.is_service() {
        let host = match call.source {
            "s3.amazonaws.com" => format!("s3.{}.amazonaws.com", call.region),
            "iam.amazonaws.com" => "iam.amazonaws.com".to_owned(),
            other => format!(
                "{}.{}.amazonaws.com",
                other.trim_end_matches(".amazonaws.com"),
                call.region
            ),
        };
        r["tlsDetails"] = json!({"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                                 "clientProvidedHostHeader": host});
        if call.console {
            r["sessionCredentialFromConsole"] = json!("true");
        }
    }
    r
}

/// The `[start, end)` window that is "yesterday" relative to `anchor` in UTC, Asia/Tokyo and
/// America/Los_Angeles at once, so the storyline is found whichever of them the user is in.
pub fn common_yesterday(anchor: Timestamp) -> (Timestamp, Timestamp) {
    let mut start = Timestamp::MIN;
    let mut end = Timestamp::MAX;
    for zone in ["UTC", "Asia/Tokyo", "America/Los_Angeles"] {
        let tz = jiff::tz::TimeZone::get(zone).expect("bundled time zone");
        let today = anchor.to_zoned_datetime(tz.clone()).date();
        let day_start = |d: jiff::civil::Date| {
            d.to_zoned_datetime(tz.clone())
                .map(|z| z.timestamp())
                .unwrap_or(anchor)
        };
        let yesterday = today.yesterday().unwrap_or(today);
        start = start.max(day_start(yesterday));
        end = end.min(day_start(today));
    }
    if start >= end {
        // Cannot happen for these three zones (their offsets are less than 24 h apart), but keep
        // the storyline somewhere sensible if it ever did.
        return (
            anchor - SignedDuration::from_hours(30),
            anchor - SignedDuration::from_hours(24),
        );
    }
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn anchors() -> Vec<Timestamp> {
        // Anchors across the day, so every case of the timezone intersection is covered.
        (0..24)
            .map(|h| format!("2026-11-24T{h:02}:17:00Z").parse().unwrap())
            .collect()
    }

    #[test]
    fn deterministic_for_an_anchor_and_seed() {
        let anchor: Timestamp = "2026-11-24T03:30:00Z".parse().unwrap();
        assert_eq!(generate(anchor, 42), generate(anchor, 42));
        assert_ne!(generate(anchor, 42), generate(anchor, 43));
    }

    #[test]
    fn records_are_complete_unique_and_in_range() {
        let anchor: Timestamp = "2026-11-24T03:30:00Z".parse().unwrap();
        let records = generate(anchor, 7);
        assert!(records.len() >= BACKGROUND_EVENTS, "{}", records.len());
        let mut ids = HashSet::new();
        let oldest = (anchor - SignedDuration::from_hours(24 * SPAN_DAYS)).to_string();
        let mut previous = "9999".to_owned();
        for r in &records {
            for field in [
                "eventVersion",
                "userIdentity",
                "eventTime",
                "eventSource",
                "eventName",
                "awsRegion",
                "sourceIPAddress",
                "userAgent",
                "eventID",
                "readOnly",
                "eventType",
                "recipientAccountId",
            ] {
                assert!(
                    r.get(field).is_some_and(|v| !v.is_null()),
                    "{field} missing in {r}"
                );
            }
            assert!(
                ids.insert(r["eventID"].as_str().unwrap().to_owned()),
                "duplicate id"
            );
            let t = r["eventTime"].as_str().unwrap();
            assert!(
                t < anchor.to_string().as_str() && t >= oldest.as_str(),
                "{t}"
            );
            assert!(t <= previous.as_str(), "newest first");
            previous = t.to_owned();
        }
        let names: HashSet<&str> = records
            .iter()
            .filter_map(|r| r["userIdentity"]["userName"].as_str())
            .collect();
        assert!(names.contains("alice") && names.contains("bob"));
        assert!(records.iter().any(|r| r["userIdentity"]["type"] == "Root"));
        assert!(
            records
                .iter()
                .any(|r| r["userIdentity"]["type"] == "AWSService")
        );
        assert!(records.iter().any(|r| {
            r["userIdentity"]["arn"]
                .as_str()
                .is_some_and(|a| a.ends_with("/carol@example.com"))
        }));
        assert!(records.iter().any(|r| {
            r["userIdentity"]["arn"]
                .as_str()
                .is_some_and(|a| a.ends_with("/github-actions-deploy"))
        }));
        let regions: HashSet<&str> = records
            .iter()
            .filter_map(|r| r["awsRegion"].as_str())
            .collect();
        assert!(regions.len() >= 3, "{regions:?}");
        let denied = records
            .iter()
            .filter(|r| {
                r["errorCode"]
                    .as_str()
                    .is_some_and(|c| c.contains("AccessDenied") || c.contains("Unauthorized"))
            })
            .count();
        assert!(denied >= 20, "{denied}");
    }

    /// The principal an access-denied message names (`User: <arn> is not authorized...`).
    fn denied_arn(message: &str) -> Option<&str> {
        let rest = message.split("User: ").nth(1)?;
        rest.split(" is not authorized to perform: ").next()
    }

    #[test]
    fn denials_come_from_the_principals_that_made_them() {
        let anchor: Timestamp = "2026-11-24T03:30:00Z".parse().unwrap();
        for seed in [42, 7, 2026] {
            let records = generate(anchor, seed);
            let denied: Vec<&Value> = records
                .iter()
                .filter(|r| {
                    matches!(
                        r["errorCode"].as_str(),
                        Some("AccessDenied" | "Client.UnauthorizedOperation")
                    )
                })
                .collect();
            let mut by_kind: std::collections::BTreeMap<&str, usize> = Default::default();
            let mut by_arn: std::collections::BTreeMap<&str, usize> = Default::default();
            for r in &denied {
                let identity = &r["userIdentity"];
                let kind = identity["type"].as_str().unwrap();
                let arn = identity["arn"]
                    .as_str()
                    .unwrap_or_else(|| panic!("a denied call without a caller ARN: {r}"));
                *by_kind.entry(kind).or_default() += 1;
                *by_arn.entry(arn).or_default() += 1;
                // The message names the caller, and the action is the call's own.
                let message = r["errorMessage"].as_str().unwrap();
                assert_eq!(denied_arn(message), Some(arn), "{r}");
                let service = r["eventSource"]
                    .as_str()
                    .unwrap()
                    .trim_end_matches(".amazonaws.com");
                assert!(
                    message.contains(&format!("to perform: {service}:")),
                    "{message}"
                );
                // The identity's fields describe one principal.
                assert_eq!(identity["accountId"], ACCOUNT, "{r}");
                let principal_id = identity["principalId"].as_str().unwrap();
                match kind {
                    "IAMUser" => {
                        let user = identity["userName"].as_str().unwrap();
                        assert_eq!(arn, format!("arn:aws:iam::{ACCOUNT}:user/{user}"));
                        assert!(principal_id.starts_with("AIDA"), "{r}");
                    }
                    "AssumedRole" => {
                        let (role, session) = arn
                            .strip_prefix(&format!("arn:aws:sts::{ACCOUNT}:assumed-role/"))
                            .and_then(|rest| rest.split_once('/'))
                            .unwrap_or_else(|| panic!("{arn}"));
                        let issuer = &identity["sessionContext"]["sessionIssuer"];
                        assert_eq!(issuer["userName"], role, "{r}");
                        assert!(
                            issuer["arn"]
                                .as_str()
                                .unwrap()
                                .ends_with(&format!("/{role}")),
                            "{r}"
                        );
                        assert_eq!(
                            principal_id,
                            format!("{}:{session}", issuer["principalId"].as_str().unwrap())
                        );
                    }
                    "FederatedUser" => {
                        let name = arn
                            .strip_prefix(&format!("arn:aws:sts::{ACCOUNT}:federated-user/"))
                            .unwrap_or_else(|| panic!("{arn}"));
                        assert_eq!(principal_id, format!("{ACCOUNT}:{name}"));
                        assert_eq!(
                            identity["sessionContext"]["sessionIssuer"]["type"],
                            "IAMUser"
                        );
                    }
                    "Root" => {
                        assert_eq!(arn, format!("arn:aws:iam::{ACCOUNT}:root"));
                        assert_eq!(principal_id, ACCOUNT);
                    }
                    other => panic!("a {other} principal is denied: {r}"),
                }
            }
            // Several kinds of principal are denied, in proportion to what they do and may do:
            // bob (who keeps trying) most, the CI role far from all.
            for kind in ["IAMUser", "AssumedRole", "FederatedUser", "Root"] {
                assert!(by_kind.contains_key(kind), "{seed}: {by_kind:?}");
            }
            let count = |arn: &str| by_arn.get(arn).copied().unwrap_or(0);
            let bob = count(&format!("arn:aws:iam::{ACCOUNT}:user/bob"));
            let ci = count(&format!(
                "arn:aws:sts::{ACCOUNT}:assumed-role/github-actions-deploy/github-actions-deploy"
            ));
            assert!(by_arn.len() >= 5, "{seed}: {by_arn:?}");
            assert!(bob > ci && ci * 4 < denied.len(), "{seed}: {by_arn:?}");
        }
    }

    #[test]
    fn alices_storyline_is_yesterday_in_every_zone() {
        for anchor in anchors() {
            let records = generate(anchor, 42);
            for zone in ["UTC", "Asia/Tokyo", "America/Los_Angeles"] {
                let tz = jiff::tz::TimeZone::get(zone).unwrap();
                let today = anchor.to_zoned_datetime(tz.clone()).date();
                let start = today
                    .yesterday()
                    .unwrap()
                    .to_zoned_datetime(tz.clone())
                    .unwrap()
                    .timestamp()
                    .to_string();
                let end = today.to_zoned_datetime(tz).unwrap().timestamp().to_string();
                let alice: Vec<&Value> = records
                    .iter()
                    .filter(|r| r["userIdentity"]["userName"] == "alice")
                    .filter(|r| {
                        let t = r["eventTime"].as_str().unwrap();
                        t >= start.as_str() && t < end.as_str()
                    })
                    .collect();
                let has = |name: &str| alice.iter().any(|r| r["eventName"] == name);
                assert!(
                    has("CreateBucket")
                        && has("RunInstances")
                        && has("CreateTags")
                        && has("DeleteBucket"),
                    "{anchor} {zone}"
                );
                assert!(alice.iter().any(|r| r["eventName"] == "CreateUser" && r["errorCode"] == "AccessDenied"), "{anchor} {zone}");
                assert!(
                    alice
                        .iter()
                        .any(|r| r["requestParameters"].to_string().contains("<script>")),
                    "{anchor} {zone}"
                );
            }
            // And within the last 24 hours.
            let day_ago = (anchor - SignedDuration::from_hours(24)).to_string();
            let recent = records
                .iter()
                .filter(|r| {
                    r["userIdentity"]["userName"] == "alice"
                        && r["eventTime"].as_str().unwrap() >= day_ago.as_str()
                })
                .count();
            assert!(recent >= 5, "{anchor}: {recent}");
        }
    }

    #[test]
    fn bob_deletes_his_old_logs_bucket_this_week() {
        let records = generate("2026-11-24T03:30:00Z".parse().unwrap(), 42);
        let deletes: Vec<&Value> = records
            .iter()
            .filter(|r| {
                r["eventName"] == "DeleteBucket"
                    && r["requestParameters"]["bucketName"] == "bob-old-logs"
            })
            .collect();
        assert_eq!(deletes.len(), 1);
        assert_eq!(deletes[0]["userIdentity"]["userName"], "bob");
    }

    #[test]
    fn the_story_carries_prompt_injection_payloads_as_data() {
        let records = generate("2026-11-24T03:30:00Z".parse().unwrap(), 42);
        let texts: Vec<String> = records.iter().map(Value::to_string).collect();
        let any = |needle: &str| texts.iter().any(|t| t.contains(needle));
        // A user agent, tags and an error message carrying instructions or HTML.
        let agent = records
            .iter()
            .find(|r| r["userAgent"] == story::INJECTION_USER_AGENT)
            .unwrap();
        assert_eq!(agent["sourceIPAddress"], story::NEW_SOURCE_IP);
        assert!(any(story::HTML_TAG_VALUE) && any(story::INJECTION_TAG_VALUE));
        let error = records
            .iter()
            .find(|r| r["errorCode"] == "ValidationError")
            .unwrap();
        let message = error["errorMessage"].as_str().unwrap();
        assert!(
            message.contains("Ignore previous instructions") && message.contains("<img src=x"),
            "{message}"
        );
        // A right-to-left override in a tag value.
        let bidi = records
            .iter()
            .find(|r| r["requestParameters"].to_string().contains('\u{202E}'))
            .unwrap();
        assert_eq!(bidi["eventName"], "CreateTags");
        // Console sign-ins say whether MFA was used; bob's did not.
        let logins: Vec<&Value> = records
            .iter()
            .filter(|r| r["eventName"] == "ConsoleLogin")
            .collect();
        assert!(logins.len() >= 4);
        let without: Vec<&Value> = logins
            .iter()
            .copied()
            .filter(|r| r["additionalEventData"]["MFAUsed"] == "No")
            .collect();
        assert_eq!(without.len(), 1);
        assert_eq!(without[0]["userIdentity"]["userName"], "bob");
    }
}
