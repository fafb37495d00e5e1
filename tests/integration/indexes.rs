//! Scheduled ticks read the sparse `sched` index, never the table: however many events, record
//! links and jobs the table holds, dispatch and the health checker read only connections and
//! due flows (counted with the request counter).

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use switchyard::dispatch::Dispatcher;
use switchyard::store::connections::{Connection, ConnectionStore};
use switchyard::store::flows::{Flow, FlowStore, SyncMode};
use switchyard::store::migrate::backfill_sched_index;
use switchyard::store::table::{SCHED_PK, SCHED_SK};
use switchyard_tests::TestEnv;

const NOW: i64 = 1_764_000_000;

/// Items that are neither connections nor flows: 3,000 by default; the 200,000 with
/// `INDEX_TEST_OTHER_ITEMS=200000` (a minute or two of seeding the emulator).
fn other_items() -> usize {
    std::env::var("INDEX_TEST_OTHER_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000)
}

fn connection(id: &str) -> Connection {
    Connection {
        id: id.into(),
        tenant: "acme".into(),
        provider: "stripe".into(),
        name: id.into(),
        webhook: None,
        secret_arn: None,
        config: Default::default(),
        created_at: NOW,
    }
}

fn flow(id: &str, every: Option<u64>, next_run_at: Option<i64>, enabled: bool) -> Flow {
    Flow {
        id: id.into(),
        tenant: "acme".into(),
        name: id.into(),
        source_connection: "conn_a".into(),
        source_stream: "customers".into(),
        destination_connection: "conn_b".into(),
        destination_operation: "contacts.upsert_by_email".into(),
        mapping: ".".into(),
        mode: SyncMode::Incremental,
        schedule_interval_secs: every,
        event_types: vec![],
        enabled,
        created_at: NOW,
        cursor: None,
        next_run_at,
        retry_schedule_secs: None,
        reverse_flow: None,
        on_conflict: Default::default(),
        lookups: Vec::new(),
        match_on_create: None,
        on_delete: Default::default(),
        archive_mapping: None,
    }
}

/// Events, record links and jobs, as many as `n`, in batches of 25.
async fn seed_other_items(env: &TestEnv, n: usize) {
    let items: Vec<WriteRequest> = (0..n)
        .map(|i| {
            let (pk, sk) = match i % 3 {
                0 => (format!("EVT#conn_a#evt_{i}"), "EVT".to_string()),
                1 => ("FLOW#flow_due".to_string(), format!("LINK#cus_{i}")),
                _ => ("FLOW#flow_due".to_string(), format!("JOB#{i:08}")),
            };
            let item = [
                ("pk".to_string(), AttributeValue::S(pk)),
                ("sk".to_string(), AttributeValue::S(sk)),
                ("payload".to_string(), AttributeValue::S("x".repeat(200))),
            ]
            .into();
            WriteRequest::builder()
                .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
                .build()
        })
        .collect();
    for chunk in items.chunks(25) {
        let mut pending = Some(chunk.to_vec());
        while let Some(batch) = pending.take().filter(|b| !b.is_empty()) {
            let out = env
                .clients
                .dynamodb
                .batch_write_item()
                .request_items(&env.table, batch)
                .send()
                .await
                .expect("BatchWriteItem works against the emulator");
            pending = out.unprocessed_items.and_then(|mut m| m.remove(&env.table));
        }
    }
}

/// The ids of the flows dispatch finds due at `now`.
async fn due_ids(dispatcher: &Dispatcher, now: i64) -> Vec<String> {
    dispatcher
        .due_flows(now)
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.id)
        .collect()
}

async fn seeded() -> (TestEnv, ConnectionStore, FlowStore) {
    let env = TestEnv::new().await;
    let connections = ConnectionStore::new(env.clients.dynamodb.clone(), &env.table);
    let flows = FlowStore::new(env.clients.dynamodb.clone(), &env.table);
    for id in ["conn_a", "conn_b", "conn_c"] {
        connections.create(&connection(id)).await.unwrap();
    }
    flows
        .create(&flow("flow_due", Some(300), Some(NOW - 10), true))
        .await
        .unwrap();
    flows
        .create(&flow("flow_first_run", Some(300), None, true))
        .await
        .unwrap();
    flows
        .create(&flow("flow_later", Some(300), Some(NOW + 100), true))
        .await
        .unwrap();
    flows
        .create(&flow("flow_paused", Some(300), Some(NOW - 10), false))
        .await
        .unwrap();
    flows.create(&flow("flow_on_demand", None, None, true)).await.unwrap();
    seed_other_items(&env, other_items()).await;
    env.counter.reset();
    (env, connections, flows)
}

