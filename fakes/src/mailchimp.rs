//! Fake Mailchimp Marketing API v3: one account's audiences (lists) and members, sent
//! campaigns and their email activity, member upserts one by one and in bulk.
//!
//! Mailchimp's published description is over 4 MiB and not kept in `../shared/specs/`. The
//! fake follows mailchimp.com/developer/marketing/api's reference pages, and records a
//! violation (`violations`) for any request outside the shapes they document:
//!
//! * "Ping" (`GET /ping`): `{"health_status": "Everything's Chimpy!"}`.
//! * Lists take `count` (at most 1000, default 10) and `offset`, plus `fields` /
//!   `exclude_fields`, and answer `{"<items>": [...], "total_items": n, "_links": [...]}`:
//!   "Get lists info" (`GET /lists`), "List members info" (`GET /lists/{list_id}/members`:
//!   `status`, `since_last_changed` (ISO 8601), `sort_field` in `timestamp_opt`,
//!   `timestamp_signup`, `last_changed`, `sort_dir` `ASC|DESC`), "List campaigns"
//!   (`GET /campaigns`: `status`, `sort_field` `create_time|send_time`, `sort_dir`) and "List
//!   email activity" (`GET /reports/{campaign_id}/email-activity`: `since`, one entry per
//!   recipient `{campaign_id, list_id, list_is_active, email_id, email_address, activity:
//!   [{action, type, timestamp, url, ip}]}`).
//! * "Get list member info" (`GET /lists/{list_id}/members/{subscriber_hash}`): the hash is the
//!   MD5 of the lower-cased email; the endpoint also takes the email address itself.
//! * "Add or update list member" (`PUT /lists/{list_id}/members/{subscriber_hash}`): the body's
//!   `email_address` must hash to the path's hash; a new member needs `status_if_new` (or
//!   `status`): `subscribed`, `unsubscribed`, `cleaned`, `pending` or `transactional`. A fake
//!   looking address (no `@`, no dot in the domain, or `example.invalid`) is refused:
//!   400 `{"title": "Invalid Resource", "detail": "<email> looks fake or invalid, please enter a
//!   real email address."}`.
//! * "Update list member" (`PATCH /lists/{list_id}/members/{subscriber_hash}`): the member's
//!   fields (not `status_if_new`); an unknown member is 404.
//! * "Archive list member" (`DELETE /lists/{list_id}/members/{subscriber_hash}`): 204; the
//!   member stays readable with status `archived` until it is added again.
//! * "Search members" (`GET /search-members?query=&list_id=`): `query` is an email or a first
//!   or last name; `{"exact_matches": {"members", "total_items"}, "full_search": {...}}`.
//! * "Batch subscribe or unsubscribe" (`POST /lists/{list_id}`, `{"members": [...],
//!   "update_existing": true}`, at most 500 members): `{"new_members", "updated_members",
//!   "errors": [{"email_address", "error", "error_code"}], "total_created", "total_updated",
//!   "error_count"}`; without `update_existing` an existing member is an error
//!   (`ERROR_CONTACT_EXISTS`).
//! * Errors are problem documents `{"type", "title", "status", "detail", "instance"}`; a bad
//!   key is 401 "API Key Invalid". Authentication: HTTP basic with any user name and the API key,
//!   or `Authorization: Bearer <OAuth token>`.
//!
//! Assumed, not documented: `since_last_changed` and `since` include the given second; ids
//! other than subscriber hashes are the fake's own.

#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use md5::{Digest, Md5};
use serde_json::{json, Map, Value};

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::spec::{Direction, Violation};
use crate::timestamp::now_ms;

/// The API key the fake accepts (basic auth, any user name).
pub const API_KEY: &str = "0123456789abcdef0123456789abcdef-us21";
/// The OAuth access token the fake accepts.
pub const TOKEN: &str = "mc-fake-oauth-token-5d1c2b9a7e";
/// The audience seeded.
pub const LIST_ID: &str = "a6b5da1054";
/// Where the API lives on the server, as Mailchimp's (`https://<dc>.api.mailchimp.com/3.0`).
pub const API_PATH: &str = "/3.0";

const STATUSES: &[&str] = &["subscribed", "unsubscribed", "cleaned", "pending", "transactional"];

/// How the fake behaves.
#[derive(Debug, Clone, Default)]
pub struct MailchimpConfig {
    /// Members seeded in the audience, changed a minute apart, the newest two minutes ago.
    pub members: usize,
    /// Sent campaigns seeded.
    pub campaigns: usize,
    /// Recipients with activity per campaign (the first members), their opens a minute apart.
    pub recipients: usize,
    pub faults: FaultConfig,
}

