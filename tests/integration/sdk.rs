//! The management API from outside, as its users meet it: the Python client that `make sdk`
//! generates from api/openapi.json, and Schemathesis's generated requests against every
//! operation of that document. Both talk HTTP to the api function's core served on loopback
//! (as `local up` serves it) with moto behind it.
//!
//! The tools are the pinned ones of requirements-sdk.txt in .venv-sdk: `scripts/setup-sdk.sh`
//! installs them (make test runs it first). Without them these tests fail and say so.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchyard::api::{ApiConfig, ApiDeps, ApiRequest};
use switchyard::clock::{Clock, SystemClock};
use switchyard::connector::Registry;
use switchyard::store::api_keys::{Role, Tier};
use switchyard_fakes::hubspot::{self, HubspotConfig};
use switchyard_fakes::FakeHandle;
use switchyard_tests::TestEnv;

const CREDENTIAL: &str = "pat-na1-sdk-test-credential-77ad";

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives inside the workspace")
        .to_path_buf()
}

/// A pinned tool in .venv-sdk, or a failure that says how to install it: never a skip.
fn sdk_tool(name: &str) -> PathBuf {
    let path = workspace_root().join(".venv-sdk/bin").join(name);
    assert!(
        path.exists(),
        "\n\n{} is missing.\nRun `scripts/setup-sdk.sh` (make test does): it installs the pinned generators and \
         schemathesis of requirements-sdk.txt into .venv-sdk.\n",
        path.display()
    );
    path
}

fn output_text(out: &Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A scratch directory of this test process, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str, run: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("switchyard-{name}-{run}"));
        std::fs::create_dir_all(&dir).expect("the temporary directory is writable");
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The API over HTTP on loopback, moto behind it, and a HubSpot fake for connections.
struct Stack {
    /// Kept for the test's length: its clients are the ones the API uses.
    _env: TestEnv,
    deps: Arc<ApiDeps>,
    base: String,
    hubspot: FakeHandle<hubspot::Hubspot>,
    /// Makes this test's tenants and ids unique in the shared emulator.
    run: String,
}

impl Stack {
    async fn new() -> Self {
        let env = TestEnv::new().await;
        let mut config = ApiConfig::new(&env.table, &env.queue_url);
        // Connection tests call the fake on loopback, and give up fast.
        config.allow_private_network = true;
        config.check_timeout = Duration::from_secs(2);
        let deps = Arc::new(ApiDeps::new(
            config,
            &env.clients,
            Arc::new(Registry::embedded().expect("embedded definitions load")),
            Arc::new(SystemClock),
        ));
        let base = crate::console::serve(deps.clone()).await;
        let ulid = ulid::Ulid::new().to_string().to_lowercase();
        Self {
            _env: env,
            deps,
            base,
            hubspot: hubspot::start(HubspotConfig::default()),
            run: ulid[ulid.len() - 8..].to_string(),
        }
    }

    fn tenant(&self, name: &str) -> String {
        format!("{name}-{}", self.run)
    }

    /// A tenant's key, as `switchyard keys create` makes it.
    async fn key(&self, tenant: &str, role: Role) -> String {
        let (new, _) = switchyard::admin::create_api_key(
            &self.deps.keys,
            &self.tenant(tenant),
            role.name(),
            role,
            Tier::Enterprise,
            "cli",
            SystemClock.now_unix(),
        )
        .await
        .expect("the key is stored");
        let key = secrecy::ExposeSecret::expose_secret(&new.key).to_string();
        switchyard_tests::log_capture::known_secret(&key);
        key
    }

    /// One call through the API's core (not HTTP): how the Rust side checks what the tools did.
    async fn call(&self, method: &str, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
        let mut headers = http::HeaderMap::new();
        headers.insert("authorization", format!("Bearer {key}").parse().unwrap());
        headers.insert("content-type", "application/json".parse().unwrap());
        let resp = switchyard::api::handle(
            &self.deps,
            ApiRequest {
                method: method.into(),
                path: path.into(),
                query: String::new(),
                headers,
                body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
            },
        )
        .await;
        (resp.status, serde_json::from_str(&resp.body).unwrap_or(Value::Null))
    }

