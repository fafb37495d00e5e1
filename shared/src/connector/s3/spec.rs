//! The `s3:` section of a `kind: s3` definition: which prefixes are streams (new objects, read
//! record by record) and which take writes (batched objects with a manifest).
//!
//! The bucket, the connection's base prefix, the region and an S3-compatible endpoint come
//! from the connection's config (see [`super::S3Client::new`]); the definition names only
//! prefixes below the connection's, formats and sizes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::connector::compiled::Invalid;
use crate::connector::definition::{ConnectorDefinition, ConnectorKind};

/// A files connector's streams and writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Spec {
    /// Readable streams, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub streams: BTreeMap<String, S3StreamSpec>,

    /// Write operations, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub writes: BTreeMap<String, S3WriteSpec>,
}

/// How the records of an object are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// RFC 4180 CSV with a header row; each row is a record of text values by column name.
    Csv,
    /// JSON Lines: one JSON object per line.
    Jsonl,
}

impl FileFormat {
    /// The file extension written objects get.
    pub fn extension(&self) -> &'static str {
        match self {
            FileFormat::Csv => "csv",
            FileFormat::Jsonl => "jsonl",
        }
    }

    /// The `Content-Type` written objects get.
    pub fn content_type(&self) -> &'static str {
        match self {
            FileFormat::Csv => "text/csv; charset=utf-8",
            FileFormat::Jsonl => "application/x-ndjson",
        }
    }

    pub fn name(&self) -> &'static str {
        self.extension()
    }
}

/// A stream: the objects under a prefix, oldest first (last-modified, then key), each read
/// record by record as its body arrives. Every record carries `_object: {key, line,
/// last_modified}`; its id is `<key>#<line>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3StreamSpec {
    /// What the stream is, for people.
    #[serde(default)]
    pub description: String,

    /// The prefix below the connection's `prefix` (`incoming/`); empty: the connection's.
    #[serde(default)]
    pub prefix: String,

    /// Only keys ending with this (`.csv`); empty: every key (except "folders", ending `/`).
    #[serde(default)]
    pub suffix: String,

    /// The objects' format.
    pub format: FileFormat,

    /// The CSV field delimiter (one ASCII character).
    #[serde(default = "default_delimiter")]
    pub delimiter: char,

    /// Records per page (a checkpoint after each).
    #[serde(default = "default_page_size")]
    pub page_size: u32,

    /// Objects are read once their last-modified second has ended and this many seconds
    /// more have passed (clock skew, uploads completing). S3 keeps last-modified to the
    /// second: without the wait, an object arriving later in the same second as the cursor,
    /// with a key sorting before the cursor's, would be missed.
    #[serde(default = "default_settle_secs")]
    pub settle_secs: u64,
}

/// A write: each batch of records becomes objects of `records_per_object` records under
/// `<prefix><batch id>/` (`part-00001.jsonl`, ...) and, written last, `manifest.json` listing
/// them (see [`super::encode::Manifest`]): a reader that finds the manifest finds the whole
/// batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3WriteSpec {
    /// What the write does, for people.
    #[serde(default)]
    pub description: String,

    /// The prefix below the connection's `prefix` (`exports/contacts/`).
    #[serde(default)]
    pub prefix: String,

    /// The objects' format.
    pub format: FileFormat,

    /// CSV columns, in order; a record with another field is refused. Empty: the sorted
    /// union of the batch's fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,

    /// The CSV field delimiter (one ASCII character).
    #[serde(default = "default_delimiter")]
    pub delimiter: char,

    /// Records per object.
    #[serde(default = "default_records_per_object")]
    pub records_per_object: usize,
}

fn default_delimiter() -> char {
    ','
}
fn default_page_size() -> u32 {
    500
}
fn default_settle_secs() -> u64 {
    2
}
fn default_records_per_object() -> usize {
    1000
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// A prefix from a definition: relative (no leading `/`), no `..` segment, and ending in `/`
/// when not empty, so `exports` cannot also match `exports-old/`.
fn check_prefix(at: &str, prefix: &str) -> Result<(), Invalid> {
    if prefix.is_empty() {
        return Ok(());
    }
    if prefix.starts_with('/') || prefix.split('/').any(|s| s == "..") || !prefix.ends_with('/') {
        return Err(invalid(
            at,
            "must be relative, without `..`, and end with `/` (`incoming/`)",
        ));
    }
    Ok(())
}

fn check_delimiter(at: &str, delimiter: char) -> Result<(), Invalid> {
    if !delimiter.is_ascii() || delimiter == '"' || delimiter == '\n' || delimiter == '\r' {
        return Err(invalid(
            at,
            "must be one ASCII character other than a quote or a line break",
        ));
    }
    Ok(())
}

/// Checks the `s3:` section against the definition's kind.
pub fn validate(def: &ConnectorDefinition) -> Result<(), Invalid> {
    let s3 = match (def.kind, &def.s3) {
        (ConnectorKind::S3, Some(s3)) => s3,
        (ConnectorKind::S3, None) => return Err(invalid("s3", "a `kind: s3` connector needs an `s3` section")),
        (_, Some(_)) => return Err(invalid("s3", "only a `kind: s3` connector has an `s3` section")),
        (_, None) => return Ok(()),
    };
    crate::connector::kind::refuse_http_fields(def, "s3")?;
    for (name, stream) in &s3.streams {
        let at = format!("s3.streams.{name}");
        check_prefix(&format!("{at}.prefix"), &stream.prefix)?;
        check_delimiter(&format!("{at}.delimiter"), stream.delimiter)?;
        if !(1..=10_000).contains(&stream.page_size) {
            return Err(invalid(format!("{at}.page_size"), "must be between 1 and 10000"));
        }
    }
    for (name, write) in &s3.writes {
        let at = format!("s3.writes.{name}");
        check_prefix(&format!("{at}.prefix"), &write.prefix)?;
        check_delimiter(&format!("{at}.delimiter"), write.delimiter)?;
        if !(1..=100_000).contains(&write.records_per_object) {
            return Err(invalid(
                format!("{at}.records_per_object"),
                "must be between 1 and 100000",
            ));
        }
        if write.format == FileFormat::Jsonl && !write.columns.is_empty() {
            return Err(invalid(format!("{at}.columns"), "only CSV writes name columns"));
        }
        let mut seen = std::collections::BTreeSet::new();
        for c in &write.columns {
            if c.is_empty() || !seen.insert(c) {
                return Err(invalid(
                    format!("{at}.columns"),
                    format!("column `{c}` is empty or repeated"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_must_be_relative_folders() {
        assert!(check_prefix("p", "").is_ok());
        assert!(check_prefix("p", "incoming/").is_ok());
        assert!(check_prefix("p", "incoming").is_err());
        assert!(check_prefix("p", "/incoming/").is_err());
        assert!(check_prefix("p", "a/../b/").is_err());
    }
}
