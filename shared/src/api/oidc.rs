//! Single sign-on: OpenID Connect tokens (a Cognito user pool's, which can federate SAML and
//! Active Directory providers) accepted beside API keys.
//!
//! A bearer token that is not an API key is checked as a JWT:
//! - its signature against the issuer's JWKS (fetched over HTTPS, cached for an hour, fetched
//!   again at most once a minute when a token names a key id the cached set lacks: key
//!   rotation), with the algorithm the key's type allows: RSA (RS*/PS*), EC (ES*) or EdDSA.
//!   Symmetric algorithms and `none` are refused: anyone holding an HMAC secret could mint
//!   tokens;
//! - `iss` equal to the configured issuer; the audience in `aud` (ID tokens) or `client_id`
//!   (Cognito access tokens, which carry no `aud`); `exp` and `nbf` with a minute of leeway;
//!   `token_use`, when present, `id` or `access`.
//!
//! The role comes from a claim (`cognito:groups` by default; a list or one value) mapped to the
//! API keys' roles: a group named like a role is that role, and `OIDC_ROLE_MAP`
//! (`Switchyard-Admins=admin,Ops=runner`) adds names. Several groups: the highest role. None
//! that maps: refused. The tenant comes from a claim (`custom:tenant`) or, for a deployment
//! with one tenant, from `OIDC_TENANT`. The caller's id is a hash of issuer and subject, so no
//! personal data lands in rate-limit counters or audit entries.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::RwLock;

use crate::config::ConfigError;
use crate::store::api_keys::Role;

/// How long a fetched key set is used before it is fetched again.
pub const JWKS_TTL: Duration = Duration::from_secs(3600);
/// The least time between two fetches caused by an unknown key id.
pub const JWKS_REFETCH_GAP: Duration = Duration::from_secs(60);
/// Clock skew allowed on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 60;
/// Longest token looked at.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Largest key set read.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// OpenID Connect settings (`OIDC_*`); absent when `OIDC_ISSUER` is unset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSettings {
    /// `OIDC_ISSUER`: `https://cognito-idp.<region>.amazonaws.com/<pool id>`.
    pub issuer: String,
    /// `OIDC_AUDIENCE`: the app client id.
    pub audience: String,
    /// `OIDC_JWKS_URL`; default `<issuer>/.well-known/jwks.json` (Cognito's).
    pub jwks_url: String,
    /// `OIDC_ROLE_CLAIM`, default `cognito:groups`.
    pub role_claim: String,
    /// Claim values that name a role, besides the roles' own names (`OIDC_ROLE_MAP`).
    pub role_map: BTreeMap<String, Role>,
    /// `OIDC_TENANT_CLAIM`, default `custom:tenant`.
    pub tenant_claim: String,
    /// `OIDC_TENANT`: every signed-in user's tenant, for a deployment with one.
    pub fixed_tenant: Option<String>,
}

impl OidcSettings {
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        let issuer = issuer.into();
        Self {
            jwks_url: format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/')),
            issuer,
            audience: audience.into(),
            role_claim: "cognito:groups".into(),
            role_map: BTreeMap::new(),
            tenant_claim: "custom:tenant".into(),
            fixed_tenant: None,
        }
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let Some(issuer) = get("OIDC_ISSUER") else {
            return Ok(None);
        };
        let audience = get("OIDC_AUDIENCE").ok_or(ConfigError::Missing {
            name: "OIDC_AUDIENCE",
            hint: "the app client id that signs users in; the SAM template sets it with EnableSso",
        })?;
        let mut s = OidcSettings::new(issuer.trim(), audience.trim());
        if !https_or_loopback(&s.issuer) {
            return Err(ConfigError::Invalid {
                name: "OIDC_ISSUER",
                value: s.issuer,
                reason: "must be an https:// URL".into(),
            });
        }
        if let Some(url) = get("OIDC_JWKS_URL") {
            if !https_or_loopback(&url) {
                return Err(ConfigError::Invalid {
                    name: "OIDC_JWKS_URL",
                    value: url,
                    reason: "must be an https:// URL".into(),
                });
            }
            s.jwks_url = url;
        }
        if let Some(c) = get("OIDC_ROLE_CLAIM") {
            s.role_claim = c;
        }
        if let Some(c) = get("OIDC_TENANT_CLAIM") {
            s.tenant_claim = c;
        }
        s.fixed_tenant = get("OIDC_TENANT");
        if let Some(raw) = get("OIDC_ROLE_MAP") {
            for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let parsed = pair
                    .split_once('=')
                    .and_then(|(name, role)| Some((name.trim(), Role::parse(role.trim())?)));
                match parsed {
                    Some((name, role)) if !name.is_empty() => {
                        s.role_map.insert(name.to_string(), role);
                    }
                    _ => {
                        return Err(ConfigError::Invalid {
                            name: "OIDC_ROLE_MAP",
                            value: raw.clone(),
                            reason: format!(
                                "`{pair}`: give GROUP=ROLE pairs separated by commas, ROLE one of admin, editor, runner, viewer"
                            ),
                        })
                    }
                }
            }
        }
        Ok(Some(s))
    }

    /// The role a claim value names.
    fn role_of(&self, value: &str) -> Option<Role> {
        self.role_map.get(value).copied().or_else(|| Role::parse(value))
    }
}

