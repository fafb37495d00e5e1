//! Connector conformance: one test per built-in connector, named after its id
//! (`cargo test conformance::hubspot`), run through the same engine connector-sync uses
//! ([`ConnectorClient`]) against that connector's fake.
//!
//! Each test proves, for its connector:
//!
//! * every stream: a full read of at least three pages (the count matches the fake's), an
//!   incremental read from the highest cursor after the fake changed some objects (exactly the
//!   changed objects plus those the lookback window re-reads come back, with their new
//!   values), and a fetch by id (the fake's object; an unknown id is `None`);
//! * every write operation, with a batch the destination partly refuses: the refused records
//!   fail permanently, the others are written, and their values are read back from the fake;
//! * the check request;
//! * and that the fake recorded no spec violation.
//!
//! The harness is generic; a connector's test is data: which fake, which streams (and how the
//! fake changes objects), which operations with which records. Adding a connector means its
//! definition, its fake's profile, and one test here.

mod amazon_sp_api;
mod asana;
mod axcelerate;
mod bigquery;
mod calendly;
mod canvas;
mod cloudassess;
mod coursebox;
mod d2l_brightspace;
mod dropbox;
pub mod dynamics_365;
mod eskilled;
mod generic_rest;
mod github;
mod hubspot;
mod imap;
mod jr_plus;
mod linear;
mod magento;
mod mailchimp;
mod microsoft_graph;
mod moodle;
mod myob_accountright;
mod netsuite;
mod notion;
mod oracle_erp_cloud;
mod paypal;
mod pipedrive;
mod power_bi;
mod quickbooks;
mod s3;
mod sage_intacct;
mod salesforce;
pub mod sap_s4hana;
mod shopify;
mod slack;
mod smtp;
mod snowflake;
mod sql;
mod stripe;
mod tableau;
mod vettrak;
mod webhook;
mod woocommerce;
mod xero;
mod zendesk;
mod zoho_crm;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use switchyard::connector::definition::CursorKind;
use switchyard::connector::{
    cursor, url_guard, ClientSettings, ConnectorClient, Credentials, ErrorClass, Registry, StreamState, WriteResult,
};

/// A client for the built-in connector `id`, pointed at a fake.
pub fn client(id: &str, base_url: &str, credentials: &[(&str, &str)], config: Value) -> ConnectorClient {
    let registry = Registry::embedded().expect("the built-in definitions validate");
    let def = registry
        .get_shared(id)
        .unwrap_or_else(|| panic!("{id} is a built-in connector"));
    client_of(def, base_url, credentials, config)
}

/// A client for `def`, pointed at a fake.
pub fn client_of(
    def: Arc<switchyard::connector::ConnectorDefinition>,
    base_url: &str,
    credentials: &[(&str, &str)],
    config: Value,
) -> ConnectorClient {
    let id = def.id.clone();
    let mut settings = ClientSettings::from_connection_config(&match config {
        Value::Object(map) => map,
        _ => Map::new(),
    });
    settings.base_url = Some(base_url.to_owned());
    settings.allow_private_network = true;
    settings.request_timeout = Duration::from_secs(20);
    settings.max_inline_retries = 3;
    settings.max_inline_wait = Duration::from_secs(15);
    switchyard_tests::log_capture::install();
    for (_, value) in credentials {
        switchyard_tests::log_capture::known_secret(value);
    }
    let credentials = credentials.iter().fold(Credentials::new(), |c, (k, v)| c.with(*k, *v));
    let http = url_guard::http_client(settings.request_timeout, true).expect("an HTTP client");
    ConnectorClient::new(Arc::clone(&def), settings, credentials, http)
        .unwrap_or_else(|e| panic!("connector {id} binds to the fake: {e}"))
}

/// Every page of one run.
pub struct Run {
    pub records: Vec<Value>,
    pub pages: u32,
    pub max_cursor: Option<String>,
}

