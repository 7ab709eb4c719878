//! [`S3Archive`]: the archive source over a trail's S3 prefix. A query lists only the delivery
//! days of its window ([`plan::days`]) for the accounts and regions in its scope, downloads and
//! parses those days' files concurrently (at most [`S3ArchiveSettings::concurrency`] requests at
//! a time), keeps the parsed days in a bounded [`DayCache`], and merges the days' matches into
//! one page ([`merge`]). Pages, tokens and filters are the directory archive's: the same files
//! give the same answers.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use tokio::sync::Semaphore;

use super::cache::{Day, DayCache, Loaded};
use super::client;
use super::location::S3Location;
use super::merge::{Merged, merge};
use super::plan::{self, LogsFolder};
use crate::source::archive::{add_log, parse_token, token_after};
use crate::source::index::{Hits, IndexBuilder};
use crate::source::{AttributeKey, EventSource, Page, Query, RawEvent, SourceError};

/// How the S3 archive works.
#[derive(Debug, Clone)]
pub struct S3ArchiveSettings {
    /// How many days back a window may reach (the longest listing a query can ask for).
    pub max_days: i64,
    /// The most S3 requests (listings and downloads) in flight at once, over all queries.
    pub concurrency: usize,
    /// The most bytes of parsed days kept in memory.
    pub cache_bytes: usize,
    /// How long a listing of a folder that may still change (today's files, the accounts and
    /// regions) is used before it is listed again.
    pub refresh: Duration,
}

impl Default for S3ArchiveSettings {
    fn default() -> Self {
        Self {
            max_days: 365,
            concurrency: 16,
            cache_bytes: 256 << 20,
            refresh: Duration::from_secs(60),
        }
    }
}

/// A trail's files in S3 as an event source.
#[derive(Debug)]
pub struct S3Archive {
    id: String,
    client: aws_sdk_s3::Client,
    location: S3Location,
    settings: S3ArchiveSettings,
    days: DayCache,
    /// Folder listings of the layout (`AWSLogs/`, organization and trail folders): prefix ->
    /// (when listed, child folder names).
    folders: Mutex<HashMap<String, Listed>>,
    requests: Arc<Semaphore>,
}

/// A folder listing: when it was made, and the child folder names.
type Listed = (Instant, Arc<Vec<String>>);

/// One day folder a query reads.
#[derive(Debug, Clone)]
struct Folder {
    prefix: String,
    day: Date,
}

impl S3Archive {
    /// The archive at `location`, read with `client` (its region should be the bucket's; tests
    /// point it at a local S3 with an endpoint override and path-style addressing).
    pub fn new(
        client: aws_sdk_s3::Client,
        location: S3Location,
        settings: S3ArchiveSettings,
    ) -> Self {
        Self {
            id: format!("archive:{location}"),
            client,
            days: DayCache::new(settings.cache_bytes),
            requests: Arc::new(Semaphore::new(settings.concurrency.max(1))),
            location,
            settings,
            folders: Mutex::default(),
        }
    }

    /// Bytes of parsed days held in memory.
    pub fn cached_bytes(&self) -> usize {
        self.days.used()
    }

    /// The child folders of `prefix`, from a listing younger than the refresh interval.
    async fn folders(&self, prefix: &str) -> Result<Arc<Vec<String>>, SourceError> {
        let cached = self
            .folders
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(prefix)
            .filter(|(at, _)| at.elapsed() < self.settings.refresh)
            .map(|(_, names)| names.clone());
        if let Some(names) = cached {
            return Ok(names);
        }
        let names = {
            let _permit = self.requests.acquire().await;
            Arc::new(client::list_folders(&self.client, &self.location, prefix).await?)
        };
        self.folders
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(prefix.to_owned(), (Instant::now(), names.clone()));
        Ok(names)
    }

    /// The account folders in scope (`.../AWSLogs/[o-ORG/]ACCOUNT/`). Accounts the scope names
    /// are not discovered: an organization's folder is listed only to find all of them.
    async fn account_folders(&self, accounts: &[String]) -> Result<Vec<String>, SourceError> {
        let logs = self.location.logs_prefix();
        let wanted = |a: &str| accounts.is_empty() || accounts.iter().any(|w| w == a);
        let mut out = Vec::new();
        for folder in self
            .folders(&logs)
            .await?
            .iter()
            .filter_map(|n| plan::logs_folder(n))
        {
            match folder {
                LogsFolder::Account(a) if wanted(&a) => out.push(format!("{logs}{a}/")),
                LogsFolder::Account(_) => {}
                LogsFolder::Organization(org) => {
                    let org = format!("{logs}{org}/");
                    if accounts.is_empty() {
                        let names = self.folders(&org).await?;
                        out.extend(
                            names
                                .iter()
                                .filter(|a| plan::is_account_id(a))
                                .map(|a| format!("{org}{a}/")),
                        );
                    } else {
                        out.extend(accounts.iter().map(|a| format!("{org}{a}/")));
                    }
                }
            }
        }
        Ok(out)
    }

