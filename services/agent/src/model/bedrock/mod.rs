//! The Amazon Bedrock model: one ConverseStream call per model turn, text streamed as it
//! arrives, tool-use input assembled from its JSON fragments, and errors mapped to what the loop
//! acts on (throttling is retried there, visibly, so the SDK's own retries are turned off for
//! this client in `startup`).

pub mod convert;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamError;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;
use aws_sdk_bedrockruntime::types::{
    ContentBlockDelta, ContentBlockStart, ConverseStreamOutput, InferenceConfiguration,
    StopReason as BedrockStop, ToolConfiguration,
};
use serde_json::Value;

use crate::conversation::{Block, Usage};
use crate::model::{Model, ModelError, ModelInfo, ModelRequest, ModelTurn, StopReason, TextSink};
use crate::tools::ToolSpec;

/// A Bedrock model (id or inference profile) used through ConverseStream.
#[derive(Debug, Clone)]
pub struct BedrockModel {
    client: Client,
    model_id: String,
    max_output_tokens: i32,
    tool_config: Arc<Mutex<Option<ConvertedTools>>>,
}

/// The tool configuration last sent, with the tools it was made from. The SDK holds JSON
/// schemas as `Document` objects, hash maps whose key order is random per map: converting the
/// same tools again would serialize them in another order, and the prompt cache needs the
/// prefix byte for byte. Reusing (cloning) one conversion keeps the order for the process.
#[derive(Debug)]
struct ConvertedTools {
    tools: Vec<ToolSpec>,
    cache: bool,
    config: Option<ToolConfiguration>,
}

impl BedrockModel {
    pub fn new(client: Client, model_id: String, max_output_tokens: i32) -> Self {
        Self {
            client,
            model_id,
            max_output_tokens,
            tool_config: Arc::default(),
        }
    }

    /// The tool configuration for `tools`, converted once for as long as the tools stay the same.
    fn tool_config(
        &self,
        tools: &[ToolSpec],
        cache: bool,
    ) -> Result<Option<ToolConfiguration>, ModelError> {
        let mut last = self
            .tool_config
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(last) = last.as_ref()
            && last.cache == cache
            && last.tools == tools
        {
            return Ok(last.config.clone());
        }
        let config = convert::to_tool_config(tools, cache)?;
        *last = Some(ConvertedTools {
            tools: tools.to_vec(),
            cache,
            config: config.clone(),
        });
        Ok(config)
    }
}

/// A content block being assembled from stream events.
enum Partial {
    Text(String),
    Tool {
        id: String,
        name: String,
        json: String,
    },
}

