//! The narrow interface between the agent loop and the tools it can call.
//!
//! The loop only sees [`ToolProvider`]; the MCP client (`crate::mcp`) implements it over any number
//! of MCP servers, and tests implement it in memory.

use async_trait::async_trait;
use serde_json::Value;

/// A tool as offered to the model: a Bedrock-valid name (`^[a-zA-Z0-9_-]{1,64}$`), a description
/// and a JSON Schema object for its input that Converse accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub input_schema: Value,
}

/// What a tool call produced. `is_error` is true when the tool ran and reported a failure the
/// model can act on (MCP `isError: true`).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    pub text: String,
    pub is_error: bool,
}

/// Why a tool could not be called at all.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("unknown tool `{0}`")]
    UnknownTool(String),
    #[error("MCP server `{server}` is unavailable: {message}")]
    Unavailable { server: String, message: String },
    #[error("MCP server `{server}` rejected the call: {message}")]
    Rejected { server: String, message: String },
}

/// The tools on offer, and the servers that could not be asked (their tools are missing).
#[derive(Debug, Default)]
pub struct ToolListing {
    pub tools: Vec<ToolSpec>,
    pub unavailable: Vec<ToolError>,
}

/// Lists and calls tools. Implementations must be cheap to call concurrently.
#[async_trait]
pub trait ToolProvider: Send + Sync {
    /// The tools currently offered to the model. A server that is down does not fail the
    /// listing: it is reported in [`ToolListing::unavailable`] and the others' tools are offered.
    async fn list_tools(&self) -> ToolListing;
    /// Calls one tool by the name given in [`ToolSpec::name`].
    async fn call_tool(&self, name: &str, input: Value) -> Result<ToolOutput, ToolError>;
}
