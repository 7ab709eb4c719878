//! Where events come from: the [`EventSource`] trait and the query/page types shared by its
//! implementations (the CloudTrail `LookupEvents` API, a CloudTrail log archive in a directory or
//! in S3, and Athena).
//!
//! Every implementation answers the same query with the same semantics as `LookupEvents`: a time
//! window `[start, end]`, at most one lookup attribute, newest event first, and an opaque
//! `next_token` for the following page. Sources that hold several accounts and regions (an
//! organization trail) also narrow a query to a [`Scope`]; a query engine (Athena) reports what
//! its queries scanned ([`Usage`]) and can compute a summary itself ([`EventSource::summarize`]).

pub mod api;
pub mod archive;
#[cfg(feature = "athena")]
pub mod athena;
pub mod builtin;
mod index;
pub mod merge;
pub mod multi_region;
mod records;
pub mod regions;
pub mod s3;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

// The lookup attributes and the filter are part of every answer: defined once in the contract
// crate, which clients read answers with.
pub use cloudtrail_contract::{AttributeKey, Filter};

/// One page request against a source.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Inclusive start of the window.
    pub start: Timestamp,
    /// Inclusive end of the window.
    pub end: Timestamp,
    pub filter: Option<Filter>,
    /// The most events this page may hold (the API caps a page at 50).
    pub max_results: usize,
    /// The `next_token` of the previous page, exactly as the source returned it.
    pub next_token: Option<String>,
    /// The accounts and regions to search.
    pub scope: Scope,
}

/// The accounts and regions a query covers; an empty list means all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    #[serde(rename = "a", default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
    #[serde(rename = "r", default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
}

impl Scope {
    /// Whether the scope names no account and no region (everything is searched).
    pub fn is_all(&self) -> bool {
        self.accounts.is_empty() && self.regions.is_empty()
    }

    /// Whether an event recorded in `account` and `region` is in scope.
    pub fn admits(&self, account: Option<&str>, region: Option<&str>) -> bool {
        let within = |list: &[String], value: Option<&str>| {
            list.is_empty() || value.is_some_and(|v| list.iter().any(|l| l == v))
        };
        within(&self.accounts, account) && within(&self.regions, region)
    }
}

/// What a query engine's queries cost for one page or summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub queries: u32,
    pub bytes_scanned: u64,
}

impl Usage {
    /// Both usages together.
    pub fn plus(self, other: Usage) -> Usage {
        Usage {
            queries: self.queries + other.queries,
            bytes_scanned: self.bytes_scanned + other.bytes_scanned,
        }
    }
}

/// A resource an event touched, as `LookupEvents` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    pub resource_type: Option<String>,
    pub resource_name: Option<String>,
}

/// One event in the shape `LookupEvents` returns: the indexed fields plus the full CloudTrail
/// record as a JSON string.
#[derive(Debug, Clone, PartialEq)]
pub struct RawEvent {
    pub event_id: String,
    pub event_time: Timestamp,
    pub event_name: String,
    pub event_source: String,
    pub username: Option<String>,
    pub access_key_id: Option<String>,
    pub read_only: Option<bool>,
    pub resources: Vec<Resource>,
    /// The CloudTrail record (`CloudTrailEvent`), untrusted JSON text.
    pub record: String,
}

/// One page of events, newest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    pub events: Vec<RawEvent>,
    pub next_token: Option<String>,
    /// What the page's queries scanned (query engines only).
    pub usage: Option<Usage>,
    /// The page's query outlived the source's time budget: `events` is empty and `next_token`
    /// collects the running query.
    pub still_running: bool,
}

/// One group of events that share every field a summary counts by, as a query engine's
/// `GROUP BY` returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub event_source: String,
    pub event_name: String,
    pub error_code: Option<String>,
    /// The principal's name as [`crate::record::identity`] reads it.
    pub principal: Option<String>,
    pub region: Option<String>,
    pub source_ip: Option<String>,
    pub read_only: Option<bool>,
    pub count: u64,
    pub first: Timestamp,
    pub last: Timestamp,
}

