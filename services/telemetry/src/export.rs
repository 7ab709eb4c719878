//! The exporter: decides from the standard environment whether to export, and installs an OTLP
//! over HTTP (protobuf) span exporter with a batch processor on tokio.
//!
//! The HTTP client is hyper's with rustls (both already in both binaries through the AWS SDK),
//! `http://` or `https://`. When the endpoint is the X-Ray OTLP traces endpoint
//! (`https://xray.<region>.amazonaws.com/v1/traces`, as the deployed stack sets it) every export
//! is signed with SigV4 (service `xray`) with the process's AWS credentials, so spans go straight
//! to X-Ray / CloudWatch Transaction Search with no collector beside the process: [`crate::xray`].

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::runtime::Tokio;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use tracing::Level;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::registry::LookupSpan;

/// Why tracing could not be set up as configured.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("{var}={value}: the endpoint must be an http:// or https:// URL")]
    NotHttp { var: &'static str, value: String },
    #[error("AWS_ENDPOINT_URL_XRAY={0}: not an http:// or https:// URL")]
    XrayOverride(String),
    #[error("OTEL_EXPORTER_OTLP_PROTOCOL={0}: only http/protobuf is supported")]
    Protocol(String),
    #[error("OTEL_TRACES_EXPORTER={0}: only `otlp` and `none` are supported")]
    Exporter(String),
    #[error("cannot build the OTLP exporter: {0}")]
    Build(String),
}

/// The installed tracer provider: flushes and shuts down on drop (keep it alive in `main`).
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
}

static PROVIDER: std::sync::OnceLock<SdkTracerProvider> = std::sync::OnceLock::new();

/// Exports the spans queued so far and waits for it; nothing when tracing is off. Lambda calls
/// this before an invocation's answer leaves, since the process may be frozen right after.
/// Blocks: call it from a blocking thread (`tokio::task::spawn_blocking`).
pub fn flush() {
    if let Some(provider) = PROVIDER.get()
        && let Err(error) = provider.force_flush()
    {
        tracing::debug!(%error, "span flush failed");
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        let _ = self.provider.shutdown_with_timeout(Duration::from_secs(5));
    }
}

/// What the environment asks for (read through `var`, for tests).
#[derive(Debug, PartialEq, Eq)]
enum Wanted {
    Nothing,
    /// OTLP export; to the X-Ray endpoint of this region (signed) when it is one.
    Otlp {
        xray_region: Option<String>,
    },
}

fn wanted(var: impl Fn(&str) -> Option<String>) -> Result<Wanted, TelemetryError> {
    if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Ok(Wanted::Nothing);
    }
    let endpoint_vars = [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ];
    let exporter = var("OTEL_TRACES_EXPORTER").map(|v| v.trim().to_ascii_lowercase());
    match exporter.as_deref() {
        Some("none") => return Ok(Wanted::Nothing),
        Some("otlp") => {}
        Some(other) if !other.is_empty() => return Err(TelemetryError::Exporter(other.into())),
        _ => {
            if !endpoint_vars.iter().any(|v| var(v).is_some()) {
                return Ok(Wanted::Nothing);
            }
        }
    }
    let mut xray_region = None;
    // The traces endpoint wins over the general one (OTLP exporter specification).
    for name in endpoint_vars.iter().rev() {
        if let Some(value) = var(name) {
            let lower = value.trim().to_ascii_lowercase();
            if !(lower.starts_with("http://") || lower.starts_with("https://")) {
                return Err(TelemetryError::NotHttp { var: name, value });
            }
            xray_region = crate::xray::region_of(&value);
        }
    }
    for name in [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ] {
        if let Some(value) = var(name)
            && value.trim() != "http/protobuf"
        {
            return Err(TelemetryError::Protocol(value));
        }
    }
    Ok(Wanted::Otlp { xray_region })
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Installs the exporter if the environment asks for one: `OTEL_TRACES_EXPORTER=otlp`, or an
/// `OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT` (default `http://localhost:4318` with the former).
/// Returns the layer to add to the subscriber and the provider's guard, or `None` when tracing
/// stays off. `service` names the service unless `OTEL_SERVICE_NAME` does. Must run inside a
/// tokio runtime (the batch processor is a task on it).
///
/// The layer has its own filter, apart from the logs' `RUST_LOG`: it exports the INFO (and
/// more severe) spans of the `targets` (module path prefixes, such as `agent`) and nothing
/// else. Log events never become span events, so no log text reaches a trace.
pub fn init<S>(
    service: &'static str,
    targets: &'static [&'static str],
) -> Result<Option<(impl Layer<S>, Telemetry)>, TelemetryError>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span> + Send + Sync,
{
    let Wanted::Otlp { xray_region } = wanted(env)? else {
        return Ok(None);
    };
    let timeout = env("OTEL_EXPORTER_OTLP_TIMEOUT")
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(10), Duration::from_millis);
    let endpoint_override = match env("AWS_ENDPOINT_URL_XRAY") {
        Some(url) => Some(
            url.parse::<http::Uri>()
                .ok()
                .filter(|u| matches!(u.scheme_str(), Some("http" | "https")))
                .ok_or(TelemetryError::XrayOverride(url))?,
        ),
        None => None,
    };
    let client = crate::xray::OtlpClient::new(timeout, xray_region, endpoint_override)
        .map_err(|e| TelemetryError::Build(e.to_string()))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_http_client(client)
        .build()
        .map_err(|e| TelemetryError::Build(e.to_string()))?;
    let mut resource = Resource::builder();
    if env("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(service);
    }
    let provider = SdkTracerProvider::builder()
        .with_span_processor(BatchSpanProcessor::builder(exporter, Tokio).build())
        .with_resource(resource.build())
        .build();
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let tracer = provider.tracer(service);
    let _ = PROVIDER.set(provider.clone());
    let capture = env(crate::CAPTURE_CONTENT_VAR).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    crate::set_enabled(true, capture);
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_tracked_inactivity(false)
        .with_threads(false)
        .with_location(false)
        .with_filter(filter_fn(move |meta| {
            meta.is_span() && *meta.level() <= Level::INFO && is_ours(meta.target(), targets)
        }));
    Ok(Some((layer, Telemetry { provider })))
}

