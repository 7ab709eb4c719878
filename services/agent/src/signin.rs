//! The sign-in gate: runs before every handler but the health check. With an ALB configured
//! (`--alb-arn`), a request's `x-amzn-oidc-data` token is verified ([`crate::identity`]) and the
//! [`crate::identity::User`] goes into the request's extensions for the handlers; a request without one is refused
//! when identity is required (`--require-alb-identity`, set by the stack whenever OIDC is on).
//! A token that is present but invalid is always refused. Without an ALB configured (local runs)
//! the header is ignored: nothing could verify it.
//!
//! Refusals are 401 (no or invalid token), 403 (a valid user outside the allow-lists) or 503 (the
//! key endpoint cannot be read), as a small HTML page for the browser's page loads and as
//! `{"error": ...}` for the API.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use jiff::Timestamp;
use serde_json::json;

use crate::allow::AllowList;
use crate::config::{Config, ConfigError};
use crate::identity::{AlbVerifier, IdentityError, OIDC_DATA_HEADER, key_endpoint_for};

/// What the gate checks.
#[derive(Debug, Default)]
pub struct SignIn {
    /// The ALB's token verifier; `None` when no ALB is configured.
    pub verifier: Option<AlbVerifier>,
    /// Refuse requests that carry no token.
    pub required: bool,
}

impl SignIn {
    /// The gate the configuration asks for; `http` fetches the ALB's keys.
    pub fn from_config(config: &Config, http: reqwest::Client) -> Result<Self, ConfigError> {
        let allow = AllowList::new(
            &config.allowed_email_domains,
            &config.allowed_groups,
            &config.groups_claim,
        );
        let Some(alb_arn) = config.alb_arn.clone().filter(|a| !a.trim().is_empty()) else {
            if config.require_alb_identity {
                return Err(ConfigError::NeedsAlb("require-alb-identity"));
            }
            if !allow.email_domains.is_empty() {
                return Err(ConfigError::NeedsAlb("allowed-email-domains"));
            }
            if !allow.groups.is_empty() {
                return Err(ConfigError::NeedsAlb("allowed-groups"));
            }
            return Ok(Self::default());
        };
        let key_endpoint = match &config.alb_key_endpoint {
            Some(url) => url.clone(),
            None => {
                key_endpoint_for(&alb_arn).ok_or_else(|| ConfigError::AlbArn(alb_arn.clone()))?
            }
        };
        Ok(Self {
            verifier: Some(AlbVerifier::new(alb_arn, key_endpoint, allow, http)),
            required: config.require_alb_identity,
        })
    }
}

/// The HTTP status of a refusal.
pub fn status_of(error: &IdentityError) -> StatusCode {
    match error {
        IdentityError::NotAllowed { .. } => StatusCode::FORBIDDEN,
        IdentityError::KeyUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::UNAUTHORIZED,
    }
}

/// The middleware: verifies the caller and adds their [`crate::identity::User`] to the request.
pub async fn guard(State(gate): State<Arc<SignIn>>, mut request: Request, next: Next) -> Response {
    // The target group's health check comes from the ALB's nodes without a login.
    if request.uri().path() == "/healthz" {
        return next.run(request).await;
    }
    let Some(verifier) = &gate.verifier else {
        return next.run(request).await;
    };
    let token = request
        .headers()
        .get(OIDC_DATA_HEADER)
        .map(|v| v.to_str().unwrap_or(""));
    let outcome = match token {
        None if !gate.required => return next.run(request).await,
        None => Err(IdentityError::Missing),
        Some(token) => verifier.verify(token, Timestamp::now()).await,
    };
    match outcome {
        Ok(user) => {
            request.extensions_mut().insert(user);
            next.run(request).await
        }
        Err(error) => {
            // The reason, never the token.
            tracing::warn!(error = %error, path = %request.uri().path(), "sign-in refused");
            refusal(&error, request.headers())
        }
    }
}

fn refusal(error: &IdentityError, headers: &HeaderMap) -> Response {
    let status = status_of(error);
    let wants_page = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    let mut response = if wants_page {
        let title = match status {
            StatusCode::FORBIDDEN => "Access not granted",
            StatusCode::SERVICE_UNAVAILABLE => "Sign-in cannot be checked right now",
            _ => "Sign-in required",
        };
        let page = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
<body><main><h1>{title}</h1><p>{}</p></main></body></html>",
            escape_html(&error.to_string())
        );
        (status, Html(page)).into_response()
    } else {
        (status, Json(json!({"error": error.to_string()}))).into_response()
    };
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// The five characters that matter in HTML text and attributes.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_from_the_token_cannot_inject_markup() {
        let error = IdentityError::NotAllowed {
            who: "<img src=x onerror=alert(1)>@evil.test".into(),
            why: "only e-mail addresses at example.com are allowed".into(),
        };
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, "text/html".parse().expect("header"));
        let response = refusal(&error, &headers);
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(escape_html("<a href='x'>&").eq("&lt;a href=&#39;x&#39;&gt;&amp;"));
    }
}
