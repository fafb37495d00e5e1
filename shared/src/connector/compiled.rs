//! A definition checked beyond what serde checks, with its templates and selectors compiled.
//!
//! [`CompiledDefinition::compile`] is the start-up validation: templates parse and use only
//! the placeholders their place allows, JSON pointers are pointers, jq programs compile,
//! pagination styles get the placeholders they need, webhook schemes exist and events name
//! real streams. An error names the field path (`streams.contacts.request.query.after`).

use std::collections::BTreeMap;

use reqwest::Url;

use super::definition::{
    AuthSpec, BodyFormat, ConnectorDefinition, CursorKind, ErrorAction, PaginationSpec, StatusPattern, StreamSpec,
    WriteKind, WriteSpec,
};
use super::mapping::Selector;
use super::request::{compile_pairs, CompiledRequest, RequestDefaults};
use super::template::{JsonTemplate, Template, VarName, Vars};
use crate::webhook::Scheme;

/// A problem in a definition: where (a dotted field path) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// A stream, compiled.
#[derive(Debug, Clone)]
pub struct CompiledStream {
    /// The list request; `None` for a stream fed by webhooks only.
    pub request: Option<CompiledRequest>,
    pub incremental_request: Option<CompiledRequest>,
    /// `next_request`: every page after the first.
    pub next_request: Option<CompiledRequest>,
    pub records: Selector,
    pub fetch: Option<CompiledFetch>,
    /// The change feed's request and item selector.
    pub changes: Option<(CompiledRequest, Selector)>,
    /// A child stream's `parent.*` names, as paths (`parent.owner.uri` is `["owner", "uri"]`):
    /// the fields of a parent record kept while its children are read.
    pub parent_fields: Vec<Vec<String>>,
    /// Identity searches, in the order they are tried (email, phone, name).
    pub search: Vec<CompiledSearch>,
}

/// An identity search, compiled.
#[derive(Debug, Clone)]
pub struct CompiledSearch {
    pub kind: super::definition::SearchKind,
    pub request: CompiledRequest,
    pub records: Selector,
    pub not_found: Vec<u16>,
}

/// A fetch-by-id request, compiled.
#[derive(Debug, Clone)]
pub struct CompiledFetch {
    pub request: CompiledRequest,
    pub record: Selector,
    /// `fetch.id_pattern`, anchored at both ends.
    pub id_pattern: Option<regex::Regex>,
}

impl CompiledFetch {
    /// Whether `id` may be sent: it matches `fetch.id_pattern` as a whole (any id does when
    /// none is set).
    pub fn accepts(&self, id: &str) -> bool {
        self.id_pattern.as_ref().is_none_or(|re| re.is_match(id))
    }
}

/// A write operation, compiled.
#[derive(Debug, Clone)]
pub struct CompiledWrite {
    pub request: CompiledRequest,
    /// `upload_session`: the content template and the session request.
    pub upload: Option<(Template, CompiledRequest)>,
    pub envelope: Option<JsonTemplate>,
    pub sign: Option<Scheme>,
}

/// A definition's templates and selectors, compiled.
#[derive(Debug, Clone)]
pub struct CompiledDefinition {
    /// The definition's `headers` and `query`, added to every request it builds.
    pub defaults: RequestDefaults,
    pub check: Option<CompiledRequest>,
    /// The write pre-flight's request.
    pub preflight: Option<CompiledRequest>,
    /// The status request of `poll` (when the definition gives one instead of a URL pointer).
    pub poll: Option<CompiledRequest>,
    pub streams: BTreeMap<String, CompiledStream>,
    pub writes: BTreeMap<String, CompiledWrite>,
    /// `webhooks.renewal`'s list and renewal requests.
    pub renewal: Option<CompiledRenewal>,
    /// `webhooks.own_origin.equals`, parsed once (it is rendered for every inbound event).
    pub own_origin: Option<Template>,
}

/// The requests of `webhooks.renewal`, compiled.
#[derive(Debug, Clone)]
pub struct CompiledRenewal {
    pub list: CompiledRequest,
    pub request: CompiledRequest,
}

fn check_pointer(field: &str, pointer: &str) -> Result<(), Invalid> {
    if pointer.is_empty() || pointer.starts_with('/') {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("`{pointer}` is not a JSON pointer: it must be empty or start with `/`"),
        ))
    }
}

fn check_opt_pointer(field: &str, pointer: &Option<String>) -> Result<(), Invalid> {
    pointer.as_deref().map_or(Ok(()), |p| check_pointer(field, p))
}

fn check_name(field: &str, name: &str) -> Result<(), Invalid> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("`{name}` must be lowercase letters, digits, `_`, `-` or `.`"),
        ))
    }
}

fn check_header_name(field: &str, name: &str) -> Result<(), Invalid> {
    http::HeaderName::from_bytes(name.as_bytes())
        .map(|_| ())
        .map_err(|_| invalid(field, format!("`{name}` is not a valid header name")))
}

/// Checks an XML body's secret slots: `{{ session.token }}` needs `type: session` auth, and
/// `{{ credentials.<key> }}` a key some auth alternative requires (so a connection must have it).
fn check_slots(field: &str, request: &CompiledRequest, auth: &[AuthSpec]) -> Result<(), Invalid> {
    for slot in request.secret_slots() {
        let at = format!("{field}.body");
        match slot.as_str().split_once('.') {
            Some(("session", "token")) => {
                if !auth.iter().any(|a| matches!(a, AuthSpec::Session(_))) {
                    return Err(invalid(at, "`{{ session.token }}` needs `type: session` auth"));
                }
            }
            Some(("credentials", key)) => {
                if !auth.iter().any(|a| a.required_credentials().contains(&key)) {
                    return Err(invalid(
                        at,
                        format!("`{{{{ {slot} }}}}` reads credential `{key}`, which no auth alternative requires (list it under the session's `credentials`)"),
                    ));
                }
            }
            _ => {
                return Err(invalid(
                    at,
                    format!("`{{{{ {slot} }}}}` is not a secret an XML body can read: use `session.token` or `credentials.<key>`"),
                ))
            }
        }
    }
    Ok(())
}

fn compile_request(field: &str, spec: &super::definition::RequestSpec) -> Result<CompiledRequest, Invalid> {
    if !spec.path.is_empty() && !spec.path.starts_with('/') && !spec.path.starts_with("{{") {
        return Err(invalid(format!("{field}.path"), "a path must start with `/`"));
    }
    for name in spec.headers.keys() {
        check_header_name(&format!("{field}.headers.{name}"), name)?;
    }
    for name in spec.json_headers.keys() {
        check_header_name(&format!("{field}.json_headers.{name}"), name)?;
    }
    CompiledRequest::compile(spec)
        .map_err(|(at, e)| invalid(format!("{field}.{}", at.replace('/', ".")), e.to_string()))
}

/// [`compile_request`] plus the secret-slot check against the definition's auth.
fn compile_request_in(
    field: &str,
    spec: &super::definition::RequestSpec,
    def: &ConnectorDefinition,
) -> Result<CompiledRequest, Invalid> {
    let compiled = compile_request(field, spec)?;
    if let Some(host) = spec.host.as_ref().filter(|h| !def.hosts.contains_key(*h)) {
        return Err(invalid(
            format!("{field}.host"),
            format!("`{host}` is not one of the definition's `hosts`"),
        ));
    }
    check_slots(field, &compiled, &def.auth)?;
    check_session_values(field, &compiled, &def.auth)?;
    Ok(compiled)
}

