//! Stripe customers -> Xero contacts end to end: localstripe as Stripe, the Xero fake (API and
//! identity servers, the API's traffic checked against Xero's spec), moto for state. The use
//! case: customers who pay through Stripe become customers in the books.

use serde_json::json;
use switchyard::admin::create_connection;
use switchyard::store::connections::Connection;
use switchyard::store::jobs::JobStatus;
use switchyard_fakes::xero::{self, XeroConfig, CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, TENANT_ID};

use crate::sync::Rig;

#[tokio::test]
async fn stripe_customers_become_xero_contacts_and_the_rotated_refresh_token_is_stored() {
    let rig = Rig::new().await;
    let xero = xero::start(XeroConfig::default());
    let conn = create_connection(
        &rig.deps.connections,
        &rig.deps.secrets,
        Connection {
            id: "conn_xero".into(),
            tenant: rig.flow.tenant.clone(),
            provider: "xero".into(),
            name: "Xero (Demo Company)".into(),
            webhook: None,
            secret_arn: None,
            config: json!({
                "base_url": xero.api_base_url(),
                "tenant_id": TENANT_ID,
                "identity_url": xero.identity.base_url,
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
    .expect("the Xero connection is created");
    let flow = rig
        .flow_from_customers(
            "flow_xero",
            "conn_xero",
            "contacts.create_or_update",
            r#"{Name: .name, EmailAddress: .email, IsCustomer: true,
                FirstName: ((.name // "") | split(" ") | .[0] // ""),
                LastName: ((.name // "") | split(" ") | .[1:] | join(" "))}"#,
        )
        .await;
    for i in 0..3 {
        rig.stripe
            .create_customer(&format!("xero{i}@example.com"), &format!("Xero Person{i}"))
            .await;
    }
    // A customer Xero refuses: an email address without `@`.
    rig.stripe
        .create_customer("no-at-sign.example.com", "Broken Email")
        .await;

    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.status, JobStatus::Partial, "{job:?}");
    assert_eq!((job.counts.written, job.counts.failed), (3, 1), "{job:?}");
    assert!(
        job.recent_failures[0].reason.contains("Email address must be valid"),
        "{:?}",
        job.recent_failures
    );
    let contact = xero
        .find_contact("EmailAddress", "xero1@example.com")
        .expect("the contact was created");
    assert_eq!(
        (
            contact["Name"].as_str(),
            contact["FirstName"].as_str(),
            contact["LastName"].as_str()
        ),
        (Some("Xero Person1"), Some("Xero"), Some("Person1"))
    );

    // Xero's refresh tokens are single use: the grant's new refresh token (and access token)
    // were written back to the connection's secret, so the next run can still authenticate.
    let arn = conn.secret_arn.expect("the connection has a secret");
    let secret: serde_json::Value = serde_json::from_str(&rig.deps.secrets.get_value(&arn).await.unwrap()).unwrap();
    assert_eq!(xero.grants(), 1, "one grant for the whole run");
    let rotated = xero.current_refresh_token();
    assert_ne!(rotated, REFRESH_TOKEN);
    assert_eq!(secret["refresh_token"], rotated.as_str());
    let issued = xero.issued_access_tokens();
    assert_eq!(secret["access_token"], issued[0].as_str());
    switchyard_tests::log_capture::known_secret(&rotated);
    for token in &issued {
        switchyard_tests::log_capture::known_secret(token);
    }

    // A second run after a new customer: only that one is written, with the stored tokens.
    let before = xero.contact_count();
    rig.stripe
        .create_customer("xero-new@example.com", "Newest Person")
        .await;
    let job = rig.run_flow(&flow, None).await;
    assert_eq!(xero.contact_count(), before + 1, "{job:?}");
    assert!(xero.find_contact("EmailAddress", "xero-new@example.com").is_some());
    let violations = xero.api.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}
