//! Integration tests of cloudtrail-mcp: one binary, one module per concern.

mod helpers;
mod mcp_errors;
mod mcp_tools;
