//! `LogArchive`: CloudTrail log files (as delivered to S3) answering the same queries as
//! `LookupEvents`, with the same semantics: an inclusive window, at most one attribute with an
//! exact match, newest first, and a `next_token` for the following page.
//!
//! Files are read once into an [`Index`]: the fields queries filter on, newest first (time, then
//! event id, descending), and the records as compact JSON text, compressed, inflated only for
//! the events a page returns. `next_token` is a keyset position (`<time nanos>:<event id>` of
//! the last event returned), so paging is stable and needs no server state.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use super::index::{Index, IndexBuilder, Place};
use super::{EventSource, Page, Query, RawEvent, Resource, SourceError};
use crate::record;

/// An in-memory index of CloudTrail records.
#[derive(Debug)]
pub struct LogArchive {
    id: String,
    index: Index,
}

impl LogArchive {
    /// Indexes records (for the built-in sample). Records that are not CloudTrail events
    /// (no `eventID`/`eventTime`) are skipped. Records given in time order (either way) are
    /// read back fastest: their records are then stored side by side.
    pub fn from_records(id: &str, records: impl IntoIterator<Item = Value>) -> Self {
        let mut index = IndexBuilder::default();
        records
            .into_iter()
            .filter_map(|r| raw_event(&r).map(|e| (e, place(&r))))
            .for_each(|(e, place)| index.add(e, place));
        Self::new(id.to_owned(), index.finish())
    }

    fn new(id: String, index: Index) -> Self {
        let (record_bytes, stored_bytes) = index.record_bytes();
        tracing::info!(archive = %id, events = index.len(), record_bytes, stored_bytes, "log archive indexed");
        Self { id, index }
    }

    /// Reads every `*.json.gz` and `*.json` CloudTrail log file below `dir`. Files that are not
    /// CloudTrail logs (digest files, other JSON) are skipped with a warning; a file that cannot
    /// be read or decompressed is an error naming it.
    pub fn from_dir(dir: &Path) -> Result<Self, SourceError> {
        let mut files = Vec::new();
        collect_files(dir, &mut files)?;
        files.sort();
        let mut index = IndexBuilder::default();
        for file in &files {
            let text = read_log(file)?;
            match add_log(&mut index, &text) {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(file = %file.display(), "skipping a file that is not a CloudTrail log (no Records array)");
                }
                Err(e) => return Err(archive_error(file, format!("not valid JSON: {e}"))),
            }
        }
        tracing::debug!(dir = %dir.display(), files = files.len(), "log files read");
        // The index keeps one copy of events delivered twice (overlapping exports).
        Ok(Self::new(
            format!("archive:{}", dir.display()),
            index.finish(),
        ))
    }

    /// How many events the archive holds.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the archive holds no events.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}

/// Adds the events of one log file's text (`{"Records": [...]}`) to `index`; `false` when the
/// JSON is not a CloudTrail log (no `Records` array: a digest file, other JSON). Shared by the
/// directory and the S3 archive, so both read a file the same way.
pub(super) fn add_log(index: &mut IndexBuilder, text: &str) -> Result<bool, serde_json::Error> {
    let parsed: Value = serde_json::from_str(text)?;
    let Some(records) = parsed.get("Records").and_then(Value::as_array) else {
        return Ok(false);
    };
    records
        .iter()
        .filter_map(|r| raw_event(r).map(|e| (e, place(r))))
        .for_each(|(e, place)| index.add(e, place));
    Ok(true)
}

/// The `next_token` that continues after `last` (a keyset position).
pub(super) fn token_after(last: &RawEvent) -> String {
    format!("{}:{}", last.event_time.as_nanosecond(), last.event_id)
}

