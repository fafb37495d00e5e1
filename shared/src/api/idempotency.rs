//! `Idempotency-Key` on POST: a client that retries a POST with the same key gets the first
//! answer again instead of a second creation, run or replay.
//!
//! - The key is 1 to 255 printable ASCII characters, scoped to the tenant and the API key that
//!   sent it, and honoured for 24 hours ([`super::ApiConfig::idempotency_ttl_secs`]).
//! - The first request claims it with one conditional `PutItem` (see
//!   [`crate::store::idempotency`]), does the work and stores its answer (status, headers,
//!   body). A retry with the same method, path and body gets that answer again with
//!   `Idempotent-Replayed: true`, and nothing is done again.
//! - The same key with another method, path or body: `422` (`idempotency-key-reused`).
//! - The same request while the first is still running: `409` (`idempotency-key-in-flight`,
//!   `Retry-After: 1`). A claim whose request died is taken over after
//!   [`super::ApiConfig::idempotency_lock_secs`].
//! - A `5xx` answer is not stored: the claim is released, so the retry does the work.
//! - An answer that shows a secret once (a new API key) is stored without it: its replay has
//!   the same status and fields except `key`.

use super::auth::Caller;
use super::problem::Problem;
use super::request::ApiRequest;
use super::response::ApiResponse;
use super::routes::{self, Route};
use super::ApiDeps;
use crate::store::idempotency::{request_hash, Claim, Scope, StoredResponse};

/// The header's name (lower case, as requests carry it).
pub const HEADER: &str = "idempotency-key";

/// Whether the header's value is usable: 1 to 255 printable ASCII characters.
fn valid(key: &str) -> bool {
    !key.is_empty() && key.len() <= 255 && key.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// Runs an authorised route, honouring `Idempotency-Key` on POST. Also says whether the answer
/// is a replay (for the audit log).
pub async fn dispatch(deps: &ApiDeps, caller: &Caller, route: Route, req: &ApiRequest) -> (ApiResponse, bool) {
    let run = |route| async move {
        routes::dispatch(deps, caller, route, req)
            .await
            .unwrap_or_else(Problem::into_response)
    };
    let key = match req.header(HEADER) {
        Some(key) if req.method == "POST" => key.trim(),
        _ => return (run(route).await, false),
    };
    if !valid(key) {
        let p = Problem::field("Idempotency-Key", "1 to 255 printable ASCII characters");
        return (p.into_response(), false);
    }
    let scope = Scope {
        tenant: &caller.tenant,
        api_key: &caller.prefix,
        idempotency_key: key,
    };
    let target = format!("{}?{}", req.path, req.query);
    let hash = request_hash(&req.method, &target, &req.body);
    let now = deps.clock.now_unix();
    let claim = deps
        .idempotency
        .claim(
            scope,
            &hash,
            now,
            deps.config.idempotency_ttl_secs,
            deps.config.idempotency_lock_secs,
        )
        .await;
    match claim {
        Err(e) => (Problem::from(e).into_response(), false),
        Ok(Claim::Mismatch) => (Problem::idempotency_key_reused().into_response(), false),
        Ok(Claim::InFlight) => (Problem::idempotency_key_in_flight().into_response(), false),
        Ok(Claim::Done(stored)) => {
            let mut resp = ApiResponse::new(stored.status, "application/json", stored.body);
            resp.headers = stored.headers;
            (resp.with_header("idempotent-replayed", "true"), true)
        }
        Ok(Claim::Claimed) => {
            let resp = run(route).await;
            let kept = if resp.status >= 500 {
                deps.idempotency.release(scope).await
            } else {
                deps.idempotency.complete(scope, &to_store(&resp)).await
            };
            if let Err(e) = kept {
                // The work is done and answered; a retry within the lock finds it in flight,
                // after it does the work again. Say so in the log.
                tracing::error!(message = "Could not store an idempotent answer.", status = resp.status, error = %e);
            }
            (resp, false)
        }
    }
}

/// What is kept of an answer: everything, or for an answer marked `no-store`, its
/// `replay_body` (or an empty object) in place of the body.
fn to_store(resp: &ApiResponse) -> StoredResponse {
    let no_store = resp.header("cache-control").is_some_and(|v| v.contains("no-store"));
    let body = match (&resp.replay_body, no_store) {
        (Some(replay), _) => replay.clone(),
        (None, true) => "{}".into(),
        (None, false) => resp.body.clone(),
    };
    StoredResponse {
        status: resp.status,
        headers: resp.headers.clone(),
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_printable_ascii_up_to_255() {
        assert!(valid("0f8c2a1e-5d3b-4c1a-9a77-1b2c3d4e5f60"));
        assert!(valid(&"k".repeat(255)));
        assert!(!valid(&"k".repeat(256)));
        assert!(!valid(""));
        assert!(!valid("tab\there"));
        assert!(!valid("clé"));
    }

    #[test]
    fn an_answer_that_shows_a_secret_once_is_kept_without_it() {
        let mut resp = ApiResponse::new(201, "application/json", r#"{"key":"sy_live_x_y","prefix":"x"}"#.into())
            .with_header("cache-control", "no-store");
        assert_eq!(to_store(&resp).body, "{}");
        resp.replay_body = Some(r#"{"prefix":"x"}"#.into());
        let kept = to_store(&resp);
        assert_eq!((kept.status, kept.body.as_str()), (201, r#"{"prefix":"x"}"#));
        let plain = ApiResponse::new(202, "application/json", "{\"job_id\":\"j\"}".into());
        assert_eq!(to_store(&plain).body, plain.body);
    }
}
