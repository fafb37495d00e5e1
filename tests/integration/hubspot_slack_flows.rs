//! Example flow 6 end to end (`examples/hubspot-slack-approvals/`): a HubSpot deal that reaches
//! the stage awaiting approval is posted to a Slack channel with Approve / Reject buttons
//! (Block Kit), on HubSpot's signed v3 webhook, through the receiver and the sync queue; a
//! click comes back as Slack's signed interactivity post (form-encoded `payload=<JSON>`, v0
//! signature), through the receiver and the queue again, and moves the deal's stage in
//! HubSpot. The deal's own change event that follows posts nothing (the mapping drops deals not
//! awaiting approval), so the loop ends there.

use serde_json::{json, Value};
use switchyard::queue::{Envelope, SyncMessage};
use switchyard::store::flows::{Flow, SyncMode};
use switchyard::sync::{self, PageCounts};
use switchyard::webhook::Scheme;
use switchyard_fakes::hubspot::{self, ObjectType};
use switchyard_fakes::slack::{self, SlackChannel, SlackConfig};

use crate::sync::Rig;

const DEAL_TO_SLACK: &str = include_str!("../../examples/hubspot-slack-approvals/deal-to-slack.jq");
const SLACK_TO_HUBSPOT: &str = include_str!("../../examples/hubspot-slack-approvals/slack-to-hubspot.jq");
/// HubSpot's app secret (v3 signatures) and the Slack app's signing secret (v0 signatures).
const HUBSPOT_SECRET: &str = "hs-app-secret-3d61a0";
const SIGNING_SECRET: &str = "slack-signing-secret-c41e9b27";
const FORM: &str = "application/x-www-form-urlencoded";

struct Flow6 {
    rig: Rig,
    slack: switchyard_fakes::FakeHandle<slack::Slack>,
    hs_scheme: Scheme,
}

impl Flow6 {
    /// HubSpot posts one v3 event about deal `id`, signed.
    async fn hubspot_event(&self, event_id: u64, kind: &str, id: &str, stage: Option<&str>) {
        let mut event = json!({
            "eventId": event_id, "subscriptionId": 9, "portalId": 62515, "appId": 1160452,
            "occurredAt": 1_764_237_600_000_u64, "subscriptionType": kind,
            "attemptNumber": 0, "objectId": id.parse::<u64>().unwrap(), "changeFlag": "NEW",
        });
        if let Some(stage) = stage {
            event["propertyName"] = json!("dealstage");
            event["propertyValue"] = json!(stage);
            event["changeSource"] = json!("CRM_UI");
        }
        let body = serde_json::to_vec(&json!([event])).unwrap();
        let status = self
            .rig
            .deliver_with("conn_hs", &self.hs_scheme, HUBSPOT_SECRET, &body, &[])
            .await;
        assert_eq!(status, 200, "HubSpot's delivery is accepted");
    }

    /// Slack posts the click to the Interactivity Request URL, signed with `secret`.
    async fn slack_posts(&self, payload: &Value, secret: &str) -> i64 {
        let body = slack::interactivity_body(payload);
        self.rig
            .deliver_with(
                "conn_slack",
                &Scheme::Slack,
                secret,
                body.as_bytes(),
                &[("Content-Type", FORM)],
            )
            .await
    }

    /// A person clicks `action_id` on the message `ts`; Slack delivers it, signed.
    async fn click(&self, ts: &str, action_id: &str) {
        let payload = self.slack.click(ts, action_id, "U0MANAGER").expect("the button exists");
        assert_eq!(
            self.slack_posts(&payload, SIGNING_SECRET).await,
            200,
            "Slack's delivery is accepted"
        );
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
                    total.unchanged += counts.unchanged;
                    total.filtered += counts.filtered;
                }
            }
        }
    }

    fn stage(&self, id: &str) -> String {
        let deal = self.rig.hubspot.object(ObjectType::Deals, id).expect("the deal exists");
        deal.get("dealstage").unwrap_or_default().to_owned()
    }
}

/// HubSpot (deals, receiving webhooks) and a Slack workspace with `#deal-approvals`
/// (receiving interactivity), with the example's two flows between them.
async fn flow6() -> Flow6 {
    for secret in [HUBSPOT_SECRET, SIGNING_SECRET, slack::TEST_TOKEN] {
        switchyard_tests::log_capture::known_secret(secret);
    }
    let rig = Rig::new().await;
    let slack = slack::start(SlackConfig {
        channels: vec![SlackChannel::new("C0APPROVAL1", "deal-approvals")],
        ..SlackConfig::default()
    });
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
    assert_eq!(scheme("slack"), Scheme::Slack);
    rig.connect_receiving(
        "conn_hs",
        "hubspot",
        &rig.hubspot.base_url,
        json!({"access_token": hubspot::TEST_TOKEN}),
        (hs_scheme.clone(), HUBSPOT_SECRET),
    )
    .await;
    rig.connect_receiving(
        "conn_slack",
        "slack",
        &slack.url("/api"),
        json!({"bot_token": slack::TEST_TOKEN}),
        (Scheme::Slack, SIGNING_SECRET),
    )
    .await;
    for flow in [
        Flow {
            id: "flow_deals_to_slack".into(),
            name: "Deals awaiting approval to Slack".into(),
            source_connection: "conn_hs".into(),
            source_stream: "deals".into(),
            destination_connection: "conn_slack".into(),
            destination_operation: "chat.post_message".into(),
            mapping: DEAL_TO_SLACK.into(),
            mode: SyncMode::Full,
            ..rig.flow.clone()
        },
        Flow {
            id: "flow_clicks_to_deals".into(),
            name: "Approval clicks to deal stages".into(),
            source_connection: "conn_slack".into(),
            source_stream: "interactions".into(),
            destination_connection: "conn_hs".into(),
            destination_operation: "deals.update".into(),
            mapping: SLACK_TO_HUBSPOT.into(),
            mode: SyncMode::Full,
            ..rig.flow.clone()
        },
    ] {
        rig.deps.flows.create(&flow).await.unwrap();
    }
    Flow6 { rig, slack, hs_scheme }
}

