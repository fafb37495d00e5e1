//! Fake Slack Web API: `chat.postMessage` and `auth.test`, and the interactivity payload a
//! click on a posted message's button sends back to the app ([`Slack::click`]).
//!
//! As Slack documents it: arguments come as JSON (token in `Authorization: Bearer`) or as a
//! form (token in the header or a `token` field); errors are HTTP 200 with
//! `{"ok":false,"error":"not_authed"|"invalid_auth"|"channel_not_found"|"no_text"}`; posting
//! faster than the per-channel limit (about one message per second) is HTTP 429 with
//! `Retry-After` and `{"ok":false,"error":"ratelimited"}`.
//!
//! Block Kit ("Reference: blocks", "Button element"): the interactive parts of `blocks` are
//! checked as Slack checks them, and a message that breaks them is `invalid_blocks` (an error
//! Slack documents for chat.postMessage; the published OpenAPI description predates Block Kit
//! and does not list it): every block is an object with a `type`; an `actions` block holds 1
//! to 25 elements; a button has `text` of type `plain_text` (at most 75 characters), an
//! `action_id` (at most 255 characters, unique in its block), a `value` of at most 2,000
//! characters, and a `style` that is `primary` or `danger` when given.
//!
//! A click ("Handling user interaction", the `block_actions` payload) is what Slack posts to
//! the app's Interactivity Request URL: form-encoded, `payload=<JSON>`
//! ([`interactivity_body`]), signed with the app's signing secret (the caller signs).

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::faults::FaultConfig;
use crate::rate_limit::{Admission, RateLimit, RollingWindow};
use crate::server::{self, FakeHandle, Spec};
use crate::timestamp::now_ms;

/// A bot token the default configuration accepts.
pub const TEST_TOKEN: &str = "xoxb-fake-slack-token";

/// A channel the fake workspace has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackChannel {
    /// `C...` id, returned in responses.
    pub id: String,
    /// Name without `#`; requests may use `name` or `#name` instead of the id.
    pub name: String,
}

impl SlackChannel {
    pub fn new(id: &str, name: &str) -> Self {
        Self {
            id: id.to_owned(),
            name: name.to_owned(),
        }
    }
}

/// How the fake Slack behaves.
#[derive(Debug, Clone)]
pub struct SlackConfig {
    /// Loopback port; 0 picks a free one.
    pub port: u16,
    /// Accepted bot tokens.
    pub tokens: Vec<String>,
    pub channels: Vec<SlackChannel>,
    /// `chat.postMessage` budget per channel (Slack: about one message per second).
    pub rate_limit: RateLimit,
    pub faults: FaultConfig,
    /// Check every request and response against the provider's spec and record violations
    /// on the handle (`handle.violations`); off by default.
    pub spec_check: Option<crate::spec::SpecCheck>,
}

impl Default for SlackConfig {
    /// Accepts [`TEST_TOKEN`]; channels `C0000000001` `#general` and `C0000000002` `#alerts`;
    /// one message per second per channel.
    fn default() -> Self {
        Self {
            port: 0,
            tokens: vec![TEST_TOKEN.to_owned()],
            channels: vec![
                SlackChannel::new("C0000000001", "general"),
                SlackChannel::new("C0000000002", "alerts"),
            ],
            rate_limit: RateLimit::new(1, Duration::from_secs(1)),
            faults: FaultConfig::default(),
            spec_check: None,
        }
    }
}

/// A message the fake accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct PostedMessage {
    /// Channel id.
    pub channel: String,
    pub ts: String,
    pub text: Option<String>,
    pub blocks: Option<Value>,
    pub thread_ts: Option<String>,
    /// Every argument as received (without the token).
    pub args: Map<String, Value>,
}

/// The fake workspace's state.
pub struct Slack {
    tokens: Mutex<HashSet<String>>,
    channels: Vec<SlackChannel>,
    rate_limit: Mutex<RateLimit>,
    windows: Mutex<HashMap<String, RollingWindow>>,
    messages: Mutex<Vec<PostedMessage>>,
    rate_limited: AtomicU64,
    last_ts_micros: Mutex<i64>,
    clicks: AtomicU64,
}

