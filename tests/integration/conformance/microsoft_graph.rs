//! Microsoft 365 through Microsoft Graph (`shared/connectors/microsoft-graph.yaml`).
//!
//! Against the hand-written fake (`switchyard_fakes::microsoft_graph`: Graph and its token
//! endpoint), whose traffic is checked against `microsoft-graph/{Mail,Calendar,
//! PersonalContacts}.yml` and, where those leave off (delta, sendMail, Teams), Graph's
//! documentation. Three delta streams of 100+ items (pages of 50): the full read ends with a
//! delta link, and the incremental read from it returns exactly what changed (a removed contact
//! is left out); a fetch by id finds each. One client uses the application (client-credentials)
//! grant for the streams and mail, calendar and contact writes; a second uses the delegated
//! (refresh-token) grant, which Teams channel messages need. Each write sends a batch with a
//! record Graph refuses.

use serde_json::{json, Value};
use switchyard::connector::StreamState;
use switchyard_fakes::microsoft_graph::{
    self, GraphConfig, Kind, CHANNEL_ID, CLIENT_ID, CLIENT_SECRET, CONTACT_FOLDER, REFRESH_TOKEN, TEAM_ID, TENANT_ID,
    USER,
};

use super::{client, prove_check, prove_stream, prove_write, read_all, StreamCase, WriteCase};

fn config(fake_url: &str) -> Value {
    json!({
        "tenant_id": TENANT_ID,
        "user": USER,
        "login_url": fake_url,
        "contact_folder": CONTACT_FOLDER,
        "team_id": TEAM_ID,
        "channel_id": CHANNEL_ID,
    })
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is past 1970");
    i64::try_from(since.as_millis()).expect("milliseconds fit")
}

fn id(value: &Value) -> String {
    value["id"].as_str().expect("string ids").to_owned()
}

