//! Result rows of the athena source's queries back into the source types: an event row
//! ([`sql::EVENT_COLUMNS`]) into a [`RawEvent`] with its CloudTrail record rebuilt from the
//! table's columns, and summary rows ([`sql::SUMMARY_HEAD`]) into [`Aggregates`].
//!
//! The record is rebuilt with CloudTrail's own field names, so the readings every source shares
//! ([`crate::record`]) see the same record whether it came from a file or from a table row. The
//! table keeps `requestParameters`, `responseElements` and `additionalEventData` as JSON text;
//! they are parsed back here. Fields the table does not have (`sessionContext`, `tlsDetails`)
//! are absent from the rebuilt record.

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::sql::{EVENT_COLUMNS, SUMMARY_HEAD};
use crate::record;
use crate::source::{Aggregates, Group, RawEvent, Resource};

/// One result row: a value (or null) per column.
pub type Row = Vec<Option<String>>;

/// Why a row could not be read (the engine returned something the query cannot produce).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an Athena result row is not what the query selects: {0}")]
pub struct BadRow(pub String);

fn column(row: &Row, offset: usize, name: &str) -> Option<String> {
    let index = EVENT_COLUMNS.iter().position(|c| *c == name)?;
    row.get(offset + index).cloned().flatten()
}

/// The event of a row whose event columns start at `offset`.
pub fn event(row: &Row, offset: usize) -> Result<RawEvent, BadRow> {
    if row.len() != offset + EVENT_COLUMNS.len() {
        return Err(BadRow(format!(
            "{} columns, expected {}",
            row.len(),
            offset + EVENT_COLUMNS.len()
        )));
    }
    let text = |name: &str| column(row, offset, name);
    let id = text("eventid").ok_or_else(|| BadRow("no eventid".into()))?;
    let time: Timestamp = text("eventtime")
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| BadRow(format!("event {id} has no valid eventtime")))?;
    let mut record = Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            record.insert(key.to_owned(), value);
        }
    };
    let string = |name: &str| text(name).map(Value::String);
    let json =
        |name: &str| text(name).map(|t| serde_json::from_str(&t).unwrap_or(Value::String(t)));
    put("eventVersion", string("eventversion"));
    let mut identity = Map::new();
    for (key, name) in [
        ("type", "ui_type"),
        ("principalId", "ui_principalid"),
        ("arn", "ui_arn"),
        ("accountId", "ui_accountid"),
        ("invokedBy", "ui_invokedby"),
        ("accessKeyId", "ui_accesskeyid"),
        ("userName", "ui_username"),
    ] {
        if let Some(value) = text(name) {
            identity.insert(key.to_owned(), Value::String(value));
        }
    }
    if !identity.is_empty() {
        put("userIdentity", Some(Value::Object(identity)));
    }
    put("eventTime", string("eventtime"));
    put("eventSource", string("eventsource"));
    put("eventName", string("eventname"));
    put("awsRegion", string("awsregion"));
    put("sourceIPAddress", string("sourceipaddress"));
    put("userAgent", string("useragent"));
    put("errorCode", string("errorcode"));
    put("errorMessage", string("errormessage"));
    put("requestParameters", json("requestparameters"));
    put("responseElements", json("responseelements"));
    put("additionalEventData", json("additionaleventdata"));
    put("requestID", string("requestid"));
    put("eventID", string("eventid"));
    put(
        "readOnly",
        text("readonly").map(|r| match r.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(r),
        }),
    );
    put("resources", resources(text("res_arns"), text("res_types")));
    put("eventType", string("eventtype"));
    put("recipientAccountId", string("recipientaccountid"));
    let record = Value::Object(record);
    Ok(RawEvent {
        event_id: id,
        event_time: time,
        event_name: text("eventname").unwrap_or_default(),
        event_source: text("eventsource").unwrap_or_default(),
        username: record::username(&record),
        access_key_id: record::access_key_id(&record),
        read_only: record::read_only(&record),
        resources: record::resources(&record)
            .into_iter()
            .map(|(kind, name)| Resource {
                resource_type: Some(kind),
                resource_name: Some(name),
            })
            .collect(),
        record: record.to_string(),
    })
}

