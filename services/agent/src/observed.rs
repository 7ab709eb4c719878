//! What a tool answer says, read loosely: the events it lists (with their refs), its window and
//! filter, its caps and omissions, and a summary's timeline and highlights. The follow-up
//! suggestions ([`crate::suggestions`]) and the report ([`crate::report`]) are built from this.
//!
//! Read from plain JSON by field and column *name* rather than through the contract's types, so
//! a card stored by an older or newer server (another column, a new field) still reads; what is
//! not there is simply absent. Tool output is untrusted: values are only ever copied as text.

use serde_json::Value;

/// One event a tool answer lists.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeenEvent {
    /// The short reference, when the answer carries one.
    pub event_ref: Option<String>,
    /// The full id (detailed events carry it; otherwise the card's `refs` map has it).
    pub event_id: Option<String>,
    pub time: String,
    pub action: String,
    /// Name, else ARN.
    pub principal: Option<String>,
    pub resources: Vec<String>,
    pub error: Option<String>,
    pub read_only: Option<bool>,
}

/// One bucket of a summary's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    pub start: String,
    pub read: u64,
    pub write: u64,
    pub failed: u64,
}

/// One server-computed highlight of a summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Highlight {
    pub kind: String,
    pub title: String,
    pub principal: Option<String>,
    pub count: u64,
    pub refs: Vec<String>,
}

/// What one tool answer says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// `(start, end)` as the answer echoes it.
    pub window: Option<(String, String)>,
    /// `(attribute_key, attribute_value)`.
    pub filter: Option<(String, String)>,
    pub events: Vec<SeenEvent>,
    /// Calls with an error code (a summary's count; for a page, those it lists).
    pub failed_events: u64,
    pub hit_cap: bool,
    pub truncated: bool,
    /// More pages exist (`next_cursor`).
    pub more_pages: bool,
    /// Listed lines left out (`write_actions_omitted + failures_omitted`).
    pub omitted: u64,
    pub note: Option<String>,
    /// The timeline's bucket size, and its buckets.
    pub bucket_seconds: Option<u64>,
    pub timeline: Vec<Bucket>,
    pub highlights: Vec<Highlight>,
    /// The regions the answer's events come from.
    pub regions: Vec<String>,
    /// The regions the answer says it searched (`searched_regions`; the LookupEvents source).
    pub searched_regions: Vec<String>,
}

fn text(value: Option<&Value>) -> Option<String> {
    value
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    // A detailed event's resources are `{type, name}` objects.
                    Value::Object(o) => text(o.get("name")),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

fn number(value: Option<&Value>) -> u64 {
    value.and_then(Value::as_u64).unwrap_or(0)
}

/// Reads a tool's answer text; `None` when it is not a JSON object (an error message, a note).
pub fn read(output: &str) -> Option<Observed> {
    let Value::Object(answer) = serde_json::from_str::<Value>(output).ok()? else {
        return None;
    };
    let mut seen = Observed {
        window: answer.get("window").and_then(|w| {
            Some((
                w.get("start")?.as_str()?.to_owned(),
                w.get("end")?.as_str()?.to_owned(),
            ))
        }),
        filter: answer.get("filter").and_then(|f| {
            Some((
                f.get("attribute_key")?.as_str()?.to_owned(),
                f.get("attribute_value")?.as_str()?.to_owned(),
            ))
        }),
        hit_cap: answer.get("hit_cap").and_then(Value::as_bool) == Some(true),
        truncated: answer.get("truncated").and_then(Value::as_bool) == Some(true),
        more_pages: answer.get("next_cursor").is_some_and(|c| !c.is_null()),
        omitted: number(answer.get("write_actions_omitted"))
            + number(answer.get("failures_omitted")),
        note: text(answer.get("note")),
        failed_events: number(answer.get("failed_events")),
        ..Observed::default()
    };
    if let Some(columns) = answer.get("columns").and_then(Value::as_array) {
        seen.events = table_rows(&answer, columns);
    } else if let Some(events) = answer.get("events").and_then(Value::as_array) {
        seen.events = events.iter().filter_map(detailed_event).collect();
    }
    for list in ["write_actions", "failures"] {
        for line in answer
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let mut event = action_line(line);
            if list == "write_actions" {
                event.read_only = Some(false);
            }
            // A failed write is in both lists: once is enough.
            if !seen.events.iter().any(|e| same_event(e, &event)) {
                seen.events.push(event);
            }
        }
    }
    if answer.get("failed_events").is_none() {
        seen.failed_events = seen.events.iter().filter(|e| e.error.is_some()).count() as u64;
    }
    if let Some(timeline) = answer.get("timeline") {
        seen.bucket_seconds = timeline.get("bucket_seconds").and_then(Value::as_u64);
        seen.timeline = timeline
            .get("buckets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|b| {
                Some(Bucket {
                    start: b.get("start")?.as_str()?.to_owned(),
                    read: number(b.get("read")),
                    write: number(b.get("write")),
                    failed: number(b.get("failed")),
                })
            })
            .collect();
    }
    let mut regions: Vec<String> = match answer.get("regions") {
        // A table's dictionary.
        Some(Value::Object(dictionary)) => {
            dictionary.values().filter_map(|v| text(Some(v))).collect()
        }
        // A summary's ranked list.
        Some(Value::Array(counts)) => counts.iter().filter_map(|c| text(c.get("key"))).collect(),
        _ => Vec::new(),
    };
    for event in answer
        .get("events")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(region) = text(event.get("aws_region")) {
            regions.push(region);
        }
    }
    regions.sort();
    regions.dedup();
    seen.regions = regions;
    seen.searched_regions = strings(answer.get("searched_regions"));
    seen.highlights = answer
        .get("highlights")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|h| {
            Some(Highlight {
                kind: h.get("kind")?.as_str()?.to_owned(),
                title: text(h.get("title")).unwrap_or_default(),
                principal: text(h.get("principal")),
                count: number(h.get("count")),
                refs: strings(h.get("refs")),
            })
        })
        .collect();
    Some(seen)
}