/// The fake account.
pub struct Mailchimp {
    /// Members by subscriber hash.
    members: Mutex<BTreeMap<String, Value>>,
    /// Campaigns by id, in send order.
    campaigns: Mutex<Vec<Value>>,
    /// Email activity by campaign id, then email id.
    activity: Mutex<BTreeMap<String, BTreeMap<String, Value>>>,
    next_web_id: Mutex<u64>,
    /// Members added or updated through the API so far.
    writes: std::sync::atomic::AtomicU64,
    violations: Arc<crate::spec::ViolationLog>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The subscriber hash: MD5 of the lower-cased email, hex.
pub fn subscriber_hash(email: &str) -> String {
    hex::encode(Md5::digest(email.trim().to_lowercase().as_bytes()))
}

/// Mailchimp's time format: whole seconds, `+00:00`.
fn mc_time(ms: i64) -> String {
    crate::timestamp::iso_ms(ms - ms.rem_euclid(1000)).replace(".000Z", "+00:00")
}

fn ms_of(value: &Value) -> i64 {
    value.as_str().and_then(crate::timestamp::parse_ms).unwrap_or(0)
}

/// Starts the fake on a free loopback port.
///
/// # Panics
/// When a loopback port cannot be bound.
pub fn start(config: MailchimpConfig) -> FakeHandle<Mailchimp> {
    let violations: Arc<crate::spec::ViolationLog> = Default::default();
    let state = Arc::new(Mailchimp {
        members: Mutex::new(BTreeMap::new()),
        campaigns: Mutex::new(Vec::new()),
        activity: Mutex::new(BTreeMap::new()),
        next_web_id: Mutex::new(100_000),
        writes: Default::default(),
        violations: violations.clone(),
    });
    state.seed(&config);
    let routes = state.clone();
    server::expect_started(
        "mailchimp",
        server::spawn(
            Spec {
                name: "mailchimp",
                port: 0,
                state,
                faults: config.faults,
                check: None,
                violations,
                respond: fault,
            },
            move |_| {
                let api = Router::new()
                    .route("/ping", get(ping))
                    .route("/lists", get(lists))
                    .route("/lists/{list_id}", get(list).post(batch_subscribe))
                    .route("/lists/{list_id}/members", get(members))
                    .route(
                        "/lists/{list_id}/members/{hash}",
                        get(member)
                            .put(upsert_member)
                            .patch(update_member)
                            .delete(archive_member),
                    )
                    .route("/search-members", get(search_members))
                    .route("/campaigns", get(campaigns))
                    .route("/campaigns/{id}", get(campaign))
                    .route("/reports/{id}/email-activity", get(email_activity))
                    .with_state(routes);
                Router::new().nest(API_PATH, api)
            },
        ),
    )
}

/// The API's base URL on a running fake (`http://127.0.0.1:{port}/3.0`).
pub fn api_url(handle: &FakeHandle<Mailchimp>) -> String {
    format!("{}{API_PATH}", handle.base_url)
}

impl Mailchimp {
    fn violation(&self, method: &str, path: &str, pointer: &str, message: impl Into<String>) {
        self.violations.record(
            "mailchimp",
            vec![Violation::new("-", Direction::Request, method, path, pointer, message)],
        );
    }

    fn new_member(&self, email: &str, status: &str, at: i64) -> Value {
        let web_id = {
            let mut next = lock(&self.next_web_id);
            *next += 1;
            *next
        };
        let hash = subscriber_hash(email);
        json!({
            "id": hash, "email_address": email, "unique_email_id": &hash[..10],
            "contact_id": format!("c{web_id}"), "full_name": "", "web_id": web_id,
            "email_type": "html", "status": status,
            "merge_fields": {"FNAME": "", "LNAME": "", "ADDRESS": "", "PHONE": ""},
            "stats": {"avg_open_rate": 0, "avg_click_rate": 0},
            "ip_signup": "", "timestamp_signup": "", "ip_opt": "", "timestamp_opt": mc_time(at),
            "member_rating": 2, "last_changed": mc_time(at), "language": "", "vip": false,
            "email_client": "", "location": {"latitude": 0, "longitude": 0, "gmtoff": 0, "dstoff": 0,
            "country_code": "", "timezone": "", "region": ""},
            "source": "API - Generic", "tags_count": 0, "tags": [], "list_id": LIST_ID, "_links": [],
        })
    }

