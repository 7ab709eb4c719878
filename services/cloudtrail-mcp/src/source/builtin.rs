//! The built-in sample archive as an event source, generated on first use.
//!
//! Generating a few thousand records takes milliseconds, but not on the path to the first
//! `initialize` answer: the server starts at once and [`SampleSource::warm_up`] builds the
//! archive in the background; a query that arrives earlier waits for it.

use std::sync::Arc;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use tokio::sync::OnceCell;

use super::archive::LogArchive;
use super::{EventSource, Page, Query, SourceError};
use crate::sample;

/// The id bound into cursors of the sample source.
pub const SAMPLE_ID: &str = "sample";

/// The sample archive, anchored at a fixed "now".
#[derive(Clone)]
pub struct SampleSource {
    anchor: Timestamp,
    seed: u64,
    archive: Arc<OnceCell<LogArchive>>,
}

impl std::fmt::Debug for SampleSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SampleSource")
            .field("anchor", &self.anchor)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl SampleSource {
    /// A sample whose newest events are just before `anchor`.
    pub fn new(anchor: Timestamp, seed: u64) -> Self {
        Self {
            anchor,
            seed,
            archive: Arc::new(OnceCell::new()),
        }
    }

    /// Starts generating in the background (needs a Tokio runtime).
    pub fn warm_up(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            this.archive().await;
        });
    }

    async fn archive(&self) -> &LogArchive {
        let (anchor, seed) = (self.anchor, self.seed);
        self.archive
            .get_or_init(|| async move {
                tokio::task::spawn_blocking(move || {
                    LogArchive::from_records(SAMPLE_ID, sample::records(anchor, seed))
                })
                .await
                .expect("sample generation does not panic")
            })
            .await
    }
}

#[async_trait]
impl EventSource for SampleSource {
    fn id(&self) -> &str {
        SAMPLE_ID
    }

    fn retention(&self) -> Option<SignedDuration> {
        None
    }

    async fn lookup(&self, query: &Query) -> Result<Page, SourceError> {
        self.archive().await.lookup(query).await
    }

    async fn ids_for_ref(&self, event_ref: &str) -> Result<Option<Vec<String>>, SourceError> {
        self.archive().await.ids_for_ref(event_ref).await
    }
}
