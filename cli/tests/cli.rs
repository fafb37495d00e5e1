//! The `switchyard` binary as a user runs it: exit codes, output, and its effect on the emulator.

use std::path::Path;
use std::process::{Command, Output};

use switchyard_tests::{emulator, temp_file, TestEnv};

#[path = "cli/connector_loop.rs"]
mod connector_loop;
#[path = "cli/spec_fake_loop.rs"]
mod spec_fake_loop;

fn switchyard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("TABLE_NAME")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("RUST_LOG", "warn")
        .output()
        .expect("the switchyard binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn p(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

// GitHub's documented example: secret "It's a Secret to Everybody", payload "Hello, World!".
const GH_SIG: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

#[test]
fn verify_prints_valid_and_exits_0_for_a_good_signature() {
    let secret = temp_file("secret.txt", b"It's a Secret to Everybody\n");
    let body = temp_file("body.txt", b"Hello, World!");
    let header = format!("X-Hub-Signature-256: {GH_SIG}");
    let out = switchyard(&[
        "webhook",
        "verify",
        "--scheme",
        "github",
        "--secret-file",
        p(&secret),
        "--header",
        &header,
        "--body-file",
        p(&body),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "valid\n");
}

#[test]
fn verify_prints_the_reason_and_exits_1_for_a_tampered_body() {
    let secret = temp_file("secret.txt", b"It's a Secret to Everybody");
    let body = temp_file("body.txt", b"Hello, World?");
    let header = format!("X-Hub-Signature-256: {GH_SIG}");
    let out = switchyard(&[
        "webhook",
        "verify",
        "--scheme",
        "github",
        "--secret-file",
        p(&secret),
        "--header",
        &header,
        "--body-file",
        p(&body),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.starts_with("invalid: "), "{text}");
    assert!(text.to_lowercase().contains("signature"), "{text}");
    assert!(!text.contains("Secret to Everybody"), "the secret is never printed");
}

#[test]
fn verify_reports_a_stale_timestamp_and_accepts_it_with_now() {
    // WEBHOOK_SIGNATURES.md, Slack's official vector at ts 1531420618.
    let secret = temp_file("secret.txt", b"8f742231b10e8888abcd99yyyzzz85a5");
    let body = temp_file(
        "body.txt",
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
    );
    let args = |now: Option<&'static str>| {
        let mut a = vec![
            "webhook".to_string(),
            "verify".into(),
            "--scheme".into(),
            "slack".into(),
            "--secret-file".into(),
            p(&secret).into(),
            "--body-file".into(),
            p(&body).into(),
            "-H".into(),
            "X-Slack-Request-Timestamp: 1531420618".into(),
            "-H".into(),
            "X-Slack-Signature: v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503".into(),
        ];
        if let Some(n) = now {
            a.extend(["--now".to_string(), n.to_string()]);
        }
        a
    };
    let stale = switchyard(&args(None).iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(stale.status.code(), Some(1));
    assert!(stdout(&stale).contains("old"), "{}", stdout(&stale));
    let pinned = switchyard(&args(Some("1531420618")).iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(pinned.status.code(), Some(0), "{}", stdout(&pinned));
}

#[test]
fn verify_accepts_the_previous_secret_during_rotation() {
    let new = temp_file("new.txt", b"rotated-secret");
    let old = temp_file("old.txt", b"It's a Secret to Everybody");
    let body = temp_file("body.txt", b"Hello, World!");
    let header = format!("X-Hub-Signature-256: {GH_SIG}");
    let base = [
        "webhook",
        "verify",
        "--scheme",
        "github",
        "--secret-file",
        p(&new),
        "--header",
        &header,
        "--body-file",
        p(&body),
    ];
    assert_eq!(switchyard(&base).status.code(), Some(1));
    let mut with_prev = base.to_vec();
    with_prev.extend(["--previous-secret-file", p(&old)]);
    let out = switchyard(&with_prev);
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("previous secret"));
}

#[test]
fn bad_arguments_exit_2_with_a_message_saying_what_to_fix() {
    let secret = temp_file("secret.txt", b"s");
    let body = temp_file("body.txt", b"{}");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "webhook",
                "verify",
                "--scheme",
                "nope",
                "--secret-file",
                p(&secret),
                "--body-file",
                p(&body),
            ],
            "nope",
        ),
        (
            vec![
                "webhook",
                "verify",
                "--scheme",
                "github",
                "--secret-file",
                "/nonexistent/s",
                "--body-file",
                p(&body),
            ],
            "/nonexistent/s",
        ),
        (
            vec![
                "webhook",
                "verify",
                "--scheme",
                "github",
                "--secret-file",
                p(&secret),
                "--body-file",
                p(&body),
                "-H",
                "no colon here",
            ],
            "Name: value",
        ),
        (
            vec![
                "webhook",
                "verify",
                "--scheme",
                "hubspot",
                "--secret-file",
                p(&secret),
                "--body-file",
                p(&body),
            ],
            "--url",
        ),
        (
            vec![
                "webhook",
                "verify",
                "--scheme",
                "generic",
                "--secret-file",
                p(&secret),
                "--body-file",
                p(&body),
            ],
            "--generic-config",
        ),
    ];
    for (args, hint) in cases {
        let out = switchyard(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(hint), "{args:?}: {}", stderr(&out));
    }
    let empty = temp_file("empty.txt", b"\n");
    let out = switchyard(&[
        "webhook",
        "verify",
        "--scheme",
        "github",
        "--secret-file",
        p(&empty),
        "--body-file",
        p(&body),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("empty"));
}

#[test]
fn sign_output_verifies_for_every_named_scheme() {
    let plain = temp_file("body.txt", br#"{"id":"evt_1","type":"x"}"#);
    // Linear signs only the body, and the body carries the timestamp.
    let stamped = temp_file(
        "linear-body.txt",
        br#"{"type":"Issue","action":"create","webhookTimestamp":1763800000000}"#,
    );
    let list = switchyard(&["webhook", "schemes"]);
    // Senders that sign nothing: `sign` says so instead of printing headers.
    for unsigned in ["microsoft-graph", "mailchimp"] {
        assert!(stdout(&list).lines().any(|l| l == unsigned), "{unsigned} is listed");
        let secret = temp_file("secret.txt", b"s3cret");
        let out = switchyard(&[
            "webhook",
            "sign",
            "--scheme",
            unsigned,
            "--secret-file",
            p(&secret),
            "--body-file",
            p(&plain),
        ]);
        assert_ne!(out.status.code(), Some(0), "{unsigned}");
        assert!(stderr(&out).contains("signs nothing"), "{unsigned}: {}", stderr(&out));
    }
    // PayPal signs with its certificate's private key: nobody else can sign for it.
    assert!(stdout(&list).lines().any(|l| l == "paypal"), "paypal is listed");
    let secret = temp_file("secret.txt", b"s3cret");
    let out = switchyard(&[
        "webhook",
        "sign",
        "--scheme",
        "paypal",
        "--secret-file",
        p(&secret),
        "--body-file",
        p(&plain),
    ]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("only PayPal can sign"), "{}", stderr(&out));
    let signed_schemes = stdout(&list);
    let signed_schemes = signed_schemes
        .lines()
        .filter(|s| !["generic", "twilio", "microsoft-graph", "mailchimp", "paypal"].contains(s));
    for scheme in signed_schemes {
        let body = if scheme == "linear" { &stamped } else { &plain };
        let secret_value: &[u8] = if scheme == "standard-webhooks" {
            b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        } else if scheme == "basic-auth" {
            // The secret of a basic-auth connection is `user:password`.
            b"pipedrive:s3cret"
        } else {
            b"s3cret"
        };
        let secret = temp_file("secret.txt", secret_value);
        let url = "https://hooks.example.com/hooks/conn_1";
        let signed = switchyard(&[
            "webhook",
            "sign",
            "--scheme",
            scheme,
            "--secret-file",
            p(&secret),
            "--body-file",
            p(body),
            "--url",
            url,
            "--now",
            "1763800000",
        ]);
        assert_eq!(signed.status.code(), Some(0), "{scheme}: {}", stderr(&signed));
        let mut args = vec![
            "webhook".to_string(),
            "verify".into(),
            "--scheme".into(),
            scheme.into(),
            "--secret-file".into(),
            p(&secret).into(),
            "--body-file".into(),
            p(body).into(),
            "--url".into(),
            url.into(),
            "--now".into(),
            "1763800000".into(),
        ];
        for line in stdout(&signed).lines() {
            args.extend(["-H".to_string(), line.to_string()]);
        }
        let out = switchyard(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(stdout(&out), "valid\n", "{scheme}");
    }
}

#[tokio::test]
async fn connections_create_list_and_show_against_the_emulator() {
    let env = TestEnv::new().await;
    let endpoint = &emulator().endpoint;
    let secret = temp_file("whsec.txt", b"whsec_cli_test\n");
    let common = ["--table", env.table.as_str(), "--endpoint-url", endpoint.as_str()];

    let mut create = vec![
        "connections",
        "create",
        "--tenant",
        "acme",
        "--id",
        "conn_cli",
        "--provider",
        "stripe",
    ];
    create.extend(["--webhook-secret-file", p(&secret)]);
    create.extend(common);
    let out = switchyard(&create);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let created: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(created["webhook"]["scheme"], "stripe", "{created}");
    let arn = created["secret_arn"].as_str().expect("the ARN is stored").to_string();
    assert!(!stdout(&out).contains("whsec_cli_test"), "the secret is never printed");

    // The secret is in Secrets Manager, the item only points at it.
    let value = env
        .clients
        .secrets
        .get_secret_value()
        .secret_id(&arn)
        .send()
        .await
        .unwrap();
    assert!(value.secret_string().unwrap().contains("whsec_cli_test"));

    let mut list = vec!["connections", "list", "--tenant", "acme"];
    list.extend(common);
    let out = switchyard(&list);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).contains("conn_cli") && stdout(&out).contains("stripe"),
        "{}",
        stdout(&out)
    );

    let mut show = vec!["connections", "show", "conn_cli"];
    show.extend(common);
    let out = switchyard(&show);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&stdout(&out)).unwrap()["id"],
        "conn_cli"
    );

    let mut missing = vec!["connections", "show", "conn_nobody"];
    missing.extend(common);
    assert_eq!(switchyard(&missing).status.code(), Some(1));

    // Creating the same id again fails and leaves no second secret behind.
    let before = env
        .clients
        .secrets
        .list_secrets()
        .send()
        .await
        .unwrap()
        .secret_list()
        .len();
    let out = switchyard(&create);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    let after = env
        .clients
        .secrets
        .list_secrets()
        .send()
        .await
        .unwrap()
        .secret_list()
        .len();
    assert_eq!(before, after);
}

