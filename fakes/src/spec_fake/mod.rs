//! The generic spec-driven fake: one stateful server, configured per provider by the
//! provider's published spec and a short [`Profile`](crate::profile::Profile).
//!
//! What it does with each request:
//!
//! 1. `/_fake/...` are the fake's own endpoints: `GET /_fake/violations` (the record, as JSON),
//!    `DELETE /_fake/violations` (forget it), `GET /_fake/collections` (object counts).
//! 2. The request is checked against the spec: the operation exists, its path, query and
//!    header parameters and its body validate. A violation is recorded (operation + JSON
//!    pointer), logged, and answered the way the provider answers a bad request (the
//!    profile's `errors.bad_request`; an unknown path gets `errors.not_found`).
//! 3. Auth (profile `auth`) and the rate limit (profile `rate_limit`, with its 429 body and
//!    headers) are applied.
//! 4. Collections answer list (with the profile's pagination and filters), create, read,
//!    update and delete from memory; extensions named in the profile answer their own
//!    routes; any other operation of the spec is answered with a value generated from its
//!    response schema.
//! 5. The response is checked against the operation's response schema, and violations are
//!    recorded the same way.
//!
//! With [`FakeOptions::proxy`] the fake stores nothing: it checks each request and response
//! and forwards them unchanged to the real (or another fake) server, e.g. localstripe.
//!
//! Collections are seeded with [`FakeOptions::records`] objects each, generated from the
//! item schema (deterministically from [`FakeOptions::seed`]) or copied from the provider's
//! example object (Stripe's fixtures3.json), with the profile's `seed` values on top; every
//! seed is validated against the schema, and a failure is a violation.
//!
//! For tests:
//!
//! ```no_run
//! use switchyard_fakes::spec_fake::{FakeOptions, FakeServer};
//!
//! let hub = FakeServer::start("hubspot", FakeOptions { records: 250, ..FakeOptions::default() })
//!     .expect("the HubSpot spec and profile load");
//! println!("point the connector at {}", hub.base_url());
//! // ... read everything ...
//! let changed = hub.touch("contacts", 5); // five contacts modified now, for an incremental read
//! // ... read again since the last cursor: exactly `changed` come back ...
//! assert!(hub.violations().is_empty(), "{:#?}", hub.violations());
//! ```

mod access;
pub(crate) mod generate;
mod handler;
mod list;
mod proxy;
mod search;
mod store;
mod template;
mod webhooks;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use http::Method;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::{json, Value};

use crate::faults::FaultConfig;
use crate::profile::{Collection, Profile, ProfileError};
use crate::rate_limit::RateLimit;
use crate::server::{self, FakeHandle};
use crate::spec::{self, Direction, Spec, SpecError, Violation, ViolationLog};
use access::Access;
use generate::Generator;
use store::{Clock, Objects};

/// How to run a spec-driven fake.
#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// Loopback port; 0 picks a free one.
    pub port: u16,
    /// Objects seeded in each collection.
    pub records: usize,
    /// Seed of generated objects and ids.
    pub seed: u64,
    /// Overrides the profile's rate limit.
    pub rate_limit: Option<RateLimit>,
    /// Check and forward every request to this base URL instead of serving from memory.
    pub proxy: Option<String>,
    /// Where webhooks go; none are sent without it.
    pub webhook_url: Option<String>,
    /// The secret webhooks are signed with.
    pub webhook_secret: Option<String>,
    /// Overrides the specs folder (else `SWITCHYARD_SPECS_DIR` or `../shared/specs`).
    pub specs_dir: Option<PathBuf>,
    /// Answer a request that breaks the spec with the provider's bad-request error (on by
    /// default); off, it is recorded and served anyway.
    pub reject_violations: bool,
    pub faults: FaultConfig,
}

impl Default for FakeOptions {
    fn default() -> Self {
        Self {
            port: 0,
            records: 25,
            seed: 1,
            rate_limit: None,
            proxy: None,
            webhook_url: None,
            webhook_secret: None,
            specs_dir: None,
            reject_violations: true,
            faults: FaultConfig::default(),
        }
    }
}

