//! `GET /v1/subjects/{email}` (editor role or above: it returns personal data) exports, and
//! `DELETE /v1/subjects/{email}` (admin) erases, everything Switchyard holds about one person
//! in the caller's tenant (GDPR articles 15 and 17, CCPA's right to know and to delete):
//! - stored inbound events (bodies included) and their entries in the webhook log, accepted and
//!   duplicate;
//! - record links, with the source record a two-way link keeps;
//! - review-queue (conflict) items, both versions and the base;
//! - dead letters whose message or errors hold the address, and those of the person's events;
//! - outbound webhook deliveries whose payload holds the address (a `record.*` event carries
//!   the record written): the delivery log with its payloads, and deliveries kept in the
//!   outbox while the queue refused them.
//!
//! An item is found by any of the person's addresses: by its first on itself, by a further one
//! through a pointer item in that address's partition (followed with one `BatchGetItem`).
//!
//! How items are found (the subject index on `gsi1`, one `Query`; dead letters by their bounded
//! list) and what that misses is described in [`crate::subjects`]. Erasure deletes the items in
//! Switchyard's table only: the records at the providers are the tenant's to erase there, and
//! a later sync of a still-existing source record links it again. No bodies are kept in S3.
//!
//! The address is normalised (trimmed, lower-cased). It is never written to the audit log:
//! the entry's target is `subject:<digest>`. Nothing found: 404, as for any missing resource.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
use serde::Serialize;

use super::super::{ApiDeps, ApiResponse, Caller, Problem};
use super::dead_letters::{tenant_of, view as dead_letter_view, DeadLetterView};
use super::events::{view as log_view, EventLogView};
use crate::api::pagination::PageRequest;
use crate::api::request::ApiRequest;
use crate::store::dead_letters::{dead_letter_pk, DeadLetterFilter, DEAD_SK};
use crate::store::events::StoredEvent;
use crate::store::links::RecordLink;
use crate::store::outbox::Kept;
use crate::store::reviews::ReviewItem;
use crate::store::subjects::{key_of, ItemKey, Position};
use crate::store::subscriptions::{Delivery, DeliveryStatus};
use crate::store::webhook_log::{LogEntry, Outcome};

/// The person a subject route names: the address as given (normalised when it is one) and the
/// digest audit entries hold instead. Its `Debug` shows only the digest.
#[derive(Clone, PartialEq, Eq)]
pub struct SubjectRef {
    /// Trimmed and lower-cased; `valid` says whether it is an address.
    pub email: String,
    pub valid: bool,
    /// `subject:<digest>`.
    pub target: String,
}

impl SubjectRef {
    pub fn new(raw: &str) -> Self {
        let (email, valid) = match crate::subjects::normalise(raw) {
            Some(e) => (e, true),
            None => (raw.trim().to_lowercase(), false),
        };
        Self {
            target: format!("subject:{}", crate::subjects::digest(&email)),
            email,
            valid,
        }
    }
}

impl std::fmt::Debug for SubjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SubjectRef({})", self.target)
    }
}

/// A stored inbound event, with its body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubjectEventView {
    pub connection_id: String,
    pub event_id: String,
    pub event_type: String,
    pub provider: String,
    pub received_at: i64,
    /// The body, when it is UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The body in base64, when it is not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_base64: Option<String>,
}

/// A record link: which destination record the person's source record became.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubjectLinkView {
    pub flow_id: String,
    pub source_id: String,
    pub destination_id: String,
    pub updated_at: i64,
    /// The source record as last seen (two-way links keep it).
    #[schema(value_type = Option<Object>)]
    pub record: Option<serde_json::Value>,
}

/// A parked two-way conflict about the person.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubjectReviewView {
    pub first_flow: String,
    pub second_flow: String,
    pub record: String,
    pub counterpart: String,
    #[schema(value_type = Object)]
    pub first_version: serde_json::Value,
    #[schema(value_type = Object)]
    pub second_version: serde_json::Value,
    #[schema(value_type = Option<Object>)]
    pub base: Option<serde_json::Value>,
    pub parked_at: i64,
}

/// A dead letter about the person, with the parked message.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SubjectDeadLetterView {
    #[serde(flatten)]
    pub dead_letter: DeadLetterView,
    /// The parked message as it was (an envelope with its history).
    pub message: String,
}

