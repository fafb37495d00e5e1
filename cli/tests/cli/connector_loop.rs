//! The connector author's loop: `switchyard connectors read / check / write [--dry-run]`
//! against the fake HubSpot (and, for dry runs, against nothing at all).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use switchyard_fakes::hubspot::{self, HubspotConfig, ObjectType};
use switchyard_tests::temp_file;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

fn switchyard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .env_remove("ALLOW_PRIVATE_NETWORK")
        .env("RUST_LOG", "warn")
        .output()
        .expect("the switchyard binary runs")
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_lines(o: &Output) -> Vec<Value> {
    out(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

fn hub_credentials() -> PathBuf {
    temp_file(
        "hubspot.json",
        format!(r#"{{"access_token": "{}"}}"#, hubspot::TEST_TOKEN).as_bytes(),
    )
}

/// `connectors <cmd> hubspot <extra> --base-url <fake> --credentials-file <creds> --allow-private-network`.
fn against(cmd: &str, base_url: &str, creds: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["connectors", cmd, "hubspot"];
    args.extend(extra);
    args.extend([
        "--base-url",
        base_url,
        "--credentials-file",
        creds.to_str().expect("temp paths are UTF-8"),
        "--allow-private-network",
    ]);
    switchyard(&args)
}

fn seed_contacts(hub: &switchyard_fakes::FakeHandle<hubspot::Hubspot>, n: usize) -> BTreeSet<String> {
    (0..n)
        .map(|i| {
            let email = format!("seed{i}@example.com");
            let first = format!("Seed{i}");
            hub.insert(ObjectType::Contacts, &[("email", &email), ("firstname", &first)])
                .id
        })
        .collect()
}

fn ids(records: &[Value]) -> BTreeSet<String> {
    records
        .iter()
        .map(|r| r["id"].as_str().expect("HubSpot records have string ids").to_owned())
        .collect()
}

/// A loopback port nothing listens on.
fn dead_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().expect("bound").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[test]
fn read_prints_every_record_of_a_paged_stream_with_progress() {
    let hub = hubspot::start(HubspotConfig::default());
    let seeded = seed_contacts(&hub, 230);
    let creds = hub_credentials();
    let o = against("read", &hub.base_url, &creds, &["--stream", "contacts"]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let records = json_lines(&o);
    assert_eq!(records.len(), 230);
    assert_eq!(ids(&records), seeded, "every seeded record, once");
    assert!(records
        .iter()
        .any(|r| r["properties"]["email"] == "seed229@example.com"));
    // 100 per page: three pages, one request each.
    assert_eq!(hub.requests.matching("GET", "/crm/v3/objects/contacts").len(), 3);
    let progress = err(&o);
    assert!(progress.contains("page 3: 30 records (230 in all)"), "{progress}");
    assert!(
        progress.contains("done: 3 pages, 230 records, 3 requests") && progress.contains("rate-limit waits"),
        "{progress}"
    );
    assert!(!out(&o).contains("page"), "progress goes to stderr only");
}

#[test]
fn read_stops_at_the_limit_without_reading_further_pages() {
    let hub = hubspot::start(HubspotConfig::default());
    seed_contacts(&hub, 230);
    let creds = hub_credentials();
    let o = against(
        "read",
        &hub.base_url,
        &creds,
        &["--stream", "contacts", "--limit", "150"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(json_lines(&o).len(), 150);
    assert_eq!(hub.requests.len(), 2, "two pages hold 150 records");
    assert!(err(&o).contains("stopped at --limit"), "{}", err(&o));
}

#[test]
fn read_with_a_mapping_prints_mapped_records_and_exits_1_naming_a_refused_one() {
    let hub = hubspot::start(HubspotConfig::default());
    seed_contacts(&hub, 120);
    let creds = hub_credentials();
    let mapping =
        r#"if .properties.email == "seed7@example.com" then error("no seed7") else {email: .properties.email} end"#;
    let o = against(
        "read",
        &hub.base_url,
        &creds,
        &["--stream", "contacts", "--mapping", mapping],
    );
    assert_eq!(o.status.code(), Some(1), "a refused record is exit 1: {}", err(&o));
    let records = json_lines(&o);
    assert_eq!(records.len(), 119, "every other record, mapped");
    assert!(records.iter().all(|r| r.as_object().is_some_and(|o| o.len() == 1)));
    assert!(records.iter().any(|r| r["email"] == "seed119@example.com"));
    let progress = err(&o);
    assert!(
        progress.contains("mapping refused it") && progress.contains("no seed7"),
        "{progress}"
    );
    assert!(
        progress.contains("119 records (1 refused by the mapping)"),
        "{progress}"
    );

    let bad = against(
        "read",
        &hub.base_url,
        &creds,
        &["--stream", "contacts", "--mapping", "{"],
    );
    assert_eq!(bad.status.code(), Some(2), "{}", err(&bad));
    assert!(err(&bad).contains("--mapping"), "{}", err(&bad));
    assert_eq!(
        hub.requests.matching("GET", "/crm/v3/objects/contacts").len(),
        2,
        "a mapping that does not compile stops the read before its first request"
    );
}

#[test]
fn read_since_uses_the_incremental_request_and_its_cursor() {
    let hub = hubspot::start(HubspotConfig::default());
    let seeded = seed_contacts(&hub, 120);
    let creds = hub_credentials();
    let rfc3339 = |offset_secs: i64| {
        (OffsetDateTime::now_utc() + time::Duration::seconds(offset_secs))
            .format(&Rfc3339)
            .expect("formats")
    };
    let past = rfc3339(-3600);
    let o = against(
        "read",
        &hub.base_url,
        &creds,
        &["--stream", "contacts", "--since", &past],
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(ids(&json_lines(&o)), seeded);
    assert_eq!(
        hub.requests.matching("POST", "/crm/v3/objects/contacts/search").len(),
        2,
        "the incremental (search) request, paged"
    );
    assert!(err(&o).contains("highest cursor"), "{}", err(&o));

    // Well past the lookback window: nothing changed since then.
    let future = rfc3339(3600);
    let o = against(
        "read",
        &hub.base_url,
        &creds,
        &["--stream", "contacts", "--since", &future],
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(out(&o), "");

    let o = against(
        "read",
        &hub.base_url,
        &creds,
        &["--stream", "contacts", "--since", "yesterday"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("--since") && err(&o).contains("RFC 3339"),
        "{}",
        err(&o)
    );
}

#[test]
fn read_fetches_one_record_by_id() {
    let hub = hubspot::start(HubspotConfig::default());
    let id = seed_contacts(&hub, 3).into_iter().nth(1).expect("seeded");
    let creds = hub_credentials();
    let o = against("read", &hub.base_url, &creds, &["--stream", "contacts", "--id", &id]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let records = json_lines(&o);
    assert_eq!((records.len(), records[0]["id"].as_str()), (1, Some(id.as_str())));
    let missing = against(
        "read",
        &hub.base_url,
        &creds,
        &["--stream", "contacts", "--fetch", "999999"],
    );
    assert_eq!(missing.status.code(), Some(1), "{}", err(&missing));
    assert!(err(&missing).contains("no contacts record 999999"), "{}", err(&missing));
}

#[test]
fn check_exits_0_with_a_good_token_and_1_with_a_refused_one() {
    let hub = hubspot::start(HubspotConfig::default());
    let good = against("check", &hub.base_url, &hub_credentials(), &[]);
    assert_eq!(good.status.code(), Some(0), "{}", err(&good));
    assert!(out(&good).starts_with("ok: HTTP 200"), "{}", out(&good));

    let bad_token = "pat-na1-not-a-real-token";
    let bad = temp_file(
        "hubspot.json",
        format!(r#"{{"access_token": "{bad_token}"}}"#).as_bytes(),
    );
    let refused = against("check", &hub.base_url, &bad, &[]);
    assert_eq!(refused.status.code(), Some(1), "{}", err(&refused));
    assert!(out(&refused).starts_with("failed: "), "{}", out(&refused));
    assert!(out(&refused).contains("401"), "{}", out(&refused));
    assert!(!out(&refused).contains(bad_token) && !err(&refused).contains(bad_token));

    // Without --allow-private-network a loopback URL is refused before any request.
    let guarded = switchyard(&[
        "connectors",
        "check",
        "hubspot",
        "--base-url",
        &hub.base_url,
        "--credentials-file",
        hub_credentials().to_str().unwrap(),
    ]);
    assert_eq!(guarded.status.code(), Some(2));
    assert!(err(&guarded).contains("--allow-private-network"), "{}", err(&guarded));
}

#[test]
fn write_dry_run_prints_redacted_requests_and_sends_nothing() {
    let hub = hubspot::start(HubspotConfig::default());
    let records = temp_file(
        "contacts.jsonl",
        b"{\"properties\": {\"email\": \"a@example.com\", \"firstname\": \"A\"}}\n\
          {\"properties\": {\"firstname\": \"no email\"}}\n\
          {\"properties\": {\"email\": \"b@example.com\"}}\n",
    );
    let o = against(
        "write",
        &hub.base_url,
        &hub_credentials(),
        &[
            "--operation",
            "contacts.upsert_by_email",
            "--records",
            records.to_str().unwrap(),
            "--dry-run",
        ],
    );
    assert_eq!(hub.requests.len(), 0, "a dry run sends nothing");
    assert_eq!(o.status.code(), Some(1), "line 2 has no key: {}", err(&o));
    let lines = json_lines(&o);
    let request = &lines[0];
    assert_eq!(request["method"], "POST");
    assert_eq!(
        request["url"].as_str(),
        Some(format!("{}/crm/v3/objects/contacts/batch/upsert", hub.base_url).as_str())
    );
    assert_eq!(request["lines"], serde_json::json!([1, 3]));
    assert_eq!(request["body"]["inputs"][1]["id"], "b@example.com");
    assert!(
        request["headers"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!(["authorization", "Bearer [REDACTED]"])),
        "{request}"
    );
    assert_eq!(lines[1]["line"], 2);
    assert_eq!(lines[1]["status"], "refused");
    assert!(err(&o).contains("nothing was sent"), "{}", err(&o));
    for text in [out(&o), err(&o)] {
        assert!(!text.contains(hubspot::TEST_TOKEN), "the token never appears: {text}");
    }
}

#[test]
fn write_dry_run_redacts_every_kind_of_credential() {
    let generic = include_str!("../../../shared/connectors/generic-rest.yaml");
    let with_auth = |auth: &str| {
        let start = generic.find("auth:\n").expect("generic-rest has an auth block");
        let end = generic.find("\nrate_limit:").expect("and a rate limit after it");
        format!("{}auth: {auth}\n{}", &generic[..start], &generic[end..])
    };
    let item = b"{\"external_id\": \"x1\", \"name\": \"one\"}\n";
    let secret = "s3cr3t-value-that-must-not-print";
    // (definition file or id, credentials, what the credential looks like in the request)
    let cases: Vec<(String, String, &str)> = vec![
        (
            "generic-rest".into(),
            format!(r#"{{"api_key": "{secret}"}}"#),
            r#"["x-api-key","[REDACTED]"]"#,
        ),
        (
            temp_file(
                "generic-rest.yaml",
                with_auth("{type: api_key, in: query, name: key, credential: api_key}").as_bytes(),
            )
            .display()
            .to_string(),
            format!(r#"{{"api_key": "{secret}"}}"#),
            "?key=[REDACTED]",
        ),
        (
            temp_file(
                "generic-rest.yaml",
                with_auth("{type: basic, username: username, password: password}").as_bytes(),
            )
            .display()
            .to_string(),
            format!(r#"{{"username": "someone", "password": "{secret}"}}"#),
            r#"["authorization","Basic [REDACTED]"]"#,
        ),
        (
            temp_file(
                "generic-rest.yaml",
                with_auth("{type: oauth2, token_url: https://auth.example.com/token, grant: refresh_token}").as_bytes(),
            )
            .display()
            .to_string(),
            format!(r#"{{"client_id": "cid-123456", "client_secret": "{secret}", "refresh_token": "{secret}-r"}}"#),
            r#"["authorization","Bearer [REDACTED]"]"#,
        ),
    ];
    let records = temp_file("items.jsonl", item);
    let nowhere = dead_port_url();
    for (connector, creds, expected) in cases {
        let creds = temp_file("creds.json", creds.as_bytes());
        let o = switchyard(&[
            "connectors",
            "write",
            &connector,
            "--operation",
            "items.upsert",
            "--records",
            records.to_str().unwrap(),
            "--dry-run",
            "--base-url",
            &nowhere,
            "--allow-private-network",
            "--credentials-file",
            creds.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{connector}: {}", err(&o));
        let text = out(&o);
        assert!(text.contains(expected), "{connector}: {expected} missing from {text}");
        assert!(
            !text.contains("s3cr3t") && !err(&o).contains("s3cr3t"),
            "{connector}: a credential leaked: {text}"
        );
    }
}

#[test]
fn write_creates_records_reports_refusals_and_reads_back() {
    let hub = hubspot::start(HubspotConfig::default());
    let creds = hub_credentials();
    let records = temp_file(
        "contacts.jsonl",
        b"{\"properties\": {\"email\": \"ada@example.com\", \"firstname\": \"Ada\"}}\n\
          {\"properties\": {\"email\": \"grace@example.com\", \"firstname\": \"Grace\"}}\n",
    );
    let o = against(
        "write",
        &hub.base_url,
        &creds,
        &["--operation", "contacts.create", "--records", records.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let results = json_lines(&o);
    assert_eq!(results.len(), 2);
    for (n, r) in results.iter().enumerate() {
        assert_eq!(
            (r["line"].as_u64(), r["status"].as_str()),
            (Some(n as u64 + 1), Some("ok")),
            "{r}"
        );
        let id = r["destination_id"].as_str().expect("HubSpot returns the new id");
        assert!(hub.object(ObjectType::Contacts, id).is_some());
    }
    assert!(err(&o).contains("2 records, 2 ok, 0 refused"), "{}", err(&o));

    let read = against("read", &hub.base_url, &creds, &["--stream", "contacts"]);
    let names: BTreeSet<String> = json_lines(&read)
        .iter()
        .map(|r| r["properties"]["firstname"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(names, BTreeSet::from(["Ada".to_owned(), "Grace".to_owned()]));

    // One record the destination refuses: the other is still written, the refusal names why.
    let mixed = temp_file(
        "contacts.jsonl",
        b"{\"properties\": {\"email\": \"not-an-email\"}}\n\
          {\"properties\": {\"email\": \"linus@example.com\", \"firstname\": \"Linus\"}}\n",
    );
    let o = against(
        "write",
        &hub.base_url,
        &creds,
        &["--operation", "contacts.create", "--records", mixed.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    let results = json_lines(&o);
    assert_eq!(results[0]["status"], "refused", "{}", out(&o));
    assert!(
        results[0]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase()
            .contains("email"),
        "the destination's reason: {}",
        results[0]
    );
    assert_eq!(results[1]["status"], "ok");
    assert!(hub.find(ObjectType::Contacts, "email", "linus@example.com").is_some());
    assert!(err(&o).contains("1 refused"), "{}", err(&o));
}

#[test]
fn bad_input_exits_2_naming_the_problem() {
    let hub = hubspot::start(HubspotConfig::default());
    let creds = hub_credentials();
    let creds_path = creds.to_str().unwrap().to_owned();
    let good = temp_file("ok.jsonl", b"{\"properties\": {\"email\": \"a@example.com\"}}\n");
    let malformed = temp_file(
        "bad.jsonl",
        b"{\"properties\": {\"email\": \"a@example.com\"}}\n\n{\"properties\": {\"email\": \"b@ex\"\n",
    );
    let missing_creds = "/nonexistent/hubspot-creds.json";
    let dir = std::env::temp_dir();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "read",
                "hubspotz",
                "--stream",
                "contacts",
                "--credentials-file",
                &creds_path,
            ],
            "unknown connector \"hubspotz\"",
        ),
        (
            vec![
                "read",
                "hubspot",
                "--stream",
                "contact",
                "--credentials-file",
                &creds_path,
            ],
            "no stream \"contact\"",
        ),
        (
            vec![
                "write",
                "hubspot",
                "--operation",
                "contacts.upsert",
                "--records",
                good.to_str().unwrap(),
                "--credentials-file",
                &creds_path,
            ],
            "no write operation \"contacts.upsert\"",
        ),
        (
            vec![
                "read",
                "hubspot",
                "--stream",
                "contacts",
                "--credentials-file",
                missing_creds,
            ],
            "cannot read credentials file /nonexistent/hubspot-creds.json",
        ),
        (
            vec!["check", "hubspot", "--credentials-file", dir.to_str().unwrap()],
            "not a regular file",
        ),
        (
            vec![
                "write",
                "hubspot",
                "--operation",
                "contacts.create",
                "--records",
                malformed.to_str().unwrap(),
                "--credentials-file",
                &creds_path,
            ],
            "bad.jsonl line 3: not valid JSON",
        ),
    ];
    for (args, expected) in cases {
        let mut all = vec!["connectors"];
        all.extend(&args);
        all.extend(["--base-url", &hub.base_url, "--allow-private-network"]);
        let o = switchyard(&all);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", err(&o));
        assert!(
            err(&o).contains(expected),
            "{args:?}: expected {expected:?} in {}",
            err(&o)
        );
    }
    assert_eq!(hub.requests.len(), 0, "bad input sends nothing");
}
