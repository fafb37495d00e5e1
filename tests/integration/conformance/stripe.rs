//! Stripe (`shared/connectors/stripe.yaml`): streams only, no write operations.
//!
//! Against the spec-driven fake (`fakes/profiles/stripe.yaml` over `stripe/spec3.yaml`, seeded
//! from `stripe/fixtures3.json`'s example objects): 250 objects per collection, so a full read
//! is three pages of 100 (`starting_after` paging with `has_more`). Stripe lists filter on
//! `created` only, so incremental reads go through the Events API (`/v1/events`, the fake's
//! event log): after new objects and an update to the oldest one, an incremental read returns
//! exactly those. Every request and response is checked against Stripe's spec; the fake must
//! record no violation.
//!
//! The spec-driven fake proves more than localstripe here: localstripe answers what it
//! implements, while this fake validates each request and response against Stripe's published
//! description (and the spec is loaded once per test process).

use serde_json::json;
use switchyard::connector::{EventRecord, StreamState};
use switchyard_fakes::spec_fake::{FakeOptions, FakeServer};

use super::{client, prove_check, prove_stream, StreamCase};

#[tokio::test]
async fn stripe() {
    let fake = FakeServer::start(
        "stripe",
        FakeOptions {
            records: 250,
            ..FakeOptions::default()
        },
    )
    .expect("the Stripe spec and profile load");
    let c = client("stripe", fake.base_url(), &[("api_key", "sk_test_12345")], json!({}));
    assert!(
        c.definition().writes.is_empty(),
        "Stripe's connector has no write operations"
    );
    for (stream, missing) in [
        ("customers", "cus_missing"),
        ("invoices", "in_missing"),
        ("subscriptions", "sub_missing"),
        ("charges", "ch_missing"),
    ] {
        prove_stream(
            &c,
            StreamCase {
                stream,
                expected: fake.count(stream),
                // New objects, and an update to the oldest one: Stripe lists cannot filter on
                // an update time, so only the Events API feed finds that one.
                change: Box::new(|full| {
                    let oldest = full
                        .iter()
                        .min_by_key(|r| r["created"].as_i64())
                        .and_then(|r| r["id"].as_str())
                        .expect("the full read has records")
                        .to_owned();
                    fake.update(stream, &oldest, json!({"description": format!("Updated {stream}")}))
                        .expect("the oldest object exists");
                    let mut ids: Vec<String> = (1..=3)
                        .map(|i| {
                            let created = fake.insert(stream, json!({ "description": format!("New {stream} {i}") }));
                            created["id"].as_str().expect("string ids").to_owned()
                        })
                        .collect();
                    ids.push(oldest);
                    ids
                }),
                object: Box::new(|id| fake.object(stream, id)),
                compare: &["/id", "/object", "/created", "/description"],
                missing_id: missing,
            },
        )
        .await;
    }
    prove_check(&c).await;

    // A deleted customer's event is a tombstone: listed, not fetched. (This fake lists events
    // oldest first, where Stripe lists them newest first; see the README.)
    let since = (fake.now_ms() / 1000 - 1).to_string();
    let doomed = fake.insert("customers", json!({"description": "to be deleted"}));
    let doomed_id = doomed["id"].as_str().expect("string ids").to_owned();
    fake.update("customers", &doomed_id, json!({"description": "changed, then deleted"}))
        .expect("the customer exists");
    assert!(fake.delete("customers", &doomed_id));
    let kept = fake.insert("customers", json!({"description": "kept"}));
    let mut deleted = Vec::new();
    let mut records = Vec::new();
    let mut state = Some(StreamState::incremental(Some(since)));
    while let Some(current) = state.take() {
        let page = c
            .read_page("customers", &current)
            .await
            .expect("the events feed is read");
        deleted.extend(page.deleted);
        records.extend(page.records);
        state = page.next;
    }
    assert_eq!(deleted, vec![doomed_id.clone()], "one tombstone, not a fetch");
    assert!(records.iter().all(|r| r["id"] != doomed_id.as_str()), "{records:?}");
    assert!(
        records.iter().any(|r| r["id"] == kept["id"]),
        "the customer created since"
    );

    // Webhooks: Stripe's event embeds the object. `customer.deleted` (and a draft invoice's
    // `invoice.deleted`) embeds it as it was, so it must be read as a deletion, not as an
    // update that would write the deleted customer again; `customer.subscription.deleted` is a
    // cancellation (the subscription stays, `status: canceled`), an update.
    for (event_type, stream, deletion) in [
        ("customer.updated", "customers", false),
        ("customer.deleted", "customers", true),
        ("invoice.deleted", "invoices", true),
        ("customer.subscription.deleted", "subscriptions", false),
    ] {
        let object = fake.insert(stream, json!({"description": format!("{event_type} webhook")}));
        let id = object["id"].as_str().expect("string ids").to_owned();
        let event = json!({"id": format!("evt_{id}"), "object": "event", "type": event_type,
            "created": 1_764_000_000, "livemode": false, "data": {"object": object}});
        match c.event_record(&event).expect("a routed event") {
            EventRecord::Deleted { stream: s, id: deleted } if deletion => {
                assert_eq!((s.as_str(), deleted.as_str()), (stream, id.as_str()), "{event_type}");
            }
            EventRecord::Embedded { stream: s, record } if !deletion => {
                assert_eq!(
                    (s.as_str(), record["id"].as_str()),
                    (stream, Some(id.as_str())),
                    "{event_type}"
                );
            }
            other => panic!("{event_type}: {other:?}"),
        }
    }
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}
