//! The AWS SDK's own CPU per call, for the receiver's two calls per event (issue 20, part 2b):
//! the conditional `PutItem` of a 10 KB event (`EventStore::put_if_new`) and the `SendMessage`
//! of its sync message (`SyncQueue::send`), through the real SDK clients, against a loopback
//! server that answers each at once with a canned reply (keep-alive, plain threads). So what is
//! measured is the SDK's work on our side of the socket: config layering, interceptors,
//! serialisation, SigV4, endpoint resolution, hyper, response parsing.
//!
//! Then the record links of one page of 100 records as connector-sync's first sync makes them
//! (issue 20, part 3): `LinkStore::get_many` of the page's 100 ids (one `BatchGetItem`) and
//! `LinkStore::put_many` of their 100 links (four `BatchWriteItem`s of 25, DynamoDB's limit),
//! each link with its subject for the GDPR index, printed per record. That is the DynamoDB work
//! per record that one item per link costs through the SDK, before the page's checkpoint.
//!
//! Configurations, in alternating rounds, on the CPU time of the one thread that runs the
//! calls (a current-thread runtime: hyper's connection tasks run on it too):
//! - the SDK's defaults with our timeouts (what `switchyard::aws::load_config` was);
//! - each trim of `switchyard::aws::trim_per_call_work` alone, and all of them
//!   (`switchyard::aws::config_loader`, what the functions load).
//!
//! ```text
//! cargo bench --workspace --bench aws_calls
//! cargo bench --workspace --bench aws_calls -- defaults   # one configuration, for `perf record`
//! cargo bench --workspace --bench aws_calls -- links      # the record links only
//! ```
//!
//! Under `cargo test --benches` (no `--bench`) it makes a handful of calls per configuration,
//! to prove the harness works; those figures mean nothing.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::time::Instant;

use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use switchyard::queue::{InboundEventRef, SyncMessage, SyncQueue};
use switchyard::store::events::{EventStore, PutOutcome, StoredEvent};
use switchyard::store::links::{LinkStore, RecordLink};

