//! The HTTP API: the chat page, `POST /api/chat` streaming a run as Server-Sent Events, stop,
//! reset, the session view and the health check. [`app`] builds the router for `main` and tests.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::{FutureExt, Stream};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tracing::Instrument;

use crate::agent::{Agent, RunInput};
use crate::conversation::Usage;
use crate::events::{AgentEvent, ErrorKind, RunEnd};
use crate::model::ModelInfo;
use crate::session::{SessionError, SessionStore};
use crate::web;

/// The session cookie's name.
pub const COOKIE: &str = "agent_session";
/// Longest accepted chat message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 8000;

/// Shared state of the service.
pub struct AppState {
    pub agent: Agent,
    pub sessions: SessionStore,
    pub model: ModelInfo,
    /// Adds `Secure` to the cookie (HTTPS deployments).
    pub secure_cookie: bool,
}

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
        };
        (status, Json(json!({"error": self.to_string()}))).into_response()
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
        .merge(web::routes())
        .with_state(state)
        .layer(DefaultBodyLimit::max(64 * 1024))
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

/// The session id from the cookie, if it is one of ours.
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

async fn session_view(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let view = session_id(&headers).map(|id| state.sessions.view(&id));
    let (running, messages) = view.map_or((false, vec![]), |v| (v.running, v.messages));
    Json(json!({"model": state.model, "running": running, "messages": messages})).into_response()
}

async fn stop(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let stopped = session_id(&headers).is_some_and(|id| state.sessions.stop(&id));
    Json(json!({"stopped": stopped})).into_response()
}

async fn reset(State(state): State<Arc<AppState>>, headers: HeaderMap) -> StatusCode {
    if let Some(id) = session_id(&headers) {
        state.sessions.reset(&id);
    }
    StatusCode::NO_CONTENT
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
    headers: HeaderMap,
    body: Result<Json<ChatRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let (message, timezone) = validate(body)?;
    let existing = session_id(&headers);
    let id = existing
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let (history, cancel) = state.sessions.begin_run(&id, &message)?;
    let input = RunInput {
        text: message,
        now: Timestamp::now(),
        timezone,
    };
    let (sse_tx, sse_rx) = mpsc::unbounded_channel();
    tokio::spawn(
        run(state.clone(), id.clone(), history, input, cancel, sse_tx)
            .instrument(tracing::Span::current()),
    );
    let mut response = Sse::new(event_stream(sse_rx))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if existing.is_none() {
        response
            .headers_mut()
            .insert(header::SET_COOKIE, set_cookie(&id, state.secure_cookie));
    }
    Ok(response)
}

/// Runs the agent, relaying events to the session transcript and the SSE stream. `done` goes
/// out only after the session is free again, so a client may send its next message as soon as
/// it sees `done`. The run goes on if the browser disconnects (a reload then shows it).
async fn run(
    state: Arc<AppState>,
    id: String,
    mut history: Vec<crate::conversation::Message>,
    input: RunInput,
    cancel: tokio_util::sync::CancellationToken,
    sse: mpsc::UnboundedSender<AgentEvent>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let agent_run = async {
        let outcome =
            std::panic::AssertUnwindSafe(state.agent.run(&mut history, input, &tx, &cancel))
                .catch_unwind()
                .await;
        drop(tx);
        outcome.is_ok()
    };
    let relay = async {
        let mut done = None;
        while let Some(event) = rx.recv().await {
            state.sessions.apply(&id, &event);
            if matches!(event, AgentEvent::Done { .. }) {
                done = Some(event);
            } else {
                let _ = sse.send(event);
            }
        }
        done
    };
    let (completed, done) = tokio::join!(agent_run, relay);
    if !completed {
        tracing::error!("the agent run panicked");
        history.clear();
        let error = AgentEvent::Error {
            kind: ErrorKind::Internal,
            message: "internal error: the answer was lost; the chat continues".into(),
        };
        state.sessions.apply(&id, &error);
        let _ = sse.send(error);
    }
    state.sessions.finish_run(&id, history);
    let _ = sse.send(done.unwrap_or(AgentEvent::Done {
        stop_reason: RunEnd::Error,
        usage: Usage::default(),
    }));
}

fn event_stream(
    rx: mpsc::UnboundedReceiver<AgentEvent>,
) -> impl Stream<Item = Result<Event, std::convert::Infallible>> {
    futures::stream::unfold(rx, |mut rx| async move {
        let event = rx.recv().await?;
        let sse = Event::default()
            .event(event.name())
            .json_data(event.data())
            .unwrap_or_else(|_| Event::default().event("error"));
        Some((Ok(sse), rx))
    })
}