/// An outbound webhook delivery whose payload is about the person, from the delivery log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubjectDeliveryView {
    pub subscription_id: String,
    pub delivery_id: String,
    /// The `webhook-id` sent.
    pub event_id: String,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub created_at: i64,
    pub updated_at: i64,
    /// The body sent (`{"type", "timestamp", "data"}`), as JSON text.
    pub payload: String,
}

/// An outbound webhook delivery about the person kept in the outbox (the queue refused it;
/// the next dispatch tick sends it).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubjectOutboxView {
    pub subscription_id: String,
    pub delivery_id: String,
    pub event_id: String,
    pub event_type: String,
    pub kept_at: i64,
    /// The body to send, as JSON text.
    pub payload: String,
}

/// Everything held about one person in the tenant.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SubjectExport {
    /// The address, normalised.
    pub email: String,
    /// What the audit log names the person by: `subject:<digest>`.
    pub subject: String,
    pub events: Vec<SubjectEventView>,
    /// The person's events' entries in the inbound webhook log (accepted and duplicate).
    pub webhook_log: Vec<EventLogView>,
    pub record_links: Vec<SubjectLinkView>,
    pub review_items: Vec<SubjectReviewView>,
    /// Outbound webhook deliveries whose payload holds the address, with the payload.
    pub webhook_deliveries: Vec<SubjectDeliveryView>,
    /// Such deliveries waiting in the outbox.
    pub webhook_outbox: Vec<SubjectOutboxView>,
    /// On the first page only (they are found by a bounded list, not by the subject index).
    pub dead_letters: Vec<SubjectDeadLetterView>,
    /// Pass as `cursor` for the next page of the person's items; `null` on the last page.
    /// A page holds at most `limit` indexed items (events, record links, review items,
    /// webhook deliveries, with the webhook-log entries of its events) and at most 1 MB of
    /// them as stored.
    pub next_cursor: Option<String>,
}

/// How many items of each kind an erasure deleted.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct ErasedCounts {
    pub events: usize,
    pub webhook_log: usize,
    pub record_links: usize,
    pub review_items: usize,
    pub dead_letters: usize,
    pub webhook_deliveries: usize,
    pub webhook_outbox: usize,
}

/// The answer to an erasure.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubjectErased {
    /// `subject:<digest>`, as the audit entry names it.
    pub subject: String,
    pub erased: ErasedCounts,
}

/// What was found, with every item's key.
#[derive(Default)]
struct Found {
    events: Vec<(ItemKey, StoredEvent)>,
    links: Vec<(ItemKey, String, RecordLink)>,
    reviews: Vec<(ItemKey, ReviewItem)>,
    duplicates: Vec<(ItemKey, LogEntry)>,
    dead_letters: Vec<(ItemKey, crate::store::dead_letters::DeadLetter)>,
    deliveries: Vec<(ItemKey, Delivery)>,
    outbox: Vec<(ItemKey, Kept)>,
    /// The person's pointer items ([`crate::store::subjects::pointer_item`]): erased with the
    /// items they lead to.
    pointers: Vec<ItemKey>,
}

impl Found {
    fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.links.is_empty()
            && self.reviews.is_empty()
            && self.duplicates.is_empty()
            && self.dead_letters.is_empty()
            && self.deliveries.is_empty()
            && self.outbox.is_empty()
    }

    fn keys(&self) -> Vec<ItemKey> {
        let mut keys: Vec<ItemKey> = Vec::new();
        keys.extend(self.events.iter().map(|(k, _)| k.clone()));
        keys.extend(self.links.iter().map(|(k, _, _)| k.clone()));
        keys.extend(self.reviews.iter().map(|(k, _)| k.clone()));
        keys.extend(self.duplicates.iter().map(|(k, _)| k.clone()));
        keys.extend(self.dead_letters.iter().map(|(k, _)| k.clone()));
        keys.extend(self.deliveries.iter().map(|(k, _)| k.clone()));
        keys.extend(self.outbox.iter().map(|(k, _)| k.clone()));
        keys.extend(self.pointers.iter().cloned());
        keys.sort();
        keys.dedup();
        keys
    }
}

fn invalid(subject: &SubjectRef) -> Option<Problem> {
    (!subject.valid).then(|| Problem::field("email", "one email address, e.g. ada@example.com"))
}

