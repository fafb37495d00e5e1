//! connector-sync end to end: localstripe as Stripe, the in-repo fake HubSpot, moto for state.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use secrecy::SecretString;
use serde_json::{json, Value};
use switchyard::admin::{create_connection, NewWebhookSecrets};
use switchyard::clock::{Clock, SystemClock};
use switchyard::config::{ReceiverConfig, SyncConfig};
use switchyard::connector::Registry;
use switchyard::queue::SyncJobRef;
use switchyard::receiver::{handle, ReceiverDeps};
use switchyard::store::connections::{Connection, WebhookSettings};
use switchyard::store::flows::{Flow, SyncMode};
use switchyard::store::jobs::JobStatus;
use switchyard::sync::{self, JobOutcome, SyncDeps};
use switchyard::webhook::Scheme;
use switchyard_fakes::hubspot::{self, HubspotConfig, ObjectType, PropertySchema};
use switchyard_fakes::FakeHandle;
use switchyard_tests::localstripe::{self, LocalStripe, API_KEY};
use switchyard_tests::TestEnv;

pub(crate) const WEBHOOK_SECRET: &str = "whsec_sync_tests";
/// Stripe customer -> HubSpot contact, keyed by email.
const MAPPING: &str = r#"
if (.email // "") == "" then error("customer \(.id) has no email") else . end
| { properties: {
      email: .email,
      firstname: ((.name // "") | split(" ") | .[0] // ""),
      lastname: ((.name // "") | split(" ") | .[1:] | join(" ")),
      stripe_customer_id: .id
  } }
"#;

pub(crate) struct Rig {
    pub(crate) env: TestEnv,
    pub(crate) deps: SyncDeps,
    pub(crate) stripe: LocalStripe,
    pub(crate) hubspot: FakeHandle<hubspot::Hubspot>,
    pub(crate) flow: Flow,
    tenant: String,
}

async fn connect(
    deps: &SyncDeps,
    tenant: &str,
    id: &str,
    provider: &str,
    config: Value,
    credentials: Value,
    webhook: Option<(Scheme, &str)>,
) {
    let conn = Connection {
        id: id.into(),
        tenant: tenant.into(),
        provider: provider.into(),
        name: provider.into(),
        webhook: webhook.as_ref().map(|(scheme, _)| WebhookSettings {
            scheme: scheme.clone(),
            tolerance_secs: None,
            handshake_until: None,
        }),
        secret_arn: None,
        config: config
            .as_object()
            .cloned()
            .expect("a connection config is a JSON object"),
        created_at: 0,
    };
    create_connection(
        &deps.connections,
        &deps.secrets,
        conn,
        // A scheme that signs with the provider's certificate (PayPal) takes no secret.
        webhook
            .filter(|(scheme, _)| scheme.uses_secret())
            .map(|(_, secret)| NewWebhookSecrets {
                current: SecretString::from(secret.to_string()),
                previous: None,
            }),
        credentials.as_object().cloned().unwrap(),
    )
    .await
    .expect("connection is created");
}

/// The state half of a [`Rig`]: moto's table and queues of a tenant of its own and
/// connector-sync's dependencies, without localstripe or HubSpot, for flows between other
/// fakes (a test that needs no Stripe does not pay for starting one).
pub(crate) struct StateRig {
    /// The table and queues, kept for the test's life.
    _env: TestEnv,
    pub(crate) deps: SyncDeps,
    pub(crate) tenant: String,
}

impl StateRig {
    pub(crate) async fn new() -> Self {
        let env = TestEnv::new().await;
        // Secrets Manager is shared by every test: a tenant of our own keeps secret names apart.
        let tenant = format!("acme{}", ulid::Ulid::new().to_string().to_lowercase());
        let deps = sync_deps(&env);
        Self {
            _env: env,
            deps,
            tenant,
        }
    }

    /// Adds a connection of this tenant.
    pub(crate) async fn connect_with_config(&self, id: &str, provider: &str, config: Value, credentials: Value) {
        connect(&self.deps, &self.tenant, id, provider, config, credentials, None).await;
    }

    /// Stores a flow of this tenant from `source`'s `stream` to `destination`'s `operation`.
    pub(crate) async fn flow(
        &self,
        id: &str,
        source: (&str, &str),
        destination: (&str, &str),
        mode: SyncMode,
        mapping: &str,
    ) -> Flow {
        self.chained_flow(id, source, destination, mode, mapping, Vec::new())
            .await
    }

    /// [`Self::flow`] with `lookups`: a step of a chain, reading the ids earlier flows wrote.
    pub(crate) async fn chained_flow(
        &self,
        id: &str,
        (source, stream): (&str, &str),
        (destination, operation): (&str, &str),
        mode: SyncMode,
        mapping: &str,
        lookups: Vec<switchyard::store::flows::LinkLookup>,
    ) -> Flow {
        let flow = Flow {
            id: id.into(),
            tenant: self.tenant.clone(),
            name: id.into(),
            source_connection: source.into(),
            source_stream: stream.into(),
            destination_connection: destination.into(),
            destination_operation: operation.into(),
            mapping: mapping.into(),
            mode,
            schedule_interval_secs: None,
            event_types: vec![],
            enabled: true,
            created_at: 0,
            cursor: None,
            next_run_at: None,
            retry_schedule_secs: None,
            reverse_flow: None,
            on_conflict: Default::default(),
            lookups,
            match_on_create: None,
            on_delete: Default::default(),
            archive_mapping: None,
        };
        self.deps.flows.create(&flow).await.unwrap();
        flow
    }

    /// Runs the stored flow `id` as connector-sync's job path does, to its end.
    pub(crate) async fn run_flow(&self, id: &str) -> switchyard::store::jobs::Job {
        let flow = self.deps.flows.get(id).await.unwrap().expect("the flow is stored");
        run_job(&self.deps, &flow, None).await
    }
}

pub(crate) fn sync_deps(env: &TestEnv) -> SyncDeps {
    let config = SyncConfig::from_lookup(|k| match k {
        "TABLE_NAME" => Some(env.table.clone()),
        "SYNC_QUEUE_URL" => Some(env.queue_url.clone()),
        "ALLOW_PRIVATE_NETWORK" => Some("true".into()),
        "SYNC_TIME_RESERVE_SECS" => Some("2".into()),
        _ => None,
    })
    .unwrap();
    SyncDeps::new(
        config,
        &env.clients,
        Arc::new(Registry::embedded().unwrap()),
        Arc::new(SystemClock),
    )
    .expect("sync deps build")
}

async fn run_job(deps: &SyncDeps, flow: &Flow, mode: Option<SyncMode>) -> switchyard::store::jobs::Job {
    let job = sync::start_job(deps, flow, "test", mode, false).await.unwrap();
    let job_ref = SyncJobRef {
        flow_id: flow.id.clone(),
        job_id: job.job_id,
        attempt: 0,
    };
    match sync::run_job(deps, &job_ref, &sync::Unlimited, &|_| {}).await.unwrap() {
        JobOutcome::Finished(job) => job,
        other => panic!("job did not finish: {other:?}"),
    }
}

impl Rig {
    pub(crate) async fn new() -> Self {
        Self::with_mapping(MAPPING).await
    }

    /// A rig whose Stripe customers -> HubSpot contacts flow maps with `mapping`.
    pub(crate) async fn with_mapping(mapping: &str) -> Self {
        let env = TestEnv::new().await;
        // Secrets Manager is shared by every test: a tenant of our own keeps secret names apart.
        let tenant = format!("acme{}", ulid::Ulid::new().to_string().to_lowercase());
        let stripe = localstripe::start_isolated();
        let hubspot = hubspot::start(HubspotConfig {
            schema: PropertySchema::default().with_property(ObjectType::Contacts, "stripe_customer_id"),
            ..HubspotConfig::default()
        });
        let deps = sync_deps(&env);
        connect(
            &deps,
            &tenant,
            "conn_stripe",
            "stripe",
            json!({"base_url": stripe.base_url}),
            json!({"api_key": API_KEY}),
            Some((Scheme::Stripe, WEBHOOK_SECRET)),
        )
        .await;
        connect(
            &deps,
            &tenant,
            "conn_hubspot",
            "hubspot",
            json!({"base_url": hubspot.base_url}),
            json!({"access_token": hubspot::TEST_TOKEN}),
            None,
        )
        .await;
        let flow = Flow {
            id: "flow_customers".into(),
            tenant: tenant.clone(),
            name: "Stripe customers to HubSpot contacts".into(),
            source_connection: "conn_stripe".into(),
            source_stream: "customers".into(),
            destination_connection: "conn_hubspot".into(),
            destination_operation: "contacts.upsert_by_email".into(),
            mapping: mapping.into(),
            mode: SyncMode::Incremental,
            schedule_interval_secs: None,
            event_types: vec![],
            enabled: true,
            created_at: 0,
            cursor: None,
            next_run_at: None,
            retry_schedule_secs: None,
            reverse_flow: None,
            on_conflict: Default::default(),
            lookups: Vec::new(),
            match_on_create: None,
            on_delete: Default::default(),
            archive_mapping: None,
        };
        deps.flows.create(&flow).await.unwrap();
        Self {
            env,
            deps,
            stripe,
            hubspot,
            flow,
            tenant,
        }
    }

    /// Adds a connection of this rig's tenant.
    pub(crate) async fn connect(&self, id: &str, provider: &str, base_url: &str, credentials: Value) {
        let config = json!({ "base_url": base_url });
        connect(&self.deps, &self.tenant, id, provider, config, credentials, None).await;
    }

    /// Adds a connection of this rig's tenant whose config holds more than the base URL.
    pub(crate) async fn connect_with_config(&self, id: &str, provider: &str, config: Value, credentials: Value) {
        connect(&self.deps, &self.tenant, id, provider, config, credentials, None).await;
    }

    /// Adds a connection of this rig's tenant that receives webhooks under `scheme`, verified
    /// with `secret`.
    pub(crate) async fn connect_receiving(
        &self,
        id: &str,
        provider: &str,
        base_url: &str,
        credentials: Value,
        webhook: (Scheme, &str),
    ) {
        connect(
            &self.deps,
            &self.tenant,
            id,
            provider,
            json!({"base_url": base_url}),
            credentials,
            Some(webhook),
        )
        .await;
    }

    /// [`Self::connect_receiving`] for a connection whose config holds more than the base URL.
    pub(crate) async fn connect_receiving_with_config(
        &self,
        id: &str,
        provider: &str,
        config: Value,
        credentials: Value,
        webhook: (Scheme, &str),
    ) {
        connect(
            &self.deps,
            &self.tenant,
            id,
            provider,
            config,
            credentials,
            Some(webhook),
        )
        .await;
    }

    /// Adds a flow from the Stripe connection's customers to `destination`'s `operation`.
    pub(crate) async fn flow_from_customers(
        &self,
        id: &str,
        destination: &str,
        operation: &str,
        mapping: &str,
    ) -> Flow {
        let flow = Flow {
            id: id.into(),
            destination_connection: destination.into(),
            destination_operation: operation.into(),
            mapping: mapping.into(),
            ..self.flow.clone()
        };
        self.deps.flows.create(&flow).await.unwrap();
        flow
    }

    async fn run(&self, mode: Option<SyncMode>) -> switchyard::store::jobs::Job {
        self.run_flow(&self.flow, mode).await
    }

    pub(crate) async fn run_flow(&self, flow: &Flow, mode: Option<SyncMode>) -> switchyard::store::jobs::Job {
        run_job(&self.deps, flow, mode).await
    }

    fn contact(&self, email: &str) -> Option<hubspot_fake_contact::Contact> {
        self.hubspot
            .find(ObjectType::Contacts, "email", email)
            .map(|o| hubspot_fake_contact::Contact {
                firstname: o.get("firstname").unwrap_or_default().to_string(),
                lastname: o.get("lastname").unwrap_or_default().to_string(),
                stripe_customer_id: o.get("stripe_customer_id").unwrap_or_default().to_string(),
            })
    }

    /// Delivers a webhook through the receiver, signed with the rig's webhook secret as the
    /// provider would; the receiver's status code.
    async fn deliver(&self, connection_id: &str, scheme: &Scheme, body: &[u8], headers: &[(&str, &str)]) -> i64 {
        self.deliver_with(connection_id, scheme, WEBHOOK_SECRET, body, headers)
            .await
    }

    /// [`Self::deliver`] with the provider holding `secret`.
    pub(crate) async fn deliver_with(
        &self,
        connection_id: &str,
        scheme: &Scheme,
        secret: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> i64 {
        let config = ReceiverConfig::from_lookup(|k| match k {
            "TABLE_NAME" => Some(self.env.table.clone()),
            "SYNC_QUEUE_URL" => Some(self.env.queue_url.clone()),
            _ => None,
        })
        .unwrap();
        let receiver = ReceiverDeps::new(config, &self.env.clients, Arc::new(SystemClock));
        // The URL the receiver sees (schemes that sign it, such as HubSpot's v3, need it).
        let url = format!("https://localhost/hooks/{connection_id}");
        let signed = switchyard::webhook::sign(
            scheme,
            &switchyard::webhook::SignInput {
                method: "POST",
                url: &url,
                body,
                secret: &SecretString::from(secret.to_string()),
                now: SystemClock.now_unix(),
                message_id: None,
            },
        )
        .unwrap();
        let mut all: serde_json::Map<String, Value> = signed
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), json!(v)))
            .collect();
        // JSON unless the caller names the body's type (Slack's form-encoded interactivity).
        all.insert("content-type".into(), json!("application/json"));
        all.extend(headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), json!(v))));
        let path = format!("/hooks/{connection_id}");
        let event: aws_lambda_events::apigw::ApiGatewayV2httpRequest = serde_json::from_value(json!({
            "version": "2.0", "rawPath": path, "rawQueryString": "",
            "headers": all,
            "pathParameters": {"connection_id": connection_id},
            "requestContext": {"domainName": "localhost", "requestId": "r1", "timeEpoch": 0,
                "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"}},
            "body": String::from_utf8(body.to_vec()).unwrap(), "isBase64Encoded": false
        }))
        .unwrap();
        handle(&receiver, event).await.status_code
    }

    /// Posts an unsigned delivery to `/hooks/{connection_id}/{path_secret}`, for senders that
    /// authenticate by the URL's secret last segment (Mailchimp's form-encoded audience webhooks).
    pub(crate) async fn deliver_to_secret_path(
        &self,
        connection_id: &str,
        path_secret: &str,
        content_type: &str,
        body: &[u8],
    ) -> i64 {
        let config = ReceiverConfig::from_lookup(|k| match k {
            "TABLE_NAME" => Some(self.env.table.clone()),
            "SYNC_QUEUE_URL" => Some(self.env.queue_url.clone()),
            _ => None,
        })
        .unwrap();
        let receiver = ReceiverDeps::new(config, &self.env.clients, Arc::new(SystemClock));
        let path = format!("/hooks/{connection_id}/{path_secret}");
        let event: aws_lambda_events::apigw::ApiGatewayV2httpRequest = serde_json::from_value(json!({
            "version": "2.0", "rawPath": path, "rawQueryString": "",
            "headers": {"content-type": content_type},
            "pathParameters": {"connection_id": connection_id, "secret": path_secret},
            "requestContext": {"domainName": "localhost", "requestId": "r1", "timeEpoch": 0,
                "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"}},
            "body": String::from_utf8(body.to_vec()).unwrap(), "isBase64Encoded": false
        }))
        .unwrap();
        handle(&receiver, event).await.status_code
    }

    /// Runs every message on the sync queue through connector-sync's handler, as Lambda would.
    pub(crate) async fn drain_through_handler(&self) -> usize {
        let mut handled = 0;
        loop {
            let msgs = self.env.drain_queue().await;
            if msgs.is_empty() {
                return handled;
            }
            handled += msgs.len();
            let mut event = SqsEvent::default();
            for (i, m) in msgs.into_iter().enumerate() {
                let mut sqs = SqsMessage::default();
                sqs.message_id = Some(format!("m{i}"));
                sqs.body = Some(m.to_string());
                event.records.push(sqs);
            }
            let resp = sync::handle_sqs(&self.deps, event, Some(Instant::now() + Duration::from_secs(60))).await;
            assert!(resp.batch_item_failures.is_empty(), "no message failed");
        }
    }
}