#[tokio::test]
async fn microsoft_graph() {
    let fake = microsoft_graph::start(GraphConfig {
        messages: 110,
        events: 105,
        contacts: 101,
        ..GraphConfig::default()
    });
    let api = format!("{}/v1.0", fake.base_url);
    let app = client(
        "microsoft-graph",
        &api,
        &[("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)],
        config(&fake.base_url),
    );
    let f = &fake;

    prove_stream(
        &app,
        StreamCase {
            stream: "messages",
            expected: fake.count(Kind::Messages),
            change: Box::new(move |records: &[Value]| {
                let mut changed: Vec<String> = records
                    .iter()
                    .step_by(40)
                    .map(|r| {
                        let id = id(r);
                        f.update(Kind::Messages, &id, json!({"isRead": true}))
                            .expect("the message exists");
                        id
                    })
                    .collect();
                changed.push(id(&f.insert_message("New order", "shop@example.com", now_ms())));
                changed
            }),
            object: Box::new(move |id| f.item(Kind::Messages, id)),
            compare: &["/id", "/subject", "/isRead", "/receivedDateTime", "/from"],
            missing_id: "AAMkADmsgmissing",
        },
    )
    .await;

    prove_stream(
        &app,
        StreamCase {
            stream: "events",
            expected: fake.count(Kind::Events),
            change: Box::new(move |records: &[Value]| {
                let first = id(&records[0]);
                f.update(Kind::Events, &first, json!({"subject": "Moved"}))
                    .expect("the event exists");
                vec![first, id(&f.insert_event("Planning", "2026-02-03T09:00:00"))]
            }),
            object: Box::new(move |id| f.item(Kind::Events, id)),
            compare: &["/id", "/subject", "/start", "/end", "/attendees"],
            missing_id: "AAMkADevtmissing",
        },
    )
    .await;

    prove_stream(
        &app,
        StreamCase {
            stream: "contacts",
            expected: fake.count(Kind::Contacts),
            change: Box::new(move |records: &[Value]| {
                let updated = id(&records[3]);
                f.update(Kind::Contacts, &updated, json!({"jobTitle": "Engineer"}))
                    .expect("the contact exists");
                // A removed contact comes back as `@removed`, which the stream leaves out.
                assert!(f.remove(Kind::Contacts, &id(&records[4])));
                vec![updated, id(&f.insert_contact("Alan", "Turing", "alan@example.com"))]
            }),
            object: Box::new(move |id| f.item(Kind::Contacts, id)),
            compare: &["/id", "/givenName", "/surname", "/emailAddresses", "/jobTitle"],
            missing_id: "AAMkADconmissing",
        },
    )
    .await;
    prove_check(&app).await;

    let to = |address: &str| json!([{"emailAddress": {"address": address}}]);
    let mail = |subject: &str, address: &str| {
        json!({
            "subject": subject,
            "body": {"contentType": "text", "content": format!("{subject}: see attached.")},
            "toRecipients": to(address),
        })
    };
    prove_write(
        &app,
        WriteCase {
            operation: "messages.send",
            records: vec![
                mail("Invoice 1", "grace@example.com"),
                mail("Invoice 2", "not-an-address"),
                mail("Invoice 3", "alan@example.com"),
            ],
            refused: &[1],
            verify: Box::new(move |record: &Value, destination: Option<&str>| {
                assert_eq!(destination, None, "sendMail answers no id");
                let sent = f.sent();
                let held = sent
                    .iter()
                    .find(|m| m["subject"] == record["subject"])
                    .unwrap_or_else(|| panic!("{} was sent", record["subject"]));
                assert_eq!(held["toRecipients"], record["toRecipients"]);
                assert_eq!(held["body"], record["body"]);
            }),
        },
    )
    .await;
    assert_eq!(fake.sent().len(), 2, "two sent, one refused");

    let event = |subject: &str, start: &str, end: &str| {
        json!({
            "subject": subject,
            "start": {"dateTime": start, "timeZone": "UTC"},
            "end": {"dateTime": end, "timeZone": "UTC"},
            "attendees": [{"type": "required", "emailAddress": {"address": "grace@example.com", "name": "Grace"}}],
        })
    };
    let holds = |kind: Kind, pointers: &'static [&'static str]| {
        Box::new(move |record: &Value, destination: Option<&str>| {
            let id = destination.expect("the new item's id is returned");
            let held = f.item(kind, id).unwrap_or_else(|| panic!("{id} was created"));
            for pointer in pointers {
                assert_eq!(held.pointer(pointer), record.pointer(pointer), "{id}: {pointer}");
            }
        }) as super::Verify<'_>
    };
    let events_before = fake.count(Kind::Events);
    prove_write(
        &app,
        WriteCase {
            operation: "events.create",
            records: vec![
                event("Kick-off", "2026-03-02T09:00:00", "2026-03-02T10:00:00"),
                event("Backwards", "2026-03-02T12:00:00", "2026-03-02T11:00:00"),
                event("Review", "2026-03-09T09:00:00", "2026-03-09T09:30:00"),
            ],
            refused: &[1],
            verify: holds(Kind::Events, &["/subject", "/start", "/end", "/attendees"]),
        },
    )
    .await;
    assert_eq!(fake.count(Kind::Events), events_before + 2);

    let contact = |given: &str, email: &str| {
        json!({
            "givenName": given,
            "surname": "Hopper",
            "emailAddresses": [{"address": email, "name": format!("{given} Hopper")}],
            "companyName": "Contoso",
        })
    };
    let mut unknown = contact("Typo", "typo@example.com");
    unknown["favouriteColour"] = json!("blue");
    prove_write(
        &app,
        WriteCase {
            operation: "contacts.create",
            records: vec![
                contact("Grace", "grace@example.com"),
                unknown,
                contact("Anita", "anita@example.com"),
            ],
            refused: &[1],
            verify: holds(
                Kind::Contacts,
                &["/givenName", "/surname", "/emailAddresses", "/companyName"],
            ),
        },
    )
    .await;
    assert!(fake.find(Kind::Contacts, "/givenName", "Typo").is_none());

    // Teams channel messages need a user's (delegated) token.
    let delegated = client(
        "microsoft-graph",
        &api,
        &[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("refresh_token", REFRESH_TOKEN),
        ],
        config(&fake.base_url),
    );
    prove_check(&delegated).await;
    let post = |content: &str| json!({"body": {"contentType": "html", "content": content}});
    prove_write(
        &delegated,
        WriteCase {
            operation: "channel_messages.post",
            records: vec![
                post("<b>Order 1001</b> shipped"),
                post("   "),
                post("Order 1002 shipped"),
            ],
            refused: &[1],
            verify: Box::new(move |record: &Value, destination: Option<&str>| {
                let id = destination.expect("the chatMessage id is returned");
                let posted = f.channel_messages();
                let held = posted
                    .iter()
                    .find(|m| m["id"] == id)
                    .unwrap_or_else(|| panic!("{id} was posted"));
                assert_eq!(held["body"], record["body"]);
            }),
        },
    )
    .await;
    // The application token may not post to a channel (Graph allows it only for imports).
    let refused = app
        .write_batch("channel_messages.post", &[post("from the app")])
        .await
        .expect("the batch runs");
    assert!(
        matches!(&refused[0], switchyard::connector::WriteResult::Failed { .. }),
        "{refused:?}"
    );
    assert_eq!(fake.channel_messages().len(), 2);
    assert_eq!(fake.issued_tokens(), 2, "one token for each client's whole run");

    // A change notification routes to its stream by the type the receiver read, and its record
    // is fetched by `resourceData.id`; a lifecycle notification routes nowhere.
    let message = fake
        .find(Kind::Messages, "/subject", "New order")
        .expect("the new message");
    let notification = json!({
        "subscriptionId": "7f105c7d", "clientState": "state", "changeType": "created",
        "resource": format!("Users/{USER}/Messages/{}", id(&message)),
        "resourceData": {"@odata.type": "#Microsoft.Graph.Message", "@odata.id": "Users/x/Messages/y", "id": id(&message)},
    });
    match app
        .event_record_received(&notification, Some("message.created"))
        .expect("routes")
    {
        switchyard::connector::EventRecord::Fetch { stream, id: record_id } => {
            assert_eq!(
                (stream.as_str(), record_id.as_str()),
                ("messages", id(&message).as_str())
            );
            let fetched = app
                .fetch_record("messages", &record_id)
                .await
                .expect("fetch")
                .expect("found");
            assert_eq!(fetched["subject"], "New order");
        }
        other => panic!("a message notification is fetched: {other:?}"),
    }
    let lifecycle = json!({"subscriptionId": "7f105c7d", "clientState": "state", "lifecycleEvent": "missed"});
    assert!(matches!(
        app.event_record_received(&lifecycle, Some("lifecycle.missed"))
            .expect("reads"),
        switchyard::connector::EventRecord::Unrouted
    ));

    let violations = fake.violations();
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test]
async fn an_expired_graph_delta_link_starts_the_run_over_with_a_full_read() {
    let fake = microsoft_graph::start(GraphConfig {
        messages: 12,
        events: 0,
        contacts: 0,
        ..GraphConfig::default()
    });
    let app = client(
        "microsoft-graph",
        &format!("{}/v1.0", fake.base_url),
        &[("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)],
        config(&fake.base_url),
    );
    let full = read_all(&app, "messages", StreamState::full_refresh()).await;
    assert_eq!(full.records.len(), 12);
    let link = full.max_cursor.expect("the full read ends with a delta link");
    // Graph drops the sync state: the stored link is gone.
    fake.insert_message("After the reset", "shop@example.com", now_ms());
    fake.forget_sync_state();
    let gone = || fake.requests.all().iter().filter(|r| r.status == Some(410)).count();
    let run = read_all(&app, "messages", StreamState::incremental(Some(link.clone()))).await;
    assert_eq!(gone(), 1, "the dead link was asked once");
    assert_eq!(run.records.len(), 13, "everything, as a full read");
    let fresh = run.max_cursor.expect("the full read's own delta link");
    assert_ne!(fresh, link);
    // The new link is a live one: only what changed since.
    fake.insert_message("Later", "shop@example.com", now_ms());
    let next = read_all(&app, "messages", StreamState::incremental(Some(fresh))).await;
    assert_eq!(
        next.records.iter().map(|r| r["subject"].clone()).collect::<Vec<_>>(),
        vec![json!("Later")]
    );
    assert_eq!(gone(), 1);
    let violations = fake.violations();
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test]
async fn graph_files_upload_small_by_put_and_large_through_an_upload_session() {
    use base64::Engine as _;
    let fake = microsoft_graph::start(GraphConfig {
        messages: 0,
        events: 0,
        contacts: 0,
        ..GraphConfig::default()
    });
    let app = client(
        "microsoft-graph",
        &format!("{}/v1.0", fake.base_url),
        &[("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)],
        config(&fake.base_url),
    );
    let small: Vec<u8> = b"quarterly numbers\n".repeat(50);
    // 5,000,000 bytes: over the 4 MiB threshold, two fragments of the definition's 3,200 KiB.
    let large: Vec<u8> = (0..5_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let file = |name: &str, bytes: &[u8]| json!({"name": name, "content": base64::engine::general_purpose::STANDARD.encode(bytes)});
    let f = &fake;
    let (s, l) = (small.clone(), large.clone());
    prove_write(
        &app,
        WriteCase {
            operation: "files.upload",
            records: vec![
                file("notes.txt", &small),
                file("what?.txt", b"a name OneDrive refuses"),
                file("backup.bin", &large),
            ],
            refused: &[1],
            verify: Box::new(move |record: &Value, destination: Option<&str>| {
                let name = record["name"].as_str().unwrap();
                let held = f.file("root", name).expect("the file is in the drive");
                assert_eq!(held, if name == "notes.txt" { s.clone() } else { l.clone() }, "{name}");
                assert_eq!(destination, f.file_id("root", name).as_deref());
            }),
        },
    )
    .await;
    let requests = fake.requests.all();
    let count = |method: &str, suffix: &str| {
        requests
            .iter()
            .filter(|r| r.method == method && r.path.ends_with(suffix))
            .count()
    };
    assert_eq!(count("PUT", "notes.txt:/content"), 1, "the small file by a simple PUT");
    assert_eq!(count("POST", "backup.bin:/createUploadSession"), 1);
    assert_eq!(
        count("PUT", "backup.bin:/content"),
        0,
        "the large one never by a simple PUT"
    );
    let fragments: Vec<_> = requests.iter().filter(|r| r.path.starts_with("/upload/")).collect();
    assert_eq!(fragments.len(), 2);
    assert_eq!(
        fragments.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![Some(202), Some(201)]
    );
    let violations = fake.violations();
    assert!(violations.is_empty(), "{violations:#?}");
}
