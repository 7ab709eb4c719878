//! Running one compiled [`Statement`] on Athena: start it in the workgroup with its execution
//! parameters, poll its state with backoff until it ends or the caller's deadline passes, page
//! through its results, and stop it when the caller goes away before it ends.

use std::time::Duration;

use aws_sdk_athena::Client;
use aws_sdk_athena::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_athena::types::{QueryExecutionContext, QueryExecutionState};
use tokio::time::Instant;

use super::rows::Row;
use super::sql::Statement;
use crate::source::SourceError;

/// The first wait between two polls; it grows by half each time up to [`MAX_POLL`].
const FIRST_POLL: Duration = Duration::from_millis(100);
const MAX_POLL: Duration = Duration::from_secs(2);
/// Rows per `GetQueryResults` page (Athena's maximum).
const PAGE_ROWS: i32 = 1_000;

/// Where a query stands when the wait ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    /// It succeeded, having scanned this many bytes.
    Done { bytes: u64 },
    /// It is still queued or running at the deadline (bytes scanned so far).
    Running { bytes: u64 },
}

/// An Athena client bound to a workgroup and database.
#[derive(Debug, Clone)]
pub struct Engine {
    client: Client,
    workgroup: String,
    database: String,
    catalog: Option<String>,
}

/// The next wait between polls.
pub fn backoff(previous: Duration) -> Duration {
    (previous + previous / 2).min(MAX_POLL)
}

fn athena_error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    error: SdkError<E, R>,
) -> SourceError {
    match &error {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().unwrap_or("error");
            let message = e.message().unwrap_or_default();
            if code.contains("AccessDenied") {
                SourceError::Athena(format!(
                    "{code}: {message}. The caller needs athena:StartQueryExecution, GetQueryExecution, GetQueryResults and StopQueryExecution on the workgroup, glue:GetTable on the table and s3:GetObject on the trail"
                ))
            } else {
                SourceError::Athena(format!("{code}: {message}"))
            }
        }
        _ => SourceError::Unavailable(DisplayErrorContext(&error).to_string()),
    }
}

impl Engine {
    /// An engine running queries in `workgroup` against `database` (and `catalog`, default
    /// `AwsDataCatalog`).
    pub fn new(client: Client, workgroup: &str, database: &str, catalog: Option<&str>) -> Self {
        Self {
            client,
            workgroup: workgroup.to_owned(),
            database: database.to_owned(),
            catalog: catalog.map(str::to_owned),
        }
    }

    /// Starts `statement`; returns its query execution id.
    pub async fn start(&self, statement: &Statement) -> Result<String, SourceError> {
        let context = QueryExecutionContext::builder()
            .database(&self.database)
            .set_catalog(self.catalog.clone())
            .build();
        let params = statement
            .params()
            .iter()
            .map(|p| p.as_str().to_owned())
            .collect();
        let output = self
            .client
            .start_query_execution()
            .query_string(statement.sql())
            .set_execution_parameters(Some(params))
            .work_group(&self.workgroup)
            .query_execution_context(context)
            .send()
            .await
            .map_err(athena_error)?;
        output
            .query_execution_id()
            .map(str::to_owned)
            .ok_or_else(|| SourceError::Athena("StartQueryExecution returned no id".into()))
    }

    /// Polls query `id` with backoff until it ends or `deadline` passes.
    pub async fn wait(&self, id: &str, deadline: Instant) -> Result<Waited, SourceError> {
        let mut pause = FIRST_POLL;
        loop {
            let output = self
                .client
                .get_query_execution()
                .query_execution_id(id)
                .send()
                .await
                .map_err(athena_error)?;
            let execution = output.query_execution();
            let bytes = execution
                .and_then(|e| e.statistics())
                .and_then(|s| s.data_scanned_in_bytes())
                .map_or(0, |b| b.max(0) as u64);
            let status = execution.and_then(|e| e.status());
            let reason = status
                .and_then(|s| s.state_change_reason())
                .unwrap_or_default()
                .to_owned();
            match status.and_then(|s| s.state()) {
                Some(QueryExecutionState::Succeeded) => return Ok(Waited::Done { bytes }),
                Some(QueryExecutionState::Failed | QueryExecutionState::Cancelled) => {
                    return Err(self.failure(reason, bytes).await);
                }
                _ => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Waited::Running { bytes });
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = backoff(pause);
        }
    }

    /// The error of a query that failed or was cancelled: the workgroup's bytes-scanned cutoff
    /// is named with its limit.
    async fn failure(&self, reason: String, scanned: u64) -> SourceError {
        if !reason.to_ascii_lowercase().contains("bytes scanned limit") {
            return SourceError::QueryFailed(if reason.is_empty() {
                "no reason given".into()
            } else {
                reason
            });
        }
        let cutoff = self
            .client
            .get_work_group()
            .work_group(&self.workgroup)
            .send()
            .await
            .ok()
            .and_then(|o| {
                o.work_group()
                    .and_then(|w| w.configuration())
                    .and_then(|c| c.bytes_scanned_cutoff_per_query())
            });
        SourceError::ScanCutoff {
            cutoff: match cutoff {
                Some(bytes) => format!("{bytes} bytes in workgroup `{}`", self.workgroup),
                None => format!("the limit of workgroup `{}`", self.workgroup),
            },
            scanned,
            reason,
        }
    }

    /// Every result row of query `id`, without the header row.
    pub async fn rows(&self, id: &str) -> Result<Vec<Row>, SourceError> {
        let mut rows = Vec::new();
        let mut token: Option<String> = None;
        let mut first_page = true;
        loop {
            let output = self
                .client
                .get_query_results()
                .query_execution_id(id)
                .max_results(PAGE_ROWS)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(athena_error)?;
            let page = output.result_set().map(|r| r.rows()).unwrap_or_default();
            // The first row of the first page holds the column names.
            let skip = usize::from(first_page);
            first_page = false;
            rows.extend(page.iter().skip(skip).map(|row| {
                row.data()
                    .iter()
                    .map(|d| d.var_char_value().map(str::to_owned))
                    .collect::<Row>()
            }));
            match output.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => return Ok(rows),
            }
        }
    }

    /// A guard that stops query `id` if it is dropped armed (the tool call was cancelled).
    pub fn guard(&self, id: &str) -> StopOnDrop {
        StopOnDrop {
            client: Some(self.client.clone()),
            id: id.to_owned(),
        }
    }
}

/// Stops a query when dropped, unless [`disarm`](Self::disarm)ed: a cancelled tool call drops
/// the future that waits on its query, and the query should not run on (and bill) for nobody.
#[derive(Debug)]
pub struct StopOnDrop {
    client: Option<Client>,
    id: String,
}

impl StopOnDrop {
    /// The query ended, or is left running on purpose (a cursor will collect it).
    pub fn disarm(mut self) {
        self.client = None;
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let id = std::mem::take(&mut self.id);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                match client.stop_query_execution().query_execution_id(&id).send().await {
                    Ok(_) => tracing::info!(query = %id, "cancelled tool call: Athena query stopped"),
                    Err(e) => tracing::warn!(query = %id, error = %DisplayErrorContext(&e), "cannot stop the Athena query of a cancelled tool call"),
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_back_off_to_two_seconds() {
        let mut pause = FIRST_POLL;
        let mut waits = vec![pause];
        for _ in 0..10 {
            pause = backoff(pause);
            waits.push(pause);
        }
        assert_eq!(waits[1], Duration::from_millis(150));
        assert!(waits.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*waits.last().unwrap(), MAX_POLL);
    }
}
