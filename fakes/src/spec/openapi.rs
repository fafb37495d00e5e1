//! OpenAPI 3.0 / 3.1 and Swagger 2.0: operations indexed by method and path template, and
//! request and response checks against their parameters, bodies and responses.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use http::Method;
use jsonschema::{Draft, Validator};
use serde_json::{json, Map, Value};
use tracing::warn;

use super::form;
use super::schema::{compile, Converter};
use super::{Direction, RequestParts, ResponseParts, Violation};

const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];
/// Violation messages longer than this are cut: a `oneOf` failure can quote a whole object.
const MAX_MESSAGE: usize = 400;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    Swagger2,
    OpenApi30,
    OpenApi31,
}

/// A compiled schema and the self-contained schema it came from (for coercing strings).
struct Compiled {
    schema: Value,
    validator: Validator,
}

type Slot = Arc<Result<Compiled, String>>;
/// Media type -> raw schema (`None`: no body).
type MediaSchemas = Vec<(String, Option<Value>)>;
/// A declared response: status key (`200`, `4XX`, `default`) and its media types.
type Declared = (String, MediaSchemas);
/// A path match: literal segments matched, operation index, path parameters.
type PathMatch = (usize, usize, Vec<(String, String)>);

/// One declared parameter.
#[derive(Debug, Clone)]
struct Parameter {
    name: String,
    location: String,
    required: bool,
    schema: Value,
    /// Declared with `content: {application/json: {schema}}` (OpenAPI 3: a parameter whose
    /// value is a JSON document, such as Dropbox's `Dropbox-API-Arg` header): the value is
    /// parsed before the schema is applied.
    json: bool,
}

/// One operation of the description.
pub struct Operation {
    /// `operationId`, or `METHOD template`.
    pub id: String,
    pub method: Method,
    /// Full path template (with Swagger's `basePath` or the server's path in front).
    pub template: String,
    segments: Vec<String>,
    parameters: Vec<Parameter>,
    /// Media type -> raw schema.
    body: Vec<(String, Value)>,
    body_required: bool,
    /// Status key (`200`, `4XX`, `default`) -> media type -> raw schema (`None`: no body).
    responses: Vec<Declared>,
    params: OnceLock<Slot>,
    bodies: Mutex<HashMap<String, Slot>>,
    replies: Mutex<HashMap<(String, String), Slot>>,
}

/// An OpenAPI 3.x or Swagger 2.0 document.
pub struct OpenApi {
    doc: Value,
    version: Version,
    operations: Vec<Operation>,
    /// Operations by method and number of path segments.
    index: HashMap<(Method, usize), Vec<usize>>,
}

fn cut(mut message: String) -> String {
    if message.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push_str("...");
    }
    message
}

fn split(path: &str) -> Vec<String> {
    path.trim_matches('/').split('/').map(str::to_owned).collect()
}

/// The media type without parameters, lower case.
fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Picks the entry for `content_type`: exact, then any JSON, then `*/*`, then the first.
fn pick<'a, T>(entries: &'a [(String, T)], content_type: Option<&str>) -> Option<&'a (String, T)> {
    let wanted = content_type.map(essence);
    wanted
        .as_ref()
        .and_then(|w| entries.iter().find(|(m, _)| essence(m) == *w))
        .or_else(|| entries.iter().find(|(m, _)| m.contains("json")))
        .or_else(|| entries.iter().find(|(m, _)| m == "*/*"))
        .or_else(|| entries.first())
}

