//! Integration tests of cloudtrail-mcp: one binary, one module per concern.

mod helpers;
mod lambda_watch;
mod mcp_errors;
mod mcp_tools;
