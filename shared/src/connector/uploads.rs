//! Connector definitions a tenant uploads (`POST /v1/connectors`): the same YAML (or JSON)
//! model as the embedded ones, checked by the same parser and compiler (templates, pointers,
//! jq selectors under the bounded-mappings limits), plus what a stranger's definition needs:
//!
//! - **A namespace.** A tenant connector's id starts with [`TENANT_ID_PREFIX`] (`custom-`), and
//!   no built-in id does (`no_embedded_id_is_in_the_tenant_namespace`), so a tenant's connector
//!   can never shadow a built-in one, today or after a release adds one. Resolution is
//!   built-in first, then the tenant's own ([`crate::store::tenant_connectors`]).
//! - **A size bound** ([`MAX_DEFINITION_BYTES`]), checked before parsing.
//! - **The URL guard at upload.** A literal base URL is checked as a connection's URL is
//!   ([`super::url_guard::check_static`]): a loopback, private, link-local or metadata address
//!   is refused with the field `base_url`, unless the deployment allows private networks. Host
//!   names are resolved at run time by the guarded client, exactly as for a built-in connector
//!   (an upload-time lookup proves nothing against DNS rebinding), and so are templated URLs and
//!   a connection's `base_url` override.
//! - **Field-level errors**: every problem is an [`UploadError`] with the definition's field path
//!   (`streams.items.pagination.type`); serde stops at the first structural error, so a document
//!   that does not parse has one, a parsed one may have several of the checks below.

use super::definition::ConnectorDefinition;
use super::registry::parse_definition;

/// Every tenant connector's id starts with this; no built-in id does.
pub const TENANT_ID_PREFIX: &str = "custom-";

/// Largest definition accepted, bytes (the largest built-in one is about 14 KB).
pub const MAX_DEFINITION_BYTES: usize = 128 * 1024;

/// Whether an id is in the tenant namespace.
pub fn is_tenant_id(id: &str) -> bool {
    id.starts_with(TENANT_ID_PREFIX)
}

/// One thing wrong with an uploaded definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadError {
    /// Dotted field path into the definition; empty for the document as a whole.
    pub field: String,
    pub message: String,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> UploadError {
    UploadError {
        field: field.into(),
        message: message.into(),
    }
}