/// A Lambda budget that has a minute left when asked first and nothing after.
#[derive(Default)]
struct OnePageOfTime(std::sync::atomic::AtomicUsize);

impl sync::Budget for OnePageOfTime {
    fn remaining(&self) -> Option<Duration> {
        let calls = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Some(if calls == 0 {
            Duration::from_secs(60)
        } else {
            Duration::ZERO
        })
    }
}

mod hubspot_fake_contact {
    #[derive(Debug, PartialEq, Eq)]
    pub struct Contact {
        pub firstname: String,
        pub lastname: String,
        pub stripe_customer_id: String,
    }
}

/// The rig's tenant's (events, records read, records written) of today (and yesterday, should
/// the test run across midnight UTC).
async fn usage_today(rig: &Rig) -> (u64, u64, u64) {
    let now = SystemClock.now_unix();
    let (from, to) = (
        switchyard::store::usage::day_of(now - 86_400),
        switchyard::store::usage::day_of(now),
    );
    let days = rig.deps.usage_store.days(&rig.tenant, &from, &to).await.unwrap();
    days.iter().fold((0, 0, 0), |(e, r, w), (_, d)| {
        (e + d.events, r + d.records_read, w + d.records_written)
    })
}

#[tokio::test]
async fn stripe_customers_reach_hubspot_then_only_changes_are_written() {
    let rig = Rig::new().await;
    let mut ids = vec![];
    for i in 0..5 {
        let c = rig
            .stripe
            .create_customer(&format!("person{i}@example.com"), &format!("Person Number{i}"))
            .await;
        ids.push(c["id"].as_str().unwrap().to_string());
    }

    let first = rig.run(Some(SyncMode::Full)).await;
    assert_eq!(first.status, JobStatus::Succeeded, "{first:?}");
    assert_eq!(
        (first.counts.read, first.counts.written, first.counts.unchanged),
        (5, 5, 0)
    );
    // The job's records are in the tally, written out by one flush (the SQS handler's, at the
    // end of an invocation).
    let now = SystemClock.now_unix();
    assert_eq!(rig.deps.usage_store.flush(&rig.deps.usage, now).await.unwrap(), 1);
    assert_eq!(
        rig.deps.usage_store.flush(&rig.deps.usage, now).await.unwrap(),
        0,
        "flushed once"
    );
    assert_eq!(usage_today(&rig).await, (0, 5, 5));
    assert_eq!(rig.hubspot.count(ObjectType::Contacts), 5);
    let c = rig.contact("person3@example.com").expect("contact exists");
    assert_eq!(c.firstname, "Person");
    assert_eq!(c.lastname, "Number3");
    assert_eq!(c.stripe_customer_id, ids[3]);

    // Change one customer, add one: only those two are written; the rest are skipped as unchanged.
    rig.stripe
        .update_customer(&ids[1], json!({"name": "Renamed Person"}))
        .await;
    rig.stripe.create_customer("late@example.com", "Late Comer").await;
    let second = rig.run(Some(SyncMode::Incremental)).await;
    assert_eq!(second.status, JobStatus::Succeeded, "{second:?}");
    assert_eq!(second.counts.written, 2, "{:?}", second.counts);
    assert_eq!(second.counts.unchanged, second.counts.read - 2, "{:?}", second.counts);
    assert_eq!(
        rig.hubspot.count(ObjectType::Contacts),
        6,
        "updated in place, not duplicated"
    );
    assert_eq!(rig.contact("person1@example.com").unwrap().lastname, "Person");

    // Nothing changed: nothing written.
    let third = rig.run(Some(SyncMode::Incremental)).await;
    assert_eq!(third.counts.written, 0, "{:?}", third.counts);
    let flow = rig.deps.flows.get(&rig.flow.id).await.unwrap().unwrap();
    assert!(flow.cursor.is_some(), "incremental jobs checkpoint the flow's cursor");
}

