//! Asana (`shared/connectors/asana.yaml`).
//!
//! Against the hand-written fake (`switchyard_fakes::asana`), whose traffic is checked against
//! `asana/asana_oas.yaml` from the specs folder. 250 tasks in one project and 250 projects in
//! the workspace: a full read is three pages of 100 (`offset` tokens from `next_page`); tasks
//! read incrementally with `modified_since` after five changed; a fetch by gid finds each (an
//! unknown gid is none). Asana's projects list has no time filter, so `projects` is a
//! full-refresh stream: a full read and a fetch, no incremental read. Each write sends a batch
//! with a record Asana refuses (no workspace or project; an assignee who is not a user).

use serde_json::{json, Value};
use switchyard::connector::StreamState;
use switchyard_fakes::asana::{self, AsanaConfig, PROJECT, TEAMMATE, TOKEN, WORKSPACE};

use super::{client, prove_check, prove_stream, prove_write, read_all, StreamCase, WriteCase};

const SEEDED: usize = 250;
const TASK_FIELDS: &str =
    "name,notes,completed,completed_at,due_on,assignee,assignee.name,created_at,modified_at,permalink_url";
const PROJECT_FIELDS: &str = "name,notes,archived,color,created_at,modified_at,owner,permalink_url";

#[tokio::test]
async fn asana() {
    let fake = asana::start(AsanaConfig {
        tasks: SEEDED,
        projects: SEEDED - 1,
        ..AsanaConfig::default()
    });
    let c = client(
        "asana",
        &asana::api_url(&fake),
        &[("access_token", TOKEN)],
        json!({"workspace": WORKSPACE, "project": PROJECT}),
    );
    let f = &fake;
    prove_stream(
        &c,
        StreamCase {
            stream: "tasks",
            expected: fake.task_count(),
            change: Box::new(move |records: &[Value]| {
                records
                    .iter()
                    .step_by(50)
                    .map(|r| {
                        let gid = r["gid"].as_str().expect("string gids").to_owned();
                        f.touch(&gid, &format!("Changed {gid}")).expect("the task exists");
                        gid
                    })
                    .collect()
            }),
            object: Box::new(move |gid| f.task_json(gid, TASK_FIELDS)),
            compare: &["/gid", "/name", "/assignee", "/modified_at"],
            missing_id: "1209999999999999",
        },
    )
    .await;

    // projects: full refresh and fetch.
    let full = read_all(&c, "projects", StreamState::full_refresh()).await;
    assert!(full.pages >= 3, "projects: {} pages", full.pages);
    assert_eq!(full.records.len(), fake.project_count(), "projects: full read count");
    for record in [&full.records[0], &full.records[137], full.records.last().unwrap()] {
        let gid = record["gid"].as_str().unwrap();
        let held = fake.project_json(gid, PROJECT_FIELDS).unwrap();
        assert_eq!(record, &held, "projects: full read of {gid}");
        let fetched = c
            .fetch_record("projects", gid)
            .await
            .unwrap()
            .expect("the project is found");
        assert_eq!(fetched, held, "projects: fetch of {gid}");
    }
    assert!(c.fetch_record("projects", "1209999999999999").await.unwrap().is_none());
    prove_check(&c).await;

    let holds = |fields: bool| {
        Box::new(move |record: &Value, gid: Option<&str>| {
            let gid = gid.expect("the task gid is returned");
            let held = f.task_record(gid).unwrap_or_else(|| panic!("task {gid} was written"));
            let written = if fields { &record["fields"] } else { record };
            for (name, value) in written.as_object().expect("an object") {
                if name != "workspace" {
                    assert_eq!(&held[name], value, "task {gid}: {name}");
                }
            }
        }) as super::Verify<'_>
    };
    let before = fake.task_count();
    prove_write(
        &c,
        WriteCase {
            operation: "tasks.create",
            records: vec![
                json!({"name": "Call Ada", "notes": "Renewal", "projects": [PROJECT], "assignee": TEAMMATE, "due_on": "2026-12-01"}),
                json!({"name": "Nowhere to go"}),
                json!({"name": "Workspace task", "workspace": WORKSPACE}),
            ],
            refused: &[1],
            verify: holds(false),
        },
    )
    .await;
    assert_eq!(fake.task_count(), before + 2, "two tasks created, one refused");

    let gids: Vec<String> = full_tasks(&c).await.into_iter().take(3).collect();
    prove_write(
        &c,
        WriteCase {
            operation: "tasks.update",
            records: vec![
                json!({"gid": gids[0], "fields": {"completed": true}}),
                json!({"gid": gids[1], "fields": {"assignee": "4242"}}),
                json!({"gid": gids[2], "fields": {"name": "Renamed", "assignee": TEAMMATE}}),
            ],
            refused: &[1],
            verify: holds(true),
        },
    )
    .await;
    assert_eq!(fake.task_record(&gids[0]).unwrap()["completed"], true);

    let violations = fake.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");
}

async fn full_tasks(c: &switchyard::connector::ConnectorClient) -> Vec<String> {
    read_all(c, "tasks", StreamState::full_refresh())
        .await
        .records
        .iter()
        .map(|r| r["gid"].as_str().unwrap().to_owned())
        .collect()
}
