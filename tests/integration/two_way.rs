//! Two-way links (HubSpot portal A <-> HubSpot portal B, both played by the fake, state in
//! moto): a record written one way is not written back, a change on either side is synced once,
//! and flows that do not run opposite ways cannot be paired.

use serde_json::json;
use switchyard::store::flows::{ConflictRule, Flow, SyncMode};
use switchyard::sync::{link_flows, resolve_merge, resolve_review, LinkError, MergeDeps};
use switchyard_fakes::hubspot::{self, HubspotConfig, ObjectType};
use switchyard_fakes::FakeHandle;

use crate::sync::Rig;

/// The same fields both ways.
const MAPPING: &str = r#"{properties: {email: .properties.email, firstname: .properties.firstname,
                          lastname: .properties.lastname}}"#;

fn flow(rig: &Rig, id: &str, from: &str, to: &str) -> Flow {
    Flow {
        id: id.into(),
        name: id.into(),
        source_connection: from.into(),
        source_stream: "contacts".into(),
        destination_connection: to.into(),
        destination_operation: "contacts.upsert_by_email".into(),
        mapping: MAPPING.into(),
        mode: SyncMode::Full,
        ..rig.flow.clone()
    }
}

/// A second HubSpot portal, connected as `id`.
async fn portal(rig: &Rig, id: &str) -> FakeHandle<hubspot::Hubspot> {
    let hub = hubspot::start(HubspotConfig::default());
    rig.connect(
        id,
        "hubspot",
        &hub.base_url,
        json!({"access_token": hubspot::TEST_TOKEN}),
    )
    .await;
    hub
}

/// Portal A (the rig's HubSpot) and a second portal B, with the two flows between them
/// created and, with `rule`, linked; the flows as stored.
async fn linked(rig: &Rig, rule: Option<ConflictRule>) -> (FakeHandle<hubspot::Hubspot>, Flow, Flow) {
    let b = portal(rig, "conn_portal_b").await;
    let a_to_b = flow(rig, "flow_a_to_b", "conn_hubspot", "conn_portal_b");
    let b_to_a = flow(rig, "flow_b_to_a", "conn_portal_b", "conn_hubspot");
    rig.deps.flows.create(&a_to_b).await.unwrap();
    rig.deps.flows.create(&b_to_a).await.unwrap();
    if let Some(rule) = rule {
        link_flows(&rig.deps.link_context(), &a_to_b.id, &b_to_a.id, rule)
            .await
            .unwrap();
    }
    (
        b,
        rig.deps.flows.get(&a_to_b.id).await.unwrap().unwrap(),
        rig.deps.flows.get(&b_to_a.id).await.unwrap().unwrap(),
    )
}

/// Changes a contact's first name through the portal's API, as a person would.
async fn rename(hub: &FakeHandle<hubspot::Hubspot>, email: &str, firstname: &str) {
    edit(hub, email, "firstname", firstname).await;
}

fn firstname(hub: &FakeHandle<hubspot::Hubspot>, email: &str) -> Option<String> {
    hub.find(ObjectType::Contacts, "email", email)
        .and_then(|c| c.get("firstname").map(str::to_owned))
}

async fn seed(hub: &FakeHandle<hubspot::Hubspot>, n: usize) {
    for i in 0..n {
        hub.insert(
            ObjectType::Contacts,
            &[
                ("email", &format!("p{i}@example.com")),
                ("firstname", &format!("First{i}")),
                ("lastname", &format!("Last{i}")),
            ],
        );
    }
}