/// Answers every request on a loopback port of its own with the canned reply for its
/// `x-amz-target` (DynamoDB `PutItem`, `BatchGetItem` and `BatchWriteItem`, SQS `SendMessage`),
/// reading each request's body by its `content-length`. Returns the endpoint URL.
fn serve_canned() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                loop {
                    let (mut length, mut target, mut line) = (0usize, String::new(), String::new());
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let header = line.trim_end();
                        if header.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = header.split_once(':') {
                            match name.trim().to_ascii_lowercase().as_str() {
                                "content-length" => length = value.trim().parse().unwrap_or(0),
                                "x-amz-target" => target = value.trim().to_string(),
                                _ => {}
                            }
                        }
                    }
                    let mut body = vec![0u8; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let (content_type, reply) = match target.as_str() {
                        "DynamoDB_20120810.PutItem" => ("application/x-amz-json-1.0", "{}".to_string()),
                        "AmazonSQS.SendMessage" => (
                            "application/x-amz-json-1.0",
                            r#"{"MD5OfMessageBody":"0123456789abcdef0123456789abcdef","MessageId":"5fea7756-0ea4-451a-a703-a558b933e274"}"#
                                .to_string(),
                        ),
                        // A first sync's lookup finds no links; every write is processed.
                        "DynamoDB_20120810.BatchGetItem" => (
                            "application/x-amz-json-1.0",
                            r#"{"Responses":{"switchyard":[]},"UnprocessedKeys":{}}"#.to_string(),
                        ),
                        "DynamoDB_20120810.BatchWriteItem" => {
                            ("application/x-amz-json-1.0", r#"{"UnprocessedItems":{}}"#.to_string())
                        }
                        other => panic!("aws_calls: the canned server has no reply for {other:?}"),
                    };
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\nx-amzn-requestid: bench\r\ncontent-length: {}\r\n\r\n{reply}",
                        reply.len()
                    );
                    if writer.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

/// The calling thread's CPU time, in nanoseconds (this machine is shared: not wall time).
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The 1, 5 and 15 minute load averages, printed beside each figure.
fn load_average() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// A Stripe event of about 10 KB as the receiver stores it.
fn event(n: usize) -> (StoredEvent, SyncMessage) {
    let metadata: String = (0..200)
        .map(|i| format!(r#""key_{i}":"value {i} of the event","#))
        .collect();
    let body = format!(
        r#"{{"id":"evt_{n:08}","type":"customer.updated","data":{{"object":{{"id":"cus_{n:08}","email":"person{n}@example.com","metadata":{{{}}}}}}}}}"#,
        metadata.trim_end_matches(',')
    );
    let stored = StoredEvent {
        connection_id: "conn_bench".into(),
        tenant: "tenant_bench".into(),
        event_id: format!("evt_{n:08}"),
        event_type: "customer.updated".into(),
        provider: "stripe".into(),
        body: body.into_bytes(),
        headers: BTreeMap::from([("content-type".to_string(), "application/json".to_string())]),
        received_at: 1_700_000_000 + n as i64,
        expires_at: 1_700_000_000 + n as i64 + 30 * 86_400,
        subject: Some("SUBJ#tenant_bench#0123456789abcdef".into()),
    };
    let msg = SyncMessage::InboundEvent(InboundEventRef {
        connection_id: stored.connection_id.clone(),
        event_id: stored.event_id.clone(),
        event_type: stored.event_type.clone(),
        provider: stored.provider.clone(),
        received_at: stored.received_at,
        attempt: 0,
    });
    (stored, msg)
}

struct Case {
    name: &'static str,
    events: EventStore,
    queue: SyncQueue,
}

async fn sdk_config(loader: ConfigLoader, endpoint: &str) -> SdkConfig {
    loader
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "AKIDBENCHBENCHBENCH",
            "bench-secret",
            None,
            None,
            "bench",
        ))
        .load()
        .await
}

async fn case(name: &'static str, loader: ConfigLoader, endpoint: &str) -> Case {
    let config = sdk_config(loader, endpoint).await;
    Case {
        name,
        events: EventStore::new(aws_sdk_dynamodb::Client::new(&config), "switchyard"),
        queue: SyncQueue::new(
            aws_sdk_sqs::Client::new(&config),
            format!("{endpoint}/000000000000/switchyard-sync"),
        ),
    }
}

/// One event's two calls, as the receiver makes them.
async fn store_and_enqueue(case: &Case, stored: &StoredEvent, msg: &SyncMessage) {
    let outcome = case
        .events
        .put_if_new(black_box(stored))
        .await
        .expect("PutItem answered");
    assert_eq!(outcome, PutOutcome::Stored);
    case.queue.send(black_box(msg)).await.expect("SendMessage answered");
}

/// The ids and links of one page of 100 source records (Stripe customers, each with an email).
fn link_page(page: usize) -> (Vec<String>, Vec<RecordLink>) {
    let links: Vec<RecordLink> = (0..100)
        .map(|i| {
            let n = page * 100 + i;
            RecordLink {
                source_id: format!("cus_{n:014}"),
                destination_id: format!("{}", 100_000 + n),
                content_hash: format!("{:064x}", n as u128 * 0x9e37_79b9_7f4a_7c15),
                updated_at: 1_700_000_000 + n as i64,
                record: None,
                subject: Some(switchyard::subjects::subject_key(
                    "tenant_bench",
                    &format!("person{n}@example.com"),
                )),
                predicted: false,
                retired: false,
            }
        })
        .collect();
    (links.iter().map(|l| l.source_id.clone()).collect(), links)
}

/// One page's link lookup and link writes, as `sync::records` makes them.
async fn page_links(links: &LinkStore, ids: &[String], page: &[RecordLink]) {
    let found = links
        .get_many("flow_bench", black_box(ids))
        .await
        .expect("BatchGetItem answered");
    assert!(found.is_empty());
    links
        .put_many("flow_bench", black_box(page))
        .await
        .expect("BatchWriteItem answered");
}

/// The record links' rounds: median CPU of the calling thread per record.
fn bench_links(rt: &tokio::runtime::Runtime, endpoint: &str, smoke: bool) {
    let (rounds, pages, warm_up) = if smoke { (1, 2, 1) } else { (15, 100, 20) };
    let links = rt.block_on(async {
        let config = sdk_config(switchyard::aws::config_loader(), endpoint).await;
        LinkStore::new(aws_sdk_dynamodb::Client::new(&config), "switchyard")
    });
    let data: Vec<(Vec<String>, Vec<RecordLink>)> = (0..8).map(link_page).collect();
    rt.block_on(async {
        for (ids, page) in data.iter().cycle().take(warm_up) {
            page_links(&links, ids, page).await;
        }
    });
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let cpu = thread_cpu_ns();
        rt.block_on(async {
            for (ids, page) in data.iter().cycle().take(pages) {
                page_links(&links, ids, page).await;
            }
        });
        samples.push((thread_cpu_ns() - cpu) as f64 / (pages * 100) as f64);
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    println!(
        "\nRecord links of a page of 100 (one BatchGetItem of 100 keys, four BatchWriteItems of 25 links) against the canned server, switchyard::aws::config_loader(): {rounds} rounds of {pages} pages (load average {}):",
        load_average()
    );
    println!(
        "  median {:.2} us per record (rounds from {:.2} to {:.2} us)",
        samples[samples.len() / 2] / 1000.0,
        samples[0] / 1000.0,
        samples[samples.len() - 1] / 1000.0
    );
}

fn defaults() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).timeout_config(switchyard::aws::default_timeouts())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let smoke = !args.iter().any(|a| a == "--bench");
    let filter = args.iter().skip(1).find(|a| !a.starts_with('-')).cloned();

    let endpoint = serve_canned();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let links_only = filter.as_deref() == Some("links");
    if !links_only {
        bench_receiver(&rt, &endpoint, smoke, filter.as_deref());
    }
    if filter.is_none() || links_only {
        bench_links(&rt, &endpoint, smoke);
    }
    if smoke {
        println!("(smoke run under `cargo test`: the figures mean nothing)");
    }
}