    fn seed(&self, config: &MailchimpConfig) {
        let now = now_ms();
        let mut members = lock(&self.members);
        for n in 1..=config.members {
            let at = now - 60_000 * (config.members + 1 - n) as i64 - 60_000;
            let email = format!("member{n}@example.com");
            let mut member = self.new_member(&email, if n % 7 == 0 { "unsubscribed" } else { "subscribed" }, at);
            member["merge_fields"]["FNAME"] = json!(format!("Member{n}"));
            member["merge_fields"]["LNAME"] = json!("Seeded");
            member["full_name"] = json!(format!("Member{n} Seeded"));
            members.insert(subscriber_hash(&email), member);
        }
        let emails: Vec<String> = members
            .values()
            .map(|m| m["email_address"].as_str().unwrap_or_default().to_owned())
            .collect();
        drop(members);
        let total = (config.campaigns * config.recipients) as i64;
        let mut campaigns = lock(&self.campaigns);
        let mut activity = lock(&self.activity);
        let mut k = 0_i64;
        for c in 1..=config.campaigns {
            let id = format!("cmp{c:07}");
            let sent = now - 60_000 * (total + 10) - 3_600_000 * (config.campaigns + 1 - c) as i64;
            campaigns.push(json!({
                "id": id, "web_id": 9000 + c, "type": "regular", "create_time": mc_time(sent - 3_600_000),
                "archive_url": format!("https://eepurl.com/{id}"), "status": "sent", "emails_sent": config.recipients,
                "send_time": mc_time(sent), "content_type": "template",
                "recipients": {"list_id": LIST_ID, "list_is_active": true, "list_name": "Newsletter", "recipient_count": config.recipients},
                "settings": {"subject_line": format!("Issue {c}"), "title": format!("Issue {c}"), "from_name": "Switchyard", "reply_to": "news@example.com"},
                "_links": [],
            }));
            let per = activity.entry(id.clone()).or_default();
            for email in emails.iter().take(config.recipients) {
                k += 1;
                let at = now - 60_000 * (total + 2 - k);
                let email_id = subscriber_hash(email);
                per.insert(
                    email_id.clone(),
                    json!({
                        "campaign_id": id, "list_id": LIST_ID, "list_is_active": true,
                        "email_id": email_id, "email_address": email,
                        "activity": [{"action": "open", "type": "", "timestamp": mc_time(at), "url": "", "ip": "203.0.113.7"}],
                        "_links": [],
                    }),
                );
            }
        }
    }

    pub fn member_json(&self, hash: &str) -> Option<Value> {
        lock(&self.members).get(hash).cloned()
    }

    pub fn member_count(&self) -> usize {
        lock(&self.members).len()
    }

    pub fn campaign_json(&self, id: &str) -> Option<Value> {
        lock(&self.campaigns).iter().find(|c| c["id"] == id).cloned()
    }

    /// One recipient's activity entry by `{campaign_id}:{email_id}`.
    pub fn activity_json(&self, key: &str) -> Option<Value> {
        let (campaign, email) = key.split_once(':')?;
        lock(&self.activity).get(campaign)?.get(email).cloned()
    }

    pub fn activity_count(&self) -> usize {
        lock(&self.activity).values().map(BTreeMap::len).sum()
    }

    /// Changes a member's name as someone editing the audience would (`last_changed` now).
    pub fn rename_member(&self, hash: &str, first: &str) -> Option<Value> {
        let mut members = lock(&self.members);
        let member = members.get_mut(hash)?;
        member["merge_fields"]["FNAME"] = json!(first);
        member["last_changed"] = json!(mc_time(now_ms()));
        Some(member.clone())
    }

    /// Sets a member's status as the member would through a signup or unsubscribe form
    /// (`last_changed` now); `None` for an unknown member or status.
    pub fn set_status(&self, hash: &str, status: &str) -> Option<Value> {
        if !STATUSES.contains(&status) {
            return None;
        }
        let mut members = lock(&self.members);
        let member = members.get_mut(hash)?;
        member["status"] = json!(status);
        member["last_changed"] = json!(mc_time(now_ms()));
        Some(member.clone())
    }

    /// Adds a member as someone signing up through a form would (not through the API, so not
    /// counted in [`Self::writes`]).
    /// `merges` are merge fields (`FNAME`, `LNAME`, `PHONE`, or the audience's own, such as
    /// `COMPANY`).
    pub fn add_member(&self, email: &str, merges: &[(&str, &str)]) -> Value {
        let mut member = self.new_member(email, "subscribed", now_ms());
        for (tag, value) in merges {
            member["merge_fields"][*tag] = json!(value);
        }
        let name = |tag: &str| member["merge_fields"][tag].as_str().unwrap_or_default().to_owned();
        member["full_name"] = json!(format!("{} {}", name("FNAME"), name("LNAME")).trim());
        lock(&self.members).insert(subscriber_hash(email), member.clone());
        member
    }

    /// Archives a member as someone would in the app (not through the API, so not counted in
    /// [`Self::writes`]); `None` for an unknown member.
    pub fn archive(&self, hash: &str) -> Option<Value> {
        let mut members = lock(&self.members);
        let member = members.get_mut(hash)?;
        member["status"] = json!("archived");
        member["last_changed"] = json!(mc_time(now_ms()));
        Some(member.clone())
    }

