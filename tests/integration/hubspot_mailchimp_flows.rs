//! Example flow 1 end to end (`examples/hubspot-mailchimp/`): HubSpot contacts <-> Mailchimp
//! audience members, two-way, under `field_ownership` (HubSpot owns a contact's names and
//! lifecycle stage, Mailchimp its subscription status), with duplicate matching on create.
//! Every change arrives as the provider's webhook, through the receiver and the sync queue
//! (HubSpot's signed v3 deliveries; Mailchimp's unsigned form posts on the secret path), and
//! the echo of each of our own writes is dropped and counted, with both fakes counting writes.

use serde_json::json;
use switchyard::queue::{Envelope, SyncMessage};
use switchyard::store::flows::{ConflictRule, DeleteRule, Flow, MatchThresholds, SyncMode};
use switchyard::store::reviews::ReviewKind;
use switchyard::sync::{self, link_flows, LinkError, LinkPolicy, PageCounts};
use switchyard::webhook::Scheme;
use switchyard_fakes::hubspot::{self, HubspotConfig, ObjectType, PropertySchema};
use switchyard_fakes::mailchimp::{self, subscriber_hash, Mailchimp, MailchimpConfig, API_KEY, LIST_ID};
use switchyard_fakes::FakeHandle;

use crate::sync::Rig;

const HUBSPOT_TO_MAILCHIMP: &str = include_str!("../../examples/hubspot-mailchimp/hubspot-to-mailchimp.jq");
const MAILCHIMP_TO_HUBSPOT: &str = include_str!("../../examples/hubspot-mailchimp/mailchimp-to-hubspot.jq");
/// HubSpot's app secret (v3 signatures) and the Mailchimp webhook URL's secret segment.
const HUBSPOT_SECRET: &str = "hs-app-secret-5b0c9e";
const PATH_SECRET: &str = "mc-path-secret-7f3a11c2";
const FORM: &str = "application/x-www-form-urlencoded";
/// The HubSpot app the connection writes through (its events' `appId`).
const HUBSPOT_APP_ID: &str = "1160452";
const THRESHOLDS: MatchThresholds = MatchThresholds { link: 0.9, create: 0.6 };

struct Flow1 {
    rig: Rig,
    hub: FakeHandle<hubspot::Hubspot>,
    mc: FakeHandle<Mailchimp>,
    to_mc: Flow,
    to_hs: Flow,
    hs_scheme: Scheme,
}

/// A HubSpot portal (with the `mailchimp_status` property) and a Mailchimp audience, both
/// receiving webhooks, the example's two flows between them, linked with `policy`.
async fn flow1(policy: Option<LinkPolicy>) -> Flow1 {
    for secret in [HUBSPOT_SECRET, PATH_SECRET, API_KEY] {
        switchyard_tests::log_capture::known_secret(secret);
    }
    let rig = Rig::new().await;
    let hub = hubspot::start(HubspotConfig {
        schema: PropertySchema::default().with_property(ObjectType::Contacts, "mailchimp_status"),
        ..HubspotConfig::default()
    });
    let mc = mailchimp::start(MailchimpConfig::default());
    let registry = switchyard::connector::Registry::embedded().unwrap();
    let scheme = |id: &str| {
        registry
            .get_shared(id)
            .unwrap()
            .webhooks
            .as_ref()
            .expect("takes webhooks")
            .receiver_scheme()
            .unwrap()
    };
    let hs_scheme = scheme("hubspot");
    rig.connect_receiving_with_config(
        "conn_hs",
        "hubspot",
        json!({"base_url": hub.base_url, "app_id": HUBSPOT_APP_ID}),
        json!({"access_token": hubspot::TEST_TOKEN}),
        (hs_scheme.clone(), HUBSPOT_SECRET),
    )
    .await;
    rig.connect_receiving_with_config(
        "conn_mc",
        "mailchimp",
        json!({"base_url": mailchimp::api_url(&mc), "list_id": LIST_ID}),
        json!({"username": "switchyard", "api_key": API_KEY}),
        (scheme("mailchimp"), PATH_SECRET),
    )
    .await;
    let to_mc = Flow {
        id: "flow_hs_to_mc".into(),
        name: "HubSpot contacts to Mailchimp members".into(),
        source_connection: "conn_hs".into(),
        source_stream: "contacts".into(),
        destination_connection: "conn_mc".into(),
        destination_operation: "members.upsert".into(),
        mapping: HUBSPOT_TO_MAILCHIMP.into(),
        mode: SyncMode::Full,
        ..rig.flow.clone()
    };
    let to_hs = Flow {
        id: "flow_mc_to_hs".into(),
        name: "Mailchimp members to HubSpot contacts".into(),
        source_connection: "conn_mc".into(),
        source_stream: "members".into(),
        destination_connection: "conn_hs".into(),
        destination_operation: "contacts.upsert_by_email".into(),
        mapping: MAILCHIMP_TO_HUBSPOT.into(),
        mode: SyncMode::Full,
        ..rig.flow.clone()
    };
    rig.deps.flows.create(&to_mc).await.unwrap();
    rig.deps.flows.create(&to_hs).await.unwrap();
    if let Some(policy) = policy {
        link_flows(&rig.deps.link_context(), &to_mc.id, &to_hs.id, policy)
            .await
            .expect("the example's flows pair up");
    }
    let (to_mc, to_hs) = (
        rig.deps.flows.get(&to_mc.id).await.unwrap().unwrap(),
        rig.deps.flows.get(&to_hs.id).await.unwrap().unwrap(),
    );
    Flow1 {
        rig,
        hub,
        mc,
        to_mc,
        to_hs,
        hs_scheme,
    }
}

