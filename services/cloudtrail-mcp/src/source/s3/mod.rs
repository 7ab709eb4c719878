//! The log archive read from S3: a trail's files where CloudTrail delivers them
//! (`s3://bucket/prefix/AWSLogs/...`), answering like the directory archive
//! ([`LogArchive`](super::archive::LogArchive)) over the same files.
//!
//! [`location`] (the `s3://` location), [`plan`] (which folders a query lists) and [`merge`] (one
//! page from several day indexes) are pure; the source itself, its S3 requests and its cache
//! need the `s3` feature (aws-sdk-s3).

pub mod location;
pub mod merge;
pub mod plan;

#[cfg(feature = "s3")]
mod cache;
#[cfg(feature = "s3")]
mod client;
#[cfg(feature = "s3")]
mod source;

pub use location::{S3Location, S3LocationError};
#[cfg(feature = "s3")]
pub use source::{S3Archive, S3ArchiveSettings};
