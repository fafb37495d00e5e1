//! `POST /v1/suggestions`: a proposed jq mapping from a source stream's records to a destination
//! write's records, the same proposal `switchyard flows suggest` prints ([`crate::suggest`]).
//! It reads and computes only: nothing is stored.

use std::sync::Arc;

use serde::Deserialize;

use crate::api::auth::Caller;
use crate::api::problem::Problem;
use crate::api::request::ApiRequest;
use crate::api::response::ApiResponse;
use crate::api::ApiDeps;
use crate::connector::ConnectorDefinition;
use crate::suggest::{self, SuggestError, Suggestion};

/// Most sample records a side may bring.
const MAX_SAMPLES: usize = 100;

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = SuggestionRequest)]
#[serde(deny_unknown_fields)]
struct SuggestBody {
    /// `CONNECTION/STREAM` (a connection of the tenant: its connector's stream) or
    /// `CONNECTOR/STREAM` (`stripe/customers`).
    source: String,
    /// `CONNECTION/WRITE` or `CONNECTOR/WRITE` (`hubspot/contacts.upsert_by_email`).
    destination: String,
    /// Source records (at most 100): their fields and values add to the schema the
    /// definition names, or stand in for it.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    source_samples: Vec<serde_json::Value>,
    /// Destination records, likewise.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    destination_samples: Vec<serde_json::Value>,
}

/// The connector a side names and the stream or write after the slash; 422 naming the field.
/// A connector is built in or the caller's tenant's own (uploaded; another tenant's is not
/// seen), named directly or through a connection.
async fn side(
    deps: &ApiDeps,
    caller: &Caller,
    field: &str,
    value: &str,
) -> Result<(Arc<ConnectorDefinition>, String), Problem> {
    let what = if field == "source" { "STREAM" } else { "WRITE" };
    let Some((owner, name)) = value.split_once('/').filter(|(o, n)| !o.is_empty() && !n.is_empty()) else {
        return Err(Problem::field(
            field,
            format!("give CONNECTION/{what} or CONNECTOR/{what}, e.g. conn_1/customers"),
        ));
    };
    // A connection of the caller's tenant first (another tenant's is not seen), then a
    // built-in connector, then one of the tenant's own.
    let resolve = |id: String| async move {
        deps.tenant_connectors
            .resolve(&deps.registry, &caller.tenant, &id)
            .await
            .map_err(Problem::from)
    };
    if let Some(conn) = deps.connections.get(owner).await?.filter(|c| c.tenant == caller.tenant) {
        let def = resolve(conn.provider.clone()).await?.ok_or_else(|| {
            Problem::field(
                field,
                format!(
                    "connection {owner} is a webhook-only `{}` connection: it has no connector to suggest from",
                    conn.provider
                ),
            )
        })?;
        return Ok((def, name.to_string()));
    }
    match resolve(owner.to_string()).await? {
        Some(def) => Ok((def, name.to_string())),
        None => Err(Problem::field(
            field,
            format!(
                "`{owner}` is neither a connection of this tenant nor a built-in connector or one of the tenant's own"
            ),
        )),
    }
}

fn samples(field: &str, records: &[serde_json::Value]) -> Result<(), Problem> {
    if records.len() > MAX_SAMPLES {
        return Err(Problem::field(field, format!("at most {MAX_SAMPLES} sample records")));
    }
    if let Some(i) = records.iter().position(|r| !r.is_object()) {
        return Err(Problem::field(
            format!("{field}[{i}]"),
            "a sample record is a JSON object",
        ));
    }
    Ok(())
}

fn rejected(field: &str, e: SuggestError) -> Problem {
    match e {
        SuggestError::Mapping(reason) => {
            // Our own proposal failed to compile: a fault of ours, not of the request.
            tracing::error!(message = "A suggested mapping did not compile.", reason = %reason);
            Problem::internal()
        }
        other => Problem::field(field, other.to_string()),
    }
}

#[utoipa::path(
    post,
    path = "/v1/suggestions",
    operation_id = "suggest_mapping",
    tag = "flows",
    request_body = SuggestBody,
    responses(
        (status = 200, description = "The proposed mapping: each destination field's source, confidence (0 to 1) and reasons, the required destination fields nothing matched, and the jq mapping (compiled under the mapping sandbox's limits), ready for POST /v1/flows", body = Suggestion),
        (status = 400, description = "Malformed JSON", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (see errors): an unknown side, stream or write, no record schema and no samples", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn suggest(deps: &ApiDeps, caller: &Caller, req: &ApiRequest) -> Result<ApiResponse, Problem> {
    let body: SuggestBody = req.json()?;
    samples("source_samples", &body.source_samples)?;
    samples("destination_samples", &body.destination_samples)?;
    let (src_def, stream) = side(deps, caller, "source", &body.source).await?;
    let (dst_def, write) = side(deps, caller, "destination", &body.destination).await?;
    let specs = deps.config.specs_dir.as_deref();
    let source =
        suggest::stream_shape(&src_def, &stream, specs, &body.source_samples).map_err(|e| rejected("source", e))?;
    let destination = suggest::write_shape(&dst_def, &write, specs, &body.destination_samples)
        .map_err(|e| rejected("destination", e))?;
    let proposal: Suggestion = suggest::suggest(&source, &destination).map_err(|e| rejected("destination", e))?;
    Ok(ApiResponse::json(200, &proposal))
}
