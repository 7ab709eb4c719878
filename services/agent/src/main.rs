//! `agent`: the AWS operations agent web service. Flags and `AGENT_*` variables: see `--help`;
//! traces: the standard `OTEL_*` variables (see the `telemetry` crate).

use agent::config::{Config, LogFormat};
use clap::Parser;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = Config::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = match config.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer().json().boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer().boxed(),
    };
    let (traces, _telemetry) = match telemetry::init("agent", &["agent"]) {
        Ok(Some((layer, guard))) => (Some(layer), Some(guard)),
        Ok(None) => (None, None),
        Err(error) => {
            eprintln!("agent: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(traces)
        .init();
    match agent::startup::serve(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "agent stopped");
            eprintln!("agent: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
