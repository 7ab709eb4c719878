//! The in-memory index of a [`LogArchive`](super::archive::LogArchive): for each event the
//! fields `LookupEvents` filters on, newest first, and where its record text is stored.
//!
//! Memory is what limits how large an archive can be served, so an entry is small and holds no
//! allocation of its own: the strings that repeat across events (event names, sources, user
//! names, access keys, resources) are kept once in a symbol table and entries hold their
//! numbers; event ids and resource lists live in one shared buffer each; the records are
//! compressed in a [`RecordStore`]. A few large buffers also let the allocator give back the
//! memory of the JSON trees the index was built from, which small allocations among them would
//! pin. Filtering compares numbers and never touches a record; only the events a page returns
//! are turned back into [`RawEvent`]s.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use jiff::Timestamp;

use super::records::{RecordRef, RecordStore, RecordStoreBuilder, to_u32};
use super::{AttributeKey, Filter, RawEvent, Resource, Scope};

/// The number of a string in the symbol table.
type Sym = u32;

#[derive(Debug, Default)]
struct Symbols {
    strings: Vec<Arc<str>>,
    numbers: HashMap<Arc<str>, Sym>,
}

impl Symbols {
    fn intern(&mut self, s: &str) -> Sym {
        if let Some(&n) = self.numbers.get(s) {
            return n;
        }
        let n = to_u32(self.strings.len());
        let s: Arc<str> = Arc::from(s);
        self.strings.push(s.clone());
        self.numbers.insert(s, n);
        n
    }

    fn find(&self, s: &str) -> Option<Sym> {
        self.numbers.get(s).copied()
    }

    fn string(&self, n: Sym) -> String {
        self.strings
            .get(n as usize)
            .map(|s| s.to_string())
            .unwrap_or_default()
    }
}

/// A range in one of the index's shared buffers.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    len: u32,
}

impl Span {
    fn of<T>(buffer: &[T], start: usize) -> Self {
        Self {
            start: to_u32(start),
            len: to_u32(buffer.len() - start),
        }
    }

    fn range(self) -> std::ops::Range<usize> {
        let start = self.start as usize;
        start..start + self.len as usize
    }
}

/// One event. A resource is a (type, name) pair.
#[derive(Debug)]
struct Entry {
    time: Timestamp,
    event_id: Span,
    name: Sym,
    source: Sym,
    username: Option<Sym>,
    access_key_id: Option<Sym>,
    read_only: Option<bool>,
    resources: Span,
    /// Where the event was recorded: a number in [`Index::places`].
    place: u32,
    record: RecordRef,
}

type ResourceSyms = (Option<Sym>, Option<Sym>);

/// Adds events one at a time; [`finish`](Self::finish) sorts them.
#[derive(Debug, Default)]
pub struct IndexBuilder {
    symbols: Symbols,
    entries: Vec<Entry>,
    event_ids: String,
    resources: Vec<ResourceSyms>,
    records: RecordStoreBuilder,
    places: Vec<Place>,
    place_numbers: HashMap<Place, u32>,
}

/// The account and region an event was recorded in (`recipientAccountId`, `awsRegion`), as the
/// S3 layout of a trail files it.
pub type Place = (Option<String>, Option<String>);

impl IndexBuilder {
    /// Adds one event (its `record` is stored compressed) recorded in `place`.
    pub fn add(&mut self, event: RawEvent, place: Place) {
        let place = match self.place_numbers.get(&place) {
            Some(&n) => n,
            None => {
                let n = to_u32(self.places.len());
                self.places.push(place.clone());
                self.place_numbers.insert(place, n);
                n
            }
        };
        let symbols = &mut self.symbols;
        let first_resource = self.resources.len();
        self.resources.extend(event.resources.iter().map(|r| {
            (
                r.resource_type.as_deref().map(|s| symbols.intern(s)),
                r.resource_name.as_deref().map(|s| symbols.intern(s)),
            )
        }));
        let resources = Span::of(&self.resources, first_resource);
        let first_byte = self.event_ids.len();
        self.event_ids.push_str(&event.event_id);
        let event_id = Span::of(self.event_ids.as_bytes(), first_byte);
        self.entries.push(Entry {
            time: event.event_time,
            event_id,
            name: symbols.intern(&event.event_name),
            source: symbols.intern(&event.event_source),
            username: event.username.as_deref().map(|s| symbols.intern(s)),
            access_key_id: event.access_key_id.as_deref().map(|s| symbols.intern(s)),
            read_only: event.read_only,
            resources,
            place,
            record: self.records.push(&event.record),
        });
    }

