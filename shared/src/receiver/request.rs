//! Turning an API Gateway HTTP API (payload v2) event into what the verifiers need.

use std::collections::BTreeMap;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use base64::Engine as _;

use crate::webhook::Headers;

/// Why a request could not even be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("the body is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("the body is marked base64 but is not valid base64")]
    BadBase64,
    #[error("method {0} is not allowed; webhooks are POSTed (GET only for a verification challenge)")]
    MethodNotAllowed(String),
    #[error("the path has no connection id")]
    NoConnectionId,
}

/// The parts of an inbound webhook request.
#[derive(Debug, Clone)]
pub struct InboundRequest {
    pub connection_id: String,
    pub method: String,
    /// The URL as the provider requested it: `https://host/path?query`.
    pub url: String,
    pub headers: Headers,
    pub body: Vec<u8>,
    pub request_id: String,
}

/// Reads the connection id, method, URL, headers and raw body of an API Gateway v2 event,
/// refusing a body over `max_body_bytes` before decoding it.
pub fn from_apigw(event: &ApiGatewayV2httpRequest, max_body_bytes: usize) -> Result<InboundRequest, RequestError> {
    let method = event.request_context.http.method.as_str().to_ascii_uppercase();
    // GET reaches the receiver only for a provider's verification challenge (Dropbox); the
    // receiver refuses any other GET once it knows the connection's scheme.
    if method != "POST" && method != "GET" {
        return Err(RequestError::MethodNotAllowed(method));
    }
    let raw_path = event
        .raw_path
        .clone()
        .or_else(|| event.request_context.http.path.clone())
        .unwrap_or_default();
    let connection_id = event
        .path_parameters
        .get("connection_id")
        .cloned()
        .or_else(|| {
            raw_path
                .trim_end_matches('/')
                .rsplit_once("/hooks/")
                .map(|(_, rest)| rest.split('/').next().unwrap_or(rest).to_string())
        })
        .filter(|id| !id.is_empty())
        .ok_or(RequestError::NoConnectionId)?;

    let body = match event.body.as_deref() {
        None => Vec::new(),
        Some(b) if event.is_base64_encoded => {
            // base64 grows 4/3: refuse before spending time decoding something too big anyway.
            let max_encoded = max_body_bytes.div_ceil(3) * 4 + 4;
            if b.len() > max_encoded {
                return Err(RequestError::TooLarge {
                    size: b.len() / 4 * 3,
                    limit: max_body_bytes,
                });
            }
            base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|_| RequestError::BadBase64)?
        }
        Some(b) => b.as_bytes().to_vec(),
    };
    if body.len() > max_body_bytes {
        return Err(RequestError::TooLarge {
            size: body.len(),
            limit: max_body_bytes,
        });
    }

    let mut headers = Headers::new();
    for (name, value) in event.headers.iter() {
        headers.insert(name.as_str(), &String::from_utf8_lossy(value.as_bytes()));
    }
    let proto = headers.get("x-forwarded-proto").unwrap_or("https").to_string();
    let host = event
        .request_context
        .domain_name
        .clone()
        .or_else(|| headers.get("host").map(str::to_string))
        .unwrap_or_default();
    let url = match event.raw_query_string.as_deref() {
        Some(q) if !q.is_empty() => format!("{proto}://{host}{raw_path}?{q}"),
        _ => format!("{proto}://{host}{raw_path}"),
    };
    Ok(InboundRequest {
        connection_id,
        method,
        url,
        headers,
        body,
        request_id: event.request_context.request_id.clone().unwrap_or_default(),
    })
}

/// Header names that may carry credentials or signatures: never stored.
fn is_sensitive(name: &str) -> bool {
    const WORDS: [&str; 8] = [
        "signature",
        "hmac",
        "authorization",
        "token",
        "cookie",
        "key",
        "secret",
        "password",
    ];
    WORDS.iter().any(|w| name.contains(w))
}

