//! Conversions between the agent's provider-neutral types and Bedrock Converse types, and
//! between `serde_json::Value` and the SDK's `Document`. All Bedrock type knowledge lives here
//! and in the adapter next to it.

use aws_sdk_bedrockruntime::types::{
    CachePointBlock, CachePointType, ContentBlock, ConversationRole, Message as BedrockMessage,
    SystemContentBlock, Tool, ToolConfiguration, ToolInputSchema, ToolResultBlock,
    ToolResultContentBlock, ToolResultStatus, ToolSpecification, ToolUseBlock,
};
use aws_smithy_types::{Document, Number};
use serde_json::Value;

use crate::conversation::{Block, Message, Role};
use crate::model::ModelError;
use crate::tools::ToolSpec;

/// JSON to an SDK `Document`.
pub fn to_document(value: &Value) -> Document {
    match value {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Document::Number(Number::PosInt(u))
            } else if let Some(i) = n.as_i64() {
                Document::Number(Number::NegInt(i))
            } else {
                Document::Number(Number::Float(n.as_f64().unwrap_or(0.0)))
            }
        }
        Value::String(s) => Document::String(s.clone()),
        Value::Array(items) => Document::Array(items.iter().map(to_document).collect()),
        Value::Object(map) => Document::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), to_document(v)))
                .collect(),
        ),
    }
}

/// An SDK `Document` to JSON.
pub fn from_document(document: &Document) -> Value {
    match document {
        Document::Null => Value::Null,
        Document::Bool(b) => Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => Value::from(*u),
        Document::Number(Number::NegInt(i)) => Value::from(*i),
        Document::Number(Number::Float(f)) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        Document::String(s) => Value::String(s.clone()),
        Document::Array(items) => Value::Array(items.iter().map(from_document).collect()),
        Document::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), from_document(v)))
                .collect(),
        ),
    }
}

fn build<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T, ModelError> {
    result.map_err(|e| ModelError::Other(format!("cannot build the Bedrock request: {e}")))
}

/// The conversation as Bedrock messages.
pub fn to_messages(messages: &[Message]) -> Result<Vec<BedrockMessage>, ModelError> {
    messages
        .iter()
        .map(|message| {
            let role = match message.role {
                Role::User => ConversationRole::User,
                Role::Assistant => ConversationRole::Assistant,
            };
            let content = message
                .content
                .iter()
                .map(to_content_block)
                .collect::<Result<Vec<_>, _>>()?;
            build(
                BedrockMessage::builder()
                    .role(role)
                    .set_content(Some(content))
                    .build(),
            )
        })
        .collect()
}

fn to_content_block(block: &Block) -> Result<ContentBlock, ModelError> {
    Ok(match block {
        Block::Text { text } => ContentBlock::Text(text.clone()),
        Block::ToolUse { id, name, input } => ContentBlock::ToolUse(build(
            ToolUseBlock::builder()
                .tool_use_id(id)
                .name(name)
                .input(to_document(input))
                .build(),
        )?),
        Block::ToolResult { id, text, is_error } => ContentBlock::ToolResult(build(
            ToolResultBlock::builder()
                .tool_use_id(id)
                .content(ToolResultContentBlock::Text(text.clone()))
                .status(if *is_error {
                    ToolResultStatus::Error
                } else {
                    ToolResultStatus::Success
                })
                .build(),
        )?),
    })
}

/// The system prompt blocks. With `cache`, a cache point follows the part that is the same for
/// every question (up to [`crate::prompt::NOW_SECTION`]), so that part and the tools before it
/// are read from Bedrock's prompt cache on later calls.
pub fn to_system(system: &str, cache: bool) -> Vec<SystemContentBlock> {
    if !cache {
        return vec![SystemContentBlock::Text(system.to_owned())];
    }
    let (stable, now) = match system.find(crate::prompt::NOW_SECTION) {
        Some(at) => system.split_at(at),
        None => (system, ""),
    };
    let mut blocks = vec![
        SystemContentBlock::Text(stable.to_owned()),
        SystemContentBlock::CachePoint(cache_point()),
    ];
    if !now.is_empty() {
        blocks.push(SystemContentBlock::Text(now.trim_start().to_owned()));
    }
    blocks
}

fn cache_point() -> CachePointBlock {
    CachePointBlock::builder()
        .r#type(CachePointType::Default)
        .build()
        .expect("type is set")
}

