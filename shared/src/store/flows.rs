//! Flow items: a source connection's stream, mapped by a jq program, written to a destination
//! connection's write operation. The flow item also carries the incremental cursor.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::table::{self, GSI1PK, GSI1SK, PK, SCHED_DUE_FLOWS, SCHED_PK, SCHED_SK, SK};
use super::StoreError;

/// Full refresh or incremental since the flow's cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    #[default]
    Incremental,
    Full,
}

/// A flow definition plus its sync state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Flow {
    pub id: String,
    pub tenant: String,
    pub name: String,
    pub source_connection: String,
    pub source_stream: String,
    pub destination_connection: String,
    pub destination_operation: String,
    /// jq program turning one source record into one destination record.
    pub mapping: String,
    #[serde(default)]
    pub mode: SyncMode,
    /// Run a sync job every this many seconds; `None`: only on demand and on webhooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_interval_secs: Option<u64>,
    /// Inbound event types that run this flow in real time; empty: the types the source
    /// connector's webhook definition routes to `source_stream`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_types: Vec<String>,
    #[serde(default = "enabled")]
    pub enabled: bool,
    pub created_at: i64,
    /// Highest cursor value fully synced (incremental mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Unix seconds of the next scheduled run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run_at: Option<i64>,
    /// This flow's retry schedule for failed sync jobs, seconds after each failed attempt;
    /// `None`: the deployment's (`RETRY_SCHEDULE_SECS`, default 5 s .. 10 h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_schedule_secs: Option<Vec<u64>>,
    /// The flow running the other way between the same two connections, when the two form a
    /// two-way link (`switchyard flows link`): each predicts the echo of its writes for the
    /// other, so a record written to one side does not come back as a change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverse_flow: Option<String>,
    /// In a two-way link: what this flow does with a record changed on both sides since they
    /// were last in step.
    #[serde(default, skip_serializing_if = "ConflictRule::is_default")]
    pub on_conflict: ConflictRule,
    /// Ids earlier flows of a chain wrote, looked up by a key of this flow's source record and
    /// given to the mapping as `$links.<name>` (null when that flow has not written the key's
    /// record yet): a Moodle enrolment names the user a users flow created, an invoice the
    /// customer a customers flow created.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lookups: Vec<LinkLookup>,
    /// In a two-way link: look for an existing record before creating one on the other side
    /// (duplicate matching, `crate::sync::matching`), with the link's thresholds; `None`:
    /// create without looking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_on_create: Option<MatchThresholds>,
    /// In a two-way link: what this flow does on the other side when a linked record is
    /// deleted on its source side (a webhook's delete event, a change feed's tombstone, or a
    /// record missing from a full read where the definition says that means deleted). The
    /// same for both directions of a link.
    #[serde(default, skip_serializing_if = "DeleteRule::is_default")]
    pub on_delete: DeleteRule,
    /// With `on_delete: archive`: the jq program turning the deleted source record (as last
    /// synced) into the update written to its counterpart through the destination's
    /// update-by-id write (`{status: "unsubscribed"}`, `{properties: {mailchimp_status:
    /// "archived"}}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive_mapping: Option<String>,
}

/// What a two-way link does when a linked record is deleted on one side. Whichever it does,
/// both directions' links of the pair are retired: neither direction writes the pair again
/// (no resurrection), and the other side's delete event for our own delete is our echo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeleteRule {
    /// Record the deletion and leave the other side's record as it is.
    #[default]
    Ignore,
    /// Delete the counterpart through the destination connector's `delete` write.
    Propagate,
    /// Write the flow's `archive_mapping` of the deleted record to the counterpart, through
    /// the destination connector's update-by-id write.
    Archive,
}

impl DeleteRule {
    pub fn is_default(&self) -> bool {
        *self == DeleteRule::Ignore
    }

    pub fn name(self) -> &'static str {
        match self {
            DeleteRule::Ignore => "ignore",
            DeleteRule::Propagate => "propagate",
            DeleteRule::Archive => "archive",
        }
    }
}

/// One id a flow's mapping reads from another flow's record links (see `Flow::lookups`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkLookup {
    /// The name the mapping reads it under: `$links.<name>`.
    pub name: String,
    /// The flow whose links hold the id: its destination id for a source id.
    pub flow: String,
    /// JSON pointer into this flow's source record to that flow's source id (a string or a
    /// number).
    pub key: String,
}

