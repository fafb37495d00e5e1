//! The files connector (`kind: s3`) against moto's S3 through the real `aws-sdk-s3` client:
//! the built-in definition with small pages (3 records) and objects (2 records), so every
//! read crosses objects and resumes inside one (a ranged GET).
//!
//! * streams, full: every record of every matching object once, oldest object first, each
//!   with its object key and line; a malformed CSV row and a bad JSON line reported with
//!   their line numbers while the rest is read; other prefixes and suffixes left alone;
//! * streams, incremental: from the full read's cursor only new and replaced objects;
//! * fetch by id (`<key>#<line>`), and `None` for a line, key or prefix that has none;
//! * writes (JSON Lines and CSV) with partly refused batches: parts of two records and a
//!   manifest listing them, read back;
//! * the check, and a missing bucket failing it permanently with the bucket named.
//!
//! There is no spec to check traffic against: moto's S3 is the reference.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{json, Value};
use switchyard::connector::registry::parse_definition;
use switchyard::connector::{
    ClientSettings, ConnectorClient, ConnectorError, Credentials, ErrorClass, ErrorKind, Registry, StreamState,
    WriteResult,
};
use switchyard_tests::buckets::TestBucket;

const BASE: &str = "tenant-a/";

fn definition() -> Arc<switchyard::connector::ConnectorDefinition> {
    let source = Registry::embedded_source("s3").expect("built in");
    let small = source
        .replace("page_size: 500", "page_size: 3")
        .replace("settle_secs: 2", "settle_secs: 0")
        .replace("records_per_object: 1000", "records_per_object: 2");
    Arc::new(parse_definition("s3.yaml", &small).expect("the built-in definition with small pages"))
}

fn bind(config: Value, secret: Value) -> Result<ConnectorClient, ConnectorError> {
    switchyard_tests::log_capture::install();
    let config = config.as_object().cloned().expect("an object");
    let mut settings = ClientSettings::from_connection_config(&config);
    settings.allow_private_network = true;
    let mut credentials = Credentials::new();
    for (k, v) in secret.as_object().expect("an object") {
        credentials = credentials.with(k.clone(), v.as_str().expect("text").to_owned());
    }
    let http =
        switchyard::connector::url_guard::http_client(std::time::Duration::from_secs(5), true).expect("HTTP client");
    ConnectorClient::new(definition(), settings, credentials, http)
}

/// Objects are read once their last-modified second is over (`settle_secs: 0` here).
async fn wait_for_the_next_second() {
    switchyard_tests::buckets::wait_for_the_next_second().await;
}

fn client(bucket: &TestBucket) -> ConnectorClient {
    bind(bucket.config(BASE), TestBucket::secret()).expect("binds")
}

/// Every page of a read: records, rejected lines, pages, the cursor.
struct Read {
    records: Vec<Value>,
    rejected: Vec<(String, String)>,
    pages: usize,
    max_cursor: Option<String>,
}

async fn read(c: &ConnectorClient, stream: &str, state: StreamState) -> Read {
    let mut out = Read {
        records: Vec::new(),
        rejected: Vec::new(),
        pages: 0,
        max_cursor: None,
    };
    let mut state = Some(state);
    while let Some(current) = state.take() {
        let page = c
            .read_page(stream, &current)
            .await
            .unwrap_or_else(|e| panic!("{stream}: page {}: {e}", out.pages + 1));
        out.pages += 1;
        out.records.extend(page.records);
        out.rejected.extend(page.rejected);
        out.max_cursor = page.max_cursor;
        state = page.next;
    }
    out
}

fn ids(c: &ConnectorClient, stream: &str, records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| c.record_id(stream, r).expect("every record has an id"))
        .collect()
}

const CONTACTS: &str = "tenant-a/incoming/contacts/";

