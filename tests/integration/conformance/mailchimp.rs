//! Mailchimp Marketing (`shared/connectors/mailchimp.yaml`).
//!
//! Against the hand-written fake (`switchyard_fakes::mailchimp`, served under `/3.0`), which
//! follows Mailchimp's API reference pages (its description is over 4 MiB and not kept in
//! specs/) and records a violation for any request outside the documented shapes. 2,100
//! members: a full read is three offset pages of 1,000 sorted on `last_changed`, an
//! incremental read asks `since_last_changed`, a fetch takes the subscriber hash (and, as a
//! webhook needs, the email). Email activity is a child of the three sent campaigns (700
//! recipients each, 28 pages of 25 per campaign), incremental on each recipient's newest activity
//! after clicks. The upsert puts to the MD5 of the lower-cased email; the bulk upsert's
//! results come from two arrays and its errors by email. A form-encoded audience webhook is
//! routed to the member it names.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use switchyard::connector::definition::WebhookBody;
use switchyard::connector::{EventRecord, StreamState};
use switchyard_fakes::mailchimp::{self, subscriber_hash, MailchimpConfig, API_KEY, LIST_ID};

use super::{client, prove_check, prove_stream, prove_write, read_all, StreamCase, WriteCase};

const MEMBERS: usize = 2_100;

