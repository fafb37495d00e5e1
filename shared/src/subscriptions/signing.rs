//! Signing a delivery the Standard Webhooks way, with the same code `switchyard webhook sign`
//! uses ([`crate::webhook::sign`]), and making new `whsec_` secrets.

use base64::Engine as _;
use rand::Rng as _;
use secrecy::{ExposeSecret, SecretString};

use crate::webhook::{sign, Scheme, SignError, SignInput, SigningSecrets};

/// A new signing secret: `whsec_` and the base64 of 32 random bytes (OS-seeded CSPRNG).
pub fn new_secret() -> SecretString {
    let mut key = [0u8; 32];
    rand::rng().fill(&mut key);
    SecretString::from(format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    ))
}

/// The `webhook-id`, `webhook-timestamp` and `webhook-signature` headers of a delivery. With
/// `also_previous` (a rotation's overlap) the signature header carries a `v1,` entry for the
/// previous secret too, so a receiver that still has the old secret keeps verifying.
pub fn headers(
    secrets: &SigningSecrets,
    also_previous: bool,
    event_id: &str,
    now: i64,
    payload: &[u8],
) -> Result<Vec<(String, String)>, SignError> {
    let sign_with = |secret: &SecretString| {
        sign(
            &Scheme::StandardWebhooks,
            &SignInput {
                method: "POST",
                url: "",
                body: payload,
                secret,
                now,
                message_id: Some(event_id),
            },
        )
    };
    let mut headers = sign_with(&secrets.current)?;
    if let (true, Some(previous)) = (also_previous, secrets.previous.as_ref()) {
        if !previous.expose_secret().is_empty() {
            let old = sign_with(previous)?;
            let extra = old
                .into_iter()
                .find(|(name, _)| name == "webhook-signature")
                .map(|(_, v)| v);
            if let (Some(extra), Some((_, sig))) = (extra, headers.iter_mut().find(|(n, _)| n == "webhook-signature")) {
                sig.push(' ');
                sig.push_str(&extra);
            }
        }
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::{verify, Headers, VerifyOptions, WebhookRequest};

    fn check(headers: &[(String, String)], body: &[u8], secret: &str, now: i64) -> bool {
        let headers = Headers::from_pairs(headers.iter().map(|(n, v)| (n.clone(), v.as_str())));
        let req = WebhookRequest {
            method: "POST",
            url: "https://example.com/hook",
            headers: &headers,
            body,
        };
        verify(
            &Scheme::StandardWebhooks,
            &req,
            &SigningSecrets::new(secret),
            &VerifyOptions::at(now),
        )
        .is_ok()
    }

    #[test]
    fn the_receivers_own_verifier_accepts_what_is_signed_here() {
        let secret = new_secret();
        let key = secret.expose_secret().to_string();
        assert!(key.starts_with("whsec_") && key.len() > 40);
        let body = br#"{"type":"job.finished","timestamp":"2027-01-15T08:00:00Z","data":{}}"#;
        let h = headers(&SigningSecrets::new(&key), false, "msg_1", 1_800_000_000, body).unwrap();
        let names: Vec<&str> = h.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["webhook-id", "webhook-timestamp", "webhook-signature"]);
        assert_eq!(h[0].1, "msg_1");
        assert!(check(&h, body, &key, 1_800_000_000));
        assert!(!check(&h, b"{}", &key, 1_800_000_000), "another body fails");
        assert!(
            !check(&h, body, new_secret().expose_secret(), 1_800_000_000),
            "another secret fails"
        );
    }

    #[test]
    fn during_a_rotation_both_secrets_verify() {
        let (old, new) = (new_secret(), new_secret());
        let mut secrets = SigningSecrets::new(new.expose_secret());
        secrets.previous = Some(old.clone());
        let body = b"{}";
        let both = headers(&secrets, true, "msg_2", 1_800_000_000, body).unwrap();
        assert!(check(&both, body, new.expose_secret(), 1_800_000_000));
        assert!(check(&both, body, old.expose_secret(), 1_800_000_000));
        let after = headers(&secrets, false, "msg_2", 1_800_000_000, body).unwrap();
        assert!(!check(&after, body, old.expose_secret(), 1_800_000_000));
    }
}
