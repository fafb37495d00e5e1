//! Key layout of the single table (declared in infra/template.yaml).
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
