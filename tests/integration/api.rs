//! The management API (`/v1/...`) against moto through the real SDK clients: keys, roles,
//! tenant isolation, the rate limit, problem details, pagination, and the resources.

use std::sync::Arc;

use serde_json::{json, Value};
use switchyard::api::{ApiConfig, ApiDeps, ApiRequest, ApiResponse};
use switchyard::clock::FixedClock;
use switchyard::connector::Registry;
use switchyard::queue::{AttemptRecord, Envelope, SyncJobRef, SyncMessage};
use switchyard::store::api_keys::{Role, Tier};
use switchyard::store::dead_letters::{DeadLetter, DeadLetterStatus, DeadLetterStore};
use switchyard_fakes::hubspot::{self, HubspotConfig};
use switchyard_fakes::FakeHandle;
use switchyard_tests::TestEnv;

const NOW: i64 = 1_800_000_000;
const CREDENTIAL: &str = "pat-na1-api-test-credential-5f0c";
const WEBHOOK_SECRET: &str = "whsec_api_test_signing_secret_91d";

struct Api {
    env: TestEnv,
    /// The provider connections point at (`POST /v1/connections/{id}/test` calls it).
    hubspot: FakeHandle<hubspot::Hubspot>,
    deps: ApiDeps,
    clock: FixedClock,
    /// Every response body this test saw (the secrets sweep reads them).
    seen: std::sync::Mutex<Vec<String>>,
    /// Makes this test's tenant names unique: secret names are global in the shared emulator.
    run: String,
}

struct Reply {
    status: u16,
    resp: ApiResponse,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.resp.header(name)
    }
}

impl Api {
    async fn new(configure: impl FnOnce(&mut ApiConfig)) -> Self {
        let env = TestEnv::new().await;
        let mut config = ApiConfig::new(&env.table, &env.queue_url);
        // Connection tests call the fake on loopback, and give up fast.
        config.allow_private_network = true;
        config.check_timeout = std::time::Duration::from_secs(2);
        configure(&mut config);
        let clock = FixedClock::at(NOW);
        let deps = ApiDeps::new(
            config,
            &env.clients,
            Arc::new(Registry::embedded().expect("embedded definitions load")),
            Arc::new(clock.clone()),
        );
        let ulid = ulid::Ulid::new().to_string().to_lowercase();
        Self {
            env,
            hubspot: hubspot::start(HubspotConfig::default()),
            deps,
            clock,
            seen: Default::default(),
            run: ulid[ulid.len() - 8..].to_string(),
        }
    }

    /// This test's name for a tenant.
    fn tenant(&self, name: &str) -> String {
        format!("{name}-{}", self.run)
    }

    /// A tenant's first key, as `switchyard keys create` makes it.
    async fn bootstrap(&self, tenant: &str, role: Role, tier: Tier) -> String {
        let (new, _) = switchyard::admin::create_api_key(
            &self.deps.keys,
            &self.tenant(tenant),
            "bootstrap",
            role,
            tier,
            "cli",
            NOW,
        )
        .await
        .expect("the key is stored");
        let key = secrecy::ExposeSecret::expose_secret(&new.key).to_string();
        switchyard_tests::log_capture::known_secret(&key);
        key
    }

    async fn raw(&self, method: &str, path: &str, key: Option<&str>, body: &[u8], content_type: Option<&str>) -> Reply {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let mut headers = http::HeaderMap::new();
        if let Some(k) = key {
            headers.insert("authorization", format!("Bearer {k}").parse().unwrap());
        }
        if let Some(ct) = content_type {
            headers.insert("content-type", ct.parse().unwrap());
        }
        let resp = switchyard::api::handle(
            &self.deps,
            ApiRequest {
                method: method.into(),
                path: path.into(),
                query: query.into(),
                headers,
                body: body.to_vec(),
            },
        )
        .await;
        self.seen.lock().unwrap().push(resp.body.clone());
        let body = if resp.body.is_empty() {
            Value::Null
        } else if resp.header("content-type") == Some("application/x-ndjson") {
            // JSON Lines: one value per line, as an array.
            Value::Array(
                resp.body
                    .lines()
                    .map(|l| {
                        serde_json::from_str(l).unwrap_or_else(|e| panic!("{path}: a line is not JSON ({e}): {l}"))
                    })
                    .collect(),
            )
        } else {
            serde_json::from_str(&resp.body)
                .unwrap_or_else(|e| panic!("{method} {path}: body is not JSON ({e}): {}", resp.body))
        };
        if resp.status >= 400 {
            assert_eq!(
                resp.header("content-type"),
                Some("application/problem+json"),
                "{method} {path}: an error is a problem: {}",
                resp.body
            );
            assert_eq!(body["status"], resp.status, "{}", resp.body);
            assert!(body["type"].as_str().is_some_and(|t| t.starts_with("/v1/problems/")));
            assert!(body["title"].is_string() && body["detail"].is_string());
        }
        Reply {
            status: resp.status,
            resp,
            body,
        }
    }

    async fn call(&self, method: &str, path: &str, key: &str, body: Option<Value>) -> Reply {
        match body {
            Some(b) => {
                self.raw(
                    method,
                    path,
                    Some(key),
                    b.to_string().as_bytes(),
                    Some("application/json"),
                )
                .await
            }
            None => self.raw(method, path, Some(key), b"", None).await,
        }
    }

    /// Creates a HubSpot connection with credentials and a webhook secret.
    async fn connection(&self, key: &str, id: &str) -> Reply {
        let r = self
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
                    "webhook": {"scheme": "hubspot", "secret": WEBHOOK_SECRET}
                })),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r
    }

    async fn flow(&self, key: &str, id: &str, source: &str, destination: &str) -> Reply {
        let r = self
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
                    "schedule_interval_secs": 3600
                })),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r
    }

    async fn park(&self, key: &str, flow_id: &str) {
        DeadLetterStore::new(self.env.clients.dynamodb.clone(), &self.env.table)
            .put(&DeadLetter {
                key: key.into(),
                kind: "sync_job".into(),
                connection_id: None,
                flow_id: Some(flow_id.into()),
                message: Envelope::new(SyncMessage::SyncJob(SyncJobRef {
                    flow_id: flow_id.into(),
                    job_id: "job_1".into(),
                    attempt: 5,
                }))
                .to_body(),
                attempts: 5,
                history: Vec::<AttemptRecord>::new(),
                classification: "transient".into(),
                reason: "exhausted".into(),
                last_error: "HubSpot answered 503".into(),
                parked_at: NOW - 60,
                status: DeadLetterStatus::Parked,
                replayed_at: None,
            })
            .await
            .expect("the dead letter is parked");
    }
}

/// Tenant `a` with an admin key, two connections, a flow and a dead letter.
async fn seeded(api: &Api) -> (String, &'static str) {
    let admin = api.bootstrap("tenant-a", Role::Admin, Tier::Enterprise).await;
    api.connection(&admin, "conn_a1").await;
    api.connection(&admin, "conn_a2").await;
    api.flow(&admin, "flow_a", "conn_a1", "conn_a2").await;
    api.park("job:flow_a:job_1", "flow_a").await;
    // A rejected delivery in conn_a1's webhook log, as the receiver writes it.
    switchyard::store::webhook_log::WebhookLogStore::new(api.env.clients.dynamodb.clone(), &api.env.table)
        .record(
            &api.tenant("tenant-a"),
            &switchyard::store::webhook_log::LogEntry {
                connection_id: "conn_a1".into(),
                at: NOW - 30,
                outcome: switchyard::store::webhook_log::Outcome::Rejected,
                reason: Some("bad_signature:no_matching_signature".into()),
                event_id: None,
                event_type: None,
                provider: None,
            },
            NOW + 86_400,
        )
        .await
        .expect("the log entry is written");
    // A stored event about a person, in a's subject index (as the receiver stores it).
    let tenant = api.tenant("tenant-a");
    let body = br#"{"eventId":7,"email":"ada@example.com"}"#.to_vec();
    switchyard::store::events::EventStore::new(api.env.clients.dynamodb.clone(), &api.env.table)
        .put_if_new(&switchyard::store::events::StoredEvent {
            subject: switchyard::subjects::subject_of_bytes(&tenant, &body),
            connection_id: "conn_a1".into(),
            tenant,
            event_id: "evt_ada".into(),
            event_type: "contact.creation".into(),
            provider: "hubspot".into(),
            body,
            headers: Default::default(),
            received_at: NOW - 20,
            expires_at: NOW + 86_400,
        })
        .await
        .expect("the event is stored");
    // An outbound webhook subscription with one failed delivery in its log.
    let sub = api
        .call(
            "POST",
            "/v1/webhook-subscriptions",
            &admin,
            Some(json!({"id": "whsub_a", "url": "https://example.com/hooks/a", "event_types": ["job.failed"]})),
        )
        .await;
    assert_eq!(sub.status, 201, "{}", sub.body);
    switchyard_tests::log_capture::known_secret(sub.body["secret"].as_str().unwrap());
    switchyard::store::subscriptions::SubscriptionStore::new(api.env.clients.dynamodb.clone(), &api.env.table)
        .put_delivery(
            &api.tenant("tenant-a"),
            &switchyard::store::subscriptions::Delivery {
                delivery_id: "dlv_a".into(),
                subscription_id: "whsub_a".into(),
                event_id: "msg_a".into(),
                event_type: "job.failed".into(),
                payload: r#"{"type":"job.failed","timestamp":"2027-01-15T08:00:00Z","data":{"flow_id":"flow_a"}}"#
                    .into(),
                status: switchyard::store::subscriptions::DeliveryStatus::Failed,
                attempts: vec![],
                created_at: NOW - 60,
                updated_at: NOW - 60,
                next_attempt_at: None,
            },
            NOW + 86_400,
        )
        .await
        .expect("the delivery is stored");
    (admin, "job:flow_a:job_1")
}

/// Every route, with tenant a's ids and a body it would accept.
fn every_route(dead: &str) -> Vec<(&'static str, String, Option<Value>)> {
    let dead = dead.replace(':', "%3A");
    vec![
        // The audit log first: tenant b's own log records b's attempts on a's ids (what b sent).
        ("GET", "/v1/audit".into(), None),
        ("GET", "/v1/audit/export".into(), None),
        ("GET", "/v1/me".into(), None),
        ("GET", "/v1/connectors".into(), None),
        ("GET", "/v1/connectors/hubspot".into(), None),
        // Tenant a's own connector (see `seed_connector`); an upload of the caller's own.
        ("GET", "/v1/connectors/custom-items".into(), None),
        ("GET", "/v1/connectors/custom-items/versions".into(), None),
        ("GET", "/v1/connectors/custom-items/versions/1".into(), None),
        ("POST", "/v1/connectors".into(), Some(items_definition("custom-upload"))),
        (
            "POST",
            "/v1/connectors/custom-items/versions".into(),
            Some(items_definition("custom-items")),
        ),
        ("DELETE", "/v1/connectors/custom-items".into(), None),
        ("GET", "/v1/connections".into(), None),
        (
            "POST",
            "/v1/connections".into(),
            Some(json!({"provider": "hubspot", "credentials": {"access_token": CREDENTIAL}})),
        ),
        ("GET", "/v1/connections/conn_a1".into(), None),
        (
            "PATCH",
            "/v1/connections/conn_a1".into(),
            Some(json!({"name": "renamed"})),
        ),
        ("POST", "/v1/connections/conn_a1/test".into(), None),
        (
            "POST",
            "/v1/connections/conn_a1/rotate-secret".into(),
            Some(json!({"credentials": {"access_token": CREDENTIAL}})),
        ),
        ("GET", "/v1/connections/conn_a1/events".into(), None),
        ("GET", "/v1/connections/conn_a1/events?include=body".into(), None),
        ("GET", "/v1/events".into(), None),
        ("GET", "/v1/events?include=body".into(), None),
        ("DELETE", "/v1/connections/conn_a2".into(), None),
        ("GET", "/v1/flows".into(), None),
        (
            "POST",
            "/v1/flows".into(),
            Some(
                json!({"source": "conn_a1", "stream": "contacts", "destination": "conn_a1",
                        "operation": "contacts.create", "mapping": "."}),
            ),
        ),
        ("GET", "/v1/flows/flow_a".into(), None),
        ("PATCH", "/v1/flows/flow_a".into(), Some(json!({"name": "renamed"}))),
        ("POST", "/v1/flows/flow_a/pause".into(), None),
        ("POST", "/v1/flows/flow_a/resume".into(), None),
        ("POST", "/v1/flows/flow_a/run".into(), None),
        ("GET", "/v1/flows/flow_a/reviews".into(), None),
        (
            "POST",
            "/v1/flows/flow_a/reviews/rec_1/resolve".into(),
            Some(json!({"decision": "link"})),
        ),
        ("GET", "/v1/dead-letters".into(), None),
        ("GET", format!("/v1/dead-letters/{dead}"), None),
        ("POST", format!("/v1/dead-letters/{dead}/replay"), None),
        ("GET", "/v1/keys".into(), None),
        ("POST", "/v1/keys".into(), Some(json!({"name": "k", "role": "viewer"}))),
        ("POST", "/v1/keys/PREFIX/rotate".into(), None),
        ("POST", "/v1/keys/PREFIX/revoke".into(), None),
        ("GET", "/v1/usage".into(), None),
        ("GET", "/v1/subjects/ada%40example.com".into(), None),
        ("DELETE", "/v1/subjects/ada%40example.com".into(), None),
        ("GET", "/v1/webhook-subscriptions".into(), None),
        (
            "POST",
            "/v1/webhook-subscriptions".into(),
            Some(json!({"url": "https://example.com/hooks/b", "event_types": ["job.finished"]})),
        ),
        ("GET", "/v1/webhook-subscriptions/whsub_a".into(), None),
        (
            "PATCH",
            "/v1/webhook-subscriptions/whsub_a".into(),
            Some(json!({"description": "renamed"})),
        ),
        ("GET", "/v1/webhook-subscriptions/whsub_a/deliveries".into(), None),
        (
            "GET",
            "/v1/webhook-subscriptions/whsub_a/deliveries?include=payload".into(),
            None,
        ),
        (
            "POST",
            "/v1/webhook-subscriptions/whsub_a/deliveries/dlv_a/resend".into(),
            None,
        ),
        (
            "POST",
            "/v1/webhook-subscriptions/whsub_a/recover".into(),
            Some(json!({"since": NOW - 3600})),
        ),
        ("POST", "/v1/webhook-subscriptions/whsub_a/rotate-secret".into(), None),
        ("DELETE", "/v1/webhook-subscriptions/whsub_a".into(), None),
    ]
}

/// The items connector as JSON, under another id.
fn items_definition(id: &str) -> Value {
    serde_yaml::from_str(&ITEMS_CONNECTOR.replace("custom-items", id)).expect("the definition is YAML")
}

/// Tenant a's own uploaded connector, `custom-items` (version 1).
async fn seed_connector(api: &Api, admin: &str) {
    let r = api
        .upload(admin, "/v1/connectors", ITEMS_CONNECTOR, "application/yaml")
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

#[tokio::test]
async fn a_foreign_tenants_key_never_sees_or_touches_another_tenants_resources() {
    let api = Api::new(|_| {}).await;
    let (admin_a, dead) = seeded(&api).await;
    seed_connector(&api, &admin_a).await;
    let victim_prefix = api.call("GET", "/v1/keys", &admin_a, None).await.body["items"][0]["prefix"]
        .as_str()
        .unwrap()
        .to_string();
    let admin_b = api.bootstrap("tenant-b", Role::Admin, Tier::Enterprise).await;
    let viewer_b = api.bootstrap("tenant-b", Role::Viewer, Tier::Enterprise).await;
    let before = api.call("GET", "/v1/flows/flow_a", &admin_a, None).await.body;

    for (method, path, body) in every_route(dead) {
        let path = path.replace("PREFIX", &victim_prefix);
        for (who, key) in [("admin", &admin_b), ("viewer", &viewer_b)] {
            let r = api.call(method, &path, key, body.clone()).await;
            assert_ne!(r.status / 100, 5, "{who} {method} {path}: {}", r.body);
            let is_collection = !path.trim_start_matches("/v1/").contains('/');
            // The built-in connectors are everyone's: listed and shown alike.
            if (is_collection && method == "GET") || path == "/v1/connectors/hubspot" || path.starts_with("/v1/audit") {
                // Lists act within the caller's own tenant: they never return a's items.
                let text = r.body.to_string();
                for a_id in [
                    "conn_a1",
                    "conn_a2",
                    "flow_a",
                    "job:flow_a",
                    "ada@example.com",
                    "whsub_a",
                    "dlv_a",
                    "custom-items",
                    victim_prefix.as_str(),
                ] {
                    assert!(!text.contains(a_id), "{who} {method} {path} leaked {a_id}: {text}");
                }
                continue;
            }
            if is_collection {
                // Creations act within the caller's tenant too: a flow over a's connections
                // is refused exactly as over connections that do not exist.
                if path == "/v1/flows" && who == "admin" {
                    assert_eq!(r.status, 422, "{}", r.body);
                    assert_eq!(r.body["errors"][0]["field"], "source");
                    assert!(r.body["detail"].as_str().unwrap().ends_with("does not exist"));
                } else {
                    assert!([201, 403].contains(&r.status), "{who} {method} {path}: {}", r.body);
                }
                continue;
            }
            let expected: &[u16] = if who == "viewer" { &[404, 403] } else { &[404] };
            assert!(
                expected.contains(&r.status),
                "{who} of tenant b, {method} {path}: got {} {}",
                r.status,
                r.body
            );
        }
    }
    // Nothing of a's changed, and a's key still works.
    let own = api.call("GET", "/v1/connectors/custom-items", &admin_a, None).await;
    assert_eq!(
        (own.status, own.body["version"].as_u64()),
        (200, Some(1)),
        "{}",
        own.body
    );
    let ada = api.call("GET", "/v1/subjects/ada%40example.com", &admin_a, None).await;
    assert_eq!(
        ada.status, 200,
        "b's erasure attempt left a's person alone: {}",
        ada.body
    );
    assert_eq!(ada.body["events"][0]["event_id"], "evt_ada");
    let after = api.call("GET", "/v1/flows/flow_a", &admin_a, None).await;
    assert_eq!(after.status, 200);
    assert_eq!(after.body["name"], before["name"]);
    assert_eq!(after.body["enabled"], true);
    assert_eq!(
        api.call("GET", "/v1/connections/conn_a2", &admin_a, None).await.status,
        200
    );
    assert_eq!(
        api.call(
            "GET",
            &format!("/v1/dead-letters/{}", dead.replace(':', "%3A")),
            &admin_a,
            None
        )
        .await
        .body["status"],
        "parked"
    );
    // b's attempts are in b's audit log, refused; a's log holds only a's own keys' entries.
    let b_log = api.call("GET", "/v1/audit?limit=200", &admin_b, None).await;
    let b_entries = b_log.body["items"].as_array().unwrap();
    assert!(
        b_entries
            .iter()
            .any(|e| e["action"] == "connection.rotate_secret" && e["status"] == 404),
        "{b_log:?}",
        b_log = b_log.body
    );
    let a_log = api.call("GET", "/v1/audit?limit=200", &admin_a, None).await;
    let a_prefix = &admin_a["sy_live_".len().."sy_live_".len() + 12];
    for e in a_log.body["items"].as_array().unwrap() {
        assert_eq!(e["actor"], format!("key:{a_prefix}"), "{e}");
    }
    // b's lists hold only b's resources.
    let conns = api.call("GET", "/v1/connections", &admin_b, None).await;
    assert!(conns.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| !c["id"].as_str().unwrap().starts_with("conn_a")));
}