/// Checks a request's `{{ session.<name> }}` placeholders: each must be a value a session
/// login captures (`auth.capture`); the token itself is a secret, never a template value.
fn check_session_values(field: &str, request: &CompiledRequest, auth: &[AuthSpec]) -> Result<(), Invalid> {
    for (place, var) in request.vars() {
        if var.root() != "session" {
            continue;
        }
        let name = var.as_str().strip_prefix("session.").unwrap_or_default();
        let captured = auth.iter().any(|a| match a {
            AuthSpec::Session(s) => s.capture.contains_key(name),
            _ => false,
        });
        if !captured {
            let at = if place.is_empty() {
                field.to_owned()
            } else {
                format!("{field}.{place}")
            };
            return Err(invalid(
                at,
                format!("`{{{{ {var} }}}}` reads a session value the session auth does not capture (list it under `auth.capture`)"),
            ));
        }
    }
    Ok(())
}

/// Which placeholders a template may use.
struct Allowed<'a> {
    exact: &'a [&'a str],
    roots: &'a [&'a str],
}

impl Allowed<'_> {
    fn check<'v>(
        &self,
        field: &str,
        vars: impl IntoIterator<Item = (String, &'v VarName)>,
        config: &BTreeMap<String, super::definition::ConfigField>,
    ) -> Result<(), Invalid> {
        for (at, var) in vars {
            let name = var.as_str();
            let at = if at.is_empty() {
                field.to_owned()
            } else {
                format!("{field}.{at}")
            };
            // `session.<name>`: checked against the session's captures with the request
            // (`check_session_values`), where the definition's auth is at hand.
            if self.exact.contains(&name) || (var.root() == "session" && name.contains('.')) {
                continue;
            }
            if self.roots.contains(&var.root()) && name.contains('.') {
                if var.root() == "config" {
                    let key = name.split('.').nth(1).unwrap_or_default();
                    if !config.contains_key(key) && key != "base_url" {
                        return Err(invalid(
                            at,
                            format!("`{{{{ {name} }}}}` reads config `{key}`, which the definition's `config` does not declare"),
                        ));
                    }
                }
                continue;
            }
            if self.roots.contains(&name) {
                continue;
            }
            let mut allowed: Vec<String> = self.exact.iter().map(|s| (*s).to_owned()).collect();
            allowed.extend(self.roots.iter().map(|r| format!("{r}.*")));
            return Err(invalid(
                at,
                format!(
                    "placeholder `{name}` is not available here; use one of {}",
                    allowed.join(", ")
                ),
            ));
        }
        Ok(())
    }
}

/// The definition's base URL with each `{{ config.<key> }}` filled with the first value the
/// key allows: a placeholder there may only read a config key with `one_of` values (a region),
/// so no connection can point the host anywhere else.
fn base_url_example(def: &ConnectorDefinition, field: &str, base: &str) -> Result<String, Invalid> {
    let template = Template::parse(base).map_err(|e| invalid(field, e.to_string()))?;
    if template.is_literal() {
        return Ok(base.to_owned());
    }
    let mut example = serde_json::Map::new();
    for var in template.vars() {
        let key = var
            .as_str()
            .strip_prefix("config.")
            .filter(|k| !k.contains('.'))
            .ok_or_else(|| {
                invalid(
                    field,
                    format!("placeholder `{var}` is not available here; use config.*"),
                )
            })?;
        let first = def.config.get(key).and_then(|f| f.one_of.first()).ok_or_else(|| {
            invalid(
                field,
                format!("`{{{{ {var} }}}}` must read a config key the definition declares with `one_of` values"),
            )
        })?;
        example.insert(key.to_owned(), serde_json::Value::String(first.clone()));
    }
    let config = serde_json::Value::Object(example);
    let mut vars = Vars::new();
    vars.root("config", std::borrow::Cow::Borrowed(&config));
    template
        .render(&vars, false)
        .ok_or_else(|| invalid(field, "could not be filled from the config"))
}