#[tokio::test]
async fn dispatch_and_health_ticks_query_the_sparse_index_and_never_scan() {
    let (env, connections, _) = seeded().await;
    let dispatcher = Dispatcher::new(env.clients.dynamodb.clone(), &env.table);

    let due = due_ids(&dispatcher, NOW).await;
    assert_eq!(
        due,
        ["flow_due", "flow_first_run"],
        "exactly the enabled scheduled flows that are due"
    );
    let page = connections.scan_page(None, 100).await.unwrap();
    let ids: Vec<_> = page.items.iter().map(|(c, _, _)| c.id.as_str()).collect();
    assert_eq!(ids, ["conn_a", "conn_b", "conn_c"]);
    assert!(page.next.is_none());

    let counts = env.counter.snapshot();
    println!(
        "a dispatch and a health tick beside {} other items: {counts:?}",
        other_items()
    );
    assert_eq!(
        env.counter.count("DynamoDB.Scan"),
        0,
        "no tick scans the table: {counts:?}"
    );
    assert_eq!(
        env.counter.count("DynamoDB.Query"),
        2,
        "one Query each, whatever else the table holds ({} other items): {counts:?}",
        other_items()
    );
}

#[tokio::test]
async fn a_dispatched_flow_moves_in_the_index_to_its_next_run() {
    use std::sync::Arc;
    use switchyard::clock::FixedClock;
    use switchyard::config::SyncConfig;
    use switchyard::connector::Registry;
    use switchyard::sync::SyncDeps;
    let (env, _, _) = seeded().await;
    let config = SyncConfig::from_lookup(|k| match k {
        "TABLE_NAME" => Some(env.table.clone()),
        "SYNC_QUEUE_URL" => Some(env.queue_url.clone()),
        _ => None,
    })
    .unwrap();
    let deps = SyncDeps::new(
        config,
        &env.clients,
        Arc::new(Registry::embedded().unwrap()),
        Arc::new(FixedClock::at(NOW)),
    )
    .unwrap();
    let dispatcher = Dispatcher::new(env.clients.dynamodb.clone(), &env.table);
    let report = dispatcher.tick(&deps).await.unwrap();
    assert_eq!(report.dispatched, ["flow_due", "flow_first_run"]);
    assert!(
        dispatcher.due_flows(NOW).await.unwrap().is_empty(),
        "dispatched flows left the due range"
    );
    let due_later = due_ids(&dispatcher, NOW + 300).await;
    assert_eq!(due_later, ["flow_due", "flow_first_run", "flow_later"]);
    assert_eq!(env.counter.count("DynamoDB.Scan"), 0);
}

#[tokio::test]
async fn backfill_indexes_items_written_before_the_index_existed_once() {
    let (env, connections, _) = seeded().await;
    let dispatcher = Dispatcher::new(env.clients.dynamodb.clone(), &env.table);
    // Items as an earlier release wrote them: without the index keys.
    for (pk, sk) in [
        ("CONN#conn_b", "CONN"),
        ("FLOW#flow_due", "FLOW"),
        ("FLOW#flow_on_demand", "FLOW"),
    ] {
        env.clients
            .dynamodb
            .update_item()
            .table_name(&env.table)
            .key("pk", AttributeValue::S(pk.into()))
            .key("sk", AttributeValue::S(sk.into()))
            .update_expression("REMOVE #a, #b")
            .expression_attribute_names("#a", SCHED_PK)
            .expression_attribute_names("#b", SCHED_SK)
            .send()
            .await
            .unwrap();
    }
    let due = due_ids(&dispatcher, NOW).await;
    assert_eq!(due, ["flow_first_run"], "an unindexed flow is invisible to dispatch");
    assert_eq!(connections.scan_page(None, 100).await.unwrap().items.len(), 2);

    let report = backfill_sched_index(&env.clients.dynamodb, &env.table).await.unwrap();
    assert_eq!((report.connections, report.flows), (1, 1), "{report:?}");
    let due = due_ids(&dispatcher, NOW).await;
    assert_eq!(due, ["flow_due", "flow_first_run"]);
    assert_eq!(connections.scan_page(None, 100).await.unwrap().items.len(), 3);

    let again = backfill_sched_index(&env.clients.dynamodb, &env.table).await.unwrap();
    assert_eq!(
        (again.connections, again.flows),
        (0, 0),
        "a second run changes nothing: {again:?}"
    );
}