    /// The day folders of `[start, end]` in the query's scope, oldest first per region.
    async fn plan(
        &self,
        query: &Query,
        end: Timestamp,
        now: Timestamp,
    ) -> Result<Vec<Folder>, SourceError> {
        let days = plan::days(query.start, end, now);
        if days.is_empty() {
            return Ok(Vec::new());
        }
        let accounts = self.account_folders(&query.scope.accounts).await?;
        // Futures made first, then run: a stream of closures returning futures borrowing `self`
        // is not provably `Send` for every lifetime (async_trait needs it).
        let listings: Vec<_> = accounts
            .into_iter()
            .map(|account| self.regions(account, &query.scope.regions))
            .collect();
        let regions: Vec<(String, Vec<String>)> = futures::stream::iter(listings)
            .buffered(self.settings.concurrency.max(1))
            .try_collect()
            .await?;
        let mut folders = Vec::new();
        for (account, regions) in &regions {
            for region in regions {
                let folder = plan::region_prefix(account, region);
                folders.extend(days.iter().map(|&day| Folder {
                    prefix: plan::day_prefix(&folder, day),
                    day,
                }));
            }
        }
        Ok(folders)
    }

    /// The regions of an account folder: those the scope names, or its trail's region folders.
    async fn regions(
        &self,
        account: String,
        scoped: &[String],
    ) -> Result<(String, Vec<String>), SourceError> {
        let regions = if scoped.is_empty() {
            self.folders(&plan::trail_prefix(&account)).await?.to_vec()
        } else {
            scoped.to_vec()
        };
        Ok((account, regions))
    }

    /// The parsed day of `folder`: from the cache, or listed and downloaded now.
    async fn day(&self, folder: Folder, now: Timestamp) -> Result<Arc<Day>, SourceError> {
        let slot = self.days.slot(&folder.prefix);
        let mut held = slot.lock().await;
        if let Some(loaded) = held.as_ref().filter(|l| l.fresh(self.settings.refresh)) {
            return Ok(loaded.day.clone());
        }
        let result = self
            .load(&folder, held.as_ref().map(|l| l.day.clone()))
            .await;
        let day = match result {
            Ok(day) => day,
            Err(error) => {
                drop(held);
                self.days.forget_empty(&folder.prefix);
                return Err(error);
            }
        };
        let bytes = day.index.memory_bytes();
        *held = Some(Loaded {
            day: day.clone(),
            checked: Instant::now(),
            live: plan::is_live(folder.day, now),
        });
        drop(held);
        self.days.stored(&folder.prefix, bytes);
        Ok(day)
    }

    /// Lists `folder` and, unless its files are those of `previous`, downloads and parses them.
    async fn load(
        &self,
        folder: &Folder,
        previous: Option<Arc<Day>>,
    ) -> Result<Arc<Day>, SourceError> {
        let files = {
            let _permit = self.requests.acquire().await;
            client::list_files(&self.client, &self.location, &folder.prefix).await?
        };
        if let Some(previous) = previous.filter(|p| p.files == files) {
            return Ok(previous);
        }
        let downloads: Vec<_> = files.iter().map(|f| self.download(&f.key)).collect();
        let bodies: Vec<(String, Option<Vec<u8>>)> = futures::stream::iter(downloads)
            .buffered(self.settings.concurrency.max(1))
            .try_collect()
            .await?;
        let location = self.location.clone();
        let index = tokio::task::spawn_blocking(move || parse(&location, bodies))
            .await
            .map_err(|e| SourceError::Archive {
                path: self.location.url_of(&folder.prefix),
                message: format!("parsing stopped: {e}"),
            })??;
        tracing::debug!(folder = %folder.prefix, files = files.len(), events = index.len(), "day folder read");
        Ok(Arc::new(Day { index, files }))
    }

    /// One object's bytes, within the bound on requests in flight.
    async fn download(&self, key: &str) -> Result<(String, Option<Vec<u8>>), SourceError> {
        let _permit = self.requests.acquire().await;
        let body = client::get(&self.client, &self.location, key).await?;
        Ok((key.to_owned(), body))
    }

    /// Loads `folders` concurrently.
    async fn load_all(
        &self,
        folders: Vec<Folder>,
        now: Timestamp,
    ) -> Result<Vec<Arc<Day>>, SourceError> {
        let loads: Vec<_> = folders.into_iter().map(|f| self.day(f, now)).collect();
        futures::stream::iter(loads)
            .buffered(self.settings.concurrency.max(1))
            .try_collect()
            .await
    }

