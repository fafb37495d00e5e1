//! Who is calling, and may they: `Authorization: Bearer <key>` -> the key's tenant, role and
//! tier; the role against the route's permission; the tier's hourly allowance.

use secrecy::SecretString;

use super::problem::Problem;
use super::request::ApiRequest;
use super::ApiDeps;
use crate::store::api_keys::{Admission, ApiKey, Role, Tier, WindowCheck};
use crate::store::request_windows::WindowCount;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read connectors, connections, flows, dead letters.
    Read,
    /// Run flows and replay dead letters.
    Run,
    /// Create, change and delete connections and flows.
    Write,
    /// Manage the tenant's API keys.
    Admin,
}

impl Permission {
    /// The least role that has it.
    pub fn least_role(self) -> Role {
        match self {
            Permission::Read => Role::Viewer,
            Permission::Run => Role::Runner,
            Permission::Write => Role::Editor,
            Permission::Admin => Role::Admin,
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: String,
    pub prefix: String,
    pub role: Role,
    pub tier: Tier,
}

impl Caller {
    /// For audit entries and `created_by`.
    pub fn actor(&self) -> String {
        if self.prefix.starts_with("oidc_") {
            format!("user:{}", self.prefix)
        } else {
            format!("key:{}", self.prefix)
        }
    }

    pub fn require(&self, permission: Permission) -> Result<(), Problem> {
        let need = permission.least_role();
        if self.role >= need {
            Ok(())
        } else {
            Err(Problem::forbidden(format!(
                "this route needs the {} role or above; this key is {}",
                need.name(),
                self.role.name()
            )))
        }
    }
}

/// The request allowance of people signed in with single sign-on (the console's users).
pub const SSO_TIER: Tier = Tier::Professional;

/// Who is calling and how much of their allowance is left: the key's record if the request
/// carries a working key (or, with single sign-on configured, the signed-in user's tenant and
/// role from a valid token), with the request counted against the tier's allowance. A 401 for
/// a missing, malformed, unknown, wrong, revoked or expired key (the same answer for each); a
/// 429 with `Retry-After` and `RateLimit-*` when the window is full.
///
/// An API key costs one DynamoDB call: [`ApiKeyStore::admit`](crate::store::api_keys::ApiKeyStore::admit)
/// checks the hash, revocation and expiry and counts the request in one conditional
/// `UpdateItem` on the key item, so a read is that call and the route's own. Nothing is cached
/// between requests: revocation takes effect from the next request, on every instance, and a
/// rotated key stops at the end of its overlap to the second. (A warm-instance cache would also
/// save the lookup, but only by letting a revoked key work until the cache entry expires.)
pub async fn admit(deps: &ApiDeps, req: &ApiRequest) -> Result<(Caller, RateState), Problem> {
    let refused = || Problem::unauthorized("send a working API key as `Authorization: Bearer <key>`");
    let header = req.header("authorization").ok_or_else(refused)?;
    let (scheme, token) = header.trim().split_once(' ').ok_or_else(refused)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(refused());
    }
    let token = token.trim();
    if let Some(oidc) = &deps.oidc {
        if super::oidc::OidcVerifier::looks_like_jwt(token) {
            // A sign-in token (single sign-on), not an API key.
            let user = oidc.verify(token, deps.clock.now_unix()).await.map_err(|e| {
                tracing::info!(reason = %e, "sign-in token refused");
                refused()
            })?;
            let caller = Caller {
                tenant: user.tenant,
                prefix: user.id,
                role: user.role,
                tier: SSO_TIER,
            };
            let rate = rate_limit(deps, &caller).await?;
            return Ok((caller, rate));
        }
    }
    let token = SecretString::from(token.to_string());
    let presented = secrecy::ExposeSecret::expose_secret(&token);
    let prefix = super::key_material::prefix_of(presented).ok_or_else(refused)?;
    let now = deps.clock.now_unix();
    let window_secs = deps.config.rate_window_secs.max(1);
    let (start, reset) = window(now, window_secs);
    let check = WindowCheck {
        now,
        window_start: start,
        window_secs,
        limits: deps.config.tier_limits,
    };
    match deps
        .keys
        .admit(prefix, &super::key_material::hash(presented), check)
        .await?
    {
        Admission::Refused => Err(refused()),
        Admission::Admitted { key, requests } => {
            let limit = deps.config.hourly_limit(key.tier);
            let rate = RateState {
                limit,
                remaining: limit.saturating_sub(requests),
                reset,
            };
            Ok((caller_of(key), rate))
        }
        Admission::Full { key } => Err(window_full(deps, key.tier, reset)),
    }
}

fn caller_of(key: ApiKey) -> Caller {
    Caller {
        tenant: key.tenant,
        prefix: key.prefix,
        role: key.role,
        tier: key.tier,
    }
}

/// A 429 for a full window: `Retry-After` and the `RateLimit-*` headers.
fn window_full(deps: &ApiDeps, tier: Tier, reset: i64) -> Problem {
    let limit = deps.config.hourly_limit(tier);
    let window_secs = deps.config.rate_window_secs.max(1);
    let state = RateState {
        limit,
        remaining: 0,
        reset,
    };
    let mut p = Problem::rate_limited(format!(
        "this key's {} tier allows {limit} requests per {window_secs} s; the window resets in {reset} s",
        tier.name()
    ));
    p.headers.push(("retry-after", reset.to_string()));
    p.headers.extend(state.headers());
    p
}

/// What the rate limiter found, for the `RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateState {
    pub limit: u64,
    pub remaining: u64,
    /// Seconds until the window resets.
    pub reset: i64,
}

