//! Providers' published API descriptions: loading them and checking traffic against them.
//!
//! The files live outside the repository, in the specs folder (`SWITCHYARD_SPECS_DIR`, by
//! default `../shared/specs` from the repository root); they are read, never copied. A
//! [`Spec`] is one provider's set of documents (HubSpot publishes one per object type):
//!
//! * [`Spec::find`] matches a concrete method and path to an operation;
//! * [`Spec::check_request`] validates its path, query, header parameters and body;
//! * [`Spec::check_response`] validates the status and body the fake (or a proxied server)
//!   sends.
//!
//! Each problem is a [`Violation`] naming the operation and the JSON pointer of the offending
//! value. Validators are compiled per operation on first use and cached, so a 4 MB description
//! loads in the time it takes to parse it.
//!
//! Formats: OpenAPI 3.0 and 3.1 and Swagger 2.0 ([`openapi`]), behind [`Spec`]; OData v2 EDMX
//! metadata ([`odata`]), which has no operations to match (OData's URL conventions address
//! entity sets and keys instead), so its checks take a resolved resource and are used by the
//! OData fake ([`crate::odata`]) directly.

pub mod check;
pub mod form;
pub mod graphql;
pub mod odata;
pub mod openapi;
mod schema;
mod violations;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use http::Method;
use serde_json::Value;

pub use check::SpecCheck;
pub use openapi::OpenApi;
pub use violations::{Direction, Violation, ViolationLog};

/// The environment variable naming the specs folder.
pub const SPECS_DIR_ENV: &str = "SWITCHYARD_SPECS_DIR";

/// Why a spec could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error(
        "the spec file {path} does not exist: set {SPECS_DIR_ENV} to the folder holding the providers' specs \
         (default: ../shared/specs from the repository root)"
    )]
    Missing { path: PathBuf },
    #[error("could not read the spec file {path}: {error}")]
    Read { path: PathBuf, error: std::io::Error },
    #[error("the spec file {path} is not valid {format}: {message}")]
    Parse {
        path: PathBuf,
        format: &'static str,
        message: String,
    },
    #[error("the spec file {path} is not a description the fakes can read: {reason}")]
    Unsupported { path: PathBuf, reason: String },
}

/// The specs folder: `$SWITCHYARD_SPECS_DIR`, else `../shared/specs` from the repository root.
pub fn specs_dir() -> PathBuf {
    match std::env::var_os(SPECS_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/specs"),
    }
}

/// Reads a YAML or JSON file from the specs folder (`relative` is e.g. `hubspot/contacts.yaml`).
pub fn load_value(relative: &str) -> Result<(PathBuf, Value), SpecError> {
    load_value_from(&specs_dir(), relative)
}

/// Reads a YAML or JSON file below `dir`.
pub fn load_value_from(dir: &Path, relative: &str) -> Result<(PathBuf, Value), SpecError> {
    let path = dir.join(relative);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(SpecError::Missing { path }),
        Err(error) => return Err(SpecError::Read { path, error }),
    };
    let json = path.extension().is_some_and(|e| e == "json");
    let value = if json {
        serde_json::from_str(&text).map_err(|e| SpecError::Parse {
            path: path.clone(),
            format: "JSON",
            message: e.to_string(),
        })?
    } else {
        serde_yaml::from_str(&text).map_err(|e| SpecError::Parse {
            path: path.clone(),
            format: "YAML",
            message: e.to_string(),
        })?
    };
    Ok((path, value))
}

/// One machine-readable description.
pub enum Document {
    /// OpenAPI 3.0 / 3.1 or Swagger 2.0.
    OpenApi(OpenApi),
}

/// A correction to a provider's spec, kept in the fake's profile with the reason: the spec
/// file itself is never edited or copied.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SpecPatch {
    /// The spec files it applies to (relative to the specs folder).
    pub files: Vec<String>,
    /// JSON pointer of the value to replace (or add, when its parent exists).
    pub pointer: String,
    /// The new value; absent: the value is removed.
    #[serde(default)]
    pub value: Option<Value>,
    /// Why the spec is wrong here, with the provider's documentation that says so.
    pub reason: String,
}

/// Applies patches to a parsed document; `Err` names the pointer that does not fit.
fn apply_patches(doc: &mut Value, patches: &[&SpecPatch]) -> Result<(), String> {
    for patch in patches {
        let (parent, last) = patch
            .pointer
            .rsplit_once('/')
            .ok_or_else(|| format!("patch pointer {:?} is not a JSON pointer", patch.pointer))?;
        let key = last.replace("~1", "/").replace("~0", "~");
        let Some(Value::Object(parent)) = doc.pointer_mut(parent) else {
            return Err(format!("patch pointer {} has no object at its parent", patch.pointer));
        };
        match &patch.value {
            Some(value) => {
                parent.insert(key, value.clone());
            }
            None => {
                parent
                    .remove(&key)
                    .ok_or_else(|| format!("patch pointer {} points at nothing to remove", patch.pointer))?;
            }
        }
    }
    Ok(())
}