pub(crate) fn https_or_loopback(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://127.0.0.1:") || url.starts_with("http://localhost:")
}

/// Why a token was refused (said to the caller as one 401, logged as this).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OidcError {
    #[error("not a JWT")]
    Malformed,
    #[error("algorithm {0} is not accepted (asymmetric keys only)")]
    Algorithm(String),
    #[error("no key `{0}` in the issuer's key set")]
    UnknownKey(String),
    #[error("the key set cannot be fetched: {0}")]
    Jwks(String),
    #[error("token refused: {0}")]
    Invalid(String),
    #[error("the token names no role this API knows (claim `{0}`)")]
    NoRole(String),
    #[error("the token names no tenant (claim `{0}`)")]
    NoTenant(String),
}

/// A signed-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcUser {
    /// `oidc_` and 16 hex digits of SHA-256(issuer, subject).
    pub id: String,
    pub tenant: String,
    pub role: Role,
}

struct CachedJwks {
    set: JwkSet,
    fetched: Instant,
}

/// Checks tokens against one issuer, with its key set cached.
pub struct OidcVerifier {
    settings: OidcSettings,
    http: reqwest::Client,
    cache: RwLock<Option<CachedJwks>>,
}

impl std::fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcVerifier")
            .field("issuer", &self.settings.issuer)
            .finish_non_exhaustive()
    }
}

impl OidcVerifier {
    pub fn new(settings: OidcSettings, http: reqwest::Client) -> Self {
        Self {
            settings,
            http,
            cache: RwLock::new(None),
        }
    }

    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    /// Whether a bearer token is for this verifier to judge (a JWT, not an API key).
    pub fn looks_like_jwt(token: &str) -> bool {
        token.len() <= MAX_TOKEN_BYTES && token.split('.').count() == 3 && !token.starts_with("sy_")
    }

