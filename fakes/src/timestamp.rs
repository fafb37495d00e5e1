//! Millisecond timestamps and their ISO 8601 form (`2024-01-01T00:00:00.000Z`), as HubSpot
//! writes them.

use std::time::{SystemTime, UNIX_EPOCH};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `ms` as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub(crate) fn iso_ms(ms: i64) -> String {
    let at =
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// Parses an RFC 3339 timestamp or a millisecond epoch number into milliseconds.
pub(crate) fn parse_ms(value: &str) -> Option<i64> {
    if let Ok(ms) = value.parse::<i64>() {
        return Some(ms);
    }
    let at = OffsetDateTime::parse(value, &Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

/// A random UUID-shaped string, for HubSpot's `correlationId`.
pub(crate) fn correlation_id() -> String {
    let n: u128 = rand::random();
    let hex = format!("{n:032x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_form_has_milliseconds_and_zulu() {
        assert_eq!(iso_ms(1_704_067_200_123), "2024-01-01T00:00:00.123Z");
        assert_eq!(iso_ms(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn parses_iso_and_epoch_milliseconds() {
        assert_eq!(parse_ms("2024-01-01T00:00:00.123Z"), Some(1_704_067_200_123));
        assert_eq!(parse_ms("1704067200123"), Some(1_704_067_200_123));
        assert_eq!(parse_ms("yesterday"), None);
    }

    #[test]
    fn correlation_ids_look_like_uuids() {
        let id = correlation_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
    }
}
