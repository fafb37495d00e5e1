//! `application/x-www-form-urlencoded` bodies, decoded strictly.

use std::borrow::Cow;

use percent_encoding::percent_decode;

/// Decodes one name or value: `+` is a space, then percent-escapes are decoded; the result must
/// be UTF-8. A `%` not followed by two hex digits is kept literally, as browsers do.
fn decode_component(raw: &[u8]) -> Result<String, &'static str> {
    let spaced: Cow<'_, [u8]> = if raw.contains(&b'+') {
        Cow::Owned(raw.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect())
    } else {
        Cow::Borrowed(raw)
    };
    let decoded: Vec<u8> = percent_decode(&spaced).collect();
    String::from_utf8(decoded).map_err(|_| "a form parameter is not UTF-8 after percent-decoding")
}

/// Parses a form body into `(name, value)` pairs in order, keeping repeats. Empty segments
/// (`a=1&&b=2`) are skipped; a segment without `=` is a name with an empty value.
pub(crate) fn parse_strict(body: &[u8]) -> Result<Vec<(String, String)>, &'static str> {
    body.split(|&b| b == b'&')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            let (name, value) = match segment.iter().position(|&b| b == b'=') {
                Some(at) => (&segment[..at], &segment[at + 1..]),
                None => (segment, &b""[..]),
            };
            Ok((decode_component(name)?, decode_component(value)?))
        })
        .collect()
}

/// The first value of `name`, decoded leniently (for event extraction, after verification).
pub(crate) fn first_value(body: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_percent_and_repeats() {
        assert_eq!(
            parse_strict(b"a=1+2&b=%2B1&a=x%20y&flag&&c=").unwrap(),
            vec![
                ("a".to_string(), "1 2".to_string()),
                ("b".to_string(), "+1".to_string()),
                ("a".to_string(), "x y".to_string()),
                ("flag".to_string(), String::new()),
                ("c".to_string(), String::new()),
            ]
        );
    }

    #[test]
    fn rejects_non_utf8_after_decoding() {
        assert!(parse_strict(b"a=%FF").is_err());
        assert!(parse_strict(b"\xff=1").is_err());
    }

    #[test]
    fn keeps_stray_percent_signs() {
        assert_eq!(
            parse_strict(b"a=100%&b=%zz").unwrap(),
            vec![("a".into(), "100%".into()), ("b".into(), "%zz".into())]
        );
    }

    #[test]
    fn first_value_finds_a_parameter() {
        assert_eq!(
            first_value(b"x=1&SmsStatus=delivered", "SmsStatus").as_deref(),
            Some("delivered")
        );
        assert_eq!(first_value(b"x=1", "SmsStatus"), None);
    }
}