#[tokio::test]
async fn linked_flows_write_each_change_once_and_never_write_an_echo_back() {
    let rig = Rig::new().await;
    // Portal A is the rig's HubSpot (`conn_hubspot`); portal B is a second one.
    let (b, a_to_b, b_to_a) = linked(&rig, Some(ConflictRule::NewestWins)).await;
    assert_eq!(a_to_b.reverse_flow.as_deref(), Some("flow_b_to_a"));
    seed(&rig.hubspot, 5).await;

    // A -> B creates the five in B; B -> A reads them back and writes nothing: every one is
    // the echo it was told to expect.
    let job = rig.run_flow(&a_to_b, None).await;
    assert_eq!(job.counts.written, 5, "{:?}", job.counts);
    assert_eq!(b.count(ObjectType::Contacts), 5);
    let job = rig.run_flow(&b_to_a, None).await;
    assert_eq!(
        (job.counts.read, job.counts.written),
        (5, 0),
        "no echo written back: {:?}",
        job.counts
    );
    assert_eq!(rig.hubspot.count(ObjectType::Contacts), 5, "no duplicate in A");

    // A person renames one contact in B: B -> A writes exactly that one; A -> B then sees the
    // change it caused and writes nothing.
    rename(&b, "p1@example.com", "Renamed").await;
    let job = rig.run_flow(&b_to_a, None).await;
    assert_eq!(job.counts.written, 1, "{:?}", job.counts);
    assert_eq!(firstname(&rig.hubspot, "p1@example.com").as_deref(), Some("Renamed"));
    let job = rig.run_flow(&a_to_b, None).await;
    assert_eq!(job.counts.written, 0, "no echo written back: {:?}", job.counts);

    // And the other way: a rename in A reaches B once, and does not come back.
    rename(&rig.hubspot, "p3@example.com", "Changed").await;
    let job = rig.run_flow(&a_to_b, None).await;
    assert_eq!(job.counts.written, 1, "{:?}", job.counts);
    assert_eq!(firstname(&b, "p3@example.com").as_deref(), Some("Changed"));
    let job = rig.run_flow(&b_to_a, None).await;
    assert_eq!(job.counts.written, 0, "{:?}", job.counts);

    // The two directions' links hold both ids of each pair.
    let a_id = rig
        .hubspot
        .find(ObjectType::Contacts, "email", "p2@example.com")
        .unwrap()
        .id;
    let b_id = b.find(ObjectType::Contacts, "email", "p2@example.com").unwrap().id;
    let there = rig
        .deps
        .links
        .get_many(&a_to_b.id, std::slice::from_ref(&a_id))
        .await
        .unwrap();
    let back = rig
        .deps
        .links
        .get_many(&b_to_a.id, std::slice::from_ref(&b_id))
        .await
        .unwrap();
    assert_eq!(there[&a_id].destination_id, b_id);
    assert_eq!(back[&b_id].destination_id, a_id);
}

/// The control: the same two flows, unpaired, write every record back once (the echo the link
/// removes), which is why the test above can fail.
#[tokio::test]
async fn unlinked_opposite_flows_write_the_echo_back() {
    let rig = Rig::new().await;
    let (b, a_to_b, b_to_a) = linked(&rig, None).await;
    seed(&rig.hubspot, 5).await;
    rig.run_flow(&a_to_b, None).await;
    assert_eq!(b.count(ObjectType::Contacts), 5);
    let job = rig.run_flow(&b_to_a, None).await;
    assert_eq!(job.counts.written, 5, "{:?}", job.counts);
}

#[tokio::test]
async fn flows_that_do_not_run_opposite_ways_are_not_paired_and_nothing_is_written() {
    let rig = Rig::new().await;
    let _b = portal(&rig, "conn_portal_b").await;
    let _c = portal(&rig, "conn_portal_c").await;
    let a_to_b = flow(&rig, "flow_a_to_b", "conn_hubspot", "conn_portal_b");
    let c_to_a = flow(&rig, "flow_c_to_a", "conn_portal_c", "conn_hubspot");
    let b_to_a = flow(&rig, "flow_b_to_a", "conn_portal_b", "conn_hubspot");
    let b_to_a_2 = flow(&rig, "flow_b_to_a_2", "conn_portal_b", "conn_hubspot");
    for f in [&a_to_b, &c_to_a, &b_to_a, &b_to_a_2] {
        rig.deps.flows.create(f).await.unwrap();
    }
    let flows = &rig.deps.flows;
    let ctx = &rig.deps.link_context();
    let err = link_flows(ctx, "flow_a_to_b", "flow_c_to_a", ConflictRule::SourceWins)
        .await
        .unwrap_err();
    assert!(matches!(err, LinkError::NotOpposite { .. }), "{err}");
    assert!(err.to_string().contains("conn_portal_c -> conn_hubspot"), "{err}");
    assert!(matches!(
        link_flows(ctx, "flow_a_to_b", "flow_a_to_b", ConflictRule::SourceWins)
            .await
            .unwrap_err(),
        LinkError::Same
    ));
    assert!(matches!(
        link_flows(ctx, "flow_a_to_b", "flow_missing", ConflictRule::SourceWins).await.unwrap_err(),
        LinkError::NotFound(id) if id == "flow_missing"
    ));
    for id in ["flow_a_to_b", "flow_c_to_a"] {
        assert_eq!(
            flows.get(id).await.unwrap().unwrap().reverse_flow,
            None,
            "{id} left alone"
        );
    }
    // Paired once (again is fine); a third flow cannot take either place.
    link_flows(ctx, "flow_a_to_b", "flow_b_to_a", ConflictRule::SourceWins)
        .await
        .unwrap();
    link_flows(ctx, "flow_b_to_a", "flow_a_to_b", ConflictRule::SourceWins)
        .await
        .unwrap();
    let err = link_flows(ctx, "flow_a_to_b", "flow_b_to_a_2", ConflictRule::SourceWins)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LinkError::AlreadyPaired { flow, other } if flow == "flow_a_to_b" && other == "flow_b_to_a"),
        "{err}"
    );
    assert_eq!(flows.get("flow_b_to_a_2").await.unwrap().unwrap().reverse_flow, None);
}