#[tokio::test]
async fn s3_streams_read_new_objects_record_by_record_and_resume_inside_an_object() {
    let bucket = TestBucket::new().await;
    bucket
        .put(
            &format!("{CONTACTS}a.csv"),
            b"email,name\na1@x.io,A One\na2@x.io,\"A, Two\"\na3@x.io,A Three\na4@x.io,A Four\n",
        )
        .await;
    bucket
        .put(
            &format!("{CONTACTS}b.csv"),
            b"email,name\nb1@x.io,B One\nonly-one-field\nb3@x.io,B Three\n",
        )
        .await;
    bucket
        .put(&format!("{CONTACTS}c.csv"), b"email,name\nc1@x.io,C One\n")
        .await;
    // Not the stream's: another suffix, another prefix, another tenant.
    bucket.put(&format!("{CONTACTS}readme.txt"), b"not csv").await;
    bucket.put("tenant-a/incoming/events/x.csv", b"email\nz@x.io\n").await;
    bucket.put("tenant-b/incoming/contacts/a.csv", b"email\nz@x.io\n").await;
    let c = client(&bucket);
    c.check().await.expect("the check passes");
    wait_for_the_next_second().await;

    // Full read: pages of 3 records, so a.csv is resumed mid-object (a ranged GET).
    let full = read(&c, "contacts_csv", StreamState::full_refresh()).await;
    assert!(full.pages >= 3, "{} pages", full.pages);
    let got = ids(&c, "contacts_csv", &full.records);
    let expected: Vec<String> = [("a", 2), ("a", 3), ("a", 4), ("a", 5), ("b", 2), ("b", 4), ("c", 2)]
        .iter()
        .map(|(f, l)| format!("{CONTACTS}{f}.csv#{l}"))
        .collect();
    assert_eq!(got, expected, "every record once, object by object, with its line");
    assert_eq!(full.records[1]["name"], json!("A, Two"));
    assert_eq!(full.records[6]["email"], json!("c1@x.io"));
    let object = &full.records[0]["_object"];
    assert_eq!(object["key"], json!(format!("{CONTACTS}a.csv")));
    assert_eq!(object["line"], json!(2));
    assert!(
        object["last_modified"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{object}"
    );
    assert_eq!(
        full.rejected,
        vec![(
            format!("{CONTACTS}b.csv#3"),
            "1 fields where the header has 2".to_string()
        )],
        "the malformed row is reported with its line, the rest is read"
    );
    let cursor = full.max_cursor.clone().expect("a cursor");
    assert!(cursor.ends_with(&format!("|{CONTACTS}c.csv")), "{cursor}");

    // Nothing new: an incremental read returns nothing and keeps the cursor.
    let none = read(&c, "contacts_csv", StreamState::incremental(Some(cursor.clone()))).await;
    assert!(none.records.is_empty(), "{:?}", none.records);

    // A new object and a replaced one: exactly their records come back.
    bucket
        .put(&format!("{CONTACTS}d.csv"), b"email,name\nd1@x.io,D One\n")
        .await;
    bucket
        .put(&format!("{CONTACTS}a.csv"), b"email,name\na1@x.io,A Changed\n")
        .await;
    wait_for_the_next_second().await;
    let incremental = read(&c, "contacts_csv", StreamState::incremental(Some(cursor.clone()))).await;
    let got: BTreeSet<String> = ids(&c, "contacts_csv", &incremental.records).into_iter().collect();
    let expected: BTreeSet<String> = [format!("{CONTACTS}a.csv#2"), format!("{CONTACTS}d.csv#2")].into();
    assert_eq!(got, expected);
    let changed = incremental
        .records
        .iter()
        .find(|r| r["email"] == json!("a1@x.io"))
        .expect("a1");
    assert_eq!(changed["name"], json!("A Changed"));
    assert!(
        incremental.max_cursor.expect("a cursor") > cursor,
        "the cursor moves on"
    );

    // Fetch by id.
    let fetched = c
        .fetch_record("contacts_csv", &format!("{CONTACTS}b.csv#4"))
        .await
        .expect("fetch")
        .expect("b.csv line 4");
    assert_eq!(fetched["email"], json!("b3@x.io"));
    assert_eq!(fetched["_object"]["line"], json!(4));
    for missing in [
        format!("{CONTACTS}b.csv#3"),
        format!("{CONTACTS}b.csv#40"),
        format!("{CONTACTS}zz.csv#2"),
        "tenant-b/incoming/contacts/a.csv#2".to_string(),
        "no-line".to_string(),
    ] {
        assert_eq!(
            c.fetch_record("contacts_csv", &missing).await.expect("fetch"),
            None,
            "{missing}"
        );
    }
}

#[tokio::test]
async fn s3_json_lines_stream_reports_bad_lines_and_reads_the_rest() {
    let bucket = TestBucket::new().await;
    bucket
        .put(
            "tenant-a/incoming/events/1.jsonl",
            b"{\"id\":1}\n\n{\"id\":2}\n[3]\n{\"id\":4}\n{\"id\":5}\n",
        )
        .await;
    bucket
        .put("tenant-a/incoming/events/2.jsonl", b"{\"id\":6}\n{broken\n")
        .await;
    let c = client(&bucket);
    wait_for_the_next_second().await;
    let full = read(&c, "events_jsonl", StreamState::full_refresh()).await;
    let got: Vec<i64> = full.records.iter().map(|r| r["id"].as_i64().expect("an id")).collect();
    assert_eq!(got, [1, 2, 4, 5, 6]);
    let lines: Vec<u64> = full
        .records
        .iter()
        .map(|r| r["_object"]["line"].as_u64().expect("a line"))
        .collect();
    assert_eq!(lines, [1, 3, 5, 6, 1], "blank lines count");
    let rejected: Vec<&str> = full.rejected.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        rejected,
        [
            "tenant-a/incoming/events/1.jsonl#4",
            "tenant-a/incoming/events/2.jsonl#2"
        ]
    );
}

