//! The product's two binaries, started as `scripts/run` starts them (the MCP server on the
//! built-in sample, the agent pointing at it), on free loopback ports, stopped when dropped.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use jiff::Timestamp;
use tokio::process::{Child, Command};

use crate::EvalError;
use crate::chat::Client;

/// Where the binaries are.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub agent: PathBuf,
    pub mcp: PathBuf,
}

impl Binaries {
    /// Checks both exist, naming the one that does not.
    pub fn check(&self) -> Result<(), EvalError> {
        for path in [&self.agent, &self.mcp] {
            if !path.is_file() {
                return Err(EvalError::MissingBinary(path.clone()));
            }
        }
        Ok(())
    }
}

/// How the agent talks to a model.
#[derive(Debug, Clone)]
pub enum ModelChoice {
    Offline,
    /// Bedrock at a stand-in endpoint (recorded turns), with fake credentials.
    Standin {
        endpoint: String,
    },
    /// Real Bedrock with the caller's credentials and region.
    Live {
        model_id: Option<String>,
    },
}

/// A running MCP server + agent pair.
#[derive(Debug)]
pub struct Stack {
    pub client: Client,
    pub mcp_url: String,
    _mcp: Child,
    _agent: Child,
}

fn free_port() -> Result<u16, EvalError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

fn quiet(command: &mut Command) -> &mut Command {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .env("RUST_LOG", "error")
        .kill_on_drop(true)
}

/// Starts cloudtrail-mcp on the sample anchored at `anchor`, then the agent with `model`.
pub async fn start(
    bins: &Binaries,
    anchor: Timestamp,
    seed: u64,
    model: &ModelChoice,
) -> Result<Stack, EvalError> {
    bins.check()?;
    let mcp_port = free_port()?;
    let mcp = quiet(&mut Command::new(&bins.mcp))
        .args(["--listen", &format!("127.0.0.1:{mcp_port}")])
        .env("CLOUDTRAIL_MCP_SOURCE", "sample")
        .env("CLOUDTRAIL_MCP_SAMPLE_SEED", seed.to_string())
        .env("CLOUDTRAIL_MCP_SAMPLE_ANCHOR", anchor.to_string())
        .spawn()
        .map_err(|e| EvalError::Spawn(bins.mcp.clone(), e))?;
    let mcp_base = format!("http://127.0.0.1:{mcp_port}");
    Client::new(&mcp_base).wait_ready("cloudtrail-mcp").await?;
    let mcp_url = format!("{mcp_base}/mcp");
    let port = free_port()?;
    let mut agent = Command::new(&bins.agent);
    quiet(&mut agent)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--mcp-url", &mcp_url])
        .env("AGENT_LOG_FORMAT", "text")
        // One client opens a chat per question: more than a person's 30 a minute.
        .env("AGENT_NEW_CHATS_PER_CLIENT_PER_MINUTE", "1000");
    match model {
        ModelChoice::Offline => {
            agent.args(["--model", "offline"]);
        }
        ModelChoice::Standin { endpoint } => {
            agent
                .args(["--model", "bedrock"])
                .env("AGENT_BEDROCK_MODEL_ID", "recorded.model-v1:0")
                .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", endpoint)
                .env("AWS_REGION", "us-east-1")
                .env("AWS_ACCESS_KEY_ID", "AKIDEVAL")
                .env("AWS_SECRET_ACCESS_KEY", "eval")
                .env("AWS_EC2_METADATA_DISABLED", "true");
        }
        ModelChoice::Live { model_id } => {
            agent.args(["--model", "bedrock"]);
            if let Some(id) = model_id {
                agent.env("AGENT_BEDROCK_MODEL_ID", id);
            }
        }
    }
    let agent = agent
        .spawn()
        .map_err(|e| EvalError::Spawn(bins.agent.clone(), e))?;
    let client = Client::new(&format!("http://127.0.0.1:{port}"));
    client.wait_ready("agent").await?;
    Ok(Stack {
        client,
        mcp_url,
        _mcp: mcp,
        _agent: agent,
    })
}

/// The binaries next to this executable's target directory (`target/debug/eval` sits beside
/// `target/debug/agent`).
pub fn beside_self() -> Binaries {
    let dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    Binaries {
        agent: dir.join("agent"),
        mcp: dir.join("cloudtrail-mcp"),
    }
}
