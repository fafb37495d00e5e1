//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` attributes and the
//! request and response types. Served at `GET /v1/openapi.json` (no key needed) and checked in
//! at `api/openapi.json`; a test fails when the two differ.
//!
//! Regenerate the checked-in copy after changing the API:
//! `SWITCHYARD_WRITE_OPENAPI=1 cargo test --workspace --lib -- api::openapi`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::routes::{
    audit, conflicts, connections, connectors, dead_letters, events, flows, keys, me, reviews, subjects, suggestions,
    usage, webhook_subscriptions,
};

/// The command that rewrites `api/openapi.json`.
pub const REGENERATE: &str = "SWITCHYARD_WRITE_OPENAPI=1 cargo test --workspace --lib -- api::openapi";

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

/// Every POST takes `Idempotency-Key` (see [`super::idempotency`]): the header is added to each
/// POST operation here rather than repeated in every handler's attribute.
struct IdempotencyKeys;

impl Modify for IdempotencyKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        use utoipa::openapi::Required;
        for item in openapi.paths.paths.values_mut() {
            let Some(post) = item.post.as_mut() else {
                continue;
            };
            let header = ParameterBuilder::new()
                .name("Idempotency-Key")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "1 to 255 printable ASCII characters, honoured for 24 hours per API key. The same key with the \
                     same method, path and body replays the first answer (status and body, with \
                     `Idempotent-Replayed: true`) without doing the work again; with a different request it is a 422 \
                     (`idempotency-key-reused`); while the first is still running, a 409 (`idempotency-key-in-flight`). \
                     A 5xx answer is not kept. A replayed new API key omits `key`: it is shown once.",
                ))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(255))))
                .build();
            post.parameters.get_or_insert_with(Vec::new).push(header);
            // Whatever the route, the header itself can be refused: documented on every POST
            // (Schemathesis found POSTs answering these without saying so).
            for (status, description) in [
                ("409", "The request with this Idempotency-Key is still running (idempotency-key-in-flight)"),
                (
                    "422",
                    "Invalid fields (see errors), or an Idempotency-Key that is malformed or was used for a different request",
                ),
            ] {
                post.responses.responses.entry(status.to_string()).or_insert_with(|| {
                    utoipa::openapi::RefOr::T(
                        utoipa::openapi::ResponseBuilder::new()
                            .description(description)
                            .content(
                                "application/problem+json",
                                utoipa::openapi::ContentBuilder::new()
                                    .schema(Some(utoipa::openapi::Ref::from_schema_name("ProblemDetails")))
                                    .build(),
                            )
                            .build(),
                    )
                });
            }
        }
    }
}

/// utoipa inlines a generic's type argument (`PageBody<Flow>` repeats all of `Flow` inside
/// `PageBody_Flow`), so generated clients got a second, anonymous model per list
/// (`PageBodyFlowItemsItem` beside `Flow`). Each page's `items` refers to the named schema
/// instead, when the inlined one is exactly that schema.
struct PageItemsByRef;