#[tokio::test]
async fn s3_writes_put_batched_objects_and_a_manifest_and_refuse_records_alone() {
    let bucket = TestBucket::new().await;
    let c = client(&bucket);

    // JSON Lines: three objects and one that is not, in parts of two.
    let batch = vec![
        json!({"email": "a@x.io", "n": 1}),
        json!("not an object"),
        json!({"email": "b@x.io", "nested": {"ok": true}}),
        json!({"email": "c@x.io"}),
    ];
    let results = c
        .write_batch("export.jsonl", &batch)
        .await
        .expect("the batch is written");
    let ok: Vec<String> = results
        .iter()
        .filter_map(|r| match r {
            WriteResult::Ok { destination_id } => destination_id.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(ok.len(), 3, "{results:?}");
    assert!(
        matches!(&results[1], WriteResult::Failed { class: ErrorClass::Permanent, reason } if reason.contains("not a JSON object")),
        "{results:?}"
    );
    let keys = bucket.keys("tenant-a/exports/jsonl/").await;
    assert_eq!(keys.len(), 3, "two parts and a manifest: {keys:?}");
    let manifest_key = keys.iter().find(|k| k.ends_with("/manifest.json")).expect("a manifest");
    let manifest: Value = serde_json::from_slice(&bucket.get(manifest_key).await).expect("JSON");
    assert_eq!(manifest["version"], json!(1));
    assert_eq!(manifest["format"], json!("jsonl"));
    assert_eq!(manifest["records"], json!(3));
    let files = manifest["files"].as_array().expect("files");
    assert_eq!(files.len(), 2);
    let first = files[0]["key"].as_str().expect("a key");
    assert!(first.ends_with("/part-00001.jsonl"), "{first}");
    let body = bucket.get(first).await;
    assert_eq!(files[0]["bytes"], json!(body.len()));
    assert_eq!(
        String::from_utf8(body).expect("UTF-8"),
        "{\"email\":\"a@x.io\",\"n\":1}\n{\"email\":\"b@x.io\",\"nested\":{\"ok\":true}}\n"
    );
    assert_eq!(ok[0], format!("{first}#1"), "the destination id is the object and line");
    assert_eq!(ok[1], format!("{first}#2"));

    // CSV: a record with a nested value is refused; the others share the batch's columns.
    let batch = vec![
        json!({"email": "a@x.io", "name": "Ada, Countess"}),
        json!({"email": "b@x.io", "tags": ["x"]}),
        json!({"email": "c@x.io", "age": 36}),
    ];
    let results = c.write_batch("export.csv", &batch).await.expect("written");
    assert!(matches!(&results[0], WriteResult::Ok { .. }), "{results:?}");
    assert!(
        matches!(&results[1], WriteResult::Failed { class: ErrorClass::Permanent, reason } if reason.contains("`tags` is not a scalar")),
        "{results:?}"
    );
    let WriteResult::Ok {
        destination_id: Some(id),
    } = &results[2]
    else {
        panic!("{results:?}")
    };
    let (key, line) = id.rsplit_once('#').expect("key#line");
    assert_eq!(line, "3", "header, then the rows");
    assert_eq!(
        String::from_utf8(bucket.get(key).await).expect("UTF-8"),
        "age,email,name\n,a@x.io,\"Ada, Countess\"\n36,c@x.io,\n"
    );
    assert!(bucket
        .keys("tenant-a/exports/csv/")
        .await
        .iter()
        .any(|k| k.ends_with("/manifest.json")));

    // A batch of nothing but refusals writes no object.
    let results = c.write_batch("export.csv", &[json!(1)]).await.expect("answered");
    assert!(matches!(results[0], WriteResult::Failed { .. }));
    assert_eq!(bucket.keys("tenant-a/exports/csv/").await.len(), 2);
}

#[tokio::test]
async fn s3_check_names_a_missing_bucket_and_bad_config_is_refused() {
    let bucket = TestBucket::new().await;
    let mut config = bucket.config(BASE);
    config["bucket"] = json!("no-such-bucket-switchyard");
    let c = bind(config, TestBucket::secret()).expect("binds without I/O");
    let e = c.check().await.expect_err("no such bucket");
    assert_eq!((e.class, e.kind), (ErrorClass::Permanent, ErrorKind::Config), "{e}");
    assert!(
        e.message.contains("no-such-bucket-switchyard") && e.message.contains("NoSuchBucket"),
        "{e}"
    );

    let e = bind(bucket.config(BASE), json!({"access_key_id": "test"})).expect_err("half a key");
    assert_eq!(e.kind, ErrorKind::Credentials, "{e}");
    assert!(!e.message.contains("test\""), "{e}");
    let mut config = bucket.config(BASE);
    config.as_object_mut().expect("an object").remove("bucket");
    let e = bind(config, TestBucket::secret()).expect_err("no bucket");
    assert!(e.message.contains("`bucket`"), "{e}");
    let mut config = bucket.config(BASE);
    config["endpoint_url"] = json!("http://169.254.169.254/");
    let mut settings = ClientSettings::from_connection_config(config.as_object().expect("an object"));
    settings.allow_private_network = false;
    let http =
        switchyard::connector::url_guard::http_client(std::time::Duration::from_secs(5), false).expect("HTTP client");
    let e = ConnectorClient::new(definition(), settings, Credentials::new(), http).expect_err("the metadata service");
    assert_eq!(e.kind, ErrorKind::UrlRejected, "{e}");
}