/// Why a fake did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("the profile of {provider} does not fit its spec: {message}")]
    Mismatch { provider: String, message: String },
    #[error("could not listen on 127.0.0.1: {0}")]
    Listen(#[from] std::io::Error),
}

/// Starts spec-driven fakes.
pub struct FakeServer;

impl FakeServer {
    /// Starts the fake of a provider with a built-in profile (`hubspot`, `stripe`).
    pub fn start(provider: &str, options: FakeOptions) -> Result<FakeHandle<SpecFake>, StartError> {
        Self::start_with(Profile::built_in(provider)?, options)
    }

    /// Starts a fake from any profile.
    pub fn start_with(profile: Profile, options: FakeOptions) -> Result<FakeHandle<SpecFake>, StartError> {
        let fake = Arc::new(SpecFake::new(profile, &options)?);
        let name = fake.name;
        let spec = server::Spec {
            name,
            port: options.port,
            state: fake.clone(),
            faults: options.faults.clone(),
            respond: injected_fault,
            check: None,
            violations: fake.violations.clone(),
        };
        Ok(server::spawn(spec, move |base_url| {
            let _ = fake.base_url.set(base_url.to_owned());
            Router::new()
                .route("/", any(handler::handle))
                .route("/{*path}", any(handler::handle))
                .with_state(fake)
        })?)
    }
}

fn injected_fault(status: StatusCode) -> Response {
    (
        status,
        Json(json!({ "message": "injected fault", "status": status.as_u16() })),
    )
        .into_response()
}

/// A running spec-driven fake's state; read it through the [`FakeHandle`].
pub struct SpecFake {
    profile: Profile,
    spec: Spec,
    name: &'static str,
    base_url: OnceLock<String>,
    proxy: Option<String>,
    reject_violations: bool,
    webhook_url: Option<String>,
    webhook_secret: Option<String>,
    /// Self-contained item schema per collection.
    item_schemas: HashMap<String, Value>,
    state: Mutex<State>,
    access: Mutex<Access>,
    violations: Arc<ViolationLog>,
    rate_limited: AtomicU64,
    webhooks_sent: AtomicU64,
    http: reqwest::Client,
}

struct State {
    collections: HashMap<String, Objects>,
    clock: Clock,
    rng: StdRng,
}

