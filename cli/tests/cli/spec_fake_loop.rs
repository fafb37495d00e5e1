//! The connector author's loop against the spec-driven fake, as README's "Adding a connector"
//! walks it: `switchyard-fakes serve hubspot` (here started in-process, the same server), then
//! `switchyard connectors read hubspot --stream contacts ...` prints every seeded contact, and
//! `GET /_fake/violations` answers `[]`.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;
use switchyard_fakes::spec_fake::{FakeOptions, FakeServer};
use switchyard_tests::temp_file;

#[tokio::test]
async fn read_against_the_spec_driven_hubspot_fake_prints_every_seeded_contact_without_violations() {
    let fake = FakeServer::start(
        "hubspot",
        FakeOptions {
            records: 120,
            ..FakeOptions::default()
        },
    )
    .expect("the HubSpot spec and profile load");
    let creds = temp_file("hubspot.json", br#"{"access_token": "pat-na1-fake-hubspot-token"}"#);
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["connectors", "read", "hubspot", "--stream", "contacts", "--base-url"])
        .arg(fake.base_url())
        .arg("--credentials-file")
        .arg(&creds)
        .arg("--allow-private-network")
        .env_remove("ALLOW_PRIVATE_NETWORK")
        .env("RUST_LOG", "warn")
        .output()
        .expect("the switchyard binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");

    let printed: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    let emails = |records: &[Value]| -> BTreeSet<String> {
        records
            .iter()
            .map(|r| {
                r["properties"]["email"]
                    .as_str()
                    .expect("contacts have emails")
                    .to_owned()
            })
            .collect()
    };
    let seeded = fake.objects("contacts");
    assert_eq!(seeded.len(), 120);
    assert_eq!(printed.len(), seeded.len(), "{stderr}");
    assert_eq!(emails(&printed), emails(&seeded));
    assert!(stderr.contains("2 pages, 120 records"), "{stderr}");

    let violations: Value = reqwest::get(fake.url("/_fake/violations"))
        .await
        .expect("the fake answers")
        .json()
        .await
        .expect("violations are JSON");
    assert_eq!(violations, serde_json::json!([]));
}
