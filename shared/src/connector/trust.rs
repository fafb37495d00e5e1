//! Which servers the non-HTTP connectors (`kind: imap`, `kind: smtp`) trust: the web's roots
//! (`webpki-roots`), plus the CA certificates a connection names in its `ca_certificate`
//! config (PEM text, one certificate or several): a company's private CA, or the CA a mail
//! server's self-signed certificate was made with. The names are still checked: the server's
//! certificate must be issued for the configured `host`.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde_json::{Map, Value};
use tokio_rustls::rustls;

use super::errors::ConnectorError;

/// The connection config key holding the extra CA certificates.
pub const CA_CERTIFICATE: &str = "ca_certificate";

/// The CA certificates of `config`'s `ca_certificate` (none when it is absent or empty).
/// PEM text without a certificate, a certificate that cannot be parsed, or one that cannot be
/// a trust anchor is a config error naming the key (never its content).
pub fn extra_roots(
    connector: &str,
    config: &Map<String, Value>,
) -> Result<Vec<CertificateDer<'static>>, ConnectorError> {
    let pem = match config.get(CA_CERTIFICATE) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(Vec::new()),
        Some(Value::String(s)) => s,
        Some(_) => {
            return Err(ConnectorError::config(format!(
                "connector `{connector}`: config `{CA_CERTIFICATE}` must be PEM text"
            )))
        }
    };
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            ConnectorError::config(format!(
                "connector `{connector}`: config `{CA_CERTIFICATE}` is not readable PEM ({e})"
            ))
        })?;
    if certs.is_empty() {
        return Err(ConnectorError::config(format!(
            "connector `{connector}`: config `{CA_CERTIFICATE}` holds no `-----BEGIN CERTIFICATE-----` block"
        )));
    }
    // Each must be usable as a trust anchor: found now, not at the first connection.
    let mut store = rustls::RootCertStore::empty();
    for (i, cert) in certs.iter().enumerate() {
        store.add(cert.clone()).map_err(|e| {
            ConnectorError::config(format!(
                "connector `{connector}`: config `{CA_CERTIFICATE}`: certificate {} cannot be trusted ({e})",
                i + 1
            ))
        })?;
    }
    Ok(certs)
}

/// The web's roots plus `extra`.
pub fn root_store(extra: &[CertificateDer<'static>]) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    // `extra_roots` checked each one already.
    let (_added, _ignored) = roots.add_parsable_certificates(extra.iter().cloned());
    roots
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(value: Value) -> Map<String, Value> {
        json!({ CA_CERTIFICATE: value }).as_object().cloned().unwrap()
    }

    #[test]
    fn no_setting_adds_nothing_and_bad_pem_is_named_without_its_content() {
        assert!(extra_roots("imap", &Map::new()).unwrap().is_empty());
        assert!(extra_roots("imap", &config(json!(""))).unwrap().is_empty());
        let e = extra_roots("imap", &config(json!("not a certificate at all"))).unwrap_err();
        assert!(e.message.contains("holds no `-----BEGIN CERTIFICATE-----`"), "{e}");
        let e = extra_roots(
            "smtp",
            &config(json!(
                "-----BEGIN CERTIFICATE-----\nc2VjcmV0LWlzaA==\n-----END CERTIFICATE-----\n"
            )),
        )
        .unwrap_err();
        assert!(
            e.message.contains("`ca_certificate`: certificate 1 cannot be trusted"),
            "{e}"
        );
        assert!(!e.message.contains("c2VjcmV0"), "{e}");
        let e = extra_roots("smtp", &config(json!(42))).unwrap_err();
        assert!(e.message.contains("must be PEM text"), "{e}");
    }
}
