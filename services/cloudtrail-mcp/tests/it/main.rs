//! Integration tests of cloudtrail-mcp: one binary, one module per concern.

// Test helpers fail loudly by design.
#![allow(clippy::unwrap_used)]

mod api_regions;
mod api_source;
#[cfg(feature = "athena")]
mod athena_source;
mod audit;
mod connections;
mod evidence;
mod helpers;
mod lambda_watch;
mod mcp_errors;
mod mcp_tools;
#[cfg(feature = "s3")]
mod s3_archive;
