//! Signed timestamps: parsing and the freshness window.

use super::rejection::Rejection;
use super::request::VerifyOptions;

/// Parses a decimal unix timestamp from `header`. Values that do not fit an `i64`, are empty
/// or are not integers are malformed; the value itself is not echoed (it is attacker data).
pub(crate) fn parse_unix(header: &str, value: &str) -> Result<i64, Rejection> {
    if value.is_empty() {
        return Err(Rejection::malformed(header, "empty timestamp"));
    }
    value
        .parse::<i64>()
        .map_err(|_| Rejection::malformed(header, "timestamp is not a 64-bit integer"))
}

/// Parses a unix timestamp in milliseconds (HubSpot v3) and returns whole seconds, rounded
/// down as HubSpot's Python SDK does.
pub(crate) fn parse_unix_millis(header: &str, value: &str) -> Result<i64, Rejection> {
    parse_unix(header, value).map(|millis| millis.div_euclid(1000))
}

/// Enforces the tolerance in both directions. A distance exactly equal to the tolerance
/// passes. Computed in `i128`, so no timestamp can overflow.
pub(crate) fn check_fresh(timestamp: i64, options: &VerifyOptions) -> Result<(), Rejection> {
    let age = i128::from(options.now) - i128::from(timestamp);
    let tolerance = i128::from(options.tolerance_secs);
    if age > tolerance {
        Err(Rejection::StaleTimestamp {
            age_secs: clamp(age),
            tolerance_secs: options.tolerance_secs,
        })
    } else if -age > tolerance {
        Err(Rejection::FutureTimestamp {
            ahead_secs: clamp(-age),
            tolerance_secs: options.tolerance_secs,
        })
    } else {
        Ok(())
    }
}

fn clamp(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(now: i64, tolerance_secs: u64) -> VerifyOptions {
        VerifyOptions { now, tolerance_secs }
    }

    #[test]
    fn age_equal_to_tolerance_passes_in_both_directions() {
        assert_eq!(check_fresh(700, &options(1000, 300)), Ok(()));
        assert_eq!(check_fresh(1300, &options(1000, 300)), Ok(()));
    }

    #[test]
    fn one_second_beyond_tolerance_is_rejected() {
        assert_eq!(
            check_fresh(699, &options(1000, 300)),
            Err(Rejection::StaleTimestamp {
                age_secs: 301,
                tolerance_secs: 300
            })
        );
        assert_eq!(
            check_fresh(1301, &options(1000, 300)),
            Err(Rejection::FutureTimestamp {
                ahead_secs: 301,
                tolerance_secs: 300
            })
        );
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        assert_eq!(
            check_fresh(i64::MIN, &options(i64::MAX, 0)),
            Err(Rejection::StaleTimestamp {
                age_secs: i64::MAX,
                tolerance_secs: 0
            })
        );
        assert_eq!(check_fresh(i64::MAX, &options(i64::MIN, u64::MAX)), Ok(()));
        assert!(matches!(
            check_fresh(i64::MAX, &options(i64::MIN, 0)),
            Err(Rejection::FutureTimestamp {
                ahead_secs: i64::MAX,
                ..
            })
        ));
    }

    #[test]
    fn non_integer_timestamps_are_malformed() {
        for value in ["", "abc", "1.5", "99999999999999999999", " 12"] {
            assert_eq!(parse_unix("T", value).unwrap_err().code(), "malformed_header");
        }
        assert_eq!(parse_unix("T", "-5"), Ok(-5));
    }

    #[test]
    fn milliseconds_round_down_to_seconds() {
        assert_eq!(parse_unix_millis("T", "1693657560999"), Ok(1_693_657_560));
        assert_eq!(parse_unix_millis("T", "-1"), Ok(-1));
    }
}
