//! Amazon Bedrock ConverseStream adapter.
