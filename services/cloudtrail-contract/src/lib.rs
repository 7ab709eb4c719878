//! The typed contract between cloudtrail-mcp and the clients that read its tool answers (the
//! agent's offline planner, tests): tool names, arguments, answers and the size budget, defined
//! once.
//!
//! The server serialises these types and clients deserialise the very same types, so the two
//! sides cannot drift apart by convention: a renamed field fails to compile on one side or fails
//! to parse on the other, instead of reading as a default. The JSON is documented in
//! `docs/interfaces.md`; the tests in each module pin the wire names.

pub mod args;
pub mod budget;
pub mod caller;
pub mod event;
pub mod evidence;
pub mod lookup;
pub mod selection;
pub mod summary;
pub mod usage;

pub use args::{
    GET_EVENT, GetEventArgs, LOOKUP_EVENTS, LookupEventsArgs, SUMMARIZE_ACTIVITY,
    SummarizeActivityArgs,
};
pub use budget::TooLarge;
pub use caller::Caller;
pub use event::{CompactEvent, EventAnswer, Principal, ResourceRef};
pub use evidence::{REFS_META_KEY, RefMap, event_ref};
pub use lookup::{
    Columns, DetailedEvents, ErrorEntry, EventTable, Events, ExpandedRow, LookupAnswer,
    PrincipalEntry, Row, TableError,
};
pub use selection::{AttributeKey, Filter, Window};
pub use summary::{ActionLine, ActivitySummary, Bucket, Count, Highlight, HighlightKind, Timeline};
pub use usage::QueryUsage;
