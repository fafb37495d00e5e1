//! Fake Microsoft Graph v1.0 (Microsoft 365): one mailbox's messages, calendar events and
//! contacts, Teams channel messages, and the Microsoft Entra ID token endpoint in front of it.
//!
//! **Checked against the spec where the specs folder has it.** `microsoft-graph/Mail.yml`,
//! `Calendar.yml` and `PersonalContacts.yml` (Microsoft's OpenAPI documents of the PowerShell
//! SDK, v1.0) describe the reads and creates of messages, events and contacts and the mail
//! folder read: those requests and answers are checked against them, and every item a delta
//! page returns is validated against the message, event or contact schema. Each departure is a
//! [`Violation`].
//!
//! **Followed from the documentation, as the files leave them out** (the delta functions,
//! `sendMail` and Teams are in other documents of that SDK, too large to keep), on
//! learn.microsoft.com:
//!
//! * "Use delta query to track changes in Microsoft Graph data", "message: delta" (`GET
//!   /users/{id}/mailFolders/{id}/messages/delta`), "event: delta" (`GET
//!   /users/{id}/calendarView/delta?startDateTime=&endDateTime=`, both required on the first
//!   request), "contact: delta" (`GET /users/{id}/contactFolders/{id}/contacts/delta`): a round
//!   of pages linked by `@odata.nextLink` (`$skiptoken`), the last giving `@odata.deltaLink`
//!   (`$deltatoken`); the query parameters of the first request (`$select`, the window) are
//!   carried by the tokens, so the links are followed as they are. A delta link read later
//!   answers what changed since its round: new and changed items, and removed ones as
//!   `{"id", "@removed": {"reason": "deleted"}}`. Tokens are opaque; an unknown delta token is
//!   410 `SyncStateNotFound` (the documented answer to an expired one). `Prefer:
//!   odata.maxpagesize=N` sets the page size (answered in `Preference-Applied`), 10 without;
//! * "user: sendMail": `POST /users/{id}/sendMail` with `{"message", "saveToSentItems"}`,
//!   answered 202 without a body; a message without a valid recipient is 400
//!   `ErrorInvalidRecipients`;
//! * "Send chatMessage in a channel": `POST /teams/{id}/channels/{id}/messages` with `{"body":
//!   {"content", "contentType"}}`, 201 with the chatMessage; an unknown team or channel is
//!   404; an application (client-credentials) token is 403, as Graph allows applications to
//!   post only when importing history;
//! * "subscription resource type", "List subscriptions", "Get subscription", "Update
//!   subscription" and "Delete subscription" (change notifications): `GET /subscriptions`
//!   lists the app's subscriptions (`{"value": [...]}`), `PATCH /subscriptions/{id}` takes
//!   only `expirationDateTime` (and `notificationUrl`) and answers 200 with the subscription;
//!   a subscription lives at most its resource's maximum ("Maximum length of subscription per
//!   resource type": 10,080 minutes for Outlook messages, events and contacts, 4,320 for Teams
//!   channel messages), a later expiry is refused with 400, a past one too; Graph deletes a
//!   subscription when it expires, so an expired one is 404 `ResourceNotFound` and no longer
//!   listed. Subscriptions are put in place with [`Graph::insert_subscription`] (as `POST
//!   /subscriptions` would after its validation handshake, which the receiver's tests cover);
//!   [`Graph::refuse_renewals`] makes Graph refuse a subscription's updates with 403, as it
//!   does when the app lost the permission on the resource;
//! * OneDrive and SharePoint files ("Upload small files", "Upload large files with an upload
//!   session", "driveItem resource type"): `PUT /users/{id}/drive/items/{parent-id}:/{name}:/content`
//!   with the file's bytes creates or replaces the file and answers 201 (200 on a replace) with
//!   the driveItem; `POST .../items/{parent-id}:/{name}:/createUploadSession` answers
//!   `{"uploadUrl", "expirationDateTime", "nextExpectedRanges": ["0-"]}`, and the file then
//!   goes to the upload URL in `PUT`s with `Content-Range: bytes a-b/size`, each fragment but
//!   the last a multiple of 320 KiB (327,680 bytes) and at most 60 MiB, in order (a gap or an
//!   overlap is 416 with the ranges expected); a fragment before the last answers 202 with
//!   `nextExpectedRanges`, the last 201 with the driveItem. The upload URL is pre-authorised:
//!   a fragment sent with an `Authorization` header is a violation (and 401, as Graph warns). A
//!   name with a character OneDrive refuses (`" * : < > ? / \ |`) is 400 `invalidRequest`;
//! * the identity platform's "OAuth 2.0 client credentials flow" (`scope` must be
//!   `https://graph.microsoft.com/.default`) and "Refresh the access token" (a refresh token
//!   grant answers a new refresh token too; the old one keeps working, as Entra ID's do);
//! * "Microsoft Graph error responses": `{"error": {"code", "message", "innerError"}}`; a
//!   request without a token Graph issued is 401 `InvalidAuthenticationToken`, an unknown
//!   item 404 `ErrorItemNotFound`, a body naming a property the type lacks 400
//!   `RequestBodyRead` ("The property 'x' does not exist on type 'microsoft.graph.contact'").
//!
//! **Assumed** (not documented precisely): an event whose end is before its start is refused
//! with 400 `ErrorInvalidRequest`; the page size without `Prefer` is 10.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec as ServerSpec};
use crate::spec::{Direction, RequestParts, ResponseParts, Spec, SpecPatch, Violation, ViolationLog};
use crate::timestamp::{iso_ms, now_ms};

/// The Entra ID tenant of the fake.
pub const TENANT_ID: &str = "0c2ff8b0-5f5a-4b8e-9a53-5d7e3c1a2b01";
/// The app registration's credentials the token endpoint accepts.
pub const CLIENT_ID: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";
pub const CLIENT_SECRET: &str = "fake-graph-client-secret";
/// The refresh token of the user's consent (delegated auth).
pub const REFRESH_TOKEN: &str = "fake-graph-refresh-token-0";
/// The mailbox the fake holds.
pub const USER: &str = "ada@contoso.example";
/// The contact folder holding the contacts.
pub const CONTACT_FOLDER: &str = "AAMkADcontactsfolder";
/// The team and channel the fake knows.
pub const TEAM_ID: &str = "fbe2bf47-16c8-47cf-b4a5-4b9b187c508b";
pub const CHANNEL_ID: &str = "19:4a95f7d8db4c4e7fae857bcebe0623e6@thread.tacv2";
/// Graph's resource: the client-credentials scope is this followed by `/.default`.
pub const RESOURCE: &str = "https://graph.microsoft.com";
/// The spec files checked.
pub const SPEC_FILES: [&str; 3] = [
    "microsoft-graph/Mail.yml",
    "microsoft-graph/Calendar.yml",
    "microsoft-graph/PersonalContacts.yml",
];

const VERSION_PATH: &str = "/v1.0";
const DEFAULT_PAGE: usize = 10;

/// A collection the fake serves by delta query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Messages,
    Events,
    Contacts,
}

impl Kind {
    fn odata_type(self) -> &'static str {
        match self {
            Kind::Messages => "#microsoft.graph.message",
            Kind::Events => "#microsoft.graph.event",
            Kind::Contacts => "#microsoft.graph.contact",
        }
    }

    /// The type name in OData errors.
    fn type_name(self) -> &'static str {
        &self.odata_type()[1..]
    }

    /// The spec operation whose 200 answer is one item.
    fn item_template(self) -> &'static str {
        match self {
            Kind::Messages => "/v1.0/users/{user-id}/messages/{message-id}",
            Kind::Events => "/v1.0/users/{user-id}/events/{event-id}",
            Kind::Contacts => "/v1.0/users/{user-id}/contacts/{contact-id}",
        }
    }
}

struct Item {
    id: String,
    /// The change counter's value at the item's last change.
    version: u64,
    removed: bool,
    body: Map<String, Value>,
}

