//! `switchyard local up` (what `make dev` runs) as a newcomer uses it: the demo's three steps
//! work, Ctrl-C stops everything, and running it again works; and beside it, every function runs
//! under `cargo lambda watch` and answers `cargo lambda invoke --data-file events/...`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Up {
    child: Child,
    ports: [u16; 4],
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Starts `switchyard local up` on free ports; `extra` arguments are added. The environment file
/// for cargo lambda goes to a temporary directory unless `extra` says where.
fn start(extra: &[&str]) -> Up {
    let ports = [free_port(), free_port(), free_port(), free_port()];
    let venv = root().join(".venv");
    let env_file = std::env::temp_dir().join(format!("switchyard-lambda-{}.env", ports[0]));
    let stderr = std::env::temp_dir().join(format!("switchyard-local-up-{}.log", ports[0]));
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args([
            "local",
            "up",
            "--port",
            &ports[0].to_string(),
            "--aws-port",
            &ports[1].to_string(),
        ])
        .args([
            "--stripe-port",
            &ports[2].to_string(),
            "--hubspot-port",
            &ports[3].to_string(),
        ])
        .args(if extra.contains(&"--env-file") {
            vec![]
        } else {
            vec!["--env-file".as_ref(), env_file.as_os_str()]
        })
        .args(extra)
        .env("SWITCHYARD_VENV", venv)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("the switchyard binary runs");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) if line.contains("Switchyard is running locally") => break,
            Ok(_) => {}
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "`switchyard local up` did not come up within 90 s (its log: {}); try it by hand with `make dev`",
                    stderr.display()
                );
            }
        }
    }
    Up { child, ports }
}

