//! `AthenaSource`: an organization trail in S3, queried with Amazon Athena through a CloudTrail
//! table with partition projection. It answers the same queries as the other sources, with the
//! same semantics (inclusive window, one exact attribute, newest first, keyset pages), narrowed
//! to accounts and regions, and computes summaries in SQL.
//!
//! Page tokens: `<time nanos>:<event id>` is the keyset position after the last event returned
//! (as the log archive's), `q:<query id>:<rows>` a lookup query still running and `s:<query id>`
//! a summary query still running; collecting a running query polls it again, it never starts a
//! second one. Every page reports what its query scanned.

pub mod engine;
pub mod rows;
pub mod sql;

use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use jiff::{SignedDuration, Timestamp};
use tokio::time::Instant;

use self::engine::{Engine, Waited};
use self::sql::{Scan, Table};
use super::{EventSource, Page, Query, SourceError, Summarized, SummaryQuery, Usage};
use crate::summary::{MAX_FAILURES, MAX_WRITE_ACTIONS, TOP_N};

/// Where the athena source runs its queries.
#[derive(Debug, Clone)]
pub struct AthenaSettings {
    pub workgroup: String,
    pub database: String,
    pub table: String,
    pub catalog: Option<String>,
    /// How long one tool call waits for a query before answering "still running".
    pub wait: Duration,
    /// How far back a window may reach, in days.
    pub max_days: i64,
}

/// CloudTrail in S3 through Athena.
#[derive(Debug)]
pub struct AthenaSource {
    id: String,
    engine: Engine,
    table: Table,
    wait: Duration,
    max_days: i64,
}

/// A parsed page token.
#[derive(Debug, PartialEq)]
enum Token<'a> {
    After(Timestamp, &'a str),
    Running { query: &'a str, rows: usize },
}

fn parse_token(token: &str) -> Result<Token<'_>, SourceError> {
    let invalid =
        || SourceError::InvalidNextToken(format!("`{token}` is not a page token of this source"));
    if let Some(rest) = token.strip_prefix("q:") {
        let (query, rows) = rest.rsplit_once(':').ok_or_else(invalid)?;
        let rows = rows.parse().map_err(|_| invalid())?;
        if query.is_empty() {
            return Err(invalid());
        }
        return Ok(Token::Running { query, rows });
    }
    let (nanos, id) = token.split_once(':').ok_or_else(invalid)?;
    let nanos: i128 = nanos.parse().map_err(|_| invalid())?;
    let time = Timestamp::from_nanosecond(nanos).map_err(|_| invalid())?;
    if id.is_empty() {
        return Err(invalid());
    }
    Ok(Token::After(time, id))
}

impl AthenaSource {
    /// A source over `settings.table` in `settings.workgroup`.
    pub fn new(sdk: &SdkConfig, settings: AthenaSettings) -> Result<Self, SourceError> {
        let table = Table::new(&settings.database, &settings.table)
            .map_err(|e| SourceError::InvalidQuery(e.to_string()))?;
        let client = aws_sdk_athena::Client::new(sdk);
        Ok(Self {
            id: format!("athena:{}/{}", settings.workgroup, table.name()),
            engine: Engine::new(
                client,
                &settings.workgroup,
                &settings.database,
                settings.catalog.as_deref(),
            ),
            table,
            wait: settings.wait,
            max_days: settings.max_days,
        })
    }

    /// Waits for query `id` until the time budget ends: its rows, or `None` when it is still
    /// running (left running for a cursor to collect). A caller that goes away stops it.
    async fn collect(
        &self,
        id: &str,
        deadline: Instant,
    ) -> Result<(Option<Vec<rows::Row>>, Usage), SourceError> {
        let guard = self.engine.guard(id);
        let waited = self.engine.wait(id, deadline).await;
        let waited = match waited {
            Ok(w) => w,
            Err(e) => {
                // Failed or cancelled: nothing to stop.
                guard.disarm();
                return Err(e);
            }
        };
        match waited {
            Waited::Running { bytes } => {
                guard.disarm();
                Ok((None, usage(bytes)))
            }
            Waited::Done { bytes } => {
                let rows = self.engine.rows(id).await;
                guard.disarm();
                Ok((Some(rows?), usage(bytes)))
            }
        }
    }
}

