//! Stripe customers -> Xero contacts end to end: localstripe as Stripe, the Xero fake (API and
//! identity servers, the API's traffic checked against Xero's spec), moto for state. The use
//! case: customers who pay through Stripe become customers in the books.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use serde_json::json;
use switchyard::admin::create_connection;
use switchyard::queue::{Envelope, SyncJobRef, SyncMessage};
use switchyard::store::connections::Connection;
use switchyard::store::jobs::JobStatus;
use switchyard::sync;
use switchyard_fakes::xero::{self, XeroConfig, CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, TENANT_ID};

use crate::sync::Rig;

/// A Xero connection `conn_xero` on the rig's tenant, against `xero`.
async fn connect_xero(rig: &Rig, xero: &xero::XeroFake) -> Connection {
    create_connection(
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
    .expect("the Xero connection is created")
}

#[tokio::test]
async fn stripe_customers_become_xero_contacts_and_the_rotated_refresh_token_is_stored() {
    let rig = Rig::new().await;
    let xero = xero::start(XeroConfig::default());
    let conn = connect_xero(&rig, &xero).await;
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

/// Xero's 5,000 calls a day spent: the job is put off until the budget is back (same attempt,
/// nothing parked, nothing failed), and runs to the end once it is.
#[tokio::test]
async fn a_spent_daily_quota_defers_the_job_without_spending_an_attempt_and_it_finishes_once_calls_are_back() {
    let mut rig = Rig::new().await;
    // Delays fast-forwarded (RETRY_DELAY_SCALE=0): the deferred message is back at once.
    rig.deps.retry.delay_scale = 0.0;
    let xero = xero::start(XeroConfig {
        day_limit: Some(0),
        day_retry_after_secs: 2 * 3600,
        ..XeroConfig::default()
    });
    connect_xero(&rig, &xero).await;
    let flow = rig
        .flow_from_customers(
            "flow_xero_quota",
            "conn_xero",
            "contacts.create_or_update",
            r#"{Name: .name, EmailAddress: .email, IsCustomer: true}"#,
        )
        .await;
    for i in 0..3 {
        rig.stripe
            .create_customer(&format!("quota{i}@example.com"), &format!("Quota Person{i}"))
            .await;
    }
    let job = sync::start_job(&rig.deps, &flow, "test", None, false).await.unwrap();
    let envelope = Envelope::new(SyncMessage::SyncJob(SyncJobRef {
        flow_id: flow.id.clone(),
        job_id: job.job_id.clone(),
        attempt: 0,
    }));
    let deliver = |body: String| {
        let mut event = SqsEvent::default();
        let mut m = SqsMessage::default();
        m.message_id = Some("quota".into());
        m.body = Some(body);
        event.records.push(m);
        event
    };

    let resp = sync::handle_sqs(&rig.deps, deliver(envelope.to_body()), None).await;
    assert!(resp.batch_item_failures.is_empty());
    let back: Vec<Envelope> = rig
        .env
        .drain_queue()
        .await
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect();
    assert_eq!(back.len(), 1, "the job is back on the queue: {back:?}");
    let deferred = &back[0];
    assert_eq!(deferred.message.attempt(), 0, "a spent quota is not a failed attempt");
    assert!(deferred.history.is_empty(), "{:?}", deferred.history);
    assert_eq!(deferred.deferrals, 1);
    assert_eq!(
        xero.api_requests(),
        1,
        "one request learnt that the day's budget is spent"
    );
    let parked = rig
        .deps
        .dead_letters
        .list(&switchyard::store::dead_letters::DeadLetterFilter::default())
        .await
        .unwrap();
    assert!(
        !parked.iter().any(|d| d.message.contains(&job.job_id)),
        "nothing parked: {parked:?}"
    );
    let held = rig.deps.jobs.get(&flow.id, &job.job_id).await.unwrap().unwrap();
    assert_eq!(
        held.status,
        JobStatus::Running,
        "the job waits, it has not failed: {held:?}"
    );
    assert_eq!(xero.contact_count(), 0);

    // The rolling day frees calls; the deferred message comes due and the job runs.
    xero.set_day_remaining(Some(100));
    // An hour on, in a new Lambda instance (a warm one waits out the hour it was told).
    let later = crate::sync::sync_deps(&rig.env);
    let resp = sync::handle_sqs(&later, deliver(deferred.to_body()), None).await;
    assert!(resp.batch_item_failures.is_empty());
    let done = rig.deps.jobs.get(&flow.id, &job.job_id).await.unwrap().unwrap();
    assert_eq!(done.status, JobStatus::Succeeded, "{done:?}");
    assert_eq!(done.counts.written, 3, "{done:?}");
    assert_eq!(xero.contact_count(), 3);
    assert!(rig.env.drain_queue().await.is_empty(), "nothing left to run");
    let violations = xero.api.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}
