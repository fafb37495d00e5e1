//! PayPal's signing certificates: fetched from the URL a delivery names, once that URL passed
//! [`paypal::cert_url`] (https, an exact PayPal API host, PayPal's certificate path), and kept
//! per URL for a warm process so that a warm receiver does not fetch per event.
//!
//! The fetch is the only network the receiver does for a signature, and only for PayPal: no
//! redirect is followed, it gives up after [`FETCH_TIMEOUT`], reads at most
//! [`MAX_CERT_BYTES`], and only PEM certificates are read from the answer. What is cached is the
//! chain as served; it is checked (trusted root, validity at the delivery's time, PayPal's
//! signing name) at every use by [`paypal::verify`], so an entry that expires while cached is
//! refused, never trusted.

use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, TrustAnchor};

use crate::cache::TtlCache;
use crate::webhook::paypal::{self, CertUrl};
use crate::webhook::Rejection;

/// How long one certificate fetch may take, connection included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest answer read: PayPal's PEM (the certificate and its chain) is a few KiB.
pub const MAX_CERT_BYTES: usize = 64 * 1024;
/// How long a fetched chain is kept. PayPal rotates its signing certificate with a new URL.
pub const CACHE_TTL: Duration = Duration::from_secs(6 * 3600);
/// How many URLs are kept (PayPal serves a handful: live and sandbox, old and new).
pub const CACHE_ENTRIES: usize = 32;
/// Fetches of URLs not in the cache one warm process makes a minute. PayPal uses a handful of
/// certificates, so a legitimate stream of deliveries needs one fetch per URL; a flood of
/// deliveries naming made-up certificate paths on PayPal's hosts is not turned into a flood of
/// requests to PayPal. Past the budget a delivery is answered 503 and PayPal retries it later.
pub const FETCHES_PER_MINUTE: u32 = 12;

/// Why a certificate could not be had.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// PayPal did not answer usefully now (connection, timeout, 5xx): the delivery is answered
    /// 503 so that PayPal retries it.
    #[error("PayPal's certificate could not be fetched now: {0}")]
    Unavailable(String),
    /// The answer is not a certificate we can use (4xx, a redirect, too large, no PEM).
    #[error(transparent)]
    Refused(Rejection),
}

/// The certificate fetcher and its cache, built once per cold start.
#[derive(Debug)]
pub struct PaypalCertificates {
    /// Built at the first fetch: a receiver without PayPal connections never pays for it.
    client: std::sync::OnceLock<reqwest::Client>,
    proxy: Option<reqwest::Proxy>,
    tls_roots: Vec<reqwest::Certificate>,
    anchors: Vec<TrustAnchor<'static>>,
    cache: TtlCache<CertUrl, Arc<[CertificateDer<'static>]>>,
    budget: FetchBudget,
}

/// [`FETCHES_PER_MINUTE`] in one process: a count per minute since the process started.
#[derive(Debug)]
struct FetchBudget {
    started: std::time::Instant,
    /// (minute since `started`, fetches in it)
    used: std::sync::Mutex<(u64, u32)>,
}

impl FetchBudget {
    fn new() -> Self {
        Self {
            started: std::time::Instant::now(),
            used: std::sync::Mutex::new((0, 0)),
        }
    }

    /// Takes one fetch at `now`, or says the minute's are spent.
    fn take(&self, now: std::time::Instant) -> bool {
        let minute = now.saturating_duration_since(self.started).as_secs() / 60;
        let mut used = self.used.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if used.0 != minute {
            *used = (minute, 0);
        }
        if used.1 >= FETCHES_PER_MINUTE {
            return false;
        }
        used.1 += 1;
        true
    }
}

impl PaypalCertificates {
    /// The web's roots (`webpki-roots`), for PayPal's TLS and for its signing chain.
    pub fn new() -> Self {
        Self {
            client: std::sync::OnceLock::new(),
            proxy: None,
            tls_roots: Vec::new(),
            anchors: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            cache: TtlCache::new(CACHE_TTL, CACHE_ENTRIES),
            budget: FetchBudget::new(),
        }
    }

    /// For tests and private networks, fixed when the receiver's dependencies are built (never
    /// from a request): every fetch goes through the HTTP `CONNECT` proxy at `proxy` (which
    /// reaches PayPal's host names wherever it chooses), and `extra_roots` are trusted besides
    /// the web's, both for the TLS connection and as anchors of the signing chain. The cert URL
    /// rules are the same.
    pub fn with_overrides(proxy: Option<&str>, extra_roots: &[CertificateDer<'static>]) -> Result<Self, String> {
        Self::build(proxy, extra_roots)
    }

    fn build(proxy: Option<&str>, extra_roots: &[CertificateDer<'static>]) -> Result<Self, String> {
        let mut anchors: Vec<TrustAnchor<'static>> = webpki_roots::TLS_SERVER_ROOTS.to_vec();
        let mut tls_roots = Vec::new();
        for (i, der) in extra_roots.iter().enumerate() {
            let anchor = webpki::anchor_from_trusted_cert(der)
                .map_err(|e| format!("extra root {} cannot be a trust anchor ({e})", i + 1))?;
            anchors.push(anchor.to_owned());
            tls_roots.push(
                reqwest::Certificate::from_der(der)
                    .map_err(|e| format!("extra root {} is not a certificate ({e})", i + 1))?,
            );
        }
        let proxy = proxy
            .map(|url| reqwest::Proxy::all(url).map_err(|e| format!("proxy: {e}")))
            .transpose()?;
        let certificates = Self {
            client: std::sync::OnceLock::new(),
            proxy,
            tls_roots,
            anchors,
            cache: TtlCache::new(CACHE_TTL, CACHE_ENTRIES),
            budget: FetchBudget::new(),
        };
        // Built once now only to find a bad setting here rather than at the first delivery.
        certificates.build_client()?;
        Ok(certificates)
    }

    fn build_client(&self) -> Result<reqwest::Client, String> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .https_only(true)
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            .user_agent("switchyard-webhook-receiver")
            .tls_certs_merge(self.tls_roots.iter().cloned());
        if let Some(proxy) = &self.proxy {
            builder = builder.proxy(proxy.clone());
        }
        builder.build().map_err(|e| format!("certificate client: {e}"))
    }

    fn client(&self) -> Result<&reqwest::Client, FetchError> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let client = self.build_client().map_err(FetchError::Unavailable)?;
        Ok(self.client.get_or_init(|| client))
    }

