//! Pacing requests under a connection's rate limit, before they are sent.
//!
//! [`PacerCore`] is the arithmetic, over time offsets the caller supplies (tests use a fake
//! clock): a request may start only when fewer than `requests` requests started in the
//! preceding `window + margin`. Reservations are handed out in order, so every window of
//! length `window` holds at most `requests` starts, whatever the provider's window alignment,
//! and our own pacing never causes a 429. The margin absorbs network jitter between our send
//! time and the provider's arrival time.
//!
//! The provider's own signals pause the pacer: `Retry-After` on a 429 or 503, and a
//! remaining-budget header of `0` until its reset header says (or one window).
//!
//! A cost budget reported in response bodies (GraphQL APIs such as Shopify's answer
//! `extensions.cost.throttleStatus` with the points available, the bucket's size and its
//! refill rate) paces too: each request is expected to cost as much as the dearest request
//! seen so far asked for, and waits until the bucket, refilled since, holds that much. The bucket
//! is debited at each start, so requests in flight together do not all spend the same points.
//!
//! [`Pacer`] wraps the core for async callers, sleeping on tokio's clock.
//!
//! Many processes (concurrent Lambda invocations) on one connection share one budget through
//! a [`SharedBudget`]: start slots `(window + margin) / requests` apart on the wall clock,
//! handed out a few at a time (a lease) by one conditional write each. Slots never overlap
//! between processes, so any window of the provider's holds at most `requests` starts whatever
//! the concurrency; a slot a process does not use is lost, which costs at most one lease per
//! process at the end of its work.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;

use serde_json::Value;

use super::definition::{CostBudgetSpec, OperationLimitSpec, RateLimitHeaders, RateLimitSpec, ResetKind};

/// Compiles an operation's path pattern (`rate_limit.operations[].path`), anchored at both
/// ends so it matches whole paths only.
pub fn operation_path_regex(pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| format!("not a regular expression: {e}"))
}

/// One operation's token bucket (the arithmetic, over time offsets the caller supplies): it
/// holds up to `burst` tokens, refills at `rate` a second, and each request takes one. A
/// request that finds the bucket empty is given the time its token will be there; tokens owed
/// queue later requests behind it, so requests in flight together never overdraw the bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    /// Tokens as of `at`; negative when requests are queued for tokens not there yet.
    tokens: f64,
    at: Duration,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: f64, burst: u32) -> Self {
        Self {
            rate,
            burst: f64::from(burst),
            tokens: f64::from(burst),
            at: Duration::ZERO,
        }
    }

    fn refill(&mut self, now: Duration) {
        if now > self.at {
            self.tokens = (self.tokens + self.rate * (now - self.at).as_secs_f64()).min(self.burst);
            self.at = now;
        }
    }

    /// How long a request starting now would wait, without taking a token.
    pub fn wait(&self, now: Duration) -> Duration {
        let mut probe = self.clone();
        probe.refill(now);
        Self::wait_for(probe.tokens - 1.0, probe.rate)
    }

    fn wait_for(tokens_after: f64, rate: f64) -> Duration {
        if tokens_after >= 0.0 {
            Duration::ZERO
        } else {
            // Bounded: a bucket of a request an hour queues no request past a few hours.
            Duration::from_secs_f64((-tokens_after / rate).min(86_400.0))
        }
    }

    /// Takes a token for a request at `now`; returns how long it must wait for it.
    pub fn take(&mut self, now: Duration) -> Duration {
        self.refill(now);
        self.tokens -= 1.0;
        Self::wait_for(self.tokens, self.rate)
    }

    /// The provider's rate for this operation (a rate-limit header): tokens earned so far at
    /// the old rate are kept, later ones come at the new rate.
    pub fn set_rate(&mut self, now: Duration, rate: f64) {
        if rate.is_finite() && rate > 0.0 {
            self.refill(now);
            self.rate = rate;
        }
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }
}

/// An operation's bucket and what matches a request to it.
#[derive(Debug)]
struct OperationBucket {
    method: Option<&'static str>,
    path: regex::Regex,
    rate_header: Option<String>,
    bucket: Mutex<TokenBucket>,
}

/// The pacing arithmetic. Times are offsets from an origin the caller chooses.
#[derive(Debug, Clone)]
pub struct PacerCore {
    limit: Option<(usize, Duration)>,
    margin: Duration,
    /// Start times of the last `requests` reservations, in order.
    starts: VecDeque<Duration>,
    /// No request starts before this.
    paused_until: Duration,
    /// Until when a long-window quota is spent (a part of `paused_until`).
    quota_until: Duration,
    /// The cost bucket as last reported (and debited since), when the provider reports one.
    cost: Option<CostBucket>,
    /// The compiled pattern of a used/limit header (`rate_limit.headers.usage`).
    usage: Option<(String, regex::Regex)>,
}

/// Compiles a `rate_limit.headers.usage` pattern, which must name the groups `used` and
/// `limit`.
pub fn usage_regex(pattern: &str) -> Result<regex::Regex, String> {
    let re = regex::Regex::new(pattern).map_err(|e| format!("not a regular expression: {e}"))?;
    for group in ["used", "limit"] {
        if !re.capture_names().flatten().any(|n| n == group) {
            return Err(format!("the pattern needs a named group `(?P<{group}>...)`"));
        }
    }
    Ok(re)
}

