//! Native versions of jq standard-library filters that mappings call on every record.
//!
//! jaq defines `join/1` in jq (`.[] |= tostring | .[:-1][] += $s | reduce ...`), which builds
//! an intermediate string per element and an update path per separator; `split/1` checks its
//! arguments with four jq comparisons before the native `/`. A typical mapping (split a name,
//! join the rest back) spent about a third of its time there.
//!
//! The replacements keep jaq's semantics exactly, including its choices that differ from jq's
//! (`[null, 1, true] | join("-")` is `"null-1-true"`, arrays and objects are joined as their JSON
//! text), and the same error messages. Where they would have to reproduce an unusual path they
//! run jaq's own definition instead: `join` on anything but an array runs jaq's `join` under
//! the name `_jaq_join`. The unit tests compare the two on edge cases.
//!
//! They run inside the mapping sandbox like every other filter: their allocations go through
//! the guarded allocator (memory bound), the time bound's signal reaches them like any native,
//! and their outputs are counted by the output bound. Both are linear in their input.

use jaq_core::load::parse::Def;
use jaq_core::native::{run, unary, v, Fun};
use jaq_core::{data, Cv, Error, RunPtr, ValR, ValT, ValXs};
use jaq_json::Val;

type Data = data::JustLut<Val>;

/// jq definitions that replace jaq's `join/1` and `split/1` (parsed once per compile).
const DEFS: &str = r#"
def join($s): if . >= [] and . < {} then _native_join($s) else _jaq_join($s) end;
def split($sep): _native_split($sep);
"#;

/// Whether `def` is one of the definitions this module replaces.
fn replaced(def: &Def) -> bool {
    matches!((def.name, def.args.len()), ("join" | "split", 1))
}

/// The standard library's definitions with `join/1` and `split/1` replaced in place (so the
/// definitions after them, such as `@sh`, call the native ones). jaq's own `join/1` stays
/// reachable as `_jaq_join` for inputs that are not arrays.
pub(crate) fn with_native_defs(defs: impl Iterator<Item = Def>) -> impl Iterator<Item = Def> {
    let mut ours = jaq_core::load::parse(DEFS, |p| p.defs()).expect("the native wrappers parse");
    defs.flat_map(move |def| {
        if !replaced(&def) {
            return vec![def];
        }
        let position = ours
            .iter()
            .position(|o| o.name == def.name)
            .expect("every replaced definition has a wrapper");
        let wrapper = ours.remove(position);
        if def.name == "join" {
            vec![
                Def {
                    name: "_jaq_join",
                    ..def
                },
                wrapper,
            ]
        } else {
            vec![wrapper]
        }
    })
}

/// The native filters the wrappers call.
pub(crate) fn funs() -> impl Iterator<Item = Fun<Data>> {
    let join: RunPtr<Data> = native_join;
    let split: RunPtr<Data> = native_split;
    [
        run::<Data>(("_native_join", v(1), join)),
        run::<Data>(("_native_split", v(1), split)),
    ]
    .into_iter()
}

fn native_join(cv: Cv<'_, Data>) -> ValXs<'_, Val> {
    unary(cv, join)
}

fn native_split(cv: Cv<'_, Data>) -> ValXs<'_, Val> {
    unary(cv, split)
}

/// jaq's `join($s)` on an array: every element through `tostring`, `$s` added after each but
/// the last, everything concatenated.
fn join(input: Val, sep: Val) -> ValR<Val> {
    let items = match input {
        Val::Arr(items) => items,
        // The wrapper sends only arrays here.
        other => return Err(Error::typ(other, "array")),
    };
    let sep_bytes: &[u8] = match &sep {
        Val::TStr(s) => s,
        // `null` is neutral for `+`; with fewer than two elements the separator is never added.
        Val::Null => b"",
        _ if items.len() < 2 => b"",
        // Anything else: jaq's definition step by step (it fails on the first `+`).
        _ => return join_by_adding(&items, sep),
    };
    let mut len = sep_bytes.len() * items.len().saturating_sub(1);
    for item in items.iter() {
        if let Val::TStr(b) | Val::BStr(b) = item {
            len += b.len();
        }
    }
    let mut out = Vec::with_capacity(len);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(sep_bytes);
        }
        match item {
            Val::TStr(b) | Val::BStr(b) => out.extend_from_slice(b),
            other => match other.clone().into_string() {
                Val::TStr(b) => out.extend_from_slice(&b),
                _ => unreachable!("tostring yields a string"),
            },
        }
    }
    Ok(Val::utf8_str(out))
}

/// jaq's definition of `join($s)` on an array, with jaq's `+`, for separators that are neither
/// a string nor `null`: `.[] |= tostring | .[:-1][] += $s | reduce .[] as $x (""; . + $x)`.
fn join_by_adding(items: &[Val], sep: Val) -> ValR<Val> {
    let last = items.len().saturating_sub(1);
    let mut parts = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let part = item.clone().into_string();
        parts.push(if i < last { (part + sep.clone())? } else { part });
    }
    parts
        .into_iter()
        .try_fold(Val::utf8_str(Vec::new()), |acc, part| acc + part)
}

