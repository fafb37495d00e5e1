//! Calendly (`shared/connectors/calendly.yaml`).
//!
//! Against the hand-written fake (`switchyard_fakes::calendly`), which follows
//! developer.calendly.com (no description is kept in specs/) and records a violation for any
//! request outside the documented shapes. 210 scheduled events: a full read is three pages of
//! 100 by `page_token`, and a fetch takes the event's URI. Invitees are a child stream, read
//! once per event: 209 events with one to three invitees and a group event with 232 (three
//! pages of its own), every invitee read once, with its event's URI; a cancellation and a new
//! booking show in the next read. A signed delivery's invitee is routed to the stream with the
//! record embedded.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};
use switchyard::connector::{EventRecord, StreamState};
use switchyard_fakes::calendly::{self, CalendlyConfig, ORGANIZATION, TOKEN};

use super::{client, prove_check, prove_full_refresh_stream, read_all, StreamCase};

const EVENTS: usize = 210;

fn last_segment(uri: &str) -> &str {
    uri.rsplit('/').next().unwrap_or_default()
}

#[tokio::test]
async fn calendly() {
    let fake = calendly::start(CalendlyConfig {
        events: EVENTS,
        group_invitees: 230,
        ..CalendlyConfig::default()
    });
    let c = client(
        "calendly",
        &fake.base_url,
        &[("access_token", TOKEN)],
        json!({"organization": ORGANIZATION, "rate_limit": {"requests": 1000, "window_ms": 1000}}),
    );
    let f = &fake;
    prove_full_refresh_stream(
        &c,
        StreamCase {
            stream: "scheduled_events",
            expected: fake.event_count(),
            change: Box::new(move |records: &[Value]| {
                records
                    .iter()
                    .step_by(70)
                    .map(|r| {
                        let uri = r["uri"].as_str().expect("an event URI");
                        f.cancel_event(last_segment(uri)).expect("the event exists");
                        uri.to_owned()
                    })
                    .collect()
            }),
            object: Box::new(move |id| f.event_json(last_segment(id))),
            compare: &["/uri", "/name", "/status", "/start_time", "/updated_at"],
            missing_id: "https://api.calendly.com/scheduled_events/NOSUCHEVENT00001",
        },
    )
    .await;
    prove_check(&c).await;

    // The child stream: every invitee of every event, once.
    let full = read_all(&c, "invitees", StreamState::full_refresh()).await;
    assert_eq!(full.records.len(), fake.invitee_count(), "invitees: full read count");
    // One page per event, the group event's 232 invitees three; each parent page is read
    // with the first child page it leads to.
    assert_eq!(full.pages as usize, EVENTS + 2, "invitees: pages");
    let ids: BTreeSet<&str> = full.records.iter().filter_map(|r| r["uri"].as_str()).collect();
    assert_eq!(ids.len(), full.records.len(), "invitees: a record was read twice");
    let per_event: BTreeMap<&str, usize> = full.records.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r["event"].as_str().expect("the invitee's event")).or_default() += 1;
        m
    });
    assert_eq!(per_event.len(), EVENTS, "invitees of every event");
    for record in full.records.iter().step_by(50) {
        let uri = record["uri"].as_str().unwrap();
        assert_eq!(Some(record), fake.invitee_by_uri(uri).as_ref(), "invitee {uri}");
        let event = fake.event_json(last_segment(record["event"].as_str().unwrap()));
        assert!(event.is_some(), "invitee {uri} names a listed event");
    }

    let canceled = full.records[7]["uri"].as_str().unwrap().to_owned();
    fake.cancel_invitee(&canceled).expect("the invitee exists");
    let booked = fake
        .book("EVT0000000000009", "Ada Booker", "ada@booker.example.org")
        .expect("the event exists");
    let again = read_all(&c, "invitees", StreamState::full_refresh()).await;
    assert_eq!(again.records.len(), full.records.len() + 1, "the new booking is read");
    let by_uri: BTreeMap<&str, &Value> = again.records.iter().map(|r| (r["uri"].as_str().unwrap(), r)).collect();
    assert_eq!(by_uri[canceled.as_str()]["status"], "canceled");
    assert_eq!(
        by_uri[booked["uri"].as_str().unwrap()]["email"],
        "ada@booker.example.org"
    );

    // A webhook delivery carries the invitee: routed to the child stream, nothing to fetch.
    let delivery = json!({
        "event": "invitee.created", "created_at": "2026-11-27T10:00:00.000000Z",
        "created_by": "https://api.calendly.com/users/USRFAKE000000001",
        "payload": booked,
    });
    match c.event_record(&delivery).expect("a routed event") {
        EventRecord::Embedded { stream, record } => {
            assert_eq!(stream, "invitees");
            assert_eq!(record["email"], "ada@booker.example.org");
        }
        other => panic!("the invitee is embedded: {other:?}"),
    }

    let violations = fake.violations();
    assert!(violations.is_empty(), "{violations:#?}");
}
