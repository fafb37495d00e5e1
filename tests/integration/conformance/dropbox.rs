//! Dropbox (`shared/connectors/dropbox.yaml`).
//!
//! Against the hand-written fake (`switchyard_fakes::dropbox`, served under `/2`), whose
//! traffic is checked against `dropbox/openapi.yaml` with the list operations and errors it
//! lacks added from Dropbox's documentation. 240 files in five subfolders under `/Projects`: a
//! full read is `list_folder` then `list_folder/continue` pages of 100 (the stream's
//! `next_request`); `files` is full refresh only (Dropbox's cursor is not a record field), so a
//! second full read sees edited files; a fetch by `id:` finds each (an unknown id is none).
//! `folders.create` sends a batch with a folder that exists (refused). `files.upload` goes to
//! the content host (the fake's second server, the connection's `hosts.content`) with the
//! bytes as the body and the arguments in `Dropbox-API-Arg`: a name outside ASCII, a path
//! that exists (refused), an overwrite (same id, new content) and an autorename.

use std::sync::Arc;

use base64::Engine as _;
use serde_json::{json, Value};
use switchyard::connector::{ErrorClass, Registry};
use switchyard_fakes::dropbox::{self, DropboxConfig, FOLDER, TOKEN};

use super::{client, client_of, prove_check, prove_full_refresh_stream, prove_write, StreamCase, WriteCase};

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn config(fake: &dropbox::DropboxFake) -> Value {
    json!({"path": FOLDER, "hosts": {"content": dropbox::content_url(fake)}})
}

#[tokio::test]
async fn dropbox() {
    let fake = dropbox::start(DropboxConfig {
        files: 240,
        ..DropboxConfig::default()
    });
    let c = client(
        "dropbox",
        &dropbox::api_url(&fake),
        &[("access_token", TOKEN)],
        config(&fake),
    );
    let f = &fake;
    prove_full_refresh_stream(
        &c,
        StreamCase {
            stream: "files",
            expected: fake.count_under(FOLDER),
            change: Box::new(move |records: &[Value]| {
                records
                    .iter()
                    .filter(|r| r[".tag"] == "file")
                    .step_by(60)
                    .map(|r| {
                        let id = r["id"].as_str().expect("string ids").to_owned();
                        f.edit_file(&id, 4096).expect("the file exists");
                        id
                    })
                    .collect()
            }),
            object: Box::new(move |id| f.by_id(id)),
            compare: &["/id", "/.tag", "/path_display", "/rev", "/size", "/server_modified"],
            missing_id: "id:a4ayc_80_OEAAAAAAAA9999",
        },
    )
    .await;
    prove_check(&c).await;

    prove_write(
        &c,
        WriteCase {
            operation: "folders.create",
            records: vec![
                json!({"path": "/Projects/Acme Launch", "autorename": false}),
                json!({"path": FOLDER, "autorename": false}),
                json!({"path": "/Clients/Globex"}),
            ],
            refused: &[1],
            verify: Box::new(move |record: &Value, id: Option<&str>| {
                let id = id.expect("the folder id is returned");
                let held = f.by_id(id).unwrap_or_else(|| panic!("folder {id} was created"));
                assert_eq!(held[".tag"], "folder");
                assert_eq!(held["path_display"], record["path"], "{id}");
            }),
        },
    )
    .await;
    assert!(fake.by_path("/Clients").is_some(), "the parent folder was created too");

    let overwritten = fake
        .by_path("/Projects/Batch 1/report-0002.txt")
        .expect("a seeded file")["id"]
        .clone();
    let rpc_requests = fake.api.requests.len();
    prove_write(
        &c,
        WriteCase {
            operation: "files.upload",
            records: vec![
                json!({"path": "/Uploads/Überblick 2024 – ✓ 😀.txt", "content": b64("Quarterly numbers, ✓\n")}),
                json!({"path": "/Projects/Batch 1/report-0001.txt", "content": b64("refused"), "mode": "add"}),
                json!({"path": "/Projects/Batch 1/report-0002.txt", "content": b64("new revision"), "mode": "overwrite"}),
                json!({"path": "/Projects/Batch 1/report-0003.txt", "content": b64("a second copy"), "autorename": true}),
            ],
            refused: &[1],
            verify: Box::new(move |record: &Value, id: Option<&str>| {
                let id = id.expect("the file id is returned");
                let held = f.by_id(id).unwrap_or_else(|| panic!("file {id} was uploaded"));
                assert_eq!(held[".tag"], "file");
                let path = record["path"].as_str().unwrap();
                let expected_path = match record["autorename"].as_bool() {
                    Some(true) => path.replace(".txt", " (1).txt"),
                    _ => path.to_owned(),
                };
                assert_eq!(held["path_display"], expected_path.as_str(), "{id}");
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(record["content"].as_str().unwrap())
                    .unwrap();
                assert_eq!(f.file_content(&expected_path).as_deref(), Some(bytes.as_slice()), "{id}");
                assert_eq!(held["size"], bytes.len(), "{id}");
                assert_eq!(held["content_hash"], dropbox::content_hash(&bytes).as_str(), "{id}");
            }),
        },
    )
    .await;
    assert_eq!(
        fake.by_path("/Projects/Batch 1/report-0002.txt").unwrap()["id"],
        overwritten,
        "an overwrite is a new revision of the same file"
    );
    assert_eq!(
        fake.file_content("/Projects/Batch 1/report-0003.txt"),
        None,
        "the autorenamed upload left the seeded file alone"
    );
    assert_eq!(fake.content.requests.len(), 4, "every upload went to the content host");
    assert_eq!(fake.api.requests.len(), rpc_requests, "and none to the RPC host");

    let violations = fake.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}

/// A host the definition does not send credentials to gets none: the same upload, from a copy
/// of the definition whose content host says `credentials: false`, reaches the content host
/// without the token and is refused there (the fake answers 401 to a request without it).
#[tokio::test]
async fn dropbox_a_host_without_credentials_gets_no_token() {
    let fake = dropbox::start(DropboxConfig::default());
    let registry = Registry::embedded().expect("the built-in definitions validate");
    let mut def = (*registry.get_shared("dropbox").unwrap()).clone();
    def.hosts.get_mut("content").expect("the content host").credentials = false;
    let c = client_of(
        Arc::new(def),
        &dropbox::api_url(&fake),
        &[("access_token", TOKEN)],
        config(&fake),
    );
    let refused = c
        .write_batch("files.upload", &[json!({"path": "/a.txt", "content": b64("x")})])
        .await
        .expect_err("the content host refuses a request without the token");
    assert_eq!(refused.class, ErrorClass::ReAuth, "{refused:?}");
    assert_eq!(fake.content.requests.count_status(401), 1);
    assert!(fake.by_path("/a.txt").is_none(), "nothing was stored");
}
