//! A fast, conservative reading of a JSON document for the receiver's hot path.
//!
//! [`top_fields`] reads a whole document in one pass, as `super::event::top_fields` does with
//! serde_json, but without serde's visitor machinery: on a 10 KB event it is the largest part
//! of the receiver's CPU after the signature itself. It is an optimisation only, never a second
//! opinion: it answers `Some` only for a document serde_json accepts too, with the same fields,
//! and `None` for anything it does not read with certainty (a `\u` escape in a top-level key or
//! field, an exponent, an integer of more than 18 digits, nesting deeper than 100, and every
//! error). On `None` the caller asks serde_json, which then decides and words any error, so a
//! refused body gets exactly the answer it got before.
//!
//! What it accepts is a subset of serde_json's grammar (RFC 8259): whitespace is space, tab,
//! CR and LF; strings hold no byte below 0x20, and their escapes are serde_json's (`\uXXXX`
//! with surrogates paired); numbers are `-?(0|[1-9][0-9]{0,17})(\.[0-9]+)?`, which are always
//! finite; literals are `true`, `false`, `null`; nothing but whitespace follows the value.
//! The input is a `&str`, so UTF-8 was checked once before.

use std::borrow::Cow;

use super::event::{Field, TopFields};

/// Deepest nesting read here; serde_json's own limit is 127 levels.
const MAX_DEPTH: usize = 100;
/// Most integer digits read here: any such number fits an `i64` / `u64` or a finite `f64`.
const MAX_INT_DIGITS: usize = 18;

/// The named top-level fields of `text`, when the document certainly is well-formed JSON in
/// serde_json's sense; `None` to let serde_json decide.
pub(crate) fn top_fields<'a, const N: usize>(text: &'a str, names: [&'static str; N]) -> Option<TopFields<'a, N>> {
    let mut scan = Scan {
        bytes: text.as_bytes(),
        at: 0,
    };
    scan.whitespace();
    let found = if scan.peek()? == b'{' {
        scan.at += 1;
        scan.top_object(names)?
    } else {
        scan.value(1)?;
        TopFields {
            is_object: false,
            values: std::array::from_fn(|_| Field::Absent),
        }
    };
    scan.whitespace();
    (scan.at == scan.bytes.len()).then_some(found)
}

/// Whether `text` certainly is well-formed JSON in serde_json's sense (`false`: let serde_json
/// decide).
pub(crate) fn well_formed(text: &str) -> bool {
    top_fields(text, []).is_some()
}

struct Scan<'a> {
    bytes: &'a [u8],
    at: usize,
}

/// Eight bytes at a time, the lowest byte of `chunk` that is a quote, a backslash or below
/// 0x20 is the lowest whose high bit is set in the result (higher ones may be false alarms).
#[inline(always)]
fn specials(chunk: u64) -> u64 {
    const ONES: u64 = u64::MAX / 255;
    let control = chunk.wrapping_sub(ONES * 0x20) & !chunk;
    let quote = chunk ^ (ONES * u64::from(b'"'));
    let quote = quote.wrapping_sub(ONES) & !quote;
    let backslash = chunk ^ (ONES * u64::from(b'\\'));
    let backslash = backslash.wrapping_sub(ONES) & !backslash;
    (control | quote | backslash) & (ONES << 7)
}

/// Sixteen bytes at a time (SSE2, part of every x86_64): bit `i` of the result is set when
/// byte `i` of `chunk` is a quote, a backslash or below 0x20.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn specials_16(chunk: &[u8; 16]) -> u32 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    // SAFETY: SSE2 is in x86_64's baseline, so these instructions exist on every x86_64 CPU;
    // the unaligned load reads exactly the 16 bytes `chunk` borrows.
    unsafe {
        let bytes = _mm_loadu_si128(chunk.as_ptr().cast());
        let quote = _mm_cmpeq_epi8(bytes, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(bytes, _mm_set1_epi8(b'\\' as i8));
        // max(byte, 0x1f) == 0x1f exactly when byte <= 0x1f (unsigned).
        let limit = _mm_set1_epi8(0x1f);
        let control = _mm_cmpeq_epi8(_mm_max_epu8(bytes, limit), limit);
        _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)) as u32
    }
}

