//! What differs between PostgreSQL, MySQL/MariaDB, SQLite and SQL Server: identifier quoting,
//! parameter placeholders, the row-to-JSON expression (SQL Server: the column list, decoded by
//! the client), keyset conditions, row limits and upsert syntax. Pure
//! functions building statement text; every value is a parameter, every identifier is checked
//! ([`check_identifier`]) or comes from the database's own catalogue, and is quoted.

use serde::{Deserialize, Serialize};

/// The database engine a `kind: sql` connector talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    Postgres,
    /// MySQL and MariaDB.
    Mysql,
    Sqlite,
    /// Microsoft SQL Server (and Azure SQL), through tiberius.
    Sqlserver,
}

/// Longest identifier accepted from a definition, a flow or a record (PostgreSQL's limit).
pub const MAX_IDENTIFIER_LEN: usize = 63;

/// Checks an identifier from a definition, a flow or a record: `[A-Za-z_][A-Za-z0-9_]*`, at
/// most 63 bytes; with `qualified`, `schema.name` is accepted too.
pub fn check_identifier(name: &str, qualified: bool) -> Result<(), String> {
    let parts: Vec<&str> = if qualified {
        name.splitn(2, '.').collect()
    } else {
        vec![name]
    };
    for part in parts {
        let mut bytes = part.bytes();
        let ok = matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
            && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && part.len() <= MAX_IDENTIFIER_LEN;
        if !ok {
            return Err(format!(
                "`{}` is not a plain SQL identifier (letters, digits and `_`, not starting with a digit, at most {MAX_IDENTIFIER_LEN} characters{})",
                name.escape_debug(),
                if qualified { ", optionally `schema.name`" } else { "" }
            ));
        }
    }
    Ok(())
}

/// What a column's type means for reading and binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnClass {
    /// A date-time: read as RFC 3339 in UTC.
    Timestamp,
    /// A boolean (MySQL's `TINYINT(1)`, SQLite's `BOOLEAN` affinity): read as `true`/`false`.
    Boolean,
    /// JSON: read as JSON, not as text.
    Json,
    /// Bytes (SQL Server's `varbinary`, `binary`, `image`): read as base64 text, written from
    /// base64 text.
    Binary,
    /// Text (SQL Server's `char`, `varchar`, `nchar`, `nvarchar`, `text`, `ntext`): a number
    /// written to it is bound as text, so a comparison never converts the column to a number.
    Text,
    Other,
}

/// A column of a table or query, as the database describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// The database's type name (`TIMESTAMPTZ`, `DATETIME`, `TEXT`).
    pub type_name: String,
    pub class: ColumnClass,
}

