//! The chat page and its static files, built into the binary (no files to ship next to it).

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::state::AppState;

/// The page's Content Security Policy: only our own scripts, styles and API; no inline code,
/// so HTML that slips into the page through model or tool output cannot run script.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `(path under /assets/, content type, bytes)`.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/app.js"),
    ),
    (
        "i18n.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/i18n.js"),
    ),
    (
        "evidence.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/evidence.js"),
    ),
    (
        "chart.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/chart.js"),
    ),
    (
        "results.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/results.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/style.css"),
    ),
    (
        "vendor/markdown-it.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/vendor/markdown-it.min.js"),
    ),
    (
        "vendor/purify.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/vendor/purify.min.js"),
    ),
];

const INDEX: &[u8] = include_bytes!("../assets/index.html");

/// The page's icon (an SVG, linked from `index.html`; also at `/favicon.ico`, where browsers and
/// bookmarking tools look without a link).
const FAVICON: &[u8] = include_bytes!("../assets/favicon.svg");

/// Routes for `/`, `/favicon.ico` and `/assets/*`.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(index))
        .route("/favicon.ico", get(favicon))
        .route("/assets/favicon.svg", get(favicon))
        .route("/assets/{*path}", get(asset))
}

/// The icon rarely changes and is fetched on every first visit: cached for a day.
async fn favicon() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("image/svg+xml"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
        ],
        FAVICON,
    )
        .into_response()
}

async fn index() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        INDEX,
    )
        .into_response()
}

async fn asset(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == path) {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