/// The record's `resources` from the two JSON arrays the query selects.
fn resources(arns: Option<String>, types: Option<String>) -> Option<Value> {
    let list = |text: Option<String>| -> Vec<Value> {
        text.and_then(|t| serde_json::from_str::<Vec<Value>>(&t).ok())
            .unwrap_or_default()
    };
    let (arns, types) = (list(arns), list(types));
    if arns.is_empty() {
        return None;
    }
    let items = arns
        .into_iter()
        .enumerate()
        .map(|(i, arn)| {
            let mut item = Map::new();
            if !arn.is_null() {
                item.insert("ARN".into(), arn);
            }
            if let Some(kind) = types.get(i).filter(|t| !t.is_null()) {
                item.insert("type".into(), kind.clone());
            }
            Value::Object(item)
        })
        .collect();
    Some(Value::Array(items))
}

/// The aggregates of a summary's rows.
pub fn aggregates(rows: &[Row]) -> Result<Aggregates, BadRow> {
    let head = SUMMARY_HEAD.len();
    let mut out = Aggregates::default();
    for row in rows {
        let at = |i: usize| row.get(i).cloned().flatten();
        let count = || -> Result<u64, BadRow> {
            at(1)
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| BadRow("a summary row without its count".into()))
        };
        match at(0).as_deref() {
            Some("g") => {
                let text = |name: &str| column(row, head, name);
                let time = |i: usize| -> Result<Timestamp, BadRow> {
                    at(i)
                        .and_then(|t| t.parse().ok())
                        .ok_or_else(|| BadRow("a group without its first/last time".into()))
                };
                out.groups.push(Group {
                    event_source: text("eventsource").unwrap_or_default(),
                    event_name: text("eventname").unwrap_or_default(),
                    error_code: text("errorcode"),
                    principal: at(4),
                    region: text("awsregion"),
                    source_ip: text("sourceipaddress"),
                    read_only: text("readonly").and_then(|r| r.parse().ok()),
                    count: count()?,
                    first: time(2)?,
                    last: time(3)?,
                });
            }
            Some("r") => {
                let name = at(5).ok_or_else(|| BadRow("a resource row without a name".into()))?;
                out.resources.push((name, count()?));
            }
            Some("e") => {
                let event = event(row, head)?;
                // An event both written and failed comes in both lists: keep it once.
                if !out.latest.iter().any(|e| e.event_id == event.event_id) {
                    out.latest.push(event);
                }
            }
            other => return Err(BadRow(format!("unknown summary row kind {other:?}"))),
        }
    }
    // Newest first, as a scan would meet them.
    out.latest
        .sort_by(|a, b| (b.event_time, &b.event_id).cmp(&(a.event_time, &a.event_id)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A row as the table would hold `record`, the way the stand-in and Athena flatten it.
    fn row_of(record: &Value) -> Row {
        let s = |v: &Value| v.as_str().map(str::to_owned);
        let json_text = |v: &Value| (!v.is_null()).then(|| v.to_string());
        let ui = &record["userIdentity"];
        let list = |key: &str| {
            record["resources"].as_array().map(|items| {
                Value::Array(items.iter().map(|i| i[key].clone()).collect()).to_string()
            })
        };
        vec![
            s(&record["eventID"]),
            s(&record["eventTime"]),
            s(&record["eventSource"]),
            s(&record["eventName"]),
            s(&record["awsRegion"]),
            s(&record["sourceIPAddress"]),
            s(&record["userAgent"]),
            s(&record["errorCode"]),
            s(&record["errorMessage"]),
            record["readOnly"].as_bool().map(|b| b.to_string()),
            json_text(&record["requestParameters"]),
            json_text(&record["responseElements"]),
            json_text(&record["additionalEventData"]),
            s(&record["requestID"]),
            s(&record["eventType"]),
            s(&record["recipientAccountId"]),
            s(&record["eventVersion"]),
            s(&ui["type"]),
            s(&ui["principalId"]),
            s(&ui["arn"]),
            s(&ui["accountId"]),
            s(&ui["invokedBy"]),
            s(&ui["accessKeyId"]),
            s(&ui["userName"]),
            list("ARN"),
            list("type"),
        ]
    }

    #[test]
    fn a_row_rebuilds_the_record_the_shared_readings_need() {
        let record = json!({"eventVersion": "1.09", "eventID": "e-1", "eventTime": "2026-11-23T23:58:00Z",
            "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances", "awsRegion": "eu-west-1",
            "sourceIPAddress": "203.0.113.9", "userAgent": "aws-cli/2.15.0", "readOnly": false,
            "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/ops/carol",
                             "accountId": "111111111111", "accessKeyId": "ASIA1"},
            "requestParameters": {"instancesSet": {"items": [{"imageId": "ami-1"}]}},
            "responseElements": {"instancesSet": {"items": [{"instanceId": "i-0abc"}]}},
            "resources": [{"ARN": "arn:aws:ec2:eu-west-1:1:instance/i-0abc", "type": "AWS::EC2::Instance"}],
            "eventType": "AwsApiCall", "recipientAccountId": "111111111111"});
        let event = event(&row_of(&record), 0).unwrap();
        assert_eq!(event.username.as_deref(), Some("carol"));
        assert_eq!(event.access_key_id.as_deref(), Some("ASIA1"));
        assert_eq!(event.read_only, Some(false));
        assert_eq!(event.resources.len(), 1);
        assert_eq!(event.resources[0].resource_name.as_deref(), Some("i-0abc"));
        let rebuilt: Value = serde_json::from_str(&event.record).unwrap();
        assert_eq!(rebuilt["requestParameters"], record["requestParameters"]);
        assert_eq!(rebuilt["userIdentity"], record["userIdentity"]);
        assert_eq!(
            rebuilt["resources"][0]["ARN"],
            record["resources"][0]["ARN"]
        );
        let err = super::event(&vec![None; 3], 0).unwrap_err();
        assert!(err.to_string().contains("3 columns"), "{err}");
    }

    #[test]
    fn summary_rows_become_groups_resources_and_newest_first_events() {
        let mut group: Row = vec![None; SUMMARY_HEAD.len() + EVENT_COLUMNS.len()];
        group[0] = Some("g".into());
        group[1] = Some("3".into());
        group[2] = Some("2026-11-23T01:00:00Z".into());
        group[3] = Some("2026-11-23T02:00:00Z".into());
        group[4] = Some("alice".into());
        group[6 + 2] = Some("s3.amazonaws.com".into());
        group[6 + 9] = Some("true".into());
        let mut resource: Row = vec![None; group.len()];
        resource[0] = Some("r".into());
        resource[1] = Some("2".into());
        resource[5] = Some("bucket".into());
        let listed = |id: &str, time: &str| {
            let mut row: Row = vec![Some("e".into()), None, None, None, None, None];
            row.extend(row_of(&json!({"eventID": id, "eventTime": time})));
            row
        };
        let rows = [
            group,
            resource,
            listed("a", "2026-11-23T01:00:00Z"),
            listed("b", "2026-11-23T02:00:00Z"),
            listed("a", "2026-11-23T01:00:00Z"),
        ];
        let a = aggregates(&rows).unwrap();
        assert_eq!(a.groups[0].count, 3);
        assert_eq!(a.groups[0].read_only, Some(true));
        assert_eq!(a.groups[0].principal.as_deref(), Some("alice"));
        assert_eq!(a.resources, [("bucket".to_owned(), 2)]);
        let ids: Vec<&str> = a.latest.iter().map(|e| e.event_id.as_str()).collect();
        assert_eq!(ids, ["b", "a"]);
    }
}