#[tokio::test]
async fn stripe_webhook_through_the_receiver_ends_as_a_hubspot_contact() {
    let rig = Rig::new().await;
    let now = SystemClock.now_unix();
    let body = serde_json::to_vec(&json!({
        "id": "evt_realtime_1", "object": "event", "type": "customer.created", "created": now,
        "data": {"object": {"id": "cus_realtime", "object": "customer", "email": "realtime@example.com", "name": "Real Time", "created": now}}
    }))
    .unwrap();
    assert_eq!(rig.deliver("conn_stripe", &Scheme::Stripe, &body, &[]).await, 200);
    assert_eq!(rig.drain_through_handler().await, 1);
    let contact = rig.contact("realtime@example.com").expect("the event became a contact");
    assert_eq!(contact.stripe_customer_id, "cus_realtime");

    // The handler wrote the invocation's usage once: one event, one record read and written.
    assert_eq!(usage_today(&rig).await, (1, 1, 1));
    // The stored event and the link are in the person's subject partition (GDPR export and
    // erasure find them by one Query).
    let items = switchyard::store::subjects::SubjectStore::new(rig.env.clients.dynamodb.clone(), &rig.env.table)
        .items(&switchyard::subjects::subject_key(&rig.tenant, "realtime@example.com"))
        .await
        .unwrap();
    let mut kinds: Vec<String> = items
        .iter()
        .map(|i| i["pk"].as_s().unwrap().split('#').next().unwrap().to_string())
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["EVT", "FLOW"], "{items:?}");
}