/// The body Slack posts to the Interactivity Request URL for `payload`:
/// `application/x-www-form-urlencoded`, the payload's JSON in the `payload` field.
pub fn interactivity_body(payload: &Value) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts a fake Slack on a free loopback port (or `config.port`).
///
/// # Panics
/// When the loopback port cannot be bound.
pub fn start(config: SlackConfig) -> FakeHandle<Slack> {
    server::expect_started("slack", try_start(config))
}

/// Starts a fake Slack, reporting a bind failure.
pub fn try_start(config: SlackConfig) -> io::Result<FakeHandle<Slack>> {
    let state = Arc::new(Slack {
        tokens: Mutex::new(config.tokens.into_iter().collect()),
        channels: config.channels,
        rate_limit: Mutex::new(config.rate_limit),
        windows: Mutex::new(HashMap::new()),
        messages: Mutex::new(Vec::new()),
        rate_limited: AtomicU64::new(0),
        last_ts_micros: Mutex::new(0),
        clicks: AtomicU64::new(0),
    });
    let spec = Spec {
        name: "slack",
        port: config.port,
        state: state.clone(),
        faults: config.faults,
        check: config.spec_check,
        violations: Default::default(),
        respond: fault,
    };
    server::spawn(spec, move |_| {
        Router::new()
            .route("/api/chat.postMessage", post(post_message))
            .route("/api/auth.test", any(auth_test))
            .with_state(state)
    })
}

impl Slack {
    /// Every accepted message, in order.
    pub fn messages(&self) -> Vec<PostedMessage> {
        lock(&self.messages).clone()
    }

    /// Accepted messages in one channel (id or name).
    pub fn messages_in(&self, channel: &str) -> Vec<PostedMessage> {
        let Some(id) = self.channel(channel).map(|c| c.id.clone()) else {
            return Vec::new();
        };
        lock(&self.messages)
            .iter()
            .filter(|m| m.channel == id)
            .cloned()
            .collect()
    }

    /// Number of 429s from the posting limit (injected faults are counted separately).
    pub fn rate_limited_count(&self) -> u64 {
        self.rate_limited.load(Ordering::Relaxed)
    }

    /// Changes the per-channel posting limit.
    pub fn set_rate_limit(&self, limit: RateLimit) {
        *lock(&self.rate_limit) = limit;
    }

    /// Accepts another token.
    pub fn add_token(&self, token: &str) {
        lock(&self.tokens).insert(token.to_owned());
    }

    /// Stops accepting a token (`invalid_auth` from then on).
    pub fn revoke_token(&self, token: &str) {
        lock(&self.tokens).remove(token);
    }

    /// The `block_actions` payload Slack sends when user `user_id` clicks the button
    /// `action_id` of the message `ts` (in any channel); `None` when no accepted message has
    /// that button. The `trigger_id` is new for every click, as Slack's is.
    pub fn click(&self, ts: &str, action_id: &str, user_id: &str) -> Option<Value> {
        let message = lock(&self.messages).iter().find(|m| m.ts == ts).cloned()?;
        let blocks = message.blocks.clone().unwrap_or(Value::Array(Vec::new()));
        let (block_id, button) = blocks.as_array()?.iter().find_map(|block| {
            let button =
                block.get("elements")?.as_array()?.iter().find(|e| {
                    e.get("type") == Some(&json!("button")) && e.get("action_id") == Some(&json!(action_id))
                })?;
            Some((
                block.get("block_id").cloned().unwrap_or(json!("fake-block")),
                button.clone(),
            ))
        })?;
        let clicks = self.clicks.fetch_add(1, Ordering::Relaxed) + 1;
        let action_ts = self.next_ts();
        let channel_name = self
            .channels
            .iter()
            .find(|c| c.id == message.channel)
            .map(|c| c.name.clone())
            .unwrap_or_default();
        let mut action = json!({
            "type": "button",
            "action_id": action_id,
            "block_id": block_id,
            "text": button.get("text").cloned().unwrap_or(Value::Null),
            "action_ts": action_ts,
        });
        for field in ["value", "style"] {
            if let Some(v) = button.get(field) {
                action[field] = v.clone();
            }
        }
        Some(json!({
            "type": "block_actions",
            "user": {"id": user_id, "username": format!("user-{}", user_id.to_lowercase()), "name": format!("user-{}", user_id.to_lowercase()), "team_id": "T0FAKETEAM"},
            "api_app_id": "A0FAKEAPP",
            "container": {"type": "message", "message_ts": message.ts, "channel_id": message.channel, "is_ephemeral": false},
            "trigger_id": format!("{clicks}.1395872398.{:032x}", u128::from(clicks) * 0x9e37_79b9_7f4a_7c15),
            "team": {"id": "T0FAKETEAM", "domain": "fake-workspace"},
            "enterprise": null,
            "is_enterprise_install": false,
            "channel": {"id": message.channel, "name": channel_name},
            "message": {
                "type": "message", "user": "U0FAKEBOT", "bot_id": "B0FAKEBOT", "ts": message.ts,
                "text": message.text.clone().unwrap_or_default(), "blocks": blocks,
            },
            "state": {"values": {}},
            "response_url": format!("https://hooks.slack.com/actions/T0FAKETEAM/{clicks}/fakeresponse"),
            "actions": [action],
        }))
    }