fn same_event(a: &SeenEvent, b: &SeenEvent) -> bool {
    match (&a.event_ref, &b.event_ref) {
        (Some(x), Some(y)) => x == y,
        _ => a.time == b.time && a.action == b.action && a.principal == b.principal,
    }
}

/// The rows of a compact table, their dictionary keys resolved.
fn table_rows(answer: &serde_json::Map<String, Value>, columns: &[Value]) -> Vec<SeenEvent> {
    let at = |name: &str| columns.iter().position(|c| c.as_str() == Some(name));
    let dictionary = |name: &str, key: Option<&Value>| {
        let key = key?.as_str()?;
        answer.get(name)?.get(key)
    };
    let rows = answer.get("events").and_then(Value::as_array);
    rows.into_iter()
        .flatten()
        .filter_map(Value::as_array)
        .map(|row| {
            let cell = |name: &str| at(name).and_then(|i| row.get(i));
            let principal = dictionary("principals", cell("principal"))
                .and_then(|p| text(p.get("name")).or_else(|| text(p.get("arn"))))
                .or_else(|| text(cell("principal")));
            let error = dictionary("errors", cell("error"))
                .and_then(|e| text(e.get("code")))
                .or_else(|| text(cell("error")));
            SeenEvent {
                event_ref: text(cell("ref")),
                event_id: None,
                time: text(cell("event_time")).unwrap_or_default(),
                action: text(cell("event_name")).unwrap_or_default(),
                principal,
                // Keys into the `resources` dictionary; a key it does not list stays as it is.
                resources: strings(cell("resources"))
                    .into_iter()
                    .map(|key| {
                        let name = answer.get("resources").and_then(|d| text(d.get(&key)));
                        name.unwrap_or(key)
                    })
                    .collect(),
                error,
                read_only: cell("read_only").and_then(Value::as_bool),
            }
        })
        .collect()
}

fn detailed_event(event: &Value) -> Option<SeenEvent> {
    let principal = event.get("principal");
    Some(SeenEvent {
        event_ref: text(event.get("ref")),
        event_id: text(event.get("event_id")),
        time: text(event.get("event_time"))?,
        action: text(event.get("event_name")).unwrap_or_default(),
        principal: principal
            .and_then(|p| text(p.get("name")).or_else(|| text(p.get("arn"))))
            .or_else(|| text(principal)),
        resources: strings(event.get("resources")),
        error: text(event.get("error_code")),
        read_only: event.get("read_only").and_then(Value::as_bool),
    })
}