    async fn connection(&self, key: &str, id: &str) {
        let (status, body) = self
            .call(
                "POST",
                "/v1/connections",
                key,
                Some(json!({
                    "id": id,
                    "provider": "hubspot",
                    "name": format!("HubSpot {id}"),
                    "config": {"base_url": self.hubspot.base_url},
                    "credentials": {"access_token": CREDENTIAL},
                })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }

    async fn flow(&self, key: &str, id: &str, source: &str, destination: &str) {
        let (status, body) = self
            .call(
                "POST",
                "/v1/flows",
                key,
                Some(json!({
                    "id": id,
                    "source": source,
                    "stream": "contacts",
                    "destination": destination,
                    "operation": "contacts.upsert_by_email",
                    "mapping": "{properties: {email: .properties.email}}",
                })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
}

/// Generates the Python client from the checked-in document, as `make sdk` does, into `dir`.
fn generate_python_client(dir: &Path) {
    let generator = sdk_tool("openapi-python-client");
    let root = workspace_root();
    // The generator formats its output with the pinned ruff beside it.
    let path = format!(
        "{}:{}",
        root.join(".venv-sdk/bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(generator)
        .args(["generate", "--path", "api/openapi.json", "--output-path"])
        .arg(dir)
        .args(["--config", "sdk/python-client.yaml", "--fail-on-warning"])
        .current_dir(&root)
        .env("PATH", path)
        .output()
        .expect("openapi-python-client starts");
    assert!(
        out.status.success(),
        "openapi-python-client could not generate a client from api/openapi.json:\n{}",
        output_text(&out)
    );
    assert!(dir
        .join("switchyard_client/api/connections/create_connection.py")
        .exists());
}

#[tokio::test]
async fn the_generated_python_client_lists_creates_and_reads_a_problem_from_the_local_api() {
    let python = sdk_tool("python");
    let stack = Stack::new().await;
    let scratch = Scratch::new("python-sdk", &stack.run);
    let started = Instant::now();
    generate_python_client(&scratch.0.join("python"));
    let generated = started.elapsed();
    let admin = stack.key("sdk", Role::Admin).await;

    let out = tokio::task::spawn_blocking({
        let (base, run, provider, client_dir) = (
            stack.base.clone(),
            stack.run.clone(),
            stack.hubspot.base_url.clone(),
            scratch.0.join("python"),
        );
        let admin = admin.clone();
        move || {
            Command::new(python)
                .arg(workspace_root().join("tests/sdk/python_client.py"))
                .env("PYTHONPATH", client_dir)
                .env("SWITCHYARD_API_URL", base)
                .env("SWITCHYARD_API_KEY", admin)
                .env("SWITCHYARD_RUN", run)
                .env("SWITCHYARD_PROVIDER_URL", provider)
                .env("SWITCHYARD_CREDENTIAL", CREDENTIAL)
                .output()
                .expect("the Python of .venv-sdk starts")
        }
    })
    .await
    .expect("the client script ran");
    assert!(
        out.status.success(),
        "the Python client script failed:\n{}",
        output_text(&out)
    );
    let report: Value = serde_json::from_slice(
        out.stdout
            .split(|b| *b == b'\n')
            .rfind(|l| !l.is_empty())
            .expect("the script prints its report"),
    )
    .expect("the report is JSON");

    // What the client created is there, read back through the API's core.
    assert!(report["connectors"].as_u64().unwrap() >= 2, "{report}");
    let connections = report["connections"].as_array().expect("two connections");
    assert_eq!(connections.len(), 2, "{report}");
    for id in connections {
        let id = id.as_str().unwrap();
        let (status, body) = stack.call("GET", &format!("/v1/connections/{id}"), &admin, None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["provider"], "hubspot");
        assert_eq!(body["has_credentials"], true);
        assert!(!body.to_string().contains(CREDENTIAL), "{body}");
    }
    let flow = report["flow"].as_str().unwrap();
    let (status, body) = stack.call("GET", &format!("/v1/flows/{flow}"), &admin, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["source_connection"], connections[0]);
    assert_eq!(report["problem"]["status"], 404, "{report}");
    assert_eq!(report["problem"]["type"], "/v1/problems/not-found", "{report}");
    eprintln!(
        "python SDK test: generated in {:.1} s, whole test {:.1} s",
        generated.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

/// One `st run` over every operation of the document, bounded in examples and time. The
/// arguments after the document and base URL select the checks and the credentials.
fn schemathesis(base: &str, scratch: &Path, name: &str, budget_secs: u32, args: &[&str]) -> (Output, Duration) {
    let st = sdk_tool("st");
    let started = Instant::now();
    let out = Command::new(st)
        .current_dir(workspace_root())
        .arg("--config-file")
        .arg(scratch.join(format!("{name}.toml")))
        .args(["run", "api/openapi.json", "--url", base])
        // Bounded: a few examples per operation, a fixed seed (a failure reproduces with the
        // same command), one worker (with two, Hypothesis 6.170 sometimes trips over its own
        // source cache: "AST constructor recursion depth mismatch"), and a time budget for each
        // run (fuzzing goes on until the budget is spent).
        .args(["--max-examples", "6", "--seed", "17", "--workers", "1"])
        .arg("--max-time")
        .arg(budget_secs.to_string())
        .args([
            "--phases",
            "examples,coverage,fuzzing",
            "--generation-database",
            "none",
            "--no-color",
        ])
        .args(["--request-timeout", "10", "--max-failures", "20"])
        .args(args)
        .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
        .env("PYTHONPATH", workspace_root().join("tests/sdk"))
        .output()
        .expect("schemathesis starts");
    (out, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_no_schema_violation_and_no_auth_bypass() {
    sdk_tool("st");
    let stack = Stack::new().await;
    let scratch = Scratch::new("schemathesis", &stack.run);
    // Two tenants with a connection pair and a flow each: tenant a's requests find real objects,
    // and the object-level authorization check replays them with tenant b's key.
    let a = stack.key("tenant-a", Role::Admin).await;
    let b = stack.key("tenant-b", Role::Admin).await;
    for (key, tenant) in [(&a, "a"), (&b, "b")] {
        stack.connection(key, &format!("conn_{tenant}_src")).await;
        stack.connection(key, &format!("conn_{tenant}_dst")).await;
        stack
            .flow(
                key,
                &format!("flow_{tenant}"),
                &format!("conn_{tenant}_src"),
                &format!("conn_{tenant}_dst"),
            )
            .await;
    }
    let wfc = json!({
        "schemaVersion": "0.1.0",
        "auth": [
            {"name": "tenant-a", "fixedHeaders": [{"name": "Authorization", "value": format!("Bearer {a}")}]},
            {"name": "tenant-b", "fixedHeaders": [{"name": "Authorization", "value": format!("Bearer {b}")}]},
        ]
    });
    std::fs::write(scratch.0.join("keys.json"), wfc.to_string()).unwrap();
    std::fs::write(
        scratch.0.join("tenants.toml"),
        format!(
            "[auth.wfc]\npath = \"{}\"\nuser = \"tenant-a\"\npeers = [\"tenant-a\", \"tenant-b\"]\n",
            scratch.0.join("keys.json").display()
        ),
    )
    .unwrap();
    std::fs::write(scratch.0.join("no-key.toml"), "").unwrap();

    // The key operations run apart, with tenant c's key: Schemathesis learns key prefixes from
    // answers (`/v1/me`) and would revoke or rotate the very key the main run sends, which
    // leaves the rest of that run with 401s.
    let c = stack.key("tenant-c", Role::Admin).await;

    let base = stack.base.clone();
    let dir = scratch.0.clone();
    let runs = tokio::task::spawn_blocking(move || {
        let checks = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_headers_conformance,response_schema_conformance,ignored_auth";
        let with_keys = schemathesis(
            &base,
            &dir,
            "tenants",
            25,
            &[
                "--checks",
                &format!("{checks},object_level_authorization"),
                "--exclude-operation-id",
                "revoke_key",
                "--exclude-operation-id",
                "rotate_key",
            ],
        );
        // Every answer is a 401, which Schemathesis warns about: here that is the point.
        let no_key = schemathesis(
            &base,
            &dir,
            "no-key",
            8,
            &["--checks", "refused_without_a_valid_key", "--warnings", "off"],
        );
        let bad_key = schemathesis(
            &base,
            &dir,
            "no-key",
            8,
            &[
                "--checks",
                "refused_without_a_valid_key",
                "--warnings",
                "off",
                "-H",
                "Authorization: Bearer sy_live_0000000000_notakeyatallnotakeyatall",
            ],
        );
        let key_ops = schemathesis(
            &base,
            &dir,
            "no-key",
            4,
            &[
                "--checks",
                checks,
                "--include-operation-id",
                "revoke_key",
                "--include-operation-id",
                "rotate_key",
                "--warnings",
                "off",
                "-H",
                &format!("Authorization: Bearer {c}"),
            ],
        );
        [
            ("tenant keys", with_keys),
            ("no key", no_key),
            ("an invalid key", bad_key),
            ("tenant c's key on revoke and rotate", key_ops),
        ]
    })
    .await
    .expect("the schemathesis runs finished");

    let mut failed = Vec::new();
    let mut total = Duration::ZERO;
    for (what, (out, took)) in &runs {
        total += *took;
        // Schemathesis's summary: phases, failures, and how many test cases it generated.
        let stdout = String::from_utf8_lossy(&out.stdout);
        let summary = stdout.rsplit_once("SUMMARY").map(|(_, s)| s).unwrap_or(&stdout);
        eprintln!("schemathesis with {what}: {:.1} s{summary}", took.as_secs_f64());
        if !out.status.success() {
            failed.push(format!("schemathesis with {what} failed:\n{}", output_text(out)));
        }
    }
    eprintln!("schemathesis, all runs: {:.1} s", total.as_secs_f64());
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
    // The main run kept its keys working to the end: its requests reached the routes, not only
    // the key check.
    let main_run = String::from_utf8_lossy(&runs[0].1 .0.stdout);
    assert!(
        !main_run.contains("Authentication failed"),
        "the run with tenant keys got only 401s somewhere:\n{main_run}"
    );
    for key in [&a, &b] {
        let (status, body) = stack.call("GET", "/v1/me", key, None).await;
        assert_eq!(status, 200, "{body}");
    }
}
