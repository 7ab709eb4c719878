//! The agent's configuration: command-line flags, each with an environment fallback
//! (`AGENT_*`), loaded once in `main`.

use std::net::SocketAddr;

use clap::{Parser, ValueEnum};

use crate::mcp::{McpAuth, McpServerConfig};
use crate::prompt::Persona;

/// Which model answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelKind {
    /// The deterministic planner (no LLM, no AWS credentials needed).
    Offline,
    /// Amazon Bedrock ConverseStream.
    Bedrock,
}

/// Where conversations are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SessionStoreKind {
    /// This task's memory (one task; no AWS needed).
    Memory,
    /// A DynamoDB table shared by every task (`--sessions-table`).
    Dynamodb,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

/// Default Bedrock model: Claude Sonnet 4.5 through the global cross-region inference profile.
pub const DEFAULT_BEDROCK_MODEL: &str = "global.anthropic.claude-sonnet-4-5-20250929-v1:0";

/// AWS operations agent: a chat over CloudTrail tools served by MCP.
#[derive(Debug, Clone, Parser)]
#[command(name = "agent", version)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "AGENT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Which model answers.
    #[arg(long, env = "AGENT_MODEL", value_enum, default_value = "offline")]
    pub model: ModelKind,

    /// Bedrock model id or inference profile id/ARN.
    #[arg(long, env = "AGENT_BEDROCK_MODEL_ID", default_value = DEFAULT_BEDROCK_MODEL)]
    pub bedrock_model_id: String,

    /// Bedrock region (default: the SDK chain, e.g. AWS_REGION).
    #[arg(long, env = "AGENT_BEDROCK_REGION")]
    pub bedrock_region: Option<String>,

    /// Largest answer per model call, in tokens.
    #[arg(long, env = "AGENT_MAX_OUTPUT_TOKENS", default_value_t = 4096)]
    pub max_output_tokens: i32,

    /// MCP server URL (repeatable; comma separated in the environment).
    #[arg(
        long = "mcp-url",
        env = "AGENT_MCP_URL",
        value_delimiter = ',',
        required = true
    )]
    pub mcp_urls: Vec<String>,

    /// Auth per MCP server: one value for all, or one per --mcp-url.
    #[arg(
        long = "mcp-auth",
        env = "AGENT_MCP_AUTH",
        value_enum,
        value_delimiter = ',',
        default_value = "none"
    )]
    pub mcp_auth: Vec<McpAuth>,

    /// Tool-name prefix per MCP server: none, one for all, or one per --mcp-url.
    #[arg(long = "mcp-prefix", env = "AGENT_MCP_PREFIX", value_delimiter = ',')]
    pub mcp_prefix: Vec<String>,

    /// Signing region for `iam` servers whose host names none (a Function URL host does).
    #[arg(long, env = "AGENT_MCP_REGION")]
    pub mcp_region: Option<String>,

    /// The assistant's voice.
    #[arg(long, env = "AGENT_PERSONA", value_enum, default_value = "analyst")]
    pub persona: Persona,

    /// Delay between streamed chunks of the offline model, in milliseconds (demos, tests).
    #[arg(long, env = "AGENT_OFFLINE_DELAY_MS", default_value_t = 0)]
    pub offline_delay_ms: u64,

    /// Model calls per request.
    #[arg(long, env = "AGENT_MAX_MODEL_CALLS", default_value_t = 12)]
    pub max_model_calls: u32,

    /// Total tokens per request.
    #[arg(long, env = "AGENT_MAX_TOTAL_TOKENS", default_value_t = 300_000)]
    pub max_total_tokens: u64,

    /// Wall time per request, in seconds.
    #[arg(long, env = "AGENT_MAX_WALL_SECS", default_value_t = 240)]
    pub max_wall_secs: u64,

    /// Timeout of one tool call, in seconds.
    #[arg(long, env = "AGENT_TOOL_TIMEOUT_SECS", default_value_t = 30)]
    pub tool_timeout_secs: u64,

    /// Where conversations are kept.
    #[arg(
        long,
        env = "AGENT_SESSION_STORE",
        value_enum,
        default_value = "memory"
    )]
    pub session_store: SessionStoreKind,

    /// The DynamoDB table of `--session-store dynamodb` (its endpoint honours
    /// AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL).
    #[arg(long, env = "AGENT_SESSIONS_TABLE")]
    pub sessions_table: Option<String>,

    /// How long a running answer's lease on its chat lasts without renewal (DynamoDB store):
    /// a task that dies mid-answer holds its chat this long at most.
    #[arg(long, env = "AGENT_SESSION_LEASE_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(3..=300))]
    pub session_lease_secs: u64,

    /// Sessions kept in memory (memory store).
    #[arg(long, env = "AGENT_MAX_SESSIONS", default_value_t = 1000)]
    pub max_sessions: usize,

    /// Idle time after which a session is forgotten, in seconds.
    #[arg(long, env = "AGENT_SESSION_IDLE_SECS", default_value_t = 3600)]
    pub session_idle_secs: u64,

    /// New chats one client address may open per minute.
    #[arg(
        long,
        env = "AGENT_NEW_CHATS_PER_CLIENT_PER_MINUTE",
        default_value_t = 30
    )]
    pub new_chats_per_client_per_minute: u32,

    /// Host names the service is reached by, besides loopback (`chat.example.com`,
    /// `*.example.com`); other Host headers and Origins get 403 (DNS rebinding, cross-site
    /// requests). Comma separated in the environment.
    #[arg(
        long = "allowed-host",
        env = "AGENT_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,

    /// Take the client address from the last `X-Forwarded-For` entry (only behind a load
    /// balancer that appends it, such as the ALB; otherwise clients could choose it).
    #[arg(long, env = "AGENT_TRUST_FORWARDED_FOR", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub trust_forwarded_for: bool,

    /// ARN of the Application Load Balancer whose OIDC sign-in tokens (`x-amzn-oidc-data`) are
    /// verified; without it the header is ignored (nothing could verify it).
    #[arg(long, env = "AGENT_ALB_ARN")]
    pub alb_arn: Option<String>,

    /// Refuse every request (but the health check) without a valid ALB sign-in token. The stack
    /// sets it whenever OIDC is on.
    #[arg(long, env = "AGENT_REQUIRE_ALB_IDENTITY", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub require_alb_identity: bool,

    /// Where the ALB's public keys are read (`<url>/<key id>`); default: the endpoint of the
    /// ALB's region, `https://public-keys.auth.elb.<region>.amazonaws.com`.
    #[arg(long, env = "AGENT_ALB_KEY_ENDPOINT")]
    pub alb_key_endpoint: Option<String>,

    /// Signed-in users must have a verified e-mail address in one of these domains.
    #[arg(long, env = "AGENT_ALLOWED_EMAIL_DOMAINS", value_delimiter = ',')]
    pub allowed_email_domains: Vec<String>,

    /// Signed-in users must belong to one of these groups (see --groups-claim).
    #[arg(long, env = "AGENT_ALLOWED_GROUPS", value_delimiter = ',')]
    pub allowed_groups: Vec<String>,

    /// The sign-in claim that lists the user's groups.
    #[arg(long, env = "AGENT_GROUPS_CLAIM", default_value = "groups")]
    pub groups_claim: String,

    /// Mark the session cookie `Secure` (set when the page is served over HTTPS).
    #[arg(long, env = "AGENT_SECURE_COOKIE", default_value_t = false)]
    pub secure_cookie: bool,

    /// Log format.
    #[arg(long, env = "AGENT_LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: LogFormat,

    /// Model prices for each answer's cost estimate, in US dollars per million tokens:
    /// `<model id part>=<input>/<output>[/<cache read>/<cache write>]`, comma-separated; they
    /// come before the built-in table (`agent::metrics::DEFAULT_PRICES`: Claude and Nova list
    /// prices). The first entry whose part the model id contains prices it.
    #[arg(long, env = "AGENT_PRICES", default_value = "")]
    pub prices: String,

    /// Write one CloudWatch Embedded Metric Format line per answer on stdout (tokens, calls,
    /// duration, cost; namespace `OpsAgent`). The deployed stack turns it on.
    #[arg(long, env = "AGENT_METRICS_EMF", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub metrics_emf: bool,
}

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--session-store dynamodb needs --sessions-table (or AGENT_SESSIONS_TABLE)")]
    NoSessionsTable,
    #[error(
        "--{flag} has {given} values for {urls} --mcp-url: give one value for all, or one per URL"
    )]
    PerServerCount {
        flag: &'static str,
        given: usize,
        urls: usize,
    },
    #[error(
        "--{0} needs --alb-arn: only the load balancer's signed sign-in token can say who a user is"
    )]
    NeedsAlb(&'static str),
    #[error(
        "--alb-arn {0:?} is not a load balancer ARN (arn:aws:elasticloadbalancing:<region>:...); give --alb-key-endpoint for other partitions"
    )]
    AlbArn(String),
}

