//! Merging several regions' `LookupEvents` streams into one newest-first stream, and the page
//! token that resumes the merge. Pure: the caller fetches the pages [`Merge::take`] asks for.
//!
//! Each region is a stream of pages, newest first. The merge may only return a region's event
//! once every region that could still hold a newer one has a page loaded, so a region whose
//! loaded page ran out is fetched before anything else is returned. Ties in time are broken by
//! event id (within a region its own order is kept).
//!
//! A page ends with events of some regions fetched but not returned. Carrying them in the token
//! would make cursors tens of kilobytes, so the token instead names, per region still open, the
//! `LookupEvents` token of the page being read, how many of its events were returned and the id
//! of the last one; the next call fetches that page again (always [`PAGE`] events, so the page
//! is the same) and skips through that id (or, if the page changed and the id is gone, that
//! many events). No event is lost or repeated; the price is one repeated request per region
//! with events left over. The token lists every searched region, and the caller checks it
//! against the regions the query plans (the tools' cursors sign the query's parameters, so the
//! token cannot be moved to another query).

use std::collections::VecDeque;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::{RawEvent, SourceError};

/// The events every regional request asks for: LookupEvents' maximum, and always the same, so a
/// page fetched again has the same boundaries.
pub const PAGE: usize = super::api::MAX_PAGE;

const PREFIX: &str = "mr1.";

/// Where one region still open stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Open {
    #[serde(rename = "r")]
    region: String,
    /// The `LookupEvents` token of the page being read; absent: the first page.
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    /// How many events of that page were returned.
    #[serde(rename = "k", default, skip_serializing_if = "is_zero")]
    returned: usize,
    /// The id of the last of them.
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    last: Option<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Debug, Serialize, Deserialize)]
struct Token {
    /// Every region the merge searches, sorted.
    #[serde(rename = "s")]
    searched: Vec<String>,
    /// The regions not yet exhausted.
    #[serde(rename = "o")]
    open: Vec<Open>,
}

/// A page of one region, as loaded into the merge.
#[derive(Debug, Clone)]
struct Loaded {
    buffer: VecDeque<RawEvent>,
    next_token: Option<String>,
}

/// One region's stream.
#[derive(Debug, Clone)]
struct Stream {
    position: Open,
    /// `None`: the page at `position.token` is to be fetched.
    loaded: Option<Loaded>,
}

impl Stream {
    fn exhausted(&self) -> bool {
        self.loaded
            .as_ref()
            .is_some_and(|l| l.buffer.is_empty() && l.next_token.is_none())
    }

    /// Moves on to the next page when the loaded one has no event left.
    fn advance_if_empty(&mut self) {
        if let Some(loaded) = &mut self.loaded
            && loaded.buffer.is_empty()
            && let Some(next) = loaded.next_token.take()
        {
            self.position.token = Some(next);
            self.position.returned = 0;
            self.position.last = None;
            self.loaded = None;
        }
    }
}

/// What [`Merge::take`] needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Fetch these pages (region, `LookupEvents` token), each of [`PAGE`] events, then
    /// [`Merge::load`] them and call [`Merge::take`] again.
    Fetch(Vec<(String, Option<String>)>),
    /// The page is complete (or every region is exhausted).
    Done,
}

/// The state of a merge over the regions of one query.
#[derive(Debug, Clone)]
pub struct Merge {
    searched: Vec<String>,
    streams: Vec<Stream>,
}

impl Merge {
    /// A merge of `searched` (sorted, distinct) from the start, or resumed from `token` (which
    /// must have been issued for the same regions).
    pub fn new(searched: &[String], token: Option<&str>) -> Result<Self, SourceError> {
        let open: Vec<Open> = match token {
            None => searched
                .iter()
                .map(|region| Open {
                    region: region.clone(),
                    token: None,
                    returned: 0,
                    last: None,
                })
                .collect(),
            Some(token) => {
                let token = decode(token)?;
                if token.searched != searched {
                    return Err(SourceError::InvalidNextToken(format!(
                        "it continues a search of {}, this query searches {}",
                        token.searched.join(", "),
                        searched.join(", ")
                    )));
                }
                if let Some(stray) = token.open.iter().find(|o| !searched.contains(&o.region)) {
                    return Err(SourceError::InvalidNextToken(format!(
                        "it names region {}, which the search does not cover",
                        stray.region
                    )));
                }
                token.open
            }
        };
        let streams = open
            .into_iter()
            .map(|position| Stream {
                position,
                loaded: None,
            })
            .collect();
        Ok(Self {
            searched: searched.to_vec(),
            streams,
        })
    }