    /// Members added, updated or archived through the API (one upsert, or one member of a batch).
    pub fn writes(&self) -> u64 {
        self.writes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Records a click by a recipient of a campaign, now.
    pub fn click(&self, key: &str, url: &str) -> Option<Value> {
        let (campaign, email) = key.split_once(':')?;
        let mut activity = lock(&self.activity);
        let entry = activity.get_mut(campaign)?.get_mut(email)?;
        if let Some(items) = entry["activity"].as_array_mut() {
            items.push(
                json!({"action": "click", "type": "", "timestamp": mc_time(now_ms()), "url": url, "ip": "203.0.113.7"}),
            );
        }
        Some(entry.clone())
    }

    /// Requests that broke the documented contract.
    pub fn violations(&self) -> Vec<Violation> {
        self.violations.all()
    }
}

fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    (
        status,
        [("content-type", "application/problem+json; charset=utf-8")],
        Json(json!({
            "type": "https://mailchimp.com/developer/marketing/docs/errors/",
            "title": title, "status": status.as_u16(), "detail": detail,
            "instance": "995c5cb0-3280-4a6e-808b-3b096d0bb219",
        })),
    )
        .into_response()
}

fn not_found() -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "Resource Not Found",
        "The requested resource could not be found.",
    )
}

fn fault(status: StatusCode) -> Response {
    match status {
        StatusCode::TOO_MANY_REQUESTS => problem(
            status,
            "Too Many Requests",
            "You have exceeded the limit of 10 simultaneous connections.",
        ),
        _ => problem(
            status,
            "Internal Server Error",
            "An unexpected internal error has occurred.",
        ),
    }
}

fn authorized(headers: &HeaderMap) -> Option<Response> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let basic_ok = auth
        .strip_prefix("Basic ")
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|pair| pair.split_once(':').map(|(_, key)| key == API_KEY))
        .unwrap_or(false);
    let ok = basic_ok || auth.strip_prefix("Bearer ").map(str::trim) == Some(TOKEN);
    (!ok).then(|| {
        problem(
            StatusCode::UNAUTHORIZED,
            "API Key Invalid",
            "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
        )
    })
}

type Params = Query<BTreeMap<String, String>>;

/// Checks parameter names and `count`/`offset`: `(count, offset)`.
fn paging(
    mc: &Mailchimp,
    path: &str,
    query: &BTreeMap<String, String>,
    known: &[&str],
) -> Result<(usize, usize), Response> {
    for name in query.keys() {
        if !known.contains(&name.as_str()) && !["count", "offset", "fields", "exclude_fields"].contains(&name.as_str())
        {
            mc.violation("GET", path, &format!("/query/{name}"), "not a parameter of this list");
        }
    }
    let count = match query.get("count").map(|c| c.parse::<usize>()) {
        None => 10,
        Some(Ok(n)) if n <= 1000 => n,
        _ => {
            mc.violation("GET", path, "/query/count", "count is at most 1000");
            return Err(problem(
                StatusCode::BAD_REQUEST,
                "Invalid Resource",
                "count: must be at most 1000",
            ));
        }
    };
    let offset = match query.get("offset").map(|o| o.parse::<usize>()) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return Err(problem(
                StatusCode::BAD_REQUEST,
                "Invalid Resource",
                "offset: not a number",
            ))
        }
    };
    Ok((count, offset))
}

/// One page in Mailchimp's list envelope.
fn page(key: &str, records: Vec<Value>, count: usize, offset: usize, extra: &[(&str, Value)]) -> Response {
    let total = records.len();
    let items: Vec<Value> = records.into_iter().skip(offset).take(count).collect();
    let mut body = Map::new();
    body.insert(key.into(), json!(items));
    for (k, v) in extra {
        body.insert((*k).into(), v.clone());
    }
    body.insert("total_items".into(), json!(total));
    body.insert("_links".into(), json!([]));
    Json(Value::Object(body)).into_response()
}

/// An ISO 8601 time parameter, as milliseconds.
fn time_param(
    mc: &Mailchimp,
    path: &str,
    query: &BTreeMap<String, String>,
    name: &str,
) -> Result<Option<i64>, Response> {
    match query.get(name) {
        None => Ok(None),
        Some(text) => match crate::timestamp::parse_ms(text) {
            Some(ms) if text.contains('T') => Ok(Some(ms)),
            _ => {
                mc.violation("GET", path, &format!("/query/{name}"), "not an ISO 8601 time");
                Err(problem(
                    StatusCode::BAD_REQUEST,
                    "Invalid Resource",
                    &format!("{name}: not a valid time"),
                ))
            }
        },
    }
}

