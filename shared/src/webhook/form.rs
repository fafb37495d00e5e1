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

/// Reads a form body as one JSON object, bracketed names nested as PHP reads them (Mailchimp's
/// webhooks: `type=profile&data[merges][FNAME]=Ada` is `{"type": "profile", "data": {"merges":
/// {"FNAME": "Ada"}}}`). Every value is a string; an index (`[0]`) is an object key like any
/// other, `[]` appends to an array, and a repeated plain name keeps its last value, as PHP does.
/// A name whose brackets do not close, or a name that is both a value and a parent
/// (`a=1&a[b]=2`), is refused.
pub fn to_json(body: &[u8]) -> Result<serde_json::Value, &'static str> {
    use serde_json::{Map, Value};
    let mut root = Map::new();
    for (name, value) in parse_strict(body)? {
        let (head, mut rest) = match name.find('[') {
            Some(at) => (&name[..at], &name[at..]),
            None => (name.as_str(), ""),
        };
        if head.is_empty() {
            return Err("a form parameter's name starts with `[`");
        }
        let mut keys = vec![head.to_owned()];
        while !rest.is_empty() {
            let close = rest.find(']').ok_or("a form parameter's `[` is never closed")?;
            if !rest.starts_with('[') {
                return Err("a form parameter's name has text between its brackets");
            }
            keys.push(rest[1..close].to_owned());
            rest = &rest[close + 1..];
        }
        let mut at = &mut root;
        let last = keys.len() - 1;
        for (i, key) in keys.iter().enumerate() {
            if i == last {
                at.insert(key.clone(), Value::String(value));
                break;
            }
            let next = &keys[i + 1];
            let child = at.entry(key.clone()).or_insert_with(|| {
                if next.is_empty() {
                    Value::Array(Vec::new())
                } else {
                    Value::Object(Map::new())
                }
            });
            match child {
                Value::Array(items) if next.is_empty() && i + 1 == last => {
                    items.push(Value::String(value));
                    break;
                }
                Value::Object(map) if !next.is_empty() => at = map,
                _ => return Err("a form parameter is both a value and a parent of other values"),
            }
        }
    }
    Ok(serde_json::Value::Object(root))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mailchimp_form_reads_as_nested_json() {
        let body = b"type=profile&fired_at=2009-03-26+21%3A31%3A21&data%5Bid%5D=8a25ff1d98&data%5Bemail%5D=api%40mailchimp.com&data%5Bmerges%5D%5BFNAME%5D=Mailchimp&data%5Bmerges%5D%5BINTERESTS%5D=Group1%2CGroup2&tags[]=a&tags[]=b";
        assert_eq!(
            to_json(body).unwrap(),
            serde_json::json!({
                "type": "profile", "fired_at": "2009-03-26 21:31:21",
                "data": {"id": "8a25ff1d98", "email": "api@mailchimp.com",
                         "merges": {"FNAME": "Mailchimp", "INTERESTS": "Group1,Group2"}},
                "tags": ["a", "b"],
            })
        );
    }

    #[test]
    fn a_form_whose_names_do_not_nest_is_refused() {
        for body in [&b"a=1&a[b]=2"[..], b"a[b=1", b"[a]=1", b"a[b]x[c]=1", b"a[b]=1&a[]=2"] {
            assert!(to_json(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
    }

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
