//! Start-up: from a [`Config`] to a running server. The one place the AWS SDK configuration is
//! built (endpoint overrides such as `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` come from the SDK's own
//! chain, which is how tests point the real client at a stand-in).

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::access::AccessPolicy;
use crate::agent::{Agent, Limits};
use crate::api::app;
use crate::config::{Config, ConfigError, ModelKind, SessionStoreKind};
use crate::mcp::{McpAuth, McpConfigError, McpSettings, McpToolbox};
use crate::model::Model;
use crate::model::bedrock::BedrockModel;
use crate::model::offline::OfflineModel;
use crate::server::{ServerLimits, serve as serve_http};
use crate::session::dynamo::{DynamoStore, LeaseSettings};
use crate::session::{MemoryStore, SessionLimits, SessionStore};
use crate::signin::SignIn;
use crate::state::AppState;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Mcp(#[from] McpConfigError),
    #[error("--prices (AGENT_PRICES): {0}")]
    Prices(#[from] crate::metrics::PriceError),
    #[error("no AWS region for Bedrock: set --bedrock-region, AGENT_BEDROCK_REGION or AWS_REGION")]
    NoRegion,
    #[error("no AWS region for the DynamoDB sessions table: set AWS_REGION")]
    NoSessionsRegion,
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Serve(#[from] std::io::Error),
}

/// Builds the AWS SDK configuration (credentials chain, region, endpoint overrides).
pub async fn sdk_config(region: Option<String>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(Region::new(region));
    }
    loader.load().await
}

/// Builds the service state from the configuration.
pub async fn build_state(config: &Config) -> Result<AppState, StartError> {
    let servers = config.mcp_servers()?;
    let dynamodb = config.session_store == SessionStoreKind::Dynamodb;
    let needs_aws = config.model == ModelKind::Bedrock
        || dynamodb
        || servers.iter().any(|s| s.auth == McpAuth::Iam);
    // One SDK configuration (credentials, region, endpoint overrides) for every client.
    let sdk = if needs_aws {
        Some(sdk_config(None).await)
    } else {
        None
    };
    let model: Arc<dyn Model> = match (config.model, &sdk) {
        (ModelKind::Bedrock, Some(sdk)) => {
            let region = config
                .bedrock_region
                .clone()
                .map(Region::new)
                .or_else(|| sdk.region().cloned())
                .ok_or(StartError::NoRegion)?;
            // The loop retries throttling itself so the user sees "retrying in N s".
            let bedrock = aws_sdk_bedrockruntime::config::Builder::from(sdk)
                .region(region)
                .retry_config(RetryConfig::disabled())
                .build();
            Arc::new(BedrockModel::new(
                aws_sdk_bedrockruntime::Client::from_conf(bedrock),
                config.bedrock_model_id.clone(),
                config.max_output_tokens,
            ))
        }
        _ => Arc::new(OfflineModel {
            chunk_delay: Duration::from_millis(config.offline_delay_ms),
        }),
    };
    let credentials = sdk.as_ref().and_then(SdkConfig::credentials_provider);
    let tools = McpToolbox::new(&servers, credentials, &McpSettings::default())?;
    let limits = Limits {
        max_model_calls: config.max_model_calls,
        max_total_tokens: config.max_total_tokens,
        max_wall_time: Duration::from_secs(config.max_wall_secs),
        tool_timeout: Duration::from_secs(config.tool_timeout_secs),
        ..Limits::default()
    };
    let session_limits = SessionLimits {
        max_sessions: config.max_sessions,
        idle_ttl: Duration::from_secs(config.session_idle_secs),
        new_per_client_per_minute: config.new_chats_per_client_per_minute,
        ..SessionLimits::default()
    };
    let sessions: Arc<dyn SessionStore> = match (&sdk, dynamodb) {
        (Some(sdk), true) => {
            let table = config
                .sessions_table
                .clone()
                .filter(|t| !t.trim().is_empty())
                .ok_or(ConfigError::NoSessionsTable)?;
            if sdk.region().is_none() {
                return Err(StartError::NoSessionsRegion);
            }
            // A store request that hangs must not hold a chat request: each has 5 s in all.
            let dynamo = aws_sdk_dynamodb::config::Builder::from(sdk)
                .timeout_config(
                    TimeoutConfig::builder()
                        .operation_timeout(Duration::from_secs(5))
                        .build(),
                )
                .build();
            Arc::new(DynamoStore::new(
                aws_sdk_dynamodb::Client::from_conf(dynamo),
                table,
                session_limits,
                LeaseSettings {
                    lease: Duration::from_secs(config.session_lease_secs),
                    ..LeaseSettings::default()
                },
            ))
        }
        _ => Arc::new(MemoryStore::new(session_limits)),
    };
    Ok(AppState {
        model: model.info(),
        agent: Agent {
            model,
            tools: Arc::new(tools),
            limits,
            persona: config.persona,
        },
        sessions,
        secure_cookie: config.secure_cookie,
        access: Arc::new(AccessPolicy::new(
            &config.allowed_hosts,
            config.trust_forwarded_for,
        )),
        sign_in: Arc::new(SignIn::from_config(config, reqwest::Client::new())?),
        prices: crate::metrics::Prices::with_defaults(&config.prices)?,
        emf: config.metrics_emf,
    })
}

/// Serves until Ctrl-C or SIGTERM (ECS stops tasks with SIGTERM).
pub async fn serve(config: Config) -> Result<(), StartError> {
    let state = Arc::new(build_state(&config).await?);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: config.listen,
            source,
        })?;
    let sweeper = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            let expired = sweeper.sessions.expire_idle().await;
            if expired > 0 {
                tracing::info!(expired, "expired idle sessions");
            }
        }
    });
    tracing::info!(
        addr = %listener.local_addr()?,
        model = %state.model.id,
        mcp_servers = config.mcp_urls.len(),
        session_store = ?config.session_store,
        "agent listening"
    );
    serve_http(
        listener,
        app(state),
        ServerLimits::default(),
        shutdown_signal(),
    )
    .await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => futures::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = futures::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
