//! Test harness: the local AWS emulator (moto server) and per-test resources.
//!
//! The first test that asks for the emulator starts `moto_server` from the project's virtual
//! environment (`.venv`, made by `make test` / `scripts/setup-venv.sh`) on a free loopback port;
//! every test then gets its own table and queues, so tests run in parallel against one server.
//! The server stops when the test process exits. Set `SWITCHYARD_TEST_AWS_ENDPOINT` to use an
//! emulator that is already running instead.

pub mod buckets;
pub mod cargo;
pub mod counter;
pub mod databases;
pub mod faults;
pub mod imap;
pub mod keepalive;
pub mod keys;
pub mod localstripe;
pub mod log_capture;
pub mod mail;
pub mod paypal;
pub mod runtime_api;
pub mod samples;
pub mod sync_bench;
pub mod tls;
pub mod two_way_soak;

use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use switchyard::aws::AwsClients;

pub use counter::RequestCounter;

/// A running emulator.
pub struct Emulator {
    pub endpoint: String,
    _guard: Option<Mutex<Child>>,
}

static EMULATOR: OnceLock<Emulator> = OnceLock::new();

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives inside the workspace")
        .to_path_buf()
}

fn moto_server_path() -> PathBuf {
    std::env::var_os("SWITCHYARD_MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/moto_server"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("the OS hands out a free loopback port")
}

fn start_moto() -> Emulator {
    if let Ok(endpoint) = std::env::var("SWITCHYARD_TEST_AWS_ENDPOINT") {
        return Emulator { endpoint, _guard: None };
    }
    let moto = moto_server_path();
    if !moto.exists() {
        panic!(
            "\n\nThe AWS emulator is missing: {} does not exist.\n\
             Run the README's test command (`make test`), which installs the pinned moto server into .venv,\n\
             or install it yourself with `scripts/setup-venv.sh`, or point SWITCHYARD_MOTO_SERVER at a moto_server binary.\n",
            moto.display()
        );
    }
    let port = free_port();
    let log = std::env::temp_dir().join(format!("switchyard-moto-{port}.log"));
    // The shell wrapper stops moto when our stdin pipe closes, i.e. when the test process exits.
    let child = Command::new("sh")
        .arg("-c")
        .arg(r#""$0" -H 127.0.0.1 -p "$1" >"$2" 2>&1 & pid=$!; read _; kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null"#)
        .arg(&moto)
        .arg(port.to_string())
        .arg(&log)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {}: {e}", moto.display()));
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr = format!("127.0.0.1:{port}");
    while TcpStream::connect(&addr).is_err() {
        if Instant::now() > deadline {
            let out = std::fs::read_to_string(&log).unwrap_or_default();
            panic!(
                "moto server did not start on {addr} within 60 s. Its output ({}):\n{out}\n\
                 Reinstall it with `rm -rf .venv && scripts/setup-venv.sh`.",
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Emulator {
        endpoint: format!("http://{addr}"),
        _guard: Some(Mutex::new(child)),
    }
}

/// The shared emulator, started on first use.
pub fn emulator() -> &'static Emulator {
    EMULATOR.get_or_init(start_moto)
}

/// SDK configuration pointing at the emulator, with dummy credentials.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(&emulator().endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "switchyard-tests"))
        .timeout_config(emulator_timeouts())
        .load()
        .await
}

/// The emulator answers a few dozen requests a second on two shared cores; with the deployed
/// 3 s attempt timeout a slow ReceiveMessage is retried after moto has already handed its
/// messages out, and they stay invisible for the visibility timeout (the fault-injection test
/// then finds them "stuck"). Tests give the emulator the time it needs instead.
fn emulator_timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .operation_attempt_timeout(std::time::Duration::from_secs(30))
        .operation_timeout(std::time::Duration::from_secs(60))
        .build()
}

/// One test's resources: a fresh table and sync queue in the shared emulator, and clients that
/// count every request they send.
pub struct TestEnv {
    pub clients: AwsClients,
    pub counter: RequestCounter,
    /// Makes chosen operations of these clients fail (empty: none do).
    pub faults: faults::FaultInjector,
    pub table: String,
    pub queue_url: String,
    pub dlq_url: String,
}

impl TestEnv {
    pub async fn new() -> Self {
        log_capture::install();
        let config = sdk_config().await;
        let counter = RequestCounter::default();
        let faults = faults::FaultInjector::default();
        let clients = AwsClients {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(&config)
                    .interceptor(counter.clone())
                    .interceptor(faults.clone())
                    .build(),
            ),
            sqs: aws_sdk_sqs::Client::from_conf(
                aws_sdk_sqs::config::Builder::from(&config)
                    .interceptor(counter.clone())
                    .interceptor(faults.clone())
                    .build(),
            ),
            secrets: aws_sdk_secretsmanager::Client::from_conf(
                aws_sdk_secretsmanager::config::Builder::from(&config)
                    .interceptor(counter.clone())
                    .interceptor(faults.clone())
                    .interceptor(log_capture::SecretRecorder)
                    .build(),
            ),
        };
        // Every test gets its own stage: its own table and queues, created from the SAM template.
        let ulid = ulid::Ulid::new().to_string().to_lowercase();
        let stage = format!("t{}", &ulid[ulid.len() - 12..]);
        let resources = switchyard::local::resources::parse(switchyard::local::resources::TEMPLATE, &stage)
            .expect("infra/template.yaml parses");
        let created = switchyard::local::resources::create(&clients, &resources)
            .await
            .expect("the emulator creates the template's resources");
        let table = created.table("Table").expect("the template declares Table").to_string();
        let queue_url = created
            .queue_url("SyncQueue")
            .expect("the template declares SyncQueue")
            .to_string();
        let dlq_url = created
            .queue_url("SyncDeadLetterQueue")
            .expect("the template declares SyncDeadLetterQueue")
            .to_string();
        counter.reset();
        Self {
            clients,
            counter,
            faults,
            table,
            queue_url,
            dlq_url,
        }
    }

    /// Every message on the sync queue now (received and deleted).
    pub async fn drain_queue(&self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        loop {
            let resp = self
                .clients
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await
                .expect("ReceiveMessage works against the emulator");
            let msgs = resp.messages.unwrap_or_default();
            if msgs.is_empty() {
                return out;
            }
            for m in msgs {
                out.push(serde_json::from_str(m.body().unwrap_or("null")).expect("queue messages are JSON"));
                self.clients
                    .sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("DeleteMessage works against the emulator");
            }
        }
    }
}

/// Writes `data` to a fresh temporary file and returns its path (for CLI tests).
pub fn temp_file(name: &str, data: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchyard-test-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).expect("temp dir is writable");
    let path = dir.join(name);
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(data))
        .expect("temp file is writable");
    path
}
