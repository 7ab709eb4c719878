//! Typed configuration, read once at start from flags with environment fallbacks.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::source::s3::S3Location;

/// Where events come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceKind {
    /// The built-in sample archive, generated relative to the current date.
    Sample,
    /// CloudTrail log files (`AWSLogs/<account>/CloudTrail/<region>/...`) in a directory
    /// (`--archive-dir`) or in S3 (`--archive-s3`).
    Archive,
    /// The CloudTrail LookupEvents API.
    Api,
    /// An organization trail in S3, queried with Amazon Athena (`--athena-*`).
    Athena,
}

/// MCP server for investigating AWS activity recorded by CloudTrail.
///
/// With no flags it serves the built-in sample archive on 127.0.0.1:3000 at /mcp.
#[derive(Debug, Clone, Parser)]
#[command(name = "cloudtrail-mcp", version)]
pub struct Config {
    /// Address to listen on when running locally (ignored on Lambda).
    #[arg(long, env = "CLOUDTRAIL_MCP_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// Event source. Default: `sample` locally, `api` on Lambda.
    #[arg(long, env = "CLOUDTRAIL_MCP_SOURCE", value_enum)]
    pub source: Option<SourceKind>,

    /// The log archive directory for `--source archive`.
    #[arg(long, env = "CLOUDTRAIL_MCP_ARCHIVE_DIR")]
    pub archive_dir: Option<PathBuf>,

