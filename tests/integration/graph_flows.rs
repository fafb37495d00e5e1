//! Stripe customers -> Outlook welcome mails through Microsoft Graph end to end: every new
//! customer is sent one mail from the shop's mailbox (`sendMail`, application permissions).
//! localstripe as Stripe, the Graph fake (its traffic checked against Graph's Mail spec and
//! documentation) and its token endpoint, moto for state, through connector-sync's job path.

use serde_json::json;
use switchyard::store::jobs::JobStatus;
use switchyard_fakes::microsoft_graph::{self, GraphConfig, CLIENT_ID, CLIENT_SECRET, TENANT_ID, USER};

use crate::sync::Rig;

#[tokio::test]
async fn stripe_customers_get_one_welcome_mail_from_outlook() {
    switchyard_tests::log_capture::known_secret(CLIENT_SECRET);
    let rig = Rig::new().await;
    let fake = microsoft_graph::start(GraphConfig {
        messages: 0,
        events: 0,
        contacts: 0,
        ..GraphConfig::default()
    });
    rig.connect_with_config(
        "conn_outlook",
        "microsoft-graph",
        json!({
            "base_url": format!("{}/v1.0", fake.base_url),
            "login_url": fake.base_url,
            "tenant_id": TENANT_ID,
            "user": USER,
        }),
        json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}),
    )
    .await;
    let flow = rig
        .flow_from_customers(
            "flow_outlook",
            "conn_outlook",
            "messages.send",
            r#"{subject: "Welcome, \(.name)",
                body: {contentType: "text", content: "Your customer number is \(.id)."},
                toRecipients: [{emailAddress: {address: .email, name: .name}}]}"#,
        )
        .await;
    for i in 0..3 {
        rig.stripe
            .create_customer(&format!("graph{i}@example.com"), &format!("Customer {i}"))
            .await;
    }
    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!(job.counts.written, 3, "{job:?}");
    let sent = fake.sent();
    assert_eq!(sent.len(), 3, "{sent:#?}");
    let mail = sent
        .iter()
        .find(|m| m["subject"] == "Welcome, Customer 1")
        .expect("customer 1 was welcomed");
    assert_eq!(mail["toRecipients"][0]["emailAddress"]["address"], "graph1@example.com");
    assert!(mail["body"]["content"]
        .as_str()
        .unwrap()
        .starts_with("Your customer number is cus_"));

    // A second run: the customers are unchanged, nobody is mailed twice.
    let flow = rig.deps.flows.get(&flow.id).await.unwrap().expect("the flow is stored");
    let job = rig.run_flow(&flow, None).await;
    assert_eq!(job.counts.written, 0, "{job:?}");
    assert_eq!(fake.sent().len(), 3);
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}