impl Column {
    pub fn new(dialect: Dialect, name: impl Into<String>, type_name: impl Into<String>) -> Self {
        let mut type_name = type_name.into();
        let upper = type_name.to_ascii_uppercase();
        if dialect == Dialect::Postgres && upper == "CHAR" {
            // `CAST(x AS CHAR)` is char(1); the column's own length applies when it is stored.
            type_name = "BPCHAR".into();
        }
        if !type_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b' ' | b'[' | b']'))
        {
            // A catalogue type name with unusual characters is used quoted.
            type_name = dialect.quote(&type_name);
        }
        let class = match dialect {
            Dialect::Postgres => match upper.as_str() {
                "TIMESTAMPTZ" | "TIMESTAMP" => ColumnClass::Timestamp,
                "BOOL" => ColumnClass::Boolean,
                "JSON" | "JSONB" => ColumnClass::Json,
                _ => ColumnClass::Other,
            },
            Dialect::Mysql => match upper.as_str() {
                "DATETIME" | "TIMESTAMP" => ColumnClass::Timestamp,
                "BOOLEAN" => ColumnClass::Boolean,
                "JSON" => ColumnClass::Json,
                _ => ColumnClass::Other,
            },
            Dialect::Sqlite => {
                if upper.contains("TIMESTAMP") || upper.contains("DATETIME") {
                    ColumnClass::Timestamp
                } else if upper.contains("BOOL") {
                    ColumnClass::Boolean
                } else if upper.contains("JSON") {
                    ColumnClass::Json
                } else {
                    ColumnClass::Other
                }
            }
            Dialect::Sqlserver => match upper.as_str() {
                "DATETIME2" | "DATETIME" | "SMALLDATETIME" | "DATETIMEOFFSET" => ColumnClass::Timestamp,
                "BIT" => ColumnClass::Boolean,
                "VARBINARY" | "BINARY" | "IMAGE" | "TIMESTAMP" | "ROWVERSION" => ColumnClass::Binary,
                "CHAR" | "VARCHAR" | "NCHAR" | "NVARCHAR" | "TEXT" | "NTEXT" | "SYSNAME" => ColumnClass::Text,
                "JSON" => ColumnClass::Json,
                _ => ColumnClass::Other,
            },
        };
        Self {
            name: name.into(),
            type_name,
            class,
        }
    }
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
            Dialect::Sqlite => "sqlite",
            Dialect::Sqlserver => "sqlserver",
        }
    }

    /// Whether a connection URL is for this engine (by its scheme).
    pub fn accepts_url(self, url: &str) -> bool {
        let scheme = url.split(':').next().unwrap_or_default().to_ascii_lowercase();
        match self {
            Dialect::Postgres => scheme == "postgres" || scheme == "postgresql",
            Dialect::Mysql => scheme == "mysql" || scheme == "mariadb",
            Dialect::Sqlite => scheme == "sqlite",
            // The JDBC form tiberius parses, with or without its `jdbc:` prefix.
            Dialect::Sqlserver => {
                scheme == "sqlserver"
                    || (scheme == "jdbc" && url.get(5..15).is_some_and(|s| s.eq_ignore_ascii_case("sqlserver:")))
            }
        }
    }

    /// One identifier, quoted (a quote character inside is doubled, so even a name from the
    /// catalogue cannot end the quoting).
    pub fn quote(self, name: &str) -> String {
        let (open, close) = match self {
            Dialect::Mysql => ('`', '`'),
            Dialect::Postgres | Dialect::Sqlite => ('"', '"'),
            Dialect::Sqlserver => ('[', ']'),
        };
        let mut out = String::with_capacity(name.len() + 2);
        out.push(open);
        for c in name.chars() {
            if c == close {
                out.push(close);
            }
            out.push(c);
        }
        out.push(close);
        out
    }

    /// A string literal (for JSON object keys naming catalogue columns).
    fn literal(self, text: &str) -> String {
        let mut out = String::from("'");
        for c in text.chars() {
            match c {
                '\'' => out.push_str("''"),
                '\\' if self == Dialect::Mysql => out.push_str("\\\\"),
                c => out.push(c),
            }
        }
        out.push('\'');
        out
    }

    /// A table name from a definition (`table` or `schema.table`, checked), qualified with
    /// the connection's `schema` when it has none, and quoted.
    pub fn table(self, table: &str, schema: Option<&str>) -> String {
        match table.split_once('.') {
            Some((s, t)) => format!("{}.{}", self.quote(s), self.quote(t)),
            None => match schema {
                Some(s) if self != Dialect::Sqlite => format!("{}.{}", self.quote(s), self.quote(table)),
                _ => self.quote(table),
            },
        }
    }

    /// The relation a stream reads: a quoted table, or a query as a subquery.
    pub fn relation(self, table: Option<&str>, query: Option<&str>, schema: Option<&str>) -> String {
        match (table, query) {
            (Some(t), _) => self.table(t, schema),
            (None, Some(q)) => format!("({q})"),
            (None, None) => String::from("(SELECT 1)"),
        }
    }

    /// The statement that describes a relation's columns without reading a row.
    pub fn describe_sql(self, relation: &str) -> String {
        match self {
            Dialect::Sqlserver => format!("SELECT TOP (0) * FROM {relation} AS r"),
            _ => format!("SELECT * FROM {relation} AS r LIMIT 0"),
        }
    }

    /// SQL Server: the catalogue query listing a table's columns and types (parameters: the
    /// schema, or null for the user's default schema, then the table name).
    pub fn columns_sql(self) -> &'static str {
        "SELECT COLUMN_NAME, DATA_TYPE FROM INFORMATION_SCHEMA.COLUMNS \
         WHERE TABLE_SCHEMA = COALESCE(@P1, SCHEMA_NAME()) AND TABLE_NAME = @P2 ORDER BY ORDINAL_POSITION"
    }

    /// The schema and name of a table this dialect quoted with [`Dialect::table`] (its parts
    /// are checked identifiers, so they hold no quote character).
    pub fn unquote_table(self, quoted: &str) -> (Option<String>, String) {
        let parts: Vec<String> = quoted
            .split('.')
            .map(|p| p.trim_matches(|c| matches!(c, '"' | '`' | '[' | ']')).to_owned())
            .collect();
        match parts.as_slice() {
            [schema, table] => (Some(schema.clone()), table.clone()),
            _ => (None, parts.concat()),
        }
    }

    /// The expression turning row `r` into one JSON text.
    fn row_json(self, columns: &[Column]) -> String {
        match self {
            Dialect::Postgres => "to_jsonb(r)::text".into(),
            // The columns themselves: the client decodes each by its type.
            Dialect::Sqlserver => {
                let cols: Vec<String> = columns.iter().map(|c| format!("r.{}", self.quote(&c.name))).collect();
                cols.join(", ")
            }
            Dialect::Mysql | Dialect::Sqlite => {
                let func = if self == Dialect::Mysql {
                    "JSON_OBJECT"
                } else {
                    "json_object"
                };
                let pairs: Vec<String> = columns
                    .iter()
                    .map(|c| {
                        let col = format!("r.{}", self.quote(&c.name));
                        let value = if self == Dialect::Sqlite && c.class == ColumnClass::Json {
                            format!("json({col})")
                        } else {
                            col
                        };
                        format!("{}, {value}", self.literal(&c.name))
                    })
                    .collect();
                if self == Dialect::Mysql {
                    format!("CAST({func}({}) AS CHAR)", pairs.join(", "))
                } else {
                    format!("{func}({})", pairs.join(", "))
                }
            }
        }
    }

    /// An ordering expression for column `c` of `r` (SQLite compares date-times as instants,
    /// whatever text format they are stored in).
    fn order_expr(self, column: &Column) -> String {
        let col = format!("r.{}", self.quote(&column.name));
        if self == Dialect::Sqlite && column.class == ColumnClass::Timestamp {
            format!("unixepoch({col}, 'subsec')")
        } else {
            col
        }
    }

    /// A parameter compared with (or stored into) `column`.
    fn param(self, params: &mut Params, column: &Column) -> String {
        let p = params.next(self);
        match self {
            Dialect::Sqlite if column.class == ColumnClass::Timestamp => format!("unixepoch({p}, 'subsec')"),
            _ => self.typed(p, column),
        }
    }

    /// A parameter stored into `column` (no ordering transformation).
    fn value_param(self, params: &mut Params, column: &Column) -> String {
        let p = params.next(self);
        self.typed(p, column)
    }

    /// Placeholder `p` as a value of `column`'s type where the engine needs telling:
    /// PostgreSQL casts every value from text; SQL Server reads a date-time (RFC 3339 in UTC,
    /// see [`super::values::bind_value`]) through `DATETIMEOFFSET`, which takes its `Z`, into
    /// the column's own type.
    fn typed(self, p: String, column: &Column) -> String {
        match self {
            Dialect::Postgres => format!("CAST({p} AS {})", column.type_name),
            Dialect::Sqlserver if column.class == ColumnClass::Timestamp => {
                if column.type_name.eq_ignore_ascii_case("datetimeoffset") {
                    format!("CAST({p} AS DATETIMEOFFSET)")
                } else {
                    format!("CAST(CAST({p} AS DATETIMEOFFSET) AS {})", column.type_name)
                }
            }
            _ => p,
        }
    }

    /// One chunk of a stream, ordered by (cursor, primary key), after a keyset position.
    /// Parameters, in order: with `after`, the last row's cursor (if any) and key; else with
    /// `since`, the lower bound of the cursor.
    pub fn select_chunk(self, q: &ChunkQuery<'_>) -> String {
        let mut params = Params::default();
        let top = match self {
            Dialect::Sqlserver => format!("TOP ({}) ", q.limit),
            _ => String::new(),
        };
        let mut sql = format!("SELECT {top}{} FROM {} AS r", self.row_json(q.columns), q.relation);
        let key = self.order_expr(q.key);
        match (q.cursor, q.after, q.since) {
            // SQL Server has no row-value comparison: the same order, expanded (the cursor's
            // parameter named twice).
            (Some(c), true, _) if self == Dialect::Sqlserver => {
                let cur = self.order_expr(c);
                let (pc, pk) = (self.param(&mut params, c), self.param(&mut params, q.key));
                sql.push_str(&format!(" WHERE ({cur} > {pc} OR ({cur} = {pc} AND {key} > {pk}))"));
            }
            (Some(c), true, _) => {
                let cur = self.order_expr(c);
                let (pc, pk) = (self.param(&mut params, c), self.param(&mut params, q.key));
                sql.push_str(&format!(" WHERE ({cur}, {key}) > ({pc}, {pk})"));
            }
            (None, true, _) => {
                let pk = self.param(&mut params, q.key);
                sql.push_str(&format!(" WHERE {key} > {pk}"));
            }
            (Some(c), false, true) => {
                let cur = self.order_expr(c);
                let pc = self.param(&mut params, c);
                sql.push_str(&format!(" WHERE {cur} >= {pc}"));
            }
            _ => {}
        }
        match q.cursor {
            Some(c) => sql.push_str(&format!(" ORDER BY {}, {key}", self.order_expr(c))),
            None => sql.push_str(&format!(" ORDER BY {key}")),
        }
        if self != Dialect::Sqlserver {
            sql.push_str(&format!(" LIMIT {}", q.limit));
        }
        sql
    }

    /// One row by primary key.
    pub fn select_one(self, relation: &str, columns: &[Column], key: &Column) -> String {
        let mut params = Params::default();
        let (top, limit) = match self {
            Dialect::Sqlserver => ("TOP (1) ", ""),
            _ => ("", " LIMIT 1"),
        };
        format!(
            "SELECT {top}{} FROM {relation} AS r WHERE r.{} = {}{limit}",
            self.row_json(columns),
            self.quote(&key.name),
            self.value_param(&mut params, key)
        )
    }

    /// The most bind parameters one statement may carry: PostgreSQL's and MySQL's protocols
    /// count them in 16 bits (65,535); SQLite's `SQLITE_MAX_VARIABLE_NUMBER` is 32,766 since
    /// 3.32 (the bundled library is newer).
    /// SQL Server takes 2,100 parameters per request, and tiberius sends a statement through
    /// `sp_executesql`, whose statement text and parameter declarations are two of them.
    pub fn max_params(self) -> usize {
        match self {
            Dialect::Postgres | Dialect::Mysql => 65_535,
            Dialect::Sqlite => 32_766,
            Dialect::Sqlserver => 2_098,
        }
    }

    /// The most rows one statement's `VALUES` list may hold: SQL Server's table value
    /// constructor takes 1,000 in an `INSERT`; the others have no limit of their own.
    pub fn max_rows(self) -> usize {
        match self {
            Dialect::Sqlserver => 1_000,
            _ => usize::MAX,
        }
    }

    /// The statement setting a savepoint named `name`.
    pub fn savepoint(self, name: &str) -> String {
        match self {
            Dialect::Sqlserver => format!("SAVE TRANSACTION {name}"),
            _ => format!("SAVEPOINT {name}"),
        }
    }

    /// The statement rolling back to savepoint `name`.
    pub fn rollback_to(self, name: &str) -> String {
        match self {
            Dialect::Sqlserver => format!("ROLLBACK TRANSACTION {name}"),
            _ => format!("ROLLBACK TO SAVEPOINT {name}"),
        }
    }

    /// The statement releasing savepoint `name`, where the engine has one (SQL Server's
    /// savepoints last until the transaction ends).
    pub fn release(self, name: &str) -> Option<String> {
        match self {
            Dialect::Sqlserver => None,
            _ => Some(format!("RELEASE SAVEPOINT {name}")),
        }
    }

    /// An insert, or an upsert on `key`, of one row with `columns` (parameters in their
    /// order); with `returning`, the statement returns that column as text.
    pub fn insert(self, table: &str, columns: &[&Column], key: &[String], returning: Option<&Column>) -> String {
        self.insert_rows(table, columns, key, 1, returning)
    }

    /// An insert, or an upsert on `key`, of `rows` rows with `columns` each: one statement,
    /// `INSERT ... VALUES (...), (...)` (parameters row after row, each in `columns` order).
    /// Its rows must hold distinct keys: PostgreSQL refuses a statement that would update
    /// one row twice.
    pub fn insert_rows(
        self,
        table: &str,
        columns: &[&Column],
        key: &[String],
        rows: usize,
        returning: Option<&Column>,
    ) -> String {
        if self == Dialect::Sqlserver {
            return self.sqlserver_insert_rows(table, columns, key, rows, returning);
        }
        let mut params = Params::default();
        let names: Vec<String> = columns.iter().map(|c| self.quote(&c.name)).collect();
        let tuples: Vec<String> = (0..rows.max(1))
            .map(|_| {
                let values: Vec<String> = columns.iter().map(|c| self.value_param(&mut params, c)).collect();
                format!("({})", values.join(", "))
            })
            .collect();
        let mut sql = format!(
            "INSERT INTO {table} ({}) VALUES {}",
            names.join(", "),
            tuples.join(", ")
        );
        if !key.is_empty() {
            let mut set: Vec<&Column> = columns.iter().copied().filter(|c| !key.contains(&c.name)).collect();
            if set.is_empty() {
                // Only key columns: a no-op update, so the row still counts as written.
                set = columns.to_vec();
            }
            match self {
                Dialect::Postgres | Dialect::Sqlite => {
                    let keys: Vec<String> = key.iter().map(|k| self.quote(k)).collect();
                    let updates: Vec<String> = set
                        .iter()
                        .map(|c| format!("{0} = excluded.{0}", self.quote(&c.name)))
                        .collect();
                    sql.push_str(&format!(
                        " ON CONFLICT ({}) DO UPDATE SET {}",
                        keys.join(", "),
                        updates.join(", ")
                    ));
                }
                Dialect::Mysql => {
                    let updates: Vec<String> = set
                        .iter()
                        .map(|c| format!("{0} = VALUES({0})", self.quote(&c.name)))
                        .collect();
                    sql.push_str(&format!(" ON DUPLICATE KEY UPDATE {}", updates.join(", ")));
                }
                Dialect::Sqlserver => unreachable!("SQL Server's statements are built above"),
            }
        }
        if let Some(col) = returning {
            if self != Dialect::Mysql {
                sql.push_str(&format!(" RETURNING CAST({} AS TEXT)", self.quote(&col.name)));
            }
        }
        sql
    }
}

