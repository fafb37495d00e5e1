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

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use super::{ApiRequest, ApiResponse, Problem};

/// The policy every console answer carries.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

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

fn with_security_headers(resp: ApiResponse) -> ApiResponse {
    resp.with_header("content-security-policy", CONTENT_SECURITY_POLICY)
        .with_header("x-content-type-options", "nosniff")
        .with_header("referrer-policy", "no-referrer")
        .with_header("x-frame-options", "DENY")
}

/// Answers a request for a console path (see [`is_console_path`]).
pub fn serve(req: &ApiRequest) -> ApiResponse {
    if req.method != "GET" && req.method != "HEAD" {
        return with_security_headers(Problem::method_not_allowed(&["GET", "HEAD"]).into_response());
    }
    let name = match req.path.strip_prefix("/console").unwrap_or_default() {
        "" | "/" => "index.html",
        rest => rest.trim_start_matches('/'),
    };
    let Some(i) = ASSETS.iter().position(|(n, _, _)| *n == name) else {
        return with_security_headers(Problem::not_found("the console has no such file").into_response());
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
        }
    } else if req.method == "HEAD" {
        ApiResponse::new(200, content_type, String::new())
    } else {
        ApiResponse::new(200, content_type, body.to_string())
    };
    with_security_headers(
        resp.with_header("cache-control", "no-cache")
            .with_header("etag", etag.clone()),
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
        serve(&ApiRequest {
            method: "GET".into(),
            path: path.into(),
            query: String::new(),
            headers,
            body: Vec::new(),
        })
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
        let refused = serve(&ApiRequest {
            method: "POST".into(),
            path: "/console".into(),
            query: String::new(),
            headers: http::HeaderMap::new(),
            body: Vec::new(),
        });
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
            let lower = body.to_ascii_lowercase();
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
}