    /// The trail's S3 location for `--source archive`: `s3://bucket/prefix/`, the prefix being
    /// the folder that holds `AWSLogs/`. Instead of `--archive-dir`.
    #[arg(
        long,
        env = "CLOUDTRAIL_MCP_ARCHIVE_S3",
        conflicts_with = "archive_dir"
    )]
    pub archive_s3: Option<S3Location>,

    /// How many days back a window of the S3 archive may reach (each day is one listing per
    /// account and region).
    #[arg(long, env = "CLOUDTRAIL_MCP_ARCHIVE_MAX_DAYS", default_value_t = 365,
          value_parser = clap::value_parser!(i64).range(1..=3_660))]
    pub archive_max_days: i64,

    /// MiB of parsed days the S3 archive keeps in memory (least recently used go first).
    #[arg(long, env = "CLOUDTRAIL_MCP_ARCHIVE_CACHE_MIB", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub archive_cache_mib: u32,

    /// Address S3 buckets by path (`https://endpoint/bucket/key`) instead of by host name: for a
    /// local S3 (the endpoint comes from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL).
    #[arg(long, env = "CLOUDTRAIL_MCP_S3_FORCE_PATH_STYLE", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub s3_force_path_style: bool,

    /// AWS region for the CloudTrail API (default: the SDK's chain, e.g. AWS_REGION).
    #[arg(long, env = "CLOUDTRAIL_MCP_REGION")]
    pub region: Option<String>,

    /// The regions `--source api` searches with LookupEvents, comma separated in the env
    /// (default: the SDK region). The partition's global region (us-east-1), where IAM, STS and
    /// sign-in events are recorded, is added to a search whenever such events can match.
    #[arg(long, env = "CLOUDTRAIL_MCP_REGIONS", value_delimiter = ',')]
    pub regions: Vec<String>,

    /// Athena workgroup for `--source athena` (its settings, e.g. the bytes-scanned cutoff, are
    /// enforced).
    #[arg(
        long,
        env = "CLOUDTRAIL_MCP_ATHENA_WORKGROUP",
        default_value = "cloudtrail-mcp"
    )]
    pub athena_workgroup: String,

    /// Glue database of the CloudTrail table.
    #[arg(
        long,
        env = "CLOUDTRAIL_MCP_ATHENA_DATABASE",
        default_value = "cloudtrail"
    )]
    pub athena_database: String,

    /// The CloudTrail table (partition projection on `account`, `region`, `timestamp`).
    #[arg(long, env = "CLOUDTRAIL_MCP_ATHENA_TABLE", default_value = "trail")]
    pub athena_table: String,

    /// How many seconds a tool call waits for an Athena query before answering "still running"
    /// with a cursor that collects it. Keep it below the Lambda and agent tool timeouts.
    #[arg(long, env = "CLOUDTRAIL_MCP_ATHENA_WAIT_SECS", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub athena_wait_secs: u64,

    /// How many days back an Athena window may reach.
    #[arg(long, env = "CLOUDTRAIL_MCP_ATHENA_MAX_DAYS", default_value_t = 365,
          value_parser = clap::value_parser!(i64).range(1..=3_660))]
    pub athena_max_days: i64,

    /// Replace client source IP addresses with `[redacted]` in every answer.
    #[arg(long, env = "CLOUDTRAIL_MCP_REDACT_SOURCE_IP", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub redact_source_ip: bool,

    /// The most bytes one tool answer may hold.
    #[arg(long, env = "CLOUDTRAIL_MCP_MAX_RESPONSE_BYTES", default_value_t = 65_536,
          value_parser = clap::value_parser!(u32).range(4_096..=1_048_576))]
    pub max_response_bytes: u32,

    /// How many seconds `summarize_activity` may page through a window before it answers with
    /// the counts so far, flagged as lower bounds. Keep it below the caller's timeout (the Lambda
    /// timeout and the agent's tool timeout).
    #[arg(long, env = "CLOUDTRAIL_MCP_SUMMARY_SCAN_SECS", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(1..=900))]
    pub summary_scan_secs: u64,

    /// Extra allowed Host names (`example.com`, or `*.example.com`); comma separated in the env.
    #[arg(
        long = "allowed-host",
        env = "CLOUDTRAIL_MCP_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,

    /// Key that signs paging cursors (any string). Set the same value on every instance of a
    /// deployment; the default is fixed, which is fine because cursors grant no access.
    #[arg(
        long,
        env = "CLOUDTRAIL_MCP_CURSOR_KEY",
        hide_env_values = true,
        default_value = "cloudtrail-mcp-cursor-v1"
    )]
    pub cursor_key: String,

    /// Seed of the built-in sample archive.
    #[arg(long, env = "CLOUDTRAIL_MCP_SAMPLE_SEED", default_value_t = 42)]
    pub sample_seed: u64,

    /// The "now" the built-in sample is generated before (RFC 3339; default: the start time).
    /// Pinned by the evaluation harness (`scripts/eval`), which computes its ground truth from
    /// the same sample generated in-process at the same anchor.
    #[arg(long, env = "CLOUDTRAIL_MCP_SAMPLE_ANCHOR")]
    pub sample_anchor: Option<jiff::Timestamp>,

    /// Log as JSON lines (default on Lambda).
    #[arg(long, env = "CLOUDTRAIL_MCP_LOG_JSON", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub log_json: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Commands other than serving.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Write the sample archive as CloudTrail log files (`.json.gz`, S3 layout) into DIR.
    WriteSample {
        /// Target directory (created if missing).
        dir: PathBuf,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_serve_the_sample_on_loopback() {
        let c = Config::try_parse_from(["cloudtrail-mcp"]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(c.source, None);
        assert!(!c.redact_source_ip);
        assert_eq!(c.max_response_bytes, 65_536);
        assert_eq!(c.summary_scan_secs, 20);
    }

    #[test]
    fn flags_parse_and_bad_values_are_named() {
        let c = Config::try_parse_from([
            "cloudtrail-mcp",
            "--source",
            "api",
            "--redact-source-ip",
            "--allowed-host",
            "a.example.com",
            "--allowed-host",
            "*.example.org",
        ])
        .unwrap();
        assert_eq!(c.source, Some(SourceKind::Api));
        assert!(c.redact_source_ip);
        assert_eq!(c.allowed_hosts, vec!["a.example.com", "*.example.org"]);
        let err =
            Config::try_parse_from(["cloudtrail-mcp", "--max-response-bytes", "10"]).unwrap_err();
        assert!(err.to_string().contains("--max-response-bytes"), "{err}");
        let err = Config::try_parse_from(["cloudtrail-mcp", "--source", "s3"]).unwrap_err();
        assert!(err.to_string().contains("sample"), "{err}");
    }

    #[test]
    fn an_s3_archive_location_is_checked_at_start() {
        let c = Config::try_parse_from([
            "cloudtrail-mcp",
            "--source",
            "archive",
            "--archive-s3",
            "s3://trail-bucket/org",
            "--s3-force-path-style",
        ])
        .unwrap();
        let location = c.archive_s3.unwrap();
        assert_eq!(location.bucket(), "trail-bucket");
        assert_eq!(location.prefix(), "org/");
        assert!(c.s3_force_path_style);
        assert_eq!((c.archive_max_days, c.archive_cache_mib), (365, 256));
        let err = Config::try_parse_from(["cloudtrail-mcp", "--archive-s3", "s3://Bad_Bucket/x"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`Bad_Bucket`") && err.contains("--archive-s3"),
            "{err}"
        );
        let err = Config::try_parse_from([
            "cloudtrail-mcp",
            "--archive-s3",
            "s3://trail-bucket/",
            "--archive-dir",
            "/tmp/x",
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("--archive-dir"), "{err}");
    }
}
