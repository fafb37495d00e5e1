//! `switchyard local up` (what `make dev` runs) as a newcomer uses it: the demo's three steps
//! work, Ctrl-C stops everything, and running it again works.

use std::io::{BufRead, BufReader};
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

fn start() -> Up {
    let ports = [free_port(), free_port(), free_port(), free_port()];
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv");
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
        .env("SWITCHYARD_VENV", venv)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
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
                panic!("`switchyard local up` did not come up within 90 s; try it by hand with `make dev`");
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
    let up = start();
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
    let again = start();
    assert!(again.stop().success());
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