/// A delta round in progress (`$skiptoken`) or done (`$deltatoken`).
#[derive(Clone)]
struct Round {
    kind: Kind,
    /// Changes after this version (0: everything).
    since: u64,
    /// Changes up to this version, taken when the round started.
    upto: u64,
    /// Items already returned in this round.
    offset: usize,
    select: Option<Vec<String>>,
    /// The calendar window, `YYYY-MM-DDTHH:MM:SS` (events only).
    window: Option<(String, String)>,
    page_size: usize,
}

/// How the fake tenant behaves.
#[derive(Debug, Clone)]
pub struct GraphConfig {
    pub port: u16,
    pub messages: usize,
    pub events: usize,
    pub contacts: usize,
    pub faults: FaultConfig,
}

impl Default for GraphConfig {
    fn default() -> Self {
        Self {
            port: 0,
            messages: 120,
            events: 45,
            contacts: 60,
            faults: FaultConfig::default(),
        }
    }
}

/// A file in the drive.
struct DriveFile {
    id: String,
    parent: String,
    name: String,
    bytes: Vec<u8>,
}

/// An upload session in progress.
struct UploadSession {
    parent: String,
    name: String,
    received: Vec<u8>,
    expires_ms: i64,
}

/// "Upload large files with an upload session": fragments are multiples of this (320 KiB).
pub const FRAGMENT_MULTIPLE: usize = 327_680;
/// ... and at most this large (60 MiB).
const MAX_FRAGMENT: usize = 60 * 1024 * 1024;

/// A change-notification subscription.
struct Subscription {
    body: Map<String, Value>,
    /// Milliseconds since the epoch.
    expires_ms: i64,
    refuse_updates: bool,
}

/// The longest a subscription on `resource` may live, in minutes ("Maximum length of
/// subscription per resource type").
fn max_lifetime_minutes(resource: &str) -> i64 {
    if resource.contains("/channels/") || resource.contains("/chats/") {
        4_320
    } else {
        10_080
    }
}

/// How an access token was granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    App,
    Delegated,
}

/// The fake tenant.
pub struct Graph {
    items: Mutex<BTreeMap<Kind, Vec<Item>>>,
    rounds: Mutex<HashMap<String, Round>>,
    sent: Mutex<Vec<Value>>,
    channel_messages: Mutex<Vec<Value>>,
    subscriptions: Mutex<BTreeMap<String, Subscription>>,
    files: Mutex<BTreeMap<String, DriveFile>>,
    upload_sessions: Mutex<HashMap<String, UploadSession>>,
    tokens: Mutex<HashMap<String, Grant>>,
    refresh_tokens: Mutex<Vec<String>>,
    version: AtomicU64,
    counter: AtomicU64,
    base_url: Mutex<String>,
    spec: Spec,
    violations: Arc<ViolationLog>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `ms` as Graph writes a DateTimeOffset (`2024-05-02T11:17:33Z`).
fn stamp(ms: i64) -> String {
    let iso = iso_ms(ms);
    format!("{}Z", iso.split('.').next().unwrap_or_default())
}

/// Starts a fake Graph tenant (API and token endpoint on one loopback port).
///
/// # Panics
/// When the port cannot be bound or the spec files cannot be read.
pub fn start(config: GraphConfig) -> FakeHandle<Graph> {
    server::expect_started("microsoft-graph", try_start(config))
}

/// Starts a fake Graph tenant, reporting a bind or spec failure.
pub fn try_start(config: GraphConfig) -> io::Result<FakeHandle<Graph>> {
    let files: Vec<String> = SPEC_FILES.iter().map(|f| (*f).to_owned()).collect();
    let spec = Spec::load_patched(&crate::spec::specs_dir(), &files, &spec_patches()).map_err(io::Error::other)?;
    let violations = Arc::new(ViolationLog::default());
    let state = Arc::new(Graph {
        items: Mutex::new(BTreeMap::new()),
        rounds: Mutex::new(HashMap::new()),
        sent: Mutex::new(Vec::new()),
        channel_messages: Mutex::new(Vec::new()),
        subscriptions: Mutex::new(BTreeMap::new()),
        files: Mutex::new(BTreeMap::new()),
        upload_sessions: Mutex::new(HashMap::new()),
        tokens: Mutex::new(HashMap::new()),
        refresh_tokens: Mutex::new(vec![REFRESH_TOKEN.to_owned()]),
        version: AtomicU64::new(0),
        counter: AtomicU64::new(1),
        base_url: Mutex::new(String::new()),
        spec,
        violations: violations.clone(),
    });
    let start = now_ms() - 86_400_000 * 20;
    for n in 1..=config.messages {
        state.insert_message(
            &format!("Message {n}"),
            &format!("sender{n}@example.com"),
            start + n as i64 * 1000,
        );
    }
    for n in 1..=config.events {
        state.insert_event(
            &format!("Meeting {n}"),
            &format!("2025-{:02}-{:02}T10:00:00", 1 + n % 12, 1 + n % 28),
        );
    }
    for n in 1..=config.contacts {
        state.insert_contact(
            &format!("Given{n}"),
            &format!("Surname{n}"),
            &format!("contact{n}@example.com"),
        );
    }
    let server_spec = ServerSpec {
        name: "microsoft-graph",
        port: config.port,
        state: state.clone(),
        faults: config.faults,
        check: None,
        violations,
        respond: fault,
    };
    server::spawn(server_spec, move |base_url| {
        *lock(&state.base_url) = base_url.to_owned();
        Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route("/upload/{session}", axum::routing::put(upload_fragment))
            .fallback(api)
            // Simple uploads (up to 250 MB at Graph) and fragments (up to 60 MiB) exceed axum's
            // 2 MB default.
            .layer(axum::extract::DefaultBodyLimit::max(MAX_FRAGMENT + 1024))
            .with_state(state)
    })
}

/// Corrections to the spec files: Microsoft's generator marks every type open with
/// `additionalProperties: {type: object}`, also on each part of an `allOf` inheritance chain,
/// where JSON Schema reads it per part: `entity` (which declares only `id`) would then refuse a
/// message's `subject` as an additional property that is not an object, though Graph sends it on
/// every message ("message resource type"). It is removed from the parts of the chains this fake
/// serves (entity, outlookItem, and message, event or contact); unknown properties in request
/// bodies are refused by the fake itself, from the declared properties.
pub fn spec_patches() -> Vec<SpecPatch> {
    let reason = "Graph's generator adds `additionalProperties: {type: object}` to every part of an allOf \
                  inheritance chain, which refuses the properties the other parts declare (entity refuses a \
                  message's subject); Graph's documented resources carry them";
    let mut patches = Vec::new();
    for (file, item) in [
        (SPEC_FILES[0], "message"),
        (SPEC_FILES[1], "event"),
        (SPEC_FILES[2], "contact"),
    ] {
        for pointer in [
            "/components/schemas/microsoft.graph.entity/additionalProperties".to_owned(),
            "/components/schemas/microsoft.graph.outlookItem/allOf/1/additionalProperties".to_owned(),
            format!("/components/schemas/microsoft.graph.{item}/allOf/1/additionalProperties"),
        ] {
            patches.push(SpecPatch {
                files: vec![file.to_owned()],
                pointer,
                value: None,
                reason: reason.to_owned(),
            });
        }
        patches.push(SpecPatch {
            files: vec![file.to_owned()],
            pointer: "/components/schemas/microsoft.graph.ODataErrors.InnerError/additionalProperties".to_owned(),
            value: None,
            reason: "\"Microsoft Graph error responses\": innerError carries `date`, `request-id` and \
                     `client-request-id` strings; the spec's open type allows only objects"
                .to_owned(),
        });
    }
    // The check request reads the mail folder (an entity too).
    patches.push(SpecPatch {
        files: vec![SPEC_FILES[0].to_owned()],
        pointer: "/components/schemas/microsoft.graph.mailFolder/allOf/1/additionalProperties".to_owned(),
        value: None,
        reason: reason.to_owned(),
    });
    // An event's attendees: attendee and attendeeBase extend recipient the same way.
    for part in ["recipient", "attendee/allOf/1", "attendeeBase/allOf/1"] {
        patches.push(SpecPatch {
            files: vec![SPEC_FILES[1].to_owned()],
            pointer: format!("/components/schemas/microsoft.graph.{part}/additionalProperties"),
            value: None,
            reason: reason.to_owned(),
        });
    }
    patches
}

fn fault(status: StatusCode) -> Response {
    if status == StatusCode::TOO_MANY_REQUESTS {
        let mut r = error(
            status,
            "TooManyRequests",
            "Application is over its MailboxConcurrency limit.",
        );
        r.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
        return r;
    }
    error(status, "UnknownError", "An unexpected error occurred.")
}

fn error_body(code: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message, "innerError": {
        "date": stamp(now_ms()),
        "request-id": crate::timestamp::correlation_id(),
        "client-request-id": crate::timestamp::correlation_id(),
    }}})
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(error_body(code, message))).into_response()
}

