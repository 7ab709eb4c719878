//! `cloudtrail-mcp`: serves the CloudTrail MCP tools locally or on AWS Lambda.

use std::process::ExitCode;

use clap::Parser;
use cloudtrail_mcp::config::{Command, Config};
use cloudtrail_mcp::run::{on_lambda, run};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,rmcp=error"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log_json || on_lambda() {
        logs.json().with_current_span(false).init();
    } else {
        logs.compact().init();
    }
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
