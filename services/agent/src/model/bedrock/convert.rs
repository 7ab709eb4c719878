//! Conversions between the agent's provider-neutral types and Bedrock Converse types, and
//! between `serde_json::Value` and the SDK's `Document`. All Bedrock type knowledge lives here
//! and in the adapter next to it.

use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, Message as BedrockMessage, SystemContentBlock, Tool,
    ToolConfiguration, ToolInputSchema, ToolResultBlock, ToolResultContentBlock, ToolResultStatus,
    ToolSpecification, ToolUseBlock,
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

/// The system prompt block.
pub fn to_system(system: &str) -> SystemContentBlock {
    SystemContentBlock::Text(system.to_owned())
}

/// The tool configuration, or `None` when no tools are offered (Converse rejects an empty
/// list).
pub fn to_tool_config(tools: &[ToolSpec]) -> Result<Option<ToolConfiguration>, ModelError> {
    if tools.is_empty() {
        return Ok(None);
    }
    let tools = tools
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
        assert!(to_tool_config(&[]).unwrap().is_none());
    }
}
