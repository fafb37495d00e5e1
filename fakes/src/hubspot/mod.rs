//! Fake HubSpot: CRM v3 objects, batch endpoints, search, OAuth token refresh and the
//! rolling rate limit, as HubSpot documents them.
//!
//! Routes (all JSON; every `/crm` route needs `Authorization: Bearer <token>`):
//!
//! | route | |
//! |---|---|
//! | `GET /crm/v3/objects/{type}?limit=&after=&properties=&archived=` | list, `limit` 1..=100 (default 10), `paging.next.after` |
//! | `GET /crm/v3/objects/{type}/{id}?idProperty=&properties=` | read by id or unique property (`email`) |
//! | `POST /crm/v3/objects/{type}` | create, 201; a taken unique value is 409 |
//! | `PATCH /crm/v3/objects/{type}/{id}?idProperty=` | update |
//! | `DELETE /crm/v3/objects/{type}/{id}` | archive, 204 |
//! | `POST /crm/v3/objects/{type}/batch/{create,update,read,upsert}` | at most 100 inputs (more: 400); per-input failures: 207 with `errors` |
//! | `POST /crm/v3/objects/{type}/search` | filters (`EQ`, `GTE`, ...), one sort, `limit` <= 200, `after` offset, 10,000 results at most |
//! | `PUT /crm/v3/objects/{type}/{id}/associations/{toType}/{toId}/{associationType}`, `GET .../associations/{toType}` | associations (`associations.rs`) |
//! | `POST /oauth/v1/token` | `grant_type=refresh_token` (form) |
//!
//! `{type}` is `contacts`, `companies` or `deals` (or `0-1`, `0-2`, `0-3`). Property values
//! are strings; writing an unknown property, a read-only one or an invalid email is a
//! `VALIDATION_ERROR` as in HubSpot (declare custom properties in [`PropertySchema`]).
//!
//! Every authenticated response carries `X-HubSpot-RateLimit-Max`, `-Remaining` and
//! `-Interval-Milliseconds`; past [`HubspotConfig::rate_limit`] (100 per rolling 10 s per token
//! by default) the fake answers 429 with HubSpot's body (`"errorType":"RATE_LIMIT"`,
//! `"policyName":"TEN_SECONDLY_ROLLING"`), counted by [`Hubspot::rate_limited_count`]. Like
//! HubSpot, the 429 carries no `Retry-After`: pace with the headers.

mod associations;
mod auth;
mod errors;
mod objects;
mod params;
mod schema;
mod search;
mod store;

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum::Router;

pub use auth::OAuthConfig;
pub use errors::MAX_BATCH_INPUTS;
pub use schema::{ObjectType, PropertySchema};
pub use search::{MAX_SEARCH_LIMIT, MAX_SEARCH_RESULTS};
pub use store::CrmObject;

use crate::faults::FaultConfig;
use crate::rate_limit::{Admission, RateLimit, RollingWindow};
use crate::server::{self, FakeHandle, Spec};
use auth::{TokenCheck, Tokens};
use errors::Policy;
use store::Store;

/// A private-app token the default configuration accepts.
pub const TEST_TOKEN: &str = "pat-na1-fake-hubspot-token";

/// HubSpot's documented burst limit: 100 requests per rolling 10 seconds.
pub const DEFAULT_RATE_LIMIT: RateLimit = RateLimit::new(100, Duration::from_secs(10));

/// How the fake HubSpot behaves.
#[derive(Debug, Clone)]
pub struct HubspotConfig {
    /// Loopback port; 0 picks a free one.
    pub port: u16,
    /// Bearer tokens that never expire (private-app tokens).
    pub tokens: Vec<String>,
    /// OAuth client and refresh tokens for `POST /oauth/v1/token`.
    pub oauth: OAuthConfig,
    /// Requests per rolling window, per token.
    pub rate_limit: RateLimit,
    /// An extra limit on the search endpoints (HubSpot documents 5 per second), off when `None`.
    pub search_rate_limit: Option<RateLimit>,
    /// Which properties exist beyond HubSpot's standard ones.
    pub schema: PropertySchema,
    pub faults: FaultConfig,
    /// Check every request and response against the provider's spec and record violations
    /// on the handle (`handle.violations`); off by default.
    pub spec_check: Option<crate::spec::SpecCheck>,
}

