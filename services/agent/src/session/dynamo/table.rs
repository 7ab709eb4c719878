//! The sessions table's definition, for local runs, tests and the benchmark (the deployed table
//! is the CDK stack's: the same key schema and TTL attribute).

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};

use super::items::{EXPIRES_AT, PK, SK};
use crate::session::SessionError;

/// Creates the table (string partition key `pk`, string sort key `sk`, on-demand) and turns on
/// TTL on `expires_at`.
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<(), SessionError> {
    let error = |e: String| SessionError::Unavailable(e);
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| error(e.to_string()))
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| error(e.to_string()))
    };
    client
        .create_table()
        .table_name(table)
        .attribute_definitions(attribute(PK)?)
        .attribute_definitions(attribute(SK)?)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .map_err(|e| error(super::describe(&e)))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(EXPIRES_AT)
                .build()
                .map_err(|e| error(e.to_string()))?,
        )
        .send()
        .await
        .map_err(|e| error(super::describe(&e)))?;
    Ok(())
}