fn archive_error(path: &Path, message: String) -> SourceError {
    SourceError::Archive {
        path: path.display().to_string(),
        message,
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), SourceError> {
    let entries = std::fs::read_dir(dir).map_err(|e| archive_error(dir, e.to_string()))?;
    for entry in entries {
        let path = entry.map_err(|e| archive_error(dir, e.to_string()))?.path();
        if path.is_dir() {
            collect_files(&path, out)?;
        } else {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(".json.gz") || name.ends_with(".json") {
                out.push(path);
            }
        }
    }
    Ok(())
}

fn read_log(path: &Path) -> Result<String, SourceError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| archive_error(path, e.to_string()))?;
    let mut text = String::new();
    let result = if path.extension().is_some_and(|e| e == "gz") {
        flate2::read::GzDecoder::new(file).read_to_string(&mut text)
    } else {
        std::io::BufReader::new(file).read_to_string(&mut text)
    };
    result.map_err(|e| archive_error(path, format!("cannot decompress or decode: {e}")))?;
    Ok(text)
}

/// The account and region a record was recorded in, as a trail's S3 layout files it
/// (`AWSLogs/<recipientAccountId>/CloudTrail/<awsRegion>/...`).
fn place(value: &Value) -> Place {
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
    (text("recipientAccountId"), text("awsRegion"))
}

/// The fields `LookupEvents` indexes, derived from a record the way CloudTrail shows them.
fn raw_event(value: &Value) -> Option<RawEvent> {
    let text = |key: &str| value.get(key).and_then(Value::as_str);
    let event_time: Timestamp = text("eventTime")?.parse().ok()?;
    Some(RawEvent {
        event_id: text("eventID")?.to_owned(),
        event_time,
        event_name: text("eventName").unwrap_or_default().to_owned(),
        event_source: text("eventSource").unwrap_or_default().to_owned(),
        username: record::username(value),
        access_key_id: record::access_key_id(value),
        read_only: record::read_only(value),
        resources: record::resources(value)
            .into_iter()
            .map(|(kind, name)| Resource {
                resource_type: Some(kind),
                resource_name: Some(name),
            })
            .collect(),
        record: value.to_string(),
    })
}

/// The keyset position a `next_token` of [`token_after`] names.
pub(super) fn parse_token(token: &str) -> Result<(Timestamp, &str), SourceError> {
    let invalid =
        || SourceError::InvalidNextToken(format!("`{token}` is not a page token of this archive"));
    let (nanos, id) = token.split_once(':').ok_or_else(invalid)?;
    let nanos: i128 = nanos.parse().map_err(|_| invalid())?;
    let time = Timestamp::from_nanosecond(nanos).map_err(|_| invalid())?;
    if id.is_empty() {
        return Err(invalid());
    }
    Ok((time, id))
}

#[async_trait]
impl EventSource for LogArchive {
    fn id(&self) -> &str {
        &self.id
    }

    fn retention(&self) -> Option<SignedDuration> {
        None
    }

    async fn lookup(&self, query: &Query) -> Result<Page, SourceError> {
        let after = query.next_token.as_deref().map(parse_token).transpose()?;
        let hits = self.index.find(
            query.start,
            query.end,
            query.filter.as_ref(),
            &query.scope,
            after,
            query.max_results.max(1),
        );
        let events = self.index.events(&hits).map_err(|e| SourceError::Archive {
            path: self.id.clone(),
            message: format!("a stored record is unreadable: {e}"),
        })?;
        let next_token = match (hits.more, events.last()) {
            (true, Some(last)) => Some(token_after(last)),
            _ => None,
        };
        Ok(Page {
            events,
            next_token,
            ..Page::default()
        })
    }