impl OpenApi {
    /// Indexes a parsed document; `Err` says why it is not one.
    pub fn new(doc: Value) -> Result<Self, String> {
        let version = if doc.get("swagger").is_some() {
            Version::Swagger2
        } else {
            match doc.get("openapi").and_then(Value::as_str) {
                Some(v) if v.starts_with("3.0") => Version::OpenApi30,
                Some(v) if v.starts_with("3.1") => Version::OpenApi31,
                other => return Err(format!("unsupported OpenAPI version {other:?}")),
            }
        };
        let base = match version {
            Version::Swagger2 => doc.get("basePath").and_then(Value::as_str).unwrap_or("").to_owned(),
            _ => doc
                .pointer("/servers/0/url")
                .and_then(Value::as_str)
                .map(server_path)
                .unwrap_or_default(),
        };
        let base = base.trim_end_matches('/').to_owned();
        let mut api = Self {
            doc,
            version,
            operations: Vec::new(),
            index: HashMap::new(),
        };
        let paths = api
            .doc
            .get("paths")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (path, item) in &paths {
            let item = api.deref(item).clone();
            let shared = item.get("parameters").cloned().unwrap_or(Value::Null);
            for method in METHODS {
                let Some(op) = item.get(*method) else {
                    continue;
                };
                let template = format!("{base}{path}");
                let operation = api.operation_from(method, &template, op, &shared);
                let key = (operation.method.clone(), operation.segments.len());
                api.index.entry(key).or_default().push(api.operations.len());
                api.operations.push(operation);
            }
        }
        Ok(api)
    }

    /// The JSON Schema draft the document's schemas follow.
    pub fn draft(&self) -> Draft {
        match self.version {
            Version::OpenApi31 => Draft::Draft202012,
            _ => Draft::Draft4,
        }
    }