/// Whether model `id` (a model or inference profile id) takes cache points: the Claude and Nova
/// models with prompt caching on Bedrock. Nova caches the system prompt but not tools.
pub fn prompt_cache_support(id: &str) -> (bool, bool) {
    const CLAUDE: [&str; 5] = [
        "anthropic.claude-sonnet-4",
        "anthropic.claude-opus-4",
        "anthropic.claude-haiku-4",
        "anthropic.claude-3-7-sonnet",
        "anthropic.claude-3-5-haiku",
    ];
    if CLAUDE.iter().any(|m| id.contains(m)) {
        (true, true)
    } else if id.contains("amazon.nova-") {
        (true, false)
    } else {
        (false, false)
    }
}

/// The tool configuration, or `None` when no tools are offered (Converse rejects an empty
/// list).
pub fn to_tool_config(
    tools: &[ToolSpec],
    cache: bool,
) -> Result<Option<ToolConfiguration>, ModelError> {
    if tools.is_empty() {
        return Ok(None);
    }
    let mut tools = tools
        .iter()
        .map(|tool| {
            Ok(Tool::ToolSpec(build(
                ToolSpecification::builder()
                    .name(&tool.name)
                    .description(&tool.description)
                    .input_schema(ToolInputSchema::Json(to_document(&tool.input_schema)))
                    .build(),
            )?))
        })
        .collect::<Result<Vec<_>, ModelError>>()?;
    if cache {
        // The tool definitions are the same for every call: cached up to here.
        tools.push(Tool::CachePoint(cache_point()));
    }
    Ok(Some(build(
        ToolConfiguration::builder().set_tools(Some(tools)).build(),
    )?))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn documents_round_trip() {
        let value = json!({"a": [1, -2, 2.5, "x", true, null], "b": {"c": {}}});
        assert_eq!(from_document(&to_document(&value)), value);
    }

    #[test]
    fn history_converts_with_tool_pairs() {
        let history = vec![
            Message::user_text("q"),
            Message {
                role: Role::Assistant,
                content: vec![Block::ToolUse {
                    id: "t1".into(),
                    name: "lookup_events".into(),
                    input: json!({"max_results": 5}),
                }],
            },
            Message {
                role: Role::User,
                content: vec![Block::ToolResult {
                    id: "t1".into(),
                    text: "boom".into(),
                    is_error: true,
                }],
            },
        ];
        let messages = to_messages(&history).unwrap();
        assert_eq!(messages.len(), 3);
        let ContentBlock::ToolResult(result) = &messages[2].content()[0] else {
            panic!("not a tool result")
        };
        assert_eq!(result.tool_use_id(), "t1");
        assert_eq!(result.status(), Some(&ToolResultStatus::Error));
        assert!(to_tool_config(&[], true).unwrap().is_none());
    }

    #[test]
    fn cache_points_follow_the_stable_system_prompt_and_the_tools() {
        let now: jiff::Timestamp = "2026-11-24T15:30:00Z".parse().unwrap();
        let system = crate::prompt::system_prompt(
            now,
            &jiff::tz::TimeZone::UTC,
            crate::prompt::Persona::Analyst,
        );
        let blocks = to_system(&system, true);
        assert_eq!(blocks.len(), 3);
        let stable = blocks[0].as_text().unwrap();
        assert!(
            stable.contains("Rules:") && !stable.contains("2026"),
            "{stable}"
        );
        assert!(blocks[1].is_cache_point());
        assert!(
            blocks[2]
                .as_text()
                .unwrap()
                .starts_with("Current time: 2026-11-24")
        );
        // A later question's prompt has the same cached part.
        let later = crate::prompt::system_prompt(
            now + jiff::SignedDuration::from_hours(30),
            &jiff::tz::TimeZone::UTC,
            crate::prompt::Persona::Analyst,
        );
        assert_eq!(to_system(&later, true)[0], blocks[0]);
        assert_eq!(to_system(&system, false).len(), 1);
        let tool = ToolSpec {
            name: "t".into(),
            description: "d".into(),
            input_schema: serde_json::json!({"type": "object"}),
        };
        let config = to_tool_config(std::slice::from_ref(&tool), true)
            .unwrap()
            .unwrap();
        assert!(config.tools().last().unwrap().is_cache_point());
        let config = to_tool_config(&[tool], false).unwrap().unwrap();
        assert_eq!(config.tools().len(), 1);
        assert_eq!(
            prompt_cache_support(crate::config::DEFAULT_BEDROCK_MODEL),
            (true, true)
        );
        assert_eq!(
            prompt_cache_support("us.amazon.nova-pro-v1:0"),
            (true, false)
        );
        assert_eq!(
            prompt_cache_support("us.anthropic.test-model-v1:0"),
            (false, false)
        );
    }
}