impl Default for HubspotConfig {
    /// Accepts [`TEST_TOKEN`]; 100 requests per 10 s; no search limit; no faults.
    fn default() -> Self {
        Self {
            port: 0,
            tokens: vec![TEST_TOKEN.to_owned()],
            oauth: OAuthConfig::default(),
            rate_limit: DEFAULT_RATE_LIMIT,
            search_rate_limit: None,
            schema: PropertySchema::default(),
            faults: FaultConfig::default(),
            spec_check: None,
        }
    }
}

/// The fake portal's state; read it through the [`FakeHandle`].
pub struct Hubspot {
    base_url: OnceLock<String>,
    schema: PropertySchema,
    oauth: OAuthConfig,
    store: Mutex<Store>,
    tokens: Mutex<Tokens>,
    limits: Mutex<Limits>,
    rate_limited: AtomicU64,
}

struct Limits {
    rate_limit: RateLimit,
    search_rate_limit: Option<RateLimit>,
    windows: HashMap<String, RollingWindow>,
    search_windows: HashMap<String, RollingWindow>,
}

/// What the rate limiter decided for one request.
pub(crate) enum Budget {
    Allowed { limit: RateLimit, remaining: u32 },
    Limited { limit: RateLimit, policy: Policy },
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Handlers never leave the state half-written when they panic; keep serving.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts a fake HubSpot on a free loopback port (or `config.port`).
///
/// # Panics
/// When the loopback port cannot be bound.
pub fn start(config: HubspotConfig) -> FakeHandle<Hubspot> {
    server::expect_started("hubspot", try_start(config))
}

/// Starts a fake HubSpot, reporting a bind failure (a taken fixed port).
pub fn try_start(config: HubspotConfig) -> io::Result<FakeHandle<Hubspot>> {
    let state = Arc::new(Hubspot {
        base_url: OnceLock::new(),
        schema: config.schema,
        store: Mutex::new(Store::default()),
        tokens: Mutex::new(Tokens::new(&config.tokens, &config.oauth.refresh_tokens)),
        oauth: config.oauth,
        limits: Mutex::new(Limits {
            rate_limit: config.rate_limit,
            search_rate_limit: config.search_rate_limit,
            windows: HashMap::new(),
            search_windows: HashMap::new(),
        }),
        rate_limited: AtomicU64::new(0),
    });
    let spec = Spec {
        name: "hubspot",
        port: config.port,
        state: state.clone(),
        faults: config.faults,
        check: config.spec_check,
        violations: Default::default(),
        respond: errors::fault,
    };
    server::spawn(spec, move |base_url| {
        let _ = state.base_url.set(base_url.to_owned());
        router(state)
    })
}

fn router(hub: Arc<Hubspot>) -> Router {
    let crm = Router::new()
        .route(
            "/crm/v3/objects/{object_type}",
            get(objects::list).post(objects::create),
        )
        .route("/crm/v3/objects/{object_type}/search", post(search::search))
        .route(
            "/crm/v3/objects/{object_type}/batch/create",
            post(objects::batch_create),
        )
        .route(
            "/crm/v3/objects/{object_type}/batch/update",
            post(objects::batch_update),
        )
        .route("/crm/v3/objects/{object_type}/batch/read", post(objects::batch_read))
        .route(
            "/crm/v3/objects/{object_type}/batch/upsert",
            post(objects::batch_upsert),
        )
        .route(
            "/crm/v3/objects/{object_type}/{object_id}",
            get(objects::read).patch(objects::update).delete(objects::archive),
        )
        .route(
            "/crm/v3/objects/{object_type}/{object_id}/associations/{to_object_type}",
            get(associations::list),
        )
        .route(
            "/crm/v3/objects/{object_type}/{object_id}/associations/{to_object_type}/{to_object_id}/{association_type}",
            axum::routing::put(associations::create),
        )
        .route_layer(from_fn_with_state(hub.clone(), auth::authenticate));
    Router::new()
        .merge(crm)
        .route("/oauth/v1/token", post(auth::token))
        .fallback(objects::no_route)
        .with_state(hub)
}

impl Hubspot {
    fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    pub(crate) fn base_url(&self) -> &str {
        self.base_url.get().map_or("", String::as_str)
    }

    pub(crate) fn schema(&self) -> &PropertySchema {
        &self.schema
    }

    /// The ids of the live `to` records associated with `from_type` record `id`, in id order.
    pub fn associations(&self, from_type: ObjectType, id: &str, to: ObjectType) -> Vec<String> {
        let Ok(id) = id.parse::<u64>() else {
            return Vec::new();
        };
        self.store()
            .associated((from_type, id), to)
            .into_iter()
            .map(|id| id.to_string())
            .collect()
    }

