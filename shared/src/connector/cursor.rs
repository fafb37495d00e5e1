//! Cursor values of incremental streams: reading them from records, ordering them, and the
//! lower bound (`since`) of the next run with its lookback window.
//!
//! Cursors are stored as text (in the flow's checkpoint) in the stream's own format, so a
//! checkpoint is readable and survives definition changes that keep the format.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::definition::CursorKind;

/// A cursor value that cannot be read in the stream's format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cursor value is not {expected}")]
pub struct CursorError {
    pub expected: &'static str,
}

/// A parsed cursor, comparable within one kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Parsed {
    /// Nanoseconds since the epoch (time kinds).
    Nanos(i128),
    Text(String),
}

fn expected(kind: CursorKind) -> &'static str {
    match kind {
        CursorKind::UnixSeconds => "unix seconds",
        CursorKind::UnixMillis => "unix milliseconds",
        CursorKind::Rfc3339 => "an RFC 3339 date-time",
        CursorKind::Iso8601 => "an ISO 8601 date-time with an offset (`Z`, `+hh:mm` or `+hhmm`)",
        CursorKind::JsonDate => "a JSON date like /Date(1700000000000)/",
        CursorKind::UtcDatetime => "a UTC date-time `YYYY-MM-DD HH:MM:SS` (or with a `T`, and a fraction of a second)",
        CursorKind::UsDatetime => "a UTC date-time `MM/DD/YYYY HH:MM:SS`",
        CursorKind::String => "a string",
        CursorKind::DeltaLink => "an absolute http(s) URL (a delta link)",
    }
}

/// Reads `/Date(<millis>)/`, optionally with an offset (`/Date(1700000000000+0060)/`), the
/// millis being UTC either way (the offset only says where the value was written).
fn json_date_millis(text: &str) -> Option<i64> {
    let inner = text.trim().strip_prefix("/Date(")?.strip_suffix(")/")?;
    // The sign of the millis may be `-` (before 1970); an offset follows the digits.
    let digits_end = inner
        .char_indices()
        .skip(1)
        .find(|(_, c)| *c == '+' || *c == '-')
        .map_or(inner.len(), |(i, _)| i);
    let (millis, offset) = inner.split_at(digits_end);
    let offset_ok = offset.is_empty() || (offset.len() == 5 && offset[1..].bytes().all(|b| b.is_ascii_digit()));
    if !offset_ok {
        return None;
    }
    millis.parse().ok()
}

fn parse(kind: CursorKind, text: &str) -> Result<Parsed, CursorError> {
    let err = || CursorError {
        expected: expected(kind),
    };
    let number = |scale: i128| -> Result<Parsed, CursorError> {
        let t = text.trim();
        if let Ok(i) = t.parse::<i64>() {
            return Ok(Parsed::Nanos(i128::from(i) * scale));
        }
        let f = t.parse::<f64>().map_err(|_| err())?;
        if !f.is_finite() {
            return Err(err());
        }
        Ok(Parsed::Nanos((f * scale as f64) as i128))
    };
    match kind {
        CursorKind::UnixSeconds => number(1_000_000_000),
        CursorKind::UnixMillis => number(1_000_000),
        CursorKind::Rfc3339 => match rfc3339_utc_nanos(text.trim()) {
            Some(nanos) => Ok(Parsed::Nanos(nanos)),
            None => OffsetDateTime::parse(text.trim(), &Rfc3339)
                .map(|t| Parsed::Nanos(t.unix_timestamp_nanos()))
                .map_err(|_| err()),
        },
        CursorKind::Iso8601 => OffsetDateTime::parse(&iso8601_as_rfc3339(text.trim()), &Rfc3339)
            .map(|t| Parsed::Nanos(t.unix_timestamp_nanos()))
            .map_err(|_| err()),
        CursorKind::JsonDate => json_date_millis(text)
            .map(|ms| Parsed::Nanos(i128::from(ms) * 1_000_000))
            .ok_or_else(err),
        CursorKind::UtcDatetime => PrimitiveDateTime::parse(text.trim(), UTC_DATETIME)
            .or_else(|_| PrimitiveDateTime::parse(text.trim(), UTC_DATETIME_T))
            .map(|t| Parsed::Nanos(t.assume_utc().unix_timestamp_nanos()))
            .map_err(|_| err()),
        CursorKind::UsDatetime => PrimitiveDateTime::parse(text.trim(), US_DATETIME)
            .map(|t| Parsed::Nanos(t.assume_utc().unix_timestamp_nanos()))
            .map_err(|_| err()),
        CursorKind::String => Ok(Parsed::Text(text.to_owned())),
        CursorKind::DeltaLink => match reqwest::Url::parse(text.trim()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Ok(Parsed::Text(text.to_owned())),
            _ => Err(err()),
        },
    }
}

