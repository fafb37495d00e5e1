//! jq mappings, run by the jaq crates: compiled once, run per record.
//!
//! The standard library is available except what reaches outside the record: `env`/`$ENV`
//! (the Lambda environment holds AWS credentials), `input`/`inputs`, `halt`, and the
//! logging filters `debug`/`stderr` (they would write records to the logs). Module imports
//! are refused by the loader.
//!
//! A program that fails on one record is a [`MappingError`] for that record only.

use std::fmt;

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{data, unwrap_valr, Compiler, Ctx, Vars};
use jaq_json::Val;
use serde::Deserialize as _;
use serde_json::{Map, Number, Value};

use super::errors::short_text;

type Filter = jaq_core::Filter<data::JustLut<Val>>;

/// Native filters left out of the standard library (see the module docs).
const DENIED_NATIVES: &[&str] = &["env", "halt", "stderr_empty", "debug_empty"];
/// Definitions left out because they use a denied native.
const DENIED_DEFS: &[&str] = &["debug", "stderr", "halt", "halt_error"];
/// Most outputs [`Mapping::apply_all`] collects.
pub const MAX_OUTPUTS: usize = 10_000;

/// A compiled jq program.
pub struct Mapping {
    filter: Filter,
    source: String,
}

impl fmt::Debug for Mapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mapping").field("source", &self.source).finish()
    }
}

impl Clone for Mapping {
    fn clone(&self) -> Self {
        // Recompiling cannot fail: the source compiled before.
        Mapping::compile(&self.source).expect("a program that compiled once compiles again")
    }
}

/// Why a mapping did not compile or did not produce a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// The program does not parse or uses an unknown filter or variable.
    #[error("jq program does not compile: {0}")]
    Compile(String),
    /// The program raised an error on this input (`.a.b` on a number, `error("...")`).
    #[error("jq program failed on this record: {0}")]
    Runtime(String),
    /// The program produced no output for this input (`select(...)` dropped it).
    #[error("jq program produced no output for this record")]
    Empty,
    /// [`Mapping::apply`] wants one output; the program produced several.
    #[error("jq program produced {0} outputs for this record, expected one")]
    MultipleOutputs(usize),
    /// An output cannot be JSON (an object key that is not a string, say).
    #[error("jq output is not JSON: {0}")]
    NotJson(String),
}

impl Mapping {
    /// Compiles `jq`.
    pub fn compile(jq: &str) -> Result<Mapping, MappingError> {
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs())
            .filter(|d| !DENIED_DEFS.contains(&d.name));
        let funs = jaq_core::funs()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs())
            .filter(|(name, _, _)| !DENIED_NATIVES.contains(name));
        let loader = Loader::new(defs);
        let arena = Arena::default();
        let modules = loader
            .load(&arena, File { code: jq, path: () })
            .map_err(|errors| MappingError::Compile(describe_load_errors(jq, errors)))?;
        let filter = Compiler::default().with_funs(funs).compile(modules).map_err(|errors| {
            let names: Vec<String> = errors
                .into_iter()
                .flat_map(|(_, errs)| errs)
                .map(|(name, undefined)| format!("undefined {} `{name}`", undefined.as_str()))
                .collect();
            MappingError::Compile(names.join("; "))
        })?;
        Ok(Mapping {
            filter,
            source: jq.to_owned(),
        })
    }

    /// The program's text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Runs the program and expects exactly one output.
    pub fn apply(&self, input: &Value) -> Result<Value, MappingError> {
        let mut outputs = self.run(input, 2)?;
        match outputs.len() {
            0 => Err(MappingError::Empty),
            1 => Ok(outputs.pop().expect("one output")),
            _ => {
                // Count them all for the message, within the cap.
                let n = self.run(input, MAX_OUTPUTS)?.len();
                Err(MappingError::MultipleOutputs(n))
            }
        }
    }

    /// Runs the program and collects every output (at most [`MAX_OUTPUTS`]).
    pub fn apply_all(&self, input: &Value) -> Result<Vec<Value>, MappingError> {
        self.run(input, MAX_OUTPUTS)
    }

    fn run(&self, input: &Value, limit: usize) -> Result<Vec<Value>, MappingError> {
        let input = Val::deserialize(input).map_err(|e| MappingError::NotJson(e.to_string()))?;
        let ctx = Ctx::<data::JustLut<Val>>::new(&self.filter.lut, Vars::new([]));
        let mut out = Vec::new();
        for result in self.filter.id.run((ctx, input)).map(unwrap_valr).take(limit) {
            let val = result.map_err(|e| MappingError::Runtime(short_text(&e.to_string(), 300)))?;
            out.push(to_json(val)?);
        }
        Ok(out)
    }
}