impl CompiledDefinition {
    /// Validates and compiles `def`.
    pub fn compile(def: &ConnectorDefinition) -> Result<CompiledDefinition, Invalid> {
        let ok_id = !def.id.is_empty()
            && def
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok_id {
            return Err(invalid("id", "the id must be lowercase letters, digits and `-`"));
        }
        for (key, field) in &def.config {
            if let (Some(default), false) = (&field.default, field.one_of.is_empty()) {
                if !field.allows(default) {
                    return Err(invalid(format!("config.{key}.default"), "must be one of `one_of`"));
                }
            }
        }
        let hosts = def
            .hosts
            .iter()
            .map(|(name, h)| (format!("hosts.{name}.base_url"), &h.base_url));
        for (field, base) in def
            .base_url
            .as_ref()
            .map(|b| ("base_url".to_owned(), b))
            .into_iter()
            .chain(hosts)
        {
            let url = Url::parse(&base_url_example(def, &field, base)?)
                .map_err(|_| invalid(&field, "not an absolute URL"))?;
            match url.scheme() {
                "https" => {}
                "http" if !def.require_https => {}
                _ => return Err(invalid(field, "the scheme must be https (or http)")),
            }
        }
        let config_only = Allowed {
            exact: &[],
            roots: &["config"],
        };
        for (key, field) in &def.config {
            if let Some(pattern) = &field.pattern {
                regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
                    invalid(
                        format!("config.{key}.pattern"),
                        format!("not a regular expression: {e}"),
                    )
                })?;
            }
        }
        for name in def.headers.keys() {
            check_header_name(&format!("headers.{name}"), name)?;
        }
        let headers = compile_pairs(&def.headers).map_err(|(k, e)| invalid(format!("headers.{k}"), e.to_string()))?;
        for (k, t) in &headers {
            config_only.check(
                &format!("headers.{k}"),
                t.vars().map(|v| (String::new(), v)),
                &def.config,
            )?;
        }
        let query = compile_pairs(&def.query).map_err(|(k, e)| invalid(format!("query.{k}"), e.to_string()))?;
        for (k, t) in &query {
            config_only.check(&format!("query.{k}"), t.vars().map(|v| (String::new(), v)), &def.config)?;
        }
        check_auth(&def.auth, &config_only, &def.config)?;
        if let Some(rl) = &def.rate_limit {
            // A cost budget may stand alone; a request budget needs both numbers.
            let header_bucket = rl.headers.as_ref().and_then(|h| h.bucket.as_ref());
            let request_budget = rl.requests > 0
                || rl.window_ms > 0
                || (rl.cost.is_none() && header_bucket.is_none() && rl.operations.is_empty());
            if request_budget && rl.requests == 0 {
                return Err(invalid("rate_limit.requests", "must be at least 1"));
            }
            if request_budget && rl.window_ms == 0 {
                return Err(invalid("rate_limit.window_ms", "must be at least 1"));
            }
            for (i, op) in rl.operations.iter().enumerate() {
                let at = format!("rate_limit.operations[{i}]");
                super::ratelimit::operation_path_regex(&op.path).map_err(|e| invalid(format!("{at}.path"), e))?;
                if !(op.rate.is_finite() && op.rate > 0.0) {
                    return Err(invalid(
                        format!("{at}.rate"),
                        "must be a positive number of requests a second",
                    ));
                }
                if op.burst == 0 {
                    return Err(invalid(format!("{at}.burst"), "must be at least 1"));
                }
                if let Some(name) = &op.rate_header {
                    check_header_name(&format!("{at}.rate_header"), name)?;
                }
            }
            if let Some(cost) = &rl.cost {
                for (field, pointer) in [
                    ("available", &cost.available),
                    ("maximum", &cost.maximum),
                    ("restore_rate", &cost.restore_rate),
                    ("requested", &cost.requested),
                ] {
                    check_pointer(&format!("rate_limit.cost.{field}"), pointer)?;
                }
                check_opt_pointer("rate_limit.cost.actual", &cost.actual)?;
            }
            if let Some(h) = &rl.headers {
                for (field, name) in [("remaining", &h.remaining), ("reset", &h.reset)] {
                    if let Some(name) = name {
                        check_header_name(&format!("rate_limit.headers.{field}"), name)?;
                    }
                }
                if let Some(bucket) = &h.bucket {
                    check_header_name("rate_limit.headers.bucket.cost", &bucket.cost)?;
                    if h.remaining.is_none() {
                        return Err(invalid(
                            "rate_limit.headers.remaining",
                            "a header bucket reads its level from `remaining`",
                        ));
                    }
                    for (field, value) in [("maximum", bucket.maximum), ("restore_rate", bucket.restore_rate)] {
                        if !(value.is_finite() && value > 0.0) {
                            return Err(invalid(
                                format!("rate_limit.headers.bucket.{field}"),
                                "must be a positive number",
                            ));
                        }
                    }
                }
                if let Some(usage) = &h.usage {
                    check_header_name("rate_limit.headers.usage.name", &usage.name)?;
                    super::ratelimit::usage_regex(&usage.pattern)
                        .map_err(|e| invalid("rate_limit.headers.usage.pattern", e))?;
                }
                for (i, quota) in h.quotas.iter().enumerate() {
                    check_header_name(&format!("rate_limit.headers.quotas[{i}].remaining"), &quota.remaining)?;
                    if quota.window_ms == 0 {
                        return Err(invalid(
                            format!("rate_limit.headers.quotas[{i}].window_ms"),
                            "a quota's window must be longer than 0 ms",
                        ));
                    }
                }
            }
        }
        check_opt_pointer("errors.message", &def.errors.message)?;
        for (i, rule) in def.errors.rules.iter().enumerate() {
            let at = format!("errors.rules[{i}]");
            check_opt_pointer(&format!("{at}.message"), &rule.message)?;
            for p in &rule.status {
                let valid = match p {
                    StatusPattern::Code(c) => (100..=599).contains(c),
                    StatusPattern::Class(c) => {
                        matches!(c.as_bytes(), [b'1'..=b'5', b'x' | b'X', b'x' | b'X'])
                    }
                };
                if !valid {
                    return Err(invalid(
                        format!("{at}.status"),
                        format!("`{p:?}` is not a status code (100-599) or a class like \"5xx\""),
                    ));
                }
            }
            if let Some(b) = &rule.body {
                check_pointer(&format!("{at}.body.pointer"), &b.pointer)?;
            }
            if let Some(h) = &rule.header {
                check_header_name(&format!("{at}.header.name"), &h.name)?;
            }
            if rule.retry_after_secs.is_some()
                && !matches!(rule.action, ErrorAction::RateLimited | ErrorAction::QuotaSpent)
            {
                return Err(invalid(
                    format!("{at}.retry_after_secs"),
                    "only a `rate_limited` or `quota_spent` rule can set a retry delay",
                ));
            }
            if rule.status.is_empty() && rule.body.is_none() && rule.header.is_none() {
                return Err(invalid(at, "a rule needs at least one of `status`, `body`, `header`"));
            }
        }
        let check = match &def.check {
            None => None,
            Some(spec) => {
                let req = compile_request_in("check.request", &spec.request, def)?;
                config_only.check("check.request", req.vars(), &def.config)?;
                if let Some(m) = &spec.expect {
                    check_pointer("check.expect.pointer", &m.pointer)?;
                }
                Some(req)
            }
        };
        let preflight = match &def.write_preflight {
            None => None,
            Some(spec) => Some(compile_preflight(spec, def, &config_only)?),
        };
        let poll = match &def.poll {
            None => None,
            Some(spec) => {
                if let Some(m) = &spec.running {
                    check_pointer("poll.running.pointer", &m.pointer)?;
                }
                if !(spec.backoff.is_finite() && (1.0..=10.0).contains(&spec.backoff)) {
                    return Err(invalid("poll.backoff", "must be between 1 and 10"));
                }
                if spec.interval_ms == 0 || spec.max_wait_secs == 0 {
                    return Err(invalid("poll", "`interval_ms` and `max_wait_secs` must be above 0"));
                }
                match (&spec.url, &spec.request) {
                    (Some(url), None) => {
                        check_pointer("poll.url", url)?;
                        None
                    }
                    (None, Some(request)) => {
                        let req = compile_request_in("poll.request", request, def)?;
                        Allowed {
                            exact: &[],
                            roots: &["config", "response"],
                        }
                        .check("poll.request", req.vars(), &def.config)?;
                        Some(req)
                    }
                    _ => {
                        return Err(invalid(
                            "poll",
                            "give either `url` (a pointer to the status URL) or `request`",
                        ))
                    }
                }
            }
        };
        let mut streams = BTreeMap::new();
        for (name, spec) in &def.streams {
            check_name(&format!("streams.{name}"), name)?;
            streams.insert(name.clone(), compile_stream(&format!("streams.{name}"), spec, def)?);
        }
        check_parents(def)?;
        let mut writes = BTreeMap::new();
        for (name, spec) in &def.writes {
            check_name(&format!("writes.{name}"), name)?;
            writes.insert(name.clone(), compile_write(&format!("writes.{name}"), spec, def)?);
        }
        let mut own_origin = None;
        if let Some(hooks) = &def.webhooks {
            Scheme::from_name(&hooks.scheme).map_err(|e| invalid("webhooks.scheme", e.to_string()))?;
            check_pointer("webhooks.event_id", &hooks.event_id)?;
            check_pointer("webhooks.event_type", &hooks.event_type)?;
            check_opt_pointer("webhooks.object", &hooks.object)?;
            check_opt_pointer("webhooks.object_id", &hooks.object_id)?;
            if !hooks.events.is_empty() && hooks.object.is_none() && hooks.object_id.is_none() {
                return Err(invalid(
                    "webhooks",
                    "events map to streams, so set `object` (the object inside the event) or `object_id` (to fetch it)",
                ));
            }
            if let Some(origin) = &hooks.own_origin {
                check_pointer("webhooks.own_origin.pointer", &origin.pointer)?;
                if let Some(when) = &origin.when {
                    check_pointer("webhooks.own_origin.when.pointer", &when.pointer)?;
                }
                let template = Template::parse(&origin.equals)
                    .map_err(|e| invalid("webhooks.own_origin.equals", e.to_string()))?;
                for var in template.vars() {
                    if var.root() != "config" || !def.config.contains_key(var.as_str().trim_start_matches("config.")) {
                        return Err(invalid(
                            "webhooks.own_origin.equals",
                            format!("`{}` is not a config value of this definition", var.as_str()),
                        ));
                    }
                }
                own_origin = Some(template);
            }
            for (event, stream) in &hooks.events {
                let at = format!("webhooks.events.{event}");
                let Some(spec) = def.streams.get(stream) else {
                    return Err(invalid(at, format!("stream `{stream}` does not exist")));
                };
                if hooks.object.is_none() && spec.fetch.is_none() {
                    return Err(invalid(
                        at,
                        format!("events carry only an id, so stream `{stream}` needs a `fetch` request"),
                    ));
                }
                if event.find('*').is_some_and(|i| i != event.len() - 1) {
                    return Err(invalid(at, "`*` may only end an event pattern"));
                }
            }
        }
        let renewal = match def.webhooks.as_ref().and_then(|h| h.renewal.as_ref()) {
            None => None,
            Some(spec) => Some(compile_renewal(spec, def, &config_only)?),
        };
        super::sql::spec::validate(def)?;
        super::s3::spec::validate(def)?;
        super::smtp::spec::validate(def)?;
        super::imap::spec::validate(def)?;
        Ok(CompiledDefinition {
            defaults: RequestDefaults { headers, query },
            check,
            preflight,
            poll,
            streams,
            writes,
            renewal,
            own_origin,
        })
    }
}

