//! Where a files stream is: an object's position (last-modified, then key), the cursor made
//! from it, and the page token that resumes inside an object. Pure code.
//!
//! The cursor is `<last-modified>|<key>`, the time always `YYYY-MM-DDTHH:MM:SS.mmmZ` (fixed
//! width), so comparing cursors byte-wise orders objects by time, then key: objects sharing a
//! last-modified time (S3 keeps it to the second, or the millisecond) are told apart by key,
//! so none is skipped or read twice. A new object arriving later with the same time as the
//! cursor but a key sorting before the cursor's would be missed: the reader therefore takes
//! only objects whose second is over (see `settle_secs`).

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// An object in a listing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    pub last_modified: String,
    pub key: String,
}

impl Position {
    /// From unix seconds and nanoseconds (the SDK's `DateTime`).
    pub fn new(secs: i64, nanos: u32, key: impl Into<String>) -> Option<Self> {
        Some(Self {
            last_modified: format_millis(secs, nanos)?,
            key: key.into(),
        })
    }

    /// The cursor text.
    pub fn cursor(&self) -> String {
        format!("{}|{}", self.last_modified, self.key)
    }

    /// Reads a cursor text back; the time may be any RFC 3339 date-time (a person's `--since`),
    /// the key may be absent (every object of that time or later).
    pub fn parse(text: &str) -> Option<Self> {
        let (time, key) = match text.split_once('|') {
            Some((t, k)) => (t, k),
            None => (text, ""),
        };
        let at = OffsetDateTime::parse(time, &Rfc3339).ok()?;
        let nanos = at.unix_timestamp_nanos();
        let secs = i64::try_from(nanos.div_euclid(1_000_000_000)).ok()?;
        let sub = u32::try_from(nanos.rem_euclid(1_000_000_000)).ok()?;
        Self::new(secs, sub, key)
    }
}

fn format_millis(secs: i64, nanos: u32) -> Option<String> {
    let at = OffsetDateTime::from_unix_timestamp(secs).ok()?;
    let millis = nanos / 1_000_000;
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        millis
    ))
}

/// Where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "at", rename_all = "snake_case", deny_unknown_fields)]
pub enum Resume {
    /// With the first object after this cursor (exclusive).
    After { cursor: String },
    /// Inside this object: at byte `byte`, which starts line `line`; a CSV object's header
    /// was read already. `etag` makes sure the rest comes from the same version.
    Within {
        cursor: String,
        byte: u64,
        line: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header: Option<Vec<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        etag: Option<String>,
    },
}

impl Resume {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("a resume point serialises")
    }

    pub fn decode(token: &str) -> Option<Self> {
        serde_json::from_str(token).ok()
    }
}

/// The objects to read, in order: those after `after` (exclusive), or from `from`
/// (inclusive: an object being resumed).
pub fn select(mut objects: Vec<Position>, lower: Option<&Position>, inclusive: bool) -> Vec<Position> {
    objects.retain(|o| match lower {
        None => true,
        Some(l) if inclusive => o >= l,
        Some(l) => o > l,
    });
    objects.sort();
    objects
}

/// A record's id: `<key>#<line>`.
pub fn record_id(key: &str, line: u64) -> String {
    format!("{key}#{line}")
}

/// A record id read back: the key and the line.
pub fn parse_record_id(id: &str) -> Option<(&str, u64)> {
    let (key, line) = id.rsplit_once('#')?;
    let line = line.parse().ok().filter(|l| *l >= 1)?;
    (!key.is_empty()).then_some((key, line))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64, key: &str) -> Position {
        Position::new(secs, 0, key).expect("a time")
    }

    #[test]
    fn cursors_order_by_time_then_key_and_compare_bytewise() {
        let a = at(1_700_000_000, "z.csv");
        let b = at(1_700_000_001, "a.csv");
        assert!(a < b);
        assert!(a.cursor() < b.cursor());
        assert_eq!(a.cursor(), "2023-11-14T22:13:20.000Z|z.csv");
        assert_eq!(Position::parse(&a.cursor()), Some(a.clone()));
        let millis = Position::new(1_700_000_000, 5_000_000, "k").expect("a time");
        assert_eq!(millis.last_modified, "2023-11-14T22:13:20.005Z");
        assert_eq!(
            Position::parse("2023-11-14T23:13:20+01:00"),
            Some(at(1_700_000_000, ""))
        );
        assert_eq!(Position::parse("yesterday"), None);
    }

    #[test]
    fn objects_with_the_same_time_are_neither_skipped_nor_read_twice() {
        let t = 1_700_000_000;
        let all = vec![at(t, "c.csv"), at(t, "a.csv"), at(t + 1, "a.csv"), at(t, "b.csv")];
        let first = select(all.clone(), None, false);
        assert_eq!(
            first.iter().map(|p| p.key.as_str()).collect::<Vec<_>>(),
            ["a.csv", "b.csv", "c.csv", "a.csv"]
        );
        // A run that ended after b.csv goes on with c.csv (same second), then the later a.csv.
        let rest = select(all.clone(), Some(&at(t, "b.csv")), false);
        assert_eq!(rest, vec![at(t, "c.csv"), at(t + 1, "a.csv")]);
        // Resuming inside b.csv includes it.
        let resumed = select(all, Some(&at(t, "b.csv")), true);
        assert_eq!(resumed[0], at(t, "b.csv"));
        assert_eq!(resumed.len(), 3);
    }

    #[test]
    fn resume_points_and_record_ids_round_trip() {
        let r = Resume::Within {
            cursor: at(1, "k").cursor(),
            byte: 120,
            line: 7,
            header: Some(vec!["email".into()]),
            etag: Some("\"abc\"".into()),
        };
        assert_eq!(Resume::decode(&r.encode()), Some(r));
        assert_eq!(Resume::decode("{\"at\":\"elsewhere\"}"), None);
        assert_eq!(parse_record_id(&record_id("in/a#b.csv", 12)), Some(("in/a#b.csv", 12)));
        assert_eq!(parse_record_id("in/a.csv#0"), None);
        assert_eq!(parse_record_id("in/a.csv"), None);
    }
}
