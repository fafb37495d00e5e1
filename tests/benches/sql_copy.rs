//! A table copied between real databases through the connector engine, beside `psql \copy`:
//! 100,000 rows of the built-in definitions' `contacts` table from PostgreSQL to PostgreSQL
//! and from PostgreSQL to MariaDB. The engine's copy is what a sync job does with each page,
//! without the job's record links and checkpoints in DynamoDB (their cost is the sync benches'
//! subject): `read_page` of the `postgres` connector's `contacts` stream (keyset chunks of
//! 500), the jq mapping of every record, `write_batch` of `contacts.upsert` (500 a
//! transaction). The reference is the same rows moved by PostgreSQL's own client: `\copy (...)
//! TO` a CSV file, then `\copy ... FROM` it into PostgreSQL, or `LOAD DATA LOCAL INFILE` with
//! the `mariadb` client into MariaDB.
//!
//!     cargo bench --workspace --bench sql_copy                    # 100,000 rows
//!     SQL_COPY_ROWS=20000 cargo bench --workspace --bench sql_copy
//!
//! Prints per destination: wall time and rows/s; CPU per row (this process, user + system,
//! for the engine; the client processes' for the reference, the database servers' own CPU
//! left out of both); the process's peak RSS during the engine's copy (VmHWM, reset before
//! each copy). Needs PostgreSQL and MariaDB on 127.0.0.1 as the tests do
//! (`scripts/ensure-databases.sh`) and the `psql` and `mariadb` clients.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use switchyard::connector::mapping::Mapping;
use switchyard::connector::{ClientSettings, ConnectorClient, Credentials, Registry, StreamState, WriteResult};
use switchyard_tests::databases::{TestDb, MYSQL_HOST, POSTGRES_HOST};

const MAPPING: &str =
    "{id: .id, email: .email, name: .name, score: .score, active: .active, profile: .profile, updated_at: .updated_at}";

fn client(db: &TestDb) -> ConnectorClient {
    let registry = Registry::embedded().expect("the built-in definitions validate");
    let def = registry.get_shared(db.connector).expect("a built-in SQL connector");
    let mut settings = ClientSettings::from_connection_config(db.config.as_object().expect("an object"));
    settings.allow_private_network = true;
    settings.request_timeout = Duration::from_secs(60);
    settings.max_pages = u32::MAX;
    let http = switchyard::connector::url_guard::http_client(settings.request_timeout, true).expect("an HTTP client");
    ConnectorClient::new(def, settings, Credentials::new().with("url", db.url.as_str()), http)
        .unwrap_or_else(|e| panic!("{} binds: {e}", db.connector))
}

