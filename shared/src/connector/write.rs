//! Per-record results of a write request: which inputs succeeded (with the destination's id)
//! and which failed (with the destination's reason). Pure: reads the response body only.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::definition::WriteResponseSpec;
use super::errors::{short_text, ErrorClass};
use super::mapping::Selector;

/// The outcome of writing one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum WriteResult {
    /// Written; the destination's id when the response gives one.
    Ok { destination_id: Option<String> },
    /// Not written: why, and whether trying again may help.
    Failed { reason: String, class: ErrorClass },
}

impl WriteResult {
    pub fn is_ok(&self) -> bool {
        matches!(self, WriteResult::Ok { .. })
    }

    pub(crate) fn failed(reason: impl Into<String>, class: ErrorClass) -> Self {
        WriteResult::Failed {
            reason: reason.into(),
            class,
        }
    }
}

/// One record of a request, as the result matching sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Input {
    /// The record's key (`/email`), when the operation has one.
    pub key: Option<String>,
    /// The record's `ref` in this request (its index, as text).
    pub reference: String,
}

/// Scalar JSON as text: strings as they are, numbers printed.
pub(crate) fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn texts(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items.iter().filter_map(scalar_text).collect(),
        Some(v) => scalar_text(v).into_iter().collect(),
        None => Vec::new(),
    }
}

/// The message of an error (or a failed result), or a generic one.
fn message_of(spec: &WriteResponseSpec, error: &Value) -> String {
    spec.error_message
        .as_deref()
        .and_then(|p| error.pointer(p))
        .and_then(Value::as_str)
        .map(|m| short_text(m, 300))
        .unwrap_or_else(|| "rejected by the destination".to_owned())
}

