//! The default shape of a page of events: a table. Each event is one row of [`COLUMNS`]; values
//! that repeat across events (principals with their ARN and access key, regions, source IPs,
//! user agents, errors with their message, resource names) are listed once in dictionaries and
//! referenced by key from the rows. For 50
//! events this is a small fraction of the raw records, and a model reads it like a CSV.
//! Event ids are left out of rows (they are the largest column): each row starts with the event's
//! 8-character reference instead, which `get_event` accepts and the result's `_meta` maps to the
//! full id; `detail: true` returns whole [`CompactEvent`] objects, ids included. Request
//! parameters are shown without the values that name the row's resources (they would say the
//! same thing twice), and not at all when nothing else is left.
//!
//! The table's types are the contract crate's (clients read them back); this module builds one.

use std::collections::BTreeMap;

use serde_json::Value;

pub use cloudtrail_contract::lookup::{
    COLUMNS, Columns, ErrorEntry, EventTable, PrincipalEntry, Row,
};

use crate::project::CompactEvent;

/// `text` cut to `max` characters, ending with `…` when cut.
fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((byte, _)) => format!("{}…", &text[..byte]),
    }
}

/// Request parameters in a row are cut to this many characters (`detail` gives them whole).
pub const ROW_REQUEST_CHARS: usize = 32;
/// Error messages in the dictionary are cut to this many characters.
pub const ERROR_MESSAGE_CHARS: usize = 64;

/// Removes, in place, the strings that are one of `resources` and the containers and nulls left
/// empty; true when nothing is left of `value`.
fn strip_resources(value: &mut Value, resources: &[String]) -> bool {
    match value {
        Value::String(s) => resources.iter().any(|r| r == s),
        Value::Null => true,
        Value::Object(map) => {
            map.retain(|_, v| !strip_resources(v, resources));
            map.is_empty()
        }
        Value::Array(items) => {
            items.retain_mut(|v| !strip_resources(v, resources));
            items.is_empty()
        }
        Value::Bool(_) | Value::Number(_) => false,
    }
}

/// A row's request parameters: what they say beyond naming the row's `resources`, cut to
/// [`ROW_REQUEST_CHARS`]; none when they only name resources (`{"bucketName": "logs"}` beside
/// `["logs"]`). Parameters that are not whole JSON (already cut by the projection) are only cut.
pub fn row_parameters(parameters: &str, resources: &[String]) -> Option<String> {
    match serde_json::from_str::<Value>(parameters) {
        Ok(mut value) => {
            if strip_resources(&mut value, resources) {
                None
            } else {
                Some(shorten(&value.to_string(), ROW_REQUEST_CHARS))
            }
        }
        Err(_) => Some(shorten(parameters, ROW_REQUEST_CHARS)),
    }
}

/// Interns values into a dictionary with keys `{prefix}1`, `{prefix}2`... in first-seen order.
struct Interner<T: Ord + Clone> {
    prefix: &'static str,
    keys: BTreeMap<T, String>,
}

impl<T: Ord + Clone> Interner<T> {
    fn new(prefix: &'static str) -> Self {
        Self {
            prefix,
            keys: BTreeMap::new(),
        }
    }

    fn key(&mut self, value: T) -> String {
        let next = self.keys.len() + 1;
        let prefix = self.prefix;
        self.keys
            .entry(value)
            .or_insert_with(|| format!("{prefix}{next}"))
            .clone()
    }

    fn into_dictionary(self) -> BTreeMap<String, T> {
        self.keys.into_iter().map(|(v, k)| (k, v)).collect()
    }
}

