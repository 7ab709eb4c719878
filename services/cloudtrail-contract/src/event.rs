//! Single events: the compact projection `lookup_events` returns with `detail: true`, and the
//! raw record `get_event` returns.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The principal that made a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Principal {
    /// `IAMUser`, `AssumedRole`, `Root`, `AWSService`, `FederatedUser`...
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub arn: Option<String>,
    /// The user name, the role session name (for assumed roles), `root`, or the invoking service.
    pub name: Option<String>,
    pub account_id: Option<String>,
}

/// A resource as LookupEvents reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceRef {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub name: Option<String>,
}

/// One event, compact: who, what, when, where and whether it failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompactEvent {
    pub event_id: String,
    /// The event's reference ([`crate::evidence::event_ref`] of `event_id`), to cite it by.
    #[serde(rename = "ref")]
    pub event_ref: String,
    pub event_time: String,
    pub event_name: String,
    pub event_source: String,
    pub aws_region: Option<String>,
    pub read_only: Option<bool>,
    pub principal: Principal,
    pub access_key_id: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub resources: Vec<ResourceRef>,
    pub request_parameters: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_elements: Option<String>,
}

/// The answer of `get_event`: the raw CloudTrail record (a JSON object, or the record's text
/// when it is not JSON or had to be cut to fit the budget).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventAnswer {
    pub event: Value,
    pub truncated: bool,
    /// The Athena queries behind this answer (sources that query Athena only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<crate::usage::QueryUsage>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_detailed_event_reads_with_its_wire_names() {
        let wire = json!({"event_id": "e1", "ref": "8b5cc4df", "event_time": "2026-11-23T09:12:03Z",
            "event_name": "CreateBucket", "event_source": "s3.amazonaws.com",
            "aws_region": "ap-northeast-1", "read_only": false,
            "principal": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/alice",
                          "name": "alice", "account_id": "123456789012"},
            "access_key_id": "AKIA", "source_ip": "203.0.113.10", "user_agent": "aws-cli/2.15.0",
            "error_code": null, "error_message": null,
            "resources": [{"type": "AWS::S3::Bucket", "name": "alice-reports"}],
            "request_parameters": "{}"});
        let event: CompactEvent = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(event.principal.kind.as_deref(), Some("IAMUser"));
        assert_eq!(event.event_ref, crate::evidence::event_ref("e1"));
        assert_eq!(event.resources[0].name.as_deref(), Some("alice-reports"));
        assert_eq!(serde_json::to_value(&event).unwrap(), wire);
        let answer: EventAnswer =
            serde_json::from_value(json!({"event": {"eventID": "e1"}, "truncated": false}))
                .unwrap();
        assert_eq!(answer.event["eventID"], json!("e1"));
    }
}