fn usage(bytes: u64) -> Usage {
    Usage {
        queries: 1,
        bytes_scanned: bytes,
    }
}

#[async_trait]
impl EventSource for AthenaSource {
    fn id(&self) -> &str {
        &self.id
    }

    fn retention(&self) -> Option<SignedDuration> {
        Some(SignedDuration::from_hours(24 * self.max_days))
    }

    async fn lookup(&self, query: &Query) -> Result<Page, SourceError> {
        let deadline = Instant::now() + self.wait;
        let token = query.next_token.as_deref().map(parse_token).transpose()?;
        let (id, rows) = match token {
            Some(Token::Running { query, rows }) => (query.to_owned(), rows),
            other => {
                let after = match other {
                    Some(Token::After(time, id)) => Some((time, id)),
                    _ => None,
                };
                let rows = query.max_results.max(1);
                let scan = Scan::new(
                    &self.table,
                    query.start,
                    query.end,
                    query.filter.as_ref(),
                    &query.scope,
                );
                // One row more than the page: whether another page follows.
                let statement = sql::lookup(&scan, after, rows + 1);
                (self.engine.start(&statement).await?, rows)
            }
        };
        let (found, usage) = self.collect(&id, deadline).await?;
        let Some(found) = found else {
            return Ok(Page {
                events: Vec::new(),
                next_token: Some(format!("q:{id}:{rows}")),
                usage: Some(usage),
                still_running: true,
            });
        };
        let more = found.len() > rows;
        let events = found
            .iter()
            .take(rows)
            .map(|row| rows::event(row, 0))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SourceError::QueryFailed(e.to_string()))?;
        let next_token = match (more, events.last()) {
            (true, Some(last)) => Some(format!(
                "{}:{}",
                last.event_time.as_nanosecond(),
                last.event_id
            )),
            _ => None,
        };
        Ok(Page {
            events,
            next_token,
            usage: Some(usage),
            still_running: false,
        })
    }

    async fn summarize(&self, query: &SummaryQuery) -> Option<Result<Summarized, SourceError>> {
        Some(self.summary(query).await)
    }
}

impl AthenaSource {
    async fn summary(&self, query: &SummaryQuery) -> Result<Summarized, SourceError> {
        let deadline = Instant::now() + self.wait;
        let id = match query.resume.as_deref() {
            Some(token) => token
                .strip_prefix("s:")
                .filter(|id| !id.is_empty())
                .ok_or_else(|| {
                    SourceError::InvalidNextToken(format!(
                        "`{token}` is not a summary token of this source"
                    ))
                })?
                .to_owned(),
            None => {
                let scan = Scan::new(
                    &self.table,
                    query.start,
                    query.end,
                    query.filter.as_ref(),
                    &query.scope,
                );
                let bucket = crate::timeline::window_bucket_seconds(query.start, query.end);
                let statement = sql::summary(&scan, bucket, TOP_N, MAX_WRITE_ACTIONS, MAX_FAILURES);
                self.engine.start(&statement).await?
            }
        };
        let (found, usage) = self.collect(&id, deadline).await?;
        match found {
            None => Ok(Summarized::Running {
                token: format!("s:{id}"),
                usage,
            }),
            Some(found) => rows::aggregates(&found)
                .map(|a| Summarized::Done(a, usage))
                .map_err(|e| SourceError::QueryFailed(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_or_are_refused() {
        assert_eq!(
            parse_token("q:abc-123:51").unwrap(),
            Token::Running {
                query: "abc-123",
                rows: 51
            }
        );
        assert_eq!(
            parse_token("1700000000000000000:e-1").unwrap(),
            Token::After(Timestamp::from_second(1_700_000_000).unwrap(), "e-1")
        );
        for bad in ["q::5", "q:abc", "q:abc:x", "garbage", "12:", "x:y"] {
            assert!(
                matches!(parse_token(bad), Err(SourceError::InvalidNextToken(_))),
                "{bad}"
            );
        }
    }
}