/// Sorts by `sort_field` (one of `allowed`) in `sort_dir`.
fn sort(
    mc: &Mailchimp,
    path: &str,
    query: &BTreeMap<String, String>,
    allowed: &[&str],
    records: &mut [Value],
) -> Result<(), Response> {
    let Some(field) = query.get("sort_field") else {
        return Ok(());
    };
    if !allowed.contains(&field.as_str()) {
        mc.violation("GET", path, "/query/sort_field", "not a sort field of this list");
        return Err(problem(
            StatusCode::BAD_REQUEST,
            "Invalid Resource",
            "sort_field: invalid",
        ));
    }
    let dir = query.get("sort_dir").map_or("ASC", String::as_str);
    if !["ASC", "DESC"].contains(&dir) {
        mc.violation("GET", path, "/query/sort_dir", "not ASC or DESC");
        return Err(problem(
            StatusCode::BAD_REQUEST,
            "Invalid Resource",
            "sort_dir: invalid",
        ));
    }
    records.sort_by(|a, b| {
        ms_of(&a[field])
            .cmp(&ms_of(&b[field]))
            .then(a["id"].as_str().cmp(&b["id"].as_str()))
    });
    if dir == "DESC" {
        records.reverse();
    }
    Ok(())
}

fn list_json(mc: &Mailchimp) -> Value {
    let members = lock(&mc.members);
    let count = |status: &str| members.values().filter(|m| m["status"] == status).count();
    json!({
        "id": LIST_ID, "web_id": 42, "name": "Newsletter",
        "contact": {"company": "Switchyard", "address1": "1 Main St", "city": "Springfield", "state": "IL", "zip": "62701", "country": "US"},
        "permission_reminder": "You signed up on our site.", "use_archive_bar": true,
        "campaign_defaults": {"from_name": "Switchyard", "from_email": "news@example.com", "subject": "", "language": "en"},
        "date_created": "2020-01-01T00:00:00+00:00", "list_rating": 3, "email_type_option": false,
        "visibility": "prv", "double_optin": false, "marketing_permissions": false,
        "stats": {"member_count": count("subscribed"), "unsubscribe_count": count("unsubscribed"), "cleaned_count": count("cleaned")},
        "_links": [],
    })
}

/// `GET /ping`.
async fn ping(headers: HeaderMap) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    Json(json!({"health_status": "Everything's Chimpy!"})).into_response()
}

/// `GET /lists`.
async fn lists(State(mc): State<Arc<Mailchimp>>, Query(query): Params, headers: HeaderMap) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    let known = [
        "before_date_created",
        "since_date_created",
        "before_campaign_last_sent",
        "since_campaign_last_sent",
        "email",
        "sort_field",
        "sort_dir",
        "has_ecommerce_store",
        "include_total_contacts",
    ];
    let (count, offset) = match paging(&mc, "/3.0/lists", &query, &known) {
        Ok(p) => p,
        Err(r) => return r,
    };
    page(
        "lists",
        vec![list_json(&mc)],
        count,
        offset,
        &[(
            "constraints",
            json!({"may_create": true, "max_instances": 1, "current_total_instances": 1}),
        )],
    )
}

/// `GET /lists/{list_id}`.
async fn list(State(mc): State<Arc<Mailchimp>>, Path(list_id): Path<String>, headers: HeaderMap) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    if list_id != LIST_ID {
        return not_found();
    }
    Json(list_json(&mc)).into_response()
}

/// `GET /lists/{list_id}/members`.
async fn members(
    State(mc): State<Arc<Mailchimp>>,
    Path(list_id): Path<String>,
    Query(query): Params,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    if list_id != LIST_ID {
        return not_found();
    }
    let path = format!("/3.0/lists/{list_id}/members");
    let known = [
        "email_type",
        "status",
        "since_timestamp_opt",
        "before_timestamp_opt",
        "since_last_changed",
        "before_last_changed",
        "unique_email_id",
        "vip_only",
        "interest_category_id",
        "interest_ids",
        "interest_match",
        "sort_field",
        "sort_dir",
        "since_last_campaign",
        "unsubscribed_since",
    ];
    let (count, offset) = match paging(&mc, &path, &query, &known) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let since = match time_param(&mc, &path, &query, "since_last_changed") {
        Ok(s) => s,
        Err(r) => return r,
    };
    let mut records: Vec<Value> = lock(&mc.members)
        .values()
        .filter(|m| query.get("status").is_none_or(|s| m["status"] == s.as_str()))
        .filter(|m| since.is_none_or(|s| ms_of(&m["last_changed"]) >= s))
        .cloned()
        .collect();
    if let Err(r) = sort(
        &mc,
        &path,
        &query,
        &["timestamp_opt", "timestamp_signup", "last_changed"],
        &mut records,
    ) {
        return r;
    }
    page("members", records, count, offset, &[("list_id", json!(LIST_ID))])
}