/// A two-way link's duplicate-matching thresholds, scores from 0 to 1: a candidate scoring at
/// least `link` is linked instead of creating a record; one below `create` does not stop the
/// create; one in between is parked for review.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchThresholds {
    pub link: f64,
    pub create: f64,
}

impl MatchThresholds {
    /// Both between 0 and 1, `create` at most `link`; else why not.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [("link", self.link), ("create", self.create)] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("the {name} threshold must be between 0 and 1, not {v}"));
            }
        }
        if self.create > self.link {
            return Err(format!(
                "the create threshold ({}) must not be above the link threshold ({})",
                self.create, self.link
            ));
        }
        Ok(())
    }
}

/// What one direction of a two-way link does with a record both sides changed since they
/// were last in step (the other side's change is seen by fetching its record and mapping it
/// with the other direction's mapping: a hash other than the one last synced).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConflictRule {
    /// Write: this flow's source wins (no fetch: the other side is not looked at).
    #[default]
    SourceWins,
    /// Do not write: the other direction brings the destination's version over.
    DestinationWins,
    /// The record modified last wins (each stream's time cursor); a tie or an unknown time
    /// lets the source win.
    NewestWins,
    /// Neither: both versions and the base are parked in the review queue, and neither
    /// direction writes the record until a person resolves it (`switchyard flows resolve`).
    Manual,
    /// Each side owns the fields its direction's mapping writes (HubSpot a contact's names,
    /// Mailchimp its subscription status): both directions always write, with no fetch,
    /// since neither writes a field the other owns. The two mappings must share no field but
    /// the key.
    FieldOwnership,
}

impl ConflictRule {
    pub fn is_default(&self) -> bool {
        *self == ConflictRule::SourceWins
    }

    /// The other direction's rule for the same link policy.
    pub fn mirrored(self) -> Self {
        match self {
            ConflictRule::SourceWins => ConflictRule::DestinationWins,
            ConflictRule::DestinationWins => ConflictRule::SourceWins,
            ConflictRule::NewestWins => ConflictRule::NewestWins,
            ConflictRule::Manual => ConflictRule::Manual,
            ConflictRule::FieldOwnership => ConflictRule::FieldOwnership,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ConflictRule::SourceWins => "source_wins",
            ConflictRule::DestinationWins => "destination_wins",
            ConflictRule::NewestWins => "newest_wins",
            ConflictRule::Manual => "manual",
            ConflictRule::FieldOwnership => "field_ownership",
        }
    }
}

fn enabled() -> bool {
    true
}

pub fn flow_pk(id: &str) -> String {
    format!("FLOW#{id}")
}
pub const FLOW_SK: &str = "FLOW";
const KIND: &str = "flow";

