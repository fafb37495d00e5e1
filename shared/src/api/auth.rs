//! Who is calling, and may they: `Authorization: Bearer <key>` -> the key's tenant, role and
//! tier; the role against the route's permission; the tier's hourly allowance.

use secrecy::SecretString;

use super::problem::Problem;
use super::request::ApiRequest;
use super::ApiDeps;
use crate::store::api_keys::{ApiKey, Role, Tier};
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

/// The key's record if the request carries a working key (or, with single sign-on configured,
/// the signed-in user's tenant and role from a valid token); a 401 otherwise. The same answer for
/// a missing, malformed, unknown, wrong, revoked or expired key.
pub async fn authenticate(deps: &ApiDeps, req: &ApiRequest) -> Result<Caller, Problem> {
    let refused = || Problem::unauthorized("send a working API key as `Authorization: Bearer <key>`");
    let header = req.header("authorization").ok_or_else(refused)?;
    let (scheme, token) = header.trim().split_once(' ').ok_or_else(refused)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(refused());
    }
    if let Some(oidc) = &deps.oidc {
        if super::oidc::OidcVerifier::looks_like_jwt(token.trim()) {
            // A sign-in token (single sign-on), not an API key.
            let user = oidc.verify(token.trim(), deps.clock.now_unix()).await.map_err(|e| {
                tracing::info!(reason = %e, "sign-in token refused");
                refused()
            })?;
            return Ok(Caller {
                tenant: user.tenant,
                prefix: user.id,
                role: user.role,
                tier: SSO_TIER,
            });
        }
    }
    let token = SecretString::from(token.trim().to_string());
    let prefix = super::key_material::prefix_of(secrecy::ExposeSecret::expose_secret(&token)).ok_or_else(refused)?;
    let key: ApiKey = deps.keys.get(prefix).await?.ok_or_else(refused)?;
    if !super::key_material::matches(&token, &key.hash) || !key.is_active(deps.clock.now_unix()) {
        return Err(refused());
    }
    Ok(Caller {
        tenant: key.tenant,
        prefix: key.prefix,
        role: key.role,
        tier: key.tier,
    })
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

/// Counts the request against the caller's hourly allowance (one conditional `UpdateItem`,
/// shared by every instance): `Ok` with the headers' values, or a 429 carrying them.
pub async fn rate_limit(deps: &ApiDeps, caller: &Caller) -> Result<RateState, Problem> {
    let limit = deps.config.hourly_limit(caller.tier);
    let window_secs = deps.config.rate_window_secs.max(1);
    let (start, reset) = window(deps.clock.now_unix(), window_secs);
    match deps.windows.count(&caller.prefix, start, window_secs, limit).await? {
        WindowCount::Counted(n) => Ok(RateState {
            limit,
            remaining: limit.saturating_sub(n),
            reset,
        }),
        WindowCount::Full => {
            let state = RateState {
                limit,
                remaining: 0,
                reset,
            };
            let mut p = Problem::rate_limited(format!(
                "this key's {} tier allows {limit} requests per {window_secs} s; the window resets in {reset} s",
                caller.tier.name()
            ));
            p.headers.push(("retry-after", reset.to_string()));
            p.headers.extend(state.headers());
            Err(p)
        }
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