    /// The trust anchors a signing chain must reach.
    pub fn anchors(&self) -> &[TrustAnchor<'static>] {
        &self.anchors
    }

    /// The chain served at `url`, from the cache or fetched.
    pub async fn chain(&self, url: &CertUrl) -> Result<Arc<[CertificateDer<'static>]>, FetchError> {
        if let Some(hit) = self.cache.get(url) {
            return Ok(hit);
        }
        if !self.budget.take(std::time::Instant::now()) {
            return Err(FetchError::Unavailable(format!(
                "more than {FETCHES_PER_MINUTE} certificate fetches this minute"
            )));
        }
        let chain: Arc<[CertificateDer<'static>]> = self.fetch(url).await?.into();
        self.cache.insert(url.clone(), chain.clone());
        Ok(chain)
    }

    async fn fetch(&self, url: &CertUrl) -> Result<Vec<CertificateDer<'static>>, FetchError> {
        let refused = |reason: String| FetchError::Refused(Rejection::UntrustedCertificate { reason });
        // reqwest's messages name the URL, which is PayPal's (checked); no secret is involved.
        let mut resp = self
            .client()?
            .get(url.as_str())
            .send()
            .await
            .map_err(|e| FetchError::Unavailable(e.without_url().to_string()))?;
        let status = resp.status();
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(FetchError::Unavailable(format!("PayPal answered {status}")));
        }
        if !status.is_success() {
            return Err(refused(format!("PayPal answered {status} for the certificate URL")));
        }
        if resp.content_length().is_some_and(|len| len > MAX_CERT_BYTES as u64) {
            return Err(refused(format!(
                "the certificate is larger than {MAX_CERT_BYTES} bytes"
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| FetchError::Unavailable(e.without_url().to_string()))?
        {
            if body.len() + chunk.len() > MAX_CERT_BYTES {
                return Err(refused(format!(
                    "the certificate is larger than {MAX_CERT_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        let chain = CertificateDer::pem_slice_iter(&body)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| refused("the answer is not PEM certificates".to_owned()))?;
        if chain.is_empty() {
            return Err(refused("the answer holds no certificate".to_owned()));
        }
        Ok(chain)
    }
}

impl Default for PaypalCertificates {
    fn default() -> Self {
        Self::new()
    }
}

/// The webhook id of a PayPal connection: its `webhook_id` config.
pub fn webhook_id(config: &serde_json::Map<String, serde_json::Value>) -> Result<&str, String> {
    let id = config
        .get(paypal::WEBHOOK_ID_CONFIG)
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| {
            format!(
                "a PayPal connection needs its `{}` config (the id PayPal shows for the webhook)",
                paypal::WEBHOOK_ID_CONFIG
            )
        })?;
    paypal::check_webhook_id(id)?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_webhook_id_comes_from_the_config_and_is_checked() {
        let config = json!({"webhook_id": "9XL90610J3647323C"});
        assert_eq!(webhook_id(config.as_object().unwrap()), Ok("9XL90610J3647323C"));
        assert!(webhook_id(&serde_json::Map::new()).unwrap_err().contains("webhook_id"));
        let bad = json!({"webhook_id": "x|y"});
        assert!(webhook_id(bad.as_object().unwrap()).is_err());
    }

    #[test]
    fn fetches_of_uncached_urls_are_bounded_per_minute() {
        let budget = FetchBudget::new();
        let start = budget.started;
        for _ in 0..FETCHES_PER_MINUTE {
            assert!(budget.take(start + Duration::from_secs(5)));
        }
        assert!(
            !budget.take(start + Duration::from_secs(59)),
            "the minute's fetches are spent"
        );
        assert!(
            budget.take(start + Duration::from_secs(60)),
            "the next minute has its own"
        );
    }

    #[test]
    fn an_extra_root_that_is_not_a_certificate_is_refused_when_built() {
        let e = PaypalCertificates::with_overrides(None, &[CertificateDer::from(vec![1, 2, 3])]).unwrap_err();
        assert!(e.contains("extra root 1"), "{e}");
        let defaults = PaypalCertificates::new();
        assert_eq!(defaults.anchors().len(), webpki_roots::TLS_SERVER_ROOTS.len());
    }
}