impl Graph {
    fn next_version(&self) -> u64 {
        self.version.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn new_id(&self, prefix: &str) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("AAMkAD{prefix}{n:08}")
    }

    fn store(&self, kind: Kind, mut body: Map<String, Value>) -> Value {
        let id = self.new_id(match kind {
            Kind::Messages => "msg",
            Kind::Events => "evt",
            Kind::Contacts => "con",
        });
        let now = stamp(now_ms());
        body.insert("id".into(), json!(id));
        body.entry("createdDateTime").or_insert_with(|| json!(now));
        body.insert("lastModifiedDateTime".into(), json!(now));
        body.insert(
            "changeKey".into(),
            json!(format!("CQAAAB{}", self.counter.load(Ordering::Relaxed))),
        );
        let version = self.next_version();
        lock(&self.items).entry(kind).or_default().push(Item {
            id,
            version,
            removed: false,
            body: body.clone(),
        });
        Value::Object(body)
    }

    /// Adds a message to the mail folder, received at `at` (ms).
    pub fn insert_message(&self, subject: &str, from: &str, at: i64) -> Value {
        let mut m = Map::new();
        m.insert("subject".into(), json!(subject));
        m.insert("from".into(), json!({"emailAddress": {"name": from, "address": from}}));
        m.insert(
            "toRecipients".into(),
            json!([{"emailAddress": {"name": "Ada", "address": USER}}]),
        );
        m.insert("receivedDateTime".into(), json!(stamp(at)));
        m.insert("isRead".into(), json!(false));
        m.insert("bodyPreview".into(), json!(format!("About {subject}")));
        m.insert(
            "body".into(),
            json!({"contentType": "text", "content": format!("About {subject}")}),
        );
        m.insert("conversationId".into(), json!(format!("AAQk{}", subject.len())));
        m.insert("parentFolderId".into(), json!("inbox"));
        self.store(Kind::Messages, m)
    }

    /// Adds an event starting at `start` (`YYYY-MM-DDTHH:MM:SS`, UTC), an hour long.
    pub fn insert_event(&self, subject: &str, start: &str) -> Value {
        let end = format!("{}T11{}", &start[..10], &start[13..]);
        let mut e = Map::new();
        e.insert("subject".into(), json!(subject));
        e.insert(
            "start".into(),
            json!({"dateTime": format!("{start}.0000000"), "timeZone": "UTC"}),
        );
        e.insert(
            "end".into(),
            json!({"dateTime": format!("{end}.0000000"), "timeZone": "UTC"}),
        );
        e.insert("location".into(), json!({"displayName": "Room 1"}));
        e.insert(
            "attendees".into(),
            json!([{"type": "required", "emailAddress": {"name": "Grace", "address": "grace@example.com"}}]),
        );
        e.insert(
            "organizer".into(),
            json!({"emailAddress": {"name": "Ada", "address": USER}}),
        );
        e.insert("isCancelled".into(), json!(false));
        self.store(Kind::Events, e)
    }

    /// Adds a contact to the contact folder.
    pub fn insert_contact(&self, given: &str, surname: &str, email: &str) -> Value {
        let mut c = Map::new();
        c.insert("givenName".into(), json!(given));
        c.insert("surname".into(), json!(surname));
        c.insert("displayName".into(), json!(format!("{given} {surname}")));
        c.insert(
            "emailAddresses".into(),
            json!([{"name": format!("{given} {surname}"), "address": email}]),
        );
        c.insert("businessPhones".into(), json!([]));
        c.insert("parentFolderId".into(), json!(CONTACT_FOLDER));
        self.store(Kind::Contacts, c)
    }

    /// Changes an item as a user in Outlook would (a new version and modification time).
    pub fn update(&self, kind: Kind, id: &str, changes: Value) -> Option<Value> {
        let version = self.next_version();
        let mut items = lock(&self.items);
        let item = items.get_mut(&kind)?.iter_mut().find(|i| i.id == id && !i.removed)?;
        if let Value::Object(changes) = changes {
            item.body.extend(changes);
        }
        item.body.insert("lastModifiedDateTime".into(), json!(stamp(now_ms())));
        item.version = version;
        Some(Value::Object(item.body.clone()))
    }

    /// Deletes an item: the next delta round reports it `@removed`.
    pub fn remove(&self, kind: Kind, id: &str) -> bool {
        let version = self.next_version();
        let mut items = lock(&self.items);
        match items
            .get_mut(&kind)
            .and_then(|v| v.iter_mut().find(|i| i.id == id && !i.removed))
        {
            Some(item) => {
                item.removed = true;
                item.version = version;
                true
            }
            None => false,
        }
    }

    /// An item as Graph holds it (`None` when absent or removed).
    pub fn item(&self, kind: Kind, id: &str) -> Option<Value> {
        lock(&self.items)
            .get(&kind)?
            .iter()
            .find(|i| i.id == id && !i.removed)
            .map(|i| Value::Object(i.body.clone()))
    }

    /// An item by a field's value (`/subject`).
    pub fn find(&self, kind: Kind, pointer: &str, value: &str) -> Option<Value> {
        lock(&self.items)
            .get(&kind)?
            .iter()
            .filter(|i| !i.removed)
            .map(|i| Value::Object(i.body.clone()))
            .find(|v| v.pointer(pointer).and_then(Value::as_str) == Some(value))
    }

    /// Items present (not removed).
    pub fn count(&self, kind: Kind) -> usize {
        lock(&self.items)
            .get(&kind)
            .map_or(0, |v| v.iter().filter(|i| !i.removed).count())
    }

    /// Messages sent through `sendMail`, as saved to Sent Items.
    pub fn sent(&self) -> Vec<Value> {
        lock(&self.sent).clone()
    }