fn per_server<T: Clone>(
    values: &[T],
    urls: usize,
    flag: &'static str,
) -> Result<Option<Vec<T>>, ConfigError> {
    match values.len() {
        0 => Ok(None),
        1 => Ok(Some(vec![values[0].clone(); urls])),
        n if n == urls => Ok(Some(values.to_vec())),
        given => Err(ConfigError::PerServerCount { flag, given, urls }),
    }
}

impl Config {
    /// The MCP servers, with auth and prefix matched to each URL.
    pub fn mcp_servers(&self) -> Result<Vec<McpServerConfig>, ConfigError> {
        let urls = self.mcp_urls.len();
        let auth = per_server(&self.mcp_auth, urls, "mcp-auth")?
            .unwrap_or_else(|| vec![McpAuth::None; urls]);
        let prefix = per_server(&self.mcp_prefix, urls, "mcp-prefix")?
            .unwrap_or_else(|| vec![String::new(); urls]);
        Ok(self
            .mcp_urls
            .iter()
            .zip(auth)
            .zip(prefix)
            .map(|((url, auth), prefix)| McpServerConfig {
                url: url.trim().to_owned(),
                auth,
                prefix,
                region: self.mcp_region.clone(),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_server_options_match_urls() {
        let config = Config::try_parse_from([
            "agent",
            "--mcp-url",
            "http://127.0.0.1:1/mcp",
            "--mcp-url",
            "https://x.lambda-url.us-east-1.on.aws/mcp",
            "--mcp-auth",
            "none",
            "--mcp-auth",
            "iam",
            "--mcp-prefix",
            "local_",
        ])
        .unwrap();
        let servers = config.mcp_servers().unwrap();
        assert_eq!(servers[1].auth, McpAuth::Iam);
        assert_eq!(servers[0].prefix, "local_");
        assert_eq!(servers[1].prefix, "local_");
        assert_eq!(config.model, ModelKind::Offline);
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn mismatched_counts_and_bad_values_are_named() {
        let config = Config::try_parse_from([
            "agent",
            "--mcp-url",
            "http://a/mcp",
            "--mcp-url",
            "http://b/mcp",
            "--mcp-url",
            "http://c/mcp",
            "--mcp-auth",
            "none",
            "--mcp-auth",
            "iam",
        ])
        .unwrap();
        let error = config.mcp_servers().unwrap_err().to_string();
        assert!(
            error.contains("--mcp-auth has 2 values for 3 --mcp-url"),
            "{error}"
        );
        let error = Config::try_parse_from(["agent", "--mcp-url", "x", "--model", "gpt"])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("gpt") && error.contains("offline"),
            "{error}"
        );
        let error = Config::try_parse_from(["agent"]).unwrap_err().to_string();
        assert!(error.contains("--mcp-url"), "{error}");
    }
}