impl Flow1 {
    /// HubSpot posts one v3 event about contact `id`, signed.
    async fn hubspot_event(&self, event_id: u64, kind: &str, id: &str) {
        self.hubspot_event_by(event_id, kind, id, None).await;
    }

    /// [`Self::hubspot_event`] saying who made the change: `(changeSource, sourceId)`.
    async fn hubspot_event_by(&self, event_id: u64, kind: &str, id: &str, origin: Option<(&str, &str)>) {
        let mut event = json!({
            "eventId": event_id, "subscriptionId": 7, "portalId": 62515, "appId": 1160452,
            "occurredAt": 1_764_237_600_000_u64, "subscriptionType": kind,
            "attemptNumber": 0, "objectId": id.parse::<u64>().unwrap(), "changeFlag": "NEW",
        });
        if let Some((source, source_id)) = origin {
            event["changeSource"] = json!(source);
            event["sourceId"] = json!(source_id);
        }
        let body = serde_json::to_vec(&json!([event])).unwrap();
        let status = self
            .rig
            .deliver_with("conn_hs", &self.hs_scheme, HUBSPOT_SECRET, &body, &[])
            .await;
        assert_eq!(status, 200, "HubSpot's delivery is accepted");
    }

    /// Mailchimp posts one audience webhook (`subscribe`, `unsubscribe`, `profile`) about the
    /// member with `email`, form-encoded, to the secret path.
    async fn mailchimp_event(&self, kind: &str, email: &str, fired_at: &str) {
        let body = format!(
            "type={kind}&fired_at={}&data%5Bid%5D={}&data%5Blist_id%5D={LIST_ID}&data%5Bemail%5D={}&data%5Bemail_type%5D=html",
            fired_at.replace(' ', "+").replace(':', "%3A"),
            &subscriber_hash(email)[..10],
            email.replace('@', "%40"),
        );
        let status = self
            .rig
            .deliver_to_secret_path("conn_mc", PATH_SECRET, FORM, body.as_bytes())
            .await;
        assert_eq!(status, 200, "Mailchimp's delivery is accepted");
    }

    /// Mailchimp reports that the member with `email` was deleted or archived: an
    /// `unsubscribe` whose `data[action]` is `delete`.
    async fn mailchimp_deleted(&self, email: &str, fired_at: &str) {
        let body = format!(
            "type=unsubscribe&fired_at={}&data%5Baction%5D=delete&data%5Breason%5D=manual&data%5Bid%5D={}&data%5Blist_id%5D={LIST_ID}&data%5Bemail%5D={}&data%5Bemail_type%5D=html",
            fired_at.replace(' ', "+").replace(':', "%3A"),
            &subscriber_hash(email)[..10],
            email.replace('@', "%40"),
        );
        let status = self
            .rig
            .deliver_to_secret_path("conn_mc", PATH_SECRET, FORM, body.as_bytes())
            .await;
        assert_eq!(status, 200, "Mailchimp's delivery is accepted");
    }

