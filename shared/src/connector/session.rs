//! Login-session auth (`type: session`): a login request answers with a session token that
//! later requests carry (a header, a query parameter, a cookie, or `{{ session.token }}`
//! inside an XML body) until it is `lifetime_secs` old or a response is classified `reauth`;
//! then the engine logs in again, once per request. The login itself is sent by the client
//! ([`super::client`]); this module keeps the session and reads the token. The token is a
//! [`SecretString`]: it never reaches a log line, an error or a dry-run plan.

use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::definition::{SessionPut, SessionSpec};
use super::errors::{ConnectorError, ErrorClass, ErrorKind};
use super::request::CompiledRequest;

/// One client's login session.
pub(crate) struct Session {
    pub spec: SessionSpec,
    /// The login request, compiled.
    pub login: CompiledRequest,
    /// The current session, when logged in.
    pub held: tokio::sync::Mutex<Option<Held>>,
    /// What the last login captured (`capture`), as a JSON object; `None` before the first
    /// login. Not secret: request templates read it as `{{ session.<name> }}`.
    values: std::sync::Mutex<Option<Value>>,
}

/// A session token and when to stop using it.
pub(crate) struct Held {
    pub token: SecretString,
    pub until: Instant,
}

/// A header or query parameter as a dry-run plan shows it: `(name, shown value)`.
pub(crate) type Shown = Option<(String, String)>;

/// What a request carries for the session, beside body slots.
#[derive(Default)]
pub(crate) struct SessionParts {
    pub header: Option<(HeaderName, HeaderValue)>,
    pub query: Option<(String, SecretString)>,
}

impl Session {
    pub fn new(spec: &SessionSpec) -> Result<Self, ConnectorError> {
        let login = CompiledRequest::compile(&spec.login)
            .map_err(|(at, e)| ConnectorError::config(format!("the session login request: {at}: {e}")))?;
        Ok(Self {
            spec: spec.clone(),
            login,
            held: tokio::sync::Mutex::new(None),
            values: std::sync::Mutex::new(None),
        })
    }

    /// Whether requests need a login before they can be built: the definition captures
    /// values and no login has captured them yet.
    pub fn lacks_values(&self) -> bool {
        !self.spec.capture.is_empty() && self.values().is_none()
    }

