//! `switchyard connectors write`: records from a JSON Lines file through a write operation,
//! one result line per record; `--dry-run` prints the requests instead, credentials redacted.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::bail;
use clap::Args;
use serde::Serialize;
use serde_json::Value;
use switchyard::connector::{ConnectorDefinition, RedactedRequest, WriteResult};

use super::session::{self, ConnectionArgs};
use crate::Outcome;

/// Largest records file read.
const MAX_RECORDS_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, Args)]
pub struct WriteArgs {
    /// Connector id (see `switchyard connectors list`) or a definition file (my-api.yaml).
    connector: String,
    /// The write operation (see `switchyard connectors show <connector>`).
    #[arg(long)]
    operation: String,
    /// The records, one JSON object per line, in the shape the operation takes (`-`: stdin).
    #[arg(long, value_name = "FILE.jsonl")]
    records: PathBuf,
    /// Print the requests that would be sent, credentials redacted, and send nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    connection: ConnectionArgs,
}

/// A record and the line it came from.
struct Line {
    number: usize,
    record: Value,
}

/// Parses JSON Lines: blank lines are skipped, anything else must be one JSON object. The
/// error names the line, never its content.
fn parse_records(file: &str, bytes: &[u8]) -> anyhow::Result<Vec<Line>> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        bail!("{file} is not UTF-8 text");
    };
    let mut lines = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(raw) {
            Ok(record @ Value::Object(_)) => lines.push(Line { number, record }),
            Ok(_) => bail!("{file} line {number}: a record must be a JSON object"),
            Err(e) => bail!("{file} line {number}: not valid JSON (column {})", e.column()),
        }
    }
    if lines.is_empty() {
        bail!("{file} holds no records");
    }
    Ok(lines)
}

fn key_of(def: &ConnectorDefinition, operation: &str, record: &Value) -> Option<Value> {
    let pointer = def.writes.get(operation)?.key.as_deref()?;
    record.pointer(pointer).cloned()
}

/// A result line: `ok` with the destination's id, `refused` (retrying the same record cannot
/// help) or `failed` (may succeed later: a rate limit, a timeout).
#[derive(Debug, Serialize)]
struct ResultLine<'a> {
    line: usize,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    class: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

fn result_line<'a>(line: &Line, key: Option<Value>, result: &'a WriteResult) -> ResultLine<'a> {
    match result {
        WriteResult::Ok { destination_id } => ResultLine {
            line: line.number,
            status: "ok",
            key,
            destination_id: destination_id.as_deref(),
            class: None,
            reason: None,
        },
        WriteResult::Failed { reason, class } => ResultLine {
            line: line.number,
            status: if class.is_retriable() { "failed" } else { "refused" },
            key,
            destination_id: None,
            class: Some(class.name()),
            reason: Some(reason),
        },
    }
}

/// A dry run's request line: which request, the records' lines, then the request.
#[derive(Debug, Serialize)]
struct DryRunLine<'a> {
    request: usize,
    lines: Vec<usize>,
    #[serde(flatten)]
    http: &'a RedactedRequest,
}

pub async fn write(args: WriteArgs) -> Outcome {
    let def = session::definition(&args.connector)?;
    if !def.writes.contains_key(&args.operation) {
        bail!(
            "connector {} has no write operation {:?}; it has: {}",
            def.id,
            args.operation,
            def.writes.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let file = args.records.display().to_string();
    let bytes = session::read_input_file(&args.records, "records file", MAX_RECORDS_BYTES)?;
    let lines = parse_records(&file, &bytes)?;
    let records: Vec<Value> = lines.iter().map(|l| l.record.clone()).collect();
    let client = session::client(def.clone(), &args.connection)?;
    let started = Instant::now();
    let what = format!("{} {}", def.id, args.operation);

    if args.dry_run {
        let plan = client
            .plan_write(&args.operation, &records)
            .map_err(|e| anyhow::anyhow!("cannot build the requests: {e}"))?;
        for (n, planned) in plan.requests.iter().enumerate() {
            let out = DryRunLine {
                request: n + 1,
                lines: planned.records.iter().map(|&i| lines[i].number).collect(),
                http: &planned.request,
            };
            println!("{}", serde_json::to_string(&out)?);
        }
        for (index, result) in &plan.refused {
            let line = &lines[*index];
            let out = result_line(line, key_of(&def, &args.operation, &line.record), result);
            println!("{}", serde_json::to_string(&out)?);
        }
        eprintln!(
            "dry run of {what}: {} requests for {} records, {} refused before sending; nothing was sent",
            plan.requests.len(),
            records.len(),
            plan.refused.len()
        );
        return Ok(plan.refused.is_empty());
    }

    let results = match client.write_batch(&args.operation, &records).await {
        Ok(results) => results,
        Err(e) => {
            eprintln!(
                "{what}: nothing was written: {e} ({})",
                session::counters(&client.stats().snapshot(), started)
            );
            return Ok(false);
        }
    };
    let (mut ok, mut refused, mut failed) = (0, 0, 0);
    for (line, result) in lines.iter().zip(&results) {
        match result {
            WriteResult::Ok { .. } => ok += 1,
            WriteResult::Failed { class, .. } if class.is_retriable() => failed += 1,
            WriteResult::Failed { .. } => refused += 1,
        }
        let out = result_line(line, key_of(&def, &args.operation, &line.record), result);
        println!("{}", serde_json::to_string(&out)?);
    }
    eprintln!(
        "{what}: {} records, {ok} ok, {refused} refused, {failed} failed; {}",
        records.len(),
        session::counters(&client.stats().snapshot(), started)
    );
    Ok(refused == 0 && failed == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchyard::connector::ErrorClass;

    #[test]
    fn jsonl_errors_name_the_line_and_never_quote_it() {
        let e = parse_records("r.jsonl", b"{\"a\":1}\n\n{\"secret\": oops}\n")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("r.jsonl line 3"), "{e}");
        assert!(!e.contains("secret"), "{e}");
        let e = parse_records("r.jsonl", b"[1]\n").err().unwrap().to_string();
        assert!(e.contains("line 1") && e.contains("object"), "{e}");
        let ok = parse_records("r.jsonl", b"{\"a\":1}\r\n\n{\"b\":2}").unwrap();
        assert_eq!(ok.iter().map(|l| l.number).collect::<Vec<_>>(), vec![1, 3]);
    }

    #[test]
    fn results_say_ok_refused_or_failed() {
        let line = Line {
            number: 4,
            record: json!({}),
        };
        let permanent = WriteResult::Failed {
            reason: "bad email".into(),
            class: ErrorClass::Permanent,
        };
        let refused = result_line(&line, None, &permanent);
        assert_eq!(
            (refused.status, refused.line, refused.reason),
            ("refused", 4, Some("bad email"))
        );
        let rate_limited = WriteResult::Failed {
            reason: "slow down".into(),
            class: ErrorClass::RateLimited { retry_after: None },
        };
        let later = result_line(&line, Some(json!("a@b.c")), &rate_limited);
        assert_eq!((later.status, later.key), ("failed", Some(json!("a@b.c"))));
    }
}
