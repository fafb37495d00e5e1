//! jq mappings, run by the jaq crates: compiled once, run per record.
//!
//! The standard library is available except what reaches outside the record: `env`/`$ENV`
//! (the Lambda environment holds AWS credentials), `input`/`inputs`, `halt`, and the
//! logging filters `debug`/`stderr` (they would write records to the logs). Module imports
//! are refused by the loader.
//!
//! A program that fails on one record is a [`MappingError`] for that record only.
//!
//! Mappings are written by tenants, so every compile and every run happens in the
//! [`crate::sandbox`], within the deployment's [`Limits`] (per record: 100 ms, 64 MB of
//! memory, 16 MB of stack and 1 MB of output by default; programs up to 64 KB and 64 levels
//! of nesting). A record that exceeds a bound fails alone with that bound as its reason.
//! [`Mapping::cached`] compiles a program once per process.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{data, unwrap_valr, Compiler, Ctx, Vars};
use jaq_json::Val;
use serde_json::{Map, Number, Value};

use super::errors::short_text;
use super::jq_natives;
use crate::sandbox::{self, Exceeded, Limits};

type Filter = jaq_core::Filter<data::JustLut<Val>>;

/// Native filters left out of the standard library (see the module docs).
/// The global variable a mapping reads the ids of its flow's `lookups` from.
pub const LINKS_VAR: &str = "$links";

const DENIED_NATIVES: &[&str] = &["env", "halt", "stderr_empty", "debug_empty"];
/// Definitions left out because they use a denied native.
const DENIED_DEFS: &[&str] = &["debug", "stderr", "halt", "halt_error"];
/// Most outputs [`Mapping::apply_all`] collects.
pub const MAX_OUTPUTS: usize = 10_000;

/// A compiled jq program (cheap to clone: the compiled program is shared).
#[derive(Clone)]
pub struct Mapping {
    inner: Arc<Compiled>,
}

struct Compiled {
    filter: Filter,
    source: String,
    limits: Limits,
}

impl fmt::Debug for Mapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mapping").field("source", &self.inner.source).finish()
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
    /// The program exceeded a bound of time, memory or stack on this record (or while compiling).
    #[error("jq program {0}")]
    Bound(Exceeded),
    /// An output is larger than the deployment allows.
    #[error("jq program output exceeded {}", sandbox::human_bytes(*.0))]
    OutputTooLarge(usize),
    /// The program's text is longer than the deployment allows.
    #[error("jq program is {len} bytes long; the limit is {max}")]
    TooLong { len: usize, max: usize },
    /// The program nests brackets or blocks deeper than the deployment allows.
    #[error("jq program nests more than {0} levels deep")]
    TooDeep(usize),
    /// [`check_mapping`]: the program failed on a sample record (1-based).
    #[error("on sample record {index}: {error}")]
    Sample { index: usize, error: Box<MappingError> },
}

impl MappingError {
    /// True when the program itself is at fault whatever the record (it does not compile, or
    /// it broke a bound of time, memory, stack or output).
    pub fn is_bound(&self) -> bool {
        match self {
            MappingError::Bound(_)
            | MappingError::OutputTooLarge(_)
            | MappingError::TooLong { .. }
            | MappingError::TooDeep(_) => true,
            MappingError::Sample { error, .. } => error.is_bound(),
            _ => false,
        }
    }
}

/// Compiled programs of this process, by source text (flows share them; a warm Lambda
/// compiles each flow's mapping once).
static CACHE: Mutex<Option<HashMap<String, Result<Mapping, MappingError>>>> = Mutex::new(None);
/// Most programs the cache keeps before it starts afresh.
const CACHE_CAPACITY: usize = 512;

impl Mapping {
    /// Compiles `jq` within the process's [`Limits::global`].
    pub fn compile(jq: &str) -> Result<Mapping, MappingError> {
        Self::compile_with(jq, Limits::global())
    }

    /// Compiles `jq` once per process: later calls with the same text share the program (or
    /// the error).
    pub fn cached(jq: &str) -> Result<Mapping, MappingError> {
        if let Some(hit) = CACHE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .and_then(|c| c.get(jq))
        {
            return hit.clone();
        }
        let compiled = Self::compile(jq);
        if let Err(MappingError::Bound(_)) = compiled {
            // Compiling ran out of time or stack: not cached, as a busy machine may be why.
            return compiled;
        }
        let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        let cache = cache.get_or_insert_with(HashMap::new);
        if cache.len() >= CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(jq.to_owned(), compiled.clone());
        compiled
    }