#[tokio::test]
async fn mailchimp() {
    let fake = mailchimp::start(MailchimpConfig {
        members: MEMBERS,
        campaigns: 3,
        recipients: 700,
        ..MailchimpConfig::default()
    });
    let c = client(
        "mailchimp",
        &mailchimp::api_url(&fake),
        &[("username", "switchyard"), ("api_key", API_KEY)],
        json!({"list_id": LIST_ID, "rate_limit": {"requests": 1000, "window_ms": 1000}}),
    );
    let f = &fake;

    prove_stream(
        &c,
        StreamCase {
            stream: "members",
            expected: fake.member_count(),
            change: Box::new(move |records: &[Value]| {
                records
                    .iter()
                    .step_by(420)
                    .map(|r| {
                        let id = r["id"].as_str().expect("a subscriber hash");
                        f.rename_member(id, "Renamed").expect("the member exists");
                        id.to_owned()
                    })
                    .collect()
            }),
            object: Box::new(move |id| f.member_json(id)),
            compare: &[
                "/id",
                "/email_address",
                "/status",
                "/merge_fields/FNAME",
                "/last_changed",
            ],
            missing_id: "00000000000000000000000000000000",
        },
    )
    .await;

    // The child stream: pages of 25 per campaign, the recipients' newest activity as the cursor.
    let activity = move |id: &str| {
        let mut entry = f.activity_json(id)?;
        let newest = entry["activity"]
            .as_array()?
            .iter()
            .filter_map(|a| a["timestamp"].as_str())
            .max()?
            .to_owned();
        entry["id"] = json!(id);
        entry["last_activity"] = json!(newest);
        Some(entry)
    };
    prove_stream(
        &c,
        StreamCase {
            stream: "email_activity",
            expected: fake.activity_count(),
            change: Box::new(move |records: &[Value]| {
                records
                    .iter()
                    .step_by(300)
                    .map(|r| {
                        let id = r["id"].as_str().expect("an activity id");
                        f.click(id, "https://example.com/offer").expect("the recipient exists");
                        id.to_owned()
                    })
                    .collect()
            }),
            object: Box::new(activity),
            compare: &["/id", "/campaign_id", "/email_address", "/last_activity"],
            missing_id: "-",
        },
    )
    .await;
    let run = read_all(&c, "email_activity", StreamState::full_refresh()).await;
    assert_eq!(
        run.pages, 84,
        "28 pages of 25 per campaign: the parent's page is read with the first"
    );
    let campaigns: BTreeSet<&str> = run.records.iter().filter_map(|r| r["campaign_id"].as_str()).collect();
    assert_eq!(campaigns.len(), 3, "every campaign's recipients are read");

    // Audiences and campaigns are too few for three pages: read in full and fetched.
    for (stream, count, id) in [("audiences", 1, LIST_ID), ("campaigns", 3, "cmp0000002")] {
        let all = read_all(&c, stream, StreamState::full_refresh()).await;
        assert_eq!(all.records.len(), count, "{stream}: full read");
        let fetched = c
            .fetch_record(stream, id)
            .await
            .unwrap_or_else(|e| panic!("{stream}: fetch fails: {e}"))
            .unwrap_or_else(|| panic!("{stream}: fetch {id} finds nothing"));
        assert_eq!(fetched["id"], id, "{stream}: fetch by id");
        assert!(
            c.fetch_record(stream, "nope0000").await.unwrap().is_none(),
            "{stream}: a missing id"
        );
    }
    prove_check(&c).await;

    let holds = |record: &Value, id: Option<&str>| {
        let email = record["email_address"].as_str().expect("an email");
        let hash = subscriber_hash(email);
        assert_eq!(
            id,
            Some(hash.as_str()),
            "{email}: the destination id is the subscriber hash"
        );
        let held = f.member_json(&hash).unwrap_or_else(|| panic!("{email} was written"));
        assert_eq!(held["email_address"], email.trim());
        for (name, value) in record["merge_fields"].as_object().into_iter().flatten() {
            assert_eq!(&held["merge_fields"][name], value, "{email}: {name}");
        }
        if let Some(status) = record.get("status") {
            assert_eq!(&held["status"], status, "{email}: status");
        }
    };
    let before = fake.member_count();
    prove_write(
        &c,
        WriteCase {
            operation: "members.upsert",
            records: vec![
                // An existing member, written with different case: the hash is of the lower-cased email.
                json!({"email_address": "Member5@Example.com", "status_if_new": "subscribed", "merge_fields": {"FNAME": "Fifth"}}),
                json!({"email_address": "ada@lovelace.example.org", "status_if_new": "subscribed", "merge_fields": {"FNAME": "Ada", "LNAME": "Lovelace"}}),
                json!({"email_address": "nobody@nowhere.invalid", "status_if_new": "subscribed"}),
                json!({"email_address": "grace@hopper.example.org", "merge_fields": {"FNAME": "Grace"}}),
            ],
            refused: &[2, 3],
            verify: Box::new(holds),
        },
    )
    .await;
    assert_eq!(
        fake.member_count(),
        before + 1,
        "one member added, one updated, two refused"
    );
    assert_eq!(
        fake.member_json(&subscriber_hash("member5@example.com")).unwrap()["merge_fields"]["FNAME"],
        "Fifth"
    );

    let before = fake.member_count();
    prove_write(
        &c,
        WriteCase {
            operation: "members.batch_upsert",
            records: vec![
                json!({"email_address": "member7@example.com", "status": "subscribed", "merge_fields": {"FNAME": "Seventh"}}),
                json!({"email_address": "bad@address", "status": "subscribed"}),
                json!({"email_address": "alan@turing.example.org", "status": "pending", "merge_fields": {"FNAME": "Alan"}}),
            ],
            refused: &[1],
            verify: Box::new(holds),
        },
    )
    .await;
    assert_eq!(
        fake.member_count(),
        before + 1,
        "the bulk upsert adds one member and updates one"
    );

    // An audience webhook, form-encoded as Mailchimp posts it, names the member by email.
    let body = b"type=profile&fired_at=2026-03-26+21%3A31%3A21&data%5Bid%5D=8a25ff1d98&data%5Blist_id%5D=a6b5da1054&data%5Bemail%5D=member9%40example.com&data%5Bemail_type%5D=html&data%5Bmerges%5D%5BFNAME%5D=Ninth";
    let event = WebhookBody::Form.read(body).expect("a form body reads");
    match c.event_record(&event).expect("a routed event") {
        EventRecord::Fetch { stream, id } => {
            assert_eq!((stream.as_str(), id.as_str()), ("members", "member9@example.com"));
            let member = c
                .fetch_record(&stream, &id)
                .await
                .unwrap()
                .expect("the member by email");
            assert_eq!(member["id"], subscriber_hash("member9@example.com"));
        }
        other => panic!("the profile event is fetched by email: {other:?}"),
    }

    let violations = fake.violations();
    assert!(violations.is_empty(), "{violations:#?}");
}