    /// Puts a subscription in place, as `POST /subscriptions` would after its validation
    /// handshake: notifications of `change_type` on `resource` to `notification_url`, expiring
    /// `expires_in_secs` from now. Returns its id.
    pub fn insert_subscription(
        &self,
        resource: &str,
        change_type: &str,
        notification_url: &str,
        client_state: &str,
        expires_in_secs: i64,
    ) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let id = format!("7f105c7d-2dc5-4530-97cd-{n:012x}");
        let expires_ms = now_ms() + expires_in_secs * 1000;
        let mut body = Map::new();
        body.insert("id".into(), json!(id));
        body.insert("resource".into(), json!(resource));
        body.insert("applicationId".into(), json!(CLIENT_ID));
        body.insert("changeType".into(), json!(change_type));
        body.insert("clientState".into(), json!(client_state));
        body.insert("notificationUrl".into(), json!(notification_url));
        body.insert("expirationDateTime".into(), json!(iso_ms(expires_ms)));
        body.insert("creatorId".into(), json!("8f4e3a41-6c2b-4e5e-9d1f-2b0c3a9d8e02"));
        body.insert("latestSupportedTlsVersion".into(), json!("v1_2"));
        body.insert("notificationUrlAppId".into(), Value::Null);
        body.insert("lifecycleNotificationUrl".into(), Value::Null);
        body.insert("includeResourceData".into(), json!(false));
        lock(&self.subscriptions).insert(
            id.clone(),
            Subscription {
                body,
                expires_ms,
                refuse_updates: false,
            },
        );
        id
    }

    /// A live subscription (`None` once expired or deleted).
    pub fn subscription(&self, id: &str) -> Option<Value> {
        let mut subs = lock(&self.subscriptions);
        expire(&mut subs);
        subs.get(id).map(|s| Value::Object(s.body.clone()))
    }

    /// The bytes of the file `name` in folder `parent` (`root` for the drive's root).
    pub fn file(&self, parent: &str, name: &str) -> Option<Vec<u8>> {
        lock(&self.files)
            .values()
            .find(|f| f.parent == parent && f.name == name)
            .map(|f| f.bytes.clone())
    }

    /// The id of the file `name` in folder `parent`.
    pub fn file_id(&self, parent: &str, name: &str) -> Option<String> {
        lock(&self.files)
            .values()
            .find(|f| f.parent == parent && f.name == name)
            .map(|f| f.id.clone())
    }

    /// Forgets every delta round, as Graph drops an old sync state: a stored delta link then
    /// answers 410 `SyncStateNotFound`.
    pub fn forget_sync_state(&self) {
        lock(&self.rounds).clear();
    }

    /// A live subscription's expiry, unix seconds.
    pub fn subscription_expiry(&self, id: &str) -> Option<i64> {
        let mut subs = lock(&self.subscriptions);
        expire(&mut subs);
        subs.get(id).map(|s| s.expires_ms.div_euclid(1000))
    }

    /// Makes Graph refuse updates of subscription `id` (403), or accept them again.
    pub fn refuse_renewals(&self, id: &str, refuse: bool) {
        if let Some(s) = lock(&self.subscriptions).get_mut(id) {
            s.refuse_updates = refuse;
        }
    }

    /// Messages posted to the channel.
    pub fn channel_messages(&self) -> Vec<Value> {
        lock(&self.channel_messages).clone()
    }

    /// Access tokens the token endpoint issued.
    pub fn issued_tokens(&self) -> usize {
        lock(&self.tokens).len()
    }

    /// Requests and answers that broke the spec or the documented contract.
    pub fn violations(&self) -> Vec<Violation> {
        self.violations.all()
    }

    fn violation(&self, operation: &str, method: &str, path: &str, pointer: &str, message: String) {
        self.violations.record(
            "microsoft-graph",
            vec![Violation::new(
                operation,
                Direction::Request,
                method,
                path,
                pointer,
                message,
            )],
        );
    }

    fn base(&self) -> String {
        lock(&self.base_url).clone()
    }

    /// The spec's schema of one item of `kind` (cached: it is large).
    fn item_schema(&self, kind: Kind) -> Option<&Value> {
        static SCHEMAS: OnceLock<Mutex<HashMap<Kind, &'static Value>>> = OnceLock::new();
        let cache = SCHEMAS.get_or_init(|| Mutex::new(HashMap::new()));
        let mut cache = lock(cache);
        if let Some(schema) = cache.get(&kind) {
            return Some(*schema);
        }
        let schema = self.spec.response_schema(&Method::GET, kind.item_template(), 200)?;
        let leaked: &'static Value = Box::leak(Box::new(schema));
        cache.insert(kind, leaked);
        Some(leaked)
    }

    /// Validates items against the spec's schema of `kind`, recording each problem.
    fn check_items(&self, kind: Kind, path: &str, items: &[Value]) {
        let Some(schema) = self.item_schema(kind) else {
            self.violation(
                "-",
                "GET",
                path,
                "",
                format!("the spec has no schema for {}", kind.type_name()),
            );
            return;
        };
        match self.spec.validate_values(schema, items) {
            Ok(results) => {
                let violations: Vec<Violation> = results
                    .into_iter()
                    .enumerate()
                    .flat_map(|(i, problems)| {
                        problems.into_iter().map(move |(pointer, message)| {
                            Violation::new(
                                "delta",
                                Direction::Response,
                                "GET",
                                path,
                                &format!("/value/{i}{pointer}"),
                                message,
                            )
                        })
                    })
                    .collect();
                self.violations.record("microsoft-graph", violations);
            }
            Err(e) => self.violation(
                "delta",
                "GET",
                path,
                "",
                format!("the item schema does not compile: {e}"),
            ),
        }
    }

    /// Property names the spec's schema of `kind` declares (through `allOf` and `$ref`).
    fn properties(&self, kind: Kind) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(schema) = self.item_schema(kind) {
            collect_properties(schema, schema, &mut out, 0);
        }
        out
    }
}