/// The nanoseconds since the epoch of an RFC 3339 date-time in its most common spelling,
/// `YYYY-MM-DDTHH:MM:SS[.fraction of 1 to 9 digits]Z`, read without the general parser: the
/// cursor of every record of a page is read, and most APIs write this form. `None` for any
/// other spelling (another offset, a lowercase `z`, a leap second, a longer fraction, an
/// invalid date), which the general parser then reads or refuses as before.
fn rfc3339_utc_nanos(text: &str) -> Option<i128> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range]
            .iter()
            .try_fold(0u32, |n, &c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
    };
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let (fraction, zone) = match b[19] {
        b'.' => {
            let count = b[20..].iter().take_while(|c| c.is_ascii_digit()).count();
            if !(1..=9).contains(&count) {
                return None;
            }
            let value = digits(20..20 + count)? * 10u32.pow(9 - count as u32);
            (value, 20 + count)
        }
        _ => (0, 19),
    };
    if b.len() != zone + 1 || b[zone] != b'Z' || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = time::Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()?;
    // 2,440,588: the Julian day of 1970-01-01.
    let days = i128::from(date.to_julian_day() - 2_440_588);
    let secs = days * 86_400 + i128::from(hour * 3600 + minute * 60 + second);
    Some(secs * 1_000_000_000 + i128::from(fraction))
}

/// An ISO 8601 date-time with a `+hhmm` / `-hhmm` offset rewritten as RFC 3339's `+hh:mm`;
/// other text unchanged.
fn iso8601_as_rfc3339(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let n = bytes.len();
    if n > 5
        && text.contains('T')
        && matches!(bytes[n - 5], b'+' | b'-')
        && bytes[n - 4..].iter().all(u8::is_ascii_digit)
    {
        Cow::Owned(format!("{}:{}", &text[..n - 2], &text[n - 2..]))
    } else {
        Cow::Borrowed(text)
    }
}

/// `YYYY-MM-DD HH:MM:SS`, the [`CursorKind::UtcDatetime`] layout.
const UTC_DATETIME: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");

/// `YYYY-MM-DDTHH:MM:SS`, the ISO 8601 spelling [`CursorKind::UtcDatetime`] also reads
/// (WooCommerce's `date_modified_gmt`), optionally with a fraction of a second (MYOB's
/// `LastModified`: `2024-05-02T11:17:33.827`).
const UTC_DATETIME_T: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]");

/// `MM/DD/YYYY HH:MM:SS`, the [`CursorKind::UsDatetime`] layout.
const US_DATETIME: &[BorrowedFormatItem<'static>] =
    format_description!("[month]/[day]/[year] [hour]:[minute]:[second]");

/// A unix time in nanoseconds as `MM/DD/YYYY HH:MM:SS` (UTC, whole seconds).
fn us_datetime(nanos: i128) -> Option<String> {
    let secs = i64::try_from(nanos.div_euclid(1_000_000_000)).ok()?;
    OffsetDateTime::from_unix_timestamp(secs).ok()?.format(US_DATETIME).ok()
}

/// A unix time in nanoseconds as `YYYY-MM-DD HH:MM:SS` (UTC, whole seconds).
fn utc_datetime(nanos: i128) -> Option<String> {
    let secs = i64::try_from(nanos.div_euclid(1_000_000_000)).ok()?;
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()?
        .format(UTC_DATETIME)
        .ok()
}

/// The cursor text of a record's cursor field value (a number or a string); `None` for
/// null, absent or unreadable values.
pub fn from_value(kind: CursorKind, value: &Value) -> Option<String> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    parse(kind, &text).ok().map(|_| text)
}

/// The cursor of a record's field value, parsed once: for a number, straight from the number
/// when the kind is numeric (the same value [`parse`] reads from its text).
fn parse_value(kind: CursorKind, value: &Value) -> Option<Parsed> {
    match (kind, value) {
        (CursorKind::UnixSeconds | CursorKind::UnixMillis, Value::Number(n)) => {
            let scale: i128 = if kind == CursorKind::UnixSeconds {
                1_000_000_000
            } else {
                1_000_000
            };
            if let Some(i) = n.as_i64() {
                return Some(Parsed::Nanos(i128::from(i) * scale));
            }
            let f = n.as_f64().filter(|f| f.is_finite())?;
            Some(Parsed::Nanos((f * scale as f64) as i128))
        }
        (_, Value::String(s)) => parse(kind, s).ok(),
        (_, Value::Number(n)) => parse(kind, &n.to_string()).ok(),
        _ => None,
    }
}