/// The remaining budget a used/limit header reports (`limit - used`, never negative).
fn usage_remaining(name: &str, re: &regex::Regex, headers: &HeaderMap) -> Option<u64> {
    let text = headers.get(name)?.to_str().ok()?;
    let caps = re.captures(text)?;
    let used: u64 = caps.name("used")?.as_str().parse().ok()?;
    let limit: u64 = caps.name("limit")?.as_str().parse().ok()?;
    Some(limit.saturating_sub(used))
}

/// A provider's cost bucket, as of `at`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct CostBucket {
    available: f64,
    maximum: f64,
    restore_rate: f64,
    at: Duration,
    /// What the next request is expected to cost.
    expected: f64,
}

impl CostBucket {
    fn available_at(&self, t: Duration) -> f64 {
        let refill = self.restore_rate * t.saturating_sub(self.at).as_secs_f64();
        (self.available + refill).min(self.maximum)
    }
}

/// Longest wait for a cost budget: a bucket never takes longer than this to refill.
const MAX_COST_WAIT: Duration = Duration::from_secs(60);

/// The shortest paced window whose spent budget is a quota (see [`PacerCore::observe_headers`]).
const QUOTA_WINDOW: Duration = Duration::from_secs(3600);

impl PacerCore {
    /// A pacer for `spec`; `None` only honours pauses (Retry-After).
    pub fn new(spec: Option<&RateLimitSpec>) -> Self {
        Self {
            limit: spec
                .filter(|s| s.requests > 0 && s.window_ms > 0)
                .map(|s| (s.requests as usize, Duration::from_millis(s.window_ms))),
            margin: spec.map_or(Duration::ZERO, |s| Duration::from_millis(s.margin_ms)),
            starts: VecDeque::new(),
            paused_until: Duration::ZERO,
            quota_until: Duration::ZERO,
            cost: None,
            // Validated with the definition; an invalid pattern here reads nothing.
            usage: spec
                .and_then(|s| s.headers.as_ref())
                .and_then(|h| h.usage.as_ref())
                .and_then(|u| Some((u.name.clone(), usage_regex(&u.pattern).ok()?))),
        }
    }

    /// Debits the cost bucket for a request starting at or after `at`; returns that start.
    fn reserve_cost(&mut self, at: Duration) -> Duration {
        let Some(bucket) = self.cost.as_mut() else {
            return at;
        };
        let mut start = at;
        let available = bucket.available_at(start);
        if available < bucket.expected && bucket.restore_rate > 0.0 {
            let wait = Duration::from_secs_f64((bucket.expected - available) / bucket.restore_rate);
            start += wait.min(MAX_COST_WAIT);
        }
        bucket.available = bucket.available_at(start) - bucket.expected;
        bucket.at = start;
        start
    }

    /// Reads a cost budget from a response body (see [`CostBudgetSpec`]); a body without one
    /// changes nothing.
    pub fn observe_cost(&mut self, now: Duration, spec: &CostBudgetSpec, body: &Value) {
        let number = |pointer: &str| body.pointer(pointer).and_then(Value::as_f64).filter(|f| f.is_finite());
        let (Some(available), Some(maximum), Some(restore_rate)) = (
            number(&spec.available),
            number(&spec.maximum),
            number(&spec.restore_rate),
        ) else {
            return;
        };
        // The dearest request seen so far: requests of different kinds (a page of 100, a fetch
        // of one) share the bucket, and guessing low gets a request refused.
        let reported = number(&spec.requested).or_else(|| spec.actual.as_deref().and_then(number));
        let expected = reported
            .into_iter()
            .chain(self.cost.map(|b| b.expected))
            .fold(0.0, f64::max)
            .min(maximum);
        self.cost = Some(CostBucket {
            available,
            maximum,
            restore_rate,
            at: now,
            expected,
        });
    }

    /// Reserves the next start at or after `now`; returns how long to wait before sending.
    pub fn reserve(&mut self, now: Duration) -> Duration {
        let mut at = now.max(self.paused_until);
        if let Some(last) = self.starts.back() {
            at = at.max(*last);
        }
        if let Some((requests, window)) = self.limit {
            if self.starts.len() >= requests {
                let oldest_in_budget = self.starts[self.starts.len() - requests];
                at = at.max(oldest_in_budget + window + self.margin);
            }
            self.starts.push_back(at);
            while self.starts.len() > requests {
                self.starts.pop_front();
            }
        }
        let at = self.reserve_cost(at);
        at - now
    }

    /// No request starts before `now + delay`.
    pub fn pause_for(&mut self, now: Duration, delay: Duration) {
        self.paused_until = self.paused_until.max(now + delay);
    }

    /// Pauses for `delay` because a long-window quota is spent (at most an hour: then one
    /// request probes whether the provider's window has moved on).
    pub fn pause_quota(&mut self, now: Duration, delay: Duration) {
        let delay = delay.min(super::errors::MAX_RETRY_AFTER);
        self.pause_for(now, delay);
        self.quota_until = self.quota_until.max(now + delay);
    }

    /// How long from `now` a spent quota holds the connection; zero when none is spent.
    pub fn quota_remaining(&self, now: Duration) -> Duration {
        self.quota_until.saturating_sub(now)
    }

