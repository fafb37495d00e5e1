//! The admin console: static assets (plain ES modules and CSS under `shared/console/`, no build
//! step) embedded in the binary and served by the api function at `GET /console` and
//! `GET /console/{asset}`. The console runs in the browser and talks only to `/v1/...` with the
//! user's API key (kept in `sessionStorage`); serving it needs no key.
//!
//! Every answer carries a strict Content-Security-Policy (`default-src 'self'`, no inline script
//! or style, no framing), `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`.
//! Assets are not fingerprinted, so they are cached with `Cache-Control: no-cache` and a strong
//! `ETag` (a SHA-256 of the content): a browser revalidates each time and gets a bodiless 304
//! while the deployment is unchanged.
//!
//! **Single sign-on.** With [`SsoSettings`] configured (the API's OIDC settings plus
//! `OIDC_AUTHORIZATION_URL` and `OIDC_TOKEN_URL`), `GET /v1/console-config` (no key needed)
//! tells the console the issuer, client id and endpoints, and the console offers "Sign in with
//! SSO": the authorization code flow with PKCE (S256) as a public client, run in the browser
//! (`console/pkce.js`); the ID token it gets is then its bearer token, checked by
//! [`super::oidc`] like any other. The policy's `connect-src` then also allows the token
//! endpoint's origin (the code is exchanged there). Without them the route is a 404 and the
//! console shows only the key login.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use serde::Serialize;

use super::oidc::{https_or_loopback, OidcSettings};
use super::{ApiRequest, ApiResponse, Problem};
use crate::config::ConfigError;

/// The policy every console answer carries (with single sign-on, `connect-src` also names the
/// token endpoint's origin, see [`content_security_policy`]).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// The path of the console's public configuration.
pub const CONFIG_PATH: &str = "/v1/console-config";

/// The console's "Sign in with SSO": what the browser needs for the authorization code flow
/// with PKCE. Nothing here is secret (a public client has no secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SsoSettings {
    /// The issuer whose tokens the API accepts (`OIDC_ISSUER`).
    pub issuer: String,
    /// The app client (`OIDC_AUDIENCE`); it must allow the code grant and `<origin>/console`
    /// as a callback URL, with no client secret.
    pub client_id: String,
    /// `OIDC_AUTHORIZATION_URL`, e.g. Cognito's `https://<domain>/oauth2/authorize`.
    pub authorization_endpoint: String,
    /// `OIDC_TOKEN_URL`, e.g. `https://<domain>/oauth2/token`.
    pub token_endpoint: String,
    /// `OIDC_SCOPES`, default `openid`.
    pub scope: String,
}

impl SsoSettings {
    /// From `OIDC_AUTHORIZATION_URL` and `OIDC_TOKEN_URL` (both or neither) beside the API's
    /// OIDC settings; `None` when they are unset.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        oidc: Option<&OidcSettings>,
    ) -> Result<Option<Self>, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let (authorize, token) = match (get("OIDC_AUTHORIZATION_URL"), get("OIDC_TOKEN_URL")) {
            (None, None) => return Ok(None),
            (Some(a), Some(t)) => (a, t),
            (a, _) => {
                return Err(ConfigError::Missing {
                    name: if a.is_none() {
                        "OIDC_AUTHORIZATION_URL"
                    } else {
                        "OIDC_TOKEN_URL"
                    },
                    hint: "the console's single sign-on needs both the authorization and the token endpoint",
                })
            }
        };
        let Some(oidc) = oidc else {
            return Err(ConfigError::Missing {
                name: "OIDC_ISSUER",
                hint: "OIDC_AUTHORIZATION_URL and OIDC_TOKEN_URL are for the issuer whose tokens the API accepts",
            });
        };
        for (name, url) in [("OIDC_AUTHORIZATION_URL", &authorize), ("OIDC_TOKEN_URL", &token)] {
            if !https_or_loopback(url) || reqwest::Url::parse(url).is_err() {
                return Err(ConfigError::Invalid {
                    name,
                    value: url.clone(),
                    reason: "must be an https:// URL".into(),
                });
            }
        }
        Ok(Some(Self {
            issuer: oidc.issuer.clone(),
            client_id: oidc.audience.clone(),
            authorization_endpoint: authorize,
            token_endpoint: token,
            scope: get("OIDC_SCOPES").unwrap_or_else(|| "openid".into()),
        }))
    }

    /// The token endpoint's origin (`https://host[:port]`), which the browser posts the code to.
    fn token_origin(&self) -> String {
        reqwest::Url::parse(&self.token_endpoint)
            .map(|u| u.origin().ascii_serialization())
            .expect("checked when the settings were read")
    }
}