/// A JSON pointer (RFC 6901) split and unescaped once, to look the same field up in every
/// record of a page: [`Value::pointer`] splits and unescapes it again for each record, with
/// two new strings a token. Finds what [`Value::pointer`] finds.
pub struct FieldPointer {
    /// `None`: the text is not a pointer (it does not start with `/`), so it finds nothing.
    tokens: Option<Vec<String>>,
}

impl FieldPointer {
    pub fn new(pointer: &str) -> Self {
        let tokens = if pointer.is_empty() {
            Some(Vec::new())
        } else if pointer.starts_with('/') {
            Some(
                pointer
                    .split('/')
                    .skip(1)
                    .map(|t| t.replace("~1", "/").replace("~0", "~"))
                    .collect(),
            )
        } else {
            None
        };
        Self { tokens }
    }

    /// The value the pointer finds in `doc`, as `doc.pointer(..)` finds it.
    pub fn find<'a>(&self, doc: &'a Value) -> Option<&'a Value> {
        let mut target = doc;
        for token in self.tokens.as_ref()? {
            target = match target {
                Value::Object(map) => map.get(token)?,
                Value::Array(list) => list.get(array_index(token)?)?,
                _ => return None,
            };
        }
        Some(target)
    }
}

/// An array index token as [`Value::pointer`] reads it: digits, no sign, no leading zero.
fn array_index(token: &str) -> Option<usize> {
    if token.starts_with('+') || (token.starts_with('0') && token.len() != 1) {
        return None;
    }
    token.parse().ok()
}

/// The highest cursor of a page, each value parsed once: offer each record's field value in
/// turn, then take the text. The same result as folding [`from_value`] through [`max`].
pub struct MaxCursor<'a> {
    kind: CursorKind,
    /// The current maximum and its parsed value (`None`: unreadable, so any candidate wins).
    best: Option<(Best<'a>, Option<Parsed>)>,
}

enum Best<'a> {
    /// The maximum the page started from.
    Start(String),
    /// A record's field value.
    Value(&'a Value),
}

impl<'a> MaxCursor<'a> {
    /// Starts from the maximum so far (a checkpoint's, or `None`).
    pub fn new(kind: CursorKind, start: Option<String>) -> Self {
        let best = start.map(|text| {
            let parsed = parse(kind, &text).ok();
            (Best::Start(text), parsed)
        });
        Self { kind, best }
    }

    /// Offers a record's cursor field value; null, absent and unreadable values are ignored.
    pub fn offer(&mut self, value: Option<&'a Value>) {
        let Some(parsed) = value.and_then(|v| parse_value(self.kind, v)) else {
            return;
        };
        let replaces = match &self.best {
            None | Some((_, None)) => true,
            Some((_, Some(current))) => *current < parsed,
        };
        if replaces {
            self.best = Some((Best::Value(value.expect("parsed from a value")), Some(parsed)));
        }
    }

    /// The maximum's text, as [`from_value`] writes a record's value.
    pub fn into_text(self) -> Option<String> {
        self.best.map(|(best, _)| match best {
            Best::Start(text) => text,
            Best::Value(Value::String(s)) => s.clone(),
            Best::Value(Value::Number(n)) => n.to_string(),
            Best::Value(other) => other.to_string(),
        })
    }
}

/// Orders two cursor texts of one kind; unreadable values sort first.
pub fn compare(kind: CursorKind, a: &str, b: &str) -> Ordering {
    match (parse(kind, a), parse(kind, b)) {
        (Ok(a), Ok(b)) => a.cmp(&b),
        (Err(_), Ok(_)) => Ordering::Less,
        (Ok(_), Err(_)) => Ordering::Greater,
        (Err(_), Err(_)) => a.cmp(b),
    }
}

/// The larger of an optional current maximum and a candidate. A delta link is not ordered:
/// the candidate, the newer link, replaces the current one.
pub fn max(kind: CursorKind, current: Option<String>, candidate: &str) -> Option<String> {
    if kind == CursorKind::DeltaLink {
        return Some(candidate.to_owned());
    }
    match current {
        Some(c) if compare(kind, &c, candidate) != Ordering::Less => Some(c),
        _ => Some(candidate.to_owned()),
    }
}

/// Checks a cursor text (a checkpoint read back, a user-supplied start).
pub fn validate(kind: CursorKind, text: &str) -> Result<(), CursorError> {
    parse(kind, text).map(|_| ())
}

