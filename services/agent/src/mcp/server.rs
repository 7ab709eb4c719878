//! One MCP server: a long-lived rmcp Streamable HTTP client (one handshake, then one HTTP
//! request per call), its cached tool list, and reconnection when the transport fails.
//!
//! The tool list is refreshed by one run at a time, bounded by the listing timeout; other runs
//! meanwhile use the last list (or wait at most that long when there is none), and a failed
//! listing is remembered briefly so queued runs do not each retry it.

use std::sync::Arc;
use std::time::Duration;

use cloudtrail_contract::caller::CALLER_META_KEY;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, MetaObject, RequestMetaObject, Tool};
use rmcp::service::{RoleClient, RunningService, ServiceError};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::sigv4::SigningHttpClient;
use crate::tools::{CallContext, ToolError, ToolOutput};

type Connection = Arc<RunningService<RoleClient, ()>>;

/// Whether `url`'s path is empty or `/` (a bare host, such as a Function URL as AWS prints it).
fn has_no_path(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| u.path() == "/")
}

/// How requests to the server are sent.
#[derive(Debug, Clone)]
pub enum HttpClient {
    Plain(reqwest::Client),
    /// SigV4-signed (`iam` auth).
    Signed(SigningHttpClient),
}

/// A connection to one MCP server.
#[derive(Debug)]
pub struct McpServer {
    /// How the server is named in errors (its host, or its prefix).
    pub label: String,
    url: String,
    client: HttpClient,
    connect_timeout: Duration,
    tool_ttl: Duration,
    list_timeout: Duration,
    connection: Mutex<Option<Connection>>,
    tools: std::sync::Mutex<ToolCache>,
    /// Held by the one run refreshing the list.
    refresh: Mutex<()>,
}

/// How long a failed listing is answered from memory before the server is asked again.
const FAILURE_MEMORY: Duration = Duration::from_secs(5);

/// The last tool list and the last listing failure.
#[derive(Debug, Default)]
struct ToolCache {
    list: Option<(Instant, Vec<Tool>)>,
    failure: Option<(Instant, String)>,
}

