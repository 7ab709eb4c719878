//! Writes records as an organization trail delivers them to S3, with the two quirks a reader of
//! the files must handle: the folder date is the *delivery* date (an event a few minutes before
//! midnight lands in the next day's folder), and a file can be delivered twice.
//!
//! Files go under `AWSLogs/[o-ORG/]<recipientAccountId>/CloudTrail/<awsRegion>/YYYY/MM/DD/`, one
//! per account, region and delivery hour, each delivered [`Delivery::lag`] after its events.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::ACCOUNT;

/// How the files are delivered.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The organization id of an organization trail (`o-exampleorgid`), if any.
    pub organization: Option<String>,
    /// How long after an event its file is delivered (the folder is the delivery date).
    pub lag: SignedDuration,
    /// Deliver the first file of every day twice (a second copy under another name).
    pub duplicate_daily: bool,
    /// Added to every file name, so several batches of records can be written into one
    /// archive without replacing each other's files.
    pub tag: String,
}

impl Default for Delivery {
    fn default() -> Self {
        Self {
            organization: None,
            lag: SignedDuration::from_mins(12),
            duplicate_daily: true,
            tag: String::new(),
        }
    }
}

/// Writes `records` under `dir` as `delivery` says; returns the files written (duplicates
/// included).
pub fn write_delivered(
    dir: &Path,
    records: &[Value],
    delivery: &Delivery,
) -> io::Result<Vec<PathBuf>> {
    // (account, region, delivery hour) -> records
    let mut files: BTreeMap<(String, String, Timestamp), Vec<&Value>> = BTreeMap::new();
    for record in records {
        let text = |key: &str| record.get(key).and_then(Value::as_str);
        let Some(time) = text("eventTime").and_then(|t| t.parse::<Timestamp>().ok()) else {
            continue;
        };
        let delivered = time + delivery.lag;
        let hour = Timestamp::from_second(delivered.as_second() - delivered.as_second() % 3_600)
            .unwrap_or(delivered);
        let account = text("recipientAccountId").unwrap_or(ACCOUNT).to_owned();
        let region = text("awsRegion").unwrap_or("us-east-1").to_owned();
        files
            .entry((account, region, hour))
            .or_default()
            .push(record);
    }
    let prefix = match &delivery.organization {
        Some(org) => format!("AWSLogs/{org}"),
        None => "AWSLogs".to_owned(),
    };
    let mut written = Vec::with_capacity(files.len());
    let mut days_duplicated = std::collections::HashSet::new();
    for ((account, region, hour), records) in files {
        let day = hour.strftime("%Y/%m/%d").to_string();
        let folder = dir.join(format!("{prefix}/{account}/CloudTrail/{region}/{day}"));
        std::fs::create_dir_all(&folder)?;
        let stamp = hour.strftime("%Y%m%dT%H%MZ");
        let body = json!({"Records": records}).to_string();
        let tag = &delivery.tag;
        let mut copies = vec![format!(
            "{account}_CloudTrail_{region}_{stamp}_{tag}a.json.gz"
        )];
        if delivery.duplicate_daily && days_duplicated.insert(day) {
            copies.push(format!(
                "{account}_CloudTrail_{region}_{stamp}_{tag}b.json.gz"
            ));
        }
        for name in copies {
            let path = folder.join(name);
            let mut gz = GzEncoder::new(std::fs::File::create(&path)?, Compression::default());
            gz.write_all(body.as_bytes())?;
            gz.finish()?;
            written.push(path);
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_events_land_in_the_next_days_folder_and_a_file_comes_twice() {
        let dir = tempfile::tempdir().unwrap();
        let records = vec![
            json!({"eventID": "late", "eventTime": "2026-11-23T23:55:00Z", "awsRegion": "eu-west-1",
                   "recipientAccountId": "111111111111"}),
            json!({"eventID": "early", "eventTime": "2026-11-23T10:00:00Z", "awsRegion": "eu-west-1",
                   "recipientAccountId": "111111111111"}),
        ];
        let delivery = Delivery {
            organization: Some("o-exampleorgid".into()),
            ..Delivery::default()
        };
        let files = write_delivered(dir.path(), &records, &delivery).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|f| {
                f.strip_prefix(dir.path())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        let folder = "AWSLogs/o-exampleorgid/111111111111/CloudTrail/eu-west-1";
        assert!(
            names
                .iter()
                .any(|n| n.starts_with(&format!("{folder}/2026/11/24/"))),
            "{names:?}"
        );
        // The 10:00 file is the first of the 23rd, the 23:55 one the first of the 24th: both twice.
        assert_eq!(names.len(), 4, "{names:?}");
        assert_eq!(
            names.iter().filter(|n| n.contains("/2026/11/23/")).count(),
            2
        );
    }
}