    /// Deletes a contact in HubSpot as a person would (through the API: HubSpot archives it).
    async fn delete_contact(&self, id: &str) {
        let status = reqwest::Client::new()
            .delete(format!("{}/crm/v3/objects/contacts/{id}", self.hub.base_url))
            .bearer_auth(hubspot::TEST_TOKEN)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 204);
    }

    /// Runs every queued message as connector-sync would, and sums what the flows did.
    async fn drain(&self) -> PageCounts {
        let mut total = PageCounts::default();
        loop {
            let messages = self.rig.env.drain_queue().await;
            if messages.is_empty() {
                return total;
            }
            for message in messages {
                let envelope: Envelope = serde_json::from_value(message).expect("a sync message");
                let SyncMessage::InboundEvent(event) = &envelope.message else {
                    panic!("only inbound events are queued here")
                };
                for (_, counts) in sync::run_inbound_event(&self.rig.deps, event).await.unwrap() {
                    assert!(counts.failures.is_empty(), "{:?}", counts.failures);
                    total.read += counts.read;
                    total.written += counts.written;
                    total.echoes += counts.echoes;
                    total.matched += counts.matched;
                    total.matches_parked += counts.matches_parked;
                    total.deleted += counts.deleted;
                }
            }
        }
    }

    fn contact(&self, email: &str) -> hubspot::CrmObject {
        self.hub
            .find(ObjectType::Contacts, "email", email)
            .expect("the contact exists")
    }

    fn member(&self, email: &str) -> serde_json::Value {
        self.mc.member_json(&subscriber_hash(email)).expect("the member exists")
    }

    /// Changes a contact in HubSpot as a person would (through the API).
    async fn edit_contact(&self, id: &str, properties: serde_json::Value) {
        let status = reqwest::Client::new()
            .patch(format!("{}/crm/v3/objects/contacts/{id}", self.hub.base_url))
            .bearer_auth(hubspot::TEST_TOKEN)
            .json(&json!({ "properties": properties }))
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success(), "{status}");
    }
}

fn field_ownership() -> LinkPolicy {
    LinkPolicy {
        rule: ConflictRule::FieldOwnership,
        matching: Some(THRESHOLDS),
        ..Default::default()
    }
}

#[tokio::test]
async fn hubspot_and_mailchimp_stay_in_step_by_webhooks_and_our_own_echoes_are_dropped() {
    let f = flow1(Some(field_ownership())).await;
    assert_eq!(f.to_mc.reverse_flow.as_deref(), Some("flow_mc_to_hs"));
    assert_eq!(f.to_hs.on_conflict, ConflictRule::FieldOwnership);
    assert_eq!(f.to_hs.match_on_create, Some(THRESHOLDS));
    let ada = f.hub.insert(
        ObjectType::Contacts,
        &[
            ("email", "ada@example.com"),
            ("firstname", "Ada"),
            ("lastname", "Lovelace"),
            ("lifecyclestage", "lead"),
        ],
    );
    let hs_writes = f.hub.writes();

    // A new HubSpot contact reaches Mailchimp as a pending member with HubSpot's fields.
    f.hubspot_event(1, "contact.creation", &ada.id).await;
    let counts = f.drain().await;
    assert_eq!((counts.written, counts.echoes), (1, 0), "{counts:?}");
    let member = f.member("ada@example.com");
    assert_eq!(member["status"], "pending");
    assert_eq!(member["merge_fields"]["FNAME"], "Ada");
    assert_eq!(member["merge_fields"]["LIFECYCLE"], "lead");
    assert_eq!(f.mc.writes(), 1);

    // Mailchimp reports the new member (its webhook's `api` source): the status is
    // Mailchimp's, new to HubSpot, so it is written there, once.
    f.mailchimp_event("subscribe", "ada@example.com", "2026-11-27 10:00:00")
        .await;
    let counts = f.drain().await;
    assert_eq!((counts.written, counts.echoes), (1, 0), "{counts:?}");
    assert_eq!(f.contact("ada@example.com").get("mailchimp_status"), Some("pending"));
    assert_eq!(f.hub.writes(), hs_writes + 1);

    // HubSpot reports that write as a property change: our own echo, dropped and counted.
    f.hubspot_event(2, "contact.propertyChange", &ada.id).await;
    let counts = f.drain().await;
    assert_eq!((counts.read, counts.written, counts.echoes), (1, 0, 1), "{counts:?}");
    assert_eq!(f.mc.writes(), 1, "nothing written back to Mailchimp");

    // Ada confirms, then unsubscribes through Mailchimp's form: HubSpot learns each status.
    f.mc.set_status(&subscriber_hash("ada@example.com"), "unsubscribed")
        .unwrap();
    f.mailchimp_event("unsubscribe", "ada@example.com", "2026-11-27 10:05:00")
        .await;
    let counts = f.drain().await;
    assert_eq!((counts.written, counts.echoes), (1, 0), "{counts:?}");
    assert_eq!(
        f.contact("ada@example.com").get("mailchimp_status"),
        Some("unsubscribed")
    );
    f.hubspot_event(3, "contact.propertyChange", &ada.id).await;
    let counts = f.drain().await;
    assert_eq!((counts.written, counts.echoes), (0, 1), "the echo again: {counts:?}");

    // A person renames her and moves her lifecycle stage in HubSpot: Mailchimp gets both,
    // and Mailchimp's `profile` webhook about our write is dropped as our echo.
    f.edit_contact(&ada.id, json!({"firstname": "Augusta", "lifecyclestage": "customer"}))
        .await;
    let hs_writes = f.hub.writes();
    f.hubspot_event(4, "contact.propertyChange", &ada.id).await;
    let counts = f.drain().await;
    assert_eq!((counts.written, counts.echoes), (1, 0), "{counts:?}");
    assert_eq!(f.mc.writes(), 2);
    f.mailchimp_event("profile", "ada@example.com", "2026-11-27 10:10:00")
        .await;
    let counts = f.drain().await;
    assert_eq!((counts.written, counts.echoes), (0, 1), "{counts:?}");
    assert_eq!(f.hub.writes(), hs_writes, "nothing written back to HubSpot");

    // Both sides hold what the ownership rule says, once each.
    let member = f.member("ada@example.com");
    assert_eq!(
        (
            &member["status"],
            &member["merge_fields"]["FNAME"],
            &member["merge_fields"]["LIFECYCLE"]
        ),
        (&json!("unsubscribed"), &json!("Augusta"), &json!("customer"))
    );
    let contact = f.contact("ada@example.com");
    assert_eq!(
        (
            contact.get("firstname"),
            contact.get("lifecyclestage"),
            contact.get("mailchimp_status")
        ),
        (Some("Augusta"), Some("customer"), Some("unsubscribed"))
    );
    assert_eq!((f.hub.count(ObjectType::Contacts), f.mc.member_count()), (1, 1));
    assert!(f.mc.violations().is_empty(), "{:#?}", f.mc.violations());
}

