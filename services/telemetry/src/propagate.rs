//! W3C trace context (`traceparent`, `tracestate`) across process boundaries: into and out of
//! HTTP headers, and into and out of an MCP request's `_meta`, where the MCP specification
//! reserves the unprefixed `traceparent`, `tracestate` and `baggage` keys for it.

use std::collections::HashMap;

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TraceContextExt;
use serde_json::{Map, Value};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The trace context keys, as header names and `_meta` keys.
pub const TRACEPARENT: &str = "traceparent";
pub const TRACESTATE: &str = "tracestate";

/// The trace context of `span` as `(key, value)` pairs; empty when tracing is off or the span
/// is disabled.
pub fn fields_of(span: &tracing::Span) -> HashMap<String, String> {
    let mut fields = HashMap::new();
    if !crate::enabled() || span.is_disabled() {
        return fields;
    }
    let context = span.context();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&context, &mut fields));
    fields
}

/// Adds `span`'s trace context to an MCP request's `_meta`.
pub fn inject_meta(span: &tracing::Span, meta: &mut Map<String, Value>) {
    for (key, value) in fields_of(span) {
        meta.insert(key, Value::String(value));
    }
}

/// The `traceparent` of an MCP request's `_meta`, if it has the W3C shape (so it can go into a
/// header as it is).
pub fn traceparent_in_meta(meta: &Map<String, Value>) -> Option<&str> {
    meta.get(TRACEPARENT)
        .and_then(Value::as_str)
        .filter(|v| is_traceparent(v))
}

/// Whether `value` looks like a W3C `traceparent`: `vv-<32 hex>-<16 hex>-ff`.
pub fn is_traceparent(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    parts.len() >= 4
        && hex(parts[0], 2)
        && hex(parts[1], 32)
        && hex(parts[2], 16)
        && hex(parts[3], 2)
}

struct MetaExtractor<'a>(&'a Map<String, Value>);

impl Extractor for MetaExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Value::as_str)
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct HeaderInjector<'a>(&'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// Adds `span`'s trace context to outgoing HTTP headers.
pub fn inject_headers(span: &tracing::Span, headers: &mut http::HeaderMap) {
    if !crate::enabled() || span.is_disabled() {
        return;
    }
    let context = span.context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&context, &mut HeaderInjector(headers))
    });
}

/// The remote parent named by HTTP headers, if any.
pub fn from_headers(headers: &http::HeaderMap) -> Option<Context> {
    valid(opentelemetry::global::get_text_map_propagator(|p| {
        p.extract(&HeaderExtractor(headers))
    }))
}

/// The remote parent named by an MCP request's `_meta`, if any.
pub fn from_meta(meta: &Map<String, Value>) -> Option<Context> {
    valid(opentelemetry::global::get_text_map_propagator(|p| {
        p.extract(&MetaExtractor(meta))
    }))
}

fn valid(context: Context) -> Option<Context> {
    context.span().span_context().is_valid().then_some(context)
}

/// Makes `parent` the parent of `span` (which must not have been entered yet).
pub fn set_parent(span: &tracing::Span, parent: Option<Context>) {
    if let Some(parent) = parent
        && !span.is_disabled()
    {
        let _ = span.set_parent(parent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_shape_is_checked_before_it_becomes_a_header() {
        assert!(is_traceparent(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        ));
        assert!(!is_traceparent("00-4bf92f35-00f067aa0ba902b7-01"));
        assert!(!is_traceparent(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nx: y"
        ));
        let mut meta = Map::new();
        meta.insert(TRACEPARENT.into(), Value::from("not a traceparent"));
        assert_eq!(traceparent_in_meta(&meta), None);
    }

    #[test]
    fn meta_and_headers_name_the_same_parent() {
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        let value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut meta = Map::new();
        meta.insert(TRACEPARENT.into(), Value::from(value));
        let mut headers = http::HeaderMap::new();
        headers.insert(TRACEPARENT, http::HeaderValue::from_static(value));
        let a = from_meta(&meta).unwrap();
        let b = from_headers(&headers).unwrap();
        assert_eq!(
            a.span().span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(a.span().span_context(), b.span().span_context());
        assert!(from_meta(&Map::new()).is_none());
    }
}