/// A record renamed on both sides before either direction ran: under `newest_wins` the later
/// rename ends on both sides whichever direction runs first; under `a_wins` A's does.
#[tokio::test]
async fn a_record_changed_on_both_sides_is_settled_by_the_link_rule() {
    // (A -> B's rule, whether A -> B runs first, how many times a direction yields to the other)
    for (rule, a_runs_first, yields) in [
        // A -> B sees B's newer rename and yields; B -> A brings it over.
        (ConflictRule::NewestWins, true, 1),
        // B -> A sees its own rename is the newer one and writes it; nothing left to settle.
        (ConflictRule::NewestWins, false, 0),
        // A wins: B -> A yields; A -> B writes A's rename over B's.
        (ConflictRule::SourceWins, false, 1),
    ] {
        let rig = Rig::new().await;
        let (b, a_to_b, b_to_a) = linked(&rig, Some(rule)).await;
        assert_eq!(b_to_a.on_conflict, rule.mirrored());
        seed(&rig.hubspot, 3).await;
        rig.run_flow(&a_to_b, None).await;
        rig.run_flow(&b_to_a, None).await;

        // A's rename first, B's a few milliseconds later.
        rename(&rig.hubspot, "p0@example.com", "FromA").await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        rename(&b, "p0@example.com", "FromB").await;
        let order = if a_runs_first {
            [&a_to_b, &b_to_a, &a_to_b]
        } else {
            [&b_to_a, &a_to_b, &b_to_a]
        };
        let mut written = 0;
        let mut yielded = 0;
        for f in order {
            let job = rig.run_flow(f, None).await;
            written += job.counts.written;
            yielded += job.counts.conflicts_yielded;
        }
        let want = if rule == ConflictRule::NewestWins {
            "FromB"
        } else {
            "FromA"
        };
        let case = format!("{rule:?}, A first: {a_runs_first}");
        assert_eq!(
            firstname(&rig.hubspot, "p0@example.com").as_deref(),
            Some(want),
            "{case}"
        );
        assert_eq!(firstname(&b, "p0@example.com").as_deref(), Some(want), "{case}");
        assert_eq!(written, 1, "one write settles it, no echo: {case}");
        assert_eq!(yielded, yields, "{case}");
    }
}

/// `manual`: a record renamed on both sides is parked once with both versions and neither side
/// is written; resolving it for one side writes that version over, once, with no echo.
#[tokio::test]
async fn a_manual_link_parks_a_conflict_until_a_person_resolves_it() {
    let rig = Rig::new().await;
    let (b, a_to_b, b_to_a) = linked(&rig, Some(ConflictRule::Manual)).await;
    seed(&rig.hubspot, 3).await;
    rig.run_flow(&a_to_b, None).await;
    rig.run_flow(&b_to_a, None).await;

    rename(&rig.hubspot, "p2@example.com", "FromA").await;
    rename(&b, "p2@example.com", "FromB").await;
    // Both directions see the conflict; one review item; nothing written either way.
    for f in [&a_to_b, &b_to_a, &a_to_b] {
        let job = rig.run_flow(f, None).await;
        assert_eq!(
            (job.counts.written, job.counts.conflicts_parked),
            (0, 1),
            "{}: {:?}",
            f.id,
            job.counts
        );
    }
    let reviews = rig.deps.reviews.list("flow_a_to_b", "flow_b_to_a").await.unwrap();
    assert_eq!(reviews.len(), 1, "{reviews:?}");
    let item = &reviews[0];
    let a_id = rig
        .hubspot
        .find(ObjectType::Contacts, "email", "p2@example.com")
        .unwrap()
        .id;
    assert_eq!(item.record, a_id, "keyed by the first flow's source id");
    assert_eq!(item.first_version["properties"]["firstname"], "FromA");
    assert_eq!(item.second_version["properties"]["firstname"], "FromB");
    assert_eq!(
        item.base.as_ref().map(|b| b["properties"]["firstname"].clone()),
        Some(json!("First2")),
        "the base they diverged from"
    );
    assert_eq!(firstname(&rig.hubspot, "p2@example.com").as_deref(), Some("FromA"));
    assert_eq!(firstname(&b, "p2@example.com").as_deref(), Some("FromB"));

    // A review that does not exist is refused, and changes nothing.
    let err = resolve_review(
        &rig.deps.flows,
        &rig.deps.links,
        &rig.deps.reviews,
        "flow_b_to_a",
        "999",
        0,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, LinkError::NoReview { .. }), "{err}");

    // B's version wins: B -> A writes it once; A -> B sees its own echo.
    resolve_review(
        &rig.deps.flows,
        &rig.deps.links,
        &rig.deps.reviews,
        "flow_b_to_a",
        &a_id,
        0,
    )
    .await
    .unwrap();
    assert!(rig
        .deps
        .reviews
        .list("flow_a_to_b", "flow_b_to_a")
        .await
        .unwrap()
        .is_empty());
    let job = rig.run_flow(&b_to_a, None).await;
    assert_eq!(
        (job.counts.written, job.counts.conflicts_parked),
        (1, 0),
        "{:?}",
        job.counts
    );
    let job = rig.run_flow(&a_to_b, None).await;
    assert_eq!(
        (job.counts.written, job.counts.conflicts_parked),
        (0, 0),
        "{:?}",
        job.counts
    );
    assert_eq!(firstname(&rig.hubspot, "p2@example.com").as_deref(), Some("FromB"));
    assert_eq!(firstname(&b, "p2@example.com").as_deref(), Some("FromB"));
}

