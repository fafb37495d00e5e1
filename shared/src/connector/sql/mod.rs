//! `kind: sql` connectors: PostgreSQL, MySQL/MariaDB and SQLite through `sqlx`, SQL Server
//! through `tiberius` ([`sqlserver`]), behind the same
//! [`super::ConnectorClient`] calls as HTTP connectors (read a page, fetch by id, write a
//! batch, check), so sync jobs, cursors, checkpoints, record links and job counts do not care
//! which kind a connection is.
//!
//! * [`spec`]: the definition's `sql:` section and its validation (identifiers checked).
//! * [`dialect`]: statement text per engine (quoting, placeholders, keyset chunks, upserts).
//! * [`values`]: rows to JSON records and record values to bind parameters.
//! * [`redact`]: the connection URL kept out of every message.
//! * [`batch`]: which rows of a batch share one multi-row `INSERT`.
//! * [`sqlserver`]: SQL Server's connections, row decoding, batch writer and error numbers.
//!
//! Streams read in keyset-paginated chunks (`WHERE (cursor, key) > (?, ?) ORDER BY cursor, key
//! LIMIT n`), never OFFSET. Writes run one transaction per batch. Rows that write the same
//! columns share one `INSERT ... VALUES (...), (...)` statement (upserts with it), under a
//! savepoint; when the database refuses that statement for one of its rows, it is rolled back
//! and its rows are written one by one, each under a savepoint of its own, so a record the
//! database refuses (a constraint, a bad value) fails alone with the database's reason while
//! the rest of the batch commits. The pool (1 or 2
//! connections) lives in the client, which connector-sync keeps across warm invocations.

mod batch;
pub mod dialect;
pub mod redact;
pub mod spec;
mod sqlserver;
pub mod values;

use std::collections::HashMap;
use std::str::FromStr;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{Column as _, Executor, Row, TypeInfo};
use tokio::sync::Mutex;

use super::auth::Credentials;
use super::client::{CheckReport, Page};
use super::cursor;
use super::definition::ConnectorDefinition;
use super::errors::{ConnectorError, ErrorClass, ErrorKind};
use super::pagination::{self, PageToken, StreamState};
use super::write::WriteResult;

pub use dialect::{Column, ColumnClass, Dialect};
pub use spec::{SqlCursorKind, SqlSpec, SqlStreamSpec, SqlWriteKind, SqlWriteSpec};
use values::BindValue;

/// A connection pool of one engine.
enum Pool {
    Pg(PgPool),
    My(MySqlPool),
    Lite(SqlitePool),
    Mssql(Box<sqlserver::MssqlPool>),
}

/// Binds [`BindValue`]s to a query of any engine.
macro_rules! bind_all {
    ($query:expr, $params:expr) => {{
        let mut q = $query;
        for v in $params {
            q = match v {
                BindValue::Null => q.bind(None::<String>),
                BindValue::Int(i) => q.bind(*i),
                BindValue::Float(f) => q.bind(*f),
                BindValue::Text(s) => q.bind(s.as_str()),
                BindValue::Bytes(b) => q.bind(b.as_slice()),
                BindValue::NullBytes => q.bind(None::<Vec<u8>>),
            };
        }
        q
    }};
}

use batch::{RowWrite, Step};

/// A `kind: sql` definition bound to one connection: its pool, schema and described columns.
pub struct SqlClient {
    connector: String,
    spec: SqlSpec,
    dialect: Dialect,
    schema: Option<String>,
    pool: Pool,
    url: SecretString,
    /// Columns per relation, described once per client.
    columns: Mutex<HashMap<String, std::sync::Arc<Vec<Column>>>>,
    /// MySQL: whether a table's only unique index is a write's key, per (table, key).
    key_only_unique: Mutex<HashMap<(String, Vec<String>), bool>>,
    max_pages: u32,
}

impl std::fmt::Debug for SqlClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlClient")
            .field("connector", &self.connector)
            .field("dialect", &self.dialect)
            .field("schema", &self.schema)
            .finish()
    }
}