fn nothing_held() -> Problem {
    Problem::not_found("Switchyard holds nothing about this address in this tenant")
}

/// Reads everything held about `email` in the caller's tenant.
async fn gather(deps: &ApiDeps, caller: &Caller, email: &str) -> Result<Found, Problem> {
    let key = crate::subjects::subject_key(&caller.tenant, email);
    let mut found = Found::default();
    let items = deps.subjects.items(&key).await?;
    let items = follow_pointers(deps, &mut found, items).await?;
    sort_into(&mut found, items)?;
    add_duplicates(deps, caller, &mut found).await?;
    add_dead_letters(deps, caller, email, &mut found).await?;
    Ok(found)
}

/// A subject partition's items with each pointer replaced by the item it names (one
/// `BatchGetItem`; a pointer whose item is gone leads nothing). The pointers' own keys are
/// noted in `found` for an erasure.
async fn follow_pointers(
    deps: &ApiDeps,
    found: &mut Found,
    items: Vec<HashMap<String, AttributeValue>>,
) -> Result<Vec<HashMap<String, AttributeValue>>, Problem> {
    let mut targets = Vec::new();
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match crate::store::subjects::pointer_target(&item) {
            Some(target) => {
                found.pointers.extend(key_of(&item));
                targets.push(target);
            }
            None => out.push(item),
        }
    }
    if !targets.is_empty() {
        let seen: Vec<ItemKey> = out.iter().filter_map(key_of).collect();
        targets.retain(|t| !seen.contains(t));
        out.extend(deps.subjects.get_many(&targets).await?);
    }
    Ok(out)
}

/// Sorts a subject partition's items by kind.
fn sort_into(found: &mut Found, items: Vec<HashMap<String, AttributeValue>>) -> Result<(), Problem> {
    for item in items {
        let Some(item_key) = key_of(&item) else { continue };
        let (pk, sk) = (item_key.0.as_str(), item_key.1.as_str());
        if pk.starts_with("EVT#") {
            found.events.push((item_key.clone(), StoredEvent::from_item(&item)?));
        } else if let (Some(flow), true) = (pk.strip_prefix("FLOW#"), sk.starts_with("REC#")) {
            let flow = flow.to_string();
            found
                .links
                .push((item_key, flow, crate::store::links::from_item(&item)?));
        } else if pk.starts_with("LINK#") && sk.starts_with("REVIEW#") {
            let review: ReviewItem = review_of(item, sk)?;
            found.reviews.push((item_key, review));
        } else if crate::store::subscriptions::is_delivery_key(pk, sk) {
            let delivery = crate::store::subscriptions::delivery_from_item(item, sk)?;
            found.deliveries.push((item_key, delivery));
        } else if crate::store::outbox::is_outbox_key(pk) {
            if let Some(kept) = crate::store::outbox::kept_from_item(&item)? {
                found.outbox.push((item_key, kept));
            }
        }
    }
    Ok(())
}

/// The webhook log's duplicates of the found events, per connection.
async fn add_duplicates(deps: &ApiDeps, caller: &Caller, found: &mut Found) -> Result<(), Problem> {
    let mut by_connection: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (_, ev) in &found.events {
        by_connection
            .entry(ev.connection_id.as_str())
            .or_default()
            .push(ev.event_id.clone());
    }
    let mut duplicates = Vec::new();
    for (conn, ids) in &by_connection {
        duplicates.extend(deps.webhook_log.duplicates_of(&caller.tenant, conn, ids).await?);
    }
    found.duplicates = duplicates;
    Ok(())
}

/// Dead letters: the bounded list, the tenant's, those holding the address or about one of the
/// found events.
async fn add_dead_letters(deps: &ApiDeps, caller: &Caller, email: &str, found: &mut Found) -> Result<(), Problem> {
    let event_keys: Vec<String> = found
        .events
        .iter()
        .map(|(_, ev)| format!("evt:{}:{}", ev.connection_id, ev.event_id))
        .collect();
    let mut seen = HashMap::new();
    for dead in deps.dead_letters.list(&DeadLetterFilter::default()).await? {
        let about = event_keys.contains(&dead.key)
            || crate::subjects::text_holds(&dead.message, email)
            || crate::subjects::text_holds(&dead.last_error, email)
            || dead
                .history
                .iter()
                .any(|a| crate::subjects::text_holds(&a.error, email));
        if about && tenant_of(deps, &dead, &mut seen).await?.as_deref() == Some(caller.tenant.as_str()) {
            found
                .dead_letters
                .push(((dead_letter_pk(&dead.key), DEAD_SK.to_string()), dead));
        }
    }
    Ok(())
}

