//! connector-sync's CPU per record, no I/O: jq mapping + content hash + batch-body building
//! (HubSpot's batch upsert envelope for 100 records, divided per record).
//! Budget (issue 3): under 20 microseconds per record.
//!
//! After Criterion's figures (wall time), `--bench` (unless filtered to other groups) prints CPU
//! figures from alternating rounds, which a loaded machine distorts less:
//! - reading a 1,000-record page (`read_page`) and its JSON parse alone (as `read_page` parses,
//!   and with `serde_json::from_slice` beside it), per record, on the reading thread's CPU;
//! - the demo record mapped one record per hand-over to the sandbox thread three ways, on the
//!   process's CPU: with the native `join`/`split` mappings use, with jaq's own jq definitions
//!   of the two, and a constant object (the fixed cost of moving a record into jq and back);
//!   then the demo mapping and the constant object a page of 100 records per hand-over, as
//!   connector-sync maps.
//!
//! ```text
//! cargo bench --workspace --bench sync
//! cargo bench --workspace --bench sync -- read_per_1000_records
//! cargo bench --workspace --bench sync -- map_rounds    # the mapping rounds alone
//! ```

use std::hint::black_box;

use criterion::{Criterion, Throughput};
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

/// [`MAPPING`] with jaq's own definitions of `split/1` and `join/1` (`_jaq_join` is jaq's,
/// kept for inputs that are not arrays): the figure before the native ones.
const MAPPING_JAQ_DEFINITIONS: &str = r#"def jaq_split($sep):
    if isstring and ($sep | isstring) then . / $sep
    else error("split input and separator must be strings") end;