    fn converter(&self) -> Converter<'_> {
        Converter {
            doc: &self.doc,
            legacy: self.version != Version::OpenApi31,
        }
    }

    /// Follows `$ref`s to parameters, responses and request bodies.
    fn deref<'a>(&'a self, mut value: &'a Value) -> &'a Value {
        for _ in 0..8 {
            match value
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix('#'))
            {
                Some(pointer) => match self.doc.pointer(&form::decode_segment(pointer)) {
                    Some(target) => value = target,
                    None => return value,
                },
                None => return value,
            }
        }
        value
    }

    fn operation_from(&self, method: &str, template: &str, op: &Value, shared: &Value) -> Operation {
        let mut parameters: Vec<Parameter> = Vec::new();
        let mut body = Vec::new();
        let mut body_required = false;
        let mut form_fields = Map::new();
        let mut form_required = Vec::new();
        let declared = shared
            .as_array()
            .into_iter()
            .flatten()
            .chain(op.get("parameters").and_then(Value::as_array).into_iter().flatten());
        for raw in declared {
            let p = self.deref(raw);
            let name = p.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
            let location = p.get("in").and_then(Value::as_str).unwrap_or_default().to_owned();
            let required = p.get("required").and_then(Value::as_bool).unwrap_or(false);
            match location.as_str() {
                "body" => {
                    body_required = required;
                    let schema = p.get("schema").cloned().unwrap_or(Value::Bool(true));
                    for media in self.consumes(op, "application/json") {
                        body.push((media, schema.clone()));
                    }
                }
                "formData" => {
                    form_fields.insert(name.clone(), swagger_schema(p));
                    if required {
                        form_required.push(Value::String(name));
                    }
                }
                _ => {
                    let content = p.get("content").and_then(Value::as_object);
                    let (schema, json) = match (p.get("schema"), content) {
                        (Some(schema), _) => (schema.clone(), false),
                        (None, Some(content)) => (
                            content
                                .values()
                                .next()
                                .and_then(|m| m.get("schema"))
                                .cloned()
                                .unwrap_or(Value::Bool(true)),
                            content.keys().any(|media| media.contains("json")),
                        ),
                        (None, None) => (swagger_schema(p), false),
                    };
                    let name = if location == "header" {
                        name.to_ascii_lowercase()
                    } else {
                        name
                    };
                    // An operation's parameter overrides the path item's of the same name.
                    parameters.retain(|q| !(q.name == name && q.location == location));
                    parameters.push(Parameter {
                        name,
                        location,
                        required: required || p.get("in").and_then(Value::as_str) == Some("path"),
                        schema,
                        json,
                    });
                }
            }
        }
        if !form_fields.is_empty() {
            body_required = !form_required.is_empty();
            let schema = json!({ "type": "object", "properties": form_fields, "required": form_required });
            for media in self.consumes(op, "application/x-www-form-urlencoded") {
                body.push((media, schema.clone()));
            }
        }
        if let Some(request_body) = op.get("requestBody") {
            let request_body = self.deref(request_body);
            body_required = request_body.get("required").and_then(Value::as_bool).unwrap_or(false);
            for (media, content) in request_body
                .get("content")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let schema = content.get("schema").cloned().unwrap_or(Value::Bool(true));
                body.push((media.clone(), schema));
            }
        }
        let mut responses = Vec::new();
        for (status, response) in op.get("responses").and_then(Value::as_object).into_iter().flatten() {
            let response = self.deref(response);
            let mut media = Vec::new();
            match self.version {
                Version::Swagger2 => {
                    if let Some(schema) = response.get("schema") {
                        media.push(("application/json".to_owned(), Some(schema.clone())));
                    }
                }
                _ => {
                    for (m, content) in response.get("content").and_then(Value::as_object).into_iter().flatten() {
                        media.push((m.clone(), content.get("schema").cloned()));
                    }
                }
            }
            responses.push((status.to_ascii_uppercase().replace("DEFAULT", "default"), media));
        }
        let method_upper = method.to_ascii_uppercase();
        Operation {
            id: op
                .get("operationId")
                .and_then(Value::as_str)
                .map_or_else(|| format!("{method_upper} {template}"), str::to_owned),
            method: Method::from_bytes(method_upper.as_bytes()).unwrap_or(Method::GET),
            template: template.to_owned(),
            segments: split(template),
            parameters,
            body,
            body_required,
            responses,
            params: OnceLock::new(),
            bodies: Mutex::new(HashMap::new()),
            replies: Mutex::new(HashMap::new()),
        }
    }

    /// Swagger's `consumes` for an operation (or the document's), else `default`.
    fn consumes(&self, op: &Value, default: &str) -> Vec<String> {
        let list = op.get("consumes").or_else(|| self.doc.get("consumes"));
        let media: Vec<String> = list
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        if media.is_empty() {
            vec![default.to_owned()]
        } else {
            media
        }
    }

    pub(crate) fn operation(&self, index: usize) -> &Operation {
        &self.operations[index]
    }

    /// Every operation, in document order.
    pub fn operations(&self) -> impl Iterator<Item = &Operation> {
        self.operations.iter()
    }

    /// `(literal segments, operation, path parameters)` of the best match.
    pub(crate) fn find(&self, method: &Method, path: &str) -> Option<PathMatch> {
        let segments = split(path);
        let candidates = self.index.get(&(method.clone(), segments.len()))?;
        let mut best: Option<PathMatch> = None;
        for &index in candidates {
            let op = &self.operations[index];
            if let Some((score, params)) = match_segments(&op.segments, &segments) {
                if best.as_ref().is_none_or(|(s, _, _)| score > *s) {
                    best = Some((score, index, params));
                }
            }
        }
        best
    }

    fn compile_slot(&self, schema: &Value) -> Slot {
        let built = self.converter().build(schema).and_then(|schema| {
            let validator = compile(&schema, self.draft())?;
            Ok(Compiled { schema, validator })
        });
        Arc::new(built)
    }

    fn params_slot(&self, op: &Operation) -> Slot {
        op.params
            .get_or_init(|| {
                let mut groups: Map<String, Value> = Map::new();
                for p in &op.parameters {
                    let group = groups
                        .entry(p.location.clone())
                        .or_insert_with(|| json!({"type": "object", "properties": {}, "required": []}));
                    group["properties"][&p.name] = p.schema.clone();
                    if p.required {
                        if let Some(required) = group["required"].as_array_mut() {
                            required.push(Value::String(p.name.clone()));
                        }
                    }
                }
                for group in groups.values_mut() {
                    if group["required"].as_array().is_some_and(Vec::is_empty) {
                        if let Some(object) = group.as_object_mut() {
                            object.remove("required");
                        }
                    }
                }
                self.compile_slot(&json!({"type": "object", "properties": groups}))
            })
            .clone()
    }

    fn body_slot(&self, op: &Operation, media: &str, schema: &Value) -> Slot {
        let mut cache = op.bodies.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry(media.to_owned())
            .or_insert_with(|| self.compile_slot(schema))
            .clone()
    }

    fn reply_slot(&self, op: &Operation, status: &str, media: &str, schema: &Value) -> Slot {
        let mut cache = op.replies.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry((status.to_owned(), media.to_owned()))
            .or_insert_with(|| self.compile_slot(schema))
            .clone()
    }

    /// Checks path, query and header parameters and the body.
    pub(crate) fn check_request(
        &self,
        index: usize,
        path_params: &[(String, String)],
        parts: &RequestParts<'_>,
        ignored: &[String],
    ) -> (Vec<Violation>, Option<Value>) {
        let op = &self.operations[index];
        let mut out = Vec::new();
        let mut violation = |pointer: String, message: String| {
            out.push(Violation::new(
                &op.id,
                Direction::Request,
                parts.method,
                parts.path,
                &pointer,
                cut(message),
            ));
        };

        // Parameters, as one instance {"path": {...}, "query": {...}, "header": {...}}.
        let skip = |location: &str, name: &str| ignored.iter().any(|i| *i == format!("{location}:{name}"));
        let query = form::parse(parts.query.unwrap_or_default());
        let mut instance = Map::new();
        for p in &op.parameters {
            if skip(&p.location, &p.name) {
                continue;
            }
            let value = match p.location.as_str() {
                "path" => path_params
                    .iter()
                    .find(|(n, _)| *n == p.name)
                    .map(|(_, v)| Value::String(v.clone())),
                "query" => query.get(&p.name).cloned(),
                "header" => parts
                    .headers
                    .iter()
                    .find(|(n, _)| *n == p.name)
                    .map(|(_, v)| Value::String(v.clone())),
                _ => None,
            };
            let value = match value {
                Some(Value::String(text)) if p.json => match serde_json::from_str::<Value>(&text) {
                    Ok(parsed) => Some(parsed),
                    Err(e) => {
                        violation(
                            format!("/{}/{}", p.location, p.name),
                            format!("the {} parameter is not JSON: {e}", p.location),
                        );
                        None
                    }
                },
                other => other,
            };
            let group = instance
                .entry(p.location.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if let (Some(value), Value::Object(group)) = (value, group) {
                group.insert(p.name.clone(), value);
            }
        }
        if !op.parameters.is_empty() {
            if let Ok(compiled) = &*self.params_slot(op) {
                let mut instance = form::coerce(Value::Object(instance), &compiled.schema, &compiled.schema);
                // Skipped parameters may still be required by the schema: fill them in.
                for i in ignored {
                    if let Some((location, name)) = i.split_once(':') {
                        if let Some(group) = instance.get_mut(location).and_then(Value::as_object_mut) {
                            group.entry(name.to_owned()).or_insert(Value::String(String::new()));
                        }
                    }
                }
                for error in compiled.validator.iter_errors(&instance) {
                    violation(error.instance_path().to_string(), error.to_string());
                }
            }
        }

        // The body.
        if op.body.is_empty() {
            return (out, None);
        }
        if parts.body.is_empty() {
            if op.body_required {
                violation("/body".into(), "the operation requires a body and none was sent".into());
            }
            return (out, None);
        }
        let Some((media, schema)) = pick(&op.body, parts.content_type) else {
            return (out, None);
        };
        let media_essence = essence(media);
        let slot = self.body_slot(op, media, schema);
        let Ok(compiled) = &*slot else {
            return (out, None);
        };
        let body = if media_essence.contains("json") {
            match serde_json::from_slice::<Value>(parts.body) {
                Ok(body) => body,
                Err(e) => {
                    violation("/body".into(), format!("the body is not JSON: {e}"));
                    return (out, None);
                }
            }
        } else if media_essence == "application/x-www-form-urlencoded" {
            let parsed = form::parse(&String::from_utf8_lossy(parts.body));
            form::coerce(parsed, &compiled.schema, &compiled.schema)
        } else {
            // multipart and others: not checked.
            return (out, None);
        };
        for error in compiled.validator.iter_errors(&body) {
            violation(format!("/body{}", error.instance_path()), error.to_string());
        }
        (out, Some(body))
    }

    /// The declared response for a status: exact, then `4XX`, then `default`.
    fn response_for<'o>(&self, op: &'o Operation, status: u16) -> Option<&'o Declared> {
        let exact = status.to_string();
        let range = format!("{}XX", status / 100);
        op.responses
            .iter()
            .find(|(k, _)| *k == exact)
            .or_else(|| op.responses.iter().find(|(k, _)| *k == range))
            .or_else(|| op.responses.iter().find(|(k, _)| k == "default"))
    }

    /// Checks a response's status and body.
    pub(crate) fn check_response(
        &self,
        index: usize,
        request: &RequestParts<'_>,
        parts: &ResponseParts<'_>,
    ) -> Vec<Violation> {
        let op = &self.operations[index];
        self.check_response_against(index, request, parts, self.response_for(op, parts.status))
    }

    /// Checks a response's body against the operation's `default` (error) response whatever
    /// its status: for APIs that answer errors with 200 (Slack's `{"ok": false}`). `None`
    /// when the operation declares no default response.
    pub(crate) fn check_response_as_error(
        &self,
        index: usize,
        request: &RequestParts<'_>,
        parts: &ResponseParts<'_>,
    ) -> Option<Vec<Violation>> {
        let op = &self.operations[index];
        let declared = op.responses.iter().find(|(k, _)| k == "default")?;
        Some(self.check_response_against(index, request, parts, Some(declared)))
    }

    fn check_response_against(
        &self,
        index: usize,
        request: &RequestParts<'_>,
        parts: &ResponseParts<'_>,
        declared: Option<&Declared>,
    ) -> Vec<Violation> {
        let op = &self.operations[index];
        let violation = |pointer: &str, message: String| {
            Violation::new(
                &op.id,
                Direction::Response,
                request.method,
                request.path,
                pointer,
                cut(message),
            )
        };
        let Some((status_key, media)) = declared else {
            let listed: Vec<&str> = op.responses.iter().map(|(k, _)| k.as_str()).collect();
            return vec![violation(
                "/status",
                format!(
                    "status {} is not among the operation's responses {listed:?}",
                    parts.status
                ),
            )];
        };
        let Some((media_type, Some(schema))) = pick(media, parts.content_type) else {
            return Vec::new();
        };
        if parts.body.is_empty() {
            return Vec::new();
        }
        let slot = self.reply_slot(op, status_key, media_type, schema);
        let Ok(compiled) = &*slot else {
            return Vec::new();
        };
        let body = match serde_json::from_slice::<Value>(parts.body) {
            Ok(body) => body,
            Err(e) => return vec![violation("/body", format!("the body is not JSON: {e}"))],
        };
        compiled
            .validator
            .iter_errors(&body)
            .map(|e| violation(&format!("/body{}", e.instance_path()), e.to_string()))
            .collect()
    }

    /// A self-contained schema of `status`'s JSON body for `method template`.
    pub(crate) fn response_schema(&self, method: &Method, template: &str, status: u16) -> Option<Value> {
        let op = self
            .operations
            .iter()
            .find(|o| o.method == *method && o.template == template)?;
        let (_, media) = self.response_for(op, status)?;
        let (_, schema) = pick(media, Some("application/json"))?;
        match self.converter().build(schema.as_ref()?) {
            Ok(schema) => Some(schema),
            Err(error) => {
                warn!(message = "Response schema unusable.", operation = %op.id, error = %error);
                None
            }
        }
    }
}