/// The longest export cursor position (three item keys, base64 of their JSON).
const MAX_POSITION: usize = 4096;

fn encode_position(p: &Position) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(p).expect("strings serialise"))
}

fn decode_position(raw: &str) -> Option<Position> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn review_of(item: HashMap<String, AttributeValue>, sk: &str) -> Result<ReviewItem, Problem> {
    crate::store::from_typed_item("review item", item, sk).map_err(Problem::from)
}

fn export_of(email: &str, target: &str, found: Found, next_cursor: Option<String>) -> SubjectExport {
    let mut webhook_log: Vec<EventLogView> = found
        .events
        .iter()
        .map(|(_, ev)| {
            log_view(LogEntry {
                connection_id: ev.connection_id.clone(),
                at: ev.received_at,
                outcome: Outcome::Accepted,
                reason: None,
                event_id: Some(ev.event_id.clone()),
                event_type: Some(ev.event_type.clone()),
                provider: Some(ev.provider.clone()),
            })
        })
        .chain(found.duplicates.into_iter().map(|(_, e)| log_view(e)))
        .collect();
    webhook_log.sort_by(|a, b| (a.at, &a.connection_id).cmp(&(b.at, &b.connection_id)));
    SubjectExport {
        email: email.to_string(),
        subject: target.to_string(),
        events: found
            .events
            .into_iter()
            .map(|(_, ev)| {
                let (body, body_base64) = match String::from_utf8(ev.body) {
                    Ok(text) => (Some(text), None),
                    Err(e) => (
                        None,
                        Some(base64::engine::general_purpose::STANDARD.encode(e.into_bytes())),
                    ),
                };
                SubjectEventView {
                    connection_id: ev.connection_id,
                    event_id: ev.event_id,
                    event_type: ev.event_type,
                    provider: ev.provider,
                    received_at: ev.received_at,
                    body,
                    body_base64,
                }
            })
            .collect(),
        webhook_log,
        record_links: found
            .links
            .into_iter()
            .map(|(_, flow_id, l)| SubjectLinkView {
                flow_id,
                source_id: l.source_id,
                destination_id: l.destination_id,
                updated_at: l.updated_at,
                record: l.record,
            })
            .collect(),
        review_items: found
            .reviews
            .into_iter()
            .map(|(_, r)| SubjectReviewView {
                first_flow: r.first_flow,
                second_flow: r.second_flow,
                record: r.record,
                counterpart: r.counterpart,
                first_version: r.first_version,
                second_version: r.second_version,
                base: r.base,
                parked_at: r.parked_at,
            })
            .collect(),
        webhook_deliveries: found
            .deliveries
            .into_iter()
            .map(|(_, d)| SubjectDeliveryView {
                subscription_id: d.subscription_id,
                delivery_id: d.delivery_id,
                event_id: d.event_id,
                event_type: d.event_type,
                status: d.status,
                created_at: d.created_at,
                updated_at: d.updated_at,
                payload: d.payload,
            })
            .collect(),
        webhook_outbox: found
            .outbox
            .into_iter()
            .filter_map(|(_, k)| match k.message {
                crate::queue::SyncMessage::WebhookDelivery(d) => Some(SubjectOutboxView {
                    subscription_id: d.subscription_id,
                    delivery_id: d.delivery_id,
                    event_id: d.event_id,
                    event_type: d.event_type,
                    kept_at: k.kept_at,
                    payload: d.payload,
                }),
                _ => None,
            })
            .collect(),
        dead_letters: found
            .dead_letters
            .into_iter()
            .map(|(_, d)| SubjectDeadLetterView {
                message: d.message.clone(),
                dead_letter: dead_letter_view(d),
            })
            .collect(),
        next_cursor,
    }
}

