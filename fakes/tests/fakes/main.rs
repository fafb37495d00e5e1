//! Behaviour of the fake servers over HTTP, as a client sees them. One test binary.

mod faults;
mod handle;
mod hubspot;
mod paged_source;
mod slack;
mod spec_fake;
mod webhook_sink;
mod zoho_crm;

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;

/// A client with a timeout, so a broken fake fails a test instead of hanging it.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("the test client builds")
}

/// Status, headers and JSON body (`Null` when the body is empty or not JSON).
pub async fn parts(response: reqwest::Response) -> (u16, HeaderMap, Value) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("the body arrives");
    (status, headers, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// A header's value as text.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A form body.
pub fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}
