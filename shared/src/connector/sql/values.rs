//! Values between JSON records and SQL: rows read as JSON are normalised (date-times to RFC
//! 3339 in UTC, booleans, JSON held as text), record values become bind parameters, and a
//! keyset position travels in the stream state as a page token.

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::format_description::OwnedFormatItem;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

use super::dialect::{Column, ColumnClass, Dialect};

/// A bind parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum BindValue {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
    /// Bytes (SQL Server's binary columns, written from base64 text).
    Bytes(Vec<u8>),
    /// A null for a binary column: SQL Server types every parameter, even a null, and will
    /// not convert a text one into bytes.
    NullBytes,
}

/// A date-time as RFC 3339 in UTC (`2024-05-01T10:00:00.25Z`). Accepts RFC 3339 with any
/// offset, and `YYYY-MM-DD HH:MM:SS[.fraction]` (or with `T`) without one, taken as UTC.
/// `None` for anything else (left as it is by the caller).
pub fn to_rfc3339(text: &str) -> Option<String> {
    let text = text.trim();
    let at = match OffsetDateTime::parse(text, &Rfc3339) {
        Ok(at) => at,
        Err(_) => {
            let t = text.replacen(' ', "T", 1);
            PrimitiveDateTime::parse(&t, naive_format()).ok()?.assume_utc()
        }
    };
    at.to_offset(UtcOffset::UTC).format(&Rfc3339).ok()
}

/// An RFC 3339 (or naive) date-time in MySQL's literal form, UTC: `2024-05-01 10:00:00.250000`.
fn to_mysql_datetime(text: &str) -> Option<String> {
    let utc = to_rfc3339(text)?;
    let at = OffsetDateTime::parse(&utc, &Rfc3339).ok()?;
    at.format(mysql_format()).ok()
}

fn naive_format() -> &'static OwnedFormatItem {
    static FORMAT: std::sync::OnceLock<OwnedFormatItem> = std::sync::OnceLock::new();
    FORMAT.get_or_init(|| {
        time::format_description::parse_owned::<2>(
            "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]",
        )
        .expect("a valid format description")
    })
}

fn mysql_format() -> &'static OwnedFormatItem {
    static FORMAT: std::sync::OnceLock<OwnedFormatItem> = std::sync::OnceLock::new();
    FORMAT.get_or_init(|| {
        time::format_description::parse_owned::<2>("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:6]")
            .expect("a valid format description")
    })
}

/// Normalises a row read as JSON, by its columns' classes.
pub fn normalize_row(columns: &[Column], row: &mut Value) {
    let Value::Object(map) = row else { return };
    for column in columns {
        let Some(value) = map.get_mut(&column.name) else {
            continue;
        };
        match (column.class, &*value) {
            (ColumnClass::Timestamp, Value::String(s)) => {
                if let Some(t) = to_rfc3339(s) {
                    *value = Value::String(t);
                }
            }
            (ColumnClass::Boolean, Value::Number(n)) => {
                if let Some(i) = n.as_i64() {
                    *value = Value::Bool(i != 0);
                }
            }
            (ColumnClass::Json, Value::String(s)) => {
                if let Ok(parsed) = serde_json::from_str::<Value>(s) {
                    *value = parsed;
                }
            }
            _ => {}
        }
    }
}

/// The parameter for `value` stored into (or compared with) `column`. PostgreSQL takes every
/// value as text and casts it to the column's type in the statement (exact for numerics,
/// arrays, JSON); MySQL and SQLite take numbers as numbers, and MySQL date-times in its own
/// literal form.
pub fn bind_value(dialect: Dialect, column: &Column, value: &Value) -> BindValue {
    match (dialect, value) {
        (Dialect::Sqlserver, Value::Null) if column.class == ColumnClass::Binary => BindValue::NullBytes,
        (_, Value::Null) => BindValue::Null,
        (Dialect::Postgres, Value::String(s)) => BindValue::Text(s.clone()),
        (Dialect::Postgres, other) => BindValue::Text(other.to_string()),
        // SQL Server: anything into a text column as text (a number bound as a number would
        // make the server compare the column as numbers).
        (Dialect::Sqlserver, other) if column.class == ColumnClass::Text && !other.is_string() => {
            BindValue::Text(scalar_text(other).unwrap_or_else(|| other.to_string()))
        }
        (_, Value::Bool(b)) => BindValue::Int(i64::from(*b)),
        (_, Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => BindValue::Int(i),
            (None, Some(f)) if n.is_f64() => BindValue::Float(f),
            _ => BindValue::Text(n.to_string()),
        },
        (Dialect::Mysql, Value::String(s)) if column.class == ColumnClass::Timestamp => {
            BindValue::Text(to_mysql_datetime(s).unwrap_or_else(|| s.clone()))
        }
        // SQL Server: a date-time as RFC 3339 in UTC, which the statement reads through
        // `DATETIMEOFFSET`; base64 as bytes (text that is not base64 stays text, which SQL
        // Server refuses for a binary column: the record fails alone).
        (Dialect::Sqlserver, Value::String(s)) if column.class == ColumnClass::Timestamp => {
            BindValue::Text(to_rfc3339(s).unwrap_or_else(|| s.clone()))
        }
        (Dialect::Sqlserver, Value::String(s)) if column.class == ColumnClass::Binary => {
            use base64::Engine as _;
            match base64::engine::general_purpose::STANDARD.decode(s) {
                Ok(bytes) => BindValue::Bytes(bytes),
                Err(_) => BindValue::Text(s.clone()),
            }
        }
        (_, Value::String(s)) => BindValue::Text(s.clone()),
        (_, other) => BindValue::Text(other.to_string()),
    }
}

