//! GraphQL schemas (SDL): checking the documents a client sends and the responses a fake
//! returns, and answering a query from plain JSON objects.
//!
//! A [`GraphqlSchema`] is read from an SDL file in the specs folder (or from SDL text a fake
//! ships when the provider publishes no schema file we hold). Then:
//!
//! * [`GraphqlSchema::check_request`] parses `{"query", "variables", "operationName"}` and
//!   checks that every selected field exists on its parent type, that leaves have no
//!   selection and objects have one, that every argument exists with a compatible literal or
//!   variable, that required arguments are given, and that the variables' values fit their
//!   declared types (enums, input objects with their required fields, lists, scalars);
//! * [`GraphqlSchema::check_response`] walks `data` along the same selection: every selected
//!   key is present, nothing else is, nulls only where the type is nullable, lists are arrays,
//!   scalars and enums have the right JSON kind and value; `errors` entries have a `message`;
//! * [`GraphqlSchema::execute`] answers a query from JSON objects a fake resolves per root
//!   field, projected onto the selection (aliases, fragments, `__typename`), so a fake never
//!   hand-builds a response shape.
//!
//! Problems are [`Violation`]s like the OpenAPI checks': the operation is the request's root
//! fields, the pointer `/query/<path of response keys>` or `/variables/<name>/...` for a
//! request and `/data/...` for a response.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use graphql_parser::query::{self as q, Definition, OperationDefinition, Selection, SelectionSet};
use graphql_parser::schema::{self as s, TypeDefinition, TypeExtension};
use graphql_parser::Pos;
use serde_json::{Map, Value};

use super::{specs_dir, SpecError, Violation};
use crate::spec::Direction;

type Query<'a> = q::Document<'a, String>;
type Sel<'a> = SelectionSet<'a, String>;

/// A type reference: `String`, `[ID!]!`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeRef {
    Named(String),
    List(Box<TypeRef>),
    NonNull(Box<TypeRef>),
}

impl TypeRef {
    fn from_ast(t: &s::Type<'_, String>) -> Self {
        match t {
            s::Type::NamedType(n) => TypeRef::Named(n.clone()),
            s::Type::ListType(inner) => TypeRef::List(Box::new(Self::from_ast(inner))),
            s::Type::NonNullType(inner) => TypeRef::NonNull(Box::new(Self::from_ast(inner))),
        }
    }

    /// The named type at the bottom.
    pub fn base(&self) -> &str {
        match self {
            TypeRef::Named(n) => n,
            TypeRef::List(t) | TypeRef::NonNull(t) => t.base(),
        }
    }

    fn nullable(&self) -> &TypeRef {
        match self {
            TypeRef::NonNull(t) => t,
            other => other,
        }
    }

    /// Whether a value of type `self` (a variable) may be used where `target` is expected.
    fn fits(&self, target: &TypeRef) -> bool {
        match (self, target) {
            (TypeRef::NonNull(a), TypeRef::NonNull(b)) => a.fits(b),
            (TypeRef::NonNull(a), b) => a.fits(b),
            (_, TypeRef::NonNull(_)) => false,
            (TypeRef::List(a), TypeRef::List(b)) => a.fits(b),
            (TypeRef::Named(a), TypeRef::Named(b)) => a == b,
            _ => false,
        }
    }
}

impl std::fmt::Display for TypeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TypeRef::Named(n) => write!(f, "{n}"),
            TypeRef::List(t) => write!(f, "[{t}]"),
            TypeRef::NonNull(t) => write!(f, "{t}!"),
        }
    }
}

/// An input value: an argument or an input object's field.
#[derive(Debug, Clone)]
struct InputDef {
    ty: TypeRef,
    has_default: bool,
}

impl InputDef {
    fn required(&self) -> bool {
        matches!(self.ty, TypeRef::NonNull(_)) && !self.has_default
    }
}

#[derive(Debug, Clone)]
struct FieldDef {
    args: BTreeMap<String, InputDef>,
    ty: TypeRef,
}

#[derive(Debug, Clone)]
enum TypeDef {
    Scalar,
    /// Objects and interfaces; `implements` lists the interfaces of an object.
    Object {
        fields: BTreeMap<String, FieldDef>,
        implements: Vec<String>,
    },
    Union(Vec<String>),
    Enum(HashSet<String>),
    Input(BTreeMap<String, InputDef>),
}

/// One provider's GraphQL schema.
#[derive(Debug, Clone)]
pub struct GraphqlSchema {
    types: HashMap<String, TypeDef>,
    query: String,
    mutation: Option<String>,
}

/// The built-in scalars.
const BUILT_IN: [&str; 5] = ["String", "ID", "Int", "Float", "Boolean"];