/// Reads a stream to its end from `state`.
pub async fn read_all(client: &ConnectorClient, stream: &str, state: StreamState) -> Run {
    let mut run = Run {
        records: Vec::new(),
        pages: 0,
        max_cursor: None,
    };
    let mut state = Some(state);
    while let Some(current) = state.take() {
        let page = client
            .read_page(stream, &current)
            .await
            .unwrap_or_else(|e| panic!("{stream}: page {} fails: {e}", run.pages + 1));
        run.pages += 1;
        run.records.extend(page.records);
        run.max_cursor = page.max_cursor;
        state = page.next;
    }
    run
}

/// Changes objects in a fake, given the full read's records; returns the changed ids.
pub type Change<'a> = Box<dyn FnOnce(&[Value]) -> Vec<String> + 'a>;
/// The fake's current object by id.
pub type Lookup<'a> = Box<dyn Fn(&str) -> Option<Value> + 'a>;
/// Checks a written record against the fake: `(record, destination id)`.
pub type Verify<'a> = Box<dyn Fn(&Value, Option<&str>) + 'a>;

/// What one stream's proof needs from its fake.
pub struct StreamCase<'a> {
    pub stream: &'a str,
    /// Objects the fake holds for this stream before the run.
    pub expected: usize,
    /// Changes objects in the fake (updates, new objects) and returns their ids: after it,
    /// an incremental run from the full run's highest cursor must return each of them.
    pub change: Change<'a>,
    /// The fake's current object by id (to compare a fetch and changed values with).
    pub object: Lookup<'a>,
    /// Pointers compared between what the connector read and the fake's object.
    pub compare: &'a [&'a str],
    /// An id the fake does not have.
    pub missing_id: &'a str,
}

fn id_of(client: &ConnectorClient, stream: &str, record: &Value) -> String {
    client
        .record_id(stream, record)
        .unwrap_or_else(|| panic!("{stream}: a record without its primary key: {record}"))
}

fn assert_same(stream: &str, what: &str, read: &Value, object: &Value, pointers: &[&str]) {
    for pointer in pointers {
        assert_eq!(
            read.pointer(pointer),
            object.pointer(pointer),
            "{stream}: {what}: {pointer} differs from the fake's object\nread: {read}\nfake: {object}"
        );
    }
}

