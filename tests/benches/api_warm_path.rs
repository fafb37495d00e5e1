//! The management API's warm path against moto: `GET /v1/flows` (list) and `POST /v1/flows`
//! (create), each through `switchyard::api::handle` as the api function runs it, with the key
//! check (GetItem on the key's hash) and the tier's rate-limit check (UpdateItem on the window)
//! included. Per route it prints p50/p99 latency, CPU per request and DynamoDB calls per request.
//!
//!     cargo bench --workspace --bench api_warm_path                    # 1,000 requests a route
//!     API_BENCH_REQUESTS=200 cargo bench --workspace --bench api_warm_path
//!     cargo test --workspace --bench api_warm_path -- --bench          # the same, dev profile
//!     API_BENCH_ROUTES=create target/release/deps/api_warm_path-* --bench  # one route, for perf
//!
//! - **Latency** is the wall time of one `handle` call, moto's answers included (moto is a
//!   Python server on loopback, far slower than DynamoDB: the latency is moto's, not ours).
//! - **CPU** is this process's own CPU, not moto's: the runtime is single-threaded, so the
//!   thread's CPU clock (`CLOCK_THREAD_CPUTIME_ID`) read around each call holds the handler,
//!   the SDK (signing, serialising, parsing) and the HTTP client. The whole process's CPU
//!   (`CLOCK_PROCESS_CPUTIME_ID`, every thread) over the loop divided by the requests is
//!   printed beside it, as a check that no work hides on another thread.
//! - **DynamoDB calls** are counted by the SDK interceptor the test rig installs
//!   (`switchyard_tests::RequestCounter`), per operation.
//! - **Connections.** moto answers every request with `Connection: close`, so a client talking
//!   to it straight opens a TCP connection (and resolves the host) for every call, which the
//!   api function does not do against DynamoDB: the SDK keeps its connections. So the api's
//!   clients call moto through the keep-alive proxy (`switchyard_tests::keepalive`), run on a
//!   thread of its own whose CPU is left out of both figures. `API_BENCH_KEEPALIVE=0` calls moto
//!   directly (a new connection per call, counted in the figures).
//!
//! The tenant has an Enterprise key (1,000,000 requests an hour), two connections and
//! `API_BENCH_FLOWS` (20) flows, so a list page is a realistic one. Warm-up requests (20 a route)
//! run first and are not measured. Under `cargo test` (no `--bench`; the suite runs bench
//! targets so) it seeds 3 flows and runs 2 + 5 requests a route to prove the harness works;
//! those figures mean nothing. The run fails on any answer other
//! than 200/201.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};
use switchyard::api::{ApiConfig, ApiDeps, ApiRequest};
use switchyard::clock::{Clock, SystemClock};
use switchyard::connector::Registry;
use switchyard::store::api_keys::{Role, Tier};
use switchyard_tests::TestEnv;

fn cpu_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the clock ids are the standard ones.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime failed");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

struct Bench {
    env: TestEnv,
    deps: ApiDeps,
    key: String,
    /// The keep-alive proxy's thread CPU clock (left out of the process's CPU).
    proxy_clock: Option<libc::clockid_t>,
}

impl Bench {
    /// This process's CPU, the proxy's thread left out.
    fn process_cpu_ns(&self) -> u64 {
        let all = cpu_ns(libc::CLOCK_PROCESS_CPUTIME_ID);
        all - self.proxy_clock.map_or(0, cpu_ns)
    }
}

impl Bench {
    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
        let mut headers = http::HeaderMap::new();
        headers.insert("authorization", format!("Bearer {}", self.key).parse().unwrap());
        if body.is_some() {
            headers.insert("content-type", "application/json".parse().unwrap());
        }
        let resp = switchyard::api::handle(
            &self.deps,
            ApiRequest {
                method: method.into(),
                path: path.into(),
                query: String::new(),
                headers,
                body: body.map(|b| serde_json::to_vec(b).unwrap()).unwrap_or_default(),
            },
        )
        .await;
        (resp.status, resp.body)
    }
}