    async fn ids_for_ref(&self, event_ref: &str) -> Result<Option<Vec<String>>, SourceError> {
        Ok(Some(self.index.ids_for_ref(event_ref)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{AttributeKey, Filter};
    use serde_json::json;

    fn anchor() -> Timestamp {
        "2026-11-24T03:30:00Z".parse().unwrap()
    }

    fn sample() -> LogArchive {
        LogArchive::from_records("sample", crate::sample::generate(anchor(), 42))
    }

    fn query(filter: Option<(AttributeKey, &str)>, max: usize) -> Query {
        Query {
            start: anchor() - SignedDuration::from_hours(24 * 8),
            end: anchor(),
            filter: filter.map(|(k, v)| Filter {
                attribute_key: k,
                attribute_value: v.into(),
            }),
            max_results: max,
            next_token: None,
            scope: Default::default(),
        }
    }

    async fn all(archive: &LogArchive, mut q: Query) -> Vec<RawEvent> {
        let mut out = Vec::new();
        loop {
            let page = archive.lookup(&q).await.unwrap();
            assert!(page.events.len() <= q.max_results);
            out.extend(page.events);
            match page.next_token {
                Some(t) => q.next_token = Some(t),
                None => return out,
            }
        }
    }

    #[tokio::test]
    async fn every_attribute_filters_exactly() {
        let archive = sample();
        // Each check compares the attribute itself, so a filter that matched too much (every
        // assumed-role session, every EC2 call, both of bob's keys) fails it.
        type Check = fn(&RawEvent) -> bool;
        let cases: [(AttributeKey, &str, Check); 8] = [
            (AttributeKey::Username, "alice", |e| {
                e.username.as_deref() == Some("alice")
            }),
            (AttributeKey::Username, "carol@example.com", |e| {
                let record: Value = serde_json::from_str(&e.record).unwrap();
                e.username.as_deref() == Some("carol@example.com")
                    && record["userIdentity"]["arn"].as_str().is_some_and(|arn| {
                        arn.ends_with(":assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/carol@example.com")
                    })
            }),
            (AttributeKey::EventName, "DeleteBucket", |e| {
                e.event_name == "DeleteBucket"
            }),
            (AttributeKey::EventSource, "iam.amazonaws.com", |e| {
                e.event_source == "iam.amazonaws.com"
            }),
            (AttributeKey::ReadOnly, "false", |e| {
                e.read_only == Some(false)
            }),
            (AttributeKey::ResourceName, "bob-old-logs", |e| {
                e.resources
                    .iter()
                    .any(|r| r.resource_name.as_deref() == Some("bob-old-logs"))
            }),
            (AttributeKey::ResourceType, "AWS::EC2::Instance", |e| {
                e.resources
                    .iter()
                    .any(|r| r.resource_type.as_deref() == Some("AWS::EC2::Instance"))
            }),
            (AttributeKey::AccessKeyId, "AKIA3SAMPLEBOB000001", |e| {
                e.access_key_id.as_deref() == Some("AKIA3SAMPLEBOB000001")
            }),
        ];
        for (key, value, check) in cases {
            let events = all(&archive, query(Some((key, value)), 50)).await;
            assert!(!events.is_empty(), "{key} {value}");
            assert!(events.iter().all(check), "{key} {value}");
        }
        let one = all(&archive, query(None, 50)).await[10].event_id.clone();
        let events = all(&archive, query(Some((AttributeKey::EventId, &one)), 5)).await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_id, one);
        assert!(
            all(
                &archive,
                query(Some((AttributeKey::Username, "mallory")), 5)
            )
            .await
            .is_empty()
        );
    }

    #[tokio::test]
    async fn window_is_inclusive_and_newest_first() {
        let archive = sample();
        let pivot = all(&archive, query(None, 500)).await[100].event_time;
        let mut q = query(None, 10_000);
        q.start = pivot;
        q.end = pivot;
        let exact = all(&archive, q).await;
        assert!(!exact.is_empty() && exact.iter().all(|e| e.event_time == pivot));
        let events = all(&archive, query(None, 10_000)).await;
        assert_eq!(events.len(), archive.len());
        assert!(
            events
                .windows(2)
                .all(|w| w[0].event_time >= w[1].event_time)
        );
    }

    #[tokio::test]
    async fn small_pages_visit_every_match_once() {
        let archive = sample();
        let whole = all(
            &archive,
            query(Some((AttributeKey::Username, "bob")), 10_000),
        )
        .await;
        let paged = all(&archive, query(Some((AttributeKey::Username, "bob")), 7)).await;
        let ids = |v: &[RawEvent]| v.iter().map(|e| e.event_id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&paged), ids(&whole));
        assert!(whole.len() > 7);
    }

    #[tokio::test]
    async fn records_come_back_as_given_from_compressed_storage() {
        let records = crate::sample::generate(anchor(), 42);
        let archive = LogArchive::from_records("x", records.clone());
        let (raw, stored) = archive.index.record_bytes();
        assert!(stored * 5 < raw, "{stored} of {raw} bytes");
        let events = all(&archive, query(None, 100_000)).await;
        assert_eq!(events.len(), records.len());
        let by_id: std::collections::HashMap<&str, &Value> = records
            .iter()
            .map(|r| (r["eventID"].as_str().unwrap(), r))
            .collect();
        for event in &events {
            let record: Value = serde_json::from_str(&event.record).unwrap();
            assert_eq!(&&record, by_id.get(event.event_id.as_str()).unwrap());
        }
    }

    #[tokio::test]
    async fn bad_tokens_are_refused() {
        let archive = sample();
        for token in [
            "garbage",
            "12:",
            "x:y",
            "99999999999999999999999999999999:abc",
        ] {
            let mut q = query(None, 5);
            q.next_token = Some(token.into());
            let err = archive.lookup(&q).await.unwrap_err();
            assert!(
                matches!(err, SourceError::InvalidNextToken(_)),
                "{token}: {err}"
            );
        }
    }

    #[tokio::test]
    async fn reads_what_write_archive_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let records = crate::sample::generate(anchor(), 42);
        let files = crate::sample::write_archive(dir.path(), &records).unwrap();
        assert!(files.iter().all(|f| {
            f.to_string_lossy()
                .contains("/AWSLogs/123456789012/CloudTrail/")
        }));
        // A plain .json log, a digest file and an unrelated file are handled too.
        let extra = dir
            .path()
            .join("AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/20");
        std::fs::create_dir_all(&extra).unwrap();
        let mut manual = records[0].clone();
        manual["eventID"] = json!("manual-event-1");
        std::fs::write(
            extra.join("manual.json"),
            json!({"Records": [manual]}).to_string(),
        )
        .unwrap();
        let digest = dir
            .path()
            .join("AWSLogs/123456789012/CloudTrail-Digest/us-east-1");
        std::fs::create_dir_all(&digest).unwrap();
        std::fs::write(
            digest.join("digest.json"),
            r#"{"awsAccountId":"123456789012","digestStartTime":"x"}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a log").unwrap();

        let archive = LogArchive::from_dir(dir.path()).unwrap();
        assert_eq!(archive.len(), records.len() + 1);
        assert!(archive.id().starts_with("archive:"));
        // Records survive the round trip through gzip files byte for byte.
        let from_memory = LogArchive::from_records("x", records.clone());
        let read = all(&archive, query(None, 100_000)).await;
        let expected = all(&from_memory, query(None, 100_000)).await;
        assert_eq!(read.len(), expected.len() + 1);
        for expected in &expected {
            let read = read.iter().find(|e| e.event_id == expected.event_id);
            assert_eq!(read, Some(expected));
        }

        // A corrupt .json.gz names the file.
        std::fs::write(extra.join("broken.json.gz"), b"not gzip at all").unwrap();
        let err = LogArchive::from_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("broken.json.gz"), "{err}");
    }

    #[test]
    fn lookup_fields_follow_cloudtrail() {
        let record = json!({"eventID": "e", "eventTime": "2026-11-23T01:02:03Z", "eventName": "RunInstances",
            "eventSource": "ec2.amazonaws.com", "readOnly": false,
            "userIdentity": {"type": "Root", "arn": "arn:aws:iam::1:root", "accessKeyId": ""},
            "responseElements": {"instancesSet": {"items": [{"instanceId": "i-0123"}]}}});
        let e = raw_event(&record).unwrap();
        assert_eq!(e.username.as_deref(), Some("root"));
        assert_eq!(e.access_key_id, None);
        assert_eq!(e.read_only, Some(false));
        assert_eq!(e.resources[0].resource_name.as_deref(), Some("i-0123"));
        assert!(raw_event(&json!({"eventName": "x"})).is_none());
    }
}
