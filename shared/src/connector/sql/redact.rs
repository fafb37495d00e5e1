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
    // A JDBC / ADO.NET string (SQL Server): `;password=...` (or `pwd=`), braced or not.
    for part in url.split(';') {
        if let Some((key, value)) = part.split_once('=') {
            let key = key.trim().to_ascii_lowercase();
            if key == "password" || key == "pwd" {
                let value = value.trim();
                secrets.push(value.to_owned());
                secrets.push(value.trim_start_matches('{').trim_end_matches('}').to_owned());
            }
        }
    }
    // A braced password may hold `;`: everything after `password={` up to its closing `}`.
    let lower = url.to_ascii_lowercase();
    for key in ["password={", "pwd={"] {
        if let Some(at) = lower.find(key) {
            let rest = &url[at + key.len()..];
            let end = rest.find("};").or_else(|| rest.rfind('}')).unwrap_or(rest.len());
            secrets.push(rest[..end].to_owned());
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

    #[test]
    fn a_jdbc_strings_password_never_survives() {
        let url = "sqlserver://db.internal:1433;database=crm;user=sync;password={pa;ss=word};encrypt=true";
        let out = redact("login failed with pa;ss=word for sync", url);
        assert!(!out.contains("pa;ss=word") && !out.contains("ss=word"), "{out}");
        let url = "jdbc:sqlserver://db;user=sync;PWD=hunter22";
        let out = redact("password hunter22 refused", url);
        assert!(!out.contains("hunter22"), "{out}");
    }
}