/// Documents already loaded by this process: a test binary starting many fakes parses (and
/// compiles validators for) each description once.
fn cache() -> &'static Mutex<HashMap<PathBuf, Arc<Document>>> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, Arc<Document>>>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

impl Document {
    /// Loads a file (once per process for the same patches), recognising its format from
    /// its content.
    pub fn load_shared(dir: &Path, relative: &str, patches: &[&SpecPatch]) -> Result<Arc<Self>, SpecError> {
        let path = dir.join(relative);
        let mut key = path.canonicalize().unwrap_or(path);
        if !patches.is_empty() {
            let mut name = key.into_os_string();
            name.push(format!("#{}", serde_json::to_string(patches).unwrap_or_default()));
            key = PathBuf::from(name);
        }
        if let Some(doc) = cache().lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(doc.clone());
        }
        let doc = Arc::new(Self::load_patched(dir, relative, patches)?);
        cache()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, doc.clone());
        Ok(doc)
    }

    /// Loads a file, recognising its format from its content.
    pub fn load(dir: &Path, relative: &str) -> Result<Self, SpecError> {
        Self::load_patched(dir, relative, &[])
    }

    fn load_patched(dir: &Path, relative: &str, patches: &[&SpecPatch]) -> Result<Self, SpecError> {
        let (path, mut value) = load_value_from(dir, relative)?;
        apply_patches(&mut value, patches).map_err(|reason| SpecError::Unsupported {
            path: path.clone(),
            reason,
        })?;
        if value.get("openapi").is_some() || value.get("swagger").is_some() {
            return OpenApi::new(value)
                .map(Document::OpenApi)
                .map_err(|reason| SpecError::Unsupported { path, reason });
        }
        Err(SpecError::Unsupported {
            path,
            reason: "neither `openapi` nor `swagger` at the top: only OpenAPI 3.x and Swagger 2.0 are supported".into(),
        })
    }
}

/// A matched operation: which document and operation, and the path parameters.
#[derive(Debug, Clone)]
pub struct Matched {
    doc: usize,
    op: usize,
    /// The operation's id (or `METHOD template` when it has none).
    pub operation: String,
    /// The path template, e.g. `/crm/v3/objects/contacts/{contactId}`.
    pub template: String,
    /// Path parameters by name, percent-decoded.
    pub path_params: Vec<(String, String)>,
}

/// The outcome of a request check.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The operation, unless none matched.
    pub matched: Option<Matched>,
    pub violations: Vec<Violation>,
    /// The body as JSON (a form body parsed and typed by the schema), when it could be read.
    pub body: Option<Value>,
}

/// What a request carried, as the checks need it.
#[derive(Debug, Clone, Default)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

/// What a response carried.
#[derive(Debug, Clone, Default)]
pub struct ResponseParts<'a> {
    pub status: u16,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

/// One provider's descriptions.
pub struct Spec {
    /// The files, relative to the specs folder, for messages.
    pub files: Vec<String>,
    docs: Vec<Arc<Document>>,
    /// Parameters to skip (`header:token`), with the reason given in the profile.
    ignored_parameters: Vec<String>,
    /// `(method, declared)`: a request with `method` may match an operation declared for
    /// `declared` (Slack's Web API takes POST for every method its spec lists as GET).
    method_aliases: Vec<(Method, Method)>,
    /// A 2xx response whose body breaks the success schema may be an error answered with
    /// 2xx instead (Slack's `{"ok": false, "error": ...}`): it passes when it fits the
    /// operation's `default` response.
    errors_in_success: bool,
}

impl Spec {
    /// Loads every file from the specs folder.
    pub fn load(files: &[String]) -> Result<Self, SpecError> {
        Self::load_from(&specs_dir(), files)
    }

    /// Loads every file below `dir`.
    pub fn load_from(dir: &Path, files: &[String]) -> Result<Self, SpecError> {
        Self::load_patched(dir, files, &[])
    }

    /// Loads every file below `dir` with the profile's corrections applied.
    pub fn load_patched(dir: &Path, files: &[String], patches: &[SpecPatch]) -> Result<Self, SpecError> {
        let docs = files
            .iter()
            .map(|f| {
                let mine: Vec<&SpecPatch> = patches.iter().filter(|p| p.files.contains(f)).collect();
                Document::load_shared(dir, f, &mine)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            files: files.to_vec(),
            docs,
            ignored_parameters: Vec::new(),
            method_aliases: Vec::new(),
            errors_in_success: false,
        })
    }

