//! The agent web service: a Bedrock (or offline) agent loop that calls MCP tools and streams its
//! answers to the browser over Server-Sent Events.

pub mod agent;
pub mod conversation;
pub mod events;
pub mod mcp;
pub mod model;
pub mod prompt;
pub mod session;
pub mod testing;
pub mod tools;
pub mod transcript;