fn compile_renewal(
    spec: &super::definition::RenewalSpec,
    def: &ConnectorDefinition,
    config_only: &Allowed<'_>,
) -> Result<CompiledRenewal, Invalid> {
    let at = "webhooks.renewal";
    let list = compile_request_in(&format!("{at}.list"), &spec.list, def)?;
    config_only.check(&format!("{at}.list"), list.vars(), &def.config)?;
    let request = compile_request_in(&format!("{at}.request"), &spec.request, def)?;
    Allowed {
        exact: &["id", "expires_at"],
        roots: &["config"],
    }
    .check(&format!("{at}.request"), request.vars(), &def.config)?;
    check_pointer(&format!("{at}.records"), &spec.records)?;
    check_opt_pointer(&format!("{at}.next_url"), &spec.next_url)?;
    check_pointer(&format!("{at}.id"), &spec.id)?;
    check_pointer(&format!("{at}.expires_at"), &spec.expires_at)?;
    check_pointer(&format!("{at}.notification_url"), &spec.notification_url)?;
    if spec.margin_secs <= 0 || spec.lifetime_secs <= spec.margin_secs {
        return Err(invalid(
            at,
            "`margin_secs` must be above 0 and `lifetime_secs` above `margin_secs` (else every run renews)",
        ));
    }
    Ok(CompiledRenewal { list, request })
}

fn compile_preflight(
    spec: &super::definition::PreflightSpec,
    def: &ConnectorDefinition,
    config_only: &Allowed<'_>,
) -> Result<CompiledRequest, Invalid> {
    let at = "write_preflight";
    if def.writes.is_empty() {
        return Err(invalid(at, "a write pre-flight needs write operations to serve"));
    }
    let req = compile_request_in(&format!("{at}.request"), &spec.request, def)?;
    config_only.check(&format!("{at}.request"), req.vars(), &def.config)?;
    if spec.capture_headers.is_empty() && !spec.cookies {
        return Err(invalid(
            at,
            "the pre-flight captures nothing: name `capture_headers` or leave `cookies` on",
        ));
    }
    for (i, name) in spec.capture_headers.iter().enumerate() {
        check_header_name(&format!("{at}.capture_headers[{i}]"), name)?;
    }
    for (i, rule) in spec.refresh_on.iter().enumerate() {
        let field = format!("{at}.refresh_on[{i}]");
        if rule.status.is_empty() && rule.header.is_none() {
            return Err(invalid(field, "a refresh rule needs `status` or `header`"));
        }
        for p in &rule.status {
            let valid = match p {
                StatusPattern::Code(c) => (100..=599).contains(c),
                StatusPattern::Class(c) => matches!(c.as_bytes(), [b'1'..=b'5', b'x' | b'X', b'x' | b'X']),
            };
            if !valid {
                return Err(invalid(
                    format!("{field}.status"),
                    format!("`{p:?}` is not a status code (100-599) or a class like \"4xx\""),
                ));
            }
        }
        if let Some(h) = &rule.header {
            check_header_name(&format!("{field}.header.name"), &h.name)?;
        }
    }
    Ok(req)
}

