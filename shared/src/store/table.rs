//! Key layout of the single table, and its creation for the emulator.
//!
//! | item | pk | sk | gsi1pk / gsi1sk |
//! |---|---|---|---|
//! | connection | `CONN#<id>` | `CONN` | `TENANT#<t>` / `CONN#<id>` |
//! | inbound event | `EVT#<conn>#<provider event id>` | `EVT` | - |
//!
//! Connections are keyed by id (not by tenant, as ARCHITECTURE.md sketches) because the webhook
//! receiver only knows the id from the URL: a `GetItem` on the hot path beats a GSI query, and the
//! conditional put on `CONN#<id>` makes ids unique across tenants. Listing a tenant's connections
//! uses the `gsi1` index instead.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};

use super::StoreError;

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const GSI1: &str = "gsi1";
pub const GSI1PK: &str = "gsi1pk";
pub const GSI1SK: &str = "gsi1sk";
/// The TTL attribute (epoch seconds): DynamoDB deletes items some time after it passes.
pub const EXPIRES_AT: &str = "expires_at";

pub fn connection_pk(id: &str) -> String {
    format!("CONN#{id}")
}
pub const CONNECTION_SK: &str = "CONN";

pub fn tenant_pk(tenant: &str) -> String {
    format!("TENANT#{tenant}")
}

pub fn event_pk(connection_id: &str, event_id: &str) -> String {
    format!("EVT#{connection_id}#{event_id}")
}
pub const EVENT_SK: &str = "EVT";

/// Ids that end up inside keys: letters, digits, `_` and `-`, 1 to 64 characters.
pub fn validate_id(what: &'static str, id: &str) -> Result<(), StoreError> {
    let ok =
        !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            what,
            reason: format!("{id:?} must be 1 to 64 characters of letters, digits, '_' or '-'"),
        })
    }
}

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .expect("key schema element has its required fields")
}

fn attr(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("attribute definition has its required fields")
}

/// Creates the table as infra/template.yaml declares it (keys, gsi1, TTL), for the emulator.
/// An existing table is left as it is.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), StoreError> {
    let gsi = GlobalSecondaryIndex::builder()
        .index_name(GSI1)
        .key_schema(key(GSI1PK, KeyType::Hash))
        .key_schema(key(GSI1SK, KeyType::Range))
        .projection(Projection::builder().projection_type(ProjectionType::All).build())
        .build()
        .expect("gsi has its required fields");
    let created = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr(PK))
        .attribute_definitions(attr(SK))
        .attribute_definitions(attr(GSI1PK))
        .attribute_definitions(attr(GSI1SK))
        .key_schema(key(PK, KeyType::Hash))
        .key_schema(key(SK, KeyType::Range))
        .global_secondary_indexes(gsi)
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => return Ok(()),
        Err(e) => return Err(StoreError::dynamo("CreateTable", e)),
    }
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(EXPIRES_AT)
                .enabled(true)
                .build()
                .expect("ttl spec has its required fields"),
        )
        .send()
        .await
        .map_err(|e| StoreError::dynamo("UpdateTimeToLive", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_with_key_separators_are_rejected() {
        assert!(validate_id("connection id", "conn_01HX-abc").is_ok());
        assert!(validate_id("connection id", "a#b").is_err());
        assert!(validate_id("connection id", "").is_err());
        assert!(validate_id("connection id", &"x".repeat(65)).is_err());
        assert!(validate_id("connection id", "../etc").is_err());
    }
}
