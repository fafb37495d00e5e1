//! Request templates, compiled once and rendered into a [`PreparedRequest`] (pure: no I/O).
//! The engine adds credentials and sends it with reqwest.

use std::borrow::Cow;

use reqwest::Url;
use serde_json::Value;

use super::definition::{BodyFormat, HttpMethod, RequestSpec, Scalar};
use super::errors::ConnectorError;
use super::template::{JsonTemplate, PathError, Template, TemplateError, VarName, Vars};
use super::xml::XmlTemplate;

/// A request template with its templates parsed.
#[derive(Debug, Clone)]
pub struct CompiledRequest {
    pub method: HttpMethod,
    path: Template,
    query: Vec<(String, Template)>,
    headers: Vec<(String, Template)>,
    json_headers: Vec<(String, JsonTemplate)>,
    host: Option<String>,
    body: Option<BodyTemplate>,
    body_format: BodyFormat,
}

/// What the definition adds to every request it builds: its `headers` and its `query`
/// parameters (an API version pin such as QuickBooks' `minorversion`), templates over
/// `config`. A request's own header or parameter of the same name wins.
#[derive(Debug, Clone, Default)]
pub struct RequestDefaults {
    pub headers: Vec<(String, Template)>,
    pub query: Vec<(String, Template)>,
}

/// A compiled body template.
#[derive(Debug, Clone)]
enum BodyTemplate {
    /// JSON or form: a JSON value whose strings hold placeholders.
    Json(JsonTemplate),
    /// XML: one string template, values escaped (see [`super::xml`]).
    Xml(XmlTemplate),
}

/// A rendered request, ready for credentials.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedRequest {
    pub method: HttpMethod,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Option<PreparedBody>,
    /// Whether the connection's credentials go with it: true but for a request to one of the
    /// definition's `hosts` that does not take them.
    pub credentials: bool,
}

/// An encoded body.
#[derive(Debug, Clone, PartialEq)]
pub enum PreparedBody {
    /// `application/json`.
    Json(Vec<u8>),
    /// `application/x-www-form-urlencoded`.
    Form(String),
    /// `text/xml`, possibly with secret slots the engine fills when sending (see
    /// [`super::xml`]).
    Xml(String),
    /// A file's bytes (`application/octet-stream`).
    Binary(Vec<u8>),
}

impl PreparedBody {
    pub fn bytes(&self) -> &[u8] {
        match self {
            PreparedBody::Json(b) | PreparedBody::Binary(b) => b,
            PreparedBody::Form(s) | PreparedBody::Xml(s) => s.as_bytes(),
        }
    }

    pub fn content_type(&self) -> &'static str {
        match self {
            PreparedBody::Json(_) => "application/json",
            PreparedBody::Form(_) => "application/x-www-form-urlencoded",
            PreparedBody::Xml(_) => "text/xml; charset=utf-8",
            PreparedBody::Binary(_) => "application/octet-stream",
        }
    }
}

/// Compiles `(name, template)` pairs; the error names the key.
pub(crate) fn compile_pairs<'a>(
    pairs: impl IntoIterator<Item = (&'a String, &'a Scalar)>,
) -> Result<Vec<(String, Template)>, (String, TemplateError)> {
    pairs
        .into_iter()
        .map(|(k, v)| {
            Template::parse(v.as_str())
                .map(|t| (k.clone(), t))
                .map_err(|e| (k.clone(), e))
        })
        .collect()
}

