//! `switchyard connectors ...`, `flows ...` and `sync status` as a user runs them.

use std::process::{Command, Output};

use switchyard_fakes::hubspot::{self, HubspotConfig, ObjectType};
use switchyard_tests::localstripe::{self, API_KEY};
use switchyard_tests::{emulator, temp_file, TestEnv};

fn switchyard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("TABLE_NAME")
        .env_remove("SYNC_QUEUE_URL")
        .env_remove("ALLOW_PRIVATE_NETWORK")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
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

#[test]
fn connectors_list_and_show_the_built_in_definitions() {
    let list = switchyard(&["connectors", "list"]);
    assert_eq!(list.status.code(), Some(0), "{}", err(&list));
    for id in [
        "stripe",
        "hubspot",
        "slack",
        "webhook",
        "generic-rest",
        "zoho-crm",
        "pipedrive",
        "sap-s4hana",
        "netsuite",
        "woocommerce",
        "magento",
        "moodle",
        "canvas",
        "github",
        "asana",
        "notion",
        "shopify",
        "linear",
        "xero",
        "sage-intacct",
        "d2l-brightspace",
        "axcelerate",
        "vettrak",
        "jr-plus",
        "eskilled",
        "cloudassess",
        "coursebox",
        "dynamics-365",
        "myob-accountright",
        "oracle-erp-cloud",
        "amazon-sp-api",
        "microsoft-graph",
    ] {
        assert!(
            out(&list).lines().any(|l| l.starts_with(id)),
            "{id} missing from:\n{}",
            out(&list)
        );
    }
    let show = switchyard(&["connectors", "show", "hubspot"]);
    assert!(out(&show).contains("contacts.upsert_by_email"));
    assert_eq!(switchyard(&["connectors", "show", "nope"]).status.code(), Some(1));
}