#[tokio::test]
async fn an_event_no_flow_takes_is_done_even_when_its_provider_has_no_connector() {
    // A webhook-only connection from a provider with no connector definition (a scheduling
    // service that signs its deliveries the way Calendly does), and no credentials.
    let rig = Rig::new().await;
    let calendly = Scheme::from_name("calendly").unwrap();
    assert!(
        Registry::embedded().unwrap().get_shared("acme-scheduling").is_none(),
        "the premise: no acme-scheduling connector"
    );
    connect(
        &rig.deps,
        &rig.tenant,
        "conn_calendly",
        "acme-scheduling",
        json!({"base_url": "https://api.acme-scheduling.example"}),
        json!({}),
        Some((calendly.clone(), WEBHOOK_SECRET)),
    )
    .await;
    let body = br#"{"event":"invitee.created","created_at":"2024-01-01T00:00:00.000000Z","payload":{"uri":"https://api.calendly.com/scheduled_events/ABC/invitees/DEF"}}"#;
    assert_eq!(rig.deliver("conn_calendly", &calendly, body, &[]).await, 200);

    assert_eq!(
        rig.drain_through_handler().await,
        1,
        "the event was handled without a failure"
    );
    let parked =
        switchyard::store::dead_letters::DeadLetterStore::new(rig.env.clients.dynamodb.clone(), &rig.env.table)
            .list(&switchyard::store::dead_letters::DeadLetterFilter::default())
            .await
            .unwrap();
    assert!(parked.is_empty(), "nothing is parked: {parked:?}");
    assert_eq!(rig.hubspot.count(ObjectType::Contacts), 0);
}