impl CompiledRequest {
    /// Compiles a request template. The error gives the field (`path`, `query.after`,
    /// `body/inputs/0/id`) and the template problem.
    pub fn compile(spec: &RequestSpec) -> Result<CompiledRequest, (String, TemplateError)> {
        let path = Template::parse(&spec.path).map_err(|e| ("path".to_owned(), e))?;
        let query = compile_pairs(&spec.query).map_err(|(k, e)| (format!("query.{k}"), e))?;
        let headers = compile_pairs(&spec.headers).map_err(|(k, e)| (format!("headers.{k}"), e))?;
        let json_headers = spec
            .json_headers
            .iter()
            .map(|(k, v)| {
                JsonTemplate::compile(v)
                    .map(|t| (k.clone(), t))
                    .map_err(|(at, e)| (format!("json_headers.{k}{at}"), e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let body = match (&spec.body, spec.body_format) {
            (None, _) => None,
            (Some(Value::String(text)), BodyFormat::Xml) => Some(BodyTemplate::Xml(
                XmlTemplate::compile(text).map_err(|e| ("body".to_owned(), e))?,
            )),
            (Some(_), BodyFormat::Xml) => return Err(("body".to_owned(), TemplateError::XmlBodyNotText)),
            (Some(value), BodyFormat::Base64) if !value.is_string() => {
                return Err(("body".to_owned(), TemplateError::Base64BodyNotText))
            }
            (Some(value), _) => Some(BodyTemplate::Json(
                JsonTemplate::compile(value).map_err(|(at, e)| (format!("body{at}"), e))?,
            )),
        };
        Ok(CompiledRequest {
            method: spec.method,
            path,
            query,
            headers,
            json_headers,
            host: spec.host.clone(),
            body,
            body_format: spec.body_format,
        })
    }

    /// The definition's `hosts` entry the request goes to, if not the base URL.
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// Every placeholder the request uses, with the field it is in.
    pub fn vars(&self) -> Vec<(String, &VarName)> {
        let mut out: Vec<(String, &VarName)> = self.path.vars().map(|v| ("path".to_owned(), v)).collect();
        for (k, t) in &self.query {
            out.extend(t.vars().map(|v| (format!("query.{k}"), v)));
        }
        for (k, t) in &self.headers {
            out.extend(t.vars().map(|v| (format!("headers.{k}"), v)));
        }
        for (k, t) in &self.json_headers {
            out.extend(t.vars().into_iter().map(|v| (format!("json_headers.{k}"), v)));
        }
        match &self.body {
            Some(BodyTemplate::Json(body)) => out.extend(body.vars().into_iter().map(|v| ("body".to_owned(), v))),
            Some(BodyTemplate::Xml(body)) => out.extend(body.vars().map(|v| ("body".to_owned(), v))),
            None => {}
        }
        out
    }

    /// The secret slots of an XML body (`session.token`, `credentials.<key>`).
    pub fn secret_slots(&self) -> Vec<&VarName> {
        match &self.body {
            Some(BodyTemplate::Xml(body)) => body.secret_slots().collect(),
            _ => Vec::new(),
        }
    }

    /// Renders against `vars` on `base`. The definition's `defaults` come first and are
    /// overridden by the request's own headers and query parameters of the same name.
    pub fn prepare(
        &self,
        base: &Url,
        vars: &Vars<'_>,
        defaults: &RequestDefaults,
    ) -> Result<PreparedRequest, ConnectorError> {
        let path = self.path.render_path(vars).map_err(|e| match e {
            PathError::Unset(_) => {
                let names: Vec<_> = self.path.vars().map(|v| format!("`{v}`")).collect();
                ConnectorError::config(format!("the request path needs {} and one is unset", names.join(", ")))
            }
            PathError::DotSegment(name) => ConnectorError::config(format!(
                "the value of `{name}` is `.` or `..`, which cannot be a segment of the request path"
            )),
        })?;
        let mut url = join(base, &path)?;
        {
            let own: Vec<(&str, String)> = self
                .query
                .iter()
                .filter_map(|(k, t)| t.render(vars, false).map(|v| (k.as_str(), v)))
                .collect();
            let mut rendered: Vec<(&str, String)> = defaults
                .query
                .iter()
                .filter(|(k, _)| !own.iter().any(|(name, _)| name == k))
                .filter_map(|(k, t)| t.render(vars, false).map(|v| (k.as_str(), v)))
                .collect();
            rendered.extend(own);
            if !rendered.is_empty() {
                url.query_pairs_mut().extend_pairs(rendered);
            }
        }
        let mut headers: Vec<(String, String)> = Vec::new();
        for (k, t) in defaults.headers.iter().chain(&self.headers) {
            if let Some(v) = t.render(vars, false) {
                headers.retain(|(existing, _)| !existing.eq_ignore_ascii_case(k));
                headers.push((k.clone(), v));
            }
        }
        for (k, t) in &self.json_headers {
            if let Some(v) = t.render(vars) {
                headers.retain(|(existing, _)| !existing.eq_ignore_ascii_case(k));
                headers.push((k.clone(), ascii_json(&v)));
            }
        }
        let body = match &self.body {
            None => None,
            Some(BodyTemplate::Json(t)) => match t.render(vars) {
                // A file without content is not sent as an empty one.
                None if self.body_format == BodyFormat::Base64 => {
                    Some(PreparedBody::Binary(decode_base64(&Value::Null)?))
                }
                rendered => rendered.map(|v| encode_body(&v, self.body_format)).transpose()?,
            },
            Some(BodyTemplate::Xml(t)) => Some(PreparedBody::Xml(t.render(vars).map_err(|e| {
                ConnectorError::new(
                    super::errors::ErrorClass::Permanent,
                    super::errors::ErrorKind::InvalidInput,
                    format!("the XML body: {e}"),
                )
            })?)),
        };
        Ok(PreparedRequest {
            method: self.method,
            url,
            headers,
            body,
            credentials: true,
        })
    }
}

/// `value` as compact JSON in printable ASCII: every character from 0x7F up escaped as
/// `\uXXXX` (UTF-16 surrogate pairs above the Basic Multilingual Plane), as an HTTP header
/// value must be and Dropbox's "JSON encoding" page asks for `Dropbox-API-Arg`. Only string
/// contents can hold such characters, and there the escape means the same character.
pub fn ascii_json(value: &Value) -> String {
    let text = serde_json::to_string(value).expect("a JSON value always serialises");
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if (c as u32) < 0x7f {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// Appends `path` to `base`'s path (keeping a base path such as `/stripe`), and checks the
/// result stays on the base's scheme, host and port.
pub fn join(base: &Url, path: &str) -> Result<Url, ConnectorError> {
    let mut text = base.as_str().to_owned();
    // Query and fragment of the base go after the path.
    let (prefix, suffix) = match text.find(['?', '#']) {
        Some(i) => {
            let suffix = text.split_off(i);
            (text, suffix)
        }
        None => (text, String::new()),
    };
    let joined = if path.is_empty() {
        format!("{prefix}{suffix}")
    } else {
        format!(
            "{}/{}{suffix}",
            prefix.trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    };
    let url = Url::parse(&joined).map_err(|_| ConnectorError::config("the request path does not form a URL"))?;
    if !same_origin(base, &url) {
        return Err(ConnectorError::config("the request path leaves the base URL's host"));
    }
    Ok(url)
}

/// Whether two URLs share scheme, host and port.
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme() && a.host_str() == b.host_str() && a.port_or_known_default() == b.port_or_known_default()
}

fn encode_body(value: &Value, format: BodyFormat) -> Result<PreparedBody, ConnectorError> {
    Ok(match format {
        BodyFormat::Xml => unreachable!("an XML body compiles to an XML template"),
        BodyFormat::Base64 => PreparedBody::Binary(decode_base64(value)?),
        BodyFormat::Json => PreparedBody::Json(serde_json::to_vec(value).expect("a JSON value always serialises")),
        BodyFormat::Form | BodyFormat::PhpForm => {
            let Value::Object(map) = value else {
                return Err(ConnectorError::config("a form body must be an object"));
            };
            let booleans = if format == BodyFormat::PhpForm {
                FormBooleans::Digits
            } else {
                FormBooleans::Words
            };
            let mut pairs = Vec::new();
            for (k, v) in map {
                flatten_form(Cow::Borrowed(k.as_str()), v, booleans, &mut pairs);
            }
            PreparedBody::Form(
                form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish(),
            )
        }
    })
}

/// The bytes of a `base64` body's rendered value.
pub fn decode_base64(value: &Value) -> Result<Vec<u8>, ConnectorError> {
    use base64::Engine as _;
    let refused = |why: &str| {
        ConnectorError::new(
            super::errors::ErrorClass::Permanent,
            super::errors::ErrorKind::InvalidInput,
            format!("the file content {why}"),
        )
    };
    let Value::String(text) = value else {
        return Err(refused("is not a string of base64 text"));
    };
    let text: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(text.as_bytes())
        .map_err(|_| refused("is not valid base64"))
}

/// How a form writes a boolean.
#[derive(Clone, Copy)]
enum FormBooleans {
    /// `true` / `false` (Stripe).
    Words,
    /// `1` / `0` (PHP).
    Digits,
}

/// Flattens nested objects and arrays in bracket notation, the way Stripe and PHP read forms:
/// `metadata[plan]=pro`, `expand[0]=customer`, `users[0][email]=a%40b.c`. Nulls are left out.
fn flatten_form(key: Cow<'_, str>, value: &Value, booleans: FormBooleans, out: &mut Vec<(String, String)>) {
    match value {
        Value::Null => {}
        Value::Object(map) => {
            for (k, v) in map {
                flatten_form(Cow::Owned(format!("{key}[{k}]")), v, booleans, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten_form(Cow::Owned(format!("{key}[{i}]")), v, booleans, out);
            }
        }
        Value::Bool(b) if matches!(booleans, FormBooleans::Digits) => {
            out.push((key.into_owned(), if *b { "1" } else { "0" }.to_owned()))
        }
        Value::String(s) => out.push((key.into_owned(), s.clone())),
        other => out.push((key.into_owned(), other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compile(yaml: &str) -> CompiledRequest {
        CompiledRequest::compile(&serde_yaml::from_str(yaml).unwrap()).unwrap()
    }

    fn vars() -> Vars<'static> {
        let mut v = Vars::new();
        v.set("page.token", Some(json!("cus_9")))
            .set("id", Some(json!("cus/../x")))
            .root("config", Cow::Owned(json!({"version": "2024-06-20"})));
        v
    }

    #[test]
    fn renders_path_query_headers_and_drops_unset_parameters() {
        let base = Url::parse("https://api.stripe.com").unwrap();
        let req = compile(
            "{path: /v1/customers, query: {limit: 100, starting_after: '{{ page.token }}', 'created[gte]': '{{ since }}'}, \
             headers: {Stripe-Version: '{{ config.version }}', X-Unset: '{{ config.nope }}'}}",
        );
        let p = req.prepare(&base, &vars(), &RequestDefaults::default()).unwrap();
        assert_eq!(
            p.url.as_str(),
            "https://api.stripe.com/v1/customers?limit=100&starting_after=cus_9"
        );
        assert_eq!(p.headers, vec![("Stripe-Version".to_owned(), "2024-06-20".to_owned())]);
        assert_eq!(p.body, None);
    }

    #[test]
    fn a_json_header_is_rendered_like_a_body_and_sent_as_ascii() {
        let base = Url::parse("https://content.dropboxapi.com/2").unwrap();
        let req = compile(
            "{method: POST, path: /files/upload, host: content, \
             json_headers: {Dropbox-API-Arg: {path: '/Projects/{{ record.name }}', mode: add, size: '{{ record.size }}', rev: '{{ record.rev }}'}}}",
        );
        assert_eq!(req.host(), Some("content"));
        let mut vars = Vars::new();
        vars.root(
            "record",
            Cow::Owned(json!({"name": "Ünïcödé \u{7f}\"q\" 😀.txt", "size": 12})),
        );
        let p = req.prepare(&base, &vars, &RequestDefaults::default()).unwrap();
        let (name, value) = &p.headers[0];
        assert_eq!(name, "Dropbox-API-Arg");
        assert!(value.bytes().all(|b| (0x20..0x7f).contains(&b)), "{value}");
        assert!(
            value.contains(r#""path":"/Projects/\u00dcn\u00efc\u00f6d\u00e9 \u007f\"q\" \ud83d\ude00.txt""#),
            "{value}"
        );
        assert!(!value.contains(": ") && !value.contains(", "), "compact: {value}");
        // The escapes decode to the same document; an unset key is left out, a number stays one.
        let back: Value = serde_json::from_str(value).unwrap();
        assert_eq!(
            back,
            json!({"path": "/Projects/Ünïcödé \u{7f}\"q\" 😀.txt", "mode": "add", "size": 12})
        );
        assert!(p.credentials, "credentials are the client's to withhold");
    }

    #[test]
    fn path_values_are_encoded_as_one_segment_and_cannot_escape() {
        let base = Url::parse("http://127.0.0.1:8080/stripe/").unwrap();
        let p = compile("{path: '/v1/customers/{{ id }}'}")
            .prepare(&base, &vars(), &RequestDefaults::default())
            .unwrap();
        assert_eq!(p.url.as_str(), "http://127.0.0.1:8080/stripe/v1/customers/cus%2F..%2Fx");
        let err = compile("{path: '/v1/customers/{{ missing }}'}")
            .prepare(&base, &vars(), &RequestDefaults::default())
            .unwrap_err();
        assert!(err.message.contains("`missing`"));
        // A whole value of `..` (or `.`) would climb a segment: DELETE /customers/.. is
        // DELETE /customers' parent. Refused, naming the placeholder (found by fuzzing).
        for id in ["..", "."] {
            let mut v = vars();
            v.set("id", Some(json!(id)));
            let err = compile("{method: DELETE, path: '/v1/customers/{{ id }}'}")
                .prepare(&base, &v, &RequestDefaults::default())
                .unwrap_err();
            assert!(err.message.contains("`id`") && err.message.contains("`..`"), "{err}");
            assert!(!err.is_retriable());
        }
    }

    #[test]
    fn a_base_url_query_is_kept_after_the_path() {
        let base = Url::parse("https://hooks.example.com/in?token=abc").unwrap();
        let p = compile("{method: POST, path: ''}")
            .prepare(&base, &vars(), &RequestDefaults::default())
            .unwrap();
        assert_eq!(p.url.as_str(), "https://hooks.example.com/in?token=abc");
        let p = compile("{path: /x, query: {a: 1}}")
            .prepare(&base, &vars(), &RequestDefaults::default())
            .unwrap();
        assert_eq!(p.url.as_str(), "https://hooks.example.com/in/x?token=abc&a=1");
    }

    #[test]
    fn paths_never_change_the_host() {
        let base = Url::parse("https://api.example.com/v1").unwrap();
        for path in [
            "@evil.example/x",
            "//evil.example/x",
            "/\\\\evil.example",
            "/../../x",
            "/ok/@evil",
        ] {
            let url = join(&base, path).unwrap();
            assert_eq!(url.host_str(), Some("api.example.com"), "{path} -> {url}");
        }
    }

    #[test]
    fn a_base64_body_sends_the_decoded_bytes_and_refuses_other_text() {
        let base = Url::parse("https://graph.example.com").unwrap();
        let req = compile("{method: PUT, path: /content, body: '{{ record.content }}', body_format: base64}");
        let mut v = Vars::new();
        v.root("record", Cow::Owned(json!({"content": "aGVsbG8K\nAAH/"})));
        let p = req.prepare(&base, &v, &RequestDefaults::default()).unwrap();
        assert_eq!(p.body, Some(PreparedBody::Binary(b"hello\n\x00\x01\xff".to_vec())));
        assert_eq!(p.body.unwrap().content_type(), "application/octet-stream");
        let mut bad = Vars::new();
        bad.root("record", Cow::Owned(json!({"content": "not base64!"})));
        let err = req.prepare(&base, &bad, &RequestDefaults::default()).unwrap_err();
        assert!(err.message.contains("not valid base64"), "{err}");
        let mut number = Vars::new();
        number.root("record", Cow::Owned(json!({"content": 42})));
        assert!(req.prepare(&base, &number, &RequestDefaults::default()).is_err());
        let spec: RequestSpec = serde_yaml::from_str("{path: /x, body: {a: 1}, body_format: base64}").unwrap();
        assert!(CompiledRequest::compile(&spec).is_err(), "an object is no file");
    }

    #[test]
    fn json_and_form_bodies_are_encoded() {
        let base = Url::parse("https://api.example.com").unwrap();
        let p = compile("{method: POST, path: /x, body: {after: '{{ page.token }}', limit: 10}}")
            .prepare(&base, &vars(), &RequestDefaults::default())
            .unwrap();
        assert_eq!(
            p.body,
            Some(PreparedBody::Json(br#"{"after":"cus_9","limit":10}"#.to_vec()))
        );
        let p = compile(
            "{method: POST, path: /x, body_format: form, body: {email: a@b.c, metadata: {plan: pro}, expand: [x], n: null}}",
        )
        .prepare(&base, &vars(), &RequestDefaults::default())
        .unwrap();
        assert_eq!(
            p.body,
            Some(PreparedBody::Form(
                "email=a%40b.c&expand%5B0%5D=x&metadata%5Bplan%5D=pro".into()
            ))
        );
        // PHP's bracket notation with booleans as digits; Stripe's form keeps the words.
        let body = "{users: [{email: a@b.c, createpassword: true, suspended: false, n: null}]}";
        for (format, yes, no) in [("php_form", "1", "0"), ("form", "true", "false")] {
            let p = compile(&format!(
                "{{method: POST, path: /x, body_format: {format}, body: {body}}}"
            ))
            .prepare(&base, &vars(), &RequestDefaults::default())
            .unwrap();
            assert_eq!(
                p.body,
                Some(PreparedBody::Form(format!(
                    "users%5B0%5D%5Bcreatepassword%5D={yes}&users%5B0%5D%5Bemail%5D=a%40b.c&users%5B0%5D%5Bsuspended%5D={no}"
                ))),
                "{format}"
            );
        }
    }

    #[test]
    fn request_headers_override_definition_headers_case_insensitively() {
        let base = Url::parse("https://api.example.com").unwrap();
        let defaults = RequestDefaults {
            headers: vec![
                ("Accept".to_owned(), Template::parse("application/json").unwrap()),
                ("X-Version".to_owned(), Template::parse("1").unwrap()),
            ],
            query: Vec::new(),
        };
        let p = compile("{path: /x, headers: {x-version: 2}}")
            .prepare(&base, &vars(), &defaults)
            .unwrap();
        assert_eq!(
            p.headers,
            vec![
                ("Accept".to_owned(), "application/json".to_owned()),
                ("x-version".to_owned(), "2".to_owned())
            ]
        );
    }

    #[test]
    fn definition_query_parameters_join_every_request_and_the_requests_own_win() {
        let base = Url::parse("https://api.example.com").unwrap();
        let defaults = RequestDefaults {
            headers: Vec::new(),
            query: vec![
                ("minorversion".to_owned(), Template::parse("75").unwrap()),
                ("format".to_owned(), Template::parse("json").unwrap()),
            ],
        };
        let p = compile("{path: /x, query: {format: xml, q: a}}")
            .prepare(&base, &vars(), &defaults)
            .unwrap();
        assert_eq!(
            p.url.as_str(),
            "https://api.example.com/x?minorversion=75&format=xml&q=a"
        );
        let p = compile("{path: /x}").prepare(&base, &vars(), &defaults).unwrap();
        assert_eq!(p.url.as_str(), "https://api.example.com/x?minorversion=75&format=json");
    }

    #[test]
    fn compile_errors_name_the_field() {
        let spec: RequestSpec = serde_yaml::from_str("{path: /x, query: {after: '{{ page.token'}}").unwrap();
        assert_eq!(CompiledRequest::compile(&spec).unwrap_err().0, "query.after");
        let spec: RequestSpec = serde_yaml::from_str("{path: /x, body: {inputs: ['{{ }}']}}").unwrap();
        assert_eq!(CompiledRequest::compile(&spec).unwrap_err().0, "body/inputs/0");
    }
}
