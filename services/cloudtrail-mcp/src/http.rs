//! The HTTP face of the server: `POST /mcp` (MCP Streamable HTTP, stateless, JSON responses),
//! `GET /healthz`, and a Host check in front of both.
//!
//! rmcp checks Accept (406), Content-Type (415) and methods (405) itself. Two checks live here:
//! - Host: rmcp's allow-list has no wildcards, so we check it instead: loopback names locally
//!   (DNS-rebinding protection), `*.lambda-url.<region>.on.aws` on Lambda.
//! - The body: rmcp answers a body that is not JSON-RPC with a plain-text 415; clients expect a
//!   JSON-RPC error (`-32700` parse error, `-32600` invalid request) with HTTP 400, so the body is
//!   read (up to 1 MiB, else 413) and checked before rmcp sees it.
//! - The params of `tools/call`: rmcp reads a client request as an untagged union whose last
//!   member takes any method, so a `tools/call` whose params do not fit (missing, a numeric
//!   `name`, `arguments` not an object) lands there and is answered `-32601` "method not found".
//!   The method exists; such a call is answered `-32602` invalid params naming the field, with
//!   the request's id. Methods rmcp does not know at all stay `-32601`.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rmcp::model::{
    CallToolRequestParams, ClientJsonRpcMessage, ClientRequest, JsonRpcMessage, RequestId,
};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::Value;
use tower_http::trace::TraceLayer;
use tracing::Instrument;

use crate::tools::CloudTrailServer;

/// The largest request body accepted (413 above it).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Which `Host` headers the server answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPolicy {
    exact: Vec<String>,
    suffixes: Vec<String>,
}

impl HostPolicy {
    /// Loopback names only: the default for a local server.
    pub fn loopback() -> Self {
        Self {
            exact: ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec(),
            suffixes: Vec::new(),
        }
    }

    /// Lambda Function URL hosts of `region`.
    pub fn lambda_function_url(region: &str) -> Self {
        Self {
            exact: Vec::new(),
            suffixes: vec![format!(".lambda-url.{region}.on.aws")],
        }
    }

    /// Adds hosts: `example.com` exactly, or `*.example.com` for any subdomain.
    pub fn allow(mut self, hosts: &[String]) -> Self {
        for host in hosts.iter().map(|h| h.trim().to_ascii_lowercase()) {
            if let Some(suffix) = host.strip_prefix('*') {
                self.suffixes.push(suffix.to_owned());
            } else if !host.is_empty() {
                self.exact.push(host);
            }
        }
        self
    }

    /// Whether a `Host` header value (with or without port) is allowed.
    pub fn allows(&self, host_header: &str) -> bool {
        let host = strip_port(host_header.trim()).to_ascii_lowercase();
        self.exact.contains(&host)
            || self
                .suffixes
                .iter()
                .any(|s| host.len() > s.len() && host.ends_with(s.as_str()))
    }
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // [::1]:8080
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

async fn check_host(
    State(policy): State<Arc<HostPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    match host {
        Some(host) if policy.allows(host) => next.run(request).await,
        Some(host) => {
            tracing::warn!(host, "refused request for a host that is not allowed");
            (
                StatusCode::FORBIDDEN,
                "Forbidden: Host header is not allowed\n",
            )
                .into_response()
        }
        None => (
            StatusCode::BAD_REQUEST,
            "Bad Request: missing Host header\n",
        )
            .into_response(),
    }
}

fn jsonrpc_error(status: StatusCode, code: i64, message: String) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

const TOOLS_CALL: &str = "tools/call";

/// A JSON-RPC `invalid params` answer to request `id`. HTTP 200, as rmcp answers the invalid
/// params the tools report: the request was read, its params were wrong.
fn invalid_params(id: &RequestId, message: String) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": id, "error": {"code": -32602, "message": message}
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// "an array", "a string"... for messages about a value of the wrong type.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The id and params of a body that is a JSON-RPC request for `tools/call`.
fn tools_call_request(body: &Value) -> Option<(RequestId, Option<&Value>)> {
    let is_request = body.get("jsonrpc").and_then(Value::as_str) == Some("2.0")
        && body.get("method").and_then(Value::as_str) == Some(TOOLS_CALL)
        && body.get("result").is_none()
        && body.get("error").is_none();
    let id = serde_json::from_value(body.get("id")?.clone()).ok()?;
    is_request.then(|| (id, body.get("params")))
}

/// What is wrong with the params of a `tools/call` that rmcp could not read, naming the field.
fn tools_call_params_problem(params: Option<&Value>) -> String {
    const SHAPE: &str = "an object with `name` (string) and optional `arguments` (object)";
    let Some(params) = params.filter(|p| !p.is_null()) else {
        return format!("params are required for tools/call: {SHAPE}");
    };
    let Some(members) = params.as_object() else {
        return format!(
            "params must be an object; got {}: {SHAPE}",
            json_kind(params)
        );
    };
    match members.get("name") {
        None => return "params.name is required: the name of the tool to call".to_owned(),
        Some(Value::String(_)) => {}
        Some(other) => {
            return format!("params.name must be a string; got {}", json_kind(other));
        }
    }
    match members.get("arguments") {
        None | Some(Value::Null | Value::Object(_)) => {}
        Some(other) => {
            return format!(
                "params.arguments must be an object; got {} (the tool's arguments by name)",
                json_kind(other)
            );
        }
    }
    // Another member (`_meta`, ...) does not fit: let serde name it.
    match serde_path_to_error::deserialize::<_, CallToolRequestParams>(params) {
        Err(error) => format!("params.{}: {}", error.path(), error.inner()),
        Ok(_) => format!("params of tools/call must be {SHAPE}"),
    }
}

fn is_json_post(request: &Request) -> bool {
    let header_has = |name: header::HeaderName, needle: &str| {
        request
            .headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.to_ascii_lowercase().contains(needle))
    };
    request.method() == Method::POST
        && header_has(header::CONTENT_TYPE, "application/json")
        && header_has(header::ACCEPT, "application/json")
        && header_has(header::ACCEPT, "text/event-stream")
}

