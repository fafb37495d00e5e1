//! The declarative connector engine: connectors are YAML definitions
//! (`shared/connectors/*.yaml`), embedded at build time, validated at start-up and executed
//! by one engine.
//!
//! * [`definition`]: the typed definition (auth, streams, pagination, writes, errors, rate
//!   limits, check, webhooks); [`registry`]: the embedded definitions and [`validate_file`].
//! * Pure parts, unit-tested beside their code: [`template`] and [`request`] (request
//!   templates), [`pagination`] (state stepping and loop guards), [`cursor`] (incremental
//!   cursors and lookback), [`errors`] (the one classification), [`ratelimit`] (pacing
//!   arithmetic), [`mapping`] (jq via jaq), [`hash`] (content hashes), [`write`] (per-record
//!   results), [`plan`] (dry-run requests, redacted), [`stats`] (a client's counters),
//!   [`preflight`] (headers and cookies a write pre-flight supplies to writes), [`oauth1`]
//!   (RFC 5849 request signatures), [`xml`] (XML and SOAP bodies with escaping and secret
//!   slots, XML responses read as JSON), [`session`] (login-session auth).
//! * Kinds beside HTTP, behind one trait ([`kind::KindClient`]) reached through the same
//!   [`ConnectorClient`]: [`sql`] (PostgreSQL, MySQL/MariaDB, SQLite), [`s3`] (CSV / JSON
//!   Lines objects in a bucket), [`smtp`] (templated email).
//! * I/O: [`client`] (the engine), [`auth`] (OAuth token refresh), [`url_guard`] (the
//!   network guard for user-configured URLs).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use switchyard::connector::{ClientSettings, ConnectorClient, Credentials, Registry, StreamState};
//!
//! let registry = Registry::embedded()?;
//! let stripe = registry.get_shared("stripe").expect("embedded");
//! let http = switchyard::connector::url_guard::http_client(std::time::Duration::from_secs(30), false)?;
//! let creds = Credentials::new().with("api_key", "sk_test_...");
//! let client = ConnectorClient::new(stripe, ClientSettings::default(), creds, http)?;
//! let mut state = Some(StreamState::incremental(Some("1700000000".into())));
//! while let Some(current) = state {
//!     let page = client.read_page("customers", &current).await?;
//!     // map, hash, write, checkpoint `page.next` ...
//!     state = page.next;
//! }
//! # Ok(()) }
//! ```

pub mod auth;
pub mod client;
pub mod compiled;
pub mod cursor;
pub mod definition;
pub mod errors;
pub mod hash;
pub mod imap;
mod jq_natives;
pub mod jwt;
pub mod kind;
pub mod mapping;
pub mod oauth1;
pub mod pagination;
pub mod plan;
pub mod preflight;
pub mod ratelimit;
pub mod registry;
pub mod request;
pub mod s3;
pub mod session;
pub mod smtp;
pub mod sql;
pub mod stats;
pub mod template;
pub mod trust;
pub mod upload_session;
pub mod uploads;
pub mod url_guard;
pub mod write;
pub mod xml;

pub use auth::{Credentials, TokenUpdate};
pub use client::{CheckReport, ClientSettings, ConnectorClient, EventRecord, Page, ProviderSubscription};
pub use definition::ConnectorDefinition;
pub use errors::{ConnectorError, ErrorClass, ErrorKind};
pub use hash::content_hash;
pub use mapping::{check_mapping, Mapping, MappingError};
pub use pagination::{PageToken, StreamState};
pub use plan::{PlannedRequest, RedactedRequest, WritePlan};
pub use ratelimit::Pacer;
pub use registry::{validate_file, DefinitionError, Registry};
pub use stats::{ClientStats, StatsSnapshot};
pub use write::WriteResult;