fn collect_properties(schema: &Value, root: &Value, out: &mut Vec<String>, depth: usize) {
    if depth > 16 {
        return;
    }
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        // The converted schema's references are percent-encoded (`components%2Eschemas%2E...`).
        let reference = decode(reference);
        if let Some(target) = reference.strip_prefix('#').and_then(|p| root.pointer(p)) {
            collect_properties(target, root, out, depth + 1);
        }
    }
    if let Some(Value::Object(props)) = schema.get("properties") {
        out.extend(props.keys().cloned());
    }
    for key in ["allOf", "anyOf"] {
        if let Some(Value::Array(parts)) = schema.get(key) {
            for part in parts {
                collect_properties(part, root, out, depth + 1);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Microsoft Entra ID

/// `POST /{tenant}/oauth2/v2.0/token`: client credentials, or a refresh token.
async fn token(State(g): State<Arc<Graph>>, Path(tenant): Path<String>, body: Bytes) -> Response {
    let form: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let aad = |status: StatusCode, code: &str, description: &str| {
        (
            status,
            Json(json!({"error": code, "error_description": description, "error_codes": [], "timestamp": stamp(now_ms())})),
        )
            .into_response()
    };
    let path = format!("/{tenant}/oauth2/v2.0/token");
    if tenant != TENANT_ID {
        g.violation(
            "token",
            "POST",
            &path,
            "/path/tenant",
            format!("unknown tenant {tenant}"),
        );
        return aad(
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            "AADSTS90002: Tenant not found.",
        );
    }
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
    {
        return aad(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.",
        );
    }
    let grant = match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {
            let expected = format!("{RESOURCE}/.default");
            if form.get("scope") != Some(&expected) {
                g.violation(
                    "token",
                    "POST",
                    &path,
                    "/body/scope",
                    format!("the client-credentials scope is {expected}"),
                );
                return aad(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    "AADSTS1002012: The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.",
                );
            }
            Grant::App
        }
        Some("refresh_token") => {
            let known = form
                .get("refresh_token")
                .is_some_and(|t| lock(&g.refresh_tokens).contains(t));
            if !known {
                return aad(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "AADSTS70000: The provided value for the 'refresh_token' is not valid.",
                );
            }
            Grant::Delegated
        }
        other => {
            g.violation(
                "token",
                "POST",
                &path,
                "/body/grant_type",
                format!("grant {other:?} is neither client_credentials nor refresh_token"),
            );
            return aad(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "AADSTS70003: The app requested an unsupported grant type.",
            );
        }
    };
    let n = g.counter.fetch_add(1, Ordering::Relaxed);
    let access = format!("eyJ0eXAiOiJKV1QifQ.fake-graph.{n}");
    lock(&g.tokens).insert(access.clone(), grant);
    let mut answer = json!({
        "token_type": "Bearer",
        "expires_in": 3599,
        "ext_expires_in": 3599,
        "access_token": access,
    });
    if grant == Grant::Delegated {
        let refresh = format!("fake-graph-refresh-token-{n}");
        lock(&g.refresh_tokens).push(refresh.clone());
        answer["refresh_token"] = json!(refresh);
        answer["scope"] = json!("Mail.ReadWrite Mail.Send Calendars.ReadWrite Contacts.ReadWrite ChannelMessage.Send");
    }
    Json(answer).into_response()
}

// ---------------------------------------------------------------------------------------------
// The API

/// What a request names.
enum Route {
    MailFolder,
    Delta(Kind),
    Item(Kind, String),
    Create(Kind),
    SendMail,
    ChannelMessage {
        team: String,
        channel: String,
    },
    Subscriptions,
    Subscription(String),
    /// `PUT .../items/{parent}:/{name}:/content`.
    FileContent {
        parent: String,
        name: String,
    },
    /// `POST .../items/{parent}:/{name}:/createUploadSession`.
    CreateUploadSession {
        parent: String,
        name: String,
    },
}

impl Route {
    /// Whether the spec files describe the route (else it is checked against the docs here).
    fn in_spec(&self) -> bool {
        matches!(self, Route::MailFolder | Route::Item(..) | Route::Create(_))
    }
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

fn route(method: &Method, path: &str) -> Result<(Option<String>, Route), String> {
    let rest = path
        .strip_prefix(VERSION_PATH)
        .and_then(|r| r.strip_prefix('/'))
        .ok_or_else(|| format!("not under {VERSION_PATH}"))?;
    let segments: Vec<String> = rest.split('/').map(decode).collect();
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    let get = method == Method::GET;
    let post = method == Method::POST;
    let found = match s.as_slice() {
        ["users", user, "mailFolders", _folder] if get => (Some(user), Route::MailFolder),
        ["users", user, "mailFolders", _folder, "messages", "delta"] if get => {
            (Some(user), Route::Delta(Kind::Messages))
        }
        ["users", user, "calendarView", "delta"] if get => (Some(user), Route::Delta(Kind::Events)),
        ["users", user, "contactFolders", folder, "contacts", "delta"] if get => {
            if *folder != CONTACT_FOLDER {
                return Err(format!("no contact folder {folder}"));
            }
            (Some(user), Route::Delta(Kind::Contacts))
        }
        ["users", user, "messages", id] if get => (Some(user), Route::Item(Kind::Messages, (*id).to_owned())),
        ["users", user, "events", id] if get => (Some(user), Route::Item(Kind::Events, (*id).to_owned())),
        ["users", user, "contacts", id] if get => (Some(user), Route::Item(Kind::Contacts, (*id).to_owned())),
        ["users", user, "events"] if post => (Some(user), Route::Create(Kind::Events)),
        ["users", user, "contacts"] if post => (Some(user), Route::Create(Kind::Contacts)),
        ["users", user, "sendMail"] if post => (Some(user), Route::SendMail),
        ["users", user, "drive", "items", parent, name, "content"]
            if method == Method::PUT && parent.ends_with(':') && name.ends_with(':') =>
        {
            (
                Some(user),
                Route::FileContent {
                    parent: parent.trim_end_matches(':').to_owned(),
                    name: name.trim_end_matches(':').to_owned(),
                },
            )
        }
        ["users", user, "drive", "items", parent, name, "createUploadSession"]
            if post && parent.ends_with(':') && name.ends_with(':') =>
        {
            (
                Some(user),
                Route::CreateUploadSession {
                    parent: parent.trim_end_matches(':').to_owned(),
                    name: name.trim_end_matches(':').to_owned(),
                },
            )
        }
        ["subscriptions"] if get => (None, Route::Subscriptions),
        ["subscriptions", id] if get || method == Method::PATCH || method == Method::DELETE => {
            (None, Route::Subscription((*id).to_owned()))
        }
        ["teams", team, "channels", channel, "messages"] if post => (
            None,
            Route::ChannelMessage {
                team: (*team).to_owned(),
                channel: (*channel).to_owned(),
            },
        ),
        _ => return Err(format!("no operation {method} {path} in the fake or its documentation")),
    };
    Ok((found.0.map(|u| (*u).to_owned()), found.1))
}

/// An answer before it is sent (so the spec check can read its body).
struct Reply {
    status: StatusCode,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn json(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    fn error(status: StatusCode, code: &str, message: &str) -> Self {
        Self::json(status, error_body(code, message))
    }
}

async fn api(State(g): State<Arc<Graph>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_owned();
    let m = method.as_str().to_owned();
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let grant = bearer.and_then(|t| lock(&g.tokens).get(t).copied());
    let Some(grant) = grant else {
        return error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token is empty.",
        );
    };
    let (user, target) = match route(&method, &path) {
        Ok(r) => r,
        Err(e) => {
            g.violation("-", &m, &path, "/path", e.clone());
            return error(StatusCode::BAD_REQUEST, "BadRequest", &e);
        }
    };
    let query: Vec<(String, String)> = form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let parts = RequestParts {
        method: &m,
        path: &path,
        query: uri.query(),
        headers: headers
            .iter()
            .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str().to_owned(), v.to_owned())))
            .collect(),
        content_type: content_type.as_deref(),
        body: &body,
    };
    let checked = target.in_spec().then(|| g.spec.check_request(&parts));
    if let Some(checked) = &checked {
        g.violations.record("microsoft-graph", checked.violations.clone());
    }
    let reply = if user.as_deref().is_some_and(|u| u != USER) {
        Reply::error(
            StatusCode::NOT_FOUND,
            "ErrorInvalidUser",
            &format!("The requested user '{}' is invalid.", user.unwrap_or_default()),
        )
    } else {
        match target {
            Route::MailFolder => Reply::json(
                StatusCode::OK,
                json!({"@odata.context": format!("{}{VERSION_PATH}/$metadata#users('{USER}')/mailFolders(id,displayName)/$entity", g.base()), "id": "AAMkADinbox", "displayName": "Inbox"}),
            ),
            Route::Delta(kind) => delta(&g, kind, &path, &query, &headers),
            Route::Item(kind, id) => match g.item(kind, &id) {
                Some(item) => Reply::json(StatusCode::OK, shape(&item, select_of(&query).as_deref())),
                None => Reply::error(
                    StatusCode::NOT_FOUND,
                    "ErrorItemNotFound",
                    "The specified object was not found in the store.",
                ),
            },
            Route::Create(kind) => create(&g, kind, &m, &path, &body),
            Route::SendMail => send_mail(&g, &path, &body),
            Route::ChannelMessage { team, channel } => post_channel_message(&g, grant, &team, &channel, &path, &body),
            Route::Subscriptions => list_subscriptions(&g),
            Route::FileContent { parent, name } => put_file(&g, &parent, &name, body.to_vec()),
            Route::CreateUploadSession { parent, name } => create_upload_session(&g, &parent, &name, &path, &body),
            Route::Subscription(id) => subscription(&g, &method, &id, &path, &body),
        }
    };
    let bytes = reply.body.as_ref().map(|b| b.to_string()).unwrap_or_default();
    if let Some(matched) = checked.and_then(|c| c.matched) {
        let violations = g.spec.check_response(
            &matched,
            &parts,
            &ResponseParts {
                status: reply.status.as_u16(),
                content_type: reply.body.as_ref().map(|_| "application/json"),
                body: bytes.as_bytes(),
            },
        );
        g.violations.record("microsoft-graph", violations);
    }
    let mut response = if reply.body.is_some() {
        (reply.status, [("content-type", "application/json")], bytes).into_response()
    } else {
        reply.status.into_response()
    };
    for (name, value) in reply.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, v);
        }
    }
    response
}

fn select_of(query: &[(String, String)]) -> Option<Vec<String>> {
    query
        .iter()
        .find(|(k, _)| k == "$select")
        .map(|(_, v)| v.split(',').map(|s| s.trim().to_owned()).collect())
}