    /// Reads the provider's remaining-budget and reset headers; a remaining budget of 0
    /// pauses until the reset (or one window, or one second without a configured window).
    pub fn observe_headers(&mut self, now: Duration, spec: &RateLimitHeaders, headers: &HeaderMap, wall: SystemTime) {
        for quota in &spec.quotas {
            if header_u64(headers, &quota.remaining) == Some(0) {
                self.pause_quota(now, Duration::from_millis(quota.window_ms));
            }
        }
        if let (Some(bucket), Some(name)) = (&spec.bucket, spec.remaining.as_deref()) {
            if let (Some(available), Some(cost)) = (header_f64(headers, name), header_f64(headers, &bucket.cost)) {
                // The dearest request seen so far, as for a body-reported budget.
                let expected = self.cost.map_or(cost, |b| b.expected.max(cost)).min(bucket.maximum);
                self.cost = Some(CostBucket {
                    available,
                    maximum: bucket.maximum,
                    restore_rate: bucket.restore_rate,
                    at: now,
                    expected,
                });
            }
            return;
        }
        let remaining = spec
            .remaining
            .as_deref()
            .and_then(|name| header_u64(headers, name))
            .or_else(|| {
                let (name, re) = self.usage.as_ref()?;
                usage_remaining(name, re, headers)
            });
        let Some(remaining) = remaining else {
            return;
        };
        if remaining > 0 {
            return;
        }
        let reset = spec
            .reset
            .as_deref()
            .and_then(|name| header_u64(headers, name))
            .map(|value| match spec.reset_kind {
                ResetKind::DeltaSeconds => Duration::from_secs(value),
                ResetKind::DeltaMillis => Duration::from_millis(value),
                ResetKind::UnixSeconds => {
                    let now_unix = wall.duration_since(UNIX_EPOCH).unwrap_or_default();
                    Duration::from_secs(value).saturating_sub(now_unix)
                }
            });
        let delay = reset
            .or(self.limit.map(|(_, window)| window))
            .unwrap_or(Duration::from_secs(1))
            .min(super::errors::MAX_RETRY_AFTER);
        // A budget counted over an hour or more (Salesforce's requests per rolling day) is a
        // quota: spent, the work is deferred rather than retried.
        if self.limit.is_some_and(|(_, window)| window >= QUOTA_WINDOW) {
            self.pause_quota(now, delay + self.margin);
        } else {
            self.pause_for(now, delay + self.margin);
        }
    }
}

fn header_f64(headers: &HeaderMap, name: &str) -> Option<f64> {
    let value = headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok()?;
    (value.is_finite() && value >= 0.0).then_some(value)
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    let text = headers.get(name)?.to_str().ok()?.trim();
    text.parse::<u64>().ok().or_else(|| {
        text.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f.ceil() as u64)
    })
}

/// A budget of request start slots shared by every process using one connection.
pub trait SharedBudget: Send + Sync + std::fmt::Debug {
    /// Reserves `n` consecutive start slots `interval_ms` apart, none before `now_ms` (unix
    /// milliseconds) nor before any slot reserved earlier by anyone; returns the first.
    fn reserve(&self, n: u32, interval_ms: u64, now_ms: u64) -> futures::future::BoxFuture<'_, Result<u64, String>>;
    /// No slot starts before `until_ms` (the provider asked everyone to wait).
    fn pause_until(&self, until_ms: u64) -> futures::future::BoxFuture<'_, Result<(), String>>;
}

/// This process's part of a shared budget: the slots it leased and not yet used.
#[derive(Debug)]
struct SharedLease {
    budget: std::sync::Arc<dyn SharedBudget>,
    interval_ms: u64,
    lease: u32,
    slots: tokio::sync::Mutex<VecDeque<u64>>,
}

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A connection's pacer, shared by every request of that connection in this process.
#[derive(Debug)]
pub struct Pacer {
    core: Mutex<PacerCore>,
    headers: Option<RateLimitHeaders>,
    cost: Option<CostBudgetSpec>,
    origin: tokio::time::Instant,
    shared: Option<SharedLease>,
    /// Per-operation buckets (`rate_limit.operations`), kept in this process.
    operations: Vec<OperationBucket>,
}

impl Pacer {
    pub fn new(spec: Option<&RateLimitSpec>) -> Self {
        Self {
            core: Mutex::new(PacerCore::new(spec)),
            headers: spec.and_then(|s| s.headers.clone()),
            cost: spec.and_then(|s| s.cost.clone()),
            origin: tokio::time::Instant::now(),
            shared: None,
            operations: Vec::new(),
        }
    }

    /// Adds per-operation buckets. Patterns were validated with the definition; one that does
    /// not compile here paces nothing.
    pub fn with_operations(mut self, operations: &[OperationLimitSpec]) -> Self {
        self.operations = operations
            .iter()
            .filter_map(|op| {
                Some(OperationBucket {
                    method: op.method.map(|m| m.as_str()),
                    path: operation_path_regex(&op.path).ok()?,
                    rate_header: op.rate_header.clone(),
                    bucket: Mutex::new(TokenBucket::new(op.rate, op.burst)),
                })
            })
            .collect();
        self
    }

    fn operation(&self, method: &str, path: &str) -> Option<&OperationBucket> {
        self.operations
            .iter()
            .find(|op| op.method.is_none_or(|m| m == method) && op.path.is_match(path))
    }

