//! The retry schedule: how long to wait after each failed attempt, with jitter. Pure.

use std::time::Duration;

/// Waits after failed attempts 0, 1, 2, ...: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h. Seven
/// retries, so a message gets eight attempts over about 28 hours before it is parked.
pub const DEFAULT_DELAYS_SECS: [u64; 7] = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];

/// The default jitter: each delay is spread over +/-20%.
pub const DEFAULT_JITTER: f64 = 0.2;

/// Delays between attempts, each spread by `jitter` so that messages failing together do not
/// come back together.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrySchedule {
    /// The wait after failed attempt `n` is `delays[n]`; after the last one the message is parked.
    pub delays: Vec<Duration>,
    /// Share of each delay drawn at random either way (0.2: +/-20%).
    pub jitter: f64,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self {
            delays: DEFAULT_DELAYS_SECS.iter().copied().map(Duration::from_secs).collect(),
            jitter: DEFAULT_JITTER,
        }
    }
}

impl RetrySchedule {
    /// Parses `5,300,1800` (seconds).
    pub fn parse_secs(text: &str) -> Result<Vec<Duration>, String> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<u64>()
                    .map(Duration::from_secs)
                    .map_err(|e| format!("{s:?} is not a number of seconds: {e}"))
            })
            .collect()
    }

    /// How many retries follow the first attempt.
    pub fn retries(&self) -> u32 {
        self.delays.len() as u32
    }

    /// The wait after `failed_attempt` failed, or `None` when the attempts are used up.
    /// `draw` is a uniform random number in [0, 1) (taken as an argument so this stays pure);
    /// the provider's `retry_after` is a floor: the wait is never shorter than what it asked.
    pub fn delay(&self, failed_attempt: u32, retry_after: Option<Duration>, draw: f64) -> Option<Duration> {
        let base = *self.delays.get(failed_attempt as usize)?;
        let jitter = self.jitter.clamp(0.0, 1.0);
        let factor = 1.0 + jitter * (2.0 * draw.clamp(0.0, 1.0) - 1.0);
        let jittered = Duration::from_secs_f64(base.as_secs_f64() * factor);
        Some(match retry_after {
            Some(wait) => jittered.max(wait),
            None => jittered,
        })
    }
}

/// A uniform random number in [0, 1) for the jitter, from the ULID generator's randomness (no
/// extra dependency; nothing here needs cryptographic strength).
pub fn random_draw() -> f64 {
    let bits = ulid::Ulid::new().random() as u64 & 0xFFFF_FFFF;
    bits as f64 / (1u64 << 32) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule_is_the_documented_one() {
        let s = RetrySchedule::default();
        assert_eq!(s.retries(), 7);
        assert_eq!(s.delay(0, None, 0.5), Some(Duration::from_secs(5)));
        assert_eq!(s.delay(3, None, 0.5), Some(Duration::from_secs(7_200)));
        assert_eq!(s.delay(6, None, 0.5), Some(Duration::from_secs(36_000)));
        assert_eq!(s.delay(7, None, 0.5), None, "eight attempts, then parked");
    }

    #[test]
    fn jitter_stays_within_twenty_percent_either_way() {
        let s = RetrySchedule::default();
        for n in 0..s.retries() {
            let base = s.delays[n as usize].as_secs_f64();
            let low = s.delay(n, None, 0.0).unwrap().as_secs_f64();
            let high = s.delay(n, None, 0.999_999).unwrap().as_secs_f64();
            assert!((low - base * 0.8).abs() < 1e-6, "{n}: {low}");
            assert!(high <= base * 1.2 + 1e-6 && high > base * 1.19, "{n}: {high}");
        }
        for _ in 0..1000 {
            let d = random_draw();
            assert!((0.0..1.0).contains(&d));
            let secs = s.delay(1, None, d).unwrap().as_secs_f64();
            assert!((240.0..=360.0).contains(&secs), "{secs}");
        }
    }

    #[test]
    fn retry_after_is_a_floor() {
        let s = RetrySchedule::default();
        assert_eq!(
            s.delay(0, Some(Duration::from_secs(30)), 0.5),
            Some(Duration::from_secs(30)),
            "the provider asked for 30 s: 5 s would be too early"
        );
        assert_eq!(
            s.delay(1, Some(Duration::from_secs(30)), 0.5),
            Some(Duration::from_secs(300))
        );
    }

    #[test]
    fn schedules_parse_from_seconds() {
        assert_eq!(
            RetrySchedule::parse_secs("5, 60,3600").unwrap(),
            vec![
                Duration::from_secs(5),
                Duration::from_secs(60),
                Duration::from_secs(3600)
            ]
        );
        assert!(RetrySchedule::parse_secs("5,soon").is_err());
        assert!(RetrySchedule::parse_secs("").unwrap().is_empty());
    }
}
