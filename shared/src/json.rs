//! JSON bodies that arrive as bytes.

use serde::Deserialize;

/// Parses `bytes` as JSON: what `serde_json::from_slice` returns, value or error, for about a
/// sixth less CPU on a body of many short strings (a page of records: 0.71 against 0.85 us a
/// record, `cargo bench --workspace --bench sync -- read_`).
///
/// Reading bytes, serde_json checks each string it meets for UTF-8 on its own, a call per
/// string; reading text, it checks nothing, the text being UTF-8 already. A body that is UTF-8
/// as a whole (nearly every one) is therefore checked once, in one pass at memory speed, and
/// parsed as text. One that is not goes to `from_slice`, so its error is the one it always was.
pub fn from_bytes<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;

    /// The same outcome as `from_slice`: the same value, or an error with the same message
    /// (which names the line and column).
    fn same_as_from_slice(bytes: &[u8]) {
        let ours = from_bytes::<Value>(bytes).map_err(|e| e.to_string());
        let theirs = serde_json::from_slice::<Value>(bytes).map_err(|e| e.to_string());
        assert_eq!(ours, theirs, "{:?}", String::from_utf8_lossy(bytes));
    }

    #[test]
    fn values_and_errors_are_those_of_from_slice() {
        for body in [
            &br#"{"records":[{"id":"rec_1","name":"Zo\u00eb \"Z\" M\u00fcller","n":1.5e3}],"more":true}"#[..],
            "{\"name\":\"Zoë 😀\"}".as_bytes(),
            br#"[1, 2, {"a": null}]"#,
            b"  42  ",
            br#""\ud83d\ude00""#,
            // Errors: truncated, trailing characters, a lone surrogate, a control character.
            br#"{"a": [1, 2"#,
            br#"{"a": 1} x"#,
            br#""\ud800""#,
            b"\"a\x01b\"",
            b"",
            // Not UTF-8: inside a string, and outside one.
            b"{\"a\": \"\xff\xfe\"}",
            b"{\"a\": 1, \xc3}",
            b"\"\xed\xa0\x80\"",
        ] {
            same_as_from_slice(body);
        }
    }

    #[test]
    fn borrowed_fields_borrow_from_the_body() {
        #[derive(Deserialize)]
        struct Page<'a> {
            #[serde(borrow)]
            cursor: &'a str,
        }
        let body = br#"{"cursor": "abc~123", "other": [1]}"#;
        let page: Page<'_> = from_bytes(body).unwrap();
        assert_eq!(page.cursor, "abc~123");
        assert!(std::ptr::eq(page.cursor.as_bytes().as_ptr(), body[12..].as_ptr()));
    }

    proptest! {
        #[test]
        fn any_bytes_give_what_from_slice_gives(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            same_as_from_slice(&bytes);
        }

        #[test]
        fn any_json_like_text_gives_what_from_slice_gives(text in r#"[\[\]{}",:0-9a-z\\ .eE+\-éü😀\x00-\x1f]{0,48}"#) {
            same_as_from_slice(text.as_bytes());
        }
    }
}