((.name // "") | jaq_split(" ")) as $name
| { properties: {
    email: .email,
    firstname: ($name[0] // ""),
    lastname: ($name[1:] | _jaq_join(" ")),
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
    let jaq_definitions = Mapping::compile(MAPPING_JAQ_DEFINITIONS).unwrap();
    assert_eq!(jaq_definitions.apply(&records[7]).unwrap(), mapped[7]);
    group.bench_function("map_jaq_definitions", |b| {
        b.iter(|| jaq_definitions.apply(black_box(&records[7])).unwrap())
    });
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

/// A page of the in-repo paged source (`fakes/src/paged_source`) as it serves it: `n` people
/// ordered by `updated_at`, the next cursor, `has_more` and the total.
fn source_page(n: usize) -> Vec<u8> {
    let records: Vec<Value> = (1..=n)
        .map(|i| {
            json!({
                "id": format!("rec_{i:06}"), "email": format!("user{i:06}@example.com"),
                "first_name": "Ada", "last_name": "Lovelace", "company": format!("Company {}", i % 97),
                "updated_at": format!("2024-01-01T{:02}:{:02}:{:02}.000Z", i / 3600 % 24, i / 60 % 60, i % 60),
                "version": 1
            })
        })
        .collect();
    serde_json::to_vec(
        &json!({"records": records, "next_cursor": "1704067200000~rec_001000", "has_more": true, "total": 200_000}),
    )
    .unwrap()
}

/// Serves `body` as the answer to every request, with keep-alive, on a loopback port of its
/// own (plain threads, so the bench's runtime holds only the engine). Returns the base URL.
fn serve_forever(body: Vec<u8>) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let answer = std::sync::Arc::new([head.as_bytes(), &body].concat());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let (Ok(mut stream), answer) = (stream, answer.clone()) else {
                continue;
            };
            std::thread::spawn(move || {
                let (mut buf, mut pending) = ([0u8; 8192], Vec::new());
                while let Ok(n @ 1..) = stream.read(&mut buf) {
                    pending.extend_from_slice(&buf[..n]);
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..end + 4);
                        if stream.write_all(&answer).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    url
}

/// The read path (issue 20, part 1b): one page of 1,000 records of the paged source through
/// `ConnectorClient::read_page` (request, body, JSON parse, record selection, the cursor's
/// maximum, the next page), per record. The definition is the one `make bench-peers` reads.
struct ReadRig {
    client: ConnectorClient,
    rt: tokio::runtime::Runtime,
    page: Vec<u8>,
    state: switchyard::connector::StreamState,
}

fn read_rig() -> ReadRig {
    let page = source_page(1000);
    let base_url = serve_forever(page.clone());
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/connectors/fake-source.yaml");
    let def = switchyard::connector::validate_file(&path).unwrap();
    let settings = ClientSettings {
        base_url: Some(base_url),
        allow_private_network: true,
        ..ClientSettings::default()
    };
    let http = switchyard::connector::url_guard::http_client(std::time::Duration::from_secs(30), true).unwrap();
    let client = ConnectorClient::new(std::sync::Arc::new(def), settings, Credentials::new(), http).unwrap();
    // One thread: the client's connection tasks run on the thread that reads, so its CPU
    // clock holds the whole read (the server answers from threads of its own).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let state = switchyard::connector::StreamState::full_refresh();
    let first = rt.block_on(client.read_page("records", &state)).unwrap();
    assert_eq!(first.records.len(), 1000);
    assert_eq!(first.max_cursor.as_deref(), Some("2024-01-01T00:16:40.000Z"));
    assert!(first.next.is_some());
    ReadRig {
        client,
        rt,
        page,
        state,
    }
}

fn bench_read(c: &mut Criterion, rig: &ReadRig) {
    let mut group = c.benchmark_group("read_per_1000_records");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("read_page", |b| {
        b.iter(|| {
            rig.rt
                .block_on(rig.client.read_page("records", black_box(&rig.state)))
                .unwrap()
        })
    });
    // The JSON parse alone, as `read_page` parses, for its share of the above.
    group.bench_function("parse_page", |b| {
        b.iter(|| switchyard::json::from_bytes::<Value>(black_box(&rig.page)).unwrap())
    });
    group.finish();
}

/// The calling thread's CPU time, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `read_page` and the JSON parse alone in alternating rounds, on the reading thread's CPU
/// time (Criterion's wall time counts the time other processes take on a loaded machine);
/// prints the median per record of each.
fn read_rounds(rig: &ReadRig) {
    const ROUNDS: usize = 21;
    const PAGES: usize = 20;
    let mut read = Vec::with_capacity(ROUNDS);
    let mut parse = Vec::with_capacity(ROUNDS);
    let mut from_slice = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let started = thread_cpu_ns();
        for _ in 0..PAGES {
            black_box(
                rig.rt
                    .block_on(rig.client.read_page("records", black_box(&rig.state)))
                    .unwrap(),
            );
        }
        read.push((thread_cpu_ns() - started) as f64 / (PAGES * 1000) as f64);
        let started = thread_cpu_ns();
        for _ in 0..PAGES {
            black_box(switchyard::json::from_bytes::<Value>(black_box(&rig.page)).unwrap());
        }
        parse.push((thread_cpu_ns() - started) as f64 / (PAGES * 1000) as f64);
        let started = thread_cpu_ns();
        for _ in 0..PAGES {
            black_box(serde_json::from_slice::<Value>(black_box(&rig.page)).unwrap());
        }
        from_slice.push((thread_cpu_ns() - started) as f64 / (PAGES * 1000) as f64);
    }
    let median = |s: &mut Vec<f64>| {
        s.sort_by(|a, b| a.total_cmp(b));
        s[s.len() / 2]
    };
    let (read, parse, from_slice) = (median(&mut read), median(&mut parse), median(&mut from_slice));
    println!(
        "\nreading 1,000-record pages, {ROUNDS} alternating rounds of {PAGES} pages, median CPU of the reading thread per record:"
    );
    println!(
        "  read_page (request, body, parse, select, cursor, next)  {:>6.3} us",
        read / 1000.0
    );
    println!(
        "  the JSON parse alone (switchyard::json::from_bytes)     {:>6.3} us",
        parse / 1000.0
    );
    println!(
        "  the same with serde_json::from_slice                    {:>6.3} us",
        from_slice / 1000.0
    );
}

/// The process's CPU time (not wall time: this machine is shared), in nanoseconds: the
/// mapping runs on a sandbox thread, and the bench process does nothing else meanwhile.
fn process_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// One round of a mapping case.
type Run = Box<dyn Fn()>;

/// The demo mapping with the native `join`/`split` and with jaq's definitions, and a constant
/// object, one record per hand-over to the sandbox thread (`Mapping::apply`), then the demo
/// mapping and the constant object a page of 100 records per hand-over (`Mapping::apply_each`,
/// what connector-sync does), in alternating rounds; prints the median process CPU per record.
fn map_rounds() {
    const ROUNDS: usize = 21;
    const PER_ROUND: usize = 2_000;
    const PAGE: usize = 100;
    let record = customer(7);
    let page = std::sync::Arc::new((0..PAGE).map(customer).collect::<Vec<_>>());
    let one_by_one = |mapping: Mapping| {
        let record = record.clone();
        Box::new(move || {
            for _ in 0..PER_ROUND {
                black_box(mapping.apply(black_box(&record)).unwrap());
            }
        }) as Run
    };
    let by_page = |mapping: Mapping| {
        let page = page.clone();
        Box::new(move || {
            for _ in 0..PER_ROUND / PAGE {
                for out in mapping.apply_each(black_box(page.clone())) {
                    black_box(out.unwrap());
                }
            }
        }) as Run
    };
    let cases: Vec<(&str, Run)> = vec![
        (
            "demo mapping, native join/split",
            one_by_one(Mapping::compile(MAPPING).unwrap()),
        ),
        (
            "demo mapping, jaq's join/split",
            one_by_one(Mapping::compile(MAPPING_JAQ_DEFINITIONS).unwrap()),
        ),
        ("constant object {}", one_by_one(Mapping::compile("{}").unwrap())),
        (
            "demo mapping, pages of 100",
            by_page(Mapping::compile(MAPPING).unwrap()),
        ),
        (
            "constant object {}, pages of 100",
            by_page(Mapping::compile("{}").unwrap()),
        ),
    ];
    let mut samples = vec![Vec::with_capacity(ROUNDS); cases.len()];
    for _ in 0..ROUNDS {
        for (i, (_, run)) in cases.iter().enumerate() {
            let started = process_cpu_ns();
            run();
            samples[i].push((process_cpu_ns() - started) as f64 / PER_ROUND as f64);
        }
    }
    let medians: Vec<f64> = samples
        .iter_mut()
        .map(|s| {
            s.sort_by(|a, b| a.total_cmp(b));
            s[s.len() / 2]
        })
        .collect();
    println!("\nmapping, {ROUNDS} alternating rounds of {PER_ROUND} records, median process CPU per record:");
    for ((name, _), median) in cases.iter().zip(&medians) {
        println!(
            "  {name:<36} {:>7.2} us   {:>5.2}x the first",
            median / 1000.0,
            median / medians[0]
        );
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    let rig = read_rig();
    bench_read(&mut c, &rig);
    c.final_summary();
    // Under `cargo test` (no --bench) each case ran once; `--profile-time` is for a profiler
    // watching one case; a filter for one group runs only that group's rounds.
    let args: Vec<String> = std::env::args().collect();
    // Filters are the positional arguments (option values such as `--measurement-time 3` are
    // numbers); `-- map_rounds` runs the mapping rounds alone, `-- read_` the read rounds.
    let filters: Vec<&String> = args
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with('-') && a.parse::<f64>().is_err())
        .collect();
    let rounds = args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--profile-time");
    if rounds && (filters.is_empty() || filters.iter().any(|f| f.contains("read"))) {
        read_rounds(&rig);
    }
    if rounds && (filters.is_empty() || filters.iter().any(|f| f.contains("map"))) {
        map_rounds();
    }
}