    /// The index, newest first (time, then event id, descending). An event id seen twice (logs
    /// delivered twice) is kept once.
    pub fn finish(self) -> Index {
        let mut index = Index {
            entries: self.entries,
            symbols: self.symbols,
            event_ids: self.event_ids,
            resources: self.resources,
            records: self.records.finish(),
            places: self.places,
            refs: OnceLock::new(),
        };
        let mut entries = std::mem::take(&mut index.entries);
        // Unstable: no merge buffer as large as half the index. Equal keys are one event
        // delivered twice, so their order does not matter.
        entries.sort_unstable_by(|a, b| index.key(b).cmp(&index.key(a)));
        entries.dedup_by(|a, b| index.event_id(a) == index.event_id(b));
        entries.shrink_to_fit();
        index.entries = entries;
        index.event_ids.shrink_to_fit();
        index.resources.shrink_to_fit();
        index
    }
}

/// A sorted, read-only index.
#[derive(Debug, Default)]
pub struct Index {
    entries: Vec<Entry>,
    symbols: Symbols,
    event_ids: String,
    resources: Vec<ResourceSyms>,
    records: RecordStore,
    places: Vec<Place>,
    /// Every event's reference as a number, with its position, sorted: built on the first
    /// reference `get_event` resolves (most servers never need it, and it costs a hash per event).
    refs: OnceLock<Vec<(u32, u32)>>,
}

/// An event reference as the number its 8 hex characters spell.
fn ref_number(event_ref: &str) -> Option<u32> {
    cloudtrail_contract::evidence::is_ref(event_ref)
        .then(|| u32::from_str_radix(event_ref, 16).ok())
        .flatten()
}

/// One page of index positions, and whether more match after it.
#[derive(Debug)]
pub struct Hits {
    positions: Vec<usize>,
    pub more: bool,
}

impl Hits {
    #[cfg(feature = "s3")]
    /// Keeps the first `n` events (when pages of several indexes are merged into one).
    pub fn truncate(&mut self, n: usize) {
        self.positions.truncate(n);
    }
}

impl Index {
    #[cfg(feature = "s3")]
    /// The time and event id of each hit, in the page's order (newest first).
    pub fn hit_keys(&self, hits: &Hits) -> Vec<(Timestamp, &str)> {
        hits.positions
            .iter()
            .filter_map(|&p| self.entries.get(p))
            .map(|e| self.key(e))
            .collect()
    }

    fn event_id(&self, e: &Entry) -> &str {
        self.event_ids.get(e.event_id.range()).unwrap_or_default()
    }

    fn key(&self, e: &Entry) -> (Timestamp, &str) {
        (e.time, self.event_id(e))
    }

    fn resources(&self, e: &Entry) -> &[ResourceSyms] {
        self.resources.get(e.resources.range()).unwrap_or_default()
    }

    /// How many events the index holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the index holds no events.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    #[cfg(feature = "s3")]
    /// About how many bytes of memory the index holds (its buffers, not the allocator's slack):
    /// what a cache of indexes counts against its bound.
    pub fn memory_bytes(&self) -> usize {
        let symbols: usize = self.symbols.strings.iter().map(|s| s.len() * 2 + 48).sum();
        self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.event_ids.capacity()
            + self.resources.capacity() * std::mem::size_of::<ResourceSyms>()
            + self.records.stored_bytes()
            + self.places.len() * 64
            + symbols
    }

    /// Bytes of record text, and the bytes they take compressed.
    pub fn record_bytes(&self) -> (usize, usize) {
        (self.records.raw_bytes(), self.records.stored_bytes())
    }

    /// Up to `limit` events in `[start, end]` matching `filter`, newest first, beginning after
    /// the event `after` (time and id) when given.
    pub fn find(
        &self,
        start: Timestamp,
        end: Timestamp,
        filter: Option<&Filter>,
        scope: &Scope,
        after: Option<(Timestamp, &str)>,
        limit: usize,
    ) -> Hits {
        let wanted = self.wanted(filter);
        // Which places the scope admits, by place number (all when it names none).
        let admitted: Vec<bool> = self
            .places
            .iter()
            .map(|(account, region)| scope.admits(account.as_deref(), region.as_deref()))
            .collect();
        // Newest first: skip everything newer than the window end, and on later pages everything
        // up to and including the last event already returned.
        let first = self.entries.partition_point(|e| match after {
            Some(after) => self.key(e) >= after,
            None => e.time > end,
        });
        let mut hits = Hits {
            positions: Vec::with_capacity(limit.min(64)),
            more: false,
        };
        for (position, entry) in self.entries.iter().enumerate().skip(first) {
            if entry.time < start {
                break;
            }
            if entry.time > end
                || !admitted.get(entry.place as usize).copied().unwrap_or(false)
                || !wanted.matches(self, entry)
            {
                continue;
            }
            if hits.positions.len() == limit {
                hits.more = true;
                break;
            }
            hits.positions.push(position);
        }
        hits
    }

