//! Real databases for the SQL connector tests: PostgreSQL and MariaDB on 127.0.0.1 (started by
//! `scripts/ensure-databases.sh`, which `scripts/test.sh` runs), SQLite on a temporary file.
//! Each test gets a database of its own (a PostgreSQL schema, a MariaDB database, a SQLite
//! file) with a unique name, dropped by [`TestDb::drop`], so tests run in parallel.

use std::str::FromStr;

use serde_json::{json, Value};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

/// PostgreSQL for the tests (trust authentication on loopback, database `test`).
pub const POSTGRES_HOST: &str = "127.0.0.1:5432";
/// MariaDB (or MySQL) for the tests (root without a password, database `test`).
pub const MYSQL_HOST: &str = "127.0.0.1:3306";

enum Admin {
    Pg(PgPool),
    My(MySqlPool),
    Lite(SqlitePool),
}

/// One test's own database.
pub struct TestDb {
    /// The built-in connector id: `postgres`, `mysql` or `sqlite`.
    pub connector: &'static str,
    /// The connection URL the connector is given (a secret: registered with the log scan).
    pub url: String,
    /// The connection config (`{"schema": ...}` for PostgreSQL).
    pub config: Value,
    /// Where tables go, as the test's own SQL names it (`"t_x".` / empty).
    pub prefix: String,
    name: String,
    admin: Admin,
}

fn unique() -> String {
    format!("t_{}", ulid::Ulid::new().to_string().to_lowercase())
}

fn unreachable(what: &str, host: &str, e: impl std::fmt::Display) -> ! {
    panic!(
        "{what} is not reachable on {host} ({e}). The SQL connector tests need it running: \
         `scripts/ensure-databases.sh` starts it, or says how to install it \
         (Debian: `apt-get update && apt-get install -y postgresql mariadb-server`)."
    )
}

impl TestDb {
    /// A fresh PostgreSQL schema. The URL carries a password (ignored by trust authentication)
    /// so the tests prove it is never logged or shown.
    pub async fn postgres() -> TestDb {
        let name = unique();
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(
                PgConnectOptions::from_str(&format!("postgres://postgres@{POSTGRES_HOST}/test")).expect("a URL"),
            )
            .await
            .unwrap_or_else(|e| unreachable("PostgreSQL", POSTGRES_HOST, e));
        sqlx::raw_sql(&format!("CREATE SCHEMA {name}"))
            .execute(&admin)
            .await
            .expect("create schema");
        let password = format!("pg-pw-{}", ulid::Ulid::new());
        crate::log_capture::known_secret(&password);
        let url = format!("postgres://postgres:{password}@{POSTGRES_HOST}/test");
        crate::log_capture::known_secret(&url);
        TestDb {
            connector: "postgres",
            url,
            config: json!({"schema": name}),
            prefix: format!("{name}."),
            name,
            admin: Admin::Pg(admin),
        }
    }

    /// A fresh MariaDB database.
    pub async fn mysql() -> TestDb {
        let name = unique();
        let options = MySqlConnectOptions::from_str(&format!("mysql://root@{MYSQL_HOST}/test")).expect("a URL");
        let admin = MySqlPoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .unwrap_or_else(|e| unreachable("MariaDB", MYSQL_HOST, e));
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .expect("create database");
        let url = format!("mysql://root@{MYSQL_HOST}/{name}");
        crate::log_capture::known_secret(&url);
        TestDb {
            connector: "mysql",
            url,
            config: json!({}),
            prefix: format!("{name}."),
            name,
            admin: Admin::My(admin),
        }
    }

    /// A fresh SQLite file under the system's temporary directory.
    pub async fn sqlite() -> TestDb {
        let name = unique();
        let path = std::env::temp_dir().join(format!("switchyard-{name}.db"));
        let url = format!("sqlite://{}", path.display());
        let admin = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                SqliteConnectOptions::from_str(&url)
                    .expect("a URL")
                    .create_if_missing(true),
            )
            .await
            .expect("a SQLite file in the temporary directory");
        TestDb {
            connector: "sqlite",
            url,
            config: json!({}),
            prefix: String::new(),
            name: path.display().to_string(),
            admin: Admin::Lite(admin),
        }
    }

    /// Runs statements (the test's own SQL, several separated by `;`).
    pub async fn exec(&self, sql: &str) {
        let result = match &self.admin {
            Admin::Pg(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
            Admin::My(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
            Admin::Lite(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
        };
        result.unwrap_or_else(|e| panic!("{}: {sql}: {e}", self.connector));
    }

    /// One number from a query.
    pub async fn count(&self, sql: &str) -> i64 {
        let result = match &self.admin {
            Admin::Pg(p) => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await,
            Admin::My(p) => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await,
            Admin::Lite(p) => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await,
        };
        result.unwrap_or_else(|e| panic!("{}: {sql}: {e}", self.connector))
    }

    /// One text value from a query (`None` for no row or NULL).
    pub async fn text(&self, sql: &str) -> Option<String> {
        let result = match &self.admin {
            Admin::Pg(p) => sqlx::query_scalar::<_, Option<String>>(sql).fetch_optional(p).await,
            Admin::My(p) => sqlx::query_scalar::<_, Option<String>>(sql).fetch_optional(p).await,
            Admin::Lite(p) => sqlx::query_scalar::<_, Option<String>>(sql).fetch_optional(p).await,
        };
        result
            .unwrap_or_else(|e| panic!("{}: {sql}: {e}", self.connector))
            .flatten()
    }

    /// Creates the `contacts` table of the built-in definitions, in this engine's types.
    pub async fn create_contacts(&self) {
        let p = &self.prefix;
        let sql = match self.connector {
            "postgres" => format!(
                "CREATE TABLE {p}contacts (id BIGINT PRIMARY KEY, email TEXT NOT NULL UNIQUE CHECK (email LIKE '%@%'), \
                 name TEXT, score NUMERIC(10,2), active BOOLEAN NOT NULL DEFAULT true, profile JSONB, \
                 updated_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            ),
            "mysql" => format!(
                "CREATE TABLE {p}contacts (id BIGINT PRIMARY KEY, email VARCHAR(255) NOT NULL UNIQUE CHECK (email LIKE '%@%'), \
                 name TEXT, score DECIMAL(10,2), active BOOLEAN NOT NULL DEFAULT 1, profile JSON, \
                 updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))"
            ),
            _ => "CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE CHECK (email LIKE '%@%'), \
                  name TEXT, score NUMERIC, active BOOLEAN NOT NULL DEFAULT 1, profile JSON, \
                  updated_at DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))"
                .to_string(),
        };
        self.exec(&sql).await;
    }

    /// A date-time literal in this engine's own form (`2024-01-01 10:00:00`).
    pub fn at(&self, rfc3339: &str) -> String {
        match self.connector {
            "mysql" => rfc3339.trim_end_matches('Z').replace('T', " "),
            _ => rfc3339.to_string(),
        }
    }

    /// Drops the test's database.
    pub async fn drop(self) {
        match &self.admin {
            Admin::Pg(_) => self.exec(&format!("DROP SCHEMA {} CASCADE", self.name)).await,
            Admin::My(_) => self.exec(&format!("DROP DATABASE {}", self.name)).await,
            Admin::Lite(p) => {
                p.close().await;
                let _ = std::fs::remove_file(&self.name);
            }
        }
    }
}
