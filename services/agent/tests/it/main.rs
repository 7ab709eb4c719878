//! Integration tests of the agent: the HTTP/SSE API end to end, the MCP client against the real
//! cloudtrail-mcp server, SigV4 against an independent verifier, and the Bedrock adapter with the
//! real SDK client against a ConverseStream stand-in, and the DynamoDB session store against
//! moto's local DynamoDB with two agent binaries sharing a table.

// Test helpers fail loudly by design.
#![allow(clippy::unwrap_used)]

mod bedrock_standin;
mod bedrock_stream;
mod chat_api;
mod dynamo_store;
mod evidence;
mod hardening;
mod helpers;
mod mcp_client;
mod moto;
mod signin;
mod sigv4;
mod transcript_api;
