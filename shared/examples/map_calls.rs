//! A driver for instruction profiles of the mapping sandbox (issue 20): it compiles a jq
//! mapping, then maps the sync bench's Stripe customer `N` times and does nothing else, so a
//! profile of it is the mapping's per-call cost (minus a run with `N` = 0, which leaves the
//! start-up and the compile). `one` maps one record per call (`Mapping::apply`), `page` a page
//! of 100 records per call (`Mapping::apply_each`, as connector-sync maps).
//!
//! ```text
//! cargo build --profile bench --workspace --example map_calls
//! valgrind --tool=callgrind target/release/examples/map_calls one 1000 '{}'
//! ```
//!
//! Under valgrind a mapping runs tens of times slower: `MAPPING_TIMEOUT_MS=60000` keeps the
//! time bound out of the way.

use std::hint::black_box;
use std::sync::Arc;

use serde_json::{json, Value};
use switchyard::connector::Mapping;

/// The demo mapping of the sync bench (Stripe customers -> HubSpot contacts).
const DEMO: &str = r#"((.name // "") | split(" ")) as $name
| { properties: {
    email: .email,
    firstname: ($name[0] // ""),
    lastname: ($name[1:] | join(" ")),
    phone: .phone,
    city: .address.city,
    country: .address.country,
    stripe_customer_id: .id
} }"#;

/// A Stripe customer as the list endpoint returns it (as in the sync bench).
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: map_calls one|page N [jq program, default: the demo mapping]";
    let (Some(mode), Some(n)) = (args.get(1), args.get(2).and_then(|n| n.parse::<usize>().ok())) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let mapping = Mapping::compile(args.get(3).map_or(DEMO, String::as_str)).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2);
    });
    match mode.as_str() {
        "one" => {
            let record = customer(7);
            for _ in 0..n {
                black_box(mapping.apply(black_box(&record)).unwrap());
            }
        }
        "page" => {
            let page: Arc<Vec<Value>> = Arc::new((0..100).map(customer).collect());
            for _ in 0..n.div_ceil(100) {
                for out in mapping.apply_each(black_box(page.clone())) {
                    black_box(out.unwrap());
                }
            }
        }
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
}
