//! The answer of `lookup_events`: one page of events, as a table by default or as whole
//! [`CompactEvent`] objects with `detail: true`.
//!
//! In the table each event is one [`Row`] of [`COLUMNS`]; values that repeat across events
//! (principals with their ARN and access key, regions, source IPs, user agents, errors with
//! their message, resource names such as a KMS key's ARN) are listed once in dictionaries and
//! referenced by key from the rows.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::event::CompactEvent;
use crate::selection::{Filter, Window};

/// The columns of every row, in order.
pub const COLUMNS: [&str; 12] = [
    "ref",
    "event_time",
    "event_name",
    "service",
    "region",
    "principal",
    "source_ip",
    "user_agent",
    "read_only",
    "error",
    "resources",
    "request_parameters",
];

/// The `columns` of a table: always [`COLUMNS`]. A table with other columns does not parse, so
/// a reader never takes one column for another.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Columns;

impl Serialize for Columns {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        COLUMNS.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Columns {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let got = Vec::<String>::deserialize(deserializer)?;
        if got.iter().map(String::as_str).eq(COLUMNS) {
            Ok(Columns)
        } else {
            Err(D::Error::custom(format!(
                "unexpected table columns {got:?}; this reader knows {COLUMNS:?}"
            )))
        }
    }
}

/// A principal as listed once in the `principals` dictionary.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PrincipalEntry {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// Listed only when there is no ARN (the ARN holds the account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
}

/// An error as listed once in the `errors` dictionary.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ErrorEntry {
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One event of a table. On the wire it is a JSON array in the order of [`COLUMNS`];
/// `region`, `principal`, `source_ip`, `user_agent`, `error` and each of `resources` are
/// dictionary keys.
/// `request_parameters` is null when the parameters only name resources already listed in
/// `resources` (`{"bucketName": "logs"}` beside `["logs"]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "RowArray", into = "RowArray")]
pub struct Row {
    /// The event's reference ([`crate::evidence::event_ref`]); the result's `_meta` maps it to
    /// the full event id.
    pub event_ref: String,
    pub event_time: String,
    pub event_name: String,
    /// The event source without `.amazonaws.com` (`s3`).
    pub service: String,
    pub region: Option<String>,
    pub principal: String,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub read_only: Option<bool>,
    pub error: Option<String>,
    /// Keys into the `resources` dictionary.
    pub resources: Vec<String>,
    /// Cut short; `detail: true` gives them whole.
    pub request_parameters: Option<String>,
}

/// A [`Row`] as the array it is on the wire.
type RowArray = (
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<bool>,
    Option<String>,
    Vec<String>,
    Option<String>,
);

impl From<RowArray> for Row {
    fn from(a: RowArray) -> Self {
        Self {
            event_ref: a.0,
            event_time: a.1,
            event_name: a.2,
            service: a.3,
            region: a.4,
            principal: a.5,
            source_ip: a.6,
            user_agent: a.7,
            read_only: a.8,
            error: a.9,
            resources: a.10,
            request_parameters: a.11,
        }
    }
}

impl From<Row> for RowArray {
    fn from(r: Row) -> Self {
        (
            r.event_ref,
            r.event_time,
            r.event_name,
            r.service,
            r.region,
            r.principal,
            r.source_ip,
            r.user_agent,
            r.read_only,
            r.error,
            r.resources,
            r.request_parameters,
        )
    }
}

/// A page of events as a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventTable {
    pub columns: Columns,
    pub principals: BTreeMap<String, PrincipalEntry>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub regions: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub source_ips: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user_agents: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<String, ErrorEntry>,
    /// Resource names (bucket names, instance ids, ARNs), each listed once: AWS services' calls
    /// repeat the same long ARN in row after row.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resources: BTreeMap<String, String>,
    pub events: Vec<Row>,
}

/// A row of a table with its dictionary keys replaced by their entries.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpandedRow {
    pub event_ref: String,
    pub event_time: String,
    pub event_name: String,
    pub service: String,
    pub region: Option<String>,
    pub principal: PrincipalEntry,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub read_only: Option<bool>,
    pub error: Option<ErrorEntry>,
    pub resources: Vec<String>,
    pub request_parameters: Option<String>,
}

/// Why a table cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// A row refers to a key its dictionary does not list (a renamed or missing dictionary).
    #[error("row {row} refers to `{key}`, which the `{dictionary}` dictionary does not list")]
    UnknownKey {
        row: usize,
        dictionary: &'static str,
        key: String,
    },
}