/// The member a path names: its subscriber hash, or its email address.
fn member_key(segment: &str) -> String {
    if segment.contains('@') {
        subscriber_hash(segment)
    } else {
        segment.to_owned()
    }
}

/// `GET /search-members?query=&list_id=` ("Search members"): `query` is an email or a first
/// or last name. `exact_matches` holds members whose email, first name, last name or full name
/// is the query (ignoring case); `full_search` those where one of them contains it. At most 10
/// of each, as Mailchimp answers.
async fn search_members(State(mc): State<Arc<Mailchimp>>, Query(query): Params, headers: HeaderMap) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    let path = "/3.0/search-members";
    for key in query.keys() {
        if !["query", "list_id", "fields", "exclude_fields"].contains(&key.as_str()) {
            mc.violation(
                "GET",
                path,
                &format!("/query/{key}"),
                "not a parameter of Search members",
            );
        }
    }
    let Some(q) = query
        .get("query")
        .map(|q| q.trim().to_lowercase())
        .filter(|q| !q.is_empty())
    else {
        mc.violation("GET", path, "/query/query", "required");
        return problem(
            StatusCode::BAD_REQUEST,
            "Invalid Resource",
            "The query parameter is required.",
        );
    };
    let members = lock(&mc.members);
    let in_list = |m: &&Value| query.get("list_id").is_none_or(|l| m["list_id"] == l.as_str());
    let texts = |m: &Value| -> Vec<String> {
        [
            &m["email_address"],
            &m["merge_fields"]["FNAME"],
            &m["merge_fields"]["LNAME"],
            &m["full_name"],
        ]
        .iter()
        .filter_map(|v| v.as_str().map(str::to_lowercase))
        .collect()
    };
    let exact: Vec<Value> = members
        .values()
        .filter(in_list)
        .filter(|m| texts(m).contains(&q))
        .take(10)
        .cloned()
        .collect();
    let full: Vec<Value> = members
        .values()
        .filter(in_list)
        .filter(|m| texts(m).iter().any(|t| t.contains(&q)) && !texts(m).contains(&q))
        .take(10)
        .cloned()
        .collect();
    Json(json!({
        "exact_matches": {"members": exact, "total_items": exact.len()},
        "full_search": {"members": full, "total_items": full.len()},
        "_links": [],
    }))
    .into_response()
}

/// `GET /lists/{list_id}/members/{subscriber_hash}`.
async fn member(
    State(mc): State<Arc<Mailchimp>>,
    Path((list_id, hash)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    if list_id != LIST_ID {
        return not_found();
    }
    match mc.member_json(&member_key(&hash)) {
        Some(m) => Json(m).into_response(),
        None => not_found(),
    }
}

fn looks_real(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => !local.is_empty() && domain.contains('.') && !domain.ends_with(".invalid"),
        None => false,
    }
}

const WRITABLE: &[&str] = &[
    "email_address",
    "status_if_new",
    "status",
    "email_type",
    "merge_fields",
    "interests",
    "language",
    "vip",
    "location",
    "marketing_permissions",
    "ip_signup",
    "timestamp_signup",
    "ip_opt",
    "timestamp_opt",
    "skip_merge_validation",
    "tags",
];

/// Adds or updates one member from an upsert body: the member, or why it is refused.
fn apply_member(
    mc: &Mailchimp,
    method: &str,
    path: &str,
    input: &Map<String, Value>,
    update_existing: bool,
    batch: bool,
) -> Result<(Value, bool), (String, &'static str)> {
    for field in input.keys() {
        if !WRITABLE.contains(&field.as_str()) {
            mc.violation(method, path, &format!("/body/{field}"), "not a member field");
        }
    }
    let email = input
        .get("email_address")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_owned();
    if email.is_empty() {
        return Err((
            "email_address: Data did not match any of the schemas described in anyOf.".into(),
            "ERROR_GENERIC",
        ));
    }
    if !looks_real(&email) {
        return Err((
            format!("{email} looks fake or invalid, please enter a real email address."),
            "ERROR_FAKE_EMAIL",
        ));
    }
    for field in ["status", "status_if_new"] {
        if let Some(status) = input.get(field) {
            if !status.as_str().is_some_and(|s| STATUSES.contains(&s)) {
                return Err((
                    format!("{field}: Data did not match any of the schemas described in anyOf."),
                    "ERROR_GENERIC",
                ));
            }
        }
    }
    let hash = subscriber_hash(&email);
    let mut members = lock(&mc.members);
    let existing = members.get(&hash).cloned();
    if existing.is_some() && !update_existing {
        return Err((
            format!("{email} is already a list member. Use PUT to insert or update list members."),
            "ERROR_CONTACT_EXISTS",
        ));
    }
    let created = existing.is_none();
    let mut member = match existing {
        Some(m) => m,
        None => {
            let status = if batch {
                input.get("status")
            } else {
                input.get("status_if_new").or(input.get("status"))
            };
            let Some(status) = status.and_then(Value::as_str) else {
                return Err((
                    "The resource submitted could not be validated: status_if_new is required for a new member.".into(),
                    "ERROR_GENERIC",
                ));
            };
            mc.new_member(&email, status, now_ms())
        }
    };
    for (field, value) in input {
        match field.as_str() {
            "status_if_new" | "skip_merge_validation" => {}
            "status" if created => {}
            "merge_fields" => {
                if let (Some(target), Some(given)) = (member["merge_fields"].as_object_mut(), value.as_object()) {
                    for (k, v) in given {
                        target.insert(k.clone(), v.clone());
                    }
                }
            }
            "tags" => {}
            _ => member[field] = value.clone(),
        }
    }
    let first = member["merge_fields"]["FNAME"].as_str().unwrap_or_default().to_owned();
    let last = member["merge_fields"]["LNAME"].as_str().unwrap_or_default().to_owned();
    member["full_name"] = json!(format!("{first} {last}").trim());
    member["last_changed"] = json!(mc_time(now_ms()));
    members.insert(hash, member.clone());
    mc.writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok((member, created))
}

