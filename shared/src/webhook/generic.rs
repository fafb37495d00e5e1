//! The configurable generic HMAC scheme: template parsing and verification.

use std::fmt;

use super::crypto::{collect_signatures, decode_signature, hmac, matches_any};
use super::rejection::Rejection;
use super::request::{VerifyOptions, WebhookRequest};
use super::scheme::{GenericHmac, SignatureEncoding};
use super::secrets::{SigningSecrets, Verified};
use super::timestamp::{check_fresh, parse_unix};

/// A value substituted into the signed content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Placeholder {
    Body,
    Timestamp,
    Method,
    Url,
    Header(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Value(Placeholder),
}

/// A parsed signing template such as `{timestamp}.{body}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    segments: Vec<Segment>,
}

/// Why a template does not parse. Names come from configuration, never from a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TemplateError {
    Unknown(String),
    EmptyHeaderName,
    Unclosed,
    UnmatchedClose,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::Unknown(name) => write!(
                f,
                "unknown placeholder `{{{name}}}`; expected {{body}}, {{timestamp}}, {{method}}, \
                 {{url}} or {{header:Name}}"
            ),
            TemplateError::EmptyHeaderName => f.write_str("`{header:}` needs a header name"),
            TemplateError::Unclosed => f.write_str("a `{` is never closed"),
            TemplateError::UnmatchedClose => f.write_str("a `}` has no opening `{`; write `}}` for a literal brace"),
        }
    }
}

impl Template {
    pub(crate) fn parse(template: &str) -> Result<Self, TemplateError> {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut chars = template.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => return Err(TemplateError::UnmatchedClose),
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some('{') | None => return Err(TemplateError::Unclosed),
                            Some(c) => name.push(c),
                        }
                    }
                    if !literal.is_empty() {
                        segments.push(Segment::Literal(std::mem::take(&mut literal)));
                    }
                    segments.push(Segment::Value(Self::placeholder(name)?));
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        Ok(Self { segments })
    }

    fn placeholder(name: String) -> Result<Placeholder, TemplateError> {
        Ok(match name.as_str() {
            "body" => Placeholder::Body,
            "timestamp" => Placeholder::Timestamp,
            "method" => Placeholder::Method,
            "url" => Placeholder::Url,
            _ => match name.strip_prefix("header:") {
                Some("") => return Err(TemplateError::EmptyHeaderName),
                Some(header) => Placeholder::Header(header.to_owned()),
                None => return Err(TemplateError::Unknown(name)),
            },
        })
    }

    pub(crate) fn uses(&self, placeholder: &Placeholder) -> bool {
        self.segments
            .iter()
            .any(|segment| matches!(segment, Segment::Value(p) if p == placeholder))
    }
}

