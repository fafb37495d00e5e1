//! Data quality: per-flow baselines of what a sync job usually does, and the anomalies that
//! stand far outside them (a sync that suddenly reads nothing, a reject rate jumping from 0% to
//! 40%, a job taking ten times as long).
//!
//! A baseline is rolling statistics, never a rescan of history: per metric an exponentially
//! weighted mean and variance, kept per part of the week (weekday or weekend, times four
//! six-hour parts of the day, UTC), so an ordinary quiet night or weekend is compared with
//! other nights and weekends, never with a busy weekday. A part of the week is judged once it
//! has [`MIN_SAMPLES`] observations: within two hours for a flow synced every quarter hour,
//! within two weeks for a daily one.
//!
//! An anomaly opens an *episode*: it is alerted once, when it opens, and stays open (and out of
//! the baseline, so a lasting fault keeps being seen as one) until the metric is back inside
//! its usual range. An episode that lasts [`RELEARN_AFTER`] observations is a new normal: the
//! baseline starts learning again from there.
//!
//! Inbound webhook events are judged per connection and per hour ([`Quality::observe_hour`],
//! [`Metric::InboundEvents`]): their baseline is kept per hour of the day, on weekdays and at
//! the weekend apart (48 parts), because a webhook stream follows its users' working day far
//! more closely than a scheduled job does. Only a drop is flagged there (a stream that goes
//! silent, or thins to a fraction of its usual hour); a burst is the queue's to absorb.
//!
//! [`Quality::observe`] and [`Quality::observe_hour`] are pure; `store::quality` keeps a flow's
//! state in DynamoDB beside the flow, `store::connections` a connection's inbound state on
//! the connection item, and the health checker counts the hours (`health::inbound`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Weight of a new observation once a statistic is warm (about the last 20 observations).
pub const ALPHA: f64 = 0.1;
/// Observations a statistic needs before it judges anything.
pub const MIN_SAMPLES: u32 = 8;
/// How many standard deviations away counts as far outside.
pub const THRESHOLD_SD: f64 = 4.0;
/// Consecutive anomalous observations after which they are accepted as the new normal.
pub const RELEARN_AFTER: u32 = 20;

/// An exponentially weighted mean and variance. Until `1 / n` falls below [`ALPHA`] every
/// observation weighs the same (a plain mean), so the first few do not dominate.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Stat {
    pub n: u32,
    pub mean: f64,
    pub var: f64,
}

impl Stat {
    pub fn add(&mut self, x: f64) {
        self.n = self.n.saturating_add(1);
        let alpha = (1.0 / f64::from(self.n)).max(ALPHA);
        let diff = x - self.mean;
        let incr = alpha * diff;
        self.mean += incr;
        // West's exponentially weighted variance.
        self.var = (1.0 - alpha) * (self.var + diff * incr);
    }

    pub fn sd(&self) -> f64 {
        self.var.max(0.0).sqrt()
    }

    fn warm(&self) -> bool {
        self.n >= MIN_SAMPLES
    }
}

/// What one finished job did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JobSample {
    /// Unix seconds the job finished (places it in its part of the week).
    pub at: i64,
    pub read: u64,
    /// Records that failed permanently (rejected by the mapping or the destination).
    pub rejected: u64,
    pub duration_secs: f64,
}

/// The metrics a baseline keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Records read per job.
    Records,
    /// Share of the records read that were rejected.
    RejectRate,
    /// Job duration.
    Duration,
    /// Inbound webhook events accepted per hour, per connection.
    InboundEvents,
}

impl Metric {
    /// The metrics each finished job is judged on.
    pub const JOB: [Metric; 3] = [Metric::Records, Metric::RejectRate, Metric::Duration];