    /// Loads the page fetched for `region` (its events newest first, and its next token),
    /// skipping the events an earlier page of the merge already returned.
    pub fn load(&mut self, region: &str, mut events: Vec<RawEvent>, next_token: Option<String>) {
        let Some(stream) = self
            .streams
            .iter_mut()
            .find(|s| s.position.region == region && s.loaded.is_none())
        else {
            return;
        };
        let position = &stream.position;
        let skip = position
            .last
            .as_ref()
            .and_then(|last| events.iter().position(|e| &e.event_id == last))
            .map_or(position.returned, |at| at + 1)
            .min(events.len());
        let buffer: VecDeque<RawEvent> = events.drain(skip..).collect();
        stream.position.returned = skip;
        stream.loaded = Some(Loaded { buffer, next_token });
        stream.advance_if_empty();
    }

    /// Moves events into `out` until it holds `max` or every region is exhausted, or returns
    /// the pages to fetch first.
    pub fn take(&mut self, out: &mut Vec<RawEvent>, max: usize) -> Step {
        loop {
            if out.len() >= max {
                return Step::Done;
            }
            let fetch: Vec<(String, Option<String>)> = self
                .streams
                .iter()
                .filter(|s| s.loaded.is_none())
                .map(|s| (s.position.region.clone(), s.position.token.clone()))
                .collect();
            if !fetch.is_empty() {
                return Step::Fetch(fetch);
            }
            // Newest head first; ties by event id.
            let best = self
                .streams
                .iter()
                .enumerate()
                .filter_map(|(i, s)| Some((i, s.loaded.as_ref()?.buffer.front()?)))
                .min_by(|(_, a), (_, b)| {
                    b.event_time
                        .cmp(&a.event_time)
                        .then_with(|| a.event_id.cmp(&b.event_id))
                })
                .map(|(i, _)| i);
            let Some(best) = best else {
                return Step::Done;
            };
            let stream = &mut self.streams[best];
            let Some(event) = stream.loaded.as_mut().and_then(|l| l.buffer.pop_front()) else {
                return Step::Done;
            };
            stream.position.returned += 1;
            stream.position.last = Some(event.event_id.clone());
            out.push(event);
            stream.advance_if_empty();
        }
    }

    /// The token that resumes this merge, or `None` when every region is exhausted.
    pub fn token(&self) -> Option<String> {
        let open: Vec<Open> = self
            .streams
            .iter()
            .filter(|s| !s.exhausted())
            .map(|s| s.position.clone())
            .collect();
        if open.is_empty() {
            return None;
        }
        let token = Token {
            searched: self.searched.clone(),
            open,
        };
        let json = serde_json::to_vec(&token).expect("tokens serialise");
        Some(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(json)))
    }
}

