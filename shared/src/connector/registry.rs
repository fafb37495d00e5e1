//! The connector definitions embedded in the binary, validated at start-up, and
//! [`validate_file`] for `switchyard connectors validate FILE`.
//!
//! A broken definition is a [`DefinitionError`] naming the file and the field path, found
//! when the registry loads (a cold start, a test) rather than in the middle of a sync.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use super::compiled::CompiledDefinition;
use super::definition::ConnectorDefinition;

/// The definitions in `shared/connectors/`, by file name. `every_yaml_file_is_embedded`
/// fails when a file is added there but not here.
const EMBEDDED: &[(&str, &str)] = &[
    (
        "amazon-sp-api.yaml",
        include_str!("../../connectors/amazon-sp-api.yaml"),
    ),
    ("asana.yaml", include_str!("../../connectors/asana.yaml")),
    ("axcelerate.yaml", include_str!("../../connectors/axcelerate.yaml")),
    ("bigquery.yaml", include_str!("../../connectors/bigquery.yaml")),
    ("calendly.yaml", include_str!("../../connectors/calendly.yaml")),
    ("canvas.yaml", include_str!("../../connectors/canvas.yaml")),
    ("cloudassess.yaml", include_str!("../../connectors/cloudassess.yaml")),
    ("coursebox.yaml", include_str!("../../connectors/coursebox.yaml")),
    (
        "d2l-brightspace.yaml",
        include_str!("../../connectors/d2l-brightspace.yaml"),
    ),
    ("dropbox.yaml", include_str!("../../connectors/dropbox.yaml")),
    ("dynamics-365.yaml", include_str!("../../connectors/dynamics-365.yaml")),
    ("eskilled.yaml", include_str!("../../connectors/eskilled.yaml")),
    ("generic-rest.yaml", include_str!("../../connectors/generic-rest.yaml")),
    ("github.yaml", include_str!("../../connectors/github.yaml")),
    ("hubspot.yaml", include_str!("../../connectors/hubspot.yaml")),
    ("imap.yaml", include_str!("../../connectors/imap.yaml")),
    ("jr-plus.yaml", include_str!("../../connectors/jr-plus.yaml")),
    ("linear.yaml", include_str!("../../connectors/linear.yaml")),
    ("magento.yaml", include_str!("../../connectors/magento.yaml")),
    ("mailchimp.yaml", include_str!("../../connectors/mailchimp.yaml")),
    (
        "microsoft-graph.yaml",
        include_str!("../../connectors/microsoft-graph.yaml"),
    ),
    ("moodle.yaml", include_str!("../../connectors/moodle.yaml")),
    (
        "myob-accountright.yaml",
        include_str!("../../connectors/myob-accountright.yaml"),
    ),
    ("mysql.yaml", include_str!("../../connectors/mysql.yaml")),
    ("netsuite.yaml", include_str!("../../connectors/netsuite.yaml")),
    ("notion.yaml", include_str!("../../connectors/notion.yaml")),
    (
        "oracle-erp-cloud.yaml",
        include_str!("../../connectors/oracle-erp-cloud.yaml"),
    ),
    ("paypal.yaml", include_str!("../../connectors/paypal.yaml")),
    ("pipedrive.yaml", include_str!("../../connectors/pipedrive.yaml")),
    ("postgres.yaml", include_str!("../../connectors/postgres.yaml")),
    ("power-bi.yaml", include_str!("../../connectors/power-bi.yaml")),
    ("quickbooks.yaml", include_str!("../../connectors/quickbooks.yaml")),
    ("s3.yaml", include_str!("../../connectors/s3.yaml")),
    ("sage-intacct.yaml", include_str!("../../connectors/sage-intacct.yaml")),
    ("salesforce.yaml", include_str!("../../connectors/salesforce.yaml")),
    ("sap-s4hana.yaml", include_str!("../../connectors/sap-s4hana.yaml")),
    ("shopify.yaml", include_str!("../../connectors/shopify.yaml")),
    ("slack.yaml", include_str!("../../connectors/slack.yaml")),
    ("smtp.yaml", include_str!("../../connectors/smtp.yaml")),
    ("snowflake.yaml", include_str!("../../connectors/snowflake.yaml")),
    ("sqlite.yaml", include_str!("../../connectors/sqlite.yaml")),
    ("sqlserver.yaml", include_str!("../../connectors/sqlserver.yaml")),
    ("stripe.yaml", include_str!("../../connectors/stripe.yaml")),
    ("tableau.yaml", include_str!("../../connectors/tableau.yaml")),
    ("vettrak.yaml", include_str!("../../connectors/vettrak.yaml")),
    ("webhook.yaml", include_str!("../../connectors/webhook.yaml")),
    ("woocommerce.yaml", include_str!("../../connectors/woocommerce.yaml")),
    ("xero.yaml", include_str!("../../connectors/xero.yaml")),
    ("zendesk.yaml", include_str!("../../connectors/zendesk.yaml")),
    ("zoho-crm.yaml", include_str!("../../connectors/zoho-crm.yaml")),
];