/// Whether `target` is one of `targets` or inside one (`agent::mcp` is inside `agent`).
fn is_ours(target: &str, targets: &[&str]) -> bool {
    targets.iter().any(|t| {
        target
            .strip_prefix(t)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_our_targets_are_exported() {
        let ours = ["agent", "cloudtrail_mcp"];
        assert!(super::is_ours("agent", &ours));
        assert!(super::is_ours("agent::mcp::server", &ours));
        assert!(!super::is_ours("agentx", &ours));
        assert!(!super::is_ours("rmcp::service", &ours));
    }

    use super::*;

    fn with(vars: &[(&str, &str)]) -> Result<Wanted, TelemetryError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        wanted(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn nothing_unless_an_endpoint_or_the_exporter_is_named() {
        assert_eq!(with(&[]).unwrap(), Wanted::Nothing);
        assert_eq!(
            with(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")]).unwrap(),
            Wanted::Otlp { xray_region: None }
        );
        assert_eq!(
            with(&[("OTEL_TRACES_EXPORTER", "otlp")]).unwrap(),
            Wanted::Otlp { xray_region: None }
        );
        assert_eq!(
            with(&[
                ("OTEL_TRACES_EXPORTER", "none"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://x:4318")
            ])
            .unwrap(),
            Wanted::Nothing
        );
        assert_eq!(
            with(&[
                ("OTEL_SDK_DISABLED", "true"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://x:4318")
            ])
            .unwrap(),
            Wanted::Nothing
        );
    }

    #[test]
    fn the_xray_endpoint_is_recognised_and_the_traces_endpoint_wins() {
        assert_eq!(
            with(&[(
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://xray.ap-northeast-1.amazonaws.com/v1/traces"
            )])
            .unwrap(),
            Wanted::Otlp {
                xray_region: Some("ap-northeast-1".into())
            }
        );
        assert_eq!(
            with(&[
                (
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                    "https://collector.example:4318"
                ),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "https://xray.eu-west-1.amazonaws.com/v1/traces"
                ),
            ])
            .unwrap(),
            Wanted::Otlp {
                xray_region: Some("eu-west-1".into())
            }
        );
        assert_eq!(
            with(&[
                (
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                    "https://xray.eu-west-1.amazonaws.com"
                ),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "http://127.0.0.1:4318/v1/traces"
                ),
            ])
            .unwrap(),
            Wanted::Otlp { xray_region: None }
        );
    }

    #[test]
    fn unsupported_settings_are_named() {
        let ftp = with(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://collector:4318")]);
        assert!(
            ftp.unwrap_err()
                .to_string()
                .contains("OTEL_EXPORTER_OTLP_ENDPOINT=ftp://collector:4318")
        );
        let grpc = with(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ]);
        assert!(matches!(grpc, Err(TelemetryError::Protocol(p)) if p == "grpc"));
        assert!(matches!(
            with(&[("OTEL_TRACES_EXPORTER", "zipkin")]),
            Err(TelemetryError::Exporter(_))
        ));
    }
}