fn check_auth(
    auth: &[AuthSpec],
    config_only: &Allowed<'_>,
    config: &BTreeMap<String, super::definition::ConfigField>,
) -> Result<(), Invalid> {
    for (i, spec) in auth.iter().enumerate() {
        let at = format!("auth[{i}]");
        // Alternatives of one kind (OAuth2 with a user's refresh token, then client credentials)
        // are told apart by their credentials: the first whose credentials are all present is
        // used, so a later one is never chosen when an earlier one needs nothing it lacks.
        let mine = spec.required_credentials();
        let shadowed = auth[..i].iter().any(|earlier| {
            earlier.kind() == spec.kind() && earlier.required_credentials().iter().all(|k| mine.contains(k))
        });
        if shadowed {
            return Err(invalid(
                at,
                format!(
                    "a second `{}` alternative cannot be told apart from an earlier one: that one needs no \
                     credential this one lacks, so this one is never chosen (list the one needing more first)",
                    spec.kind()
                ),
            ));
        }
        for key in spec.required_credentials() {
            if key.trim().is_empty() {
                return Err(invalid(at.clone(), "credential key names must not be empty"));
            }
        }
        match spec {
            AuthSpec::ApiKeys { headers } => {
                if headers.len() < 2 {
                    return Err(invalid(
                        format!("{at}.headers"),
                        "name at least two headers (one key is `type: api_key`)",
                    ));
                }
                for (j, header) in headers.iter().enumerate() {
                    check_header_name(&format!("{at}.headers[{j}].name"), &header.name)?;
                    if headers[..j].iter().any(|h| h.name.eq_ignore_ascii_case(&header.name)) {
                        return Err(invalid(
                            format!("{at}.headers[{j}].name"),
                            format!("the header `{}` is named twice", header.name),
                        ));
                    }
                }
            }
            AuthSpec::ApiKey { name, location, .. } => {
                if matches!(location, super::definition::KeyLocation::Header) {
                    check_header_name(&format!("{at}.name"), name)?;
                } else if name.is_empty() {
                    return Err(invalid(
                        format!("{at}.name"),
                        "the query parameter name must not be empty",
                    ));
                }
            }
            AuthSpec::Oauth2(o) => {
                let field = format!("{at}.token_url");
                let template = Template::parse(&o.token_url).map_err(|e| invalid(&field, e.to_string()))?;
                if template.is_literal() {
                    let url = Url::parse(&o.token_url).map_err(|_| invalid(&field, "not an absolute URL"))?;
                    if !matches!(url.scheme(), "https" | "http") {
                        return Err(invalid(&field, "the scheme must be https"));
                    }
                } else {
                    // Filled from the connection's config when a client is built; the URL
                    // is checked then.
                    config_only.check(&field, template.vars().map(|v| (String::new(), v)), config)?;
                }
                match (&o.audience, o.grant) {
                    (Some(audience), _) => {
                        let field = format!("{at}.audience");
                        let template = Template::parse(audience).map_err(|e| invalid(&field, e.to_string()))?;
                        config_only.check(&field, template.vars().map(|v| (String::new(), v)), config)?;
                        if o.grant != super::definition::Grant::JwtBearer {
                            return Err(invalid(&field, "only the jwt_bearer grant sends an audience"));
                        }
                    }
                    (None, super::definition::Grant::JwtBearer) => {
                        return Err(invalid(
                            format!("{at}.audience"),
                            "the jwt_bearer grant needs the assertion's audience (`aud` claim)",
                        ));
                    }
                    (None, _) => {}
                }
                for (i, scope) in o.scopes.iter().enumerate() {
                    let field = format!("{at}.scopes[{i}]");
                    let template = Template::parse(scope).map_err(|e| invalid(&field, e.to_string()))?;
                    config_only.check(&field, template.vars().map(|v| (String::new(), v)), config)?;
                }
                if let Some(name) = &o.base_url_from {
                    if name.trim().is_empty() || name.contains('/') {
                        return Err(invalid(
                            format!("{at}.base_url_from"),
                            "name a top-level field of the token response (`instance_url`)",
                        ));
                    }
                }
                if let Some(name) = &o.token_header {
                    check_header_name(&format!("{at}.token_header"), name)?;
                }
                check_pointer(&format!("{at}.token_pointer"), &o.token_pointer)?;
                check_opt_pointer(&format!("{at}.expires_at_pointer"), &o.expires_at_pointer)?;
                if o.header_scheme.is_empty() || !o.header_scheme.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(invalid(
                        format!("{at}.header_scheme"),
                        "a scheme word without spaces (`Bearer`)",
                    ));
                }
            }
            AuthSpec::Oauth1(o) => {
                if let Some(realm) = &o.realm {
                    let t = Template::parse(realm).map_err(|e| invalid(format!("{at}.realm"), e.to_string()))?;
                    for var in t.vars() {
                        if var.root() != "config" || !var.as_str().contains('.') {
                            return Err(invalid(
                                format!("{at}.realm"),
                                format!("placeholder `{var}` is not available here; use config.*"),
                            ));
                        }
                    }
                }
            }
            AuthSpec::Jwt(j) => {
                let claims = [
                    ("issuer", Some(&j.issuer)),
                    ("subject", Some(&j.subject)),
                    ("audience", j.audience.as_ref()),
                ];
                for (name, text) in claims {
                    let Some(text) = text else { continue };
                    let field = format!("{at}.{name}");
                    let t = Template::parse(text).map_err(|e| invalid(&field, e.to_string()))?;
                    let config_vars: Vec<_> = t
                        .vars()
                        .filter(|v| v.as_str() != "public_key_fingerprint")
                        .map(|v| (String::new(), v))
                        .collect();
                    config_only.check(&field, config_vars, config)?;
                }
                if j.lifetime_secs == 0 {
                    return Err(invalid(format!("{at}.lifetime_secs"), "must be at least 1"));
                }
                if j.header_scheme.is_empty() || !j.header_scheme.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(invalid(
                        format!("{at}.header_scheme"),
                        "a scheme word without spaces (`Bearer`)",
                    ));
                }
            }
            AuthSpec::Session(session) => {
                let src = &session.token;
                let sources = [src.pointer.is_some(), src.header.is_some(), src.cookie.is_some()];
                if sources.iter().filter(|s| **s).count() != 1 {
                    return Err(invalid(
                        format!("{at}.token"),
                        "name exactly one of `pointer`, `header`, `cookie`",
                    ));
                }
                check_opt_pointer(&format!("{at}.token.pointer"), &src.pointer)?;
                if let Some(h) = &src.header {
                    check_header_name(&format!("{at}.token.header"), h)?;
                }
                if let super::definition::SessionPut::Header { name, .. } = &session.put {
                    check_header_name(&format!("{at}.put.name"), name)?;
                }
                if session.lifetime_secs == 0 {
                    return Err(invalid(format!("{at}.lifetime_secs"), "must be at least 1"));
                }
                for (name, pointer) in &session.capture {
                    let field = format!("{at}.capture.{name}");
                    check_name(&field, name)?;
                    if name == "token" || name.contains('.') {
                        return Err(invalid(field, "`token` and dotted names are not capture names"));
                    }
                    check_pointer(&field, pointer)?;
                }
                let field = format!("{at}.login.request");
                let login = compile_request(&field, &session.login)?;
                // The login reads config and the credentials; it has no session yet.
                for (place, var) in login.vars() {
                    let ok = match var.root() {
                        "config" => true,
                        "credentials" => var
                            .as_str()
                            .strip_prefix("credentials.")
                            .is_some_and(|k| session.credentials.iter().any(|c| c == k)),
                        _ => false,
                    };
                    if !ok {
                        return Err(invalid(
                            format!("{field}.{place}"),
                            format!("placeholder `{var}` is not available here; use config.* or credentials.<a key listed under `credentials`>"),
                        ));
                    }
                }
                config_only.check(
                    &field,
                    login.vars().into_iter().filter(|(_, v)| v.root() == "config"),
                    config,
                )?;
                for slot in login.secret_slots() {
                    let listed = slot
                        .as_str()
                        .strip_prefix("credentials.")
                        .is_some_and(|k| session.credentials.iter().any(|c| c == k));
                    if !listed {
                        return Err(invalid(
                            format!("{field}.body"),
                            format!("the login can read only credentials listed under `credentials`, not `{slot}`"),
                        ));
                    }
                }
            }
            AuthSpec::Bearer { .. } | AuthSpec::Basic { .. } => {}
        }
    }
    Ok(())
}