/// The page token of a keyset position: the last row's cursor value (or null) and key.
pub fn encode_position(cursor: Option<&Value>, key: &Value) -> String {
    serde_json::json!([cursor.cloned().unwrap_or(Value::Null), key]).to_string()
}

/// The keyset position of a page token.
pub fn decode_position(token: &str) -> Option<(Value, Value)> {
    match serde_json::from_str::<Value>(token).ok()? {
        Value::Array(mut pair) if pair.len() == 2 => {
            let key = pair.pop()?;
            let cursor = pair.pop()?;
            Some((cursor, key))
        }
        _ => None,
    }
}

/// A scalar as record-id text.
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn date_times_become_rfc3339_in_utc() {
        assert_eq!(to_rfc3339("2024-05-01T10:00:00+00:00").unwrap(), "2024-05-01T10:00:00Z");
        assert_eq!(
            to_rfc3339("2024-05-01T12:00:00.25+02:00").unwrap(),
            "2024-05-01T10:00:00.25Z"
        );
        assert_eq!(
            to_rfc3339("2024-05-01 10:00:00.000000").unwrap(),
            "2024-05-01T10:00:00Z"
        );
        assert_eq!(
            to_rfc3339("2024-05-01T10:00:00.123456").unwrap(),
            "2024-05-01T10:00:00.123456Z"
        );
        assert_eq!(to_rfc3339("infinity"), None);
        assert_eq!(
            to_mysql_datetime("2024-05-01T12:00:00.25+02:00").unwrap(),
            "2024-05-01 10:00:00.250000"
        );
    }

    #[test]
    fn rows_are_normalised_by_column_class() {
        let d = Dialect::Mysql;
        let columns = vec![
            Column::new(d, "at", "DATETIME"),
            Column::new(d, "ok", "BOOLEAN"),
            Column::new(d, "doc", "JSON"),
            Column::new(d, "n", "BIGINT"),
        ];
        let mut row = json!({"at": "2024-05-01 10:00:00.000000", "ok": 1, "doc": "{\"a\":1}", "n": 5});
        normalize_row(&columns, &mut row);
        assert_eq!(
            row,
            json!({"at": "2024-05-01T10:00:00Z", "ok": true, "doc": {"a": 1}, "n": 5})
        );
    }

    #[test]
    fn values_bind_as_each_engine_takes_them() {
        let pg = Column::new(Dialect::Postgres, "n", "NUMERIC");
        assert_eq!(
            bind_value(Dialect::Postgres, &pg, &json!(12.50)),
            BindValue::Text("12.5".into())
        );
        assert_eq!(
            bind_value(Dialect::Postgres, &pg, &json!({"a": [1]})),
            BindValue::Text("{\"a\":[1]}".into())
        );
        assert_eq!(bind_value(Dialect::Postgres, &pg, &Value::Null), BindValue::Null);
        let at = Column::new(Dialect::Mysql, "at", "DATETIME");
        assert_eq!(
            bind_value(Dialect::Mysql, &at, &json!("2024-05-01T10:00:00Z")),
            BindValue::Text("2024-05-01 10:00:00.000000".into())
        );
        let n = Column::new(Dialect::Sqlite, "n", "INTEGER");
        assert_eq!(bind_value(Dialect::Sqlite, &n, &json!(true)), BindValue::Int(1));
        assert_eq!(bind_value(Dialect::Sqlite, &n, &json!(1.5)), BindValue::Float(1.5));
        let injection = "x'); DROP TABLE t; --";
        assert_eq!(
            bind_value(Dialect::Sqlite, &n, &json!(injection)),
            BindValue::Text(injection.into())
        );
    }

    #[test]
    fn sqlserver_values_bind_by_the_columns_type() {
        let d = Dialect::Sqlserver;
        let at = Column::new(d, "at", "datetime2");
        assert_eq!(
            bind_value(d, &at, &json!("2024-05-01T12:00:00.25+02:00")),
            BindValue::Text("2024-05-01T10:00:00.25Z".into())
        );
        assert_eq!(
            bind_value(d, &at, &json!("2024-05-01 10:00:00")),
            BindValue::Text("2024-05-01T10:00:00Z".into())
        );
        let photo = Column::new(d, "photo", "varbinary");
        assert_eq!(
            bind_value(d, &photo, &json!("AAEC/w==")),
            BindValue::Bytes(vec![0, 1, 2, 255])
        );
        assert_eq!(
            bind_value(d, &photo, &json!("not base64!")),
            BindValue::Text("not base64!".into())
        );
        assert_eq!(bind_value(d, &photo, &Value::Null), BindValue::NullBytes);
        let code = Column::new(d, "code", "nvarchar");
        assert_eq!(bind_value(d, &code, &json!(42)), BindValue::Text("42".into()));
        assert_eq!(bind_value(d, &code, &json!(true)), BindValue::Text("true".into()));
        assert_eq!(bind_value(d, &code, &Value::Null), BindValue::Null);
        let n = Column::new(d, "n", "bigint");
        assert_eq!(bind_value(d, &n, &json!(42)), BindValue::Int(42));
        let ok = Column::new(d, "ok", "bit");
        assert_eq!(bind_value(d, &ok, &json!(true)), BindValue::Int(1));
        let injection = "x'); DROP TABLE t; --";
        assert_eq!(
            bind_value(d, &code, &json!(injection)),
            BindValue::Text(injection.into())
        );
    }

    #[test]
    fn keyset_positions_round_trip() {
        let token = encode_position(Some(&json!("2024-05-01T10:00:00Z")), &json!(42));
        assert_eq!(
            decode_position(&token),
            Some((json!("2024-05-01T10:00:00Z"), json!(42)))
        );
        assert_eq!(decode_position("[1]"), None);
        assert_eq!(decode_position("nope"), None);
    }
}