impl SqlClient {
    /// Binds `def` (of `kind: sql`) to a connection: the URL from the credentials, the
    /// `schema` from its config. No I/O: the pool connects on first use.
    pub fn new(
        def: &ConnectorDefinition,
        config: &Map<String, Value>,
        credentials: &Credentials,
        max_pages: u32,
    ) -> Result<Self, ConnectorError> {
        let spec = def
            .sql
            .clone()
            .ok_or_else(|| ConnectorError::config(format!("connector `{}` has no `sql` section", def.id)))?;
        let dialect = spec.dialect;
        let url = credentials.get(&spec.url_credential).cloned().ok_or_else(|| {
            ConnectorError::new(
                ErrorClass::Permanent,
                ErrorKind::Credentials,
                format!(
                    "connector `{}` needs the database URL in the connection's secret under `{}`",
                    def.id, spec.url_credential
                ),
            )
        })?;
        if !dialect.accepts_url(url.expose_secret()) {
            return Err(ConnectorError::new(
                ErrorClass::Permanent,
                ErrorKind::Credentials,
                format!(
                    "connector `{}`: the connection URL in `{}` is not a {} URL",
                    def.id,
                    spec.url_credential,
                    dialect.name()
                ),
            ));
        }
        let schema = match config.get("schema") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => {
                dialect::check_identifier(s, false)
                    .map_err(|e| ConnectorError::config(format!("connector `{}`: config `schema`: {e}", def.id)))?;
                Some(s.clone())
            }
            Some(_) => {
                return Err(ConnectorError::config(format!(
                    "connector `{}`: config `schema` must be a string",
                    def.id
                )))
            }
        };
        let bad_url = |e: sqlx::Error| {
            ConnectorError::new(
                ErrorClass::Permanent,
                ErrorKind::Credentials,
                format!(
                    "connector `{}`: the connection URL cannot be read: {}",
                    def.id,
                    redact::redact(&e.to_string(), url.expose_secret())
                ),
            )
        };
        let size = spec.pool_size;
        let timeout = Duration::from_secs(spec.connect_timeout_secs);
        let idle = Some(Duration::from_secs(300));
        let pool = match dialect {
            Dialect::Postgres => {
                let options = PgConnectOptions::from_str(url.expose_secret())
                    .map_err(bad_url)?
                    .options([("TimeZone", "UTC")]);
                Pool::Pg(
                    PgPoolOptions::new()
                        .max_connections(size)
                        .min_connections(0)
                        .acquire_timeout(timeout)
                        .idle_timeout(idle)
                        .connect_lazy_with(options),
                )
            }
            Dialect::Mysql => {
                let options = MySqlConnectOptions::from_str(url.expose_secret())
                    .map_err(bad_url)?
                    .timezone(Some(String::from("+00:00")));
                Pool::My(
                    MySqlPoolOptions::new()
                        .max_connections(size)
                        .min_connections(0)
                        .acquire_timeout(timeout)
                        .idle_timeout(idle)
                        .connect_lazy_with(options),
                )
            }
            Dialect::Sqlserver => {
                let config = sqlserver::parse_url(url.expose_secret()).map_err(|e| {
                    ConnectorError::new(
                        ErrorClass::Permanent,
                        ErrorKind::Credentials,
                        format!(
                            "connector `{}`: the connection URL cannot be read: {}",
                            def.id,
                            redact::redact(&e.to_string(), url.expose_secret())
                        ),
                    )
                })?;
                Pool::Mssql(Box::new(sqlserver::MssqlPool::new(config, size, timeout)))
            }
            Dialect::Sqlite => {
                let options = SqliteConnectOptions::from_str(url.expose_secret())
                    .map_err(bad_url)?
                    .busy_timeout(timeout);
                Pool::Lite(
                    SqlitePoolOptions::new()
                        .max_connections(size)
                        .min_connections(0)
                        .acquire_timeout(timeout)
                        .idle_timeout(idle)
                        .connect_lazy_with(options),
                )
            }
        };
        Ok(Self {
            connector: def.id.clone(),
            spec,
            dialect,
            schema,
            pool,
            url,
            columns: Mutex::new(HashMap::new()),
            key_only_unique: Mutex::new(HashMap::new()),
            max_pages,
        })
    }

    /// The definition's `sql` section.
    pub fn spec(&self) -> &SqlSpec {
        &self.spec
    }

    fn stream(&self, name: &str) -> Result<&SqlStreamSpec, ConnectorError> {
        self.spec
            .streams
            .get(name)
            .ok_or_else(|| ConnectorError::config(format!("connector `{}` has no stream `{name}`", self.connector)))
    }

    fn write_op(&self, name: &str) -> Result<&SqlWriteSpec, ConnectorError> {
        self.spec.writes.get(name).ok_or_else(|| {
            ConnectorError::config(format!(
                "connector `{}` has no write operation `{name}`",
                self.connector
            ))
        })
    }

    /// A database error as a connector error, the URL redacted, with `what` in front.
    fn error(&self, what: &str, e: &sqlx::Error) -> ConnectorError {
        let (class, kind) = classify(self.dialect, e);
        let message = redact::redact(&describe_error(e), self.url.expose_secret());
        ConnectorError::new(
            class,
            kind,
            format!("connector `{}`: {what}: {message}", self.connector),
        )
    }

    /// A SQL Server error as a connector error, the URL redacted, with `what` in front.
    fn mssql_error(&self, what: &str, e: &tiberius::error::Error) -> ConnectorError {
        let (class, kind) = sqlserver::classify(e);
        let message = redact::redact(&sqlserver::describe(e), self.url.expose_secret());
        ConnectorError::new(
            class,
            kind,
            format!("connector `{}`: {what}: {message}", self.connector),
        )
    }

    /// Runs `f` on a pooled SQL Server connection; a connection the error broke is dropped
    /// (the next use opens another).
    async fn with_mssql<T>(
        &self,
        pool: &sqlserver::MssqlPool,
        what: &str,
        f: impl for<'c> FnOnce(&'c mut sqlserver::Conn) -> BoxFuture<'c, Result<T, tiberius::error::Error>>,
    ) -> Result<T, ConnectorError> {
        let mut guard = pool.acquire().await.map_err(|e| self.mssql_error(what, &e))?;
        let conn = guard.as_mut().expect("acquire opens the connection");
        let result = f(conn).await;
        if let Err(e) = &result {
            if sqlserver::breaks_connection(e) {
                *guard = None;
            }
        }
        result.map_err(|e| self.mssql_error(what, &e))
    }

    /// SQL Server: a table's columns from `INFORMATION_SCHEMA.COLUMNS`, a query's from its
    /// result's metadata.
    async fn mssql_columns(
        &self,
        pool: &sqlserver::MssqlPool,
        relation: &str,
        what: &str,
    ) -> Result<Vec<Column>, ConnectorError> {
        let what_read = format!("{what} cannot be read");
        let result = if relation.starts_with('(') {
            let sql = self.dialect.describe_sql(relation);
            self.with_mssql(pool, &what_read, |c| {
                Box::pin(async move { sqlserver::query_columns(c, &sql).await })
            })
            .await
        } else {
            let (schema, table) = self.dialect.unquote_table(relation);
            self.with_mssql(pool, &what_read, |c| {
                Box::pin(async move { sqlserver::table_columns(c, schema.as_deref(), &table).await })
            })
            .await
        };
        result.map_err(|mut err| {
            if err.kind == ErrorKind::Database {
                err.class = ErrorClass::Permanent;
                err.kind = ErrorKind::Config;
            }
            err
        })
    }

    /// The columns of a relation, described by the database (once per client).
    async fn columns(&self, relation: &str, what: &str) -> Result<std::sync::Arc<Vec<Column>>, ConnectorError> {
        if let Some(hit) = self.columns.lock().await.get(relation) {
            return Ok(hit.clone());
        }
        let sql = self.dialect.describe_sql(relation);
        let d = self.dialect;
        let described: Result<Vec<Column>, sqlx::Error> = match &self.pool {
            Pool::Mssql(p) => Ok(self.mssql_columns(p, relation, what).await?),
            Pool::Pg(p) => p.describe(&sql).await.map(|x| {
                x.columns()
                    .iter()
                    .map(|c| Column::new(d, c.name(), c.type_info().name()))
                    .collect()
            }),
            Pool::My(p) => p.describe(&sql).await.map(|x| {
                x.columns()
                    .iter()
                    .map(|c| Column::new(d, c.name(), c.type_info().name()))
                    .collect()
            }),
            Pool::Lite(p) => {
                // A table's declared types (`DATETIME`, `JSON`) are in its catalogue; a
                // query's come from the statement.
                let is_table = !relation.starts_with('(');
                if is_table {
                    let name = relation.trim_matches('"').replace("\"\"", "\"");
                    sqlx::query("SELECT name, type FROM pragma_table_info(?)")
                        .bind(name)
                        .fetch_all(p)
                        .await
                        .map(|rows| {
                            rows.iter()
                                .map(|r| Column::new(d, r.get::<String, _>(0), r.get::<String, _>(1)))
                                .collect()
                        })
                } else {
                    p.describe(&sql).await.map(|x| {
                        x.columns()
                            .iter()
                            .map(|c| Column::new(d, c.name(), c.type_info().name()))
                            .collect()
                    })
                }
            }
        };
        let columns = described.map_err(|e| {
            let mut err = self.error(&format!("{what} cannot be read"), &e);
            if matches!(e, sqlx::Error::Database(_)) {
                err.class = ErrorClass::Permanent;
                err.kind = ErrorKind::Config;
            }
            err
        })?;
        if columns.is_empty() {
            return Err(ConnectorError::config(format!(
                "connector `{}`: {what} does not exist (or has no columns)",
                self.connector
            )));
        }
        let columns = std::sync::Arc::new(columns);
        self.columns.lock().await.insert(relation.to_owned(), columns.clone());
        Ok(columns)
    }

    fn find<'c>(&self, columns: &'c [Column], name: &str, what: &str) -> Result<&'c Column, ConnectorError> {
        columns.iter().find(|c| c.name == name).ok_or_else(|| {
            let have: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
            ConnectorError::config(format!(
                "connector `{}`: {what} has no column `{name}` (it has: {})",
                self.connector,
                have.join(", ")
            ))
        })
    }

    fn stream_relation(&self, spec: &SqlStreamSpec) -> (String, String) {
        let relation = self
            .dialect
            .relation(spec.table.as_deref(), spec.query.as_deref(), self.schema.as_deref());
        let what = match &spec.table {
            Some(t) => format!("table `{t}`"),
            None => "the stream's query".to_string(),
        };
        (relation, what)
    }

    /// The primary key of a record of `stream`, as text.
    pub fn record_id(&self, stream: &str, record: &Value) -> Option<String> {
        let spec = self.spec.streams.get(stream)?;
        record.get(&spec.primary_key).and_then(values::scalar_text)
    }

    /// Reads the chunk `state` points at.
    pub fn read_page<'a>(
        &'a self,
        stream: &'a str,
        state: &'a StreamState,
    ) -> BoxFuture<'a, Result<Page, ConnectorError>> {
        // Boxed here, where the lifetimes are concrete: sqlx's executor bounds otherwise make
        // the callers' futures fail to prove `Send` for every lifetime.
        Box::pin(self.read_page_inner(stream, state))
    }

    async fn read_page_inner(&self, stream: &str, state: &StreamState) -> Result<Page, ConnectorError> {
        let spec = self.stream(stream)?;
        pagination::check_before_request(state, self.max_pages)
            .map_err(|e| ConnectorError::new(ErrorClass::Permanent, ErrorKind::Pagination, e.to_string()))?;
        let (relation, what) = self.stream_relation(spec);
        let what = format!("stream `{stream}`: {what}");
        let columns = self.columns(&relation, &what).await?;
        let key = self.find(&columns, &spec.primary_key, &what)?;
        let cursor_col = match &spec.cursor {
            Some(c) => Some(self.find(&columns, &c.column, &what)?),
            None => None,
        };
        let d = self.dialect;
        let mut params = Vec::new();
        let after = match &state.page {
            Some(PageToken::Cursor(token)) => {
                let (cursor_value, key_value) = values::decode_position(token).ok_or_else(|| {
                    ConnectorError::config(format!("stream `{stream}`: unreadable page token in the checkpoint"))
                })?;
                if let Some(c) = cursor_col {
                    params.push(values::bind_value(d, c, &cursor_value));
                }
                params.push(values::bind_value(d, key, &key_value));
                true
            }
            Some(_) => {
                return Err(ConnectorError::config(format!(
                    "stream `{stream}`: the checkpoint's page token is not a SQL position"
                )))
            }
            None => false,
        };
        let mut since = false;
        if !after {
            if let (Some(from), Some(c), Some(cspec)) = (&state.since, cursor_col, &spec.cursor) {
                let kind = cspec.kind.engine_kind();
                let lower = cursor::since_values(kind, from, cspec.lookback_secs)
                    .map_err(|e| ConnectorError::config(format!("stream `{stream}`: cursor `{from}`: {e}")))?;
                let mut value = lower[0].1.clone();
                if cspec.kind == SqlCursorKind::Integer || cspec.kind == SqlCursorKind::UnixSeconds {
                    if let Some(n) = value.as_str().and_then(|s| s.parse::<i64>().ok()) {
                        value = Value::from(n);
                    }
                }
                if cspec.kind == SqlCursorKind::UnixMillis {
                    if let Some(n) = value.as_str().and_then(|s| s.parse::<i64>().ok()) {
                        value = Value::from(n);
                    }
                }
                params.push(values::bind_value(d, c, &value));
                since = true;
            }
        }
        let sql = d.select_chunk(&dialect::ChunkQuery {
            relation: &relation,
            columns: &columns,
            key,
            cursor: cursor_col,
            after,
            since,
            limit: spec.chunk_size,
        });
        let rows = match &self.pool {
            Pool::Mssql(p) => {
                self.with_mssql(p, &format!("{what}: read"), |c| {
                    Box::pin(async move { sqlserver::fetch(c, &sql, &params).await })
                })
                .await?
            }
            _ => {
                let texts = self
                    .fetch_json(&sql, &params)
                    .await
                    .map_err(|e| self.error(&format!("{what}: read"), &e))?;
                let mut rows = Vec::with_capacity(texts.len());
                for text in texts {
                    rows.push(serde_json::from_str::<Value>(&text).map_err(|_| {
                        ConnectorError::invalid_response(format!("stream `{stream}`: a row did not convert to JSON"))
                    })?);
                }
                rows
            }
        };
        let mut records = Vec::with_capacity(rows.len());
        for mut row in rows {
            values::normalize_row(&columns, &mut row);
            records.push(row);
        }
        let mut max_cursor = state.max_cursor.clone();
        if let (Some(cspec), Some(last)) = (&spec.cursor, records.last()) {
            let kind = cspec.kind.engine_kind();
            if let Some(text) = last.get(&cspec.column).and_then(|v| cursor::from_value(kind, v)) {
                max_cursor = cursor::max(kind, max_cursor, &text);
            }
        }
        let full = records.len() == spec.chunk_size as usize;
        let next = match records.last() {
            Some(last) if full => {
                let key_value = last.get(&spec.primary_key).cloned().unwrap_or(Value::Null);
                let cursor_value = spec
                    .cursor
                    .as_ref()
                    .map(|c| last.get(&c.column).cloned().unwrap_or(Value::Null));
                let token = PageToken::Cursor(values::encode_position(cursor_value.as_ref(), &key_value));
                let mut next = pagination::advance(state, token)
                    .map_err(|e| ConnectorError::new(ErrorClass::Permanent, ErrorKind::Pagination, e.to_string()))?;
                next.max_cursor = max_cursor.clone();
                Some(next)
            }
            _ => None,
        };
        Ok(Page {
            records,
            next,
            max_cursor,
            total: None,
            rejected: Vec::new(),
            gone: Vec::new(),
            deleted: Vec::new(),
        })
    }

    /// One record of `stream` by primary key; `None` when no row has it.
    pub fn fetch_record<'a>(
        &'a self,
        stream: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Value>, ConnectorError>> {
        Box::pin(self.fetch_record_inner(stream, id))
    }

    async fn fetch_record_inner(&self, stream: &str, id: &str) -> Result<Option<Value>, ConnectorError> {
        let spec = self.stream(stream)?;
        let (relation, what) = self.stream_relation(spec);
        let what = format!("stream `{stream}`: {what}");
        let columns = self.columns(&relation, &what).await?;
        let key = self.find(&columns, &spec.primary_key, &what)?;
        let sql = self.dialect.select_one(&relation, &columns, key);
        // An id is text; a numeric key compares as a number in MySQL and SQLite.
        let id_value = match (self.dialect, id.parse::<i64>()) {
            (Dialect::Postgres, _) | (_, Err(_)) => Value::String(id.to_owned()),
            (_, Ok(n)) => Value::from(n),
        };
        let params = [values::bind_value(self.dialect, key, &id_value)];
        if let Pool::Mssql(p) = &self.pool {
            let found = self
                .with_mssql(p, &format!("{what}: fetch"), |c| {
                    Box::pin(async move {
                        match sqlserver::fetch(c, &sql, &params).await {
                            // An id the key's type cannot hold (`abc` for a bigint): no row.
                            Err(e) if matches!(sqlserver::code(&e), Some(245 | 8114 | 8169)) => Ok(Vec::new()),
                            other => other,
                        }
                    })
                })
                .await?;
            return Ok(found.into_iter().next().map(|mut row| {
                values::normalize_row(&columns, &mut row);
                row
            }));
        }
        let rows = match self.fetch_json(&sql, &params).await {
            Ok(rows) => rows,
            // PostgreSQL refuses an id its key type cannot hold (`abc` for a bigint): no row.
            Err(sqlx::Error::Database(e))
                if self.dialect == Dialect::Postgres && e.code().as_deref() == Some("22P02") =>
            {
                return Ok(None)
            }
            Err(e) => return Err(self.error(&format!("{what}: fetch"), &e)),
        };
        match rows.into_iter().next() {
            None => Ok(None),
            Some(text) => {
                let mut row: Value = serde_json::from_str(&text).map_err(|_| {
                    ConnectorError::invalid_response(format!("stream `{stream}`: the row did not convert to JSON"))
                })?;
                values::normalize_row(&columns, &mut row);
                Ok(Some(row))
            }
        }
    }

    async fn fetch_json(&self, sql: &str, params: &[BindValue]) -> Result<Vec<String>, sqlx::Error> {
        match &self.pool {
            Pool::Pg(p) => {
                bind_all!(sqlx::query_scalar::<_, String>(sql), params)
                    .fetch_all(p)
                    .await
            }
            Pool::My(p) => {
                bind_all!(sqlx::query_scalar::<_, String>(sql), params)
                    .fetch_all(p)
                    .await
            }
            Pool::Lite(p) => {
                bind_all!(sqlx::query_scalar::<_, String>(sql), params)
                    .fetch_all(p)
                    .await
            }
            Pool::Mssql(_) => unreachable!("SQL Server rows are read by `sqlserver::fetch`"),
        }
    }

    /// Connects, runs `SELECT 1`, and checks that every stream's and write's table and
    /// columns exist (the error names the missing one).
    pub fn check(&self) -> BoxFuture<'_, Result<CheckReport, ConnectorError>> {
        Box::pin(self.check_inner())
    }

    async fn check_inner(&self) -> Result<CheckReport, ConnectorError> {
        let started = Instant::now();
        let result = match &self.pool {
            Pool::Pg(p) => sqlx::query("SELECT 1").execute(p).await.map(|_| ()),
            Pool::My(p) => sqlx::query("SELECT 1").execute(p).await.map(|_| ()),
            Pool::Lite(p) => sqlx::query("SELECT 1").execute(p).await.map(|_| ()),
            Pool::Mssql(p) => {
                self.with_mssql(p, "the database cannot be reached", |c| {
                    Box::pin(async move { c.simple_query("SELECT 1").await?.into_results().await.map(|_| ()) })
                })
                .await?;
                Ok(())
            }
        };
        result.map_err(|e| self.error("the database cannot be reached", &e))?;
        self.validate_schema().await?;
        Ok(CheckReport {
            status: 200,
            latency: started.elapsed(),
            auth: "database_url",
        })
    }

    /// Every stream's and write's relation and named columns exist.
    pub async fn validate_schema(&self) -> Result<(), ConnectorError> {
        for (name, spec) in &self.spec.streams {
            let (relation, what) = self.stream_relation(spec);
            let what = format!("stream `{name}`: {what}");
            let columns = self.columns(&relation, &what).await?;
            self.find(&columns, &spec.primary_key, &what)?;
            if let Some(c) = &spec.cursor {
                self.find(&columns, &c.column, &what)?;
            }
        }
        for (name, spec) in &self.spec.writes {
            let what = format!("write `{name}`: table `{}`", spec.table);
            let columns = self
                .columns(&self.dialect.table(&spec.table, self.schema.as_deref()), &what)
                .await?;
            for key in &spec.key {
                self.find(&columns, key, &what)?;
            }
            if let Some(id) = &spec.id_column {
                self.find(&columns, id, &what)?;
            }
        }
        Ok(())
    }

    /// Writes `records` (JSON objects: column -> value) with `operation`, `batch_size` per
    /// transaction; one result per record, in order. A record naming a column the table does
    /// not have, or that the database refuses, fails alone (permanently, with the reason);
    /// the others commit. A failure of the database itself (connection, deadlock) in the
    /// first batch is returned as an error with nothing written; in a later batch, that batch
    /// and the rest fail with its class and the earlier batches stay written.
    pub fn write_batch<'a>(
        &'a self,
        operation: &'a str,
        records: &'a [Value],
    ) -> BoxFuture<'a, Result<Vec<WriteResult>, ConnectorError>> {
        Box::pin(self.write_batch_inner(operation, records))
    }

    async fn write_batch_inner(&self, operation: &str, records: &[Value]) -> Result<Vec<WriteResult>, ConnectorError> {
        let spec = self.write_op(operation)?;
        let table = self.dialect.table(&spec.table, self.schema.as_deref());
        let what = format!("write `{operation}`: table `{}`", spec.table);
        let columns = self.columns(&table, &what).await?;
        let on_duplicate_key = self.dialect == Dialect::Mysql
            && !spec.key.is_empty()
            && spec.rows_per_statement > 1
            && self.key_is_only_unique_index(spec).await?;
        let mut results: Vec<Option<WriteResult>> = vec![None; records.len()];
        let mut ready = Vec::new();
        for (index, record) in records.iter().enumerate() {
            match self.prepare_row(spec, &table, &columns, record, on_duplicate_key) {
                Ok(mut row) => {
                    row.index = index;
                    ready.push(row)
                }
                Err(reason) => {
                    results[index] = Some(WriteResult::Failed {
                        reason: format!("record {}: {reason}", index + 1),
                        class: ErrorClass::Permanent,
                    })
                }
            }
        }
        let mut stop: Option<ConnectorError> = None;
        let mut sent_any = false;
        for chunk in ready.chunks(spec.batch_size) {
            if let Some(e) = &stop {
                for row in chunk {
                    results[row.index] = Some(WriteResult::Failed {
                        reason: e.message.clone(),
                        class: e.class,
                    });
                }
                continue;
            }
            // Each batch runs as a task of its own over owned data (the pool is shared): sqlx's
            // transaction executors cannot prove `Send` for every lifetime inside the callers'
            // futures otherwise.
            let steps = batch::plan(self.dialect, &table, &spec.key, chunk.to_vec(), spec.rows_per_statement);
            let (dialect, url) = (self.dialect, self.url.expose_secret().to_owned());
            let rolled_back = format!("{what}: the batch was rolled back");
            let outcome: Result<Vec<WriteResult>, ConnectorError> = match &self.pool {
                Pool::Mssql(p) => {
                    self.with_mssql(p, &rolled_back, |c| {
                        Box::pin(async move { sqlserver::write_chunk(c, &steps, &url).await })
                    })
                    .await
                }
                pool => {
                    let task = match pool {
                        Pool::Pg(p) => tokio::spawn(write_chunk_pg(p.clone(), steps, dialect, url)),
                        Pool::My(p) => tokio::spawn(write_chunk_my(p.clone(), steps, dialect, url)),
                        Pool::Lite(p) => tokio::spawn(write_chunk_lite(p.clone(), steps, dialect, url)),
                        Pool::Mssql(_) => unreachable!("matched above"),
                    };
                    task.await
                        .map_err(|_| sqlx::Error::WorkerCrashed)
                        .and_then(|r| r)
                        .map_err(|e| self.error(&rolled_back, &e))
                }
            };
            match outcome {
                Ok(out) => {
                    for (row, result) in chunk.iter().zip(out) {
                        results[row.index] = Some(result);
                    }
                }
                Err(e) => {
                    if !sent_any {
                        return Err(e);
                    }
                    for row in chunk {
                        results[row.index] = Some(WriteResult::Failed {
                            reason: e.message.clone(),
                            class: e.class,
                        });
                    }
                    stop = Some(e);
                }
            }
            sent_any = true;
        }
        Ok(results
            .into_iter()
            .map(|r| r.expect("every record gets a result"))
            .collect())
    }

    /// MySQL: whether the write's key is the table's only unique index (the primary key or a
    /// unique index over exactly the key's columns, and no other), so that `ON DUPLICATE KEY
    /// UPDATE` can only match on the key. Asked once per client.
    async fn key_is_only_unique_index(&self, spec: &SqlWriteSpec) -> Result<bool, ConnectorError> {
        let cache_key = (spec.table.clone(), spec.key.clone());
        if let Some(hit) = self.key_only_unique.lock().await.get(&cache_key) {
            return Ok(*hit);
        }
        let Pool::My(pool) = &self.pool else { return Ok(false) };
        let (schema, table) = match spec.table.split_once('.') {
            Some((s, t)) => (Some(s.to_owned()), t.to_owned()),
            None => (self.schema.clone(), spec.table.clone()),
        };
        let rows = sqlx::query(
            "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND NON_UNIQUE = 0 \
             ORDER BY INDEX_NAME, SEQ_IN_INDEX",
        )
        .bind(schema)
        .bind(table)
        .fetch_all(pool)
        .await
        .map_err(|e| {
            self.error(
                &format!("write: table `{}`: its unique indexes cannot be read", spec.table),
                &e,
            )
        })?;
        let mut indexes: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
            std::collections::BTreeMap::new();
        for r in &rows {
            let index: String = r.try_get(0).unwrap_or_default();
            let column: String = r.try_get(1).unwrap_or_default();
            indexes.entry(index).or_default().insert(column);
        }
        let key: std::collections::BTreeSet<String> = spec.key.iter().cloned().collect();
        let only = indexes.len() == 1 && indexes.values().all(|cols| *cols == key);
        self.key_only_unique.lock().await.insert(cache_key, only);
        Ok(only)
    }

    /// The statement and parameters writing one record, or why the record is refused: not an
    /// object, empty, naming a column the table does not have, or lacking a key column. With
    /// `on_duplicate_key` (MySQL, whose key is the table's only unique index), an upsert is
    /// one `INSERT ... ON DUPLICATE KEY UPDATE`, which can share a statement.
    fn prepare_row(
        &self,
        spec: &SqlWriteSpec,
        table: &str,
        columns: &[Column],
        record: &Value,
        on_duplicate_key: bool,
    ) -> Result<RowWrite, String> {
        let Value::Object(fields) = record else {
            return Err("the mapped record is not a JSON object of column values".into());
        };
        if fields.is_empty() {
            return Err("the mapped record has no columns".into());
        }
        let mut used = Vec::with_capacity(fields.len());
        let mut params = Vec::with_capacity(fields.len());
        for (name, value) in fields {
            let column = columns.iter().find(|c| &c.name == name).ok_or_else(|| {
                format!(
                    "table `{}` has no column `{}`",
                    spec.table,
                    name.chars().take(64).collect::<String>().escape_debug()
                )
            })?;
            used.push(column);
            params.push(values::bind_value(self.dialect, column, value));
        }
        for key in &spec.key {
            if fields.get(key).is_none_or(Value::is_null) {
                return Err(format!("the key column `{key}` has no value"));
            }
        }
        let id_column = spec.id_column.as_ref().or(spec.key.first());
        let id = id_column.and_then(|c| fields.get(c)).and_then(values::scalar_text);
        let returning = match (id_column, &id) {
            (Some(name), None) => columns.iter().find(|c| &c.name == name),
            _ => None,
        };
        let key = (!spec.key.is_empty()).then(|| {
            spec.key
                .iter()
                .map(|k| fields.get(k).map(|v| v.to_string()).unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\u{1f}")
        });
        let row = |sql: String, params: Vec<BindValue>, update: Option<(String, Vec<BindValue>)>| {
            // A row shares a statement when its result needs nothing back: MySQL's generated
            // id comes from the statement (`last_insert_id`), PostgreSQL's and SQLite's from
            // `RETURNING`, one per row.
            let shareable = update.is_none()
                && match self.dialect {
                    Dialect::Mysql => id.is_some(),
                    Dialect::Postgres | Dialect::Sqlite | Dialect::Sqlserver => returning.is_none(),
                };
            RowWrite {
                index: 0,
                sql,
                params,
                id: id.clone(),
                update,
                columns: used.iter().map(|c| (*c).clone()).collect(),
                key: key.clone(),
                shareable,
            }
        };
        if self.dialect == Dialect::Mysql && !spec.key.is_empty() && !on_duplicate_key {
            let sql = self.dialect.insert(table, &used, &[], returning);
            let mut update_params: Vec<BindValue> = used
                .iter()
                .zip(&params)
                .filter(|(c, _)| !spec.key.contains(&c.name))
                .map(|(_, p)| p.clone())
                .collect();
            for key in &spec.key {
                let column = used.iter().find(|c| &c.name == key).expect("key present");
                update_params.push(values::bind_value(self.dialect, column, &fields[key]));
            }
            let update = self.dialect.update_on_key(table, &used, &spec.key);
            return Ok(row(sql, params, Some((update, update_params))));
        }
        let sql = self.dialect.insert(table, &used, &spec.key, returning);
        Ok(row(sql, params, None))
    }
}

