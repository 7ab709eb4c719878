//! `cloudtrail-mcp`: serves the CloudTrail MCP tools locally or on AWS Lambda.

use std::process::ExitCode;

use clap::Parser;
use cloudtrail_mcp::config::{Command, Config};
use cloudtrail_mcp::run::{on_lambda, run};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,rmcp=error"));
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = if config.log_json || on_lambda() {
        logs.json()
            .with_current_span(false)
            .with_span_list(false)
            .boxed()
    } else {
        logs.compact().boxed()
    };
    // Traces when the standard OTEL_* variables ask for them (see the `telemetry` crate).
    let (traces, _telemetry) = match telemetry::init("cloudtrail-mcp", &["cloudtrail_mcp"]) {
        Ok(Some((layer, guard))) => (Some(layer), Some(guard)),
        Ok(None) => (None, None),
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(traces)
        .init();
    if let Some(Command::WriteSample { dir }) = &config.command {
        let records = cloudtrail_mcp::sample::generate(
            config.sample_anchor.unwrap_or_else(jiff::Timestamp::now),
            config.sample_seed,
        );
        return match cloudtrail_mcp::sample::write_archive(dir, &records) {
            Ok(_) => {
                println!("wrote {} events to {}", records.len(), dir.display());
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!(
                    "error: cannot write the sample archive to {}: {error}",
                    dir.display()
                );
                ExitCode::FAILURE
            }
        };
    }
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "cloudtrail-mcp stopped");
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