/// Full read (at least three pages), incremental read after a change, fetch by id.
pub async fn prove_stream(client: &ConnectorClient, case: StreamCase<'_>) {
    let stream = case.stream;
    let spec = client.definition().streams[stream].clone();

    // Full refresh.
    let full = read_all(client, stream, StreamState::full_refresh()).await;
    assert!(
        full.pages >= 3,
        "{stream}: a full read of {} pages, expected at least 3",
        full.pages
    );
    let ids: BTreeSet<String> = full.records.iter().map(|r| id_of(client, stream, r)).collect();
    assert_eq!(full.records.len(), case.expected, "{stream}: full read record count");
    assert_eq!(ids.len(), full.records.len(), "{stream}: a record was read twice");
    for record in full.records.iter().take(3) {
        let id = id_of(client, stream, record);
        let object = (case.object)(&id).unwrap_or_else(|| panic!("{stream}: the fake has {id}"));
        assert_same(stream, "full read", record, &object, case.compare);
    }

    // Incremental, after the fake changed some objects.
    let cursor_spec = spec
        .cursor
        .clone()
        .unwrap_or_else(|| panic!("{stream}: no cursor, no incremental read"));
    let max = full
        .max_cursor
        .clone()
        .unwrap_or_else(|| panic!("{stream}: the full read saw no cursor"));
    let changed = (case.change)(&full.records);
    assert!(!changed.is_empty(), "{stream}: the fake changed nothing");
    let incremental = read_all(client, stream, StreamState::incremental(Some(max.clone()))).await;
    let got: BTreeMap<String, &Value> = incremental
        .records
        .iter()
        .map(|r| (id_of(client, stream, r), r))
        .collect();
    // What must come back: the changed objects, plus unchanged ones at or after the start
    // cursor less the lookback window; through a delta link, exactly the changed objects;
    // through a change feed, the changed objects and at most those of the lookback window
    // (a feed of events names only changed objects; a feed whose items are the records, as
    // QuickBooks' CDC, re-reads the window as a list does).
    let delta = cursor_spec.kind == CursorKind::DeltaLink;
    let lower = if delta {
        String::new()
    } else {
        lower_bound(cursor_spec.kind, &max, cursor_spec.lookback_secs)
    };
    let mut expected: BTreeSet<String> = changed.iter().cloned().collect();
    let listed = if delta { &[][..] } else { &full.records[..] };
    let mut window: BTreeSet<String> = BTreeSet::new();
    for record in listed {
        if let Some(value) = record
            .pointer(&cursor_spec.field)
            .and_then(|v| cursor::from_value(cursor_spec.kind, v))
        {
            if cursor::compare(cursor_spec.kind, &value, &lower) != std::cmp::Ordering::Less {
                window.insert(id_of(client, stream, record));
            }
        }
    }
    let got_ids = got.keys().cloned().collect::<BTreeSet<_>>();
    if spec.changes.is_some() {
        assert!(
            expected.is_subset(&got_ids) && got_ids.iter().all(|id| expected.contains(id) || window.contains(id)),
            "{stream}: incremental read from {max} (lookback {} s) after changing {changed:?}: got {got_ids:?}, \
             beyond the changed ones only the window's {window:?} may come back",
            cursor_spec.lookback_secs
        );
    } else {
        expected.extend(window);
        assert_eq!(
            got_ids, expected,
            "{stream}: incremental read from {max} (lookback {} s) after changing {changed:?}",
            cursor_spec.lookback_secs
        );
    }
    assert_eq!(
        got.len(),
        incremental.records.len(),
        "{stream}: an incremental record was read twice"
    );
    for id in &changed {
        let object = (case.object)(id).unwrap_or_else(|| panic!("{stream}: the fake has {id}"));
        assert_same(stream, "incremental read", got[id], &object, case.compare);
    }
    let new_max = incremental.max_cursor.expect("the incremental read saw a cursor");
    if delta {
        // A delta link is not ordered: the run ends with a new one.
        assert_ne!(new_max, max, "{stream}: the incremental run gives a new delta link");
    } else {
        assert_eq!(
            cursor::compare(cursor_spec.kind, &new_max, &max),
            std::cmp::Ordering::Greater,
            "{stream}: the cursor moves past the changes"
        );
    }

    // Fetch by id.
    if spec.fetch.is_some() {
        let id = &changed[0];
        let fetched = client
            .fetch_record(stream, id)
            .await
            .unwrap_or_else(|e| panic!("{stream}: fetch {id} fails: {e}"))
            .unwrap_or_else(|| panic!("{stream}: fetch {id} finds nothing"));
        assert_eq!(id_of(client, stream, &fetched), *id, "{stream}: fetch by id");
        let object = (case.object)(id).expect("the fake has it");
        assert_same(stream, "fetch", &fetched, &object, case.compare);
        let none = client
            .fetch_record(stream, case.missing_id)
            .await
            .unwrap_or_else(|e| panic!("{stream}: fetch of a missing id fails instead of None: {e}"));
        assert!(none.is_none(), "{stream}: fetch of a missing id: {none:?}");
    }
}

