//! Where a trail's files are in S3: `s3://bucket/prefix/`, parsed and checked once at start so a
//! mistyped location is a start error naming what is wrong, not a failure on the first query.
//!
//! The prefix is the folder the trail writes under, the one that holds `AWSLogs/` (a trail's
//! "S3 key prefix"); a location that names the `AWSLogs/` folder itself is taken as its parent.

use std::fmt;
use std::str::FromStr;

/// An S3 bucket and the key prefix below which a trail writes `AWSLogs/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    bucket: String,
    /// Empty, or ending with `/`.
    prefix: String,
}

/// Why an S3 location was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum S3LocationError {
    #[error("`{0}` is not an S3 location; expected `s3://bucket/prefix/`")]
    NotS3(String),
    #[error(
        "`{url}` names the bucket `{bucket}`, which is not a valid S3 bucket name (3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit)"
    )]
    BadBucket { url: String, bucket: String },
    #[error("`{0}` has an empty folder name (`//`) in its prefix")]
    EmptySegment(String),
}

impl S3Location {
    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The key prefix (empty, or ending with `/`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The `AWSLogs/` folder below the prefix, where a trail's files start.
    pub fn logs_prefix(&self) -> String {
        format!("{}AWSLogs/", self.prefix)
    }

    /// `s3://bucket/key` for messages.
    pub fn url_of(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

impl fmt::Display for S3Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

fn valid_bucket(name: &str) -> bool {
    let edge_ok = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && edge_ok(name.bytes().next())
        && edge_ok(name.bytes().last())
        && !name.contains("..")
}

impl FromStr for S3Location {
    type Err = S3LocationError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| S3LocationError::NotS3(url.to_owned()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if !valid_bucket(bucket) {
            return Err(S3LocationError::BadBucket {
                url: url.to_owned(),
                bucket: bucket.to_owned(),
            });
        }
        let mut segments: Vec<&str> = prefix
            .strip_suffix('/')
            .unwrap_or(prefix)
            .split('/')
            .collect();
        if segments == [""] {
            segments.clear();
        }
        if segments.iter().any(|s| s.is_empty()) {
            return Err(S3LocationError::EmptySegment(url.to_owned()));
        }
        if segments.last() == Some(&"AWSLogs") {
            segments.pop();
        }
        let prefix = segments.iter().map(|s| format!("{s}/")).collect();
        Ok(Self {
            bucket: bucket.to_owned(),
            prefix,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<(String, String), S3LocationError> {
        url.parse::<S3Location>()
            .map(|l| (l.bucket().to_owned(), l.prefix().to_owned()))
    }

    #[test]
    fn bucket_and_prefix_are_read_with_or_without_slashes() {
        let ok = |b: &str, p: &str| Ok((b.to_owned(), p.to_owned()));
        assert_eq!(parse("s3://trail-bucket"), ok("trail-bucket", ""));
        assert_eq!(parse("s3://trail-bucket/"), ok("trail-bucket", ""));
        assert_eq!(
            parse("s3://trail-bucket/org/logs"),
            ok("trail-bucket", "org/logs/")
        );
        assert_eq!(
            parse("s3://trail-bucket/org/logs/"),
            ok("trail-bucket", "org/logs/")
        );
        // The AWSLogs folder itself is taken as its parent.
        assert_eq!(parse("s3://trail-bucket/AWSLogs/"), ok("trail-bucket", ""));
        assert_eq!(parse("s3://my.bucket-1/p/AWSLogs"), ok("my.bucket-1", "p/"));
        let l: S3Location = "s3://trail-bucket/p".parse().unwrap();
        assert_eq!(l.logs_prefix(), "p/AWSLogs/");
        assert_eq!(l.to_string(), "s3://trail-bucket/p/");
        assert_eq!(
            l.url_of("p/AWSLogs/x.json.gz"),
            "s3://trail-bucket/p/AWSLogs/x.json.gz"
        );
    }

    #[test]
    fn bad_locations_are_named() {
        for url in [
            "/var/logs",
            "https://bucket/x",
            "S3://bucket",
            "bucket/prefix",
        ] {
            assert_eq!(parse(url), Err(S3LocationError::NotS3(url.into())), "{url}");
        }
        for (url, bucket) in [
            ("s3://", ""),
            ("s3://ab", "ab"),
            ("s3://Trail", "Trail"),
            ("s3://-trail", "-trail"),
            ("s3://trail-", "trail-"),
            ("s3://tr..ail", "tr..ail"),
            ("s3://trail_bucket/x", "trail_bucket"),
        ] {
            let err = parse(url).unwrap_err();
            assert_eq!(
                err,
                S3LocationError::BadBucket {
                    url: url.into(),
                    bucket: bucket.into()
                }
            );
            assert!(err.to_string().contains(&format!("`{bucket}`")), "{err}");
        }
        assert_eq!(
            parse("s3://trail//x"),
            Err(S3LocationError::EmptySegment("s3://trail//x".into()))
        );
    }
}