/// A start cursor a person typed (`--since`): the stream's own format as it is, or an RFC 3339
/// date-time converted to the stream's format (unix seconds or milliseconds; string cursors
/// take the text as it is).
pub fn from_user_input(kind: CursorKind, text: &str) -> Result<String, CursorError> {
    let text = text.trim();
    if parse(kind, text).is_ok() {
        return Ok(text.to_owned());
    }
    let err = CursorError {
        expected: match kind {
            CursorKind::UnixSeconds => "unix seconds or an RFC 3339 date-time",
            CursorKind::UnixMillis => "unix milliseconds or an RFC 3339 date-time",
            CursorKind::JsonDate => "a JSON date like /Date(1700000000000)/ or an RFC 3339 date-time",
            CursorKind::UtcDatetime => "a UTC date-time `YYYY-MM-DD HH:MM:SS` or an RFC 3339 date-time",
            _ => expected(kind),
        },
    };
    let at = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| err.clone())?;
    match kind {
        CursorKind::UnixSeconds => Ok(at.unix_timestamp().to_string()),
        CursorKind::UnixMillis => Ok((at.unix_timestamp_nanos() / 1_000_000).to_string()),
        CursorKind::JsonDate => Ok(format!("/Date({})/", at.unix_timestamp_nanos() / 1_000_000)),
        CursorKind::UtcDatetime => utc_datetime(at.unix_timestamp_nanos()).ok_or(err),
        CursorKind::UsDatetime => us_datetime(at.unix_timestamp_nanos()).ok_or(err),
        CursorKind::Rfc3339 | CursorKind::Iso8601 | CursorKind::String | CursorKind::DeltaLink => Err(err),
    }
}

/// Unix seconds of a time cursor; `None` for string cursors and unreadable text.
pub fn to_unix_secs(kind: CursorKind, text: &str) -> Option<i64> {
    match parse(kind, text).ok()? {
        Parsed::Nanos(n) => i64::try_from(n.div_euclid(1_000_000_000)).ok(),
        Parsed::Text(_) => None,
    }
}

/// Nanoseconds since the epoch of a time cursor; `None` for string cursors and unreadable text.
pub fn to_unix_nanos(kind: CursorKind, text: &str) -> Option<i128> {
    match parse(kind, text).ok()? {
        Parsed::Nanos(n) => Some(n),
        Parsed::Text(_) => None,
    }
}

/// The cursor text of unix second `secs` in a time cursor's format; `None` for string cursors.
pub fn from_unix_secs(kind: CursorKind, secs: i64) -> Option<String> {
    match kind {
        CursorKind::UnixSeconds => Some(secs.to_string()),
        CursorKind::UnixMillis => Some((i128::from(secs) * 1000).to_string()),
        CursorKind::Rfc3339 | CursorKind::Iso8601 => {
            OffsetDateTime::from_unix_timestamp(secs).ok()?.format(&Rfc3339).ok()
        }
        CursorKind::JsonDate => Some(format!("/Date({})/", i128::from(secs) * 1000)),
        CursorKind::UtcDatetime => utc_datetime(i128::from(secs) * 1_000_000_000),
        CursorKind::UsDatetime => us_datetime(i128::from(secs) * 1_000_000_000),
        CursorKind::String | CursorKind::DeltaLink => None,
    }
}

