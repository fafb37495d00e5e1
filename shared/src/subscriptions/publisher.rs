//! The one way to emit an event: [`Publisher::publish`].

use std::sync::Arc;
use std::time::Duration;

use crate::cache::TtlCache;
use crate::queue::{DeliveryRef, SyncMessage, SyncQueue};
use crate::store::outbox::OutboxStore;
use crate::store::subscriptions::{new_delivery_id, Subscription, SubscriptionStore};

use super::catalogue::OutboundEvent;
use super::filter;

/// Emits events to the subscriptions that want them. Cheap when a tenant has none: one cached
/// `Query` per tenant per cache period, and nothing else.
#[derive(Debug)]
pub struct Publisher {
    store: SubscriptionStore,
    /// `None`: this process does not publish (a function configured without the sync queue).
    queue: Option<SyncQueue>,
    /// Where deliveries the queue refused are kept for the dispatch tick.
    outbox: OutboxStore,
    cache: TtlCache<String, Arc<Vec<Subscription>>>,
}

impl Publisher {
    /// A publisher whose view of each tenant's subscriptions is at most `cache_ttl` old (a new
    /// subscription gets events within that time).
    pub fn new(store: SubscriptionStore, queue: Option<SyncQueue>, cache_ttl: Duration) -> Self {
        Self {
            outbox: store.outbox(),
            store,
            queue,
            cache: TtlCache::new(cache_ttl, 4096),
        }
    }

    /// The tenant's subscriptions, from the cache when fresh.
    async fn subscriptions(&self, tenant: &str) -> Result<Arc<Vec<Subscription>>, crate::store::StoreError> {
        if let Some(hit) = self.cache.get(&tenant.to_string()) {
            return Ok(hit);
        }
        let subs = Arc::new(self.store.for_tenant(tenant).await?);
        self.cache.insert(tenant.to_string(), subs.clone());
        Ok(subs)
    }

    /// Whether any enabled subscription of `tenant` asked for `event_type`: emitters ask first
    /// and build nothing when none did. A failed lookup answers `true` (publish logs it).
    pub async fn interested(&self, tenant: &str, event_type: &str) -> bool {
        if self.queue.is_none() {
            return false;
        }
        match self.subscriptions(tenant).await {
            Ok(subs) => subs
                .iter()
                .any(|s| s.enabled && s.event_types.iter().any(|t| t == event_type)),
            Err(_) => true,
        }
    }

    /// Sends each event to every enabled subscription of `tenant` that asked for its type and
    /// whose filter it passes. Never fails its caller (the work that produced the event is
    /// done). A delivery the sync queue refuses is kept in the outbox ([`OutboxStore`], one
    /// `BatchWriteItem`), and connector-sync's next dispatch tick sends it with the same
    /// `webhook-id` ([`Publisher::drain_outbox`]); only when the subscription lookup or that write fails
    /// too is it lost (logged, and counted in `WebhookEventsLost`, which is alarmed).
    /// Returns how many deliveries were queued or kept.
    pub async fn publish(&self, tenant: &str, events: &[OutboundEvent], now_ms: u64) -> usize {
        let Some(queue) = &self.queue else { return 0 };
        if events.is_empty() {
            return 0;
        }
        let subs = match self.subscriptions(tenant).await {
            Ok(subs) => subs,
            Err(e) => {
                tracing::warn!(message = "Could not look up webhook subscriptions; events not delivered.", tenant = %tenant, events = events.len(), error = %e);
                crate::metrics::webhook_events_lost(events.len() as u64);
                return 0;
            }
        };
        if subs.is_empty() {
            return 0;
        }
        let messages = route(&subs, events, now_ms);
        if messages.is_empty() {
            return 0;
        }
        let failed = queue.send_all(&messages).await;
        if failed.is_empty() {
            return messages.len();
        }
        let unsent: Vec<SyncMessage> = failed.iter().filter_map(|i| messages.get(*i).cloned()).collect();
        let now = i64::try_from(now_ms / 1000).unwrap_or(i64::MAX);
        match self.outbox.keep(tenant, &unsent, now, OUTBOX_TTL_SECS).await {
            Ok(kept) => {
                tracing::warn!(message = "Some webhook deliveries could not be queued; kept in the outbox for the next dispatch tick.", tenant = %tenant, kept = kept);
                crate::metrics::webhook_events_kept(kept as u64);
                messages.len()
            }
            Err(e) => {
                tracing::warn!(message = "Some webhook deliveries could be neither queued nor kept; not delivered.", tenant = %tenant, failed = failed.len(), error = %e);
                crate::metrics::webhook_events_lost(failed.len() as u64);
                messages.len() - failed.len()
            }
        }
    }

