//! The MCP client side: any number of MCP servers from configuration, each with a URL, an auth
//! mode and a tool-name prefix, offered to the agent loop as one [`ToolProvider`].

pub mod names;
pub mod server;
pub mod sigv4;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_credential_types::provider::SharedCredentialsProvider;
use serde_json::Value;
use tokio::sync::RwLock;

use self::names::{bedrock_tool_name, converse_schema};
use self::server::{HttpClient, McpServer};
use self::sigv4::{SigV4Signer, SigningHttpClient, region_from_function_url};
use crate::tools::{ToolError, ToolListing, ToolOutput, ToolProvider, ToolSpec};

/// How the agent authenticates to an MCP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum McpAuth {
    /// No authentication (a local server).
    None,
    /// SigV4 with the default credential chain (a Function URL with `AWS_IAM` auth).
    Iam,
}

/// One configured MCP server.
#[derive(Debug, Clone)]
pub struct McpServerConfig {
    pub url: String,
    pub auth: McpAuth,
    /// Prepended to the server's tool names (keeps names unique across servers).
    pub prefix: String,
    /// Signing region when the URL's host does not name one.
    pub region: Option<String>,
}

/// Why the MCP configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum McpConfigError {
    #[error("MCP URL `{0}` is not an http(s) URL")]
    BadUrl(String),
    #[error(
        "MCP server `{0}` uses iam auth but its host names no region: set --mcp-region (AGENT_MCP_REGION)"
    )]
    NoRegion(String),
    #[error("MCP server `{0}` uses iam auth but no AWS credentials provider is configured")]
    NoCredentials(String),
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// Timeouts and cache settings of the toolbox.
#[derive(Debug, Clone)]
pub struct McpSettings {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub tool_ttl: Duration,
}

impl Default for McpSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(60),
            tool_ttl: Duration::from_secs(300),
        }
    }
}

/// All configured MCP servers as one tool provider.
#[derive(Debug)]
pub struct McpToolbox {
    /// Each server with its tool-name prefix.
    servers: Vec<(McpServer, String)>,
    /// Bedrock tool name -> (server index, the server's tool name), from the last listing.
    routes: RwLock<HashMap<String, (usize, String)>>,
}

impl McpToolbox {
    /// Builds the toolbox. `credentials` is needed only for servers with `iam` auth.
    pub fn new(
        configs: &[McpServerConfig],
        credentials: Option<SharedCredentialsProvider>,
        settings: &McpSettings,
    ) -> Result<Self, McpConfigError> {
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .build()?;
        let mut servers = Vec::new();
        for config in configs {
            let label = reqwest::Url::parse(&config.url)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .and_then(|u| u.host_str().map(|h| h.to_owned()))
                .ok_or_else(|| McpConfigError::BadUrl(config.url.clone()))?;
            let label = if config.prefix.is_empty() {
                label
            } else {
                config.prefix.trim_end_matches('_').to_owned()
            };
            let client = match config.auth {
                McpAuth::None => HttpClient::Plain(http.clone()),
                McpAuth::Iam => {
                    let region = region_from_function_url(&config.url)
                        .or_else(|| config.region.clone())
                        .ok_or_else(|| McpConfigError::NoRegion(config.url.clone()))?;
                    let provider = credentials
                        .clone()
                        .ok_or_else(|| McpConfigError::NoCredentials(config.url.clone()))?;
                    let signer = Arc::new(SigV4Signer::new(provider, region));
                    HttpClient::Signed(SigningHttpClient::new(http.clone(), signer))
                }
            };
            let server = McpServer::new(
                label,
                config.url.clone(),
                client,
                settings.connect_timeout,
                settings.tool_ttl,
            );
            servers.push((server, config.prefix.clone()));
        }
        Ok(Self {
            servers,
            routes: RwLock::new(HashMap::new()),
        })
    }
}

#[async_trait]
impl ToolProvider for McpToolbox {
    async fn list_tools(&self) -> ToolListing {
        let lists = futures::future::join_all(self.servers.iter().map(|(s, _)| s.tools())).await;
        let mut listing = ToolListing::default();
        let mut routes = HashMap::new();
        let mut taken = HashSet::new();
        for (index, list) in lists.into_iter().enumerate() {
            match list {
                Ok(tools) => {
                    let prefix = &self.servers[index].1;
                    for tool in tools {
                        let name = bedrock_tool_name(prefix, &tool.name, &taken);
                        taken.insert(name.clone());
                        routes.insert(name.clone(), (index, tool.name.to_string()));
                        listing.tools.push(ToolSpec {
                            name,
                            description: tool
                                .description
                                .as_deref()
                                .unwrap_or("(no description)")
                                .to_owned(),
                            input_schema: converse_schema(&tool.input_schema),
                        });
                    }
                }
                Err(error) => listing.unavailable.push(error),
            }
        }
        *self.routes.write().await = routes;
        listing
    }

    async fn call_tool(&self, name: &str, input: Value) -> Result<ToolOutput, ToolError> {
        let route = self.routes.read().await.get(name).cloned();
        let (index, tool) = route.ok_or_else(|| ToolError::UnknownTool(name.to_owned()))?;
        self.servers[index].0.call(&tool, input).await
    }
}
