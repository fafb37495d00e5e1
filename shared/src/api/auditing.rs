//! Every answered request that changes something, runs something or touches credentials is
//! recorded in the tenant's audit log ([`crate::store::audit`]): the key's prefix and role,
//! the action and route, the resource id, the status, and whether it was an idempotent replay.
//! Refusals (403, 404, 409, 422) are recorded too: an attempt is worth knowing about. Never a
//! request body, a credential or a query string.

use super::auth::Caller;
use super::response::ApiResponse;
use super::routes::Route;
use super::ApiDeps;
use crate::store::audit::AuditEntry;

/// Records one answered request when its route is audited. A failure to record is logged, not
/// answered: the work is done by then. An answer whose route wrote its entry in the same
/// transaction as its change ([`ApiResponse::audited`]) is not recorded again.
pub async fn record(deps: &ApiDeps, caller: &Caller, route: &Route, resp: &ApiResponse, replayed: bool) {
    if resp.audited && !replayed {
        return;
    }
    let target = route
        .resource()
        .map(str::to_string)
        .or_else(|| {
            // A creation names its new resource in `Location`.
            resp.header("location")
                .and_then(|l| l.rsplit('/').next())
                .map(str::to_string)
        })
        .unwrap_or_default();
    let Some(entry) = entry(deps, caller, route, resp.status, target, replayed) else {
        return;
    };
    if let Err(e) = deps.audit.record(&entry).await {
        tracing::error!(
            message = "Could not write an audit entry.",
            tenant = %entry.tenant,
            action = %entry.action,
            target = %entry.target,
            status = resp.status,
            error = %e
        );
    }
}

/// The entry an answer of `status` to `route` about `target` is recorded as (`None` for a
/// route that is not audited). A route that creates something builds it before the write, for
/// the status it answers on success, and writes it in the same transaction
/// ([`crate::store::flows::FlowStore::create_audited`]), then marks its answer
/// [`ApiResponse::audited`].
pub fn entry(
    deps: &ApiDeps,
    caller: &Caller,
    route: &Route,
    status: u16,
    target: String,
    replayed: bool,
) -> Option<AuditEntry> {
    let action = route.audit_action()?;
    let mut entry = AuditEntry::new(
        caller.tenant.clone(),
        deps.clock.now_unix(),
        caller.actor(),
        action,
        target,
    );
    entry.role = Some(caller.role.name().to_string());
    entry.route = Some(route.name().to_string());
    entry.status = Some(status);
    if replayed {
        entry.detail = "idempotent replay: answered from the stored response, nothing done again".into();
    }
    Some(entry)
}
