//! The summary statement of the athena source: a whole `summarize_activity` in one query that
//! reads the trail table once.
//!
//! Why once matters: Athena (Trino) plans a `WITH` query at every reference, so a statement
//! whose parts each select from a shared `events` CTE (a `UNION ALL` of the groups, the
//! resources and the two listings) scans the trail's S3 files once per part and is billed for
//! each scan. Here every CTE is referenced exactly once, and the parts come out of one
//! aggregation instead:
//!
//! 1. `events` (the de-duplicated events of the scan, [`super::events_cte`]) is unnested with
//!    `concat(ARRAY[NULL, NULL], resource_names) WITH ORDINALITY`: slot 1 is the event's
//!    group row, slot 2 its listing row, slots 3.. one row per distinct resource name (so an
//!    event without resources keeps its rows, and a name counts once per event).
//! 2. One `GROUP BY kind, <group keys>, resource`, the keys nulled outside their kind: `g`
//!    groups by principal, [`GROUP_FIELDS`] and the timeline bucket (count, first, last), `r`
//!    by resource name (count), `e` is one group whose `max_by(event, newest, n)` keep the
//!    newest `writes` write events and `failures` failed events.
//! 3. The outer `SELECT` reads that aggregate once: a `row_number()` over the `r` groups keeps
//!    the top `top` names, and `UNNEST` turns the two listings into `e` rows.

use super::{EVENT_COLUMNS, Scan, Sql, Statement, resource_names};
use super::{PRINCIPAL, events_cte};

/// The columns of a summary row: `kind` (`g` group, `r` resource, `e` listed event), `n`,
/// `first`, `last`, `principal`, `resource`, then [`EVENT_COLUMNS`].
pub const SUMMARY_HEAD: [&str; 6] = ["kind", "n", "first", "last", "principal", "resource"];

/// The fields a group row keeps of [`EVENT_COLUMNS`].
const GROUP_FIELDS: [&str; 6] = [
    "eventsource",
    "eventname",
    "errorcode",
    "awsregion",
    "sourceipaddress",
    "readonly",
];

/// No listed events (`max_by`'s `n` must be positive).
const NO_EVENTS: &str = "CAST(NULL AS ARRAY(ARRAY(VARCHAR)))";

/// The largest `n` Trino's `max_by(x, y, n)` takes.
const MAX_BY_LIMIT: usize = 10_000;

/// `max_by(event, newest, limit) FILTER (WHERE kind = 'e' AND condition)`: the newest `limit`
/// listing rows meeting `condition`.
fn newest(limit: usize, condition: &str) -> String {
    if limit == 0 {
        return NO_EVENTS.to_owned();
    }
    let limit = limit.min(MAX_BY_LIMIT);
    format!("max_by(event, newest, {limit}) FILTER (WHERE kind = 'e' AND {condition})")
}

