//! Example flow 2 end to end (`examples/stripe-hubspot/`): Stripe customers and subscriptions
//! become HubSpot contacts and deals, each deal associated with its customer's contact through
//! the record links (a chain: the association step reads the ids the contact and deal steps
//! wrote). localstripe plays Stripe; each change arrives as Stripe's signed webhook, through the
//! receiver, the sync queue and connector-sync's handler.

use serde_json::{json, Value};
use switchyard::clock::{Clock, SystemClock};
use switchyard::store::flows::{Flow, LinkLookup, SyncMode};
use switchyard::webhook::Scheme;
use switchyard_fakes::hubspot::ObjectType;

use crate::sync::{Rig, WEBHOOK_SECRET};

const CUSTOMERS_TO_CONTACTS: &str = include_str!("../../examples/stripe-hubspot/customers-to-contacts.jq");
const SUBSCRIPTIONS_TO_DEALS: &str = include_str!("../../examples/stripe-hubspot/subscriptions-to-deals.jq");
const DEAL_CONTACT_ASSOCIATION: &str = include_str!("../../examples/stripe-hubspot/deal-contact-association.jq");

/// Stripe delivers `object` as the event `event_id` of `kind`, signed.
async fn stripe_event(rig: &Rig, event_id: &str, kind: &str, object: &Value) {
    let body = serde_json::to_vec(&json!({
        "id": event_id, "object": "event", "type": kind, "created": SystemClock.now_unix(),
        "api_version": "2024-06-20", "livemode": false, "pending_webhooks": 1,
        "data": {"object": object},
    }))
    .unwrap();
    let status = rig
        .deliver_with("conn_stripe", &Scheme::Stripe, WEBHOOK_SECRET, &body, &[])
        .await;
    assert_eq!(status, 200, "Stripe's delivery is accepted");
}