/// What the sync keeps about a person is found by every address in it: a contact whose company
/// field names a second person is indexed under one of the two addresses on the record link
/// itself and under the other by a pointer written beside the link; the conflict parked about
/// it likewise (its pointer written when parked). Which address is first follows the record's
/// key order (`company` before `email`), so the test asks only that both find each item.
#[tokio::test]
async fn the_sync_points_a_second_address_at_the_record_links_and_conflicts_it_keeps() {
    use switchyard::store::subjects::{key_of, pointer_target, SubjectStore};

    let rig = Rig::new().await;
    let (b, a_to_b, b_to_a) = linked(&rig, Some(ConflictRule::Manual)).await;
    let tenant = a_to_b.tenant.clone();
    rig.hubspot.insert(
        ObjectType::Contacts,
        &[
            ("email", "ada@example.com"),
            ("firstname", "Ada"),
            ("lastname", "Lovelace"),
            ("company", "Analytical Engines (assistant: Charles@Example.org)"),
        ],
    );
    rig.run_flow(&a_to_b, None).await;
    rig.run_flow(&b_to_a, None).await;
    let a_id = rig
        .hubspot
        .find(ObjectType::Contacts, "email", "ada@example.com")
        .unwrap()
        .id;
    let subjects = SubjectStore::new(rig.env.clients.dynamodb.clone(), &rig.env.table);
    // (items indexed on themselves, items a pointer leads to) of an address's partition.
    let found = |email: &'static str| {
        let subjects = subjects.clone();
        let tenant = tenant.clone();
        async move {
            let items = subjects
                .items(&switchyard::subjects::subject_key(&tenant, email))
                .await
                .unwrap();
            let pointed: Vec<(String, String)> = items.iter().filter_map(pointer_target).collect();
            let own: Vec<(String, String)> = items
                .iter()
                .filter(|i| pointer_target(i).is_none())
                .filter_map(key_of)
                .collect();
            (own, pointed)
        }
    };
    let link = (format!("FLOW#{}", a_to_b.id), format!("REC#{a_id}"));
    let (ada_own, ada_pointed) = found("ada@example.com").await;
    let (charles_own, charles_pointed) = found("charles@example.org").await;
    assert!(
        ada_own.contains(&link) != ada_pointed.contains(&link),
        "her address finds the link A -> B once: {ada_own:?} {ada_pointed:?}"
    );
    assert!(
        charles_own.contains(&link) != charles_pointed.contains(&link),
        "his address finds the link A -> B once: {charles_own:?} {charles_pointed:?}"
    );
    assert!(
        ada_pointed.contains(&link) || charles_pointed.contains(&link),
        "one of the two is a pointer"
    );

    // A conflict about the contact is parked with its pointer too.
    rename(&rig.hubspot, "ada@example.com", "FromA").await;
    rename(&b, "ada@example.com", "FromB").await;
    let job = rig.run_flow(&a_to_b, None).await;
    assert_eq!(job.counts.conflicts_parked, 1, "{:?}", job.counts);
    let (first, second) = switchyard::store::reviews::link_key(&a_to_b.id, &b_to_a.id);
    let review = (format!("LINK#{first}|{second}"), format!("REVIEW#{a_id}"));
    let (ada_own, ada_pointed) = found("ada@example.com").await;
    let (charles_own, charles_pointed) = found("charles@example.org").await;
    assert!(
        ada_own.contains(&review) != ada_pointed.contains(&review),
        "her address finds the review once: {ada_own:?} {ada_pointed:?}"
    );
    assert!(
        charles_own.contains(&review) != charles_pointed.contains(&review),
        "his address finds the review once: {charles_own:?} {charles_pointed:?}"
    );
    assert!(ada_pointed.contains(&review) || charles_pointed.contains(&review));
}

fn property(hub: &FakeHandle<hubspot::Hubspot>, email: &str, name: &str) -> Option<String> {
    hub.find(ObjectType::Contacts, "email", email)
        .and_then(|c| c.get(name).map(str::to_owned))
}

