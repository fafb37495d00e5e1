//! Stripe customers -> Zoho CRM contacts end to end: localstripe as Stripe, the Zoho fake (API
//! and accounts servers, the API's traffic checked against Zoho's spec), moto for state.

use serde_json::json;
use switchyard::admin::create_connection;
use switchyard::store::connections::Connection;
use switchyard::store::jobs::JobStatus;
use switchyard_fakes::zoho_crm::{self, ZohoConfig, CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN};

use crate::sync::Rig;

#[tokio::test]
async fn stripe_customers_become_zoho_contacts_and_the_token_and_api_domain_are_stored() {
    let rig = Rig::new().await;
    let zoho = zoho_crm::start(ZohoConfig::default());
    let conn = create_connection(
        &rig.deps.connections,
        &rig.deps.secrets,
        Connection {
            id: "conn_zoho".into(),
            tenant: rig.flow.tenant.clone(),
            provider: "zoho-crm".into(),
            name: "Zoho CRM (EU data centre)".into(),
            webhook: None,
            secret_arn: None,
            // No base_url: the token response's api_domain gives it. The daily-credit pacing
            // is lifted as for a larger plan (the fake has no such limit).
            config: json!({
                "accounts_url": zoho.accounts.base_url,
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
    .expect("the Zoho connection is created");
    let flow = rig
        .flow_from_customers(
            "flow_zoho",
            "conn_zoho",
            "contacts.upsert_by_email",
            r#"{Email: .email,
                First_Name: ((.name // "") | split(" ") | .[0] // ""),
                Last_Name: ((.name // "") | split(" ") | .[1:] | join(" "))}"#,
        )
        .await;
    for i in 0..3 {
        rig.stripe
            .create_customer(&format!("zoho{i}@example.com"), &format!("Zoho Person{i}"))
            .await;
    }
    // A customer Zoho refuses: no last name is a mandatory field missing on insert.
    rig.stripe.create_customer("zoho-mononym@example.com", "Cher").await;

    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.status, JobStatus::Partial, "{job:?}");
    assert_eq!((job.counts.written, job.counts.failed), (3, 1), "{job:?}");
    assert!(
        job.recent_failures[0].reason.contains("required field not found"),
        "{:?}",
        job.recent_failures
    );
    let contact = zoho
        .find("Contacts", "Email", "zoho1@example.com")
        .expect("the contact was upserted");
    assert_eq!(
        (contact["First_Name"].as_str(), contact["Last_Name"].as_str()),
        (Some("Zoho"), Some("Person1"))
    );

    // The token grant's access token and API domain were written back to the connection's
    // secret (before the token was used), so the next process neither refreshes nor guesses the
    // data centre.
    let arn = conn.secret_arn.expect("the connection has a secret");
    let secret: serde_json::Value = serde_json::from_str(&rig.deps.secrets.get_value(&arn).await.unwrap()).unwrap();
    assert_eq!(secret["api_domain"], zoho.api.base_url.as_str());
    let issued = zoho.issued_access_tokens();
    assert_eq!(issued.len(), 1, "one grant for the whole run");
    assert_eq!(secret["access_token"], issued[0].as_str());
    for token in &issued {
        switchyard_tests::log_capture::known_secret(token);
    }

    // A second run: the same contacts, unchanged, are skipped; nothing new is inserted.
    let before = zoho.count("Contacts");
    let job = rig.run_flow(&flow, None).await;
    assert_eq!(zoho.count("Contacts"), before, "{job:?}");
    let violations = zoho.api.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}