impl Dialect {
    /// SQL Server's insert, or upsert on `key`, of `rows` rows: `INSERT ... VALUES`, or a
    /// `MERGE ... WITH (HOLDLOCK)` (the lock closes the gap between the match and the insert,
    /// so two writers cannot both insert one key) over the rows as a `VALUES` source. With
    /// `returning`, an `OUTPUT` clause returns that column of the written row as text.
    fn sqlserver_insert_rows(
        self,
        table: &str,
        columns: &[&Column],
        key: &[String],
        rows: usize,
        returning: Option<&Column>,
    ) -> String {
        let mut params = Params::default();
        let names: Vec<String> = columns.iter().map(|c| self.quote(&c.name)).collect();
        let tuples: Vec<String> = (0..rows.max(1))
            .map(|_| {
                let values: Vec<String> = columns.iter().map(|c| self.value_param(&mut params, c)).collect();
                format!("({})", values.join(", "))
            })
            .collect();
        let output = |prefix: &str| {
            returning
                .map(|c| format!(" OUTPUT CAST({prefix}.{} AS NVARCHAR(4000))", self.quote(&c.name)))
                .unwrap_or_default()
        };
        if key.is_empty() {
            return format!(
                "INSERT INTO {table} ({}){} VALUES {}",
                names.join(", "),
                output("INSERTED"),
                tuples.join(", ")
            );
        }
        let on: Vec<String> = key.iter().map(|k| format!("t.{0} = s.{0}", self.quote(k))).collect();
        let updates: Vec<String> = columns
            .iter()
            .filter(|c| !key.contains(&c.name))
            .map(|c| format!("t.{0} = s.{0}", self.quote(&c.name)))
            .collect();
        // Only key columns: a matched row is left as it is (a key column may be an identity,
        // which cannot be updated, even to itself).
        let matched = if updates.is_empty() {
            String::new()
        } else {
            format!(" WHEN MATCHED THEN UPDATE SET {}", updates.join(", "))
        };
        let source: Vec<String> = names.iter().map(|n| format!("s.{n}")).collect();
        format!(
            "MERGE INTO {table} WITH (HOLDLOCK) AS t USING (VALUES {}) AS s ({}) ON {}{matched} \
             WHEN NOT MATCHED THEN INSERT ({}) VALUES ({}){};",
            tuples.join(", "),
            names.join(", "),
            on.join(" AND "),
            names.join(", "),
            source.join(", "),
            output("inserted")
        )
    }