/// "Merge given fields": A's version with B's first name is written to both sides at once and
/// the next runs write nothing. A field in neither version, the record's id, or a side changed
/// since the conflict was parked are refused, with nothing written and the conflict still parked.
#[tokio::test]
async fn a_merge_of_given_fields_is_written_to_both_sides_and_the_next_runs_write_nothing() {
    let rig = Rig::new().await;
    let (b, a_to_b, b_to_a) = linked(&rig, Some(ConflictRule::Manual)).await;
    // One contact only B has, so the pairs' ids differ between the portals.
    b.insert(ObjectType::Contacts, &[("email", "b-only@example.com")]);
    seed(&rig.hubspot, 2).await;
    rig.run_flow(&a_to_b, None).await;
    rig.run_flow(&b_to_a, None).await;
    for email in ["p0@example.com", "p1@example.com"] {
        edit(&rig.hubspot, email, "firstname", "FromA").await;
        edit(&rig.hubspot, email, "lastname", "LastA").await;
        edit(&b, email, "firstname", "FromB").await;
        edit(&b, email, "lastname", "LastB").await;
    }
    let job = rig.run_flow(&a_to_b, None).await;
    assert_eq!(
        (job.counts.written, job.counts.conflicts_parked),
        (0, 2),
        "{:?}",
        job.counts
    );
    let a_id = |email: &str| rig.hubspot.find(ObjectType::Contacts, "email", email).unwrap().id;
    let deps = merge_deps(&rig);
    let first_name = ["/properties/firstname".to_string()];

    // Refused, naming the field: one in neither version, and the record's id.
    for (take, field) in [("/properties/middlename", "/properties/middlename"), ("/id", "/id")] {
        let err = resolve_merge(&deps, "flow_a_to_b", &a_id("p1@example.com"), &[take.into()], 0)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, LinkError::Field { field: f, .. } if f == field),
            "{take}: {err}"
        );
    }
    // p0 changed again in A after it was parked: refused as stale, nothing written.
    edit(&rig.hubspot, "p0@example.com", "firstname", "AgainA").await;
    let err = resolve_merge(&deps, "flow_a_to_b", &a_id("p0@example.com"), &first_name, 0)
        .await
        .unwrap_err();
    assert!(matches!(err, LinkError::Stale { .. }), "{err}");
    assert_eq!(property(&b, "p0@example.com", "firstname").as_deref(), Some("FromB"));
    assert_eq!(
        rig.deps.reviews.list("flow_a_to_b", "flow_b_to_a").await.unwrap().len(),
        2
    );

    // p1: A wins except the first name, taken from B. Both sides hold the merge now.
    let (item, merged) = resolve_merge(&deps, "flow_a_to_b", &a_id("p1@example.com"), &first_name, 0)
        .await
        .unwrap();
    assert_eq!(item.record, a_id("p1@example.com"));
    assert_eq!(merged["properties"]["firstname"], "FromB");
    assert_eq!(merged["properties"]["lastname"], "LastA");
    for hub in [&rig.hubspot, &b] {
        assert_eq!(property(hub, "p1@example.com", "firstname").as_deref(), Some("FromB"));
        assert_eq!(property(hub, "p1@example.com", "lastname").as_deref(), Some("LastA"));
    }
    let left = rig.deps.reviews.list("flow_a_to_b", "flow_b_to_a").await.unwrap();
    assert_eq!(left.len(), 1, "only p0 is still parked: {left:?}");
    // Neither direction writes p1 again (no echo); p0 stays parked.
    for f in [&a_to_b, &b_to_a] {
        let job = rig.run_flow(f, None).await;
        assert_eq!(
            (job.counts.written, job.counts.conflicts_parked),
            (0, 1),
            "{}: {:?}",
            f.id,
            job.counts
        );
    }
}

/// The merge tests' stores and clients.
fn merge_deps(rig: &Rig) -> MergeDeps<'_> {
    MergeDeps {
        flows: &rig.deps.flows,
        links: &rig.deps.links,
        reviews: &rig.deps.reviews,
        registry: &rig.deps.registry,
        connections: &rig.deps.connections,
        secrets: &rig.deps.secrets,
        clients: &rig.deps.clients,
    }
}

