//! A small time-to-live cache for values a warm Lambda process reuses (connections, secrets).
//!
//! Entries are replaced on expiry, never refreshed in the background: a Lambda process is frozen
//! between events, so background work would not run anyway.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A map whose entries expire `ttl` after insertion.
#[derive(Debug)]
pub struct TtlCache<K, V> {
    ttl: Duration,
    max_entries: usize,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    /// A cache keeping each entry for `ttl`, holding at most `max_entries` (the oldest go first).
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            ttl,
            max_entries: max_entries.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The cached value, if present and not expired at `now`.
    pub fn get_at(&self, key: &K, now: Instant) -> Option<V> {
        let entries = self
            .entries
            .lock()
            .expect("cache lock is never poisoned: no panics while held");
        entries
            .get(key)
            .filter(|(at, _)| now.saturating_duration_since(*at) < self.ttl)
            .map(|(_, v)| v.clone())
    }

    /// The cached value, if present and not expired.
    pub fn get(&self, key: &K) -> Option<V> {
        self.get_at(key, Instant::now())
    }

    /// Stores `value` as of `now`.
    pub fn insert_at(&self, key: K, value: V, now: Instant) {
        let mut entries = self
            .entries
            .lock()
            .expect("cache lock is never poisoned: no panics while held");
        if entries.len() >= self.max_entries && !entries.contains_key(&key) {
            entries.retain(|_, (at, _)| now.saturating_duration_since(*at) < self.ttl);
            if entries.len() >= self.max_entries {
                if let Some(oldest) = entries.iter().min_by_key(|(_, (at, _))| *at).map(|(k, _)| k.clone()) {
                    entries.remove(&oldest);
                }
            }
        }
        entries.insert(key, (now, value));
    }

    /// Stores `value` now.
    pub fn insert(&self, key: K, value: V) {
        self.insert_at(key, value, Instant::now())
    }

    /// Forgets `key`.
    pub fn remove(&self, key: &K) {
        self.entries
            .lock()
            .expect("cache lock is never poisoned: no panics while held")
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_expires_after_ttl() {
        let cache = TtlCache::new(Duration::from_secs(10), 8);
        let t0 = Instant::now();
        cache.insert_at("a", 1, t0);
        assert_eq!(cache.get_at(&"a", t0 + Duration::from_secs(9)), Some(1));
        assert_eq!(cache.get_at(&"a", t0 + Duration::from_secs(10)), None);
    }

    #[test]
    fn full_cache_evicts_the_oldest_entry() {
        let cache = TtlCache::new(Duration::from_secs(60), 2);
        let t0 = Instant::now();
        cache.insert_at("a", 1, t0);
        cache.insert_at("b", 2, t0 + Duration::from_secs(1));
        cache.insert_at("c", 3, t0 + Duration::from_secs(2));
        let now = t0 + Duration::from_secs(3);
        assert_eq!(cache.get_at(&"a", now), None);
        assert_eq!(cache.get_at(&"b", now), Some(2));
        assert_eq!(cache.get_at(&"c", now), Some(3));
    }
}
