//! The HTTP API: the chat page, `POST /api/chat` streaming a run as Server-Sent Events, stop,
//! reset, the session view and the health check. [`app`] builds the router for `main` and tests;
//! [`crate::access`] guards it and [`crate::runner`] runs each answer.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::Instrument;

use crate::access::{self, Peer, client_ip};
use crate::agent::RunInput;
use crate::identity::User;
use crate::runner;
use crate::session::{ANONYMOUS, SessionError};
use crate::signin;
use crate::state::AppState;
use crate::tools::CallContext;
use crate::transcript::known_refs;
use crate::web;

/// The session cookie's name.
pub const COOKIE: &str = "agent_session";
/// Longest accepted chat message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 8000;
/// Time a client has to send a request body (a trickled body must not hold a connection).
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// An API error: a status and a message naming what is wrong, as `{"error": "..."}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{message}")]
    Rejected { status: StatusCode, message: String },
    #[error(transparent)]
    Session(#[from] SessionError),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Rejected { status, .. } => *status,
            ApiError::Session(SessionError::Busy) => StatusCode::CONFLICT,
            ApiError::Session(SessionError::Full(_)) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Session(SessionError::TooManyNew(_)) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Session(SessionError::Gone) => StatusCode::GONE,
            ApiError::Session(SessionError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
        };
        let mut response = (status, Json(json!({"error": self.to_string()}))).into_response();
        if let ApiError::Session(SessionError::TooManyNew(secs)) = &self
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// The chat request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    pub message: String,
    /// The browser's IANA timezone (default UTC).
    #[serde(default)]
    pub timezone: Option<String>,
}