impl Modify for PageItemsByRef {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{ArrayItems, Schema};
        use utoipa::openapi::{Ref, RefOr};
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let named = components.schemas.clone();
        for (name, schema) in components.schemas.iter_mut() {
            let Some(item_name) = name.strip_prefix("PageBody_") else {
                continue;
            };
            let Some(named_item) = named.get(item_name) else {
                continue;
            };
            let RefOr::T(Schema::Object(page)) = schema else {
                continue;
            };
            let Some(RefOr::T(Schema::Array(items))) = page.properties.get_mut("items") else {
                continue;
            };
            if let ArrayItems::RefOrSchema(inline) = &mut items.items {
                if **inline == *named_item {
                    **inline = RefOr::Ref(Ref::from_schema_name(item_name));
                }
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchyard management API",
        version = "1",
        description = "Connectors, connections, flows, dead letters, outbound webhook subscriptions, API keys and the audit log of one tenant. \
            Every answer to an authenticated request carries RateLimit-Limit, RateLimit-Remaining \
            and RateLimit-Reset; errors are RFC 9457 problem details."
    ),
    paths(
        me::show,
        connectors::list,
        connectors::show,
        connectors::upload,
        connectors::upload_version,
        connectors::versions,
        connectors::show_version,
        connectors::delete,
        connections::list,
        connections::create,
        connections::show,
        connections::update,
        connections::delete,
        connections::test,
        connections::rotate_secret,
        events::list,
        events::list_for_connection,
        flows::list,
        flows::create,
        flows::show,
        flows::update,
        flows::pause,
        flows::resume,
        flows::run,
        conflicts::list,
        conflicts::resolve,
        reviews::list,
        reviews::resolve,
        suggestions::suggest,
        dead_letters::list,
        dead_letters::show,
        dead_letters::replay,
        keys::list,
        keys::create,
        keys::rotate,
        keys::revoke,
        audit::list,
        audit::export,
        subjects::export,
        subjects::erase,
        usage::show,
        webhook_subscriptions::event_types,
        webhook_subscriptions::list,
        webhook_subscriptions::create,
        webhook_subscriptions::show,
        webhook_subscriptions::update,
        webhook_subscriptions::delete,
        webhook_subscriptions::rotate_secret,
        webhook_subscriptions::deliveries,
        webhook_subscriptions::resend,
        webhook_subscriptions::recover,
    ),
    components(schemas(super::problem::ProblemDetails, super::problem::FieldError)),
    modifiers(&BearerKeys, &IdempotencyKeys, &PageItemsByRef),
    tags(
        (name = "connectors", description = "Built-in connector definitions, and the tenant's own uploaded ones (versioned, usable only by its flows)"),
        (name = "connections", description = "Accounts at providers; credentials live in Secrets Manager"),
        (name = "events", description = "The inbound webhook log: accepted, duplicate and rejected deliveries"),
        (name = "flows", description = "Stream -> jq mapping -> write operation"),
        (name = "dead-letters", description = "Messages that stopped retrying"),
        (name = "keys", description = "API keys (admin role)"),
        (name = "audit", description = "Who did what, when, from which key (admin role)"),
        (name = "subjects", description = "GDPR / CCPA: export (editor role) and erase (admin role) everything held about one person, by email address"),
        (name = "usage", description = "Requests per key and tier; events and records per tenant per day"),
        (name = "webhook-subscriptions", description = "Outbound webhooks: Switchyard's events POSTed to your endpoint, signed the Standard Webhooks way, with a delivery log"),
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

    /// Generators name a client's methods after operationIds: each is present and unique (a
    /// repeated `list` made openapi-generator refuse the document and collided in TypeScript).
    #[test]
    fn every_operation_has_its_own_operation_id() {
        let doc: serde_json::Value = serde_json::from_str(&document()).unwrap();
        let mut seen = std::collections::BTreeMap::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let id = op["operationId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
                if let Some(other) = seen.insert(id.to_string(), format!("{method} {path}")) {
                    panic!("operationId {id} names both {other} and {method} {path}");
                }
            }
        }
        assert_eq!(seen.len(), super::super::routes::Route::all_names().len());
    }

    /// Every POST takes `Idempotency-Key`, and so can answer 409 (in flight) and 422 (malformed or
    /// reused): each documents both (regression: pause, resume, test, replay, resend and
    /// rotate-secret answered them undocumented).
    #[test]
    fn every_post_documents_the_idempotency_key_answers() {
        let doc: serde_json::Value = serde_json::from_str(&document()).unwrap();
        let mut posts = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            let Some(post) = item.get("post") else {
                continue;
            };
            posts += 1;
            for status in ["409", "422"] {
                assert_eq!(
                    post["responses"][status]["content"]["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/ProblemDetails",
                    "POST {path} does not document {status}"
                );
            }
        }
        let routes = super::super::routes::Route::all_names();
        assert_eq!(posts, routes.iter().filter(|r| r.starts_with("POST ")).count());
    }

    /// A page's items refer to the named schema: no anonymous copy for generators to name.
    #[test]
    fn page_items_refer_to_their_named_schema() {
        let doc: serde_json::Value = serde_json::from_str(&document()).unwrap();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let pages: Vec<_> = schemas.keys().filter(|n| n.starts_with("PageBody_")).collect();
        assert!(!pages.is_empty());
        for name in pages {
            let item = name.strip_prefix("PageBody_").unwrap();
            assert_eq!(
                schemas[name]["properties"]["items"]["items"],
                serde_json::json!({ "$ref": format!("#/components/schemas/{item}") }),
                "{name}"
            );
        }
    }
}
