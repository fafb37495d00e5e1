//! What differs between PostgreSQL, MySQL/MariaDB and SQLite: identifier quoting, parameter
//! placeholders, the row-to-JSON expression, keyset conditions and upsert syntax. Pure
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
        }
    }

    /// Whether a connection URL is for this engine (by its scheme).
    pub fn accepts_url(self, url: &str) -> bool {
        let scheme = url.split(':').next().unwrap_or_default().to_ascii_lowercase();
        match self {
            Dialect::Postgres => scheme == "postgres" || scheme == "postgresql",
            Dialect::Mysql => scheme == "mysql" || scheme == "mariadb",
            Dialect::Sqlite => scheme == "sqlite",
        }
    }

    /// One identifier, quoted (a quote character inside is doubled, so even a name from the
    /// catalogue cannot end the quoting).
    pub fn quote(self, name: &str) -> String {
        let q = match self {
            Dialect::Mysql => '`',
            Dialect::Postgres | Dialect::Sqlite => '"',
        };
        let mut out = String::with_capacity(name.len() + 2);
        out.push(q);
        for c in name.chars() {
            if c == q {
                out.push(q);
            }
            out.push(c);
        }
        out.push(q);
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
        format!("SELECT * FROM {relation} AS r LIMIT 0")
    }

    /// The expression turning row `r` into one JSON text.
    fn row_json(self, columns: &[Column]) -> String {
        match self {
            Dialect::Postgres => "to_jsonb(r)::text".into(),
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
            Dialect::Postgres => format!("CAST({p} AS {})", column.type_name),
            Dialect::Sqlite if column.class == ColumnClass::Timestamp => format!("unixepoch({p}, 'subsec')"),
            _ => p,
        }
    }

    /// A parameter stored into `column` (no ordering transformation).
    fn value_param(self, params: &mut Params, column: &Column) -> String {
        let p = params.next(self);
        match self {
            Dialect::Postgres => format!("CAST({p} AS {})", column.type_name),
            _ => p,
        }
    }

    /// One chunk of a stream, ordered by (cursor, primary key), after a keyset position.
    /// Parameters, in order: with `after`, the last row's cursor (if any) and key; else with
    /// `since`, the lower bound of the cursor.
    pub fn select_chunk(self, q: &ChunkQuery<'_>) -> String {
        let mut params = Params::default();
        let mut sql = format!("SELECT {} FROM {} AS r", self.row_json(q.columns), q.relation);
        let key = self.order_expr(q.key);
        match (q.cursor, q.after, q.since) {
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
        sql.push_str(&format!(" LIMIT {}", q.limit));
        sql
    }

    /// One row by primary key.
    pub fn select_one(self, relation: &str, columns: &[Column], key: &Column) -> String {
        let mut params = Params::default();
        format!(
            "SELECT {} FROM {relation} AS r WHERE r.{} = {} LIMIT 1",
            self.row_json(columns),
            self.quote(&key.name),
            self.value_param(&mut params, key)
        )
    }

    /// The most bind parameters one statement may carry: PostgreSQL's and MySQL's protocols
    /// count them in 16 bits (65,535); SQLite's `SQLITE_MAX_VARIABLE_NUMBER` is 32,766 since
    /// 3.32 (the bundled library is newer).
    pub fn max_params(self) -> usize {
        match self {
            Dialect::Postgres | Dialect::Mysql => 65_535,
            Dialect::Sqlite => 32_766,
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

    #[test]
    fn urls_must_match_the_dialect() {
        assert!(Dialect::Postgres.accepts_url("postgresql://u@h/db"));
        assert!(Dialect::Mysql.accepts_url("mariadb://root@127.0.0.1/test"));
        assert!(Dialect::Sqlite.accepts_url("sqlite:///tmp/x.db"));
        assert!(!Dialect::Postgres.accepts_url("mysql://u@h/db"));
    }
}