fn args_of(values: &[s::InputValue<'_, String>]) -> BTreeMap<String, InputDef> {
    values
        .iter()
        .map(|v| {
            (
                v.name.clone(),
                InputDef {
                    ty: TypeRef::from_ast(&v.value_type),
                    has_default: v.default_value.is_some(),
                },
            )
        })
        .collect()
}

fn fields_of(fields: &[s::Field<'_, String>]) -> BTreeMap<String, FieldDef> {
    fields
        .iter()
        .map(|f| {
            (
                f.name.clone(),
                FieldDef {
                    args: args_of(&f.arguments),
                    ty: TypeRef::from_ast(&f.field_type),
                },
            )
        })
        .collect()
}

impl GraphqlSchema {
    /// Reads an SDL file from the specs folder (`linear/schema.graphql`).
    pub fn load(relative: &str) -> Result<Self, SpecError> {
        Self::load_from(&specs_dir(), relative)
    }

    /// Reads an SDL file below `dir`.
    pub fn load_from(dir: &Path, relative: &str) -> Result<Self, SpecError> {
        let path = dir.join(relative);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(SpecError::Missing { path }),
            Err(error) => return Err(SpecError::Read { path, error }),
        };
        Self::parse(&text).map_err(|message| SpecError::Parse {
            path,
            format: "GraphQL SDL",
            message,
        })
    }

    /// Parses SDL text.
    pub fn parse(sdl: &str) -> Result<Self, String> {
        let doc = s::parse_schema::<String>(sdl).map_err(|e| e.to_string())?;
        let mut types: HashMap<String, TypeDef> = BUILT_IN.iter().map(|n| ((*n).to_owned(), TypeDef::Scalar)).collect();
        let mut query = None;
        let mut mutation = None;
        let mut extensions = Vec::new();
        for def in &doc.definitions {
            match def {
                s::Definition::SchemaDefinition(sd) => {
                    query = sd.query.clone();
                    mutation = sd.mutation.clone();
                }
                s::Definition::TypeDefinition(td) => {
                    let (name, def) = match td {
                        TypeDefinition::Scalar(t) => (&t.name, TypeDef::Scalar),
                        TypeDefinition::Object(t) => (
                            &t.name,
                            TypeDef::Object {
                                fields: fields_of(&t.fields),
                                implements: t.implements_interfaces.clone(),
                            },
                        ),
                        TypeDefinition::Interface(t) => (
                            &t.name,
                            TypeDef::Object {
                                fields: fields_of(&t.fields),
                                implements: t.implements_interfaces.clone(),
                            },
                        ),
                        TypeDefinition::Union(t) => (&t.name, TypeDef::Union(t.types.clone())),
                        TypeDefinition::Enum(t) => (
                            &t.name,
                            TypeDef::Enum(t.values.iter().map(|v| v.name.clone()).collect()),
                        ),
                        TypeDefinition::InputObject(t) => (&t.name, TypeDef::Input(args_of(&t.fields))),
                    };
                    types.insert(name.clone(), def);
                }
                s::Definition::TypeExtension(ext) => extensions.push(ext),
                s::Definition::DirectiveDefinition(_) => {}
            }
        }
        for ext in extensions {
            match ext {
                TypeExtension::Object(e) => {
                    if let Some(TypeDef::Object { fields, implements }) = types.get_mut(&e.name) {
                        fields.extend(fields_of(&e.fields));
                        implements.extend(e.implements_interfaces.iter().cloned());
                    }
                }
                TypeExtension::Interface(e) => {
                    if let Some(TypeDef::Object { fields, .. }) = types.get_mut(&e.name) {
                        fields.extend(fields_of(&e.fields));
                    }
                }
                TypeExtension::Enum(e) => {
                    if let Some(TypeDef::Enum(values)) = types.get_mut(&e.name) {
                        values.extend(e.values.iter().map(|v| v.name.clone()));
                    }
                }
                TypeExtension::InputObject(e) => {
                    if let Some(TypeDef::Input(fields)) = types.get_mut(&e.name) {
                        fields.extend(args_of(&e.fields));
                    }
                }
                TypeExtension::Union(e) => {
                    if let Some(TypeDef::Union(members)) = types.get_mut(&e.name) {
                        members.extend(e.types.iter().cloned());
                    }
                }
                TypeExtension::Scalar(_) => {}
            }
        }
        let query = query.unwrap_or_else(|| "Query".to_owned());
        let mutation = mutation.or_else(|| types.contains_key("Mutation").then(|| "Mutation".to_owned()));
        if !matches!(types.get(&query), Some(TypeDef::Object { .. })) {
            return Err(format!("the query root type `{query}` is not defined"));
        }
        Ok(Self { types, query, mutation })
    }

    /// Whether the schema defines `name`.
    pub fn has_type(&self, name: &str) -> bool {
        self.types.contains_key(name)
    }

    fn fields(&self, type_name: &str) -> Option<&BTreeMap<String, FieldDef>> {
        match self.types.get(type_name) {
            Some(TypeDef::Object { fields, .. }) => Some(fields),
            _ => None,
        }
    }

    fn is_leaf(&self, type_name: &str) -> bool {
        matches!(self.types.get(type_name), Some(TypeDef::Scalar | TypeDef::Enum(_)))
    }

    /// Whether an object of type `concrete` satisfies a fragment on `condition`.
    fn satisfies(&self, concrete: &str, condition: &str) -> bool {
        concrete == condition
            || match self.types.get(concrete) {
                Some(TypeDef::Object { implements, .. }) => implements.iter().any(|i| i == condition),
                _ => false,
            }
            || matches!(self.types.get(condition), Some(TypeDef::Union(members)) if members.iter().any(|m| m == concrete))
    }
}

/// A request body's parts.
struct Request<'a> {
    doc: Query<'a>,
    variables: Map<String, Value>,
}

/// The chosen operation: root type, variable definitions, selection.
struct Op<'d, 'a> {
    root: String,
    vars: Vec<&'d q::VariableDefinition<'a, String>>,
    selection: &'d Sel<'a>,
}

fn violation(op: &str, direction: Direction, pointer: &str, message: impl Into<String>) -> Violation {
    Violation::new(op, direction, "POST", "graphql", pointer, message)
}

fn at(pos: Pos) -> String {
    format!("line {}, column {}", pos.line, pos.column)
}

