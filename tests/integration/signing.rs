//! Signs test deliveries the way each provider documents it, with the hmac crate directly:
//! an independent path from the verifiers under test.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

fn hmac256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// `Stripe-Signature` value for `body` at `t`.
pub fn stripe(secret: &str, t: i64, body: &[u8]) -> String {
    let t = t.to_string();
    format!(
        "t={t},v1={}",
        hex::encode(hmac256(secret.as_bytes(), &[t.as_bytes(), b".", body]))
    )
}

/// `X-HubSpot-Signature-v3` value (timestamp in milliseconds).
pub fn hubspot_v3(secret: &str, method: &str, url: &str, body: &[u8], ts_ms: i64) -> String {
    let ts = ts_ms.to_string();
    base64::engine::general_purpose::STANDARD.encode(hmac256(
        secret.as_bytes(),
        &[method.as_bytes(), url.as_bytes(), body, ts.as_bytes()],
    ))
}

/// `X-HubSpot-Signature` v1 value: plain SHA-256 of `secret + body`, hex (no timestamp).
pub fn hubspot_v1(secret: &str, body: &[u8]) -> String {
    use sha2::Digest as _;
    let mut hash = Sha256::new();
    hash.update(secret.as_bytes());
    hash.update(body);
    hex::encode(hash.finalize())
}

/// `X-Slack-Signature` value.
pub fn slack(secret: &str, ts: i64, body: &[u8]) -> String {
    let ts = ts.to_string();
    format!(
        "v0={}",
        hex::encode(hmac256(secret.as_bytes(), &[b"v0:", ts.as_bytes(), b":", body]))
    )
}

/// `X-Hub-Signature-256` value.
pub fn github(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(hmac256(secret.as_bytes(), &[body])))
}