    /// The user a token signs in, or why not.
    pub async fn verify(&self, token: &str, now_unix: i64) -> Result<OidcUser, OidcError> {
        if !Self::looks_like_jwt(token) {
            return Err(OidcError::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| OidcError::Malformed)?;
        let kid = header.kid.clone().ok_or(OidcError::Malformed)?;
        let key = match self.cached_key(&kid).await {
            Some(k) => k,
            None => {
                self.refresh().await?;
                self.cached_key(&kid).await.ok_or(OidcError::UnknownKey(kid.clone()))?
            }
        };
        let (decoding, allowed) = key;
        if !allowed.contains(&header.alg) {
            return Err(OidcError::Algorithm(format!("{:?}", header.alg)));
        }
        self.check(token, header.alg, &decoding, now_unix)
    }

    fn check(&self, token: &str, alg: Algorithm, key: &DecodingKey, now_unix: i64) -> Result<OidcUser, OidcError> {
        let mut v = Validation::new(alg);
        // Time and audience are checked below against the given clock (and both Cognito
        // token kinds); the signature and issuer here.
        v.validate_exp = false;
        v.validate_nbf = false;
        v.validate_aud = false;
        v.required_spec_claims.clear();
        v.set_issuer(&[&self.settings.issuer]);
        let data =
            jsonwebtoken::decode::<Value>(token, key, &v).map_err(|e| OidcError::Invalid(format!("{:?}", e.kind())))?;
        let claims = data.claims;
        let num = |name: &str| claims.get(name).and_then(Value::as_i64);
        let leeway = LEEWAY_SECS as i64;
        match num("exp") {
            Some(exp) if exp + leeway > now_unix => {}
            Some(_) => return Err(OidcError::Invalid("expired".into())),
            None => return Err(OidcError::Invalid("no `exp`".into())),
        }
        if num("nbf").is_some_and(|nbf| nbf - leeway > now_unix) {
            return Err(OidcError::Invalid("not valid yet".into()));
        }
        let audience = &self.settings.audience;
        let aud_ok = match claims.get("aud") {
            Some(Value::String(a)) => a == audience,
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(audience)),
            _ => claims.get("client_id").and_then(Value::as_str) == Some(audience),
        };
        if !aud_ok {
            return Err(OidcError::Invalid("wrong audience".into()));
        }
        if let Some(use_) = claims.get("token_use").and_then(Value::as_str) {
            if use_ != "id" && use_ != "access" {
                return Err(OidcError::Invalid(format!("token_use `{use_}`")));
            }
        }
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .ok_or(OidcError::Invalid("no `sub`".into()))?;
        let role_values: Vec<&str> = match claims.get(&self.settings.role_claim) {
            Some(Value::String(s)) => s.split([',', ' ']).filter(|x| !x.is_empty()).collect(),
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let role = role_values
            .iter()
            .filter_map(|v| self.settings.role_of(v))
            .max()
            .ok_or_else(|| OidcError::NoRole(self.settings.role_claim.clone()))?;
        let tenant = match &self.settings.fixed_tenant {
            Some(t) => t.clone(),
            None => claims
                .get(&self.settings.tenant_claim)
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty() && t.len() <= 128)
                .ok_or_else(|| OidcError::NoTenant(self.settings.tenant_claim.clone()))?
                .to_string(),
        };
        let digest = Sha256::digest(format!("{}\n{subject}", self.settings.issuer));
        Ok(OidcUser {
            id: format!("oidc_{}", &hex::encode(digest)[..16]),
            tenant,
            role,
        })
    }