/// The per-engine batch writers: one transaction; each shared statement under a savepoint
/// (refused: its rows again one by one), each single row under a savepoint of its own.
macro_rules! write_chunk {
    ($name:ident, $one:ident, $pool:ty, $conn:ty, $last_id:expr) => {
        async fn $name(
            pool: $pool,
            steps: Vec<Step>,
            dialect: Dialect,
            url: String,
        ) -> Result<Vec<WriteResult>, sqlx::Error> {
            let mut tx = pool.begin().await?;
            let mut out = Vec::new();
            for step in &steps {
                match step {
                    Step::One(row) => out.push($one(&mut tx, row, dialect, &url).await?),
                    Step::Many { sql, params, rows } => {
                        (&mut *tx).execute("SAVEPOINT switchyard_rows").await?;
                        match bind_all!(sqlx::query(sql), params).execute(&mut *tx).await {
                            Ok(_) => {
                                (&mut *tx).execute("RELEASE SAVEPOINT switchyard_rows").await?;
                                out.extend(rows.iter().map(|r| WriteResult::Ok {
                                    destination_id: r.id.clone(),
                                }));
                            }
                            Err(e) if refuses_record(dialect, &e) => {
                                (&mut *tx)
                                    .execute("ROLLBACK TO SAVEPOINT switchyard_rows")
                                    .await?;
                                (&mut *tx).execute("RELEASE SAVEPOINT switchyard_rows").await?;
                                for row in rows {
                                    out.push($one(&mut tx, row, dialect, &url).await?);
                                }
                            }
                            Err(e) => return Err(e),
                        }
                    }
                }
            }
            tx.commit().await?;
            Ok(out)
        }

        /// One row under its own savepoint: written, or refused alone.
        async fn $one(
            conn: &mut $conn,
            row: &RowWrite,
            dialect: Dialect,
            url: &str,
        ) -> Result<WriteResult, sqlx::Error> {
            let refused = |e: &sqlx::Error| WriteResult::Failed {
                reason: format!(
                    "refused by the database: {}",
                    redact::redact(&describe_error(e), url)
                ),
                class: ErrorClass::Permanent,
            };
            (&mut *conn).execute("SAVEPOINT switchyard_record").await?;
            if let Some((update, params)) = &row.update {
                match bind_all!(sqlx::query(update), params).execute(&mut *conn).await {
                    Ok(done) if done.rows_affected() > 0 => {
                        (&mut *conn)
                            .execute("RELEASE SAVEPOINT switchyard_record")
                            .await?;
                        return Ok(WriteResult::Ok {
                            destination_id: row.id.clone(),
                        });
                    }
                    Ok(_) => {}
                    Err(e) if refuses_record(dialect, &e) => {
                        (&mut *conn)
                            .execute("ROLLBACK TO SAVEPOINT switchyard_record")
                            .await?;
                        (&mut *conn)
                            .execute("RELEASE SAVEPOINT switchyard_record")
                            .await?;
                        return Ok(refused(&e));
                    }
                    Err(e) => return Err(e),
                }
            }
            let returning = row.id.is_none() && dialect != Dialect::Mysql && row.sql.contains(" RETURNING ");
            let result: Result<Option<String>, sqlx::Error> = if returning {
                bind_all!(sqlx::query_scalar::<_, String>(&row.sql), &row.params)
                    .fetch_optional(&mut *conn)
                    .await
            } else {
                bind_all!(sqlx::query(&row.sql), &row.params)
                    .execute(&mut *conn)
                    .await
                    .map(|done| {
                        #[allow(clippy::redundant_closure_call)]
                        ($last_id)(&done)
                    })
            };
            match result {
                Ok(returned) => {
                    (&mut *conn)
                        .execute("RELEASE SAVEPOINT switchyard_record")
                        .await?;
                    Ok(WriteResult::Ok {
                        destination_id: row.id.clone().or(returned),
                    })
                }
                Err(e) if refuses_record(dialect, &e) => {
                    (&mut *conn)
                        .execute("ROLLBACK TO SAVEPOINT switchyard_record")
                        .await?;
                    (&mut *conn)
                        .execute("RELEASE SAVEPOINT switchyard_record")
                        .await?;
                    Ok(refused(&e))
                }
                Err(e) => Err(e),
            }
        }
    };
}