/// A definition that does not load: which file, which field, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DefinitionError {
    /// The file (as given: `hubspot.yaml`, or the path passed to [`validate_file`]).
    pub file: String,
    /// The dotted field path (`streams.contacts.pagination.token`); empty for the document
    /// as a whole.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() || self.field == "." {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: field `{}`: {}", self.file, self.field, self.message)
        }
    }
}

/// Parses and validates one definition. `file` names it in errors; when it ends in
/// `.yaml` or `.yml`, the stem must equal the definition's id.
pub fn parse_definition(file: &str, text: &str) -> Result<ConnectorDefinition, DefinitionError> {
    let error = |field: String, message: String| DefinitionError {
        file: file.to_owned(),
        field,
        message,
    };
    let deserializer = serde_yaml::Deserializer::from_str(text);
    let def: ConnectorDefinition = serde_path_to_error::deserialize(deserializer)
        .map_err(|e| error(e.path().to_string(), e.inner().to_string()))?;
    let stem = Path::new(file)
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".yaml").or_else(|| n.strip_suffix(".yml")));
    if let Some(stem) = stem {
        if stem != def.id {
            return Err(error(
                "id".into(),
                format!("the id `{}` must match the file name `{stem}`", def.id),
            ));
        }
    }
    CompiledDefinition::compile(&def).map_err(|e| error(e.field, e.message))?;
    Ok(def)
}

/// Reads, parses and validates a definition file.
pub fn validate_file(path: &Path) -> Result<ConnectorDefinition, DefinitionError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| DefinitionError {
        file: file.clone(),
        field: String::new(),
        message: format!("cannot read the file: {e}"),
    })?;
    parse_definition(&file, &text)
}

/// The loaded definitions, by id.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    definitions: BTreeMap<String, Arc<ConnectorDefinition>>,
}

impl Registry {
    /// The definitions embedded at build time, all validated.
    pub fn embedded() -> Result<Registry, DefinitionError> {
        Self::from_sources(EMBEDDED.iter().copied())
    }

    /// Definitions from `(file name, YAML text)` pairs, all validated; ids must be unique.
    pub fn from_sources<'a>(
        sources: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Registry, DefinitionError> {
        let mut definitions = BTreeMap::new();
        for (file, text) in sources {
            let def = parse_definition(file, text)?;
            if definitions.contains_key(&def.id) {
                return Err(DefinitionError {
                    file: file.to_owned(),
                    field: "id".into(),
                    message: format!("another definition already has the id `{}`", def.id),
                });
            }
            definitions.insert(def.id.clone(), Arc::new(def));
        }
        Ok(Registry { definitions })
    }

    /// A definition by id.
    pub fn get(&self, id: &str) -> Option<&ConnectorDefinition> {
        self.definitions.get(id).map(Arc::as_ref)
    }

    /// A definition by id, shared (what [`super::ConnectorClient::new`] takes).
    pub fn get_shared(&self, id: &str) -> Option<Arc<ConnectorDefinition>> {
        self.definitions.get(id).cloned()
    }

    /// This registry with `extra` definitions added (a tenant's own, resolved for one request
    /// or job, see [`super::uploads`]). A built-in id is never replaced: built-ins come first.
    pub fn with_definitions(&self, extra: impl IntoIterator<Item = Arc<ConnectorDefinition>>) -> Registry {
        let mut definitions = self.definitions.clone();
        for def in extra {
            definitions.entry(def.id.clone()).or_insert(def);
        }
        Registry { definitions }
    }

