//! HubSpot (`shared/connectors/hubspot.yaml`).
//!
//! Streams run against the spec-driven fake (`fakes/profiles/hubspot.yaml` over
//! `hubspot/{contacts,companies,deals}.yaml` from the specs folder): 250 seeded objects per
//! collection spread over the past hour, so a full read is three pages of 100 and an
//! incremental search from the highest cursor returns only the changed objects and those in
//! the 60 s lookback window. Writes run against the hand-written fake (HubSpot's batch
//! endpoints, idProperty upserts and per-input validation errors in 207 responses), with its
//! traffic checked against the same spec (`SpecCheck::hubspot()`). Both fakes must record no
//! violation.

use serde_json::{json, Value};
use switchyard_fakes::hubspot::{self, HubspotConfig, ObjectType};
use switchyard_fakes::spec::SpecCheck;
use switchyard_fakes::spec_fake::{FakeOptions, FakeServer};

use super::{client, prove_check, prove_stream, prove_write, StreamCase, WriteCase};

const SEEDED: usize = 250;

#[tokio::test]
async fn hubspot() {
    let token = [("access_token", hubspot::TEST_TOKEN)];

    // Streams: the spec-driven fake.
    let reads = FakeServer::start(
        "hubspot",
        FakeOptions {
            records: SEEDED,
            ..FakeOptions::default()
        },
    )
    .expect("the HubSpot spec and profile load");
    let c = client("hubspot", reads.base_url(), &token, json!({}));
    for (stream, property) in [("contacts", "firstname"), ("companies", "name"), ("deals", "dealname")] {
        let pointer = format!("/properties/{property}");
        prove_stream(
            &c,
            StreamCase {
                stream,
                expected: reads.count(stream),
                change: Box::new(|records: &[Value]| {
                    records
                        .iter()
                        .take(5)
                        .map(|r| {
                            let id = r["id"].as_str().expect("string ids").to_owned();
                            let patch = json!({ "properties": { property: format!("Changed {id}") } });
                            reads.update(stream, &id, patch).expect("the object exists");
                            id
                        })
                        .collect()
                }),
                object: Box::new(|id| reads.object(stream, id)),
                compare: &["/id", &pointer, "/updatedAt"],
                missing_id: "999999999",
            },
        )
        .await;
    }
    prove_check(&c).await;
    assert!(reads.violations().is_empty(), "{:#?}", reads.violations());

    // Writes: the hand-written fake, checked against the same spec.
    let hub = hubspot::start(HubspotConfig {
        spec_check: Some(SpecCheck::hubspot()),
        ..HubspotConfig::default()
    });
    let c = client("hubspot", hub.base_url(), &token, json!({}));
    prove_check(&c).await;
    let grace = hub.insert(
        ObjectType::Contacts,
        &[("email", "grace@example.com"), ("firstname", "G")],
    );
    let acme = hub.insert(ObjectType::Companies, &[("name", "Acme")]);
    let deal = hub.insert(ObjectType::Deals, &[("dealname", "Big one")]);

    // Every written record's properties are what the fake now holds under its id.
    let holds = |object_type: ObjectType| {
        let hub = &hub;
        Box::new(move |record: &Value, id: Option<&str>| {
            let id = id.expect("the destination id is returned");
            let object = hub
                .object(object_type, id)
                .unwrap_or_else(|| panic!("{object_type:?} {id} was written"));
            for (name, value) in record["properties"].as_object().expect("properties") {
                assert_eq!(
                    object.properties.get(name).map(String::as_str),
                    value.as_str(),
                    "{object_type:?} {id}: {name}"
                );
            }
        }) as super::Verify<'_>
    };

    let before = hub.count(ObjectType::Contacts);
    prove_write(
        &c,
        WriteCase {
            operation: "contacts.upsert_by_email",
            records: vec![
                json!({"properties": {"email": "ada@example.com", "firstname": "Ada"}}),
                json!({"properties": {"email": "not-an-email", "firstname": "Nobody"}}),
                json!({"properties": {"email": "grace@example.com", "firstname": "Grace"}}),
            ],
            refused: &[1],
            verify: holds(ObjectType::Contacts),
        },
    )
    .await;
    assert_eq!(hub.count(ObjectType::Contacts), before + 1, "one created, one updated");
    assert_eq!(
        hub.object(ObjectType::Contacts, &grace.id)
            .expect("kept")
            .get("firstname"),
        Some("Grace"),
        "the upsert updated the existing contact"
    );

    for (operation, object_type, good, unknown_property) in [
        (
            "contacts.create",
            ObjectType::Contacts,
            json!({"email": "linus@example.com", "firstname": "Linus"}),
            "favourite_editor",
        ),
        (
            "companies.create",
            ObjectType::Companies,
            json!({"name": "Initech", "domain": "initech.example.com"}),
            "motto",
        ),
        (
            "deals.create",
            ObjectType::Deals,
            json!({"dealname": "Renewal", "amount": "1200"}),
            "probability_of_rain",
        ),
    ] {
        let before = hub.count(object_type);
        prove_write(
            &c,
            WriteCase {
                operation,
                records: vec![
                    json!({ "properties": good }),
                    json!({ "properties": { unknown_property: "x" } }),
                ],
                refused: &[1],
                verify: holds(object_type),
            },
        )
        .await;
        assert_eq!(hub.count(object_type), before + 1, "{operation}");
    }

    for (operation, object_type, id, properties) in [
        (
            "contacts.update",
            ObjectType::Contacts,
            &grace.id,
            json!({"lastname": "Hopper"}),
        ),
        (
            "companies.update",
            ObjectType::Companies,
            &acme.id,
            json!({"name": "Acme Inc"}),
        ),
        (
            "deals.update",
            ObjectType::Deals,
            &deal.id,
            json!({"dealname": "Bigger one"}),
        ),
    ] {
        let before = hub.count(object_type);
        let results = prove_write(
            &c,
            WriteCase {
                operation,
                records: vec![
                    json!({"id": id, "properties": properties}),
                    json!({"id": "999999", "properties": properties}),
                ],
                refused: &[1],
                verify: holds(object_type),
            },
        )
        .await;
        assert_eq!(hub.count(object_type), before, "{operation} creates nothing");
        assert_eq!(
            results[0],
            switchyard::connector::WriteResult::Ok {
                destination_id: Some(id.clone())
            },
            "{operation}"
        );
    }

    // A deal associated with a contact (the association endpoint of deals.yaml); an unknown
    // contact is refused.
    let verify_association = {
        let hub = &hub;
        let deal_id = deal.id.clone();
        Box::new(move |record: &Value, id: Option<&str>| {
            assert_eq!(id, Some(deal_id.as_str()), "the deal's id comes back");
            let contact = record["contact_id"].as_str().expect("a contact id");
            assert_eq!(
                hub.associations(ObjectType::Deals, &deal_id, ObjectType::Contacts),
                [contact.to_owned()]
            );
        }) as super::Verify<'_>
    };
    prove_write(
        &c,
        WriteCase {
            operation: "deals.associate_contact",
            records: vec![
                json!({"id": deal.id, "contact_id": grace.id}),
                json!({"id": deal.id, "contact_id": "999999"}),
            ],
            refused: &[1],
            verify: verify_association,
        },
    )
    .await;

    let violations = hub.violations.all();
    assert!(violations.is_empty(), "{violations:#?}");

    // Engagements (meetings and notes on a contact's timeline): HubSpot's engagement APIs are
    // not in the specs folder, so these run against the fake unchecked (it follows the
    // engagement pages named in its `associations` module). A create associates the record
    // with the contact; one naming an unknown contact is refused.
    let engagements = hubspot::start(HubspotConfig::default());
    let c = client("hubspot", engagements.base_url(), &token, json!({}));
    let ada = engagements.insert(ObjectType::Contacts, &[("email", "ada@example.com")]);
    for (create, update, object_type, type_id, good, changed) in [
        (
            "meetings.create",
            "meetings.update",
            ObjectType::Meetings,
            200,
            json!({"hs_timestamp": "2026-12-01T10:00:00Z", "hs_meeting_title": "Intro call",
                   "hs_meeting_start_time": "2026-12-01T10:00:00Z", "hs_meeting_end_time": "2026-12-01T10:30:00Z"}),
            json!({"hs_meeting_outcome": "CANCELED"}),
        ),
        (
            "notes.create",
            "notes.update",
            ObjectType::Notes,
            202,
            json!({"hs_timestamp": "2026-12-01T10:00:00Z", "hs_note_body": "Opened the newsletter"}),
            json!({"hs_note_body": "Opened and clicked"}),
        ),
    ] {
        let to = |id: &str| json!([{"to": {"id": id}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}]}]);
        let results = prove_write(
            &c,
            WriteCase {
                operation: create,
                records: vec![
                    json!({"properties": good, "associations": to(&ada.id)}),
                    json!({"properties": good, "associations": to("999999")}),
                ],
                refused: &[1],
                verify: holds_in(&engagements, object_type),
            },
        )
        .await;
        let switchyard::connector::WriteResult::Ok {
            destination_id: Some(id),
        } = &results[0]
        else {
            panic!("{create}: {results:?}")
        };
        assert_eq!(
            engagements.associations(ObjectType::Contacts, &ada.id, object_type),
            std::slice::from_ref(id),
            "{create}: on the contact's timeline"
        );
        assert_eq!(
            engagements.count(object_type),
            1,
            "{create}: the refused one made nothing"
        );
        prove_write(
            &c,
            WriteCase {
                operation: update,
                records: vec![
                    json!({"id": id, "properties": changed}),
                    json!({"id": "999999", "properties": changed}),
                ],
                refused: &[1],
                verify: holds_in(&engagements, object_type),
            },
        )
        .await;
    }
}

/// Checks a written record's properties against what `hub` holds under its id.
fn holds_in(hub: &switchyard_fakes::FakeHandle<hubspot::Hubspot>, object_type: ObjectType) -> super::Verify<'_> {
    Box::new(move |record: &Value, id: Option<&str>| {
        let id = id.expect("the destination id is returned");
        let object = hub
            .object(object_type, id)
            .unwrap_or_else(|| panic!("{object_type:?} {id} was written"));
        for (name, value) in record["properties"].as_object().expect("properties") {
            assert_eq!(
                object.properties.get(name).map(String::as_str),
                value.as_str(),
                "{object_type:?} {id}: {name}"
            );
        }
    })
}