/// The policy for a deployment: [`CONTENT_SECURITY_POLICY`], with the token endpoint's origin
/// added to `connect-src` when single sign-on is on.
pub fn content_security_policy(sso: Option<&SsoSettings>) -> String {
    match sso {
        None => CONTENT_SECURITY_POLICY.to_string(),
        Some(s) => CONTENT_SECURITY_POLICY.replace(
            "connect-src 'self';",
            &format!("connect-src 'self' {};", s.token_origin()),
        ),
    }
}

/// `GET /v1/console-config`: public; the single sign-on settings, or a 404 when it is off.
pub fn config(req: &ApiRequest, sso: Option<&SsoSettings>) -> ApiResponse {
    if req.method != "GET" {
        return Problem::method_not_allowed(&["GET"]).into_response();
    }
    match sso {
        Some(s) => ApiResponse::json(200, &serde_json::json!({ "sso": s })).with_header("cache-control", "no-cache"),
        None => Problem::not_found("single sign-on is not configured; log in with an API key").into_response(),
    }
}

/// `(name under /console/, content type, content)`; `index.html` is also `/console`.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../../console/index.html"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("../../console/console.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/api.js"),
    ),
    (
        "dom.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/dom.js"),
    ),
    (
        "views.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/views.js"),
    ),
    (
        "charts.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/charts.js"),
    ),
    (
        "pkce.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/pkce.js"),
    ),
];

/// Whether a path is the console's (`/console` or below it).
pub fn is_console_path(path: &str) -> bool {
    path == "/console" || path.starts_with("/console/")
}

fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|(_, _, body)| format!("\"{}\"", &hex::encode(Sha256::digest(body.as_bytes()))[..32]))
            .collect()
    })
}

fn with_security_headers(resp: ApiResponse, sso: Option<&SsoSettings>) -> ApiResponse {
    resp.with_header("content-security-policy", content_security_policy(sso))
        .with_header("x-content-type-options", "nosniff")
        .with_header("referrer-policy", "no-referrer")
        .with_header("x-frame-options", "DENY")
}

