//! The narrow interface between the agent loop and the tools it can call.
//!
//! The loop only sees [`ToolProvider`]; the MCP client (`crate::mcp`) implements it over any number
//! of MCP servers, and tests implement it in memory. It also owns the result budget
//! ([`RESULT_BUDGET`]): how a tool is asked for an answer that fits, and what replaces one that
//! does not, so no result reaches a model cut in the middle of its JSON.

use async_trait::async_trait;
use serde_json::Value;

/// A tool as offered to the model: a Bedrock-valid name (`^[a-zA-Z0-9_-]{1,64}$`), a description
/// and a JSON Schema object for its input that Converse accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub input_schema: Value,
}

/// What a tool call produced. `is_error` is true when the tool ran and reported a failure the
/// model can act on (MCP `isError: true`). `refs` maps the short event references in `text` to
/// full event ids (the result's `_meta`, see [`crate::evidence`]): kept by the agent, never
/// shown to the model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolOutput {
    pub text: String,
    pub is_error: bool,
    pub refs: crate::evidence::RefMap,
}

/// On whose behalf a tool is called: sent along with the call (MCP `_meta`), never shown to
/// the model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallContext {
    /// The signed-in user the answer is for; `None` when no identity is configured.
    pub caller: Option<cloudtrail_contract::Caller>,
}

/// Why a tool could not be called at all.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("unknown tool `{0}`")]
    UnknownTool(String),
    #[error("MCP server `{server}` is unavailable: {message}")]
    Unavailable { server: String, message: String },
    #[error("MCP server `{server}` rejected the call: {message}")]
    Rejected { server: String, message: String },
}

/// The tools on offer, and the servers that could not be asked (their tools are missing).
#[derive(Debug, Default)]
pub struct ToolListing {
    pub tools: Vec<ToolSpec>,
    pub unavailable: Vec<ToolError>,
}

/// Lists and calls tools. Implementations must be cheap to call concurrently.
#[async_trait]
pub trait ToolProvider: Send + Sync {
    /// The tools currently offered to the model. A server that is down does not fail the
    /// listing: it is reported in [`ToolListing::unavailable`] and the others' tools are offered.
    async fn list_tools(&self) -> ToolListing;
    /// Calls one tool by the name given in [`ToolSpec::name`], for `context`'s caller.
    async fn call_tool(
        &self,
        name: &str,
        input: Value,
        context: &CallContext,
    ) -> Result<ToolOutput, ToolError>;
}

// ---- The result budget ----
//
// Kept apart from the trait above: the contract (`cloudtrail_contract::budget`) by which a tool
// result reaches the model whole. A tool that takes `max_bytes` is told the budget, and answers
// within it; an answer still over it is replaced by a `TooLarge` JSON object, never cut (a cut
// answer is broken JSON to the offline planner and to an LLM alike).

/// The most bytes one tool result may hold when it goes back to the model: the agent loop's
/// `Limits::max_tool_output_bytes` (a test ties the two).
pub const RESULT_BUDGET: usize = 32 * 1024;

/// Whether a tool's input schema offers the contract's `max_bytes` argument.
pub fn takes_max_bytes(input_schema: &serde_json::Map<String, Value>) -> bool {
    input_schema
        .get("properties")
        .and_then(|p| p.get(cloudtrail_contract::budget::MAX_BYTES_ARG))
        .is_some()
}

/// `input` asking for an answer of at most `budget` bytes (a smaller `max_bytes` the model set
/// itself is kept).
pub fn ask_within(input: Value, budget: usize) -> Value {
    let mut object = match input {
        Value::Object(object) => object,
        Value::Null => serde_json::Map::new(),
        // Not arguments at all: the server says so; nothing to add to.
        other => return other,
    };
    let budget = budget.min(cloudtrail_contract::budget::MAX_BYTES as usize);
    let asked = object
        .get(cloudtrail_contract::budget::MAX_BYTES_ARG)
        .and_then(Value::as_u64)
        .map_or(budget, |n| (n as usize).min(budget));
    object.insert(
        cloudtrail_contract::budget::MAX_BYTES_ARG.to_owned(),
        Value::from(asked),
    );
    Value::Object(object)
}

/// `output` if it fits `budget`, else a [`cloudtrail_contract::TooLarge`] object in its place.
pub fn within_budget(tool: &str, output: ToolOutput, budget: usize) -> ToolOutput {
    if output.text.len() <= budget {
        return output;
    }
    ToolOutput {
        text: cloudtrail_contract::TooLarge::new(tool, output.text.len(), budget).to_json(),
        is_error: true,
        // The model never sees these events: nothing of them may be cited.
        refs: Default::default(),
    }
}

#[cfg(test)]
mod budget_tests {
    use serde_json::json;

    use super::*;
    use crate::agent::Limits;

    #[test]
    fn the_budget_is_the_loops_cap_so_the_loop_never_cuts_a_result() {
        assert_eq!(Limits::default().max_tool_output_bytes, RESULT_BUDGET);
    }

    #[test]
    fn the_budget_is_asked_for_and_a_smaller_one_kept() {
        let schema = |properties: Value| match json!({"type": "object", "properties": properties}) {
            Value::Object(schema) => schema,
            _ => unreachable!("an object literal"),
        };
        assert!(takes_max_bytes(&schema(
            json!({"max_bytes": {"type": "integer"}})
        )));
        assert!(!takes_max_bytes(&schema(json!({}))));
        assert_eq!(
            ask_within(json!({"start_time": "today"}), 32_768),
            json!({"start_time": "today", "max_bytes": 32_768})
        );
        assert_eq!(
            ask_within(json!({"max_bytes": 8_192}), 32_768),
            json!({"max_bytes": 8_192})
        );
        assert_eq!(
            ask_within(json!({"max_bytes": 1_000_000}), 32_768),
            json!({"max_bytes": 32_768})
        );
        assert_eq!(ask_within(Value::Null, 100), json!({"max_bytes": 100}));
    }

    #[test]
    fn an_answer_over_the_budget_becomes_valid_json_saying_so() {
        let big = ToolOutput {
            text: format!("{{\"events\": [\"{}\"]}}", "あ".repeat(20_000)),
            is_error: false,
            refs: Default::default(),
        };
        let bytes = big.text.len();
        let fitted = within_budget("lookup_events", big, RESULT_BUDGET);
        assert!(fitted.is_error && fitted.text.len() <= RESULT_BUDGET);
        let note: Value = serde_json::from_str(&fitted.text).unwrap();
        assert_eq!(note["error"], "too_large");
        assert_eq!(note["bytes"], bytes);
        let small = ToolOutput {
            text: "{}".into(),
            is_error: false,
            refs: Default::default(),
        };
        assert_eq!(within_budget("x", small.clone(), 10), small);
    }
}