#[tokio::test]
async fn sync_resumes_from_its_checkpoint_after_running_out_of_time() {
    let rig = Rig::new().await;
    for i in 0..130 {
        rig.stripe
            .create_customer(&format!("bulk{i:03}@example.com"), "Bulk Customer")
            .await;
    }
    let job = sync::start_job(&rig.deps, &rig.flow, "test", Some(SyncMode::Full), false)
        .await
        .unwrap();
    let job_ref = SyncJobRef {
        flow_id: rig.flow.id.clone(),
        job_id: job.job_id.clone(),
        attempt: 0,
    };
    // Plenty of time before the first page, then less than the reserve: the job hands over.
    let outcome = sync::run_job(&rig.deps, &job_ref, &OnePageOfTime::default(), &|_| {})
        .await
        .unwrap();
    let JobOutcome::Continued(paused) = outcome else {
        panic!("expected a continuation, got {outcome:?}");
    };
    assert_eq!(paused.pages, 1);
    assert_eq!(paused.counts.written, 100);
    assert!(paused.state.is_some(), "the checkpoint says where to resume");

    // The continuation message resumes the same job from page 2.
    assert_eq!(rig.drain_through_handler().await, 1);
    let done = rig.deps.jobs.get(&rig.flow.id, &job.job_id).await.unwrap().unwrap();
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(done.continuations, 1);
    assert_eq!((done.pages, done.counts.read, done.counts.written), (2, 130, 130));
    assert_eq!(rig.hubspot.count(ObjectType::Contacts), 130, "no record written twice");
}