#[utoipa::path(
    get,
    path = "/v1/subjects/{email}",
    operation_id = "export_subject",
    tag = "subjects",
    params(
        ("email" = String, Path, description = "The person's email address (trimmed and lower-cased before the search)"),
        ("limit" = Option<usize>, Query, description = "Indexed items per page, 1 to 200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "The previous page's next_cursor")
    ),
    responses(
        (status = 200, description = "A page of everything held about the person in this tenant (GDPR / CCPA export); follow next_cursor to the end", body = SubjectExport),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not (editor or above: this is personal data)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "Nothing held about this address in this tenant", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Not an email address, or a bad limit or cursor", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn export(
    deps: &ApiDeps,
    caller: &Caller,
    subject: &SubjectRef,
    req: &ApiRequest,
) -> Result<ApiResponse, Problem> {
    if let Some(p) = invalid(subject) {
        return Err(p);
    }
    let page = PageRequest::from_request_up_to(req, MAX_POSITION)?;
    let after = match page.after.as_deref() {
        None => None,
        Some(raw) => Some(
            decode_position(raw)
                .ok_or_else(|| Problem::field("cursor", "not a cursor this API gave out; start again without it"))?,
        ),
    };
    let key = crate::subjects::subject_key(&caller.tenant, &subject.email);
    let (items, next) = deps.subjects.page(&key, page.limit, after.as_ref()).await?;
    let mut found = Found::default();
    let items = follow_pointers(deps, &mut found, items).await?;
    sort_into(&mut found, items)?;
    add_duplicates(deps, caller, &mut found).await?;
    if after.is_none() {
        add_dead_letters(deps, caller, &subject.email, &mut found).await?;
        if found.is_empty() && next.is_none() {
            return Err(nothing_held());
        }
    }
    let next_cursor = next
        .as_ref()
        .map(|p| crate::api::pagination::encode(&encode_position(p)));
    Ok(ApiResponse::json(
        200,
        &export_of(&subject.email, &subject.target, found, next_cursor),
    ))
}

#[utoipa::path(
    delete,
    path = "/v1/subjects/{email}",
    operation_id = "erase_subject",
    tag = "subjects",
    params(("email" = String, Path, description = "The person's email address (trimmed and lower-cased before the search)")),
    responses(
        (status = 200, description = "Everything held about the person in this tenant is deleted; the audit entry names them by digest only", body = SubjectErased),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key's role may not (admin only)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "Nothing held about this address in this tenant", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Not an email address", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's tier limit (Retry-After, RateLimit-*)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "A backing service is busy (call again: erasure is idempotent)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn erase(deps: &ApiDeps, caller: &Caller, subject: &SubjectRef) -> Result<ApiResponse, Problem> {
    if let Some(p) = invalid(subject) {
        return Err(p);
    }
    let found = gather(deps, caller, &subject.email).await?;
    if found.is_empty() {
        // Pointers to items erased through another address lead nothing: removed now.
        deps.subjects.delete_all(&found.pointers).await?;
        return Err(nothing_held());
    }
    let erased = ErasedCounts {
        events: found.events.len(),
        webhook_log: found.duplicates.len(),
        record_links: found.links.len(),
        review_items: found.reviews.len(),
        dead_letters: found.dead_letters.len(),
        webhook_deliveries: found.deliveries.len(),
        webhook_outbox: found.outbox.len(),
    };
    deps.subjects.delete_all(&found.keys()).await?;
    // A webhook delivery about the person still on the queue (its first attempt is not on the
    // table yet) finds this and is dropped.
    deps.subjects
        .mark_erased(
            &crate::subjects::subject_key(&caller.tenant, &subject.email),
            deps.clock.now_unix(),
        )
        .await?;
    tracing::info!(
        message = "Subject erased.",
        tenant = %caller.tenant,
        subject = %subject.target,
        events = erased.events,
        record_links = erased.record_links
    );
    Ok(ApiResponse::json(
        200,
        &SubjectErased {
            subject: subject.target.clone(),
            erased,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_is_normalised_and_its_debug_and_audit_target_hold_no_address() {
        let s = SubjectRef::new(" Ada@Example.com ");
        assert!(s.valid);
        assert_eq!(s.email, "ada@example.com");
        assert_eq!(
            s.target,
            format!("subject:{}", crate::subjects::digest("ada@example.com"))
        );
        assert!(!format!("{s:?}").contains("ada"), "{s:?}");
        assert!(!SubjectRef::new("not-an-address").valid);
    }
}
