//! The compact projection of a CloudTrail event that tools return instead of the raw record.
//!
//! A raw record is 1-4 KB of mostly repetitive JSON; a model needs who, what, when, where and
//! whether it failed. The projection keeps those, shortens user agents, cuts request parameters
//! to a small size and, when configured, redacts source IPs (in code, rather than asking the
//! model to hide them as the seed's system prompt did).

use serde_json::Value;

use crate::record;
use crate::source::RawEvent;

/// How much of an event to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProjectionOptions {
    pub redact_source_ip: bool,
    /// Include response elements and allow longer request parameters.
    pub detail: bool,
}

// The projection is what `lookup_events` answers with `detail: true`: defined once in the
// contract crate, which clients read answers with.
pub use cloudtrail_contract::{CompactEvent, Principal, ResourceRef, event_ref};

const REQUEST_PARAMS_CHARS: usize = 300;
const DETAIL_CHARS: usize = 2_000;
const ERROR_MESSAGE_CHARS: usize = 300;
const USER_AGENT_CHARS: usize = 60;

/// Projects one event. A record that is not valid JSON still yields the indexed fields.
pub fn project(event: &RawEvent, options: ProjectionOptions) -> CompactEvent {
    let record: Value = serde_json::from_str(&event.record).unwrap_or(Value::Null);
    project_record(event, &record, options)
}

/// Projects one event whose record the caller already parsed (`Value::Null` when it is not
/// JSON), for callers that read more of the record than the projection keeps.
pub fn project_record(
    event: &RawEvent,
    record: &Value,
    options: ProjectionOptions,
) -> CompactEvent {
    let text = |key: &str| record.get(key).and_then(Value::as_str).map(str::to_owned);
    let limit = if options.detail {
        DETAIL_CHARS
    } else {
        REQUEST_PARAMS_CHARS
    };
    let json_preview = |key: &str, max: usize| {
        record
            .get(key)
            .filter(|v| !v.is_null())
            .map(|v| cut(&v.to_string(), max))
    };
    CompactEvent {
        event_id: event.event_id.clone(),
        event_ref: event_ref(&event.event_id),
        event_time: event.event_time.to_string(),
        event_name: event.event_name.clone(),
        event_source: event.event_source.clone(),
        aws_region: text("awsRegion"),
        read_only: event.read_only,
        principal: principal(record, event.username.as_deref()),
        access_key_id: event.access_key_id.clone(),
        source_ip: text("sourceIPAddress").map(|ip| redact_ip(&ip, options.redact_source_ip)),
        user_agent: text("userAgent").map(|ua| shorten_user_agent(&ua)),
        error_code: text("errorCode"),
        error_message: text("errorMessage").map(|m| cut(&m, ERROR_MESSAGE_CHARS)),
        resources: event
            .resources
            .iter()
            .map(|r| ResourceRef {
                kind: r.resource_type.clone(),
                name: r.resource_name.clone(),
            })
            .collect(),
        request_parameters: json_preview("requestParameters", limit),
        response_elements: if options.detail {
            json_preview("responseElements", DETAIL_CHARS)
        } else {
            None
        },
    }
}

/// Who made the call, read from `userIdentity`; `username` (what LookupEvents reported) names it
/// when the record does not.
pub fn principal(record: &Value, username: Option<&str>) -> Principal {
    let identity = record::identity(record);
    Principal {
        kind: identity.kind,
        arn: identity.arn,
        name: identity.name.or_else(|| username.map(str::to_owned)),
        account_id: identity.account_id,
    }
}

/// A source IP as answers show it: `[redacted]` when redacting, except AWS service names
/// (`ec2.amazonaws.com`), which identify no one.
pub fn redact_ip(ip: &str, redact: bool) -> String {
    if redact && !ip.ends_with(".amazonaws.com") {
        "[redacted]".to_owned()
    } else {
        ip.to_owned()
    }
}

/// Keeps the product token of a user agent (`aws-cli/2.15.0`, `Boto3/1.34.0`) or says
/// `browser` for console sessions.
pub fn shorten_user_agent(ua: &str) -> String {
    let ua = ua.trim();
    if ua.starts_with("Mozilla/") {
        return "browser (console)".to_owned();
    }
    let first = ua.split_whitespace().next().unwrap_or("");
    let short = if first.is_empty() { ua } else { first };
    // Service principals use `[S3Console/0.4, ...]` style agents; keep the name only.
    let short = short.trim_start_matches('[').trim_end_matches([',', ']']);
    cut(short, USER_AGENT_CHARS)
}

