//! The MCP client side: any number of MCP servers from configuration, each with a URL, an auth
//! mode and a tool-name prefix, offered to the agent loop as one [`ToolProvider`].

pub mod names;
pub mod server;
pub mod sigv4;
pub mod trace_headers;

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
use crate::tools::{
    CallContext, RESULT_BUDGET, ToolError, ToolListing, ToolOutput, ToolProvider, ToolSpec,
    ask_within, takes_max_bytes, within_budget,
};

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
    /// Longest wait for a server's tool list (a run never waits longer for it).
    pub list_timeout: Duration,
}

impl Default for McpSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(60),
            tool_ttl: Duration::from_secs(300),
            list_timeout: Duration::from_secs(10),
        }
    }
}

/// All configured MCP servers as one tool provider.
#[derive(Debug)]
pub struct McpToolbox {
    /// Each server with its tool-name prefix.
    servers: Vec<(McpServer, String)>,
    routing: RwLock<Routing>,
}

/// Where each offered tool goes, and which servers' last listing failed.
#[derive(Debug, Default)]
struct Routing {
    /// Bedrock tool name -> (server index, the server's tool name, whether it takes the result
    /// budget's `max_bytes`). A server whose listing fails keeps its routes from before, so a
    /// run that was offered its tools can still call them.
    routes: HashMap<String, (usize, String, bool)>,
    /// Server index -> why its last listing failed.
    down: HashMap<usize, ToolError>,
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
                    let signer = Arc::new(SigV4Signer::new(provider, region, "lambda"));
                    HttpClient::Signed(SigningHttpClient::new(http.clone(), signer))
                }
            };
            let server = McpServer::new(
                label,
                config.url.clone(),
                client,
                settings.connect_timeout,
                settings.tool_ttl,
                settings.list_timeout,
            );
            servers.push((server, config.prefix.clone()));
        }
        Ok(Self {
            servers,
            routing: RwLock::new(Routing::default()),
        })
    }
}

#[async_trait]
impl ToolProvider for McpToolbox {
    async fn list_tools(&self) -> ToolListing {
        let lists = futures::future::join_all(self.servers.iter().map(|(s, _)| s.tools())).await;
        let mut routing = self.routing.write().await;
        let mut listing = ToolListing::default();
        // Names of the servers that answered are recomputed; the others keep their routes.
        routing
            .routes
            .retain(|_, (index, _, _)| lists[*index].is_err());
        let mut taken: HashSet<String> = routing.routes.keys().cloned().collect();
        for (index, list) in lists.into_iter().enumerate() {
            match list {
                Ok(tools) => {
                    routing.down.remove(&index);
                    let prefix = &self.servers[index].1;
                    for tool in tools {
                        let name = bedrock_tool_name(prefix, &tool.name, &taken);
                        taken.insert(name.clone());
                        let sized = takes_max_bytes(&tool.input_schema);
                        routing
                            .routes
                            .insert(name.clone(), (index, tool.name.to_string(), sized));
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
                Err(error) => {
                    routing.down.insert(index, unavailable_copy(&error));
                    listing.unavailable.push(error);
                }
            }
        }
        listing
    }

    async fn call_tool(
        &self,
        name: &str,
        input: Value,
        context: &CallContext,
    ) -> Result<ToolOutput, ToolError> {
        let (route, down) = {
            let routing = self.routing.read().await;
            let down = routing.down.values().next().map(unavailable_copy);
            (routing.routes.get(name).cloned(), down)
        };
        match (route, down) {
            (Some((index, tool, sized)), _) => {
                // The result budget (crate::tools, RESULT_BUDGET): ask for an answer that fits,
                // and never pass on one that does not (the loop would cut it mid-JSON).
                let input = if sized {
                    ask_within(input, RESULT_BUDGET)
                } else {
                    input
                };
                let output = self.servers[index].0.call(&tool, input, context).await?;
                Ok(within_budget(&tool, output, RESULT_BUDGET))
            }
            // Not a tool we know, but a server could not be asked: say that, not "unknown tool".
            (None, Some(down)) => Err(down),
            (None, None) => Err(ToolError::UnknownTool(name.to_owned())),
        }
    }
}

/// A copy of a listing failure (tool errors are not `Clone`: they are moved into events).
fn unavailable_copy(error: &ToolError) -> ToolError {
    match error {
        ToolError::Unavailable { server, message } | ToolError::Rejected { server, message } => {
            ToolError::Unavailable {
                server: server.clone(),
                message: message.clone(),
            }
        }
        ToolError::UnknownTool(name) => ToolError::UnknownTool(name.clone()),
    }
}
