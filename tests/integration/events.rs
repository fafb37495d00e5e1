//! The sample events in events/webhook-receiver/ stay valid: each is replayed through the
//! receiver against the emulator, signed with its documented test secret.

use std::path::PathBuf;
use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use secrecy::SecretString;
use switchyard::admin::{create_connection, NewWebhookSecrets};
use switchyard::clock::FixedClock;
use switchyard::config::ReceiverConfig;
use switchyard::receiver::{handle, ReceiverDeps};
use switchyard::secrets::SecretStore;
use switchyard::store::connections::{Connection, ConnectionStore, WebhookSettings};
use switchyard::webhook::Scheme;
use switchyard_tests::samples::{self, SAMPLES, SAMPLE_TIME};
use switchyard_tests::TestEnv;

fn events_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

#[test]
fn committed_samples_match_the_generator() {
    for sample in SAMPLES {
        let path = events_root()
            .join("webhook-receiver")
            .join(format!("{}.json", sample.name));
        let committed: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
                .unwrap();
        let fresh = samples::build_event(&events_root(), sample, SAMPLE_TIME).unwrap();
        assert_eq!(
            committed,
            fresh,
            "{} is stale: run `cargo run -p switchyard-tests --example make_events`",
            path.display()
        );
    }
    let path = events_root().join("webhook-receiver/connections.json");
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
            .unwrap();
    assert_eq!(
        committed,
        samples::connections_manifest(),
        "{} is stale: run `cargo run -p switchyard-tests --example make_events`",
        path.display()
    );
}

#[tokio::test]
async fn every_sample_event_is_accepted() {
    let env = TestEnv::new().await;
    let clock = FixedClock::at(SAMPLE_TIME);
    let config = ReceiverConfig::from_lookup(|k| match k {
        "TABLE_NAME" => Some(env.table.clone()),
        "SYNC_QUEUE_URL" => Some(env.queue_url.clone()),
        _ => None,
    })
    .unwrap();
    let deps = ReceiverDeps::new(config, &env.clients, Arc::new(clock));
    let connections = ConnectionStore::new(env.clients.dynamodb.clone(), &env.table);
    let secrets = SecretStore::new(env.clients.secrets.clone(), std::time::Duration::ZERO);

    for sample in SAMPLES {
        if connections.get(sample.connection_id).await.unwrap().is_none() {
            let conn = Connection {
                id: sample.connection_id.into(),
                tenant: "demo".into(),
                provider: sample.scheme.into(),
                name: sample.name.into(),
                webhook: Some(WebhookSettings {
                    scheme: Scheme::from_name(sample.scheme).unwrap(),
                    tolerance_secs: None,
                    handshake_until: None,
                }),
                secret_arn: None,
                config: Default::default(),
                created_at: SAMPLE_TIME,
            };
            let secret = samples::secret(&events_root(), sample).unwrap();
            create_connection(
                &connections,
                &secrets,
                conn,
                Some(NewWebhookSecrets {
                    current: SecretString::from(secret),
                    previous: None,
                }),
                Default::default(),
            )
            .await
            .unwrap();
        }
        let path = events_root()
            .join("webhook-receiver")
            .join(format!("{}.json", sample.name));
        let event: ApiGatewayV2httpRequest = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{} is not an API Gateway v2 event: {e}", path.display()));
        let resp = handle(&deps, event).await;
        assert_eq!(resp.status_code, 200, "{}: {:?}", sample.name, resp.body);
        let mut ids: Vec<String> = env
            .drain_queue()
            .await
            .iter()
            .map(|m| m["event_id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        let mut want: Vec<&str> = sample.event_ids.to_vec();
        want.sort();
        assert_eq!(ids, want, "{}: enqueued event ids", sample.name);
    }
}
