//! SQL Server through tiberius (TDS over tokio, rustls): the connection URL, a small pool of
//! connections kept across warm invocations, rows decoded to JSON by their SQL Server types,
//! a batch written in one transaction with savepoints, and the classification of its errors.
//! The statement text comes from [`super::dialect`] like every dialect's.
//!
//! Not run against a server: no SQL Server runs on this project's machines. The statements,
//! the row decoding and the error classification are unit-tested; the wire conversation is
//! tiberius's.

use std::time::Duration;

use serde_json::{Map, Number, Value};
use tiberius::{Client, ColumnData, ColumnType, Config, FromSql, Row, ToSql};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, MutexGuard};
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use super::batch::{RowWrite, Step};
use super::dialect::{Column, Dialect};
use super::redact;
use super::values::BindValue;
use crate::connector::errors::{ErrorClass, ErrorKind};
use crate::connector::write::WriteResult;

/// One TDS connection.
pub(crate) type Conn = Client<Compat<TcpStream>>;

/// The connection settings from the secret's URL: the JDBC form tiberius parses, with or
/// without its `jdbc:` prefix (`sqlserver://host:1433;database=crm;user=sync;password={...}`).
/// Encryption is required unless the URL says `encrypt=false`; the server's certificate is
/// checked against the system's roots unless it says `trustServerCertificate=true`.
pub(crate) fn parse_url(url: &str) -> Result<Config, tiberius::error::Error> {
    let url = url.trim();
    let jdbc = if url.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("jdbc:")) {
        url.to_owned()
    } else {
        format!("jdbc:{url}")
    };
    Config::from_jdbc_string(&jdbc)
}

/// `pool_size` connections, each opened on first use and kept until it fails.
pub(crate) struct MssqlPool {
    config: Config,
    slots: Vec<Mutex<Option<Conn>>>,
    timeout: Duration,
}

impl MssqlPool {
    pub(crate) fn new(mut config: Config, size: u32, timeout: Duration) -> Self {
        config.application_name("switchyard");
        Self {
            config,
            slots: (0..size.max(1)).map(|_| Mutex::new(None)).collect(),
            timeout,
        }
    }

    /// A free connection (opened if needed); when every one is busy, the first slot once it
    /// is free (waiting at most the connect timeout).
    pub(crate) async fn acquire(&self) -> Result<MutexGuard<'_, Option<Conn>>, tiberius::error::Error> {
        let mut guard = match self.slots.iter().find_map(|s| s.try_lock().ok()) {
            Some(guard) => guard,
            None => tokio::time::timeout(self.timeout, self.slots[0].lock())
                .await
                .map_err(|_| io_error(std::io::ErrorKind::TimedOut, "no free connection in the pool"))?,
        };
        if guard.is_none() {
            let connect = async {
                let tcp = TcpStream::connect(self.config.get_addr()).await?;
                tcp.set_nodelay(true)?;
                Client::connect(self.config.clone(), tcp.compat_write()).await
            };
            let conn = tokio::time::timeout(self.timeout, connect)
                .await
                .map_err(|_| io_error(std::io::ErrorKind::TimedOut, "connecting timed out"))??;
            *guard = Some(conn);
        }
        Ok(guard)
    }
}

fn io_error(kind: std::io::ErrorKind, message: &str) -> tiberius::error::Error {
    tiberius::error::Error::Io {
        kind,
        message: message.to_owned(),
    }
}

/// Whether the connection is unusable after `e` (it is dropped and opened again next time).
pub(crate) fn breaks_connection(e: &tiberius::error::Error) -> bool {
    use tiberius::error::Error as E;
    matches!(e, E::Io { .. } | E::Protocol(_) | E::Tls(_) | E::Routing { .. })
}

/// The parameters of a statement, as tiberius takes them.
fn params(values: &[BindValue]) -> Vec<&dyn ToSql> {
    values
        .iter()
        .map(|v| match v {
            BindValue::Null => &None::<&str> as &dyn ToSql,
            BindValue::Int(i) => i as &dyn ToSql,
            BindValue::Float(f) => f as &dyn ToSql,
            BindValue::Text(s) => s as &dyn ToSql,
            BindValue::Bytes(b) => b as &dyn ToSql,
            BindValue::NullBytes => &None::<&[u8]> as &dyn ToSql,
        })
        .collect()
}