    /// The events of `hits`, records included.
    pub fn events(&self, hits: &Hits) -> std::io::Result<Vec<RawEvent>> {
        let mut reader = self.records.reader();
        let string = |n: Sym| self.symbols.string(n);
        let mut events = Vec::with_capacity(hits.positions.len());
        for entry in hits.positions.iter().filter_map(|&p| self.entries.get(p)) {
            events.push(RawEvent {
                event_id: self.event_id(entry).to_owned(),
                event_time: entry.time,
                event_name: string(entry.name),
                event_source: string(entry.source),
                username: entry.username.map(string),
                access_key_id: entry.access_key_id.map(string),
                read_only: entry.read_only,
                resources: self
                    .resources(entry)
                    .iter()
                    .map(|&(kind, name)| Resource {
                        resource_type: kind.map(string),
                        resource_name: name.map(string),
                    })
                    .collect(),
                record: reader.text(entry.record)?,
            });
        }
        Ok(events)
    }

    /// The ids of the events whose reference is `event_ref` (none for a string that is not a
    /// reference).
    pub fn ids_for_ref(&self, event_ref: &str) -> Vec<String> {
        let Some(wanted) = ref_number(event_ref) else {
            return Vec::new();
        };
        let refs = self.refs.get_or_init(|| {
            let mut refs: Vec<(u32, u32)> = self
                .entries
                .iter()
                .enumerate()
                .filter_map(|(position, e)| {
                    let number = ref_number(&cloudtrail_contract::event_ref(self.event_id(e)))?;
                    Some((number, to_u32(position)))
                })
                .collect();
            refs.sort_unstable();
            refs
        });
        let first = refs.partition_point(|&(n, _)| n < wanted);
        refs[first..]
            .iter()
            .take_while(|&&(n, _)| n == wanted)
            .filter_map(|&(_, position)| self.entries.get(position as usize))
            .map(|e| self.event_id(e).to_owned())
            .collect()
    }

    fn wanted<'a>(&self, filter: Option<&'a Filter>) -> Wanted<'a> {
        let Some(filter) = filter else {
            return Wanted::Any;
        };
        let value = filter.attribute_value.as_str();
        let symbol = || match self.symbols.find(value) {
            Some(n) => Wanted::Symbol(filter.attribute_key, n),
            // A string no event has: nothing matches.
            None => Wanted::Nothing,
        };
        match filter.attribute_key {
            AttributeKey::EventId => Wanted::EventId(value),
            // CloudTrail compares the text: only "true" and "false" match anything.
            AttributeKey::ReadOnly => match value {
                "true" => Wanted::ReadOnly(true),
                "false" => Wanted::ReadOnly(false),
                _ => Wanted::Nothing,
            },
            _ => symbol(),
        }
    }
}

/// A filter resolved against the symbol table.
#[derive(Debug, Clone, Copy)]
enum Wanted<'a> {
    Any,
    Nothing,
    EventId(&'a str),
    ReadOnly(bool),
    Symbol(AttributeKey, Sym),
}