#[tokio::test]
async fn a_deal_awaiting_approval_is_posted_to_slack_and_the_click_moves_its_stage() {
    let f = flow6().await;
    let globex = f.rig.hubspot.insert(
        ObjectType::Deals,
        &[
            ("dealname", "Globex renewal"),
            ("amount", "48000"),
            ("pipeline", "default"),
            ("dealstage", "contractsent"),
        ],
    );
    let initech = f.rig.hubspot.insert(
        ObjectType::Deals,
        &[
            ("dealname", "Initech pilot"),
            ("pipeline", "default"),
            ("dealstage", "qualifiedtobuy"),
        ],
    );

    // Globex reaches the stage awaiting approval; Initech is created elsewhere in the pipeline.
    f.hubspot_event(101, "deal.propertyChange", &globex.id, Some("contractsent"))
        .await;
    f.hubspot_event(102, "deal.creation", &initech.id, None).await;
    let counts = f.drain().await;
    assert_eq!((counts.written, counts.filtered), (1, 1), "{counts:?}");
    let posted = f.slack.messages_in("deal-approvals");
    assert_eq!(posted.len(), 1, "only Globex awaits approval: {posted:#?}");
    let message = &posted[0];
    assert_eq!(message.text.as_deref(), Some("Approval needed: Globex renewal (48000)"));
    let buttons = &message.blocks.as_ref().unwrap()[1]["elements"];
    assert_eq!(buttons[0]["action_id"], "approve");
    assert_eq!(buttons[0]["value"], globex.id.as_str());
    assert_eq!(buttons[1]["action_id"], "reject");

    // A forged click (another secret) is refused by the receiver and queues nothing.
    let forged = f.slack.click(&message.ts, "approve", "U0MALLORY").unwrap();
    assert_eq!(f.slack_posts(&forged, "not-the-signing-secret").await, 401);
    assert_eq!(f.drain().await, PageCounts::default(), "nothing was queued");
    assert_eq!(f.stage(&globex.id), "contractsent");

    // The manager approves: the deal moves to the approved stage.
    let hub_writes = f.rig.hubspot.writes();
    f.click(&message.ts, "approve").await;
    let counts = f.drain().await;
    assert_eq!(counts.written, 1, "{counts:?}");
    assert_eq!(f.stage(&globex.id), "approved");
    assert_eq!(f.rig.hubspot.writes(), hub_writes + 1);

    // HubSpot reports the stage change we made: the deal no longer awaits approval, so
    // nothing is posted (no loop).
    f.hubspot_event(103, "deal.propertyChange", &globex.id, Some("approved"))
        .await;
    let counts = f.drain().await;
    assert_eq!((counts.written, counts.filtered), (0, 1), "{counts:?}");
    assert_eq!(f.slack.messages().len(), 1);

    // A second thought: Reject on the same message moves the deal again; the same choice twice
    // writes nothing the second time.
    f.click(&message.ts, "reject").await;
    assert_eq!(f.drain().await.written, 1);
    assert_eq!(f.stage(&globex.id), "rejected");
    let hub_writes = f.rig.hubspot.writes();
    f.click(&message.ts, "reject").await;
    let counts = f.drain().await;
    assert_eq!((counts.written, counts.unchanged), (0, 1), "{counts:?}");
    assert_eq!(f.rig.hubspot.writes(), hub_writes);
    assert_eq!(f.stage(&initech.id), "qualifiedtobuy", "the other deal is untouched");
}

/// Slack's `interactions` stream is fed by webhooks only (no API lists the clicks): a flow from
/// it runs on its events, so a schedule on it is refused naming the field, and the same flow
/// without one is accepted.
#[tokio::test]
async fn a_schedule_on_a_webhook_only_stream_is_refused_naming_the_field() {
    let f = flow6().await;
    let deps = &f.rig.deps;
    let draft = |every: Option<u64>| switchyard::admin::FlowDraft {
        tenant: f.rig.flow.tenant.clone(),
        id: Some("flow_clicks_scheduled".into()),
        name: None,
        source: "conn_slack".into(),
        stream: "interactions".into(),
        destination: "conn_hs".into(),
        operation: "deals.update".into(),
        mapping: SLACK_TO_HUBSPOT.into(),
        samples: None,
        mode: SyncMode::Incremental,
        every,
        retry_schedule_secs: None,
        event_types: vec![],
        lookups: vec![],
    };
    let err = switchyard::admin::build_flow(&deps.registry, &deps.connections, &deps.flows, draft(Some(300)), 0)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, switchyard::admin::FlowRejection::Field { field: "every", message }
            if message.contains("fed by webhooks only") && message.contains("leave out the schedule")),
        "{err}"
    );
    let flow = switchyard::admin::build_flow(&deps.registry, &deps.connections, &deps.flows, draft(None), 0)
        .await
        .expect("the same flow without a schedule is accepted");
    assert_eq!(flow.schedule_interval_secs, None);
}