fn entry<T: Clone>(
    dictionary: &BTreeMap<String, T>,
    name: &'static str,
    row: usize,
    key: &str,
) -> Result<T, TableError> {
    dictionary
        .get(key)
        .cloned()
        .ok_or_else(|| TableError::UnknownKey {
            row,
            dictionary: name,
            key: key.to_owned(),
        })
}

impl EventTable {
    /// Every row with its dictionary entries, or the first key no dictionary lists.
    pub fn expand(&self) -> Result<Vec<ExpandedRow>, TableError> {
        self.events
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let optional = |dictionary, name, key: &Option<String>| {
                    key.as_deref()
                        .map(|k| entry(dictionary, name, i, k))
                        .transpose()
                };
                Ok(ExpandedRow {
                    event_ref: row.event_ref.clone(),
                    event_time: row.event_time.clone(),
                    event_name: row.event_name.clone(),
                    service: row.service.clone(),
                    region: optional(&self.regions, "regions", &row.region)?,
                    principal: entry(&self.principals, "principals", i, &row.principal)?,
                    source_ip: optional(&self.source_ips, "source_ips", &row.source_ip)?,
                    user_agent: optional(&self.user_agents, "user_agents", &row.user_agent)?,
                    read_only: row.read_only,
                    error: row
                        .error
                        .as_deref()
                        .map(|k| entry(&self.errors, "errors", i, k))
                        .transpose()?,
                    resources: row
                        .resources
                        .iter()
                        .map(|k| entry(&self.resources, "resources", i, k))
                        .collect::<Result<_, _>>()?,
                    request_parameters: row.request_parameters.clone(),
                })
            })
            .collect()
    }
}

/// The events of a detailed page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetailedEvents {
    pub events: Vec<CompactEvent>,
}

/// The events of a page: a table by default, whole objects with `detail: true`. On the wire
/// their fields sit beside the page's own (`window`, `returned`...); a table is the one with
/// `columns`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Events {
    Table(Box<EventTable>),
    Detailed(DetailedEvents),
}

impl<'de> Deserialize<'de> for Events {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Decided by `columns` rather than by trying both shapes (serde's untagged), so a
        // broken table reports what is wrong with it instead of "matched no variant".
        let value = serde_json::Value::deserialize(deserializer)?;
        if value.get("columns").is_some() {
            serde_json::from_value(value)
                .map(|table| Events::Table(Box::new(table)))
                .map_err(D::Error::custom)
        } else {
            serde_json::from_value(value)
                .map(Events::Detailed)
                .map_err(D::Error::custom)
        }
    }
}

impl Events {
    /// How many events the page holds.
    pub fn len(&self) -> usize {
        match self {
            Events::Table(table) => table.events.len(),
            Events::Detailed(detailed) => detailed.events.len(),
        }
    }

