//! `GET /v1/me`: the calling key's tenant, role and tier, and what that role may do, so a
//! client (the console) shows only the actions the key has. The API still checks every route.

use serde::Serialize;

use super::super::{ApiResponse, Caller, Permission, Problem};
use crate::store::api_keys::{Role, Tier};

/// What the calling key is and may do.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MeView {
    pub tenant: String,
    /// The key's visible prefix (never the key).
    pub key_prefix: String,
    pub role: Role,
    pub tier: Tier,
    /// The permissions the role has: `read`, `run`, `write`, `admin`.
    pub permissions: Vec<&'static str>,
}

pub fn view(caller: &Caller) -> MeView {
    let all = [
        (Permission::Read, "read"),
        (Permission::Run, "run"),
        (Permission::Write, "write"),
        (Permission::Admin, "admin"),
    ];
    MeView {
        tenant: caller.tenant.clone(),
        key_prefix: caller.prefix.clone(),
        role: caller.role,
        tier: caller.tier,
        permissions: all
            .iter()
            .filter(|(p, _)| caller.require(*p).is_ok())
            .map(|(_, name)| *name)
            .collect(),
    }
}

#[utoipa::path(
    get,
    path = "/v1/me",
    operation_id = "show_me",
    tag = "keys",
    responses(
        (status = 200, description = "The calling key's tenant, role, tier and permissions", body = MeView),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn show(caller: &Caller) -> Result<ApiResponse, Problem> {
    Ok(ApiResponse::json(200, &view(caller)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_viewer_may_only_read_and_an_admin_may_do_everything() {
        let caller = |role| Caller {
            tenant: "t".into(),
            prefix: "p".into(),
            role,
            tier: Tier::Free,
        };
        assert_eq!(view(&caller(Role::Viewer)).permissions, ["read"]);
        assert_eq!(view(&caller(Role::Runner)).permissions, ["read", "run"]);
        assert_eq!(
            view(&caller(Role::Admin)).permissions,
            ["read", "run", "write", "admin"]
        );
    }
}