fn action_line(line: &Value) -> SeenEvent {
    SeenEvent {
        event_ref: text(line.get("ref")),
        event_id: None,
        time: text(line.get("event_time")).unwrap_or_default(),
        action: text(line.get("event_name")).unwrap_or_default(),
        principal: text(line.get("principal")),
        resources: strings(line.get("resources")),
        error: text(line.get("error_code")),
        // A failure may be a read or a write: the line does not say (write actions are marked by
        // their list).
        read_only: None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_table_reads_by_column_name_with_dictionaries_resolved() {
        let page = json!({"window": {"start": "2026-11-23T00:00:00Z", "end": "2026-11-24T00:00:00Z"},
            "filter": {"attribute_key": "Username", "attribute_value": "alice"},
            "columns": ["ref", "event_time", "event_name", "service", "region", "principal",
                        "source_ip", "user_agent", "read_only", "error", "resources",
                        "request_parameters"],
            "principals": {"p1": {"type": "IAMUser", "name": "alice"}},
            "errors": {"e1": {"code": "AccessDenied"}},
            "resources": {"rs1": "alice-reports"},
            "events": [["1a2b3c4d", "2026-11-23T09:12:03Z", "CreateBucket", "s3", null, "p1",
                        null, null, false, "e1", ["rs1"], null]],
            "returned": 1, "next_cursor": "abc", "truncated": false});
        let seen = read(&page.to_string()).unwrap();
        assert_eq!(seen.filter, Some(("Username".into(), "alice".into())));
        assert!(seen.more_pages);
        assert_eq!(
            seen.events,
            [SeenEvent {
                event_ref: Some("1a2b3c4d".into()),
                event_id: None,
                time: "2026-11-23T09:12:03Z".into(),
                action: "CreateBucket".into(),
                principal: Some("alice".into()),
                resources: vec!["alice-reports".into()],
                error: Some("AccessDenied".into()),
                read_only: Some(false),
            }]
        );
        assert_eq!(seen.failed_events, 1);
    }

    #[test]
    fn a_summary_gives_its_lines_timeline_and_highlights() {
        let line = |r: &str, name: &str, error: Option<&str>| {
            json!({"ref": r, "event_time": "2026-11-23T09:00:00Z", "event_name": name,
                   "event_source": "s3.amazonaws.com", "principal": "bob", "error_code": error,
                   "resources": ["b1"]})
        };
        let summary = json!({"window": {"start": "a", "end": "b"}, "filter": null,
            "hit_cap": true, "failed_events": 7, "truncated": false,
            "write_actions": [line("00000001", "DeleteBucket", Some("AccessDenied"))],
            "failures": [line("00000001", "DeleteBucket", Some("AccessDenied")),
                         line("00000002", "GetObject", Some("AccessDenied"))],
            "write_actions_omitted": 3, "failures_omitted": 2,
            "timeline": {"bucket_seconds": 3600, "buckets": [
                {"start": "2026-11-23T09:00:00Z", "read": 5, "write": 1, "failed": 2}]},
            "highlights": [{"kind": "deletion", "title": "Deletions", "principal": "bob",
                            "count": 1, "refs": ["00000001"]}]});
        let seen = read(&summary.to_string()).unwrap();
        assert_eq!(seen.events.len(), 2, "the failed write is listed once");
        assert_eq!(seen.failed_events, 7);
        assert_eq!(seen.omitted, 5);
        assert!(seen.hit_cap && seen.filter.is_none());
        assert_eq!(seen.bucket_seconds, Some(3600));
        assert_eq!(seen.timeline[0].failed, 2);
        assert_eq!(seen.highlights[0].refs, ["00000001"]);
    }

    #[test]
    fn detailed_events_and_non_json_answers() {
        let page = json!({"events": [{"event_id": "id-1", "ref": "0000abcd",
            "event_time": "t", "event_name": "ConsoleLogin",
            "principal": {"type": "Root", "arn": "arn:aws:iam::1:root", "name": null},
            "error_code": null, "resources": [{"type": "x", "name": "r"}]}]});
        let seen = read(&page.to_string()).unwrap();
        assert_eq!(seen.events[0].event_id.as_deref(), Some("id-1"));
        assert_eq!(
            seen.events[0].principal.as_deref(),
            Some("arn:aws:iam::1:root")
        );
        assert_eq!(seen.events[0].resources, ["r"]);
        assert_eq!(read("the tool failed: <b>no</b>"), None);
    }
}
