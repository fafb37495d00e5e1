//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` attributes and the
//! request and response types. Served at `GET /v1/openapi.json` (no key needed) and checked in
//! at `api/openapi.json`; a test fails when the two differ.
//!
//! Regenerate the checked-in copy after changing the API:
//! `SWITCHYARD_WRITE_OPENAPI=1 cargo test -p switchyard --lib api::openapi`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::routes::{connections, connectors, dead_letters, flows, keys, me};

/// The command that rewrites `api/openapi.json`.
pub const REGENERATE: &str = "SWITCHYARD_WRITE_OPENAPI=1 cargo test -p switchyard --lib api::openapi";

struct BearerKeys;

impl Modify for BearerKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("sy_live_<prefix>_<secret>")
                    .description(Some(
                        "An API key of the tenant (`switchyard keys create` makes the first; POST /v1/keys the rest).",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchyard management API",
        version = "1",
        description = "Connectors, connections, flows, dead letters and API keys of one tenant. \
            Every answer to an authenticated request carries RateLimit-Limit, RateLimit-Remaining \
            and RateLimit-Reset; errors are RFC 9457 problem details."
    ),
    paths(
        me::show,
        connectors::list,
        connectors::show,
        connections::list,
        connections::create,
        connections::show,
        connections::update,
        connections::delete,
        flows::list,
        flows::create,
        flows::show,
        flows::update,
        flows::pause,
        flows::resume,
        flows::run,
        dead_letters::list,
        dead_letters::show,
        dead_letters::replay,
        keys::list,
        keys::create,
        keys::rotate,
        keys::revoke,
    ),
    components(schemas(super::problem::ProblemDetails, super::problem::FieldError)),
    modifiers(&BearerKeys),
    tags(
        (name = "connectors", description = "Built-in connector definitions"),
        (name = "connections", description = "Accounts at providers; credentials live in Secrets Manager"),
        (name = "flows", description = "Stream -> jq mapping -> write operation"),
        (name = "dead-letters", description = "Messages that stopped retrying"),
        (name = "keys", description = "API keys (admin role)"),
    )
)]
struct ApiDoc;

/// The document as served and checked in (pretty JSON, trailing newline).
pub fn document() -> String {
    let mut text = ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serialises");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECKED_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../api/openapi.json");

    #[test]
    fn the_checked_in_openapi_document_is_the_generated_one() {
        let generated = document();
        if std::env::var_os("SWITCHYARD_WRITE_OPENAPI").is_some() {
            std::fs::write(CHECKED_IN, &generated).expect("api/openapi.json is writable");
        }
        let checked_in = std::fs::read_to_string(CHECKED_IN).unwrap_or_default();
        assert!(
            checked_in == generated,
            "api/openapi.json differs from the document the code generates; regenerate it with `{REGENERATE}` and commit it"
        );
    }

    #[test]
    fn the_document_is_openapi_3_1_and_covers_every_route() {
        let doc: serde_json::Value = serde_json::from_str(&document()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let paths = doc["paths"].as_object().unwrap();
        let mut documented = Vec::new();
        for (path, item) in paths {
            for method in item.as_object().unwrap().keys() {
                documented.push(format!("{} {path}", method.to_uppercase()));
            }
        }
        documented.sort();
        let mut routes: Vec<String> = super::super::routes::Route::all_names()
            .iter()
            .map(|n| n.to_string())
            .collect();
        routes.sort();
        assert_eq!(documented, routes);
    }
}