fn json_body(mc: &Mailchimp, method: &str, path: &str, body: &Bytes) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => {
            mc.violation(method, path, "/body", "not a JSON object");
            Err(problem(
                StatusCode::BAD_REQUEST,
                "JSON Parse Exception",
                "We encountered an unspecified JSON parsing error.",
            ))
        }
    }
}

/// `PUT /lists/{list_id}/members/{subscriber_hash}`.
async fn upsert_member(
    State(mc): State<Arc<Mailchimp>>,
    Path((list_id, hash)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    if list_id != LIST_ID {
        return not_found();
    }
    let path = format!("/3.0/lists/{list_id}/members/{hash}");
    let input = match json_body(&mc, "PUT", &path, &body) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let email = input.get("email_address").and_then(Value::as_str).unwrap_or_default();
    if !email.is_empty() && member_key(&hash) != subscriber_hash(email) {
        mc.violation(
            "PUT",
            &path,
            "/path/subscriber_hash",
            "not the MD5 hash of the body's lower-cased email_address",
        );
        return problem(
            StatusCode::BAD_REQUEST,
            "Invalid Resource",
            "The email address does not match the subscriber hash.",
        );
    }
    match apply_member(&mc, "PUT", &path, &input, true, false) {
        Ok((member, _)) => Json(member).into_response(),
        Err((detail, _)) => problem(StatusCode::BAD_REQUEST, "Invalid Resource", &detail),
    }
}

/// `PATCH /lists/{list_id}/members/{subscriber_hash}`: "Update list member".
async fn update_member(
    State(mc): State<Arc<Mailchimp>>,
    Path((list_id, hash)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    if list_id != LIST_ID {
        return not_found();
    }
    let path = format!("/3.0/lists/{list_id}/members/{hash}");
    let input = match json_body(&mc, "PATCH", &path, &body) {
        Ok(i) => i,
        Err(r) => return r,
    };
    for field in input.keys() {
        if field == "status_if_new" || !WRITABLE.contains(&field.as_str()) {
            mc.violation(
                "PATCH",
                &path,
                &format!("/body/{field}"),
                "not a field of Update list member",
            );
        }
    }
    if let Some(status) = input.get("status") {
        if !status.as_str().is_some_and(|s| STATUSES.contains(&s)) {
            return problem(
                StatusCode::BAD_REQUEST,
                "Invalid Resource",
                "status: Data did not match any of the schemas described in anyOf.",
            );
        }
    }
    let key = member_key(&hash);
    let mut members = lock(&mc.members);
    let Some(member) = members.get_mut(&key) else {
        return not_found();
    };
    for (field, value) in &input {
        match field.as_str() {
            "status_if_new" | "tags" => {}
            "merge_fields" => {
                if let (Some(target), Some(given)) = (member["merge_fields"].as_object_mut(), value.as_object()) {
                    for (k, v) in given {
                        target.insert(k.clone(), v.clone());
                    }
                }
            }
            // A new `email_address` gives the member a new subscriber hash (its id), below.
            _ => member[field] = value.clone(),
        }
    }
    let first = member["merge_fields"]["FNAME"].as_str().unwrap_or_default().to_owned();
    let last = member["merge_fields"]["LNAME"].as_str().unwrap_or_default().to_owned();
    member["full_name"] = json!(format!("{first} {last}").trim());
    member["last_changed"] = json!(mc_time(now_ms()));
    let mut member = member.clone();
    let email = member["email_address"].as_str().unwrap_or_default().to_owned();
    let new_key = subscriber_hash(&email);
    if new_key != key {
        member["id"] = json!(new_key);
        members.remove(&key);
        members.insert(new_key, member.clone());
    }
    mc.writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Json(member).into_response()
}

/// `DELETE /lists/{list_id}/members/{subscriber_hash}`: "Archive list member".
async fn archive_member(
    State(mc): State<Arc<Mailchimp>>,
    Path((list_id, hash)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    if list_id != LIST_ID {
        return not_found();
    }
    match mc.archive(&member_key(&hash)) {
        Some(_) => {
            mc.writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            StatusCode::NO_CONTENT.into_response()
        }
        None => not_found(),
    }
}

/// `POST /lists/{list_id}`: batch subscribe or unsubscribe.
async fn batch_subscribe(
    State(mc): State<Arc<Mailchimp>>,
    Path(list_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    if list_id != LIST_ID {
        return not_found();
    }
    let path = format!("/3.0/lists/{list_id}");
    let input = match json_body(&mc, "POST", &path, &body) {
        Ok(i) => i,
        Err(r) => return r,
    };
    for field in input.keys() {
        if !["members", "sync_tags", "update_existing"].contains(&field.as_str()) {
            mc.violation("POST", &path, &format!("/body/{field}"), "not a batch subscribe field");
        }
    }
    let Some(list) = input.get("members").and_then(Value::as_array) else {
        mc.violation("POST", &path, "/body/members", "missing");
        return problem(StatusCode::BAD_REQUEST, "Invalid Resource", "members: required");
    };
    if list.len() > 500 {
        mc.violation("POST", &path, "/body/members", "more than 500 members");
        return problem(
            StatusCode::BAD_REQUEST,
            "Invalid Resource",
            "members: at most 500 members a request",
        );
    }
    let update_existing = input.get("update_existing").and_then(Value::as_bool).unwrap_or(false);
    let (mut created, mut updated, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    for item in list {
        let Some(fields) = item.as_object() else {
            mc.violation("POST", &path, "/body/members", "an entry that is not an object");
            continue;
        };
        match apply_member(&mc, "POST", &path, fields, update_existing, true) {
            Ok((member, true)) => created.push(member),
            Ok((member, false)) => updated.push(member),
            Err((error, code)) => errors.push(json!({
                "email_address": fields.get("email_address").cloned().unwrap_or(Value::Null),
                "error": error, "error_code": code, "field": "", "field_message": "",
            })),
        }
    }
    Json(json!({
        "total_created": created.len(), "total_updated": updated.len(), "error_count": errors.len(),
        "new_members": created, "updated_members": updated, "errors": errors, "_links": [],
    }))
    .into_response()
}

/// `GET /campaigns`.
async fn campaigns(State(mc): State<Arc<Mailchimp>>, Query(query): Params, headers: HeaderMap) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    let path = "/3.0/campaigns";
    let known = [
        "type",
        "status",
        "before_send_time",
        "since_send_time",
        "before_create_time",
        "since_create_time",
        "list_id",
        "folder_id",
        "member_id",
        "sort_field",
        "sort_dir",
        "include_resend_shortcut_eligibility",
    ];
    let (count, offset) = match paging(&mc, path, &query, &known) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut records: Vec<Value> = lock(&mc.campaigns)
        .iter()
        .filter(|c| query.get("status").is_none_or(|s| c["status"] == s.as_str()))
        .cloned()
        .collect();
    if let Err(r) = sort(&mc, path, &query, &["create_time", "send_time"], &mut records) {
        return r;
    }
    page("campaigns", records, count, offset, &[])
}

/// `GET /campaigns/{id}`.
async fn campaign(State(mc): State<Arc<Mailchimp>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    match mc.campaign_json(&id) {
        Some(c) => Json(c).into_response(),
        None => not_found(),
    }
}

/// `GET /reports/{campaign_id}/email-activity`.
async fn email_activity(
    State(mc): State<Arc<Mailchimp>>,
    Path(id): Path<String>,
    Query(query): Params,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = authorized(&headers) {
        return r;
    }
    let path = format!("/3.0/reports/{id}/email-activity");
    let (count, offset) = match paging(&mc, &path, &query, &["since"]) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let since = match time_param(&mc, &path, &query, "since") {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(per) = lock(&mc.activity).get(&id).cloned() else {
        return not_found();
    };
    let records: Vec<Value> = per
        .into_values()
        .filter_map(|mut entry| {
            let Some(since) = since else { return Some(entry) };
            let kept: Vec<Value> = entry["activity"]
                .as_array()
                .map(|a| a.iter().filter(|x| ms_of(&x["timestamp"]) >= since).cloned().collect())
                .unwrap_or_default();
            (!kept.is_empty()).then(|| {
                entry["activity"] = json!(kept);
                entry
            })
        })
        .collect();
    page("emails", records, count, offset, &[("campaign_id", json!(id))])
}