/// Reads and writes flow items.
#[derive(Debug, Clone)]
pub struct FlowStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl FlowStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Stores a new flow; `AlreadyExists` if the id is taken.
    pub async fn create(&self, flow: &Flow) -> Result<(), StoreError> {
        self.create_with(flow, Vec::new()).await
    }

    /// [`Self::create`] with the audit entry that records it, both in one `TransactWriteItems`:
    /// the entry is written exactly when the flow is, for one call fewer than two puts.
    pub async fn create_audited(&self, flow: &Flow, entry: &crate::store::audit::AuditEntry) -> Result<(), StoreError> {
        self.create_with(flow, vec![crate::store::audit::AuditStore::item(entry)?])
            .await
    }

    async fn create_with(&self, flow: &Flow, also: Vec<HashMap<String, AttributeValue>>) -> Result<(), StoreError> {
        table::validate_id("flow id", &flow.id)?;
        table::validate_id("tenant", &flow.tenant)?;
        let mut keys = vec![
            (PK, flow_pk(&flow.id)),
            (SK, FLOW_SK.into()),
            (GSI1PK, table::tenant_pk(&flow.tenant)),
            (GSI1SK, flow_pk(&flow.id)),
        ];
        keys.extend(sched_keys(flow));
        let item = super::typed_item(KIND, flow, &keys)?;
        if super::put_if_absent_with(&self.client, &self.table, item, also).await? {
            Ok(())
        } else {
            Err(StoreError::AlreadyExists {
                kind: KIND,
                id: flow.id.clone(),
            })
        }
    }

    pub async fn get(&self, id: &str) -> Result<Option<Flow>, StoreError> {
        if table::validate_id("flow id", id).is_err() {
            return Ok(None);
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(flow_pk(id)))
            .key(SK, AttributeValue::S(FLOW_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        out.item.map(|item| from_item(item, id)).transpose()
    }

    /// Every flow of a tenant, in id order.
    pub async fn list(&self, tenant: &str) -> Result<Vec<Flow>, StoreError> {
        super::tenant_items(&self.client, &self.table, tenant, "FLOW#")
            .await?
            .into_iter()
            .map(|(key, item)| from_item(item, &key))
            .collect()
    }

    /// One page of a tenant's flows after the id `after`, in id order, and whether more follow.
    pub async fn page(
        &self,
        tenant: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<super::api_keys::Page<Flow>, StoreError> {
        let (items, more) = super::tenant_page(&self.client, &self.table, tenant, "FLOW#", after, limit).await?;
        let items = items
            .into_iter()
            .map(|(key, item)| from_item(item, &key))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(super::api_keys::Page { items, more })
    }

    /// Writes a flow's settings (name, mapping, mode, schedule, event types, enabled, next
    /// run, retry schedule) and its `sched` index keys, leaving its cursor alone (a running
    /// job moves it). Only if the flow exists and belongs to `flow.tenant`: `false` otherwise.
    pub async fn update_settings(&self, flow: &Flow) -> Result<bool, StoreError> {
        if table::validate_id("flow id", &flow.id).is_err() {
            return Ok(false);
        }
        let value = |v: serde_json::Value| {
            serde_dynamo::to_attribute_value(v).map_err(|e| StoreError::Invalid {
                what: "flow",
                reason: e.to_string(),
            })
        };
        let mut set = vec![
            "#name = :name",
            "#mapping = :mapping",
            "#mode = :mode",
            "#event_types = :event_types",
            "#enabled = :enabled",
        ];
        let mut remove = Vec::new();
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(flow_pk(&flow.id)))
            .key(SK, AttributeValue::S(FLOW_SK.into()))
            .condition_expression("attribute_exists(#pk) AND #tenant = :tenant")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#tenant", "tenant")
            .expression_attribute_values(":tenant", AttributeValue::S(flow.tenant.clone()))
            .expression_attribute_names("#name", "name")
            .expression_attribute_values(":name", AttributeValue::S(flow.name.clone()))
            .expression_attribute_names("#mapping", "mapping")
            .expression_attribute_values(":mapping", AttributeValue::S(flow.mapping.clone()))
            .expression_attribute_names("#mode", "mode")
            .expression_attribute_values(":mode", value(serde_json::json!(flow.mode))?)
            .expression_attribute_names("#event_types", "event_types")
            .expression_attribute_values(":event_types", value(serde_json::json!(flow.event_types))?)
            .expression_attribute_names("#enabled", "enabled")
            .expression_attribute_values(":enabled", AttributeValue::Bool(flow.enabled))
            .expression_attribute_names("#every", "schedule_interval_secs")
            .expression_attribute_names("#next", "next_run_at")
            .expression_attribute_names("#retry", "retry_schedule_secs")
            .expression_attribute_names("#spk", SCHED_PK)
            .expression_attribute_names("#ssk", SCHED_SK);
        match flow.schedule_interval_secs {
            Some(every) => {
                set.push("#every = :every");
                req = req.expression_attribute_values(":every", AttributeValue::N(every.to_string()));
            }
            None => remove.push("#every"),
        }
        match flow.next_run_at {
            Some(next) => {
                set.push("#next = :next");
                req = req.expression_attribute_values(":next", AttributeValue::N(next.to_string()));
            }
            None => remove.push("#next"),
        }
        match &flow.retry_schedule_secs {
            Some(retry) => {
                set.push("#retry = :retry");
                req = req.expression_attribute_values(":retry", value(serde_json::json!(retry))?);
            }
            None => remove.push("#retry"),
        }
        let sched = sched_keys(flow);
        if sched.is_empty() {
            remove.extend(["#spk", "#ssk"]);
        } else {
            set.extend(["#spk = :spk", "#ssk = :ssk"]);
            req = req
                .expression_attribute_values(":spk", AttributeValue::S(sched[0].1.clone()))
                .expression_attribute_values(":ssk", AttributeValue::S(sched[1].1.clone()));
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        super::written(req.update_expression(expression).send().await, "UpdateItem")
    }

    /// Records the cursor a finished incremental job reached. Only moves forward from
    /// `expected` (the cursor the job started from), so a slow old job cannot rewind it.
    pub async fn advance_cursor(&self, id: &str, expected: Option<&str>, cursor: &str) -> Result<bool, StoreError> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(flow_pk(id)))
            .key(SK, AttributeValue::S(FLOW_SK.into()))
            .update_expression("SET #c = :new")
            .expression_attribute_names("#c", "cursor")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":new", AttributeValue::S(cursor.into()));
        req = match expected {
            Some(old) => req
                .condition_expression("attribute_exists(#pk) AND #c = :old")
                .expression_attribute_values(":old", AttributeValue::S(old.into())),
            None => req.condition_expression("attribute_exists(#pk) AND attribute_not_exists(#c)"),
        };
        super::written(req.send().await, "UpdateItem")
    }
}