fn describe_load_errors(code: &str, errors: jaq_core::load::Errors<&str, ()>) -> String {
    use jaq_core::load::Error;
    let at = |part: &str| jaq_core::load::span(code, part).start;
    let mut messages = Vec::new();
    for (_, error) in errors {
        match error {
            Error::Io(errs) => {
                messages.extend(errs.into_iter().map(|(path, e)| format!("cannot import `{path}`: {e}")))
            }
            Error::Lex(errs) => messages.extend(
                errs.into_iter()
                    .map(|(expect, part)| format!("expected {} at offset {}", expect.as_str(), at(part))),
            ),
            Error::Parse(errs) => messages.extend(
                errs.into_iter()
                    .map(|(expect, part)| format!("expected {} at offset {}", expect.as_str(), at(part))),
            ),
        }
    }
    messages.join("; ")
}

/// Converts a jaq value to JSON. NaN and infinities become `null` (as jq prints them).
fn to_json(val: Val) -> Result<Value, MappingError> {
    Ok(match val {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(b),
        Val::Num(n) => num_to_json(&n),
        Val::TStr(bytes) | Val::BStr(bytes) => Value::String(String::from_utf8_lossy(&bytes).into_owned()),
        Val::Arr(items) => Value::Array(
            jaq_json::Rc::unwrap_or_clone(items)
                .into_iter()
                .map(to_json)
                .collect::<Result<_, _>>()?,
        ),
        Val::Obj(map) => {
            let mut out = Map::new();
            for (k, v) in jaq_json::Rc::unwrap_or_clone(map) {
                let key = match k {
                    Val::TStr(bytes) | Val::BStr(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                    other => return Err(MappingError::NotJson(format!("object key {other} is not a string"))),
                };
                out.insert(key, to_json(v)?);
            }
            Value::Object(out)
        }
    })
}

fn num_to_json(n: &jaq_json::Num) -> Value {
    use jaq_json::Num;
    match n {
        Num::Int(i) => Value::Number((*i as i64).into()),
        Num::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Num::BigInt(_) | Num::Dec(_) => {
            let text = n.to_string();
            text.parse::<Number>()
                .ok()
                .or_else(|| text.parse::<f64>().ok().and_then(Number::from_f64))
                .map_or(Value::Null, Value::Number)
        }
    }
}

/// Where records are in a response: a JSON pointer or a jq program.
#[derive(Debug, Clone)]
pub enum Selector {
    /// RFC 6901 pointer; `""` is the whole document.
    Pointer(String),
    /// A jq program; each output is a record (a single array output is its elements).
    Jq(Box<Mapping>),
}

impl Selector {
    /// A pointer when `text` is empty or starts with `/`, else a jq program.
    pub fn parse(text: &str) -> Result<Selector, MappingError> {
        if text.is_empty() || text.starts_with('/') {
            Ok(Selector::Pointer(text.to_owned()))
        } else {
            Ok(Selector::Jq(Box::new(Mapping::compile(text)?)))
        }
    }

    /// The records in `doc`: an array's elements, or a single object; nothing when the
    /// pointer is absent or null.
    pub fn select(&self, doc: &Value) -> Result<Vec<Value>, MappingError> {
        let found = match self {
            Selector::Pointer(p) => match doc.pointer(p) {
                None | Some(Value::Null) => return Ok(Vec::new()),
                Some(v) => vec![v.clone()],
            },
            Selector::Jq(m) => m.apply_all(doc)?,
        };
        Ok(match found.as_slice() {
            [Value::Array(items)] => items.clone(),
            _ => found.into_iter().filter(|v| !v.is_null()).collect(),
        })
    }

    /// The first selected value (fetching one record).
    pub fn select_one(&self, doc: &Value) -> Result<Option<Value>, MappingError> {
        let found = match self {
            Selector::Pointer(p) => doc.pointer(p).filter(|v| !v.is_null()).cloned(),
            Selector::Jq(m) => m.apply_all(doc)?.into_iter().find(|v| !v.is_null()),
        };
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_a_stripe_customer_to_hubspot_properties() {
        let m = Mapping::compile(
            r#"{email: .email, firstname: (.name // "" | split(" ") | .[0]), created: (.created | todate)}"#,
        )
        .unwrap();
        let out = m
            .apply(&json!({"id": "cus_1", "email": "ada@example.com", "name": "Ada Lovelace", "created": 1700000000}))
            .unwrap();
        assert_eq!(
            out,
            json!({"email": "ada@example.com", "firstname": "Ada", "created": "2023-11-14T22:13:20Z"})
        );
    }

    #[test]
    fn a_runtime_error_is_reported_for_that_record_only() {
        let m = Mapping::compile(".a.b").unwrap();
        assert!(matches!(m.apply(&json!({"a": 5})), Err(MappingError::Runtime(_))));
        assert_eq!(m.apply(&json!({"a": {"b": 1}})).unwrap(), json!(1));
        let m = Mapping::compile(r#"if .bad then error("poison record") else . end"#).unwrap();
        let err = m.apply(&json!({"bad": true})).unwrap_err();
        assert!(err.to_string().contains("poison record"), "{err}");
    }

    #[test]
    fn empty_and_multiple_outputs_are_errors_for_apply() {
        let m = Mapping::compile("select(.keep)").unwrap();
        assert_eq!(m.apply(&json!({"keep": false})), Err(MappingError::Empty));
        let m = Mapping::compile(".[]").unwrap();
        assert_eq!(m.apply(&json!([1, 2, 3])), Err(MappingError::MultipleOutputs(3)));
        assert_eq!(
            m.apply_all(&json!([1, 2, 3])).unwrap(),
            vec![json!(1), json!(2), json!(3)]
        );
    }

    #[test]
    fn compile_errors_say_what_and_where() {
        let err = Mapping::compile(".[").unwrap_err().to_string();
        assert!(err.contains("closing bracket"), "{err}");
        let err = Mapping::compile("nosuch(1)").unwrap_err().to_string();
        assert!(err.contains("undefined filter `nosuch`"), "{err}");
    }

    #[test]
    fn environment_input_and_logging_are_not_available() {
        for program in [
            "env",
            "$ENV",
            "env.AWS_SECRET_ACCESS_KEY",
            "input",
            "inputs",
            "debug",
            "stderr",
            "halt",
        ] {
            assert!(
                matches!(Mapping::compile(program), Err(MappingError::Compile(_))),
                "{program} compiled"
            );
        }
    }

    #[test]
    fn numbers_round_trip_and_nan_becomes_null() {
        let m = Mapping::compile("[.i, .f, .big, nan]").unwrap();
        let out = m
            .apply(&json!({"i": -42, "f": 2.5, "big": 12345678901234567890u64}))
            .unwrap();
        assert_eq!(out[0], json!(-42));
        assert_eq!(out[1], json!(2.5));
        assert_eq!(out[2].as_f64().unwrap(), 12345678901234567890f64);
        assert_eq!(out[3], Value::Null);
    }

    #[test]
    fn selectors_take_pointers_or_jq() {
        let body = json!({"data": [{"id": 1}, {"id": 2}], "one": {"id": 3}});
        let ids = |s: &str| -> Vec<Value> { Selector::parse(s).unwrap().select(&body).unwrap() };
        assert_eq!(ids("/data").len(), 2);
        assert_eq!(ids("/one"), vec![json!({"id": 3})]);
        assert!(ids("/missing").is_empty());
        assert_eq!(ids(".data[]").len(), 2);
        assert_eq!(ids(".data").len(), 2);
        assert_eq!(ids(".data[] | select(.id > 1)"), vec![json!({"id": 2})]);
        assert_eq!(
            Selector::parse("").unwrap().select_one(&json!({"id": 9})).unwrap(),
            Some(json!({"id": 9}))
        );
    }

    #[test]
    fn mapping_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Mapping>();
        check::<Selector>();
    }
}