/// Mailchimp -> HubSpot creates contacts; people already in HubSpot under another email are
/// found by phone (linked, not created) or by a similar name at the same company (parked for
/// review); someone HubSpot has under the same email is updated in place; only a stranger is
/// created. The other direction then creates nothing for the linked pair, and finds the
/// parked pair parked already.
#[tokio::test]
async fn new_members_already_in_hubspot_are_linked_or_reviewed_instead_of_duplicated() {
    let f = flow1(Some(field_ownership())).await;
    let add = |email: &str, props: &[(&str, &str)]| {
        let mut all = vec![("email", email)];
        all.extend_from_slice(props);
        f.hub.insert(ObjectType::Contacts, &all)
    };
    let ann = add(
        "ann.lee@work.io",
        &[("firstname", "Ann"), ("lastname", "Lee"), ("phone", "+61400111222")],
    );
    let jon = add(
        "jon.smith@globex.io",
        &[
            ("firstname", "Jon"),
            ("lastname", "Smith"),
            ("company", "Globex Corporation"),
        ],
    );
    let _case = add("case@example.com", &[("firstname", "Casey")]);
    f.mc.add_member(
        "ann@home.io",
        &[("FNAME", "Ann"), ("LNAME", "Lee"), ("PHONE", "0400 111 222")],
    );
    f.mc.add_member(
        "jsmith@mail.io",
        &[("FNAME", "John"), ("LNAME", "Smith"), ("COMPANY", "Globex")],
    );
    f.mc.add_member("Case@Example.com", &[("FNAME", "Casey")]);
    f.mc.add_member("zed@nowhere.io", &[("FNAME", "Zed"), ("LNAME", "Null")]);

    let job = f.rig.run_flow(&f.to_hs, None).await;
    let c = job.counts;
    assert_eq!((c.read, c.failed), (4, 0), "{c:?}");
    assert_eq!(
        (c.matched, c.matches_parked, c.written),
        (2, 1, 2),
        "phone and email matched, the name parked; Zed created and Casey's contact updated: {c:?}"
    );
    assert_eq!(f.hub.count(ObjectType::Contacts), 4, "only Zed is new");
    assert!(f.hub.find(ObjectType::Contacts, "email", "zed@nowhere.io").is_some());
    assert!(f.hub.find(ObjectType::Contacts, "email", "ann@home.io").is_none());
    assert!(f.hub.find(ObjectType::Contacts, "email", "jsmith@mail.io").is_none());
    assert_eq!(
        f.contact("case@example.com").get("mailchimp_status"),
        Some("subscribed"),
        "the contact with the same email is updated, not duplicated"
    );

    // The phone match is linked both ways, to the existing contact.
    let ann_hash = subscriber_hash("ann@home.io");
    let there = f
        .rig
        .deps
        .links
        .get_many(&f.to_hs.id, std::slice::from_ref(&ann_hash))
        .await
        .unwrap();
    assert_eq!(there[&ann_hash].destination_id, ann.id);
    // The similar name waits for a person, with its score and both records.
    let (first, second) = switchyard::store::reviews::link_key(&f.to_hs.id, &f.to_mc.id);
    let reviews = f.rig.deps.reviews.list(&first, &second).await.unwrap();
    assert_eq!(reviews.len(), 1, "{reviews:#?}");
    let review = &reviews[0];
    assert_eq!(review.kind, ReviewKind::Duplicate);
    assert_eq!(review.evidence.as_deref(), Some("name and company"));
    let score = review.score.unwrap();
    assert!((0.6..0.9).contains(&score), "{score}");
    assert_eq!(
        (review.record.as_str(), review.counterpart.as_str()),
        (jon.id.as_str(), subscriber_hash("jsmith@mail.io").as_str()),
        "keyed by the first flow's (HubSpot -> Mailchimp) source side"
    );

    // HubSpot -> Mailchimp: Ann is linked already and Jon is parked already (found again by
    // Mailchimp's member search), so no duplicate member is created for either.
    let members = f.mc.member_count();
    let job = f.rig.run_flow(&f.to_mc, None).await;
    let c = job.counts;
    assert_eq!(c.failed, 0, "{c:?}");
    assert_eq!(c.matches_parked, 1, "{c:?}");
    assert!(
        f.mc.member_json(&subscriber_hash("ann.lee@work.io")).is_none(),
        "Ann's HubSpot email made no second member"
    );
    assert!(f.mc.member_json(&subscriber_hash("jon.smith@globex.io")).is_none());
    assert_eq!(f.mc.member_count(), members, "nothing new in Mailchimp: {c:?}");
    assert_eq!(f.rig.deps.reviews.list(&first, &second).await.unwrap().len(), 1);

    // A person answers: the same man. The pair is linked both ways and neither direction
    // creates him again.
    let err = switchyard::sync::resolve_review(
        &f.rig.deps.flows,
        &f.rig.deps.links,
        &f.rig.deps.reviews,
        &f.to_mc.id,
        &jon.id,
        0,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, LinkError::Duplicate(_)),
        "a duplicate has no winner: {err}"
    );
    switchyard::sync::resolve_duplicate(
        &f.rig.deps.flows,
        &f.rig.deps.links,
        &f.rig.deps.reviews,
        &f.to_mc.id,
        &jon.id,
        true,
        0,
    )
    .await
    .unwrap();
    assert!(f.rig.deps.reviews.list(&first, &second).await.unwrap().is_empty());
    let (hub_writes, mc_writes) = (f.hub.writes(), f.mc.writes());
    for flow in [&f.to_hs, &f.to_mc] {
        let c = f.rig.run_flow(flow, None).await.counts;
        assert_eq!((c.written, c.matches_parked, c.failed), (0, 0, 0), "{}: {c:?}", flow.id);
    }
    assert_eq!((f.hub.writes(), f.mc.writes()), (hub_writes, mc_writes));
    assert_eq!((f.hub.count(ObjectType::Contacts), f.mc.member_count()), (4, members));
    assert!(f.mc.violations().is_empty(), "{:#?}", f.mc.violations());
}