/// A summary computed by the source: the groups, the resource names counted once per event, and
/// the newest write and failed events (at most the lists' caps of each).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Aggregates {
    pub groups: Vec<Group>,
    pub resources: Vec<(String, u64)>,
    pub latest: Vec<RawEvent>,
}

/// A summary request; `resume` is the token of a still-running summary.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryQuery {
    pub start: Timestamp,
    pub end: Timestamp,
    pub filter: Option<Filter>,
    pub scope: Scope,
    pub resume: Option<String>,
}

/// The outcome of [`EventSource::summarize`]: the aggregates, or a token that collects them
/// when the query outlived the time budget.
#[derive(Debug, Clone, PartialEq)]
pub enum Summarized {
    Done(Aggregates, Usage),
    Running { token: String, usage: Usage },
}

/// Why a source could not answer. Messages from AWS are kept verbatim.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(
        "access denied by AWS: {0}. The caller needs cloudtrail:LookupEvents in this account and region"
    )]
    AccessDenied(String),
    #[error("AWS credentials are missing, invalid or expired: {0}")]
    Credentials(String),
    #[error(
        "CloudTrail throttled the request even after retries: {0}. Wait a few seconds and narrow the window or filter"
    )]
    Throttled(String),
    #[error("the page token is not valid for this query: {0}")]
    InvalidNextToken(String),
    #[error("CloudTrail rejected the query: {0}")]
    InvalidQuery(String),
    #[error("CloudTrail is unavailable: {0}")]
    Unavailable(String),
    #[error("cannot read the log archive at {path}: {message}")]
    Archive { path: String, message: String },
    #[error(
        "the S3 bucket `{bucket}` does not exist (check the archive location and that --region is the bucket's region). S3 said: {message}"
    )]
    S3NoBucket { bucket: String, message: String },
    #[error(
        "access denied by S3 on {location}. The caller needs s3:ListBucket on the bucket for the trail's prefix, s3:GetObject on its objects, and kms:Decrypt when the trail is encrypted with a KMS key. S3 said: {message}"
    )]
    S3AccessDenied { location: String, message: String },
    #[error("S3 could not answer for {location}: {message}")]
    S3 { location: String, message: String },
    #[error("this source cannot narrow a search to {what}: {why}")]
    ScopeUnsupported { what: &'static str, why: String },
    #[error(
        "the Athena query was cancelled by the workgroup's bytes-scanned cutoff ({cutoff} per query) after scanning {scanned} bytes; narrow the window, add `accounts`/`regions` or an attribute filter. Athena said: {reason}"
    )]
    ScanCutoff {
        cutoff: String,
        scanned: u64,
        reason: String,
    },
    #[error("the Athena query failed: {0}")]
    QueryFailed(String),
    #[error("Athena refused the request: {0}")]
    Athena(String),
    #[error(
        "`regions` holds `{region}`, which this server does not search; it may search: {allowed} (the deployment sets them with --regions / CLOUDTRAIL_MCP_REGIONS)"
    )]
    RegionNotAllowed { region: String, allowed: String },
    /// One region of a multi-region search failed; the whole call fails so that no region
    /// silently drops out of an answer.
    #[error("region {region} failed: {source}{}", others_hint(.region, .searched))]
    InRegion {
        region: String,
        /// Every region the call searched, sorted.
        searched: Vec<String>,
        source: Box<SourceError>,
    },
}