impl SpecFake {
    fn new(profile: Profile, options: &FakeOptions) -> Result<Self, StartError> {
        let dir = options.specs_dir.clone().unwrap_or_else(spec::specs_dir);
        let mut spec = Spec::load_patched(&dir, &profile.specs, &profile.spec_patches)?;
        spec.ignore_parameters(profile.ignore_parameters.iter().map(|i| i.parameter.clone()));
        let mismatch = |message: String| StartError::Mismatch {
            provider: profile.provider.clone(),
            message,
        };
        let mut item_schemas = HashMap::new();
        if options.proxy.is_none() {
            for c in &profile.collections {
                let schema = spec
                    .response_schema(&Method::GET, &c.item_path, 200)
                    .or_else(|| spec.response_schema(&Method::POST, &c.path, c.create_status))
                    .ok_or_else(|| {
                        mismatch(format!(
                            "collection {}: the spec has no JSON response for GET {} or POST {}",
                            c.name, c.item_path, c.path
                        ))
                    })?;
                item_schemas.insert(c.name.clone(), schema);
            }
        }
        let name: &'static str = Box::leak(profile.provider.clone().into_boxed_str());
        let access = Access::new(&profile, options.rate_limit);
        let fake = Self {
            name,
            spec,
            base_url: OnceLock::new(),
            proxy: options.proxy.clone().map(|p| p.trim_end_matches('/').to_owned()),
            reject_violations: options.reject_violations,
            webhook_url: options.webhook_url.clone(),
            webhook_secret: options.webhook_secret.clone(),
            item_schemas,
            state: Mutex::new(State {
                collections: HashMap::new(),
                clock: Clock::default(),
                rng: StdRng::seed_from_u64(options.seed),
            }),
            access: Mutex::new(access),
            violations: Arc::default(),
            rate_limited: AtomicU64::new(0),
            webhooks_sent: AtomicU64::new(0),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .map_err(|e| mismatch(format!("no HTTP client: {e}")))?,
            profile,
        };
        if options.proxy.is_none() {
            fake.seed_all(&dir, options.records)?;
        }
        Ok(fake)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn access(&self) -> MutexGuard<'_, Access> {
        self.access.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn seed_all(&self, dir: &std::path::Path, records: usize) -> Result<(), StartError> {
        let now = crate::timestamp::now_ms();
        for c in &self.profile.collections {
            let schema = &self.item_schemas[&c.name];
            let fixture = match &c.fixture {
                Some(f) => {
                    let (_, file) = spec::load_value_from(dir, &f.file)?;
                    Some(file.pointer(&f.pointer).cloned().ok_or_else(|| StartError::Mismatch {
                        provider: self.profile.provider.clone(),
                        message: format!("{} has nothing at {}", f.file, f.pointer),
                    })?)
                }
                None => None,
            };
            let mut seeded = Vec::with_capacity(records);
            {
                let mut state = self.lock();
                let State { collections, rng, .. } = &mut *state;
                let objects = collections.entry(c.name.clone()).or_default();
                for n in 1..=records {
                    // The example object over a generated one: an example newer than the spec
                    // (Stripe's fixtures are) keeps the fields the spec requires.
                    let mut generator = Generator { root: schema, rng, n };
                    let base = match &fixture {
                        Some(fixture) => {
                            let mut base = generator.generate_like(schema, fixture);
                            store::merge(&mut base, fixture);
                            base
                        }
                        None => generator.generate(schema),
                    };
                    let value = apply_seed(c, base, n);
                    // Seeds are spread over the past hour, oldest first.
                    let at = now - 3_600_000 + (n as i64) * (3_000_000 / records.max(1) as i64);
                    seeded.push(objects.insert(c, self.profile.timestamps, value, at, rng).value);
                }
                objects.seeded = records;
            }
            let checked = self
                .spec
                .validate_values(schema, &seeded)
                .map_err(|message| StartError::Mismatch {
                    provider: self.profile.provider.clone(),
                    message,
                })?;
            let violations: Vec<Violation> = checked
                .into_iter()
                .flatten()
                .map(|(pointer, message)| {
                    Violation::new(
                        &format!("seed:{}", c.name),
                        Direction::Response,
                        "SEED",
                        &c.item_path,
                        &pointer,
                        message,
                    )
                })
                .collect();
            self.violations.record(self.name, violations);
        }
        Ok(())
    }

    fn collection(&self, name: &str) -> &Collection {
        self.profile
            .collection(name)
            .unwrap_or_else(|| panic!("the {} profile has no collection {name}", self.profile.provider))
    }

    /// Every violation recorded so far.
    pub fn violations(&self) -> Vec<Violation> {
        self.violations.all()
    }

    /// Forgets the recorded violations.
    pub fn clear_violations(&self) {
        self.violations.clear();
    }

    /// The profile the fake runs.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The spec the fake checks against.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// `http://127.0.0.1:{port}` (also on the handle).
    pub fn base_url(&self) -> &str {
        self.base_url.get().map_or("", String::as_str)
    }

    /// Objects in a collection now.
    ///
    /// # Panics
    /// When the profile has no such collection (a bug in the test).
    pub fn count(&self, collection: &str) -> usize {
        self.collection(collection);
        self.lock().collections.get(collection).map_or(0, Objects::len)
    }

    /// How many objects were seeded in a collection.
    pub fn seeded(&self, collection: &str) -> usize {
        self.collection(collection);
        self.lock().collections.get(collection).map_or(0, |o| o.seeded)
    }

    /// Every object of a collection, in creation order.
    pub fn objects(&self, collection: &str) -> Vec<Value> {
        self.collection(collection);
        self.lock()
            .collections
            .get(collection)
            .map(|o| o.by_seq.values().map(|s| s.value.clone()).collect())
            .unwrap_or_default()
    }

    /// One object by id.
    pub fn object(&self, collection: &str, id: &str) -> Option<Value> {
        self.collection(collection);
        self.lock()
            .collections
            .get(collection)?
            .get(id)
            .map(|s| s.value.clone())
    }

    /// Creates an object directly (no HTTP, no webhook sent; the event log, if the profile
    /// keeps one, records it as the provider would): `value` deep-merged over a generated one;
    /// id and timestamps are the fake's. Returns the stored object.
    pub fn insert(&self, collection: &str, value: Value) -> Value {
        let stored = self.create_object(collection, &value);
        let c = self.collection(collection);
        let event = c.events.as_ref().and_then(|e| e.created.as_deref());
        webhooks::log_event(self, c, event, &stored.id, &stored.value);
        stored.value
    }

    /// Deep-merges `patch` into an object and moves its modified time (no webhook sent; the
    /// event log records it).
    pub fn update(&self, collection: &str, id: &str, patch: Value) -> Option<Value> {
        let stored = self.update_object(collection, id, &patch)?;
        let c = self.collection(collection);
        let event = c.events.as_ref().and_then(|e| e.updated.as_deref());
        webhooks::log_event(self, c, event, id, &stored.value);
        Some(stored.value)
    }

    /// The fake's write clock, advanced: every write after this call is stamped later than the
    /// value returned. Tests take their "modified since" point here, not from the wall clock,
    /// because a burst of writes runs the clock ahead of it (one millisecond per write).
    pub fn now_ms(&self) -> i64 {
        self.lock().clock.tick()
    }

    /// Marks the `n` least recently modified objects as modified now (ids returned), for
    /// testing incremental reads.
    pub fn touch(&self, collection: &str, n: usize) -> Vec<String> {
        let ids: Vec<String> = {
            let state = self.lock();
            let Some(objects) = state.collections.get(collection) else {
                return Vec::new();
            };
            let mut all: Vec<_> = objects.by_seq.values().collect();
            all.sort_by_key(|s| (s.updated_ms, s.seq));
            all.into_iter().take(n).map(|s| s.id.clone()).collect()
        };
        for id in &ids {
            self.update_object(collection, id, &json!({}));
        }
        ids
    }

    /// Deletes an object directly (no webhook sent; the event log records it, as for
    /// [`Self::update`]).
    pub fn delete(&self, collection: &str, id: &str) -> bool {
        let c = self.collection(collection);
        let removed = self.lock().collections.get_mut(&c.name).and_then(|o| o.remove(id));
        let Some(removed) = removed else {
            return false;
        };
        let event = c.events.as_ref().and_then(|e| e.deleted.as_deref());
        webhooks::log_event(self, c, event, id, &removed.value);
        true
    }

    /// Requests answered 429 by the fake's rate limit.
    pub fn rate_limited_count(&self) -> u64 {
        self.rate_limited.load(Ordering::Relaxed)
    }

    /// Changes the rate limit (`None`: unlimited).
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        self.access().set_limit(limit);
    }

