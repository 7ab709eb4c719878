//! What a query engine charged for an answer: the Athena queries a tool call ran, the data they
//! scanned and the cost that implies, and whether a query is still running (the answer then
//! carries a cursor that collects it).

use serde::{Deserialize, Serialize};

/// Athena's price per terabyte (10^12 bytes) scanned, in US dollars.
pub const USD_PER_TB: f64 = 5.0;
/// Athena bills at least this many bytes per query.
pub const MIN_BILLED_BYTES: u64 = 10 * 1_000_000;

/// The queries behind one answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryUsage {
    /// How many queries ran (or were collected) for this answer.
    pub queries: u32,
    /// The bytes they scanned, as the engine reported them.
    pub data_scanned_bytes: u64,
    /// The estimated cost in US dollars ($5 per TB, at least 10 MB billed per query), as a
    /// decimal string.
    pub estimated_cost_usd: String,
    /// A query outlived the tool's time budget: the answer holds nothing yet and its
    /// `next_cursor` collects the query's results (without running it again).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub still_running: bool,
}

impl QueryUsage {
    /// Usage of `queries` queries that scanned `bytes` in total (each billed at least
    /// [`MIN_BILLED_BYTES`]).
    pub fn new(queries: u32, bytes: u64, still_running: bool) -> Self {
        let billed = bytes.max(MIN_BILLED_BYTES * u64::from(queries));
        Self {
            queries,
            data_scanned_bytes: bytes,
            estimated_cost_usd: format!("{:.6}", billed as f64 / 1e12 * USD_PER_TB),
            still_running,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_is_five_dollars_a_terabyte_with_the_minimum_per_query() {
        assert_eq!(
            QueryUsage::new(1, 2_000_000_000_000, false).estimated_cost_usd,
            "10.000000"
        );
        // 1 KB scanned by two queries still bills 2 x 10 MB.
        assert_eq!(
            QueryUsage::new(2, 1_000, false).estimated_cost_usd,
            "0.000100"
        );
        let wire = serde_json::to_value(QueryUsage::new(1, 5, false)).unwrap();
        assert!(wire.get("still_running").is_none(), "{wire}");
    }
}