fn compile_stream(at: &str, spec: &StreamSpec, def: &ConnectorDefinition) -> Result<CompiledStream, Invalid> {
    check_record_schema(&format!("{at}.schema"), &spec.schema)?;
    check_pointer(&format!("{at}.primary_key"), &spec.primary_key)?;
    if let Some(status) = spec.empty_statuses.iter().find(|s| !(200..400).contains(*s)) {
        return Err(invalid(
            format!("{at}.empty_statuses"),
            format!("{status} is not a success (2xx) or a redirection (3xx, `304 Not Modified`)"),
        ));
    }
    let time_cursor = match &spec.cursor {
        Some(c) => {
            check_pointer(&format!("{at}.cursor.field"), &c.field)?;
            if c.lookback_secs > 0 && matches!(c.kind, CursorKind::String | CursorKind::DeltaLink) {
                return Err(invalid(
                    format!("{at}.cursor.lookback_secs"),
                    "a string cursor or a delta link cannot be moved back in time",
                ));
            }
            if let Some(expired) = &c.expired {
                if expired.status.is_empty() || expired.status.iter().any(|s| (200..300).contains(s)) {
                    return Err(invalid(
                        format!("{at}.cursor.expired.status"),
                        "give the error statuses that say the cursor is gone (not a success)",
                    ));
                }
                if let Some(m) = &expired.body {
                    check_pointer(&format!("{at}.cursor.expired.body.pointer"), &m.pointer)?;
                }
            }
            if c.kind == CursorKind::DeltaLink && spec.changes.is_some() {
                return Err(invalid(
                    format!("{at}.cursor.type"),
                    "a delta link is the stream's own change feed: a stream with one has no `changes`",
                ));
            }
            !matches!(c.kind, CursorKind::String | CursorKind::DeltaLink)
        }
        None => false,
    };
    let mut page_vars: Vec<&str> = Vec::new();
    let mut required_page_var = None;
    match &spec.pagination {
        PaginationSpec::None | PaginationSpec::LinkHeader { .. } => {}
        PaginationSpec::Cursor {
            token,
            token_from_last_record,
            has_more,
            end_of_stream,
            page_size,
            result_set,
        } => {
            let p = format!("{at}.pagination");
            if has_more.is_some() && end_of_stream.is_some() {
                return Err(invalid(
                    p,
                    "cursor pagination takes at most one of `has_more` and `end_of_stream`",
                ));
            }
            check_opt_pointer(&format!("{p}.end_of_stream"), end_of_stream)?;
            if *result_set && has_more.is_none() {
                return Err(invalid(
                    format!("{p}.has_more"),
                    "a result-set token repeats from page to page, so `has_more` must say when the run ends",
                ));
            }
            match (token, token_from_last_record) {
                (Some(t), None) => check_pointer(&format!("{p}.token"), t)?,
                (None, Some(t)) => check_pointer(&format!("{p}.token_from_last_record"), t)?,
                _ => {
                    return Err(invalid(
                        p,
                        "cursor pagination needs exactly one of `token` and `token_from_last_record`",
                    ))
                }
            }
            check_opt_pointer(&format!("{p}.has_more"), has_more)?;
            if *page_size == Some(0) {
                return Err(invalid(format!("{p}.page_size"), "must be at least 1"));
            }
            page_vars.push("page.token");
            if page_size.is_some() {
                page_vars.push("page.size");
            }
            required_page_var = Some("page.token");
        }
        PaginationSpec::NextUrl { pointer } => check_pointer(&format!("{at}.pagination.pointer"), pointer)?,
        PaginationSpec::ResultSet {
            handle,
            token,
            partitions,
        } => {
            let p = format!("{at}.pagination");
            check_pointer(&format!("{p}.handle"), handle)?;
            check_opt_pointer(&format!("{p}.token"), token)?;
            check_opt_pointer(&format!("{p}.partitions"), partitions)?;
            if token.is_some() == partitions.is_some() {
                return Err(invalid(
                    p,
                    "result_set pagination needs exactly one of `token` and `partitions`",
                ));
            }
            if spec.next_request.is_none() {
                return Err(invalid(
                    format!("{at}.next_request"),
                    "result_set pagination reads later pages with a `next_request` that sends `{{ page.handle }}`",
                ));
            }
            page_vars.push("page.handle");
            page_vars.push(if token.is_some() { "page.token" } else { "page.number" });
            required_page_var = Some("page.handle");
        }
        PaginationSpec::Offset {
            page_size,
            total,
            has_more,
            ..
        } => {
            if *page_size == 0 {
                return Err(invalid(format!("{at}.pagination.page_size"), "must be at least 1"));
            }
            check_opt_pointer(&format!("{at}.pagination.total"), total)?;
            check_opt_pointer(&format!("{at}.pagination.has_more"), has_more)?;
            if total.is_some() && has_more.is_some() {
                return Err(invalid(
                    format!("{at}.pagination.has_more"),
                    "give `total` or `has_more`, not both",
                ));
            }
            page_vars.extend(["page.offset", "page.size"]);
            required_page_var = Some("page.offset");
        }
        PaginationSpec::PageNumber {
            page_size,
            total_pages,
            total_pages_header,
            total,
            ..
        } => {
            if *page_size == 0 {
                return Err(invalid(format!("{at}.pagination.page_size"), "must be at least 1"));
            }
            check_opt_pointer(&format!("{at}.pagination.total_pages"), total_pages)?;
            check_opt_pointer(&format!("{at}.pagination.total"), total)?;
            if let Some(name) = total_pages_header {
                check_header_name(&format!("{at}.pagination.total_pages_header"), name)?;
            }
            let given = [total_pages.is_some(), total_pages_header.is_some(), total.is_some()];
            if given.iter().filter(|g| **g).count() > 1 {
                return Err(invalid(
                    format!("{at}.pagination"),
                    "page_number pagination takes at most one of `total_pages`, `total_pages_header` and `total`",
                ));
            }
            page_vars.extend(["page.number", "page.size"]);
            required_page_var = Some("page.number");
        }
    }
    let mut exact = page_vars.clone();
    if spec.cursor.is_some() {
        exact.push("since");
    }
    if time_cursor {
        exact.extend([
            "since.unix_seconds",
            "since.unix_millis",
            "since.rfc3339",
            "since.utc_datetime",
            "since.utc_date",
        ]);
    }
    let allowed = Allowed {
        exact: &exact,
        roots: if spec.parent.is_some() {
            &["config", "parent"]
        } else {
            &["config"]
        },
    };
    let continued = spec.next_request.is_some();
    if continued
        && !matches!(
            spec.pagination,
            PaginationSpec::Cursor { .. } | PaginationSpec::ResultSet { .. }
        )
    {
        return Err(invalid(
            format!("{at}.next_request"),
            "a next-page request needs `cursor` or `result_set` pagination (it sends `{{ page.token }}` or `{{ page.handle }}`)",
        ));
    }
    let compile_page =
        |field: String, req: &super::definition::RequestSpec, sends_page: bool| -> Result<CompiledRequest, Invalid> {
            let compiled = compile_request_in(&field, req, def)?;
            allowed.check(&field, compiled.vars(), &def.config)?;
            if let Some(required) = required_page_var.filter(|_| sends_page) {
                if !compiled.vars().iter().any(|(_, v)| v.as_str() == required) {
                    return Err(invalid(
                        field,
                        format!(
                        "the pagination sends the next page as `{{{{ {required} }}}}`, which the request never uses"
                    ),
                    ));
                }
            }
            Ok(compiled)
        };
    // With a next-page request, the first request starts the listing and the next-page
    // request carries the token.
    let compile_list = |field: String, req: &super::definition::RequestSpec| compile_page(field, req, !continued);
    let request = match &spec.request {
        Some(req) => Some(compile_list(format!("{at}.request"), req)?),
        None => {
            // Fed by webhooks only: nothing here may describe reading a list.
            let listing = [
                ("incremental_request", spec.incremental_request.is_some()),
                ("next_request", spec.next_request.is_some()),
                ("cursor", spec.cursor.is_some()),
                ("changes", spec.changes.is_some()),
                ("parent", spec.parent.is_some()),
                ("pagination", spec.pagination != PaginationSpec::None),
                ("missing_is_deleted", spec.missing_is_deleted),
            ];
            if let Some((field, _)) = listing.iter().find(|(_, given)| *given) {
                return Err(invalid(
                    format!("{at}.{field}"),
                    "a stream without a list `request` is fed by webhooks only, so it has no list to page, filter or follow",
                ));
            }
            let routed = def
                .webhooks
                .as_ref()
                .filter(|hooks| hooks.object.is_some())
                .is_some_and(|hooks| {
                    hooks
                        .events
                        .values()
                        .any(|s| at.strip_prefix("streams.") == Some(s.as_str()))
                });
            if !routed {
                return Err(invalid(
                    format!("{at}.request"),
                    "a stream without a list request must be fed by webhooks: route an event type to it (`webhooks.events`) with the record embedded (`webhooks.object`)",
                ));
            }
            None
        }
    };
    let next_request = match &spec.next_request {
        None => None,
        Some(req) => Some(compile_page(format!("{at}.next_request"), req, true)?),
    };
    let incremental_request = match &spec.incremental_request {
        None => None,
        Some(req) => {
            if spec.cursor.is_none() {
                return Err(invalid(
                    format!("{at}.incremental_request"),
                    "an incremental request needs a `cursor`",
                ));
            }
            Some(compile_list(format!("{at}.incremental_request"), req)?)
        }
    };
    let records = match (&spec.records, &request) {
        (Some(records), Some(_)) => {
            Selector::parse(records).map_err(|e| invalid(format!("{at}.records"), e.to_string()))?
        }
        (None, Some(_)) => {
            return Err(invalid(
                format!("{at}.records"),
                "a stream with a list request says where its records are in a response (`/data`, or `\"\"` for the whole response)",
            ))
        }
        (Some(_), None) => {
            return Err(invalid(
                format!("{at}.records"),
                "a stream fed by webhooks only has no list response to select records from",
            ))
        }
        // The webhook's `object` is the record.
        (None, None) => Selector::parse("").expect("an empty pointer is a selector"),
    };
    if let Some(total) = &spec.total {
        if !total.starts_with('/') {
            return Err(invalid(
                format!("{at}.total"),
                format!("{total:?} is not a JSON pointer (it starts with `/`, like `/total`)"),
            ));
        }
    }
    let fetch = match &spec.fetch {
        None => None,
        Some(f) => {
            let field = format!("{at}.fetch.request");
            let req = compile_request_in(&field, &f.request, def)?;
            Allowed {
                exact: &["id"],
                roots: &["config"],
            }
            .check(&field, req.vars(), &def.config)?;
            if !req.vars().iter().any(|(_, v)| v.as_str() == "id") {
                return Err(invalid(field, "a fetch request must use `{{ id }}`"));
            }
            let record =
                Selector::parse(&f.record).map_err(|e| invalid(format!("{at}.fetch.record"), e.to_string()))?;
            let id_pattern = match &f.id_pattern {
                None => None,
                Some(p) => Some(
                    regex::RegexBuilder::new(&format!("^(?:{p})$"))
                        .size_limit(1 << 20)
                        .build()
                        .map_err(|e| {
                            invalid(
                                format!("{at}.fetch.id_pattern"),
                                format!("not a regular expression: {e}"),
                            )
                        })?,
                ),
            };
            Some(CompiledFetch {
                request: req,
                record,
                id_pattern,
            })
        }
    };
    let changes = match &spec.changes {
        None => None,
        Some(ch) => {
            let field = format!("{at}.changes");
            let Some(cursor) = &spec.cursor else {
                return Err(invalid(field, "a change feed needs the stream's `cursor`"));
            };
            if fetch.is_none() {
                return Err(invalid(
                    field,
                    "a change feed needs `fetch`: changed records are fetched as they are now",
                ));
            }
            if ch.cursor.kind != cursor.kind {
                return Err(invalid(
                    format!("{field}.cursor.type"),
                    "must be the stream cursor's type: the feed continues from the same cursor",
                ));
            }
            for (name, pointer) in [("id", &ch.id), ("cursor.field", &ch.cursor.field)] {
                if !pointer.starts_with('/') {
                    return Err(invalid(
                        format!("{field}.{name}"),
                        format!("{pointer:?} is not a JSON pointer (it starts with `/`)"),
                    ));
                }
            }
            let request = compile_page(format!("{field}.request"), &ch.request, !ch.unpaged)?;
            let items = Selector::parse(&ch.records).map_err(|e| invalid(format!("{field}.records"), e.to_string()))?;
            Some((request, items))
        }
    };
    let mut parent_fields: Vec<Vec<String>> = Vec::new();
    for req in [request.as_ref(), incremental_request.as_ref(), next_request.as_ref()]
        .into_iter()
        .flatten()
    {
        for (_, var) in req.vars() {
            if var.root() == "parent" {
                let path: Vec<String> = var.as_str().split('.').skip(1).map(str::to_owned).collect();
                if !parent_fields.contains(&path) {
                    parent_fields.push(path);
                }
            }
        }
    }
    if spec.parent.is_some() {
        if parent_fields.is_empty() {
            return Err(invalid(
                format!("{at}.request"),
                "a child stream's request must use its parent record (`{{ parent.<field> }}`)",
            ));
        }
        if spec.changes.is_some() {
            return Err(invalid(
                format!("{at}.changes"),
                "a child stream is read per parent record, not from a change feed",
            ));
        }
    }
    let search = compile_search(at, spec, def)?;
    Ok(CompiledStream {
        request,
        incremental_request,
        next_request,
        records,
        fetch,
        changes,
        parent_fields,
        search,
    })
}