#[tokio::test]
async fn each_role_reaches_exactly_the_routes_its_permission_allows() {
    let api = Api::new(|_| {}).await;
    let (admin, dead) = seeded(&api).await;
    seed_connector(&api, &admin).await;
    let mut keys = vec![("admin", admin.clone())];
    for role in ["editor", "runner", "viewer"] {
        let r = api
            .call("POST", "/v1/keys", &admin, Some(json!({"name": role, "role": role})))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["role"], role);
        switchyard_tests::log_capture::known_secret(r.body["key"].as_str().unwrap());
        keys.push((role, r.body["key"].as_str().unwrap().to_string()));
    }
    // (route, least role that may call it)
    let least = |method: &str, path: &str| -> &'static str {
        if path.starts_with("/v1/keys") || path.starts_with("/v1/audit") {
            "admin"
        } else if path.starts_with("/v1/subjects") {
            // A person's data: export as bodies (editor), erasure admin only.
            if method == "DELETE" {
                "admin"
            } else {
                "editor"
            }
        } else if path.ends_with("/run")
            || path.ends_with("/replay")
            || path.ends_with("/test")
            || path.ends_with("/resend")
            || path.ends_with("/recover")
        {
            "runner"
        } else if path.ends_with("include=body") || path.ends_with("include=payload") {
            // Stored bodies can hold personal data.
            "editor"
        } else if method == "GET" {
            "viewer"
        } else {
            "editor"
        }
    };
    let rank = |r: &str| {
        ["viewer", "runner", "editor", "admin"]
            .iter()
            .position(|x| *x == r)
            .unwrap()
    };
    // Lower roles first, so nothing is deleted or replayed before a role that may not is refused.
    for (role, key) in keys.iter().rev() {
        for (method, path, body) in every_route(dead) {
            if path.contains("PREFIX") || (method == "DELETE" && *role != "admin") {
                continue;
            }
            let r = api.call(method, &path, key, body).await;
            let allowed = rank(role) >= rank(least(method, &path));
            if allowed {
                assert!(
                    r.status != 403 && r.status / 100 != 5,
                    "{role} may {method} {path}: got {} {}",
                    r.status,
                    r.body
                );
            } else {
                assert_eq!(r.status, 403, "{role} may not {method} {path}: {}", r.body);
            }
        }
    }
    // What the allowed calls did, they did: the runner's run was enqueued, the replay sent.
    let messages = api.env.drain_queue().await;
    assert!(
        messages.iter().any(|m| m.to_string().contains("flow_a")),
        "{messages:?}"
    );
}

#[tokio::test]
async fn secrets_given_to_the_api_never_come_back_in_a_response_or_a_log() {
    let api = Api::new(|_| {}).await;
    switchyard_tests::log_capture::known_secret(CREDENTIAL);
    switchyard_tests::log_capture::known_secret(WEBHOOK_SECRET);
    let (admin, dead) = seeded(&api).await;
    for (method, path, _) in every_route(dead) {
        if method == "GET" {
            api.call(method, &path, &admin, None).await;
        }
    }
    let show = api.call("GET", "/v1/connections/conn_a1", &admin, None).await;
    assert_eq!(show.body["has_credentials"], true);
    assert_eq!(show.body["webhook_scheme"], "hubspot");
    assert!(show.body.get("secret_arn").is_none());
    // A wrong-typed secret in a body is not quoted back either.
    let r = api
        .call(
            "POST",
            "/v1/connections",
            &admin,
            Some(json!({"provider": "hubspot", "webhook": {"scheme": "hubspot", "secret": 5, "tolerance_secs": CREDENTIAL}})),
        )
        .await;
    assert_eq!(r.status, 422);
    let keys = api.call("GET", "/v1/keys", &admin, None).await;
    assert!(keys.body["items"][0].get("hash").is_none());
    for body in api.seen.lock().unwrap().iter() {
        for secret in [CREDENTIAL, WEBHOOK_SECRET, admin.as_str()] {
            assert!(!body.contains(secret), "a response carried a secret: {body}");
        }
    }
    // The secret did reach Secrets Manager.
    let listed = api.env.clients.secrets.list_secrets().send().await.unwrap();
    assert!(listed.secret_list().iter().any(|s| s
        .name()
        .is_some_and(|n| n == format!("switchyard/{}/conn_a1", api.tenant("tenant-a")))));
    let log = std::fs::read_to_string(switchyard_tests::log_capture::dir().join(format!("{}.log", std::process::id())))
        .unwrap_or_default();
    assert!(log.contains("API request."), "the API logs its requests");
    for secret in [CREDENTIAL, WEBHOOK_SECRET, admin.as_str()] {
        assert!(!log.contains(secret), "a log line carried a secret");
    }
}

#[tokio::test]
async fn a_revoked_key_is_refused_and_a_rotated_key_works_only_during_its_overlap() {
    let api = Api::new(|_| {}).await;
    let admin = api.bootstrap("tenant-r", Role::Admin, Tier::Basic).await;
    assert_eq!(api.call("GET", "/v1/flows", &admin, None).await.status, 200);
    for bad in [None, Some("sy_live_nope"), Some(&admin[..admin.len() - 1])] {
        let r = api.raw("GET", "/v1/flows", bad, b"", None).await;
        assert_eq!(r.status, 401, "{bad:?}");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    }
    let mut tampered = admin.clone();
    tampered.replace_range(admin.len() - 3.., "zzz");
    assert_eq!(
        api.raw("GET", "/v1/flows", Some(&tampered), b"", None).await.status,
        401
    );

    // Rotation: the new key works at once, the old one until the overlap ends.
    let r = api
        .call(
            "POST",
            "/v1/keys",
            &admin,
            Some(json!({"name": "ci", "role": "viewer"})),
        )
        .await;
    let (old, old_prefix) = (
        r.body["key"].as_str().unwrap().to_string(),
        r.body["prefix"].as_str().unwrap().to_string(),
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let r = api
        .call(
            "POST",
            &format!("/v1/keys/{old_prefix}/rotate"),
            &admin,
            Some(json!({"overlap_secs": 600})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let new = r.body["key"].as_str().unwrap().to_string();
    assert_eq!(r.body["role"], "viewer");
    assert_ne!(new, old);
    assert_eq!(api.call("GET", "/v1/flows", &old, None).await.status, 200);
    assert_eq!(api.call("GET", "/v1/flows", &new, None).await.status, 200);
    // Rotating again is refused: one rotation wins.
    assert_eq!(
        api.call("POST", &format!("/v1/keys/{old_prefix}/rotate"), &admin, None)
            .await
            .status,
        409
    );
    api.clock.advance(599);
    assert_eq!(api.call("GET", "/v1/flows", &old, None).await.status, 200);
    api.clock.advance(1);
    assert_eq!(api.call("GET", "/v1/flows", &old, None).await.status, 401);
    assert_eq!(api.call("GET", "/v1/flows", &new, None).await.status, 200);
    // The overlap's end is not the table's TTL attribute, so DynamoDB never deletes the old
    // key's item: it stays listed, inactive, with the end of its overlap.
    let ttl = api
        .env
        .clients
        .dynamodb
        .describe_time_to_live()
        .table_name(&api.env.table)
        .send()
        .await
        .unwrap();
    let ttl_attr = ttl
        .time_to_live_description()
        .and_then(|d| d.attribute_name())
        .expect("the table has a TTL attribute")
        .to_string();
    let item = api
        .env
        .clients
        .dynamodb
        .get_item()
        .table_name(&api.env.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("APIKEY#{old_prefix}")),
        )
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("APIKEY".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the rotated key's item is kept");
    assert!(
        !item.contains_key(&ttl_attr),
        "the rotated key carries the TTL attribute {ttl_attr}"
    );
    let keys = api.call("GET", "/v1/keys", &admin, None).await;
    let listed = keys.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["prefix"] == old_prefix.as_str())
        .expect("the rotated key is listed");
    assert_eq!(
        (&listed["active"], &listed["expires_at"]),
        (&json!(false), &json!(NOW + 600))
    );

    // Revocation: refused at once, listed as inactive.
    let new_prefix = &new["sy_live_".len().."sy_live_".len() + 12];
    let r = api
        .call("POST", &format!("/v1/keys/{new_prefix}/revoke"), &admin, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["active"], false);
    assert_eq!(api.call("GET", "/v1/flows", &new, None).await.status, 401);
    // A key cannot mint a tier above its own.
    let r = api
        .call(
            "POST",
            "/v1/keys",
            &admin,
            Some(json!({"name": "x", "role": "admin", "tier": "enterprise"})),
        )
        .await;
    assert_eq!((r.status, r.body["errors"][0]["field"].as_str()), (422, Some("tier")));
}

#[tokio::test]
async fn keys_rotated_into_the_ttl_attribute_by_an_earlier_release_are_repaired_once_and_work_as_before() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use switchyard::store::migrate::repair_rotated_key_ttl;

    let api = Api::new(|_| {}).await;
    let admin = api.bootstrap("tenant-a", Role::Admin, Tier::Enterprise).await;
    let db = &api.env.clients.dynamodb;
    // Two keys rotated with a ten-minute overlap, and one never rotated.
    let mut rotated = Vec::new();
    for name in ["ci", "deploy"] {
        let r = api
            .call(
                "POST",
                "/v1/keys",
                &admin,
                Some(json!({"name": name, "role": "viewer"})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let (key, prefix) = (
            r.body["key"].as_str().unwrap().to_string(),
            r.body["prefix"].as_str().unwrap().to_string(),
        );
        switchyard_tests::log_capture::known_secret(&key);
        let r = api
            .call(
                "POST",
                &format!("/v1/keys/{prefix}/rotate"),
                &admin,
                Some(json!({"overlap_secs": 600})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        switchyard_tests::log_capture::known_secret(r.body["key"].as_str().unwrap());
        rotated.push((key, prefix));
    }
    let table: &str = &api.env.table;
    let item = |prefix: String| async move {
        db.get_item()
            .table_name(table)
            .key("pk", AttributeValue::S(format!("APIKEY#{prefix}")))
            .key("sk", AttributeValue::S("APIKEY".into()))
            .send()
            .await
            .unwrap()
            .item
            .expect("the key item")
    };
    // As an earlier release rotated them: the overlap's end in the TTL attribute.
    for (_, prefix) in &rotated {
        db.update_item()
            .table_name(&api.env.table)
            .key("pk", AttributeValue::S(format!("APIKEY#{prefix}")))
            .key("sk", AttributeValue::S("APIKEY".into()))
            .update_expression("SET expires_at = overlap_ends_at REMOVE overlap_ends_at")
            .send()
            .await
            .unwrap();
        let before = item(prefix.clone()).await;
        assert_eq!(before["expires_at"].as_n().unwrap(), &(NOW + 600).to_string());
        assert!(!before.contains_key("overlap_ends_at"));
    }

    let report = repair_rotated_key_ttl(db, &api.env.table).await.unwrap();
    assert_eq!(report.repaired, 2, "{report:?}");
    for (_, prefix) in &rotated {
        let after = item(prefix.clone()).await;
        assert!(
            !after.contains_key("expires_at"),
            "the TTL attribute is gone: {after:?}"
        );
        assert_eq!(after["overlap_ends_at"].as_n().unwrap(), &(NOW + 600).to_string());
    }
    // The keys work exactly as before: during the overlap, and not after it; still listed.
    let (old, old_prefix) = &rotated[0];
    assert_eq!(api.call("GET", "/v1/flows", old, None).await.status, 200);
    api.clock.advance(600);
    assert_eq!(api.call("GET", "/v1/flows", old, None).await.status, 401);
    let keys = api.call("GET", "/v1/keys", &admin, None).await;
    let listed = keys.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["prefix"] == old_prefix.as_str())
        .expect("the rotated key is listed");
    assert_eq!(
        (&listed["active"], &listed["expires_at"]),
        (&json!(false), &json!(NOW + 600))
    );
    // Again: nothing left to repair.
    let again = repair_rotated_key_ttl(db, &api.env.table).await.unwrap();
    assert_eq!(again.repaired, 0, "{again:?}");
}

#[tokio::test]
async fn over_the_tier_limit_a_key_gets_429_with_rate_limit_headers_until_the_window_resets() {
    // A tiny Free tier instead of 1,000 requests.
    let api = Api::new(|c| c.tier_limits = [3, 10_000, 100_000, 1_000_000]).await;
    let key = api.bootstrap("tenant-rl", Role::Viewer, Tier::Free).await;
    let other = api.bootstrap("tenant-rl", Role::Viewer, Tier::Free).await;
    let window_end = NOW - NOW.rem_euclid(3600) + 3600;
    for remaining in ["2", "1", "0"] {
        let r = api.call("GET", "/v1/connectors", &key, None).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("ratelimit-limit"), Some("3"));
        assert_eq!(r.header("ratelimit-remaining"), Some(remaining));
        assert_eq!(
            r.header("ratelimit-reset"),
            Some((window_end - NOW).to_string().as_str())
        );
    }
    let r = api.call("GET", "/v1/connectors", &key, None).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.header("retry-after"), Some((window_end - NOW).to_string().as_str()));
    assert_eq!(r.header("ratelimit-limit"), Some("3"));
    assert_eq!(r.header("ratelimit-remaining"), Some("0"));
    assert_eq!(r.body["type"], "/v1/problems/rate-limited");
    // The limit is per key, and the next window starts afresh.
    assert_eq!(api.call("GET", "/v1/connectors", &other, None).await.status, 200);
    api.clock.set(window_end);
    let r = api.call("GET", "/v1/connectors", &key, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("ratelimit-remaining"), Some("2"));
}

/// Two Lambda instances (two sets of deps, each with its own clients) count against one window.
/// Requests alternate between them rather than race: moto does not serialise concurrent
/// conditional updates of one item (a run of 12 parallel requests at a limit of 5 let 8
/// through), so only DynamoDB itself can show the race; the condition is what holds there.
#[tokio::test]
async fn instances_share_one_counter_per_key() {
    let api = Api::new(|c| c.tier_limits = [5, 10_000, 100_000, 1_000_000]).await;
    let key = api.bootstrap("tenant-cc", Role::Viewer, Tier::Free).await;
    let second = ApiDeps::new(
        api.deps.config.clone(),
        &switchyard::aws::AwsClients::from_config(&switchyard_tests::sdk_config().await),
        api.deps.registry.clone(),
        Arc::new(api.clock.clone()),
    );
    let mut statuses = Vec::new();
    for i in 0..8 {
        let resp = if i % 2 == 0 {
            api.call("GET", "/v1/connectors", &key, None).await.resp
        } else {
            let mut headers = http::HeaderMap::new();
            headers.insert("authorization", format!("Bearer {key}").parse().unwrap());
            switchyard::api::handle(
                &second,
                ApiRequest {
                    method: "GET".into(),
                    path: "/v1/connectors".into(),
                    query: String::new(),
                    headers,
                    body: Vec::new(),
                },
            )
            .await
        };
        statuses.push(resp.status);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
}

/// The window counters on a key's item, by window start.
async fn key_counters(api: &Api, key: &str) -> std::collections::BTreeMap<i64, String> {
    let prefix = &key["sy_live_".len().."sy_live_".len() + 12];
    let item = api
        .env
        .clients
        .dynamodb
        .get_item()
        .table_name(&api.env.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("APIKEY#{prefix}")),
        )
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("APIKEY".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem works")
        .item
        .unwrap_or_default();
    item.iter()
        .filter_map(|(name, v)| Some((name.strip_prefix("rl_")?.parse().ok()?, v.as_n().ok()?.clone())))
        .collect()
}

/// The DynamoDB calls made since the counter was last reset, by operation.
fn dynamo_calls(api: &Api) -> std::collections::BTreeMap<String, usize> {
    api.env
        .counter
        .snapshot()
        .into_iter()
        .filter(|(op, _)| op.starts_with("DynamoDB."))
        .collect()
}

#[tokio::test]
async fn a_read_is_two_dynamodb_calls_the_key_check_and_the_count_being_one_write() {
    let api = Api::new(|_| {}).await;
    let key = api.bootstrap("tenant-calls", Role::Viewer, Tier::Free).await;
    // The first request of a key, then a warm one: both the same two calls.
    for _ in 0..2 {
        api.env.counter.reset();
        let r = api.call("GET", "/v1/flows", &key, None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let calls = dynamo_calls(&api);
        assert_eq!(
            calls,
            [
                ("DynamoDB.Query".to_string(), 1),
                ("DynamoDB.UpdateItem".to_string(), 1)
            ]
            .into(),
            "the key check and rate count are one UpdateItem, the list one Query"
        );
    }
}

#[tokio::test]
async fn a_flows_create_reads_its_connections_once_and_writes_with_its_audit_entry_three_dynamodb_calls_in_all() {
    let api = Api::new(|_| {}).await;
    let key = api.bootstrap("tenant-create-calls", Role::Editor, Tier::Free).await;
    api.connection(&key, "conn_a").await;
    api.connection(&key, "conn_b").await;
    let audit = switchyard::store::audit::AuditStore::new(api.env.clients.dynamodb.clone(), &api.env.table);
    for id in ["flow_one", "flow_two"] {
        api.env.counter.reset();
        api.flow(&key, id, "conn_a", "conn_b").await;
        let calls = dynamo_calls(&api);
        assert_eq!(
            calls,
            [
                ("DynamoDB.BatchGetItem".to_string(), 1),
                ("DynamoDB.TransactWriteItems".to_string(), 1),
                ("DynamoDB.UpdateItem".to_string(), 1)
            ]
            .into(),
            "the key check, one read of both connections (for the tenant's connectors and the \
             flow's checks alike), the flow with its audit entry"
        );
        // The entry is written once, by the transaction, not again after the answer.
        let entries: Vec<_> = audit
            .all(&api.tenant("tenant-create-calls"))
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.target == id)
            .collect();
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert_eq!(
            (
                entries[0].action.as_str(),
                entries[0].status,
                entries[0].route.as_deref()
            ),
            ("flow.create", Some(201), Some("POST /v1/flows")),
            "{entries:?}"
        );
    }
    // A flow id that exists: the transaction writes nothing, and the refusal is recorded once.
    let before = audit.all(&api.tenant("tenant-create-calls")).await.unwrap().len();
    let again = api
        .call(
            "POST",
            "/v1/flows",
            &key,
            Some(json!({"id": "flow_one", "source": "conn_a", "stream": "contacts",
                "destination": "conn_b", "operation": "contacts.upsert_by_email",
                "mapping": "{properties: {email: .properties.email}}"})),
        )
        .await;
    assert_eq!(again.status, 409, "{}", again.body);
    let after = audit.all(&api.tenant("tenant-create-calls")).await.unwrap();
    assert_eq!(after.len(), before + 1, "one entry for the refusal");
    assert_eq!(after.last().map(|e| e.status), Some(Some(409)));
}

#[tokio::test]
async fn refused_keys_write_nothing_and_a_keys_old_window_counters_are_removed() {
    let api = Api::new(|_| {}).await;
    let key = api.bootstrap("tenant-win", Role::Viewer, Tier::Free).await;
    let start = NOW - NOW.rem_euclid(3600);

    // A stranger's guess at an unknown prefix creates no item; a wrong secret on a real
    // prefix counts nothing.
    let unknown = format!("sy_live_{}_{}", "q".repeat(12), "x".repeat(40));
    assert_eq!(api.raw("GET", "/v1/me", Some(&unknown), b"", None).await.status, 401);
    assert!(key_counters(&api, &unknown).await.is_empty());
    let found = api
        .env
        .clients
        .dynamodb
        .get_item()
        .table_name(&api.env.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("APIKEY#{}", "q".repeat(12))),
        )
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("APIKEY".into()))
        .send()
        .await
        .unwrap();
    assert!(found.item.is_none(), "a refused unknown key left an item");
    let mut wrong = key.clone();
    wrong.replace_range(key.len() - 1.., if key.ends_with('a') { "b" } else { "a" });
    assert_eq!(api.call("GET", "/v1/me", &key, None).await.status, 200);
    assert_eq!(api.raw("GET", "/v1/me", Some(&wrong), b"", None).await.status, 401);
    assert_eq!(key_counters(&api, &key).await, [(start, "1".to_string())].into());

    // Used two days ago, an hour ago and now: the two-day-old counter goes (it is older than
    // the windows each count removes), the previous window's stays for /v1/usage.
    api.clock.set(NOW - 48 * 3600);
    assert_eq!(api.call("GET", "/v1/me", &key, None).await.status, 200);
    api.clock.set(NOW - 3600);
    assert_eq!(api.call("GET", "/v1/me", &key, None).await.status, 200);
    assert_eq!(
        key_counters(&api, &key).await.keys().copied().collect::<Vec<_>>(),
        [start - 3600, start],
        "the counter of two days ago is removed"
    );
    // A key idle for three days: its next count removes everything but the current window
    // and the one before.
    api.clock.set(NOW + 72 * 3600);
    assert_eq!(api.call("GET", "/v1/me", &key, None).await.status, 200);
    assert_eq!(
        key_counters(&api, &key).await,
        [(start + 72 * 3600, "1".to_string())].into()
    );
}

#[tokio::test]
async fn malformed_bodies_unknown_fields_and_bad_ids_are_problem_details() {
    let api = Api::new(|_| {}).await;
    let (admin, _) = seeded(&api).await;
    let r = api
        .raw(
            "POST",
            "/v1/flows",
            Some(&admin),
            b"{\"source\": ",
            Some("application/json"),
        )
        .await;
    assert_eq!(
        (r.status, r.body["type"].as_str()),
        (400, Some("/v1/problems/malformed-request"))
    );
    let r = api
        .call("PATCH", "/v1/flows/flow_a", &admin, Some(json!({"nmae": "typo"})))
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body["errors"][0]["field"], "nmae");
    let r = api
        .raw("POST", "/v1/flows", Some(&admin), b"{}", Some("text/plain"))
        .await;
    assert_eq!(r.status, 415);
    for path in [
        "/v1/flows/a%23b",
        "/v1/connections/..%2Fetc",
        "/v1/flows/nope",
        "/v1/dead-letters/x",
    ] {
        let r = api.call("GET", path, &admin, None).await;
        assert_eq!(r.status, 404, "{path}: {}", r.body);
    }
    let r = api
        .call(
            "POST",
            "/v1/connections",
            &admin,
            Some(json!({"id": "a#b", "provider": "no-such"})),
        )
        .await;
    assert_eq!(r.status, 422);
    let fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["id", "provider"]);
    let r = api.call("GET", "/v1/flows?limit=1000", &admin, None).await;
    assert_eq!((r.status, r.body["errors"][0]["field"].as_str()), (422, Some("limit")));
    let r = api.call("PUT", "/v1/flows", &admin, None).await;
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, POST")));
    // Flows are checked as the CLI checks them.
    let bad = |patch: Value| {
        let mut body = json!({"source": "conn_a1", "stream": "contacts", "destination": "conn_a2",
                              "operation": "contacts.create", "mapping": "."});
        body.as_object_mut().unwrap().extend(patch.as_object().unwrap().clone());
        body
    };
    for (patch, field) in [
        (json!({"stream": "invoices"}), "stream"),
        (json!({"operation": "contacts.delete"}), "operation"),
        (json!({"mapping": "{"}), "mapping"),
        (json!({"source": "conn_elsewhere"}), "source"),
        (
            json!({"mapping": "error(\"no\")", "sample_records": [{"id": 1}]}),
            "mapping",
        ),
    ] {
        let r = api.call("POST", "/v1/flows", &admin, Some(bad(patch.clone()))).await;
        assert_eq!(
            (r.status, r.body["errors"][0]["field"].as_str()),
            (422, Some(field)),
            "{patch}: {}",
            r.body
        );
    }
}