    pub fn name(self) -> &'static str {
        match self {
            Metric::Records => "records",
            Metric::RejectRate => "reject_rate",
            Metric::Duration => "duration",
            Metric::InboundEvents => "inbound_events",
        }
    }

    /// The part of the week an observation at `at` is compared within.
    fn part(self, at: i64) -> u8 {
        match self {
            Metric::InboundEvents => hour_part(at),
            _ => week_part(at),
        }
    }

    fn value(self, s: &JobSample) -> f64 {
        match self {
            Metric::Records => s.read as f64,
            Metric::RejectRate => {
                if s.read == 0 {
                    0.0
                } else {
                    s.rejected as f64 / s.read as f64
                }
            }
            Metric::Duration => s.duration_secs,
            Metric::InboundEvents => 0.0,
        }
    }

    /// The smallest spread worth judging against: a metric that never varied would otherwise
    /// flag the first ordinary wobble.
    fn sd_floor(self, mean: f64) -> f64 {
        match self {
            Metric::Records | Metric::InboundEvents => (0.1 * mean).max(2.0),
            Metric::RejectRate => 0.05,
            Metric::Duration => (0.5 * mean).max(5.0),
        }
    }

    fn describe(self, v: f64) -> String {
        match self {
            Metric::Records => format!("{v:.0} records"),
            Metric::RejectRate => format!("{:.1}% rejected", v * 100.0),
            Metric::Duration => format!("{v:.1} s"),
            Metric::InboundEvents => format!("{v:.0} events in the hour"),
        }
    }
}

/// The part of the week an instant falls in: 0..=3 weekday six-hour parts, 4..=7 weekend ones.
pub fn week_part(unix: i64) -> u8 {
    let days = unix.div_euclid(86_400);
    // 1970-01-01 was a Thursday: day 0 is Thursday, so (days + 3) % 7 is 0 on Monday.
    let weekday = (days + 3).rem_euclid(7);
    let hour = unix.rem_euclid(86_400) / 3_600;
    let weekend = u8::from(weekday >= 5);
    weekend * 4 + (hour / 6) as u8
}

/// The hour of the week an instant falls in, for hourly metrics: 0..=23 the hour of a weekday,
/// 24..=47 the hour of a weekend day (UTC).
pub fn hour_part(unix: i64) -> u8 {
    let days = unix.div_euclid(86_400);
    let weekday = (days + 3).rem_euclid(7);
    let hour = (unix.rem_euclid(86_400) / 3_600) as u8;
    u8::from(weekday >= 5) * 24 + hour
}

/// One metric's baseline, per part of the week.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MetricBaseline {
    #[serde(default)]
    pub parts: BTreeMap<u8, Stat>,
}

impl MetricBaseline {
    /// The statistic to judge an observation at `part` against, once it is warm.
    fn reference(&self, part: u8) -> Option<&Stat> {
        self.parts.get(&part).filter(|s| s.warm())
    }

    fn add(&mut self, part: u8, x: f64) {
        self.parts.entry(part).or_default().add(x);
    }
}

/// An open episode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    /// Unix seconds of the first anomalous job.
    pub since: i64,
    /// Anomalous observations so far.
    pub count: u32,
    /// The latest finding's text.
    pub summary: String,
}

/// A flow's data-quality state.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Quality {
    #[serde(default)]
    pub baselines: BTreeMap<Metric, MetricBaseline>,
    #[serde(default)]
    pub open: BTreeMap<Metric, Episode>,
}

/// An observation far outside its baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub metric: Metric,
    pub observed: f64,
    pub usual: f64,
    pub sd: f64,
    /// Whether this observation opened the episode (alert) or continues an open one.
    pub opened: bool,
    pub since: i64,
    /// What, since when, compared to what.
    pub summary: String,
}

/// What one observation changed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    pub findings: Vec<Finding>,
    /// Metrics whose episode closed (back inside the usual range, or accepted as the new normal).
    pub closed: Vec<Metric>,
}

