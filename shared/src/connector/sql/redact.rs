//! Keeping a connection URL (and the password in it) out of messages.

/// `message` with the URL, its password (as written and percent-decoded) and its user-info
/// part replaced by `[REDACTED]`.
pub fn redact(message: &str, url: &str) -> String {
    let mut secrets: Vec<String> = vec![url.to_owned()];
    if let Some((_, rest)) = url.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            secrets.push(userinfo.to_owned());
            if let Some((_, password)) = userinfo.split_once(':') {
                if !password.is_empty() {
                    secrets.push(password.to_owned());
                    let decoded = percent_encoding::percent_decode_str(password)
                        .decode_utf8_lossy()
                        .into_owned();
                    secrets.push(decoded);
                }
            }
        }
    }
    // Longest first, so the URL goes before the password inside it.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = message.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 3) {
        out = out.replace(secret.as_str(), "[REDACTED]");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_and_its_password_never_survive() {
        let url = "postgres://app:s%3Acret-pw@db.internal:5432/crm";
        let message = format!("cannot connect to {url}: password s:cret-pw or s%3Acret-pw refused for app");
        let out = redact(&message, url);
        assert!(!out.contains("cret-pw"), "{out}");
        assert!(
            !out.contains("db.internal:5432/crm") || out.contains("[REDACTED]"),
            "{out}"
        );
        assert!(out.contains("[REDACTED]"));
        assert_eq!(redact("no secret here", "sqlite:///tmp/x.db"), "no secret here");
    }
}
