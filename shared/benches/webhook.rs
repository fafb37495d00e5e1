//! The receiver's CPU hot path without I/O: verify + parse + envelope building of a 10 KB
//! event, beside the floor it cannot go below and a peer doing the same job.
//!
//! - `stripe_10kb_verify_parse_envelope`: ours, a Stripe `customer.updated` event.
//! - `standard_10kb_verify_parse_envelope`: ours, the same body as a Standard Webhooks delivery.
//! - `bare_hmac_sha256_10kb`: one HMAC-SHA256 over the same bytes Stripe signs, nothing else.
//! - `standardwebhooks_crate_verify_10kb`: the `standardwebhooks` crate verifying the Standard
//!   Webhooks delivery (signature only: it neither parses nor builds anything).
//!
//! After Criterion's figures, `--bench` runs the four in alternating rounds and prints the
//! median of each and the ratios (target: ours within 2x of the bare HMAC). Budget
//! (ARCHITECTURE.md): well under 50 microseconds.
//!
//!     cargo bench -p switchyard --bench webhook

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use hmac::{Hmac, Mac};
use secrecy::SecretString;
use sha2::Sha256;
use switchyard::config::ReceiverConfig;
use switchyard::receiver::{prepare, InboundRequest, Prepared};
use switchyard::store::connections::{Connection, WebhookSettings};
use switchyard::webhook::{sign, Headers, Scheme, SignInput, SigningSecrets};

const SECRET: &str = "whsec_bench_secret";
/// Standard Webhooks secrets are `whsec_` + base64 of the key.
const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
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

/// One case of the bench: a name and a closure doing the work once.
struct Case<'a> {
    name: &'static str,
    run: Box<dyn FnMut() + 'a>,
}

fn connection(scheme: Scheme) -> Connection {
    Connection {
        id: "conn_bench".into(),
        tenant: "bench".into(),
        provider: scheme.name().into(),
        name: "bench".into(),
        webhook: Some(WebhookSettings {
            scheme,
            tolerance_secs: None,
            handshake_until: None,
        }),
        secret_arn: Some("arn".into()),
        config: Default::default(),
        created_at: NOW,
    }
}

fn request(headers: Vec<(String, String)>, body: &[u8]) -> InboundRequest {
    let mut pairs: Vec<(String, String)> = vec![
        ("content-type".into(), "application/json; charset=utf-8".into()),
        ("user-agent".into(), "Bench/1.0".into()),
    ];
    pairs.extend(headers);
    InboundRequest {
        connection_id: "conn_bench".into(),
        method: "POST".into(),
        url: "https://hooks.example.com/hooks/conn_bench".into(),
        headers: Headers::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        body: body.to_vec(),
        request_id: "bench".into(),
    }
}

fn secrets(secret: &str) -> SigningSecrets {
    SigningSecrets {
        current: SecretString::from(secret.to_string()),
        previous: None,
    }
}

