//! Dropbox (`shared/connectors/dropbox.yaml`).
//!
//! Against the hand-written fake (`switchyard_fakes::dropbox`, served under `/2`), whose
//! traffic is checked against `dropbox/openapi.yaml` with the list operations and errors it
//! lacks added from Dropbox's documentation. 240 files in five subfolders under `/Projects`: a
//! full read is `list_folder` then `list_folder/continue` pages of 100 (the stream's
//! `next_request`); `files` is full refresh only (Dropbox's cursor is not a record field), so a
//! second full read sees edited files; a fetch by `id:` finds each (an unknown id is none). The
//! write sends a batch with a folder that exists (refused).

use serde_json::{json, Value};
use switchyard_fakes::dropbox::{self, DropboxConfig, FOLDER, TOKEN};

use super::{client, prove_check, prove_full_refresh_stream, prove_write, StreamCase, WriteCase};

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
        json!({"path": FOLDER}),
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

    let violations = fake.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}