/// The table of `events` (already projected: redaction applies).
pub fn table(events: &[CompactEvent]) -> EventTable {
    let mut principals = Interner::new("p");
    let mut regions = Interner::new("r");
    let mut source_ips = Interner::new("ip");
    let mut user_agents = Interner::new("u");
    let mut errors = Interner::new("e");
    // Not `r`: that is the regions' prefix, and a reader should not take one key for the other.
    let mut resource_names = Interner::new("rs");
    let rows = events
        .iter()
        .map(|e| {
            let principal = principals.key(PrincipalEntry {
                kind: e.principal.kind.clone(),
                name: e.principal.name.clone(),
                // The account is part of the ARN; listed on its own only without one.
                account_id: e
                    .principal
                    .arn
                    .is_none()
                    .then(|| e.principal.account_id.clone())
                    .flatten(),
                arn: e.principal.arn.clone(),
                access_key_id: e.access_key_id.clone(),
            });
            let user_agent = e.user_agent.clone().map(|ua| user_agents.key(ua));
            let error = e.error_code.clone().map(|code| {
                errors.key(ErrorEntry {
                    code,
                    message: e
                        .error_message
                        .as_deref()
                        .map(|m| shorten(m, ERROR_MESSAGE_CHARS)),
                })
            });
            let resources: Vec<String> =
                e.resources.iter().filter_map(|r| r.name.clone()).collect();
            Row {
                event_ref: e.event_ref.clone(),
                event_time: e.event_time.clone(),
                event_name: e.event_name.clone(),
                service: e
                    .event_source
                    .strip_suffix(".amazonaws.com")
                    .unwrap_or(&e.event_source)
                    .to_owned(),
                region: e.aws_region.clone().map(|r| regions.key(r)),
                principal,
                source_ip: e.source_ip.clone().map(|ip| source_ips.key(ip)),
                user_agent,
                read_only: e.read_only,
                error,
                request_parameters: e
                    .request_parameters
                    .as_deref()
                    .and_then(|p| row_parameters(p, &resources)),
                resources: resources
                    .into_iter()
                    .map(|r| resource_names.key(r))
                    .collect(),
            }
        })
        .collect();
    EventTable {
        columns: Columns,
        principals: principals.into_dictionary(),
        regions: regions.into_dictionary(),
        source_ips: source_ips.into_dictionary(),
        user_agents: user_agents.into_dictionary(),
        errors: errors.into_dictionary(),
        resources: resource_names.into_dictionary(),
        events: rows,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::project::{Principal, ResourceRef};

    fn event(id: &str, who: &str, error: Option<&str>) -> CompactEvent {
        CompactEvent {
            event_id: id.into(),
            event_ref: cloudtrail_contract::event_ref(id),
            event_time: "2026-11-23T10:00:00Z".into(),
            event_name: "DeleteBucket".into(),
            event_source: "s3.amazonaws.com".into(),
            aws_region: Some("us-east-1".into()),
            read_only: Some(false),
            principal: Principal {
                kind: Some("IAMUser".into()),
                arn: Some(format!("arn:aws:iam::123456789012:user/{who}")),
                name: Some(who.into()),
                account_id: Some("123456789012".into()),
            },
            access_key_id: Some("AKIAEXAMPLE".into()),
            source_ip: Some("203.0.113.10".into()),
            user_agent: Some("aws-cli/2.15.0".into()),
            error_code: error.map(str::to_owned),
            error_message: error.map(|_| "not allowed".to_owned()),
            resources: vec![ResourceRef {
                kind: Some("AWS::S3::Bucket".into()),
                name: Some("logs".into()),
            }],
            request_parameters: Some(format!(
                "{{\"bucketName\":\"logs\",\"acl\":\"{}\"}}",
                "x".repeat(200)
            )),
            response_elements: None,
        }
    }

    #[test]
    fn repeated_values_are_listed_once_and_referenced() {
        let table = table(&[
            event("1", "alice", None),
            event("2", "alice", Some("AccessDenied")),
            event("3", "bob", Some("AccessDenied")),
        ]);
        let json = serde_json::to_value(&table).unwrap();
        assert_eq!(json["principals"]["p1"]["name"], "alice");
        assert_eq!(json["principals"]["p2"]["name"], "bob");
        assert_eq!(json["user_agents"].as_object().unwrap().len(), 1);
        assert_eq!(json["errors"]["e1"]["code"], "AccessDenied");
        let rows = json["events"].as_array().unwrap();
        assert_eq!(rows[0][3], "s3");
        assert_eq!(rows[0][0], cloudtrail_contract::event_ref("1"));
        assert_eq!(rows[2][0], cloudtrail_contract::event_ref("3"));
        assert_eq!(rows[0][1], "2026-11-23T10:00:00Z");
        assert_eq!(rows[0][4], "r1");
        assert_eq!(json["regions"]["r1"], "us-east-1");
        assert_eq!(rows[0][6], "ip1");
        assert_eq!(json["source_ips"]["ip1"], "203.0.113.10");
        assert_eq!(rows[0][5], "p1");
        assert_eq!(rows[2][5], "p2");
        assert_eq!(rows[1][9], "e1");
        assert_eq!(rows[0][9], serde_json::Value::Null);
        assert_eq!(rows[0][10], serde_json::json!(["rs1"]));
        assert_eq!(rows[2][10], serde_json::json!(["rs1"]));
        assert_eq!(json["resources"], serde_json::json!({"rs1": "logs"}));
        let parameters = rows[0][11].as_str().unwrap();
        assert_eq!(parameters.chars().count(), ROW_REQUEST_CHARS + 1);
        assert!(parameters.starts_with("{\"acl\":\"xxx"), "{parameters}");
        assert!(json["principals"]["p1"].get("account_id").is_none());
        assert_eq!(
            json["columns"].as_array().unwrap().len(),
            rows[0].as_array().unwrap().len()
        );
    }

    #[test]
    fn parameters_that_only_name_resources_are_left_out() {
        let resources = ["logs".to_owned(), "i-0abc".to_owned()];
        let row = |p: Value| row_parameters(&p.to_string(), &resources);
        assert_eq!(row(json!({"bucketName": "logs"})), None);
        assert_eq!(
            row(json!({"instancesSet": {"items": [{"instanceId": "i-0abc"}]}, "filterSet": {}})),
            None
        );
        assert_eq!(
            row(json!({"instancesSet": {"items": [{"instanceId": "i-0abc"}]}, "force": false})),
            Some("{\"force\":false}".to_owned())
        );
        assert_eq!(
            row(json!({"bucketName": "other", "acl": null})),
            Some("{\"bucketName\":\"other\"}".to_owned())
        );
        // Cut by the projection: not JSON any more, only cut shorter.
        let cut = format!("{{\"policy\":\"{}…[cut 9 chars]", "p".repeat(40));
        let shown = row_parameters(&cut, &resources).unwrap();
        assert!(shown.starts_with("{\"policy\":\"ppp") && shown.ends_with('…'));
    }
}