/// The router: page, assets, API and health check, with request ids, tracing and security
/// headers on every response.
pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/session", get(session_view))
        .route("/api/chat", post(chat))
        .route("/api/chat/stop", post(stop))
        .route("/api/session/reset", post(reset))
        .route("/api/events/{event_ref}", get(event))
        .route("/api/report.md", get(report))
        .merge(web::routes())
        .with_state(state.clone())
        .layer(DefaultBodyLimit::max(64 * 1024))
        .layer(RequestBodyTimeoutLayer::new(BODY_TIMEOUT))
        // Runs after the Host/Origin check below (the outer layer).
        .layer(axum::middleware::from_fn_with_state(
            state.sign_in.clone(),
            signin::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.access.clone(),
            access::guard,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(web::CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|request: &http::Request<_>| {
            let id = request
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            // Method and path only: no headers (cookies) and no query strings in logs.
            tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// The session id from the cookie, if it has our shape (whether it is a live session is the
/// store's to say: ids are issued by the store only).
fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|v| uuid::Uuid::parse_str(v).is_ok())
}

fn set_cookie(id: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=86400{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Responses that carry a conversation must not be stored by any cache.
fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Whose chats a request may address: the signed-in user's (their `sub`), or the anonymous
/// owner's when no identity is configured. A cookie of another user's chat addresses nothing.
fn owner(user: &Option<Extension<User>>) -> &str {
    user.as_ref()
        .map_or(ANONYMOUS, |Extension(user)| user.sub.as_str())
}

async fn session_view(
    State(state): State<Arc<AppState>>,
    user: Option<Extension<User>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let view = match session_id(&headers) {
        Some(id) => state.sessions.view(owner(&user), &id).await?,
        None => Default::default(),
    };
    Ok(no_store(
        Json(json!({"model": state.model, "running": view.running, "messages": view.messages}))
            .into_response(),
    ))
}

/// Stop and reset change state but carry no body: they must still be sent as JSON, which a
/// cross-site HTML form cannot do without a CORS preflight (that this service never grants).
fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if json {
        Ok(())
    } else {
        Err(ApiError::Rejected {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            message: "send this request with `Content-Type: application/json`".into(),
        })
    }
}

async fn stop(
    State(state): State<Arc<AppState>>,
    user: Option<Extension<User>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require_json(&headers)?;
    let stopped = match session_id(&headers) {
        Some(id) => state.sessions.stop(owner(&user), &id).await?,
        None => false,
    };
    Ok(Json(json!({"stopped": stopped})).into_response())
}

async fn reset(
    State(state): State<Arc<AppState>>,
    user: Option<Extension<User>>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    require_json(&headers)?;
    if let Some(id) = session_id(&headers) {
        state.sessions.reset(owner(&user), &id).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

fn validate(
    body: Result<Json<ChatRequest>, JsonRejection>,
) -> Result<(String, TimeZone), ApiError> {
    let Json(body) = body.map_err(|rejection| ApiError::Rejected {
        status: rejection.status(),
        message: rejection.body_text(),
    })?;
    let message = body.message.trim().to_owned();
    if message.is_empty() {
        return Err(ApiError::BadRequest("`message` is empty".into()));
    }
    let chars = message.chars().count();
    if chars > MAX_MESSAGE_CHARS {
        return Err(ApiError::BadRequest(format!(
            "`message` has {chars} characters; the limit is {MAX_MESSAGE_CHARS}"
        )));
    }
    let timezone = match body.timezone.as_deref().map(str::trim) {
        None | Some("") => TimeZone::UTC,
        Some(name) => TimeZone::get(name).map_err(|_| {
            ApiError::BadRequest(format!(
                "`timezone` {name:?} is not an IANA time zone name (such as Asia/Tokyo)"
            ))
        })?,
    };
    Ok((message, timezone))
}

async fn chat(
    State(state): State<Arc<AppState>>,
    user: Option<Extension<User>>,
    peer: Peer,
    headers: HeaderMap,
    body: Result<Json<ChatRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let (message, timezone) = validate(body)?;
    // Only ids the store issued are used: an unknown (forged, expired, reset) one gets a new id.
    let owner = owner(&user).to_owned();
    let owner = owner.as_str();
    let existing = match session_id(&headers) {
        Some(id) if state.sessions.exists(owner, &id).await? => Some(id),
        _ => None,
    };
    let id = match &existing {
        Some(id) => id.clone(),
        None => {
            let client = client_ip(&state.access, &headers, peer);
            state.sessions.create(owner, client).await?
        }
    };
    // The evidence the chat's earlier answers may cite (read before the run takes the chat, so
    // a failing read leaves no lease behind).
    let known_refs = match &existing {
        Some(id) => known_refs(&state.sessions.view(owner, id).await?.messages),
        None => Default::default(),
    };
    let (history, ticket) = state.sessions.begin_run(owner, &id, &message).await?;
    let input = RunInput {
        text: message,
        now: Timestamp::now(),
        timezone,
        context: CallContext {
            caller: user.map(|Extension(user)| user.caller()),
        },
        known_refs,
    };
    let (sse_tx, sse_rx) = mpsc::unbounded_channel();
    tokio::spawn(
        runner::run(
            state.clone(),
            owner.to_owned(),
            id.clone(),
            history,
            input,
            ticket,
            sse_tx,
        )
        .instrument(tracing::Span::current()),
    );
    let mut response = no_store(
        Sse::new(runner::event_stream(sse_rx))
            .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
            .into_response(),
    );
    if existing.is_none() {
        response
            .headers_mut()
            .insert(header::SET_COOKIE, set_cookie(&id, state.secure_cookie));
    }
    Ok(response)
}

/// `GET /api/events/{ref}`: the raw event behind a citation. Only a ref a tool returned in the
/// caller's own chat is looked up (through `get_event`, as the caller); any other is 404.
async fn event(
    State(state): State<Arc<AppState>>,
    user: Option<Extension<User>>,
    headers: HeaderMap,
    Path(event_ref): Path<String>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::Rejected {
        status: StatusCode::NOT_FOUND,
        message: format!(
            "no tool in this chat returned the event reference `{}`",
            event_ref.chars().take(16).collect::<String>()
        ),
    };
    if !crate::evidence::is_ref(&event_ref) {
        return Err(not_found());
    }
    let messages = match session_id(&headers) {
        Some(id) => state.sessions.view(owner(&user), &id).await?.messages,
        None => Vec::new(),
    };
    let Some(event_id) = known_refs(&messages).remove(&event_ref) else {
        return Err(not_found());
    };
    let unavailable = |message: String| ApiError::Rejected {
        status: StatusCode::BAD_GATEWAY,
        message,
    };
    let listing = state.agent.tools.list_tools().await;
    let Some(tool) = listing.tools.iter().find(|t| {
        t.name == cloudtrail_contract::GET_EVENT
            || t.name
                .ends_with(&format!("_{}", cloudtrail_contract::GET_EVENT))
    }) else {
        return Err(unavailable(
            "the get_event tool is not available right now (its MCP server did not answer)".into(),
        ));
    };
    let context = CallContext {
        caller: user.map(|Extension(user)| user.caller()),
    };
    let output = state
        .agent
        .tools
        .call_tool(&tool.name, json!({"event_id": event_id}), &context)
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    if output.is_error {
        return Err(unavailable(format!(
            "get_event failed: {}",
            output.text.chars().take(500).collect::<String>()
        )));
    }
    let answer: serde_json::Value = serde_json::from_str(&output.text).map_err(|e| {
        unavailable(format!(
            "get_event answered something that is not JSON: {e}"
        ))
    })?;
    // The raw record (the contract's `EventAnswer.event`), with whether it was cut to fit.
    let body = json!({
        "ref": event_ref,
        "event_id": event_id,
        "event": answer.get("event").cloned().unwrap_or(answer.clone()),
        "truncated": answer.get("truncated").and_then(|t| t.as_bool()).unwrap_or(false),
    });
    Ok(no_store(Json(body).into_response()))
}

/// `GET /api/report.md`: the caller's chat as a Markdown file ([`crate::report`]).
async fn report(
    State(state): State<Arc<AppState>>,
    user: Option<Extension<User>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let messages = match session_id(&headers) {
        Some(id) => state.sessions.view(owner(&user), &id).await?.messages,
        None => Vec::new(),
    };
    let now = Timestamp::now();
    let model = format!("{}: {}", state.model.kind, state.model.id);
    let body = crate::report::build(&messages, now, &model);
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/markdown; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}\"",
        crate::report::file_name(now)
    )) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(no_store(response))
}