/// An item with only the selected properties (and its id, always).
fn shape(item: &Value, select: Option<&[String]>) -> Value {
    let Value::Object(map) = item else { return item.clone() };
    let mut out = Map::new();
    out.insert(
        "@odata.etag".into(),
        json!(format!(
            "W/\"{}\"",
            map.get("changeKey").and_then(Value::as_str).unwrap_or("")
        )),
    );
    for (k, v) in map {
        if k == "id" || select.is_none_or(|s| s.iter().any(|c| c == k)) {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// The page size `Prefer: odata.maxpagesize=N` asks for.
fn max_page_size(headers: &HeaderMap) -> Option<usize> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix("odata.maxpagesize="))
        .and_then(|n| n.trim().parse().ok())
}

fn delta(g: &Graph, kind: Kind, path: &str, query: &[(String, String)], headers: &HeaderMap) -> Reply {
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let page_size = max_page_size(headers);
    let round = if let Some(token) = param("$skiptoken") {
        match lock(&g.rounds).get(&token) {
            Some(r) if r.kind == kind => r.clone(),
            _ => return Reply::error(StatusCode::BAD_REQUEST, "BadRequest", "The skip token is not valid."),
        }
    } else if let Some(token) = param("$deltatoken") {
        match lock(&g.rounds).get(&token) {
            Some(r) if r.kind == kind => Round {
                since: r.upto,
                upto: g.version.load(Ordering::Relaxed),
                offset: 0,
                page_size: page_size.unwrap_or(r.page_size),
                ..r.clone()
            },
            _ => {
                return Reply::error(
                    StatusCode::GONE,
                    "SyncStateNotFound",
                    "The sync state generation is not found. Restart the sync from the beginning.",
                )
            }
        }
    } else {
        let window = if kind == Kind::Events {
            match (param("startDateTime"), param("endDateTime")) {
                (Some(start), Some(end)) => Some((start.chars().take(19).collect(), end.chars().take(19).collect())),
                _ => {
                    g.violation(
                        "delta",
                        "GET",
                        path,
                        "/query",
                        "a calendar view delta's first request gives startDateTime and endDateTime".into(),
                    );
                    return Reply::error(
                        StatusCode::BAD_REQUEST,
                        "ErrorInvalidParameter",
                        "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.",
                    );
                }
            }
        } else {
            None
        };
        Round {
            kind,
            since: 0,
            upto: g.version.load(Ordering::Relaxed),
            offset: 0,
            select: select_of(query),
            window,
            page_size: page_size.unwrap_or(DEFAULT_PAGE),
        }
    };
    let page_size = round.page_size.clamp(1, 1000);
    let mut changed: Vec<Value> = {
        let items = lock(&g.items);
        items
            .get(&kind)
            .map(|v| {
                v.iter()
                    .filter(|i| i.version > round.since && i.version <= round.upto)
                    .filter(|i| !(i.removed && round.since == 0))
                    .filter(|i| {
                        let Some((start, end)) = &round.window else { return true };
                        let at = i
                            .body
                            .get("start")
                            .and_then(|s| s.get("dateTime"))
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        let at: String = at.chars().take(19).collect();
                        i.removed || (at.as_str() >= start.as_str() && at.as_str() < end.as_str())
                    })
                    .map(|i| {
                        if i.removed {
                            json!({"@odata.type": kind.odata_type(), "id": i.id, "@removed": {"reason": "deleted"}})
                        } else {
                            shape(&Value::Object(i.body.clone()), round.select.as_deref())
                        }
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let total = changed.len();
    let end = (round.offset + page_size).min(total);
    let page: Vec<Value> = changed.drain(round.offset.min(end)..end).collect();
    let live: Vec<Value> = page.iter().filter(|i| i.get("@removed").is_none()).cloned().collect();
    g.check_items(kind, path, &live);
    let token = format!("{:x}{:x}", g.counter.fetch_add(1, Ordering::Relaxed), now_ms());
    let more = end < total;
    let mut body = json!({
        "@odata.context": format!("{}{VERSION_PATH}/$metadata#Collection({})", g.base(), kind.type_name()),
        "value": page,
    });
    let link = format!("{}{path}", g.base());
    if more {
        lock(&g.rounds).insert(
            token.clone(),
            Round {
                offset: end,
                ..round.clone()
            },
        );
        body["@odata.nextLink"] = json!(format!("{link}?$skiptoken={token}"));
    } else {
        lock(&g.rounds).insert(token.clone(), round.clone());
        body["@odata.deltaLink"] = json!(format!("{link}?$deltatoken={token}"));
    }
    let mut reply = Reply::json(StatusCode::OK, body);
    if page_size != DEFAULT_PAGE || max_page_size(headers).is_some() {
        reply
            .headers
            .push(("preference-applied", format!("odata.maxpagesize={page_size}")));
    }
    reply
}

fn parse_object(g: &Graph, method: &str, path: &str, body: &[u8]) -> Result<Map<String, Value>, Reply> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => {
            g.violation("-", method, path, "/body", "the body is a JSON object".into());
            Err(Reply::error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Empty Payload. JSON content expected.",
            ))
        }
    }
}

/// A property the type does not declare, as Graph's OData reader refuses it.
fn unknown_property(g: &Graph, kind: Kind, record: &Map<String, Value>) -> Option<Reply> {
    let known = g.properties(kind);
    let unknown = record.keys().find(|k| !k.starts_with('@') && !known.contains(k))?;
    Some(Reply::error(
        StatusCode::BAD_REQUEST,
        "RequestBodyRead",
        &format!(
            "The property '{unknown}' does not exist on type '{}'. Make sure to only use property names that are defined by the type or mark the type as open type.",
            kind.type_name()
        ),
    ))
}

fn create(g: &Graph, kind: Kind, method: &str, path: &str, body: &[u8]) -> Reply {
    let record = match parse_object(g, method, path, body) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    if let Some(refused) = unknown_property(g, kind, &record) {
        return refused;
    }
    if kind == Kind::Events {
        let at = |name: &str| {
            record
                .get(name)
                .and_then(|v| v.get("dateTime"))
                .and_then(Value::as_str)
                .map(|s| s.chars().take(19).collect::<String>())
        };
        match (at("start"), at("end")) {
            (Some(start), Some(end)) if start < end => {}
            (Some(_), Some(_)) => {
                return Reply::error(
                    StatusCode::BAD_REQUEST,
                    "ErrorInvalidRequest",
                    "The end of the event must be after its start.",
                )
            }
            _ => {
                return Reply::error(
                    StatusCode::BAD_REQUEST,
                    "ErrorPropertyValidationFailure",
                    "An event needs a start and an end.",
                )
            }
        }
    }
    let mut stored = g.store(kind, record);
    if kind == Kind::Contacts {
        let given = stored["givenName"].as_str().unwrap_or_default().to_owned();
        let surname = stored["surname"].as_str().unwrap_or_default().to_owned();
        if stored.get("displayName").is_none() {
            let name = format!("{given} {surname}").trim().to_owned();
            let id = stored["id"].as_str().unwrap_or_default().to_owned();
            stored = g.update(kind, &id, json!({"displayName": name})).unwrap_or(stored);
        }
    }
    let mut out = shape(&stored, None);
    out["@odata.context"] = json!(format!(
        "{}{VERSION_PATH}/$metadata#users('{USER}')/{}/$entity",
        g.base(),
        match kind {
            Kind::Messages => "messages",
            Kind::Events => "events",
            Kind::Contacts => "contacts",
        }
    ));
    Reply::json(StatusCode::CREATED, out)
}

fn send_mail(g: &Graph, path: &str, body: &[u8]) -> Reply {
    let envelope = match parse_object(g, "POST", path, body) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    for key in envelope.keys() {
        if key != "message" && key != "saveToSentItems" {
            g.violation(
                "sendMail",
                "POST",
                path,
                &format!("/body/{key}"),
                "sendMail takes message and saveToSentItems".into(),
            );
        }
    }
    let Some(Value::Object(message)) = envelope.get("message") else {
        g.violation(
            "sendMail",
            "POST",
            path,
            "/body/message",
            "the message is an object".into(),
        );
        return Reply::error(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidParameter",
            "The message is required.",
        );
    };
    if let Some(refused) = unknown_property(g, Kind::Messages, message) {
        return refused;
    }
    g.check_items(Kind::Messages, path, &[Value::Object(message.clone())]);
    let recipients: Vec<&Value> = ["toRecipients", "ccRecipients", "bccRecipients"]
        .iter()
        .filter_map(|k| message.get(*k).and_then(Value::as_array))
        .flatten()
        .collect();
    let valid = |r: &&Value| {
        r.pointer("/emailAddress/address")
            .and_then(Value::as_str)
            .is_some_and(|a| a.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.')))
    };
    if recipients.is_empty() || !recipients.iter().all(valid) {
        return Reply::error(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidRecipients",
            "At least one recipient is not valid., Recipient is not resolved. All recipients must be resolved before a message can be submitted.",
        );
    }
    if envelope.get("saveToSentItems").and_then(Value::as_bool).unwrap_or(true) {
        let mut saved = message.clone();
        saved.insert("id".into(), json!(g.new_id("sent")));
        saved.insert("sentDateTime".into(), json!(stamp(now_ms())));
        lock(&g.sent).push(Value::Object(saved));
    }
    Reply {
        status: StatusCode::ACCEPTED,
        body: None,
        headers: Vec::new(),
    }
}

fn post_channel_message(g: &Graph, grant: Grant, team: &str, channel: &str, path: &str, body: &[u8]) -> Reply {
    if team != TEAM_ID || channel != CHANNEL_ID {
        return Reply::error(StatusCode::NOT_FOUND, "NotFound", "Team or channel not found.");
    }
    if grant == Grant::App {
        return Reply::error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "Unauthorized: Application permissions are only supported for migration into Teams.",
        );
    }
    let record = match parse_object(g, "POST", path, body) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    const KNOWN: &[&str] = &[
        "body",
        "subject",
        "importance",
        "mentions",
        "attachments",
        "hostedContents",
    ];
    if let Some(key) = record.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        g.violation(
            "chatMessage",
            "POST",
            path,
            &format!("/body/{key}"),
            format!("`{key}` is not a property a new chatMessage takes"),
        );
    }
    let content = record
        .get("body")
        .and_then(|b| b.get("content"))
        .and_then(Value::as_str);
    let Some(content) = content.filter(|c| !c.trim().is_empty()) else {
        return Reply::error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Message body content cannot be empty.",
        );
    };
    let content_type = record
        .get("body")
        .and_then(|b| b.get("contentType"))
        .and_then(Value::as_str)
        .unwrap_or("text");
    if !["text", "html"].contains(&content_type) {
        return Reply::error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "The body's contentType is text or html.",
        );
    }
    let id = format!(
        "{}",
        now_ms() * 1000 + i64::try_from(g.counter.fetch_add(1, Ordering::Relaxed) % 1000).unwrap_or(0)
    );
    let message = json!({
        "@odata.context": format!("{}{VERSION_PATH}/$metadata#teams('{team}')/channels('{channel}')/messages/$entity", g.base()),
        "id": id,
        "messageType": "message",
        "createdDateTime": stamp(now_ms()),
        "subject": record.get("subject").cloned().unwrap_or(Value::Null),
        "importance": record.get("importance").cloned().unwrap_or(json!("normal")),
        "from": {"user": {"id": "8f4e3a41-6c2b-4e5e-9d1f-2b0c3a9d8e02", "displayName": "Ada", "userIdentityType": "aadUser"}},
        "body": {"contentType": content_type, "content": content},
        "channelIdentity": {"teamId": team, "channelId": channel},
    });
    lock(&g.channel_messages).push(message.clone());
    Reply::json(StatusCode::CREATED, message)
}