/// A tenant's config is any JSON object, kept exactly: keys named like DynamoDB's type tags,
/// numbers beyond what a DynamoDB number holds, nesting past its 32 levels (schemathesis found
/// such a config broke every later read of the tenant's connections when it was a map).
#[tokio::test]
async fn any_json_config_is_kept_exactly_through_create_read_list_and_update() {
    let api = Api::new(|_| {}).await;
    let admin = api.bootstrap("tenant-cfg", Role::Admin, Tier::Enterprise).await;
    let mut deep = json!("bottom");
    for _ in 0..40 {
        deep = json!({"L": [deep]});
    }
    let config = json!({
        "base_url": api.hubspot.base_url, "N": 10147212370429194u64, "L": [[{}], null, [1e300, "x"]],
        "\u{80}": {"N": -514, "\u{11}\r": true}, "M": {"S": {"BOOL": 0.99999}}, "deep": deep,
    });
    let r = api
        .call(
            "POST",
            "/v1/connections",
            &admin,
            Some(json!({"id": "conn_cfg", "provider": "hubspot", "config": config,
                        "credentials": {"access_token": CREDENTIAL}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["config"], config);
    api.connection(&admin, "conn_plain").await;
    let r = api.call("GET", "/v1/connections/conn_cfg", &admin, None).await;
    assert_eq!((r.status, &r.body["config"]), (200, &config), "{}", r.body);
    let r = api.call("GET", "/v1/connections", &admin, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["config"], config);

    let patched = json!({"S": [1e-300, {"NULL": true}], "": "empty key", "base_url": api.hubspot.base_url});
    let r = api
        .call(
            "PATCH",
            "/v1/connections/conn_cfg",
            &admin,
            Some(json!({"config": patched})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api.call("GET", "/v1/connections/conn_cfg", &admin, None).await;
    assert_eq!((r.status, &r.body["config"]), (200, &patched), "{}", r.body);
    let r = api.call("GET", "/v1/connections", &admin, None).await;
    assert_eq!(r.body["items"][0]["config"], patched, "{}", r.body);
}

#[tokio::test]
async fn lists_page_through_every_item_once_with_opaque_cursors() {
    let api = Api::new(|_| {}).await;
    let admin = api.bootstrap("tenant-p", Role::Admin, Tier::Enterprise).await;
    let other = api.bootstrap("tenant-q", Role::Admin, Tier::Enterprise).await;
    for i in 0..5 {
        api.connection(&admin, &format!("conn_p{i}")).await;
    }
    api.connection(&other, "conn_q0").await;
    let mut seen = Vec::new();
    let mut path = "/v1/connections?limit=2".to_string();
    let mut pages = 0;
    loop {
        let r = api.call("GET", &path, &admin, None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        pages += 1;
        for c in r.body["items"].as_array().unwrap() {
            seen.push(c["id"].as_str().unwrap().to_string());
        }
        match r.body["next_cursor"].as_str() {
            Some(c) => {
                assert!(!c.contains("conn_"), "the cursor is opaque: {c}");
                path = format!("/v1/connections?limit=2&cursor={c}");
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, (0..5).map(|i| format!("conn_p{i}")).collect::<Vec<_>>());
    let r = api.call("GET", "/v1/connections?cursor=bm9wZQ", &admin, None).await;
    assert_eq!((r.status, r.body["errors"][0]["field"].as_str()), (422, Some("cursor")));
    let r = api.call("GET", "/v1/connectors?limit=3", &admin, None).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 3);
    assert!(r.body["next_cursor"].is_string());
}

#[tokio::test]
async fn flows_are_created_updated_paused_resumed_and_run_through_the_sync_queue() {
    let api = Api::new(|_| {}).await;
    let (admin, dead) = seeded(&api).await;
    let r = api
        .call(
            "PATCH",
            "/v1/flows/flow_a",
            &admin,
            Some(json!({"name": "contacts mirror", "schedule_interval_secs": null, "mapping": "{properties: {email: .email}}"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let shown = api.call("GET", "/v1/flows/flow_a", &admin, None).await.body;
    assert_eq!(shown["name"], "contacts mirror");
    assert!(shown.get("schedule_interval_secs").is_none());
    assert_eq!(shown["mapping"], "{properties: {email: .email}}");

    let r = api.call("POST", "/v1/flows/flow_a/pause", &admin, None).await;
    assert_eq!(r.body["enabled"], false);
    let r = api.call("POST", "/v1/flows/flow_a/run", &admin, None).await;
    assert_eq!(r.status, 409, "a paused flow is not run: {}", r.body);
    api.call("POST", "/v1/flows/flow_a/resume", &admin, None).await;
    let r = api
        .call("POST", "/v1/flows/flow_a/run", &admin, Some(json!({"mode": "full"})))
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let job_id = r.body["job_id"].as_str().unwrap().to_string();
    let messages = api.env.drain_queue().await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["flow_id"], "flow_a");
    assert_eq!(messages[0]["job_id"], job_id.as_str());
    let shown = api.call("GET", "/v1/flows/flow_a", &admin, None).await.body;
    assert_eq!(shown["recent_jobs"][0]["job_id"], job_id.as_str());
    assert_eq!(shown["recent_jobs"][0]["mode"], "full");
    assert_eq!(shown["recent_jobs"][0]["trigger"], "api");

    // Dead letters: listed, shown, replayed once.
    let path = format!("/v1/dead-letters/{}", dead.replace(':', "%3A"));
    let list = api.call("GET", "/v1/dead-letters?status=parked", &admin, None).await;
    assert_eq!(list.body["items"][0]["key"], dead);
    assert!(list.body["items"][0].get("message").is_none());
    let r = api.call("POST", &format!("{path}/replay"), &admin, None).await;
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (200, Some("replayed")),
        "{}",
        r.body
    );
    assert_eq!(
        api.call("POST", &format!("{path}/replay"), &admin, None).await.status,
        409
    );
    assert_eq!(api.env.drain_queue().await.len(), 1);

    // A connection in use is not deleted; an unused one is, with its secret.
    assert_eq!(
        api.call("DELETE", "/v1/connections/conn_a1", &admin, None).await.status,
        409
    );
    api.connection(&admin, "conn_spare").await;
    let r = api
        .call(
            "PATCH",
            "/v1/connections/conn_spare",
            &admin,
            Some(json!({"config": {"base_url": "https://example.com"}})),
        )
        .await;
    assert_eq!(r.body["config"]["base_url"], "https://example.com");
    assert_eq!(
        api.call("DELETE", "/v1/connections/conn_spare", &admin, None)
            .await
            .status,
        204
    );
    assert_eq!(
        api.call("GET", "/v1/connections/conn_spare", &admin, None).await.status,
        404
    );
}

#[tokio::test]
async fn the_openapi_document_is_served_without_a_key_and_is_the_checked_in_one() {
    let api = Api::new(|_| {}).await;
    let r = api.raw("GET", "/v1/openapi.json", None, b"", None).await;
    assert_eq!(r.status, 200);
    assert!(r.header("ratelimit-limit").is_none(), "the description is not counted");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../api/openapi.json");
    if std::env::var_os("SWITCHYARD_WRITE_OPENAPI").is_some() {
        // The same document the lib test writes: the one the API serves.
        std::fs::write(path, &r.resp.body).expect("api/openapi.json is writable");
    }
    let checked_in = std::fs::read_to_string(path).expect("api/openapi.json is checked in");
    assert!(
        r.resp.body == checked_in,
        "the served document differs from api/openapi.json; regenerate it with `{}`",
        switchyard::api::openapi::REGENERATE
    );
    assert_eq!(r.body["openapi"], "3.1.0");
    assert_eq!(api.raw("POST", "/v1/openapi.json", None, b"", None).await.status, 405);
}

impl Api {
    /// A call with an `Idempotency-Key`.
    async fn idempotent(&self, path: &str, key: &str, idem: &str, body: Value) -> Reply {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let mut headers = http::HeaderMap::new();
        headers.insert("authorization", format!("Bearer {key}").parse().unwrap());
        headers.insert("content-type", "application/json".parse().unwrap());
        headers.insert("idempotency-key", idem.parse().unwrap());
        let resp = switchyard::api::handle(
            &self.deps,
            ApiRequest {
                method: "POST".into(),
                path: path.into(),
                query: query.into(),
                headers,
                body: body.to_string().into_bytes(),
            },
        )
        .await;
        self.seen.lock().unwrap().push(resp.body.clone());
        let body = serde_json::from_str(&resp.body).unwrap_or(Value::Null);
        Reply {
            status: resp.status,
            resp,
            body,
        }
    }
}

#[tokio::test]
async fn a_post_repeated_with_its_idempotency_key_replays_the_first_answer_without_doing_the_work_again() {
    let api = Api::new(|_| {}).await;
    let (admin, _) = seeded(&api).await;
    api.env.drain_queue().await;

    // A run: the retry gets the same job, and only one message reaches the queue.
    let first = api
        .idempotent("/v1/flows/flow_a/run", &admin, "run-1", json!({"mode": "full"}))
        .await;
    assert_eq!(first.status, 202, "{}", first.body);
    assert_eq!(first.header("idempotent-replayed"), None);
    let again = api
        .idempotent("/v1/flows/flow_a/run", &admin, "run-1", json!({"mode": "full"}))
        .await;
    assert_eq!((again.status, &again.body), (202, &first.body));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(api.env.drain_queue().await.len(), 1, "the run was enqueued once");

    // A creation: replayed with its Location; the same key with another body is a 422.
    let body = json!({"id": "conn_idem", "provider": "hubspot", "credentials": {"access_token": CREDENTIAL}});
    let created = api.idempotent("/v1/connections", &admin, "conn-1", body.clone()).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let replay = api.idempotent("/v1/connections", &admin, "conn-1", body.clone()).await;
    assert_eq!((replay.status, &replay.body), (201, &created.body));
    assert_eq!(replay.header("location"), Some("/v1/connections/conn_idem"));
    let mut other = body.clone();
    other["name"] = json!("another");
    let r = api.idempotent("/v1/connections", &admin, "conn-1", other).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["type"], "/v1/problems/idempotency-key-reused");
    // ...and with another path.
    let r = api
        .idempotent("/v1/flows/flow_a/run", &admin, "conn-1", body.clone())
        .await;
    assert_eq!(r.body["type"], "/v1/problems/idempotency-key-reused");

    // Scoped per API key: another key's same Idempotency-Key is another request.
    let second = api.bootstrap("tenant-a", Role::Admin, Tier::Enterprise).await;
    let r = api
        .idempotent("/v1/flows/flow_a/run", &second, "run-1", json!({"mode": "full"}))
        .await;
    assert_eq!(r.status, 202);
    assert_ne!(r.body["job_id"], first.body["job_id"]);
    api.env.drain_queue().await;

    // A new API key is replayed without the key itself: it is shown once and never stored.
    let made = api
        .idempotent("/v1/keys", &admin, "key-1", json!({"name": "ci", "role": "viewer"}))
        .await;
    assert_eq!(made.status, 201);
    switchyard_tests::log_capture::known_secret(made.body["key"].as_str().unwrap());
    let r = api
        .idempotent("/v1/keys", &admin, "key-1", json!({"name": "ci", "role": "viewer"}))
        .await;
    assert_eq!((r.status, &r.body["prefix"]), (201, &made.body["prefix"]));
    assert!(r.body.get("key").is_none(), "{}", r.body);
    let listed = api.call("GET", "/v1/keys?limit=200", &admin, None).await;
    assert_eq!(
        listed.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["name"] == "ci")
            .count(),
        1
    );

    // Bad keys are refused; after 24 hours the key is free again.
    let r = api
        .idempotent("/v1/flows/flow_a/run", &admin, &"k".repeat(256), json!({}))
        .await;
    assert_eq!(
        (r.status, r.body["errors"][0]["field"].as_str()),
        (422, Some("Idempotency-Key"))
    );
    api.clock.advance(86_400);
    let r = api
        .idempotent("/v1/flows/flow_a/run", &admin, "run-1", json!({"mode": "full"}))
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(r.header("idempotent-replayed"), None);
    assert_ne!(r.body["job_id"], first.body["job_id"]);
}

#[tokio::test]
async fn a_duplicate_arriving_while_the_first_is_in_flight_is_a_409_until_the_claim_lapses() {
    use switchyard::store::idempotency::{request_hash, Claim, Scope};
    let api = Api::new(|c| c.idempotency_lock_secs = 30).await;
    let (admin, _) = seeded(&api).await;
    let prefix = &admin["sy_live_".len().."sy_live_".len() + 12];
    let body = json!({"mode": "full"});
    // Another instance claimed the same request and is still working on it.
    let claim = api
        .deps
        .idempotency
        .claim(
            Scope {
                tenant: &api.tenant("tenant-a"),
                api_key: prefix,
                idempotency_key: "in-flight",
            },
            &request_hash("POST", "/v1/flows/flow_a/run?", body.to_string().as_bytes()),
            NOW,
            86_400,
            30,
        )
        .await
        .unwrap();
    assert_eq!(claim, Claim::Claimed);
    api.env.drain_queue().await;
    let r = api
        .idempotent("/v1/flows/flow_a/run", &admin, "in-flight", body.clone())
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.body["type"], "/v1/problems/idempotency-key-in-flight");
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(api.env.drain_queue().await.is_empty(), "nothing ran");
    // The other instance died: after the lock, the retry does the work.
    api.clock.advance(30);
    let r = api.idempotent("/v1/flows/flow_a/run", &admin, "in-flight", body).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(api.env.drain_queue().await.len(), 1);
}

#[tokio::test]
async fn every_change_run_key_operation_and_credential_access_is_audited_and_listed_newest_first() {
    let api = Api::new(|_| {}).await;
    switchyard_tests::log_capture::known_secret(CREDENTIAL);
    switchyard_tests::log_capture::known_secret(WEBHOOK_SECRET);
    let (admin, dead) = seeded(&api).await;
    let viewer = api.bootstrap("tenant-a", Role::Viewer, Tier::Enterprise).await;
    let dead_path = format!("/v1/dead-letters/{}", dead.replace(':', "%3A"));
    let calls: Vec<(&str, String, Option<Value>)> = vec![
        (
            "PATCH",
            "/v1/connections/conn_a1".into(),
            Some(json!({"name": "renamed"})),
        ),
        ("POST", "/v1/connections/conn_a1/test".into(), None),
        (
            "POST",
            "/v1/connections/conn_a1/rotate-secret".into(),
            Some(json!({"credentials": {"access_token": CREDENTIAL}, "webhook_secret": WEBHOOK_SECRET})),
        ),
        ("POST", "/v1/flows/flow_a/pause".into(), None),
        ("POST", "/v1/flows/flow_a/resume".into(), None),
        ("POST", "/v1/flows/flow_a/run".into(), None),
        ("POST", format!("{dead_path}/replay"), None),
        ("POST", "/v1/keys".into(), Some(json!({"name": "k", "role": "viewer"}))),
    ];
    for (method, path, body) in calls {
        let r = api.call(method, &path, &admin, body).await;
        assert!(r.status < 300, "{method} {path}: {}", r.body);
        if let Some(k) = r.body.get("key").and_then(Value::as_str) {
            switchyard_tests::log_capture::known_secret(k);
        }
    }
    // A refused attempt is recorded too; reads are not.
    assert_eq!(
        api.call("DELETE", "/v1/connections/conn_a2", &viewer, None)
            .await
            .status,
        403
    );
    api.call("GET", "/v1/flows", &admin, None).await;

    let log = api.call("GET", "/v1/audit?limit=200", &admin, None).await;
    assert_eq!(log.status, 200, "{}", log.body);
    let items = log.body["items"].as_array().unwrap();
    let actions: Vec<&str> = items.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "connection.delete",
            "key.create",
            "dead_letter.replay",
            "flow.run",
            "flow.resume",
            "flow.pause",
            "connection.rotate_secret",
            "connection.test",
            "connection.update",
            "webhook_subscription.create",
            "flow.create",
            "connection.create",
            "connection.create",
        ],
        "newest first"
    );
    let refused = &items[0];
    let viewer_prefix = &viewer["sy_live_".len().."sy_live_".len() + 12];
    assert_eq!(refused["actor"], format!("key:{viewer_prefix}"));
    assert_eq!(
        (refused["role"].as_str(), refused["status"].as_u64()),
        (Some("viewer"), Some(403))
    );
    assert_eq!(refused["target"], "conn_a2");
    assert_eq!(refused["route"], "DELETE /v1/connections/{id}");
    assert_eq!(items[2]["target"], dead);
    assert_eq!(items[11]["target"], "conn_a2", "a creation names its new resource");
    assert_eq!(
        (items[7]["role"].as_str(), items[7]["status"].as_u64()),
        (Some("admin"), Some(200))
    );

    // Filters and paging: every entry once, newest first.
    let runs = api.call("GET", "/v1/audit?action=flow.run", &admin, None).await;
    assert_eq!(runs.body["items"].as_array().unwrap().len(), 1);
    let r = api
        .call("GET", &format!("/v1/audit?since={}", NOW + 1), &admin, None)
        .await;
    assert!(r.body["items"].as_array().unwrap().is_empty());
    api.clock.advance(10);
    api.call("POST", "/v1/flows/flow_a/pause", &admin, None).await;
    let r = api
        .call("GET", &format!("/v1/audit?since={}", NOW + 1), &admin, None)
        .await;
    assert_eq!(r.body["items"][0]["action"], "flow.pause");
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    let mut paged = Vec::new();
    let mut path = "/v1/audit?limit=5".to_string();
    loop {
        let r = api.call("GET", &path, &admin, None).await;
        paged.extend(r.body["items"].as_array().unwrap().iter().map(|e| e["action"].clone()));
        match r.body["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/audit?limit=5&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(paged.len(), 14);
    assert_eq!(paged[0], "flow.pause");
    assert_eq!(
        paged[1..].iter().map(|v| v.as_str().unwrap()).collect::<Vec<_>>(),
        actions
    );
    for bad in ["since=yesterday", "action=DROP%20TABLE", "cursor=bm9wZQ"] {
        let r = api.call("GET", &format!("/v1/audit?{bad}"), &admin, None).await;
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
    }

    // The export: JSON Lines, oldest first, with the same filters.
    let export = api.call("GET", "/v1/audit/export", &admin, None).await;
    assert_eq!(export.header("content-type"), Some("application/x-ndjson"));
    let lines = export.body.as_array().unwrap();
    assert_eq!(lines.len(), 14);
    assert_eq!(lines[0]["action"], "connection.create");
    assert_eq!(lines[13]["action"], "flow.pause");
    let only = api
        .call("GET", "/v1/audit/export?action=key.create", &admin, None)
        .await;
    assert_eq!(only.body.as_array().unwrap().len(), 1);
    // Only admins read it, and it never holds a secret or a body.
    assert_eq!(api.call("GET", "/v1/audit", &viewer, None).await.status, 403);
    for secret in [CREDENTIAL, WEBHOOK_SECRET, admin.as_str(), "access_token"] {
        assert!(!export.resp.body.contains(secret), "the audit log holds {secret}");
        assert!(!log.resp.body.contains(secret), "the audit log holds {secret}");
    }
}

#[tokio::test]
async fn testing_a_connection_runs_its_check_request_now_and_says_what_went_wrong() {
    let api = Api::new(|_| {}).await;
    let admin = api.bootstrap("tenant-t", Role::Admin, Tier::Enterprise).await;
    let runner = api.bootstrap("tenant-t", Role::Runner, Tier::Enterprise).await;
    for (id, token) in [("conn_good", hubspot::TEST_TOKEN), ("conn_bad", CREDENTIAL)] {
        let r = api
            .call(
                "POST",
                "/v1/connections",
                &admin,
                Some(
                    json!({"id": id, "provider": "hubspot", "config": {"base_url": api.hubspot.base_url},
                            "credentials": {"access_token": token}}),
                ),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let before = api.hubspot.requests.len();
    let ok = api.call("POST", "/v1/connections/conn_good/test", &runner, None).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(
        (ok.body["result"].as_str(), ok.body["ok"].as_bool()),
        (Some("ok"), Some(true))
    );
    assert!(ok.body["latency_ms"].is_u64());
    assert!(
        api.hubspot.requests.len() > before,
        "the check request reached the provider"
    );

    let bad = api.call("POST", "/v1/connections/conn_bad/test", &runner, None).await;
    assert_eq!(bad.status, 200, "{}", bad.body);
    assert_eq!(
        (bad.body["result"].as_str(), bad.body["ok"].as_bool()),
        (Some("failed"), Some(false))
    );
    assert_eq!(bad.body["needs_reauth"], true, "{}", bad.body);
    let error = bad.body["error"].as_str().unwrap();
    assert!(!error.is_empty() && !error.contains(CREDENTIAL), "{error}");

    // Both results are on the connections' health records, as a health run records them: the
    // overview and the next run see them. The refused credential is a state change, kept as
    // the pending alert the health checker's next run delivers.
    let good = api.call("GET", "/v1/connections/conn_good", &runner, None).await;
    assert_eq!(good.body["health"]["state"], "healthy", "{}", good.body);
    assert!(good.body["health"]["last_check_at"].is_i64(), "{}", good.body);
    assert_eq!(ok.body["state"], "healthy", "{}", ok.body);
    let refused = api.call("GET", "/v1/connections/conn_bad", &runner, None).await;
    let health = &refused.body["health"];
    assert_eq!(
        Some(health["state"].clone()),
        Some(bad.body["state"].clone()),
        "{}",
        refused.body
    );
    assert_ne!(health["state"], "healthy", "{}", refused.body);
    assert_eq!(
        health["circuit"], "open",
        "a refused credential opens the circuit: {}",
        refused.body
    );
    assert!(health["pending_alert"].is_object(), "{}", refused.body);

    // A webhook-only connection has nothing to check.
    let r = api
        .call(
            "POST",
            "/v1/connections",
            &admin,
            Some(json!({"id": "conn_hook", "provider": "stripe", "webhook": {"scheme": "stripe", "secret": WEBHOOK_SECRET}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = api.call("POST", "/v1/connections/conn_hook/test", &runner, None).await;
    assert_eq!(r.body["result"], "not_checkable", "{}", r.body);
}

#[tokio::test]
async fn rotating_a_secret_keeps_the_old_version_as_awsprevious_and_never_echoes_either() {
    let api = Api::new(|_| {}).await;
    let (admin, _) = seeded(&api).await;
    const NEW_TOKEN: &str = "pat-na1-rotated-credential-77aa";
    const NEW_HOOK: &str = "whsec_rotated_signing_secret_3c1";
    switchyard_tests::log_capture::known_secret(NEW_TOKEN);
    switchyard_tests::log_capture::known_secret(NEW_HOOK);
    let r = api
        .call(
            "POST",
            "/v1/connections/conn_a1/rotate-secret",
            &admin,
            Some(json!({"credentials": {"access_token": NEW_TOKEN}, "webhook_secret": NEW_HOOK})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["id"], "conn_a1");
    for secret in [NEW_TOKEN, NEW_HOOK, CREDENTIAL, WEBHOOK_SECRET] {
        assert!(!r.resp.body.contains(secret));
    }
    let name = format!("switchyard/{}/conn_a1", api.tenant("tenant-a"));
    let sm = &api.env.clients.secrets;
    let value = |stage: &'static str| {
        let name = name.clone();
        async move {
            let v = sm
                .get_secret_value()
                .secret_id(name)
                .version_stage(stage)
                .send()
                .await
                .unwrap();
            serde_json::from_str::<Value>(v.secret_string().unwrap()).unwrap()
        }
    };
    let current = value("AWSCURRENT").await;
    assert_eq!(current["access_token"], NEW_TOKEN);
    assert_eq!(current["webhook_secret"], NEW_HOOK);
    // The old webhook secret still verifies deliveries signed before the provider switched.
    assert_eq!(current["previous_webhook_secret"], WEBHOOK_SECRET);
    let previous = value("AWSPREVIOUS").await;
    assert_eq!(previous["access_token"], CREDENTIAL);
    assert_eq!(previous["webhook_secret"], WEBHOOK_SECRET);

    for (body, field) in [
        (json!({}), "body"),
        (json!({"credentials": {}}), "credentials"),
        (json!({"credentials": {"webhook_secret": "x"}}), "credentials"),
    ] {
        let r = api
            .call("POST", "/v1/connections/conn_a1/rotate-secret", &admin, Some(body))
            .await;
        assert_eq!((r.status, r.body["errors"][0]["field"].as_str()), (422, Some(field)));
    }
}

#[tokio::test]
async fn a_flow_shows_its_open_data_quality_anomalies() {
    use switchyard::quality::{JobSample, Quality, MIN_SAMPLES};
    use switchyard::store::quality::QualityStore;
    let api = Api::new(|_| {}).await;
    let (admin, _) = seeded(&api).await;
    let viewer = api.bootstrap("tenant-a", Role::Viewer, Tier::Enterprise).await;
    let shown = api.call("GET", "/v1/flows/flow_a", &viewer, None).await;
    assert_eq!(
        shown.body["anomalies"],
        json!([]),
        "a flow with no history: {}",
        shown.body
    );

    // A history of ordinary jobs (ten records each, Tuesday mornings), then one that reads nothing.
    const TUESDAY_9AM: i64 = 1_795_510_800;
    let mut quality = Quality::default();
    for week in 0..i64::from(MIN_SAMPLES) {
        let sample = JobSample {
            at: TUESDAY_9AM - (i64::from(MIN_SAMPLES) - week) * 7 * 86_400,
            read: 10,
            rejected: 0,
            duration_secs: 30.0,
        };
        assert!(quality.observe(&sample).findings.is_empty());
    }
    let empty = JobSample {
        at: TUESDAY_9AM,
        read: 0,
        rejected: 0,
        duration_secs: 30.0,
    };
    let finding = quality.observe(&empty).findings.remove(0);
    let store = QualityStore::new(api.env.clients.dynamodb.clone(), &api.env.table);
    assert!(store.put("flow_a", &quality, 0).await.unwrap());

    let shown = api.call("GET", "/v1/flows/flow_a", &viewer, None).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert_eq!(
        shown.body["anomalies"],
        json!([{"metric": "records", "since": empty.at, "jobs": 1, "summary": finding.summary}])
    );
    // The episode belongs to the flow's tenant only.
    let other = api.bootstrap("tenant-b", Role::Admin, Tier::Enterprise).await;
    assert_eq!(api.call("GET", "/v1/flows/flow_a", &other, None).await.status, 404);
    let anomalies = api.call("GET", "/v1/flows/flow_a", &admin, None).await.body["anomalies"].clone();
    assert_eq!(anomalies.as_array().map(Vec::len), Some(1));
}

/// Sends one Stripe-signed delivery (or a tampered one) to the receiver at `at`.
async fn deliver(
    receiver: &switchyard::receiver::ReceiverDeps,
    clock: &FixedClock,
    connection_id: &str,
    body: &[u8],
    signed: &[u8],
    at: i64,
) -> i64 {
    clock.set(at);
    let sig = crate::signing::stripe(WEBHOOK_SECRET, at, signed);
    let ev = crate::receiver::apigw_event(connection_id, &[("Stripe-Signature", &sig)], body, false);
    switchyard::receiver::handle(receiver, ev).await.status_code
}

#[tokio::test]
async fn the_webhook_log_lists_accepted_duplicate_and_rejected_deliveries_and_bodies_only_when_asked() {
    let api = Api::new(|_| {}).await;
    let admin = api.bootstrap("tenant-a", Role::Admin, Tier::Enterprise).await;
    let viewer = api.bootstrap("tenant-a", Role::Viewer, Tier::Enterprise).await;
    let stranger = api.bootstrap("tenant-b", Role::Admin, Tier::Enterprise).await;
    let r = api
        .call(
            "POST",
            "/v1/connections",
            &admin,
            Some(json!({"id": "conn_hooks", "provider": "stripe", "webhook": {"scheme": "stripe", "secret": WEBHOOK_SECRET}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    api.connection(&admin, "conn_a1").await;

    let clock = FixedClock::at(NOW);
    let config = switchyard::config::ReceiverConfig::from_lookup(|k| match k {
        "TABLE_NAME" => Some(api.env.table.clone()),
        "SYNC_QUEUE_URL" => Some(api.env.queue_url.clone()),
        _ => None,
    })
    .expect("test config is complete");
    let receiver = switchyard::receiver::ReceiverDeps::new(config, &api.env.clients, Arc::new(clock.clone()));
    let body = serde_json::to_vec(&json!({"id": "evt_1", "object": "event", "type": "customer.created",
        "data": {"object": {"id": "cus_1", "email": "jenny@example.com"}}}))
    .unwrap();
    let tampered =
        serde_json::to_vec(&json!({"id": "evt_2", "type": "customer.created", "marker": "tampered-9f1c"})).unwrap();
    assert_eq!(
        deliver(&receiver, &clock, "conn_hooks", &body, &body, NOW - 40).await,
        200
    );
    assert_eq!(
        deliver(&receiver, &clock, "conn_hooks", &body, &body, NOW - 30).await,
        200
    );
    assert_eq!(
        deliver(&receiver, &clock, "conn_hooks", &tampered, b"other", NOW - 20).await,
        401
    );
    // conn_a1 verifies HubSpot signatures: a Stripe one is missing its header.
    assert_eq!(deliver(&receiver, &clock, "conn_a1", &body, &body, NOW - 10).await, 401);
    // An unknown connection has no tenant to log for: nothing is written.
    assert_eq!(
        deliver(&receiver, &clock, "conn_nobody", &body, &body, NOW - 5).await,
        401
    );

    // One connection's log, newest first, without bodies.
    let r = api
        .call("GET", "/v1/connections/conn_hooks/events", &viewer, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let items = r.body["items"].as_array().unwrap();
    let outcomes: Vec<_> = items
        .iter()
        .map(|e| (e["outcome"].as_str().unwrap(), e["at"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        [("rejected", NOW - 20), ("duplicate", NOW - 30), ("accepted", NOW - 40)]
    );
    assert_eq!(items[0]["reason"], "bad_signature:no_matching_signature");
    assert_eq!(items[0]["event_id"], Value::Null, "a rejected body is not read");
    for e in &items[1..] {
        assert_eq!(
            (e["event_id"].as_str(), e["event_type"].as_str()),
            (Some("evt_1"), Some("customer.created"))
        );
    }
    assert!(items.iter().all(|e| e.get("body").is_none()), "{items:?}");

    // The tenant's log merges its connections, pages once through each entry, and filters.
    let mut seen = Vec::new();
    let mut path = "/v1/events?limit=2".to_string();
    loop {
        let r = api.call("GET", &path, &viewer, None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        for e in r.body["items"].as_array().unwrap() {
            seen.push((
                e["connection_id"].as_str().unwrap().to_string(),
                e["at"].as_i64().unwrap(),
            ));
        }
        match r.body["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/events?limit=2&cursor={c}"),
            None => break,
        }
    }
    let hooks = |at: i64| ("conn_hooks".to_string(), at);
    assert_eq!(
        seen,
        [
            ("conn_a1".to_string(), NOW - 10),
            hooks(NOW - 20),
            hooks(NOW - 30),
            hooks(NOW - 40)
        ]
    );
    let r = api.call("GET", "/v1/events?outcome=rejected", &viewer, None).await;
    let reasons: Vec<_> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].clone())
        .collect();
    assert_eq!(
        reasons,
        [
            json!("bad_signature:missing_header"),
            json!("bad_signature:no_matching_signature")
        ]
    );
    let r = api
        .call(
            "GET",
            &format!("/v1/events?since={}&outcome=accepted", NOW - 40),
            &viewer,
            None,
        )
        .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1, "{}", r.body);
    for bad in ["outcome=lost", "include=headers", "since=-1", "cursor=djE6YQ"] {
        let r = api.call("GET", &format!("/v1/events?{bad}"), &viewer, None).await;
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
    }

    // Bodies: editor and above only, accepted events only.
    let r = api.call("GET", "/v1/events?include=body", &viewer, None).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = api
        .call("GET", "/v1/connections/conn_hooks/events?include=body", &admin, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items[2]["body"].as_str().unwrap().as_bytes(), body.as_slice());
    assert!(items[..2].iter().all(|e| e.get("body").is_none()), "{items:?}");

    // A rejected request's content is nowhere in the table.
    let scan = api
        .env
        .clients
        .dynamodb
        .scan()
        .table_name(&api.env.table)
        .send()
        .await
        .expect("scan works");
    let dump = format!("{:?}", scan.items.unwrap_or_default());
    assert!(!dump.contains("tampered-9f1c") && !dump.contains("evt_2"), "{dump}");
    assert!(!dump.contains("conn_nobody"), "{dump}");

    // Another tenant sees none of it.
    let r = api
        .call("GET", "/v1/connections/conn_hooks/events", &stranger, None)
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = api.call("GET", "/v1/events", &stranger, None).await;
    assert_eq!(r.body["items"], json!([]), "{}", r.body);
}

#[tokio::test]
async fn a_chained_flow_names_only_its_own_tenants_flows_and_a_refused_one_is_not_stored() {
    let api = Api::new(|_| {}).await;
    let (admin, _) = seeded(&api).await;
    let body = |id: &str, lookups: Value| {
        json!({
            "id": id, "source": "conn_a1", "stream": "contacts", "destination": "conn_a2",
            "operation": "contacts.upsert_by_email",
            "mapping": "{properties: {email: .properties.email, owner: $links.owner}}",
            "lookups": lookups
        })
    };
    let r = api
        .call(
            "POST",
            "/v1/flows",
            &admin,
            Some(body(
                "flow_chain",
                json!([{"name": "owner", "flow": "flow_a", "key": "/id"}]),
            )),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["lookups"][0]["flow"], "flow_a");

    // Another tenant's flow is as missing as no flow at all.
    let other = api.bootstrap("tenant-b", Role::Admin, Tier::Enterprise).await;
    api.connection(&other, "conn_b1").await;
    api.connection(&other, "conn_b2").await;
    let mut theirs = body(
        "flow_b_chain",
        json!([{"name": "owner", "flow": "flow_a", "key": "/id"}]),
    );
    theirs["source"] = json!("conn_b1");
    theirs["destination"] = json!("conn_b2");
    for (key, id, b) in [
        (&other, "flow_b_chain", theirs),
        (
            &admin,
            "flow_bad1",
            body(
                "flow_bad1",
                json!([{"name": "owner", "flow": "flow_nope", "key": "/id"}]),
            ),
        ),
        (
            &admin,
            "flow_bad2",
            body("flow_bad2", json!([{"name": "1owner", "flow": "flow_a", "key": "/id"}])),
        ),
        (
            &admin,
            "flow_bad3",
            body("flow_bad3", json!([{"name": "owner", "flow": "flow_a", "key": "id"}])),
        ),
        (
            &admin,
            "flow_bad4",
            body(
                "flow_bad4",
                json!([{"name": "owner", "flow": "flow_a", "key": "/id"}, {"name": "owner", "flow": "flow_a", "key": "/x"}]),
            ),
        ),
    ] {
        let r = api.call("POST", "/v1/flows", key, Some(b)).await;
        assert_eq!(
            (r.status, r.body["errors"][0]["field"].as_str()),
            (422, Some("lookups")),
            "{id}: {}",
            r.body
        );
        let shown = api.call("GET", &format!("/v1/flows/{id}"), key, None).await;
        assert_eq!(shown.status, 404, "{id} was not stored");
    }
}

#[tokio::test]
async fn suggestions_propose_what_the_cli_proposes_and_refuse_bad_input_as_problems() {
    use switchyard::suggest;
    let specs = switchyard_fakes::spec::specs_dir();
    let dir = specs.clone();
    let api = Api::new(move |c| c.specs_dir = Some(dir)).await;
    let (_, _) = seeded(&api).await;
    let viewer = api.bootstrap("tenant-a", Role::Viewer, Tier::Enterprise).await;

    // Connectors on both sides: the library's proposal, field for field, as `switchyard flows
    // suggest --json` prints it (inline schemas: Stripe's 6 MB description is read once, below,
    // only to be refused without a specs directory).
    let registry = Registry::embedded().unwrap();
    let source = suggest::stream_shape(registry.get("hubspot").unwrap(), "contacts", Some(&specs), &[]).unwrap();
    let dest = suggest::write_shape(registry.get("mailchimp").unwrap(), "members.upsert", Some(&specs), &[]).unwrap();
    let expected = serde_json::to_value(suggest::suggest(&source, &dest).unwrap()).unwrap();
    let r = api
        .call(
            "POST",
            "/v1/suggestions",
            &viewer,
            Some(json!({"source": "hubspot/contacts", "destination": "mailchimp/members.upsert"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, expected);
    let email = r.body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["destination"] == "email_address")
        .unwrap();
    assert_eq!(
        email["source"],
        json!({"kind": "field", "path": "properties.email", "conversion": null})
    );
    assert!(email["confidence"].as_f64().unwrap() >= 0.8 && !email["reasons"].as_array().unwrap().is_empty());
    assert_eq!(r.body["unmatched_required"], json!(["status_if_new"]));
    assert!(r.body["mapping"].as_str().unwrap().contains("merge_fields"));

    // The tenant's connections name their connectors; samples add fields.
    let r = api
        .call(
            "POST",
            "/v1/suggestions",
            &viewer,
            Some(
                json!({"source": "conn_a1/contacts", "destination": "conn_a2/contacts.upsert_by_email",
                        "source_samples": [{"id": "1", "properties": {"email": "a@example.com", "firstname": "Ada"}}]}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["unmatched_required"], json!([]));
    assert!(
        r.body["mapping"].as_str().unwrap().contains(".properties.email"),
        "{}",
        r.body
    );

    // Bad input: a problem naming the field, nothing else.
    let other = api.bootstrap("tenant-b", Role::Admin, Tier::Enterprise).await;
    for (key, body, field, words) in [
        (
            &viewer,
            json!({"source": "stripe", "destination": "hubspot/contacts.upsert_by_email"}),
            "source",
            "give CONNECTION/STREAM",
        ),
        (
            &viewer,
            json!({"source": "nowhere/customers", "destination": "hubspot/contacts.upsert_by_email"}),
            "source",
            "neither a connection of this tenant nor a built-in connector",
        ),
        (
            &viewer,
            json!({"source": "stripe/nothing", "destination": "hubspot/contacts.upsert_by_email"}),
            "source",
            "has no stream `nothing`",
        ),
        (
            &viewer,
            json!({"source": "hubspot/contacts", "destination": "hubspot/contacts.fly"}),
            "destination",
            "has no write `contacts.fly`",
        ),
        (
            &viewer,
            json!({"source": "stripe/customers", "destination": "hubspot/contacts.upsert_by_email", "source_samples": [1]}),
            "source_samples[0]",
            "JSON object",
        ),
        // Another tenant's connection is not seen.
        (
            &other,
            json!({"source": "conn_a1/contacts", "destination": "hubspot/contacts.upsert_by_email"}),
            "source",
            "neither a connection of this tenant",
        ),
    ] {
        let r = api.call("POST", "/v1/suggestions", key, Some(body.clone())).await;
        assert_eq!(r.status, 422, "{body}: {}", r.body);
        assert_eq!(r.body["errors"][0]["field"], field, "{body}: {}", r.body);
        assert!(r.body["detail"].as_str().unwrap().contains(words), "{body}: {}", r.body);
        assert!(!r.body.to_string().contains("conn_a2"), "{}", r.body);
    }
    let r = api
        .call(
            "POST",
            "/v1/suggestions",
            &viewer,
            Some(json!({"source": "stripe/customers"})),
        )
        .await;
    assert_eq!(r.status / 100, 4, "{}", r.body);
    assert!(r.body["title"].is_string(), "a problem document: {}", r.body);

    // Without the providers' descriptions, a schema kept there cannot be read: said so, and
    // samples stand in.
    let bare = Api::new(|_| {}).await;
    let key = bare.bootstrap("tenant-a", Role::Viewer, Tier::Enterprise).await;
    let body = json!({"source": "stripe/customers", "destination": "hubspot/contacts.upsert_by_email"});
    let r = bare.call("POST", "/v1/suggestions", &key, Some(body)).await;
    assert_eq!(
        (r.status, r.body["errors"][0]["field"].as_str()),
        (422, Some("source")),
        "{}",
        r.body
    );
    assert!(
        r.body["detail"].as_str().unwrap().contains("SWITCHYARD_SPECS_DIR"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn a_connection_shows_its_open_inbound_events_anomaly() {
    use switchyard::quality::Quality;
    use switchyard::store::connections::InboundRecord;
    let api = Api::new(|_| {}).await;
    let (_, _) = seeded(&api).await;
    let viewer = api.bootstrap("tenant-a", Role::Viewer, Tier::Enterprise).await;
    let shown = api.call("GET", "/v1/connections/conn_a1", &viewer, None).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert_eq!(shown.body["inbound_anomaly"], Value::Null);
    assert_eq!(shown.body["inbound_counted_until"], Value::Null);

    // Eight Tuesdays at 10:00 of 40 events, then a silent one.
    const TUESDAY_10AM: i64 = 1_795_514_400;
    let mut quality = Quality::default();
    for week in (1..=8).rev() {
        assert!(quality
            .observe_hour(TUESDAY_10AM - week * 7 * 86_400, 40)
            .findings
            .is_empty());
    }
    let finding = quality.observe_hour(TUESDAY_10AM, 0).findings.remove(0);
    let record = InboundRecord {
        version: 1,
        next_hour: TUESDAY_10AM + 3_600,
        quality,
    };
    assert!(api.deps.connections.put_inbound("conn_a1", &record).await.unwrap());
    let shown = api.call("GET", "/v1/connections/conn_a1", &viewer, None).await;
    assert_eq!(
        shown.body["inbound_anomaly"],
        json!({"metric": "inbound_events", "since": TUESDAY_10AM, "hours": 1, "summary": finding.summary})
    );
    assert!(finding
        .summary
        .starts_with("inbound_events: 0 events in the hour where about 40"));
    // The connection's own fields are still there beside it; lists do not carry it.
    assert_eq!(shown.body["id"], "conn_a1");
    let list = api.call("GET", "/v1/connections", &viewer, None).await;
    assert!(list.body["items"][0].get("inbound_anomaly").is_none());
    let other = api.bootstrap("tenant-b", Role::Admin, Tier::Enterprise).await;
    assert_eq!(
        api.call("GET", "/v1/connections/conn_a1", &other, None).await.status,
        404
    );
}

/// Every item of the table, as text (the erasure test reads it whole).
async fn table_dump(api: &Api) -> Vec<String> {
    let mut pages = api
        .env
        .clients
        .dynamodb
        .scan()
        .table_name(&api.env.table)
        .into_paginator()
        .items()
        .send();
    let mut out = Vec::new();
    while let Some(item) = pages.next().await {
        let item = item.expect("scan works");
        // Bodies are binary attributes: read them as text too.
        let bodies: Vec<String> = item
            .values()
            .filter_map(|v| v.as_b().ok())
            .map(|b| String::from_utf8_lossy(b.as_ref()).into_owned())
            .collect();
        out.push(format!("{item:?} {}", bodies.join(" ")).to_lowercase());
    }
    out
}

/// Outbound webhooks about her (`sent_as`), as connector-sync logs them and as the publisher
/// keeps one the queue refused: a record.created naming her first, one naming her second (after
/// `other`, in the payload's key order: found through her pointer), one kept in the outbox; and
/// one about `other` only.
async fn webhooks_about(api: &Api, admin: &str, tenant: &str, sent_as: &str, other: &str) {
    let r = api
        .call(
            "POST",
            "/v1/webhook-subscriptions",
            admin,
            Some(json!({"id": "whsub_g", "url": "https://example.com/hooks/g", "event_types": ["record.created"]})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    switchyard_tests::log_capture::known_secret(r.body["secret"].as_str().unwrap());
    let payload = |record: Value| {
        json!({"type": "record.created", "timestamp": "2027-01-15T08:00:00Z",
            "data": {"flow_id": "flow_a", "source_id": "cus_x", "destination_id": "contact-42", "record": record}})
        .to_string()
    };
    let delivery = |id: &str, record: Value| switchyard::store::subscriptions::Delivery {
        delivery_id: id.into(),
        subscription_id: "whsub_g".into(),
        event_id: format!("msg_{id}"),
        event_type: "record.created".into(),
        payload: payload(record),
        status: switchyard::store::subscriptions::DeliveryStatus::Succeeded,
        attempts: vec![],
        created_at: NOW - 5,
        updated_at: NOW - 5,
        next_attempt_at: None,
    };
    for d in [
        delivery(
            "dlv_g1",
            json!({"properties": {"email": sent_as, "firstname": "Grace"}}),
        ),
        delivery("dlv_g2", json!({"properties": {"cc": other, "email": sent_as}})),
        delivery("dlv_l1", json!({"properties": {"email": other}})),
    ] {
        api.deps
            .subscriptions
            .put_delivery(tenant, &d, NOW + 86_400)
            .await
            .expect("the delivery is logged");
    }
    let kept = switchyard::queue::SyncMessage::WebhookDelivery(switchyard::queue::DeliveryRef {
        subscription_id: "whsub_g".into(),
        delivery_id: "dlv_g3".into(),
        event_id: "msg_dlv_g3".into(),
        event_type: "record.created".into(),
        payload: payload(json!({"properties": {"email": sent_as}})),
        attempt: 0,
    });
    assert_eq!(
        api.deps
            .subscriptions
            .outbox()
            .keep(tenant, &[kept], NOW - 5, 3600)
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn a_persons_data_is_exported_and_erased_and_nothing_of_it_is_left() {
    use switchyard::store::links::{LinkStore, RecordLink};
    use switchyard::store::reviews::{ReviewItem, ReviewStore};

    let api = Api::new(|_| {}).await;
    let (admin, _) = seeded(&api).await;
    let tenant = api.tenant("tenant-a");
    let editor = api.bootstrap("tenant-a", Role::Editor, Tier::Enterprise).await;
    let viewer = api.bootstrap("tenant-a", Role::Viewer, Tier::Enterprise).await;
    let stranger = api.bootstrap("tenant-b", Role::Admin, Tier::Enterprise).await;
    // Unique to this test, in the case a provider might send it.
    let email = format!("grace.{}@example.com", api.run);
    let sent_as = format!("Grace.{}@Example.COM", api.run);
    let other = format!("linus.{}@example.com", api.run);
    let path = format!("/v1/subjects/{}", email.replace('@', "%40"));

    // Two events through the receiver (one delivered twice), each about one person.
    let r = api
        .call(
            "POST",
            "/v1/connections",
            &admin,
            Some(json!({"id": "conn_hooks", "provider": "stripe", "webhook": {"scheme": "stripe", "secret": WEBHOOK_SECRET}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let clock = FixedClock::at(NOW);
    let config = switchyard::config::ReceiverConfig::from_lookup(|k| match k {
        "TABLE_NAME" => Some(api.env.table.clone()),
        "SYNC_QUEUE_URL" => Some(api.env.queue_url.clone()),
        _ => None,
    })
    .expect("test config is complete");
    let receiver = switchyard::receiver::ReceiverDeps::new(config, &api.env.clients, Arc::new(clock.clone()));
    let event = |id: &str, address: &str| {
        serde_json::to_vec(&json!({"id": id, "object": "event", "type": "customer.updated",
            "data": {"object": {"id": format!("cus_{id}"), "email": address, "name": "G. Hopper"}}}))
        .unwrap()
    };
    let hers = event("evt_grace", &sent_as);
    let his = event("evt_linus", &other);
    assert_eq!(
        deliver(&receiver, &clock, "conn_hooks", &hers, &hers, NOW - 50).await,
        200
    );
    assert_eq!(
        deliver(&receiver, &clock, "conn_hooks", &hers, &hers, NOW - 45).await,
        200
    );
    assert_eq!(
        deliver(&receiver, &clock, "conn_hooks", &his, &his, NOW - 40).await,
        200
    );

    // A record link and a parked conflict about her, as the sync writes them.
    let record = json!({"id": "cus_evt_grace", "email": sent_as, "name": "G. Hopper"});
    LinkStore::new(api.env.clients.dynamodb.clone(), &api.env.table)
        .put_many(
            "flow_a",
            &[RecordLink {
                source_id: "cus_evt_grace".into(),
                destination_id: "contact-42".into(),
                content_hash: "h".into(),
                updated_at: NOW - 30,
                record: Some(record.clone()),
                subject: switchyard::subjects::subject_of_value(&tenant, &record),
                predicted: false,
                retired: false,
            }],
        )
        .await
        .unwrap();
    let review = ReviewItem {
        first_flow: "flow_a".into(),
        second_flow: "flow_b".into(),
        record: "cus_evt_grace".into(),
        counterpart: "contact-42".into(),
        first_version: record.clone(),
        second_version: json!({"properties": {"email": email, "firstname": "Grace"}}),
        base: None,
        parked_at: NOW - 20,
        seen_by: "flow_a".into(),
        kind: Default::default(),
        score: None,
        evidence: None,
    };
    let subject = switchyard::subjects::subject_of_value(&tenant, &review.first_version);
    assert!(ReviewStore::new(api.env.clients.dynamodb.clone(), &api.env.table)
        .park(&review, subject.as_deref())
        .await
        .unwrap());
    // Dead letters: one of her event, one whose error names her, one that does not.
    let dead = DeadLetterStore::new(api.env.clients.dynamodb.clone(), &api.env.table);
    let letter = |key: &str, conn: Option<&str>, flow: Option<&str>, error: &str| DeadLetter {
        key: key.into(),
        kind: "inbound_event".into(),
        connection_id: conn.map(str::to_string),
        flow_id: flow.map(str::to_string),
        message: "{}".into(),
        attempts: 1,
        history: vec![],
        classification: "permanent".into(),
        reason: "permanent".into(),
        last_error: error.into(),
        parked_at: NOW - 10,
        status: DeadLetterStatus::Parked,
        replayed_at: None,
    };
    dead.put(&letter(
        "evt:conn_hooks:evt_grace",
        Some("conn_hooks"),
        None,
        "HubSpot answered 400",
    ))
    .await
    .unwrap();
    dead.put(&letter(
        "job:flow_a:job_9",
        None,
        Some("flow_a"),
        &format!("contact {sent_as} is not a valid email"),
    ))
    .await
    .unwrap();
    // Boxed: this test's one async body would overflow a debug build's test-thread stack.
    Box::pin(webhooks_about(&api, &admin, &tenant, &sent_as, &other)).await;

    // Export: editor and above; the address is normalised.
    assert_eq!(api.call("GET", &path, &viewer, None).await.status, 403);
    let spaced = format!("/v1/subjects/%20{}%20", sent_as.replace('@', "%40"));
    let r = api.call("GET", &spaced, &editor, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let x = &r.body;
    assert_eq!(x["email"], email);
    let events = x["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{x}");
    assert_eq!(events[0]["event_id"], "evt_grace");
    assert_eq!(events[0]["body"].as_str().unwrap().as_bytes(), hers.as_slice());
    let log: Vec<_> = x["webhook_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["outcome"].as_str().unwrap(), e["at"].as_i64().unwrap()))
        .collect();
    assert_eq!(log, [("accepted", NOW - 50), ("duplicate", NOW - 45)]);
    assert_eq!(x["record_links"][0]["destination_id"], "contact-42");
    assert_eq!(x["record_links"][0]["record"], record);
    assert_eq!(x["review_items"][0]["counterpart"], "contact-42");
    let mut dead_keys: Vec<_> = x["dead_letters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["key"].as_str().unwrap())
        .collect();
    dead_keys.sort_unstable();
    assert_eq!(dead_keys, ["evt:conn_hooks:evt_grace", "job:flow_a:job_9"]);
    let mut sent: Vec<_> = x["webhook_deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert!(d["payload"].as_str().unwrap().contains(&sent_as), "{d}");
            d["delivery_id"].as_str().unwrap()
        })
        .collect();
    sent.sort_unstable();
    assert_eq!(sent, ["dlv_g1", "dlv_g2"], "{x}");
    assert_eq!(x["webhook_outbox"].as_array().unwrap().len(), 1, "{x}");
    assert_eq!(x["webhook_outbox"][0]["delivery_id"], "dlv_g3");
    assert!(x["webhook_outbox"][0]["payload"].as_str().unwrap().contains(&sent_as));
    // dlv_g2 names him too (it is about both); nothing else of his is in her export.
    let without_shared = {
        let mut y = x.clone();
        y["webhook_deliveries"] = json!([]);
        y.to_string()
    };
    assert!(!without_shared.contains(&other), "another person's data: {x}");
    for bad in ["not-an-address", "grace%40example", "a%40b.com%2C%20c%40d.com"] {
        let r = api.call("GET", &format!("/v1/subjects/{bad}"), &editor, None).await;
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
    }

    // Another tenant holds nothing about her, and cannot erase a's data.
    assert_eq!(api.call("GET", &path, &stranger, None).await.status, 404);
    assert_eq!(api.call("DELETE", &path, &stranger, None).await.status, 404);
    // Erasure: admin only.
    assert_eq!(api.call("DELETE", &path, &editor, None).await.status, 403);
    let r = api.call("DELETE", &path, &admin, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let digest = switchyard::subjects::digest(&email);
    assert_eq!(r.body["subject"], format!("subject:{digest}"));
    assert_eq!(
        r.body["erased"],
        json!({"events": 1, "webhook_log": 1, "record_links": 1, "review_items": 1, "dead_letters": 2,
            "webhook_deliveries": 2, "webhook_outbox": 1})
    );

    // Nothing of her is left anywhere in the table (bodies are not offloaded to S3): not her
    // address in any case (in an event body, a link, a review, a dead letter or a webhook
    // delivery's payload), not her event, not its duplicate, not an index entry.
    let dump = table_dump(&api).await;
    let subject_key = switchyard::subjects::subject_key(&tenant, &email).to_lowercase();
    // Only the erasure marker names her digest (for 14 days, so a webhook delivery about her
    // still on the queue is dropped), and it holds nothing but the time.
    let marker = format!("\"pk\": s(\"erased#{subject_key}\")");
    for item in &dump {
        assert!(!item.contains(&email), "her address is left: {item}");
        assert!(!item.contains("evt_grace") && !item.contains("cus_evt_grace"), "{item}");
        assert!(!item.contains(&subject_key) || item.contains(&marker), "{item}");
    }
    let markers: Vec<&String> = dump.iter().filter(|i| i.contains(&marker)).collect();
    assert_eq!(markers.len(), 1, "{markers:?}");
    assert!(
        markers[0].contains("\"erased_at\"") && markers[0].contains("\"expires_at\""),
        "{}",
        markers[0]
    );
    // The others' data is untouched: his event, his own delivery and the dead letter that is
    // not about her.
    assert!(dump.iter().any(|i| i.contains(&other)));
    assert!(dump.iter().any(|i| i.contains("dlv#dlv_l1")));
    assert!(dump.iter().any(|i| i.contains("job:flow_a:job_1")));
    assert_eq!(api.call("GET", &path, &admin, None).await.status, 404);
    assert_eq!(api.call("DELETE", &path, &admin, None).await.status, 404);

    // The audit log names her by digest only (the table dump above holds no address).
    let audit = api.call("GET", "/v1/audit?limit=200", &admin, None).await;
    let entries = audit.body["items"].as_array().unwrap();
    let erased: Vec<_> = entries
        .iter()
        .filter(|e| e["action"] == "subject.erase" && e["status"] == 200)
        .collect();
    assert_eq!(erased.len(), 1, "{entries:?}");
    assert_eq!(erased[0]["target"], format!("subject:{digest}"));
    assert!(entries
        .iter()
        .any(|e| e["action"] == "subject.export" && e["status"] == 200));
}

#[tokio::test]
async fn a_persons_export_is_paged_by_cursor_to_the_last_item_once_each() {
    use switchyard::store::links::{LinkStore, RecordLink};

    let api = Api::new(|_| {}).await;
    let (admin, _) = seeded(&api).await;
    let tenant = api.tenant("tenant-a");
    let email = format!("many.{}@example.com", api.run);
    let path = format!("/v1/subjects/{}", email.replace('@', "%40"));
    // Seven record links about one person, as seven flows' syncs write them.
    let links = LinkStore::new(api.env.clients.dynamodb.clone(), &api.env.table);
    for n in 0..7 {
        let record = json!({"id": format!("cus_{n}"), "email": email});
        links
            .put_many(
                &format!("flow_{n}"),
                &[RecordLink {
                    source_id: format!("cus_{n}"),
                    destination_id: format!("contact-{n}"),
                    content_hash: "h".into(),
                    updated_at: NOW,
                    record: Some(record.clone()),
                    subject: switchyard::subjects::subject_of_value(&tenant, &record),
                    predicted: false,
                    retired: false,
                }],
            )
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            None => format!("{path}?limit=3"),
            Some(c) => format!("{path}?limit=3&cursor={c}"),
        };
        let r = api.call("GET", &url, &admin, None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let items = r.body["record_links"].as_array().unwrap();
        assert!(items.len() <= 3, "{}", r.body);
        assert!(r.body["dead_letters"].is_array());
        seen.extend(items.iter().map(|l| l["destination_id"].as_str().unwrap().to_string()));
        pages += 1;
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(pages < 10, "the cursor moves on");
    }
    seen.sort();
    let want: Vec<String> = (0..7).map(|n| format!("contact-{n}")).collect();
    assert_eq!(seen, want, "every item once");
    assert!(pages >= 3, "{pages} pages of at most 3");
    let r = api.call("GET", &format!("{path}?cursor=bm9wZQ"), &admin, None).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.to_string().contains("cursor"), "{}", r.body);
    let r = api.call("GET", &format!("{path}?limit=0"), &admin, None).await;
    assert_eq!(r.status, 422, "{}", r.body);
}

#[tokio::test]
async fn usage_shows_requests_per_key_and_tier_and_events_and_records_per_day() {
    let api = Api::new(|_| {}).await;
    let admin = api.bootstrap("tenant-a", Role::Admin, Tier::Professional).await;
    let viewer = api.bootstrap("tenant-a", Role::Viewer, Tier::Free).await;
    let stranger = api.bootstrap("tenant-b", Role::Admin, Tier::Enterprise).await;
    let tenant = api.tenant("tenant-a");
    let usage = switchyard::store::usage::UsageStore::new(api.env.clients.dynamodb.clone(), &api.env.table);
    let counts = |events, records_read, records_written| switchyard::store::usage::DayCounts {
        events,
        records_read,
        records_written,
    };
    let today = switchyard::store::usage::day_of(NOW);
    let yesterday = switchyard::store::usage::day_of(NOW - 86_400);
    let long_ago = switchyard::store::usage::day_of(NOW - 40 * 86_400);
    // Two instances adding to the same day add up.
    usage.add(&tenant, &today, counts(2, 10, 4), NOW).await.unwrap();
    usage.add(&tenant, &today, counts(1, 5, 5), NOW).await.unwrap();
    usage.add(&tenant, &yesterday, counts(7, 0, 0), NOW).await.unwrap();
    usage.add(&tenant, &long_ago, counts(9, 9, 9), NOW).await.unwrap();
    usage
        .add(&api.tenant("tenant-b"), &today, counts(100, 100, 100), NOW)
        .await
        .unwrap();

    // Three requests by the viewer in the previous window, two in this one.
    api.clock.set(NOW - 3600);
    for _ in 0..3 {
        assert_eq!(api.call("GET", "/v1/me", &viewer, None).await.status, 200);
    }
    api.clock.set(NOW);
    assert_eq!(api.call("GET", "/v1/me", &viewer, None).await.status, 200);

    let r = api.call("GET", "/v1/usage", &viewer, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rows = r.body["requests"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "a viewer sees its own key only: {rows:?}");
    assert_eq!(rows[0]["tier"], "free");
    assert_eq!(rows[0]["limit"], 1000);
    assert_eq!(rows[0]["requests"], 2, "this call included");
    assert_eq!(rows[0]["previous_window_requests"], 3);
    assert_eq!(
        r.body["days"],
        json!([
            {"day": yesterday, "events": 7, "records_read": 0, "records_written": 0},
            {"day": today, "events": 3, "records_read": 15, "records_written": 9}
        ])
    );

    let r = api.call("GET", "/v1/usage?days=60", &admin, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut rows: Vec<_> = r.body["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["role"].as_str().unwrap(),
                k["tier"].as_str().unwrap(),
                k["requests"].as_u64().unwrap(),
            )
        })
        .collect();
    rows.sort_unstable();
    assert_eq!(rows, [("admin", "professional", 1), ("viewer", "free", 2)]);
    assert_eq!(r.body["days"].as_array().unwrap().len(), 3, "{}", r.body);
    for bad in ["days=0", "days=401", "days=x"] {
        let r = api.call("GET", &format!("/v1/usage?{bad}"), &admin, None).await;
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
    }

    // Another tenant sees its own counts, never a's.
    let r = api.call("GET", "/v1/usage", &stranger, None).await;
    assert_eq!(r.body["requests"].as_array().unwrap().len(), 1, "{}", r.body);
    assert_eq!(r.body["days"][0]["events"], 100);
    assert_eq!(r.body["days"].as_array().unwrap().len(), 1);
}

/// A tenant connector for the paged fake's `/v1/{workspace}/items` routes (the shape the
/// `generic-rest` template documents), as a tenant would write it.
const ITEMS_CONNECTOR: &str = r#"
id: custom-items
name: Items (uploaded)
category: data
base_url: https://items.example.com
config:
  workspace: {required: true, description: The workspace in every path}
auth: {type: api_key, in: header, name: X-Api-Key, credential: api_key}
errors:
  message: /error/message
check:
  request: {path: "/v1/{{ config.workspace }}/me"}
streams:
  items:
    request:
      path: "/v1/{{ config.workspace }}/items"
      query: {page: "{{ page.number }}", per_page: "{{ page.size }}", updated_since: "{{ since.rfc3339 }}"}
    records: /items
    primary_key: /id
    cursor: {field: /updated_at, type: rfc3339}
    pagination: {type: page_number, page_size: 10, start: 1, total_pages: /total_pages}
writes:
  items.upsert:
    kind: upsert
    key: /external_id
    batch_size: 50
    request: {method: POST, path: "/v1/{{ config.workspace }}/items/batch", body: {items: "{{ records }}"}}
    envelope: {ref: "{{ ref }}", external_id: "{{ key }}", fields: "{{ record }}"}
    response: {results: /results, destination_id: /id, result_ref: /ref, errors: /errors, error_ref: /ref, error_message: /message}
"#;

const ITEMS_KEY: &str = "items-api-key-test-3c1e";

impl Api {
    async fn upload(&self, key: &str, path: &str, text: &str, content_type: &str) -> Reply {
        self.raw("POST", path, Some(key), text.as_bytes(), Some(content_type))
            .await
    }

    /// A connection of the uploaded items connector to a paged fake.
    async fn items_connection(&self, key: &str, id: &str, base_url: &str) -> Reply {
        self.call(
            "POST",
            "/v1/connections",
            key,
            Some(json!({
                "id": id,
                "provider": "custom-items",
                "config": {"base_url": base_url, "workspace": "acme"},
                "credentials": {"api_key": ITEMS_KEY}
            })),
        )
        .await
    }
}

#[tokio::test]
async fn an_uploaded_connector_runs_a_flow_end_to_end_and_only_for_its_tenant() {
    use switchyard_fakes::paged_source::{self, SourceConfig};
    let api = Api::new(|_| {}).await;
    switchyard_tests::log_capture::known_secret(ITEMS_KEY);
    let source = paged_source::start(SourceConfig {
        records: 23,
        api_key: Some(ITEMS_KEY.into()),
        ..Default::default()
    });
    let destination = paged_source::start(SourceConfig {
        records: 0,
        api_key: Some(ITEMS_KEY.into()),
        ..Default::default()
    });
    let admin = api.bootstrap("tenant-a", Role::Admin, Tier::Enterprise).await;
    let editor = api
        .call("POST", "/v1/keys", &admin, Some(json!({"name": "e", "role": "editor"})))
        .await
        .body["key"]
        .as_str()
        .unwrap()
        .to_string();
    switchyard_tests::log_capture::known_secret(&editor);

    // Uploaded as YAML by an editor, with an Idempotency-Key: a retry replays the 201.
    let upload = |key: String| {
        let api = &api;
        async move {
            let mut headers = http::HeaderMap::new();
            headers.insert("authorization", format!("Bearer {key}").parse().unwrap());
            headers.insert("content-type", "application/yaml".parse().unwrap());
            headers.insert("idempotency-key", "upload-items-1".parse().unwrap());
            switchyard::api::handle(
                &api.deps,
                ApiRequest {
                    method: "POST".into(),
                    path: "/v1/connectors".into(),
                    query: String::new(),
                    headers,
                    body: ITEMS_CONNECTOR.as_bytes().to_vec(),
                },
            )
            .await
        }
    };
    let first = upload(editor.clone()).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let shown: Value = serde_json::from_str(&first.body).unwrap();
    assert_eq!(shown["origin"], "tenant");
    assert_eq!(shown["version"], 1);
    assert_eq!(shown["streams"], json!(["items"]));
    assert_eq!(shown["writes"], json!(["items.upsert"]));
    let again = upload(editor.clone()).await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    // Without the key, the same upload is a conflict: the id is taken.
    let r = api
        .upload(&editor, "/v1/connectors", ITEMS_CONNECTOR, "application/yaml")
        .await;
    assert_eq!(r.status, 409, "{}", r.body);

    // Listed beside the built-ins, marked as the tenant's.
    let list = api.call("GET", "/v1/connectors?limit=200", &admin, None).await;
    let items = list.body["items"].as_array().unwrap();
    let own: Vec<&Value> = items.iter().filter(|c| c["origin"] == "tenant").collect();
    assert_eq!(own.len(), 1, "{}", list.body);
    assert_eq!(own[0]["id"], "custom-items");
    assert!(items.iter().any(|c| c["id"] == "hubspot" && c["origin"] == "built_in"));

    // Each phase is its own boxed future: one async body this long overflows a test thread's
    // stack in a debug build.
    Box::pin(uploaded_connector_runs_a_flow(
        &api,
        &admin,
        &source.base_url,
        &destination,
    ))
    .await;
    let renamed = Box::pin(uploaded_connector_versions_and_deletion(&api, &admin, &editor)).await;
    Box::pin(uploaded_connector_is_invisible_to_another_tenant(
        &api,
        &renamed,
        &source.base_url,
    ))
    .await;
}

#[tokio::test]
async fn linking_two_flows_of_an_uploaded_connector_checks_them_against_the_tenants_own_definition() {
    use switchyard::store::flows::{ConflictRule, DeleteRule, MatchThresholds};
    use switchyard::sync::{link_flows, LinkContext, LinkError, LinkPolicy};

    let api = Api::new(|_| {}).await;
    switchyard_tests::log_capture::known_secret(ITEMS_KEY);
    let admin = api.bootstrap("tenant-a", Role::Admin, Tier::Enterprise).await;
    let r = api
        .upload(&admin, "/v1/connectors", ITEMS_CONNECTOR, "application/yaml")
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    for conn in ["conn_l1", "conn_l2"] {
        let r = api.items_connection(&admin, conn, "https://items.example.com").await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    for (id, from, to) in [("flow_l12", "conn_l1", "conn_l2"), ("flow_l21", "conn_l2", "conn_l1")] {
        let r = api
            .call(
                "POST",
                "/v1/flows",
                &admin,
                Some(json!({"id": id, "source": from, "stream": "items", "destination": to,
                    "operation": "items.upsert", "mapping": "{external_id: .id, email: .email}"})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    // As `switchyard flows link` builds it: built-in definitions, then the tenant's own.
    let ctx = LinkContext {
        flows: &api.deps.flows,
        connections: &api.deps.connections,
        registry: &api.deps.registry,
        tenant_connectors: Some(&api.deps.tenant_connectors),
    };
    let matching = MatchThresholds { link: 0.9, create: 0.5 };

    // Version 1 says nothing of a record's identity and has no delete write: matching and
    // propagated deletes are refused, naming the uploaded connector (so it was read).
    let err = link_flows(
        &ctx,
        "flow_l12",
        "flow_l21",
        LinkPolicy {
            matching: Some(matching),
            ..ConflictRule::SourceWins.into()
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, LinkError::Matching(m) if m.contains("custom-items's stream `items`") && m.contains("identity")),
        "{err}"
    );
    let err = link_flows(
        &ctx,
        "flow_l12",
        "flow_l21",
        LinkPolicy {
            on_delete: DeleteRule::Propagate,
            ..ConflictRule::SourceWins.into()
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, LinkError::Deletes(m) if m.contains("custom-items has no delete write beside `items.upsert`")),
        "{err}"
    );
    assert_eq!(
        api.deps.flows.get("flow_l12").await.unwrap().unwrap().reverse_flow,
        None,
        "a refused link pairs nothing"
    );

    // Version 2 says where identity is and how to search: the same link with matching is made.
    let v2 = ITEMS_CONNECTOR.replace(
        "    primary_key: /id\n",
        "    primary_key: /id\n    identity: {email: /email}\n    search:\n      email:\n        request:\n          path: \"/v1/{{ config.workspace }}/items\"\n          query: {email: \"{{ value }}\"}\n        records: /items\n",
    );
    assert_ne!(v2, ITEMS_CONNECTOR);
    let r = api
        .upload(&admin, "/v1/connectors/custom-items/versions", &v2, "application/yaml")
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    link_flows(
        &ctx,
        "flow_l12",
        "flow_l21",
        LinkPolicy {
            matching: Some(matching),
            ..ConflictRule::SourceWins.into()
        },
    )
    .await
    .expect("linked against version 2");
    let (a, b) = (
        api.deps.flows.get("flow_l12").await.unwrap().unwrap(),
        api.deps.flows.get("flow_l21").await.unwrap().unwrap(),
    );
    assert_eq!(a.reverse_flow.as_deref(), Some("flow_l21"));
    assert_eq!(b.reverse_flow.as_deref(), Some("flow_l12"));
    assert_eq!(a.match_on_create, Some(matching));
}

async fn uploaded_connector_runs_a_flow(
    api: &Api,
    admin: &str,
    source_url: &str,
    destination: &FakeHandle<switchyard_fakes::paged_source::PagedSource>,
) {
    let (api, admin) = (api, admin.to_string());
    // A connection and a flow with it, through the API; the run goes through the sync queue.
    let r = api.items_connection(&admin, "conn_items_src", source_url).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = api
        .items_connection(&admin, "conn_items_dst", &destination.base_url)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = api
        .call(
            "POST",
            "/v1/flows",
            &admin,
            Some(json!({
                "id": "flow_items",
                "source": "conn_items_src",
                "stream": "items",
                "destination": "conn_items_dst",
                "operation": "items.upsert",
                "mapping": "{external_id: .id, email: .email, name: (.first_name + \" \" + .last_name)}"
            })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = api
        .call(
            "POST",
            "/v1/flows/flow_items/run",
            &admin,
            Some(json!({"mode": "full"})),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let messages = api.env.drain_queue().await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let job_ref = SyncJobRef {
        flow_id: "flow_items".into(),
        job_id: r.body["job_id"].as_str().unwrap().to_string(),
        attempt: 0,
    };
    assert_eq!(messages[0]["job_id"], job_ref.job_id.as_str());

    // connector-sync's job path, with its own dependencies.
    let config = switchyard::config::SyncConfig::from_lookup(|k| match k {
        "TABLE_NAME" => Some(api.env.table.clone()),
        "SYNC_QUEUE_URL" => Some(api.env.queue_url.clone()),
        "ALLOW_PRIVATE_NETWORK" => Some("true".into()),
        _ => None,
    })
    .unwrap();
    let sync_deps = switchyard::sync::SyncDeps::new(
        config,
        &api.env.clients,
        Arc::new(Registry::embedded().unwrap()),
        Arc::new(api.clock.clone()),
    )
    .unwrap();
    // Boxed: the job's future is large, and this test's own stack holds the rest.
    let outcome = Box::pin(switchyard::sync::run_job(
        &sync_deps,
        &job_ref,
        &switchyard::sync::Unlimited,
        &|_| {},
    ))
    .await
    .unwrap();
    let switchyard::sync::JobOutcome::Finished(job) = outcome else {
        panic!("the job finished: {outcome:?}")
    };
    assert_eq!(job.status, switchyard::store::jobs::JobStatus::Succeeded, "{job:?}");
    let written = destination.state.records();
    assert_eq!(written.len(), 23, "every source record was written");
    assert_eq!(written[0].external_id.as_deref(), Some("rec_000001"));
    assert_eq!(written[0].email, "user000001@example.com");
}

async fn uploaded_connector_versions_and_deletion(api: &Api, admin: &str, editor: &str) -> String {
    let (admin, editor) = (admin.to_string(), editor.to_string());
    // A new version that drops the write the flow uses is refused, naming the flow; one that
    // keeps it is version 2, and the history keeps version 1's text.
    let without_write = ITEMS_CONNECTOR[..ITEMS_CONNECTOR.find("writes:").unwrap()].to_string();
    let r = api
        .upload(
            &admin,
            "/v1/connectors/custom-items/versions",
            &without_write,
            "application/yaml",
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body["detail"].as_str().unwrap().contains("flow_items"), "{}", r.body);
    let renamed = ITEMS_CONNECTOR.replace("Items (uploaded)", "Items v2");
    let as_json = serde_json::to_string(&serde_yaml::from_str::<Value>(&renamed).unwrap()).unwrap();
    let r = api
        .upload(
            &admin,
            "/v1/connectors/custom-items/versions",
            &as_json,
            "application/json",
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        (r.body["version"].as_u64(), r.body["name"].as_str()),
        (Some(2), Some("Items v2"))
    );
    let r = api
        .upload(
            &admin,
            "/v1/connectors/custom-items/versions",
            &renamed.replace("custom-items", "custom-other"),
            "application/yaml",
        )
        .await;
    assert_eq!(
        (r.status, r.body["errors"][0]["field"].as_str()),
        (422, Some("id")),
        "{}",
        r.body
    );
    let versions = api
        .call("GET", "/v1/connectors/custom-items/versions", &admin, None)
        .await;
    let listed: Vec<u64> = versions.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, [1, 2], "{}", versions.body);
    let v1 = api
        .call("GET", "/v1/connectors/custom-items/versions/1", &admin, None)
        .await;
    assert_eq!(v1.body["definition"], ITEMS_CONNECTOR);
    assert_eq!(
        api.call("GET", "/v1/connectors/custom-items", &admin, None).await.body["version"],
        2
    );

    // Deleting it while a flow uses it: 409 naming the flow. An unused one is deleted.
    let r = api.call("DELETE", "/v1/connectors/custom-items", &admin, None).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body["detail"].as_str().unwrap().contains("flow_items"), "{}", r.body);
    let spare = ITEMS_CONNECTOR.replace("custom-items", "custom-spare");
    assert_eq!(
        api.upload(&admin, "/v1/connectors", &spare, "application/yaml")
            .await
            .status,
        201
    );
    assert_eq!(
        api.call("DELETE", "/v1/connectors/custom-spare", &editor, None)
            .await
            .status,
        204
    );
    assert_eq!(
        api.call("GET", "/v1/connectors/custom-spare", &admin, None)
            .await
            .status,
        404
    );
    assert_eq!(
        api.call("GET", "/v1/connectors/custom-spare/versions", &admin, None)
            .await
            .status,
        404
    );
    assert_eq!(
        api.call("DELETE", "/v1/connectors/hubspot", &admin, None).await.status,
        409
    );

    // Audited: who uploaded, versioned and deleted what.
    let log = api.call("GET", "/v1/audit?limit=200", &admin, None).await;
    let actions: Vec<(&str, &str)> = log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["target"].as_str().unwrap_or("")))
        .collect();
    for wanted in [
        ("connector.upload", "custom-items"),
        ("connector.upload_version", "custom-items"),
        ("connector.delete", "custom-spare"),
    ] {
        assert!(
            actions
                .iter()
                .any(|(a, r)| *a == wanted.0 && (wanted.1.is_empty() || *r == wanted.1)),
            "{wanted:?} in {actions:?}"
        );
    }

    renamed
}

async fn uploaded_connector_is_invisible_to_another_tenant(api: &Api, renamed: &str, source_url: &str) {
    // Tenant b: a's connector is not there on any route, and unknown to its connections.
    let admin_b = api.bootstrap("tenant-b", Role::Admin, Tier::Enterprise).await;
    for (method, path) in [
        ("GET", "/v1/connectors/custom-items"),
        ("GET", "/v1/connectors/custom-items/versions"),
        ("GET", "/v1/connectors/custom-items/versions/1"),
        ("DELETE", "/v1/connectors/custom-items"),
    ] {
        assert_eq!(
            api.call(method, path, &admin_b, None).await.status,
            404,
            "{method} {path}"
        );
    }
    let r = api
        .upload(
            &admin_b,
            "/v1/connectors/custom-items/versions",
            renamed,
            "application/yaml",
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let list = api.call("GET", "/v1/connectors?limit=200", &admin_b, None).await;
    assert!(!list.body.to_string().contains("custom-items"), "{}", list.body);
    let r = api.items_connection(&admin_b, "conn_b_items", source_url).await;
    assert_eq!(
        (r.status, r.body["errors"][0]["field"].as_str()),
        (422, Some("provider")),
        "{}",
        r.body
    );
    // A connection of b naming a's connector (written past the API, as a stale item could be):
    // a flow over it is refused as using an unknown connector, and a's is still a's.
    switchyard::store::connections::ConnectionStore::new(api.env.clients.dynamodb.clone(), &api.env.table)
        .create(&switchyard::store::connections::Connection {
            id: "conn_b_stale".into(),
            tenant: api.tenant("tenant-b"),
            provider: "custom-items".into(),
            name: "stale".into(),
            webhook: None,
            secret_arn: None,
            config: Default::default(),
            created_at: NOW,
        })
        .await
        .unwrap();
    let r = api
        .call(
            "POST",
            "/v1/flows",
            &admin_b,
            Some(
                json!({"source": "conn_b_stale", "stream": "items", "destination": "conn_b_stale",
                        "operation": "items.upsert", "mapping": "."}),
            ),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["errors"][0]["field"], "source");
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("unknown connector custom-items"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn an_uploaded_definition_is_refused_field_by_field_and_its_urls_go_through_the_url_guard() {
    // A deployment that keeps private networks out, as a deployed one does.
    let api = Api::new(|c| c.allow_private_network = false).await;
    let admin = api.bootstrap("tenant-a", Role::Admin, Tier::Enterprise).await;
    let runner = api
        .call("POST", "/v1/keys", &admin, Some(json!({"name": "r", "role": "runner"})))
        .await
        .body["key"]
        .as_str()
        .unwrap()
        .to_string();
    switchyard_tests::log_capture::known_secret(&runner);
    let r = api
        .upload(&runner, "/v1/connectors", ITEMS_CONNECTOR, "application/yaml")
        .await;
    assert_eq!(r.status, 403, "a runner may not upload: {}", r.body);

    // Every problem with its field path.
    let cases = [
        (
            ITEMS_CONNECTOR.replace("page_number", "by_page"),
            "streams.items.pagination",
        ),
        (ITEMS_CONNECTOR.replace("custom-items", "hubspot"), "id"),
        (
            ITEMS_CONNECTOR.replace("https://items.example.com", "http://127.0.0.1:9"),
            "base_url",
        ),
        (
            ITEMS_CONNECTOR.replace("https://items.example.com", "http://169.254.169.254/latest"),
            "base_url",
        ),
        (
            ITEMS_CONNECTOR.replace(
                "records: /items",
                &format!("records: '{}.items{}'", "[".repeat(300), "]".repeat(300)),
            ),
            "streams.items.records",
        ),
        (
            ITEMS_CONNECTOR.replace("kind: upsert", "kind: upsert\n    colour: red"),
            "writes.items.upsert",
        ),
    ];
    for (text, field) in cases {
        let r = api.upload(&admin, "/v1/connectors", &text, "application/yaml").await;
        assert_eq!(r.status, 422, "{field}: {}", r.body);
        assert!(
            r.body["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"].as_str().unwrap().starts_with(field)),
            "{field}: {}",
            r.body
        );
    }
    let r = api
        .upload(
            &admin,
            "/v1/connectors",
            &format!("{ITEMS_CONNECTOR}description: '{}'\n", "x".repeat(140_000)),
            "text/yaml",
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        api.upload(&admin, "/v1/connectors", "a: [", "application/yaml")
            .await
            .status,
        422
    );
    assert_eq!(
        api.upload(&admin, "/v1/connectors", ITEMS_CONNECTOR, "text/csv")
            .await
            .status,
        415
    );
    // Nothing of the refused uploads was stored.
    let list = api.call("GET", "/v1/connectors?limit=200", &admin, None).await;
    assert!(list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["origin"] == "built_in"));

    // A public base URL is stored; a connection that points it at loopback is held to the
    // run-time guard exactly as a built-in connector's is: its check request is refused.
    let r = api
        .upload(&admin, "/v1/connectors", ITEMS_CONNECTOR, "application/yaml")
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = api
        .items_connection(&admin, "conn_items_loop", &api.hubspot.base_url)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let own = api
        .call("POST", "/v1/connections/conn_items_loop/test", &admin, None)
        .await;
    let builtin = {
        api.connection(&admin, "conn_hubspot_loop").await;
        api.call("POST", "/v1/connections/conn_hubspot_loop/test", &admin, None)
            .await
    };
    for r in [&own, &builtin] {
        assert_eq!(
            (r.status, r.body["result"].as_str()),
            (200, Some("failed")),
            "{}",
            r.body
        );
        assert!(r.body["error"].as_str().unwrap().contains("loopback"), "{}", r.body);
    }
    assert_eq!(api.hubspot.requests.len(), 0, "nothing reached the loopback fake");
}

#[tokio::test]
async fn items_stored_before_the_subject_index_are_found_after_the_backfill_which_repeats_harmlessly() {
    use switchyard::store::events::{EventStore, StoredEvent};
    use switchyard::store::links::{LinkStore, RecordLink};
    use switchyard::store::migrate::backfill_subject_index;

    let api = Api::new(|_| {}).await;
    let (admin, _) = seeded(&api).await;
    let tenant = api.tenant("tenant-a");
    let email = format!("early.{}@example.com", api.run);
    let path = format!("/v1/subjects/{}", email.replace('@', "%40"));
    // As an earlier release stored them: an event and a two-way link about her, and a one-way
    // link that keeps no record, none with subject keys.
    let body = json!({"type": "customer.updated", "data": {"object": {"email": email.to_uppercase()}}});
    EventStore::new(api.env.clients.dynamodb.clone(), &api.env.table)
        .put_if_new(&StoredEvent {
            connection_id: "conn_a1".into(),
            tenant: tenant.clone(),
            event_id: "evt_early".into(),
            event_type: "customer.updated".into(),
            provider: "stripe".into(),
            body: body.to_string().into_bytes(),
            headers: Default::default(),
            received_at: NOW,
            expires_at: NOW + 86_400,
            subject: None,
        })
        .await
        .unwrap();
    let link = |source: &str, record: Option<Value>| RecordLink {
        source_id: source.into(),
        destination_id: format!("dest-{source}"),
        content_hash: "h".into(),
        updated_at: NOW,
        record,
        subject: None,
        predicted: false,
        retired: false,
    };
    LinkStore::new(api.env.clients.dynamodb.clone(), &api.env.table)
        .put_many(
            "flow_a",
            &[
                link("cus_early", Some(json!({"id": "cus_early", "email": email}))),
                link("cus_oneway", None),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        api.call("GET", &path, &admin, None).await.status,
        404,
        "not indexed yet"
    );

    let first = backfill_subject_index(&api.env.clients.dynamodb, &api.env.table, None, 100)
        .await
        .unwrap();
    assert_eq!(first.indexed, 2, "{first:?}");
    assert!(
        first.without_address >= 1,
        "the one-way link keeps no record: {first:?}"
    );
    assert_eq!(first.next, None, "{first:?}");
    let r = api.call("GET", &path, &admin, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["events"][0]["event_id"], "evt_early");
    assert_eq!(r.body["record_links"][0]["destination_id"], "dest-cus_early");

    // Again: nothing left to index, and the export is the same.
    let again = backfill_subject_index(&api.env.clients.dynamodb, &api.env.table, None, 100)
        .await
        .unwrap();
    assert_eq!(
        (again.indexed, again.without_address),
        (0, first.without_address),
        "{again:?}"
    );
    let r2 = api.call("GET", &path, &admin, None).await;
    assert_eq!(r2.body, r.body);
    // A position that no run printed is refused, naming the option.
    let err = backfill_subject_index(&api.env.clients.dynamodb, &api.env.table, Some("nope!"), 1)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("--from"), "{err}");
}

#[tokio::test]
async fn the_backfill_writes_the_missing_pointers_of_second_addresses_once() {
    use switchyard::store::events::{EventStore, StoredEvent};
    use switchyard::store::migrate::backfill_subject_index;
    use switchyard::store::subscriptions::{Delivery, DeliveryStatus};

    let api = Api::new(|_| {}).await;
    let (admin, _) = seeded(&api).await;
    let tenant = api.tenant("tenant-a");
    let first = format!("ada.{}@example.com", api.run);
    let second = format!("charles.{}@example.org", api.run);
    let path = |email: &str| format!("/v1/subjects/{}", email.replace('@', "%40"));
    let body = |id: &str| {
        json!({"id": id, "type": "customer.updated", "data": {"object": {"email": first, "metadata": {"assistant": second}}}})
            .to_string()
            .into_bytes()
    };
    let event = |id: &str, indexed: bool| {
        let body = body(id);
        StoredEvent {
            connection_id: "conn_a1".into(),
            tenant: tenant.clone(),
            event_id: id.into(),
            event_type: "customer.updated".into(),
            provider: "stripe".into(),
            subject: indexed
                .then(|| switchyard::subjects::subject_of_bytes(&tenant, &body))
                .flatten(),
            body,
            headers: Default::default(),
            received_at: NOW,
            expires_at: NOW + 86_400,
        }
    };
    // One event stored before the subject index, one the receiver indexed under its first
    // address but whose message was parked before connector-sync wrote its pointers, and a
    // webhook delivery logged before deliveries were indexed (no tenant: no index keys).
    let events = EventStore::new(api.env.clients.dynamodb.clone(), &api.env.table);
    events.put_if_new(&event("evt_old", false)).await.unwrap();
    events.put_if_new(&event("evt_parked", true)).await.unwrap();
    api.deps
        .subscriptions
        .put_delivery(
            "",
            &Delivery {
                delivery_id: "dlv_old".into(),
                subscription_id: "whsub_a".into(),
                event_id: "msg_old".into(),
                event_type: "record.created".into(),
                payload: json!({"type": "record.created", "data": {"record": {"email": first, "cc": [second]}}})
                    .to_string(),
                status: DeliveryStatus::Succeeded,
                attempts: vec![],
                created_at: NOW,
                updated_at: NOW,
                next_attempt_at: None,
            },
            NOW + 86_400,
        )
        .await
        .unwrap();
    assert_eq!(
        api.call("GET", &path(&second), &admin, None).await.status,
        404,
        "no pointers yet"
    );

    let run = backfill_subject_index(&api.env.clients.dynamodb, &api.env.table, None, 100)
        .await
        .unwrap();
    assert_eq!(run.indexed, 2, "the old event and the delivery: {run:?}");
    assert_eq!(run.pointers, 3, "one for the second address of each: {run:?}");
    for email in [&first, &second] {
        let r = api.call("GET", &path(email), &admin, None).await;
        assert_eq!(r.status, 200, "{email}: {}", r.body);
        let mut ids: Vec<_> = r.body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event_id"].as_str().unwrap())
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, ["evt_old", "evt_parked"], "{email}: {}", r.body);
        assert_eq!(r.body["webhook_deliveries"][0]["delivery_id"], "dlv_old", "{}", r.body);
    }
    // The pointers carry their items' TTL.
    let pointer = api
        .env
        .clients
        .dynamodb
        .get_item()
        .table_name(&api.env.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!(
                "PTR#{}",
                switchyard::subjects::subject_key(&tenant, &second)
            )),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("EVT#conn_a1#evt_parked|EVT".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .expect("the parked event's pointer");
    assert_eq!(pointer["expires_at"].as_n().unwrap(), &(NOW + 86_400).to_string());

    // Again: nothing to index and no pointer to write.
    let again = backfill_subject_index(&api.env.clients.dynamodb, &api.env.table, None, 100)
        .await
        .unwrap();
    assert_eq!((again.indexed, again.pointers), (0, 0), "{again:?}");
}

/// Two of tenant a's flows paired as a two-way link, with a possible duplicate parked by each
/// kind of answer's record and one conflict.
async fn parked_duplicates(api: &Api, admin: &str) -> (String, String) {
    use switchyard::store::reviews::{link_key, ReviewItem, ReviewKind, ReviewStore};
    api.connection(admin, "conn_d1").await;
    api.connection(admin, "conn_d2").await;
    api.flow(admin, "flow_d12", "conn_d1", "conn_d2").await;
    api.flow(admin, "flow_d21", "conn_d2", "conn_d1").await;
    let flows = switchyard::store::flows::FlowStore::new(api.env.clients.dynamodb.clone(), &api.env.table);
    assert!(flows
        .pair(
            "flow_d12",
            "flow_d21",
            switchyard::store::flows::ConflictRule::FieldOwnership,
            Some(switchyard::store::flows::MatchThresholds { link: 0.9, create: 0.6 }),
            (Default::default(), [None, None]),
        )
        .await
        .unwrap());
    let reviews = ReviewStore::new(api.env.clients.dynamodb.clone(), &api.env.table);
    let (first, second) = link_key("flow_d12", "flow_d21");
    for (record, kind) in [
        ("101", ReviewKind::Duplicate),
        ("102", ReviewKind::Duplicate),
        ("103", ReviewKind::Duplicate),
        ("104", ReviewKind::Conflict),
    ] {
        let version = |email: &str| json!({"id": record, "properties": {"email": email, "lastname": "Smith"}});
        let duplicate = kind == ReviewKind::Duplicate;
        assert!(reviews
            .park(
                &ReviewItem {
                    first_flow: first.clone(),
                    second_flow: second.clone(),
                    record: record.into(),
                    counterpart: format!("9{record}"),
                    first_version: version("jon@globex.io"),
                    second_version: version("jsmith@mail.io"),
                    base: None,
                    parked_at: NOW - 10,
                    seen_by: first.clone(),
                    kind,
                    score: duplicate.then_some(0.72),
                    evidence: duplicate.then(|| "name and company".to_string()),
                },
                None,
            )
            .await
            .unwrap());
    }
    (first, second)
}

#[tokio::test]
async fn possible_duplicates_are_listed_and_answered_through_the_api_and_audited() {
    let api = Api::new(|_| {}).await;
    let admin = api.bootstrap("tenant-a", Role::Admin, Tier::Enterprise).await;
    let (first, second) = parked_duplicates(&api, &admin).await;
    let links = switchyard::store::links::LinkStore::new(api.env.clients.dynamodb.clone(), &api.env.table);

    // Both halves of the link list the three duplicates (not the conflict), with their scores.
    for flow in ["flow_d12", "flow_d21"] {
        let r = api
            .call("GET", &format!("/v1/flows/{flow}/reviews"), &admin, None)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let items = r.body["items"].as_array().unwrap();
        let records: Vec<&str> = items.iter().map(|i| i["record"].as_str().unwrap()).collect();
        assert_eq!(records, ["101", "102", "103"], "{}", r.body);
        assert_eq!(items[0]["kind"], "duplicate");
        assert_eq!(items[0]["score"], 0.72);
        assert_eq!(items[0]["evidence"], "name and company");
        assert_eq!(items[0]["counterpart"], "9101");
        assert_eq!(items[0]["second_version"]["properties"]["email"], "jsmith@mail.io");
    }
    let r = api.call("GET", "/v1/flows/flow_d12/conflicts", &admin, None).await;
    let conflicts: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["record"].as_str().unwrap())
        .collect();
    assert_eq!(conflicts, ["104"], "a duplicate is not a conflict: {}", r.body);

    // Bad answers are refused and change nothing.
    let resolve = |record: &str| format!("/v1/flows/flow_d12/reviews/{record}/resolve");
    let r = api
        .call("POST", &resolve("101"), &admin, Some(json!({"decision": "merge"})))
        .await;
    assert!([400, 422].contains(&r.status), "{} {}", r.status, r.body);
    let r = api
        .call("POST", &resolve("104"), &admin, Some(json!({"decision": "link"})))
        .await;
    assert_eq!(r.status, 409, "a conflict is answered under /conflicts: {}", r.body);
    let r = api
        .call("POST", &resolve("999"), &admin, Some(json!({"decision": "link"})))
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let viewer = api.bootstrap("tenant-a", Role::Viewer, Tier::Enterprise).await;
    let r = api
        .call("POST", &resolve("101"), &viewer, Some(json!({"decision": "link"})))
        .await;
    assert_eq!(r.status, 403, "{}", r.body);

    // `link`: the two records are linked both ways.
    let r = api
        .call("POST", &resolve("101"), &admin, Some(json!({"decision": "link"})))
        .await;
    assert_eq!((r.status, &r.body["decision"]), (200, &json!("link")), "{}", r.body);
    let ours = links.get_many("flow_d12", &["101".to_string()]).await.unwrap();
    let theirs = links.get_many("flow_d21", &["9101".to_string()]).await.unwrap();
    assert_eq!(ours["101"].destination_id, "9101");
    assert_eq!(theirs["9101"].destination_id, "101");
    // `create_new`: each is left to be created on the other side, without a counterpart.
    let r = api
        .call("POST", &resolve("102"), &admin, Some(json!({"decision": "create_new"})))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ours = links.get_many("flow_d12", &["102".to_string()]).await.unwrap();
    assert_eq!(
        (ours["102"].destination_id.as_str(), ours["102"].content_hash.as_str()),
        ("", "")
    );
    // `ignore`: both are skipped as unchanged (a hash, no counterpart) until they change.
    let r = api
        .call("POST", &resolve("103"), &admin, Some(json!({"decision": "ignore"})))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ours = links.get_many("flow_d12", &["103".to_string()]).await.unwrap();
    let theirs = links.get_many("flow_d21", &["9103".to_string()]).await.unwrap();
    for link in [&ours["103"], &theirs["9103"]] {
        assert_eq!(link.destination_id, "");
        assert!(!link.content_hash.is_empty());
    }
    // Answered ones leave the queue; answering again is a 404.
    let r = api.call("GET", "/v1/flows/flow_d21/reviews", &admin, None).await;
    assert_eq!(r.body["items"], json!([]), "{}", r.body);
    let r = api
        .call("POST", &resolve("101"), &admin, Some(json!({"decision": "link"})))
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let reviews = switchyard::store::reviews::ReviewStore::new(api.env.clients.dynamodb.clone(), &api.env.table);
    assert_eq!(
        reviews.list(&first, &second).await.unwrap().len(),
        1,
        "the conflict stays"
    );

    // Each answer is audited with the record and the outcome.
    let log = api.call("GET", "/v1/audit?limit=200", &admin, None).await;
    let resolved: Vec<(String, u64)> = log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "review.resolve")
        .map(|e| {
            (
                e["target"].as_str().unwrap_or_default().to_string(),
                e["status"].as_u64().unwrap(),
            )
        })
        .collect();
    for (record, status) in [
        ("101", 200),
        ("102", 200),
        ("103", 200),
        ("104", 409),
        ("999", 404),
        ("101", 404),
    ] {
        assert!(
            resolved.iter().any(|(r, s)| r == record && *s == status),
            "{record} {status} audited: {resolved:?}"
        );
    }
}

/// `custom-items` with a `webhooks:` section of its own: basic auth, the event id and type at
/// pointers only this definition names.
fn hooked_items_connector(id: &str) -> String {
    format!(
        "{}webhooks:\n  scheme: basic-auth\n  event_id: /meta/delivery\n  event_type: /meta/kind\n  object: /item\n  events: {{\"item.*\": items}}\n",
        ITEMS_CONNECTOR.replace("custom-items", id)
    )
}

#[tokio::test]
async fn a_tenant_connectors_own_webhooks_section_verifies_its_deliveries_and_its_streams_get_suggestions() {
    let api = Api::new(|_| {}).await;
    let admin = api.bootstrap("tenant-hooks", Role::Admin, Tier::Enterprise).await;
    let stranger = api.bootstrap("tenant-other", Role::Admin, Tier::Enterprise).await;
    let r = api
        .upload(
            &admin,
            "/v1/connectors",
            &hooked_items_connector("custom-hooked"),
            "application/yaml",
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["webhook_scheme"], "basic-auth");

    // No scheme named: the connector's own section says, with its pointers.
    const HOOK_SECRET: &str = "hooks-user:hooks-password-7d1";
    switchyard_tests::log_capture::known_secret(HOOK_SECRET);
    let r = api
        .call(
            "POST",
            "/v1/connections",
            &admin,
            Some(json!({"id": "conn_hooked", "provider": "custom-hooked",
                        "config": {"workspace": "acme"}, "credentials": {"api_key": ITEMS_KEY},
                        "webhook": {"secret": HOOK_SECRET}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["webhook_scheme"], "basic-auth");
    // A built-in without a `webhooks:` section and no scheme named: the field, plainly.
    let r = api
        .call(
            "POST",
            "/v1/connections",
            &admin,
            Some(json!({"provider": "bigquery", "webhook": {"secret": "x"}})),
        )
        .await;
    assert_eq!(
        (r.status, r.body["errors"][0]["field"].as_str()),
        (422, Some("webhook.scheme")),
        "{}",
        r.body
    );

    // The receiver verifies a delivery with the basic-auth secret and reads the event id and
    // type where the uploaded definition says (without its pointers: a body hash and
    // `unknown`).
    let config = switchyard::config::ReceiverConfig::from_lookup(|k| match k {
        "TABLE_NAME" => Some(api.env.table.clone()),
        "SYNC_QUEUE_URL" => Some(api.env.queue_url.clone()),
        _ => None,
    })
    .expect("test config is complete");
    let receiver = switchyard::receiver::ReceiverDeps::new(config, &api.env.clients, Arc::new(api.clock.clone()));
    let body = br#"{"meta": {"delivery": "dlv-77", "kind": "item.updated"}, "item": {"id": "it_1", "name": "Widget"}}"#;
    let auth = |secret: &str| {
        use base64::Engine as _;
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(secret))
    };
    for (secret, status) in [("hooks-user:wrong", 401), (HOOK_SECRET, 200)] {
        let ev = crate::receiver::apigw_event(
            "conn_hooked",
            &[("content-type", "application/json"), ("authorization", &auth(secret))],
            body,
            false,
        );
        let resp = switchyard::receiver::handle(&receiver, ev).await;
        assert_eq!(resp.status_code, status, "{:?}", resp.body);
    }
    let stored = switchyard::store::events::EventStore::new(api.env.clients.dynamodb.clone(), &api.env.table)
        .get("conn_hooked", "dlv-77")
        .await
        .unwrap()
        .expect("the delivery is stored under the id the definition's pointer names");
    assert_eq!(stored.event_type, "item.updated");

    // Suggestions read the tenant's connector, named directly or through its connection; to
    // another tenant it does not exist.
    let sample = json!([{"id": "it_1", "email": "ada@example.com", "name": "Ada Lovelace"}]);
    let destination = json!([{"properties": {"email": "grace@example.com", "firstname": "Grace"}}]);
    for source in ["custom-hooked/items", "conn_hooked/items"] {
        let r = api
            .call(
                "POST",
                "/v1/suggestions",
                &admin,
                Some(
                    json!({"source": source, "destination": "hubspot/contacts.upsert_by_email",
                            "source_samples": sample, "destination_samples": destination}),
                ),
            )
            .await;
        assert_eq!(r.status, 200, "{source}: {}", r.body);
        assert!(r.body["mapping"].as_str().unwrap().contains(".email"), "{}", r.body);
    }
    let r = api
        .call(
            "POST",
            "/v1/suggestions",
            &stranger,
            Some(
                json!({"source": "custom-hooked/items", "destination": "hubspot/contacts.upsert_by_email",
                        "source_samples": sample, "destination_samples": destination}),
            ),
        )
        .await;
    assert_eq!(
        (r.status, r.body["errors"][0]["field"].as_str()),
        (422, Some("source")),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn tenant_connectors_are_capped_and_a_delete_that_died_half_way_is_finished_by_the_next() {
    let api = Api::new(|c| {
        c.max_tenant_connectors = 2;
        c.max_connector_versions = 2;
    })
    .await;
    let admin = api.bootstrap("tenant-caps", Role::Admin, Tier::Enterprise).await;
    let upload = |path: &'static str, id: &'static str| {
        let api = &api;
        let admin = admin.clone();
        async move {
            api.upload(
                &admin,
                path,
                &ITEMS_CONNECTOR.replace("custom-items", id),
                "application/yaml",
            )
            .await
        }
    };
    assert_eq!(upload("/v1/connectors", "custom-a").await.status, 201);
    assert_eq!(upload("/v1/connectors/custom-a/versions", "custom-a").await.status, 201);
    // A third version: over the cap, a clear 409 that says what to do; nothing stored.
    let r = upload("/v1/connectors/custom-a/versions", "custom-a").await;
    assert_eq!(
        (r.status, r.body["type"].as_str()),
        (409, Some("/v1/problems/limit-reached")),
        "{}",
        r.body
    );
    assert!(r.body["detail"].as_str().unwrap().contains("2 versions"), "{}", r.body);
    assert_eq!(
        api.call("GET", "/v1/connectors/custom-a", &admin, None).await.body["version"],
        2
    );
    assert_eq!(upload("/v1/connectors", "custom-b").await.status, 201);
    let r = upload("/v1/connectors", "custom-c").await;
    assert_eq!(
        (r.status, r.body["type"].as_str()),
        (409, Some("/v1/problems/limit-reached")),
        "{}",
        r.body
    );
    assert_eq!(
        api.call("GET", "/v1/connectors/custom-c", &admin, None).await.status,
        404
    );

    let (db, table) = (api.env.clients.dynamodb.clone(), api.env.table.clone());
    let pk_of = |id: &str| format!("TCONN#{}#{id}", api.tenant("tenant-caps"));
    let partition = |id: &'static str| {
        let (db, table, pk) = (db.clone(), table.clone(), pk_of(id));
        async move {
            let out = db
                .query()
                .table_name(&table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", aws_sdk_dynamodb::types::AttributeValue::S(pk))
                .consistent_read(true)
                .send()
                .await
                .unwrap();
            out.items()
                .iter()
                .filter_map(|i| i.get("sk").and_then(|v| v.as_s().ok()).cloned())
                .collect::<Vec<String>>()
        }
    };
    let remove = |id: &'static str, sk: &'static str| {
        let (db, table, pk) = (db.clone(), table.clone(), pk_of(id));
        async move {
            db.delete_item()
                .table_name(&table)
                .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk))
                .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(sk.into()))
                .send()
                .await
                .unwrap();
        }
    };
    assert_eq!(partition("custom-a").await, ["HEAD", "V#0000000001", "V#0000000002"]);
    // A delete that died after its first write (versions go first): the connector is still
    // there and usable, and the same DELETE finishes the job.
    remove("custom-a", "V#0000000001").await;
    assert_eq!(
        api.call("GET", "/v1/connectors/custom-a", &admin, None).await.status,
        200
    );
    assert_eq!(
        api.call("DELETE", "/v1/connectors/custom-a", &admin, None).await.status,
        204
    );
    assert!(partition("custom-a").await.is_empty());
    // One that died after removing the head (the order before): nothing resolves it, and the
    // next DELETE removes the versions it left instead of answering 404.
    remove("custom-b", "HEAD").await;
    assert_eq!(
        api.call("GET", "/v1/connectors/custom-b", &admin, None).await.status,
        404
    );
    assert_eq!(
        api.call("DELETE", "/v1/connectors/custom-b", &admin, None).await.status,
        204
    );
    assert!(partition("custom-b").await.is_empty());
    assert_eq!(
        api.call("DELETE", "/v1/connectors/custom-b", &admin, None).await.status,
        404
    );
    // Room again under the cap.
    assert_eq!(upload("/v1/connectors", "custom-c").await.status, 201);
}

#[tokio::test]
async fn a_person_named_second_on_an_event_or_a_link_is_found_and_erased_by_that_address() {
    use switchyard::store::links::{LinkStore, RecordLink};

    let api = Api::new(|_| {}).await;
    let admin = api.bootstrap("tenant-a", Role::Admin, Tier::Enterprise).await;
    let tenant = api.tenant("tenant-a");
    let first = format!("ada.{}@example.com", api.run);
    let second = format!("charles.{}@example.org", api.run);
    let path = |email: &str| format!("/v1/subjects/{}", email.replace('@', "%40"));
    let r = api
        .call(
            "POST",
            "/v1/connections",
            &admin,
            Some(json!({"id": "conn_cc", "provider": "stripe", "webhook": {"scheme": "stripe", "secret": WEBHOOK_SECRET}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);

    // An event naming both, through the receiver; then connector-sync takes it (no flow runs
    // on it) and indexes its second address.
    let clock = FixedClock::at(NOW);
    let config = switchyard::config::ReceiverConfig::from_lookup(|k| match k {
        "TABLE_NAME" => Some(api.env.table.clone()),
        "SYNC_QUEUE_URL" => Some(api.env.queue_url.clone()),
        _ => None,
    })
    .expect("test config is complete");
    let receiver = switchyard::receiver::ReceiverDeps::new(config, &api.env.clients, Arc::new(clock.clone()));
    let body = serde_json::to_vec(&json!({"id": "evt_cc", "object": "event", "type": "customer.updated",
        "data": {"object": {"id": "cus_cc", "email": first, "metadata": {"assistant": second}}}}))
    .unwrap();
    assert_eq!(deliver(&receiver, &clock, "conn_cc", &body, &body, NOW - 30).await, 200);
    assert_eq!(
        api.call("GET", &path(&second), &admin, None).await.status,
        404,
        "the receiver indexes the first address only (its one write)"
    );
    let sync_config = switchyard::config::SyncConfig::from_lookup(|k| match k {
        "TABLE_NAME" => Some(api.env.table.clone()),
        "SYNC_QUEUE_URL" => Some(api.env.queue_url.clone()),
        _ => None,
    })
    .unwrap();
    let sync = switchyard::sync::SyncDeps::new(
        sync_config,
        &api.env.clients,
        Arc::new(Registry::embedded().unwrap()),
        Arc::new(clock.clone()),
    )
    .unwrap();
    let ran = switchyard::sync::run_inbound_event(
        &sync,
        &switchyard::queue::InboundEventRef {
            connection_id: "conn_cc".into(),
            event_id: "evt_cc".into(),
            event_type: "customer.updated".into(),
            provider: "stripe".into(),
            received_at: NOW - 30,
            attempt: 0,
        },
    )
    .await
    .unwrap();
    assert!(ran.is_empty());

    // A record link whose source record names both, with its pointers as the sync writes them.
    let record = json!({"id": "cus_cc", "email": first, "metadata": {"assistant": second}});
    let links = LinkStore::new(api.env.clients.dynamodb.clone(), &api.env.table);
    links
        .put_many(
            "flow_cc",
            &[RecordLink {
                source_id: "cus_cc".into(),
                destination_id: "contact-7".into(),
                content_hash: "h".into(),
                updated_at: NOW - 20,
                record: None,
                subject: switchyard::subjects::subject_of_value(&tenant, &record),
                predicted: false,
                retired: false,
            }],
        )
        .await
        .unwrap();
    links
        .point_other_subjects(
            "flow_cc",
            &[(
                "cus_cc".into(),
                switchyard::subjects::other_subjects_of_value(&tenant, &record),
            )],
        )
        .await
        .unwrap();

    // Either address finds both items.
    for email in [&first, &second] {
        let r = api.call("GET", &path(email), &admin, None).await;
        assert_eq!(r.status, 200, "{email}: {}", r.body);
        assert_eq!(r.body["events"].as_array().unwrap().len(), 1, "{}", r.body);
        assert_eq!(r.body["events"][0]["event_id"], "evt_cc");
        assert_eq!(r.body["record_links"].as_array().unwrap().len(), 1, "{}", r.body);
        assert_eq!(r.body["record_links"][0]["destination_id"], "contact-7");
    }
    // Erased by the second address: the items and that address's pointers go.
    let r = api.call("DELETE", &path(&second), &admin, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["erased"]["events"], 1);
    assert_eq!(r.body["erased"]["record_links"], 1);
    for email in [&first, &second] {
        assert_eq!(api.call("GET", &path(email), &admin, None).await.status, 404, "{email}");
    }
    // Nothing of either item and no pointer is left; the audit entries name her by digest only.
    let digest = switchyard::subjects::digest(&second);
    let left: Vec<String> = table_dump(&api)
        .await
        .into_iter()
        .filter(|i| !i.contains("s(\"audit#") && !i.contains("s(\"erased#subj#"))
        .filter(|i| i.contains(&digest) || i.contains(&second) || i.contains("evt_cc") || i.contains("cus_cc"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test]
async fn a_paypal_webhook_connection_takes_no_secret_and_needs_its_webhook_id() {
    let api = Api::new(|_| {}).await;
    let (admin, _) = seeded(&api).await;
    let create = |body: Value| api.call("POST", "/v1/connections", &admin, Some(body));
    let r = create(json!({"id": "conn_pp1", "provider": "paypal", "webhook": {"scheme": "paypal"}})).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["errors"][0]["field"], "config.webhook_id", "{}", r.body);
    let r = create(
        json!({"id": "conn_pp1", "provider": "paypal", "config": {"webhook_id": "9XL90610J3647323C"},
        "webhook": {"scheme": "paypal", "secret": WEBHOOK_SECRET}}),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["errors"][0]["field"], "webhook.secret", "{}", r.body);
    // The connector's own section names the scheme.
    let r = create(
        json!({"id": "conn_pp1", "provider": "paypal", "config": {"webhook_id": "9XL90610J3647323C"},
        "webhook": {}}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["webhook_scheme"], "paypal", "{}", r.body);
    // Nor does it take one later.
    let r = api
        .call(
            "POST",
            "/v1/connections/conn_pp1/rotate-secret",
            &admin,
            Some(json!({"webhook_secret": WEBHOOK_SECRET})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["errors"][0]["field"], "webhook_secret", "{}", r.body);
    assert!(
        r.body["errors"][0]["detail"].as_str().unwrap().contains("certificate"),
        "{}",
        r.body
    );
}

/// A connection created through the API can wait for its provider's set-up handshake, as the
/// CLI's `--await-handshake` does: Asana's `X-Hook-Secret` is taken once inside the window,
/// Microsoft Graph's validations are echoed inside theirs, and `PATCH` re-opens a window (seen
/// by a receiver that cached the connection while it expected none). A window a scheme cannot
/// use, or one out of range, is refused with its field, and nothing is stored.
#[tokio::test]
async fn a_connection_created_through_the_api_awaits_its_webhook_handshake_and_a_patch_reopens_it() {
    let api = Api::new(|_| {}).await;
    let admin = api.bootstrap("tenant-a", Role::Admin, Tier::Enterprise).await;
    for (provider, webhook, field) in [
        (
            "stripe",
            json!({"scheme": "stripe", "secret": WEBHOOK_SECRET, "await_handshake_minutes": 10}),
            "webhook.await_handshake_minutes",
        ),
        ("asana", json!({}), "webhook.secret"),
        (
            "asana",
            json!({"await_handshake_minutes": 0}),
            "webhook.await_handshake_minutes",
        ),
        (
            "asana",
            json!({"await_handshake_minutes": 1441}),
            "webhook.await_handshake_minutes",
        ),
        (
            "microsoft-graph",
            json!({"await_handshake_minutes": 10}),
            "webhook.secret",
        ),
        (
            "asana",
            json!({"previous_secret": "old", "await_handshake_minutes": 10}),
            "webhook.previous_secret",
        ),
    ] {
        let r = api
            .call(
                "POST",
                "/v1/connections",
                &admin,
                Some(json!({"id": "conn_refused", "provider": provider, "webhook": webhook})),
            )
            .await;
        assert_eq!(r.status, 422, "{provider} {webhook}: {}", r.body);
        assert_eq!(r.body["errors"][0]["field"], field, "{provider} {webhook}: {}", r.body);
        let r = api.call("GET", "/v1/connections/conn_refused", &admin, None).await;
        assert_eq!(r.status, 404, "a refused connection is not stored");
    }

    let r = api
        .call(
            "POST",
            "/v1/connections",
            &admin,
            Some(json!({"id": "conn_asana_hs", "provider": "asana", "webhook": {"await_handshake_minutes": 10}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["webhook_scheme"], "asana");
    assert_eq!(r.body["webhook_handshake_until"], NOW + 600);
    let state = "graph-client-state-api-0c4e";
    let r = api
        .call(
            "POST",
            "/v1/connections",
            &admin,
            Some(json!({"id": "conn_graph_hs", "provider": "microsoft-graph",
                        "webhook": {"secret": state, "await_handshake_minutes": 15}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["webhook_handshake_until"], NOW + 900);

    let config = switchyard::config::ReceiverConfig::from_lookup(|k| match k {
        "TABLE_NAME" => Some(api.env.table.clone()),
        "SYNC_QUEUE_URL" => Some(api.env.queue_url.clone()),
        _ => None,
    })
    .expect("test config is complete");
    let receiver = switchyard::receiver::ReceiverDeps::new(config, &api.env.clients, Arc::new(api.clock.clone()));
    let hook_secret =
        |secret: &str| crate::receiver::apigw_event("conn_asana_hs", &[("X-Hook-Secret", secret)], b"", false);
    let resp = switchyard::receiver::handle(&receiver, hook_secret("asana-hook-secret-1")).await;
    assert_eq!(resp.status_code, 200);
    assert_eq!(
        resp.headers.get("x-hook-secret").and_then(|v| v.to_str().ok()),
        Some("asana-hook-secret-1")
    );
    // Taken: a second handshake is refused, and the connection expects none.
    let resp = switchyard::receiver::handle(&receiver, hook_secret("asana-hook-secret-2")).await;
    assert_eq!(resp.status_code, 401);
    let r = api.call("GET", "/v1/connections/conn_asana_hs", &admin, None).await;
    assert_eq!(r.body["webhook_handshake_until"], Value::Null, "{}", r.body);

    // The webhook is created again at Asana: PATCH re-opens the window, and the receiver, which
    // cached the connection without one, takes the new handshake.
    let r = api
        .call(
            "PATCH",
            "/v1/connections/conn_asana_hs",
            &admin,
            Some(json!({"webhook": {"await_handshake_minutes": 5}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["webhook_handshake_until"], NOW + 300);
    let resp = switchyard::receiver::handle(&receiver, hook_secret("asana-hook-secret-2")).await;
    assert_eq!(resp.status_code, 200);

    // Graph: validations are echoed inside the window, refused after it.
    let validation = || {
        crate::receiver::apigw_request(
            "POST",
            "conn_graph_hs",
            "validationToken=api-validation-token",
            "v1",
            b"",
        )
    };
    let resp = switchyard::receiver::handle(&receiver, validation()).await;
    assert_eq!(resp.status_code, 200);
    assert_eq!(crate::receiver::text_body(&resp), "api-validation-token");
    api.clock.set(NOW + 901);
    let resp = switchyard::receiver::handle(&receiver, validation()).await;
    assert_eq!(resp.status_code, 401, "the window closed");
    api.clock.set(NOW);

    // A PATCH window for a scheme without a handshake, or for a connection without webhooks,
    // is refused and changes nothing.
    let r = api
        .call(
            "POST",
            "/v1/connections",
            &admin,
            Some(json!({"id": "conn_stripe_hs", "provider": "stripe", "webhook": {"scheme": "stripe", "secret": WEBHOOK_SECRET}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = api
        .call(
            "POST",
            "/v1/connections",
            &admin,
            Some(json!({"id": "conn_plain_hs", "provider": "hubspot", "credentials": {"access_token": CREDENTIAL}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    for id in ["conn_stripe_hs", "conn_plain_hs"] {
        let r = api
            .call(
                "PATCH",
                &format!("/v1/connections/{id}"),
                &admin,
                Some(json!({"name": "renamed", "webhook": {"await_handshake_minutes": 5}})),
            )
            .await;
        assert_eq!(r.status, 422, "{id}: {}", r.body);
        let r = api.call("GET", &format!("/v1/connections/{id}"), &admin, None).await;
        assert_ne!(r.body["name"], "renamed", "{id}: {}", r.body);
        assert_eq!(r.body["webhook_handshake_until"], Value::Null, "{id}");
    }
}