impl Quality {
    /// Judges `sample` against the baselines, then learns from it: an anomalous value stays
    /// out of its baseline while its episode is shorter than [`RELEARN_AFTER`].
    pub fn observe(&mut self, sample: &JobSample) -> Observed {
        let mut out = Observed::default();
        for metric in Metric::JOB {
            self.observe_value(metric, sample.at, metric.value(sample), &mut out);
        }
        out
    }

    /// Judges the inbound events accepted in the hour starting at `hour_start` (unix seconds)
    /// against that hour's baseline, then learns from it, as [`Quality::observe`] does.
    pub fn observe_hour(&mut self, hour_start: i64, accepted: u64) -> Observed {
        let mut out = Observed::default();
        self.observe_value(Metric::InboundEvents, hour_start, accepted as f64, &mut out);
        out
    }

    fn observe_value(&mut self, metric: Metric, at: i64, x: f64, out: &mut Observed) {
        let part = metric.part(at);
        let baseline = self.baselines.entry(metric).or_default();
        let verdict = baseline.reference(part).and_then(|s| judge(metric, x, s));
        match verdict {
            Some((usual, sd)) => {
                let episode = self.open.entry(metric).or_insert_with(|| Episode {
                    since: at,
                    count: 0,
                    summary: String::new(),
                });
                episode.count += 1;
                let opened = episode.count == 1;
                let summary = format!(
                    "{}: {} where about {} is usual here (spread {}), since {}",
                    metric.name(),
                    metric.describe(x),
                    metric.describe(usual),
                    metric.describe(sd),
                    rfc3339(episode.since),
                );
                episode.summary.clone_from(&summary);
                out.findings.push(Finding {
                    metric,
                    observed: x,
                    usual,
                    sd,
                    opened,
                    since: episode.since,
                    summary,
                });
                if episode.count >= RELEARN_AFTER {
                    // A new normal: learn it from scratch.
                    self.open.remove(&metric);
                    *baseline = MetricBaseline::default();
                    baseline.add(part, x);
                    out.closed.push(metric);
                }
            }
            None => {
                if self.open.remove(&metric).is_some() {
                    out.closed.push(metric);
                }
                baseline.add(part, x);
            }
        }
    }
}