#[test]
fn connectors_validate_names_the_file_and_field_of_a_mistake() {
    let good = temp_file(
        "generic-rest.yaml",
        include_bytes!("../../shared/connectors/generic-rest.yaml"),
    );
    let ok = switchyard(&["connectors", "validate", good.to_str().unwrap()]);
    assert_eq!(
        (ok.status.code(), out(&ok).as_str()),
        (Some(0), "valid\n"),
        "{}",
        err(&ok)
    );

    let broken = String::from_utf8_lossy(include_bytes!("../../shared/connectors/generic-rest.yaml"))
        .replace("type: page_number", "type: page_numbr");
    let bad = temp_file("generic-rest.yaml", broken.as_bytes());
    let res = switchyard(&["connectors", "validate", bad.to_str().unwrap()]);
    assert_eq!(res.status.code(), Some(1));
    let text = out(&res);
    assert!(
        text.starts_with("invalid: ") && text.contains("generic-rest.yaml"),
        "{text}"
    );
    assert!(text.contains("streams.items.pagination"), "{text}");
    // An unreadable file is the command failing (exit 2), as for every other file argument.
    let missing = switchyard(&["connectors", "validate", "/nonexistent/x.yaml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(err(&missing).contains("cannot read connector definition /nonexistent/x.yaml"));
}

#[tokio::test]
async fn flows_create_run_and_sync_status() {
    let env = TestEnv::new().await;
    let stripe = localstripe::start_isolated();
    let hub = hubspot::start(HubspotConfig::default());
    stripe.create_customer("cli1@example.com", "Cli One").await;
    stripe.create_customer("cli2@example.com", "Cli Two").await;
    let endpoint = emulator().endpoint.clone();
    let tenant = format!("cli{}", &env.table[env.table.len() - 8..]);
    let table = env.table.clone();
    let with = |args: Vec<&str>| {
        let mut all: Vec<String> = args.into_iter().map(str::to_string).collect();
        all.extend([
            "--table".to_string(),
            table.clone(),
            "--endpoint-url".to_string(),
            endpoint.clone(),
        ]);
        switchyard(&all.iter().map(String::as_str).collect::<Vec<_>>())
    };

    let stripe_creds = temp_file("stripe.json", format!(r#"{{"api_key": "{API_KEY}"}}"#).as_bytes());
    let hub_creds = temp_file(
        "hubspot.json",
        format!(r#"{{"access_token": "{}"}}"#, hubspot::TEST_TOKEN).as_bytes(),
    );
    let stripe_cfg = format!(r#"{{"base_url": "{}"}}"#, stripe.base_url);
    let hub_cfg = format!(r#"{{"base_url": "{}"}}"#, hub.base_url);
    for (id, provider, creds, cfg) in [
        ("conn_cli_stripe", "stripe", &stripe_creds, &stripe_cfg),
        ("conn_cli_hubspot", "hubspot", &hub_creds, &hub_cfg),
    ] {
        let o = with(vec![
            "connections",
            "create",
            "--tenant",
            &tenant,
            "--id",
            id,
            "--provider",
            provider,
            "--credentials-file",
            creds.to_str().unwrap(),
            "--config",
            cfg,
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", err(&o));
        assert!(!out(&o).contains(API_KEY), "credentials are never printed");
    }

    // Mistakes are caught before anything is written.
    let bad_op = with(vec![
        "flows",
        "create",
        "--tenant",
        &tenant,
        "--id",
        "flow_cli",
        "--source",
        "conn_cli_stripe",
        "--stream",
        "customers",
        "--destination",
        "conn_cli_hubspot",
        "--operation",
        "contacts.upsert_by_emial",
        "--mapping",
        "{properties: {email: .email}}",
    ]);
    assert_eq!(bad_op.status.code(), Some(2));
    assert!(
        err(&bad_op).contains("contacts.upsert_by_email"),
        "the error lists the real operations: {}",
        err(&bad_op)
    );
    let bad_jq = with(vec![
        "flows",
        "create",
        "--tenant",
        &tenant,
        "--id",
        "flow_cli",
        "--source",
        "conn_cli_stripe",
        "--stream",
        "customers",
        "--destination",
        "conn_cli_hubspot",
        "--operation",
        "contacts.upsert_by_email",
        "--mapping",
        "{properties: {email: .email}",
    ]);
    assert_eq!(bad_jq.status.code(), Some(2));
    assert!(err(&bad_jq).contains("mapping"), "{}", err(&bad_jq));

    // The adversarial corpus: loops, memory bombs, runaway recursion, deep nesting. Each is
    // refused with the bound it broke, the CLI does not abort, and no flow is saved.
    let deep = format!("{}.{}", "(".repeat(700), ")".repeat(700));
    let create_with = |mapping: &str, extra: &[&str]| {
        let mut args = vec![
            "flows",
            "create",
            "--tenant",
            &tenant,
            "--id",
            "flow_adversarial",
            "--source",
            "conn_cli_stripe",
            "--stream",
            "customers",
            "--destination",
            "conn_cli_hubspot",
            "--operation",
            "contacts.upsert_by_email",
            "--mapping",
            mapping,
        ];
        args.extend_from_slice(extra);
        with(args)
    };
    for (mapping, expected) in [
        ("last(repeat(.))", "exceeded 100 ms"),
        ("until(false; .)", "exceeded 100 ms"),
        ("def f: f; f", "exceeded 100 ms"),
        ("[range(1e9)]", "exceeded"),
        ("[repeat(.)]", "exceeded"),
        ("def f: 1 + f; f", "jq program"),
        ("def f: [f]; f", "jq program"),
        (deep.as_str(), "nests more than 64 levels deep"),
    ] {
        let refused = create_with(mapping, &[]);
        assert_eq!(refused.status.code(), Some(2), "{mapping}: {}", err(&refused));
        assert!(err(&refused).contains(expected), "{mapping}: {}", err(&refused));
    }
    // The author's own sample records: a mapping that fails on one is refused, by line number.
    let samples = temp_file(
        "samples.jsonl",
        b"{\"email\": \"a@example.com\", \"name\": \"Ada\"}\n{\"email\": 7}\n",
    );
    let refused = create_with(
        "{properties: {email: (.email | ascii_downcase)}}",
        &["--sample-records", samples.to_str().unwrap()],
    );
    assert_eq!(refused.status.code(), Some(2), "{}", err(&refused));
    assert!(err(&refused).contains("on sample record 2"), "{}", err(&refused));
    let listed = with(vec!["flows", "list", "--tenant", &tenant]);
    assert!(
        !out(&listed).contains("flow_adversarial"),
        "nothing was saved: {}",
        out(&listed)
    );

    let created = with(vec![
        "flows",
        "create",
        "--tenant",
        &tenant,
        "--id",
        "flow_cli",
        "--source",
        "conn_cli_stripe",
        "--stream",
        "customers",
        "--destination",
        "conn_cli_hubspot",
        "--operation",
        "contacts.upsert_by_email",
        "--mapping",
        "{properties: {email: .email, firstname: .name}}",
    ]);
    assert_eq!(created.status.code(), Some(0), "{}", err(&created));
    let listed = with(vec!["flows", "list", "--tenant", &tenant]);
    assert!(out(&listed).contains("flow_cli"), "{}", out(&listed));

    // A chained flow: its mapping reads, as `$links.contact`, the HubSpot id flow_cli wrote for
    // the customer. A lookup that is not NAME=FLOW:POINTER, or names no flow, is refused and
    // nothing is saved.
    let chained = |id: &str, lookup: &str| {
        with(vec![
            "flows",
            "create",
            "--tenant",
            &tenant,
            "--id",
            id,
            "--source",
            "conn_cli_stripe",
            "--stream",
            "customers",
            "--destination",
            "conn_cli_hubspot",
            "--operation",
            "contacts.upsert_by_email",
            "--mapping",
            "{properties: {email: .email, hs_object_id: $links.contact}}",
            "--lookup",
            lookup,
        ])
    };
    let malformed = chained("flow_cli_bad_lookup", "contact");
    assert_eq!(malformed.status.code(), Some(2), "{}", err(&malformed));
    assert!(err(&malformed).contains("NAME=FLOW:POINTER"), "{}", err(&malformed));
    let missing = chained("flow_cli_bad_lookup", "contact=flow_nowhere:/id");
    assert_eq!(missing.status.code(), Some(2), "{}", err(&missing));
    assert!(
        err(&missing).contains("flow_nowhere does not exist"),
        "{}",
        err(&missing)
    );
    let made = chained("flow_cli_chained", "contact=flow_cli:/id");
    assert_eq!(made.status.code(), Some(0), "{}", err(&made));
    let flow: serde_json::Value = serde_json::from_str(&out(&made)).expect("the flow, as JSON");
    assert_eq!(
        flow["lookups"],
        serde_json::json!([{"name": "contact", "flow": "flow_cli", "key": "/id"}])
    );
    let listed = with(vec!["flows", "list", "--tenant", &tenant]);
    assert!(!out(&listed).contains("flow_cli_bad_lookup"), "{}", out(&listed));

    let run = with(vec!["flows", "run", "flow_cli", "--allow-private-network"]);
    assert_eq!(run.status.code(), Some(0), "{}\n{}", out(&run), err(&run));
    assert!(out(&run).contains("written 2"), "{}", out(&run));
    assert!(
        err(&run).contains("page") && err(&run).contains("records/s"),
        "progress, with the rate, is printed: {}",
        err(&run)
    );
    assert_eq!(hub.count(ObjectType::Contacts), 2);

    let status = with(vec!["sync", "status", "flow_cli"]);
    assert_eq!(status.status.code(), Some(0));
    assert!(
        out(&status).contains("Succeeded") && out(&status).contains("read 2"),
        "{}",
        out(&status)
    );

    // Without --allow-private-network the network guard refuses loopback URLs, and says so.
    let guarded = with(vec!["flows", "run", "flow_cli"]);
    assert_eq!(guarded.status.code(), Some(2));
    assert!(
        err(&guarded).to_lowercase().contains("loopback") || err(&guarded).contains("private"),
        "{}",
        err(&guarded)
    );
}