    fn channel(&self, name_or_id: &str) -> Option<&SlackChannel> {
        let name = name_or_id.trim_start_matches('#');
        self.channels.iter().find(|c| c.id == name_or_id || c.name == name)
    }

    /// A unique, increasing `ts` (`seconds.micros`).
    fn next_ts(&self) -> String {
        let mut last = lock(&self.last_ts_micros);
        *last = (now_ms() * 1000).max(*last + 1);
        format!("{}.{:06}", *last / 1_000_000, *last % 1_000_000)
    }
}

/// Slack's error shape: HTTP 200 with `ok: false`.
fn slack_error(error: &str) -> Response {
    Json(json!({ "ok": false, "error": error })).into_response()
}

fn fault(status: StatusCode) -> Response {
    let error = match status {
        StatusCode::TOO_MANY_REQUESTS => "ratelimited",
        StatusCode::GATEWAY_TIMEOUT => "request_timeout",
        _ => "internal_error",
    };
    (status, Json(json!({ "ok": false, "error": error }))).into_response()
}

/// Reads the arguments from a JSON or form body. Form values that hold JSON (`blocks`,
/// `attachments`) are decoded.
fn arguments(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, &'static str> {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("application/json") {
        return match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(args)) => Ok(args),
            _ => Err("invalid_json"),
        };
    }
    let mut args = Map::new();
    for (key, value) in form_urlencoded::parse(body) {
        let value = match key.as_ref() {
            "blocks" | "attachments" | "metadata" => {
                serde_json::from_str(&value).unwrap_or(Value::String(value.into_owned()))
            }
            _ => Value::String(value.into_owned()),
        };
        args.insert(key.into_owned(), value);
    }
    Ok(args)
}

/// The token from `Authorization: Bearer` or the `token` argument.
fn token(headers: &HeaderMap, args: &mut Map<String, Value>) -> Option<String> {
    let from_body = args.remove("token").and_then(|t| t.as_str().map(str::to_owned));
    let from_header = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|t| t.trim().to_owned());
    from_header.or(from_body).filter(|t| !t.is_empty())
}

/// Checks the token; the error is Slack's error code.
fn authenticate(slack: &Slack, headers: &HeaderMap, args: &mut Map<String, Value>) -> Result<(), &'static str> {
    match token(headers, args) {
        None => Err("not_authed"),
        Some(token) if !lock(&slack.tokens).contains(&token) => Err("invalid_auth"),
        Some(_) => Ok(()),
    }
}

fn non_empty(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(Value::Array(items)) => !items.is_empty(),
        Some(_) => true,
    }
}