    /// How long a request would wait for its operation's bucket now (zero without one).
    pub fn operation_wait(&self, method: &str, path: &str) -> Duration {
        self.operation(method, path).map_or(Duration::ZERO, |op| {
            op.bucket.lock().unwrap_or_else(|p| p.into_inner()).wait(self.now())
        })
    }

    /// Waits for a token of the request's operation bucket; returns how long it waited.
    pub async fn acquire_operation(&self, method: &str, path: &str) -> Duration {
        let Some(op) = self.operation(method, path) else {
            return Duration::ZERO;
        };
        let wait = op.bucket.lock().unwrap_or_else(|p| p.into_inner()).take(self.now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        wait
    }

    /// Feeds a response's headers to its operation's bucket: the rate its `rate_header`
    /// reports (requests a second) becomes the bucket's.
    pub fn observe_operation(&self, method: &str, path: &str, headers: &HeaderMap) {
        let Some(op) = self.operation(method, path) else { return };
        let Some(rate) = op.rate_header.as_deref().and_then(|name| header_f64(headers, name)) else {
            return;
        };
        op.bucket
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .set_rate(self.now(), rate);
    }

    /// The current rate of the operation a request belongs to (requests a second).
    pub fn operation_rate(&self, method: &str, path: &str) -> Option<f64> {
        self.operation(method, path)
            .map(|op| op.bucket.lock().unwrap_or_else(|p| p.into_inner()).rate())
    }

    /// A pacer whose starts come from `budget`, shared with every other process on the
    /// connection. Without a rate limit in `spec` there is nothing to share and it paces alone.
    pub fn shared(spec: Option<&RateLimitSpec>, budget: std::sync::Arc<dyn SharedBudget>) -> Self {
        let mut pacer = Self::new(spec);
        if let Some(s) = spec.filter(|s| s.requests > 0 && s.window_ms > 0) {
            let interval_ms = (s.window_ms + s.margin_ms).div_ceil(u64::from(s.requests)).max(1);
            pacer.shared = Some(SharedLease {
                budget,
                interval_ms,
                // A tenth of the budget per lease: one write per ten requests at most, and a
                // process that stops early wastes under a tenth of a window.
                lease: (s.requests / 10).clamp(1, 50),
                slots: tokio::sync::Mutex::new(VecDeque::new()),
            });
        }
        pacer
    }

    /// The next shared slot (unix ms), leasing more when this process has none left. `None`
    /// when the shared budget cannot be reached: the caller paces alone meanwhile.
    async fn shared_slot(&self, lease: &SharedLease) -> Option<u64> {
        let mut slots = lease.slots.lock().await;
        let now = now_unix_ms();
        // Slots already past are lost: using them late would bunch requests together.
        while slots.front().is_some_and(|s| *s + lease.interval_ms < now) {
            slots.pop_front();
        }
        if slots.is_empty() {
            match lease.budget.reserve(lease.lease, lease.interval_ms, now).await {
                Ok(first) => slots.extend((0..u64::from(lease.lease)).map(|i| first + i * lease.interval_ms)),
                Err(e) => {
                    tracing::warn!(message = "The shared rate budget is unreachable; pacing this process alone.", error = %e);
                    return None;
                }
            }
        }
        slots.pop_front()
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn core(&self) -> std::sync::MutexGuard<'_, PacerCore> {
        // The core's state stays consistent even if a holder panicked mid-update.
        self.core.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits until a request may start; returns how long it waited.
    pub async fn acquire(&self) -> Duration {
        match self.acquire_within(Duration::MAX).await {
            Ok(waited) | Err(waited) => waited,
        }
    }

    /// [`Self::acquire`], unless the shared budget's next start slot for this process is more
    /// than `max_wait` away: then nothing is waited and `Err` says how far off it is. A slot
    /// that far off means another process was asked to pause (a Retry-After it shared) or the
    /// connection's work is beyond its rate: the caller defers its work rather than hold a
    /// Lambda invocation asleep. The slot stays leased to this process for a later request.
    pub async fn acquire_within(&self, max_wait: Duration) -> Result<Duration, Duration> {
        if let Some(lease) = &self.shared {
            if let Some(slot) = self.shared_slot(lease).await {
                // Local pauses (a Retry-After this process saw) still hold.
                let paused = {
                    let mut core = self.core();
                    let now = self.now();
                    let earliest = now.max(core.paused_until);
                    core.reserve_cost(earliest).saturating_sub(now)
                };
                let wait = Duration::from_millis(slot.saturating_sub(now_unix_ms())).max(paused);
                if wait > max_wait {
                    lease.slots.lock().await.push_front(slot);
                    return Err(wait);
                }
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                return Ok(wait);
            }
        }
        let wait = {
            let now = self.now();
            self.core().reserve(now)
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Ok(wait)
    }

    /// Pauses every request of the connection for `delay` (a Retry-After), in every process
    /// when the budget is shared.
    pub fn pause_for(&self, delay: Duration) {
        let now = self.now();
        self.core().pause_for(now, delay);
        self.share_pause();
    }

    /// Tells the shared budget about this process's pause, in the background.
    fn share_pause(&self) {
        let Some(lease) = &self.shared else { return };
        let until = {
            let core = self.core();
            if core.paused_until <= core.quota_until {
                return; // the quota's pause is this process's own (see `pause_quota`)
            }
            core.paused_until.saturating_sub(self.now())
        };
        if until.is_zero() {
            return;
        }
        let until_ms = now_unix_ms() + until.as_millis() as u64;
        let budget = lease.budget.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Err(e) = budget.pause_until(until_ms).await {
                    tracing::warn!(message = "Could not share a rate-limit pause.", error = %e);
                }
            });
        }
    }