/// Parses and checks an uploaded definition (YAML; JSON is YAML too).
pub fn validate_upload(text: &[u8], allow_private_network: bool) -> Result<ConnectorDefinition, Vec<UploadError>> {
    if text.len() > MAX_DEFINITION_BYTES {
        return Err(vec![err(
            "",
            format!(
                "the definition is {} bytes; the limit is {MAX_DEFINITION_BYTES}",
                text.len()
            ),
        )]);
    }
    let text = std::str::from_utf8(text).map_err(|_| vec![err("", "the definition is not UTF-8 text")])?;
    if text.trim().is_empty() {
        return Err(vec![err("", "the body is empty; send the definition as YAML or JSON")]);
    }
    // No file name: the id is not checked against one.
    let def = parse_definition("upload", text).map_err(|e| {
        let field = if e.field == "." { String::new() } else { e.field };
        vec![err(field, e.message)]
    })?;
    let mut errors = Vec::new();
    if !is_tenant_id(&def.id) {
        errors.push(err(
            "id",
            format!("a tenant connector's id starts with `{TENANT_ID_PREFIX}` (built-in ids never do)"),
        ));
    }
    let id_ok = def.id.len() <= 64
        && def
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !id_ok {
        errors.push(err("id", "1 to 64 characters of lower-case letters, digits and `-`"));
    }
    let hosts = def
        .hosts
        .iter()
        .map(|(name, h)| (format!("hosts.{name}.base_url"), h.base_url.as_str()));
    let bases = def
        .base_url
        .as_deref()
        .map(|b| ("base_url".to_owned(), b))
        .into_iter()
        .chain(hosts);
    for (field, base) in bases.filter(|(_, b)| !b.contains("{{")) {
        match reqwest::Url::parse(base) {
            Ok(url) => {
                if let Err(e) = super::url_guard::check_static(&url, def.require_https, allow_private_network) {
                    errors.push(err(field, e.to_string()));
                }
            }
            Err(e) => errors.push(err(field, format!("not a URL: {e}"))),
        }
    }
    if errors.is_empty() {
        Ok(def)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::connector::Registry;

    const PAGED: &str = r#"
id: custom-items
name: Items
base_url: https://api.example.com
streams:
  items:
    request: {path: /items, query: {page: "{{ page.number }}"}}
    records: /items
    pagination: {type: page_number, page_size: 10, start: 1, total_pages: /total_pages}
"#;

    #[test]
    fn no_embedded_id_is_in_the_tenant_namespace() {
        let registry = Registry::embedded().expect("embedded definitions load");
        let taken: Vec<&str> = registry.ids().filter(|id| is_tenant_id(id)).collect();
        assert!(taken.is_empty(), "built-in ids in the tenant namespace: {taken:?}");
    }

    #[test]
    fn a_valid_upload_parses_from_yaml_and_from_json() {
        let def = validate_upload(PAGED.as_bytes(), false).unwrap();
        assert_eq!(def.id, "custom-items");
        let value: serde_json::Value = serde_yaml::from_str(PAGED).unwrap();
        let json = serde_json::to_vec(&value).unwrap();
        assert_eq!(validate_upload(&json, false).unwrap(), def);
    }

    #[test]
    fn errors_name_the_field_path() {
        let e = validate_upload(PAGED.replace("page_number", "pages_by_number").as_bytes(), false).unwrap_err();
        assert_eq!(e.len(), 1);
        assert!(e[0].field.starts_with("streams.items.pagination"), "{e:?}");
        let e = validate_upload(
            PAGED
                .replace("records: /items", "records: /items\n    colour: red")
                .as_bytes(),
            false,
        )
        .unwrap_err();
        assert!(e[0].field.starts_with("streams.items"), "{e:?}");
        assert!(e[0].message.contains("colour"), "{e:?}");
    }

    #[test]
    fn an_id_outside_the_namespace_and_a_private_base_url_are_both_reported() {
        let text = PAGED
            .replace("custom-items", "hubspot")
            .replace("https://api.example.com", "http://169.254.169.254");
        let e = validate_upload(text.as_bytes(), false).unwrap_err();
        let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["id", "base_url"], "{e:?}");
        assert!(e[1].message.contains("169.254.169.254"), "{e:?}");
        // A deployment that allows private networks (local runs) accepts the address.
        let text = PAGED.replace("https://api.example.com", "http://127.0.0.1:9");
        assert!(validate_upload(text.as_bytes(), true).is_ok());
        assert_eq!(
            validate_upload(text.as_bytes(), false).unwrap_err()[0].field,
            "base_url"
        );
    }

    #[test]
    fn another_host_is_checked_like_the_base_url() {
        let with_host = |url: &str| {
            PAGED.replace(
                "base_url: https://api.example.com",
                &format!(
                    "base_url: https://api.example.com\nhosts:\n  content: {{base_url: '{url}', credentials: true}}"
                ),
            )
        };
        assert!(validate_upload(with_host("https://content.example.com/2").as_bytes(), false).is_ok());
        let e = validate_upload(with_host("http://169.254.169.254/latest").as_bytes(), false).unwrap_err();
        assert_eq!(e[0].field, "hosts.content.base_url", "{e:?}");
        assert!(e[0].message.contains("169.254.169.254"), "{e:?}");
        // A request naming a host the definition does not declare is refused at parse time.
        let text = with_host("https://content.example.com/2")
            .replace("request: {path: /items,", "request: {host: uploads, path: /items,");
        let e = validate_upload(text.as_bytes(), false).unwrap_err();
        assert_eq!(e[0].field, "streams.items.request.host", "{e:?}");
    }

    #[test]
    fn a_jq_selector_compiles_under_the_bounded_mapping_limits() {
        let deep = format!("{}.items{}", "[".repeat(400), "]".repeat(400));
        let text = PAGED.replace("records: /items", &format!("records: '{deep}'"));
        let e = validate_upload(text.as_bytes(), false).unwrap_err();
        assert_eq!(e[0].field, "streams.items.records", "{e:?}");
    }

    #[test]
    fn oversized_empty_and_binary_bodies_are_refused() {
        let big = format!("{PAGED}description: '{}'\n", "x".repeat(MAX_DEFINITION_BYTES));
        assert!(validate_upload(big.as_bytes(), false).unwrap_err()[0]
            .message
            .contains("limit"));
        assert!(validate_upload(b"  \n", false).is_err());
        assert!(validate_upload(&[0xff, 0xfe, 0x00], false).is_err());
    }

    #[test]
    fn a_tenant_definition_never_replaces_a_built_in() {
        let registry = Registry::embedded().unwrap();
        let mut fake = validate_upload(PAGED.as_bytes(), false).unwrap();
        let own = Arc::new(fake.clone());
        fake.id = "hubspot".into();
        let merged = registry.with_definitions([own, Arc::new(fake)]);
        assert!(merged.get("custom-items").is_some());
        assert_eq!(merged.get("hubspot").unwrap().name, "HubSpot");
        assert!(registry.get("custom-items").is_none());
    }
}