/// Whether a validation message means the input is over the context window.
fn is_context_overflow(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    [
        "too long",
        "context window",
        "context length",
        "too many tokens",
        "input length",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

fn message_of(error: &impl ProvideErrorMetadata) -> String {
    let code = error.code().unwrap_or("error");
    match error.message() {
        Some(message) => format!("{code}: {message}"),
        None => code.to_owned(),
    }
}

fn map_send_error<R: std::fmt::Debug>(error: SdkError<ConverseStreamError, R>) -> ModelError {
    let SdkError::ServiceError(context) = &error else {
        return ModelError::Other(DisplayErrorContext(&error).to_string());
    };
    let service = context.err();
    let message = message_of(service);
    match service {
        ConverseStreamError::ThrottlingException(_)
        | ConverseStreamError::ServiceUnavailableException(_) => ModelError::Throttled {
            message,
            retry_after: None,
        },
        ConverseStreamError::AccessDeniedException(_) => ModelError::AccessDenied(message),
        ConverseStreamError::ValidationException(_) if is_context_overflow(&message) => {
            ModelError::ContextOverflow(message)
        }
        _ => ModelError::Other(message),
    }
}

fn map_stream_error<R: std::fmt::Debug>(
    error: SdkError<ConverseStreamOutputError, R>,
) -> ModelError {
    let SdkError::ServiceError(context) = &error else {
        return ModelError::Interrupted(DisplayErrorContext(&error).to_string());
    };
    let service = context.err();
    let message = message_of(service);
    match service {
        ConverseStreamOutputError::ThrottlingException(_)
        | ConverseStreamOutputError::ServiceUnavailableException(_) => ModelError::Throttled {
            message,
            retry_after: None,
        },
        ConverseStreamOutputError::ValidationException(_) if is_context_overflow(&message) => {
            ModelError::ContextOverflow(message)
        }
        _ => ModelError::Interrupted(message),
    }
}

#[async_trait]
impl Model for BedrockModel {
    fn info(&self) -> ModelInfo {
        ModelInfo {
            kind: "bedrock",
            id: self.model_id.clone(),
        }
    }

    async fn converse(
        &self,
        request: &ModelRequest<'_>,
        on_text: TextSink<'_>,
    ) -> Result<ModelTurn, ModelError> {
        let (cache_system, cache_tools) = convert::prompt_cache_support(&self.model_id);
        let mut call = self
            .client
            .converse_stream()
            .model_id(&self.model_id)
            .set_messages(Some(convert::to_messages(request.messages)?))
            .set_system(Some(convert::to_system(request.system, cache_system)))
            .inference_config(
                InferenceConfiguration::builder()
                    .max_tokens(self.max_output_tokens)
                    .build(),
            );
        if let Some(tools) = self.tool_config(request.tools, cache_tools)? {
            call = call.tool_config(tools);
        }
        let mut stream = call.send().await.map_err(map_send_error)?.stream;
        let mut blocks: BTreeMap<i32, Partial> = BTreeMap::new();
        let mut stop = None;
        let mut usage = Usage::default();
        while let Some(event) = stream.recv().await.map_err(map_stream_error)? {
            match event {
                ConverseStreamOutput::ContentBlockStart(event) => {
                    if let Some(ContentBlockStart::ToolUse(start)) = event.start {
                        blocks.insert(
                            event.content_block_index,
                            Partial::Tool {
                                id: start.tool_use_id,
                                name: start.name,
                                json: String::new(),
                            },
                        );
                    }
                }
                ConverseStreamOutput::ContentBlockDelta(event) => match event.delta {
                    Some(ContentBlockDelta::Text(delta)) => {
                        on_text(&delta);
                        match blocks
                            .entry(event.content_block_index)
                            .or_insert_with(|| Partial::Text(String::new()))
                        {
                            Partial::Text(text) => text.push_str(&delta),
                            Partial::Tool { .. } => {}
                        }
                    }
                    Some(ContentBlockDelta::ToolUse(delta)) => {
                        if let Some(Partial::Tool { json, .. }) =
                            blocks.get_mut(&event.content_block_index)
                        {
                            json.push_str(&delta.input);
                        }
                    }
                    _ => {}
                },
                ConverseStreamOutput::MessageStop(event) => {
                    stop = Some(match event.stop_reason {
                        BedrockStop::EndTurn | BedrockStop::StopSequence => StopReason::EndTurn,
                        BedrockStop::ToolUse => StopReason::ToolUse,
                        BedrockStop::MaxTokens => StopReason::MaxTokens,
                        BedrockStop::ModelContextWindowExceeded => {
                            return Err(ModelError::ContextOverflow(
                                "the model's context window was exceeded".into(),
                            ));
                        }
                        _ => StopReason::Other,
                    });
                }
                ConverseStreamOutput::Metadata(event) => {
                    if let Some(u) = event.usage {
                        usage = Usage {
                            input_tokens: u.input_tokens.max(0) as u64,
                            output_tokens: u.output_tokens.max(0) as u64,
                            total_tokens: u.total_tokens.max(0) as u64,
                            cache_read_input_tokens: u.cache_read_input_tokens.unwrap_or(0).max(0)
                                as u64,
                            cache_write_input_tokens: u.cache_write_input_tokens.unwrap_or(0).max(0)
                                as u64,
                        };
                    }
                }
                _ => {}
            }
        }
        let Some(stop) = stop else {
            return Err(ModelError::Interrupted(
                "the stream ended before the message was complete".into(),
            ));
        };
        let content = blocks
            .into_values()
            .filter_map(|partial| match partial {
                Partial::Text(text) if text.is_empty() => None,
                Partial::Text(text) => Some(Ok(Block::Text { text })),
                Partial::Tool { id, name, json } => {
                    let input = if json.trim().is_empty() {
                        Ok(Value::Object(Default::default()))
                    } else {
                        serde_json::from_str(&json)
                    };
                    Some(
                        input
                            .map(|input| Block::ToolUse { id, name, input })
                            .map_err(|e| {
                                ModelError::Interrupted(format!(
                                    "tool input is not valid JSON: {e}"
                                ))
                            }),
                    )
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ModelTurn {
            content,
            stop,
            usage,
        })
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_bedrockruntime::types::{Tool, ToolInputSchema};
    use aws_smithy_types::Document;
    use serde_json::json;

    use super::*;

    /// The order in which the first tool's schema properties would be serialized.
    fn property_order(config: &ToolConfiguration) -> Vec<String> {
        let Tool::ToolSpec(spec) = &config.tools()[0] else {
            panic!("a tool spec first");
        };
        let Some(ToolInputSchema::Json(Document::Object(schema))) = spec.input_schema() else {
            panic!("a JSON schema");
        };
        let Some(Document::Object(properties)) = schema.get("properties") else {
            panic!("properties");
        };
        properties.keys().cloned().collect()
    }

    #[test]
    fn the_same_tools_go_out_in_the_same_order_every_call() {
        let client = Client::from_conf(
            aws_sdk_bedrockruntime::Config::builder()
                .behavior_version_latest()
                .region(aws_sdk_bedrockruntime::config::Region::new("us-east-1"))
                .build(),
        );
        let model = BedrockModel::new(client, "anthropic.claude-test".into(), 100);
        let properties: serde_json::Map<String, Value> = (0..16)
            .map(|i| (format!("field_{i}"), json!({"type": "string"})))
            .collect();
        let tools = [ToolSpec {
            name: "lookup_events".into(),
            description: "Looks events up.".into(),
            input_schema: json!({"type": "object", "properties": properties}),
        }];
        let first = model.tool_config(&tools, true).unwrap().unwrap();
        // Each conversion makes new hash maps with their own random order: without reuse,
        // 16 keys come out in the same order again about once in 10^13.
        for _ in 0..5 {
            let again = model.tool_config(&tools, true).unwrap().unwrap();
            assert_eq!(property_order(&again), property_order(&first));
        }
        let other = [ToolSpec {
            description: "Another description.".into(),
            ..tools[0].clone()
        }];
        let changed = model.tool_config(&other, true).unwrap().unwrap();
        let Tool::ToolSpec(spec) = &changed.tools()[0] else {
            panic!("a tool spec first");
        };
        assert_eq!(spec.description(), Some("Another description."));
    }
}