/// Runs every case in alternating rounds (so a busy machine slows all of them alike), and prints
/// the median time of each and the ratios against the bare HMAC.
fn ratios(cases: &mut [Case<'_>]) {
    const ROUNDS: usize = 21;
    const SLICE: Duration = Duration::from_millis(40);
    // Calibrate: iterations per slice for each case.
    let per_slice: Vec<u64> = cases
        .iter_mut()
        .map(|case| {
            let started = Instant::now();
            let mut n = 0u64;
            while started.elapsed() < SLICE / 4 {
                (case.run)();
                n += 1;
            }
            (n * 4).max(1)
        })
        .collect();
    let mut samples = vec![Vec::with_capacity(ROUNDS); cases.len()];
    for _ in 0..ROUNDS {
        for (i, case) in cases.iter_mut().enumerate() {
            let started = Instant::now();
            for _ in 0..per_slice[i] {
                (case.run)();
            }
            samples[i].push(started.elapsed().as_nanos() as f64 / per_slice[i] as f64);
        }
    }
    let medians: Vec<f64> = samples
        .iter_mut()
        .map(|s| {
            s.sort_by(|a, b| a.total_cmp(b));
            s[s.len() / 2]
        })
        .collect();
    let floor = medians[0];
    println!("\nreceiver core, {ROUNDS} alternating rounds, median per call (same 10 KB body):");
    for (case, median) in cases.iter().zip(&medians) {
        println!(
            "  {:<40} {:>8.2} us   {:>5.2}x the bare HMAC",
            case.name,
            median / 1000.0,
            median / floor
        );
    }
}

fn main() {
    let body = stripe_event_10kb();
    let config = ReceiverConfig::from_lookup(|k| match k {
        "TABLE_NAME" => Some("t".into()),
        "SYNC_QUEUE_URL" => Some("q".into()),
        _ => None,
    })
    .unwrap();

    // Ours, Stripe: `t=<ts>,v1=<hex>` over `<ts>.<body>`.
    let signed = sign(
        &Scheme::Stripe,
        &SignInput {
            method: "POST",
            url: "https://hooks.example.com/hooks/conn_bench",
            body: &body,
            secret: &SecretString::from(SECRET.to_string()),
            now: NOW,
            message_id: None,
        },
    )
    .unwrap();
    let stripe_req = request(signed, &body);
    let stripe_conn = connection(Scheme::Stripe);
    let stripe_secrets = secrets(SECRET);

    // Ours and the crate's, Standard Webhooks: the crate checks its timestamp against the
    // clock, so this delivery is signed now.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let signed = sign(
        &Scheme::StandardWebhooks,
        &SignInput {
            method: "POST",
            url: "https://hooks.example.com/hooks/conn_bench",
            body: &body,
            secret: &SecretString::from(STANDARD_SECRET.to_string()),
            now,
            message_id: Some("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"),
        },
    )
    .unwrap();
    let mut header_map = http::HeaderMap::new();
    for (name, value) in &signed {
        header_map.insert(
            http::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).unwrap(),
            http::HeaderValue::from_str(value).unwrap(),
        );
    }
    let standard_req = request(signed, &body);
    let standard_conn = connection(Scheme::StandardWebhooks);
    let standard_secrets = secrets(STANDARD_SECRET);
    let peer = standardwebhooks::Webhook::new(STANDARD_SECRET).unwrap();

    // The bench must measure the success path of each.
    for (scheme, conn, secrets, req, at) in [
        (Scheme::Stripe, &stripe_conn, &stripe_secrets, &stripe_req, NOW),
        (
            Scheme::StandardWebhooks,
            &standard_conn,
            &standard_secrets,
            &standard_req,
            now,
        ),
    ] {
        match prepare(&config, conn, &scheme, 300, secrets, req, at) {
            Ok((Prepared::Events(evs), _)) if evs.len() == 1 => {}
            other => panic!("the {} bench input does not verify: {other:?}", scheme.name()),
        }
    }
    peer.verify(&body, &header_map)
        .expect("the standardwebhooks crate accepts the bench delivery");

    let mut cases = [
        Case {
            name: "bare_hmac_sha256_10kb",
            run: Box::new(|| {
                let mut mac = Hmac::<Sha256>::new_from_slice(black_box(SECRET.as_bytes())).unwrap();
                mac.update(format!("{NOW}.").as_bytes());
                mac.update(black_box(&body));
                black_box(mac.finalize().into_bytes());
            }),
        },
        Case {
            name: "stripe_10kb_verify_parse_envelope",
            run: Box::new(|| {
                black_box(
                    prepare(
                        black_box(&config),
                        &stripe_conn,
                        &Scheme::Stripe,
                        300,
                        &stripe_secrets,
                        black_box(&stripe_req),
                        NOW,
                    )
                    .unwrap(),
                );
            }),
        },
        Case {
            name: "standard_10kb_verify_parse_envelope",
            run: Box::new(|| {
                black_box(
                    prepare(
                        black_box(&config),
                        &standard_conn,
                        &Scheme::StandardWebhooks,
                        300,
                        &standard_secrets,
                        black_box(&standard_req),
                        now,
                    )
                    .unwrap(),
                );
            }),
        },
        Case {
            name: "standardwebhooks_crate_verify_10kb",
            run: Box::new(|| {
                peer.verify(black_box(&body), black_box(&header_map)).unwrap();
            }),
        },
    ];

    let mut c = Criterion::default().configure_from_args();
    {
        let mut group = c.benchmark_group("receiver");
        group.throughput(Throughput::Bytes(body.len() as u64));
        for case in cases.iter_mut() {
            group.bench_function(case.name, |b| b.iter(&mut case.run));
        }
        group.finish();
    }
    c.final_summary();
    // Under `cargo test` (no --bench) each case ran once above, and `--profile-time` is for a
    // profiler watching one case: the ratios need real runs of all four.
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--profile-time") {
        ratios(&mut cases);
    }
}