/// A merge that wrote portal B and then failed on portal A (A refuses the write) is tried
/// again: B already holds the merge, which the retry recognises instead of refusing it as
/// stale, and it completes: both sides hold the merge, the conflict leaves the queue, and the
/// next runs write nothing. A change made to B in between is still refused as stale.
#[tokio::test]
async fn a_merge_that_failed_half_way_completes_when_tried_again() {
    let rig = Rig::new().await;
    let (b, a_to_b, b_to_a) = linked(&rig, Some(ConflictRule::Manual)).await;
    seed(&rig.hubspot, 2).await;
    rig.run_flow(&a_to_b, None).await;
    rig.run_flow(&b_to_a, None).await;
    for email in ["p0@example.com", "p1@example.com"] {
        edit(&rig.hubspot, email, "firstname", "FromA").await;
        edit(&rig.hubspot, email, "lastname", "LastA").await;
        edit(&b, email, "firstname", "FromB").await;
        edit(&b, email, "lastname", "LastB").await;
    }
    let job = rig.run_flow(&a_to_b, None).await;
    assert_eq!(job.counts.conflicts_parked, 2, "{:?}", job.counts);
    let a_id = |email: &str| rig.hubspot.find(ObjectType::Contacts, "email", email).unwrap().id;
    let deps = merge_deps(&rig);
    let first_name = ["/properties/firstname".to_string()];
    // Portal A refuses its next writes: the merge writes B, then fails writing A.
    let fail_writes_to_a = |n| {
        rig.hubspot.faults.configure(switchyard_fakes::FaultConfig {
            path_prefixes: vec!["/crm/v3/objects/contacts/batch/upsert".into()],
            ..switchyard_fakes::FaultConfig::default()
        });
        rig.hubspot.faults.fail_next(n, 400);
    };
    for (n, email) in ["p0@example.com", "p1@example.com"].into_iter().enumerate() {
        fail_writes_to_a(1);
        let err = resolve_merge(&deps, "flow_a_to_b", &a_id(email), &first_name, 0)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, LinkError::Write { flow, .. } if flow == "flow_b_to_a"),
            "{err}"
        );
        assert_eq!(rig.hubspot.faults.counts().forced, n as u64 + 1, "A refused the write");
        rig.hubspot.faults.disable();
        // Half done: B holds the merge (A's last name, B's first name), A still its own version.
        assert_eq!(property(&b, email, "lastname").as_deref(), Some("LastA"));
        assert_eq!(property(&b, email, "firstname").as_deref(), Some("FromB"));
        assert_eq!(property(&rig.hubspot, email, "firstname").as_deref(), Some("FromA"));
        assert!(rig
            .deps
            .reviews
            .get("flow_a_to_b", "flow_b_to_a", &a_id(email))
            .await
            .unwrap()
            .is_some());
    }
    // p0: someone changes B's first name before the retry: that is not the merge, so stale.
    edit(&b, "p0@example.com", "firstname", "AgainB").await;
    let err = resolve_merge(&deps, "flow_a_to_b", &a_id("p0@example.com"), &first_name, 0)
        .await
        .unwrap_err();
    assert!(matches!(err, LinkError::Stale { .. }), "{err}");
    assert_eq!(
        property(&rig.hubspot, "p0@example.com", "firstname").as_deref(),
        Some("FromA")
    );

    // p1: the retry completes the merge on A.
    let (_, merged) = resolve_merge(&deps, "flow_a_to_b", &a_id("p1@example.com"), &first_name, 0)
        .await
        .unwrap();
    assert_eq!(merged["properties"]["firstname"], "FromB");
    for hub in [&rig.hubspot, &b] {
        assert_eq!(property(hub, "p1@example.com", "firstname").as_deref(), Some("FromB"));
        assert_eq!(property(hub, "p1@example.com", "lastname").as_deref(), Some("LastA"));
    }
    let left = rig.deps.reviews.list("flow_a_to_b", "flow_b_to_a").await.unwrap();
    assert_eq!(left.len(), 1, "only p0 is still parked: {left:?}");
    // A second retry finds nothing parked, and the next runs write nothing.
    let err = resolve_merge(&deps, "flow_a_to_b", &a_id("p1@example.com"), &first_name, 0)
        .await
        .unwrap_err();
    assert!(matches!(err, LinkError::NoReview { .. }), "{err}");
    // Neither direction writes p1 again (no echo); p0 stays parked, p1 is not parked again.
    for f in [&a_to_b, &b_to_a] {
        let job = rig.run_flow(f, None).await;
        assert_eq!(job.counts.written, 0, "{}: {:?}", f.id, job.counts);
    }
    let left = rig.deps.reviews.list("flow_a_to_b", "flow_b_to_a").await.unwrap();
    assert_eq!(left.len(), 1, "only p0 is still parked: {left:?}");
    assert_eq!(left[0].record, a_id("p0@example.com"));
}