async fn check_body(request: Request, next: Next) -> Response {
    if !is_json_post(&request) {
        // Let rmcp answer 405/406/415 as the transport spec says.
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Payload Too Large: the body exceeds {MAX_BODY_BYTES} bytes\n"),
        )
            .into_response();
    };
    match serde_json::from_slice::<ClientJsonRpcMessage>(&bytes) {
        Err(error) => {
            let body = match serde_json::from_slice::<Value>(&bytes) {
                Ok(body) => body,
                Err(parse) => {
                    return jsonrpc_error(
                        StatusCode::BAD_REQUEST,
                        -32700,
                        format!("Parse error: the body is not JSON: {parse}"),
                    );
                }
            };
            // rmcp refuses a request whose params are not an object outright; for a `tools/call`
            // that is still a request, with the wrong params.
            return match tools_call_request(&body) {
                Some((id, params)) => invalid_params(&id, tools_call_params_problem(params)),
                None => jsonrpc_error(
                    StatusCode::BAD_REQUEST,
                    -32600,
                    format!("Invalid Request: not a JSON-RPC 2.0 request or notification: {error}"),
                ),
            };
        }
        Ok(JsonRpcMessage::Request(request)) => {
            // Only a `tools/call` rmcp could not read as one falls through to the catch-all.
            if let ClientRequest::CustomRequest(custom) = &request.request
                && custom.method == TOOLS_CALL
            {
                return invalid_params(
                    &request.id,
                    tools_call_params_problem(custom.params.as_ref()),
                );
            }
        }
        Ok(_) => {}
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The span of the HTTP request a tool call arrived in, handed to the tool handler through the
/// request's extensions (rmcp passes the request's `http::request::Parts` on; its own worker
/// task does not carry the current span).
#[derive(Debug, Clone)]
pub struct HttpSpan(pub tracing::Span);

/// With tracing on: a server span per request, continuing the caller's trace (W3C
/// `traceparent` header), its status code recorded. Off: nothing.
async fn trace_request(mut request: Request, next: Next) -> Response {
    if !telemetry::enabled() {
        return next.run(request).await;
    }
    let span = tracing::info_span!(
        "http request",
        otel.name = %format!("{} {}", request.method(), request.uri().path()),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %request.method(),
        url.path = %request.uri().path(),
        http.response.status_code = tracing::field::Empty,
    );
    telemetry::propagate::set_parent(&span, telemetry::propagate::from_headers(request.headers()));
    request.extensions_mut().insert(HttpSpan(span.clone()));
    let response = next.run(request).instrument(span.clone()).await;
    span.record("http.response.status_code", response.status().as_u16());
    if response.status().is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    response
}

/// The router shared by the local server, Lambda and tests.
pub fn app(server: CloudTrailServer, hosts: HostPolicy) -> Router {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_max_request_body_bytes(MAX_BODY_BYTES)
        // Host is checked by `check_host`, which understands wildcards.
        .disable_allowed_hosts();
    let mcp = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    Router::new()
        .route_service("/mcp", mcp)
        .route_layer(middleware::from_fn(check_body))
        .route("/healthz", get(|| async { "ok\n" }))
        .layer(middleware::from_fn_with_state(Arc::new(hosts), check_host))
        .layer(middleware::from_fn(trace_request))
        .layer(TraceLayer::new_for_http())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_policy() {
        let p = HostPolicy::loopback();
        for ok in ["localhost", "127.0.0.1:3000", "[::1]:80", "LOCALHOST:1"] {
            assert!(p.allows(ok), "{ok}");
        }
        for bad in [
            "evil.com",
            "127.0.0.1.evil.com",
            "localhost.evil.com:3000",
            "",
        ] {
            assert!(!p.allows(bad), "{bad}");
        }
    }

    #[test]
    fn lambda_policy_allows_function_urls_of_its_region() {
        let p = HostPolicy::lambda_function_url("ap-northeast-1");
        assert!(p.allows("abcdefghijklmnop.lambda-url.ap-northeast-1.on.aws"));
        assert!(!p.allows("abc.lambda-url.us-east-1.on.aws"));
        assert!(!p.allows(".lambda-url.ap-northeast-1.on.aws"));
        assert!(!p.allows("localhost"));
        let p = p.allow(&["127.0.0.1".into(), "*.example.com".into()]);
        assert!(
            p.allows("127.0.0.1:9000") && p.allows("mcp.example.com") && !p.allows("example.com")
        );
    }
}