// ---------------------------------------------------------------------------------------------
// Change-notification subscriptions

/// Drops the subscriptions whose expiry has passed (Graph deletes them).
fn expire(subs: &mut BTreeMap<String, Subscription>) {
    let now = now_ms();
    subs.retain(|_, s| s.expires_ms > now);
}

fn not_found_subscription() -> Reply {
    Reply::error(StatusCode::NOT_FOUND, "ResourceNotFound", "The object was not found.")
}

fn list_subscriptions(g: &Graph) -> Reply {
    let mut subs = lock(&g.subscriptions);
    expire(&mut subs);
    let value: Vec<Value> = subs.values().map(|s| Value::Object(s.body.clone())).collect();
    Reply::json(
        StatusCode::OK,
        json!({"@odata.context": format!("{}{VERSION_PATH}/$metadata#subscriptions", g.base()), "value": value}),
    )
}

fn subscription(g: &Graph, method: &Method, id: &str, path: &str, body: &[u8]) -> Reply {
    let mut subs = lock(&g.subscriptions);
    expire(&mut subs);
    if *method == Method::DELETE {
        return match subs.remove(id) {
            Some(_) => Reply {
                status: StatusCode::NO_CONTENT,
                body: None,
                headers: Vec::new(),
            },
            None => not_found_subscription(),
        };
    }
    let Some(sub) = subs.get_mut(id) else {
        return not_found_subscription();
    };
    if *method == Method::GET {
        return Reply::json(StatusCode::OK, Value::Object(sub.body.clone()));
    }
    let changes = match parse_object(g, "PATCH", path, body) {
        Ok(c) => c,
        Err(reply) => return reply,
    };
    if let Some(key) = changes
        .keys()
        .find(|k| k.as_str() != "expirationDateTime" && k.as_str() != "notificationUrl")
    {
        g.violation(
            "updateSubscription",
            "PATCH",
            path,
            &format!("/body/{key}"),
            "an update takes only expirationDateTime and notificationUrl".into(),
        );
        return Reply::error(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            &format!("The property '{key}' cannot be updated."),
        );
    }
    if sub.refuse_updates {
        return Reply::error(
            StatusCode::FORBIDDEN,
            "ExtensionError",
            "Operation: Update; Exception: [Status Code: Forbidden; Reason: Access is denied to the requested resource.]",
        );
    }
    if let Some(text) = changes.get("expirationDateTime") {
        let Some(at) = text.as_str().and_then(crate::timestamp::parse_ms) else {
            g.violation(
                "updateSubscription",
                "PATCH",
                path,
                "/body/expirationDateTime",
                "expirationDateTime is a DateTimeOffset string".into(),
            );
            return Reply::error(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                "The expirationDateTime is not a valid date-time.",
            );
        };
        let resource = sub.body.get("resource").and_then(Value::as_str).unwrap_or("");
        let max_minutes = max_lifetime_minutes(resource);
        let now = now_ms();
        if at <= now {
            return Reply::error(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                "Subscription expiration must be in the future.",
            );
        }
        if at > now + max_minutes * 60_000 {
            return Reply::error(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                &format!("Subscription expiration can only be {max_minutes} minutes in the future."),
            );
        }
        sub.expires_ms = at;
        sub.body.insert("expirationDateTime".into(), json!(iso_ms(at)));
    }
    if let Some(url) = changes.get("notificationUrl") {
        sub.body.insert("notificationUrl".into(), url.clone());
    }
    let mut out = sub.body.clone();
    out.insert(
        "@odata.context".into(),
        json!(format!("{}{VERSION_PATH}/$metadata#subscriptions/$entity", g.base())),
    );
    Reply::json(StatusCode::OK, Value::Object(out))
}

// ---------------------------------------------------------------------------------------------
// OneDrive / SharePoint files

/// A name OneDrive refuses ("Restrictions and limitations in OneDrive and SharePoint").
fn invalid_name(name: &str) -> Option<Reply> {
    let bad = name.is_empty() || name.chars().any(|c| "\"*:<>?/\\|".contains(c)) || name.ends_with('.');
    bad.then(|| {
        Reply::error(
            StatusCode::BAD_REQUEST,
            "invalidRequest",
            "The provided name contains invalid characters.",
        )
    })
}