/// The `since` placeholder values for a run starting at `cursor`, moved back by
/// `lookback_secs`: `since` in the stream's own format, plus `since.unix_seconds`,
/// `since.unix_millis`, `since.rfc3339`, `since.utc_datetime` (`2024-06-01T08:30:00`, UTC
/// without an offset: OData v2 `datetime'...'` literals) and `since.utc_date` (`2024-06-01`)
/// for time kinds.
pub fn since_values(
    kind: CursorKind,
    cursor: &str,
    lookback_secs: u64,
) -> Result<Vec<(&'static str, Value)>, CursorError> {
    let parsed = parse(kind, cursor)?;
    let Parsed::Nanos(nanos) = parsed else {
        return Ok(vec![("since", Value::String(cursor.to_owned()))]);
    };
    let nanos = nanos - i128::from(lookback_secs) * 1_000_000_000;
    let secs = nanos.div_euclid(1_000_000_000) as i64;
    let millis = nanos.div_euclid(1_000_000) as i64;
    let rfc3339 = OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .ok_or(CursorError {
            expected: expected(kind),
        })?;
    let native = match kind {
        CursorKind::UnixSeconds => json!(secs),
        CursorKind::UnixMillis => json!(millis),
        CursorKind::JsonDate => Value::String(format!("/Date({millis})/")),
        CursorKind::UtcDatetime => Value::String(utc_datetime(nanos).ok_or(CursorError {
            expected: expected(kind),
        })?),
        CursorKind::UsDatetime => Value::String(us_datetime(nanos).ok_or(CursorError {
            expected: expected(kind),
        })?),
        _ => Value::String(rfc3339.clone()),
    };
    let utc = OffsetDateTime::from_unix_timestamp(secs).map_err(|_| CursorError {
        expected: expected(kind),
    })?;
    let utc_date = format!("{:04}-{:02}-{:02}", utc.year(), u8::from(utc.month()), utc.day());
    let utc_date_time = format!("{utc_date}T{:02}:{:02}:{:02}", utc.hour(), utc.minute(), utc.second());
    Ok(vec![
        ("since", native),
        ("since.unix_seconds", json!(secs)),
        ("since.unix_millis", json!(millis)),
        ("since.rfc3339", Value::String(rfc3339)),
        ("since.utc_datetime", Value::String(utc_date_time)),
        ("since.utc_date", Value::String(utc_date)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_rfc3339_spelling_is_read_without_the_general_parser_and_agrees_with_it() {
        // The fast path takes the spelling most APIs write...
        assert_eq!(
            rfc3339_utc_nanos("2024-01-01T00:16:40.000Z"),
            Some(1_704_068_200_000_000_000)
        );
        assert_eq!(rfc3339_utc_nanos("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339_utc_nanos("1969-12-31T23:59:59.999999999Z"), Some(-1));
        // ...and leaves every other one to the general parser.
        for other in [
            "2024-01-01T00:00:00+00:00",
            "2024-01-01T00:00:00z",
            "2024-01-01 00:00:00Z",
            "2016-12-31T23:59:60Z",
            "2024-01-01T00:00:00.1234567891Z",
            "2024-01-01T00:00:00.Z",
            "2023-02-29T00:00:00Z",
            "2024-01-01T00:00:00Z ",
        ] {
            assert_eq!(rfc3339_utc_nanos(other), None, "{other}");
        }
        // Whatever path reads a value, the result is the general parser's, valid or not.
        let general = |text: &str| {
            OffsetDateTime::parse(text, &Rfc3339)
                .map(|t| Parsed::Nanos(t.unix_timestamp_nanos()))
                .ok()
        };
        let mut fast = 0;
        for year in ["0000", "1969", "1970", "2000", "2023", "2024", "2100", "9999"] {
            for month in ["00", "01", "02", "04", "12", "13"] {
                for day in ["00", "01", "28", "29", "30", "31", "32"] {
                    for time in ["00:00:00", "23:59:59", "24:00:00", "12:60:00", "12:00:60", "1a:00:00"] {
                        for fraction in ["", ".5", ".123", ".123456789", ".1234567891", "."] {
                            for zone in ["Z", "z", "+01:30", "-00:00", ""] {
                                let text = format!("{year}-{month}-{day}T{time}{fraction}{zone}");
                                fast += usize::from(rfc3339_utc_nanos(&text).is_some());
                                assert_eq!(parse(CursorKind::Rfc3339, &text).ok(), general(&text), "{text}");
                            }
                        }
                    }
                }
            }
        }
        assert!(fast > 1000, "the fast path read {fast} of the values");
    }

    #[test]
    fn a_field_pointer_finds_what_value_pointer_finds() {
        let doc = json!({
            "updated_at": "2024-01-01T00:00:00Z",
            "a/b": {"m~n": 1, "": 2},
            "list": [{"at": 3}, 4],
            "": {"x": 5},
            "0": "zero"
        });
        let pointers = [
            "",
            "/",
            "/updated_at",
            "/missing",
            "/a~1b",
            "/a~1b/m~0n",
            "/a~1b/",
            "/list/0/at",
            "/list/1",
            "/list/2",
            "/list/01",
            "/list/+1",
            "/list/-1",
            "//x",
            "/0",
            "updated_at",
            "/updated_at/0",
            "/a~01b",
        ];
        for pointer in pointers {
            assert_eq!(
                FieldPointer::new(pointer).find(&doc),
                doc.pointer(pointer),
                "{pointer:?}"
            );
        }
        assert_eq!(FieldPointer::new("/list/0/at").find(&doc), Some(&json!(3)));
    }

    #[test]
    fn a_delta_link_is_an_absolute_url_and_the_newer_link_replaces_the_older() {
        let kind = CursorKind::DeltaLink;
        let old = "https://graph.example.com/v1.0/users/u/messages/delta?$deltatoken=zzz";
        let new = "https://graph.example.com/v1.0/users/u/messages/delta?$deltatoken=aaa";
        assert!(validate(kind, old).is_ok());
        for bad in [
            "not a url",
            "/v1.0/relative/delta",
            "file:///etc/passwd",
            "mailto:a@b.c",
            "",
        ] {
            assert!(validate(kind, bad).is_err(), "{bad}");
        }
        // Not ordered: byte-wise `aaa` sorts first, yet the newer link wins, either way round.
        assert_eq!(max(kind, Some(old.into()), new).as_deref(), Some(new));
        assert_eq!(max(kind, Some(new.into()), old).as_deref(), Some(old));
        assert_eq!(max(kind, None, new).as_deref(), Some(new));
        // The link is `since` as it is; no time values, no unix conversion.
        assert_eq!(
            since_values(kind, old, 0).unwrap(),
            vec![("since", Value::String(old.into()))]
        );
        assert_eq!(to_unix_secs(kind, old), None);
        assert_eq!(from_unix_secs(kind, 0), None);
        assert_eq!(from_user_input(kind, old).as_deref(), Ok(old));
        assert!(from_user_input(kind, "2024-01-01T00:00:00Z").is_err());
    }

    #[test]
    fn the_page_maximum_parses_each_value_once_and_agrees_with_max() {
        let cases: Vec<(CursorKind, Option<&str>, Vec<Value>)> = vec![
            (
                CursorKind::Rfc3339,
                Some("2024-01-01T00:00:05Z"),
                vec![
                    json!("2024-01-01T00:00:03Z"),
                    json!("2024-01-01T01:00:06+01:00"), // the same instant as the next: the first stays
                    json!("2024-01-01T00:00:06Z"),
                    json!("not a time"),
                    Value::Null,
                    json!(7),
                ],
            ),
            (
                CursorKind::Rfc3339,
                Some("garbage"),
                vec![json!("2024-01-01T00:00:03Z")],
            ),
            (CursorKind::Rfc3339, None, vec![]),
            (
                CursorKind::Rfc3339,
                Some("2024-01-01T00:00:05Z"),
                vec![json!("2023-01-01T00:00:00Z")],
            ),
            (
                CursorKind::UnixSeconds,
                Some("100"),
                vec![
                    json!(99),
                    json!(150.5),
                    json!("151"),
                    json!(u64::MAX),
                    json!(1e300),
                    json!("1e3"),
                ],
            ),
            (
                CursorKind::UnixMillis,
                None,
                vec![json!(-5), json!(-4.5), json!("x"), json!(-4.5)],
            ),
            (
                CursorKind::String,
                Some("b"),
                vec![json!("a"), json!("c"), json!(12), json!(true)],
            ),
            (
                CursorKind::JsonDate,
                None,
                vec![json!("/Date(1000)/"), json!("/Date(999+0100)/")],
            ),
        ];
        for (kind, start, values) in cases {
            let expected = values
                .iter()
                .fold(start.map(str::to_owned), |current, v| match from_value(kind, v) {
                    Some(text) => max(kind, current, &text),
                    None => current,
                });
            let mut page = MaxCursor::new(kind, start.map(str::to_owned));
            for v in &values {
                page.offer(Some(v));
            }
            page.offer(None);
            assert_eq!(page.into_text(), expected, "{kind:?} from {start:?} over {values:?}");
        }
    }

    #[test]
    fn iso8601_cursors_read_offsets_with_or_without_a_colon_and_order_by_time() {
        let kind = CursorKind::Iso8601;
        let salesforce = "2024-05-02T11:17:33.000+0000";
        assert_eq!(from_value(kind, &json!(salesforce)).as_deref(), Some(salesforce));
        assert!(from_value(kind, &json!("2024-05-02T11:17:33Z")).is_some());
        assert!(from_value(kind, &json!("2024-05-02T13:17:33.000+02:00")).is_some());
        for bad in [
            "2024-05-02",
            "2024-05-02T11:17:33.000+00",
            "yesterday",
            "2024-05-02T11:17:33.000+0X00",
        ] {
            assert!(from_value(kind, &json!(bad)).is_none(), "{bad}");
        }
        // The same instant written in two zones compares equal; a later one greater.
        assert_eq!(
            compare(kind, salesforce, "2024-05-02T13:17:33.000+0200"),
            Ordering::Equal
        );
        assert_eq!(
            compare(kind, salesforce, "2024-05-02T11:17:34.000+0000"),
            Ordering::Less
        );
        let since = since_values(kind, salesforce, 60).unwrap();
        assert_eq!(since[0], ("since", json!("2024-05-02T11:16:33Z")));
        assert!(since.contains(&("since.utc_datetime", json!("2024-05-02T11:16:33"))));
    }

    #[test]
    fn json_dates_read_with_or_without_an_offset_and_order_by_time() {
        let kind = CursorKind::JsonDate;
        assert_eq!(
            from_value(kind, &json!("/Date(1700000000000)/")).as_deref(),
            Some("/Date(1700000000000)/")
        );
        assert!(from_value(kind, &json!("/Date(1700000000000+0060)/")).is_some());
        assert!(from_value(kind, &json!("/Date(-86400000)/")).is_some());
        for bad in ["/Date()/", "Date(1)", "/Date(12x)/", "/Date(1+60)/", "1700000000000"] {
            assert_eq!(from_value(kind, &json!(bad)), None, "{bad}");
        }
        assert_eq!(compare(kind, "/Date(999)/", "/Date(1000+0100)/"), Ordering::Less);
        assert_eq!(to_unix_secs(kind, "/Date(1700000000000)/"), Some(1_700_000_000));
        assert_eq!(
            from_user_input(kind, "2023-11-14T22:13:20Z").unwrap(),
            "/Date(1700000000000)/"
        );
        let values = since_values(kind, "/Date(1700006400000)/", 3600).unwrap();
        let get = |k: &str| values.iter().find(|(n, _)| *n == k).unwrap().1.clone();
        assert_eq!(get("since"), json!("/Date(1700002800000)/"));
        assert_eq!(get("since.utc_datetime"), json!("2023-11-14T23:00:00"));
        assert_eq!(get("since.utc_date"), json!("2023-11-14"));
    }

    #[test]
    fn time_cursors_convert_to_and_from_unix_seconds() {
        for kind in [
            CursorKind::UnixSeconds,
            CursorKind::UnixMillis,
            CursorKind::Rfc3339,
            CursorKind::JsonDate,
            CursorKind::UtcDatetime,
        ] {
            let text = from_unix_secs(kind, 1_764_000_000).unwrap();
            assert_eq!(to_unix_secs(kind, &text), Some(1_764_000_000), "{kind:?} {text}");
        }
        assert_eq!(from_unix_secs(CursorKind::String, 5), None);
        assert_eq!(to_unix_secs(CursorKind::String, "abc"), None);
    }

    #[test]
    fn reads_numbers_and_strings_in_the_stream_format() {
        assert_eq!(
            from_value(CursorKind::UnixSeconds, &json!(1700000000)).as_deref(),
            Some("1700000000")
        );
        assert_eq!(
            from_value(CursorKind::UnixMillis, &json!("1700000000123")).as_deref(),
            Some("1700000000123")
        );
        assert_eq!(
            from_value(CursorKind::Rfc3339, &json!("2024-01-02T03:04:05.678Z")).as_deref(),
            Some("2024-01-02T03:04:05.678Z")
        );
        assert_eq!(from_value(CursorKind::Rfc3339, &json!("yesterday")), None);
        assert_eq!(from_value(CursorKind::UnixSeconds, &Value::Null), None);
    }

    #[test]
    fn compares_by_time_not_by_text() {
        assert_eq!(compare(CursorKind::UnixSeconds, "999", "1000"), Ordering::Less);
        assert_eq!(
            compare(CursorKind::Rfc3339, "2024-01-02T00:00:00+01:00", "2024-01-01T23:30:00Z"),
            Ordering::Less
        );
        assert_eq!(
            max(CursorKind::UnixSeconds, Some("1000".into()), "999").as_deref(),
            Some("1000")
        );
        assert_eq!(max(CursorKind::UnixSeconds, None, "5").as_deref(), Some("5"));
    }

    #[test]
    fn user_input_takes_the_stream_format_or_rfc3339() {
        assert_eq!(
            from_user_input(CursorKind::UnixSeconds, "1700000000").unwrap(),
            "1700000000"
        );
        assert_eq!(
            from_user_input(CursorKind::UnixSeconds, "2023-11-14T22:13:20Z").unwrap(),
            "1700000000"
        );
        assert_eq!(
            from_user_input(CursorKind::UnixMillis, "2023-11-14T22:13:20.5Z").unwrap(),
            "1700000000500"
        );
        assert_eq!(
            from_user_input(CursorKind::Rfc3339, "2024-01-01T00:00:00Z").unwrap(),
            "2024-01-01T00:00:00Z"
        );
        assert!(from_user_input(CursorKind::Rfc3339, "1700000000").is_err());
        let e = from_user_input(CursorKind::UnixSeconds, "yesterday").unwrap_err();
        assert!(e.to_string().contains("RFC 3339"), "{e}");
    }

    #[test]
    fn since_applies_the_lookback_and_offers_every_format() {
        let values = since_values(CursorKind::UnixSeconds, "1700000300", 300).unwrap();
        let get = |k: &str| values.iter().find(|(n, _)| *n == k).unwrap().1.clone();
        assert_eq!(get("since"), json!(1700000000));
        assert_eq!(get("since.unix_millis"), json!(1700000000000i64));
        assert_eq!(get("since.rfc3339"), json!("2023-11-14T22:13:20Z"));
        let values = since_values(CursorKind::Rfc3339, "2024-01-01T00:01:00Z", 60).unwrap();
        assert_eq!(values[0].1, json!("2024-01-01T00:00:00Z"));
        let values = since_values(CursorKind::String, "abc", 0).unwrap();
        assert_eq!(values, vec![("since", json!("abc"))]);
        assert!(since_values(CursorKind::UnixSeconds, "nope", 0).is_err());
    }

    #[test]
    fn utc_datetimes_also_read_with_a_t_and_compare_by_time_with_either_spelling() {
        let kind = CursorKind::UtcDatetime;
        assert_eq!(
            from_value(kind, &json!("2024-01-01T00:01:00")).as_deref(),
            Some("2024-01-01T00:01:00")
        );
        assert_eq!(
            compare(kind, "2024-01-01T00:01:00", "2024-01-01 00:01:00"),
            Ordering::Equal
        );
        assert_eq!(
            compare(kind, "2024-01-01T00:01:01", "2024-01-01 00:01:00"),
            Ordering::Greater
        );
        let values = since_values(kind, "2024-01-01T00:01:00", 90).unwrap();
        let get = |name: &str| values.iter().find(|(n, _)| *n == name).unwrap().1.clone();
        assert_eq!(get("since.utc_datetime"), json!("2023-12-31T23:59:30"));
        // A fraction of a second is read and counts in comparisons.
        assert_eq!(
            from_value(kind, &json!("2024-01-01T00:01:00.827")).as_deref(),
            Some("2024-01-01T00:01:00.827")
        );
        assert_eq!(
            compare(kind, "2024-01-01T00:01:00.827", "2024-01-01T00:01:00"),
            Ordering::Greater
        );
        assert_eq!(
            compare(kind, "2024-01-01T00:01:00.5", "2024-01-01T00:01:00.50"),
            Ordering::Equal
        );
        // An offset or a date alone is still not this kind.
        assert_eq!(from_value(kind, &json!("2024-01-01T00:01:00Z")), None);
        assert_eq!(from_value(kind, &json!("2024-01-01")), None);
    }

    #[test]
    fn us_datetimes_read_compare_and_step_back_as_utc() {
        let kind = CursorKind::UsDatetime;
        assert_eq!(
            compare(kind, "12/31/2023 23:59:59", "01/01/2024 00:00:00"),
            Ordering::Less
        );
        assert!(validate(kind, "2024-01-01 00:00:00").is_err());
        let values = since_values(kind, "01/01/2024 00:00:30", 60).unwrap();
        assert_eq!(values[0], ("since", json!("12/31/2023 23:59:30")));
        assert_eq!(
            from_user_input(kind, "2024-06-01T08:30:00Z").unwrap(),
            "06/01/2024 08:30:00"
        );
    }

    #[test]
    fn utc_datetimes_read_compare_and_step_back_as_utc() {
        let kind = CursorKind::UtcDatetime;
        assert_eq!(
            from_value(kind, &json!("2019-05-29 04:21:51")).as_deref(),
            Some("2019-05-29 04:21:51")
        );
        assert_eq!(from_value(kind, &json!("2019-05-29T04:21:51Z")), None);
        assert_eq!(from_value(kind, &json!("2019-05-29")), None);
        assert_eq!(
            compare(kind, "2019-05-29 04:21:51", "2019-05-29 10:00:00"),
            Ordering::Less
        );
        assert_eq!(to_unix_secs(kind, "1970-01-01 00:01:00"), Some(60));
        let values = since_values(kind, "2024-01-01 00:01:00", 90).unwrap();
        let get = |k: &str| values.iter().find(|(n, _)| *n == k).unwrap().1.clone();
        assert_eq!(get("since"), json!("2023-12-31 23:59:30"));
        assert_eq!(get("since.rfc3339"), json!("2023-12-31T23:59:30Z"));
        assert_eq!(
            from_user_input(kind, "2024-01-01T02:00:00+02:00").unwrap(),
            "2024-01-01 00:00:00"
        );
        let e = from_user_input(kind, "yesterday").unwrap_err();
        assert!(e.to_string().contains("YYYY-MM-DD HH:MM:SS"), "{e}");
    }
}