    async fn cached_key(&self, kid: &str) -> Option<(DecodingKey, Vec<Algorithm>)> {
        let cache = self.cache.read().await;
        let cached = cache.as_ref().filter(|c| c.fetched.elapsed() < JWKS_TTL)?;
        let jwk = cached.set.find(kid)?;
        let allowed = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => vec![
                Algorithm::RS256,
                Algorithm::RS384,
                Algorithm::RS512,
                Algorithm::PS256,
                Algorithm::PS384,
                Algorithm::PS512,
            ],
            AlgorithmParameters::EllipticCurve(_) => vec![Algorithm::ES256, Algorithm::ES384],
            AlgorithmParameters::OctetKeyPair(_) => vec![Algorithm::EdDSA],
            // A symmetric key in a public key set is never used.
            AlgorithmParameters::OctetKey(_) => return None,
        };
        Some((DecodingKey::from_jwk(jwk).ok()?, allowed))
    }

    /// Fetches the key set, unless one was fetched less than [`JWKS_REFETCH_GAP`] ago.
    async fn refresh(&self) -> Result<(), OidcError> {
        let mut cache = self.cache.write().await;
        if cache.as_ref().is_some_and(|c| c.fetched.elapsed() < JWKS_REFETCH_GAP) {
            return Ok(());
        }
        let response = self
            .http
            .get(&self.settings.jwks_url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| OidcError::Jwks(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(OidcError::Jwks(format!("status {}", response.status().as_u16())));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| OidcError::Jwks(e.without_url().to_string()))?;
        if body.len() > MAX_JWKS_BYTES {
            return Err(OidcError::Jwks(format!("larger than {MAX_JWKS_BYTES} bytes")));
        }
        let set: JwkSet = serde_json::from_slice(&body).map_err(|e| OidcError::Jwks(format!("not a JWK set: {e}")))?;
        *cache = Some(CachedJwks {
            set,
            fetched: Instant::now(),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use jsonwebtoken::{EncodingKey, Header};
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    use serde_json::json;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    const NOW: i64 = 1_800_000_000;
    const ISSUER: &str = "https://cognito-idp.ap-southeast-2.amazonaws.com/ap-southeast-2_Test";

    /// A P-256 key made for this run, as a signing key and as its public JWK.
    fn key(kid: &str) -> (EncodingKey, Value) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        let point = pair.public_key().as_ref();
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65]), "kid": kid, "alg": "ES256", "use": "sig"});
        (EncodingKey::from_ec_der(pkcs8.as_ref()), jwk)
    }

    fn sign(key: &EncodingKey, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, claims, key).unwrap()
    }

    fn id_token_claims() -> Value {
        json!({
            "iss": ISSUER, "aud": "client-1", "sub": "user-1", "token_use": "id",
            "exp": NOW + 3600, "iat": NOW, "cognito:groups": ["viewer", "Ops"], "custom:tenant": "acme"
        })
    }

    async fn verifier(jwks: Vec<Value>, settings: impl FnOnce(&mut OidcSettings)) -> (OidcVerifier, MockServer) {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/.well-known/jwks.json"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"keys": jwks})))
            .mount(&server)
            .await;
        let mut s = OidcSettings::new(ISSUER, "client-1");
        s.jwks_url = format!("{}/.well-known/jwks.json", server.uri());
        s.role_map.insert("Ops".into(), Role::Runner);
        settings(&mut s);
        (OidcVerifier::new(s, reqwest::Client::new()), server)
    }

    #[tokio::test]
    async fn a_signed_id_token_signs_in_with_the_highest_mapped_role() {
        let (sk, jwk) = key("k1");
        let (v, server) = verifier(vec![jwk], |_| {}).await;
        let user = v.verify(&sign(&sk, "k1", &id_token_claims()), NOW).await.unwrap();
        assert_eq!(user.tenant, "acme");
        assert_eq!(user.role, Role::Runner, "viewer and Ops=runner: the higher one");
        assert!(user.id.starts_with("oidc_") && user.id.len() == 21 && !user.id.contains("user-1"));
        // A second token is checked against the cached set: one fetch.
        v.verify(&sign(&sk, "k1", &id_token_claims()), NOW).await.unwrap();
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_cognito_access_token_carries_its_audience_as_client_id() {
        let (sk, jwk) = key("k1");
        let (v, _server) = verifier(vec![jwk], |_| {}).await;
        let mut claims = id_token_claims();
        let m = claims.as_object_mut().unwrap();
        m.remove("aud");
        m.insert("client_id".into(), json!("client-1"));
        m.insert("token_use".into(), json!("access"));
        assert!(v.verify(&sign(&sk, "k1", &claims), NOW).await.is_ok());
        claims["client_id"] = json!("client-2");
        assert_eq!(
            v.verify(&sign(&sk, "k1", &claims), NOW).await,
            Err(OidcError::Invalid("wrong audience".into()))
        );
    }

    #[tokio::test]
    async fn expiry_issuer_audience_and_signature_are_enforced() {
        let (sk, jwk) = key("k1");
        let (other_key, _) = key("k1");
        let (v, _server) = verifier(vec![jwk], |_| {}).await;
        let with = |f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
            let mut c = id_token_claims();
            f(c.as_object_mut().unwrap());
            c
        };
        let refused = |r: Result<OidcUser, OidcError>| matches!(r, Err(OidcError::Invalid(_)));
        // Expired beyond the leeway; expired within it.
        assert!(refused(
            v.verify(
                &sign(
                    &sk,
                    "k1",
                    &with(&|c| {
                        c.insert("exp".into(), json!(NOW - 120));
                    })
                ),
                NOW
            )
            .await
        ));
        assert!(v
            .verify(
                &sign(
                    &sk,
                    "k1",
                    &with(&|c| {
                        c.insert("exp".into(), json!(NOW - 30));
                    })
                ),
                NOW
            )
            .await
            .is_ok());
        assert!(refused(
            v.verify(
                &sign(
                    &sk,
                    "k1",
                    &with(&|c| {
                        c.remove("exp");
                    })
                ),
                NOW
            )
            .await
        ));
        assert!(refused(
            v.verify(
                &sign(
                    &sk,
                    "k1",
                    &with(&|c| {
                        c.insert("nbf".into(), json!(NOW + 600));
                    })
                ),
                NOW
            )
            .await
        ));
        assert!(refused(
            v.verify(
                &sign(
                    &sk,
                    "k1",
                    &with(&|c| {
                        c.insert("iss".into(), json!("https://evil.example"));
                    })
                ),
                NOW
            )
            .await
        ));
        assert!(refused(
            v.verify(
                &sign(
                    &sk,
                    "k1",
                    &with(&|c| {
                        c.insert("aud".into(), json!("client-2"));
                    })
                ),
                NOW
            )
            .await
        ));
        assert!(refused(
            v.verify(
                &sign(
                    &sk,
                    "k1",
                    &with(&|c| {
                        c.insert("token_use".into(), json!("refresh"));
                    })
                ),
                NOW
            )
            .await
        ));
        // Signed by another key under the same key id.
        assert!(refused(
            v.verify(&sign(&other_key, "k1", &id_token_claims()), NOW).await
        ));
        // A token whose payload was changed after signing.
        let token = sign(&sk, "k1", &id_token_claims());
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        let forged = with(&|c| {
            c.insert("cognito:groups".into(), json!(["admin"]));
        });
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged.to_string());
        assert!(refused(v.verify(&parts.join("."), NOW).await));
    }

    #[tokio::test]
    async fn symmetric_and_unsigned_tokens_are_refused() {
        let (_, jwk) = key("k1");
        let (v, _server) = verifier(vec![jwk], |_| {}).await;
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("k1".into());
        let hmac = jsonwebtoken::encode(&header, &id_token_claims(), &EncodingKey::from_secret(b"guess")).unwrap();
        assert_eq!(v.verify(&hmac, NOW).await, Err(OidcError::Algorithm("HS256".into())));
        let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let none = format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "kid": "k1"})),
            b64(&id_token_claims())
        );
        assert!(v.verify(&none, NOW).await.is_err());
        assert_eq!(v.verify("sy_live_abc.def.ghi", NOW).await, Err(OidcError::Malformed));
        assert_eq!(v.verify("not-a-token", NOW).await, Err(OidcError::Malformed));
    }

    #[tokio::test]
    async fn a_rotated_key_is_fetched_but_unknown_ids_fetch_at_most_once_a_minute() {
        let (sk, jwk) = key("k2");
        let (v, server) = verifier(vec![jwk], |_| {}).await;
        let (stranger, _) = key("k9");
        assert_eq!(
            v.verify(&sign(&stranger, "k9", &id_token_claims()), NOW).await,
            Err(OidcError::UnknownKey("k9".into()))
        );
        assert_eq!(
            v.verify(&sign(&stranger, "k9", &id_token_claims()), NOW).await,
            Err(OidcError::UnknownKey("k9".into()))
        );
        assert_eq!(
            server.received_requests().await.unwrap().len(),
            1,
            "one fetch for two unknown ids"
        );
        assert!(v.verify(&sign(&sk, "k2", &id_token_claims()), NOW).await.is_ok());
    }

    #[tokio::test]
    async fn roles_and_tenants_come_from_their_claims() {
        let (sk, jwk) = key("k1");
        let (v, _server) = verifier(vec![jwk.clone()], |_| {}).await;
        let mut c = id_token_claims();
        c["cognito:groups"] = json!(["Marketing"]);
        assert_eq!(
            v.verify(&sign(&sk, "k1", &c), NOW).await,
            Err(OidcError::NoRole("cognito:groups".into()))
        );
        let mut c = id_token_claims();
        c.as_object_mut().unwrap().remove("custom:tenant");
        assert_eq!(
            v.verify(&sign(&sk, "k1", &c), NOW).await,
            Err(OidcError::NoTenant("custom:tenant".into()))
        );
        let (v, _server) = verifier(vec![jwk], |s| {
            s.fixed_tenant = Some("solo".into());
            s.role_claim = "roles".into();
        })
        .await;
        c["roles"] = json!("admin");
        let user = v.verify(&sign(&sk, "k1", &c), NOW).await.unwrap();
        assert_eq!((user.tenant.as_str(), user.role), ("solo", Role::Admin));
    }

    #[test]
    fn settings_come_from_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        assert_eq!(OidcSettings::from_lookup(env(&[])).unwrap(), None);
        let s = OidcSettings::from_lookup(env(&[
            ("OIDC_ISSUER", ISSUER),
            ("OIDC_AUDIENCE", "client-1"),
            ("OIDC_ROLE_MAP", "Admins=admin, Ops=runner"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(s.jwks_url, format!("{ISSUER}/.well-known/jwks.json"));
        assert_eq!(s.role_map["Admins"], Role::Admin);
        assert!(
            OidcSettings::from_lookup(env(&[("OIDC_ISSUER", ISSUER)])).is_err(),
            "no audience"
        );
        assert!(
            OidcSettings::from_lookup(env(&[("OIDC_ISSUER", "http://idp.example"), ("OIDC_AUDIENCE", "c")])).is_err()
        );
        assert!(OidcSettings::from_lookup(env(&[
            ("OIDC_ISSUER", ISSUER),
            ("OIDC_AUDIENCE", "c"),
            ("OIDC_ROLE_MAP", "Admins=root")
        ]))
        .is_err());
    }
}