    /// Pauses every request of this process's connection for `delay` (at most an hour)
    /// because a long-window quota is spent. Not shared: a shared pause makes other processes
    /// wait for their slot, while each should defer its work instead; each learns of the
    /// spent quota from the provider with one request.
    pub fn pause_quota(&self, delay: Duration) {
        let now = self.now();
        self.core().pause_quota(now, delay);
    }

    /// How long from now a spent long-window quota holds this connection; zero when none is.
    pub fn quota_remaining(&self) -> Duration {
        let now = self.now();
        self.core().quota_remaining(now)
    }

    /// How long the provider asked this connection to pause from now (a Retry-After, a spent
    /// remaining budget); zero when it did not.
    pub fn pause_remaining(&self) -> Duration {
        let now = self.now();
        self.core().paused_until.saturating_sub(now)
    }

    /// Feeds a response's body to the pacer (its cost budget, when the definition reads one).
    pub fn observe_body(&self, body: &Value) {
        if let Some(spec) = &self.cost {
            let now = self.now();
            self.core().observe_cost(now, spec, body);
        }
    }

    /// Feeds a response's headers to the pacer.
    pub fn observe(&self, headers: &HeaderMap) {
        if let Some(spec) = &self.headers {
            let now = self.now();
            let paused_longer = {
                let mut core = self.core();
                let before = core.paused_until;
                core.observe_headers(now, spec, headers, SystemTime::now());
                core.paused_until > before
            };
            if paused_longer {
                self.share_pause();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn a_token_bucket_lets_its_burst_go_at_once_then_one_request_per_token() {
        // Amazon's getOrders: 0.0167 a second, burst 20.
        let mut b = TokenBucket::new(0.0167, 20);
        for _ in 0..20 {
            assert_eq!(b.take(ms(0)), Duration::ZERO);
        }
        let wait = b.take(ms(0));
        assert!((59_800..=60_000).contains(&wait.as_millis()), "{wait:?}");
        // A second request in the same instant queues behind the first.
        let wait = b.take(ms(0));
        assert!((119_700..=119_800).contains(&wait.as_millis()), "{wait:?}");
    }

    #[test]
    fn a_token_bucket_refills_at_its_rate_up_to_its_burst_only() {
        let mut b = TokenBucket::new(2.0, 3);
        for _ in 0..3 {
            b.take(ms(0));
        }
        assert_eq!(b.wait(ms(500)), Duration::ZERO, "one token back after half a second");
        assert_eq!(b.take(ms(500)), Duration::ZERO);
        assert_eq!(b.wait(ms(500)), ms(500));
        // A long idle time refills no more than the burst.
        for _ in 0..3 {
            assert_eq!(b.take(ms(60_000)), Duration::ZERO);
        }
        assert_eq!(b.take(ms(60_000)), ms(500));
    }

    #[test]
    fn waiting_does_not_take_a_token() {
        let mut b = TokenBucket::new(1.0, 1);
        assert_eq!(b.wait(ms(0)), Duration::ZERO);
        assert_eq!(b.wait(ms(0)), Duration::ZERO);
        assert_eq!(b.take(ms(0)), Duration::ZERO);
        assert_eq!(b.wait(ms(0)), ms(1000));
    }

    #[test]
    fn a_rate_header_changes_the_rate_from_then_on() {
        let mut b = TokenBucket::new(1.0, 1);
        b.take(ms(0));
        b.set_rate(ms(500), 0.5); // half a token earned at the old rate
        assert_eq!(b.wait(ms(500)), ms(1000), "the other half at the new rate");
        b.set_rate(ms(500), f64::NAN);
        b.set_rate(ms(500), 0.0);
        assert_eq!(b.rate(), 0.5, "a rate that is not a positive number is ignored");
    }

    fn op(name: &str, method: Option<crate::connector::definition::HttpMethod>, path: &str) -> OperationLimitSpec {
        OperationLimitSpec {
            name: name.into(),
            method,
            path: path.into(),
            rate: 0.5,
            burst: 2,
            rate_header: Some("x-amzn-RateLimit-Limit".into()),
        }
    }

    #[tokio::test]
    async fn operations_are_paced_by_their_own_bucket_and_follow_the_rate_header() {
        use crate::connector::definition::HttpMethod;
        let pacer = Pacer::new(None).with_operations(&[
            op("getOrder", Some(HttpMethod::Get), "/orders/v0/orders/[^/]+"),
            op("getOrders", Some(HttpMethod::Get), "/orders/v0/orders"),
        ]);
        for _ in 0..2 {
            assert_eq!(
                pacer.acquire_operation("GET", "/orders/v0/orders").await,
                Duration::ZERO
            );
        }
        let wait = pacer.operation_wait("GET", "/orders/v0/orders");
        assert!((ms(1900)..=ms(2000)).contains(&wait), "a token every 2 s: {wait:?}");
        // Another operation, another method and an unmatched path are not held back.
        assert_eq!(pacer.operation_wait("GET", "/orders/v0/orders/902-1"), Duration::ZERO);
        assert_eq!(pacer.operation_wait("POST", "/orders/v0/orders"), Duration::ZERO);
        assert_eq!(
            pacer.operation_wait("GET", "/orders/v0/orders/902-1/orderItems"),
            Duration::ZERO
        );

        let mut headers = HeaderMap::new();
        headers.insert("x-amzn-ratelimit-limit", HeaderValue::from_static("4.0"));
        pacer.observe_operation("GET", "/orders/v0/orders", &headers);
        assert_eq!(pacer.operation_rate("GET", "/orders/v0/orders"), Some(4.0));
        assert_eq!(pacer.operation_rate("GET", "/orders/v0/orders/902-1"), Some(0.5));
        let wait = pacer.operation_wait("GET", "/orders/v0/orders");
        assert!(
            (ms(150)..=ms(250)).contains(&wait),
            "a token every 0.25 s now: {wait:?}"
        );
        let started = std::time::Instant::now();
        pacer.acquire_operation("GET", "/orders/v0/orders").await;
        assert!(started.elapsed() >= ms(140), "the request waited for its token");
    }

    fn spec(requests: u32, window_ms: u64, margin_ms: u64) -> RateLimitSpec {
        RateLimitSpec {
            requests,
            window_ms,
            margin_ms,
            headers: None,
            cost: None,
            operations: Vec::new(),
        }
    }

    fn shopify_like_cost() -> CostBudgetSpec {
        CostBudgetSpec {
            available: "/extensions/cost/throttleStatus/currentlyAvailable".into(),
            maximum: "/extensions/cost/throttleStatus/maximumAvailable".into(),
            restore_rate: "/extensions/cost/throttleStatus/restoreRate".into(),
            requested: "/extensions/cost/requestedQueryCost".into(),
            actual: Some("/extensions/cost/actualQueryCost".into()),
        }
    }

    fn cost_body(available: f64, maximum: f64, rate: f64, requested: f64) -> Value {
        serde_json::json!({"data": {}, "extensions": {"cost": {
            "requestedQueryCost": requested, "actualQueryCost": requested,
            "throttleStatus": {"maximumAvailable": maximum, "currentlyAvailable": available, "restoreRate": rate}}}})
    }

    #[test]
    fn a_cost_budget_waits_until_the_bucket_holds_the_next_requests_cost() {
        let mut core = PacerCore::new(None);
        // Nothing known yet: no wait.
        assert_eq!(core.reserve(ms(0)), Duration::ZERO);
        // 30 points left, 50 a second back, each request asks 100: the next waits 1.4 s.
        core.observe_cost(ms(100), &shopify_like_cost(), &cost_body(30.0, 1000.0, 50.0, 100.0));
        assert_eq!(core.reserve(ms(100)), ms(1400));
        // That start spent the refilled 100 points: the following one waits 2 s more.
        assert_eq!(core.reserve(ms(1500)), ms(2000));
    }

    #[test]
    fn a_full_enough_bucket_does_not_delay_and_is_debited_per_start() {
        let mut core = PacerCore::new(None);
        core.observe_cost(ms(0), &shopify_like_cost(), &cost_body(250.0, 1000.0, 50.0, 100.0));
        // Two starts fit in 250 points; the third waits for 50 more (1 s).
        assert_eq!(core.reserve(ms(0)), Duration::ZERO);
        assert_eq!(core.reserve(ms(0)), Duration::ZERO);
        assert_eq!(core.reserve(ms(0)), ms(1000));
    }

    #[test]
    fn a_body_without_the_budget_changes_nothing() {
        let mut core = PacerCore::new(None);
        core.observe_cost(ms(0), &shopify_like_cost(), &serde_json::json!({"data": {"x": 1}}));
        assert_eq!(core.reserve(ms(0)), Duration::ZERO);
        // Partial reports (no restore rate) are ignored as well.
        let mut partial = cost_body(0.0, 1000.0, 50.0, 100.0);
        partial["extensions"]["cost"]["throttleStatus"]["restoreRate"] = Value::Null;
        core.observe_cost(ms(0), &shopify_like_cost(), &partial);
        assert_eq!(core.reserve(ms(0)), Duration::ZERO);
    }

    #[test]
    fn the_expected_cost_is_the_dearest_request_seen() {
        let mut core = PacerCore::new(None);
        core.observe_cost(ms(0), &shopify_like_cost(), &cost_body(500.0, 1000.0, 50.0, 102.0));
        // A cheap fetch does not make the next page look cheap.
        core.observe_cost(ms(0), &shopify_like_cost(), &cost_body(50.0, 1000.0, 50.0, 1.0));
        assert_eq!(core.reserve(ms(0)), ms(1040));
    }

    #[test]
    fn the_bucket_never_refills_past_its_maximum() {
        let mut core = PacerCore::new(None);
        core.observe_cost(ms(0), &shopify_like_cost(), &cost_body(0.0, 100.0, 50.0, 100.0));
        // After a long idle time the bucket is full (100), not 50 * 60 s.
        assert_eq!(core.reserve(ms(60_000)), Duration::ZERO);
        assert_eq!(core.reserve(ms(60_000)), ms(2000));
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Starts of `n` requests issued back to back with a fake clock that jumps to each start.
    fn starts(core: &mut PacerCore, n: usize, mut now: Duration) -> Vec<Duration> {
        (0..n)
            .map(|_| {
                let wait = core.reserve(now);
                now += wait;
                now
            })
            .collect()
    }

    fn max_in_any_window(starts: &[Duration], window: Duration) -> usize {
        starts
            .iter()
            .map(|s| starts.iter().filter(|t| **t >= *s && **t < *s + window).count())
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn the_budget_goes_out_at_once_then_waits_a_window() {
        let mut core = PacerCore::new(Some(&spec(3, 1000, 0)));
        let s = starts(&mut core, 7, Duration::ZERO);
        assert_eq!(s, vec![ms(0), ms(0), ms(0), ms(1000), ms(1000), ms(1000), ms(2000)]);
    }

    #[test]
    fn no_window_ever_holds_more_than_the_budget_even_with_uneven_arrivals() {
        let mut core = PacerCore::new(Some(&spec(100, 10_000, 50)));
        let mut now = Duration::ZERO;
        let mut all = Vec::new();
        for i in 0..1000u64 {
            // Bursty arrivals: sometimes together, sometimes spread out.
            now += ms((i * 37) % 90);
            let wait = core.reserve(now);
            all.push(now + wait);
        }
        assert!(max_in_any_window(&all, ms(10_000)) <= 100);
        // And the budget is used: 1000 requests take about 10 windows, not much more.
        let span = *all.last().unwrap() - all[0];
        assert!(span < ms(10 * 10_050 + 1000), "{span:?}");
    }

    #[test]
    fn sustained_rate_is_at_least_ninety_percent_of_the_limit() {
        let mut core = PacerCore::new(Some(&spec(100, 10_000, 50)));
        let s = starts(&mut core, 2000, Duration::ZERO);
        // 2000 requests fill 20 windows; the last window ends one window after its first start.
        let elapsed = (*s.last().unwrap() - s[0]).as_secs_f64() + 10.05;
        let rate = 2000.0 / elapsed;
        assert!((9.0..=10.0).contains(&rate), "rate {rate}/s");
    }

    #[test]
    fn retry_after_pauses_every_later_request() {
        let mut core = PacerCore::new(None);
        assert_eq!(core.reserve(ms(10)), Duration::ZERO);
        core.pause_for(ms(10), ms(2000));
        assert_eq!(core.reserve(ms(500)), ms(1510));
        assert_eq!(core.reserve(ms(2500)), Duration::ZERO);
    }

    #[test]
    fn a_header_bucket_waits_until_the_refilled_bucket_holds_the_dearest_cost() {
        let spec = RateLimitHeaders {
            remaining: Some("X-Rate-Limit-Remaining".into()),
            usage: None,
            reset: None,
            reset_kind: ResetKind::DeltaSeconds,
            bucket: Some(crate::connector::definition::HeaderBucketSpec {
                cost: "X-Request-Cost".into(),
                maximum: 700.0,
                restore_rate: 10.0,
            }),
            quotas: vec![],
        };
        let mut core = PacerCore::new(None);
        let mut hdrs = HeaderMap::new();
        // Plenty left: no wait.
        hdrs.insert("x-rate-limit-remaining", HeaderValue::from_static("650.5"));
        hdrs.insert("x-request-cost", HeaderValue::from_static("20.0"));
        core.observe_headers(Duration::ZERO, &spec, &hdrs, SystemTime::now());
        assert_eq!(core.reserve(Duration::ZERO), Duration::ZERO);
        // 5 points left, requests cost up to 20: wait 1.5 s for 15 points at 10 a second.
        hdrs.insert("x-rate-limit-remaining", HeaderValue::from_static("5"));
        hdrs.insert("x-request-cost", HeaderValue::from_static("2"));
        core.observe_headers(ms(1000), &spec, &hdrs, SystemTime::now());
        assert_eq!(core.reserve(ms(1000)), ms(1500));
        // The next one waits another 2 s: the first took the points refilled meanwhile.
        assert_eq!(core.reserve(ms(2500)), ms(2000));
        // A response without the headers changes nothing; `0` left does not pause blindly.
        core.observe_headers(ms(4500), &spec, &HeaderMap::new(), SystemTime::now());
        assert_eq!(core.reserve(ms(6500)), Duration::ZERO);
    }

    #[test]
    fn a_zero_remaining_header_pauses_until_reset_or_a_window() {
        let mut hdrs = HeaderMap::new();
        hdrs.insert("x-remaining", HeaderValue::from_static("0"));
        hdrs.insert("x-reset", HeaderValue::from_static("3"));
        let with_reset = RateLimitHeaders {
            remaining: Some("X-Remaining".into()),
            usage: None,
            reset: Some("X-Reset".into()),
            reset_kind: ResetKind::DeltaSeconds,
            bucket: None,
            quotas: vec![],
        };
        let mut core = PacerCore::new(Some(&spec(100, 10_000, 0)));
        core.observe_headers(Duration::ZERO, &with_reset, &hdrs, SystemTime::now());
        assert_eq!(core.reserve(Duration::ZERO), ms(3000));

        let without_reset = RateLimitHeaders {
            reset: None,
            ..with_reset.clone()
        };
        let mut core = PacerCore::new(Some(&spec(100, 10_000, 0)));
        core.observe_headers(Duration::ZERO, &without_reset, &hdrs, SystemTime::now());
        assert_eq!(core.reserve(Duration::ZERO), ms(10_000));

        let unix = RateLimitHeaders {
            reset_kind: ResetKind::UnixSeconds,
            ..with_reset.clone()
        };
        let mut hdrs_unix = HeaderMap::new();
        hdrs_unix.insert("x-remaining", HeaderValue::from_static("0"));
        hdrs_unix.insert("x-reset", HeaderValue::from_static("1000005"));
        let mut core = PacerCore::new(None);
        core.observe_headers(
            Duration::ZERO,
            &unix,
            &hdrs_unix,
            UNIX_EPOCH + Duration::from_secs(1_000_000),
        );
        assert_eq!(core.reserve(Duration::ZERO), ms(5000));

        hdrs.insert("x-remaining", HeaderValue::from_static("7"));
        let mut core = PacerCore::new(Some(&spec(100, 10_000, 0)));
        core.observe_headers(Duration::ZERO, &with_reset, &hdrs, SystemTime::now());
        assert_eq!(core.reserve(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn a_quota_header_at_zero_holds_the_connection_for_its_window_up_to_an_hour() {
        let spec = RateLimitHeaders {
            remaining: None,
            usage: None,
            reset: None,
            reset_kind: ResetKind::DeltaSeconds,
            bucket: None,
            quotas: vec![crate::connector::definition::QuotaHeader {
                remaining: "X-DayLimit-Remaining".into(),
                window_ms: 86_400_000,
            }],
        };
        let mut core = PacerCore::new(None);
        let mut hdrs = HeaderMap::new();
        hdrs.insert("x-daylimit-remaining", HeaderValue::from_static("1"));
        core.observe_headers(ms(0), &spec, &hdrs, SystemTime::now());
        assert_eq!(
            core.quota_remaining(ms(0)),
            Duration::ZERO,
            "one call left is not spent"
        );
        hdrs.insert("x-daylimit-remaining", HeaderValue::from_static("0"));
        core.observe_headers(ms(1_000), &spec, &hdrs, SystemTime::now());
        assert_eq!(
            core.quota_remaining(ms(1_000)),
            Duration::from_secs(3_600),
            "a day, capped at the hour"
        );
        assert_eq!(
            core.reserve(ms(1_000)),
            Duration::from_secs(3_600),
            "no request goes meanwhile"
        );
        assert_eq!(
            core.quota_remaining(ms(3_601_000)),
            Duration::ZERO,
            "then one probes again"
        );
    }

    #[test]
    fn a_used_of_limit_header_pauses_when_the_daily_budget_is_spent() {
        let headers = RateLimitHeaders {
            remaining: None,
            usage: Some(super::super::definition::UsageHeader {
                name: "sforce-limit-info".into(),
                pattern: r"api-usage=(?P<used>\d+)/(?P<limit>\d+)".into(),
            }),
            reset: None,
            reset_kind: ResetKind::DeltaSeconds,
            bucket: None,
            quotas: vec![],
        };
        let daily = RateLimitSpec {
            headers: Some(headers.clone()),
            ..spec(15_000, 86_400_000, 0)
        };
        let mut hdrs = HeaderMap::new();
        hdrs.insert("sforce-limit-info", HeaderValue::from_static("api-usage=25/15000"));
        let mut core = PacerCore::new(Some(&daily));
        core.observe_headers(Duration::ZERO, &headers, &hdrs, SystemTime::now());
        assert_eq!(core.reserve(Duration::ZERO), Duration::ZERO, "budget left: no pause");
        hdrs.insert("sforce-limit-info", HeaderValue::from_static("api-usage=15001/15000"));
        let mut core = PacerCore::new(Some(&daily));
        core.observe_headers(Duration::ZERO, &headers, &hdrs, SystemTime::now());
        // Spent: paused for one window, capped at the longest pause the engine honours, and a
        // day's budget is a quota (its work is deferred).
        assert_eq!(core.reserve(Duration::ZERO), super::super::errors::MAX_RETRY_AFTER);
        assert_eq!(
            core.quota_remaining(Duration::ZERO),
            super::super::errors::MAX_RETRY_AFTER
        );
        let per_minute = RateLimitSpec {
            headers: Some(headers.clone()),
            ..spec(100, 60_000, 0)
        };
        let mut core = PacerCore::new(Some(&per_minute));
        core.observe_headers(Duration::ZERO, &headers, &hdrs, SystemTime::now());
        assert_eq!(
            core.reserve(Duration::ZERO),
            Duration::from_secs(60),
            "a minute's budget waits"
        );
        assert_eq!(core.quota_remaining(Duration::ZERO), Duration::ZERO, "and is no quota");
        assert!(usage_regex("api-usage=(\\d+)").unwrap_err().contains("used"));
    }

    #[test]
    fn without_a_limit_requests_are_not_delayed() {
        let mut core = PacerCore::new(None);
        assert!(starts(&mut core, 1000, Duration::ZERO).iter().all(|s| s.is_zero()));
    }

    #[tokio::test]
    async fn the_async_pacer_sleeps_between_windows() {
        let pacer = Pacer::new(Some(&spec(2, 100, 0)));
        let start = tokio::time::Instant::now();
        for _ in 0..5 {
            pacer.acquire().await;
        }
        // 2 at t=0, 2 at t=100ms, 1 at t=200ms: the last waits two windows (an upper bound
        // would only measure how busy the machine is).
        assert!(start.elapsed() >= Duration::from_millis(200), "{:?}", start.elapsed());
    }
}
