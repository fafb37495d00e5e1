//! The rig the sync benches stand on: the in-repo paged source (with its connector definition,
//! `tests/fixtures/connectors/fake-source.yaml`), the fake HubSpot, connector-sync's
//! dependencies over moto, and a full-refresh flow from one to the other.

use std::sync::Arc;

use serde_json::{json, Value};
use switchyard::admin::create_connection;
use switchyard::clock::SystemClock;
use switchyard::config::SyncConfig;
use switchyard::connector::Registry;
use switchyard::queue::SyncJobRef;
use switchyard::store::connections::Connection;
use switchyard::store::flows::{Flow, SyncMode};
use switchyard::sync::{self, SyncDeps};
use switchyard_fakes::hubspot::{self, Hubspot, HubspotConfig};
use switchyard_fakes::paged_source::{self, PagedSource, SourceConfig};
use switchyard_fakes::FakeHandle;

use crate::TestEnv;

const FAKE_SOURCE: &str = include_str!("../fixtures/connectors/fake-source.yaml");

pub struct SyncBench {
    pub env: TestEnv,
    pub deps: Arc<SyncDeps>,
    pub flow: Flow,
    pub source: FakeHandle<PagedSource>,
    pub hub: FakeHandle<Hubspot>,
}

/// `records` generated people in the source, `hub` as HubSpot; `hubspot_config` is merged into
/// the HubSpot connection's config (a `rate_limit` override, say).
pub async fn start(flow_id: &str, records: usize, hub: HubspotConfig, hubspot_config: Value) -> SyncBench {
    let env = TestEnv::new().await;
    let source = paged_source::start(SourceConfig {
        records,
        ..SourceConfig::default()
    });
    let hub = hubspot::start(hub);
    let mut sources = Registry::embedded_sources().to_vec();
    sources.push(("fake-source.yaml", FAKE_SOURCE));
    let registry = Registry::from_sources(sources).expect("definitions validate");
    let config = SyncConfig::from_lookup(|k| match k {
        "TABLE_NAME" => Some(env.table.clone()),
        "SYNC_QUEUE_URL" => Some(env.queue_url.clone()),
        "ALLOW_PRIVATE_NETWORK" => Some("true".into()),
        _ => None,
    })
    .expect("bench config is complete");
    let deps = Arc::new(
        SyncDeps::new(config, &env.clients, Arc::new(registry), Arc::new(SystemClock)).expect("sync deps build"),
    );
    let tenant = format!("bench{}", ulid::Ulid::new().to_string().to_lowercase());
    let mut hub_config = json!({"base_url": hub.base_url});
    if let (Some(map), Value::Object(extra)) = (hub_config.as_object_mut(), hubspot_config) {
        map.extend(extra);
    }
    for (id, provider, config, creds) in [
        (
            "conn_source",
            "fake-source",
            json!({"base_url": source.base_url}),
            json!({}),
        ),
        (
            "conn_hubspot",
            "hubspot",
            hub_config,
            json!({"access_token": hubspot::TEST_TOKEN}),
        ),
    ] {
        let conn = Connection {
            id: id.into(),
            tenant: tenant.clone(),
            provider: provider.into(),
            name: provider.into(),
            webhook: None,
            secret_arn: None,
            config: config.as_object().cloned().unwrap_or_default(),
            created_at: 0,
        };
        create_connection(
            &deps.connections,
            &deps.secrets,
            conn,
            None,
            creds.as_object().cloned().unwrap_or_default(),
        )
        .await
        .expect("bench connections are created");
    }
    let flow = Flow {
        id: flow_id.into(),
        tenant,
        name: flow_id.into(),
        source_connection: "conn_source".into(),
        source_stream: "records".into(),
        destination_connection: "conn_hubspot".into(),
        destination_operation: "contacts.upsert_by_email".into(),
        mapping: r#"{properties: {email: .email, firstname: .first_name, lastname: .last_name, company: .company}}"#
            .into(),
        mode: SyncMode::Full,
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
    deps.flows.create(&flow).await.expect("the bench flow is created");
    SyncBench {
        env,
        deps,
        flow,
        source,
        hub,
    }
}

impl SyncBench {
    /// Creates a job of the bench flow (not enqueued) and returns the reference that runs it.
    pub async fn start_job(&self) -> SyncJobRef {
        let job = sync::start_job(&self.deps, &self.flow, "bench", None, false)
            .await
            .expect("the bench job is created");
        SyncJobRef {
            flow_id: self.flow.id.clone(),
            job_id: job.job_id,
            attempt: 0,
        }
    }
}
