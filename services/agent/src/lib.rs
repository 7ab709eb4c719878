//! The agent web service: a Bedrock (or offline) agent loop that calls MCP tools and streams its
//! answers to the browser over Server-Sent Events.

pub mod tools;