fn decode(token: &str) -> Result<Token, SourceError> {
    let invalid = || {
        SourceError::InvalidNextToken(
            "it is not a multi-region page token this server issued".into(),
        )
    };
    let body = token.strip_prefix(PREFIX).ok_or_else(invalid)?;
    let json = URL_SAFE_NO_PAD.decode(body).map_err(|_| invalid())?;
    serde_json::from_slice(&json).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};

    use jiff::Timestamp;

    use super::*;

    fn event(id: &str, secs: i64) -> RawEvent {
        RawEvent {
            event_id: id.into(),
            event_time: Timestamp::from_second(secs).unwrap(),
            event_name: "E".into(),
            event_source: "s".into(),
            username: None,
            access_key_id: None,
            read_only: None,
            resources: Vec::new(),
            record: "{}".into(),
        }
    }

    /// Regions as lists of events newest first, served in pages of `page` with tokens
    /// `"<offset>"` (fetching a token again gives the same page).
    struct Fake {
        regions: BTreeMap<String, Vec<RawEvent>>,
        page: usize,
        requests: usize,
    }

    impl Fake {
        fn new(page: usize, regions: &[(&str, Vec<RawEvent>)]) -> Self {
            Self {
                regions: regions
                    .iter()
                    .map(|(r, e)| ((*r).to_owned(), e.clone()))
                    .collect(),
                page,
                requests: 0,
            }
        }

        fn searched(&self) -> Vec<String> {
            self.regions.keys().cloned().collect()
        }

        fn fetch(&mut self, region: &str, token: Option<&str>) -> (Vec<RawEvent>, Option<String>) {
            self.requests += 1;
            let events = &self.regions[region];
            let from: usize = token.map_or(0, |t| t.parse().unwrap());
            let to = (from + self.page).min(events.len());
            let next = (to < events.len()).then(|| to.to_string());
            (events[from..to].to_vec(), next)
        }

        /// One page of the merge, resumed from `token`.
        fn page(&mut self, token: Option<&str>, max: usize) -> (Vec<RawEvent>, Option<String>) {
            let mut merge = Merge::new(&self.searched(), token).unwrap();
            let mut out = Vec::new();
            while let Step::Fetch(pages) = merge.take(&mut out, max) {
                for (region, token) in pages {
                    let (events, next) = self.fetch(&region, token.as_deref());
                    merge.load(&region, events, next);
                }
            }
            (out, merge.token())
        }
    }

    fn regions() -> Vec<(&'static str, Vec<RawEvent>)> {
        // Interleaved times, a tie across regions at 500, uneven lengths.
        let a: Vec<RawEvent> = (0..23)
            .map(|i| event(&format!("a{i:02}"), 1000 - i * 7))
            .collect();
        let mut b: Vec<RawEvent> = (0..9)
            .map(|i| event(&format!("b{i:02}"), 990 - i * 31))
            .collect();
        b.push(event("b-tie", 500));
        let c = vec![event("a-tie", 500), event("c1", 10)];
        vec![("eu-west-1", a), ("us-east-1", b), ("ap-south-1", c)]
    }

    fn expected() -> Vec<String> {
        let mut all: Vec<RawEvent> = regions().into_iter().flat_map(|(_, e)| e).collect();
        all.sort_by(|a, b| {
            b.event_time
                .cmp(&a.event_time)
                .then_with(|| a.event_id.cmp(&b.event_id))
        });
        all.into_iter().map(|e| e.event_id).collect()
    }

    #[test]
    fn pages_merge_newest_first_without_loss_or_repeat() {
        for (page, max) in [(5, 7), (5, 1), (50, 10), (3, 4), (4, 100)] {
            let mut fake = Fake::new(page, &regions());
            let mut token = None;
            let mut seen = Vec::new();
            let mut pages = 0;
            loop {
                let (events, next) = fake.page(token.as_deref(), max);
                assert!(events.len() <= max);
                if next.is_some() {
                    assert_eq!(events.len(), max, "only the last page is short");
                }
                seen.extend(events.into_iter().map(|e| e.event_id));
                pages += 1;
                assert!(pages < 100);
                token = next;
                if token.is_none() {
                    break;
                }
            }
            assert_eq!(seen, expected(), "page {page}, max {max}");
            let distinct: HashSet<&String> = seen.iter().collect();
            assert_eq!(distinct.len(), seen.len());
        }
    }

    #[test]
    fn a_region_is_fetched_before_its_events_could_be_passed_by() {
        // With pages of one event, a region needs a fetch after each event it gives: the merge
        // fetches it before returning any other region's older event.
        let mut fake = Fake::new(1, &regions());
        let (events, _) = fake.page(None, 12);
        let ids: Vec<String> = events.into_iter().map(|e| e.event_id).collect();
        assert_eq!(ids, expected()[..12]);
    }

    #[test]
    fn a_page_that_shifted_is_resumed_after_the_last_returned_event() {
        let mut fake = Fake::new(
            10,
            &[
                (
                    "eu-west-1",
                    (0..15).map(|i| event(&format!("e{i}"), 100 - i)).collect(),
                ),
                ("us-east-1", vec![event("u", 1)]),
            ],
        );
        let (first, token) = fake.page(None, 4);
        assert_eq!(first.last().unwrap().event_id, "e3");
        // A late delivery lands at the top of eu-west-1's first page before it is read again.
        fake.regions
            .get_mut("eu-west-1")
            .unwrap()
            .insert(0, event("late", 100));
        let (second, _) = fake.page(token.as_deref(), 3);
        let ids: Vec<&str> = second.iter().map(|e| e.event_id.as_str()).collect();
        assert_eq!(ids, ["e4", "e5", "e6"]);
    }

    #[test]
    fn tokens_are_checked_against_the_searched_regions() {
        let mut fake = Fake::new(5, &regions());
        let (_, token) = fake.page(None, 3);
        let token = token.unwrap();
        assert!(token.starts_with(PREFIX));
        let other = ["eu-west-1".to_owned(), "us-east-1".to_owned()];
        let err = Merge::new(&other, Some(&token)).unwrap_err();
        assert!(
            matches!(&err, SourceError::InvalidNextToken(m) if m.contains("this query searches eu-west-1, us-east-1")),
            "{err}"
        );
        for bad in ["plain-aws-token", "mr1.!!", "mr1.e30"] {
            let err = Merge::new(&fake.searched(), Some(bad)).unwrap_err();
            assert!(matches!(err, SourceError::InvalidNextToken(_)), "{bad}");
        }
        // A last page leaves no token; an empty search is done at once.
        let mut merge = Merge::new(&[], None).unwrap();
        let mut out = Vec::new();
        assert_eq!(merge.take(&mut out, 5), Step::Done);
        assert_eq!(merge.token(), None);
    }

    #[test]
    fn empty_pages_with_a_next_token_are_followed() {
        let mut merge = Merge::new(&["eu-west-1".to_owned()], None).unwrap();
        let mut out = Vec::new();
        assert_eq!(
            merge.take(&mut out, 5),
            Step::Fetch(vec![("eu-west-1".into(), None)])
        );
        merge.load("eu-west-1", Vec::new(), Some("t2".into()));
        assert_eq!(
            merge.take(&mut out, 5),
            Step::Fetch(vec![("eu-west-1".into(), Some("t2".into()))])
        );
        merge.load("eu-west-1", vec![event("x", 5)], None);
        assert_eq!(merge.take(&mut out, 5), Step::Done);
        assert_eq!(out.len(), 1);
        assert_eq!(merge.token(), None);
    }
}