    /// Accepts a 2xx response that fits the operation's `default` (error) response, for APIs
    /// that answer errors with HTTP 200.
    pub fn accept_errors_in_success(&mut self) {
        self.errors_in_success = true;
    }

    /// Skips the named parameters (`in:name`, e.g. `header:token`) in request checks.
    pub fn ignore_parameters(&mut self, names: impl IntoIterator<Item = String>) {
        self.ignored_parameters.extend(names);
    }

    /// Lets requests with `method` match operations declared for `declared` when none is
    /// declared for `method` itself.
    pub fn alias_method(&mut self, method: Method, declared: Method) {
        self.method_aliases.push((method, declared));
    }

    /// The operation for `method` on a concrete `path` (or an alias of the method),
    /// preferring templates with more literal segments.
    pub fn find(&self, method: &Method, path: &str) -> Option<Matched> {
        self.find_exact(method, path).or_else(|| {
            self.method_aliases
                .iter()
                .filter(|(alias, _)| alias == method)
                .find_map(|(_, declared)| self.find_exact(declared, path))
        })
    }

    fn find_exact(&self, method: &Method, path: &str) -> Option<Matched> {
        let mut best: Option<(usize, Matched)> = None;
        for (doc_index, doc) in self.docs.iter().enumerate() {
            let Document::OpenApi(api) = &**doc;
            if let Some((score, op, params)) = api.find(method, path) {
                if best.as_ref().is_none_or(|(s, _)| score > *s) {
                    let operation = api.operation(op);
                    best = Some((
                        score,
                        Matched {
                            doc: doc_index,
                            op,
                            operation: operation.id.clone(),
                            template: operation.template.clone(),
                            path_params: params,
                        },
                    ));
                }
            }
        }
        best.map(|(_, m)| m)
    }

    /// Checks a request; an unknown path or method is one violation.
    pub fn check_request(&self, parts: &RequestParts<'_>) -> Checked {
        let method = Method::from_bytes(parts.method.as_bytes()).unwrap_or(Method::GET);
        let Some(matched) = self.find(&method, parts.path) else {
            let violation = Violation::new(
                "-",
                Direction::Request,
                parts.method,
                parts.path,
                "",
                format!(
                    "no operation {} {} in {}",
                    parts.method,
                    parts.path,
                    self.files.join(", ")
                ),
            );
            return Checked {
                matched: None,
                violations: vec![violation],
                body: None,
            };
        };
        let Document::OpenApi(api) = &*self.docs[matched.doc];
        let (violations, body) = api.check_request(matched.op, &matched.path_params, parts, &self.ignored_parameters);
        Checked {
            matched: Some(matched),
            violations,
            body,
        }
    }

    /// Checks a response to a matched request.
    pub fn check_response(
        &self,
        matched: &Matched,
        request: &RequestParts<'_>,
        response: &ResponseParts<'_>,
    ) -> Vec<Violation> {
        let Document::OpenApi(api) = &*self.docs[matched.doc];
        let violations = api.check_response(matched.op, request, response);
        if violations.is_empty() || !self.errors_in_success || !(200..300).contains(&response.status) {
            return violations;
        }
        match api.check_response_as_error(matched.op, request, response) {
            Some(as_error) if as_error.is_empty() => as_error,
            _ => violations,
        }
    }

    /// A self-contained JSON Schema for the body of `status` answering the operation at
    /// `method template` (for generating objects), if the spec gives one.
    pub fn response_schema(&self, method: &Method, template: &str, status: u16) -> Option<Value> {
        self.docs.iter().find_map(|doc| {
            let Document::OpenApi(api) = &**doc;
            api.response_schema(method, template, status)
        })
    }

    /// Validates a value against a self-contained schema from [`Self::response_schema`];
    /// the messages carry the JSON pointer of each problem.
    pub fn validate_value(&self, schema: &Value, value: &Value) -> Result<Vec<(String, String)>, String> {
        Ok(self.validate_values(schema, std::slice::from_ref(value))?.remove(0))
    }

    /// Validates many values against one schema, compiling it once (a large schema takes far
    /// longer to compile than a value takes to check): one list of problems per value.
    pub fn validate_values(&self, schema: &Value, values: &[Value]) -> Result<Vec<Vec<(String, String)>>, String> {
        let draft = self
            .docs
            .first()
            .map(|doc| {
                let Document::OpenApi(api) = &**doc;
                api.draft()
            })
            .unwrap_or(jsonschema::Draft::Draft4);
        let validator = schema::compile(schema, draft)?;
        Ok(values
            .iter()
            .map(|value| {
                validator
                    .iter_errors(value)
                    .map(|e| (e.instance_path().to_string(), e.to_string()))
                    .collect()
            })
            .collect())
    }
}