/// The JSON value of a literal, with variables substituted.
fn literal(value: &q::Value<'_, String>, variables: &Map<String, Value>) -> Value {
    match value {
        q::Value::Variable(v) => variables.get(v).cloned().unwrap_or(Value::Null),
        q::Value::Int(n) => n.as_i64().map_or(Value::Null, Value::from),
        q::Value::Float(f) => Value::from(*f),
        q::Value::String(s) => Value::String(s.clone()),
        q::Value::Boolean(b) => Value::Bool(*b),
        q::Value::Null => Value::Null,
        q::Value::Enum(e) => Value::String(e.clone()),
        q::Value::List(items) => Value::Array(items.iter().map(|i| literal(i, variables)).collect()),
        q::Value::Object(fields) => {
            Value::Object(fields.iter().map(|(k, v)| (k.clone(), literal(v, variables))).collect())
        }
    }
}

impl GraphqlSchema {
    fn parse_request<'a>(&self, body: &'a Value) -> Result<Request<'a>, String> {
        let text = body
            .get("query")
            .and_then(Value::as_str)
            .ok_or("the body has no `query` string")?;
        let doc = q::parse_query::<String>(text).map_err(|e| format!("the query does not parse: {e}"))?;
        let variables = match body.get("variables") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err("`variables` is not an object".into()),
        };
        Ok(Request { doc, variables })
    }

    fn operation<'d, 'a>(&self, doc: &'d Query<'a>, name: Option<&str>) -> Result<Op<'d, 'a>, String> {
        let ops: Vec<&OperationDefinition<'a, String>> = doc
            .definitions
            .iter()
            .filter_map(|d| match d {
                Definition::Operation(op) => Some(op),
                Definition::Fragment(_) => None,
            })
            .collect();
        let op_name = |op: &OperationDefinition<'a, String>| match op {
            OperationDefinition::Query(x) => x.name.clone(),
            OperationDefinition::Mutation(x) => x.name.clone(),
            OperationDefinition::Subscription(x) => x.name.clone(),
            OperationDefinition::SelectionSet(_) => None,
        };
        let op = match name {
            Some(n) => ops
                .into_iter()
                .find(|op| op_name(op).as_deref() == Some(n))
                .ok_or_else(|| format!("no operation named `{n}`"))?,
            None if ops.len() == 1 => ops[0],
            None => return Err(format!("{} operations and no operationName", ops.len())),
        };
        Ok(match op {
            OperationDefinition::SelectionSet(sel) => Op {
                root: self.query.clone(),
                vars: Vec::new(),
                selection: sel,
            },
            OperationDefinition::Query(x) => Op {
                root: self.query.clone(),
                vars: x.variable_definitions.iter().collect(),
                selection: &x.selection_set,
            },
            OperationDefinition::Mutation(x) => Op {
                root: self.mutation.clone().ok_or("the schema has no mutation type")?,
                vars: x.variable_definitions.iter().collect(),
                selection: &x.selection_set,
            },
            OperationDefinition::Subscription(_) => return Err("subscriptions are not served over HTTP".into()),
        })
    }

    /// The root fields a request selects (`customers`, `issueCreate`): the violations'
    /// operation name, and what a fake dispatches on.
    pub fn root_fields(&self, body: &Value) -> Vec<String> {
        let Ok(req) = self.parse_request(body) else {
            return Vec::new();
        };
        let name = body.get("operationName").and_then(Value::as_str);
        let Ok(op) = self.operation(&req.doc, name) else {
            return Vec::new();
        };
        op.selection
            .items
            .iter()
            .filter_map(|s| match s {
                Selection::Field(f) => Some(f.name.clone()),
                _ => None,
            })
            .collect()
    }

    /// Checks a request body against the schema.
    pub fn check_request(&self, body: &Value) -> Vec<Violation> {
        let op_label = self.root_fields(body).join(",");
        let op_label = if op_label.is_empty() { "-".to_owned() } else { op_label };
        let mut out = Vec::new();
        let req = match self.parse_request(body) {
            Ok(r) => r,
            Err(e) => return vec![violation(&op_label, Direction::Request, "/query", e)],
        };
        let name = body.get("operationName").and_then(Value::as_str);
        let op = match self.operation(&req.doc, name) {
            Ok(op) => op,
            Err(e) => return vec![violation(&op_label, Direction::Request, "/query", e)],
        };
        let fragments = fragments(&req.doc);
        let mut declared = HashMap::new();
        for v in &op.vars {
            let ty = TypeRef::from_ast(&v.var_type);
            let pointer = format!("/variables/{}", v.name);
            match self.types.get(ty.base()) {
                None => out.push(violation(
                    &op_label,
                    Direction::Request,
                    &pointer,
                    format!("variable ${} has the unknown type {ty}", v.name),
                )),
                Some(TypeDef::Object { .. } | TypeDef::Union(_)) => out.push(violation(
                    &op_label,
                    Direction::Request,
                    &pointer,
                    format!("variable ${} has the output type {ty}", v.name),
                )),
                _ => match req.variables.get(&v.name) {
                    Some(value) => self.check_input(&ty, value, &pointer, &op_label, &mut out),
                    None if matches!(ty, TypeRef::NonNull(_)) && v.default_value.is_none() => out.push(violation(
                        &op_label,
                        Direction::Request,
                        &pointer,
                        format!("the required variable ${} ({ty}) is missing", v.name),
                    )),
                    None => {}
                },
            }
            declared.insert(v.name.clone(), ty);
        }
        for name in req.variables.keys() {
            if !declared.contains_key(name) {
                out.push(violation(
                    &op_label,
                    Direction::Request,
                    &format!("/variables/{name}"),
                    format!("the variable ${name} is not declared by the operation"),
                ));
            }
        }
        let mut ctx = RequestCheck {
            schema: self,
            op: &op_label,
            declared: &declared,
            fragments: &fragments,
            out: &mut out,
        };
        ctx.selection(&op.root, op.selection, "/query");
        out
    }

    /// Checks a JSON value against an input type.
    fn check_input(&self, ty: &TypeRef, value: &Value, pointer: &str, op: &str, out: &mut Vec<Violation>) {
        let bad =
            |out: &mut Vec<Violation>, message: String| out.push(violation(op, Direction::Request, pointer, message));
        match ty {
            TypeRef::NonNull(inner) => {
                if value.is_null() {
                    bad(out, format!("null where {ty} is required"));
                } else {
                    self.check_input(inner, value, pointer, op, out);
                }
            }
            _ if value.is_null() => {}
            TypeRef::List(inner) => match value {
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        self.check_input(inner, item, &format!("{pointer}/{i}"), op, out);
                    }
                }
                // Input coercion accepts a single item for a list.
                single => self.check_input(inner, single, pointer, op, out),
            },
            TypeRef::Named(name) => match self.types.get(name.as_str()) {
                Some(TypeDef::Scalar) => {
                    let fits = match name.as_str() {
                        "Int" => value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
                        "Float" => value.is_number(),
                        "String" => value.is_string(),
                        "Boolean" => value.is_boolean(),
                        "ID" => value.is_string() || value.is_i64() || value.is_u64(),
                        // Custom scalars (DateTime, JSON...) have their own rules: any value.
                        _ => true,
                    };
                    if !fits {
                        bad(out, format!("{value} is not a {name}"));
                    }
                }
                Some(TypeDef::Enum(values)) => {
                    if !value.as_str().is_some_and(|v| values.contains(v)) {
                        bad(out, format!("{value} is not a value of the enum {name}"));
                    }
                }
                Some(TypeDef::Input(fields)) => {
                    let Some(object) = value.as_object() else {
                        bad(out, format!("{value} is not an object of the input type {name}"));
                        return;
                    };
                    for (key, v) in object {
                        match fields.get(key) {
                            Some(field) => self.check_input(&field.ty, v, &format!("{pointer}/{key}"), op, out),
                            None => bad(out, format!("the input type {name} has no field `{key}`")),
                        }
                    }
                    for (key, field) in fields {
                        if field.required() && !object.contains_key(key) {
                            bad(out, format!("the required field `{key}` of {name} is missing"));
                        }
                    }
                }
                Some(_) => bad(out, format!("{name} is not an input type")),
                None => bad(out, format!("the type {name} is not defined")),
            },
        }
    }
}