/// Stores a file (replacing one of the same name in the folder): the driveItem and whether
/// it was new.
fn store_file(g: &Graph, parent: &str, name: &str, bytes: Vec<u8>) -> (Value, bool) {
    let mut files = lock(&g.files);
    let existing = files
        .values()
        .find(|f| f.parent == parent && f.name == name)
        .map(|f| f.id.clone());
    let created = existing.is_none();
    let id = existing.unwrap_or_else(|| format!("01BYE5RZ{:018}", g.counter.fetch_add(1, Ordering::Relaxed)));
    let size = bytes.len();
    files.insert(
        id.clone(),
        DriveFile {
            id: id.clone(),
            parent: parent.to_owned(),
            name: name.to_owned(),
            bytes,
        },
    );
    let now = stamp(now_ms());
    let item = json!({
        "@odata.context": format!("{}{VERSION_PATH}/$metadata#users('{USER}')/drive/items/$entity", g.base()),
        "id": id,
        "name": name,
        "size": size,
        "createdDateTime": now,
        "lastModifiedDateTime": now,
        "file": {"mimeType": "application/octet-stream"},
        "parentReference": {"driveType": "business", "id": parent},
    });
    (item, created)
}

fn put_file(g: &Graph, parent: &str, name: &str, bytes: Vec<u8>) -> Reply {
    if let Some(refused) = invalid_name(name) {
        return refused;
    }
    let (item, created) = store_file(g, parent, name, bytes);
    Reply::json(if created { StatusCode::CREATED } else { StatusCode::OK }, item)
}

fn create_upload_session(g: &Graph, parent: &str, name: &str, path: &str, body: &[u8]) -> Reply {
    if let Some(refused) = invalid_name(name) {
        return refused;
    }
    // The body is optional ("item" with conflictBehavior, name, description, fileSize).
    if !body.is_empty() {
        let envelope = match parse_object(g, "POST", path, body) {
            Ok(e) => e,
            Err(reply) => return reply,
        };
        if let Some(key) = envelope
            .keys()
            .find(|k| k.as_str() != "item" && k.as_str() != "deferCommit")
        {
            g.violation(
                "createUploadSession",
                "POST",
                path,
                &format!("/body/{key}"),
                "createUploadSession takes item and deferCommit".into(),
            );
        }
    }
    let id = format!("{:x}{:x}", g.counter.fetch_add(1, Ordering::Relaxed), now_ms());
    let expires_ms = now_ms() + 15 * 60_000;
    lock(&g.upload_sessions).insert(
        id.clone(),
        UploadSession {
            parent: parent.to_owned(),
            name: name.to_owned(),
            received: Vec::new(),
            expires_ms,
        },
    );
    Reply::json(
        StatusCode::OK,
        json!({
            "@odata.context": format!("{}{VERSION_PATH}/$metadata#microsoft.graph.uploadSession", g.base()),
            "uploadUrl": format!("{}/upload/{id}?tempauth=fake-tempauth-{id}", g.base()),
            "expirationDateTime": iso_ms(expires_ms),
            "nextExpectedRanges": ["0-"],
        }),
    )
}

/// `PUT {uploadUrl}`: one fragment of an upload session.
async fn upload_fragment(
    State(g): State<Arc<Graph>>,
    Path(session): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/upload/{session}");
    let answer = |reply: Reply| {
        let bytes = reply.body.as_ref().map(|b| b.to_string()).unwrap_or_default();
        (reply.status, [("content-type", "application/json")], bytes).into_response()
    };
    if headers.contains_key("authorization") {
        g.violation(
            "uploadFragment",
            "PUT",
            &path,
            "/headers/authorization",
            "the upload URL is pre-authorised: a fragment carries no Authorization header".into(),
        );
        return answer(Reply::error(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Including the Authorization header on an upload URL is not supported.",
        ));
    }
    let range = headers
        .get("content-range")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes "))
        .and_then(|v| {
            let (span, total) = v.split_once('/')?;
            let (first, last) = span.split_once('-')?;
            Some((
                first.parse::<usize>().ok()?,
                last.parse::<usize>().ok()?,
                total.parse::<usize>().ok()?,
            ))
        });
    let Some((first, last, total)) = range.filter(|(f, l, t)| f <= l && l < t) else {
        g.violation(
            "uploadFragment",
            "PUT",
            &path,
            "/headers/content-range",
            "a fragment names its bytes: Content-Range: bytes a-b/size".into(),
        );
        return answer(Reply::error(
            StatusCode::BAD_REQUEST,
            "invalidRequest",
            "The Content-Range header is missing or malformed.",
        ));
    };
    let length = last - first + 1;
    if body.len() != length {
        g.violation(
            "uploadFragment",
            "PUT",
            &path,
            "/body",
            format!("the fragment holds {} bytes, its Content-Range {length}", body.len()),
        );
        return answer(Reply::error(
            StatusCode::BAD_REQUEST,
            "invalidRequest",
            "The fragment's length does not match its Content-Range.",
        ));
    }
    let is_last = last + 1 == total;
    if length > MAX_FRAGMENT || (!is_last && length % FRAGMENT_MULTIPLE != 0) {
        g.violation(
            "uploadFragment",
            "PUT",
            &path,
            "/headers/content-range",
            format!(
                "a fragment before the last is a multiple of 320 KiB and at most 60 MiB; this one is {length} bytes"
            ),
        );
        return answer(Reply::error(
            StatusCode::BAD_REQUEST,
            "invalidRequest",
            "Fragments must be a multiple of 320 KiB (327,680 bytes), at most 60 MiB.",
        ));
    }
    let mut sessions = lock(&g.upload_sessions);
    let now = now_ms();
    sessions.retain(|_, s| s.expires_ms > now);
    let Some(upload) = sessions.get_mut(&session) else {
        return answer(Reply::error(
            StatusCode::NOT_FOUND,
            "itemNotFound",
            "The upload session was not found.",
        ));
    };
    if first != upload.received.len() {
        let expected = upload.received.len();
        let mut reply = error_body("invalidRange", "The fragment does not start where the upload left off.");
        reply["nextExpectedRanges"] = json!([format!("{expected}-")]);
        return answer(Reply::json(StatusCode::RANGE_NOT_SATISFIABLE, reply));
    }
    upload.received.extend_from_slice(&body);
    if !is_last {
        let next = upload.received.len();
        let expires = iso_ms(upload.expires_ms);
        return answer(Reply::json(
            StatusCode::ACCEPTED,
            json!({"expirationDateTime": expires, "nextExpectedRanges": [format!("{next}-{}", total - 1)]}),
        ));
    }
    let Some(done) = sessions.remove(&session) else {
        return answer(Reply::error(
            StatusCode::NOT_FOUND,
            "itemNotFound",
            "The upload session was not found.",
        ));
    };
    drop(sessions);
    let (item, _) = store_file(&g, &done.parent, &done.name, done.received);
    answer(Reply::json(StatusCode::CREATED, item))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_item_schemas_declare_inherited_and_own_properties() {
        let fake = start(GraphConfig {
            messages: 0,
            events: 0,
            contacts: 0,
            ..GraphConfig::default()
        });
        let props = fake.properties(Kind::Messages);
        for name in ["id", "subject", "body", "toRecipients", "lastModifiedDateTime"] {
            assert!(props.iter().any(|p| p == name), "{name} in {props:?}");
        }
        assert!(!props.iter().any(|p| p == "favouriteColour"));
        let props = fake.properties(Kind::Contacts);
        for name in ["id", "givenName", "emailAddresses", "parentFolderId", "changeKey"] {
            assert!(props.iter().any(|p| p == name), "{name} in {props:?}");
        }
    }
}
