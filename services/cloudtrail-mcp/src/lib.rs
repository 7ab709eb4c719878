//! An MCP server that lets an LLM investigate AWS activity recorded by CloudTrail.
//!
//! Three read-only tools ([`tools`]) answer from an [`source::EventSource`]: the CloudTrail
//! LookupEvents API, a directory of CloudTrail log files, or a built-in sample archive. The same
//! [`http::app`] router serves locally over plain HTTP and on AWS Lambda behind a Function URL.

pub mod audit;
pub mod config;
pub mod cursor;
pub mod error;
pub mod highlights;
pub mod http;
pub mod project;
pub mod record;
pub mod run;
pub mod sample;
pub mod serve;
pub mod source;
pub mod summary;
pub mod table;
pub mod time;
pub mod timeline;
pub mod tools;

pub use http::{HostPolicy, app};
pub use tools::{CloudTrailServer, ToolSettings};
