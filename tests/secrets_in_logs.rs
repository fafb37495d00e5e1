//! No secret reaches a log: every log line the test processes wrote (their tracing output, in
//! the functions' JSON format, `switchyard_tests::log_capture`) is searched for every secret
//! value they stored (webhook secrets, API keys, OAuth client secrets, access and refresh
//! tokens, rotated ones included) and for credential shapes (`Bearer ...`, Stripe keys).
//!
//! `make test` runs this last, after the suites that produce the logs, and clears the folder
//! before them. Run alone it fails, saying so, rather than pass on nothing.

use std::collections::BTreeSet;
use std::path::Path;

use switchyard_tests::log_capture;

/// A secret value found in a log line.
#[derive(Debug, PartialEq, Eq)]
struct Leak {
    file: String,
    line: usize,
    what: String,
}

/// Shapes of credentials that must never be logged whatever their value.
const SHAPES: &[&str] = &["Bearer ", "sk_test_", "sk_live_", "rk_live_", "whsec_", "xoxb-"];

fn secrets_in(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.path().extension().is_some_and(|e| e == "secrets") {
            for line in std::fs::read_to_string(entry.path()).unwrap_or_default().lines() {
                if let Some(s) = hex::decode(line.trim()).ok().and_then(|b| String::from_utf8(b).ok()) {
                    out.insert(s);
                }
            }
        }
    }
    out
}

fn scan(dir: &Path, secrets: &BTreeSet<String>) -> (usize, Vec<Leak>) {
    let mut lines = 0;
    let mut leaks = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "log") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            lines += 1;
            for s in secrets {
                if line.contains(s.as_str()) {
                    leaks.push(Leak {
                        file: path.display().to_string(),
                        line: n + 1,
                        what: format!(
                            "a stored secret ({} characters, starts {:?})",
                            s.len(),
                            &s[..4.min(s.len())]
                        ),
                    });
                }
            }
            for shape in SHAPES {
                if line.contains(shape) {
                    leaks.push(Leak {
                        file: path.display().to_string(),
                        line: n + 1,
                        what: format!("a credential shaped {shape:?}"),
                    });
                }
            }
        }
    }
    (lines, leaks)
}

#[test]
fn no_stored_secret_or_credential_appears_in_any_log_line() {
    let dir = log_capture::dir();
    let secrets = secrets_in(&dir);
    let (lines, leaks) = scan(&dir, &secrets);
    assert!(
        lines > 0 && !secrets.is_empty(),
        "no captured logs or secrets in {}: run the integration tests first (`make test` runs them, then this)",
        dir.display()
    );
    println!("scanned {lines} log lines for {} secret values", secrets.len());
    assert!(leaks.is_empty(), "secrets in the logs: {leaks:#?}");
}

#[test]
fn the_scan_finds_a_planted_secret_and_a_bearer_token() {
    let dir = std::env::temp_dir().join(format!("switchyard-scan-selftest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("1.secrets"),
        format!("{}\n", hex::encode("refresh-token-0123456789")),
    )
    .unwrap();
    std::fs::write(
        dir.join("1.log"),
        concat!(
            "{\"message\":\"Token refreshed.\",\"connection_id\":\"conn_1\"}\n",
            "{\"message\":\"oops\",\"token\":\"refresh-token-0123456789\"}\n",
            "{\"message\":\"sent\",\"authorization\":\"Bearer abc\"}\n",
        ),
    )
    .unwrap();
    let secrets = secrets_in(&dir);
    let (lines, leaks) = scan(&dir, &secrets);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(lines, 3);
    let found: Vec<(usize, bool)> = leaks.iter().map(|l| (l.line, l.what.contains("Bearer"))).collect();
    assert_eq!(found, [(2, false), (3, true)], "{leaks:#?}");
}
