//! The `sql:` section of a `kind: sql` definition: which database engine, which tables (or
//! queries) are streams, which tables take writes, and the check. Identifiers are checked here
//! (plain `[A-Za-z_][A-Za-z0-9_]*`, at most 63 characters, optionally `schema.table`) so that no
//! name from a definition reaches SQL unchecked; whether the columns exist is checked against
//! the database by the client (`connectors check`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::connector::compiled::Invalid;
use crate::connector::definition::{ConnectorDefinition, ConnectorKind, CursorKind};

use super::dialect::{check_identifier, Dialect};

/// A SQL connector's settings, streams, writes and check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlSpec {
    /// `postgres`, `mysql` (MySQL and MariaDB), `sqlite` or `sqlserver`.
    pub dialect: Dialect,

    /// Credential key of the connection URL (`postgres://user:password@host:5432/db`,
    /// `mysql://...`, `sqlite:///path/file.db`, SQL Server's JDBC form
    /// `sqlserver://host:1433;database=db;user=u;password={p}`). The URL lives in the connection's secret and
    /// is never logged: error messages redact it.
    #[serde(default = "default_url_credential")]
    pub url_credential: String,

    /// Connections in the pool. Lambda runs one invocation per process, so 1 or 2 (a read
    /// and a write overlapping) is enough; the pool is kept across warm invocations.
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,

    /// Seconds to wait for a connection (connect or a free one from the pool).
    #[serde(default = "default_connect_timeout_secs")]
    pub connect_timeout_secs: u64,

    /// Readable streams, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub streams: BTreeMap<String, SqlStreamSpec>,

    /// Write operations, by name (`contacts.upsert`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub writes: BTreeMap<String, SqlWriteSpec>,
}

fn default_url_credential() -> String {
    "url".into()
}
fn default_pool_size() -> u32 {
    2
}
fn default_connect_timeout_secs() -> u64 {
    10
}

/// A stream: a table (or a query) read in keyset-paginated chunks ordered by cursor and
/// primary key, never with OFFSET.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlStreamSpec {
    /// What the stream is, for people.
    #[serde(default)]
    pub description: String,

    /// The table (`contacts`, or `schema.contacts`); unqualified names are looked up in the
    /// connection's `schema` config (PostgreSQL schema, MySQL database), else the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,

    /// A `SELECT` whose result is the stream, instead of a table (read as a subquery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,

    /// The primary key column: unique and not null; the record id.
    pub primary_key: String,

    /// The incremental cursor column, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<SqlCursorSpec>,

    /// Rows per chunk (one query each).
    #[serde(default = "default_chunk_size")]
    pub chunk_size: u32,
}

fn default_chunk_size() -> u32 {
    500
}

/// The incremental cursor of a SQL stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlCursorSpec {
    /// The column (not null; `updated_at`, or an increasing id).
    pub column: String,

    /// `timestamp` (a date-time column; read as RFC 3339), `integer` (an increasing number),
    /// `unix_seconds` or `unix_millis` (numbers holding a time).
    #[serde(rename = "type")]
    pub kind: SqlCursorKind,

    /// An incremental run starts this many seconds before the last cursor (rows committed
    /// late with an earlier time are read again). Not for `integer` cursors.
    #[serde(default)]
    pub lookback_secs: u64,
}

/// How a SQL cursor column is read and compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SqlCursorKind {
    Timestamp,
    Integer,
    UnixSeconds,
    UnixMillis,
}

impl SqlCursorKind {
    /// The engine's cursor kind, which orders and checkpoints the values (an increasing id
    /// orders as a number, as unix seconds do).
    pub fn engine_kind(self) -> CursorKind {
        match self {
            SqlCursorKind::Timestamp => CursorKind::Rfc3339,
            SqlCursorKind::Integer | SqlCursorKind::UnixSeconds => CursorKind::UnixSeconds,
            SqlCursorKind::UnixMillis => CursorKind::UnixMillis,
        }
    }
}