/// CPU seconds (user + system) of this process, or of its waited-for children.
fn cpu(who: i32) -> f64 {
    // SAFETY: getrusage writes the struct it is given and nothing else.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(who, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// Resets the process's peak RSS (Linux: `5` to `clear_refs`), so VmHWM covers what follows.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak RSS since the last reset, in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

struct Figures {
    rows: u64,
    wall: Duration,
    cpu_secs: f64,
    peak_mib: Option<f64>,
}

impl Figures {
    fn print(&self, what: &str) {
        let secs = self.wall.as_secs_f64();
        let peak = self
            .peak_mib
            .map_or(String::new(), |m| format!(", peak RSS {m:.1} MiB"));
        println!(
            "{what:<44} {rows} rows in {secs:.2} s: {rate:.0} rows/s, CPU {per_row:.1} us/row{peak}",
            rows = self.rows,
            rate = self.rows as f64 / secs,
            per_row = self.cpu_secs * 1e6 / self.rows as f64,
        );
    }
}

/// Copies every row of `source`'s `contacts` to `destination` through the engine.
async fn engine_copy(source: &ConnectorClient, destination: &ConnectorClient, mapping: &Mapping) -> Figures {
    reset_peak_rss();
    let cpu0 = cpu(libc::RUSAGE_SELF);
    let started = Instant::now();
    let mut state = StreamState::full_refresh();
    let mut rows = 0u64;
    loop {
        let page = source.read_page("contacts", &state).await.expect("a page of contacts");
        assert!(page.rejected.is_empty(), "{:?}", page.rejected);
        let mapped: Vec<Value> = mapping
            .apply_each(Arc::new(page.records))
            .into_iter()
            .map(|r| r.expect("the mapping applies"))
            .collect();
        for batch in mapped.chunks(500) {
            let results = destination
                .write_batch("contacts.upsert", batch)
                .await
                .expect("a batch is written");
            if let Some(bad) = results.iter().find(|r| !matches!(r, WriteResult::Ok { .. })) {
                panic!("a row was refused: {bad:?}");
            }
            rows += batch.len() as u64;
        }
        match page.next {
            Some(next) => state = next,
            None => break,
        }
    }
    Figures {
        rows,
        wall: started.elapsed(),
        cpu_secs: cpu(libc::RUSAGE_SELF) - cpu0,
        peak_mib: Some(peak_rss_mib()),
    }
}

/// Runs a database client, counting its CPU; panics with its output when it fails.
fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .env("PGTZ", "UTC")
        .output()
        .unwrap_or_else(|e| panic!("`{program}` did not run ({e}); the reference needs the psql and mariadb clients"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn psql(sql: &str) {
    let (host, port) = POSTGRES_HOST.split_once(':').expect("host:port");
    run(
        "psql",
        &[
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            host,
            "-p",
            port,
            "-U",
            "postgres",
            "-d",
            "test",
            "-c",
            sql,
        ],
    );
}

/// `\copy` out of the source, then into `destination` (`\copy` again, or `LOAD DATA LOCAL
/// INFILE` for MariaDB), timed together.
fn reference_copy(source: &TestDb, destination: &TestDb, rows: u64) -> Figures {
    let file = std::env::temp_dir().join(format!("switchyard-sql-copy-{}.csv", ulid::Ulid::new()));
    let path = file.display().to_string();
    let columns = "id, email, name, score, active, profile, updated_at";
    let cpu0 = cpu(libc::RUSAGE_CHILDREN);
    let started = Instant::now();
    // Values every destination reads: booleans as 1/0, times in UTC without an offset.
    psql(&format!(
        "\\copy (SELECT id, email, name, score, active::int, profile, updated_at AT TIME ZONE 'UTC' \
         FROM {}contacts ORDER BY id) TO '{path}' WITH (FORMAT csv)",
        source.prefix
    ));
    if destination.connector == "postgres" {
        psql(&format!(
            "\\copy {}contacts ({columns}) FROM '{path}' WITH (FORMAT csv)",
            destination.prefix
        ));
    } else {
        let (host, port) = MYSQL_HOST.split_once(':').expect("host:port");
        // Quotes inside a quoted field are doubled (CSV); backslashes are plain characters.
        let load = format!(
            "LOAD DATA LOCAL INFILE '{path}' INTO TABLE {}contacts FIELDS TERMINATED BY ',' \
             OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' ({columns})",
            destination.prefix
        );
        run(
            "mariadb",
            &["--local-infile=1", "-h", host, "-P", port, "-u", "root", "-e", &load],
        );
    }
    let figures = Figures {
        rows,
        wall: started.elapsed(),
        cpu_secs: cpu(libc::RUSAGE_CHILDREN) - cpu0,
        peak_mib: None,
    };
    let _ = std::fs::remove_file(&file);
    figures
}

#[tokio::main]
async fn main() {
    // `cargo test --benches` runs bench targets too: keep that run to a smoke-sized one.
    let smoke = std::env::args().any(|a| a == "--test") || !std::env::args().any(|a| a == "--bench");
    let rows: u64 = std::env::var("SQL_COPY_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke { 500 } else { 100_000 });

    let source = TestDb::postgres().await;
    source.create_contacts().await;
    source
        .exec(&format!(
            "INSERT INTO {p}contacts (id, email, name, score, active, profile, updated_at) \
             SELECT i, 'user' || i || '@example.com', 'User ' || i, i + 0.25, i % 3 <> 0, \
             jsonb_build_object('tier', 'gold', 'n', i), \
             timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second' \
             FROM generate_series(1, {rows}) AS i",
            p = source.prefix
        ))
        .await;
    let mapping = Mapping::compile(MAPPING).expect("the mapping compiles");
    let from = client(&source);
    println!("sql_copy: {rows} contacts rows from PostgreSQL");

    for make in ["postgres", "mysql"] {
        let destination = if make == "postgres" {
            TestDb::postgres().await
        } else {
            TestDb::mysql().await
        };
        destination.create_contacts().await;
        let to = client(&destination);
        let label = if make == "postgres" { "PostgreSQL" } else { "MariaDB" };
        let figures = engine_copy(&from, &to, &mapping).await;
        let written = destination
            .count(&format!("SELECT COUNT(*) FROM {}contacts", destination.prefix))
            .await;
        assert_eq!(written as u64, rows, "every row reached {label}");
        figures.print(&format!("engine: PostgreSQL -> {label}"));

        destination
            .exec(&format!("DELETE FROM {}contacts", destination.prefix))
            .await;
        let reference = reference_copy(&source, &destination, rows);
        let copied = destination
            .count(&format!("SELECT COUNT(*) FROM {}contacts", destination.prefix))
            .await;
        assert_eq!(copied as u64, rows, "the reference copied every row into {label}");
        reference.print(&format!(
            "psql \\copy out + {} in",
            if make == "postgres" { "\\copy" } else { "LOAD DATA" }
        ));
        println!(
            "  engine / reference: {:.1}x the time, {:.1}x the CPU per row",
            figures.wall.as_secs_f64() / reference.wall.as_secs_f64(),
            figures.cpu_secs / reference.cpu_secs.max(1e-9)
        );
        destination.drop().await;
    }
    source.drop().await;
}