write_chunk!(
    write_chunk_pg,
    write_row_pg,
    PgPool,
    sqlx::PgConnection,
    |_: &sqlx::postgres::PgQueryResult| None::<String>
);
write_chunk!(
    write_chunk_my,
    write_row_my,
    MySqlPool,
    sqlx::MySqlConnection,
    |done: &sqlx::mysql::MySqlQueryResult| {
        Some(done.last_insert_id())
            .filter(|id| *id != 0)
            .map(|id| id.to_string())
    }
);
write_chunk!(
    write_chunk_lite,
    write_row_lite,
    SqlitePool,
    sqlx::SqliteConnection,
    |_: &sqlx::sqlite::SqliteQueryResult| None::<String>
);

/// A database error's message (with its SQLSTATE or code), or the error itself.
fn describe_error(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => format!("{} (code {code})", db.message()),
            None => db.message().to_owned(),
        },
        other => other.to_string(),
    }
}

/// Whether the database refused this record (a constraint, a value it cannot store) rather
/// than failing as a whole: the record fails alone and the batch goes on.
fn refuses_record(dialect: Dialect, e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = e else { return false };
    if !matches!(classify(dialect, e).0, ErrorClass::Permanent) {
        return false;
    }
    let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
    match dialect {
        // 22: data exception, 23: integrity constraint, 42804/42P18: a value of the wrong type.
        Dialect::Postgres => code.starts_with("22") || code.starts_with("23") || code.starts_with("428"),
        Dialect::Mysql => code.starts_with("22") || code.starts_with("23") || code == "HY000",
        Dialect::Sqlite => {
            let primary = code.parse::<i64>().map(|c| c & 0xff).unwrap_or(0);
            // CONSTRAINT, MISMATCH, RANGE, TOOBIG
            matches!(primary, 19 | 20 | 25 | 18)
        }
        Dialect::Sqlserver => false,
    }
}