#[tokio::test]
async fn keys_repair_ttl_moves_an_old_rotations_overlap_end_out_of_the_ttl_attribute_once() {
    let env = TestEnv::new().await;
    let endpoint = &emulator().endpoint;
    let common = ["--table", env.table.as_str(), "--endpoint-url", endpoint.as_str()];
    let mut create = vec!["keys", "create", "--tenant", "acme", "--role", "viewer"];
    create.extend(common);
    let out = switchyard(&create);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // As a release before overlap_ends_at rotated it: the overlap's end in the TTL attribute
    // (the key's creation time stands in for it).
    let scan = || async {
        env.clients
            .dynamodb
            .scan()
            .table_name(&env.table)
            .send()
            .await
            .unwrap()
            .items
            .unwrap_or_default()
            .into_iter()
            .find(|i| i["pk"].as_s().is_ok_and(|pk| pk.starts_with("APIKEY#")))
            .expect("the key item")
    };
    let key = scan().await;
    env.clients
        .dynamodb
        .update_item()
        .table_name(&env.table)
        .key("pk", key["pk"].clone())
        .key("sk", key["sk"].clone())
        .update_expression("SET expires_at = created_at")
        .send()
        .await
        .unwrap();

    let mut repair = vec!["keys", "repair-ttl"];
    repair.extend(common);
    let out = switchyard(&repair);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["repaired"], 1, "{report}");
    let after = scan().await;
    assert!(!after.contains_key("expires_at"), "{after:?}");
    assert_eq!(after.get("overlap_ends_at"), key.get("created_at"), "{after:?}");
    // Again: nothing to repair.
    let out = switchyard(&repair);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["repaired"], 0, "{report}");
}