    /// Sends the deliveries kept in the outbox (see [`drain`]); connector-sync's dispatch tick
    /// calls it once a minute. A publisher without a queue sends nothing.
    pub async fn drain_outbox(&self, now: i64) -> Result<usize, crate::store::StoreError> {
        match &self.queue {
            Some(queue) => drain(&self.outbox, queue, now).await,
            None => Ok(0),
        }
    }
}

/// A kept delivery expires after this (it waits only for SQS to answer again).
pub const OUTBOX_TTL_SECS: i64 = 7 * 86_400;

/// How many kept deliveries one dispatch tick sends at most.
pub const OUTBOX_DRAIN_LIMIT: usize = 100;

/// How long a tick holds a kept delivery it claimed before another tick may take it.
const OUTBOX_CLAIM_SECS: i64 = 300;

/// Sends the deliveries the outbox kept (at most [`OUTBOX_DRAIN_LIMIT`]), each claimed first so
/// overlapping ticks send it once, and removes each that was sent. One that still cannot be
/// sent keeps its claim and is tried again [`OUTBOX_CLAIM_SECS`] later. Returns how many were
/// sent. An empty outbox costs one `Query`.
async fn drain(outbox: &OutboxStore, queue: &SyncQueue, now: i64) -> Result<usize, crate::store::StoreError> {
    let mut claimed = Vec::new();
    for kept in outbox.list(OUTBOX_DRAIN_LIMIT).await? {
        if kept.claimed_until < now && outbox.claim(&kept, now, now + OUTBOX_CLAIM_SECS).await? {
            claimed.push(kept);
        }
    }
    if claimed.is_empty() {
        return Ok(0);
    }
    let messages: Vec<SyncMessage> = claimed.iter().map(|k| k.message.clone()).collect();
    let unsent = queue.send_all(&messages).await;
    let mut sent = 0;
    for (i, kept) in claimed.iter().enumerate() {
        if unsent.contains(&i) {
            continue;
        }
        sent += 1;
        // Sent: a failed delete means the next tick after the claim sends it once more, under
        // the same webhook-id.
        if let Err(e) = outbox.remove(&kept.id).await {
            tracing::warn!(message = "A sent outbox delivery could not be removed; it may be sent again.", id = %kept.id, error = %e);
        }
    }
    Ok(sent)
}

/// One delivery message per (subscription, event) that matches. Pure.
pub fn route(subs: &[Subscription], events: &[OutboundEvent], now_ms: u64) -> Vec<SyncMessage> {
    let mut out = Vec::new();
    for event in events {
        let mut payload = None;
        for sub in subs {
            let wanted =
                sub.enabled && sub.event_types.contains(&event.event_type) && filter::matches(&sub.filter, &event.data);
            if !wanted {
                continue;
            }
            let payload = payload.get_or_insert_with(|| event.body()).clone();
            out.push(SyncMessage::WebhookDelivery(DeliveryRef {
                subscription_id: sub.id.clone(),
                delivery_id: new_delivery_id(now_ms),
                event_id: event.id.clone(),
                event_type: event.event_type.clone(),
                payload,
                attempt: 0,
            }));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sub(id: &str, types: &[&str], filter: serde_json::Value, enabled: bool) -> Subscription {
        Subscription {
            id: id.into(),
            tenant: "t".into(),
            url: "https://example.com/hook".into(),
            event_types: types.iter().map(|s| s.to_string()).collect(),
            filter: filter.as_object().unwrap().clone(),
            description: None,
            secret_arn: "arn".into(),
            previous_secret_until: None,
            enabled,
            failing_since: None,
            disabled_at: None,
            disabled_reason: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn each_event_goes_to_each_enabled_subscription_that_wants_its_type_and_passes_its_filter() {
        let subs = [
            sub("all_jobs", &["job.failed", "job.finished"], json!({}), true),
            sub("flow_a_only", &["job.finished"], json!({"flow_id": "flow_a"}), true),
            sub("off", &["job.finished"], json!({}), false),
            sub("records", &["record.created"], json!({}), true),
        ];
        let events = [
            OutboundEvent::new("job.finished", 1, json!({"flow_id": "flow_a"})),
            OutboundEvent::new("job.finished", 1, json!({"flow_id": "flow_b"})),
            OutboundEvent::new("job.failed", 1, json!({"flow_id": "flow_a"})),
        ];
        let got: Vec<(String, String)> = route(&subs, &events, 1_000)
            .into_iter()
            .map(|m| match m {
                SyncMessage::WebhookDelivery(d) => (d.subscription_id, d.event_id),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("all_jobs".to_string(), events[0].id.clone()),
                ("flow_a_only".to_string(), events[0].id.clone()),
                ("all_jobs".to_string(), events[1].id.clone()),
                ("all_jobs".to_string(), events[2].id.clone()),
            ]
        );
        assert!(route(&subs[..0], &events, 1).is_empty());
    }
}