/// The request headers worth keeping beside a stored event for connector-sync: content type,
/// user agent and provider metadata headers (`x-github-event`, `x-shopify-topic`, `webhook-id`,
/// ...), never signatures or credentials.
pub fn downstream_headers(headers: &Headers) -> BTreeMap<String, String> {
    headers
        .iter()
        .filter_map(|(name, value)| {
            let name = name.to_ascii_lowercase();
            let wanted = name == "content-type"
                || name == "user-agent"
                || ["x-", "webhook-", "svix-", "intuit-", "calendly-"]
                    .iter()
                    .any(|p| name.starts_with(p));
            let skip = is_sensitive(&name) || name.starts_with("x-forwarded-") || name.starts_with("x-amzn-");
            (wanted && !skip && value.len() <= 1024).then(|| (name, value.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(body: Option<&str>, b64: bool) -> ApiGatewayV2httpRequest {
        let mut ev: ApiGatewayV2httpRequest = serde_json::from_value(serde_json::json!({
            "version": "2.0",
            "routeKey": "POST /hooks/{connection_id}",
            "rawPath": "/hooks/conn_1",
            "rawQueryString": "a=1&b=2",
            "headers": {"content-type": "application/json", "stripe-signature": "t=1,v1=ab", "x-github-event": "push"},
            "pathParameters": {"connection_id": "conn_1"},
            "requestContext": {
                "domainName": "abc.execute-api.eu-west-1.amazonaws.com",
                "requestId": "req-1",
                "http": {"method": "POST", "path": "/hooks/conn_1", "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4", "userAgent": "x"},
                "timeEpoch": 0
            },
            "isBase64Encoded": false
        }))
        .unwrap();
        ev.body = body.map(str::to_string);
        ev.is_base64_encoded = b64;
        ev
    }

    #[test]
    fn reads_connection_url_and_body() {
        let req = from_apigw(&event(Some("{}"), false), 100).unwrap();
        assert_eq!(req.connection_id, "conn_1");
        assert_eq!(
            req.url,
            "https://abc.execute-api.eu-west-1.amazonaws.com/hooks/conn_1?a=1&b=2"
        );
        assert_eq!(req.body, b"{}");
        assert_eq!(req.request_id, "req-1");
    }

    #[test]
    fn base64_body_is_decoded_to_raw_bytes() {
        let req = from_apigw(&event(Some("AP8A/w=="), true), 100).unwrap();
        assert_eq!(req.body, vec![0, 255, 0, 255]);
    }

    #[test]
    fn oversized_body_is_refused_plain_and_base64() {
        let big = "x".repeat(101);
        assert!(matches!(
            from_apigw(&event(Some(&big), false), 100),
            Err(RequestError::TooLarge { .. })
        ));
        let big64 = base64::engine::general_purpose::STANDARD.encode(vec![1u8; 101]);
        assert!(matches!(
            from_apigw(&event(Some(&big64), true), 100),
            Err(RequestError::TooLarge { .. })
        ));
        let huge64 = "A".repeat(10_000);
        assert!(matches!(
            from_apigw(&event(Some(&huge64), true), 100),
            Err(RequestError::TooLarge { .. })
        ));
    }

    #[test]
    fn invalid_base64_is_a_bad_request() {
        assert_eq!(
            from_apigw(&event(Some("!!!"), true), 100).unwrap_err(),
            RequestError::BadBase64
        );
    }

    #[test]
    fn signatures_are_not_kept_downstream() {
        let req = from_apigw(&event(Some("{}"), false), 100).unwrap();
        let kept = downstream_headers(&req.headers);
        assert!(kept.contains_key("x-github-event"));
        assert!(kept.contains_key("content-type"));
        assert!(!kept.contains_key("stripe-signature"));
        let h = Headers::from_pairs([
            ("X-Hub-Signature-256", "sha256=x"),
            ("X-Api-Key", "k"),
            ("Authorization", "Bearer t"),
        ]);
        assert!(downstream_headers(&h).is_empty());
    }
}
