//! The S3 archive's memory: parsed delivery days (one index per account, region and day folder)
//! under a byte bound, least recently used first out, and the folder listings of the layout
//! (accounts, regions) for a while.
//!
//! A day is loaded once however many queries want it at the same time: each folder has a slot
//! whose async lock the loader holds. A settled day (its folder receives no more files) stays
//! until it is evicted; a live one (today's) is listed again once it is older than the refresh
//! interval and reloaded when its files changed. A failed load leaves nothing behind.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::client::FileStamp;
use crate::source::index::Index;

/// One parsed day folder.
#[derive(Debug)]
pub struct Day {
    pub index: Index,
    /// The listing it was built from.
    pub files: Vec<FileStamp>,
}

/// A day in its slot: when its listing was last checked and whether it may still change.
#[derive(Debug)]
pub struct Loaded {
    pub day: Arc<Day>,
    pub checked: Instant,
    pub live: bool,
}

impl Loaded {
    /// Whether the day can be used as it is, or must be listed again first.
    pub fn fresh(&self, refresh: Duration) -> bool {
        !self.live || self.checked.elapsed() < refresh
    }
}

/// The lock a loader holds while it loads a folder.
pub type Slot = Arc<tokio::sync::Mutex<Option<Loaded>>>;

#[derive(Debug)]
struct Entry {
    slot: Slot,
    last_used: u64,
    bytes: usize,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<String, Entry>,
    tick: u64,
    used: usize,
}

/// Parsed days by folder prefix, at most `budget` bytes of them.
#[derive(Debug)]
pub struct DayCache {
    budget: usize,
    state: Mutex<State>,
}

impl DayCache {
    /// An empty cache that keeps at most `budget` bytes of indexes.
    pub fn new(budget: usize) -> Self {
        Self {
            budget,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The map holds no invariant a panic could break halfway.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The slot of `folder` (made empty if new), marked as just used.
    pub fn slot(&self, folder: &str) -> Slot {
        let mut state = self.state();
        state.tick += 1;
        let tick = state.tick;
        let entry = state
            .entries
            .entry(folder.to_owned())
            .or_insert_with(|| Entry {
                slot: Slot::default(),
                last_used: tick,
                bytes: 0,
            });
        entry.last_used = tick;
        entry.slot.clone()
    }

    /// Records that `folder` now holds `bytes`, then evicts the least recently used other
    /// folders until the cache is within its budget. A folder evicted meanwhile stays out.
    pub fn stored(&self, folder: &str, bytes: usize) {
        let mut state = self.state();
        if bytes > self.budget {
            // Larger than the whole budget: used by its query, not kept.
            if let Some(gone) = state.entries.remove(folder) {
                state.used -= gone.bytes.min(state.used);
            }
            return;
        }
        let Some(entry) = state.entries.get_mut(folder) else {
            return;
        };
        let before = std::mem::replace(&mut entry.bytes, bytes);
        state.used = state.used - before.min(state.used) + bytes;
        while state.used > self.budget {
            let victim = state
                .entries
                .iter()
                .filter(|(k, e)| k.as_str() != folder && e.bytes > 0)
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone());
            let Some(victim) = victim else { break };
            if let Some(gone) = state.entries.remove(&victim) {
                state.used -= gone.bytes.min(state.used);
            }
        }
    }

    /// Forgets a folder whose load failed (an empty slot would only take room in the map).
    pub fn forget_empty(&self, folder: &str) {
        let mut state = self.state();
        if state.entries.get(folder).is_some_and(|e| e.bytes == 0) {
            state.entries.remove(folder);
        }
    }

    /// The days held now (those not being loaded at this moment).
    pub fn days(&self) -> Vec<Arc<Day>> {
        let slots: Vec<Slot> = self
            .state()
            .entries
            .values()
            .map(|e| e.slot.clone())
            .collect();
        slots
            .iter()
            .filter_map(|s| s.try_lock().ok()?.as_ref().map(|l| l.day.clone()))
            .collect()
    }

    /// Bytes held.
    pub fn used(&self) -> usize {
        self.state().used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn fill(cache: &DayCache, folder: &str, bytes: usize) {
        let slot = cache.slot(folder);
        *slot.lock().await = Some(Loaded {
            day: Arc::new(Day {
                index: Index::default(),
                files: vec![],
            }),
            checked: Instant::now(),
            live: false,
        });
        cache.stored(folder, bytes);
    }

    #[tokio::test]
    async fn the_least_recently_used_days_go_first_within_the_budget() {
        let cache = DayCache::new(100);
        fill(&cache, "a/", 40).await;
        fill(&cache, "b/", 40).await;
        cache.slot("a/"); // a is used again: b is now the oldest
        fill(&cache, "c/", 40).await;
        assert_eq!(cache.used(), 80);
        assert_eq!(cache.days().len(), 2);
        assert!(
            cache.slot("b/").try_lock().unwrap().is_none(),
            "b was evicted"
        );
        assert!(cache.slot("a/").try_lock().unwrap().is_some());
        // A day larger than the budget is not kept, and evicts nothing it need not.
        cache.forget_empty("b/");
        fill(&cache, "huge/", 500).await;
        assert_eq!(cache.used(), 80);
        assert!(cache.slot("huge/").try_lock().unwrap().is_none());
    }

    #[tokio::test]
    async fn a_reloaded_day_is_counted_once() {
        let cache = DayCache::new(1_000);
        fill(&cache, "a/", 300).await;
        fill(&cache, "a/", 200).await;
        assert_eq!(cache.used(), 200);
        let loaded = Loaded {
            day: Arc::new(Day {
                index: Index::default(),
                files: vec![],
            }),
            checked: Instant::now() - Duration::from_secs(120),
            live: true,
        };
        assert!(!loaded.fresh(Duration::from_secs(60)));
        assert!(loaded.fresh(Duration::from_secs(600)));
        assert!(
            Loaded {
                live: false,
                ..loaded
            }
            .fresh(Duration::ZERO)
        );
    }
}