/// A stream the API cannot filter by change (no cursor, so every run reads it in full): a
/// full read of at least three pages and a fetch by id. Fails if the stream has a cursor, whose
/// incremental read [`prove_stream`] must then prove.
pub async fn prove_full_refresh_stream(client: &ConnectorClient, case: StreamCase<'_>) {
    let stream = case.stream;
    let spec = client.definition().streams[stream].clone();
    assert!(
        spec.cursor.is_none() && spec.changes.is_none(),
        "{stream}: an incremental stream is proven with prove_stream"
    );
    let full = read_all(client, stream, StreamState::full_refresh()).await;
    assert!(
        full.pages >= 3,
        "{stream}: a full read of {} pages, expected at least 3",
        full.pages
    );
    let ids: BTreeSet<String> = full.records.iter().map(|r| id_of(client, stream, r)).collect();
    assert_eq!(full.records.len(), case.expected, "{stream}: full read record count");
    assert_eq!(ids.len(), full.records.len(), "{stream}: a record was read twice");
    let changed = (case.change)(&full.records);
    assert!(!changed.is_empty(), "{stream}: the fake changed nothing");
    let again = read_all(client, stream, StreamState::full_refresh()).await;
    let by_id: BTreeMap<String, &Value> = again.records.iter().map(|r| (id_of(client, stream, r), r)).collect();
    for id in &changed {
        let object = (case.object)(id).unwrap_or_else(|| panic!("{stream}: the fake has {id}"));
        let read = by_id
            .get(id)
            .unwrap_or_else(|| panic!("{stream}: the next full read has {id}"));
        assert_same(stream, "next full read", read, &object, case.compare);
    }
    let fetch = spec.fetch.is_some();
    assert!(fetch, "{stream}: no fetch by id");
    let id = &changed[0];
    let fetched = client
        .fetch_record(stream, id)
        .await
        .unwrap_or_else(|e| panic!("{stream}: fetch {id} fails: {e}"))
        .unwrap_or_else(|| panic!("{stream}: fetch {id} finds nothing"));
    let object = (case.object)(id).expect("the fake has it");
    assert_same(stream, "fetch", &fetched, &object, case.compare);
    let none = client
        .fetch_record(stream, case.missing_id)
        .await
        .unwrap_or_else(|e| panic!("{stream}: fetch of a missing id fails instead of None: {e}"));
    assert!(none.is_none(), "{stream}: fetch of a missing id: {none:?}");
}

/// `cursor` moved back by `lookback_secs`, in the cursor's own format.
fn lower_bound(kind: CursorKind, cursor: &str, lookback_secs: u64) -> String {
    let values = cursor::since_values(kind, cursor, lookback_secs).expect("a readable cursor");
    match &values[0].1 {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One write operation's proof: `records`, of which those at `refused` are refused by the
/// destination.
pub struct WriteCase<'a> {
    pub operation: &'a str,
    pub records: Vec<Value>,
    pub refused: &'a [usize],
    /// Checks one written record against the fake: `(record, destination id)`.
    pub verify: Verify<'a>,
}

/// Writes the batch and checks every result and the values the fake now holds.
pub async fn prove_write(client: &ConnectorClient, case: WriteCase<'_>) -> Vec<WriteResult> {
    let op = case.operation;
    let results = client
        .write_batch(op, &case.records)
        .await
        .unwrap_or_else(|e| panic!("{op}: the batch fails as a whole: {e}"));
    assert_eq!(results.len(), case.records.len(), "{op}: one result per record");
    for (i, (record, result)) in case.records.iter().zip(&results).enumerate() {
        if case.refused.contains(&i) {
            match result {
                WriteResult::Failed {
                    class: ErrorClass::Permanent,
                    reason,
                } => assert!(!reason.is_empty(), "{op}: record {i} is refused without a reason"),
                other => panic!("{op}: record {i} should be refused (permanently): {other:?}"),
            }
        } else {
            match result {
                WriteResult::Ok { destination_id } => (case.verify)(record, destination_id.as_deref()),
                other => panic!("{op}: record {i} should be written: {other:?}"),
            }
        }
    }
    results
}

/// The check request succeeds.
pub async fn prove_check(client: &ConnectorClient) {
    let report = client.check().await.unwrap_or_else(|e| panic!("the check fails: {e}"));
    assert!((200..300).contains(&report.status), "check: HTTP {}", report.status);
}