/// jaq's `split($sep)`: both strings, else the standard library's error.
fn split(input: Val, sep: Val) -> ValR<Val> {
    let is_string = |v: &Val| matches!(v, Val::TStr(_) | Val::BStr(_));
    if is_string(&input) && is_string(&sep) {
        input / sep
    } else {
        Err(Error::str("split input and separator must be strings"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::connector::mapping::Mapping;

    /// Every output (or the error's text) of `jq` on `input`, via the mapping's own runner.
    fn outputs(jq: &str, input: &Value) -> Result<Vec<Value>, String> {
        Mapping::compile(jq)
            .expect("the test program compiles")
            .apply_all(input)
            .map_err(|e| e.to_string())
    }

    /// The native filter and jaq's definition agree on every input (values and error text).
    fn agree(native: &str, reference: &str, inputs: &[Value]) {
        let (ours, theirs) = (Mapping::compile(native).unwrap(), Mapping::compile(reference).unwrap());
        for input in inputs {
            let ours = ours.apply_all(input).map_err(|e| e.to_string());
            let theirs = theirs.apply_all(input).map_err(|e| e.to_string());
            assert_eq!(ours, theirs, "{native} against {reference} on {input}");
        }
    }

    const JAQ_SPLIT: &str = r#"def jaq_split($sep):
        if isstring and ($sep | isstring) then . / $sep
        else error("split input and separator must be strings") end;"#;

    #[test]
    fn join_matches_jaqs_definition_on_edge_cases() {
        let inputs = [
            json!([]),
            json!(["a"]),
            json!(["a", "b", "c"]),
            json!([null]),
            json!([null, null]),
            json!([1, 2.5, -0.0, 1e300, 12345678901234567890u64]),
            json!([true, false, null, "x"]),
            json!([[1, [2]], {"a": {"b": null}}, "s"]),
            json!(["", "", ""]),
            json!(["é", "ü", "\u{1F600}", "a\"b\\c\n"]),
            json!({"a": "x", "b": "y"}),
            json!({}),
            json!("abc"),
            json!(""),
            json!(3),
            json!(null),
            json!(true),
        ];
        let seps = [
            r#"" ""#, r#""""#, r#"", ""#, "null", "1", "true", "[]", "{}", r#"["x"]"#, r#""é""#,
        ];
        for sep in seps {
            agree(&format!("join({sep})"), &format!("_jaq_join({sep})"), &inputs);
        }
        // A separator with several outputs joins once per output.
        agree(r#"join("-", null, 1)"#, r#"_jaq_join("-", null, 1)"#, &inputs);
    }

    #[test]
    fn join_gives_jaqs_results_for_mixed_elements() {
        // Pinned results, so a change of jaq's definition shows up here too.
        let run = |jq: &str, input: Value| outputs(jq, &input).unwrap();
        assert_eq!(
            run(r#"join("-")"#, json!([null, 1, true, "x"])),
            [json!("null-1-true-x")]
        );
        assert_eq!(
            run(r#"join(", ")"#, json!([[1, 2], {"a": 1}])),
            [json!(r#"[1,2], {"a":1}"#)]
        );
        assert_eq!(run(r#"join("-")"#, json!([])), [json!("")]);
        assert_eq!(run("join(null)", json!(["a", "b"])), [json!("ab")]);
        assert_eq!(run("join(1)", json!(["a"])), [json!("a")]);
        let err = outputs("join(1)", &json!(["a", "b"])).unwrap_err();
        assert!(err.contains("cannot calculate"), "{err}");
    }

    #[test]
    fn split_matches_jaqs_definition_on_edge_cases() {
        let inputs = [
            json!(""),
            json!(" "),
            json!("Jenny Rosen"),
            json!("  two  spaces  "),
            json!("a,b,,c,"),
            json!("é ü \u{1F600}"),
            json!(null),
            json!(1),
            json!(["a b"]),
            json!({"a": "b"}),
        ];
        let seps = [
            r#"" ""#, r#""""#, r#"",""#, r#""  ""#, "null", "1", r#"["a"]"#, r#""é""#,
        ];
        for sep in seps {
            agree(
                &format!("split({sep})"),
                &format!("{JAQ_SPLIT} jaq_split({sep})"),
                &inputs,
            );
        }
        // `split/2` (regular expressions) is jaq's, untouched.
        assert_eq!(
            outputs(r#"split(", *"; null)"#, &json!("a, b,c")).unwrap(),
            [json!(["a", "b", "c"])]
        );
    }

    #[test]
    fn the_demo_mapping_gives_the_same_record_as_with_jaqs_definitions() {
        let demo = |join: &str, split: &str| {
            format!(
                r#"{JAQ_SPLIT} ((.name // "") | {split}(" ")) as $name
                | {{ firstname: ($name[0] // ""), lastname: ($name[1:] | {join}(" ")) }}"#
            )
        };
        let inputs: Vec<Value> = [
            json!("Jenny Rosen"),
            json!("Ada King Lovelace"),
            json!("Cher"),
            json!(""),
            json!(null),
        ]
        .into_iter()
        .map(|name| json!({ "name": name }))
        .collect();
        agree(&demo("join", "split"), &demo("_jaq_join", "jaq_split"), &inputs);
    }

    #[test]
    fn definitions_after_join_use_the_native_one() {
        // jaq's `@sh` is defined with `join(" ")` after `join` itself.
        assert_eq!(
            outputs("@sh", &json!(["a b", 1, null])).unwrap(),
            [json!("'a b' 1 null")]
        );
    }
}