pub(crate) fn verify(
    config: &GenericHmac,
    req: &WebhookRequest<'_>,
    secrets: &SigningSecrets,
    options: &VerifyOptions,
) -> Result<Verified, Rejection> {
    let template = config
        .validate()
        .and_then(|()| Template::parse(&config.template).map_err(|e| e.to_string()))
        .map_err(|reason| Rejection::invalid_secret(format!("generic scheme configuration is invalid: {reason}")))?;

    let len = config.algorithm.output_len();
    let expected = format!(
        "{}{} of a {len}-byte MAC",
        config.prefix.as_deref().unwrap_or(""),
        match config.encoding {
            SignatureEncoding::Hex => "hex",
            SignatureEncoding::Base64 => "base64",
        }
    );
    let signatures = collect_signatures(
        &config.header,
        req.headers.get_all(&config.header),
        &expected,
        |value| {
            // `value` arrives trimmed (HTTP drops a header value's surrounding whitespace), so
            // the prefix is matched without its own, and whitespace between the prefix and the
            // signature (`sha256= 7f..`) is skipped.
            let encoded = match &config.prefix {
                Some(prefix) => match value.strip_prefix(prefix.trim()) {
                    Some(rest) => rest.trim_start(),
                    None => return Vec::new(),
                },
                None => value,
            };
            decode_signature(config.encoding, encoded, len).into_iter().collect()
        },
    )?;

    let timestamp = match (&config.timestamp_header, template.uses(&Placeholder::Timestamp)) {
        (Some(header), true) => {
            let value = req.headers.get(header).ok_or_else(|| Rejection::missing(header))?;
            check_fresh(parse_unix(header, value)?, options)?;
            value
        }
        _ => "",
    };

    let mut parts: Vec<&[u8]> = Vec::with_capacity(template.segments.len());
    for segment in &template.segments {
        parts.push(match segment {
            Segment::Literal(text) => text.as_bytes(),
            Segment::Value(Placeholder::Body) => req.body,
            Segment::Value(Placeholder::Timestamp) => timestamp.as_bytes(),
            Segment::Value(Placeholder::Method) => req.method.as_bytes(),
            Segment::Value(Placeholder::Url) => req.url.as_bytes(),
            Segment::Value(Placeholder::Header(name)) => req
                .headers
                .get(name)
                .ok_or_else(|| Rejection::missing(name))?
                .as_bytes(),
        });
    }

    secrets
        .utf8_keys()?
        .first_match(|key| matches_any(&hmac(config.algorithm, key, &parts), &signatures))
}