/// What a caller can do when one region of several failed.
fn others_hint(region: &str, searched: &[String]) -> String {
    let others: Vec<&str> = searched
        .iter()
        .map(String::as_str)
        .filter(|r| *r != region)
        .collect();
    if others.is_empty() {
        String::new()
    } else {
        format!(
            ". The call searched {}; to search the others without it, pass `regions`: [{}]",
            searched.join(", "),
            others
                .iter()
                .map(|r| format!("\"{r}\""))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// A place to look events up. Implementations are shared by concurrent tool calls.
#[async_trait]
pub trait EventSource: Send + Sync + 'static {
    /// A stable identity (kind and scope, e.g. `api:us-east-1` or `archive:<dir>`), bound into
    /// cursors so a cursor from another source is refused.
    fn id(&self) -> &str;
    /// The oldest event time this source can answer for, relative to now (`LookupEvents` keeps
    /// 90 days), or `None` when unbounded.
    fn retention(&self) -> Option<SignedDuration>;
    /// One page of events matching `query`, newest first.
    async fn lookup(&self, query: &Query) -> Result<Page, SourceError>;
    /// The aggregates of a window computed by the source itself (a query engine's `GROUP BY`),
    /// or `None` when the tool should page through the events and count them.
    async fn summarize(&self, _query: &SummaryQuery) -> Option<Result<Summarized, SourceError>> {
        None
    }
    /// The full ids of every event whose reference ([`cloudtrail_contract::event_ref`]) is
    /// `event_ref`, or `None` when this source cannot resolve references (LookupEvents filters
    /// on whole ids only).
    async fn ids_for_ref(&self, event_ref: &str) -> Result<Option<Vec<String>>, SourceError> {
        let _ = event_ref;
        Ok(None)
    }
    /// The regions a query with `filter` and `scope` searches, sorted, for sources that query
    /// regions separately (`LookupEvents`), which every answer then lists; `None` for sources
    /// that hold all their regions in one place. An error when the scope is not searchable.
    fn regions_searched(
        &self,
        _filter: Option<&Filter>,
        _scope: &Scope,
    ) -> Result<Option<Vec<String>>, SourceError> {
        Ok(None)
    }
    /// How many events a scan through a whole window (`summarize_activity`) asks per
    /// [`EventSource::lookup`].
    fn scan_page(&self) -> usize {
        api::MAX_PAGE
    }
}

/// `source.lookup(query)` in a `source.lookup` span (source id, page size asked and returned)
/// when tracing is on; a plain call when it is off.
pub async fn lookup_traced(source: &dyn EventSource, query: &Query) -> Result<Page, SourceError> {
    use tracing::Instrument;
    let span = telemetry::span(|| {
        tracing::info_span!(
            "source.lookup",
            otel.kind = "internal",
            otel.status_code = tracing::field::Empty,
            cloudtrail.source = source.id(),
            cloudtrail.filtered = query.filter.is_some(),
            cloudtrail.max_results = query.max_results,
            cloudtrail.events = tracing::field::Empty,
            error.type = tracing::field::Empty,
        )
    });
    if span.is_disabled() {
        return source.lookup(query).await;
    }
    let result = source.lookup(query).instrument(span.clone()).await;
    match &result {
        Ok(page) => {
            span.record("cloudtrail.events", page.events.len());
        }
        Err(error) => {
            span.record("error.type", error.kind());
            span.record("otel.status_code", "ERROR");
        }
    }
    result
}

impl SourceError {
    /// A short, stable name of the error's kind (`error.type` in traces).
    pub fn kind(&self) -> &'static str {
        match self {
            SourceError::AccessDenied(_) => "access_denied",
            SourceError::Credentials(_) => "credentials",
            SourceError::Throttled(_) => "throttled",
            SourceError::InvalidNextToken(_) => "invalid_next_token",
            SourceError::InvalidQuery(_) => "invalid_query",
            SourceError::Unavailable(_) => "unavailable",
            SourceError::Archive { .. } => "archive",
            SourceError::S3NoBucket { .. } => "s3_no_bucket",
            SourceError::S3AccessDenied { .. } => "s3_access_denied",
            SourceError::S3 { .. } => "s3",
            SourceError::ScopeUnsupported { .. } => "scope_unsupported",
            SourceError::ScanCutoff { .. } => "scan_cutoff",
            SourceError::QueryFailed(_) => "query_failed",
            SourceError::Athena(_) => "athena",
            SourceError::RegionNotAllowed { .. } => "region_not_allowed",
            SourceError::InRegion { source, .. } => source.kind(),
        }
    }
}
