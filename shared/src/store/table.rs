//! Key layout of the single table (declared in infra/template.yaml).
//!
//! | item | pk | sk | gsi1pk / gsi1sk |
//! |---|---|---|---|
//! | connection | `CONN#<id>` | `CONN` | `TENANT#<t>` / `CONN#<id>` |
//! | inbound event | `EVT#<conn>#<provider event id>` | `EVT` | - |
//!
//! Two sparse indexes hold only what a schedule reads, so no tick scans the table:
//!
//! | index | item | hash | range |
//! |---|---|---|---|
//! | `sched` | connection | `CONN` | `<id>` |
//! | `sched` | enabled scheduled flow | `DUE` | `<next run, 12 digits>#<id>` |
//! | `pending` | inbound event not yet taken by connector-sync | `PENDING#<0..15>` | `<received at, 12 digits>#<pk>` |
//! | `webhook_log` | inbound event, and each duplicate or rejected delivery | `WHLOG#<tenant>#<conn>` | `<at, 12 digits>#<conn>#<id>` |
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
/// The sparse schedule index: every connection and every enabled scheduled flow.
pub const SCHED: &str = "sched";
pub const SCHED_PK: &str = "sched_pk";
pub const SCHED_SK: &str = "sched_sk";
/// `sched_pk` of connection items.
pub const SCHED_CONNECTIONS: &str = "CONN";
/// `sched_pk` of enabled scheduled flows.
pub const SCHED_DUE_FLOWS: &str = "DUE";
/// The sparse index of inbound events stored but not yet taken by connector-sync.
pub const PENDING: &str = "pending";
pub const PENDING_PK: &str = "pending_pk";
pub const PENDING_SK: &str = "pending_sk";
/// Shards of the pending index, so a burst of events spreads over partitions.
pub const PENDING_SHARDS: u32 = 16;

/// The sparse index of the inbound webhook log (`GET /v1/events`): accepted events carry its
/// keys on their own item (no extra write), duplicates and rejections are small items of their
/// own (see [`super::webhook_log`]). It projects only the log's fields, never a body.
pub const WEBHOOK_LOG: &str = "webhook_log";
pub const LOG_PK: &str = "log_pk";
pub const LOG_SK: &str = "log_sk";

/// `log_pk` of a connection's webhook log. The tenant is part of it, so a connection id taken
/// again by another tenant after a delete never shows the first owner's entries.
pub fn log_pk(tenant: &str, connection_id: &str) -> String {
    format!("WHLOG#{tenant}#{connection_id}")
}

/// `log_sk` of an entry: time first (newest first is a backwards `Query`), then the connection
/// (so positions compare the same way in every connection's partition), then the entry's id.
pub fn log_sk(at: i64, connection_id: &str, id: &str) -> String {
    format!("{:012}#{connection_id}#{id}", at.max(0))
}

/// `sched_sk` of a flow due at `next_run_at` (unix seconds; missing: due now).
pub fn due_sk(next_run_at: Option<i64>, flow_id: &str) -> String {
    format!("{:012}#{flow_id}", next_run_at.unwrap_or(0).max(0))
}

/// The `sched_sk` bound that takes every flow due at or before `now`.
pub fn due_until(now: i64) -> String {
    // `~` sorts after every character an id may hold.
    format!("{:012}#~", now.max(0))
}

/// `pending_pk` of an event item: its shard, from a hash of its key.
pub fn pending_pk(event_pk: &str) -> String {
    // FNV-1a: stable across processes and releases (std's hasher is not).
    let hash = event_pk
        .bytes()
        .fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    format!("PENDING#{}", hash % PENDING_SHARDS)
}

/// `pending_sk` of an event received at `received_at`.
pub fn pending_sk(received_at: i64, event_pk: &str) -> String {
    format!("{:012}#{event_pk}", received_at.max(0))
}

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
    fn due_keys_sort_by_time_and_the_bound_takes_exactly_the_due() {
        let due = due_sk(Some(1_700_000_000), "flow_z-9");
        assert!(due <= due_until(1_700_000_000));
        assert!(due > due_until(1_699_999_999));
        assert!(due_sk(None, "f") <= due_until(0));
        assert!(due_sk(Some(99), "f") < due_sk(Some(100), "a"));
    }

    #[test]
    fn pending_shards_are_stable_and_spread() {
        assert_eq!(pending_pk("EVT#c#e1"), pending_pk("EVT#c#e1"));
        let shards: std::collections::BTreeSet<_> = (0..200).map(|i| pending_pk(&format!("EVT#c#evt_{i}"))).collect();
        assert_eq!(shards.len(), PENDING_SHARDS as usize);
    }

    #[test]
    fn ids_with_key_separators_are_rejected() {
        assert!(validate_id("connection id", "conn_01HX-abc").is_ok());
        assert!(validate_id("connection id", "a#b").is_err());
        assert!(validate_id("connection id", "").is_err());
        assert!(validate_id("connection id", &"x".repeat(65)).is_err());
        assert!(validate_id("connection id", "../etc").is_err());
    }
}
