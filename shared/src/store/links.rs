//! Record links: for each flow, which destination record a source record became and the hash
//! of what was last written. They make writes idempotent (update the linked record rather than
//! create another) and let unchanged records be skipped.
//!
//! A flow in a two-way link also keeps the source record as last seen (or as predicted after
//! the other direction wrote to it), so the other direction can predict the echo of its writes.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};

use super::flows::flow_pk;
use super::table::{GSI1PK, GSI1SK, PK, SK};
use super::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordLink {
    pub source_id: String,
    pub destination_id: String,
    pub content_hash: String,
    pub updated_at: i64,
    /// The source record as last seen or predicted (two-way links only; at most
    /// [`MAX_KEPT_RECORD`] bytes of JSON).
    pub record: Option<serde_json::Value>,
    /// The subject key of the first email address in the source record
    /// ([`crate::subjects`]): the link is in that person's partition of `gsi1`.
    pub subject: Option<String>,
    /// Set by the other direction of a two-way link when it wrote the record: the hash is the
    /// prediction of the write's echo, so a read that matches it is our own echo (counted as
    /// such once, then the flag is cleared).
    pub predicted: bool,
    /// A two-way link's record deleted on one side ([`crate::store::flows::DeleteRule`]): the
    /// pair is no longer synced either way, and the other side's delete event for it is our
    /// own echo.
    pub retired: bool,
}

/// The largest source record a link keeps (DynamoDB items hold 400 KB; a bigger record is not
/// kept, and the other direction then cannot predict its echo: one redundant write, no loop).
pub const MAX_KEPT_RECORD: usize = 32 * 1024;

pub fn link_sk(source_id: &str) -> String {
    format!("REC#{source_id}")
}

#[derive(Debug, Clone)]
pub struct LinkStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl LinkStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The links of these source records (absent ones are simply missing from the map).
    pub async fn get_many(
        &self,
        flow_id: &str,
        source_ids: &[String],
    ) -> Result<HashMap<String, RecordLink>, StoreError> {
        let mut unique: Vec<&String> = source_ids.iter().collect();
        unique.sort();
        unique.dedup();
        let keys = unique
            .iter()
            .map(|id| {
                HashMap::from([
                    (PK.to_string(), AttributeValue::S(flow_pk(flow_id))),
                    (SK.to_string(), AttributeValue::S(link_sk(id))),
                ])
            })
            .collect();
        let mut out = HashMap::with_capacity(source_ids.len());
        for item in super::batch::get_all(&self.client, &self.table, keys, true).await? {
            let link = from_item(&item)?;
            out.insert(link.source_id.clone(), link);
        }
        Ok(out)
    }

    /// Every link of a flow, one `Query` page after another (a full run's sweep for records
    /// missing from it).
    pub async fn list(&self, flow_id: &str) -> Result<Vec<RecordLink>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let resp = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :rec)")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", AttributeValue::S(flow_pk(flow_id)))
                .expression_attribute_values(":rec", AttributeValue::S("REC#".into()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::dynamo("Query", e))?;
            for item in resp.items.unwrap_or_default() {
                out.push(from_item(&item)?);
            }
            match resp.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }

    /// Pointer items for the further addresses of linked source records (`(source id, their
    /// subject keys)`, from [`crate::subjects::other_subjects_of_value`]), so a person named
    /// second on a record finds its link too.
    pub async fn point_other_subjects(
        &self,
        flow_id: &str,
        others: &[(String, Vec<String>)],
    ) -> Result<(), StoreError> {
        let writes: Vec<WriteRequest> = others
            .iter()
            .flat_map(|(source_id, subjects)| {
                let target = (flow_pk(flow_id), link_sk(source_id));
                let index_sk = format!("{}#{}", target.0, target.1);
                super::subjects::pointer_writes(subjects, &target, &index_sk, None)
            })
            .collect();
        if writes.is_empty() {
            return Ok(());
        }
        super::batch::write_all(&self.client, &self.table, writes).await
    }

    /// Writes links (create or replace).
    pub async fn put_many(&self, flow_id: &str, links: &[RecordLink]) -> Result<(), StoreError> {
        let writes = links
            .iter()
            .map(|l| {
                let mut item = HashMap::from([
                    (PK.to_string(), AttributeValue::S(flow_pk(flow_id))),
                    (SK.to_string(), AttributeValue::S(link_sk(&l.source_id))),
                    ("source_id".to_string(), AttributeValue::S(l.source_id.clone())),
                    (
                        "destination_id".to_string(),
                        AttributeValue::S(l.destination_id.clone()),
                    ),
                    ("content_hash".to_string(), AttributeValue::S(l.content_hash.clone())),
                    ("updated_at".to_string(), AttributeValue::N(l.updated_at.to_string())),
                ]);
                if let Some(subject) = &l.subject {
                    item.insert(GSI1PK.to_string(), AttributeValue::S(subject.clone()));
                    item.insert(
                        GSI1SK.to_string(),
                        AttributeValue::S(format!("{}#{}", flow_pk(flow_id), link_sk(&l.source_id))),
                    );
                }
                if l.predicted {
                    item.insert("predicted".to_string(), AttributeValue::Bool(true));
                }
                if l.retired {
                    item.insert("retired".to_string(), AttributeValue::Bool(true));
                }
                if let Some(text) = l
                    .record
                    .as_ref()
                    .map(|r| r.to_string())
                    .filter(|t| t.len() <= MAX_KEPT_RECORD)
                {
                    item.insert("record".to_string(), AttributeValue::S(text));
                }
                WriteRequest::builder()
                    .put_request(PutRequest::builder().set_item(Some(item)).build().expect("item is set"))
                    .build()
            })
            .collect();
        super::batch::write_all(&self.client, &self.table, writes).await
    }
}

/// A link read back from an item (the table or an index).
pub fn from_item(item: &HashMap<String, AttributeValue>) -> Result<RecordLink, StoreError> {
    let s = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .ok_or_else(|| StoreError::Corrupt {
                kind: "record link",
                key: item.get(SK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default(),
                reason: format!("missing {name}"),
            })
    };
    Ok(RecordLink {
        source_id: s("source_id")?,
        destination_id: s("destination_id")?,
        content_hash: s("content_hash")?,
        updated_at: item
            .get("updated_at")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
        record: item
            .get("record")
            .and_then(|v| v.as_s().ok())
            .and_then(|t| serde_json::from_str(t).ok()),
        subject: item.get(GSI1PK).and_then(|v| v.as_s().ok()).cloned(),
        predicted: item
            .get("predicted")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
        retired: item
            .get("retired")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
    })
}