/// `POST /api/chat.postMessage`.
async fn post_message(State(slack): State<Arc<Slack>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut args = match arguments(&headers, &body) {
        Ok(args) => args,
        Err(error) => return slack_error(error),
    };
    if let Err(error) = authenticate(&slack, &headers, &mut args) {
        return slack_error(error);
    }
    let Some(channel) = args
        .get("channel")
        .and_then(Value::as_str)
        .and_then(|c| slack.channel(c))
        .cloned()
    else {
        return slack_error("channel_not_found");
    };
    if !["text", "blocks", "attachments"]
        .iter()
        .any(|k| non_empty(args.get(*k)))
    {
        return slack_error("no_text");
    }
    if let Some(blocks) = args.get("blocks") {
        if !valid_blocks(blocks) {
            return slack_error("invalid_blocks");
        }
    }
    let limit = *lock(&slack.rate_limit);
    let admission = lock(&slack.windows)
        .entry(channel.id.clone())
        .or_default()
        .admit(&limit, Instant::now());
    if let Admission::Limited { retry_after } = admission {
        slack.rate_limited.fetch_add(1, Ordering::Relaxed);
        let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({ "ok": false, "error": "ratelimited" })),
        )
            .into_response();
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from(seconds.max(1)));
        return response;
    }

    let ts = slack.next_ts();
    let text = args.get("text").and_then(Value::as_str).map(str::to_owned);
    let blocks = args.get("blocks").cloned();
    let thread_ts = args.get("thread_ts").and_then(Value::as_str).map(str::to_owned);
    let mut message = json!({
        "type": "message",
        "user": "U0FAKEBOT",
        "bot_id": "B0FAKEBOT",
        "team": "T0FAKETEAM",
        "text": text.clone().unwrap_or_default(),
        "ts": ts,
    });
    if let Some(blocks) = &blocks {
        message["blocks"] = blocks.clone();
    }
    if let Some(attachments) = args.get("attachments") {
        message["attachments"] = attachments.clone();
    }
    if let Some(thread_ts) = &thread_ts {
        message["thread_ts"] = json!(thread_ts);
    }
    lock(&slack.messages).push(PostedMessage {
        channel: channel.id.clone(),
        ts: ts.clone(),
        text,
        blocks,
        thread_ts,
        args,
    });
    Json(json!({ "ok": true, "channel": channel.id, "ts": ts, "message": message })).into_response()
}

/// Whether `blocks` keeps Block Kit's rules for interactive messages (the module's header).
fn valid_blocks(blocks: &Value) -> bool {
    let Some(blocks) = blocks.as_array() else {
        return false;
    };
    let chars = |v: Option<&Value>| v.and_then(Value::as_str).map(|s| s.chars().count());
    blocks.iter().all(|block| {
        let mut action_ids = HashSet::new();
        let Some(kind) = block.get("type").and_then(Value::as_str) else {
            return false;
        };
        if kind != "actions" {
            return true;
        }
        let Some(elements) = block.get("elements").and_then(Value::as_array) else {
            return false;
        };
        (1..=25).contains(&elements.len())
            && elements.iter().all(|e| {
                if e.get("type").and_then(Value::as_str) != Some("button") {
                    return e.get("type").is_some_and(Value::is_string);
                }
                let text = e.get("text");
                text.and_then(|t| t.get("type")) == Some(&json!("plain_text"))
                    && chars(text.and_then(|t| t.get("text"))).is_some_and(|n| (1..=75).contains(&n))
                    && chars(e.get("action_id")).is_some_and(|n| (1..=255).contains(&n))
                    && action_ids.insert(e["action_id"].as_str().unwrap_or_default().to_owned())
                    && e.get("value").is_none_or(|v| chars(Some(v)).is_some_and(|n| n <= 2000))
                    && e.get("style").is_none_or(|s| s == "primary" || s == "danger")
            })
    })
}

/// `auth.test`: the cheap call that proves a token works.
async fn auth_test(State(slack): State<Arc<Slack>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut args = arguments(&headers, &body).unwrap_or_default();
    if let Err(error) = authenticate(&slack, &headers, &mut args) {
        return slack_error(error);
    }
    Json(json!({
        "ok": true,
        "url": "https://fake-workspace.slack.com/",
        "team": "Fake Workspace",
        "user": "fakebot",
        "team_id": "T0FAKETEAM",
        "user_id": "U0FAKEBOT",
        "bot_id": "B0FAKEBOT",
    }))
    .into_response()
}