    /// Compiles `jq` within `limits`: its length and nesting are checked first, then it is
    /// compiled in the sandbox (the parser recurses; a deep program must not overflow the
    /// caller's stack).
    pub fn compile_with(jq: &str, limits: &Limits) -> Result<Mapping, MappingError> {
        if jq.len() > limits.max_program_bytes {
            return Err(MappingError::TooLong {
                len: jq.len(),
                max: limits.max_program_bytes,
            });
        }
        if nesting_depth(jq) > limits.max_nesting {
            return Err(MappingError::TooDeep(limits.max_nesting));
        }
        // The standard library is parsed here, on the caller's thread, the first time: a
        // sandbox thread stranded half way through the one-time parse would leave every later
        // compile in this process waiting on it.
        std_defs();
        let filter = sandbox::run_one(jq.to_owned(), limits.compile_bounds(), |jq| compile_filter(jq))
            .map_err(MappingError::Bound)??;
        Ok(Mapping {
            inner: Arc::new(Compiled {
                filter,
                source: jq.to_owned(),
                limits: *limits,
            }),
        })
    }

    /// The program's text.
    pub fn source(&self) -> &str {
        &self.inner.source
    }

    /// The limits this program runs within.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Runs the program and expects exactly one output.
    pub fn apply(&self, input: &Value) -> Result<Value, MappingError> {
        self.apply_each(Arc::new(vec![input.clone()]))
            .pop()
            .unwrap_or(Err(MappingError::Empty))
    }

    /// Runs the program over every input, each within the bounds, and expects exactly one
    /// output per input. An input that fails (or exceeds a bound) does not stop the rest.
    /// Blocks the calling thread (inside a multi-threaded runtime, the worker is handed over
    /// with `block_in_place` first).
    pub fn apply_each(&self, inputs: Arc<Vec<Value>>) -> Vec<Result<Value, MappingError>> {
        let inner = self.inner.clone();
        let bounds = self.inner.limits.run_bounds();
        sandbox::blocking(|| sandbox::run_each(inputs, bounds, move |input| inner.apply_one(input, &Value::Null)))
            .into_iter()
            .map(|r| r.map_err(MappingError::Bound).and_then(|r| r))
            .collect()
    }

    /// [`Self::apply_each`] with `$links` set per input: each pair is (record, the value of
    /// `$links` while it is mapped), the ids earlier steps wrote for it (a flow's `lookups`).
    pub fn apply_each_linked(&self, inputs: Arc<Vec<(Value, Value)>>) -> Vec<Result<Value, MappingError>> {
        let inner = self.inner.clone();
        let bounds = self.inner.limits.run_bounds();
        sandbox::blocking(|| sandbox::run_each(inputs, bounds, move |(input, links)| inner.apply_one(input, links)))
            .into_iter()
            .map(|r| r.map_err(MappingError::Bound).and_then(|r| r))
            .collect()
    }

    /// Runs the program and collects every output (at most [`MAX_OUTPUTS`]).
    pub fn apply_all(&self, input: &Value) -> Result<Vec<Value>, MappingError> {
        let inner = self.inner.clone();
        let bounds = self.inner.limits.run_bounds();
        sandbox::blocking(|| {
            sandbox::run_one(input.clone(), bounds, move |input| {
                inner.run(input, &Value::Null, MAX_OUTPUTS)
            })
        })
        .map_err(MappingError::Bound)?
    }
}

/// Records a new mapping is tried on when its author gives none: a program that loops,
/// recurses or explodes on an ordinary record is refused before it is saved.
pub fn default_samples() -> Vec<Value> {
    vec![
        Value::Object(Map::new()),
        serde_json::json!({
            "id": "sample_1",
            "email": "sample@example.com",
            "name": "Sample Record",
            "created": 1_700_000_000,
            "properties": {"email": "sample@example.com", "firstname": "Sample"},
            "tags": ["a", "b"]
        }),
    ]
}

/// Checks a mapping before it is saved (`flows create`, the management API): it must compile
/// within the limits and map every sample record within its bounds. With the author's own
/// samples every failure counts; with [`default_samples`] only a broken bound does (an
/// ordinary mapping may well fail on a made-up record).
pub fn check_mapping(jq: &str, samples: Option<&[Value]>) -> Result<Mapping, MappingError> {
    let mapping = Mapping::compile(jq)?;
    let (samples, strict) = match samples {
        Some(s) => (s.to_vec(), true),
        None => (default_samples(), false),
    };
    for (i, result) in mapping.apply_each(Arc::new(samples)).into_iter().enumerate() {
        match result {
            Err(e) if strict || e.is_bound() => {
                return Err(MappingError::Sample {
                    index: i + 1,
                    error: Box::new(e),
                })
            }
            _ => {}
        }
    }
    Ok(mapping)
}