    /// The ids, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.definitions.keys().map(String::as_str)
    }

    /// Every embedded definition as `(file name, YAML text)`, to extend with definitions of
    /// one's own through [`Registry::from_sources`].
    pub fn embedded_sources() -> &'static [(&'static str, &'static str)] {
        EMBEDDED
    }

    /// The YAML source of an embedded definition, for `connectors show`.
    pub fn embedded_source(id: &str) -> Option<&'static str> {
        EMBEDDED
            .iter()
            .find(|(file, _)| file.strip_suffix(".yaml") == Some(id))
            .map(|(_, text)| *text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
id: mini
name: Mini
base_url: https://api.example.com
streams:
  items:
    request: {path: /items, query: {after: "{{ page.token }}"}}
    records: /data
    pagination: {type: cursor, token: /next}
"#;

    fn err(yaml: &str) -> DefinitionError {
        parse_definition("mini.yaml", yaml).unwrap_err()
    }

    #[test]
    fn every_embedded_definition_validates() {
        let registry = Registry::embedded().unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<_> = registry.ids().collect();
        assert_eq!(
            ids,
            [
                "amazon-sp-api",
                "asana",
                "axcelerate",
                "bigquery",
                "calendly",
                "canvas",
                "cloudassess",
                "coursebox",
                "d2l-brightspace",
                "dropbox",
                "dynamics-365",
                "eskilled",
                "generic-rest",
                "github",
                "hubspot",
                "imap",
                "jr-plus",
                "linear",
                "magento",
                "mailchimp",
                "microsoft-graph",
                "moodle",
                "myob-accountright",
                "mysql",
                "netsuite",
                "notion",
                "oracle-erp-cloud",
                "paypal",
                "pipedrive",
                "postgres",
                "power-bi",
                "quickbooks",
                "s3",
                "sage-intacct",
                "salesforce",
                "sap-s4hana",
                "shopify",
                "slack",
                "smtp",
                "snowflake",
                "sqlite",
                "sqlserver",
                "stripe",
                "tableau",
                "vettrak",
                "webhook",
                "woocommerce",
                "xero",
                "zendesk",
                "zoho-crm"
            ]
        );
        assert!(Registry::embedded_source("stripe").unwrap().contains("id: stripe"));
    }

    #[test]
    fn every_yaml_file_is_embedded() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("connectors");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
            .collect();
        on_disk.sort();
        let embedded: Vec<String> = EMBEDDED.iter().map(|(f, _)| (*f).to_owned()).collect();
        assert_eq!(
            on_disk, embedded,
            "add new files in shared/connectors/ to EMBEDDED in registry.rs"
        );
    }

    #[test]
    fn two_alternatives_of_one_kind_are_allowed_only_when_the_later_can_be_chosen() {
        let with = |first: &str, second: &str| {
            format!(
                "{MINIMAL}auth:\n  - {{type: oauth2, token_url: https://login.example.com/token, grant: {first}}}\n  - {{type: oauth2, token_url: https://login.example.com/token, grant: {second}}}\n"
            )
        };
        // A user's refresh token first, then the app's own credentials: each is chosen by the
        // credentials a connection holds.
        let def = parse_definition("mini.yaml", &with("refresh_token", "client_credentials"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(def.auth.len(), 2);
        // The other way round the refresh-token grant would never be chosen.
        let e = err(&with("client_credentials", "refresh_token"));
        assert_eq!(e.field, "auth[1]", "{e}");
        let e = err(&with("client_credentials", "client_credentials"));
        assert_eq!(e.field, "auth[1]", "{e}");
    }

    #[test]
    fn an_oauth_scope_may_read_declared_config_only() {
        let with_scope = |scope: &str| {
            format!(
                "{MINIMAL}config:\n  environment_url: {{required: true}}\nauth:\n  type: oauth2\n  token_url: https://login.example.com/token\n  grant: client_credentials\n  scopes: ['{scope}']\n"
            )
        };
        let def = parse_definition("mini.yaml", &with_scope("{{ config.environment_url }}/.default"))
            .unwrap_or_else(|e| panic!("{e}"));
        let crate::connector::definition::AuthSpec::Oauth2(o) = &def.auth[0] else {
            panic!("oauth2")
        };
        assert_eq!(o.scopes, ["{{ config.environment_url }}/.default"]);
        let e = err(&with_scope("{{ config.org }}/.default"));
        assert_eq!(e.field, "auth[0].scopes[0]", "{e}");
        assert!(e.message.contains("`org`"), "{e}");
        let e = err(&with_scope("{{ page.token }}"));
        assert_eq!(e.field, "auth[0].scopes[0]", "{e}");
    }

    #[test]
    fn a_child_stream_names_an_existing_parent_without_a_cycle_and_uses_it() {
        let child = |parent: &str, path: &str| {
            format!(
                "{MINIMAL}  parts:\n    parent: {{stream: {parent}}}\n    request: {{path: '{path}'}}\n    records: /data\n"
            )
        };
        let def = parse_definition(
            "mini.yaml",
            &child("items", "/items/{{ parent.id | last_segment }}/parts"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(def.streams["parts"].parent.as_ref().unwrap().stream, "items");
        let e = err(&child("nothing", "/items/{{ parent.id }}/parts"));
        assert_eq!(e.field, "streams.parts.parent.stream", "{e}");
        assert!(e.to_string().contains("`nothing` is not a stream"), "{e}");
        let e = err(&child("parts", "/items/{{ parent.id }}/parts"));
        assert!(e.to_string().contains("cannot descend from itself"), "{e}");
        let e = err(&child("items", "/parts"));
        assert_eq!(e.field, "streams.parts.request", "{e}");
        // `parent.*` is only for child streams.
        let e = err(&MINIMAL.replace("/items,", "'/items/{{ parent.id }}',"));
        assert!(
            e.to_string().contains("placeholder `parent.id` is not available"),
            "{e}"
        );
    }

    #[test]
    fn identity_searches_need_the_identity_they_look_up_and_use_only_search_values() {
        let with = |extra: &str| format!("{MINIMAL}{extra}");
        let ok = "    identity: {email: /email, last_name: /name/last}\n    search:\n      email: {request: {path: '/items/{{ value | md5 }}'}}\n      name: {request: {path: /find, query: {q: '{{ last_name }}'}}, records: /data}\n";
        let def = parse_definition("mini.yaml", &with(ok)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(def.streams["items"].search.len(), 2);
        let e = err(&with(&ok.replace("identity: {email: /email, ", "identity: {")));
        assert_eq!(e.field, "streams.items.search.email", "{e}");
        assert!(e.message.contains("needs the stream's `identity`"), "{e}");
        let e = err(&with(&ok.replace("/email,", "email,")));
        assert_eq!(e.field, "streams.items.identity.email", "{e}");
        let e = err(&with(&ok.replace("{{ last_name }}", "{{ record.id }}")));
        assert!(e.field.starts_with("streams.items.search.name.request"), "{e}");
        // A write's stream must be one of the definition's; by default its name's first part.
        let write = |stream: &str| {
            format!("writes:\n  items.create:\n    kind: create\n    {stream}request: {{method: POST, path: /items, body: '{{{{ record }}}}'}}\n")
        };
        let def = parse_definition("mini.yaml", &with(&write(""))).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(def.write_stream("items.create"), Some("items"));
        let e = err(&with(&write("stream: nothing\n    ")));
        assert_eq!(e.field, "writes.items.create.stream", "{e}");
    }

    #[test]
    fn a_write_preflight_is_validated_with_the_field_named() {
        let with_write = |preflight: &str| {
            format!(
                "{MINIMAL}writes:\n  create:\n    kind: create\n    request: {{method: POST, path: /items, body: '{{{{ record }}}}'}}\n{preflight}"
            )
        };
        let ok = "write_preflight:\n  request: {path: '', headers: {x-csrf-token: fetch}}\n  capture_headers: [x-csrf-token]\n  refresh_on: [{status: [403], header: {name: x-csrf-token, equals: required}}]\n";
        let def = parse_definition("mini.yaml", &with_write(ok)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(def.write_preflight.unwrap().capture_headers, ["x-csrf-token"]);
        let e = err(&with_write(&ok.replace("[x-csrf-token]", "['bad header']")));
        assert_eq!(e.field, "write_preflight.capture_headers[0]", "{e}");
        let e = err(&with_write(&ok.replace(
            "status: [403], header: {name: x-csrf-token, equals: required}",
            "status: []",
        )));
        assert_eq!(e.field, "write_preflight.refresh_on[0]", "{e}");
        let e = err(&with_write(&ok.replace("{path: ''", "{path: '/{{ config.nope }}'")));
        assert_eq!(e.field, "write_preflight.request.path", "{e}");
        let e = err(&with_write("write_preflight: {request: {path: /x}, cookies: false}\n"));
        assert!(e.message.contains("captures nothing"), "{e}");
        let e = err(&format!("{MINIMAL}{ok}"));
        assert!(e.message.contains("write operations"), "{e}");
        let e = err(&with_write(&ok.replace("capture_headers", "capture_header")));
        assert_eq!(e.field, "write_preflight.capture_header", "{e}");
    }

    #[test]
    fn a_minimal_definition_loads() {
        let def = parse_definition("mini.yaml", MINIMAL).unwrap();
        assert_eq!(def.id, "mini");
        assert!(def.streams.contains_key("items"));
    }

    #[test]
    fn a_misspelt_key_names_the_file_and_the_field() {
        let e = err(&MINIMAL.replace("records: /data", "recrods: /data"));
        assert_eq!(e.file, "mini.yaml");
        assert_eq!(e.field, "streams.items.recrods");
        assert!(e.message.contains("unknown field `recrods`"), "{e}");
        let shown = e.to_string();
        assert!(
            shown.starts_with("mini.yaml: field `streams.items.recrods`:"),
            "{shown}"
        );
    }

    #[test]
    fn a_wrong_type_names_the_nested_field() {
        let e = err(&MINIMAL.replace(
            "name: Mini",
            "name: Mini\nrate_limit: {requests: many, window_ms: 1000}",
        ));
        assert_eq!(e.field, "rate_limit.requests", "{e}");
    }

    #[test]
    fn a_cost_budget_stands_alone_and_its_pointers_are_checked() {
        let cost = "{available: /a, maximum: /m, restore_rate: /r, requested: /q}";
        let ok = MINIMAL.replace("name: Mini", &format!("name: Mini\nrate_limit: {{cost: {cost}}}"));
        parse_definition("mini.yaml", &ok).unwrap_or_else(|e| panic!("{e}"));
        let e = err(&MINIMAL.replace(
            "name: Mini",
            "name: Mini\nrate_limit: {cost: {available: a, maximum: /m, restore_rate: /r, requested: /q}}",
        ));
        assert_eq!(e.field, "rate_limit.cost.available", "{e}");
        // Without a cost budget, a rate limit still needs its requests and window.
        let e = err(&MINIMAL.replace("name: Mini", "name: Mini\nrate_limit: {window_ms: 1000}"));
        assert_eq!(e.field, "rate_limit.requests", "{e}");
        // Half a request budget beside a cost budget is a mistake too.
        let e = err(&MINIMAL.replace(
            "name: Mini",
            &format!("name: Mini\nrate_limit: {{requests: 5, cost: {cost}}}"),
        ));
        assert_eq!(e.field, "rate_limit.window_ms", "{e}");
    }

    #[test]
    fn a_header_bucket_stands_alone_and_needs_its_level_header_and_positive_rates() {
        let with =
            |headers: &str| MINIMAL.replace("name: Mini", &format!("name: Mini\nrate_limit: {{headers: {headers}}}"));
        let ok = with("{remaining: X-Left, bucket: {cost: X-Cost, maximum: 700, restore_rate: 10}}");
        parse_definition("mini.yaml", &ok).unwrap_or_else(|e| panic!("{e}"));
        let e = err(&with("{bucket: {cost: X-Cost, maximum: 700, restore_rate: 10}}"));
        assert_eq!(e.field, "rate_limit.headers.remaining", "{e}");
        let e = err(&with(
            "{remaining: X-Left, bucket: {cost: X-Cost, maximum: 700, restore_rate: 0}}",
        ));
        assert_eq!(e.field, "rate_limit.headers.bucket.restore_rate", "{e}");
        let e = err(&with(
            "{remaining: X-Left, bucket: {cost: 'X Cost', maximum: 700, restore_rate: 10}}",
        ));
        assert_eq!(e.field, "rate_limit.headers.bucket.cost", "{e}");
        // Headers without a bucket pace nothing by themselves: a request budget is still needed.
        let e = err(&with("{remaining: X-Left}"));
        assert_eq!(e.field, "rate_limit.requests", "{e}");
    }

    #[test]
    fn an_unknown_pagination_type_is_reported_at_the_pagination() {
        let e = err(&MINIMAL.replace("type: cursor", "type: curser"));
        assert_eq!(e.field, "streams.items.pagination.type");
        assert!(e.message.contains("curser"), "{e}");
    }

    #[test]
    fn a_broken_template_names_the_query_parameter() {
        let e = err(&MINIMAL.replace("\"{{ page.token }}\"", "\"{{ page.token \""));
        assert_eq!(e.field, "streams.items.request.query.after", "{e}");
        assert!(e.message.contains("never closed"), "{e}");
    }

    #[test]
    fn a_placeholder_not_available_in_its_place_is_refused() {
        let e = err(&MINIMAL.replace("{path: /items,", "{path: \"/items/{{ record.id }}\","));
        assert_eq!(e.field, "streams.items.request.path", "{e}");
        assert!(e.message.contains("`record.id` is not available"), "{e}");
        let e = err(&MINIMAL.replace("{path: /items,", "{path: \"/items/{{ config.account }}\","));
        assert!(e.message.contains("does not declare"), "{e}");
    }

    #[test]
    fn session_values_are_read_only_where_the_login_captures_them() {
        let session = "base_url: https://api.example.com\nauth:\n  type: session\n  login: {method: POST, path: /signin}\n  token: {pointer: /token}\n  capture: {site_id: /site/id}\n";
        let with_session = MINIMAL.replace("base_url: https://api.example.com\n", session);
        let uses = |path: &str| with_session.replace("{path: /items,", &format!("{{path: \"{path}\","));
        parse_definition("mini.yaml", &uses("/sites/{{ session.site_id }}/items"))
            .expect("a captured value may be read");
        let e = err(&uses("/sites/{{ session.site }}/items"));
        assert_eq!(e.field, "streams.items.request.path", "{e}");
        assert!(e.message.contains("does not capture"), "{e}");
        let e = err(&uses("/sites/{{ session.token }}/items"));
        assert!(
            e.message.contains("does not capture"),
            "the token is not a template value: {e}"
        );
        let e = err(&MINIMAL.replace("{path: /items,", "{path: \"/sites/{{ session.site_id }}/items\","));
        assert!(
            e.message.contains("does not capture"),
            "no session auth, no session values: {e}"
        );
        let e = err(&with_session.replace("capture: {site_id: /site/id}", "capture: {token: /site/id}"));
        assert_eq!(e.field, "auth[0].capture.token", "{e}");
        let e = err(&with_session.replace("capture: {site_id: /site/id}", "capture: {site_id: site/id}"));
        assert!(e.message.contains("not a JSON pointer"), "{e}");
    }

    #[test]
    fn page_number_totals_are_validated_and_exclusive() {
        let paged = |pagination: &str| {
            MINIMAL
                .replace(
                    "query: {after: \"{{ page.token }}\"}",
                    "query: {page: \"{{ page.number }}\"}",
                )
                .replace("{type: cursor, token: /next}", pagination)
        };
        parse_definition(
            "mini.yaml",
            &paged("{type: page_number, page_size: 10, total_pages_header: X-WP-TotalPages}"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        parse_definition(
            "mini.yaml",
            &paged("{type: page_number, page_size: 10, total: /total_count}"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let e = err(&paged(
            "{type: page_number, page_size: 10, total_pages_header: \"bad header\"}",
        ));
        assert_eq!(e.field, "streams.items.pagination.total_pages_header", "{e}");
        let e = err(&paged("{type: page_number, page_size: 10, total: total_count}"));
        assert_eq!(e.field, "streams.items.pagination.total", "{e}");
        let e = err(&paged(
            "{type: page_number, page_size: 10, total: /total_count, total_pages_header: X-WP-TotalPages}",
        ));
        assert_eq!(e.field, "streams.items.pagination", "{e}");
        assert!(e.message.contains("at most one of"), "{e}");
    }

    #[test]
    fn key_headers_are_at_least_two_distinct_valid_names() {
        let with = |headers: &str| {
            MINIMAL.replace(
                "name: Mini",
                &format!("name: Mini\nauth: {{type: api_keys, headers: {headers}}}"),
            )
        };
        parse_definition(
            "mini.yaml",
            &with("[{name: apitoken, credential: a}, {name: wstoken, credential: w}]"),
        )
        .unwrap();
        let e = err(&with("[{name: apitoken, credential: a}]"));
        assert_eq!(e.field, "auth[0].headers", "{e}");
        let e = err(&with(
            "[{name: apitoken, credential: a}, {name: ApiToken, credential: w}]",
        ));
        assert_eq!(e.field, "auth[0].headers[1].name", "{e}");
        let e = err(&with(
            "[{name: apitoken, credential: a}, {name: 'ws token', credential: w}]",
        ));
        assert_eq!(e.field, "auth[0].headers[1].name", "{e}");
    }

    #[test]
    fn cursor_pagination_must_send_its_token() {
        let e = err(&MINIMAL.replace("query: {after: \"{{ page.token }}\"}", "query: {}"));
        assert_eq!(e.field, "streams.items.request");
        assert!(e.message.contains("page.token"), "{e}");
    }

    #[test]
    fn a_change_feed_needs_a_cursor_fetch_and_pointers_of_the_cursor_type() {
        let changes = r#"    records: /data
    cursor: {field: /updated, type: unix_seconds}
    fetch: {request: {path: "/items/{{ id }}"}}
    changes:
      request: {path: /events, query: {after: "{{ page.token }}", since: "{{ since }}"}}
      records: /data
      id: /data/object/id
      cursor: {field: /created, type: unix_seconds}
      max_age_secs: 2592000"#;
        let with = |text: &str| MINIMAL.replace("    records: /data", text);
        let def = parse_definition("mini.yaml", &with(changes)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            def.streams["items"].changes.as_ref().unwrap().max_age_secs,
            Some(2_592_000)
        );
        let e = err(&with(
            &changes.replace("    fetch: {request: {path: \"/items/{{ id }}\"}}\n", ""),
        ));
        assert_eq!(e.field, "streams.items.changes", "{e}");
        assert!(e.message.contains("fetch"), "{e}");
        let e = err(&with(&changes.replace(
            "cursor: {field: /created, type: unix_seconds}",
            "cursor: {field: /created, type: rfc3339}",
        )));
        assert_eq!(e.field, "streams.items.changes.cursor.type", "{e}");
        let e = err(&with(&changes.replace("id: /data/object/id", "id: data.object.id")));
        assert_eq!(e.field, "streams.items.changes.id", "{e}");
        let e = err(&with(&changes.replace("after: \"{{ page.token }}\", ", "")));
        assert!(e.field.starts_with("streams.items.changes.request"), "{e}");
        // A feed answered in one response (`unpaged`) need not send the page token.
        let unpaged = changes
            .replace("after: \"{{ page.token }}\", ", "")
            .replace("max_age_secs: 2592000", "max_age_secs: 2592000\n      unpaged: true");
        let def = parse_definition("mini.yaml", &with(&unpaged)).unwrap_or_else(|e| panic!("{e}"));
        assert!(def.streams["items"].changes.as_ref().unwrap().unpaged);
    }

    #[test]
    fn an_own_origin_mark_names_a_config_value_of_the_definition() {
        let hooks = |equals: &str| {
            format!(
                "{MINIMAL}\nconfig:\n  app_id: {{description: app}}\nwebhooks:\n  scheme: hubspot\n  event_id: /eventId\n  event_type: /subscriptionType\n  own_origin: {{pointer: /sourceId, equals: \"{equals}\"}}\n"
            )
        };
        parse_definition("mini.yaml", &hooks("{{ config.app_id }}")).unwrap_or_else(|e| panic!("{e}"));
        let e = err(&hooks("{{ config.app }}"));
        assert_eq!(e.field, "webhooks.own_origin.equals", "{e}");
        let e = err(&hooks("{{ record.id }}"));
        assert_eq!(e.field, "webhooks.own_origin.equals", "{e}");
    }

    #[test]
    fn a_stream_without_a_list_request_must_be_fed_by_webhooks() {
        let clicks = "  clicks:\n    primary_key: /container/message_ts\n";
        let hooks = "webhooks: {scheme: slack, body: {form_json: payload}, event_id: /trigger_id, event_type: /type, object: \"\", events: {block_actions: clicks}}\n";
        let def = parse_definition("mini.yaml", &format!("{MINIMAL}{clicks}{hooks}")).unwrap();
        assert!(def.streams["clicks"].request.is_none());
        assert_eq!(
            def.webhooks.as_ref().unwrap().body,
            crate::connector::definition::WebhookBody::FormJson("payload".into())
        );
        // Not routed: nothing would ever feed it.
        let e = err(&format!("{MINIMAL}{clicks}"));
        assert_eq!(e.field, "streams.clicks.request", "{e}");
        assert!(e.message.contains("fed by webhooks"), "{e}");
        // Nothing that reads a list belongs on it.
        let paged = format!("{MINIMAL}{clicks}    records: /data\n{hooks}");
        assert_eq!(err(&paged).field, "streams.clicks.records");
        let cursor = format!("{MINIMAL}{clicks}    cursor: {{field: /ts, type: string}}\n{hooks}");
        assert_eq!(err(&cursor).field, "streams.clicks.cursor");
        // A listed stream still says where its records are.
        let e = err(&MINIMAL.replace("    records: /data\n", ""));
        assert_eq!(e.field, "streams.items.records", "{e}");
    }

    #[test]
    fn a_bad_jq_selector_names_the_records_field() {
        let e = err(&MINIMAL.replace("records: /data", "records: \".data[\""));
        assert_eq!(e.field, "streams.items.records");
        assert!(e.message.contains("jq"), "{e}");
    }

    #[test]
    fn an_unknown_webhook_scheme_is_refused() {
        let yaml = format!("{MINIMAL}webhooks: {{scheme: stripey, event_id: /id, event_type: /type}}\n");
        let e = err(&yaml);
        assert_eq!(e.field, "webhooks.scheme");
        assert!(e.message.contains("stripey"), "{e}");
    }

    #[test]
    fn webhook_events_must_name_existing_streams() {
        let yaml =
            format!("{MINIMAL}webhooks: {{scheme: stripe, event_id: /id, event_type: /type, object: /data/object, events: {{a.b: nope}}}}\n");
        let e = err(&yaml);
        assert_eq!(e.field, "webhooks.events.a.b");
    }

    #[test]
    fn the_id_must_match_the_file_name() {
        let e = parse_definition("other.yaml", MINIMAL).unwrap_err();
        assert_eq!(e.field, "id");
        assert!(e.to_string().contains("other"));
        assert!(parse_definition("inline", MINIMAL).is_ok());
    }

    #[test]
    fn invalid_yaml_reports_the_position() {
        let e = err("id: [unclosed");
        assert!(e.message.contains("line"), "{e}");
    }

    #[test]
    fn upserts_need_a_key_and_batches_need_results() {
        let base = r#"
id: mini
name: Mini
base_url: https://api.example.com
writes:
  items.upsert:
    kind: upsert
    batch_size: 10
    request: {method: POST, path: /batch, body: {inputs: "{{ records }}"}}
"#;
        let e = err(base);
        assert_eq!(e.field, "writes.items.upsert.key");
        let e = err(&base.replace("kind: upsert", "kind: upsert\n    key: /email"));
        assert_eq!(e.field, "writes.items.upsert.response.results");
        let e = err(&base
            .replace("kind: upsert", "kind: upsert\n    key: /email")
            .replace("batch_size: 10", "batch_size: 5000"));
        assert_eq!(e.field, "writes.items.upsert.batch_size");
    }

    #[test]
    fn validate_file_names_the_path_and_reports_unreadable_files() {
        let e = validate_file(Path::new("/nonexistent/x.yaml")).unwrap_err();
        assert_eq!(e.file, "/nonexistent/x.yaml");
        assert!(e.message.contains("cannot read"));
        let dir = std::env::temp_dir().join(format!("switchyard-connector-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("mini.yaml");
        std::fs::write(&path, MINIMAL.replace("type: cursor", "type: cursor, bogus: 1")).unwrap();
        let e = validate_file(&path).unwrap_err();
        assert!(
            e.to_string().contains("mini.yaml") && e.message.contains("bogus"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
