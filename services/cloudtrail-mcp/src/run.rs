//! Start-up: builds the AWS config and the event source from [`Config`], then serves the router
//! locally or on Lambda (detected by `AWS_LAMBDA_RUNTIME_API`).

use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use jiff::Timestamp;

use crate::config::{Config, SourceKind};
use crate::cursor::CursorCodec;
use crate::http::{HostPolicy, app};
use crate::source::archive::LogArchive;
#[cfg(feature = "athena")]
use crate::source::athena::{AthenaSettings, AthenaSource};
use crate::source::builtin::SampleSource;
use crate::source::multi_region::MultiRegionApi;
use crate::source::regions::is_region_name;
#[cfg(feature = "s3")]
use crate::source::s3::{S3Archive, S3ArchiveSettings};
use crate::source::{EventSource, SourceError};
use crate::tools::{CloudTrailServer, ToolSettings};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "--source archive needs --archive-dir (CLOUDTRAIL_MCP_ARCHIVE_DIR) or --archive-s3 (CLOUDTRAIL_MCP_ARCHIVE_S3)"
    )]
    MissingArchiveDir,
    #[error(
        "--archive-dir takes a local directory; `{0}` is an S3 location: give it with --archive-s3 (CLOUDTRAIL_MCP_ARCHIVE_S3)"
    )]
    S3InArchiveDir(String),
    #[error(
        "--archive-s3 needs cloudtrail-mcp built with the `s3` feature (default; the Lambda build leaves it out unless asked)"
    )]
    S3NotBuilt,
    #[error("no AWS region: set --region, CLOUDTRAIL_MCP_REGION or AWS_REGION")]
    MissingRegion,
    #[error(
        "--regions (CLOUDTRAIL_MCP_REGIONS) holds `{0}`, which is not a region name; expected comma-separated names like us-east-1,eu-west-1"
    )]
    InvalidRegion(String),
    #[error(
        "--source athena needs cloudtrail-mcp built with the `athena` feature (default; the Lambda build leaves it out unless asked)"
    )]
    AthenaNotBuilt,
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Serve(#[from] std::io::Error),
    #[error("Lambda runtime error: {0}")]
    Lambda(String),
}

/// Whether this process runs inside AWS Lambda.
pub fn on_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

/// The one place the AWS SDK configuration is built. The region comes from `region` or the
/// default chain; endpoint overrides (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_CLOUDTRAIL`,
/// `AWS_ENDPOINT_URL_S3`) are
/// honoured by the chain, which is how tests point the real client at a stand-in.
pub async fn sdk_config(region: Option<String>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(Region::new(region));
    }
    loader.load().await
}