/// A write operation: insert, or upsert on a key, in batches of one transaction each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlWriteSpec {
    /// What the operation does, for people.
    #[serde(default)]
    pub description: String,

    /// `insert` or `upsert`.
    pub kind: SqlWriteKind,

    /// The table written to.
    pub table: String,

    /// Upsert: the columns of the unique key a record is matched on (a primary key or unique
    /// index over exactly these columns must exist).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key: Vec<String>,

    /// The column whose value is the destination id of a written record (default: the first
    /// key column, or for an insert the table's primary key as the database returns it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_column: Option<String>,

    /// Records per transaction.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,

    /// The most records one `INSERT ... VALUES (...), (...)` statement carries (fewer when the
    /// database's parameter limit is reached first); 1 writes one statement per record.
    /// Records whose id the database generates are always written one by one (so each gets
    /// its own id back), and so are upserts on MySQL unless the key is the table's only
    /// unique index (its `ON DUPLICATE KEY UPDATE` matches any unique key).
    #[serde(default = "default_rows_per_statement")]
    pub rows_per_statement: usize,
}

fn default_rows_per_statement() -> usize {
    500
}

fn default_batch_size() -> usize {
    500
}

/// What a SQL write does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SqlWriteKind {
    Insert,
    Upsert,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        field: field.into(),
        message: message.into(),
    }
}

fn check_ident(field: &str, name: &str, qualified: bool) -> Result<(), Invalid> {
    check_identifier(name, qualified).map_err(|e| invalid(field, e))
}

/// Checks that `kind` and the `sql` section agree, and the section itself.
pub fn validate(def: &ConnectorDefinition) -> Result<(), Invalid> {
    let sql = match (def.kind, &def.sql) {
        (ConnectorKind::Sql, Some(sql)) => sql,
        (ConnectorKind::Sql, None) => return Err(invalid("sql", "a `kind: sql` connector needs a `sql` section")),
        (_, Some(_)) => return Err(invalid("sql", "only a `kind: sql` connector has a `sql` section")),
        (_, None) => return Ok(()),
    };
    crate::connector::kind::refuse_http_fields(def, "sql")?;
    if sql.url_credential.is_empty() {
        return Err(invalid("sql.url_credential", "must name a credential key"));
    }
    if !(1..=10).contains(&sql.pool_size) {
        return Err(invalid(
            "sql.pool_size",
            "must be between 1 and 10 (1 or 2 suit Lambda)",
        ));
    }
    if sql.connect_timeout_secs == 0 {
        return Err(invalid("sql.connect_timeout_secs", "must be at least 1"));
    }
    for (name, stream) in &sql.streams {
        let at = format!("sql.streams.{name}");
        check_op_name(&at, name)?;
        match (&stream.table, &stream.query) {
            (Some(table), None) => check_ident(&format!("{at}.table"), table, true)?,
            (None, Some(query)) => {
                let head = query.trim_start().get(..6).unwrap_or_default();
                if !head.eq_ignore_ascii_case("select") && !head.eq_ignore_ascii_case("with ") {
                    return Err(invalid(
                        format!("{at}.query"),
                        "must be a SELECT (or WITH ... SELECT) query",
                    ));
                }
                if query.contains(';') {
                    return Err(invalid(format!("{at}.query"), "must be one statement, without `;`"));
                }
            }
            _ => return Err(invalid(&at, "set exactly one of `table` and `query`")),
        }
        check_ident(&format!("{at}.primary_key"), &stream.primary_key, false)?;
        if let Some(cursor) = &stream.cursor {
            check_ident(&format!("{at}.cursor.column"), &cursor.column, false)?;
            if cursor.kind == SqlCursorKind::Integer && cursor.lookback_secs > 0 {
                return Err(invalid(
                    format!("{at}.cursor.lookback_secs"),
                    "an `integer` cursor has no lookback window (it is not a time)",
                ));
            }
        }
        if !(1..=10_000).contains(&stream.chunk_size) {
            return Err(invalid(format!("{at}.chunk_size"), "must be between 1 and 10000"));
        }
    }
    for (name, write) in &sql.writes {
        let at = format!("sql.writes.{name}");
        check_op_name(&at, name)?;
        check_ident(&format!("{at}.table"), &write.table, true)?;
        for (i, column) in write.key.iter().enumerate() {
            check_ident(&format!("{at}.key[{i}]"), column, false)?;
        }
        match write.kind {
            SqlWriteKind::Upsert if write.key.is_empty() => {
                return Err(invalid(
                    format!("{at}.key"),
                    "an upsert needs the key columns it matches on",
                ))
            }
            SqlWriteKind::Insert if !write.key.is_empty() => {
                return Err(invalid(
                    format!("{at}.key"),
                    "an insert has no key (use `kind: upsert`)",
                ))
            }
            _ => {}
        }
        if let Some(id) = &write.id_column {
            check_ident(&format!("{at}.id_column"), id, false)?;
        }
        if !(1..=10_000).contains(&write.batch_size) {
            return Err(invalid(format!("{at}.batch_size"), "must be between 1 and 10000"));
        }
        if !(1..=10_000).contains(&write.rows_per_statement) {
            return Err(invalid(
                format!("{at}.rows_per_statement"),
                "must be between 1 and 10000",
            ));
        }
    }
    Ok(())
}