/// Rows of a query, each decoded to a JSON object.
pub(crate) async fn fetch(
    conn: &mut Conn,
    sql: &str,
    values: &[BindValue],
) -> Result<Vec<Value>, tiberius::error::Error> {
    let p = params(values);
    let rows = conn.query(sql, &p).await?.into_first_result().await?;
    Ok(rows.iter().map(row_json).collect())
}

/// The columns of a table from `INFORMATION_SCHEMA.COLUMNS` (empty: no such table).
pub(crate) async fn table_columns(
    conn: &mut Conn,
    schema: Option<&str>,
    table: &str,
) -> Result<Vec<Column>, tiberius::error::Error> {
    let p: [&dyn ToSql; 2] = [&schema, &table];
    let rows = conn
        .query(Dialect::Sqlserver.columns_sql(), &p)
        .await?
        .into_first_result()
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let name: &str = r.get(0)?;
            let ty: &str = r.get(1)?;
            Some(Column::new(Dialect::Sqlserver, name, ty))
        })
        .collect())
}

/// The columns of a query's result, from the metadata of `describe_sql` (no row read).
pub(crate) async fn query_columns(conn: &mut Conn, sql: &str) -> Result<Vec<Column>, tiberius::error::Error> {
    let mut stream = conn.query(sql, &[]).await?;
    let columns = stream
        .columns()
        .await?
        .map(|cols| {
            cols.iter()
                .map(|c| Column::new(Dialect::Sqlserver, c.name(), type_name(c.column_type())))
                .collect()
        })
        .unwrap_or_default();
    stream.into_results().await?;
    Ok(columns)
}

/// The SQL Server type name of a result column's wire type.
pub(crate) fn type_name(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Bit | ColumnType::Bitn => "bit",
        ColumnType::Int1 => "tinyint",
        ColumnType::Int2 => "smallint",
        ColumnType::Int4 | ColumnType::Intn => "int",
        ColumnType::Int8 => "bigint",
        ColumnType::Float4 => "real",
        ColumnType::Float8 | ColumnType::Floatn => "float",
        ColumnType::Money | ColumnType::Money4 => "money",
        ColumnType::Decimaln | ColumnType::Numericn => "decimal",
        ColumnType::Datetime | ColumnType::Datetimen => "datetime",
        ColumnType::Datetime4 => "smalldatetime",
        ColumnType::Datetime2 => "datetime2",
        ColumnType::DatetimeOffsetn => "datetimeoffset",
        ColumnType::Daten => "date",
        ColumnType::Timen => "time",
        ColumnType::Guid => "uniqueidentifier",
        ColumnType::BigVarBin | ColumnType::BigBinary | ColumnType::Image => "varbinary",
        ColumnType::BigVarChar | ColumnType::BigChar | ColumnType::Text => "varchar",
        ColumnType::NVarchar | ColumnType::NChar | ColumnType::NText => "nvarchar",
        ColumnType::Xml => "xml",
        ColumnType::Null | ColumnType::Udt | ColumnType::SSVariant => "sql_variant",
    }
}

/// A row as a JSON object, column name to [`cell_json`].
pub(crate) fn row_json(row: &Row) -> Value {
    let mut out = Map::new();
    for (column, data) in row.cells() {
        out.insert(column.name().to_owned(), cell_json(data));
    }
    Value::Object(out)
}