impl<'a> Scan<'a> {
    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    #[inline(always)]
    fn whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// Expects `byte` after optional whitespace.
    #[inline(always)]
    fn expect(&mut self, byte: u8) -> Option<()> {
        self.whitespace();
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// The top-level object (its `{` read), keeping the named fields' values.
    fn top_object<const N: usize>(&mut self, names: [&'static str; N]) -> Option<TopFields<'a, N>> {
        let mut values = std::array::from_fn(|_| Field::Absent);
        self.whitespace();
        if self.peek()? == b'}' {
            self.at += 1;
        } else {
            loop {
                self.expect(b'"')?;
                let key = self.string()?;
                // A key with an escape may unescape to a name: left to serde_json.
                if key.contains(&b'\\') {
                    return None;
                }
                self.expect(b':')?;
                self.whitespace();
                match names.iter().position(|name| name.as_bytes() == key) {
                    // A repeated key: the last one wins, as in serde_json's own maps.
                    Some(i) => values[i] = self.field()?,
                    None => self.value(2)?,
                }
                self.whitespace();
                match self.peek()? {
                    b',' => self.at += 1,
                    b'}' => {
                        self.at += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        Some(TopFields {
            is_object: true,
            values,
        })
    }

    /// A named field's value (whitespace before it skipped). A string with an escape is left to
    /// serde_json, which unescapes it.
    fn field(&mut self) -> Option<Field<'a>> {
        match self.peek()? {
            b'"' => {
                self.at += 1;
                let text = self.string()?;
                // `string` returns the raw bytes; without a backslash they are the text.
                if text.contains(&b'\\') {
                    return None;
                }
                // A slice of the `&str` between two ASCII quotes: still UTF-8.
                std::str::from_utf8(text)
                    .ok()
                    .map(|text| Field::Str(Cow::Borrowed(text)))
            }
            b'n' => self.literal(b"null").map(|()| Field::Null),
            _ => self.value(2).map(|()| Field::Other),
        }
    }

    /// Any value at nesting `depth` (1 for the document itself), whitespace before it skipped.
    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => {
                self.at += 1;
                self.string().map(|_| ())
            }
            b'{' => {
                self.at += 1;
                self.object(depth)
            }
            b'[' => {
                self.at += 1;
                self.array(depth)
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' => {
                self.at += 1;
                self.number()
            }
            b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn object(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.whitespace();
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            self.expect(b'"')?;
            self.string()?;
            self.expect(b':')?;
            self.whitespace();
            self.value(depth + 1)?;
            self.whitespace();
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.whitespace();
        if self.peek()? == b']' {
            self.at += 1;
            return Some(());
        }
        loop {
            self.whitespace();
            self.value(depth + 1)?;
            self.whitespace();
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    #[inline(always)]
    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.at + word.len();
        (self.bytes.get(self.at..end)? == word).then(|| self.at = end)
    }

    /// `(0|[1-9][0-9]{0,17})(\.[0-9]+)?` (a `-` before it already read), and no exponent.
    fn number(&mut self) -> Option<()> {
        let start = self.at;
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.at - start > MAX_INT_DIGITS {
            return None;
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            let fraction = self.at;
            self.digits();
            if self.at == fraction {
                return None;
            }
        }
        // An exponent, or a digit after a leading zero: left to serde_json.
        match self.peek() {
            Some(b'e' | b'E' | b'0'..=b'9') => None,
            _ => Some(()),
        }
    }

    #[inline(always)]
    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
    }

    /// A string's raw bytes (its opening quote read), its closing quote consumed. Escapes are
    /// checked as serde_json checks them when it reads a string, not decoded.
    #[inline]
    fn string(&mut self) -> Option<&'a [u8]> {
        let start = self.at;
        loop {
            self.skip_plain();
            match self.peek()? {
                b'"' => {
                    let text = &self.bytes[start..self.at];
                    self.at += 1;
                    return Some(text);
                }
                b'\\' => {
                    self.at += 1;
                    self.escape()?;
                }
                0..=0x1f => return None,
                _ => self.at += 1,
            }
        }
    }

    /// Moves to the next quote, backslash or byte below 0x20, or to within 8 bytes of the end.
    #[inline(always)]
    fn skip_plain(&mut self) {
        #[cfg(target_arch = "x86_64")]
        while let Some(chunk) = self.bytes.get(self.at..self.at + 16) {
            match specials_16(chunk.try_into().expect("16 bytes")) {
                0 => self.at += 16,
                found => {
                    self.at += found.trailing_zeros() as usize;
                    return;
                }
            }
        }
        while let Some(chunk) = self.bytes.get(self.at..self.at + 8) {
            match specials(u64::from_le_bytes(chunk.try_into().expect("8 bytes"))) {
                0 => self.at += 8,
                found => {
                    self.at += (found.trailing_zeros() / 8) as usize;
                    return;
                }
            }
        }
    }

    /// One escape, its backslash read.
    fn escape(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {
                self.at += 1;
                Some(())
            }
            b'u' => {
                self.at += 1;
                match self.hex4()? {
                    // A trailing surrogate first: refused.
                    0xDC00..=0xDFFF => None,
                    // A leading surrogate: a trailing one must follow at once.
                    0xD800..=0xDBFF => {
                        self.literal(b"\\u")?;
                        matches!(self.hex4()?, 0xDC00..=0xDFFF).then_some(())
                    }
                    _ => Some(()),
                }
            }
            _ => None,
        }
    }

    fn hex4(&mut self) -> Option<u16> {
        let digits = self.bytes.get(self.at..self.at + 4)?;
        let mut value = 0u16;
        for &digit in digits {
            value = value * 16 + (char::from(digit).to_digit(16)? as u16);
        }
        self.at += 4;
        Some(value)
    }
}

/// Reads `bytes` with the scan and with serde_json (both [`top_fields`] with Stripe's names,
/// and [`well_formed`]) and panics if the scan answers otherwise than serde_json: the fuzz
/// targets' check of this module.
pub(crate) fn check_against_serde_json(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Some(found) = top_fields(text, ["id", "type"]) {
        assert_eq!(
            super::event::top_fields_serde(text, ["id", "type"]).as_ref(),
            Ok(&found),
            "json_scan and serde_json read the document differently"
        );
    }
    if well_formed(text) {
        assert!(
            super::event::check_json_serde(text).is_ok(),
            "json_scan accepted what serde_json refuses"
        );
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::webhook::event::top_fields_serde;

    /// What serde_json makes of `text`, and what the scan makes of it, which must agree
    /// whenever the scan answers.
    fn both(text: &str) -> (Result<TopFields<'_, 2>, String>, Option<TopFields<'_, 2>>) {
        let names = ["id", "type"];
        let serde = top_fields_serde(text, names).map_err(|e| e.to_string());
        let fast = top_fields(text, names);
        if let Some(fast) = &fast {
            assert_eq!(serde.as_ref(), Ok(fast), "the scan and serde_json differ on {text:?}");
        }
        (serde, fast)
    }

    #[test]
    fn json_scan_reads_common_documents_as_serde_json_does() {
        let event = serde_json::json!({
            "id": "evt_1", "object": "event", "created": 1_763_800_000, "livemode": false,
            "type": "customer.updated", "amount": -12.50, "ratio": 0.125, "zero": 0, "none": null,
            "data": {"object": {"email": "ada@example.com", "name": "Ada \"Lovelace\"\n\\ caf\u{e9} \u{1F600}",
                "tags": ["a", "b", [], {}], "nested": [[[{"k": true}]]]}},
        });
        let pretty = serde_json::to_string_pretty(&event).unwrap();
        for text in [
            serde_json::to_string(&event).unwrap(),
            pretty.replace("  ", "\t"),
            r#" {"type": null, "id": 7, "id": "evt_last"} "#.to_owned(),
            r#"{"id": "x\u00e9\ud83d\ude00", "escaped": "\"\\\/\b\f\n\r\t\u0000"}"#.replace(r#""id""#, r#""k""#),
            "[1, \"two\", 3.5, -0, true, false, null]".to_owned(),
            "\"just a string\"".to_owned(),
            "{}".to_owned(),
            format!("{}0{}", "[".repeat(100), "]".repeat(100)),
        ] {
            let (serde, fast) = both(&text);
            assert!(serde.is_ok(), "{text}");
            assert!(fast.is_some(), "the scan left a common document to serde_json: {text}");
        }
        let (_, fast) = both(r#"{"id": "evt_1", "type": {"a": 1}, "x": "y"}"#);
        let fast = fast.unwrap();
        assert!(fast.is_object);
        assert_eq!(fast.values, [Field::Str(Cow::Borrowed("evt_1")), Field::Other]);
    }

    #[test]
    fn json_scan_finds_a_string_end_at_every_offset_of_a_long_string() {
        // Each special byte at each position of a 40-byte string: the 16- and 8-byte steps and
        // the byte-by-byte tail must each stop at it.
        for at in 0..40 {
            for (special, well_formed_after) in [("\\\"", true), ("\\n", true), ("\u{1}", false), ("\u{1f}", false)] {
                let mut content = "a\u{e9}bcdefghijklmnopqrstuvwxyz0123456789"
                    .chars()
                    .take(38)
                    .collect::<String>();
                let byte = content.char_indices().nth(at).map_or(content.len(), |(i, _)| i);
                content.insert_str(byte, special);
                let text = format!("[\"{content}\"]");
                let (serde, fast) = both(&text);
                assert_eq!(fast.is_some(), well_formed_after && serde.is_ok(), "{text:?}");
            }
        }
    }

    #[test]
    fn json_scan_leaves_what_it_is_unsure_of_to_serde_json() {
        // Well-formed, but read by serde_json: exponents, long integers, escaped top-level
        // keys and fields, nesting deeper than the scan goes.
        for text in [
            "[1e5]".to_owned(),
            "[1E400]".to_owned(),
            "[12345678901234567890123]".to_owned(),
            r#"{"\u0069d": "evt_1"}"#.to_owned(),
            r#"{"id": "evt\n1"}"#.to_owned(),
            format!("{}0{}", "[".repeat(101), "]".repeat(101)),
        ] {
            let (_, fast) = both(&text);
            assert!(fast.is_none(), "{text}");
        }
        // Refused by serde_json, so never accepted by the scan.
        for text in [
            "",
            " ",
            "{",
            "{\"id\": 1,}",
            "[1,]",
            "[1 2]",
            "{\"id\" 1}",
            "{id: 1}",
            "[01]",
            "[-]",
            "[1.]",
            "[.5]",
            "[+1]",
            "[tru]",
            "[nul]",
            "[truex]",
            "{} {}",
            "{}x",
            "[\"a\u{1}b\"]",
            "[\"tab\tin a string\"]",
            r#"["\x"]"#,
            r#"["\u12"]"#,
            r#"["\udc00"]"#,
            r#"["\ud800"]"#,
            r#"["\ud800\u0041"]"#,
            r#"["\ud800\n"]"#,
            "[\"unterminated",
            "[1e999]",
            "[NaN]",
            "[Infinity]",
            "\u{feff}{}",
        ] {
            let (serde, fast) = both(text);
            assert!(serde.is_err(), "serde_json accepts {text:?}");
            assert!(fast.is_none(), "the scan accepts {text:?}");
        }
        assert!(!well_formed("[1,]") && well_formed(" [1, {\"a\": [null]}] "));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Short texts over JSON's own characters: every answer the scan gives is serde_json's.
        #[test]
        fn json_scan_never_answers_otherwise_than_serde_json(
            text in r#"[ \t\r\n\[\]{}":,0-9.eE+\-tfnrulsaidype\\/\x01\u{e9}]{0,32}"#
        ) {
            let _ = both(&text);
        }

        /// Any document serde_json writes: the scan reads it or leaves it, never differs.
        #[test]
        fn json_scan_agrees_on_documents_serde_json_writes(
            value in json_value(),
            pretty in any::<bool>(),
        ) {
            let text = if pretty {
                serde_json::to_string_pretty(&value).unwrap()
            } else {
                serde_json::to_string(&value).unwrap()
            };
            let (serde, _) = both(&text);
            prop_assert!(serde.is_ok());
        }
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<u64>().prop_map(serde_json::Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(serde_json::Value::from),
            any::<String>().prop_map(serde_json::Value::from),
            prop_oneof![Just("id"), Just("type"), Just("x")].prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                prop::collection::vec(
                    (
                        prop_oneof![Just("id".to_owned()), Just("type".to_owned()), any::<String>()],
                        inner
                    ),
                    0..6
                )
                .prop_map(|entries| serde_json::Value::Object(entries.into_iter().collect())),
            ]
        })
    }
}