    /// Live (unarchived) objects of a type, in id order.
    pub fn objects(&self, object_type: ObjectType) -> Vec<CrmObject> {
        self.store()
            .objects(object_type)
            .filter(|o| !o.archived)
            .cloned()
            .collect()
    }

    /// Number of live objects of a type.
    pub fn count(&self, object_type: ObjectType) -> usize {
        self.store().objects(object_type).filter(|o| !o.archived).count()
    }

    /// Objects created or updated so far, through the API or [`Self::insert`].
    pub fn writes(&self) -> u64 {
        self.store().writes
    }

    /// A live object by id.
    pub fn object(&self, object_type: ObjectType, id: &str) -> Option<CrmObject> {
        self.store()
            .find(object_type, None, id)
            .filter(|o| !o.archived)
            .cloned()
    }

    /// A live object by a unique property's value (`email` for contacts), case-insensitive.
    pub fn find(&self, object_type: ObjectType, property: &str, value: &str) -> Option<CrmObject> {
        if !self.schema.is_id_property(object_type, property) {
            return self
                .store()
                .objects(object_type)
                .find(|o| !o.archived && o.get(property) == Some(value))
                .cloned();
        }
        self.store().find(object_type, Some(property), value).cloned()
    }

    /// Creates an object directly, bypassing HTTP, auth and the rate limit (to seed a test).
    ///
    /// # Panics
    /// When the properties are invalid or a unique value is taken: a bug in the test.
    pub fn insert(&self, object_type: ObjectType, properties: &[(&str, &str)]) -> CrmObject {
        let input = properties
            .iter()
            .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String((*v).to_owned())))
            .collect();
        let writes = schema::validate(&self.schema, object_type, &input)
            .unwrap_or_else(|errors| panic!("invalid seed properties: {errors:?}"));
        self.store()
            .create(&self.schema, object_type, writes)
            .unwrap_or_else(|e| panic!("seed object refused: {e:?}"))
    }

    /// Number of requests answered 429 by the fake's own rate limits (injected faults are
    /// counted separately, in [`Faults::counts`](crate::Faults::counts)).
    pub fn rate_limited_count(&self) -> u64 {
        self.rate_limited.load(Ordering::Relaxed)
    }

    /// The current per-token limit.
    pub fn rate_limit(&self) -> RateLimit {
        lock(&self.limits).rate_limit
    }

    /// Changes the per-token limit; windows already counted are kept.
    pub fn set_rate_limit(&self, limit: RateLimit) {
        lock(&self.limits).rate_limit = limit;
    }

    /// Accepts another non-expiring bearer token.
    pub fn add_token(&self, token: &str) {
        lock(&self.tokens).add_static(token);
    }

    /// Stops accepting a bearer token (static or OAuth access token).
    pub fn revoke_token(&self, token: &str) {
        lock(&self.tokens).revoke(token);
    }

    /// Makes an issued OAuth access token expired from now on.
    pub fn expire_access_token(&self, token: &str) {
        lock(&self.tokens).expire(token, Instant::now());
    }

    /// Every access token issued by the token endpoint, oldest first.
    pub fn issued_access_tokens(&self) -> Vec<String> {
        lock(&self.tokens).issued()
    }

    /// The refresh tokens the token endpoint accepts now.
    pub fn refresh_tokens(&self) -> Vec<String> {
        lock(&self.tokens).refresh_tokens()
    }

    pub(crate) fn check_token(&self, token: &str) -> TokenCheck {
        lock(&self.tokens).check(token, Instant::now())
    }

    /// Counts a request against `token`'s budget (and the search budget for searches).
    pub(crate) fn admit(&self, token: &str, search: bool) -> Budget {
        let now = Instant::now();
        let mut limits = lock(&self.limits);
        let limit = limits.rate_limit;
        if search {
            if let Some(search_limit) = limits.search_rate_limit {
                let window = limits.search_windows.entry(token.to_owned()).or_default();
                if let Admission::Limited { .. } = window.admit(&search_limit, now) {
                    self.rate_limited.fetch_add(1, Ordering::Relaxed);
                    return Budget::Limited {
                        limit,
                        policy: Policy::Secondly,
                    };
                }
            }
        }
        match limits.windows.entry(token.to_owned()).or_default().admit(&limit, now) {
            Admission::Allowed { remaining } => Budget::Allowed { limit, remaining },
            Admission::Limited { .. } => {
                self.rate_limited.fetch_add(1, Ordering::Relaxed);
                Budget::Limited {
                    limit,
                    policy: Policy::TenSecondlyRolling,
                }
            }
        }
    }
}