fn flow_body(id: &str) -> Value {
    json!({
        "id": id,
        "source": "conn_src",
        "stream": "contacts",
        "destination": "conn_dst",
        "operation": "contacts.upsert_by_email",
        "mapping": "{properties: {email: .properties.email}}",
        "schedule_interval_secs": 3600
    })
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

struct Figures {
    route: &'static str,
    n: usize,
    wall_us: Vec<u64>,
    cpu_us: Vec<u64>,
    process_cpu_us: u64,
    dynamodb: BTreeMap<String, usize>,
    other: BTreeMap<String, usize>,
}

impl Figures {
    fn print(&mut self) {
        self.wall_us.sort_unstable();
        self.cpu_us.sort_unstable();
        let ms = |us: u64| us as f64 / 1000.0;
        let calls: usize = self.dynamodb.values().sum();
        println!("{} ({} requests)", self.route, self.n);
        println!(
            "  latency         p50 {:>7.2} ms   p99 {:>7.2} ms",
            ms(pct(&self.wall_us, 0.5)),
            ms(pct(&self.wall_us, 0.99))
        );
        println!(
            "  thread CPU      p50 {:>7.2} ms   p99 {:>7.2} ms   mean {:.2} ms",
            ms(pct(&self.cpu_us, 0.5)),
            ms(pct(&self.cpu_us, 0.99)),
            ms(self.cpu_us.iter().sum::<u64>() / self.n as u64)
        );
        println!(
            "  process CPU     mean {:.2} ms per request (all threads)",
            ms(self.process_cpu_us / self.n as u64)
        );
        println!("  DynamoDB calls  {:.2} per request", calls as f64 / self.n as f64);
        for (op, c) in &self.dynamodb {
            println!("    {op:<28} {:.2}", *c as f64 / self.n as f64);
        }
        for (op, c) in &self.other {
            println!("    {op:<28} {:.2} (not DynamoDB)", *c as f64 / self.n as f64);
        }
    }
}

async fn measure<F, Fut>(bench: &Bench, route: &'static str, warmup: usize, n: usize, mut one: F) -> Figures
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = (u16, String)>,
{
    for i in 0..warmup {
        let (status, body) = one(i).await;
        assert!(status == 200 || status == 201, "{route} (warm-up): {status} {body}");
    }
    bench.env.counter.reset();
    let mut wall_us = Vec::with_capacity(n);
    let mut cpu_us = Vec::with_capacity(n);
    let process_start = bench.process_cpu_ns();
    for i in warmup..warmup + n {
        let cpu0 = cpu_ns(libc::CLOCK_THREAD_CPUTIME_ID);
        let t0 = Instant::now();
        let (status, body) = one(i).await;
        let wall = t0.elapsed();
        let cpu = cpu_ns(libc::CLOCK_THREAD_CPUTIME_ID) - cpu0;
        assert!(status == 200 || status == 201, "{route}: {status} {body}");
        wall_us.push(wall.as_micros() as u64);
        cpu_us.push(cpu / 1000);
    }
    let process_cpu_us = (bench.process_cpu_ns() - process_start) / 1000;
    let (dynamodb, other) = bench
        .env
        .counter
        .snapshot()
        .into_iter()
        .partition(|(k, _)| k.starts_with("DynamoDB."));
    Figures {
        route,
        n,
        wall_us,
        cpu_us,
        process_cpu_us,
        dynamodb,
        other,
    }
}

/// The keep-alive proxy in front of moto, on a thread and runtime of its own: its endpoint and
/// that thread's CPU clock.
fn start_proxy(moto: String) -> (String, libc::clockid_t) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut clock: libc::clockid_t = 0;
        // SAFETY: `clock` is a valid, writable clockid_t; pthread_self() is this live thread.
        let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
        assert_eq!(rc, 0, "pthread_getcpuclockid failed");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("proxy runtime");
        rt.block_on(async move {
            let proxy = switchyard_tests::keepalive::start(&moto)
                .await
                .expect("the keep-alive proxy starts");
            tx.send((proxy.endpoint, clock)).expect("the bench waits for the proxy");
            std::future::pending::<()>().await;
        });
    });
    rx.recv().expect("the proxy thread starts")
}

fn main() {
    // One thread: the thread CPU clock then holds all of a request's work in this process.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run());
}