#[tokio::test]
async fn failure_mid_sync_resumes_from_the_last_checkpoint() {
    let rig = Rig::new().await;
    for i in 0..130 {
        rig.stripe
            .create_customer(&format!("crash{i:03}@example.com"), "Crash Test")
            .await;
    }
    let job = sync::start_job(&rig.deps, &rig.flow, "test", Some(SyncMode::Full), false)
        .await
        .unwrap();
    let job_ref = SyncJobRef {
        flow_id: rig.flow.id.clone(),
        job_id: job.job_id.clone(),
        attempt: 0,
    };
    // Page 1 goes through; the write of page 2 fails with 503s beyond the engine's inline retries.
    let progress = |j: &switchyard::store::jobs::Job| {
        if j.pages == 1 {
            rig.hubspot.faults.fail_next(usize::MAX, 503);
        }
    };
    let err = sync::run_job(&rig.deps, &job_ref, &sync::Unlimited, &progress)
        .await
        .unwrap_err();
    assert!(err.is_retriable(), "{err}");
    let stuck = rig.deps.jobs.get(&rig.flow.id, &job.job_id).await.unwrap().unwrap();
    assert_eq!(stuck.status, JobStatus::Running, "a retriable failure keeps the job");
    assert_eq!(stuck.pages, 1);
    assert!(stuck.last_error.is_some());

    rig.hubspot.faults.disable();
    let outcome = sync::run_job(&rig.deps, &job_ref, &sync::Unlimited, &|_| {})
        .await
        .unwrap();
    let JobOutcome::Finished(done) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(done.counts.written, 130);
    assert_eq!(done.pages, 2, "the resumed run read page 2 only, not page 1 again");
    assert_eq!(rig.hubspot.count(ObjectType::Contacts), 130);
}

#[tokio::test]
async fn poison_records_are_recorded_and_do_not_block_the_page() {
    let rig = Rig::new().await;
    rig.stripe.create_customer("good1@example.com", "Good One").await;
    let no_email = rig.stripe.create_customer("", "No Email").await;
    rig.stripe.create_customer("not-an-email", "Bad Address").await;
    rig.stripe.create_customer("good2@example.com", "Good Two").await;

    let job = rig.run(Some(SyncMode::Full)).await;
    assert_eq!(job.status, JobStatus::Partial);
    assert_eq!(
        (job.counts.read, job.counts.written, job.counts.failed),
        (4, 2, 2),
        "{:?}",
        job.counts
    );
    let reasons: Vec<(String, String)> = job
        .recent_failures
        .iter()
        .map(|f| (f.source_id.clone(), f.reason.clone()))
        .collect();
    assert!(
        reasons
            .iter()
            .any(|(id, r)| id == no_email["id"].as_str().unwrap() && r.contains("no email")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|(_, r)| r.to_lowercase().contains("email")),
        "{reasons:?}"
    );
    assert!(rig.contact("good1@example.com").is_some() && rig.contact("good2@example.com").is_some());
}

/// The adversarial-mappings corpus, by customer name: loops, memory bombs, runaway recursion.
/// Every other customer goes through the ordinary mapping.
const ADVERSARIAL_MAPPING: &str = r#"
if .name == "Loop Forever" then last(repeat(.))
elif .name == "Until Never" then until(false; .)
elif .name == "Memory Bomb" then [range(1e9)]
elif .name == "Deep Recursion" then (def f: [f]; f)
elif .name == "Add Recursion" then (def f: 1 + f; f)
else { properties: { email: .email, firstname: .name, stripe_customer_id: .id } }
end
"#;

#[tokio::test]
async fn adversarial_mappings_fail_alone_and_the_rest_of_the_batch_is_delivered() {
    let rig = Rig::with_mapping(ADVERSARIAL_MAPPING).await;
    let now = SystemClock.now_unix();
    let names = [
        "Good First",
        "Loop Forever",
        "Memory Bomb",
        "Good Middle",
        "Deep Recursion",
        "Until Never",
        "Add Recursion",
        "Good Last",
    ];
    for (i, name) in names.iter().enumerate() {
        let body = serde_json::to_vec(&json!({
            "id": format!("evt_adv_{i}"), "object": "event", "type": "customer.created", "created": now,
            "data": {"object": {"id": format!("cus_adv_{i}"), "object": "customer",
                "email": format!("adv{i}@example.com"), "name": name, "created": now}}
        }))
        .unwrap();
        assert_eq!(rig.deliver("conn_stripe", &Scheme::Stripe, &body, &[]).await, 200);
    }
    // One batch of all eight, through connector-sync's handler: no message fails the batch.
    assert_eq!(rig.drain_through_handler().await, names.len());

    for (i, name) in names.iter().enumerate() {
        let delivered = rig.contact(&format!("adv{i}@example.com")).is_some();
        assert_eq!(delivered, name.starts_with("Good"), "{name}");
    }
    let parked =
        switchyard::store::dead_letters::DeadLetterStore::new(rig.env.clients.dynamodb.clone(), &rig.env.table)
            .list(&switchyard::store::dead_letters::DeadLetterFilter::default())
            .await
            .unwrap();
    assert_eq!(parked.len(), 5, "each bad record is parked on its own: {parked:?}");
    for dead in &parked {
        assert_eq!(dead.reason, "permanent", "{dead:?}");
        assert!(
            dead.last_error.contains("mapping failed: jq program exceeded")
                || dead.last_error.contains("mapping failed: jq program nested too deeply"),
            "a readable reason naming the bound: {}",
            dead.last_error
        );
    }
}

