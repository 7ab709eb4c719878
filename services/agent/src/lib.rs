//! The agent web service: a Bedrock (or offline) agent loop that calls MCP tools and streams its
//! answers to the browser over Server-Sent Events.
//!
//! Map: [`config`] flags; [`startup`] builds clients and [`state`]; [`server`] accepts
//! connections; [`access`] guards hosts and origins; [`signin`] (with [`identity`] and
//! [`allow`]) says who is asking and whether they may; [`api`] and [`web`] serve HTTP; [`runner`]
//! runs one answer; [`session`] and [`transcript`] keep chats; [`agent`] is the loop over the [`model::Model`]
//! and [`tools::ToolProvider`] traits; [`model`] has Bedrock and the offline planner; [`mcp`]
//! is the MCP client with SigV4.

pub mod access;
pub mod agent;
pub mod allow;
pub mod api;
pub mod config;
pub mod conversation;
pub mod events;
pub mod evidence;
pub mod identity;
pub mod mcp;
pub mod model;
pub mod observed;
pub mod prompt;
pub mod report;
pub mod runner;
pub mod server;
pub mod session;
pub mod signin;
pub mod startup;
pub mod state;
pub mod suggestions;
/// Test doubles (a scripted model, in-memory tools): for this crate's tests and examples only,
/// behind the `testing` feature (as tokio's `test-util`), so the service binary has none.
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod tools;
pub mod transcript;
pub mod web;
