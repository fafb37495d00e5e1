//! Write pre-flight: a request sent before writes whose response supplies headers and cookies
//! every write then carries, fetched again when a write's response says they expired.
//!
//! The pattern is an anti-forgery token bound to a session: SAP Gateway answers a GET with
//! `x-csrf-token: fetch` with the token in the same header and a session cookie, and refuses a
//! POST/PATCH without both (HTTP 403, `x-csrf-token: Required`). The definition says which
//! headers to capture, whether to send the cookies back and which responses ask for a new
//! pre-flight ([`PreflightSpec`]); this module is the pure part: reading the captured values
//! from a response and recognising a refusal. The engine ([`super::client`]) sends the request,
//! keeps the values per client and retries a refused write once.
//!
//! Captured values are session credentials: their header values are marked sensitive and never
//! logged or quoted in errors (an error names the missing header, not a value).

use http::{HeaderMap, HeaderName, HeaderValue};

use super::definition::PreflightSpec;
use super::errors::ConnectorError;

/// Headers a write carries from the pre-flight: `(name, sensitive value)`.
pub(crate) type Captured = Vec<(HeaderName, HeaderValue)>;

/// The headers (and the `Cookie` header) writes carry, read from the pre-flight's response.
pub(crate) fn capture(spec: &PreflightSpec, headers: &HeaderMap) -> Result<Captured, ConnectorError> {
    let mut out = Captured::new();
    for name in &spec.capture_headers {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ConnectorError::config(format!("write_preflight: `{name}` is not a valid header name")))?;
        let mut value = headers
            .get(&header)
            .filter(|v| !v.as_bytes().is_empty())
            .cloned()
            .ok_or_else(|| {
                ConnectorError::invalid_response(format!(
                    "the write pre-flight response has no `{name}` header to send with writes"
                ))
            })?;
        value.set_sensitive(true);
        out.push((header, value));
    }
    if spec.cookies {
        if let Some(cookie) = cookie_header(headers) {
            let mut value = HeaderValue::from_str(&cookie).map_err(|_| {
                ConnectorError::invalid_response("the write pre-flight response sets an unusable cookie")
            })?;
            value.set_sensitive(true);
            out.push((http::header::COOKIE, value));
        }
    }
    Ok(out)
}

/// The `Cookie` header sending back every cookie the response sets: the `name=value` part of
/// each `Set-Cookie` (attributes such as `path` and `HttpOnly` dropped), joined with `; `. A
/// later cookie of the same name replaces an earlier one.
pub(crate) fn cookie_header(headers: &HeaderMap) -> Option<String> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for value in headers.get_all(http::header::SET_COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        let pair = text.split(';').next().unwrap_or_default().trim();
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        let name = name.trim();
        if name.is_empty() {
            continue;
        }
        pairs.retain(|(n, _)| n != name);
        pairs.push((name.to_owned(), value.trim().to_owned()));
    }
    (!pairs.is_empty()).then(|| {
        pairs
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// Whether a write's response says the captured values are no longer accepted.
pub(crate) fn asks_for_refresh(spec: &PreflightSpec, status: u16, headers: &HeaderMap) -> bool {
    spec.refresh_on.iter().any(|rule| {
        let status_ok = rule.status.is_empty() || rule.status.iter().any(|p| p.matches(status));
        let header_ok = rule.header.as_ref().is_none_or(|h| {
            headers
                .get(h.name.as_str())
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| h.equals.as_ref().is_none_or(|e| v.trim().eq_ignore_ascii_case(e)))
        });
        status_ok && header_ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> PreflightSpec {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn sap() -> PreflightSpec {
        spec(
            "{request: {path: '', headers: {x-csrf-token: fetch}}, capture_headers: [x-csrf-token], \
             refresh_on: [{status: [403], header: {name: x-csrf-token, equals: required}}]}",
        )
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn captures_the_named_headers_and_the_cookies_as_sensitive_values() {
        let response = headers(&[
            ("x-csrf-token", "tok123=="),
            ("set-cookie", "SAP_SESSIONID_ABC_100=sess1; path=/; secure; HttpOnly"),
            ("set-cookie", "sap-usercontext=sap-client=100; path=/"),
        ]);
        let captured = capture(&sap(), &response).unwrap();
        assert_eq!(captured.len(), 2);
        assert_eq!(captured[0].0.as_str(), "x-csrf-token");
        assert_eq!(captured[0].1.to_str().unwrap(), "tok123==");
        assert_eq!(captured[1].0, http::header::COOKIE);
        assert_eq!(
            captured[1].1.to_str().unwrap(),
            "SAP_SESSIONID_ABC_100=sess1; sap-usercontext=sap-client=100"
        );
        assert!(captured.iter().all(|(_, v)| v.is_sensitive()));
    }

    #[test]
    fn a_missing_header_is_an_error_naming_it_and_cookies_can_be_left_out() {
        let e = capture(&sap(), &headers(&[("set-cookie", "a=b")])).unwrap_err();
        assert!(e.message.contains("`x-csrf-token`"), "{e}");
        let no_cookies = spec("{request: {path: /x}, capture_headers: [x-token], cookies: false}");
        let captured = capture(&no_cookies, &headers(&[("x-token", "t"), ("set-cookie", "a=b")])).unwrap();
        assert_eq!(captured.len(), 1);
    }

    #[test]
    fn a_later_cookie_of_the_same_name_wins() {
        let h = headers(&[
            ("set-cookie", "a=1; path=/"),
            ("set-cookie", "b=2"),
            ("set-cookie", "a=3"),
        ]);
        assert_eq!(cookie_header(&h).as_deref(), Some("b=2; a=3"));
        assert_eq!(cookie_header(&headers(&[("set-cookie", "=x")])), None);
    }

    #[test]
    fn refresh_needs_every_condition_of_a_rule() {
        let s = sap();
        assert!(asks_for_refresh(&s, 403, &headers(&[("x-csrf-token", "Required")])));
        assert!(
            !asks_for_refresh(&s, 403, &headers(&[])),
            "a 403 without the header is a real refusal"
        );
        assert!(!asks_for_refresh(&s, 400, &headers(&[("x-csrf-token", "Required")])));
        assert!(!asks_for_refresh(&spec("{request: {path: /x}}"), 403, &headers(&[])));
    }
}
