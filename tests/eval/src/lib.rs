//! The evaluation suite (`scripts/eval`): questions in English and Japanese over the built-in
//! sample archive, asked through the real `agent` and `cloudtrail-mcp` binaries over the agent's
//! HTTP/SSE API, and scored for tool trajectory, fact recall and citation precision against
//! ground truth computed from the same archive at run time.
//!
//! - [`truth`]: the archive's events read by this crate, [`facts`]: the facts a question's answer
//!   must state, [`window`]: the window a question means;
//! - [`questions`]: the question set; [`score`]: scoring one answer; [`scorecard`]: the table;
//! - [`procs`]: starting the binaries, [`chat`]: the HTTP/SSE client;
//! - [`replay`]: the Bedrock path on recorded model turns (a ConverseStream stand-in).

pub mod chat;
pub mod facts;
pub mod procs;
pub mod questions;
pub mod replay;
pub mod score;
pub mod scorecard;
pub mod suite;
pub mod truth;
pub mod window;

use std::path::PathBuf;

/// Why the evaluation could not run (a score below its threshold is not an error: the
/// scorecard reports it).
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(
        "binary {0} not found: build it first (`cargo build -p agent -p cloudtrail-mcp`, or run scripts/eval)"
    )]
    MissingBinary(PathBuf),
    #[error("cannot start {0}: {1}")]
    Spawn(PathBuf, std::io::Error),
    #[error("{0} did not answer /healthz within 30 s")]
    NotReady(String),
    #[error("chat request failed: {0}")]
    Chat(String),
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("recorded turns: {0}")]
    Recording(String),
    #[error(
        "--live needs AWS credentials and a region (AWS_REGION with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a web identity token); none found"
    )]
    NoCredentials,
}