/// The one classification of database failures: connection trouble, deadlocks and timeouts
/// are transient; refused credentials need a person; the rest is permanent.
pub fn classify(dialect: Dialect, e: &sqlx::Error) -> (ErrorClass, ErrorKind) {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => {
            (ErrorClass::Transient, ErrorKind::Network)
        }
        sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => (ErrorClass::Transient, ErrorKind::Network),
        sqlx::Error::Configuration(_) => (ErrorClass::Permanent, ErrorKind::Config),
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let transient = match dialect {
                // 08 connection, 40 rollback (serialization, deadlock), 53 resources,
                // 57 operator intervention (shutdown, statement timeout), 58 system.
                // (SQL Server's errors are tiberius's: `sqlserver::classify`.)
                Dialect::Postgres => ["08", "40", "53", "57", "58"].iter().any(|p| code.starts_with(p)),
                Dialect::Mysql => {
                    let number = db
                        .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                        .map(|m| m.number())
                        .unwrap_or(0);
                    code.starts_with("08")
                        || code.starts_with("40")
                        || matches!(number, 1205 | 1213 | 1040 | 2006 | 2013)
                }
                Dialect::Sqlite => {
                    let primary = code.parse::<i64>().map(|c| c & 0xff).unwrap_or(0);
                    matches!(primary, 5 | 6 | 10 | 13)
                }
                Dialect::Sqlserver => false,
            };
            let reauth = match dialect {
                Dialect::Postgres => code.starts_with("28"),
                Dialect::Mysql => matches!(
                    db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                        .map(|m| m.number()),
                    Some(1045) | Some(1044) | Some(1698)
                ),
                Dialect::Sqlite | Dialect::Sqlserver => false,
            };
            if reauth {
                (ErrorClass::ReAuth, ErrorKind::Credentials)
            } else if transient {
                (ErrorClass::Transient, ErrorKind::Database)
            } else {
                (ErrorClass::Permanent, ErrorKind::Database)
            }
        }
        _ => (ErrorClass::Permanent, ErrorKind::Database),
    }
}

impl super::kind::KindClient for SqlClient {
    fn stream_cursor(&self, stream: &str) -> Option<Option<super::definition::CursorKind>> {
        let spec = self.spec.streams.get(stream)?;
        Some(spec.cursor.as_ref().map(|c| c.kind.engine_kind()))
    }

    fn record_id(&self, stream: &str, record: &Value) -> Option<String> {
        SqlClient::record_id(self, stream, record)
    }

    fn read_page<'a>(&'a self, stream: &'a str, state: &'a StreamState) -> BoxFuture<'a, Result<Page, ConnectorError>> {
        SqlClient::read_page(self, stream, state)
    }

    fn fetch_record<'a>(
        &'a self,
        stream: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Value>, ConnectorError>> {
        SqlClient::fetch_record(self, stream, id)
    }

    fn check(&self) -> BoxFuture<'_, Result<CheckReport, ConnectorError>> {
        SqlClient::check(self)
    }

    fn write_batch<'a>(
        &'a self,
        operation: &'a str,
        records: &'a [Value],
    ) -> BoxFuture<'a, Result<Vec<WriteResult>, ConnectorError>> {
        SqlClient::write_batch(self, operation, records)
    }
}