/// The receiver's two calls per event, configuration by configuration in alternating rounds.
fn bench_receiver(rt: &tokio::runtime::Runtime, endpoint: &str, smoke: bool, filter: Option<&str>) {
    let (rounds, per_round, warm_up) = if smoke { (1, 5, 2) } else { (15, 1_000, 300) };
    let events: Vec<(StoredEvent, SyncMessage)> = (0..64).map(event).collect();
    let cases = rt.block_on(async {
        let all = vec![
            case("SDK defaults + our timeouts (before)", defaults(), endpoint).await,
            case(
                "  stalled-stream protection off",
                defaults().stalled_stream_protection(StalledStreamProtectionConfig::disabled()),
                endpoint,
            )
            .await,
            case(
                "switchyard::aws::config_loader() (after)",
                switchyard::aws::config_loader(),
                endpoint,
            )
            .await,
        ];
        all.into_iter()
            .filter(|c| filter.is_none_or(|f| c.name.contains(f)))
            .collect::<Vec<_>>()
    });
    assert!(!cases.is_empty(), "aws_calls: no configuration matches {filter:?}");

    rt.block_on(async {
        for case in &cases {
            for (stored, msg) in events.iter().cycle().take(warm_up) {
                store_and_enqueue(case, stored, msg).await;
            }
        }
    });
    let mut samples = vec![Vec::with_capacity(rounds); cases.len()];
    let started = Instant::now();
    for round in 0..rounds {
        // Take turns going first.
        for k in 0..cases.len() {
            let i = (k + round) % cases.len();
            let case = &cases[i];
            let cpu = thread_cpu_ns();
            rt.block_on(async {
                for (stored, msg) in events.iter().cycle().take(per_round) {
                    store_and_enqueue(case, stored, msg).await;
                }
            });
            samples[i].push((thread_cpu_ns() - cpu) as f64 / per_round as f64);
        }
    }
    let medians: Vec<f64> = samples
        .iter_mut()
        .map(|s| {
            s.sort_by(|a, b| a.total_cmp(b));
            s[s.len() / 2]
        })
        .collect();
    println!(
        "\nPutItem (10 KB event) + SendMessage against a canned loopback server: {rounds} alternating rounds of {per_round} events, median CPU of the calling thread per event ({:.1} s; load average {}):",
        started.elapsed().as_secs_f64(),
        load_average()
    );
    for (case, median) in cases.iter().zip(&medians) {
        println!(
            "  {:<44} {:>7.1} us per event  {:>5.2}x the first",
            case.name,
            median / 1000.0,
            median / medians[0]
        );
    }
}