/// Answers a request for a console path (see [`is_console_path`]).
pub fn serve(req: &ApiRequest, sso: Option<&SsoSettings>) -> ApiResponse {
    if req.method != "GET" && req.method != "HEAD" {
        return with_security_headers(Problem::method_not_allowed(&["GET", "HEAD"]).into_response(), sso);
    }
    let name = match req.path.strip_prefix("/console").unwrap_or_default() {
        "" | "/" => "index.html",
        rest => rest.trim_start_matches('/'),
    };
    let Some(i) = ASSETS.iter().position(|(n, _, _)| *n == name) else {
        return with_security_headers(Problem::not_found("the console has no such file").into_response(), sso);
    };
    let (_, content_type, body) = ASSETS[i];
    let etag = &etags()[i];
    let unchanged = req
        .header("if-none-match")
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let resp = if unchanged {
        ApiResponse {
            status: 304,
            headers: Vec::new(),
            body: String::new(),
            replay_body: None,
            audited: false,
        }
    } else if req.method == "HEAD" {
        ApiResponse::new(200, content_type, String::new())
    } else {
        ApiResponse::new(200, content_type, body.to_string())
    };
    with_security_headers(
        resp.with_header("cache-control", "no-cache")
            .with_header("etag", etag.clone()),
        sso,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str, if_none_match: Option<&str>) -> ApiResponse {
        let mut headers = http::HeaderMap::new();
        if let Some(v) = if_none_match {
            headers.insert("if-none-match", v.parse().unwrap());
        }
        serve(
            &ApiRequest {
                method: "GET".into(),
                path: path.into(),
                query: String::new(),
                headers,
                body: Vec::new(),
            },
            None,
        )
    }

    #[test]
    fn the_console_page_and_its_assets_are_served_with_a_strict_policy() {
        for (path, content_type) in [
            ("/console", "text/html; charset=utf-8"),
            ("/console/", "text/html; charset=utf-8"),
            ("/console/app.js", "text/javascript; charset=utf-8"),
            ("/console/console.css", "text/css; charset=utf-8"),
        ] {
            let resp = get(path, None);
            assert_eq!(resp.status, 200, "{path}");
            assert_eq!(resp.header("content-type"), Some(content_type), "{path}");
            let csp = resp.header("content-security-policy").unwrap();
            assert!(csp.starts_with("default-src 'self'"), "{csp}");
            assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
            assert_eq!(resp.header("x-content-type-options"), Some("nosniff"));
            assert_eq!(resp.header("cache-control"), Some("no-cache"));
            assert!(!resp.body.is_empty());
        }
    }

    #[test]
    fn an_unchanged_asset_is_a_304_and_an_unknown_one_a_404() {
        let first = get("/console/app.js", None);
        let etag = first.header("etag").unwrap().to_string();
        let again = get("/console/app.js", Some(&etag));
        assert_eq!(again.status, 304);
        assert!(again.body.is_empty());
        assert_eq!(get("/console/app.js", Some("\"other\"")).status, 200);
        for path in ["/console/nothing.js", "/console/../Cargo.toml", "/console/views.js/x"] {
            let resp = get(path, None);
            assert_eq!(resp.status, 404, "{path}");
            assert!(resp.header("content-security-policy").is_some());
        }
        let refused = serve(
            &ApiRequest {
                method: "POST".into(),
                path: "/console".into(),
                query: String::new(),
                headers: http::HeaderMap::new(),
                body: Vec::new(),
            },
            None,
        );
        assert_eq!(refused.status, 405);
    }

    /// The policy forbids inline script and style and other origins; the assets must need none.
    #[test]
    fn the_assets_use_no_inline_script_or_style_and_nothing_from_another_origin() {
        let (_, _, html) = ASSETS[0];
        let lower = html.to_ascii_lowercase();
        for tag in lower.match_indices("<script").map(|(i, _)| &lower[i..]) {
            let open = &tag[..tag.find('>').unwrap()];
            assert!(open.contains("src=\"/console/"), "inline or foreign script: {open}");
        }
        assert!(!lower.contains("<style"), "inline <style> in index.html");
        for (name, _, body) in ASSETS {
            // The SVG namespace is a name that is never fetched (charts.js creates elements in it).
            let lower = body.to_ascii_lowercase().replace("'http://www.w3.org/2000/svg'", "");
            assert!(!lower.contains("style=\""), "{name}: a style attribute");
            assert!(!lower.contains("setattribute('style'"), "{name}: a style attribute");
            assert!(
                !lower.contains("onclick=\"") && !lower.contains("onload=\""),
                "{name}: an inline handler"
            );
            assert!(
                !lower.contains("http://") && !lower.contains("https://"),
                "{name}: another origin"
            );
            assert!(!lower.contains("eval("), "{name}: eval");
            assert!(!lower.contains("innerhtml"), "{name}: innerHTML (text goes in as text)");
        }
    }

    fn sso_env(name: &str) -> Option<String> {
        match name {
            "OIDC_AUTHORIZATION_URL" => Some("https://login.example.com/oauth2/authorize".into()),
            "OIDC_TOKEN_URL" => Some("https://login.example.com:8443/oauth2/token".into()),
            _ => None,
        }
    }

    #[test]
    fn single_sign_on_is_offered_only_when_configured_and_opens_connect_src_to_the_token_endpoint_only() {
        let oidc = OidcSettings::new("https://cognito-idp.eu-west-1.amazonaws.com/pool", "client-1");
        let sso = SsoSettings::from_lookup(sso_env, Some(&oidc))
            .unwrap()
            .expect("configured");
        assert_eq!(sso.client_id, "client-1");
        assert_eq!(sso.scope, "openid");
        let get = ApiRequest {
            method: "GET".into(),
            path: CONFIG_PATH.into(),
            query: String::new(),
            headers: http::HeaderMap::new(),
            body: Vec::new(),
        };
        let on = config(&get, Some(&sso));
        assert_eq!(on.status, 200);
        let body: serde_json::Value = serde_json::from_str(&on.body).unwrap();
        assert_eq!(
            body["sso"]["token_endpoint"],
            "https://login.example.com:8443/oauth2/token"
        );
        assert_eq!(body["sso"]["issuer"], oidc.issuer);
        assert_eq!(config(&get, None).status, 404);

        let csp = content_security_policy(Some(&sso));
        assert!(
            csp.contains("connect-src 'self' https://login.example.com:8443;"),
            "{csp}"
        );
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert_eq!(content_security_policy(None), CONTENT_SECURITY_POLICY);
        let page = serve(
            &ApiRequest {
                path: "/console".into(),
                ..get
            },
            Some(&sso),
        );
        assert_eq!(page.header("content-security-policy"), Some(csp.as_str()));

        // Off without the endpoints; half-configured or without an issuer, a clear error.
        assert_eq!(SsoSettings::from_lookup(|_| None, Some(&oidc)).unwrap(), None);
        let half = SsoSettings::from_lookup(|n| sso_env(n).filter(|_| n == "OIDC_TOKEN_URL"), Some(&oidc));
        assert!(half.unwrap_err().to_string().contains("OIDC_AUTHORIZATION_URL"));
        assert!(SsoSettings::from_lookup(sso_env, None)
            .unwrap_err()
            .to_string()
            .contains("OIDC_ISSUER"));
        let plain = SsoSettings::from_lookup(|n| sso_env(n).map(|v| v.replace("https://", "http://")), Some(&oidc));
        assert!(plain.unwrap_err().to_string().contains("https://"));
    }
}
