//! Stripe customers -> Dropbox folders and files end to end: every new customer gets a folder for their
//! documents under `/Customers`. localstripe as Stripe, the Dropbox fake (its traffic checked
//! against Dropbox's spec with the documented additions), moto for state, through
//! connector-sync's job path; then the folders are read back through the `files` stream
//! (`list_folder` + `list_folder/continue`).

use serde_json::json;
use switchyard::connector::StreamState;
use switchyard::store::jobs::JobStatus;
use switchyard_fakes::dropbox::{self, DropboxConfig, TOKEN};

use crate::sync::Rig;

#[tokio::test]
async fn stripe_customers_get_dropbox_folders_once() {
    switchyard_tests::log_capture::known_secret(TOKEN);
    let rig = Rig::new().await;
    let fake = dropbox::start(DropboxConfig::default());
    rig.connect_with_config(
        "conn_dropbox",
        "dropbox",
        json!({"base_url": dropbox::api_url(&fake), "path": "/Customers"}),
        json!({"access_token": TOKEN}),
    )
    .await;
    let flow = rig
        .flow_from_customers(
            "flow_dropbox",
            "conn_dropbox",
            "folders.create",
            r#"{path: "/Customers/\(.name) (\(.id))", autorename: false}"#,
        )
        .await;
    for i in 0..3 {
        rig.stripe
            .create_customer(&format!("dbx{i}@example.com"), &format!("Customer {i}"))
            .await;
    }
    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!(job.counts.written, 3, "{job:?}");
    assert_eq!(
        fake.count_under("/Customers"),
        4,
        "the parent folder and three customer folders"
    );

    // A second run: the customers are unchanged, no folder is created twice.
    let flow = rig.deps.flows.get(&flow.id).await.unwrap().expect("the flow is stored");
    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.counts.written, 0, "{job:?}");

    // The folders read back through the connection's `files` stream.
    let client = crate::conformance::client(
        "dropbox",
        &dropbox::api_url(&fake),
        &[("access_token", TOKEN)],
        json!({"path": "/Customers"}),
    );
    let page = client.read_page("files", &StreamState::full_refresh()).await.unwrap();
    let names: Vec<&str> = page.records.iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("Customer 1 (cus_")), "{names:?}");
    assert!(fake.violations.all().is_empty(), "{:#?}", fake.violations.all());
}

/// Stripe customers -> Dropbox files end to end: each customer's contact card (a vCard the
/// mapping writes, base64) is uploaded to `/Customers/<id>.vcf` on Dropbox's content host,
/// with the bytes as the body and the arguments in `Dropbox-API-Arg` (a name outside ASCII
/// included). A second run uploads nothing; a customer renamed in Stripe is uploaded again,
/// overwriting the card (the same Dropbox file, a new revision).
#[tokio::test]
async fn stripe_customers_become_dropbox_files_and_a_change_overwrites_the_file() {
    switchyard_tests::log_capture::known_secret(TOKEN);
    let rig = Rig::new().await;
    let fake = dropbox::start(DropboxConfig::default());
    rig.connect_with_config(
        "conn_dropbox",
        "dropbox",
        json!({"base_url": dropbox::api_url(&fake), "hosts": {"content": dropbox::content_url(&fake)}}),
        json!({"access_token": TOKEN}),
    )
    .await;
    let flow = rig
        .flow_from_customers(
            "flow_dropbox_cards",
            "conn_dropbox",
            "files.upload",
            r#"{path: "/Customers/\(.id).vcf", mode: "overwrite",
                content: ("BEGIN:VCARD\nVERSION:4.0\nFN:\(.name)\nEMAIL:\(.email)\nEND:VCARD\n" | @base64)}"#,
        )
        .await;
    let mut ids = Vec::new();
    for (email, name) in [
        ("ada@example.com", "Ada Lovelace"),
        ("zoe@example.com", "Zoë Žáček"),
        ("kai@example.com", "Kai"),
    ] {
        let customer = rig.stripe.create_customer(email, name).await;
        ids.push(customer["id"].as_str().expect("a customer id").to_owned());
    }
    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!(job.counts.written, 3, "{job:?}");
    let card = |id: &str| {
        String::from_utf8(
            fake.file_content(&format!("/Customers/{id}.vcf"))
                .expect("the card was uploaded"),
        )
        .expect("a text card")
    };
    assert!(card(&ids[1]).contains("FN:Zoë Žáček\n"), "{}", card(&ids[1]));
    assert!(card(&ids[0]).contains("EMAIL:ada@example.com\n"), "{}", card(&ids[0]));
    assert_eq!(
        fake.content.requests.count_status(200),
        3,
        "three uploads on the content host"
    );
    let first = fake.by_path(&format!("/Customers/{}.vcf", ids[1])).expect("the file");

    // Nothing changed: nothing is uploaded.
    let flow = rig.deps.flows.get(&flow.id).await.unwrap().expect("the flow is stored");
    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.counts.written, 0, "{job:?}");

    // Zoë's name changes in Stripe: her card is uploaded again over the old one.
    rig.stripe.update_customer(&ids[1], json!({"name": "Zoë Novák"})).await;
    let flow = rig.deps.flows.get(&flow.id).await.unwrap().expect("the flow is stored");
    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!(job.counts.written, 1, "{job:?}");
    assert!(card(&ids[1]).contains("FN:Zoë Novák\n"), "{}", card(&ids[1]));
    let now = fake.by_path(&format!("/Customers/{}.vcf", ids[1])).expect("the file");
    assert_eq!(now["id"], first["id"], "the same file");
    assert_ne!(now["rev"], first["rev"], "a new revision");
    assert_eq!(fake.count_under("/Customers"), 4, "the folder and three cards");
    assert_eq!(
        now["content_hash"],
        dropbox::content_hash(card(&ids[1]).as_bytes()).as_str()
    );
    assert!(fake.violations.all().is_empty(), "{:#?}", fake.violations.all());
}