/// The standard library's definitions, minus what reaches outside the record, with `join/1`
/// and `split/1` run natively (same results, a fraction of the time): parsed once per process
/// (the text is built in, so the parse is the same every time) and cloned for each compile.
fn std_defs() -> &'static [jaq_core::load::parse::Def<&'static str>] {
    static DEFS: std::sync::OnceLock<Vec<jaq_core::load::parse::Def<&'static str>>> = std::sync::OnceLock::new();
    DEFS.get_or_init(|| {
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs())
            .filter(|d| !DENIED_DEFS.contains(&d.name));
        jq_natives::with_native_defs(defs).collect()
    })
}

/// Compiles a program with the standard library, minus what reaches outside the record.
fn compile_filter(jq: &str) -> Result<Filter, MappingError> {
    let defs = std_defs().iter().cloned();
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs())
        .chain(jq_natives::funs())
        .filter(|(name, _, _)| !DENIED_NATIVES.contains(name));
    let loader = Loader::new(defs);
    let arena = Arena::default();
    let modules = loader
        .load(&arena, File { code: jq, path: () })
        .map_err(|errors| MappingError::Compile(describe_load_errors(jq, errors)))?;
    // `$links`: ids earlier steps of a chain of flows wrote for the record (a flow's
    // `lookups`), null when the flow has none.
    Compiler::default()
        .with_funs(funs)
        .with_global_vars([LINKS_VAR])
        .compile(modules)
        .map_err(|errors| {
            let names: Vec<String> = errors
                .into_iter()
                .flat_map(|(_, errs)| errs)
                .map(|(name, undefined)| format!("undefined {} `{name}`", undefined.as_str()))
                .collect();
            MappingError::Compile(names.join("; "))
        })
}

impl Compiled {
    /// One output for `input` (runs on a sandbox thread).
    fn apply_one(&self, input: &Value, links: &Value) -> Result<Value, MappingError> {
        let mut outputs = self.run(input, links, 2)?;
        match outputs.len() {
            0 => Err(MappingError::Empty),
            1 => Ok(outputs.pop().expect("one output")),
            _ => {
                // Count them all for the message, within the cap.
                let n = self.run(input, links, MAX_OUTPUTS)?.len();
                Err(MappingError::MultipleOutputs(n))
            }
        }
    }

    fn run(&self, input: &Value, links: &Value, limit: usize) -> Result<Vec<Value>, MappingError> {
        let input = to_val(input);
        let ctx = Ctx::<data::JustLut<Val>>::new(&self.filter.lut, Vars::new([to_val(links)]));
        let mut out = Vec::new();
        let mut budget = OutputBudget(self.limits.max_output_bytes);
        for result in self.filter.id.run((ctx, input)).map(unwrap_valr).take(limit) {
            let val = result.map_err(|e| MappingError::Runtime(short_text(&e.to_string(), 300)))?;
            out.push(to_json(val, &mut budget).map_err(|e| match e {
                MappingError::OutputTooLarge(_) => MappingError::OutputTooLarge(self.limits.max_output_bytes),
                other => other,
            })?);
        }
        Ok(out)
    }
}