impl Wanted<'_> {
    fn matches(self, index: &Index, e: &Entry) -> bool {
        match self {
            Self::Any => true,
            Self::Nothing => false,
            Self::EventId(id) => index.event_id(e) == id,
            Self::ReadOnly(r) => e.read_only == Some(r),
            Self::Symbol(key, n) => match key {
                AttributeKey::EventName => e.name == n,
                AttributeKey::EventSource => e.source == n,
                AttributeKey::Username => e.username == Some(n),
                AttributeKey::AccessKeyId => e.access_key_id == Some(n),
                AttributeKey::ResourceName => index.resources(e).iter().any(|r| r.1 == Some(n)),
                AttributeKey::ResourceType => index.resources(e).iter().any(|r| r.0 == Some(n)),
                AttributeKey::EventId | AttributeKey::ReadOnly => false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, secs: i64, name: &str, user: Option<&str>) -> RawEvent {
        RawEvent {
            event_id: id.into(),
            event_time: Timestamp::from_second(1_700_000_000 + secs).unwrap(),
            event_name: name.into(),
            event_source: "s3.amazonaws.com".into(),
            username: user.map(Into::into),
            access_key_id: None,
            read_only: Some(name.starts_with("Get")),
            resources: vec![Resource {
                resource_type: Some("AWS::S3::Bucket".into()),
                resource_name: Some(format!("bucket-{id}")),
            }],
            record: format!(r#"{{"eventID":"{id}"}}"#),
        }
    }

    fn filter(key: AttributeKey, value: &str) -> Filter {
        Filter {
            attribute_key: key,
            attribute_value: value.into(),
        }
    }

    fn ids(index: &Index, filter: Option<&Filter>) -> Vec<String> {
        let (start, end) = (Timestamp::MIN, Timestamp::MAX);
        let hits = index.find(start, end, filter, &Scope::default(), None, 100);
        let events = index.events(&hits).unwrap();
        events.into_iter().map(|e| e.event_id).collect()
    }

    #[test]
    fn events_come_back_as_added_newest_first_once() {
        let added = [
            event("b", 5, "GetObject", Some("alice")),
            event("a", 9, "DeleteBucket", None),
            event("c", 5, "GetObject", Some("bob")),
            event("b", 5, "GetObject", Some("alice")),
        ];
        let mut builder = IndexBuilder::default();
        added
            .iter()
            .cloned()
            .for_each(|e| builder.add(e, (None, None)));
        let index = builder.finish();
        assert_eq!(index.len(), 3);
        let hits = index.find(
            Timestamp::MIN,
            Timestamp::MAX,
            None,
            &Scope::default(),
            None,
            10,
        );
        let events = index.events(&hits).unwrap();
        assert_eq!(
            events,
            vec![added[1].clone(), added[2].clone(), added[0].clone()]
        );
    }

    #[test]
    fn references_resolve_to_every_event_that_has_them() {
        let mut builder = IndexBuilder::default();
        for i in 0..200 {
            builder.add(
                event(&format!("id-{i}"), i, "GetObject", None),
                (None, None),
            );
        }
        let index = builder.finish();
        for i in [0, 57, 199] {
            let id = format!("id-{i}");
            assert_eq!(
                index.ids_for_ref(&cloudtrail_contract::event_ref(&id)),
                [id]
            );
        }
        let unused = (0u32..)
            .map(|n| format!("{n:08x}"))
            .find(|r| (0..200).all(|i| cloudtrail_contract::event_ref(&format!("id-{i}")) != *r))
            .unwrap();
        assert!(index.ids_for_ref(&unused).is_empty());
        assert!(index.ids_for_ref("id-1").is_empty(), "not a reference");
        assert!(index.ids_for_ref("ABCDEF01").is_empty(), "not lowercase");
    }

    #[test]
    fn filters_resolve_through_the_symbol_table() {
        let mut builder = IndexBuilder::default();
        builder.add(event("1", 1, "GetObject", Some("alice")), (None, None));
        builder.add(event("2", 2, "DeleteBucket", Some("bob")), (None, None));
        builder.add(event("3", 3, "GetObject", None), (None, None));
        let index = builder.finish();
        let f = |k, v| ids(&index, Some(&filter(k, v)));
        assert_eq!(f(AttributeKey::Username, "alice"), ["1"]);
        assert_eq!(f(AttributeKey::EventName, "GetObject"), ["3", "1"]);
        assert_eq!(f(AttributeKey::ResourceName, "bucket-2"), ["2"]);
        assert_eq!(f(AttributeKey::ResourceType, "AWS::S3::Bucket").len(), 3);
        assert_eq!(f(AttributeKey::ReadOnly, "false"), ["2"]);
        assert_eq!(f(AttributeKey::EventId, "3"), ["3"]);
        assert!(f(AttributeKey::ReadOnly, "TRUE").is_empty());
        assert!(f(AttributeKey::Username, "mallory").is_empty());
        // A string that exists, under another attribute, does not match.
        assert!(f(AttributeKey::Username, "GetObject").is_empty());
        assert!(f(AttributeKey::AccessKeyId, "alice").is_empty());
        assert_eq!(ids(&index, None), ["3", "2", "1"]);
    }
}
