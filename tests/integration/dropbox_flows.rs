//! Stripe customers -> Dropbox folders end to end: every new customer gets a folder for their
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