/// Each child stream names another stream of the definition as its parent, and following
/// parents never comes back to a stream (no cycles).
fn check_parents(def: &ConnectorDefinition) -> Result<(), Invalid> {
    for (name, spec) in &def.streams {
        let Some(first) = &spec.parent else { continue };
        let at = format!("streams.{name}.parent.stream");
        let mut seen = vec![name.as_str()];
        let mut current = first;
        loop {
            let Some(parent) = def.streams.get(&current.stream) else {
                return Err(invalid(
                    at,
                    format!("`{}` is not a stream of this definition", current.stream),
                ));
            };
            if seen.contains(&current.stream.as_str()) {
                return Err(invalid(
                    at,
                    format!(
                        "the parents come back to `{}`: a stream cannot descend from itself",
                        current.stream
                    ),
                ));
            }
            seen.push(current.stream.as_str());
            match &parent.parent {
                Some(next) => current = next,
                None => break,
            }
        }
    }
    Ok(())
}

/// A record schema names a file under the specs directory and a pointer in it, or is inline.
fn check_record_schema(at: &str, schema: &Option<super::definition::RecordSchema>) -> Result<(), Invalid> {
    let Some(schema) = schema else { return Ok(()) };
    match (&schema.spec, &schema.pointer, &schema.inline) {
        (Some(spec), Some(pointer), None) => {
            let relative = std::path::Path::new(spec)
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
            if spec.is_empty() || !relative {
                return Err(invalid(
                    format!("{at}.spec"),
                    "must be a path inside the specs directory (`stripe/spec3.yaml`: relative, no `..`)",
                ));
            }
            if !pointer.starts_with('/') {
                return Err(invalid(
                    format!("{at}.pointer"),
                    format!("{pointer:?} is not a JSON pointer (it starts with `/`)"),
                ));
            }
            Ok(())
        }
        (None, None, Some(inline)) if inline.is_object() => Ok(()),
        (None, None, Some(_)) => Err(invalid(format!("{at}.inline"), "must be a JSON Schema object")),
        _ => Err(invalid(
            at.to_string(),
            "give either `spec` and `pointer` (a schema in the provider's description) or `inline`",
        )),
    }
}

/// A stream's identity pointers and searches: pointers are pointers, a search needs the
/// identity it looks up, and its request uses only what a search offers.
fn compile_search(at: &str, spec: &StreamSpec, def: &ConnectorDefinition) -> Result<Vec<CompiledSearch>, Invalid> {
    if let Some(id) = &spec.identity {
        for (name, pointer) in [
            ("email", &id.email),
            ("phone", &id.phone),
            ("first_name", &id.first_name),
            ("last_name", &id.last_name),
            ("name", &id.name),
            ("company", &id.company),
        ] {
            check_opt_pointer(&format!("{at}.identity.{name}"), pointer)?;
        }
    }
    let mut out = Vec::with_capacity(spec.search.len());
    for (kind, search) in &spec.search {
        let field = format!("{at}.search.{}", kind.name());
        let id = spec.identity.clone().unwrap_or_default();
        let has = match kind {
            super::definition::SearchKind::Email => id.email.is_some(),
            super::definition::SearchKind::Phone => id.phone.is_some(),
            super::definition::SearchKind::Name => id.name.is_some() || id.last_name.is_some(),
        };
        if !has {
            return Err(invalid(
                field,
                format!(
                    "a search by {} needs the stream's `identity` to say where a record keeps it",
                    kind.name()
                ),
            ));
        }
        let request = compile_request_in(&format!("{field}.request"), &search.request, def)?;
        Allowed {
            exact: &["value", "first_name", "last_name", "company"],
            roots: &["config"],
        }
        .check(&format!("{field}.request"), request.vars(), &def.config)?;
        let records =
            Selector::parse(&search.records).map_err(|e| invalid(format!("{field}.records"), e.to_string()))?;
        out.push(CompiledSearch {
            kind: *kind,
            request,
            records,
            not_found: search.not_found.clone(),
        });
    }
    Ok(out)
}