/// Portal B was imported with first and last names swapped, so the link's mappings swap them
/// both ways. Merging "B's `/properties/lastname`" into A's version puts it in A's first name
/// (where the mapping carries it), not A's last name; a field the mapping does not carry
/// (B's phone) is refused naming it, with nothing written and the conflict still parked.
#[tokio::test]
async fn a_merge_between_different_shapes_follows_the_links_mapping() {
    const SWAPPED: &str = r#"{properties: {email: .properties.email, firstname: .properties.lastname,
                              lastname: .properties.firstname}}"#;
    let rig = Rig::new().await;
    let b = portal(&rig, "conn_portal_b").await;
    let mut flows = Vec::new();
    for (id, from, to) in [
        ("flow_a_to_b", "conn_hubspot", "conn_portal_b"),
        ("flow_b_to_a", "conn_portal_b", "conn_hubspot"),
    ] {
        let f = Flow {
            mapping: SWAPPED.into(),
            ..flow(&rig, id, from, to)
        };
        rig.deps.flows.create(&f).await.unwrap();
        flows.push(f);
    }
    link_flows(
        &rig.deps.link_context(),
        "flow_a_to_b",
        "flow_b_to_a",
        ConflictRule::Manual,
    )
    .await
    .unwrap();
    let (a_to_b, b_to_a) = (&flows[0], &flows[1]);
    seed(&rig.hubspot, 1).await;
    rig.run_flow(a_to_b, None).await;
    rig.run_flow(b_to_a, None).await;
    let email = "p0@example.com";
    assert_eq!(
        property(&b, email, "lastname").as_deref(),
        Some("First0"),
        "B holds the names swapped"
    );
    // Both sides change the person's first name (B keeps it in `lastname`), A its last name too.
    edit(&rig.hubspot, email, "firstname", "FromA").await;
    edit(&rig.hubspot, email, "lastname", "LastA").await;
    edit(&b, email, "lastname", "FromB").await;
    edit(&b, email, "phone", "555").await;
    let job = rig.run_flow(a_to_b, None).await;
    assert_eq!(job.counts.conflicts_parked, 1, "{:?}", job.counts);
    let a_id = rig.hubspot.find(ObjectType::Contacts, "email", email).unwrap().id;
    let deps = merge_deps(&rig);

    let err = resolve_merge(&deps, "flow_a_to_b", &a_id, &["/properties/phone".into()], 0)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LinkError::Field { field, reason } if field == "/properties/phone" && reason.contains("does not carry")),
        "{err}"
    );
    assert_eq!(
        property(&b, email, "firstname").as_deref(),
        Some("Last0"),
        "nothing written"
    );
    assert_eq!(
        rig.deps.reviews.list("flow_a_to_b", "flow_b_to_a").await.unwrap().len(),
        1
    );

    // A wins except the first name, which is B's `/properties/lastname`.
    let (_, merged) = resolve_merge(&deps, "flow_a_to_b", &a_id, &["/properties/lastname".into()], 0)
        .await
        .unwrap();
    assert_eq!(merged["properties"]["firstname"], "FromB");
    assert_eq!(merged["properties"]["lastname"], "LastA");
    assert_eq!(property(&rig.hubspot, email, "firstname").as_deref(), Some("FromB"));
    assert_eq!(property(&rig.hubspot, email, "lastname").as_deref(), Some("LastA"));
    assert_eq!(property(&b, email, "lastname").as_deref(), Some("FromB"));
    assert_eq!(property(&b, email, "firstname").as_deref(), Some("LastA"));
    assert!(rig
        .deps
        .reviews
        .list("flow_a_to_b", "flow_b_to_a")
        .await
        .unwrap()
        .is_empty());
    for f in [a_to_b, b_to_a] {
        let job = rig.run_flow(f, None).await;
        assert_eq!(
            (job.counts.written, job.counts.conflicts_parked),
            (0, 0),
            "{}: {:?}",
            f.id,
            job.counts
        );
    }
}

/// Changes one property of a contact through the portal's API.
async fn edit(hub: &FakeHandle<hubspot::Hubspot>, email: &str, field: &str, value: &str) {
    let id = hub.find(ObjectType::Contacts, "email", email).unwrap().id;
    let status = reqwest::Client::new()
        .patch(format!("{}/crm/v3/objects/contacts/{id}", hub.base_url))
        .bearer_auth(hubspot::TEST_TOKEN)
        .json(&json!({"properties": {field: value}}))
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "{status}");
}

/// A contact renamed in A while B deleted it (before either direction ran): A -> B does not
/// write the rename to B's deleted contact (an update HubSpot refuses, or with an upsert, the
/// contact brought back); it leaves it to B -> A, whose full run finds B's contact gone and
/// deletes A's by the link's `propagate`. Both sides end without it, with no failure.
/// Links the two flows newest-wins, with deletes propagated.
async fn link_propagating_deletes(rig: &Rig, a_to_b: &Flow, b_to_a: &Flow) {
    link_flows(
        &rig.deps.link_context(),
        &a_to_b.id,
        &b_to_a.id,
        switchyard::sync::LinkPolicy {
            rule: ConflictRule::NewestWins,
            on_delete: switchyard::store::flows::DeleteRule::Propagate,
            ..Default::default()
        },
    )
    .await
    .unwrap();
}

/// Deletes a contact through the portal's API, as a person would.
async fn delete_contact(hub: &FakeHandle<hubspot::Hubspot>, id: &str) {
    let status = reqwest::Client::new()
        .delete(format!("{}/crm/v3/objects/contacts/{id}", hub.base_url))
        .bearer_auth(hubspot::TEST_TOKEN)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 204);
}

