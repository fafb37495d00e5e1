//! MYOB AccountRight and Oracle ERP Cloud end to end, one use case each:
//! - customers who pay through Stripe become customers of the MYOB company file (the books
//!   learn of them without data entry);
//! - Oracle's receivables customer accounts, with their open balances, become HubSpot companies
//!   (sales sees what each account owes).
//!
//! Each runs through connector-sync's job path against the providers' fakes (docs-based: their
//! headers name the documentation they follow) and moto, twice: the second run writes nothing.

use serde_json::json;
use switchyard::store::flows::SyncMode;
use switchyard::store::jobs::JobStatus;
use switchyard_fakes::hubspot::{self, HubspotConfig, ObjectType, PropertySchema};
use switchyard_fakes::myob::{self, company_path, MyobConfig, API_KEY, CLIENT_SECRET, REFRESH_TOKEN};
use switchyard_fakes::oracle_erp::{self, OracleConfig, PASSWORD, ROOT, USERNAME};

use crate::sync::{Rig, StateRig};

const MYOB_MAPPING: &str = r#"{
  IsIndividual: true,
  FirstName: ((.name // "") | split(" ") | .[0] // ""),
  LastName: ((.name // "") | split(" ") | .[1:] | join(" ")),
  Notes: "Stripe customer \(.id)",
  Addresses: [{Location: 1, Email: .email}]
}"#;

#[tokio::test]
async fn stripe_customers_become_myob_customers_and_a_refused_one_is_reported() {
    let rig = Rig::new().await;
    let fake = myob::start(MyobConfig {
        records: 0,
        ..MyobConfig::default()
    });
    switchyard_tests::log_capture::known_secret(CLIENT_SECRET);
    switchyard_tests::log_capture::known_secret(REFRESH_TOKEN);
    rig.connect_with_config(
        "conn_myob",
        "myob-accountright",
        json!({
            "base_url": format!("{}{}", fake.base_url(), company_path()),
            "api_key": API_KEY,
            "auth_url": fake.base_url(),
            // The definition paces the API key's 8 requests a second; the fake has no limit.
            "rate_limit": {"requests": 1000, "window_ms": 1000},
        }),
        json!({"client_id": API_KEY, "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN}),
    )
    .await;
    let flow = rig
        .flow_from_customers("flow_myob", "conn_myob", "customers.create", MYOB_MAPPING)
        .await;
    for i in 0..3 {
        rig.stripe
            .create_customer(&format!("books{i}@example.com"), &format!("Book Keeper{i}"))
            .await;
    }
    // One name only: MYOB needs an individual's last name and refuses this customer.
    rig.stripe.create_customer("cher@example.com", "Cher").await;

    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.status, JobStatus::Partial, "{job:?}");
    assert_eq!((job.counts.written, job.counts.failed), (3, 1), "{job:?}");
    assert!(
        job.recent_failures[0].reason.contains("last name is required"),
        "{:?}",
        job.recent_failures
    );
    assert_eq!(fake.count("Contact/Customer"), 3);
    let held = fake
        .find("Contact/Customer", "LastName", &json!("Keeper1"))
        .expect("the Stripe customer is a MYOB customer");
    assert_eq!(held["FirstName"], "Book");
    assert_eq!(held["Addresses"][0]["Email"], "books1@example.com");
    assert!(held["Notes"]
        .as_str()
        .is_some_and(|n| n.starts_with("Stripe customer cus_")));

    // Nothing changed in Stripe: the second run writes nothing (the refused one is retried and
    // refused again, not duplicated).
    let again = rig.run_flow(&flow, None).await;
    assert_eq!(again.counts.written, 0, "{again:?}");
    assert_eq!(fake.count("Contact/Customer"), 3);
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}

const ORACLE_MAPPING: &str = r#"{
  properties: {
    name: .CustomerName,
    description: "Oracle account \(.AccountNumber): open receivables \(.TotalOpenReceivablesForAccount)"
  }
}"#;

#[tokio::test]
async fn oracle_receivables_accounts_become_hubspot_companies_with_their_open_balance() {
    let rig = StateRig::new().await;
    let oracle = oracle_erp::start(OracleConfig {
        records: 120,
        ..OracleConfig::default()
    });
    let crm = hubspot::start(HubspotConfig {
        schema: PropertySchema::default(),
        ..HubspotConfig::default()
    });
    switchyard_tests::log_capture::known_secret(PASSWORD);
    rig.connect_with_config(
        "conn_oracle",
        "oracle-erp-cloud",
        json!({
            "base_url": format!("{}{ROOT}", oracle.base_url()),
            // The definition paces 10 requests a second; the fake has no such limit.
            "rate_limit": {"requests": 1000, "window_ms": 1000},
        }),
        json!({"username": USERNAME, "password": PASSWORD}),
    )
    .await;
    rig.connect_with_config(
        "conn_hubspot",
        "hubspot",
        json!({"base_url": crm.base_url}),
        json!({"access_token": hubspot::TEST_TOKEN}),
    )
    .await;
    rig.flow(
        "flow_oracle_accounts",
        ("conn_oracle", "receivables_customers"),
        ("conn_hubspot", "companies.create"),
        SyncMode::Incremental,
        ORACLE_MAPPING,
    )
    .await;

    let job = rig.run_flow("flow_oracle_accounts").await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!(job.counts.written, 120, "{job:?}");
    assert_eq!(crm.count(ObjectType::Companies), 120);
    let company = crm
        .find(ObjectType::Companies, "name", "Customer 7")
        .expect("the account is a company");
    assert_eq!(
        company.get("description"),
        Some("Oracle account ACCT-00007: open receivables 70.0")
    );

    // Nothing changed in Oracle: the next run writes nothing.
    let again = rig.run_flow("flow_oracle_accounts").await;
    assert_eq!(again.status, JobStatus::Succeeded, "{again:?}");
    assert_eq!(again.counts.written, 0, "{again:?}");

    // An account's balance changes in Oracle: the next run carries only that one, through
    // HubSpot's update by id (the write creates; created again it would be a duplicate).
    let seventh = oracle
        .find(
            "receivablesCustomerAccountActivities",
            "CustomerName",
            &json!("Customer 7"),
        )
        .expect("seeded");
    let id = seventh["CustomerAccountId"].to_string();
    oracle
        .touch(
            "receivablesCustomerAccountActivities",
            &id,
            json!({"TotalOpenReceivablesForAccount": 0.0}),
        )
        .expect("the account exists");
    let changed = rig.run_flow("flow_oracle_accounts").await;
    assert_eq!(changed.status, JobStatus::Succeeded, "{changed:?}");
    assert_eq!(changed.counts.written, 1, "{changed:?}");
    assert_eq!(
        crm.count(ObjectType::Companies),
        120,
        "the company is updated, not doubled"
    );
    let updated = crm
        .find(ObjectType::Companies, "name", "Customer 7")
        .expect("the company");
    assert_eq!(
        updated.get("description"),
        Some("Oracle account ACCT-00007: open receivables 0.0")
    );
    assert!(oracle.violations().is_empty(), "{:#?}", oracle.violations());
}