fn compile_write(at: &str, spec: &WriteSpec, def: &ConnectorDefinition) -> Result<CompiledWrite, Invalid> {
    check_record_schema(&format!("{at}.schema"), &spec.schema)?;
    if let Some(stream) = &spec.stream {
        if !def.streams.contains_key(stream) {
            return Err(invalid(
                format!("{at}.stream"),
                format!("`{stream}` is not a stream of this definition"),
            ));
        }
    }
    if matches!(spec.kind, WriteKind::Update | WriteKind::Upsert | WriteKind::Delete) && spec.key.is_none() {
        return Err(invalid(
            format!("{at}.key"),
            "update, upsert and delete operations need the `key` that identifies a record",
        ));
    }
    check_opt_pointer(&format!("{at}.key"), &spec.key)?;
    if !(1..=1000).contains(&spec.batch_size) {
        return Err(invalid(format!("{at}.batch_size"), "must be between 1 and 1000"));
    }
    if let Some(rc) = &spec.read_current {
        let field = format!("{at}.read_current");
        if spec.key.is_none() {
            return Err(invalid(
                format!("{at}.key"),
                "`read_current` fetches a record by the write's `key`, which is not set",
            ));
        }
        if spec.batch_size != 1 {
            return Err(invalid(
                format!("{at}.batch_size"),
                "`read_current` reads one record before its request: use batch_size 1",
            ));
        }
        match def.streams.get(&rc.stream) {
            None => {
                return Err(invalid(
                    format!("{field}.stream"),
                    format!("there is no stream `{}`", rc.stream),
                ))
            }
            Some(stream) if stream.fetch.is_none() => {
                return Err(invalid(
                    format!("{field}.stream"),
                    format!("stream `{}` has no `fetch` to read a record by its key", rc.stream),
                ))
            }
            Some(_) => {}
        }
    }
    let field = format!("{at}.request");
    let request = compile_request_in(&field, &spec.request, def)?;
    let single: &[&str] = &["records", "item", "key", "ref"];
    let single_roots: &[&str] = if spec.read_current.is_some() {
        &["config", "record", "current"]
    } else {
        &["config", "record"]
    };
    let allowed = if spec.batch_size == 1 {
        Allowed {
            exact: single,
            roots: single_roots,
        }
    } else {
        Allowed {
            exact: &["records"],
            roots: &["config"],
        }
    };
    allowed.check(&field, request.vars(), &def.config)?;
    let sends_records = request
        .vars()
        .iter()
        .any(|(_, v)| matches!(v.root(), "records" | "record" | "item"));
    // A delete names its record by its key (`DELETE /contacts/{{ key }}`), and sends nothing else.
    let names_key = spec.kind == WriteKind::Delete && request.vars().iter().any(|(_, v)| v.as_str() == "key");
    if !sends_records && !names_key {
        return Err(invalid(
            field,
            "the request never sends the records: use `{{ records }}` (or `{{ record }}` with batch_size 1)",
        ));
    }
    let envelope = match &spec.envelope {
        None => None,
        Some(v) => {
            let t = JsonTemplate::compile(v)
                .map_err(|(p, e)| invalid(format!("{at}.envelope{}", p.replace('/', ".")), e.to_string()))?;
            Allowed {
                exact: &["key", "ref"],
                roots: single_roots,
            }
            .check(
                &format!("{at}.envelope"),
                t.vars().into_iter().map(|v| (String::new(), v)),
                &def.config,
            )?;
            Some(t)
        }
    };
    let r = &spec.response;
    if let Some(results) = r.results.as_deref().filter(|p| !p.starts_with('/')) {
        Selector::parse(results).map_err(|e| invalid(format!("{at}.response.results"), e.to_string()))?;
    }
    for (name, p) in [
        ("results", &r.results.clone().filter(|p| p.starts_with('/'))),
        ("destination_id", &r.destination_id),
        ("result_ref", &r.result_ref),
        ("result_key", &r.result_key),
        ("errors", &r.errors),
        ("error_ref", &r.error_ref),
        ("error_key", &r.error_key),
        ("error_message", &r.error_message),
    ] {
        check_opt_pointer(&format!("{at}.response.{name}"), p)?;
    }
    if let Some(m) = &r.result_failed {
        check_pointer(&format!("{at}.response.result_failed.pointer"), &m.pointer)?;
        if r.results.is_none() {
            return Err(invalid(
                format!("{at}.response.result_failed"),
                "`result_failed` judges entries of `results`, which is not set",
            ));
        }
    }
    if let Some(h) = &r.destination_id_header {
        check_header_name(&format!("{at}.response.destination_id_header"), h)?;
        if spec.batch_size > 1 {
            return Err(invalid(
                format!("{at}.response.destination_id_header"),
                "a header names one record: use it with batch_size 1",
            ));
        }
    }
    if spec.batch_size > 1 && r.results.is_none() && r.errors.is_none() && !r.all_or_nothing {
        return Err(invalid(
            format!("{at}.response.results"),
            "a batch write needs `results` (or `errors` listing only the refused records, or \
             `all_or_nothing: true`) to tell which records succeeded",
        ));
    }
    if r.all_or_nothing && (r.results.is_some() || r.errors.is_some()) {
        return Err(invalid(
            format!("{at}.response.all_or_nothing"),
            "an all-or-nothing response has no per-record `results` or `errors`",
        ));
    }
    let sign = match &spec.sign {
        None => None,
        Some(s) => {
            let scheme =
                Scheme::from_name(&s.scheme).map_err(|e| invalid(format!("{at}.sign.scheme"), e.to_string()))?;
            if s.secret.trim().is_empty() {
                return Err(invalid(
                    format!("{at}.sign.secret"),
                    "name the credential holding the secret",
                ));
            }
            Some(scheme)
        }
    };
    let upload = match &spec.upload_session {
        None => None,
        Some(session) => {
            let field = format!("{at}.upload_session");
            if spec.batch_size != 1 {
                return Err(invalid(
                    format!("{at}.batch_size"),
                    "an upload session sends one file: use batch_size 1",
                ));
            }
            if spec.request.body_format != BodyFormat::Base64 {
                return Err(invalid(
                    format!("{at}.request.body_format"),
                    "files under the threshold go by the write's request, which sends their bytes: use `base64`",
                ));
            }
            let content =
                Template::parse(&session.content).map_err(|e| invalid(format!("{field}.content"), e.to_string()))?;
            allowed.check(
                &format!("{field}.content"),
                content.vars().map(|v| (String::new(), v)),
                &def.config,
            )?;
            let request = compile_request_in(&format!("{field}.request"), &session.request, def)?;
            allowed.check(&format!("{field}.request"), request.vars(), &def.config)?;
            check_pointer(&format!("{field}.upload_url"), &session.upload_url)?;
            if session.threshold_bytes == 0 {
                return Err(invalid(
                    format!("{field}.threshold_bytes"),
                    "must be above 0 (an empty file has nothing to send in fragments)",
                ));
            }
            if session.fragment_multiple == 0
                || session.fragment_bytes == 0
                || session.fragment_bytes % session.fragment_multiple != 0
            {
                return Err(invalid(
                    format!("{field}.fragment_bytes"),
                    format!(
                        "must be a positive multiple of fragment_multiple ({})",
                        session.fragment_multiple
                    ),
                ));
            }
            Some((content, request))
        }
    };
    Ok(CompiledWrite {
        request,
        upload,
        envelope,
        sign,
    })
}