    /// MySQL's upsert, first step: update the row matched on `key` (parameters: the non-key
    /// values in `columns` order, then the key values in `key` order). MySQL's `ON DUPLICATE
    /// KEY UPDATE` matches on any unique key, so a record whose other unique column (an email)
    /// collides would update another row; an update on the declared key, then a plain insert
    /// when no row matched, refuses that record instead.
    pub fn update_on_key(self, table: &str, columns: &[&Column], key: &[String]) -> String {
        let mut params = Params::default();
        let mut set: Vec<String> = columns
            .iter()
            .filter(|c| !key.contains(&c.name))
            .map(|c| format!("{} = {}", self.quote(&c.name), self.value_param(&mut params, c)))
            .collect();
        if set.is_empty() {
            // A no-op that still counts the matched row (sqlx asks for found rows).
            set = key.iter().map(|k| format!("{0} = {0}", self.quote(k))).collect();
        }
        let conditions: Vec<String> = key
            .iter()
            .map(|k| {
                let column = columns
                    .iter()
                    .find(|c| &c.name == k)
                    .expect("key columns are in the record");
                format!("{} = {}", self.quote(k), self.value_param(&mut params, column))
            })
            .collect();
        format!(
            "UPDATE {table} SET {} WHERE {}",
            set.join(", "),
            conditions.join(" AND ")
        )
    }
}

