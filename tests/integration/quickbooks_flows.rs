//! Stripe customers -> QuickBooks Online customers end to end: localstripe as Stripe, the
//! QuickBooks fake (API and OAuth servers, the API's traffic checked against the QuickBooks
//! spec), moto for state. The seed use case: customers who pay through Stripe exist in the
//! books before their invoices and payments follow.

use serde_json::json;
use switchyard::admin::create_connection;
use switchyard::store::connections::Connection;
use switchyard::store::jobs::JobStatus;
use switchyard_fakes::quickbooks::{self, QuickBooksConfig, CLIENT_ID, CLIENT_SECRET, REALM_ID, REFRESH_TOKEN};

use crate::sync::Rig;

#[tokio::test]
async fn stripe_customers_become_quickbooks_customers_and_the_rotated_refresh_token_is_stored() {
    let rig = Rig::new().await;
    let qbo = quickbooks::start(QuickBooksConfig::default());
    let conn = create_connection(
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
    .expect("the QuickBooks connection is created");
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