/// The path part of a server URL: `https://api.example.com/v2` -> `/v2`.
fn server_path(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    match rest.find('/') {
        Some(slash) if url.contains("://") => rest[slash..].to_owned(),
        _ if !url.contains("://") => rest.to_owned(),
        _ => String::new(),
    }
}

/// A Swagger 2.0 non-body parameter's schema: its own type keywords.
fn swagger_schema(p: &Value) -> Value {
    let mut schema = Map::new();
    for (k, v) in p.as_object().into_iter().flatten() {
        if !matches!(
            k.as_str(),
            "name" | "in" | "description" | "required" | "collectionFormat" | "allowEmptyValue"
        ) {
            schema.insert(k.clone(), v.clone());
        }
    }
    Value::Object(schema)
}

/// Matches concrete segments to a template's: `(literal segments, path parameters)`.
fn match_segments(template: &[String], path: &[String]) -> Option<(usize, Vec<(String, String)>)> {
    let mut score = 0;
    let mut params = Vec::new();
    for (t, p) in template.iter().zip(path) {
        match (t.find('{'), t.rfind('}')) {
            (Some(open), Some(close)) if open < close => {
                let (prefix, name, suffix) = (&t[..open], &t[open + 1..close], &t[close + 1..]);
                if p.len() < prefix.len() + suffix.len() || !p.starts_with(prefix) || !p.ends_with(suffix) {
                    return None;
                }
                let value = &p[prefix.len()..p.len() - suffix.len()];
                if value.is_empty() {
                    return None;
                }
                params.push((name.to_owned(), form::decode_segment(value)));
            }
            _ if t == p => score += 1,
            _ => return None,
        }
    }
    Some((score, params))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_segments_win_over_parameters() {
        let template_a = split("/crm/v3/objects/contacts/{contactId}");
        let template_b = split("/crm/v3/objects/contacts/search");
        let path = split("/crm/v3/objects/contacts/search");
        let (a, params) = match_segments(&template_a, &path).unwrap();
        let (b, _) = match_segments(&template_b, &path).unwrap();
        assert!(b > a);
        assert_eq!(params, vec![("contactId".to_owned(), "search".to_owned())]);
        assert!(match_segments(&template_b, &split("/crm/v3/objects/deals/search")).is_none());
    }

    #[test]
    fn a_parameter_with_json_content_is_parsed_before_its_schema_applies() {
        let api = OpenApi::new(json!({
            "openapi": "3.0.1",
            "paths": {"/upload": {"post": {
                "parameters": [{"in": "header", "name": "Api-Arg", "required": true, "content": {
                    "application/json": {"schema": {"type": "object", "required": ["path"],
                        "properties": {"path": {"type": "string"}}}}}}],
                "responses": {"200": {"description": "ok"}}}}}
        }))
        .unwrap();
        let (_, index, params) = api.find(&Method::POST, "/upload").expect("the operation");
        let check = |value: Option<&str>| {
            let parts = super::super::RequestParts {
                method: "POST",
                path: "/upload",
                query: None,
                headers: value
                    .map(|v| ("api-arg".to_owned(), v.to_owned()))
                    .into_iter()
                    .collect(),
                content_type: None,
                body: b"",
            };
            api.check_request(index, &params, &parts, &[]).0
        };
        assert!(check(Some(r#"{"path": "/a.txt"}"#)).is_empty());
        let wrong = check(Some(r#"{"size": 3}"#));
        assert_eq!(wrong.len(), 1, "{wrong:?}");
        let not_json = check(Some("/a.txt"));
        assert!(not_json.iter().any(|v| v.message.contains("not JSON")), "{not_json:?}");
        assert!(!check(None).is_empty(), "a required header is missing");
    }

    #[test]
    fn server_paths() {
        assert_eq!(server_path("https://api.stripe.com/"), "/");
        assert_eq!(server_path("https://api.hubapi.com"), "");
        assert_eq!(server_path("https://x.example.com/v2"), "/v2");
        assert_eq!(server_path("/api"), "/api");
    }
}