impl Up {
    fn stop(mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("`switchyard local up` did not stop on Ctrl-C");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[tokio::test]
async fn make_dev_demo_moves_a_new_stripe_customer_into_hubspot() {
    let up = start(&[]);
    let [_, _, stripe, hubspot] = up.ports;
    let http = reqwest::Client::new();
    // 1. Create a customer in localstripe.
    let created = http
        .post(format!("http://127.0.0.1:{stripe}/v1/customers"))
        .basic_auth("sk_test_12345", Some(""))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=newcomer%40example.com&name=New+Comer")
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success());
    // 2. Watch it arrive in HubSpot (localstripe's webhook -> receiver -> queue -> connector-sync).
    let deadline = Instant::now() + Duration::from_secs(30);
    let contact = loop {
        let list: serde_json::Value = http
            .get(format!(
                "http://127.0.0.1:{hubspot}/crm/v3/objects/contacts?properties=email,firstname,lastname"
            ))
            .bearer_auth("pat-na1-fake-hubspot-token")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(c) = list["results"].as_array().and_then(|r| r.first()).cloned() {
            break c;
        }
        assert!(Instant::now() < deadline, "the customer never reached HubSpot");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(contact["properties"]["email"], "newcomer@example.com");
    assert_eq!(contact["properties"]["lastname"], "Comer");

    // Ctrl-C stops everything it started: every port is free again.
    let ports = up.ports;
    let status = up.stop();
    assert!(status.success(), "{status}");
    let busy = busy_ports(&ports);
    assert!(busy.is_empty(), "ports {busy:?} are still in use after Ctrl-C");

    // Running it again works.
    let again = start(&[]);
    assert!(again.stop().success());
}

/// `(pid, state)` of every process whose parent is `parent`, from /proc.
fn children_of(parent: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| proc_stat(*pid).is_some_and(|(_, ppid)| ppid == parent))
        .collect()
}

/// The state letter and parent of a process, or `None` when it is gone.
fn proc_stat(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`; comm may contain spaces and parentheses.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Alive: present and not a zombie (an orphan's zombie may wait for a reaper that never comes).
fn alive(pid: u32) -> bool {
    proc_stat(pid).is_some_and(|(state, _)| state != 'Z' && state != 'X')
}

#[test]
fn killing_local_up_takes_moto_and_localstripe_down_with_it() {
    let mut up = start(&[]);
    let parent = up.child.id();
    let tools = children_of(parent);
    let names: Vec<String> = tools
        .iter()
        .map(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .unwrap_or_default()
                .replace('\0', " ")
        })
        .collect();
    assert!(
        names.iter().any(|n| n.contains("moto_server")) && names.iter().any(|n| n.contains("localstripe")),
        "expected moto and localstripe among the children of `local up`: {names:?}"
    );

    // SIGKILL: no handler, no drop, no clean-up code of ours runs.
    up.child.kill().unwrap();
    up.child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left: Vec<u32> = tools.iter().copied().filter(|pid| alive(*pid)).collect();
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still running 5 s after `local up` was killed: {left:?} of {names:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let busy = busy_ports(&up.ports[1..3]);
    assert!(busy.is_empty(), "ports {busy:?} are still in use");
}

fn busy_ports(ports: &[u16]) -> Vec<u16> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let busy: Vec<u16> = ports
            .iter()
            .copied()
            .filter(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok())
            .collect();
        if busy.is_empty() || Instant::now() > deadline {
            return busy;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `cargo lambda watch` serving the workspace's functions on a free port, stopped (with the
/// function instances it started, each in its own session) when dropped.
struct Watch {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Watch {
    fn start(env_file: &Path) -> Watch {
        let bin = root().join(".venv/bin");
        assert!(
            bin.join("cargo-lambda").is_file(),
            "cargo-lambda is not in .venv: run scripts/setup-venv.sh (make dev and make test run it)"
        );
        let port = free_port();
        let log = std::env::temp_dir().join(format!("switchyard-cargo-lambda-watch-{port}.log"));
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        let child = switchyard_tests::cargo::command()
            .args([
                "lambda",
                "watch",
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &port.to_string(),
            ])
            .arg("--env-file")
            .arg(env_file)
            .current_dir(root())
            .env("PATH", path)
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::options().append(true).open(&log).unwrap())
            .spawn()
            .expect("cargo runs");
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "cargo lambda watch never listened; see {}",
                log.display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        Watch { child, port, log }
    }

    /// `cargo lambda invoke <function> --data-file <events/...>`: the function's JSON answer.
    /// The first invocation of a function builds it, so this waits up to five minutes.
    fn invoke(&self, function: &str, data_file: &str) -> serde_json::Value {
        let path = format!(
            "{}:{}",
            root().join(".venv/bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut child = switchyard_tests::cargo::command()
            .args(["lambda", "invoke", "--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &self.port.to_string(), function])
            .arg("--data-file")
            .arg(root().join(data_file))
            .current_dir(root())
            .env("PATH", path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cargo runs");
        let deadline = Instant::now() + Duration::from_secs(300);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("invoking {function} took over 5 minutes; see {}", self.log.display());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "cargo lambda invoke {function} --data-file {data_file} failed: {}{}\n(function log: {})",
            stdout,
            String::from_utf8_lossy(&out.stderr),
            self.log.display()
        );
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{function} answered {stdout:?}, not JSON: {e}"))
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // Ctrl-C, as a person would: cargo lambda stops the function instances it started.
        let _ = Command::new("kill")
            .args(["-s", "INT", "--", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn env_value(env_file: &Path, key: &str) -> String {
    std::fs::read_to_string(env_file)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")).map(str::to_string))
        .unwrap_or_else(|| panic!("{key} missing from {}", env_file.display()))
}

#[tokio::test]
async fn every_function_answers_cargo_lambda_invoke_with_its_sample_event() {
    let dir = std::env::temp_dir().join(format!("switchyard-cargo-lambda-{}", free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    let env_file = dir.join("lambda.env");
    let samples = root().join("events/webhook-receiver/connections.json");
    let up = start(&[
        "--no-demo",
        "--env-file",
        env_file.to_str().unwrap(),
        "--samples",
        samples.to_str().unwrap(),
    ]);
    let watch = Watch::start(&env_file);

    // The receiver: every sample verifies against the connection `local up` registered for it,
    // and the same delivery again is a duplicate.
    let mut names: Vec<String> = std::fs::read_dir(root().join("events/webhook-receiver"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json") && n != "connections.json")
        .collect();
    names.sort();
    assert!(names.len() >= 10, "{names:?}");
    for name in &names {
        let answer = watch.invoke("webhook-receiver", &format!("events/webhook-receiver/{name}"));
        assert_eq!(answer["statusCode"], 200, "{name}: {answer}");
        if name == "slack-url-verification.json" {
            continue;
        }
        let body: serde_json::Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
        assert!(body["accepted"].as_u64().unwrap() >= 1, "{name}: {body}");
    }
    let again = watch.invoke("webhook-receiver", "events/webhook-receiver/stripe.json");
    let body: serde_json::Value = serde_json::from_str(again["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        (body["accepted"].as_u64(), body["duplicates"].as_u64()),
        (Some(0), Some(1)),
        "{body}"
    );

    // connector-sync: the dispatch tick runs (no flows in this stack, so nothing is due).
    let tick = watch.invoke("connector-sync", "events/connector-sync/dispatch-tick.json");
    assert_eq!(
        (tick["due"].as_u64(), tick["failed"].as_u64()),
        (Some(0), Some(0)),
        "{tick}"
    );

    // retry-handler: the dead letter goes back to the sync queue with its next delay.
    let queue_url = env_value(&env_file, "SYNC_QUEUE_URL");
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .endpoint_url(env_value(&env_file, "AWS_ENDPOINT_URL"))
            .region(aws_sdk_sqs::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .build(),
    );
    let delayed = || async {
        sqs.get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .unwrap()
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let before = delayed().await;
    let retried = watch.invoke("retry-handler", "events/retry-handler/dlq-message.json");
    assert_eq!(retried, serde_json::json!({"batchItemFailures": []}));
    assert_eq!(
        delayed().await,
        before + 1,
        "the retried message is not waiting on the sync queue"
    );

    // health-checker: every connection is looked at within the invocation (the sample
    // connections are webhook-only, so there is nothing to call).
    let health = watch.invoke("health-checker", "events/health-checker/scheduled.json");
    assert!(health["connections"].as_u64().unwrap() >= 10, "{health}");
    assert_eq!(health["not_reached"], 0, "{health}");
    assert_eq!(health["errors"], 0, "{health}");

    drop(watch);
    assert!(up.stop().success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_mapping_that_loops_on_some_records_does_not_stall_the_local_stack() {
    let up = start(&[]);
    let [receiver, aws, stripe, hubspot] = up.ports;
    let env_file = std::env::temp_dir().join(format!("switchyard-lambda-{receiver}.env"));
    // A careless mapping: fine on ordinary records (so `flows create` accepts it), endless on
    // customers whose email starts with "loop".
    let created = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["flows", "create", "--tenant", "demo", "--id", "flow_loops_on_some"])
        .args(["--source", "conn_stripe_demo", "--stream", "customers"])
        .args([
            "--destination",
            "conn_hubspot_demo",
            "--operation",
            "contacts.upsert_by_email",
        ])
        .args([
            "--mapping",
            r#"if (.email | startswith("loop")) then last(repeat(.)) else {properties: {email: .email}} end"#,
        ])
        .args(["--table", &env_value(&env_file, "TABLE_NAME")])
        .args(["--endpoint-url", &format!("http://127.0.0.1:{aws}")])
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    for email in [
        "loop1@example.com",
        "good1@example.com",
        "loop2@example.com",
        "loop3@example.com",
        "good2@example.com",
    ] {
        let created = http
            .post(format!("http://127.0.0.1:{stripe}/v1/customers"))
            .basic_auth("sk_test_12345", Some(""))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("email={}&name=Some+One", email.replace('@', "%40")))
            .send()
            .await
            .unwrap();
        assert!(created.status().is_success());
    }
    // While the looping records fail, the receiver keeps answering (an unknown connection gets
    // its 401 at once) and the good customers arrive.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let answered = http
            .post(format!("http://127.0.0.1:{receiver}/hooks/conn_nobody"))
            .body("{}")
            .send()
            .await
            .expect("the receiver answers while mappings fail");
        assert_eq!(answered.status().as_u16(), 401);
        let list: serde_json::Value = http
            .get(format!(
                "http://127.0.0.1:{hubspot}/crm/v3/objects/contacts?properties=email"
            ))
            .bearer_auth("pat-na1-fake-hubspot-token")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let emails: Vec<&str> = list["results"]
            .as_array()
            .map(|r| r.iter().filter_map(|c| c["properties"]["email"].as_str()).collect())
            .unwrap_or_default();
        if emails.contains(&"good1@example.com") && emails.contains(&"good2@example.com") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the good customers never arrived: {emails:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // And Ctrl-C still stops it.
    assert!(up.stop().success());
}