impl McpServer {
    pub fn new(
        label: String,
        url: String,
        client: HttpClient,
        connect_timeout: Duration,
        tool_ttl: Duration,
        list_timeout: Duration,
    ) -> Self {
        Self {
            label,
            url,
            client,
            connect_timeout,
            tool_ttl,
            list_timeout,
            connection: Mutex::new(None),
            tools: std::sync::Mutex::new(ToolCache::default()),
            refresh: Mutex::new(()),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, ToolCache> {
        self.tools.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What the cache can answer without asking the server: a fresh list, or (`allow_stale`)
    /// any list, or a recent failure.
    fn cached(&self, allow_stale: bool) -> Option<Result<Vec<Tool>, ToolError>> {
        let cache = self.cache();
        if let Some((fetched, tools)) = &cache.list
            && (allow_stale || fetched.elapsed() < self.tool_ttl)
        {
            return Some(Ok(tools.clone()));
        }
        match &cache.failure {
            Some((when, message)) if when.elapsed() < FAILURE_MEMORY => {
                Some(Err(self.unavailable(message)))
            }
            _ => None,
        }
    }

    fn unavailable(&self, message: impl std::fmt::Display) -> ToolError {
        ToolError::Unavailable {
            server: self.label.clone(),
            message: message.to_string(),
        }
    }

    /// A transport failure in words a user can act on: the URL and the root cause (connection
    /// refused, timed out, HTTP status...), without the transport's type names.
    fn transport_failure(&self, error: &(dyn std::error::Error + 'static)) -> ToolError {
        let mut root: &(dyn std::error::Error + 'static) = error;
        while let Some(source) = root.source() {
            root = source;
        }
        let hint = if root.to_string().contains("404") && has_no_path(&self.url) {
            // The URL is used as given (an MCP server chooses its endpoint path), so a bare
            // Function URL reaches `/`, where cloudtrail-mcp has no route.
            " (the URL has no path: cloudtrail-mcp serves MCP at /mcp, e.g. https://<id>.lambda-url.<region>.on.aws/mcp)"
        } else {
            ""
        };
        self.unavailable(format!("cannot reach {}: {root}{hint}", self.url))
    }

    /// The live connection, opening one (initialize handshake) if there is none.
    async fn connection(&self) -> Result<Connection, ToolError> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref()
            && !connection.is_closed()
            && !connection.is_transport_closed()
        {
            return Ok(connection.clone());
        }
        let config = StreamableHttpClientTransportConfig::with_uri(self.url.clone());
        let handshake = async {
            match &self.client {
                HttpClient::Plain(client) => {
                    ().serve(StreamableHttpClientTransport::with_client(
                        client.clone(),
                        config,
                    ))
                    .await
                }
                HttpClient::Signed(client) => {
                    ().serve(StreamableHttpClientTransport::with_client(
                        client.clone(),
                        config,
                    ))
                    .await
                }
            }
        };
        let service = tokio::time::timeout(self.connect_timeout, handshake)
            .await
            .map_err(|_| {
                self.unavailable(format!(
                    "no answer within {} s",
                    self.connect_timeout.as_secs()
                ))
            })?
            .map_err(|e| self.transport_failure(&e))?;
        let connection = Arc::new(service);
        *slot = Some(connection.clone());
        Ok(connection)
    }

    async fn forget_connection(&self) {
        self.connection.lock().await.take();
    }

    /// The server's tools: cached for the TTL; on a failed refresh the last known list is kept
    /// (calls then fail visibly) and the error is returned only if there is no list at all.
    pub async fn tools(&self) -> Result<Vec<Tool>, ToolError> {
        if let Some(fresh) = self.cached(false) {
            return fresh;
        }
        let _refreshing = match self.refresh.try_lock() {
            Ok(guard) => guard,
            Err(_) => {
                // Another run is asking the server: use the last list, or wait for its answer.
                if let Some(Ok(stale)) = self.cached(true) {
                    return Ok(stale);
                }
                let waited = tokio::time::timeout(self.list_timeout, self.refresh.lock()).await;
                if let Some(answer) = self.cached(true) {
                    return answer;
                }
                match waited {
                    Ok(guard) => guard,
                    Err(_) => {
                        return Err(self.unavailable(format!(
                            "the tool list did not arrive within {} s",
                            self.list_timeout.as_secs()
                        )));
                    }
                }
            }
        };
        // Someone may have refreshed while this run waited for the lock.
        if let Some(fresh) = self.cached(false) {
            return fresh;
        }
        let fetched = match tokio::time::timeout(self.list_timeout, self.fetch_tools()).await {
            Ok(result) => result,
            Err(_) => {
                self.forget_connection().await;
                Err(self.unavailable(format!(
                    "the tool list did not arrive within {} s",
                    self.list_timeout.as_secs()
                )))
            }
        };
        let mut cache = self.cache();
        match fetched {
            Ok(tools) => {
                cache.list = Some((Instant::now(), tools.clone()));
                cache.failure = None;
                Ok(tools)
            }
            Err(error) => {
                let message = match &error {
                    ToolError::Unavailable { message, .. } => message.clone(),
                    other => other.to_string(),
                };
                cache.failure = Some((Instant::now(), message));
                match &cache.list {
                    Some((_, stale)) => {
                        tracing::warn!(server = %self.label, %error, "tool list refresh failed; keeping the last list");
                        Ok(stale.clone())
                    }
                    None => Err(error),
                }
            }
        }
    }

    async fn fetch_tools(&self) -> Result<Vec<Tool>, ToolError> {
        let connection = self.connection().await?;
        match connection.list_all_tools().await {
            Ok(tools) => Ok(tools),
            Err(error) => {
                self.forget_connection().await;
                Err(self.transport_failure(&error))
            }
        }
    }

    /// Drops the cached tool list so the next listing asks the server.
    pub async fn invalidate_tools(&self) {
        *self.cache() = ToolCache::default();
    }

    /// Calls tool `name` (the server's own name) with `arguments`, for `context`'s caller (in
    /// the request's `_meta`, see [`cloudtrail_contract::caller`]).
    pub async fn call(
        &self,
        name: &str,
        arguments: Value,
        context: &CallContext,
    ) -> Result<ToolOutput, ToolError> {
        let arguments = match arguments {
            Value::Object(map) => map,
            Value::Null => serde_json::Map::new(),
            other => {
                return Err(ToolError::Rejected {
                    server: self.label.clone(),
                    message: format!("tool arguments must be a JSON object, got {other}"),
                });
            }
        };
        let mut params = CallToolRequestParams::new(name.to_owned()).with_arguments(arguments);
        if let Some(caller) = &context.caller
            && let Ok(caller) = serde_json::to_value(caller)
        {
            let mut meta = MetaObject::new();
            meta.0.insert(CALLER_META_KEY.to_owned(), caller);
            params.meta = Some(RequestMetaObject(meta));
        }
        let connection = self.connection().await?;
        let result = match connection.call_tool(params.clone()).await {
            // The worker had died before the request went out: nothing reached the server.
            Err(ServiceError::TransportClosed) => {
                self.forget_connection().await;
                self.connection().await?.call_tool(params).await
            }
            other => other,
        };
        match result {
            Ok(result) => {
                let text = result
                    .content
                    .iter()
                    .map(|c| match c.as_text() {
                        Some(text) => text.text.clone(),
                        None => "[non-text content omitted]".to_owned(),
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                Ok(ToolOutput {
                    text,
                    is_error: result.is_error == Some(true),
                    refs: result
                        .meta
                        .as_ref()
                        .map(|meta| crate::evidence::refs_from_meta(meta))
                        .unwrap_or_default(),
                })
            }
            Err(ServiceError::McpError(error)) => Err(ToolError::Rejected {
                server: self.label.clone(),
                message: error.message.to_string(),
            }),
            Err(error) => {
                self.forget_connection().await;
                self.invalidate_tools().await;
                Err(self.transport_failure(&error))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::has_no_path;

    #[test]
    fn bare_urls_are_recognised() {
        assert!(has_no_path("https://abc.lambda-url.us-east-1.on.aws/"));
        assert!(has_no_path("https://abc.lambda-url.us-east-1.on.aws"));
        assert!(!has_no_path("https://abc.lambda-url.us-east-1.on.aws/mcp"));
        assert!(!has_no_path("http://127.0.0.1:3000/mcp"));
    }
}