/// `Some((usual, spread))` when `x` is far outside `stat`.
fn judge(metric: Metric, x: f64, stat: &Stat) -> Option<(f64, f64)> {
    let sd = stat.sd().max(metric.sd_floor(stat.mean));
    let far = (x - stat.mean).abs() > THRESHOLD_SD * sd;
    let anomalous = match metric {
        // Fewer records matter as much as more; a job that reads nothing where dozens are
        // usual is the classic silent failure.
        Metric::Records => far || (x == 0.0 && stat.mean >= 2.0 * THRESHOLD_SD),
        // Only more rejects, or a slower job, is a problem.
        Metric::RejectRate | Metric::Duration => far && x > stat.mean,
        // A stream gone silent, or thinned far below its usual hour; not a burst.
        Metric::InboundEvents => (far && x < stat.mean) || (x == 0.0 && stat.mean >= 2.0 * THRESHOLD_SD),
    };
    anomalous.then_some((stat.mean, sd))
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| unix.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Monday 2026-11-02 00:00 UTC.
    const MONDAY: i64 = 1_793_577_600;
    const HOUR: i64 = 3_600;

    /// A flow synced hourly whose volume follows the week: busy on weekday working hours,
    /// light at night, very light at the weekend, with a little noise.
    fn ordinary(at: i64, noise: u64) -> JobSample {
        let part = week_part(at);
        let read = match part {
            1 | 2 => 120 + noise % 17,
            0 | 3 => 20 + noise % 5,
            _ => 4 + noise % 3,
        };
        JobSample {
            at,
            read,
            rejected: u64::from(noise.is_multiple_of(11) && read > 100),
            duration_secs: 2.0 + (noise % 7) as f64 / 10.0 + read as f64 / 100.0,
        }
    }

    /// Four weeks of hourly jobs.
    fn learned() -> (Quality, i64) {
        let mut q = Quality::default();
        let mut noise = 7u64;
        let mut at = MONDAY;
        for _ in 0..(4 * 7 * 24) {
            noise = noise
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407)
                >> 33;
            let out = q.observe(&ordinary(at, noise));
            assert!(
                out.findings.is_empty(),
                "ordinary history flagged at {at}: {:?}",
                out.findings
            );
            at += HOUR;
        }
        (q, at)
    }

    #[test]
    fn week_parts_follow_utc_weekdays_and_six_hour_parts() {
        assert_eq!(week_part(MONDAY), 0);
        assert_eq!(week_part(MONDAY + 9 * HOUR), 1);
        assert_eq!(week_part(MONDAY + 4 * 24 * HOUR + 23 * HOUR), 3, "Friday night");
        assert_eq!(week_part(MONDAY + 5 * 24 * HOUR), 4, "Saturday");
        assert_eq!(week_part(MONDAY + 6 * 24 * HOUR + 13 * HOUR), 6, "Sunday afternoon");
        assert_eq!(week_part(MONDAY + 7 * 24 * HOUR), 0, "next Monday");
    }

    #[test]
    fn ordinary_weekly_seasonality_raises_nothing() {
        let (mut q, start) = learned();
        // A fifth ordinary week, quiet weekend included: nothing flagged.
        let mut noise = 99u64;
        for h in 0..(7 * 24) {
            noise = noise.wrapping_mul(2862933555777941757).wrapping_add(3037000493) >> 17;
            let out = q.observe(&ordinary(start + h * HOUR, noise));
            assert!(out.findings.is_empty(), "{:?}", out.findings);
        }
    }

    #[test]
    fn exactly_the_anomalies_of_a_synthetic_history_are_flagged_once_per_episode() {
        let (mut q, start) = learned();
        // Monday 10:00 of week five.
        let at = start + 10 * HOUR;
        let base = ordinary(at, 3);

        // 1. The source suddenly returns nothing, three jobs in a row: one episode, alerted
        //    once (the first finding opens it), then closed by an ordinary job.
        let mut opened = 0;
        for i in 0..3 {
            let out = q.observe(&JobSample {
                read: 0,
                rejected: 0,
                ..ordinary(at + i * HOUR, 3)
            });
            let records: Vec<_> = out.findings.iter().filter(|f| f.metric == Metric::Records).collect();
            assert_eq!(records.len(), 1, "{:?}", out.findings);
            assert_eq!(records[0].observed, 0.0);
            assert!(
                records[0].usual > 100.0,
                "compared with working hours: {:?}",
                records[0]
            );
            assert_eq!(records[0].since, at);
            opened += usize::from(records[0].opened);
            assert!(
                records[0].summary.contains("records: 0 records"),
                "{}",
                records[0].summary
            );
        }
        assert_eq!(opened, 1, "alerted once per episode");
        let out = q.observe(&ordinary(at + 3 * HOUR, 5));
        assert_eq!(out.closed, vec![Metric::Records]);
        assert!(out.findings.is_empty());

        // 2. Rejects jump from about 0% to 40%: flagged; the record count is ordinary.
        let out = q.observe(&JobSample {
            rejected: base.read * 2 / 5,
            ..ordinary(at + 4 * HOUR, 3)
        });
        assert_eq!(
            out.findings.iter().map(|f| f.metric).collect::<Vec<_>>(),
            vec![Metric::RejectRate]
        );
        assert!(out.findings[0].opened);

        // 3. A job ten times as slow: flagged (the reject episode closes: back to normal).
        let out = q.observe(&JobSample {
            duration_secs: 40.0,
            ..ordinary(at + 5 * HOUR, 3)
        });
        assert_eq!(
            out.findings.iter().map(|f| f.metric).collect::<Vec<_>>(),
            vec![Metric::Duration]
        );
        assert_eq!(out.closed, vec![Metric::RejectRate]);

        // 4. Fewer records than usual but within the spread, and a faster job: nothing.
        let out = q.observe(&JobSample {
            read: base.read - 10,
            duration_secs: 1.0,
            ..ordinary(at + 6 * HOUR, 3)
        });
        assert!(out.findings.is_empty(), "{:?}", out.findings);

        // 5. A weekend-sized job on a weekday morning is far below the working-hours figure.
        let out = q.observe(&JobSample {
            read: 5,
            ..ordinary(at + 7 * HOUR, 3)
        });
        assert_eq!(
            out.findings.iter().map(|f| f.metric).collect::<Vec<_>>(),
            vec![Metric::Records]
        );
    }

    #[test]
    fn nothing_is_judged_before_the_baseline_has_enough_observations() {
        let mut q = Quality::default();
        for i in 0..(MIN_SAMPLES as i64) {
            let read = if i == 3 { 0 } else { 100 };
            let out = q.observe(&JobSample {
                at: MONDAY + i * HOUR,
                read,
                rejected: 0,
                duration_secs: 1.0,
            });
            assert!(out.findings.is_empty(), "{:?}", out.findings);
        }
    }

    #[test]
    fn a_lasting_change_becomes_the_new_normal() {
        let (mut q, start) = learned();
        let at = start + 10 * HOUR;
        let mut findings = 0;
        for i in 0..(RELEARN_AFTER as i64 + 10) {
            let out = q.observe(&JobSample {
                read: 1_000,
                ..ordinary(at + i * 7 * 24 * HOUR, 3)
            });
            findings += out.findings.len();
        }
        assert_eq!(findings, RELEARN_AFTER as usize, "flagged until accepted, then learned");
        assert!(q.open.is_empty());
    }

    /// A webhook stream that follows its users' working week: 40 to 60 events an hour on
    /// weekdays from 09:00 to 17:00 UTC, a few at night, a handful at the weekend.
    fn inbound_ordinary(hour_start: i64, noise: u64) -> u64 {
        let part = hour_part(hour_start);
        match part {
            9..=16 => 40 + noise % 21,
            0..=23 => noise % 4,
            _ => noise % 6,
        }
    }

    fn next_noise(noise: u64) -> u64 {
        noise
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407)
            >> 33
    }

    /// Four weeks of hourly counts, then the start of week five and the noise to go on with.
    fn inbound_learned() -> (Quality, i64, u64) {
        let mut q = Quality::default();
        let mut noise = 11u64;
        let mut at = MONDAY;
        for _ in 0..(4 * 7 * 24) {
            noise = next_noise(noise);
            let out = q.observe_hour(at, inbound_ordinary(at, noise));
            assert!(
                out.findings.is_empty(),
                "ordinary hour flagged at {at}: {:?}",
                out.findings
            );
            at += HOUR;
        }
        (q, at, noise)
    }

    #[test]
    fn hour_parts_are_hours_of_weekdays_and_of_weekends() {
        assert_eq!(hour_part(MONDAY), 0);
        assert_eq!(hour_part(MONDAY + 10 * HOUR), 10);
        assert_eq!(hour_part(MONDAY + 4 * 24 * HOUR + 23 * HOUR), 23, "Friday 23:00");
        assert_eq!(hour_part(MONDAY + 5 * 24 * HOUR + 10 * HOUR), 34, "Saturday 10:00");
        assert_eq!(hour_part(MONDAY + 6 * 24 * HOUR + 23 * HOUR), 47, "Sunday 23:00");
    }

    #[test]
    fn an_ordinary_week_of_inbound_events_raises_nothing_quiet_nights_and_weekends_included() {
        let (mut q, start, mut noise) = inbound_learned();
        for h in 0..(7 * 24) {
            noise = next_noise(noise);
            let at = start + h * HOUR;
            let out = q.observe_hour(at, inbound_ordinary(at, noise));
            assert!(out.findings.is_empty(), "hour {h}: {:?}", out.findings);
            assert!(out.closed.is_empty());
        }
        // A silent weekend and silent nights are what the weekend and the nights usually are.
        let saturday = start + 7 * 24 * HOUR + 5 * 24 * HOUR;
        for h in 0..48 {
            let out = q.observe_hour(saturday + h * HOUR, 0);
            assert!(out.findings.is_empty(), "weekend hour {h}: {:?}", out.findings);
        }
    }

    #[test]
    fn exactly_the_inbound_hours_far_below_their_baseline_are_flagged_once_per_episode() {
        let (mut q, start, mut noise) = inbound_learned();
        // Week five, Tuesday.
        let tuesday = start + 24 * HOUR;
        let mut flagged = Vec::new();
        let mut opened = Vec::new();
        let mut closed = Vec::new();
        for h in 0..24 {
            noise = next_noise(noise);
            let at = tuesday + h * HOUR;
            let count = match h {
                // The stream goes silent at 10:00 for two hours, in the middle of the day.
                10 | 11 => 0,
                // At 14:00 it thins to a fifth of its usual hour.
                14 => 10,
                // A burst at 15:00 is not a fault of the stream.
                15 => 500,
                // Fewer than usual but within the spread.
                16 => 38,
                _ => inbound_ordinary(at, noise),
            };
            let out = q.observe_hour(at, count);
            for f in &out.findings {
                assert_eq!(f.metric, Metric::InboundEvents);
                assert!(f.usual > 40.0 && f.usual < 60.0, "compared with working hours: {f:?}");
                flagged.push(h);
                if f.opened {
                    opened.push((h, f.since, f.summary.clone()));
                }
            }
            if !out.closed.is_empty() {
                closed.push(h);
            }
        }
        assert_eq!(flagged, vec![10, 11, 14]);
        assert_eq!(closed, vec![12, 15], "each episode closes at the next ordinary hour");
        assert_eq!(opened.len(), 2, "one alert per episode: {opened:?}");
        assert_eq!((opened[0].0, opened[0].1), (10, tuesday + 10 * HOUR));
        assert!(
            opened[0]
                .2
                .starts_with("inbound_events: 0 events in the hour where about ")
                && opened[0].2.ends_with("since 2026-12-01T10:00:00Z"),
            "{}",
            opened[0].2
        );
        assert_eq!((opened[1].0, opened[1].1), (14, tuesday + 14 * HOUR));
    }

    #[test]
    fn inbound_hours_and_jobs_keep_apart_baselines_in_one_state() {
        let (mut q, start, _) = inbound_learned();
        // A job observation does not disturb the inbound baseline, nor the other way round.
        let before = q.baselines[&Metric::InboundEvents].clone();
        q.observe(&JobSample {
            at: start,
            read: 10,
            rejected: 0,
            duration_secs: 1.0,
        });
        assert_eq!(q.baselines[&Metric::InboundEvents], before);
        assert!(q.baselines.contains_key(&Metric::Records));
        assert!(q.baselines[&Metric::InboundEvents].parts.len() == 48);
    }

    #[test]
    fn state_round_trips_through_json() {
        let (q, _) = learned();
        let text = serde_json::to_string(&q).unwrap();
        let back: Quality = serde_json::from_str(&text).unwrap();
        assert_eq!(back.baselines.len(), q.baselines.len());
        for (metric, baseline) in &q.baselines {
            for (part, stat) in &baseline.parts {
                let other = back.baselines[metric].parts[part];
                assert_eq!(other.n, stat.n);
                assert!((other.mean - stat.mean).abs() <= 1e-9 * stat.mean.abs().max(1.0));
                assert!((other.var - stat.var).abs() <= 1e-9 * stat.var.abs().max(1.0));
            }
        }
    }
}