/// The last path segment of a URL (or path) in a header: the id a `Location` names.
pub(crate) fn id_from_location(value: &str) -> Option<String> {
    let path = value.split(['?', '#']).next().unwrap_or_default().trim_end_matches('/');
    let last = path.rsplit('/').next().filter(|s| !s.is_empty())?;
    Some(
        percent_encoding::percent_decode_str(last)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// Reads the response's `errors` array: each input an error names (by ref, or by key ignoring
/// case) fails permanently with the error's message. Answers the first message of an error
/// that names no input, for the caller to apply to the inputs nothing answered.
fn fail_named_inputs(
    spec: &WriteResponseSpec,
    inputs: &[Input],
    body: &Value,
    out: &mut [Option<WriteResult>],
) -> Option<String> {
    let mut unattributed = None;
    let errors = spec
        .errors
        .as_deref()
        .and_then(|p| body.pointer(p))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for error in errors {
        let message = message_of(spec, error);
        let refs = texts(spec.error_ref.as_deref().and_then(|p| error.pointer(p)));
        let keys = texts(spec.error_key.as_deref().and_then(|p| error.pointer(p)));
        let mut attributed = false;
        for (i, input) in inputs.iter().enumerate() {
            let hit = refs.contains(&input.reference)
                || input
                    .key
                    .as_deref()
                    .is_some_and(|k| keys.iter().any(|e| e.eq_ignore_ascii_case(k)));
            if hit {
                out[i] = Some(WriteResult::failed(message.clone(), ErrorClass::Permanent));
                attributed = true;
            }
        }
        if !attributed && unattributed.is_none() {
            unattributed = Some(message);
        }
    }
    unattributed
}

/// A response that lists only the refused records (BigQuery's `insertErrors: [{index,
/// errors}]`): the inputs an error names fail permanently with its message, the others were
/// written. An error that names no input fails the whole batch, as it cannot be placed.
fn read_errors_only(spec: &WriteResponseSpec, inputs: &[Input], body: &Value) -> Vec<WriteResult> {
    let mut out: Vec<Option<WriteResult>> = vec![None; inputs.len()];
    let unattributed = fail_named_inputs(spec, inputs, body, &mut out);
    out.into_iter()
        .map(|r| match (r, &unattributed) {
            (Some(failed), _) => failed,
            (None, Some(message)) => WriteResult::failed(message.clone(), ErrorClass::Permanent),
            (None, None) => WriteResult::Ok { destination_id: None },
        })
        .collect()
}

/// Matches a successful response's results and errors to the request's inputs. Inputs that
/// no result or error mentions fail: with the response's unattributed error messages when
/// there are some (permanent), else as "no result" (transient: the write may not have
/// happened).
pub(crate) fn read_results(spec: &WriteResponseSpec, inputs: &[Input], body: &Value) -> Vec<WriteResult> {
    let destination_id = |result: &Value| {
        spec.destination_id
            .as_deref()
            .and_then(|p| result.pointer(p))
            .and_then(scalar_text)
    };
    let Some(results_pointer) = spec.results.as_deref() else {
        if spec.errors.is_some() {
            return read_errors_only(spec, inputs, body);
        }
        // The whole body is the result of each input (one per request, normally).
        return inputs
            .iter()
            .map(|_| WriteResult::Ok {
                destination_id: destination_id(body),
            })
            .collect();
    };
    let mut out: Vec<Option<WriteResult>> = vec![None; inputs.len()];
    // An object where the array would be is the one result of a single-record request
    // (a GraphQL mutation's payload: `{"customer": {...}, "userErrors": [...]}`).
    let selected: Vec<Value>;
    let results = if results_pointer.starts_with('/') {
        match body.pointer(results_pointer) {
            Some(Value::Array(items)) => items.as_slice(),
            Some(one @ Value::Object(_)) if inputs.len() == 1 => std::slice::from_ref(one),
            _ => &[],
        }
    } else {
        // A jq program (checked when the definition loaded): its outputs are the results. One
        // that fails on this body finds none, and the inputs fail as unanswered.
        selected = Selector::parse(results_pointer)
            .and_then(|s| s.select(body))
            .unwrap_or_default();
        selected.as_slice()
    };
    for (position, result) in results.iter().enumerate() {
        let by_ref = spec
            .result_ref
            .as_deref()
            .and_then(|p| result.pointer(p))
            .and_then(scalar_text)
            .and_then(|r| inputs.iter().position(|i| i.reference == r));
        let by_key = || {
            let key = spec
                .result_key
                .as_deref()
                .and_then(|p| result.pointer(p))
                .and_then(scalar_text)?;
            (0..inputs.len())
                .find(|&i| out[i].is_none() && inputs[i].key.as_deref().is_some_and(|k| k.eq_ignore_ascii_case(&key)))
        };
        let by_order = || (results.len() == inputs.len()).then_some(position);
        if let Some(i) = by_ref.or_else(by_key).or_else(by_order) {
            out[i] = Some(if spec.result_failed.as_ref().is_some_and(|m| m.matches(result)) {
                WriteResult::failed(message_of(spec, result), ErrorClass::Permanent)
            } else {
                WriteResult::Ok {
                    destination_id: destination_id(result),
                }
            });
        }
    }
    let unattributed = fail_named_inputs(spec, inputs, body, &mut out);
    out.into_iter()
        .map(|r| {
            r.unwrap_or_else(|| match &unattributed {
                Some(message) => WriteResult::failed(message.clone(), ErrorClass::Permanent),
                None => WriteResult::failed(
                    "the destination returned no result for this record",
                    ErrorClass::Transient,
                ),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hubspot() -> WriteResponseSpec {
        serde_yaml::from_str(
            "{results: /results, destination_id: /id, result_ref: /objectWriteTraceId, \
             result_key: /properties/email, errors: /errors, error_ref: /context/objectWriteTraceId, \
             error_key: /context/ids}",
        )
        .unwrap()
    }

    #[test]
    fn a_jq_results_program_reads_results_from_several_arrays() {
        // Mailchimp's batch subscribe: created and updated members apart, errors by email.
        let spec: WriteResponseSpec = serde_yaml::from_str(
            "{results: '(.new_members // []) + (.updated_members // []) | .[]', result_key: /email_address, \
             destination_id: /id, errors: /errors, error_key: /email_address, error_message: /error}",
        )
        .unwrap();
        let body = json!({
            "new_members": [{"id": "h2", "email_address": "b@x.io"}],
            "updated_members": [{"id": "h1", "email_address": "A@x.io"}],
            "errors": [{"email_address": "bad@x", "error": "bad@x looks fake or invalid", "error_code": "ERROR_GENERIC"}],
        });
        let out = read_results(&spec, &inputs(&["a@x.io", "bad@x", "b@x.io"]), &body);
        assert_eq!(
            out,
            vec![
                WriteResult::Ok {
                    destination_id: Some("h1".into())
                },
                WriteResult::failed("bad@x looks fake or invalid", ErrorClass::Permanent),
                WriteResult::Ok {
                    destination_id: Some("h2".into())
                },
            ]
        );
        // No `updated_members` at all: the created ones still count, the rest are unanswered.
        let out = read_results(
            &spec,
            &inputs(&["b@x.io", "c@x.io"]),
            &json!({"new_members": [{"id": "h2", "email_address": "b@x.io"}]}),
        );
        assert!(out[0].is_ok());
        assert!(matches!(
            &out[1],
            WriteResult::Failed {
                class: ErrorClass::Transient,
                ..
            }
        ));
    }

    fn inputs(keys: &[&str]) -> Vec<Input> {
        keys.iter()
            .enumerate()
            .map(|(i, k)| Input {
                key: Some((*k).to_owned()),
                reference: i.to_string(),
            })
            .collect()
    }

    #[test]
    fn an_errors_only_response_fails_the_named_records_and_writes_the_others() {
        // BigQuery's tabledata.insertAll with skipInvalidRows: only refused rows are listed.
        let spec: WriteResponseSpec =
            serde_yaml::from_str("{errors: /insertErrors, error_ref: /index, error_message: /errors/0/message}")
                .unwrap();
        let body = json!({"kind": "bigquery#tableDataInsertAllResponse", "insertErrors": [
            {"index": 1, "errors": [{"reason": "invalid", "message": "no such field: nickname."}]}
        ]});
        let out = read_results(&spec, &inputs(&["a", "b", "c"]), &body);
        assert_eq!(out[0], WriteResult::Ok { destination_id: None });
        assert_eq!(
            out[1],
            WriteResult::failed("no such field: nickname.", ErrorClass::Permanent)
        );
        assert_eq!(out[2], WriteResult::Ok { destination_id: None });
        // No errors at all: every record was written.
        let clean = read_results(&spec, &inputs(&["a", "b"]), &json!({"kind": "x"}));
        assert!(clean.iter().all(|r| matches!(r, WriteResult::Ok { .. })), "{clean:?}");
        // An error naming no record cannot be placed: the whole batch fails with it.
        let stray = json!({"insertErrors": [{"errors": [{"message": "table is being deleted"}]}]});
        let out = read_results(&spec, &inputs(&["a", "b"]), &stray);
        assert!(out
            .iter()
            .all(|r| *r == WriteResult::failed("table is being deleted", ErrorClass::Permanent)));
    }

    #[test]
    fn results_match_inputs_by_ref_whatever_their_order() {
        let body = json!({"status": "COMPLETE", "results": [
            {"id": "202", "objectWriteTraceId": "1", "properties": {"email": "b@x.io"}},
            {"id": "101", "objectWriteTraceId": "0", "properties": {"email": "a@x.io"}}
        ]});
        let out = read_results(&hubspot(), &inputs(&["a@x.io", "b@x.io"]), &body);
        assert_eq!(
            out,
            vec![
                WriteResult::Ok {
                    destination_id: Some("101".into())
                },
                WriteResult::Ok {
                    destination_id: Some("202".into())
                }
            ]
        );
    }

    #[test]
    fn results_without_refs_match_by_key_ignoring_case() {
        let body = json!({"results": [
            {"id": "2", "properties": {"email": "b@x.io"}},
            {"id": "1", "properties": {"email": "a@x.io"}}
        ]});
        let out = read_results(&hubspot(), &inputs(&["A@x.io", "b@x.io"]), &body);
        assert_eq!(
            out[0],
            WriteResult::Ok {
                destination_id: Some("1".into())
            }
        );
        assert_eq!(
            out[1],
            WriteResult::Ok {
                destination_id: Some("2".into())
            }
        );
    }

    #[test]
    fn per_record_errors_fail_only_their_records() {
        let body = json!({
            "status": "COMPLETE",
            "results": [{"id": "1", "objectWriteTraceId": "0"}],
            "errors": [{"status": "error", "category": "VALIDATION_ERROR",
                        "message": "Property values were not valid", "context": {"ids": ["bad@x.io"]}}],
            "numErrors": 1
        });
        let out = read_results(&hubspot(), &inputs(&["a@x.io", "bad@x.io", "c@x.io"]), &body);
        assert!(out[0].is_ok());
        assert_eq!(
            out[1],
            WriteResult::failed("Property values were not valid", ErrorClass::Permanent)
        );
        assert_eq!(
            out[2],
            WriteResult::failed(
                "the destination returned no result for this record",
                ErrorClass::Transient
            )
        );
    }

    #[test]
    fn unattributed_errors_fail_the_unmatched_records_with_their_message() {
        let body = json!({"results": [], "errors": [{"message": "quota exceeded"}]});
        let out = read_results(&hubspot(), &inputs(&["a@x.io"]), &body);
        assert_eq!(out[0], WriteResult::failed("quota exceeded", ErrorClass::Permanent));
    }

    #[test]
    fn without_a_results_pointer_the_body_is_the_result() {
        let spec: WriteResponseSpec = serde_yaml::from_str("{destination_id: /ts}").unwrap();
        let out = read_results(&spec, &inputs(&["x"]), &json!({"ok": true, "ts": "1503435956.000247"}));
        assert_eq!(
            out[0],
            WriteResult::Ok {
                destination_id: Some("1503435956.000247".into())
            }
        );
    }

    #[test]
    fn equal_counts_match_by_order_as_a_last_resort() {
        let spec: WriteResponseSpec = serde_yaml::from_str("{results: /data, destination_id: /id}").unwrap();
        let out = read_results(&spec, &inputs(&["a", "b"]), &json!({"data": [{"id": 1}, {"id": 2}]}));
        assert_eq!(
            out[1],
            WriteResult::Ok {
                destination_id: Some("2".into())
            }
        );
    }

    #[test]
    fn an_id_is_the_last_segment_of_a_location() {
        assert_eq!(
            id_from_location("https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/record/v1/customer/647")
                .as_deref(),
            Some("647")
        );
        assert_eq!(id_from_location("/v1/items/a%20b/?x=1").as_deref(), Some("a b"));
        assert_eq!(id_from_location(""), None);
    }

    #[test]
    fn write_results_serialise_with_a_status_tag() {
        let v = serde_json::to_value(WriteResult::failed("bad email", ErrorClass::Permanent)).unwrap();
        assert_eq!(
            v,
            json!({"status": "failed", "reason": "bad email", "class": {"class": "permanent"}})
        );
    }

    #[test]
    fn results_answered_in_place_fail_when_they_match_result_failed() {
        let spec: WriteResponseSpec = serde_yaml::from_str(
            "{results: /data, destination_id: /details/id, error_message: /message, \
             result_failed: {pointer: /status, equals: error}}",
        )
        .unwrap();
        let body = json!({"data": [
            {"code": "SUCCESS", "details": {"id": "501"}, "message": "record added", "status": "success"},
            {"code": "INVALID_DATA", "details": {"api_name": "Email"}, "message": "invalid data", "status": "error"}
        ]});
        let out = read_results(&spec, &inputs(&["a@x.io", "b@x.io"]), &body);
        assert_eq!(
            out,
            vec![
                WriteResult::Ok {
                    destination_id: Some("501".into())
                },
                WriteResult::failed("invalid data", ErrorClass::Permanent)
            ]
        );
    }

    #[test]
    fn an_object_result_answers_a_single_record_request() {
        // A GraphQL mutation payload: the record's id, or userErrors refusing it.
        let spec: WriteResponseSpec = serde_yaml::from_str(
            "{results: /data/customerCreate, destination_id: /customer/id, \
             error_message: /userErrors/0/message, result_failed: {pointer: /userErrors/0}}",
        )
        .unwrap();
        let one = inputs(&["a@x.io"]);
        let ok = json!({"data": {"customerCreate": {"customer": {"id": "gid://shop/Customer/7"}, "userErrors": []}}});
        assert_eq!(
            read_results(&spec, &one, &ok),
            vec![WriteResult::Ok {
                destination_id: Some("gid://shop/Customer/7".into())
            }]
        );
        let refused = json!({"data": {"customerCreate": {"customer": null,
            "userErrors": [{"field": ["email"], "message": "Email has already been taken"}]}}});
        assert_eq!(
            read_results(&spec, &one, &refused),
            vec![WriteResult::failed(
                "Email has already been taken",
                ErrorClass::Permanent
            )]
        );
        // With two inputs an object cannot say which record it answers: neither is written.
        let two = inputs(&["a@x.io", "b@x.io"]);
        assert!(read_results(&spec, &two, &ok).iter().all(|r| !r.is_ok()));
    }
}