/// A whole summary in one statement that reads the table once: the counts grouped by every
/// field a summary counts by and by the timeline's bucket of `bucket_seconds` (buckets start at
/// multiples of their size since the epoch, as [`crate::timeline`] cuts them), the `top`
/// resource names (each counted once per event), and the newest `writes` write events and
/// `failures` failed events, as rows of [`SUMMARY_HEAD`] + [`EVENT_COLUMNS`].
pub fn summary(
    scan: &Scan<'_>,
    bucket_seconds: u64,
    top: usize,
    writes: usize,
    failures: usize,
) -> Statement {
    let mut q = Sql::new();
    let extra = format!(
        ", {PRINCIPAL} AS principal, array_distinct({}) AS resource_names",
        resource_names()
    );
    events_cte(&mut q, scan, &extra);

    // 1. One row per event and slot; each kind keeps only its own keys.
    let keys: Vec<String> = std::iter::once("principal")
        .chain(GROUP_FIELDS)
        .map(|c| format!("CASE WHEN slot = 1 THEN {c} END AS {c}"))
        .collect();
    q.push(", keyed AS (SELECT CASE slot WHEN 1 THEN 'g' WHEN 2 THEN 'e' ELSE 'r' END AS kind, ")
        .push(&keys.join(", "))
        // A number the server computed, not a value from the caller.
        .push(&format!(
            ", CASE WHEN slot = 1 THEN floor(to_unixtime(from_iso8601_timestamp(eventtime)) / {}) END AS bucket",
            bucket_seconds.max(1)
        ))
        .push(", resource, eventtime, ")
        // The listing row carries the whole event, and a key that orders as (eventtime, eventid)
        // does: CloudTrail's event times are all of one width.
        .push("CASE WHEN slot = 2 THEN ARRAY[")
        .push(&EVENT_COLUMNS.join(", "))
        .push("] END AS event, CASE WHEN slot = 2 THEN concat(eventtime, eventid) END AS newest, ")
        .push("readonly IS DISTINCT FROM 'true' AS written, errorcode IS NOT NULL AS failed ")
        .push("FROM events CROSS JOIN UNNEST(concat(ARRAY[CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR)], resource_names)) WITH ORDINALITY AS u(resource, slot))");

    // 2. One aggregation. What it costs Athena beyond the scan: each event enters it 2 + its
    // resource names times; the `e` rows all go to one group, where partial aggregation keeps
    // at most `writes` + `failures` events per worker (a bounded heap, no sort and no group per
    // event), each listing row having built one 26-element array in the projection. The other
    // groups hold no heap: Trino's max_by makes its heap on the first row its FILTER lets in.
    let group_keys = std::iter::once("kind")
        .chain(std::iter::once("principal"))
        .chain(GROUP_FIELDS)
        .chain(["bucket", "resource"])
        .collect::<Vec<_>>()
        .join(", ");
    q.push(", agg AS (SELECT ")
        .push(&group_keys)
        .push(", count(*) AS n, min(eventtime) AS first, max(eventtime) AS last, ")
        .push(&newest(writes, "written"))
        .push(" AS writes, ")
        .push(&newest(failures, "failed"))
        .push(" AS failures FROM keyed GROUP BY ")
        .push(&group_keys)
        .push(")");

    // 3. The rows, from the aggregate read once.
    let columns: Vec<String> = EVENT_COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let listed = format!("x.event[{}]", i + 1);
            if GROUP_FIELDS.contains(c) {
                format!("CASE WHEN a.kind = 'e' THEN {listed} ELSE a.{c} END AS {c}")
            } else {
                format!("{listed} AS {c}")
            }
        })
        .collect();
    q.push(" SELECT a.kind, CASE WHEN a.kind <> 'e' THEN a.n END AS n, ")
        .push("CASE WHEN a.kind = 'g' THEN a.first END AS first, CASE WHEN a.kind = 'g' THEN a.last END AS last, ")
        .push("a.principal, a.resource, ")
        .push(&columns.join(", "))
        .push(" FROM (SELECT agg.*, row_number() OVER (PARTITION BY kind ORDER BY n DESC, resource ASC) AS place FROM agg) a ")
        .push("CROSS JOIN UNNEST(CASE WHEN a.kind = 'e' THEN concat(coalesce(a.writes, CAST(ARRAY[] AS ARRAY(ARRAY(VARCHAR)))), coalesce(a.failures, CAST(ARRAY[] AS ARRAY(ARRAY(VARCHAR))))) ")
        .push("ELSE ARRAY[CAST(NULL AS ARRAY(VARCHAR))] END) AS x(event) WHERE a.kind <> 'r' OR a.place <= ")
        .push(&top.to_string());
    q.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Scope;
    use crate::source::athena::sql::Table;
    use jiff::Timestamp;

    fn scan_sql(bucket: u64, top: usize, writes: usize, failures: usize) -> String {
        let table = Table::new("cloudtrail", "org_trail").unwrap();
        let scan = Scan::new(
            &table,
            "2026-11-01T00:00:00Z".parse::<Timestamp>().unwrap(),
            "2026-11-30T00:00:00Z".parse::<Timestamp>().unwrap(),
            None,
            &Scope::default(),
        );
        summary(&scan, bucket, top, writes, failures)
            .sql()
            .to_owned()
    }

    /// How often `name` is read as a relation (`FROM name` or `JOIN name`).
    fn references(sql: &str, name: &str) -> usize {
        ["FROM ", "JOIN "]
            .iter()
            .map(|kw| {
                sql.match_indices(&format!("{kw}{name}"))
                    .filter(|(at, m)| {
                        sql[at + m.len()..]
                            .chars()
                            .next()
                            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'))
                    })
                    .count()
            })
            .sum()
    }

    #[test]
    fn the_table_and_every_with_query_are_read_once() {
        let sql = scan_sql(3_600, 15, 100, 50);
        assert_eq!(references(&sql, "\"cloudtrail\".\"org_trail\""), 1, "{sql}");
        for cte in ["matched", "events", "keyed", "agg"] {
            assert!(sql.contains(&format!("{cte} AS (")), "{cte}: {sql}");
            assert_eq!(references(&sql, cte), 1, "{cte}: {sql}");
        }
        // No part of the answer is a second SELECT over the events.
        assert!(!sql.contains("UNION"), "{sql}");
    }

    #[test]
    fn the_parts_come_from_one_aggregation_with_their_limits() {
        let sql = scan_sql(86_400, 15, 100, 50);
        assert_eq!(sql.matches("GROUP BY").count(), 1, "{sql}");
        assert!(sql.contains(
            "CASE WHEN slot = 1 THEN floor(to_unixtime(from_iso8601_timestamp(eventtime)) / 86400) END AS bucket"
        ));
        assert!(sql.contains("GROUP BY kind, principal, eventsource, eventname, errorcode, awsregion, sourceipaddress, readonly, bucket, resource)"));
        assert!(sql.contains("max_by(event, newest, 100) FILTER (WHERE kind = 'e' AND written)"));
        assert!(sql.contains("max_by(event, newest, 50) FILTER (WHERE kind = 'e' AND failed)"));
        assert!(
            sql.ends_with("WHERE a.kind <> 'r' OR a.place <= 15"),
            "{sql}"
        );
        assert!(scan_sql(3_600, 15, 100, 50).contains("/ 3600) END AS bucket"));
        // The listing carries every event column, in order, and gives each back by position.
        assert!(sql.contains(&format!("ARRAY[{}]", EVENT_COLUMNS.join(", "))));
        assert!(sql.contains("x.event[1] AS eventid"));
        assert!(sql.contains(
            "CASE WHEN a.kind = 'e' THEN x.event[3] ELSE a.eventsource END AS eventsource"
        ));
        assert!(sql.contains("x.event[26] AS res_types"));
    }

    #[test]
    fn empty_listings_ask_max_by_for_nothing() {
        let sql = scan_sql(3_600, 0, 0, 0);
        assert!(!sql.contains("max_by"), "{sql}");
        assert!(sql.contains(&format!("{NO_EVENTS} AS writes")));
        assert!(sql.ends_with("a.place <= 0"));
        assert!(scan_sql(3_600, 15, 20_000, 50).contains("max_by(event, newest, 10000)"));
    }
}