#[tokio::test]
async fn a_change_to_a_record_deleted_on_the_other_side_is_not_written_and_the_delete_wins() {
    let rig = Rig::new().await;
    let (b, a_to_b, b_to_a) = linked(&rig, None).await;
    link_propagating_deletes(&rig, &a_to_b, &b_to_a).await;
    seed(&rig.hubspot, 3).await;
    rig.run_flow(&a_to_b, None).await;
    rig.run_flow(&b_to_a, None).await;

    let b_id = b.find(ObjectType::Contacts, "email", "p1@example.com").unwrap().id;
    delete_contact(&b, &b_id).await;
    rename(&rig.hubspot, "p1@example.com", "Renamed").await;
    let b_writes = b.writes();

    let job = rig.run_flow(&a_to_b, None).await;
    assert_eq!(
        (job.counts.written, job.counts.conflicts_yielded, job.counts.failed),
        (0, 1, 0),
        "{:?}",
        job.counts
    );
    assert_eq!(b.writes(), b_writes, "nothing written to B");
    assert!(b.find(ObjectType::Contacts, "email", "p1@example.com").is_none());

    let job = rig.run_flow(&b_to_a, None).await;
    assert_eq!((job.counts.deleted, job.counts.failed), (1, 0), "{:?}", job.counts);
    assert!(rig
        .hubspot
        .find(ObjectType::Contacts, "email", "p1@example.com")
        .is_none());
    for f in [&a_to_b, &b_to_a] {
        let job = rig.run_flow(f, None).await;
        assert_eq!(
            (job.counts.written, job.counts.deleted, job.counts.failed),
            (0, 0, 0),
            "{}: {:?}",
            f.id,
            job.counts
        );
    }
    assert_eq!(
        (rig.hubspot.count(ObjectType::Contacts), b.count(ObjectType::Contacts)),
        (2, 2)
    );
}

/// A two-way full run that fails half way hands the ids it had read to its retry, so the
/// retry's deletion sweep does not fetch those contacts one by one (it fetched every one
/// before: the soak's retried runs spent seconds on it); a contact deleted meanwhile on a page
/// not yet read is still found and the delete propagated.
#[tokio::test]
async fn a_retried_full_run_sweeps_deletions_without_fetching_what_it_read_before_the_fault() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use switchyard::queue::SyncJobRef;
    use switchyard::sync::{JobOutcome, SeenIds};

    let rig = Rig::new().await;
    let (b, a_to_b, b_to_a) = linked(&rig, None).await;
    link_propagating_deletes(&rig, &a_to_b, &b_to_a).await;
    seed(&rig.hubspot, 250).await;
    rig.run_flow(&a_to_b, None).await;
    rig.run_flow(&b_to_a, None).await;
    assert_eq!(b.count(ObjectType::Contacts), 250);

    // B -> A again: once its first page (100 contacts) is checkpointed, B fails every request.
    let job = switchyard::sync::start_job(&rig.deps, &b_to_a, "test", None, false)
        .await
        .unwrap();
    let mut job_ref = SyncJobRef {
        flow_id: b_to_a.id.clone(),
        job_id: job.job_id.clone(),
        attempt: 0,
    };
    let (faults, armed) = (b.faults.clone(), AtomicBool::new(false));
    let err = switchyard::sync::run_job(&rig.deps, &job_ref, &switchyard::sync::Unlimited, &|j| {
        if j.pages == 1 && !armed.swap(true, Ordering::SeqCst) {
            faults.fail_next(1_000, 500);
        }
    })
    .await
    .unwrap_err();
    assert!(err.is_retriable(), "{err}");
    b.faults.disable();
    let stored = rig.deps.jobs.get(&b_to_a.id, &job.job_id).await.unwrap().unwrap();
    assert_eq!(stored.pages, 1);
    let handed_over = SeenIds::unpack(stored.seen.as_deref());
    assert_eq!(handed_over.len(), 100, "the first page's ids are handed over");

    // Meanwhile the last contact in B (on the third page, not read yet) is deleted.
    let last = b
        .objects(ObjectType::Contacts)
        .into_iter()
        .max_by_key(|c| c.id.parse::<u64>().unwrap_or_default())
        .unwrap();
    let email = last.get("email").unwrap().to_string();
    delete_contact(&b, &last.id).await;
    assert!(!handed_over.contains(&last.id));

    // The retry resumes at page 2 and fetches only the one linked contact it did not read.
    let fetches = || {
        b.requests
            .count_where(|r| r.method == "GET" && r.path.starts_with("/crm/v3/objects/contacts/"))
    };
    let before = fetches();
    job_ref.attempt = 1;
    let done = match switchyard::sync::run_job(&rig.deps, &job_ref, &switchyard::sync::Unlimited, &|_| {})
        .await
        .unwrap()
    {
        JobOutcome::Finished(job) => job,
        other => panic!("the retry did not finish: {other:?}"),
    };
    assert_eq!(fetches() - before, 1, "fetched: the deleted contact only");
    assert_eq!((done.counts.deleted, done.counts.failed), (1, 0), "{:?}", done.counts);
    assert!(
        rig.hubspot.find(ObjectType::Contacts, "email", &email).is_none(),
        "the delete reached A"
    );
    assert_eq!(rig.hubspot.count(ObjectType::Contacts), 249);
    assert_eq!(done.seen, None, "nothing handed over once finished");
}
