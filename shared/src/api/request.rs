//! The API's request, independent of how it arrived, and its JSON body and query parsing with
//! problem details for every way they can be wrong.

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use base64::Engine as _;
use serde::de::DeserializeOwned;

use super::problem::{FieldError, Problem};

#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// Upper case.
    pub method: String,
    /// The raw path, percent-encoded: `/v1/flows/flow_1/run`.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl ApiRequest {
    /// Builds the request from API Gateway's payload v2; a body over `max_body_bytes` is refused.
    pub fn from_apigw(event: &ApiGatewayV2httpRequest, max_body_bytes: usize) -> Result<Self, Problem> {
        let body = match event.body.as_deref() {
            None => Vec::new(),
            Some(b) if event.is_base64_encoded => {
                if b.len() > max_body_bytes.div_ceil(3) * 4 + 4 {
                    return Err(Problem::too_large(max_body_bytes));
                }
                base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .map_err(|_| Problem::malformed("the body is not valid base64"))?
            }
            Some(b) => b.as_bytes().to_vec(),
        };
        if body.len() > max_body_bytes {
            return Err(Problem::too_large(max_body_bytes));
        }
        Ok(Self {
            method: event.request_context.http.method.as_str().to_ascii_uppercase(),
            path: event
                .raw_path
                .clone()
                .or_else(|| event.request_context.http.path.clone())
                .unwrap_or_default(),
            query: event.raw_query_string.clone().unwrap_or_default(),
            headers: event.headers.clone(),
            body,
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The decoded query parameters (the last value of a repeated one wins).
    pub fn query_param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .last()
    }

    /// The body as `T`; an empty body is `T::default()` (for POSTs whose body is optional).
    pub fn json_or_default<T: DeserializeOwned + Default>(&self) -> Result<T, Problem> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(T::default());
        }
        self.json()
    }

    /// The body as `T`: malformed JSON is a 400, a body of the wrong shape (unknown field,
    /// wrong type, missing field) a 422 naming the field. Messages never quote a value from the
    /// body (it may hold a credential).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Problem> {
        if let Some(ct) = self.header("content-type") {
            let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            if essence != "application/json" && !essence.ends_with("+json") {
                return Err(Problem::unsupported_media_type());
            }
        }
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(Problem::malformed("the request needs a JSON body"));
        }
        let mut de = serde_json::Deserializer::from_slice(&self.body);
        let value: Result<T, _> = serde_path_to_error::deserialize(&mut de);
        let value = match value {
            Ok(v) => v,
            Err(e) => return Err(body_problem(e)),
        };
        de.end().map_err(|e| {
            Problem::malformed(format!(
                "the body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        Ok(value)
    }
}

fn body_problem(e: serde_path_to_error::Error<serde_json::Error>) -> Problem {
    let path = e.path().to_string();
    let inner = e.into_inner();
    match inner.classify() {
        serde_json::error::Category::Data => {
            let message = redact_quoted(&strip_position(&inner.to_string()));
            // serde_path_to_error's path already ends in an unknown field's name.
            let field = if path == "." || path.is_empty() {
                "body".to_string()
            } else {
                path
            };
            Problem::validation(vec![FieldError { field, detail: message }])
        }
        _ => Problem::malformed(format!(
            "the body is not valid JSON (line {}, column {})",
            inner.line(),
            inner.column()
        )),
    }
}

/// `... at line 1 column 5` -> `...`.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// Replaces every double-quoted string in a serde message with `"…"`: serde quotes the value
/// it refused (`invalid type: string "sk_live_...", expected u64`).
fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut in_quote = false;
    let mut escaped = false;
    for c in message.chars() {
        if in_quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quote = false;
                out.push_str("…\"");
            }
            continue;
        }
        out.push(c);
        if c == '"' {
            in_quote = true;
        }
    }
    if in_quote {
        out.push_str("…\"");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        #[serde(default)]
        every: Option<u64>,
    }

    fn req(body: &str) -> ApiRequest {
        ApiRequest {
            method: "POST".into(),
            path: "/v1/x".into(),
            query: String::new(),
            headers: http::HeaderMap::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn malformed_json_is_a_400_with_the_position() {
        let p = req("{\"name\": ").json::<Body>().unwrap_err();
        assert_eq!(p.status, 400);
        assert!(p.detail.contains("line 1"), "{}", p.detail);
        let p = req("{\"name\": \"a\"} trailing").json::<Body>().unwrap_err();
        assert_eq!(p.status, 400);
    }

    #[test]
    fn an_unknown_field_is_a_422_naming_it() {
        let p = req(r#"{"name": "a", "colour": 1}"#).json::<Body>().unwrap_err();
        assert_eq!(p.status, 422);
        assert_eq!(p.errors[0].field, "colour");
    }

    #[test]
    fn a_wrong_type_names_the_field_and_never_quotes_the_value() {
        let p = req(r#"{"name": "a", "every": "sk_live_secret"}"#)
            .json::<Body>()
            .unwrap_err();
        assert_eq!(p.status, 422);
        assert_eq!(p.errors[0].field, "every");
        assert!(!p.errors[0].detail.contains("sk_live_secret"), "{}", p.errors[0].detail);
        assert!(!p.detail.contains("sk_live_secret"));
    }

    #[test]
    fn a_missing_field_is_a_422() {
        let p = req(r#"{}"#).json::<Body>().unwrap_err();
        assert_eq!(p.status, 422);
        assert!(p.errors[0].detail.contains("missing field `name`"), "{:?}", p.errors);
    }

    #[test]
    fn a_non_json_content_type_is_refused() {
        let mut r = req(r#"{"name": "a"}"#);
        r.headers.insert("content-type", "text/plain".parse().unwrap());
        assert_eq!(r.json::<Body>().unwrap_err().status, 415);
        r.headers
            .insert("content-type", "application/json; charset=utf-8".parse().unwrap());
        assert!(r.json::<Body>().is_ok());
    }

    #[test]
    fn an_empty_optional_body_is_the_default() {
        assert!(req("").json_or_default::<Body>().is_ok());
        assert_eq!(req("").json::<Body>().unwrap_err().status, 400);
    }
}
