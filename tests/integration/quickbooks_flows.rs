//! Stripe customers -> QuickBooks Online customers end to end: localstripe as Stripe, the
//! QuickBooks fake (API and OAuth servers, the API's traffic checked against the QuickBooks
//! spec), moto for state. The seed use case: customers who pay through Stripe exist in the
//! books before their invoices and payments follow. And QuickBooks customers <-> HubSpot
//! contacts as a two-way link whose deletes propagate: QuickBooks' change data capture feed
//! carries a deleted customer as a tombstone to the linked contact, and a delete whose target
//! is already gone counts as done.

use serde_json::json;
use switchyard::admin::create_connection;
use switchyard::store::connections::Connection;
use switchyard::store::flows::{ConflictRule, DeleteRule, Flow, SyncMode};
use switchyard::store::jobs::JobStatus;
use switchyard::sync::{link_flows, LinkPolicy};
use switchyard_fakes::hubspot::{self, ObjectType};
use switchyard_fakes::quickbooks::{self, QuickBooksConfig, CLIENT_ID, CLIENT_SECRET, REALM_ID, REFRESH_TOKEN};

use crate::sync::Rig;

/// Connects the QuickBooks fake as `conn_qbo` of the rig's tenant.
async fn connect_quickbooks(rig: &Rig, qbo: &quickbooks::QuickBooksFake) -> Connection {
    create_connection(
        &rig.deps.connections,
        &rig.deps.secrets,
        Connection {
            id: "conn_qbo".into(),
            tenant: rig.flow.tenant.clone(),
            provider: "quickbooks".into(),
            name: "QuickBooks (Sandbox Company)".into(),
            webhook: None,
            secret_arn: None,
            config: json!({
                "base_url": qbo.api.base_url,
                "realm_id": REALM_ID,
                "oauth_url": qbo.oauth.base_url,
                "rate_limit": {"requests": 100, "window_ms": 1000}
            })
            .as_object()
            .cloned()
            .unwrap(),
            created_at: 0,
        },
        None,
        json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN})
            .as_object()
            .cloned()
            .unwrap(),
    )
    .await
    .expect("the QuickBooks connection is created")
}