/// One value as JSON, by its SQL Server type:
/// * integers, `real`, `float`, `money` as numbers; `bit` as `true`/`false`;
/// * `decimal`/`numeric` as a number when the number reads back as the same decimal, else
///   as its exact decimal text (a JSON number would round it);
/// * `datetime2`, `datetime`, `smalldatetime` as RFC 3339 taken as UTC (they carry no
///   offset), `datetimeoffset` as RFC 3339 converted to UTC, `date` as `YYYY-MM-DD`, `time`
///   as `HH:MM:SS[.fraction]`;
/// * `uniqueidentifier` as upper-case hyphenated text (SQL Server's own form);
/// * `char`, `varchar`, `nchar`, `nvarchar`, `text`, `ntext`, `xml` as strings;
/// * `binary`, `varbinary`, `image` (and `rowversion`) as standard base64.
pub(crate) fn cell_json(data: &ColumnData<'static>) -> Value {
    use time::format_description::well_known::Rfc3339;
    let rfc3339 = |at: time::OffsetDateTime| {
        at.to_offset(time::UtcOffset::UTC)
            .format(&Rfc3339)
            .map(Value::String)
            .unwrap_or(Value::Null)
    };
    match data {
        ColumnData::U8(v) => v.map(Value::from).unwrap_or(Value::Null),
        ColumnData::I16(v) => v.map(Value::from).unwrap_or(Value::Null),
        ColumnData::I32(v) => v.map(Value::from).unwrap_or(Value::Null),
        ColumnData::I64(v) => v.map(Value::from).unwrap_or(Value::Null),
        // A `real` through its shortest decimal text, so 0.1 stays 0.1.
        ColumnData::F32(v) => v
            .and_then(|f| f.to_string().parse::<f64>().ok())
            .and_then(Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        ColumnData::F64(v) => v.and_then(Number::from_f64).map(Value::Number).unwrap_or(Value::Null),
        ColumnData::Bit(v) => v.map(Value::Bool).unwrap_or(Value::Null),
        ColumnData::String(v) => v.as_ref().map(|s| Value::String(s.to_string())).unwrap_or(Value::Null),
        ColumnData::Guid(v) => v
            .map(|u| Value::String(u.hyphenated().to_string().to_ascii_uppercase()))
            .unwrap_or(Value::Null),
        ColumnData::Binary(v) => v
            .as_ref()
            .map(|b| {
                use base64::Engine as _;
                Value::String(base64::engine::general_purpose::STANDARD.encode(b))
            })
            .unwrap_or(Value::Null),
        ColumnData::Numeric(v) => v.map(decimal_json).unwrap_or(Value::Null),
        ColumnData::Xml(v) => v.as_ref().map(|x| Value::String(x.to_string())).unwrap_or(Value::Null),
        ColumnData::DateTime(_) | ColumnData::SmallDateTime(_) | ColumnData::DateTime2(_) => {
            match time::PrimitiveDateTime::from_sql(data) {
                Ok(Some(at)) => rfc3339(at.assume_utc()),
                _ => Value::Null,
            }
        }
        ColumnData::DateTimeOffset(_) => match time::OffsetDateTime::from_sql(data) {
            Ok(Some(at)) => rfc3339(at),
            _ => Value::Null,
        },
        ColumnData::Date(_) => match time::Date::from_sql(data) {
            Ok(Some(d)) => Value::String(d.to_string()),
            _ => Value::Null,
        },
        ColumnData::Time(_) => match time::Time::from_sql(data) {
            Ok(Some(t)) => Value::String(time_text(t)),
            _ => Value::Null,
        },
    }
}

/// `HH:MM:SS`, with the fraction's digits when there is one.
fn time_text(t: time::Time) -> String {
    let mut out = format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second());
    if t.nanosecond() != 0 {
        let fraction = format!("{:09}", t.nanosecond());
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out
}

/// A decimal as a JSON number when it reads back as the same decimal, else its exact text.
fn decimal_json(n: tiberius::numeric::Numeric) -> Value {
    let text = n.to_string();
    if n.scale() == 0 {
        return match i64::try_from(n.value()) {
            Ok(i) => Value::from(i),
            // tiberius writes a scale of 0 with a `.0`: the integer's own digits instead.
            Err(_) => Value::String(n.value().to_string()),
        };
    }
    let trim = |t: &str| t.trim_end_matches('0').trim_end_matches('.').to_owned();
    let exact = trim(&text);
    match text.parse::<f64>().ok().and_then(Number::from_f64) {
        Some(number) if trim(&number.to_string()) == exact => Value::Number(number),
        _ => Value::String(text),
    }
}

/// The error number of a server error, if it is one.
pub(crate) fn code(e: &tiberius::error::Error) -> Option<u32> {
    match e {
        tiberius::error::Error::Server(t) => Some(t.code()),
        _ => None,
    }
}

/// The one classification of SQL Server failures: connection trouble, deadlocks, lock and
/// resource timeouts and failover are transient; a refused login needs a person; a record the
/// server refuses, and the rest, are permanent.
pub(crate) fn classify(e: &tiberius::error::Error) -> (ErrorClass, ErrorKind) {
    use tiberius::error::Error as E;
    match e {
        E::Io { .. } | E::Protocol(_) | E::Routing { .. } => (ErrorClass::Transient, ErrorKind::Network),
        E::Tls(_) => (ErrorClass::Permanent, ErrorKind::Config),
        E::Server(t) => classify_code(t.code()),
        _ => (ErrorClass::Permanent, ErrorKind::Database),
    }
}

/// A server error by its number.
fn classify_code(code: u32) -> (ErrorClass, ErrorKind) {
    match code {
        // 18456 login failed, 18486/18487/18488 locked, expired or must change, 4060 the
        // database cannot be opened with this login.
        18456 | 18486 | 18487 | 18488 | 4060 => (ErrorClass::ReAuth, ErrorKind::Credentials),
        // 1205 deadlock victim, 1222 lock timeout, 8645/8651 memory, 40197/40501/40613/49918/
        // 49919/49920 Azure SQL busy or failing over, 4221 secondary not ready, 233 and
        // 10053/10054 transport, 3960 snapshot update conflict.
        1205 | 1222 | 8645 | 8651 | 40197 | 40501 | 40613 | 49918 | 49919 | 49920 | 4221 | 233 | 10053 | 10054
        | 3960 => (ErrorClass::Transient, ErrorKind::Database),
        _ => (ErrorClass::Permanent, ErrorKind::Database),
    }
}

/// Whether the server refused this record (a constraint, a value its column cannot hold)
/// rather than failing as a whole: the record fails alone and the batch goes on.
pub(crate) fn refuses_record(e: &tiberius::error::Error) -> bool {
    code(e).is_some_and(refuses_code)
}

fn refuses_code(code: u32) -> bool {
    matches!(
        Some(code),
        // 2627/2601 unique key, 515 null into not-null, 547 foreign key or check constraint,
        // 8152/2628 string truncated, 245/8114/8115/220/232/241/242/295/8169 a value the
        // type cannot hold (conversion, overflow, date-time out of range, not a GUID), 257
        // text into a binary column, 544 explicit value into an identity column.
        Some(
            2627 | 2601 | 515 | 547 | 8152 | 2628 | 245 | 8114 | 8115 | 220 | 232 | 241 | 242 | 295 | 8169 | 257 | 544
        )
    )
}

/// A server error's message with its number, or the error itself.
pub(crate) fn describe(e: &tiberius::error::Error) -> String {
    match e {
        tiberius::error::Error::Server(t) => format!("{} (error {})", t.message(), t.code()),
        other => other.to_string(),
    }
}

/// Writes one batch's steps in one transaction: each shared statement under a savepoint
/// (refused for one of its rows: rolled back and its rows written one by one), each single
/// row under a savepoint of its own. An error that is not one record's fails the batch, which
/// is rolled back.
pub(crate) async fn write_chunk(
    conn: &mut Conn,
    steps: &[Step],
    url: &str,
) -> Result<Vec<WriteResult>, tiberius::error::Error> {
    conn.simple_query("SET XACT_ABORT OFF; BEGIN TRANSACTION")
        .await?
        .into_results()
        .await?;
    match write_steps(conn, steps, url).await {
        Ok(out) => {
            conn.simple_query("COMMIT TRANSACTION").await?.into_results().await?;
            Ok(out)
        }
        Err(e) => {
            if !breaks_connection(&e) {
                // The server may have ended the transaction already (a deadlock does).
                if let Ok(stream) = conn.simple_query("IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION").await {
                    let _ = stream.into_results().await;
                }
            }
            Err(e)
        }
    }
}

async fn write_steps(conn: &mut Conn, steps: &[Step], url: &str) -> Result<Vec<WriteResult>, tiberius::error::Error> {
    let d = Dialect::Sqlserver;
    let mut out = Vec::new();
    for step in steps {
        match step {
            Step::One(row) => out.push(write_row(conn, row, url).await?),
            Step::Many {
                sql,
                params: values,
                rows,
            } => {
                conn.simple_query(d.savepoint("switchyard_rows"))
                    .await?
                    .into_results()
                    .await?;
                let p = params(values);
                let result = conn.execute(sql.as_str(), &p).await;
                match result {
                    Ok(_) => out.extend(rows.iter().map(|r| WriteResult::Ok {
                        destination_id: r.id.clone(),
                    })),
                    Err(e) if refuses_record(&e) => {
                        conn.simple_query(d.rollback_to("switchyard_rows"))
                            .await?
                            .into_results()
                            .await?;
                        for row in rows {
                            out.push(write_row(conn, row, url).await?);
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(out)
}

/// One row under its own savepoint: written (with the id an `OUTPUT` clause returns), or
/// refused alone.
async fn write_row(conn: &mut Conn, row: &RowWrite, url: &str) -> Result<WriteResult, tiberius::error::Error> {
    let d = Dialect::Sqlserver;
    conn.simple_query(d.savepoint("switchyard_record"))
        .await?
        .into_results()
        .await?;
    let p = params(&row.params);
    let result: Result<Option<String>, tiberius::error::Error> = if row.sql.contains(" OUTPUT ") {
        match conn.query(row.sql.as_str(), &p).await {
            Ok(stream) => stream
                .into_row()
                .await
                .map(|r| r.and_then(|r| r.get::<&str, _>(0).map(str::to_owned))),
            Err(e) => Err(e),
        }
    } else {
        conn.execute(row.sql.as_str(), &p).await.map(|_| None)
    };
    match result {
        Ok(returned) => Ok(WriteResult::Ok {
            destination_id: row.id.clone().or(returned),
        }),
        Err(e) if refuses_record(&e) => {
            conn.simple_query(d.rollback_to("switchyard_record"))
                .await?
                .into_results()
                .await?;
            Ok(WriteResult::Failed {
                reason: format!("refused by the database: {}", redact::redact(&describe(&e), url)),
                class: ErrorClass::Permanent,
            })
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use serde_json::json;
    use tiberius::numeric::Numeric;
    use tiberius::Uuid;
    use time::macros::{date, datetime, time};

    use super::*;

    fn cell(v: impl ToSql) -> ColumnData<'static> {
        match v.to_sql() {
            ColumnData::String(s) => ColumnData::String(s.map(|s| Cow::Owned(s.into_owned()))),
            ColumnData::Binary(b) => ColumnData::Binary(b.map(|b| Cow::Owned(b.into_owned()))),
            ColumnData::Xml(_) => unreachable!("not built here"),
            ColumnData::U8(x) => ColumnData::U8(x),
            ColumnData::I16(x) => ColumnData::I16(x),
            ColumnData::I32(x) => ColumnData::I32(x),
            ColumnData::I64(x) => ColumnData::I64(x),
            ColumnData::F32(x) => ColumnData::F32(x),
            ColumnData::F64(x) => ColumnData::F64(x),
            ColumnData::Bit(x) => ColumnData::Bit(x),
            ColumnData::Guid(x) => ColumnData::Guid(x),
            ColumnData::Numeric(x) => ColumnData::Numeric(x),
            ColumnData::DateTime(x) => ColumnData::DateTime(x),
            ColumnData::SmallDateTime(x) => ColumnData::SmallDateTime(x),
            ColumnData::Time(x) => ColumnData::Time(x),
            ColumnData::Date(x) => ColumnData::Date(x),
            ColumnData::DateTime2(x) => ColumnData::DateTime2(x),
            ColumnData::DateTimeOffset(x) => ColumnData::DateTimeOffset(x),
        }
    }

    #[test]
    fn rows_decode_to_json_by_sql_server_type() {
        let guid = Uuid::parse_str("6f9619ff-8b86-d011-b42d-00c04fc964ff").expect("a GUID");
        let row = Row::builder()
            .column("id", ColumnType::Int8, cell(42i64))
            .column("small", ColumnType::Int2, cell(-7i16))
            .column("tiny", ColumnType::Int1, ColumnData::U8(Some(255)))
            .column("ok", ColumnType::Bitn, cell(true))
            .column("price", ColumnType::Decimaln, cell(Numeric::new_with_scale(1250, 2)))
            .column(
                "huge",
                ColumnType::Decimaln,
                cell(Numeric::new_with_scale(12_345_678_901_234_567_890_123_456_789i128, 4)),
            )
            .column("ratio", ColumnType::Float4, cell(0.1f32))
            .column("name", ColumnType::NVarchar, cell("Ada ]; DROP TABLE t; --"))
            .column(
                "updated_at",
                ColumnType::Datetime2,
                cell(datetime!(2024-05-01 10:00:00.25)),
            )
            .column(
                "seen_at",
                ColumnType::DatetimeOffsetn,
                cell(datetime!(2024-05-01 12:00:00 +02:00)),
            )
            .column("born", ColumnType::Daten, cell(date!(1815 - 12 - 10)))
            .column("opens", ColumnType::Timen, cell(time!(09:30:00.5)))
            .column("uid", ColumnType::Guid, cell(guid))
            .column("photo", ColumnType::BigVarBin, cell(vec![0u8, 1, 2, 255]))
            .column("missing", ColumnType::NVarchar, ColumnData::String(None))
            .column("no_time", ColumnType::Datetime2, ColumnData::DateTime2(None))
            .build();
        assert_eq!(
            row_json(&row),
            json!({
                "id": 42,
                "small": -7,
                "tiny": 255,
                "ok": true,
                "price": 12.5,
                "huge": "1234567890123456789012345.6789",
                "ratio": 0.1,
                "name": "Ada ]; DROP TABLE t; --",
                "updated_at": "2024-05-01T10:00:00.25Z",
                "seen_at": "2024-05-01T10:00:00Z",
                "born": "1815-12-10",
                "opens": "09:30:00.5",
                "uid": "6F9619FF-8B86-D011-B42D-00C04FC964FF",
                "photo": "AAEC/w==",
                "missing": null,
                "no_time": null
            })
        );
        // A legacy `datetime` decodes too (to its 1/300 s precision).
        let legacy = ColumnData::DateTime(Some(tiberius::time::DateTime::new(45_411, 300 * 3600)));
        assert_eq!(cell_json(&legacy), json!("2024-05-01T01:00:00Z"));
    }

    #[test]
    fn decimals_stay_exact() {
        assert_eq!(decimal_json(Numeric::new_with_scale(5, 0)), json!(5));
        assert_eq!(decimal_json(Numeric::new_with_scale(-1999, 3)), json!(-1.999));
        assert_eq!(decimal_json(Numeric::new_with_scale(1000, 2)), json!(10.0));
        assert_eq!(
            decimal_json(Numeric::new_with_scale(i128::from(i64::MAX) * 10, 0)),
            json!("92233720368547758070")
        );
        assert_eq!(
            decimal_json(Numeric::new_with_scale(1_234_567_890_123_456_789, 2)),
            json!("12345678901234567.89"),
            "19 significant digits do not fit a double"
        );
    }

    #[test]
    fn result_column_types_map_to_classes() {
        let class = |t| Column::new(Dialect::Sqlserver, "c", type_name(t)).class;
        use super::super::dialect::ColumnClass as C;
        assert_eq!(class(ColumnType::Datetime2), C::Timestamp);
        assert_eq!(class(ColumnType::DatetimeOffsetn), C::Timestamp);
        assert_eq!(class(ColumnType::Datetimen), C::Timestamp);
        assert_eq!(class(ColumnType::Bitn), C::Boolean);
        assert_eq!(class(ColumnType::BigVarBin), C::Binary);
        assert_eq!(class(ColumnType::NVarchar), C::Text);
        assert_eq!(class(ColumnType::Int8), C::Other);
    }

    #[test]
    fn the_url_is_the_jdbc_form_with_or_without_its_prefix() {
        let c = parse_url("sqlserver://db.internal:1444;database=crm;user=sync;password={p@ss;word}").expect("parses");
        assert_eq!(c.get_addr(), "db.internal:1444");
        let c = parse_url("jdbc:sqlserver://db.internal;databaseName=crm;user=sync;password=x;encrypt=true")
            .expect("parses");
        assert_eq!(c.get_addr(), "db.internal:1433");
        assert!(parse_url("sqlserver://db;encrypt=maybe").is_err());
    }

    #[test]
    fn errors_are_classified_by_number() {
        use tiberius::error::Error as E;
        let io = E::Io {
            kind: std::io::ErrorKind::ConnectionReset,
            message: "reset".into(),
        };
        assert_eq!(classify(&io), (ErrorClass::Transient, ErrorKind::Network));
        assert!(breaks_connection(&io));
        assert!(!refuses_record(&io));
        assert_eq!(
            classify(&E::Tls("unknown issuer".into())),
            (ErrorClass::Permanent, ErrorKind::Config)
        );
        assert_eq!(classify_code(18456), (ErrorClass::ReAuth, ErrorKind::Credentials));
        assert_eq!(classify_code(1205), (ErrorClass::Transient, ErrorKind::Database));
        assert_eq!(classify_code(40613), (ErrorClass::Transient, ErrorKind::Database));
        assert_eq!(
            classify_code(208),
            (ErrorClass::Permanent, ErrorKind::Database),
            "no such table"
        );
        for refused in [2627, 2601, 515, 547, 8152, 2628, 245, 8114, 257] {
            assert!(refuses_code(refused), "{refused}");
            assert_eq!(classify_code(refused).0, ErrorClass::Permanent);
        }
        for whole in [208, 207, 1205, 18456, 102] {
            assert!(!refuses_code(whole), "{whole} fails the batch, not one record");
        }
    }
}