#[tokio::test]
async fn an_inbound_event_without_time_to_run_goes_back_to_the_queue_unchanged() {
    let rig = Rig::new().await;
    let now = SystemClock.now_unix();
    let body = serde_json::to_vec(&json!({
        "id": "evt_late_1", "object": "event", "type": "customer.created", "created": now,
        "data": {"object": {"id": "cus_late", "object": "customer", "email": "late@example.com", "name": "Late Comer", "created": now}}
    }))
    .unwrap();
    assert_eq!(rig.deliver("conn_stripe", &Scheme::Stripe, &body, &[]).await, 200);
    let sent = rig.env.drain_queue().await;
    assert_eq!(sent.len(), 1);
    let mut event = SqsEvent::default();
    let mut sqs = SqsMessage::default();
    sqs.message_id = Some("late".into());
    sqs.body = Some(sent[0].to_string());
    event.records.push(sqs);
    // One second left, inside the rig's two-second reserve: the event must not start.
    let resp = sync::handle_sqs(&rig.deps, event, Some(Instant::now() + Duration::from_secs(1))).await;
    assert!(resp.batch_item_failures.is_empty());
    assert!(rig.contact("late@example.com").is_none(), "the event did not run");
    let back = rig.env.drain_queue().await;
    assert_eq!(back, sent, "the same message, same attempt, is back on the queue");
    // With time, it runs.
    for m in &back {
        let mut event = SqsEvent::default();
        let mut sqs = SqsMessage::default();
        sqs.message_id = Some("late".into());
        sqs.body = Some(m.to_string());
        event.records.push(sqs);
        sync::handle_sqs(&rig.deps, event, Some(Instant::now() + Duration::from_secs(60))).await;
    }
    assert!(rig.contact("late@example.com").is_some());
}

/// The receiver's last loss window: the event is stored, the send fails and the compensating
/// delete fails too. The provider's retry is then a duplicate; the dispatch tick's sweep is what
/// delivers the event, once.
#[tokio::test]
async fn an_event_stored_but_neither_enqueued_nor_removed_is_swept_and_delivered_once() {
    use switchyard::dispatch::Dispatcher;
    use switchyard_tests::faults::Fault;
    let rig = Rig::new().await;
    let now = SystemClock.now_unix();
    let body = serde_json::to_vec(&json!({
        "id": "evt_lost_window", "object": "event", "type": "customer.created", "created": now,
        "data": {"object": {"id": "cus_swept", "object": "customer", "email": "swept@example.com", "name": "Swept Up", "created": now}}
    }))
    .unwrap();
    rig.env.faults.fail("SQS.SendMessage", Fault::Unreachable, 3);
    rig.env.faults.fail("DynamoDB.DeleteItem", Fault::Unreachable, 3);
    assert_eq!(rig.deliver("conn_stripe", &Scheme::Stripe, &body, &[]).await, 503);
    assert_eq!(
        rig.env.faults.injected(),
        ["SQS.SendMessage", "DynamoDB.DeleteItem"],
        "both the send and its compensation failed"
    );
    rig.env.faults.clear();
    // The provider retries: the stored event makes it a duplicate, so nothing is enqueued.
    assert_eq!(rig.deliver("conn_stripe", &Scheme::Stripe, &body, &[]).await, 200);
    assert_eq!(rig.drain_through_handler().await, 0, "nothing reached the queue");
    assert!(rig.contact("swept@example.com").is_none());

    let dispatcher = Dispatcher::new(rig.env.clients.dynamodb.clone(), &rig.env.table);
    let sweep = rig.deps.config.pending_event_sweep.as_secs() as i64;
    assert_eq!(
        dispatcher.sweep_pending_events(&rig.deps, now + 5).await.unwrap(),
        0,
        "an event younger than the sweep period may still be on its way"
    );
    let later = now + sweep + 1;
    assert_eq!(dispatcher.sweep_pending_events(&rig.deps, later).await.unwrap(), 1);
    assert_eq!(
        dispatcher.sweep_pending_events(&rig.deps, later).await.unwrap(),
        0,
        "an overlapping tick finds it claimed"
    );
    assert_eq!(rig.drain_through_handler().await, 1);
    let contact = rig
        .contact("swept@example.com")
        .expect("the swept event became a contact");
    assert_eq!(contact.stripe_customer_id, "cus_swept");
    assert_eq!(
        dispatcher
            .sweep_pending_events(&rig.deps, later + 10 * sweep)
            .await
            .unwrap(),
        0,
        "connector-sync took it: it is never sent again"
    );
}

/// Events delivered the normal way leave the pending index when connector-sync takes them, so
/// the sweep never sends them a second time.
#[tokio::test]
async fn events_connector_sync_took_are_never_swept() {
    use switchyard::dispatch::Dispatcher;
    let rig = Rig::new().await;
    let now = SystemClock.now_unix();
    for i in 0..3 {
        let body = serde_json::to_vec(&json!({
            "id": format!("evt_taken_{i}"), "object": "event", "type": "customer.created", "created": now,
            "data": {"object": {"id": format!("cus_taken_{i}"), "object": "customer", "email": format!("taken{i}@example.com"), "name": "Taken", "created": now}}
        }))
        .unwrap();
        assert_eq!(rig.deliver("conn_stripe", &Scheme::Stripe, &body, &[]).await, 200);
    }
    assert_eq!(rig.drain_through_handler().await, 3);
    let dispatcher = Dispatcher::new(rig.env.clients.dynamodb.clone(), &rig.env.table);
    assert_eq!(
        dispatcher.sweep_pending_events(&rig.deps, now + 100_000).await.unwrap(),
        0
    );
}