/// Headers that sign `req` under `config` at `now` (the timestamp header, when the template
/// uses one, is set to `now`). Used by `webhook::sign`.
pub(crate) fn sign(
    config: &GenericHmac,
    req: &WebhookRequest<'_>,
    key: &[u8],
    now: i64,
) -> Result<Vec<(String, String)>, String> {
    config.validate()?;
    let template = Template::parse(&config.template).map_err(|e| e.to_string())?;
    let timestamp = now.to_string();
    let mut parts: Vec<&[u8]> = Vec::with_capacity(template.segments.len());
    for segment in &template.segments {
        parts.push(match segment {
            Segment::Literal(text) => text.as_bytes(),
            Segment::Value(Placeholder::Body) => req.body,
            Segment::Value(Placeholder::Timestamp) => timestamp.as_bytes(),
            Segment::Value(Placeholder::Method) => req.method.as_bytes(),
            Segment::Value(Placeholder::Url) => req.url.as_bytes(),
            Segment::Value(Placeholder::Header(name)) => req
                .headers
                .get(name)
                .ok_or_else(|| format!("the template signs header {name}, which the request does not have"))?
                .as_bytes(),
        });
    }
    let mac = hmac(config.algorithm, key, &parts);
    let encoded = match config.encoding {
        SignatureEncoding::Hex => hex::encode(mac),
        SignatureEncoding::Base64 => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(mac)
        }
    };
    let mut headers = vec![(
        config.header.clone(),
        format!("{}{encoded}", config.prefix.as_deref().unwrap_or("")),
    )];
    if let (Some(header), true) = (&config.timestamp_header, template.uses(&Placeholder::Timestamp)) {
        headers.push((header.clone(), timestamp));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::headers::Headers;
    use crate::webhook::scheme::HmacAlgorithm;
    use crate::webhook::secrets::SecretUsed;

    // Signatures below were computed independently with Python's `hmac` module, e.g.
    // hmac.new(b"generic-secret", b"1700000000.POST.{\"id\":\"evt_1\"}", "sha256").hexdigest()
    const SECRET: &str = "generic-secret";
    const BODY: &[u8] = br#"{"id":"evt_1"}"#;
    const NOW: i64 = 1_700_000_000;
    const BODY_SHA256_HEX: &str = "07f31bde91ac83953e117c45d8ab04266ae02dd21168516e9070152fb1d62b39";
    const TIMESTAMPED_SHA256_HEX: &str = "bc58700d69d6f9107f98305bcd9211d7e1f4d35e89283359a87022efacd8fa06";
    const BODY_SHA1_BASE64: &str = "dvV7T+SgJdvY5NF/bipzcQT0tKk=";
    const BODY_SHA512_HEX: &str = "7aa12e89ee80bffe0771789311fca87c2137ce35a6b23777d1826109f93dd3e50e77527074e7605a950c8e46c0e9054116f691c40b465721138571c2f2ca6ec1";

    fn request<'a>(headers: &'a Headers, body: &'a [u8]) -> WebhookRequest<'a> {
        WebhookRequest {
            method: "POST",
            url: "https://hooks.example.com/in/acme?x=1",
            headers,
            body,
        }
    }

    fn timestamped() -> GenericHmac {
        GenericHmac {
            prefix: Some("sha256=".into()),
            template: "{timestamp}.{method}.{body}".into(),
            timestamp_header: Some("X-Timestamp".into()),
            ..GenericHmac::new("X-Signature")
        }
    }

    fn verify_with(
        config: &GenericHmac,
        headers: &Headers,
        body: &[u8],
        secrets: &SigningSecrets,
        now: i64,
    ) -> Result<Verified, Rejection> {
        verify(config, &request(headers, body), secrets, &VerifyOptions::at(now))
    }

    #[test]
    fn template_parses_placeholders_and_escaped_braces() {
        let template = Template::parse("{{v1}}:{timestamp}.{header:X-Id}.{body}").unwrap();
        assert_eq!(
            template.segments,
            vec![
                Segment::Literal("{v1}:".into()),
                Segment::Value(Placeholder::Timestamp),
                Segment::Literal(".".into()),
                Segment::Value(Placeholder::Header("X-Id".into())),
                Segment::Literal(".".into()),
                Segment::Value(Placeholder::Body),
            ]
        );
        assert!(template.uses(&Placeholder::Timestamp));
        assert!(!template.uses(&Placeholder::Url));
    }

    #[test]
    fn template_rejects_malformed_placeholders() {
        assert_eq!(Template::parse("{nonce}"), Err(TemplateError::Unknown("nonce".into())));
        assert_eq!(Template::parse("{body"), Err(TemplateError::Unclosed));
        assert_eq!(Template::parse("{bo{dy}"), Err(TemplateError::Unclosed));
        assert_eq!(Template::parse("body}"), Err(TemplateError::UnmatchedClose));
        assert_eq!(Template::parse("{header:}"), Err(TemplateError::EmptyHeaderName));
        assert_eq!(Template::parse("{BODY}"), Err(TemplateError::Unknown("BODY".into())));
    }

    #[test]
    fn generic_accepts_body_only_sha256_hex() {
        let headers = Headers::from_pairs([("x-signature", BODY_SHA256_HEX)]);
        let secrets = SigningSecrets::new(SECRET);
        let config = GenericHmac::new("X-Signature");
        assert_eq!(
            verify_with(&config, &headers, BODY, &secrets, NOW).unwrap().secret,
            SecretUsed::Current
        );
        // Hex is accepted in either case.
        let upper = Headers::from_pairs([("x-signature", BODY_SHA256_HEX.to_uppercase())]);
        assert!(verify_with(&config, &upper, BODY, &secrets, NOW).is_ok());
    }

    #[test]
    fn prefix_whitespace_is_not_significant() {
        // A prefix configured with whitespace around it (found by the webhook_verify fuzz
        // target: ` sha256=` signed deliveries its own verifier refused, as the header value
        // arrives trimmed), and a signature written after a space.
        let secrets = SigningSecrets::new(SECRET);
        for prefix in [" sha256=", "sha256= ", "\tsha256=\t"] {
            let config = GenericHmac {
                prefix: Some(prefix.into()),
                ..GenericHmac::new("X-Signature")
            };
            let signed = sign(&config, &request(&Headers::new(), BODY), SECRET.as_bytes(), NOW).unwrap();
            let headers = Headers::from_pairs([("X-Signature", signed[0].1.trim())]);
            assert!(
                verify_with(&config, &headers, BODY, &secrets, NOW).is_ok(),
                "prefix {prefix:?}"
            );
        }
        let config = GenericHmac {
            prefix: Some("sha256=".into()),
            ..GenericHmac::new("X-Signature")
        };
        for value in [
            format!("sha256= {BODY_SHA256_HEX}"),
            format!("  sha256=\t{BODY_SHA256_HEX} "),
        ] {
            let headers = Headers::from_pairs([("X-Signature", value.as_str())]);
            assert!(verify_with(&config, &headers, BODY, &secrets, NOW).is_ok(), "{value:?}");
        }
        // Still required: a signature without its prefix is refused.
        let headers = Headers::from_pairs([("X-Signature", BODY_SHA256_HEX)]);
        assert!(matches!(
            verify_with(&config, &headers, BODY, &secrets, NOW),
            Err(Rejection::MalformedHeader { .. })
        ));
    }

    #[test]
    fn a_blank_prefix_is_a_configuration_error() {
        for prefix in ["", " ", "\t "] {
            let config = GenericHmac {
                prefix: Some(prefix.into()),
                ..GenericHmac::new("X-Signature")
            };
            assert!(config.validate().unwrap_err().contains("`prefix`"), "{prefix:?}");
        }
    }

    #[test]
    fn generic_rejects_tampered_body() {
        let headers = Headers::from_pairs([("X-Signature", BODY_SHA256_HEX)]);
        assert_eq!(
            verify_with(
                &GenericHmac::new("X-Signature"),
                &headers,
                br#"{"id":"evt_2"}"#,
                &SigningSecrets::new(SECRET),
                NOW
            ),
            Err(Rejection::NoMatchingSignature)
        );
    }

    #[test]
    fn generic_supports_sha1_base64_and_sha512() {
        let sha1 = GenericHmac {
            algorithm: HmacAlgorithm::Sha1,
            encoding: SignatureEncoding::Base64,
            ..GenericHmac::new("X-Signature")
        };
        let headers = Headers::from_pairs([("X-Signature", BODY_SHA1_BASE64)]);
        assert!(verify_with(&sha1, &headers, BODY, &SigningSecrets::new(SECRET), NOW).is_ok());

        let sha512 = GenericHmac {
            algorithm: HmacAlgorithm::Sha512,
            ..GenericHmac::new("X-Signature")
        };
        let headers = Headers::from_pairs([("X-Signature", BODY_SHA512_HEX)]);
        assert!(verify_with(&sha512, &headers, BODY, &SigningSecrets::new(SECRET), NOW).is_ok());
    }

    #[test]
    fn generic_accepts_timestamped_template_within_tolerance() {
        let headers = Headers::from_pairs([
            ("X-Signature", format!("sha256={TIMESTAMPED_SHA256_HEX}")),
            ("X-Timestamp", NOW.to_string()),
        ]);
        let config = timestamped();
        let secrets = SigningSecrets::new(SECRET);
        assert!(verify_with(&config, &headers, BODY, &secrets, NOW).is_ok());
        assert!(verify_with(&config, &headers, BODY, &secrets, NOW + 300).is_ok());
        assert!(verify_with(&config, &headers, BODY, &secrets, NOW - 300).is_ok());
    }

    #[test]
    fn generic_rejects_timestamp_older_than_tolerance() {
        let headers = Headers::from_pairs([
            ("X-Signature", format!("sha256={TIMESTAMPED_SHA256_HEX}")),
            ("X-Timestamp", NOW.to_string()),
        ]);
        assert_eq!(
            verify_with(&timestamped(), &headers, BODY, &SigningSecrets::new(SECRET), NOW + 301),
            Err(Rejection::StaleTimestamp {
                age_secs: 301,
                tolerance_secs: 300
            })
        );
    }

    #[test]
    fn generic_rejects_timestamp_further_ahead_than_tolerance() {
        let headers = Headers::from_pairs([
            ("X-Signature", format!("sha256={TIMESTAMPED_SHA256_HEX}")),
            ("X-Timestamp", NOW.to_string()),
        ]);
        assert_eq!(
            verify_with(&timestamped(), &headers, BODY, &SigningSecrets::new(SECRET), NOW - 301),
            Err(Rejection::FutureTimestamp {
                ahead_secs: 301,
                tolerance_secs: 300
            })
        );
    }

    #[test]
    fn generic_requires_the_configured_prefix() {
        let headers = Headers::from_pairs([
            ("X-Signature", TIMESTAMPED_SHA256_HEX.to_string()),
            ("X-Timestamp", NOW.to_string()),
        ]);
        let rejection = verify_with(&timestamped(), &headers, BODY, &SigningSecrets::new(SECRET), NOW).unwrap_err();
        assert_eq!(rejection.code(), "malformed_header");
        assert!(rejection.to_string().contains("sha256="));
    }

    #[test]
    fn generic_reports_missing_signature_timestamp_and_template_headers() {
        let secrets = SigningSecrets::new(SECRET);
        let none = Headers::new();
        assert_eq!(
            verify_with(&timestamped(), &none, BODY, &secrets, NOW),
            Err(Rejection::missing("X-Signature"))
        );
        let no_timestamp = Headers::from_pairs([("X-Signature", format!("sha256={TIMESTAMPED_SHA256_HEX}"))]);
        assert_eq!(
            verify_with(&timestamped(), &no_timestamp, BODY, &secrets, NOW),
            Err(Rejection::missing("X-Timestamp"))
        );
        let config = GenericHmac {
            template: "{header:X-Request-Id}.{body}".into(),
            ..GenericHmac::new("X-Signature")
        };
        let headers = Headers::from_pairs([("X-Signature", BODY_SHA256_HEX)]);
        assert_eq!(
            verify_with(&config, &headers, BODY, &secrets, NOW),
            Err(Rejection::missing("X-Request-Id"))
        );
    }

    #[test]
    fn generic_rejects_malformed_timestamp() {
        let headers = Headers::from_pairs([
            ("X-Signature", format!("sha256={TIMESTAMPED_SHA256_HEX}")),
            ("X-Timestamp", "1e9".to_string()),
        ]);
        assert_eq!(
            verify_with(&timestamped(), &headers, BODY, &SigningSecrets::new(SECRET), NOW)
                .unwrap_err()
                .code(),
            "malformed_header"
        );
    }

    #[test]
    fn generic_accepts_signature_from_previous_secret() {
        let headers = Headers::from_pairs([("X-Signature", BODY_SHA256_HEX)]);
        let secrets = SigningSecrets::new("new-secret").with_previous(SECRET);
        assert_eq!(
            verify_with(&GenericHmac::new("X-Signature"), &headers, BODY, &secrets, NOW)
                .unwrap()
                .secret,
            SecretUsed::Previous
        );
    }

    #[test]
    fn generic_tries_every_repeated_signature_header() {
        let headers = Headers::from_pairs([
            ("X-Signature", "00".repeat(32)),
            ("X-Signature", BODY_SHA256_HEX.to_string()),
        ]);
        assert!(verify_with(
            &GenericHmac::new("X-Signature"),
            &headers,
            BODY,
            &SigningSecrets::new(SECRET),
            NOW
        )
        .is_ok());
    }

    #[test]
    fn generic_with_invalid_config_is_a_configuration_rejection() {
        let config = GenericHmac {
            template: "{nonce}".into(),
            ..GenericHmac::new("X-Signature")
        };
        let headers = Headers::from_pairs([("X-Signature", BODY_SHA256_HEX)]);
        let rejection = verify_with(&config, &headers, BODY, &SigningSecrets::new(SECRET), NOW).unwrap_err();
        assert_eq!(rejection.code(), "invalid_secret");
        assert!(rejection.to_string().contains("configuration"));
    }
}
