//! Connector kinds beside HTTP: the calls every kind answers, so sync jobs, cursors,
//! checkpoints, record links, job counts and the CLI do not care whether a connection is an
//! API, a database ([`super::sql`]), files in a bucket ([`super::s3`]), a mail server
//! ([`super::smtp`]) or a mailbox ([`super::imap`]).
//!
//! [`super::ConnectorClient`] holds one [`KindClient`] for a definition whose `kind` is not
//! `http` and hands every read, fetch, write and check to it.

use futures::future::BoxFuture;
use serde_json::Value;

use super::client::{CheckReport, Page};
use super::definition::{ConnectorDefinition, ConnectorKind, CursorKind};
use super::errors::ConnectorError;
use super::pagination::StreamState;
use super::write::WriteResult;

/// A connection of a non-HTTP kind: what a sync job, a fetch, a write and a check need.
pub trait KindClient: Send + Sync + std::fmt::Debug {
    /// Whether `stream` exists and, if so, how its cursor compares (`None`: no cursor).
    fn stream_cursor(&self, stream: &str) -> Option<Option<CursorKind>>;

    /// The id of a record of `stream`, as text.
    fn record_id(&self, stream: &str, record: &Value) -> Option<String>;

    /// Reads the page `state` points at.
    fn read_page<'a>(&'a self, stream: &'a str, state: &'a StreamState) -> BoxFuture<'a, Result<Page, ConnectorError>>;

    /// One record of `stream` by id; `None` when there is none.
    fn fetch_record<'a>(&'a self, stream: &'a str, id: &'a str)
        -> BoxFuture<'a, Result<Option<Value>, ConnectorError>>;

    /// Proves the connection works (and that what the definition names exists).
    fn check(&self) -> BoxFuture<'_, Result<CheckReport, ConnectorError>>;

    /// Writes `records` (already mapped) with `operation`: one result per record, in order.
    fn write_batch<'a>(
        &'a self,
        operation: &'a str,
        records: &'a [Value],
    ) -> BoxFuture<'a, Result<Vec<WriteResult>, ConnectorError>>;
}

impl ConnectorDefinition {
    /// The names of the streams, whatever the connector's kind.
    pub fn stream_names(&self) -> Vec<String> {
        match self.kind {
            ConnectorKind::Http => self.streams.keys().cloned().collect(),
            ConnectorKind::Sql => self.sql.iter().flat_map(|s| s.streams.keys().cloned()).collect(),
            ConnectorKind::S3 => self.s3.iter().flat_map(|s| s.streams.keys().cloned()).collect(),
            ConnectorKind::Smtp => Vec::new(),
            ConnectorKind::Imap => self.imap.iter().flat_map(|s| s.streams.keys().cloned()).collect(),
        }
    }

    /// The names of the write operations, whatever the connector's kind.
    pub fn write_names(&self) -> Vec<String> {
        match self.kind {
            ConnectorKind::Http => self.writes.keys().cloned().collect(),
            ConnectorKind::Sql => self.sql.iter().flat_map(|s| s.writes.keys().cloned()).collect(),
            ConnectorKind::S3 => self.s3.iter().flat_map(|s| s.writes.keys().cloned()).collect(),
            ConnectorKind::Smtp => self.smtp.iter().flat_map(|s| s.writes.keys().cloned()).collect(),
            ConnectorKind::Imap => Vec::new(),
        }
    }

    /// Whether the connector can be checked (an HTTP check request, or any other kind: each
    /// has a check of its own).
    pub fn has_check(&self) -> bool {
        self.check.is_some() || !self.kind.is_http()
    }
}

/// Refuses the HTTP-only fields in a definition of another kind: its streams and writes are
/// declared in its own section.
pub(crate) fn refuse_http_fields(def: &ConnectorDefinition, section: &str) -> Result<(), super::compiled::Invalid> {
    let http_only: [(&str, bool); 8] = [
        ("base_url", def.base_url.is_some()),
        ("auth", !def.auth.is_empty()),
        ("headers", !def.headers.is_empty()),
        ("streams", !def.streams.is_empty()),
        ("writes", !def.writes.is_empty()),
        ("check", def.check.is_some()),
        ("webhooks", def.webhooks.is_some()),
        ("rate_limit", def.rate_limit.is_some()),
    ];
    for (field, set) in http_only {
        if set {
            return Err(super::compiled::Invalid {
                field: field.into(),
                message: format!(
                    "a `kind: {section}` connector has no `{field}`: declare streams and writes under `{section}`"
                ),
            });
        }
    }
    Ok(())
}