    /// Whether the page holds no events.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The answer of `lookup_events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LookupAnswer {
    pub window: Window,
    pub filter: Option<Filter>,
    #[serde(flatten)]
    pub events: Events,
    /// How many events this page holds.
    pub returned: usize,
    /// Pass alone to get the next page; `null` when this was the last.
    pub next_cursor: Option<String>,
    /// Events were left out to fit the byte budget (`note` says how many).
    pub truncated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The Athena queries behind this answer (sources that query Athena only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<crate::usage::QueryUsage>,
    /// The regions this answer searched, sorted (the LookupEvents API source, which queries
    /// each region separately; other sources leave it out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub searched_regions: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// The example of docs/interfaces.md.
    fn documented_table() -> Value {
        json!({"window": {"start": "2026-11-23T00:00:00Z", "end": "2026-11-24T00:00:00Z"},
         "filter": {"attribute_key": "Username", "attribute_value": "alice"},
         "columns": ["ref", "event_time", "event_name", "service", "region", "principal", "source_ip",
                     "user_agent", "read_only", "error", "resources", "request_parameters"],
         "principals": {"p1": {"type": "IAMUser", "name": "alice",
                               "arn": "arn:aws:iam::123456789012:user/alice", "access_key_id": "AKIA..."}},
         "regions": {"r1": "ap-northeast-1"}, "source_ips": {"ip1": "203.0.113.10"},
         "user_agents": {"u1": "aws-cli/2.15.0"},
         "errors": {"e1": {"code": "AccessDenied", "message": "User: arn:aws:iam::... is not authorized"}},
         "resources": {"rs1": "alice-reports"},
         "events": [["1a2b3c4d", "2026-11-23T09:12:03Z", "CreateBucket", "s3", "r1", "p1", "ip1", "u1", false,
                     "e1", ["rs1"], "{\"acl\":\"private\"}"]],
         "returned": 1, "next_cursor": null, "truncated": false})
    }

    #[test]
    fn the_documented_table_reads_expands_and_writes_back_unchanged() {
        let answer: LookupAnswer = serde_json::from_value(documented_table()).unwrap();
        assert_eq!(answer.returned, 1);
        assert_eq!(
            answer.filter.as_ref().map(|f| f.attribute_value.as_str()),
            Some("alice")
        );
        let Events::Table(table) = &answer.events else {
            panic!("a table: {answer:?}")
        };
        let rows = table.expand().unwrap();
        assert_eq!(rows[0].principal.name.as_deref(), Some("alice"));
        assert_eq!(rows[0].region.as_deref(), Some("ap-northeast-1"));
        assert_eq!(rows[0].source_ip.as_deref(), Some("203.0.113.10"));
        assert_eq!(rows[0].error.as_ref().unwrap().code, "AccessDenied");
        assert_eq!(rows[0].resources, ["alice-reports"]);
        assert_eq!(rows[0].event_ref, "1a2b3c4d");
        assert_eq!(serde_json::to_value(&answer).unwrap(), documented_table());
    }

    #[test]
    fn searched_regions_are_read_and_written_only_when_listed() {
        let answer: LookupAnswer = serde_json::from_value(documented_table()).unwrap();
        assert_eq!(answer.searched_regions, None);
        let mut listed = documented_table();
        listed["searched_regions"] = json!(["ap-northeast-1", "us-east-1"]);
        let answer: LookupAnswer = serde_json::from_value(listed.clone()).unwrap();
        assert_eq!(
            answer.searched_regions.as_deref(),
            Some(&["ap-northeast-1".to_owned(), "us-east-1".to_owned()][..])
        );
        assert_eq!(serde_json::to_value(&answer).unwrap(), listed);
    }

    #[test]
    fn a_renamed_dictionary_or_column_is_an_error_not_a_default() {
        let mut renamed = documented_table();
        let ips = renamed
            .as_object_mut()
            .unwrap()
            .remove("source_ips")
            .unwrap();
        renamed["ips"] = ips;
        let answer: LookupAnswer = serde_json::from_value(renamed).unwrap();
        let Events::Table(table) = answer.events else {
            panic!("a table")
        };
        assert_eq!(
            table.expand().unwrap_err().to_string(),
            "row 0 refers to `ip1`, which the `source_ips` dictionary does not list"
        );
        let mut resource = documented_table();
        resource["events"][0][10] = json!(["alice-reports"]);
        let answer: LookupAnswer = serde_json::from_value(resource).unwrap();
        let Events::Table(table) = answer.events else {
            panic!("a table")
        };
        assert_eq!(
            table.expand().unwrap_err().to_string(),
            "row 0 refers to `alice-reports`, which the `resources` dictionary does not list"
        );
        let mut column = documented_table();
        column["columns"][6] = json!("ip");
        let error = serde_json::from_value::<LookupAnswer>(column).unwrap_err();
        assert!(
            error.to_string().contains("unexpected table columns"),
            "{error}"
        );
        let mut short = documented_table();
        short["events"][0].as_array_mut().unwrap().pop();
        assert!(serde_json::from_value::<LookupAnswer>(short).is_err());
    }

    #[test]
    fn a_detailed_page_reads_as_objects() {
        let page = json!({"window": {"start": "a", "end": "b"}, "filter": null,
            "events": [{"event_id": "e1", "ref": "8b5cc4df", "event_time": "2026-11-23T09:12:03Z",
                "event_name": "DeleteBucket", "event_source": "s3.amazonaws.com",
                "aws_region": null, "read_only": false,
                "principal": {"type": null, "arn": null, "name": "bob", "account_id": null},
                "access_key_id": null, "source_ip": null, "user_agent": null,
                "error_code": null, "error_message": null, "resources": [],
                "request_parameters": null}],
            "returned": 1, "next_cursor": "c", "truncated": false});
        let answer: LookupAnswer = serde_json::from_value(page.clone()).unwrap();
        let Events::Detailed(detailed) = &answer.events else {
            panic!("detailed")
        };
        assert_eq!(detailed.events[0].principal.name.as_deref(), Some("bob"));
        assert_eq!(answer.events.len(), 1);
        assert_eq!(serde_json::to_value(&answer).unwrap(), page);
    }
}