fn check_op_name(at: &str, name: &str) -> Result<(), Invalid> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(invalid(at, "names are letters, digits, `_`, `-` and `.`"))
    }
}

#[cfg(test)]
mod tests {
    use crate::connector::registry::{parse_definition, Registry};

    fn postgres() -> &'static str {
        Registry::embedded_source("postgres").expect("built in")
    }

    fn error(yaml: &str) -> String {
        parse_definition("postgres.yaml", yaml).unwrap_err().to_string()
    }

    #[test]
    fn the_built_in_sql_definitions_load() {
        for id in ["postgres", "mysql", "sqlite"] {
            let text = Registry::embedded_source(id).expect("built in");
            let def = parse_definition(&format!("{id}.yaml"), text).unwrap();
            assert!(def.sql.unwrap().streams.contains_key("contacts"));
        }
    }

    #[test]
    fn identifiers_that_are_not_plain_names_are_refused_with_the_field() {
        let e = error(&postgres().replace(
            "table: contacts\n      primary_key",
            "table: \"contacts; DROP TABLE users\"\n      primary_key",
        ));
        assert!(
            e.contains("sql.streams.contacts.table") && e.contains("not a plain SQL identifier"),
            "{e}"
        );
        let e = error(&postgres().replace("key: [id]", "key: [\"id\\\" = 1 --\"]"));
        assert!(e.contains("sql.writes.contacts.upsert.key[0]"), "{e}");
        let e = error(&postgres().replace("column: updated_at", "column: \"updated at\""));
        assert!(e.contains("sql.streams.contacts.cursor.column"), "{e}");
    }

    #[test]
    fn kind_and_section_must_agree() {
        let e = error(&postgres().replace("kind: sql\n", ""));
        assert!(e.contains("only a `kind: sql` connector has a `sql` section"), "{e}");
        let e = error(&format!("{}base_url: https://example.com\n", postgres()));
        assert!(e.contains("`base_url`"), "{e}");
        let e = error(&postgres().replace("kind: upsert", "kind: insert"));
        assert!(e.contains("an insert has no key"), "{e}");
        let e = error(&postgres().replace("type: timestamp, lookback_secs: 5", "type: integer, lookback_secs: 5"));
        assert!(e.contains("no lookback"), "{e}");
        let e = error(&postgres().replace(
            "table: contacts\n      primary_key",
            "query: \"DELETE FROM contacts\"\n      primary_key",
        ));
        assert!(e.contains("must be a SELECT"), "{e}");
    }
}
