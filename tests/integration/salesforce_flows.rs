//! HubSpot contacts -> Salesforce contacts end to end, through the sync queue and
//! connector-sync's handler: the HubSpot fake as the source, the Salesforce fake (org and login
//! servers, requests checked against the documented shapes) as the destination, moto for state.

use serde_json::json;
use switchyard::store::flows::Flow;
use switchyard::store::jobs::JobStatus;
use switchyard_fakes::hubspot::ObjectType;
use switchyard_fakes::salesforce::{self, SalesforceConfig, CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN};

use crate::sync::Rig;

#[tokio::test]
async fn hubspot_contacts_become_salesforce_contacts_upserted_on_their_email() {
    let rig = Rig::new().await;
    let org = salesforce::start(SalesforceConfig {
        records: 3,
        ..SalesforceConfig::default()
    });
    // No base_url: the token response's instance_url gives it.
    rig.connect_with_config(
        "conn_salesforce",
        "salesforce",
        json!({"login_url": org.login.base_url}),
        json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN}),
    )
    .await;
    let flow = Flow {
        id: "flow_hubspot_salesforce".into(),
        name: "HubSpot contacts to Salesforce contacts".into(),
        source_connection: "conn_hubspot".into(),
        source_stream: "contacts".into(),
        destination_connection: "conn_salesforce".into(),
        destination_operation: "contacts.upsert_by_email".into(),
        mapping: r#"{Email__c: .properties.email, Email: .properties.email,
                     FirstName: .properties.firstname, LastName: .properties.lastname}"#
            .into(),
        ..rig.flow.clone()
    };
    rig.deps.flows.create(&flow).await.unwrap();
    for (email, first, last) in [
        ("ada@example.com", "Ada", "Lovelace"),
        ("grace@example.com", "Grace", "Hopper"),
        // Already a Salesforce contact (seeded): updated in place, not duplicated.
        ("contact2@example.com", "Katherine", "Johnson"),
    ] {
        rig.hubspot.insert(
            ObjectType::Contacts,
            &[("email", email), ("firstname", first), ("lastname", last)],
        );
    }
    // A HubSpot contact without a last name: Salesforce refuses it (LastName is required).
    rig.hubspot.insert(
        ObjectType::Contacts,
        &[("email", "mononym@example.com"), ("firstname", "Cher")],
    );

    let job = switchyard::sync::start_job(&rig.deps, &flow, "test", None, true)
        .await
        .unwrap();
    assert_eq!(rig.drain_through_handler().await, 1, "the sync job ran off the queue");
    let job = rig.deps.jobs.get(&flow.id, &job.job_id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Partial, "{job:?}");
    assert_eq!((job.counts.written, job.counts.failed), (3, 1), "{job:?}");
    assert!(
        job.recent_failures[0]
            .reason
            .contains("Required fields are missing: [LastName]"),
        "{:?}",
        job.recent_failures
    );
    assert_eq!(org.count("Contact"), 3 + 2, "two inserted, one matched on Email__c");
    let ada = org
        .find("Contact", "Email__c", "ada@example.com")
        .expect("Ada was upserted");
    assert_eq!(
        (ada["FirstName"].as_str(), ada["LastName"].as_str()),
        (Some("Ada"), Some("Lovelace"))
    );
    let katherine = org.find("Contact", "Email__c", "contact2@example.com").expect("seeded");
    assert_eq!(katherine["LastName"], "Johnson", "the existing contact was updated");

    // The instance URL came from the token response and was stored with the token.
    let conn = rig
        .deps
        .connections
        .get("conn_salesforce")
        .await
        .unwrap()
        .expect("the connection exists");
    let arn = conn.secret_arn.expect("the connection has a secret");
    let secret: serde_json::Value = serde_json::from_str(&rig.deps.secrets.get_value(&arn).await.unwrap()).unwrap();
    assert_eq!(secret["instance_url"], org.api.base_url.as_str());
    for token in org.issued_access_tokens() {
        switchyard_tests::log_capture::known_secret(&token);
    }

    // Again: nothing changed in HubSpot, nothing is written.
    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.counts.written, 0, "{job:?}");
    assert_eq!(org.count("Contact"), 5);
    let violations = org.violations();
    assert!(violations.is_empty(), "{violations:#?}");
}