#[test]
fn local_init_creates_the_template_resources_idempotently() {
    let endpoint = &emulator().endpoint;
    let stage = format!("c{}", &ulid_like()[..10]);
    for _ in 0..2 {
        let out = switchyard(&["local", "init", "--endpoint-url", endpoint, "--stage", &stage]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(
            stdout(&out).contains(&format!("TABLE_NAME=switchyard-{stage}\n")),
            "{}",
            stdout(&out)
        );
        assert!(
            stdout(&out).contains(&format!("/switchyard-{stage}-sync\n")),
            "{}",
            stdout(&out)
        );
        assert!(stderr(&out).contains("SyncDeadLetterQueue"));
    }
}

fn ulid_like() -> String {
    format!(
        "{:010}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            % 10_000_000_000
    )
}

/// Runs the binary and fails the test if it has not exited within `secs` (a read that blocks on
/// a FIFO, or one that never ends on /dev/zero, would hang here).
fn switchyard_within(secs: u64, args: &[&str]) -> Output {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .env_remove("AWS_ENDPOINT_URL")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        // An endpoint nothing listens on: a file check that let the command go on would fail
        // later, not reach AWS.
        .env("TABLE_NAME", "t")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the switchyard binary runs");
    let deadline = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`switchyard {}` did not finish within {secs} s", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn fifo(name: &str) -> std::path::PathBuf {
    let path = temp_file("placeholder", b"").with_file_name(name);
    let status = Command::new("mkfifo").arg(&path).status().expect("mkfifo runs");
    assert!(status.success());
    path
}

/// Every file argument, as `(args before the file, flag, args after)`.
fn file_arguments(other: &Path) -> Vec<Vec<String>> {
    let o = p(other).to_string();
    let v = |args: &[&str]| args.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    vec![
        v(&["connectors", "validate", "{}"]),
        v(&[
            "webhook",
            "verify",
            "--scheme",
            "github",
            "--secret-file",
            &o,
            "--body-file",
            "{}",
        ]),
        v(&[
            "webhook",
            "verify",
            "--scheme",
            "github",
            "--secret-file",
            "{}",
            "--body-file",
            &o,
        ]),
        v(&[
            "webhook",
            "verify",
            "--scheme",
            "github",
            "--secret-file",
            &o,
            "--previous-secret-file",
            "{}",
            "--body-file",
            &o,
        ]),
        v(&[
            "webhook",
            "verify",
            "--scheme",
            "generic",
            "--generic-config",
            "{}",
            "--secret-file",
            &o,
            "--body-file",
            &o,
        ]),
        v(&[
            "webhook",
            "sign",
            "--scheme",
            "github",
            "--secret-file",
            &o,
            "--body-file",
            "{}",
        ]),
        v(&[
            "connections",
            "create",
            "--provider",
            "stripe",
            "--webhook-secret-file",
            "{}",
        ]),
        v(&[
            "connections",
            "create",
            "--provider",
            "stripe",
            "--credentials-file",
            "{}",
        ]),
        v(&[
            "connections",
            "create",
            "--provider",
            "stripe",
            "--webhook-secret-file",
            &o,
            "--previous-webhook-secret-file",
            "{}",
        ]),
        v(&[
            "flows",
            "create",
            "--id",
            "f",
            "--source",
            "a",
            "--stream",
            "s",
            "--destination",
            "b",
            "--operation",
            "o",
            "--mapping-file",
            "{}",
        ]),
        v(&[
            "local",
            "init",
            "--endpoint-url",
            "http://127.0.0.1:9",
            "--samples",
            "{}",
        ]),
    ]
}

fn refused(args: &[String], file: &Path, expect: &str) {
    let args: Vec<String> = args.iter().map(|a| a.replace("{}", p(file))).collect();
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = switchyard_within(15, &refs);
    assert_eq!(out.status.code(), Some(2), "{refs:?}: {}{}", stdout(&out), stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(p(file)) && err.contains(expect), "{refs:?}: {err}");
}

#[test]
fn dev_zero_is_refused_by_every_file_argument_without_reading_it() {
    let other = temp_file("other.txt", b"It's a Secret to Everybody");
    for args in file_arguments(&other) {
        refused(
            &args,
            Path::new("/dev/zero"),
            "not a regular file (it is a character device)",
        );
    }
}

#[test]
fn a_fifo_without_a_writer_is_refused_without_blocking() {
    let other = temp_file("other.txt", b"It's a Secret to Everybody");
    let fifo = fifo("no-writer.fifo");
    for args in file_arguments(&other) {
        refused(&args, &fifo, "not a regular file (it is a FIFO)");
    }
}

#[test]
fn an_oversized_file_is_refused_naming_the_limit() {
    let other = temp_file("other.txt", b"It's a Secret to Everybody");
    // Over every cap (the largest, for bodies, is 10 MiB), sparse so it costs no disk.
    let big = temp_file("big.bin", b"");
    std::fs::File::options()
        .write(true)
        .open(&big)
        .unwrap()
        .set_len(10 * 1024 * 1024 + 1)
        .unwrap();
    for args in file_arguments(&other) {
        refused(&args, &big, "is larger than the limit of ");
    }
    let out = switchyard_within(
        15,
        &[
            "webhook",
            "verify",
            "--scheme",
            "github",
            "--secret-file",
            p(&other),
            "--body-file",
            p(&big),
        ],
    );
    assert!(
        stderr(&out).contains("limit of 10485760 bytes (10 MiB)"),
        "{}",
        stderr(&out)
    );
    let out = switchyard_within(15, &["connectors", "validate", p(&big)]);
    assert!(
        stderr(&out).contains("limit of 1048576 bytes (1 MiB)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn flows_suggest_proposes_a_mapping_from_the_definitions_schemas() {
    let specs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/specs");
    let mapping_file = temp_file("suggested.jq", b"");
    let out = switchyard(&[
        "flows",
        "suggest",
        "--source",
        "stripe/customers",
        "--destination",
        "hubspot/contacts.upsert_by_email",
        "--specs",
        p(&specs),
        "--write-mapping",
        p(&mapping_file),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("properties.email") && text.contains("same name `email`"),
        "{text}"
    );
    assert!(text.contains("name (first word)"), "{text}");
    // The written mapping is one `flows create --mapping-file` accepts.
    let mapping = std::fs::read_to_string(&mapping_file).unwrap();
    switchyard::connector::Mapping::compile(&mapping).unwrap();
    assert!(mapping.contains("\"email\": .email"), "{mapping}");

    // A side that names neither a connector nor (without a table) a connection, an unknown
    // stream, and a schema read without the specs folder: exit 2, saying what to give.
    for (args, expect) in [
        (
            vec!["--source", "nope/x", "--destination", "hubspot/contacts.create"],
            "--table",
        ),
        (
            vec!["--source", "stripe/nope", "--destination", "hubspot/contacts.create"],
            "has no stream `nope`",
        ),
        (
            vec!["--source", "stripe", "--destination", "hubspot/contacts.create"],
            "CONNECTOR/STREAM",
        ),
        (
            vec![
                "--source",
                "stripe/customers",
                "--destination",
                "hubspot/contacts.create",
            ],
            "--specs",
        ),
    ] {
        let mut all = vec!["flows", "suggest"];
        all.extend(args);
        let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(&all)
            .env_remove("SWITCHYARD_SPECS_DIR")
            .env_remove("TABLE_NAME")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{all:?}: {}", stdout(&out));
        assert!(stderr(&out).contains(expect), "{all:?}: {}", stderr(&out));
    }
}

/// Serves the management API on loopback, as `switchyard local up` does, for the CLI's API mode.
async fn serve_api(env: &TestEnv) -> String {
    use std::sync::Arc;

    let deps = Arc::new(switchyard::api::ApiDeps::new(
        switchyard::api::ApiConfig::new(&env.table, &env.queue_url),
        &env.clients,
        Arc::new(switchyard::connector::Registry::embedded().expect("embedded definitions load")),
        Arc::new(switchyard::clock::SystemClock),
    ));
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let deps = deps.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
            let resp = switchyard::api::handle(
                &deps,
                switchyard::api::ApiRequest {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_string(),
                    query: parts.uri.query().unwrap_or_default().to_string(),
                    headers: parts.headers,
                    body: body.to_vec(),
                },
            )
            .await;
            let mut out = axum::response::Response::builder().status(resp.status);
            for (name, value) in &resp.headers {
                out = out.header(name, value);
            }
            out.body(axum::body::Body::from(resp.body)).expect("a valid response")
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_flows_list_and_dead_letters_go_through_the_api_when_its_url_and_key_are_set() {
    use switchyard::store::api_keys::{Role, Tier};
    use switchyard::store::connections::{Connection, ConnectionStore};
    use switchyard::store::dead_letters::{DeadLetter, DeadLetterStatus, DeadLetterStore};
    use switchyard::store::flows::{Flow, FlowStore};

    let env = TestEnv::new().await;
    let tenant = format!("cli-api-{}", &ulid_like()[..8].to_lowercase());
    let db = env.clients.dynamodb.clone();
    ConnectionStore::new(db.clone(), &env.table)
        .create(&Connection {
            id: "conn_cli_api".into(),
            tenant: tenant.clone(),
            provider: "stripe".into(),
            name: "Stripe".into(),
            webhook: None,
            secret_arn: None,
            config: Default::default(),
            created_at: 0,
        })
        .await
        .unwrap();
    FlowStore::new(db.clone(), &env.table)
        .create(&Flow {
            id: "flow_cli_api".into(),
            tenant: tenant.clone(),
            name: "flow_cli_api".into(),
            source_connection: "conn_cli_api".into(),
            source_stream: "customers".into(),
            destination_connection: "conn_cli_api".into(),
            destination_operation: "customers.create".into(),
            mapping: ".".into(),
            mode: Default::default(),
            schedule_interval_secs: None,
            event_types: vec![],
            enabled: true,
            created_at: 0,
            cursor: None,
            next_run_at: None,
            retry_schedule_secs: None,
            reverse_flow: None,
            on_conflict: Default::default(),
            lookups: Vec::new(),
            match_on_create: None,
            on_delete: Default::default(),
            archive_mapping: None,
        })
        .await
        .unwrap();
    DeadLetterStore::new(db.clone(), &env.table)
        .put(&DeadLetter {
            key: "job:flow_cli_api:job_1".into(),
            kind: "sync_job".into(),
            connection_id: None,
            flow_id: Some("flow_cli_api".into()),
            message: "{}".into(),
            attempts: 5,
            history: vec![],
            classification: "transient".into(),
            reason: "exhausted".into(),
            last_error: "Stripe answered 503".into(),
            parked_at: 1_800_000_000,
            status: DeadLetterStatus::Parked,
            replayed_at: None,
        })
        .await
        .unwrap();
    let keys = switchyard::store::api_keys::ApiKeyStore::new(db.clone(), &env.table);
    let (new, _) = switchyard::admin::create_api_key(&keys, &tenant, "cli", Role::Viewer, Tier::Free, "test", 0)
        .await
        .unwrap();
    let key = secrecy::ExposeSecret::expose_secret(&new.key).to_string();
    let url = serve_api(&env).await;

    // No table, no AWS endpoint: only the API's URL and a viewer key.
    let run = |args: Vec<&'static str>, key: String| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_switchyard"))
                .args(&args)
                .env_remove("AWS_ENDPOINT_URL")
                .env_remove("TABLE_NAME")
                .env("SWITCHYARD_API_URL", &url)
                .env("SWITCHYARD_API_KEY", &key)
                .env("RUST_LOG", "warn")
                .output()
                .expect("the switchyard binary runs")
        })
    };
    let flows = run(vec!["flows", "list"], key.clone()).await.unwrap();
    assert_eq!(flows.status.code(), Some(0), "{}", stderr(&flows));
    assert!(
        stderr(&flows).contains("mode: management API at http://127.0.0.1"),
        "{}",
        stderr(&flows)
    );
    assert!(stdout(&flows).contains("conn_cli_api/customers"), "{}", stdout(&flows));

    let dead = run(vec!["dead-letters", "list", "--flow", "flow_cli_api"], key.clone())
        .await
        .unwrap();
    assert_eq!(dead.status.code(), Some(0), "{}", stderr(&dead));
    assert!(stdout(&dead).contains("job:flow_cli_api:job_1"), "{}", stdout(&dead));
    assert!(stdout(&dead).contains("Stripe answered 503"), "{}", stdout(&dead));
    let show = run(vec!["dead-letters", "show", "job:flow_cli_api:job_1"], key.clone())
        .await
        .unwrap();
    assert_eq!(show.status.code(), Some(0), "{}", stderr(&show));
    let missing = run(vec!["dead-letters", "show", "job:nope:1"], key.clone())
        .await
        .unwrap();
    assert_eq!(missing.status.code(), Some(1), "{}", stderr(&missing));

    let status = run(vec!["status", "--json"], key.clone()).await.unwrap();
    assert_eq!(status.status.code(), Some(0), "{}", stderr(&status));
    let screen: serde_json::Value = serde_json::from_str(&stdout(&status)).expect("status --json is JSON");
    assert!(
        screen.to_string().contains("conn_cli_api") && screen.to_string().contains("flow_cli_api"),
        "{screen}"
    );

    // A wrong key: the API's refusal, said plainly, exit 2.
    let refused = run(vec!["flows", "list"], "sy_live_000000000000_wrong".into())
        .await
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("401"), "{}", stderr(&refused));

    // Without the variables and without a table: what to set, either way.
    let direct = switchyard(&["flows", "list"]);
    assert_eq!(direct.status.code(), Some(2));
    assert!(
        stderr(&direct).contains("TABLE_NAME") && stderr(&direct).contains("SWITCHYARD_API_URL"),
        "{}",
        stderr(&direct)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connectors_upload_sends_a_tenant_definition_through_the_api_and_flows_create_uses_it_through_the_api_and_directly(
) {
    use switchyard::store::api_keys::{Role, Tier};

    let env = TestEnv::new().await;
    let tenant = format!("cli-upl-{}", &ulid_like()[..8].to_lowercase());
    let keys = switchyard::store::api_keys::ApiKeyStore::new(env.clients.dynamodb.clone(), &env.table);
    let (new, _) = switchyard::admin::create_api_key(&keys, &tenant, "cli", Role::Editor, Tier::Free, "test", 0)
        .await
        .unwrap();
    let key = secrecy::ExposeSecret::expose_secret(&new.key).to_string();
    let url = serve_api(&env).await;
    let definition = "id: custom-cli\nname: CLI upload\nbase_url: https://api.example.com\nstreams:\n  items:\n    request: {path: /items, query: {after: \"{{ page.token }}\"}}\n    records: /data\n    pagination: {type: cursor, token: /next}\n";
    let run = |args: Vec<String>| {
        let (url, key) = (url.clone(), key.clone());
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_switchyard"))
                .args(&args)
                .env_remove("AWS_ENDPOINT_URL")
                .env_remove("TABLE_NAME")
                .env("SWITCHYARD_API_URL", &url)
                .env("SWITCHYARD_API_KEY", &key)
                .env("RUST_LOG", "warn")
                .output()
                .expect("the switchyard binary runs")
        })
    };
    let file = temp_file("custom-cli.yaml", definition.as_bytes());
    let upload = |extra: Option<&str>, file: &Path| {
        let mut args = vec!["connectors".to_string(), "upload".into(), file.display().to_string()];
        args.extend(extra.map(str::to_string));
        run(args)
    };
    let first = upload(None, &file).await.unwrap();
    assert_eq!(first.status.code(), Some(0), "{}{}", stdout(&first), stderr(&first));
    assert_eq!(stdout(&first).trim(), "uploaded custom-cli version 1");
    let second = upload(Some("--new-version"), &file).await.unwrap();
    assert_eq!(
        stdout(&second).trim(),
        "uploaded custom-cli version 2",
        "{}",
        stderr(&second)
    );
    // Taken: the API's 409, said plainly.
    let again = upload(None, &file).await.unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(stdout(&again).contains("refused (409)"), "{}", stdout(&again));
    // Valid as a definition, refused by the API's URL guard: the field is printed.
    let private = temp_file(
        "custom-private.yaml",
        definition
            .replace("custom-cli", "custom-private")
            .replace("https://api.example.com", "http://10.0.0.7")
            .as_bytes(),
    );
    let refused = upload(None, &private).await.unwrap();
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(stdout(&refused).contains("field `base_url`"), "{}", stdout(&refused));

    // A flow from a connection of the uploaded connector, created by `flows create` both ways:
    // through the API (the key's tenant) and directly (`--tenant`, `--table`).
    use switchyard::store::connections::{Connection, ConnectionStore};
    let connections = ConnectionStore::new(env.clients.dynamodb.clone(), &env.table);
    for (id, provider) in [("conn_custom", "custom-cli"), ("conn_hubspot", "hubspot")] {
        connections
            .create(&Connection {
                id: id.into(),
                tenant: tenant.clone(),
                provider: provider.into(),
                name: id.into(),
                webhook: None,
                secret_arn: None,
                config: Default::default(),
                created_at: 0,
            })
            .await
            .unwrap();
    }
    let flow_args = |id: &str, stream: &str| -> Vec<String> {
        [
            "flows",
            "create",
            "--id",
            id,
            "--source",
            "conn_custom",
            "--stream",
            stream,
            "--destination",
            "conn_hubspot",
            "--operation",
            "contacts.upsert_by_email",
            "--mapping",
            "{email: .id}",
        ]
        .map(str::to_string)
        .to_vec()
    };
    let through_api = run(flow_args("flow_custom_api", "items")).await.unwrap();
    assert_eq!(
        through_api.status.code(),
        Some(0),
        "{}{}",
        stdout(&through_api),
        stderr(&through_api)
    );
    let flow: serde_json::Value = serde_json::from_str(&stdout(&through_api)).expect("the flow is printed as JSON");
    assert_eq!(flow["id"], "flow_custom_api");
    assert_eq!(flow["tenant"], tenant.as_str(), "the key's tenant: {flow}");
    assert_eq!(flow["source_stream"], "items");
    // A stream the uploaded connector does not have: the API's field error, printed.
    let no_stream = run(flow_args("flow_custom_bad", "nope")).await.unwrap();
    assert_eq!(no_stream.status.code(), Some(1), "{}", stderr(&no_stream));
    assert!(
        stdout(&no_stream).contains("refused (422)") && stdout(&no_stream).contains("field `stream`"),
        "{}",
        stdout(&no_stream)
    );

    let endpoint = &emulator().endpoint;
    let mut direct = flow_args("flow_custom_direct", "items");
    direct.extend(["--tenant".into(), tenant.clone(), "--table".into(), env.table.clone()]);
    direct.extend(["--endpoint-url".into(), endpoint.clone()]);
    let direct = switchyard(&direct.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(direct.status.code(), Some(0), "{}{}", stdout(&direct), stderr(&direct));
    let flows = switchyard::store::flows::FlowStore::new(env.clients.dynamodb.clone(), &env.table);
    for id in ["flow_custom_api", "flow_custom_direct"] {
        let saved = flows.get(id).await.unwrap().unwrap_or_else(|| panic!("{id} was saved"));
        assert_eq!(
            (saved.tenant.as_str(), saved.source_connection.as_str()),
            (tenant.as_str(), "conn_custom")
        );
    }
    assert!(
        flows.get("flow_custom_bad").await.unwrap().is_none(),
        "a refused flow leaves nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flows_run_pause_resume_dead_letter_replay_and_connections_list_and_test_go_through_the_api() {
    use switchyard::queue::{Envelope, SyncJobRef, SyncMessage};
    use switchyard::store::api_keys::{Role, Tier};
    use switchyard::store::connections::{Connection, ConnectionStore};
    use switchyard::store::dead_letters::{DeadLetter, DeadLetterStatus, DeadLetterStore};
    use switchyard::store::flows::{Flow, FlowStore};

    let env = TestEnv::new().await;
    let tenant = format!("cli-ops-{}", &ulid_like()[..8].to_lowercase());
    let db = env.clients.dynamodb.clone();
    ConnectionStore::new(db.clone(), &env.table)
        .create(&Connection {
            id: "conn_cli_ops".into(),
            tenant: tenant.clone(),
            provider: "stripe".into(),
            name: "Stripe ops".into(),
            webhook: None,
            secret_arn: None,
            config: Default::default(),
            created_at: 0,
        })
        .await
        .unwrap();
    let flows = FlowStore::new(db.clone(), &env.table);
    flows
        .create(&Flow {
            id: "flow_cli_ops".into(),
            tenant: tenant.clone(),
            name: "flow_cli_ops".into(),
            source_connection: "conn_cli_ops".into(),
            source_stream: "customers".into(),
            destination_connection: "conn_cli_ops".into(),
            destination_operation: "customers.create".into(),
            mapping: ".".into(),
            mode: Default::default(),
            schedule_interval_secs: None,
            event_types: vec![],
            enabled: true,
            created_at: 0,
            cursor: None,
            next_run_at: None,
            retry_schedule_secs: None,
            reverse_flow: None,
            on_conflict: Default::default(),
            lookups: Vec::new(),
            match_on_create: None,
            on_delete: Default::default(),
            archive_mapping: None,
        })
        .await
        .unwrap();
    let dead = DeadLetterStore::new(db.clone(), &env.table);
    for job in ["job_1", "job_2"] {
        let message = Envelope::new(SyncMessage::SyncJob(SyncJobRef {
            flow_id: "flow_cli_ops".into(),
            job_id: job.into(),
            attempt: 5,
        }));
        dead.put(&DeadLetter {
            key: format!("job:flow_cli_ops:{job}"),
            kind: "sync_job".into(),
            connection_id: None,
            flow_id: Some("flow_cli_ops".into()),
            message: serde_json::to_string(&message).unwrap(),
            attempts: 5,
            history: vec![],
            classification: "transient".into(),
            reason: "exhausted".into(),
            last_error: "Stripe answered 503".into(),
            parked_at: 1_800_000_000,
            status: DeadLetterStatus::Parked,
            replayed_at: None,
        })
        .await
        .unwrap();
    }
    let keys = switchyard::store::api_keys::ApiKeyStore::new(db.clone(), &env.table);
    let key_of = |role| {
        let (keys, tenant) = (keys.clone(), tenant.clone());
        async move {
            let (new, _) = switchyard::admin::create_api_key(&keys, &tenant, "cli", role, Tier::Free, "test", 0)
                .await
                .unwrap();
            secrecy::ExposeSecret::expose_secret(&new.key).to_string()
        }
    };
    let (runner, editor) = (key_of(Role::Runner).await, key_of(Role::Editor).await);
    let url = serve_api(&env).await;
    let run = |args: Vec<&'static str>, key: &str| {
        let (url, key) = (url.clone(), key.to_string());
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_switchyard"))
                .args(&args)
                .env_remove("AWS_ENDPOINT_URL")
                .env_remove("TABLE_NAME")
                .env_remove("SYNC_QUEUE_URL")
                .env("SWITCHYARD_API_URL", &url)
                .env("SWITCHYARD_API_KEY", &key)
                .env("RUST_LOG", "warn")
                .output()
                .expect("the switchyard binary runs")
        })
    };

    let listed = run(vec!["connections", "list"], &runner).await.unwrap();
    assert_eq!(listed.status.code(), Some(0), "{}", stderr(&listed));
    assert!(stderr(&listed).contains("mode: management API"), "{}", stderr(&listed));
    assert!(
        stdout(&listed).contains("conn_cli_ops") && stdout(&listed).contains("Stripe ops"),
        "{}",
        stdout(&listed)
    );
    // No credentials: the API says there is nothing to check, and the command fails.
    let tested = run(vec!["connections", "test", "conn_cli_ops"], &runner).await.unwrap();
    assert_eq!(tested.status.code(), Some(1), "{}", stderr(&tested));
    let result: serde_json::Value = serde_json::from_str(&stdout(&tested)).expect("the result is JSON");
    assert_eq!(result["ok"], false, "{result}");
    let missing = run(vec!["connections", "test", "conn_nope"], &runner).await.unwrap();
    assert_eq!(missing.status.code(), Some(1));

    // Run: enqueued by the API, the job's id printed.
    let ran = run(vec!["flows", "run", "flow_cli_ops", "--full"], &runner)
        .await
        .unwrap();
    assert_eq!(ran.status.code(), Some(0), "{}", stderr(&ran));
    assert!(stdout(&ran).starts_with("enqueued job "), "{}", stdout(&ran));
    // Pause needs an editor: a runner is refused with the API's 403, said plainly.
    let refused = run(vec!["flows", "pause", "flow_cli_ops"], &runner).await.unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("403"), "{}", stderr(&refused));
    let paused = run(vec!["flows", "pause", "flow_cli_ops"], &editor).await.unwrap();
    assert_eq!(paused.status.code(), Some(0), "{}", stderr(&paused));
    assert!(!flows.get("flow_cli_ops").await.unwrap().unwrap().enabled);
    let resumed = run(vec!["flows", "resume", "flow_cli_ops"], &editor).await.unwrap();
    assert_eq!(resumed.status.code(), Some(0), "{}", stderr(&resumed));
    assert!(flows.get("flow_cli_ops").await.unwrap().unwrap().enabled);

    // Replay one by key, then the rest by filter: each through the API, marked replayed.
    let one = run(vec!["dead-letters", "replay", "job:flow_cli_ops:job_1"], &runner)
        .await
        .unwrap();
    assert_eq!(one.status.code(), Some(0), "{}{}", stdout(&one), stderr(&one));
    let rest = run(
        vec!["dead-letters", "replay", "--all", "--flow", "flow_cli_ops"],
        &runner,
    )
    .await
    .unwrap();
    assert_eq!(rest.status.code(), Some(0), "{}{}", stdout(&rest), stderr(&rest));
    assert!(
        stdout(&rest).contains("replayed job:flow_cli_ops:job_2") && stdout(&rest).contains("1 replayed, 0 not"),
        "{}",
        stdout(&rest)
    );
    for job in ["job_1", "job_2"] {
        let d = dead.get(&format!("job:flow_cli_ops:{job}")).await.unwrap().unwrap();
        assert_eq!(d.status, DeadLetterStatus::Replayed, "{job}");
    }
}