    /// Webhook deliveries attempted.
    pub fn webhooks_sent(&self) -> u64 {
        self.webhooks_sent.load(Ordering::Relaxed)
    }

    fn create_object(&self, collection: &str, input: &Value) -> store::Stored {
        let c = self.collection(collection);
        let schema = &self.item_schemas[&c.name];
        let mut state = self.lock();
        let at = state.clock.tick();
        let State { collections, rng, .. } = &mut *state;
        let objects = collections.entry(c.name.clone()).or_default();
        let n = objects.len() + 1;
        let mut value = Generator { root: schema, rng, n }.generate(schema);
        store::merge(&mut value, input);
        objects.insert(c, self.profile.timestamps, value, at, rng)
    }

    /// Adds an event to the event-log collection `log`.
    pub(crate) fn record_event(&self, log: &str, event: &Value) {
        self.create_object(log, event);
    }

    fn update_object(&self, collection: &str, id: &str, patch: &Value) -> Option<store::Stored> {
        let c = self.collection(collection);
        let mut state = self.lock();
        let at = state.clock.tick();
        state
            .collections
            .get_mut(&c.name)?
            .update(c, self.profile.timestamps, id, patch, at)
    }
}

/// The profile's seed values, `{n}` replaced, over a base object.
fn apply_seed(c: &Collection, mut value: Value, n: usize) -> Value {
    let vars = |name: &str| (name == "n").then(|| json!(n));
    for (pointer, template) in &c.seed {
        let filled = template::fill(template, &vars);
        // `{n}` inside text stays text: `"contact{n}@x"` -> `"contact7@x"`.
        store::set(&mut value, pointer, filled);
    }
    value
}
