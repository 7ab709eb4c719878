//! What every answer echoes: the resolved window and the one lookup attribute it was filtered
//! on (the same attribute names CloudTrail's `LookupEvents` uses).

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The eight lookup attributes CloudTrail supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum AttributeKey {
    EventId,
    EventName,
    ReadOnly,
    Username,
    ResourceType,
    ResourceName,
    EventSource,
    AccessKeyId,
}

impl AttributeKey {
    /// The name CloudTrail uses on the wire (also the serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EventId => "EventId",
            Self::EventName => "EventName",
            Self::ReadOnly => "ReadOnly",
            Self::Username => "Username",
            Self::ResourceType => "ResourceType",
            Self::ResourceName => "ResourceName",
            Self::EventSource => "EventSource",
            Self::AccessKeyId => "AccessKeyId",
        }
    }
}

impl fmt::Display for AttributeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One lookup attribute and the value it must equal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    pub attribute_key: AttributeKey,
    pub attribute_value: String,
}

/// The window a query resolved to, RFC 3339 in UTC, echoed in every answer so the reader sees
/// what "yesterday" meant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub start: String,
    pub end: String,
}