    /// The days a page needs, newest delivery day first: a round loads the next days (one,
    /// then twice as many each round) and the rounds stop once the days loaded decide the page
    /// ([`PageQuery::decided`]), so a first page of a long window reads its last days only.
    async fn days_of(&self, page: &PageQuery<'_>) -> Result<Vec<Arc<Day>>, SourceError> {
        let now = Timestamp::now();
        let mut by_day: BTreeMap<Date, Vec<Folder>> = BTreeMap::new();
        for folder in self.plan(page.query, page.end, now).await? {
            by_day.entry(folder.day).or_default().push(folder);
        }
        // Oldest first, so the newest is taken first from the end.
        let mut pending: Vec<(Date, Vec<Folder>)> = by_day.into_iter().collect();
        let mut days = Vec::new();
        let mut round = 1;
        while let Some(&(newest_left, _)) = pending.last() {
            if !days.is_empty() && page.decided(&days, plan::after_folder(newest_left)) {
                break;
            }
            let take = round.min(pending.len());
            let folders: Vec<Folder> = pending
                .split_off(pending.len() - take)
                .into_iter()
                .flat_map(|(_, folders)| folders)
                .collect();
            days.extend(self.load_all(folders, now).await?);
            round *= 2;
        }
        Ok(days)
    }
}

/// One page request as the day indexes are asked it.
struct PageQuery<'a> {
    query: &'a Query,
    /// The window's end, or the last event returned when that is older.
    end: Timestamp,
    after: Option<(Timestamp, &'a str)>,
    limit: usize,
}

impl PageQuery<'_> {
    /// The first `limit` matches of each day and their merge.
    fn hits(&self, days: &[Arc<Day>], limit: usize) -> (Vec<Hits>, Merged) {
        let q = self.query;
        let hits: Vec<Hits> = days
            .iter()
            .map(|d| {
                let filter = q.filter.as_ref();
                d.index
                    .find(q.start, self.end, filter, &q.scope, self.after, limit)
            })
            .collect();
        let keys: Vec<_> = days
            .iter()
            .zip(&hits)
            .map(|(d, h)| d.index.hit_keys(h))
            .collect();
        let more: Vec<bool> = hits.iter().map(|h| h.more).collect();
        let merged = merge(&keys, &more, limit);
        (hits, merged)
    }

    /// Whether `days` decide the page when the folders not loaded hold only events older than
    /// `bound`: they hold the page and one match more (so `more` is known), all at or after
    /// `bound`. An event id is unique, so a lookup by id is decided by finding it.
    fn decided(&self, days: &[Arc<Day>], bound: Timestamp) -> bool {
        let by_id = self
            .query
            .filter
            .as_ref()
            .is_some_and(|f| f.attribute_key == AttributeKey::EventId);
        let (hits, merged) = self.hits(days, self.limit + 1);
        if by_id {
            return !merged.order.is_empty();
        }
        let Some(&(i, j)) = merged.order.get(self.limit) else {
            return false;
        };
        match (days.get(i), hits.get(i)) {
            (Some(day), Some(hits)) => day
                .index
                .hit_keys(hits)
                .get(j)
                .is_some_and(|(time, _)| *time >= bound),
            _ => false,
        }
    }
}

/// Parses downloaded files into one day's index, in key order (as the directory archive reads
/// its files). A file that does not decode or is not JSON is an error naming it; JSON that is
/// not a CloudTrail log is skipped with a warning; a vanished object is skipped.
fn parse(
    location: &S3Location,
    bodies: Vec<(String, Option<Vec<u8>>)>,
) -> Result<crate::source::index::Index, SourceError> {
    let mut index = IndexBuilder::default();
    for (key, body) in bodies {
        let path = || location.url_of(&key);
        let Some(body) = body else {
            tracing::warn!(file = %path(), "skipping a log file deleted after it was listed");
            continue;
        };
        let text = client::decode(&body).map_err(|e| SourceError::Archive {
            path: path(),
            message: format!("cannot decompress or decode: {e}"),
        })?;
        match add_log(&mut index, &text) {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(file = %path(), "skipping a file that is not a CloudTrail log (no Records array)");
            }
            Err(e) => {
                return Err(SourceError::Archive {
                    path: path(),
                    message: format!("not valid JSON: {e}"),
                });
            }
        }
    }
    Ok(index.finish())
}

#[async_trait]
impl EventSource for S3Archive {
    fn id(&self) -> &str {
        &self.id
    }

    fn retention(&self) -> Option<SignedDuration> {
        Some(SignedDuration::from_hours(24 * self.settings.max_days))
    }