/// Cuts `text` to at most `max` characters, marking the cut.
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((byte, _)) => format!(
            "{}…[cut {} chars]",
            &text[..byte],
            text[byte..].chars().count()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Resource;
    use serde_json::json;

    fn raw(record: Value) -> RawEvent {
        RawEvent {
            event_id: "e1".into(),
            event_time: "2026-11-23T09:12:03Z".parse().unwrap(),
            event_name: "CreateBucket".into(),
            event_source: "s3.amazonaws.com".into(),
            username: Some("alice".into()),
            access_key_id: Some("AKIAEXAMPLE".into()),
            read_only: Some(false),
            resources: vec![Resource {
                resource_type: Some("AWS::S3::Bucket".into()),
                resource_name: Some("alice-reports".into()),
            }],
            record: record.to_string(),
        }
    }

    fn alice_record() -> Value {
        json!({
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/alice",
                             "accountId": "123456789012", "userName": "alice"},
            "awsRegion": "ap-northeast-1", "sourceIPAddress": "203.0.113.10",
            "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.amzn.2023 prompt/off command/s3api.create-bucket",
            "requestParameters": {"bucketName": "alice-reports", "policy": "x".repeat(1000)},
            "responseElements": {"location": "/alice-reports"}
        })
    }

    #[test]
    fn projects_the_fields_a_model_needs() {
        let options = ProjectionOptions {
            redact_source_ip: false,
            detail: false,
        };
        let event = project(&raw(alice_record()), options);
        assert_eq!(event.principal.name.as_deref(), Some("alice"));
        assert_eq!(event.principal.kind.as_deref(), Some("IAMUser"));
        assert_eq!(event.user_agent.as_deref(), Some("aws-cli/2.15.0"));
        assert_eq!(event.source_ip.as_deref(), Some("203.0.113.10"));
        assert_eq!(event.aws_region.as_deref(), Some("ap-northeast-1"));
        assert_eq!(event.event_time, "2026-11-23T09:12:03Z");
        let params = event.request_parameters.unwrap();
        assert!(params.starts_with("{\"bucketName\":\"alice-reports\""));
        assert!(params.contains("…[cut"), "{params}");
        assert!(params.chars().count() < REQUEST_PARAMS_CHARS + 30);
        assert_eq!(event.response_elements, None);
    }

    #[test]
    fn detail_keeps_more() {
        let options = ProjectionOptions {
            redact_source_ip: false,
            detail: true,
        };
        let event = project(&raw(alice_record()), options);
        assert!(!event.request_parameters.unwrap().contains("…[cut"));
        assert_eq!(
            event.response_elements.as_deref(),
            Some("{\"location\":\"/alice-reports\"}")
        );
    }

    #[test]
    fn redacts_client_ips_but_not_service_names() {
        let options = ProjectionOptions {
            redact_source_ip: true,
            detail: false,
        };
        assert_eq!(
            project(&raw(alice_record()), options).source_ip.as_deref(),
            Some("[redacted]")
        );
        let mut record = alice_record();
        record["sourceIPAddress"] = json!("cloudformation.amazonaws.com");
        assert_eq!(
            project(&raw(record), options).source_ip.as_deref(),
            Some("cloudformation.amazonaws.com")
        );
    }

    #[test]
    fn principal_names_by_identity_type() {
        let assumed = json!({"userIdentity": {"type": "AssumedRole",
            "arn": "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123/carol@example.com"}});
        assert_eq!(
            principal(&assumed, None).name.as_deref(),
            Some("carol@example.com")
        );
        let root =
            json!({"userIdentity": {"type": "Root", "arn": "arn:aws:iam::123456789012:root"}});
        assert_eq!(principal(&root, None).name.as_deref(), Some("root"));
        let service =
            json!({"userIdentity": {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}});
        assert_eq!(
            principal(&service, None).name.as_deref(),
            Some("ec2.amazonaws.com")
        );
        assert_eq!(
            principal(&Value::Null, Some("bob")).name.as_deref(),
            Some("bob")
        );
    }

    #[test]
    fn user_agents_are_shortened() {
        assert_eq!(
            shorten_user_agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"),
            "browser (console)"
        );
        assert_eq!(
            shorten_user_agent("[S3Console/0.4, aws-internal/3]"),
            "S3Console/0.4"
        );
        assert_eq!(
            shorten_user_agent(&"a".repeat(200)).chars().count(),
            60 + "…[cut 140 chars]".chars().count()
        );
    }

    #[test]
    fn invalid_record_still_projects_indexed_fields() {
        let mut event = raw(json!({}));
        event.record = "{not json".into();
        let out = project(
            &event,
            ProjectionOptions {
                redact_source_ip: true,
                detail: false,
            },
        );
        assert_eq!(out.event_name, "CreateBucket");
        assert_eq!(out.principal.name.as_deref(), Some("alice"));
        assert_eq!(out.source_ip, None);
    }
}