fn fragments<'d, 'a>(doc: &'d Query<'a>) -> HashMap<String, &'d q::FragmentDefinition<'a, String>> {
    doc.definitions
        .iter()
        .filter_map(|d| match d {
            Definition::Fragment(f) => Some((f.name.clone(), f)),
            Definition::Operation(_) => None,
        })
        .collect()
}

struct RequestCheck<'c, 'd, 'a> {
    schema: &'c GraphqlSchema,
    op: &'c str,
    declared: &'c HashMap<String, TypeRef>,
    fragments: &'c HashMap<String, &'d q::FragmentDefinition<'a, String>>,
    out: &'c mut Vec<Violation>,
}

impl RequestCheck<'_, '_, '_> {
    fn push(&mut self, pointer: &str, message: String) {
        self.out.push(violation(self.op, Direction::Request, pointer, message));
    }

    fn selection(&mut self, parent: &str, sel: &Sel<'_>, pointer: &str) {
        for item in &sel.items {
            match item {
                Selection::Field(f) => self.field(parent, f, pointer),
                Selection::InlineFragment(frag) => {
                    let on = match &frag.type_condition {
                        Some(q::TypeCondition::On(t)) => t.clone(),
                        None => parent.to_owned(),
                    };
                    if !self.schema.has_type(&on) {
                        self.push(
                            pointer,
                            format!("fragment on the unknown type {on} ({})", at(frag.position)),
                        );
                        continue;
                    }
                    self.selection(&on, &frag.selection_set, pointer);
                }
                Selection::FragmentSpread(spread) => match self.fragments.get(&spread.fragment_name) {
                    Some(def) => {
                        let q::TypeCondition::On(on) = &def.type_condition;
                        if self.schema.has_type(on) {
                            let on = on.clone();
                            self.selection(&on, &def.selection_set, pointer);
                        } else {
                            self.push(pointer, format!("fragment {} is on the unknown type {on}", def.name));
                        }
                    }
                    None => self.push(pointer, format!("the fragment {} is not defined", spread.fragment_name)),
                },
            }
        }
    }

    fn field(&mut self, parent: &str, f: &q::Field<'_, String>, pointer: &str) {
        let key = f.alias.as_ref().unwrap_or(&f.name);
        let here = format!("{pointer}/{key}");
        if f.name == "__typename" {
            return;
        }
        let Some(def) = self
            .schema
            .fields(parent)
            .and_then(|fields| fields.get(&f.name))
            .cloned()
        else {
            self.push(
                &here,
                format!("the type {parent} has no field `{}` ({})", f.name, at(f.position)),
            );
            return;
        };
        for (name, value) in &f.arguments {
            let arg_pointer = format!("{here}({name})");
            let Some(arg) = def.args.get(name) else {
                self.push(&arg_pointer, format!("{parent}.{} has no argument `{name}`", f.name));
                continue;
            };
            self.argument(&arg.ty, value, &arg_pointer);
        }
        for (name, arg) in &def.args {
            if arg.required() && !f.arguments.iter().any(|(n, _)| n == name) {
                self.push(
                    &here,
                    format!("the required argument `{name}` of {parent}.{} is missing", f.name),
                );
            }
        }
        let base = def.ty.base();
        if self.schema.is_leaf(base) {
            if !f.selection_set.items.is_empty() {
                self.push(
                    &here,
                    format!("{parent}.{} is a leaf ({}) and takes no selection", f.name, def.ty),
                );
            }
        } else if f.selection_set.items.is_empty() {
            self.push(
                &here,
                format!("{parent}.{} is an object ({}) and needs a selection", f.name, def.ty),
            );
        } else {
            let base = base.to_owned();
            self.selection(&base, &f.selection_set, &here);
        }
    }

    fn argument(&mut self, ty: &TypeRef, value: &q::Value<'_, String>, pointer: &str) {
        match value {
            q::Value::Variable(v) => match self.declared.get(v) {
                Some(var_ty) => {
                    // As the spec's "All Variable Usages Are Allowed" (without its default-value
                    // exception): a nullable variable cannot fill a non-null argument.
                    if !var_ty.fits(ty) {
                        self.push(pointer, format!("${v} is {var_ty}, where {ty} is expected"));
                    }
                }
                None => self.push(pointer, format!("the variable ${v} is not declared")),
            },
            q::Value::List(items) => {
                let inner = match ty.nullable() {
                    TypeRef::List(inner) => inner.as_ref().clone(),
                    other => other.clone(),
                };
                for item in items {
                    self.argument(&inner, item, pointer);
                }
            }
            q::Value::Object(fields) if fields.values().any(|v| matches!(v, q::Value::Variable(_))) => {
                // Check each field by itself: some are variables.
                match self.schema.types.get(ty.base()) {
                    Some(TypeDef::Input(defs)) => {
                        for (k, v) in fields {
                            match defs.get(k) {
                                Some(d) => {
                                    let d = d.ty.clone();
                                    self.argument(&d, v, &format!("{pointer}/{k}"));
                                }
                                None => self.push(pointer, format!("the input type {} has no field `{k}`", ty.base())),
                            }
                        }
                    }
                    _ => self.push(pointer, format!("an object where {ty} is expected")),
                }
            }
            other => {
                let json = literal(other, &Map::new());
                let is_enum_literal = matches!(other, q::Value::Enum(_));
                if is_enum_literal && !matches!(self.schema.types.get(ty.base()), Some(TypeDef::Enum(_))) {
                    self.push(pointer, format!("an enum value where {ty} is expected"));
                    return;
                }
                self.schema.check_input(ty, &json, pointer, self.op, self.out);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Responses and execution

impl GraphqlSchema {
    /// Checks a response body (`{"data", "errors", "extensions"}`) against the request's
    /// selection.
    pub fn check_response(&self, request: &Value, response: &Value) -> Vec<Violation> {
        let op_label = self.root_fields(request).join(",");
        let op_label = if op_label.is_empty() { "-".to_owned() } else { op_label };
        let mut out = Vec::new();
        let push = |out: &mut Vec<Violation>, pointer: &str, message: String| {
            out.push(violation(&op_label, Direction::Response, pointer, message))
        };
        let Some(body) = response.as_object() else {
            push(&mut out, "", "the response is not a JSON object".into());
            return out;
        };
        for key in body.keys() {
            if !matches!(key.as_str(), "data" | "errors" | "extensions") {
                push(
                    &mut out,
                    &format!("/{key}"),
                    format!("`{key}` is not a GraphQL response key"),
                );
            }
        }
        match body.get("errors") {
            None => {}
            Some(Value::Array(errors)) if !errors.is_empty() => {
                for (i, e) in errors.iter().enumerate() {
                    if !e.get("message").is_some_and(Value::is_string) {
                        push(
                            &mut out,
                            &format!("/errors/{i}"),
                            "an error without a `message` string".into(),
                        );
                    }
                }
            }
            Some(_) => push(&mut out, "/errors", "`errors` must be a non-empty array".into()),
        }
        if !body.contains_key("data") && !body.contains_key("errors") {
            push(&mut out, "", "neither `data` nor `errors`".into());
        }
        let data = match body.get("data") {
            None | Some(Value::Null) => return out,
            Some(d) => d,
        };
        let Ok(req) = self.parse_request(request) else {
            push(&mut out, "/data", "data for a request that does not parse".into());
            return out;
        };
        let name = request.get("operationName").and_then(Value::as_str);
        let Ok(op) = self.operation(&req.doc, name) else {
            push(
                &mut out,
                "/data",
                "data for a request without a usable operation".into(),
            );
            return out;
        };
        let fragments = fragments(&req.doc);
        self.check_object(&op.root, op.selection, &fragments, data, "/data", &op_label, &mut out);
        out
    }

    /// The fields a selection asks of an object of type `concrete`: `(response key, field)`.
    fn collect<'d, 'a>(
        &self,
        concrete: &str,
        sel: &'d Sel<'a>,
        fragments: &HashMap<String, &'d q::FragmentDefinition<'a, String>>,
        out: &mut Vec<(String, &'d q::Field<'a, String>)>,
    ) {
        for item in &sel.items {
            match item {
                Selection::Field(f) => {
                    let key = f.alias.clone().unwrap_or_else(|| f.name.clone());
                    if !out.iter().any(|(k, _)| *k == key) {
                        out.push((key, f));
                    }
                }
                Selection::InlineFragment(frag) => {
                    let applies = match &frag.type_condition {
                        Some(q::TypeCondition::On(t)) => self.satisfies(concrete, t),
                        None => true,
                    };
                    if applies {
                        self.collect(concrete, &frag.selection_set, fragments, out);
                    }
                }
                Selection::FragmentSpread(spread) => {
                    if let Some(def) = fragments.get(&spread.fragment_name) {
                        let q::TypeCondition::On(on) = &def.type_condition;
                        if self.satisfies(concrete, on) {
                            self.collect(concrete, &def.selection_set, fragments, out);
                        }
                    }
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn check_object<'a>(
        &self,
        ty: &str,
        sel: &Sel<'a>,
        fragments: &HashMap<String, &q::FragmentDefinition<'a, String>>,
        value: &Value,
        pointer: &str,
        op: &str,
        out: &mut Vec<Violation>,
    ) {
        let Some(object) = value.as_object() else {
            out.push(violation(
                op,
                Direction::Response,
                pointer,
                format!("{value} is not an object of type {ty}"),
            ));
            return;
        };
        // Abstract types: the concrete type is the object's __typename when it was selected.
        let concrete = object
            .get("__typename")
            .and_then(Value::as_str)
            .unwrap_or(ty)
            .to_owned();
        let mut wanted = Vec::new();
        self.collect(&concrete, sel, fragments, &mut wanted);
        for key in object.keys() {
            if !wanted.iter().any(|(k, _)| k == key) {
                out.push(violation(
                    op,
                    Direction::Response,
                    &format!("{pointer}/{key}"),
                    format!("`{key}` was not selected"),
                ));
            }
        }
        for (key, field) in wanted {
            let here = format!("{pointer}/{key}");
            let Some(v) = object.get(&key) else {
                out.push(violation(
                    op,
                    Direction::Response,
                    &here,
                    format!("the selected field `{key}` is missing"),
                ));
                continue;
            };
            if field.name == "__typename" {
                if !v.is_string() {
                    out.push(violation(op, Direction::Response, &here, "__typename is not a string"));
                }
                continue;
            }
            let Some(def) = self.fields(&concrete).and_then(|f| f.get(&field.name)) else {
                out.push(violation(
                    op,
                    Direction::Response,
                    &here,
                    format!("{concrete} has no field `{}`", field.name),
                ));
                continue;
            };
            self.check_output(&def.ty, &field.selection_set, fragments, v, &here, op, out);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn check_output<'a>(
        &self,
        ty: &TypeRef,
        sel: &Sel<'a>,
        fragments: &HashMap<String, &q::FragmentDefinition<'a, String>>,
        value: &Value,
        pointer: &str,
        op: &str,
        out: &mut Vec<Violation>,
    ) {
        let bad =
            |out: &mut Vec<Violation>, message: String| out.push(violation(op, Direction::Response, pointer, message));
        match ty {
            TypeRef::NonNull(inner) => {
                if value.is_null() {
                    bad(out, format!("null for the non-null type {ty}"));
                } else {
                    self.check_output(inner, sel, fragments, value, pointer, op, out);
                }
            }
            _ if value.is_null() => {}
            TypeRef::List(inner) => match value {
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        self.check_output(inner, sel, fragments, item, &format!("{pointer}/{i}"), op, out);
                    }
                }
                other => bad(out, format!("{other} is not a list ({ty})")),
            },
            TypeRef::Named(name) => match self.types.get(name.as_str()) {
                Some(TypeDef::Scalar) => {
                    let fits = match name.as_str() {
                        "Int" => value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
                        "Float" => value.is_number(),
                        "String" | "ID" => value.is_string(),
                        "Boolean" => value.is_boolean(),
                        // A custom scalar serialises to any JSON value but an object, for all we know.
                        _ => !value.is_object(),
                    };
                    if !fits {
                        bad(out, format!("{value} is not a {name}"));
                    }
                }
                Some(TypeDef::Enum(values)) => {
                    if !value.as_str().is_some_and(|v| values.contains(v)) {
                        bad(out, format!("{value} is not a value of the enum {name}"));
                    }
                }
                Some(TypeDef::Object { .. } | TypeDef::Union(_)) => {
                    self.check_object(name, sel, fragments, value, pointer, op, out)
                }
                Some(TypeDef::Input(_)) | None => bad(out, format!("{name} is not an output type")),
            },
        }
    }

    /// Answers a request: `resolve(root field name, its arguments)` gives each root field's
    /// full JSON value (a fake's objects, keys named as the schema's fields), which is then
    /// projected onto the selection. A resolver error becomes a GraphQL error (and `data` is
    /// null); so does a request that fails [`Self::check_request`]'s parse.
    pub fn execute(
        &self,
        request: &Value,
        mut resolve: impl FnMut(&str, &Map<String, Value>) -> Result<Value, String>,
    ) -> Value {
        let req = match self.parse_request(request) {
            Ok(r) => r,
            Err(e) => return serde_json::json!({"errors": [{"message": e}]}),
        };
        let name = request.get("operationName").and_then(Value::as_str);
        let op = match self.operation(&req.doc, name) {
            Ok(op) => op,
            Err(e) => return serde_json::json!({"errors": [{"message": e}]}),
        };
        let fragments = fragments(&req.doc);
        let mut variables = req.variables.clone();
        for v in &op.vars {
            if let (false, Some(default)) = (variables.contains_key(&v.name), &v.default_value) {
                variables.insert(v.name.clone(), literal(default, &Map::new()));
            }
        }
        let mut wanted = Vec::new();
        self.collect(&op.root, op.selection, &fragments, &mut wanted);
        let mut data = Map::new();
        for (key, field) in wanted {
            if field.name == "__typename" {
                data.insert(key, Value::String(op.root.clone()));
                continue;
            }
            let args: Map<String, Value> = field
                .arguments
                .iter()
                .map(|(k, v)| (k.clone(), literal(v, &variables)))
                .collect();
            let value = match resolve(&field.name, &args) {
                Ok(v) => v,
                Err(message) => {
                    return serde_json::json!({"data": null, "errors": [{"message": message, "path": [key]}]})
                }
            };
            let ty = self
                .fields(&op.root)
                .and_then(|f| f.get(&field.name))
                .map(|d| d.ty.clone())
                .unwrap_or(TypeRef::Named("String".into()));
            data.insert(key, self.project(&ty, &field.selection_set, &fragments, &value));
        }
        serde_json::json!({ "data": data })
    }

    /// `value` cut down to the selection: aliases renamed, unselected keys dropped,
    /// `__typename` filled in. A key the value lacks projects to null.
    fn project<'a>(
        &self,
        ty: &TypeRef,
        sel: &Sel<'a>,
        fragments: &HashMap<String, &q::FragmentDefinition<'a, String>>,
        value: &Value,
    ) -> Value {
        match (ty, value) {
            (_, Value::Null) => Value::Null,
            (TypeRef::NonNull(inner), v) => self.project(inner, sel, fragments, v),
            (TypeRef::List(inner), Value::Array(items)) => {
                Value::Array(items.iter().map(|i| self.project(inner, sel, fragments, i)).collect())
            }
            (TypeRef::Named(name), Value::Object(object)) if !self.is_leaf(name) => {
                let concrete = object
                    .get("__typename")
                    .and_then(Value::as_str)
                    .unwrap_or(name)
                    .to_owned();
                let mut wanted = Vec::new();
                self.collect(&concrete, sel, fragments, &mut wanted);
                let mut out = Map::new();
                for (key, field) in wanted {
                    if field.name == "__typename" {
                        out.insert(key, Value::String(concrete.clone()));
                        continue;
                    }
                    let field_ty = self
                        .fields(&concrete)
                        .and_then(|f| f.get(&field.name))
                        .map(|d| d.ty.clone())
                        .unwrap_or(TypeRef::Named("String".into()));
                    let v = object.get(&field.name).unwrap_or(&Value::Null);
                    out.insert(key, self.project(&field_ty, &field.selection_set, fragments, v));
                }
                Value::Object(out)
            }
            (_, v) => v.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SDL: &str = r#"
        schema { query: QueryRoot mutation: Mutation }
        scalar DateTime
        enum Status { ACTIVE DRAFT }
        type PageInfo { endCursor: String hasNextPage: Boolean! }
        interface Node { id: ID! }
        type Item implements Node { id: ID! title: String! status: Status! updatedAt: DateTime! tags: [String!]! }
        type ItemConnection { nodes: [Item!]! pageInfo: PageInfo! }
        type QueryRoot {
          items(first: Int, after: String, query: String): ItemConnection!
          item(id: ID!): Item
          node(id: ID!): Node
        }
        input ItemInput { id: ID title: String status: Status }
        type UserError { field: [String!] message: String! }
        type ItemCreatePayload { item: Item userErrors: [UserError!]! }
        type Mutation { itemCreate(input: ItemInput!): ItemCreatePayload }
    "#;

    fn schema() -> GraphqlSchema {
        GraphqlSchema::parse(SDL).unwrap()
    }

    fn messages(v: &[Violation]) -> Vec<String> {
        v.iter().map(|v| format!("{} {}", v.pointer, v.message)).collect()
    }

    #[test]
    fn a_valid_query_with_variables_passes() {
        let body = json!({
            "query": "query Items($first: Int!, $after: String) { items(first: $first, after: $after) { nodes { id title status updatedAt } pageInfo { endCursor hasNextPage } } }",
            "variables": {"first": 50}
        });
        assert_eq!(messages(&schema().check_request(&body)), Vec::<String>::new());
        assert_eq!(schema().root_fields(&body), vec!["items"]);
    }

    #[test]
    fn unknown_fields_arguments_and_bad_variables_are_violations() {
        let s = schema();
        let body = json!({
            "query": "query($first: Int, $s: Status, $x: Nope) { items(first: $first, sort: 1) { nodes { id colour } pageInfo } item { title { x } } }",
            "variables": {"first": "ten", "s": "GONE", "extra": 1}
        });
        let found = messages(&s.check_request(&body));
        for expected in [
            "/variables/first \"ten\" is not a Int",
            "/variables/s \"GONE\" is not a value of the enum Status",
            "/variables/x variable $x has the unknown type Nope",
            "/variables/extra the variable $extra is not declared by the operation",
            "/query/items(sort) QueryRoot.items has no argument `sort`",
            "/query/items/nodes/colour the type Item has no field `colour`",
            "/query/items/pageInfo ItemConnection.pageInfo is an object",
            "/query/item the required argument `id` of QueryRoot.item is missing",
            "/query/item/title Item.title is a leaf",
        ] {
            assert!(
                found.iter().any(|m| m.starts_with(expected)),
                "expected {expected:?} in {found:#?}"
            );
        }
        let unparsable = json!({"query": "{ items( }"});
        assert_eq!(s.check_request(&unparsable).len(), 1);
    }

    #[test]
    fn variables_must_fit_their_arguments_and_input_objects_their_fields() {
        let s = schema();
        let ok = json!({"query": "mutation($input: ItemInput!) { itemCreate(input: $input) { item { id } userErrors { field message } } }",
                        "variables": {"input": {"title": "A", "status": "DRAFT"}}});
        assert!(s.check_request(&ok).is_empty(), "{:?}", messages(&s.check_request(&ok)));
        let wrong = json!({"query": "mutation($input: String) { itemCreate(input: $input) { item { id } userErrors { message } } }",
                           "variables": {"input": "x"}});
        assert!(messages(&s.check_request(&wrong))
            .iter()
            .any(|m| m.contains("$input is String, where ItemInput! is expected")));
        let bad_field = json!({"query": "mutation($input: ItemInput!) { itemCreate(input: $input) { item { id } userErrors { message } } }",
                               "variables": {"input": {"name": "A"}}});
        assert!(messages(&s.check_request(&bad_field))
            .iter()
            .any(|m| m.contains("has no field `name`")));
    }

    #[test]
    fn execute_projects_objects_onto_the_selection_and_the_response_checks_clean() {
        let s = schema();
        let body = json!({"query": "query($after: String) { page: items(first: 2, after: $after) { nodes { __typename id name: title } pageInfo { hasNextPage endCursor } } }"});
        let response = s.execute(&body, |field, args| {
            assert_eq!(field, "items");
            assert_eq!(args["first"], json!(2));
            assert_eq!(args["after"], Value::Null);
            Ok(
                json!({"nodes": [{"id": "1", "title": "One", "status": "ACTIVE", "secret": "x"}],
                      "pageInfo": {"hasNextPage": false, "endCursor": "c1"}}),
            )
        });
        assert_eq!(
            response,
            json!({"data": {"page": {"nodes": [{"__typename": "Item", "id": "1", "name": "One"}],
                                      "pageInfo": {"hasNextPage": false, "endCursor": "c1"}}}})
        );
        assert!(s.check_response(&body, &response).is_empty());
    }

    #[test]
    fn responses_with_wrong_types_missing_or_extra_keys_are_violations() {
        let s = schema();
        let body = json!({"query": "{ items(first: 1) { nodes { id status tags } pageInfo { hasNextPage } } }"});
        let response = json!({"data": {"items": {
            "nodes": [{"id": 7, "status": "GONE", "tags": "a", "extra": 1}],
            "pageInfo": {"hasNextPage": null}}}, "oops": 1});
        let found = messages(&s.check_response(&body, &response));
        for expected in [
            "/oops `oops` is not a GraphQL response key",
            "/data/items/nodes/0/id 7 is not a ID",
            "/data/items/nodes/0/status \"GONE\" is not a value of the enum Status",
            "/data/items/nodes/0/tags \"a\" is not a list",
            "/data/items/nodes/0/extra `extra` was not selected",
            "/data/items/pageInfo/hasNextPage null for the non-null type Boolean!",
        ] {
            assert!(
                found.iter().any(|m| m.starts_with(expected)),
                "expected {expected:?} in {found:#?}"
            );
        }
        let missing = json!({"data": {"items": {"nodes": [], "pageInfo": {}}}});
        assert!(messages(&s.check_response(&body, &missing))
            .iter()
            .any(|m| m.contains("`hasNextPage` is missing")));
        let bad_errors = json!({"errors": [{"code": "THROTTLED"}]});
        assert_eq!(s.check_response(&body, &bad_errors).len(), 1);
    }

    #[test]
    fn fragments_on_interfaces_apply_to_implementing_objects() {
        let s = schema();
        let body =
            json!({"query": "{ node(id: \"1\") { id ... on Item { title } ...F } } fragment F on Item { status }"});
        assert!(
            s.check_request(&body).is_empty(),
            "{:?}",
            messages(&s.check_request(&body))
        );
        let response = json!({"data": {"node": {"id": "1", "title": "T", "status": "DRAFT"}}});
        // Without __typename the concrete type is the interface: Item's fields were not asked.
        assert!(!s.check_response(&body, &response).is_empty());
        let typed = json!({"query": "{ node(id: \"1\") { __typename id ... on Item { title } ...F } } fragment F on Item { status }"});
        let response = json!({"data": {"node": {"__typename": "Item", "id": "1", "title": "T", "status": "DRAFT"}}});
        assert!(
            s.check_response(&typed, &response).is_empty(),
            "{:?}",
            messages(&s.check_response(&typed, &response))
        );
    }

    #[test]
    fn the_linear_schema_loads_and_checks_an_issues_query() {
        let s = GraphqlSchema::load("linear/schema.graphql").unwrap_or_else(|e| panic!("{e}"));
        let body = json!({"query": "query($after: String) { issues(first: 50, after: $after) { nodes { id title updatedAt } pageInfo { hasNextPage endCursor } } }"});
        assert_eq!(messages(&s.check_request(&body)), Vec::<String>::new());
        let wrong = json!({"query": "{ issues(first: 50) { nodes { id colour } } }"});
        assert_eq!(s.check_request(&wrong).len(), 1);
    }
}