    async fn lookup(&self, query: &Query) -> Result<Page, SourceError> {
        let after = query.next_token.as_deref().map(parse_token).transpose()?;
        let page = PageQuery {
            query,
            // A later page holds only events up to the last one returned: newer days are not read.
            end: after.map_or(query.end, |(time, _)| time.min(query.end)),
            after,
            limit: query.max_results.max(1),
        };
        let days = self.days_of(&page).await?;
        let (mut hits, merged) = page.hits(&days, page.limit);
        let mut events: Vec<Vec<Option<RawEvent>>> = Vec::with_capacity(days.len());
        for ((day, hits), consumed) in days.iter().zip(&mut hits).zip(&merged.consumed) {
            hits.truncate(*consumed);
            let read = day.index.events(hits).map_err(|e| SourceError::Archive {
                path: self.id.clone(),
                message: format!("a stored record is unreadable: {e}"),
            })?;
            events.push(read.into_iter().map(Some).collect());
        }
        let events: Vec<_> = merged
            .order
            .iter()
            .filter_map(|&(i, j)| events.get_mut(i)?.get_mut(j)?.take())
            .collect();
        let next_token = match (merged.more, events.last()) {
            (true, Some(last)) => Some(token_after(last)),
            _ => None,
        };
        Ok(Page {
            events,
            next_token,
            ..Page::default()
        })
    }

    /// References resolve among the days in memory: those of the answers that gave them.
    async fn ids_for_ref(&self, event_ref: &str) -> Result<Option<Vec<String>>, SourceError> {
        let mut ids: Vec<String> = self
            .days
            .days()
            .iter()
            .flat_map(|d| d.index.ids_for_ref(event_ref))
            .collect();
        ids.sort();
        ids.dedup();
        Ok(Some(ids))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{Filter, Scope};

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn day(events: &[(&str, &str)]) -> Arc<Day> {
        let mut index = IndexBuilder::default();
        for (id, time) in events {
            index.add(
                RawEvent {
                    event_id: (*id).into(),
                    event_time: at(time),
                    event_name: "GetObject".into(),
                    event_source: "s3.amazonaws.com".into(),
                    username: None,
                    access_key_id: None,
                    read_only: Some(true),
                    resources: vec![],
                    record: "{}".into(),
                },
                (None, None),
            );
        }
        Arc::new(Day {
            index: index.finish(),
            files: vec![],
        })
    }

    fn query(filter: Option<Filter>) -> Query {
        Query {
            start: at("2026-11-01T00:00:00Z"),
            end: at("2026-11-30T00:00:00Z"),
            filter,
            max_results: 2,
            next_token: None,
            scope: Scope::default(),
        }
    }

    #[test]
    fn a_page_is_decided_by_one_match_more_than_it_holds_all_newer_than_the_rest() {
        let q = query(None);
        let page = |limit| PageQuery {
            query: &q,
            end: q.end,
            after: None,
            limit,
        };
        // Two folders read: the 28th's and the 27th's (which holds late events of the 26th).
        let days = [
            day(&[("a", "2026-11-28T10:00:00Z"), ("b", "2026-11-27T23:59:00Z")]),
            day(&[("c", "2026-11-27T05:00:00Z"), ("d", "2026-11-26T23:58:00Z")]),
        ];
        // Unread folders (the 26th and older) hold events before 2026-11-27T00:00.
        let bound = plan::after_folder(jiff::civil::date(2026, 11, 26));
        assert!(
            page(2).decided(&days, bound),
            "a, b and c are newer than any unread event"
        );
        // The third match would be d, which an unread folder may beat.
        assert!(!page(3).decided(&days, bound));
        // Not enough matches at all.
        assert!(!page(4).decided(&days, bound));
        // One folder fewer read: the bound moves a day later and c no longer clears it.
        let bound = plan::after_folder(jiff::civil::date(2026, 11, 27));
        assert!(!page(2).decided(&days[..1], bound));
        assert!(
            !page(1).decided(&days[..1], bound),
            "b is older than the bound"
        );
        let newer = [day(&[
            ("a", "2026-11-28T10:00:00Z"),
            ("e", "2026-11-28T00:00:00Z"),
        ])];
        assert!(page(1).decided(&newer, bound));

        // By event id: decided once found.
        for (id, found) in [("c", true), ("zz", false)] {
            let q = query(Some(Filter {
                attribute_key: AttributeKey::EventId,
                attribute_value: id.into(),
            }));
            let page = PageQuery {
                query: &q,
                end: q.end,
                after: None,
                limit: 1,
            };
            assert_eq!(page.decided(&days, Timestamp::MAX), found, "{id}");
        }
    }
}