/// How deeply `jq` nests brackets, `if ... end` blocks and string interpolations; text in
/// strings and comments is skipped.
fn nesting_depth(jq: &str) -> usize {
    let bytes = jq.as_bytes();
    // `None`: inside a string; `Some(d)`: code, opened at bracket depth `d`.
    let mut stack: Vec<Option<usize>> = vec![Some(0)];
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if stack.last() == Some(&None) {
            match c {
                b'\\' if bytes.get(i + 1) == Some(&b'(') => {
                    stack.push(Some(depth));
                    depth += 1;
                    i += 1;
                }
                b'\\' => i += 1,
                b'"' => {
                    stack.pop();
                }
                _ => {}
            }
        } else {
            match c {
                b'"' => stack.push(None),
                b'#' => {
                    while i + 1 < bytes.len() && bytes[i + 1] != b'\n' {
                        i += 1;
                    }
                }
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => {
                    depth = depth.saturating_sub(1);
                    // The `)` that closes an interpolation returns to its string.
                    if c == b')' && stack.len() > 1 && stack.last() == Some(&Some(depth)) {
                        stack.pop();
                    }
                }
                b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                    let start = i;
                    while i + 1 < bytes.len() && (bytes[i + 1].is_ascii_alphanumeric() || bytes[i + 1] == b'_') {
                        i += 1;
                    }
                    let field_or_var = start > 0 && matches!(bytes[start - 1], b'.' | b'$');
                    if !field_or_var {
                        match &jq[start..=i] {
                            "if" => depth += 1,
                            "end" => depth = depth.saturating_sub(1),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        deepest = deepest.max(depth);
        i += 1;
    }
    deepest
}

/// Bytes of JSON an output may still take.
struct OutputBudget(usize);

impl OutputBudget {
    fn spend(&mut self, n: usize) -> Result<(), MappingError> {
        self.0 = self.0.checked_sub(n).ok_or(MappingError::OutputTooLarge(0))?;
        Ok(())
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

/// Converts JSON to a jaq value directly (no serde visitor in between): objects are built
/// at their final size, so neither the map's entries nor its index grow and move while filling.
/// Object keys share one buffer per distinct key on this thread (see [`KeyCache`]).
fn to_val(value: &Value) -> Val {
    KEYS.with(|keys| to_val_with(value, &mut keys.borrow_mut()))
}

fn to_val_with(value: &Value, keys: &mut KeyCache) -> Val {
    match value {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::Bool(*b),
        Value::Number(n) => Val::Num(num_to_val(n)),
        Value::String(s) => Val::utf8_str(s.as_bytes().to_vec()),
        Value::Array(items) => Val::Arr(jaq_json::Rc::new(items.iter().map(|v| to_val_with(v, keys)).collect())),
        Value::Object(map) => {
            let mut out = jaq_json::Map::with_capacity_and_hasher(map.len(), Default::default());
            for (k, v) in map {
                out.insert(Val::utf8_str(keys.key(k)), to_val_with(v, keys));
            }
            Val::obj(out)
        }
    }
}

/// Most distinct object keys a sandbox thread keeps, and the longest it keeps.
const KEY_CACHE_KEYS: usize = 1024;
const KEY_CACHE_KEY_BYTES: usize = 64;

/// The object keys records brought to this thread, each in one shared buffer: the records of
/// a stream repeat the same few keys, and a key from here costs a reference count instead of
/// an allocation, a copy and a free. Bounded ([`KEY_CACHE_KEYS`] keys of at most
/// [`KEY_CACHE_KEY_BYTES`] bytes) and never emptied: once full, other keys are copied as before.
/// So the sandbox's memory accounting stays exact: a buffer allocated under one record's bound
/// is never freed under another's.
#[derive(Default)]
struct KeyCache(jaq_json::Map<Box<str>, bytes::Bytes>);

impl KeyCache {
    fn key(&mut self, k: &str) -> bytes::Bytes {
        if let Some(shared) = self.0.get(k) {
            return shared.clone();
        }
        let fresh = bytes::Bytes::copy_from_slice(k.as_bytes());
        if k.len() > KEY_CACHE_KEY_BYTES || self.0.len() >= KEY_CACHE_KEYS {
            return fresh;
        }
        // Cloned once here, so the buffer is shared (reference-counted) from now on.
        self.0.insert(k.into(), fresh.clone());
        fresh
    }
}

thread_local! {
    static KEYS: std::cell::RefCell<KeyCache> = std::cell::RefCell::new(KeyCache::default());
}

/// A JSON number as jaq reads it: integers that fit a machine word as such, larger ones as
/// big integers, the rest as floats (what jaq's own serde reading does).
fn num_to_val(n: &Number) -> jaq_json::Num {
    use jaq_json::Num;
    if let Some(i) = n.as_i64() {
        Num::from_integral(i)
    } else if let Some(u) = n.as_u64() {
        Num::from_integral(u)
    } else {
        Num::Float(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// Converts a jaq value to JSON, spending its size (as compact JSON, escapes aside) from
/// `budget`. NaN and infinities become `null` (as jq prints them).
fn to_json(val: Val, budget: &mut OutputBudget) -> Result<Value, MappingError> {
    Ok(match val {
        Val::Null => {
            budget.spend(4)?;
            Value::Null
        }
        Val::Bool(b) => {
            budget.spend(5)?;
            Value::Bool(b)
        }
        Val::Num(n) => {
            budget.spend(8)?;
            num_to_json(&n)
        }
        Val::TStr(bytes) | Val::BStr(bytes) => {
            budget.spend(bytes.len() + 2)?;
            Value::String(bytes_to_string(*bytes))
        }
        Val::Arr(items) => {
            budget.spend(2 + items.len())?;
            Value::Array(
                jaq_json::Rc::unwrap_or_clone(items)
                    .into_iter()
                    .map(|v| to_json(v, budget))
                    .collect::<Result<_, _>>()?,
            )
        }
        Val::Obj(map) => {
            budget.spend(2)?;
            let mut out = Map::new();
            for (k, v) in jaq_json::Rc::unwrap_or_clone(map) {
                let key = match k {
                    Val::TStr(bytes) | Val::BStr(bytes) => bytes_to_string(*bytes),
                    other => return Err(MappingError::NotJson(format!("object key {other} is not a string"))),
                };
                budget.spend(key.len() + 4)?;
                out.insert(key, to_json(v, budget)?);
            }
            Value::Object(out)
        }
    })
}

/// A jaq string as a `String`: its buffer is taken over when jaq holds no other reference to
/// it (no copy), and invalid UTF-8 is replaced as before.
fn bytes_to_string(bytes: bytes::Bytes) -> String {
    String::from_utf8(Vec::from(bytes)).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
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

/// Output a jq record selector may produce (a response page's records).
const SELECTOR_MAX_OUTPUT_BYTES: usize = 64 * 1024 * 1024;

/// CPU time a jq record selector may take over one response page, at least (the deployment's
/// per-record `MAPPING_TIMEOUT_MS` when that is longer): what compiling a program may take.
const SELECTOR_MIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);

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
            // A selector reads a whole response page, so its output may be as large as one,
            // and its time is a page's, not a record's (a grade report of a few hundred
            // students flattened to one record per grade took half a record's 100 ms in a
            // debug build); stack stays the deployment's.
            let global = Limits::global();
            let limits = Limits {
                max_output_bytes: global.max_output_bytes.max(SELECTOR_MAX_OUTPUT_BYTES),
                max_memory_bytes: global.max_memory_bytes.max(4 * SELECTOR_MAX_OUTPUT_BYTES),
                time: global.time.max(SELECTOR_MIN_TIME),
                ..*global
            };
            Ok(Selector::Jq(Box::new(Mapping::compile_with(text, &limits)?)))
        }
    }

    /// The records in `doc`: an array's elements, or a single object; nothing when the
    /// pointer is absent or null.
    pub fn select(&self, doc: &Value) -> Result<Vec<Value>, MappingError> {
        self.select_ref(doc).map(Cow::into_owned)
    }

    /// The records in `doc` as [`Selector::select`] finds them, without copying them when a
    /// pointer finds them (they are borrowed from `doc`); a jq selector's are its outputs.
    /// [`Selector::take_selected`] then moves borrowed records out of `doc`.
    pub fn select_ref<'a>(&self, doc: &'a Value) -> Result<Cow<'a, [Value]>, MappingError> {
        match self {
            Selector::Pointer(p) => Ok(Cow::Borrowed(match doc.pointer(p) {
                None | Some(Value::Null) => &[],
                Some(Value::Array(items)) => items.as_slice(),
                Some(v) => std::slice::from_ref(v),
            })),
            Selector::Jq(m) => {
                let mut found = m.apply_all(doc)?;
                Ok(Cow::Owned(match found.as_mut_slice() {
                    [Value::Array(items)] => std::mem::take(items),
                    _ => found.into_iter().filter(|v| !v.is_null()).collect(),
                }))
            }
        }
    }

    /// Moves the records [`Selector::select_ref`] borrowed out of `doc` (a pointer selector;
    /// their place in `doc` becomes null): the same records, in the same order, uncopied.
    /// A jq selector borrows nothing, so this gives nothing for it.
    pub fn take_selected(&self, doc: &mut Value) -> Vec<Value> {
        match self {
            Selector::Pointer(p) => match doc.pointer_mut(p).map(Value::take) {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(items)) => items,
                Some(v) => vec![v],
            },
            Selector::Jq(_) => Vec::new(),
        }
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
    fn links_reads_each_records_ids_and_is_null_without_lookups() {
        let m = Mapping::compile(r#"{user_id: $links.user, course: .course}"#).unwrap();
        let out = m.apply_each_linked(Arc::new(vec![
            (json!({"course": 7}), json!({"user": "42"})),
            (json!({"course": 8}), json!({"user": null})),
        ]));
        assert_eq!(out[0], Ok(json!({"user_id": "42", "course": 7})));
        assert_eq!(out[1], Ok(json!({"user_id": null, "course": 8})));
        // A flow without lookups: `$links` is null, so `$links.user` is null too.
        assert_eq!(
            m.apply(&json!({"course": 9})),
            Ok(json!({"user_id": null, "course": 9}))
        );
        // Other variables stay undefined.
        assert!(matches!(Mapping::compile("$other"), Err(MappingError::Compile(_))));
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
    fn object_keys_share_one_buffer_per_thread_within_the_cache_bounds() {
        // On a fresh thread: the cache is per thread.
        std::thread::spawn(|| {
            fn key_ptrs(val: &Val) -> Vec<*const u8> {
                let Val::Obj(map) = val else { panic!("an object") };
                map.keys()
                    .map(|k| match k {
                        Val::TStr(b) => b.as_ptr(),
                        other => panic!("key {other}"),
                    })
                    .collect()
            }
            let long = "k".repeat(KEY_CACHE_KEY_BYTES + 1);
            let record = |i: usize| json!({"id": i, "email": format!("{i}@example.com"), long.clone(): i});
            let (a, b) = (to_val(&record(1)), to_val(&record(2)));
            let (pa, pb) = (key_ptrs(&a), key_ptrs(&b));
            // `id` and `email` come from one buffer; a key over the length bound is copied.
            assert_eq!(pa[..2], pb[..2]);
            assert_ne!(pa[2], pb[2]);
            assert_eq!(to_val(&record(2)), b);
            // Once full, the cache keeps what it has and further keys are copied (still right).
            let many: Map<String, Value> = (0..KEY_CACHE_KEYS + 10)
                .map(|i| (format!("key{i}"), json!(i)))
                .collect();
            let many = Value::Object(many);
            let (x, y) = (to_val(&many), to_val(&many));
            assert_eq!(x, y);
            assert_eq!(KEYS.with(|k| k.borrow().0.len()), KEY_CACHE_KEYS);
            let (px, py) = (key_ptrs(&x), key_ptrs(&y));
            let shared = px.iter().zip(&py).filter(|(x, y)| x == y).count();
            assert_eq!(shared, KEY_CACHE_KEYS - 2);
            use serde::Deserialize as _;
            assert_eq!(to_val(&record(3)), Val::deserialize(&record(3)).unwrap());
        })
        .join()
        .unwrap();
    }

    #[test]
    fn records_enter_jq_as_jaqs_own_json_reading_makes_them() {
        use serde::Deserialize as _;
        let record = json!({
            "s": "plain", "u": "naïve ☃ \u{1F600}", "empty": "", "esc": "a\"b\\c\n",
            "n": [0, -1, 42, i64::MIN, i64::MAX, u64::MAX, 2.5, -0.0, 1e300],
            "t": true, "f": false, "z": null,
            "nested": {"a": {"b": [[], {}, [{"c": null}]]}, "": "blank key"}
        });
        let via_serde = Val::deserialize(&record).unwrap();
        assert_eq!(to_val(&record), via_serde);
        // Key order is kept, so `keys_unsorted` and `to_entries` see the record's own order.
        let m = Mapping::compile("[keys_unsorted, (.nested | keys_unsorted)]").unwrap();
        let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
        assert_eq!(
            m.apply(&record).unwrap(),
            json!([keys(&record), keys(&record["nested"])])
        );
        // And the way back gives the record itself.
        assert_eq!(Mapping::compile(".").unwrap().apply(&record).unwrap(), record);
    }

    #[test]
    fn a_jq_selector_has_a_pages_time_and_an_endless_one_still_stops() {
        let Selector::Jq(selector) = Selector::parse(".data[]").unwrap() else {
            panic!("a jq selector");
        };
        assert_eq!(selector.limits().time, Limits::global().time.max(SELECTOR_MIN_TIME));
        assert!(selector.limits().time >= std::time::Duration::from_secs(2));
        let endless = Selector::parse("last(repeat(.))").unwrap();
        let err = endless.select(&json!({"data": []})).unwrap_err();
        assert!(err.is_bound(), "{err}");
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
    fn pointed_records_are_borrowed_then_moved_out_unchanged() {
        let body = json!({"data": [{"id": 1}, null, {"id": 2}], "one": {"id": 3}, "none": null, "next": "c2"});
        for pointer in ["/data", "/one", "/none", "/missing", ""] {
            let selector = Selector::parse(pointer).unwrap();
            let expected = selector.select(&body).unwrap();
            let selected = selector.select_ref(&body).unwrap();
            assert!(matches!(selected, Cow::Borrowed(_)), "{pointer}");
            assert_eq!(selected.as_ref(), expected.as_slice(), "{pointer}");
            let mut doc = body.clone();
            assert_eq!(selector.take_selected(&mut doc), expected, "{pointer}");
            // The rest of the document is left as it was.
            if !pointer.is_empty() {
                assert_eq!(doc["next"], json!("c2"), "{pointer}");
            }
        }
        // A jq selector's records are its own outputs; there is nothing to take.
        let jq = Selector::parse(".data").unwrap();
        assert!(matches!(jq.select_ref(&body).unwrap(), Cow::Owned(ref v) if v.len() == 3));
        assert!(jq.take_selected(&mut body.clone()).is_empty());
    }

    fn tight() -> Limits {
        Limits {
            time: std::time::Duration::from_millis(100),
            max_output_bytes: 64 * 1024,
            max_memory_bytes: 32 * 1024 * 1024,
            max_stack_bytes: 4 * 1024 * 1024,
            ..Limits::default()
        }
    }

    fn bounded_failure(program: &str) -> MappingError {
        bounded_failure_within(program, &tight())
    }

    fn bounded_failure_within(program: &str, limits: &Limits) -> MappingError {
        let m = Mapping::compile_with(program, limits).unwrap();
        let err = m.apply(&json!({"name": "Ada"})).unwrap_err();
        assert!(err.is_bound(), "{program}: {err}");
        err
    }

    #[test]
    fn endless_loops_fail_within_the_time_bound() {
        for program in [
            "last(repeat(.))",
            "until(false; .)",
            "def f: f; f",
            "[limit(1e12; repeat(1))] | length",
        ] {
            let started = std::time::Instant::now();
            let err = bounded_failure(program);
            assert!(
                matches!(
                    err,
                    MappingError::Bound(Exceeded::Time(_)) | MappingError::Bound(Exceeded::Memory(_))
                ),
                "{program}: {err}"
            );
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "{program} took {:?}",
                started.elapsed()
            );
        }
        assert_eq!(
            bounded_failure("last(repeat(.))").to_string(),
            "jq program exceeded 100 ms"
        );
    }

    #[test]
    fn growing_memory_fails_within_the_memory_bound() {
        for program in [
            "[repeat(.)]",
            "[range(1e8)]",
            "[limit(1e8; repeat(\"xxxxxxxx\"))] | add",
        ] {
            let err = bounded_failure(program);
            assert!(
                matches!(
                    err,
                    MappingError::Bound(Exceeded::Memory(_)) | MappingError::Bound(Exceeded::Time(_))
                ),
                "{program}: {err}"
            );
        }
        // With time to spare, memory is the bound that stops it.
        let patient = Limits {
            time: std::time::Duration::from_secs(20),
            ..tight()
        };
        assert_eq!(
            bounded_failure_within("[range(1e8)]", &patient).to_string(),
            "jq program exceeded 32 MB of memory"
        );
    }

    #[test]
    fn runaway_recursion_fails_without_overflowing_the_stack() {
        for program in ["def f: 1 + f; f", "def f: [f]; f", "def f: {a: f}; f"] {
            let err = bounded_failure(program);
            assert!(
                matches!(
                    err,
                    MappingError::Bound(Exceeded::Stack(_))
                        | MappingError::Bound(Exceeded::Memory(_))
                        | MappingError::Bound(Exceeded::Time(_))
                ),
                "{program}: {err}"
            );
        }
    }

    #[test]
    fn an_output_over_the_output_bound_fails() {
        let patient = Limits {
            time: std::time::Duration::from_secs(20),
            ..tight()
        };
        let err = bounded_failure_within("[range(3000) | \"abcdefghijklmnopqrstuvwxyz\"]", &patient);
        assert_eq!(err, MappingError::OutputTooLarge(64 * 1024));
        assert_eq!(err.to_string(), "jq program output exceeded 64 KB");
    }

    #[test]
    fn deep_or_long_programs_are_refused_at_compile_time() {
        let deep = format!("{}.{}", "(".repeat(700), ")".repeat(700));
        assert_eq!(Mapping::compile(&deep).unwrap_err(), MappingError::TooDeep(64));
        let deep_arrays = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        assert_eq!(Mapping::compile(&deep_arrays).unwrap_err(), MappingError::TooDeep(64));
        let deep_ifs = format!("{}.{}", "if . then ".repeat(100), " else . end".repeat(100));
        assert_eq!(Mapping::compile(&deep_ifs).unwrap_err(), MappingError::TooDeep(64));
        let long = format!(".a{}", " | .a".repeat(20_000));
        assert!(matches!(
            Mapping::compile(&long).unwrap_err(),
            MappingError::TooLong { max: 65536, .. }
        ));
        // Within the limits, nesting is fine; brackets in strings and comments do not count.
        Mapping::compile(&format!("{}.{}", "(".repeat(60), ")".repeat(60))).unwrap();
        Mapping::compile(&format!("\"{}\" | . # {}\n", "(".repeat(200), "[".repeat(200))).unwrap();
        Mapping::compile(r#""\(.a) and \(.b | tostring)""#).unwrap();
    }

    #[test]
    fn a_long_operator_chain_compiles_or_fails_cleanly() {
        // Not nested by brackets, but deep for a recursive parser: it must not abort the process.
        let chain = format!("1{}", " + 1".repeat(12_000));
        match Mapping::compile(&chain) {
            Ok(m) => {
                let _ = m.apply(&json!(null));
            }
            Err(e) => assert!(e.is_bound(), "{e}"),
        }
    }

    #[test]
    fn a_bad_record_fails_alone_and_the_rest_of_the_page_is_mapped() {
        let m = Mapping::compile_with(
            "if .loop then last(repeat(.)) elif .big then [range(1e8)] else .n * 2 end",
            &tight(),
        )
        .unwrap();
        let page = vec![
            json!({"n": 1}),
            json!({"loop": true}),
            json!({"n": 2}),
            json!({"big": true}),
            json!({"n": 3}),
        ];
        let out = m.apply_each(Arc::new(page));
        assert_eq!(out[0], Ok(json!(2)));
        assert!(matches!(out[1], Err(MappingError::Bound(_))), "{:?}", out[1]);
        assert_eq!(out[2], Ok(json!(4)));
        assert!(matches!(out[3], Err(MappingError::Bound(_))), "{:?}", out[3]);
        assert_eq!(out[4], Ok(json!(6)));
    }

    #[test]
    fn checking_a_mapping_refuses_what_breaks_a_bound_on_the_samples() {
        // A made-up record may make an ordinary mapping fail: that is not a reason to refuse it.
        check_mapping(".properties.email | ascii_downcase", None).unwrap();
        check_mapping("{email: .email, first: (.name | split(\" \") | .[0])}", None).unwrap();
        for bad in ["last(repeat(.))", "[repeat(.)]", "def f: [f]; f"] {
            let err = check_mapping(bad, None).unwrap_err();
            assert!(err.is_bound(), "{bad}: {err}");
            assert!(err.to_string().starts_with("on sample record 1: jq program"), "{err}");
        }
        // The author's own samples: every failure counts, named by its place.
        let samples = [json!({"name": "Ada Lovelace"}), json!({"name": 7})];
        let err = check_mapping(".name | split(\" \")", Some(&samples)).unwrap_err();
        assert!(
            err.to_string().starts_with("on sample record 2: jq program failed"),
            "{err}"
        );
        assert!(check_mapping("nosuch", None).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 200, ..Default::default() })]
        /// Whatever a stranger types, compiling answers Ok or Err: it never panics, hangs or
        /// overflows the stack (brackets, blocks, strings, comments and operators in any order).
        #[test]
        fn compiling_any_text_never_crashes(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "(", ")", "[", "]", "{", "}", "\"", "\\(", "#", "\n", "if", "then", "else", "end",
                    ".", "|", "+", "-", "1", "a", ":", ";", ",", "def f:", "f", "reduce", "as $x", "?", " ",
                ]),
                0..400,
            )
        ) {
            let text: String = parts.concat();
            let _ = Mapping::compile(&text);
            let depth = nesting_depth(&text);
            proptest::prop_assert!(depth <= text.len());
        }
    }

    #[test]
    fn cached_programs_are_compiled_once() {
        let a = Mapping::cached("{cached_once: .x}").unwrap();
        let b = Mapping::cached("{cached_once: .x}").unwrap();
        assert!(Arc::ptr_eq(&a.inner, &b.inner));
        assert!(Mapping::cached("nosuch_filter").is_err());
    }

    #[test]
    fn mapping_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Mapping>();
        check::<Selector>();
    }
}