    /// The captured values (`None` before the first login, or when nothing is captured).
    pub fn values(&self) -> Option<Value> {
        self.values.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Reads the `capture` values from a login response and keeps them for later requests.
    /// A missing value is a re-auth error naming where the definition looked; the previous
    /// values stay until a login answers with all of them.
    pub fn capture_from(&self, body: &Value) -> Result<(), ConnectorError> {
        if self.spec.capture.is_empty() {
            return Ok(());
        }
        let mut values = serde_json::Map::new();
        for (name, pointer) in &self.spec.capture {
            match body.pointer(pointer) {
                Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => {
                    values.insert(name.clone(), v.clone());
                }
                _ => {
                    return Err(ConnectorError::new(
                        ErrorClass::ReAuth,
                        ErrorKind::NeedsReauth,
                        format!("the session login answered without `{name}` (a string or number at body `{pointer}`)"),
                    ))
                }
            }
        }
        *self.values.lock().unwrap_or_else(|p| p.into_inner()) = Some(Value::Object(values));
        Ok(())
    }

    /// The token of a fresh session, valid for `lifetime_secs`.
    pub fn hold(&self, token: SecretString) -> Held {
        Held {
            token,
            until: Instant::now() + Duration::from_secs(self.spec.lifetime_secs),
        }
    }

    /// Forgets the session after a response refused it: the next request logs in again.
    pub async fn forget(&self) {
        *self.held.lock().await = None;
    }

    /// Reads the token from a login response. A response without one is a re-auth error
    /// naming where the definition looked.
    pub fn token_from(&self, headers: &HeaderMap, body: &Value) -> Result<SecretString, ConnectorError> {
        let source = &self.spec.token;
        let (found, place) = if let Some(pointer) = &source.pointer {
            let found = body.pointer(pointer).and_then(|v| match v {
                Value::String(s) => Some(s.trim().to_owned()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            });
            (found, format!("body `{pointer}`"))
        } else if let Some(name) = &source.header {
            let found = headers
                .get(name.as_str())
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_owned());
            (found, format!("header `{name}`"))
        } else if let Some(name) = &source.cookie {
            let found = headers
                .get_all(http::header::SET_COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .filter_map(|v| v.split(';').next())
                .filter_map(|pair| pair.split_once('='))
                .find(|(k, _)| k.trim() == name)
                .map(|(_, v)| v.trim().to_owned());
            (found, format!("cookie `{name}`"))
        } else {
            (None, "nowhere (the definition names no token source)".to_owned())
        };
        match found.filter(|t| !t.is_empty()) {
            Some(token) => Ok(SecretString::from(token)),
            None => Err(ConnectorError::new(
                ErrorClass::ReAuth,
                ErrorKind::NeedsReauth,
                format!("the session login answered without a session token at {place}"),
            )),
        }
    }

    /// The header or query parameter a request carries for `token` (nothing for `in: body`).
    pub fn parts(&self, token: &SecretString) -> Result<SessionParts, ConnectorError> {
        let sensitive = |text: String| {
            let mut v = HeaderValue::from_str(&text).map_err(|_| {
                ConnectorError::new(
                    ErrorClass::ReAuth,
                    ErrorKind::NeedsReauth,
                    "the session token is not valid in an HTTP header",
                )
            })?;
            v.set_sensitive(true);
            Ok::<_, ConnectorError>(v)
        };
        let name = |n: &str| {
            HeaderName::from_bytes(n.as_bytes())
                .map_err(|_| ConnectorError::config(format!("`{n}` is not a valid header name")))
        };
        Ok(match &self.spec.put {
            SessionPut::Body => SessionParts::default(),
            SessionPut::Header { name: n, prefix } => SessionParts {
                header: Some((name(n)?, sensitive(format!("{prefix}{}", token.expose_secret()))?)),
                query: None,
            },
            SessionPut::Query { name } => SessionParts {
                header: None,
                query: Some((name.clone(), token.clone())),
            },
            SessionPut::Cookie { name } => SessionParts {
                header: Some((
                    http::header::COOKIE,
                    sensitive(format!("{name}={}", token.expose_secret()))?,
                )),
                query: None,
            },
        })
    }

    /// Where the token goes, shown redacted (dry-run plans): `(header, value)` or `(query, value)`.
    pub fn redacted(&self, shown: &str) -> (Shown, Shown) {
        match &self.spec.put {
            SessionPut::Body => (None, None),
            SessionPut::Header { name, prefix } => {
                (Some((name.to_ascii_lowercase(), format!("{prefix}{shown}"))), None)
            }
            SessionPut::Query { name } => (None, Some((name.clone(), shown.to_owned()))),
            SessionPut::Cookie { name } => (Some(("cookie".to_owned(), format!("{name}={shown}"))), None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn session(yaml: &str) -> Session {
        Session::new(&serde_yaml::from_str(yaml).unwrap()).unwrap()
    }

    #[test]
    fn the_token_is_read_from_the_body_a_header_or_a_cookie() {
        let s = session("{login: {method: POST, path: /login}, token: {pointer: /r/id}}");
        let t = s.token_from(&HeaderMap::new(), &json!({"r": {"id": " abc "}})).unwrap();
        assert_eq!(t.expose_secret(), "abc");
        let err = s.token_from(&HeaderMap::new(), &json!({"r": {}})).unwrap_err();
        assert_eq!(err.class, ErrorClass::ReAuth);
        assert!(err.message.contains("/r/id"), "{}", err.message);

        let s = session("{login: {path: /login}, token: {cookie: SID}}");
        let mut headers = HeaderMap::new();
        headers.append(http::header::SET_COOKIE, HeaderValue::from_static("other=1; Path=/"));
        headers.append(
            http::header::SET_COOKIE,
            HeaderValue::from_static("SID=s3cr3t; HttpOnly"),
        );
        assert_eq!(s.token_from(&headers, &Value::Null).unwrap().expose_secret(), "s3cr3t");
    }

    #[test]
    fn captured_values_are_read_from_the_login_answer_and_a_missing_one_is_named() {
        let s = session(
            "{login: {path: /signin}, token: {pointer: /credentials/token}, capture: {site_id: /credentials/site/id}}",
        );
        assert!(s.lacks_values());
        let err = s.capture_from(&json!({"credentials": {"token": "t"}})).unwrap_err();
        assert_eq!(err.class, ErrorClass::ReAuth);
        assert!(
            err.message.contains("`site_id`") && err.message.contains("/credentials/site/id"),
            "{}",
            err.message
        );
        assert!(s.lacks_values(), "nothing is kept from an answer that lacks a value");
        s.capture_from(&json!({"credentials": {"token": "t", "site": {"id": "9a8b"}}}))
            .unwrap();
        assert!(!s.lacks_values());
        assert_eq!(s.values(), Some(json!({"site_id": "9a8b"})));

        let plain = session("{login: {path: /login}, token: {header: X-Token}}");
        assert!(!plain.lacks_values(), "a session without captures never waits for them");
        plain.capture_from(&Value::Null).unwrap();
        assert_eq!(plain.values(), None);
    }

    #[test]
    fn the_token_goes_where_put_says_as_a_sensitive_value() {
        let s = session("{login: {path: /login}, token: {header: X-Token}, put: {in: header, name: Authorization, prefix: 'Session '}}");
        let parts = s.parts(&SecretString::from("t1")).unwrap();
        let (name, value) = parts.header.unwrap();
        assert_eq!(name, http::header::AUTHORIZATION);
        assert!(value.is_sensitive());
        assert_eq!(value.to_str().unwrap(), "Session t1");
        let s = session("{login: {path: /login}, token: {header: X-Token}, put: {in: query, name: token}}");
        assert_eq!(s.parts(&SecretString::from("t1")).unwrap().query.unwrap().0, "token");
    }
}