/// What [`Dialect::select_chunk`] builds.
pub struct ChunkQuery<'a> {
    /// The quoted relation ([`Dialect::relation`]).
    pub relation: &'a str,
    /// Every column of the relation (the record's fields).
    pub columns: &'a [Column],
    pub key: &'a Column,
    pub cursor: Option<&'a Column>,
    /// Continue after a keyset position (a later chunk).
    pub after: bool,
    /// Start at a cursor lower bound (the first chunk of an incremental run).
    pub since: bool,
    pub limit: u32,
}

/// Placeholder numbering.
#[derive(Default)]
struct Params {
    n: usize,
}

impl Params {
    fn next(&mut self, dialect: Dialect) -> String {
        self.n += 1;
        match dialect {
            Dialect::Postgres => format!("${}", self.n),
            Dialect::Sqlserver => format!("@P{}", self.n),
            Dialect::Mysql | Dialect::Sqlite => "?".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_plain_names_or_refused() {
        assert!(check_identifier("contacts", false).is_ok());
        assert!(check_identifier("_t1", false).is_ok());
        assert!(check_identifier("crm.contacts", true).is_ok());
        assert!(check_identifier("crm.contacts", false).is_err());
        for bad in [
            "",
            "1abc",
            "a-b",
            "a b",
            "x\"; DROP TABLE t; --",
            "a`b",
            "é",
            &"a".repeat(64),
        ] {
            let e = check_identifier(bad, true).unwrap_err();
            assert!(e.contains("not a plain SQL identifier"), "{bad}: {e}");
        }
        assert!(check_identifier("a.b.c", true).is_err());
    }

    #[test]
    fn quoting_doubles_the_quote_character() {
        assert_eq!(Dialect::Postgres.quote("a\"b"), "\"a\"\"b\"");
        assert_eq!(Dialect::Mysql.quote("a`b"), "`a``b`");
        assert_eq!(Dialect::Sqlite.quote("plain"), "\"plain\"");
        assert_eq!(Dialect::Mysql.literal("it's\\"), "'it''s\\\\'");
    }

    #[test]
    fn tables_take_the_connection_schema_unless_qualified() {
        assert_eq!(Dialect::Postgres.table("contacts", Some("crm")), "\"crm\".\"contacts\"");
        assert_eq!(
            Dialect::Postgres.table("other.contacts", Some("crm")),
            "\"other\".\"contacts\""
        );
        assert_eq!(Dialect::Mysql.table("contacts", None), "`contacts`");
        assert_eq!(Dialect::Sqlite.table("contacts", Some("ignored")), "\"contacts\"");
    }

    fn cols(d: Dialect) -> Vec<Column> {
        vec![
            Column::new(d, "id", if d == Dialect::Postgres { "INT8" } else { "BIGINT" }),
            Column::new(
                d,
                "updated_at",
                match d {
                    Dialect::Postgres => "TIMESTAMPTZ",
                    _ => "DATETIME",
                },
            ),
            Column::new(d, "doc", "JSON"),
        ]
    }

    #[test]
    fn chunks_are_keyset_paginated_never_offset() {
        let c = cols(Dialect::Postgres);
        let q = ChunkQuery {
            relation: "\"s\".\"t\"",
            columns: &c,
            key: &c[0],
            cursor: Some(&c[1]),
            after: true,
            since: true,
            limit: 100,
        };
        assert_eq!(
            Dialect::Postgres.select_chunk(&q),
            "SELECT to_jsonb(r)::text FROM \"s\".\"t\" AS r WHERE (r.\"updated_at\", r.\"id\") > (CAST($1 AS TIMESTAMPTZ), CAST($2 AS INT8)) ORDER BY r.\"updated_at\", r.\"id\" LIMIT 100"
        );
        let first = ChunkQuery { after: false, ..q };
        assert!(Dialect::Postgres
            .select_chunk(&first)
            .contains("WHERE r.\"updated_at\" >= CAST($1 AS TIMESTAMPTZ) ORDER BY"));
        let full = ChunkQuery {
            after: false,
            since: false,
            cursor: None,
            ..q
        };
        assert!(Dialect::Postgres
            .select_chunk(&full)
            .ends_with("AS r ORDER BY r.\"id\" LIMIT 100"));

        let c = cols(Dialect::Sqlite);
        let q = ChunkQuery {
            relation: "\"t\"",
            columns: &c,
            key: &c[0],
            cursor: Some(&c[1]),
            after: true,
            since: false,
            limit: 7,
        };
        let sql = Dialect::Sqlite.select_chunk(&q);
        assert!(
            sql.starts_with(
                "SELECT json_object('id', r.\"id\", 'updated_at', r.\"updated_at\", 'doc', json(r.\"doc\"))"
            ),
            "{sql}"
        );
        assert!(
            sql.contains("WHERE (unixepoch(r.\"updated_at\", 'subsec'), r.\"id\") > (unixepoch(?, 'subsec'), ?)"),
            "{sql}"
        );
        for d in [Dialect::Postgres, Dialect::Mysql, Dialect::Sqlite] {
            let c = cols(d);
            let sql = d.select_chunk(&ChunkQuery {
                relation: "t",
                columns: &c,
                key: &c[0],
                cursor: Some(&c[1]),
                after: true,
                since: true,
                limit: 3,
            });
            assert!(!sql.to_ascii_uppercase().contains("OFFSET"), "{sql}");
        }
    }

    #[test]
    fn upserts_use_each_engines_syntax() {
        let c = cols(Dialect::Postgres);
        let refs: Vec<&Column> = c.iter().collect();
        assert_eq!(
            Dialect::Postgres.insert("\"t\"", &refs, &["id".into()], Some(&c[0])),
            "INSERT INTO \"t\" (\"id\", \"updated_at\", \"doc\") VALUES (CAST($1 AS INT8), CAST($2 AS TIMESTAMPTZ), CAST($3 AS JSON)) ON CONFLICT (\"id\") DO UPDATE SET \"updated_at\" = excluded.\"updated_at\", \"doc\" = excluded.\"doc\" RETURNING CAST(\"id\" AS TEXT)"
        );
        let c = cols(Dialect::Mysql);
        let refs: Vec<&Column> = c.iter().collect();
        assert_eq!(
            Dialect::Mysql.insert("`t`", &refs, &["id".into()], Some(&c[0])),
            "INSERT INTO `t` (`id`, `updated_at`, `doc`) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE `updated_at` = VALUES(`updated_at`), `doc` = VALUES(`doc`)"
        );
        let c = cols(Dialect::Sqlite);
        let only_key = vec![&c[0]];
        assert_eq!(
            Dialect::Sqlite.insert("\"t\"", &only_key, &["id".into()], None),
            "INSERT INTO \"t\" (\"id\") VALUES (?) ON CONFLICT (\"id\") DO UPDATE SET \"id\" = excluded.\"id\""
        );
        assert_eq!(
            Dialect::Sqlite.insert("\"t\"", &only_key, &[], None),
            "INSERT INTO \"t\" (\"id\") VALUES (?)"
        );
    }

    #[test]
    fn mysql_upserts_update_on_the_declared_key_only() {
        let c = cols(Dialect::Mysql);
        let refs: Vec<&Column> = c.iter().collect();
        assert_eq!(
            Dialect::Mysql.update_on_key("`t`", &refs, &["id".into()]),
            "UPDATE `t` SET `updated_at` = ?, `doc` = ? WHERE `id` = ?"
        );
        assert_eq!(
            Dialect::Mysql.update_on_key("`t`", &refs[..1], &["id".into()]),
            "UPDATE `t` SET `id` = `id` WHERE `id` = ?"
        );
    }

    fn sqlserver_cols() -> Vec<Column> {
        let d = Dialect::Sqlserver;
        vec![
            Column::new(d, "id", "bigint"),
            Column::new(d, "updated_at", "datetime2"),
            Column::new(d, "email", "nvarchar"),
            Column::new(d, "photo", "varbinary"),
            Column::new(d, "active", "bit"),
            Column::new(d, "seen_at", "datetimeoffset"),
        ]
    }

    #[test]
    fn sqlserver_quotes_with_brackets_and_checks_names_as_the_others() {
        let d = Dialect::Sqlserver;
        assert_eq!(d.quote("contacts"), "[contacts]");
        assert_eq!(d.quote("a]b"), "[a]]b]", "a closing bracket is doubled");
        assert_eq!(d.quote("x]; DROP TABLE t; --"), "[x]]; DROP TABLE t; --]");
        assert_eq!(d.quote("a[b"), "[a[b]", "an opening bracket needs no escape");
        assert_eq!(d.table("contacts", Some("crm")), "[crm].[contacts]");
        assert_eq!(d.table("sales.orders", Some("crm")), "[sales].[orders]");
        assert_eq!(d.table("contacts", None), "[contacts]");
        assert_eq!(
            d.unquote_table("[crm].[contacts]"),
            (Some("crm".into()), "contacts".into())
        );
        assert_eq!(d.unquote_table("[contacts]"), (None, "contacts".into()));
        // The same validation as every dialect: a bracket never reaches the quoting.
        for bad in ["a]b", "[t]", "t; DROP TABLE x", "dbo.t.x"] {
            assert!(check_identifier(bad, true).is_err(), "{bad}");
        }
        let c = sqlserver_cols();
        let classes: Vec<ColumnClass> = c.iter().map(|c| c.class).collect();
        assert_eq!(
            classes,
            [
                ColumnClass::Other,
                ColumnClass::Timestamp,
                ColumnClass::Text,
                ColumnClass::Binary,
                ColumnClass::Boolean,
                ColumnClass::Timestamp
            ]
        );
    }

    #[test]
    fn sqlserver_chunks_expand_the_keyset_comparison_and_use_top() {
        let d = Dialect::Sqlserver;
        let c = sqlserver_cols();
        let q = ChunkQuery {
            relation: "[dbo].[contacts]",
            columns: &c[..3],
            key: &c[0],
            cursor: Some(&c[1]),
            after: true,
            since: true,
            limit: 500,
        };
        assert_eq!(
            d.select_chunk(&q),
            "SELECT TOP (500) r.[id], r.[updated_at], r.[email] FROM [dbo].[contacts] AS r \
             WHERE (r.[updated_at] > CAST(CAST(@P1 AS DATETIMEOFFSET) AS datetime2) \
             OR (r.[updated_at] = CAST(CAST(@P1 AS DATETIMEOFFSET) AS datetime2) AND r.[id] > @P2)) \
             ORDER BY r.[updated_at], r.[id]"
        );
        let first = ChunkQuery { after: false, ..q };
        assert_eq!(
            d.select_chunk(&first),
            "SELECT TOP (500) r.[id], r.[updated_at], r.[email] FROM [dbo].[contacts] AS r \
             WHERE r.[updated_at] >= CAST(CAST(@P1 AS DATETIMEOFFSET) AS datetime2) ORDER BY r.[updated_at], r.[id]"
        );
        let by_key = ChunkQuery {
            cursor: None,
            since: false,
            limit: 2,
            ..q
        };
        assert_eq!(
            d.select_chunk(&by_key),
            "SELECT TOP (2) r.[id], r.[updated_at], r.[email] FROM [dbo].[contacts] AS r WHERE r.[id] > @P1 ORDER BY r.[id]"
        );
        let sql = d.select_chunk(&q).to_ascii_uppercase();
        assert!(!sql.contains(" OFFSET ") && !sql.contains(" LIMIT "), "{sql}");
        assert_eq!(
            d.select_one("[contacts]", &c[..2], &c[0]),
            "SELECT TOP (1) r.[id], r.[updated_at] FROM [contacts] AS r WHERE r.[id] = @P1"
        );
        assert_eq!(
            d.describe_sql("(SELECT 1 AS x)"),
            "SELECT TOP (0) * FROM (SELECT 1 AS x) AS r"
        );
    }

    #[test]
    fn sqlserver_upserts_merge_with_holdlock_every_value_a_parameter() {
        let d = Dialect::Sqlserver;
        let c = sqlserver_cols();
        let refs: Vec<&Column> = vec![&c[0], &c[2], &c[1]];
        assert_eq!(
            d.insert_rows("[contacts]", &refs, &["id".into()], 2, None),
            "MERGE INTO [contacts] WITH (HOLDLOCK) AS t USING (VALUES \
             (@P1, @P2, CAST(CAST(@P3 AS DATETIMEOFFSET) AS datetime2)), \
             (@P4, @P5, CAST(CAST(@P6 AS DATETIMEOFFSET) AS datetime2))) \
             AS s ([id], [email], [updated_at]) ON t.[id] = s.[id] \
             WHEN MATCHED THEN UPDATE SET t.[email] = s.[email], t.[updated_at] = s.[updated_at] \
             WHEN NOT MATCHED THEN INSERT ([id], [email], [updated_at]) VALUES (s.[id], s.[email], s.[updated_at]);"
        );
        // A composite key matches on every key column; only key columns: no update at all.
        let sql = d.insert("[t]", &[&c[0], &c[2]], &["id".into(), "email".into()], None);
        assert!(
            sql.contains("ON t.[id] = s.[id] AND t.[email] = s.[email] WHEN NOT MATCHED"),
            "{sql}"
        );
        assert!(!sql.contains("WHEN MATCHED"), "{sql}");
        // The id the database generates comes back through OUTPUT.
        assert_eq!(
            d.insert("[t]", &[&c[2]], &[], Some(&c[0])),
            "INSERT INTO [t] ([email]) OUTPUT CAST(INSERTED.[id] AS NVARCHAR(4000)) VALUES (@P1)"
        );
        assert_eq!(
            d.insert_rows("[t]", &[&c[2], &c[5]], &[], 2, None),
            "INSERT INTO [t] ([email], [seen_at]) VALUES (@P1, CAST(@P2 AS DATETIMEOFFSET)), (@P3, CAST(@P4 AS DATETIMEOFFSET))"
        );
        assert_eq!(d.savepoint("sp"), "SAVE TRANSACTION sp");
        assert_eq!(d.rollback_to("sp"), "ROLLBACK TRANSACTION sp");
        assert_eq!(d.release("sp"), None);
        assert_eq!(Dialect::Postgres.release("sp").as_deref(), Some("RELEASE SAVEPOINT sp"));
    }

    #[test]
    fn urls_must_match_the_dialect() {
        assert!(Dialect::Postgres.accepts_url("postgresql://u@h/db"));
        assert!(Dialect::Mysql.accepts_url("mariadb://root@127.0.0.1/test"));
        assert!(Dialect::Sqlite.accepts_url("sqlite:///tmp/x.db"));
        assert!(!Dialect::Postgres.accepts_url("mysql://u@h/db"));
        assert!(Dialect::Sqlserver.accepts_url("sqlserver://db.internal:1433;database=crm;user=sync;password=x"));
        assert!(Dialect::Sqlserver.accepts_url("jdbc:sqlserver://db.internal;database=crm"));
        assert!(!Dialect::Sqlserver.accepts_url("jdbc:mysql://db.internal/crm"));
        assert!(!Dialect::Sqlserver.accepts_url("postgres://u@h/db"));
    }
}
