//! Errors a tool reports to the model as an `isError: true` result: the call was well-formed but
//! could not be answered. Each message names the argument and what is expected, so the model can
//! correct itself.

use crate::cursor::CursorError;
use crate::source::SourceError;
use crate::time::TimeError;

/// A tool ran and failed.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("`{field}` {source}")]
    Time {
        field: &'static str,
        source: TimeError,
    },
    #[error("`start_time` ({start}) is after `end_time` ({end}); the window must run forwards")]
    StartAfterEnd { start: String, end: String },
    #[error(
        "`start_time` ({start}) is older than the {days} days this source searches back (LookupEvents holds 90 days of management events; an Athena source as many as `--athena-max-days` allows, an S3 archive `--archive-max-days`); narrow the window or query a log archive for older events"
    )]
    TooOld { start: String, days: i64 },
    #[error("`{field}` must be between {min} and {max}; got {got}")]
    OutOfRange {
        field: &'static str,
        min: u64,
        max: u64,
        got: u64,
    },
    #[error(
        "`attribute_key` and `attribute_value` go together: give both (e.g. attribute_key `Username`, attribute_value `alice`) or neither"
    )]
    HalfFilter,
    #[error("`{0}` must not be empty")]
    Empty(&'static str),
    #[error("`attribute_value` for `ReadOnly` must be `true` or `false`; got `{0}`")]
    ReadOnlyValue(String),
    #[error("`{field}` must list 1 to {max} values (omit it to search them all)")]
    ScopeList { field: &'static str, max: usize },
    #[error("`{field}` holds `{value}`, which is not valid; expected values like `{example}`")]
    ScopeValue {
        field: &'static str,
        value: String,
        example: &'static str,
    },
    #[error("`cursor` {0}")]
    Cursor(#[from] CursorError),
    #[error(
        "`cursor` already carries the window and filter of the query it continues; pass it alone (optionally with `max_results`, `detail` and `max_bytes`), without `{0}`"
    )]
    CursorWithSelection(&'static str),
    #[error("no event with id `{id}` between {start} and {end}")]
    EventNotFound {
        id: String,
        start: String,
        end: String,
    },
    #[error(
        "`event_id` `{event_ref}` is an event reference, which this source (`{source_id}`: it only finds events by their full id) cannot look up; pass the full event id (lookup_events with `detail: true` gives it)"
    )]
    RefNotResolvable {
        event_ref: String,
        source_id: String,
    },
    #[error(
        "no event has the reference `{0}`; pass a reference a tool answered, or the full event id"
    )]
    RefNotFound(String),
    #[error(
        "{count} events share the reference `{event_ref}`; pass the full event id (lookup_events with `detail: true` gives it)"
    )]
    RefAmbiguous { event_ref: String, count: usize },
    #[error(transparent)]
    Source(#[from] SourceError),
}
