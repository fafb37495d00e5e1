//! Records into object bodies (JSON Lines or CSV), and the batch manifest. Pure code.
//!
//! A batch written by a `kind: s3` write is `<prefix><batch id>/part-00001.<ext>`, ... and
//! then `<prefix><batch id>/manifest.json`, a [`Manifest`]:
//!
//! ```json
//! {"version": 1, "batch": "01J...", "format": "jsonl", "created_at": "2026-01-01T00:00:00Z",
//!  "records": 3, "files": [{"key": "exports/01J.../part-00001.jsonl", "records": 3, "bytes": 180}]}
//! ```
//!
//! The manifest is written last: a reader that lists manifests sees only complete batches.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::spec::{FileFormat, S3WriteSpec};

/// The manifest object's name inside a batch's folder.
pub const MANIFEST: &str = "manifest.json";

/// What a batch holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The manifest's format version.
    pub version: u32,
    /// The batch id (a ULID), also the batch's folder name.
    pub batch: String,
    /// `jsonl` or `csv`.
    pub format: String,
    /// When the batch was written (RFC 3339, UTC).
    pub created_at: String,
    /// Records in all files.
    pub records: usize,
    /// The batch's objects, in order.
    pub files: Vec<ManifestFile>,
}

/// One object of a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub key: String,
    pub records: usize,
    pub bytes: usize,
}

/// One record ready to be written: its index in the batch and its encoded row.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub index: usize,
    pub row: Vec<u8>,
}

/// Encodes each record, or says why it is refused. CSV records must be objects of scalars
/// whose fields are all among the columns (the write's, or the sorted union of the batch's);
/// JSON Lines records must be objects. Returns the columns (CSV), the encoded rows and the
/// refused records (index, reason).
pub fn encode(spec: &S3WriteSpec, records: &[Value]) -> (Vec<String>, Vec<Encoded>, Vec<(usize, String)>) {
    let mut refused = Vec::new();
    let mut ok = Vec::new();
    for (index, record) in records.iter().enumerate() {
        match record {
            Value::Object(fields) if spec.format == FileFormat::Csv => {
                if let Some((name, _)) = fields.iter().find(|(_, v)| v.is_object() || v.is_array()) {
                    refused.push((
                        index,
                        format!(
                            "field `{}` is not a scalar: a CSV cell holds text, a number, a boolean or null",
                            name.escape_debug()
                        ),
                    ));
                } else if let Some(name) = fields
                    .keys()
                    .find(|k| !spec.columns.is_empty() && !spec.columns.contains(k))
                {
                    refused.push((
                        index,
                        format!("field `{}` is not one of the write's columns", name.escape_debug()),
                    ));
                } else {
                    ok.push(index);
                }
            }
            Value::Object(_) => ok.push(index),
            _ => refused.push((index, "the mapped record is not a JSON object".into())),
        }
    }
    let columns: Vec<String> = if spec.format == FileFormat::Csv && spec.columns.is_empty() {
        let mut all = std::collections::BTreeSet::new();
        for &i in &ok {
            if let Value::Object(fields) = &records[i] {
                all.extend(fields.keys().cloned());
            }
        }
        all.into_iter().collect()
    } else {
        spec.columns.clone()
    };
    let encoded = ok
        .into_iter()
        .map(|index| Encoded {
            index,
            row: match spec.format {
                FileFormat::Jsonl => {
                    let mut row = serde_json::to_vec(&records[index]).expect("JSON values serialise");
                    row.push(b'\n');
                    row
                }
                FileFormat::Csv => csv_row(spec.delimiter, columns.iter().map(|c| cell(records[index].get(c)))),
            },
        })
        .collect();
    (columns, encoded, refused)
}

/// The CSV header row for `columns`.
pub fn csv_header(delimiter: char, columns: &[String]) -> Vec<u8> {
    csv_row(delimiter, columns.iter().cloned())
}

fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// One RFC 4180 row through the `csv` crate (a cell is quoted when it needs to be, quotes
/// doubled); rows end with `\n`.
fn csv_row(delimiter: char, cells: impl Iterator<Item = String>) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new()
        .delimiter(delimiter as u8)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    writer
        .write_record(cells.collect::<Vec<_>>())
        .expect("writing to memory cannot fail");
    writer.into_inner().expect("writing to memory cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(format: FileFormat, columns: &[&str]) -> S3WriteSpec {
        S3WriteSpec {
            description: String::new(),
            prefix: String::new(),
            format,
            columns: columns.iter().map(|c| c.to_string()).collect(),
            delimiter: ',',
            records_per_object: 10,
        }
    }

    #[test]
    fn csv_rows_follow_the_columns_and_refuse_what_a_cell_cannot_hold() {
        let records = [
            json!({"email": "a@x.io", "name": "Ada, \"the\" first"}),
            json!({"email": "b@x.io", "tags": ["x"]}),
            json!({"email": "c@x.io", "age": 36, "ok": true}),
            json!("not an object"),
        ];
        let (columns, rows, refused) = encode(&spec(FileFormat::Csv, &[]), &records);
        assert_eq!(columns, ["age", "email", "name", "ok"]);
        assert_eq!(rows.iter().map(|r| r.index).collect::<Vec<_>>(), [0, 2]);
        assert_eq!(
            String::from_utf8_lossy(&rows[0].row),
            ",a@x.io,\"Ada, \"\"the\"\" first\",\n"
        );
        assert_eq!(String::from_utf8_lossy(&rows[1].row), "36,c@x.io,,true\n");
        assert_eq!(refused.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 3]);
        assert!(refused[0].1.contains("`tags` is not a scalar"), "{refused:?}");

        let (_, rows, refused) = encode(&spec(FileFormat::Csv, &["email"]), &records[..1]);
        assert!(rows.is_empty());
        assert!(refused[0].1.contains("`name` is not one of the write's columns"));
    }

    #[test]
    fn json_lines_rows_are_one_object_per_line() {
        let (_, rows, refused) = encode(&spec(FileFormat::Jsonl, &[]), &[json!({"a": 1}), json!([1])]);
        assert_eq!(rows[0].row, b"{\"a\":1}\n");
        assert_eq!(refused, vec![(1, "the mapped record is not a JSON object".to_string())]);
    }
}