impl RateState {
    pub fn headers(&self) -> [(&'static str, String); 3] {
        [
            ("ratelimit-limit", self.limit.to_string()),
            ("ratelimit-remaining", self.remaining.to_string()),
            ("ratelimit-reset", self.reset.to_string()),
        ]
    }
}

/// The window containing `now` for windows of `window_secs`: (start, seconds left).
pub fn window(now: i64, window_secs: i64) -> (i64, i64) {
    let start = now - now.rem_euclid(window_secs);
    (start, start + window_secs - now)
}

/// Counts a signed-in user's request against their allowance (one conditional `UpdateItem`
/// on the user's window item, shared by every instance): `Ok` with the headers' values, or a
/// 429 carrying them. API keys are counted on their own item by [`admit`].
async fn rate_limit(deps: &ApiDeps, caller: &Caller) -> Result<RateState, Problem> {
    let limit = deps.config.hourly_limit(caller.tier);
    let window_secs = deps.config.rate_window_secs.max(1);
    let (start, reset) = window(deps.clock.now_unix(), window_secs);
    match deps.windows.count(&caller.prefix, start, window_secs, limit).await? {
        WindowCount::Counted(n) => Ok(RateState {
            limit,
            remaining: limit.saturating_sub(n),
            reset,
        }),
        WindowCount::Full => Err(window_full(deps, caller.tier, reset)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_aligned_and_say_how_long_is_left() {
        assert_eq!(window(7_200, 3_600), (7_200, 3_600));
        assert_eq!(window(7_259, 3_600), (7_200, 3_541));
        assert_eq!(window(10_799, 3_600), (7_200, 1));
    }

    #[test]
    fn each_role_has_exactly_the_permissions_at_or_below_it() {
        let caller = |role| Caller {
            tenant: "t".into(),
            prefix: "p".into(),
            role,
            tier: Tier::Free,
        };
        let all = [Permission::Read, Permission::Run, Permission::Write, Permission::Admin];
        let allowed = |role| all.iter().filter(|p| caller(role).require(**p).is_ok()).count();
        assert_eq!(allowed(Role::Viewer), 1);
        assert_eq!(allowed(Role::Runner), 2);
        assert_eq!(allowed(Role::Editor), 3);
        assert_eq!(allowed(Role::Admin), 4);
        assert_eq!(caller(Role::Runner).require(Permission::Write).unwrap_err().status, 403);
    }
}