/// Builds the event source `config` asks for.
pub async fn build_source(
    config: &Config,
    lambda: bool,
) -> Result<Arc<dyn EventSource>, StartError> {
    let kind = config.source.unwrap_or(if lambda {
        SourceKind::Api
    } else {
        SourceKind::Sample
    });
    Ok(match kind {
        SourceKind::Sample => {
            let sample = SampleSource::new(
                config.sample_anchor.unwrap_or_else(Timestamp::now),
                config.sample_seed,
            );
            sample.warm_up();
            Arc::new(sample)
        }
        #[cfg(not(feature = "s3"))]
        SourceKind::Archive if config.archive_s3.is_some() => return Err(StartError::S3NotBuilt),
        #[cfg(feature = "s3")]
        SourceKind::Archive if config.archive_s3.is_some() => {
            let location = config
                .archive_s3
                .clone()
                .ok_or(StartError::MissingArchiveDir)?;
            let sdk = sdk_config(config.region.clone()).await;
            if sdk.region().is_none() {
                return Err(StartError::MissingRegion);
            }
            // The endpoint override of a local S3 (AWS_ENDPOINT_URL_S3) comes from the chain.
            let s3 = aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(config.s3_force_path_style)
                .build();
            Arc::new(S3Archive::new(
                aws_sdk_s3::Client::from_conf(s3),
                location,
                S3ArchiveSettings {
                    max_days: config.archive_max_days,
                    cache_bytes: (config.archive_cache_mib as usize) << 20,
                    ..S3ArchiveSettings::default()
                },
            ))
        }
        SourceKind::Archive => {
            let dir = config
                .archive_dir
                .clone()
                .ok_or(StartError::MissingArchiveDir)?;
            if let Some(url) = dir.to_str().filter(|d| d.starts_with("s3://")) {
                return Err(StartError::S3InArchiveDir(url.to_owned()));
            }
            let archive = tokio::task::spawn_blocking(move || LogArchive::from_dir(&dir))
                .await
                .expect("archive loading does not panic")?;
            Arc::new(archive)
        }
        #[cfg(not(feature = "athena"))]
        SourceKind::Athena => return Err(StartError::AthenaNotBuilt),
        #[cfg(feature = "athena")]
        SourceKind::Athena => {
            let sdk = sdk_config(config.region.clone()).await;
            if sdk.region().is_none() {
                return Err(StartError::MissingRegion);
            }
            Arc::new(AthenaSource::new(
                &sdk,
                AthenaSettings {
                    workgroup: config.athena_workgroup.clone(),
                    database: config.athena_database.clone(),
                    table: config.athena_table.clone(),
                    catalog: None,
                    wait: Duration::from_secs(config.athena_wait_secs),
                    max_days: config.athena_max_days,
                },
            )?)
        }
        SourceKind::Api => {
            let regions: Vec<String> = config
                .regions
                .iter()
                .map(|r| r.trim().to_owned())
                .filter(|r| !r.is_empty())
                .collect();
            if let Some(bad) = regions.iter().find(|r| !is_region_name(r)) {
                return Err(StartError::InvalidRegion(bad.clone()));
            }
            let sdk = sdk_config(config.region.clone()).await;
            if sdk.region().is_none() && regions.is_empty() {
                return Err(StartError::MissingRegion);
            }
            Arc::new(MultiRegionApi::new(&sdk, &regions)?)
        }
    })
}

/// On Lambda, the spans of an invocation leave before its answer does: the runtime may freeze
/// the process as soon as the answer is out, with the spans still queued.
async fn flush_spans(response: axum::response::Response) -> axum::response::Response {
    if telemetry::enabled() {
        let _ = tokio::task::spawn_blocking(telemetry::flush).await;
    }
    response
}

/// Runs the server until it is stopped.
pub async fn run(config: Config) -> Result<(), StartError> {
    let lambda = on_lambda();
    let source = build_source(&config, lambda).await?;
    tracing::info!(source = source.id(), lambda, "event source ready");
    let server = CloudTrailServer::new(
        source,
        CursorCodec::new(config.cursor_key.as_bytes()),
        ToolSettings {
            redact_source_ip: config.redact_source_ip,
            max_response_bytes: config.max_response_bytes as usize,
            summary_scan_time: Duration::from_secs(config.summary_scan_secs),
        },
    );
    if lambda {
        let region = std::env::var("AWS_REGION").map_err(|_| StartError::MissingRegion)?;
        let hosts = HostPolicy::lambda_function_url(&region).allow(&config.allowed_hosts);
        let router = app(server, hosts).layer(axum::middleware::map_response(flush_spans));
        return lambda_http::run(router)
            .await
            .map_err(|e| StartError::Lambda(e.to_string()));
    }
    let hosts = HostPolicy::loopback().allow(&config.allowed_hosts);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr()?;
    // Scripts wait for this line to learn the port (with --listen 127.0.0.1:0).
    println!("cloudtrail-mcp listening on http://{addr}/mcp");
    crate::serve::serve(
        listener,
        app(server, hosts),
        crate::serve::HEADER_READ_TIMEOUT,
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    )
    .await;
    Ok(())
}
