//! Zendesk Support (`shared/connectors/zendesk.yaml`).
//!
//! Against the hand-written fake (`switchyard_fakes::zendesk`, served under `/api/v2`), which
//! follows developer.zendesk.com (no spec is published) and records a violation for any request
//! outside the documented shapes. 2,100 tickets and 2,100 users: a full read is the cursor-based
//! incremental export from `start_time=0`, three pages of 1,000 (`cursor` on the next pages, until
//! `end_of_stream`); an incremental read from the highest `updated_at` after five changes; a
//! fetch by id finds each (an unknown id is none). 250 organizations: the cursor-paginated list
//! (`page[size]=100`, `links.next`), read in full twice around a rename. Each write sends a
//! batch with a record Zendesk refuses (a ticket without a comment; an update to a closed
//! ticket).

use serde_json::{json, Value};
use switchyard_fakes::zendesk::{self, ZendeskConfig, AGENT, API_TOKEN};

use super::{client, prove_check, prove_full_refresh_stream, prove_stream, prove_write, StreamCase, WriteCase};

const SEEDED: usize = 2_100;

#[tokio::test]
async fn zendesk() {
    let fake = zendesk::start(ZendeskConfig {
        tickets: SEEDED,
        users: SEEDED - 1,
        organizations: 250,
        ..ZendeskConfig::default()
    });
    let username = format!("{AGENT}/token");
    let c = client(
        "zendesk",
        &zendesk::api_url(&fake),
        &[("username", username.as_str()), ("api_token", API_TOKEN)],
        json!({}),
    );
    let f = &fake;
    let ids = |records: &[Value]| -> Vec<u64> {
        records
            .iter()
            .step_by(420)
            .map(|r| r["id"].as_u64().expect("numeric ids"))
            .collect()
    };
    prove_stream(
        &c,
        StreamCase {
            stream: "tickets",
            expected: fake.ticket_count(),
            change: Box::new(move |records: &[Value]| {
                ids(records)
                    .into_iter()
                    .map(|id| {
                        f.touch_ticket(id, "pending").expect("the ticket exists");
                        id.to_string()
                    })
                    .collect()
            }),
            object: Box::new(move |id| f.ticket_json(id)),
            compare: &["/id", "/subject", "/status", "/updated_at"],
            missing_id: "99999999",
        },
    )
    .await;
    prove_stream(
        &c,
        StreamCase {
            stream: "users",
            expected: fake.user_count(),
            change: Box::new(move |records: &[Value]| {
                ids(records)
                    .into_iter()
                    .map(|id| {
                        f.rename_user(id, &format!("Renamed {id}")).expect("the user exists");
                        id.to_string()
                    })
                    .collect()
            }),
            object: Box::new(move |id| f.user_json(id)),
            compare: &["/id", "/name", "/email", "/updated_at"],
            missing_id: "99999999",
        },
    )
    .await;
    prove_full_refresh_stream(
        &c,
        StreamCase {
            stream: "organizations",
            expected: fake.organization_count(),
            change: Box::new(move |records: &[Value]| {
                ids(records)
                    .into_iter()
                    .map(|id| {
                        f.rename_organization(id, &format!("Renamed {id}"))
                            .expect("the organization exists");
                        id.to_string()
                    })
                    .collect()
            }),
            object: Box::new(move |id| f.organization_json(id)),
            compare: &["/id", "/name", "/domain_names", "/updated_at"],
            missing_id: "99999999",
        },
    )
    .await;
    prove_check(&c).await;

    let holds = |fields: bool| {
        Box::new(move |record: &Value, id: Option<&str>| {
            let id = id.expect("the ticket id is returned");
            let held = f.ticket_json(id).unwrap_or_else(|| panic!("ticket {id} was written"));
            let written = if fields { &record["fields"] } else { record };
            for (name, value) in written.as_object().expect("an object") {
                if !["comment", "requester"].contains(&name.as_str()) {
                    assert_eq!(&held[name], value, "ticket {id}: {name}");
                }
            }
        }) as super::Verify<'_>
    };
    let before = fake.ticket_count();
    prove_write(
        &c,
        WriteCase {
            operation: "tickets.create",
            records: vec![
                json!({"subject": "Refund please", "comment": {"body": "Order 17 arrived broken."},
                       "requester": {"name": "Grace Buyer", "email": "grace@example.com"}, "priority": "high"}),
                json!({"subject": "No description"}),
                json!({"subject": "Login trouble", "comment": {"body": "Cannot sign in."}, "tags": ["login"]}),
            ],
            refused: &[1],
            verify: holds(false),
        },
    )
    .await;
    assert_eq!(fake.ticket_count(), before + 2, "two tickets created, one refused");

    // Seeded ticket n (id 10000 + n) has status ["new", "open", "pending", "solved",
    // "closed"][n % 5]: ticket 4 is closed.
    let first: u64 = 10_001;
    prove_write(
        &c,
        WriteCase {
            operation: "tickets.update",
            records: vec![
                json!({"id": first, "fields": {"status": "solved", "comment": {"body": "Fixed.", "public": false}}}),
                json!({"id": first + 3, "fields": {"status": "open"}}),
                json!({"id": first + 1, "fields": {"priority": "urgent", "tags": ["vip"]}}),
            ],
            refused: &[1],
            verify: holds(true),
        },
    )
    .await;
    assert_eq!(fake.ticket_json("10001").unwrap()["status"], "solved");

    let violations = fake.violations();
    assert!(violations.is_empty(), "{violations:#?}");
}