#[tokio::test]
async fn stripe_customers_become_quickbooks_customers_and_the_rotated_refresh_token_is_stored() {
    let rig = Rig::new().await;
    let qbo = quickbooks::start(QuickBooksConfig::default());
    let conn = connect_quickbooks(&rig, &qbo).await;
    let flow = rig
        .flow_from_customers(
            "flow_qbo",
            "conn_qbo",
            "customers.create_or_update",
            r#"{DisplayName: .name, PrimaryEmailAddr: {Address: .email},
                GivenName: ((.name // "") | split(" ") | .[0] // ""),
                FamilyName: ((.name // "") | split(" ") | .[1:] | join(" "))}"#,
        )
        .await;
    for i in 0..3 {
        rig.stripe
            .create_customer(&format!("qbo{i}@example.com"), &format!("Books Person{i}"))
            .await;
    }
    // A customer QuickBooks refuses: a DisplayName another customer already has.
    rig.stripe.create_customer("twin@example.com", "Books Person1").await;

    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.status, JobStatus::Partial, "{job:?}");
    assert_eq!((job.counts.written, job.counts.failed), (3, 1), "{job:?}");
    assert!(
        job.recent_failures[0].reason.contains("already using this name"),
        "{:?}",
        job.recent_failures
    );
    let customer = qbo
        .find("Customer", "/PrimaryEmailAddr/Address", "qbo2@example.com")
        .expect("the customer was created");
    assert_eq!(
        (
            customer["DisplayName"].as_str(),
            customer["GivenName"].as_str(),
            customer["FamilyName"].as_str()
        ),
        (Some("Books Person2"), Some("Books"), Some("Person2"))
    );

    // Intuit rotates refresh tokens: the grant's new refresh token (and access token) were
    // written back to the connection's secret, so the next run can still authenticate.
    let arn = conn.secret_arn.expect("the connection has a secret");
    let secret: serde_json::Value = serde_json::from_str(&rig.deps.secrets.get_value(&arn).await.unwrap()).unwrap();
    assert_eq!(qbo.grants(), 1, "one grant for the whole run");
    let rotated = qbo.current_refresh_token();
    assert_ne!(rotated, REFRESH_TOKEN);
    assert_eq!(secret["refresh_token"], rotated.as_str());
    let issued = qbo.issued_access_tokens();
    assert_eq!(secret["access_token"], issued[0].as_str());
    switchyard_tests::log_capture::known_secret(&rotated);
    for token in &issued {
        switchyard_tests::log_capture::known_secret(token);
    }

    // A second run after a new customer: only that one is written, with the stored tokens.
    let before = qbo.count("Customer");
    rig.stripe.create_customer("qbo-new@example.com", "Newest Books").await;
    let job = rig.run_flow(&flow, None).await;
    assert_eq!(qbo.count("Customer"), before + 1, "{job:?}");
    assert_eq!(qbo.grants(), 1, "the stored access token was used");
    let violations = qbo.api.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}

/// QuickBooks customers -> HubSpot contacts and back, linked, deletes propagated.
async fn customers_linked_with_hubspot(rig: &Rig, qbo: &quickbooks::QuickBooksFake) -> (Flow, Flow) {
    connect_quickbooks(rig, qbo).await;
    let to_hs = Flow {
        id: "flow_qbo_to_hs".into(),
        name: "QuickBooks customers to HubSpot contacts".into(),
        source_connection: "conn_qbo".into(),
        source_stream: "customers".into(),
        destination_connection: "conn_hubspot".into(),
        destination_operation: "contacts.upsert_by_email".into(),
        mapping: r#"{properties: {email: .PrimaryEmailAddr.Address, firstname: .GivenName, lastname: .FamilyName}}"#
            .into(),
        mode: SyncMode::Incremental,
        ..rig.flow.clone()
    };
    let to_qbo = Flow {
        id: "flow_hs_to_qbo".into(),
        name: "HubSpot contacts to QuickBooks customers".into(),
        source_connection: "conn_hubspot".into(),
        source_stream: "contacts".into(),
        destination_connection: "conn_qbo".into(),
        destination_operation: "customers.create_or_update".into(),
        mapping: r#"{GivenName: .properties.firstname, FamilyName: .properties.lastname,
            DisplayName: "\(.properties.firstname) \(.properties.lastname)",
            PrimaryEmailAddr: {Address: .properties.email}}"#
            .into(),
        mode: SyncMode::Full,
        ..rig.flow.clone()
    };
    rig.deps.flows.create(&to_hs).await.unwrap();
    rig.deps.flows.create(&to_qbo).await.unwrap();
    link_flows(
        &rig.deps.link_context(),
        &to_hs.id,
        &to_qbo.id,
        LinkPolicy {
            rule: ConflictRule::SourceWins,
            on_delete: DeleteRule::Propagate,
            ..Default::default()
        },
    )
    .await
    .expect("the two flows pair up");
    (
        rig.deps.flows.get(&to_hs.id).await.unwrap().unwrap(),
        rig.deps.flows.get(&to_qbo.id).await.unwrap().unwrap(),
    )
}

/// Runs `flow` as stored now (its cursor moved by earlier runs).
async fn run(rig: &Rig, flow: &Flow) -> switchyard::store::jobs::Job {
    let stored = rig.deps.flows.get(&flow.id).await.unwrap().expect("the flow exists");
    rig.run_flow(&stored, None).await
}

fn cdc_requests(qbo: &quickbooks::QuickBooksFake) -> usize {
    qbo.api
        .requests
        .all()
        .iter()
        .filter(|r| r.path.ends_with("/cdc"))
        .count()
}

/// A customer deleted in QuickBooks reaches HubSpot through the CDC feed's tombstone: the
/// linked contact is deleted (archived, as HubSpot deletes), and neither direction brings
/// either record back. A contact deleted in HubSpot whose customer is already gone from
/// QuickBooks is deleted either way: done, not a failure.
#[tokio::test]
async fn a_customer_deleted_in_quickbooks_reaches_hubspot_through_the_cdc_tombstone() {
    let rig = Rig::new().await;
    let qbo = quickbooks::start(QuickBooksConfig {
        records: 3,
        ..QuickBooksConfig::default()
    });
    let (to_hs, to_qbo) = customers_linked_with_hubspot(&rig, &qbo).await;
    let job = run(&rig, &to_hs).await;
    assert_eq!((job.counts.written, job.counts.failed), (3, 0), "{:?}", job.counts);
    assert_eq!(cdc_requests(&qbo), 0, "a first run reads the whole list");
    let id_of = |email: &str| {
        qbo.find("Customer", "/PrimaryEmailAddr/Address", email)
            .expect("a seeded customer")["Id"]
            .as_str()
            .expect("an id")
            .to_owned()
    };
    let (first, second) = (id_of("customer1@example.com"), id_of("customer2@example.com"));
    assert!(rig
        .hubspot
        .find(ObjectType::Contacts, "email", "customer1@example.com")
        .is_some());

    // Customer 1 is deleted in QuickBooks: the next run reads CDC, whose tombstone deletes the
    // linked contact.
    qbo.delete("Customer", &first).expect("deleted");
    let writes = rig.hubspot.writes();
    let job = run(&rig, &to_hs).await;
    assert_eq!(cdc_requests(&qbo), 1, "the incremental run read the change feed");
    assert_eq!(
        (job.counts.deleted, job.counts.written, job.counts.failed),
        (1, 0, 0),
        "{:?}",
        job.counts
    );
    assert!(rig
        .hubspot
        .find(ObjectType::Contacts, "email", "customer1@example.com")
        .is_none());
    assert_eq!(
        rig.hubspot.count(ObjectType::Contacts),
        2,
        "one contact deleted (archived)"
    );
    assert_eq!(rig.hubspot.writes(), writes, "nothing else written");
    // HubSpot's side of the pair is retired: its full run does not bring the customer back.
    let job = run(&rig, &to_qbo).await;
    assert_eq!((job.counts.written, job.counts.failed), (0, 0), "{:?}", job.counts);
    assert!(qbo
        .find("Customer", "/PrimaryEmailAddr/Address", "customer1@example.com")
        .is_none());

    // Customer 2 is deleted on both sides before any sync: HubSpot's full run misses the
    // contact, and the propagated delete finds no customer in QuickBooks: done.
    qbo.delete("Customer", &second).expect("deleted");
    let contact = rig
        .hubspot
        .find(ObjectType::Contacts, "email", "customer2@example.com")
        .expect("synced");
    let status = reqwest::Client::new()
        .delete(format!(
            "{}/crm/v3/objects/contacts/{}",
            rig.hubspot.base_url, contact.id
        ))
        .bearer_auth(hubspot::TEST_TOKEN)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 204);
    let job = run(&rig, &to_qbo).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!(
        (job.counts.deleted, job.counts.written, job.counts.failed),
        (1, 0, 0),
        "{:?}",
        job.counts
    );
    // QuickBooks' tombstone for it is then our own delete coming back: nothing to do.
    let job = run(&rig, &to_hs).await;
    assert_eq!((job.counts.deleted, job.counts.failed), (0, 0), "{:?}", job.counts);
    assert!(job.counts.echoes >= 1, "{:?}", job.counts);
    assert!(rig
        .hubspot
        .find(ObjectType::Contacts, "email", "customer3@example.com")
        .is_some());
    let violations = qbo.api.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}