/// DynamoDB throttling outlasting the SDK's own retries is retried later as rate-limited, not
/// parked: the event is delivered once the throttling is over.
#[tokio::test]
async fn dynamodb_throttling_during_an_event_is_retried_not_parked() {
    use switchyard::store::dead_letters::DeadLetterFilter;
    use switchyard_tests::faults::Fault;
    let rig = Rig::new().await;
    let now = SystemClock.now_unix();
    let body = serde_json::to_vec(&json!({
        "id": "evt_throttled_read", "object": "event", "type": "customer.created", "created": now,
        "data": {"object": {"id": "cus_throttled", "object": "customer", "email": "throttled@example.com", "name": "Throttled", "created": now}}
    }))
    .unwrap();
    assert_eq!(rig.deliver("conn_stripe", &Scheme::Stripe, &body, &[]).await, 200);
    let msgs = rig.env.drain_queue().await;
    assert_eq!(msgs.len(), 1);
    // Reading the stored event is throttled on every attempt the SDK makes.
    rig.env.faults.fail("DynamoDB.GetItem", Fault::Throttled, 3);
    let mut event = SqsEvent::default();
    let mut sqs = SqsMessage::default();
    sqs.message_id = Some("m0".into());
    sqs.body = Some(msgs[0].to_string());
    event.records.push(sqs);
    let resp = sync::handle_sqs(&rig.deps, event, Some(Instant::now() + Duration::from_secs(60))).await;
    assert!(
        resp.batch_item_failures.is_empty(),
        "the failure was handled: retried later"
    );
    assert_eq!(rig.env.faults.injected(), vec!["DynamoDB.GetItem"; 3]);
    assert!(
        rig.deps
            .dead_letters
            .list(&DeadLetterFilter::default())
            .await
            .unwrap()
            .is_empty(),
        "throttling is not a reason to park"
    );
    let attrs = rig
        .env
        .clients
        .sqs
        .get_queue_attributes()
        .queue_url(&rig.env.queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .unwrap();
    let delayed = attrs
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed))
        .cloned();
    assert_eq!(delayed.as_deref(), Some("1"), "the event is queued again, delayed");
    assert!(rig.contact("throttled@example.com").is_none());
}

/// Stripe lists filter on creation only: an update to an existing customer reaches an
/// incremental run through the Events API, and a cursor older than the 30 days Stripe keeps
/// events makes the run read everything instead.
#[tokio::test]
async fn stripe_updates_arrive_through_events_and_an_old_cursor_reads_everything() {
    let rig = Rig::new().await;
    let mut ids = vec![];
    for i in 0..3 {
        let c = rig
            .stripe
            .create_customer(&format!("evented{i}@example.com"), &format!("Evented Person{i}"))
            .await;
        ids.push(c["id"].as_str().unwrap().to_string());
    }
    let first = rig.run(Some(SyncMode::Incremental)).await;
    assert_eq!(
        (first.counts.read, first.counts.written),
        (3, 3),
        "no cursor yet: a full read"
    );
    let cursor = rig.deps.flows.get(&rig.flow.id).await.unwrap().unwrap().cursor;
    let at = cursor
        .as_deref()
        .and_then(|c| c.parse::<i64>().ok())
        .expect("a unix-seconds cursor");
    assert!(
        at >= first.started_at,
        "the cursor moves to the run's start: {at} < {}",
        first.started_at
    );

    rig.stripe
        .update_customer(&ids[0], json!({"name": "Renamed Customer"}))
        .await;
    let flow = rig.deps.flows.get(&rig.flow.id).await.unwrap().unwrap();
    let second = rig.run_flow(&flow, Some(SyncMode::Incremental)).await;
    assert_eq!(second.start_cursor, cursor, "an incremental run from the cursor");
    assert_eq!(
        second.counts.written, 1,
        "only the updated customer: {:?}",
        second.counts
    );
    assert_eq!(rig.contact("evented0@example.com").unwrap().lastname, "Customer");

    // A cursor from before what the Events API keeps: everything is read again.
    let old = (SystemClock.now_unix() - 40 * 86_400).to_string();
    let current = rig.deps.flows.get(&rig.flow.id).await.unwrap().unwrap().cursor;
    assert!(rig
        .deps
        .flows
        .advance_cursor(&rig.flow.id, current.as_deref(), &old)
        .await
        .unwrap());
    let flow = rig.deps.flows.get(&rig.flow.id).await.unwrap().unwrap();
    let third = rig.run_flow(&flow, Some(SyncMode::Incremental)).await;
    assert_eq!(third.start_cursor.as_deref(), Some(old.as_str()));
    assert_eq!(third.counts.read, 3, "a full read: {:?}", third.counts);
    assert_eq!(third.counts.written, 0, "nothing changed: {:?}", third.counts);
    let after = rig.deps.flows.get(&rig.flow.id).await.unwrap().unwrap().cursor;
    let after: i64 = after.unwrap().parse().unwrap();
    assert!(
        after >= third.started_at,
        "and the cursor is recent again: {after} < {} ({third:?})",
        third.started_at
    );
}
