//! OpenTelemetry traces for both services: the OTLP exporter when the standard `OTEL_*`
//! variables ask for one ([`export`]), signed for X-Ray's OTLP endpoint ([`xray`], [`sigv4`]),
//! W3C trace context in and out of HTTP headers and MCP
//! `_meta` ([`propagate`]), and the switch that keeps tracing free when it is off.
//!
//! When no exporter is configured nothing is installed: [`span`] returns [`tracing::Span::none`]
//! without building the span's fields, so the hot path pays one relaxed atomic load.

pub mod export;
pub mod propagate;
pub mod sigv4;
pub mod xray;

use std::sync::atomic::{AtomicBool, Ordering};

pub use export::{Telemetry, TelemetryError, flush, init};

static ENABLED: AtomicBool = AtomicBool::new(false);
static CAPTURE_CONTENT: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported (an exporter was installed by [`init`]).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Whether prompts, answers and tool arguments/results may go into spans: only when
/// `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true` (the variable the OpenTelemetry GenAI
/// instrumentations use) and tracing is on.
pub fn capture_content() -> bool {
    enabled() && CAPTURE_CONTENT.load(Ordering::Relaxed)
}

/// The span `make` builds when tracing is on, else a disabled span (nothing is built).
pub fn span(make: impl FnOnce() -> tracing::Span) -> tracing::Span {
    if enabled() {
        make()
    } else {
        tracing::Span::none()
    }
}

/// The variable that turns content capture on.
pub const CAPTURE_CONTENT_VAR: &str = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT";

fn set_enabled(on: bool, capture: bool) {
    ENABLED.store(on, Ordering::Relaxed);
    CAPTURE_CONTENT.store(capture, Ordering::Relaxed);
}

/// Sets a string-array attribute (such as `gen_ai.response.finish_reasons`) on `span`'s
/// OpenTelemetry span; `tracing` fields cannot hold arrays.
pub fn set_string_array(span: &tracing::Span, key: &'static str, values: &[&str]) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    if !enabled() || span.is_disabled() {
        return;
    }
    let values = values
        .iter()
        .map(|v| opentelemetry::StringValue::from(v.to_string()))
        .collect();
    span.set_attribute(
        key,
        opentelemetry::Value::Array(opentelemetry::Array::String(values)),
    );
}