/// A link whose flows disagree about the records they link, or whose duplicate matching
/// cannot work, is refused with the reason, and neither flow is paired.
#[tokio::test]
async fn a_link_whose_flows_disagree_is_refused_with_the_reason() {
    let f = flow1(None).await;
    let ctx = f.rig.deps.link_context();
    // HubSpot -> Mailchimp members, but "back" from Mailchimp's campaigns.
    let campaigns_back = Flow {
        id: "flow_campaigns_to_hs".into(),
        source_stream: "campaigns".into(),
        ..f.to_hs.clone()
    };
    f.rig.deps.flows.create(&campaigns_back).await.unwrap();
    let err = link_flows(&ctx, &f.to_mc.id, &campaigns_back.id, ConflictRule::FieldOwnership)
        .await
        .unwrap_err();
    assert!(matches!(err, LinkError::Records(_)), "{err}");
    assert!(
        err.to_string()
            .contains("writes `members.upsert`, which writes mailchimp's `members` records, but flow_campaigns_to_hs reads `campaigns`"),
        "{err}"
    );
    // Thresholds the wrong way round.
    let err = link_flows(
        &ctx,
        &f.to_mc.id,
        &f.to_hs.id,
        LinkPolicy {
            rule: ConflictRule::FieldOwnership,
            matching: Some(MatchThresholds { link: 0.5, create: 0.8 }),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("create threshold (0.8) must not be above the link threshold (0.5)"),
        "{err}"
    );
    // Archiving deletes without saying what to write.
    let err = link_flows(
        &ctx,
        &f.to_mc.id,
        &f.to_hs.id,
        LinkPolicy {
            on_delete: DeleteRule::Archive,
            ..field_ownership()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, LinkError::Deletes(_)), "{err}");
    assert!(
        err.to_string().contains("needs an archive mapping for each flow"),
        "{err}"
    );
    for id in [&f.to_mc.id, &f.to_hs.id, &campaigns_back.id] {
        let flow = f.rig.deps.flows.get(id).await.unwrap().unwrap();
        assert_eq!(
            (flow.reverse_flow, flow.match_on_create),
            (None, None),
            "{id} left alone"
        );
    }
}

/// A pair linked by phone (different emails on the two sides) is written through its link:
/// HubSpot's change reaches the linked member by its id, not the member that holds the
/// contact's email, and Mailchimp's change reaches the linked contact, not a new contact under
/// the member's email. Each side keeps its own email.
#[tokio::test]
async fn a_pair_linked_by_phone_is_updated_through_its_link_not_upserted_by_email() {
    let f = flow1(Some(field_ownership())).await;
    let ann = f.hub.insert(
        ObjectType::Contacts,
        &[
            ("email", "ann.lee@work.io"),
            ("firstname", "Ann"),
            ("lastname", "Lee"),
            ("phone", "+61400111222"),
        ],
    );
    f.mc.add_member(
        "ann@home.io",
        &[
            ("FNAME", "Ann"),
            ("LNAME", "Lee"),
            ("PHONE", "0400 111 222"),
            ("ADDRESS", "c/o Bob.Lee@lee.io, 1 Lee St"),
        ],
    );
    let c = f.rig.run_flow(&f.to_hs, None).await.counts;
    assert_eq!((c.matched, c.written, c.failed), (1, 0, 0), "linked by phone: {c:?}");
    // The member names a second person: the link the match made is found by that address too
    // (a pointer in his subject partition; GDPR export and erasure follow it).
    let pointed: Vec<_> =
        switchyard::store::subjects::SubjectStore::new(f.rig.env.clients.dynamodb.clone(), &f.rig.env.table)
            .items(&switchyard::subjects::subject_key(&f.to_hs.tenant, "bob.lee@lee.io"))
            .await
            .unwrap()
            .iter()
            .filter_map(switchyard::store::subjects::pointer_target)
            .collect();
    assert_eq!(pointed.len(), 1, "{pointed:?}");
    assert_eq!(pointed[0].0, "FLOW#flow_mc_to_hs", "{pointed:?}");
    // Later someone else's member appears in Mailchimp under the contact's email.
    f.mc.add_member("ann.lee@work.io", &[("FNAME", "Other"), ("LNAME", "Person")]);
    let members = f.mc.member_count();
    let contacts = f.hub.count(ObjectType::Contacts);

    // Ann is renamed in HubSpot: the member linked to her gets the name, by its id.
    f.edit_contact(&ann.id, json!({"firstname": "Annie"})).await;
    f.hubspot_event(11, "contact.propertyChange", &ann.id).await;
    let counts = f.drain().await;
    assert_eq!(counts.written, 1, "{counts:?}");
    let linked = f.member("ann@home.io");
    assert_eq!(linked["merge_fields"]["FNAME"], "Annie");
    assert_eq!(linked["email_address"], "ann@home.io", "the member keeps its own email");
    let other = f.member("ann.lee@work.io");
    assert_eq!(
        other["merge_fields"]["FNAME"], "Other",
        "the member holding the contact's email is someone else, untouched"
    );
    assert_eq!(f.mc.member_count(), members);

    // Ann unsubscribes in Mailchimp: her contact learns it, no contact is made for ann@home.io.
    f.mc.set_status(&subscriber_hash("ann@home.io"), "unsubscribed")
        .unwrap();
    f.mailchimp_event("unsubscribe", "ann@home.io", "2026-11-27 11:00:00")
        .await;
    let counts = f.drain().await;
    assert_eq!(counts.written, 1, "{counts:?}");
    let contact = f.hub.object(ObjectType::Contacts, &ann.id).expect("Ann's contact");
    assert_eq!(contact.get("mailchimp_status"), Some("unsubscribed"));
    assert_eq!(
        contact.get("email"),
        Some("ann.lee@work.io"),
        "the contact keeps its own email"
    );
    assert!(f.hub.find(ObjectType::Contacts, "email", "ann@home.io").is_none());
    assert_eq!(f.hub.count(ObjectType::Contacts), contacts);
    assert!(f.mc.violations().is_empty(), "{:#?}", f.mc.violations());
}

/// Two contacts synced to Mailchimp and back, both directions linked.
async fn two_synced(f: &Flow1) -> (hubspot::CrmObject, hubspot::CrmObject) {
    let ada = f.hub.insert(
        ObjectType::Contacts,
        &[
            ("email", "ada@example.com"),
            ("firstname", "Ada"),
            ("lastname", "Lovelace"),
        ],
    );
    let bob = f.hub.insert(
        ObjectType::Contacts,
        &[("email", "bob@example.com"), ("firstname", "Bob"), ("lastname", "Moog")],
    );
    let c = f.rig.run_flow(&f.to_mc, None).await.counts;
    assert_eq!((c.written, c.failed), (2, 0), "{c:?}");
    let c = f.rig.run_flow(&f.to_hs, None).await.counts;
    assert_eq!((c.written, c.failed), (2, 0), "the statuses reach HubSpot: {c:?}");
    (ada, bob)
}

/// `propagate`: a contact deleted in HubSpot is deleted (archived) in Mailchimp through the
/// delete write; Mailchimp's delete event for it is our own echo, and neither a webhook nor a
/// full run brings either record back.
#[tokio::test]
async fn a_contact_deleted_in_hubspot_is_deleted_in_mailchimp_and_the_echo_is_dropped() {
    let f = flow1(Some(LinkPolicy {
        on_delete: DeleteRule::Propagate,
        ..field_ownership()
    }))
    .await;
    assert_eq!(f.to_hs.on_delete, DeleteRule::Propagate);
    let (ada, _bob) = two_synced(&f).await;
    let (hs_writes, mc_writes) = (f.hub.writes(), f.mc.writes());

    f.delete_contact(&ada.id).await;
    f.hubspot_event(21, "contact.deletion", &ada.id).await;
    let counts = f.drain().await;
    assert_eq!((counts.deleted, counts.written), (1, 0), "{counts:?}");
    assert_eq!(f.member("ada@example.com")["status"], "archived");
    assert_eq!(f.mc.writes(), mc_writes + 1, "one delete");

    // Mailchimp reports the archive we made: our echo, nothing written to HubSpot.
    f.mailchimp_deleted("ada@example.com", "2026-11-27 12:00:00").await;
    let counts = f.drain().await;
    assert_eq!((counts.deleted, counts.echoes, counts.written), (0, 1, 0), "{counts:?}");
    // The next full runs bring back neither side.
    for flow in [&f.to_hs, &f.to_mc] {
        let c = f.rig.run_flow(flow, None).await.counts;
        assert_eq!((c.written, c.deleted, c.failed), (0, 0, 0), "{}: {c:?}", flow.id);
    }
    assert!(f.hub.find(ObjectType::Contacts, "email", "ada@example.com").is_none());
    assert_eq!(f.hub.count(ObjectType::Contacts), 1);
    assert_eq!(f.hub.writes(), hs_writes, "nothing written to HubSpot");
    assert_eq!(f.member("ada@example.com")["status"], "archived");
    assert!(f.mc.violations().is_empty(), "{:#?}", f.mc.violations());
}

/// `archive`: a contact deleted in HubSpot with no webhook (a lost delivery) is found missing by
/// the next full run and its member unsubscribed by the archive mapping; a member archived in
/// Mailchimp marks its contact. The archive writes' own webhooks write nothing back, and the
/// retired pairs are not brought back.
#[tokio::test]
async fn deleted_records_are_archived_on_the_other_side_and_stay_retired() {
    let f = flow1(Some(LinkPolicy {
        on_delete: DeleteRule::Archive,
        archive: Some([
            r#"{status: "unsubscribed"}"#.into(),
            r#"{properties: {mailchimp_status: "archived"}}"#.into(),
        ]),
        ..field_ownership()
    }))
    .await;
    assert_eq!(f.to_mc.archive_mapping.as_deref(), Some(r#"{status: "unsubscribed"}"#));
    let (ada, bob) = two_synced(&f).await;

    // Bob is deleted in HubSpot and the webhook is lost: the full run misses him.
    f.delete_contact(&bob.id).await;
    let job = f.rig.run_flow(&f.to_mc, None).await;
    assert_eq!(
        (job.counts.deleted, job.counts.written, job.counts.failed),
        (1, 0, 0),
        "{:?}",
        job.counts
    );
    assert_eq!(f.member("bob@example.com")["status"], "unsubscribed");
    // Mailchimp's reconciliation reads Bob's member: retired, so no contact is made again.
    let hs_writes = f.hub.writes();
    let c = f.rig.run_flow(&f.to_hs, None).await.counts;
    assert_eq!((c.written, c.failed), (0, 0), "{c:?}");
    assert!(f.hub.find(ObjectType::Contacts, "email", "bob@example.com").is_none());
    assert_eq!(f.hub.writes(), hs_writes);

    // Ada is archived in Mailchimp: her contact is marked, and HubSpot's webhook about that
    // write changes nothing in Mailchimp.
    f.mc.archive(&subscriber_hash("ada@example.com")).unwrap();
    f.mailchimp_deleted("ada@example.com", "2026-11-27 12:30:00").await;
    let counts = f.drain().await;
    assert_eq!(counts.deleted, 1, "{counts:?}");
    assert_eq!(f.contact("ada@example.com").get("mailchimp_status"), Some("archived"));
    let mc_writes = f.mc.writes();
    f.hubspot_event(31, "contact.propertyChange", &ada.id).await;
    let counts = f.drain().await;
    assert_eq!(counts.written, 0, "{counts:?}");
    assert_eq!(f.mc.writes(), mc_writes);
    assert_eq!(f.member("ada@example.com")["status"], "archived");
    assert!(f.mc.violations().is_empty(), "{:#?}", f.mc.violations());
}

/// `ignore`: the deletion is recorded (the pair retired), nothing is written to the other side,
/// and the other side's record is not copied back.
#[tokio::test]
async fn an_ignored_delete_leaves_the_other_side_alone_and_does_not_resurrect() {
    let f = flow1(Some(field_ownership())).await;
    assert_eq!(f.to_mc.on_delete, DeleteRule::Ignore);
    let (ada, _bob) = two_synced(&f).await;
    let mc_writes = f.mc.writes();
    f.delete_contact(&ada.id).await;
    f.hubspot_event(41, "contact.deletion", &ada.id).await;
    let counts = f.drain().await;
    assert_eq!((counts.deleted, counts.written), (1, 0), "{counts:?}");
    assert_eq!(f.mc.writes(), mc_writes);
    assert_eq!(f.member("ada@example.com")["status"], "pending");
    let c = f.rig.run_flow(&f.to_hs, None).await.counts;
    assert_eq!((c.written, c.failed), (0, 0), "{c:?}");
    assert!(f.hub.find(ObjectType::Contacts, "email", "ada@example.com").is_none());
}

/// HubSpot says who made a change (`changeSource`, `sourceId`): a change our own app made is
/// our echo even when the contact's fields differ from what the ledger holds (HubSpot added or
/// normalised a value after our write), so it is dropped and counted, nothing written to
/// Mailchimp. The same change made by another app, or by a person, is synced.
#[tokio::test]
async fn a_hubspot_change_our_own_app_made_is_an_echo_even_when_the_fields_differ() {
    let f = flow1(Some(field_ownership())).await;
    let (ada, _bob) = two_synced(&f).await;
    let mc_writes = f.mc.writes();
    f.edit_contact(&ada.id, json!({"firstname": "Ada (normalised)"})).await;
    f.hubspot_event_by(
        51,
        "contact.propertyChange",
        &ada.id,
        Some(("INTEGRATION", HUBSPOT_APP_ID)),
    )
    .await;
    let counts = f.drain().await;
    assert_eq!((counts.echoes, counts.written, counts.read), (1, 0, 0), "{counts:?}");
    assert_eq!(f.mc.writes(), mc_writes);
    assert_eq!(f.member("ada@example.com")["merge_fields"]["FNAME"], "Ada");

    // Another app's change, then a person's: each is synced.
    for (n, origin) in [(52, ("INTEGRATION", "999001")), (53, ("CRM_UI", HUBSPOT_APP_ID))] {
        f.edit_contact(&ada.id, json!({"firstname": format!("Ada {n}")})).await;
        f.hubspot_event_by(n, "contact.propertyChange", &ada.id, Some(origin))
            .await;
        let counts = f.drain().await;
        assert_eq!((counts.echoes, counts.written), (0, 1), "{origin:?}: {counts:?}");
        assert_eq!(f.member("ada@example.com")["merge_fields"]["FNAME"], format!("Ada {n}"));
    }
    assert!(f.mc.violations().is_empty(), "{:#?}", f.mc.violations());
}