impl FlowStore {
    /// Pairs two flows as the two directions of a two-way link, in one transaction: each
    /// names the other as its `reverse_flow`, on condition that both exist and neither is
    /// paired with a third flow. `false` when a condition failed (nothing was written).
    /// The caller checks that the flows run between the same two connections.
    /// `a_rule` is `a`'s conflict rule; `b` gets its mirror.
    /// `deletes` is the link's delete rule, with each flow's archive mapping (`a`'s, `b`'s).
    pub async fn pair(
        &self,
        a: &str,
        b: &str,
        a_rule: ConflictRule,
        matching: Option<MatchThresholds>,
        deletes: (DeleteRule, [Option<String>; 2]),
    ) -> Result<bool, StoreError> {
        use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
        let thresholds: Option<AttributeValue> = match &matching {
            Some(m) => Some(serde_dynamo::to_attribute_value(m).map_err(|e| StoreError::Invalid {
                what: "flow pair",
                reason: e.to_string(),
            })?),
            None => None,
        };
        let (delete_rule, [archive_a, archive_b]) = deletes;
        let update = |id: &str, other: &str, rule: ConflictRule, archive: Option<String>| {
            let mut set = vec!["#r = :other", "#c = :rule", "#d = :d"];
            let mut remove = Vec::new();
            let mut builder = Update::builder()
                .table_name(&self.table)
                .key(PK, AttributeValue::S(flow_pk(id)))
                .key(SK, AttributeValue::S(FLOW_SK.into()))
                .expression_attribute_names("#m", "match_on_create")
                .expression_attribute_names("#d", "on_delete")
                .expression_attribute_names("#am", "archive_mapping")
                .expression_attribute_values(":d", AttributeValue::S(delete_rule.name().into()));
            match &thresholds {
                Some(t) => {
                    set.push("#m = :m");
                    builder = builder.expression_attribute_values(":m", t.clone());
                }
                None => remove.push("#m"),
            }
            match archive {
                Some(program) => {
                    set.push("#am = :am");
                    builder = builder.expression_attribute_values(":am", AttributeValue::S(program));
                }
                None => remove.push("#am"),
            }
            let mut expression = format!("SET {}", set.join(", "));
            if !remove.is_empty() {
                expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
            }
            builder
                .update_expression(expression)
                .condition_expression("attribute_exists(#pk) AND (attribute_not_exists(#r) OR #r = :other)")
                .expression_attribute_names("#r", "reverse_flow")
                .expression_attribute_names("#c", "on_conflict")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_values(":other", AttributeValue::S(other.into()))
                .expression_attribute_values(":rule", AttributeValue::S(rule.name().into()))
                .build()
                .map(|u| TransactWriteItem::builder().update(u).build())
        };
        let items = [
            update(a, b, a_rule, archive_a),
            update(b, a, a_rule.mirrored(), archive_b),
        ]
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StoreError::Invalid {
            what: "flow pair",
            reason: e.to_string(),
        })?;
        let res = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e)
                if aws_sdk_dynamodb::error::ProvideErrorMetadata::code(&e) == Some("TransactionCanceledException") =>
            {
                Ok(false)
            }
            Err(e) => Err(StoreError::dynamo("TransactWriteItems", e)),
        }
    }
}

/// The `sched` index keys of an enabled scheduled flow (dispatch finds it there by next run);
/// none for any other flow, which the sparse index then leaves out.
pub(crate) fn sched_keys(flow: &Flow) -> Vec<(&'static str, String)> {
    if flow.enabled && flow.schedule_interval_secs.is_some() {
        vec![
            (SCHED_PK, SCHED_DUE_FLOWS.to_string()),
            (SCHED_SK, table::due_sk(flow.next_run_at, &flow.id)),
        ]
    } else {
        vec![]
    }
}

fn from_item(item: HashMap<String, AttributeValue>, key: &str) -> Result<Flow, StoreError> {
    super::from_typed_item(KIND, item, key)
}