#[tokio::test]
async fn stripe_customers_and_subscriptions_become_associated_hubspot_contacts_and_deals() {
    // The rig's flow is step 1: Stripe customers -> HubSpot contacts, by email.
    let rig = Rig::with_mapping(CUSTOMERS_TO_CONTACTS).await;
    let contacts_flow = rig.flow.clone();
    let deals_flow = Flow {
        id: "flow_subscriptions_to_deals".into(),
        name: "Stripe subscriptions to HubSpot deals".into(),
        source_stream: "subscriptions".into(),
        destination_operation: "deals.create".into(),
        mapping: SUBSCRIPTIONS_TO_DEALS.into(),
        mode: SyncMode::Full,
        ..contacts_flow.clone()
    };
    let association_flow = Flow {
        id: "flow_deal_contacts".into(),
        name: "Deals to their customers' contacts".into(),
        source_stream: "subscriptions".into(),
        destination_operation: "deals.associate_contact".into(),
        mapping: DEAL_CONTACT_ASSOCIATION.into(),
        mode: SyncMode::Full,
        lookups: vec![
            LinkLookup {
                name: "deal".into(),
                flow: deals_flow.id.clone(),
                key: "/id".into(),
            },
            LinkLookup {
                name: "contact".into(),
                flow: contacts_flow.id.clone(),
                key: "/customer".into(),
            },
        ],
        ..deals_flow.clone()
    };
    // Created in the order that would run the association first, were the chain not ordered.
    rig.deps.flows.create(&association_flow).await.unwrap();
    rig.deps.flows.create(&deals_flow).await.unwrap();

    let plan = rig.stripe.create_monthly_plan("pro-monthly", "Pro", 4900).await;
    let ada = rig
        .stripe
        .create_paying_customer("ada@example.com", "Ada Lovelace")
        .await;
    stripe_event(&rig, "evt_cus_ada", "customer.created", &ada).await;
    assert_eq!(rig.drain_through_handler().await, 1);
    let contact = rig
        .hubspot
        .find(ObjectType::Contacts, "email", "ada@example.com")
        .expect("the customer is a contact");
    assert_eq!(contact.get("stripe_customer_id"), ada["id"].as_str());

    // Ada subscribes: one deal, associated with her contact, on one event.
    let subscription = rig
        .stripe
        .create_subscription(ada["id"].as_str().unwrap(), plan["id"].as_str().unwrap())
        .await;
    let sub_id = subscription["id"].as_str().unwrap();
    stripe_event(&rig, "evt_sub_created", "customer.subscription.created", &subscription).await;
    // Stripe delivers it again: acknowledged, not queued twice.
    stripe_event(&rig, "evt_sub_created", "customer.subscription.created", &subscription).await;
    assert_eq!(rig.drain_through_handler().await, 1, "one event handled");
    let deals = rig.hubspot.objects(ObjectType::Deals);
    assert_eq!(deals.len(), 1, "{deals:#?}");
    let deal = &deals[0];
    assert_eq!(
        deal.get("dealname"),
        Some(format!("Pro subscription {sub_id}").as_str())
    );
    assert_eq!(deal.get("amount"), Some("588"), "a year of $49");
    assert_eq!(deal.get("dealstage"), Some("closedwon"));
    assert_eq!(deal.get("pipeline"), Some("default"));
    assert_eq!(
        rig.hubspot
            .associations(ObjectType::Deals, &deal.id, ObjectType::Contacts),
        std::slice::from_ref(&contact.id)
    );
    assert_eq!(
        rig.hubspot
            .associations(ObjectType::Contacts, &contact.id, ObjectType::Deals),
        std::slice::from_ref(&deal.id),
        "seen from the contact too"
    );

    // The subscription is cancelled: the same deal is lost; the association is not written again.
    let writes = rig.hubspot.writes();
    let cancelled = rig.stripe.cancel_subscription(sub_id).await;
    assert_eq!(cancelled["status"], "canceled");
    stripe_event(&rig, "evt_sub_deleted", "customer.subscription.deleted", &cancelled).await;
    assert_eq!(rig.drain_through_handler().await, 1);
    let deals = rig.hubspot.objects(ObjectType::Deals);
    assert_eq!(deals.len(), 1, "the same deal, not a second one");
    assert_eq!(deals[0].get("dealstage"), Some("closedlost"));
    assert_eq!(rig.hubspot.writes(), writes + 1, "one deal update, nothing else");

    // A subscription whose customer never reached HubSpot (no contact yet) gets its deal; the
    // association waits, and is made by the next run once the contact exists.
    let bob = rig.stripe.create_paying_customer("bob@example.com", "Bob Moog").await;
    let bobs = rig
        .stripe
        .create_subscription(bob["id"].as_str().unwrap(), plan["id"].as_str().unwrap())
        .await;
    stripe_event(&rig, "evt_sub_bob", "customer.subscription.created", &bobs).await;
    assert_eq!(rig.drain_through_handler().await, 1);
    let bobs_deal = rig
        .hubspot
        .objects(ObjectType::Deals)
        .into_iter()
        .find(|d| {
            d.get("dealname")
                .is_some_and(|n| n.ends_with(bobs["id"].as_str().unwrap()))
        })
        .expect("Bob's deal");
    assert!(rig
        .hubspot
        .associations(ObjectType::Deals, &bobs_deal.id, ObjectType::Contacts)
        .is_empty());
    let job = rig.run_flow(&contacts_flow, Some(SyncMode::Full)).await;
    assert_eq!(job.counts.failed, 0, "{:?}", job.counts);
    let bob_contact = rig
        .hubspot
        .find(ObjectType::Contacts, "email", "bob@example.com")
        .expect("Bob's contact");
    let job = rig.run_flow(&association_flow, None).await;
    assert_eq!((job.counts.written, job.counts.failed), (1, 0), "{:?}", job.counts);
    assert_eq!(
        rig.hubspot
            .associations(ObjectType::Deals, &bobs_deal.id, ObjectType::Contacts),
        std::slice::from_ref(&bob_contact.id)
    );
}
