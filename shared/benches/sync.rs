//! connector-sync's CPU per record, no I/O: jq mapping + content hash + batch-body building
//! (HubSpot's batch upsert envelope for 100 records, divided per record).
//! Budget (issue 3): under 20 microseconds per record.
//!
//!     cargo bench -p switchyard --bench sync

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Value};
use switchyard::connector::{content_hash, ClientSettings, ConnectorClient, Credentials, Mapping, Registry};

/// A Stripe customer as the list endpoint returns it (shape of Stripe's fixture).
fn customer(i: usize) -> Value {
    json!({
        "id": format!("cus_{i:014}"), "object": "customer",
        "address": {"city": "Berlin", "country": "DE", "line1": "Unter den Linden 1", "line2": null, "postal_code": "10117", "state": null},
        "balance": 0, "created": 1_763_800_000 + i as i64, "currency": "eur", "default_source": null,
        "delinquent": false, "description": null, "discount": null,
        "email": format!("customer{i}@example.com"), "invoice_prefix": "7FE1103",
        "invoice_settings": {"custom_fields": null, "default_payment_method": null, "footer": null, "rendering_options": null},
        "livemode": false, "metadata": {"plan": "pro", "source": "signup"}, "name": format!("Jenny Rosen{i}"),
        "next_invoice_sequence": 1, "phone": "+4930123456", "preferred_locales": ["de"], "shipping": null,
        "tax_exempt": "none", "test_clock": null
    })
}

/// The mapping of the Stripe customers -> HubSpot contacts flow.
/// The name is split once and bound, not split per field.
const MAPPING: &str = r#"((.name // "") | split(" ")) as $name
| { properties: {
    email: .email,
    firstname: ($name[0] // ""),
    lastname: ($name[1:] | join(" ")),
    phone: .phone,
    city: .address.city,
    country: .address.country,
    stripe_customer_id: .id
} }"#;

/// A plainer mapping that copies fields without string work.
const COPY_MAPPING: &str =
    r#"{ properties: { email: .email, phone: .phone, city: .address.city, stripe_customer_id: .id } }"#;

fn bench(c: &mut Criterion) {
    let records: Vec<Value> = (0..100).map(customer).collect();
    let mapping = Mapping::compile(MAPPING).unwrap();
    let copy_mapping = Mapping::compile(COPY_MAPPING).unwrap();
    let registry = Registry::embedded().unwrap();
    let settings = ClientSettings {
        base_url: Some("https://api.hubapi.com".into()),
        ..ClientSettings::default()
    };
    let http = reqwest::Client::new();
    let hubspot = ConnectorClient::new(
        registry.get_shared("hubspot").unwrap(),
        settings,
        Credentials::new().with("access_token", "pat-bench"),
        http,
    )
    .unwrap();
    let mapped: Vec<Value> = records.iter().map(|r| mapping.apply(r).unwrap()).collect();
    assert!(hubspot.build_batch_body("contacts.upsert_by_email", &mapped).unwrap() > 1000);

    let mut group = c.benchmark_group("sync_per_record");
    group.throughput(Throughput::Elements(1));
    group.bench_function("map", |b| b.iter(|| mapping.apply(black_box(&records[7])).unwrap()));
    group.bench_function("map_copy_fields", |b| {
        b.iter(|| copy_mapping.apply(black_box(&records[7])).unwrap())
    });
    // What every mapping pays to move a record into jq and back.
    let empty = Mapping::compile("{}").unwrap();
    group.bench_function("map_constant_object", |b| {
        b.iter(|| empty.apply(black_box(&records[7])).unwrap())
    });
    group.bench_function("hash", |b| b.iter(|| content_hash(black_box(&mapped[7]))));
    group.finish();

    let mut group = c.benchmark_group("sync_per_100_records");
    group.throughput(Throughput::Elements(100));
    group.bench_function("batch_body", |b| {
        b.iter(|| {
            hubspot
                .build_batch_body("contacts.upsert_by_email", black_box(&mapped))
                .unwrap()
        })
    });
    // The sync path: a page's records go to the mapping sandbox in one hand-over.
    group.bench_function("map_page_in_sandbox", |b| {
        b.iter(|| mapping.apply_each(std::sync::Arc::new(black_box(&records).clone())))
    });
    group.bench_function("map_hash_batch", |b| {
        b.iter(|| {
            let out: Vec<Value> = mapping
                .apply_each(std::sync::Arc::new(black_box(&records).clone()))
                .into_iter()
                .map(Result::unwrap)
                .collect();
            let hashes: Vec<String> = out.iter().map(content_hash).collect();
            let size = hubspot.build_batch_body("contacts.upsert_by_email", &out).unwrap();
            (hashes, size)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
