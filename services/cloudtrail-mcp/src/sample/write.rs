//! Writes records as CloudTrail delivers them to S3: gzipped `{"Records":[...]}` files under
//! `AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/`, one file per region and hour.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};

use super::ACCOUNT;

/// Writes `records` under `dir`; returns the files written.
pub fn write_archive(dir: &Path, records: &[Value]) -> io::Result<Vec<PathBuf>> {
    let mut files: BTreeMap<(String, String), Vec<&Value>> = BTreeMap::new();
    for record in records {
        let region = record["awsRegion"]
            .as_str()
            .unwrap_or("us-east-1")
            .to_owned();
        // "2026-11-23T09:12:03Z" -> hour bucket "2026-11-23T09".
        let hour = record["eventTime"]
            .as_str()
            .unwrap_or("1970-01-01T00")
            .get(..13)
            .unwrap_or("1970-01-01T00")
            .to_owned();
        files.entry((region, hour)).or_default().push(record);
    }
    let mut written = Vec::with_capacity(files.len());
    for ((region, hour), records) in files {
        let (date, hh) = hour.split_once('T').unwrap_or((&hour, "00"));
        let mut parts = date.split('-');
        let (y, m, d) = (
            parts.next().unwrap_or("1970"),
            parts.next().unwrap_or("01"),
            parts.next().unwrap_or("01"),
        );
        let folder = dir.join(format!("AWSLogs/{ACCOUNT}/CloudTrail/{region}/{y}/{m}/{d}"));
        std::fs::create_dir_all(&folder)?;
        let name = format!(
            "{ACCOUNT}_CloudTrail_{region}_{y}{m}{d}T{hh}05Z_{:016x}.json.gz",
            fingerprint(&region, &hour)
        );
        let path = folder.join(name);
        let mut gz = GzEncoder::new(std::fs::File::create(&path)?, Compression::default());
        gz.write_all(json!({"Records": records}).to_string().as_bytes())?;
        gz.finish()?.sync_all()?;
        written.push(path);
    }
    Ok(written)
}

/// A stable pseudo-random file suffix, as CloudTrail's random part.
fn fingerprint(region: &str, hour: &str) -> u64 {
    region
        .bytes()
        .chain(hour.bytes())
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
}