async fn run() {
    let smoke = std::env::args().any(|a| a == "--test") || !std::env::args().any(|a| a == "--bench");
    let env_n = |name: &str, default: usize| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let n = env_n("API_BENCH_REQUESTS", if smoke { 5 } else { 1000 });
    let flows = env_n("API_BENCH_FLOWS", if smoke { 3 } else { 20 });
    let warmup = if smoke { 2 } else { 20 };

    let env = TestEnv::new().await;
    let config = ApiConfig::new(&env.table, &env.queue_url);
    let direct = std::env::var("API_BENCH_KEEPALIVE").is_ok_and(|v| v == "0");
    let (clients, proxy_clock) = if direct {
        (env.clients.clone(), None)
    } else {
        let (endpoint, clock) = start_proxy(switchyard_tests::emulator().endpoint.clone());
        let sdk = switchyard_tests::sdk_config()
            .await
            .into_builder()
            .endpoint_url(endpoint)
            .build();
        let clients = switchyard::aws::AwsClients {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(&sdk)
                    .interceptor(env.counter.clone())
                    .build(),
            ),
            sqs: aws_sdk_sqs::Client::from_conf(
                aws_sdk_sqs::config::Builder::from(&sdk)
                    .interceptor(env.counter.clone())
                    .build(),
            ),
            secrets: aws_sdk_secretsmanager::Client::from_conf(
                aws_sdk_secretsmanager::config::Builder::from(&sdk)
                    .interceptor(env.counter.clone())
                    .build(),
            ),
        };
        (clients, Some(clock))
    };
    let deps = ApiDeps::new(
        config,
        &clients,
        Arc::new(Registry::embedded().expect("embedded definitions load")),
        Arc::new(SystemClock),
    );
    let ulid = ulid::Ulid::new().to_string().to_lowercase();
    let tenant = format!("bench-{}", &ulid[ulid.len() - 8..]);
    let (new, _) = switchyard::admin::create_api_key(
        &deps.keys,
        &tenant,
        "bench",
        Role::Admin,
        Tier::Enterprise,
        "cli",
        SystemClock.now_unix(),
    )
    .await
    .expect("the key is stored");
    let key = secrecy::ExposeSecret::expose_secret(&new.key).to_string();
    let bench = Bench {
        env,
        deps,
        key,
        proxy_clock,
    };

    for id in ["conn_src", "conn_dst"] {
        let body =
            json!({"id": id, "provider": "hubspot", "credentials": {"access_token": format!("pat-bench-{ulid}")}});
        let (status, body) = bench.call("POST", "/v1/connections", Some(&body)).await;
        assert_eq!(status, 201, "{body}");
    }
    for i in 0..flows {
        let (status, body) = bench
            .call("POST", "/v1/flows", Some(&flow_body(&format!("flow_seed_{i:03}"))))
            .await;
        assert_eq!(status, 201, "{body}");
    }

    // `API_BENCH_ROUTES=list` or `=create` measures that route only (a profile of one route).
    let routes = std::env::var("API_BENCH_ROUTES").unwrap_or_default();
    let (run_list, run_create) = match routes.as_str() {
        "list" => (true, false),
        "create" => (false, true),
        _ => (true, true),
    };
    let bench_ref = &bench;
    let mut list = measure(
        bench_ref,
        "GET /v1/flows",
        warmup,
        if run_list { n } else { 0 },
        |_| async move {
            let (status, body) = bench_ref.call("GET", "/v1/flows", None).await;
            if status == 200 {
                let page: Value = serde_json::from_str(&body).expect("a JSON page");
                let items = page["items"].as_array().map_or(0, Vec::len);
                assert!(items >= flows.min(20), "the page lists the seeded flows: {body}");
            }
            (status, body)
        },
    )
    .await;
    let mut create = measure(
        bench_ref,
        "POST /v1/flows",
        warmup,
        if run_create { n } else { 0 },
        |i| async move {
            bench_ref
                .call("POST", "/v1/flows", Some(&flow_body(&format!("flow_bench_{i:05}"))))
                .await
        },
    )
    .await;

    println!(
        "api warm path against moto ({}; {} profile; {} flows listed per page; {})",
        if smoke {
            "smoke run, figures mean nothing"
        } else {
            "bench run"
        },
        if cfg!(debug_assertions) { "debug" } else { "optimised" },
        flows,
        if direct {
            "moto directly, a new connection per call (API_BENCH_KEEPALIVE=0)"
        } else {
            "through the keep-alive proxy, connections reused as against DynamoDB"
        }
    );
    if !run_create || !run_list {
        // One route measured: its figures only, no verdict on the target.
        if run_list {
            list.print();
        } else {
            create.print();
        }
        return;
    }
    list.print();
    create.print();
    let reads = list.dynamodb.values().sum::<usize>() as f64 / n as f64;
    let list_cpu = list.cpu_us.iter().sum::<u64>() as f64 / n as f64 / 1000.0;
    let create_cpu = create.cpu_us.iter().sum::<u64>() as f64 / n as f64 / 1000.0;
    println!(
        "target: < 2 ms CPU per request (list {list_cpu:.2} ms, create {create_cpu:.2} ms: {}), \
         <= 2 DynamoDB calls per read (list {reads:.2}: {})",
        if list_cpu < 2.0 && create_cpu < 2.0 {
            "met"
        } else {
            "NOT met"
        },
        if reads <= 2.0 { "met" } else { "NOT met" }
    );
}
