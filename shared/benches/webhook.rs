//! The receiver's CPU hot path without I/O: verify + parse + envelope building of a 10 KB
//! Stripe event. Budget (ARCHITECTURE.md): well under 50 microseconds.
//!
//!     cargo bench -p switchyard --bench webhook

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hmac::{Hmac, Mac};
use secrecy::SecretString;
use sha2::Sha256;
use switchyard::config::ReceiverConfig;
use switchyard::receiver::{prepare, InboundRequest, Prepared};
use switchyard::store::connections::{Connection, WebhookSettings};
use switchyard::webhook::{Headers, Scheme, SigningSecrets};

const SECRET: &str = "whsec_bench_secret";
const NOW: i64 = 1_763_800_000;

/// A Stripe `customer.updated` event padded with metadata to 10 KB.
fn stripe_event_10kb() -> Vec<u8> {
    let mut metadata = serde_json::Map::new();
    let mut i = 0;
    loop {
        let body = serde_json::json!({
            "id": "evt_1PgafTB7WZ01zgkWbench",
            "object": "event",
            "api_version": "2024-06-20",
            "created": NOW,
            "type": "customer.updated",
            "livemode": false,
            "pending_webhooks": 1,
            "request": {"id": "req_bench", "idempotency_key": null},
            "data": {"object": {
                "id": "cus_bench", "object": "customer", "email": "jenny.rosen@example.com",
                "name": "Jenny Rosen", "currency": "usd", "balance": 0, "created": NOW,
                "metadata": metadata,
            }},
        });
        let bytes = serde_json::to_vec(&body).unwrap();
        if bytes.len() >= 10 * 1024 {
            return bytes;
        }
        metadata.insert(
            format!("key_{i:04}"),
            serde_json::Value::String(format!("value number {i} for the bench")),
        );
        i += 1;
    }
}

fn bench_receiver(c: &mut Criterion) {
    let body = stripe_event_10kb();
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{NOW}.").as_bytes());
    mac.update(&body);
    let sig = format!("t={NOW},v1={}", hex::encode(mac.finalize().into_bytes()));
    let req = InboundRequest {
        connection_id: "conn_bench".into(),
        method: "POST".into(),
        url: "https://hooks.example.com/hooks/conn_bench".into(),
        headers: Headers::from_pairs([
            ("content-type", "application/json; charset=utf-8"),
            ("stripe-signature", sig.as_str()),
            ("user-agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)"),
        ]),
        body: body.clone(),
        request_id: "bench".into(),
    };
    let config = ReceiverConfig::from_lookup(|k| match k {
        "TABLE_NAME" => Some("t".into()),
        "SYNC_QUEUE_URL" => Some("q".into()),
        _ => None,
    })
    .unwrap();
    let conn = Connection {
        id: "conn_bench".into(),
        tenant: "bench".into(),
        provider: "stripe".into(),
        name: "bench".into(),
        webhook: Some(WebhookSettings {
            scheme: Scheme::Stripe,
            tolerance_secs: None,
        }),
        secret_arn: Some("arn".into()),
        config: Default::default(),
        created_at: NOW,
    };
    let secrets = SigningSecrets {
        current: SecretString::from(SECRET.to_string()),
        previous: None,
    };
    // The bench must measure the success path.
    match prepare(&config, &conn, &Scheme::Stripe, 300, &secrets, &req, NOW) {
        Ok((Prepared::Events(evs), _)) if evs.len() == 1 => {}
        other => panic!("bench input does not verify: {other:?}"),
    }

    let mut group = c.benchmark_group("receiver");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("stripe_10kb_verify_parse_envelope", |b| {
        b.iter(|| {
            prepare(
                black_box(&config),
                &conn,
                &Scheme::Stripe,
                300,
                &secrets,
                black_box(&req),
                NOW,
            )
            .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench_receiver);
criterion_main!(benches);
