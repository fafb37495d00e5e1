//! OData version 2 service metadata: an EDMX 1.0 document with CSDL schemas, as SAP Gateway
//! and other OData v2 services publish at `$metadata`, read into entity types (properties
//! with their Edm types and facets, keys, navigation properties) and entity sets; and the
//! checks of OData v2 traffic against it:
//!
//! * [`ODataV2::resolve`]: a resource path (`/A_BusinessPartner`, `/A_BusinessPartner('17')`,
//!   `/A_BusinessPartner(BusinessPartner='17')`, `/$metadata`, `/Set/$count`) against the entity
//!   sets and their keys (key literals typed by the key property);
//! * [`ODataV2::check_request`]: the method against what the set allows (`sap:creatable`,
//!   `sap:updatable`, `sap:deletable`), the system query options (`$filter` parsed and each
//!   comparison's property and literal type checked, `$select`, `$orderby`, `$top`, `$skip`,
//!   `$skiptoken`, `$inlinecount`, `$format`, `$expand`), and a JSON body's properties
//!   (known, of the right JSON form for their Edm type, creatable or updatable);
//! * [`ODataV2::check_response`]: the status for the request and the verbose JSON format
//!   (`{"d": {"results": [...], "__count", "__next"}}`, `{"d": {...}}`, OData error bodies),
//!   every entity's properties checked as above.
//!
//! The JSON forms are those of OData v2's verbose JSON format ("OData Version 2.0 JSON
//! Format", section 2.2.6.3): strings for Edm.String, Edm.Int64, Edm.Decimal and Edm.Guid;
//! numbers for the smaller integers; `/Date(<ms>)/` for Edm.DateTime and
//! `/Date(<ms>+<offset>)/` for Edm.DateTimeOffset; ISO 8601 durations (`PT12H30M00S`) for
//! Edm.Time. A problem is a `(pointer, message)` pair; the caller makes [`super::Violation`]s.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Map, Value};

use super::SpecError;

/// SAP's annotation namespace (`sap:creatable`, `sap:updatable`, `sap:deletable`).
const SAP_NS: &str = "http://www.sap.com/Protocols/SAPData";

/// A problem found: JSON pointer (`/query/$filter`, `/body/FirstName`) and message.
pub type Problem = (String, String);

/// Primitive Edm types of OData v2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdmType {
    String,
    Boolean,
    Byte,
    SByte,
    Int16,
    Int32,
    Int64,
    Decimal,
    Double,
    Single,
    DateTime,
    DateTimeOffset,
    Time,
    Guid,
    Binary,
    /// A complex type or anything else: its values are not checked.
    Other,
}

impl EdmType {
    fn parse(name: &str) -> Self {
        match name {
            "Edm.String" => Self::String,
            "Edm.Boolean" => Self::Boolean,
            "Edm.Byte" => Self::Byte,
            "Edm.SByte" => Self::SByte,
            "Edm.Int16" => Self::Int16,
            "Edm.Int32" => Self::Int32,
            "Edm.Int64" => Self::Int64,
            "Edm.Decimal" => Self::Decimal,
            "Edm.Double" => Self::Double,
            "Edm.Single" => Self::Single,
            "Edm.DateTime" => Self::DateTime,
            "Edm.DateTimeOffset" => Self::DateTimeOffset,
            "Edm.Time" => Self::Time,
            "Edm.Guid" => Self::Guid,
            "Edm.Binary" => Self::Binary,
            _ => Self::Other,
        }
    }
}

/// A property of an entity type.
#[derive(Debug, Clone)]
pub struct Property {
    pub name: String,
    /// The declared type (`Edm.String`).
    pub type_name: String,
    pub edm: EdmType,
    pub nullable: bool,
    pub max_length: Option<usize>,
    pub precision: Option<u32>,
    pub scale: Option<u32>,
    /// `sap:creatable` (default true): may be sent when creating.
    pub creatable: bool,
    /// `sap:updatable` (default true): may be sent when updating.
    pub updatable: bool,
}

/// An entity type.
#[derive(Debug, Clone)]
pub struct EntityType {
    pub name: String,
    pub keys: Vec<String>,
    pub properties: Vec<Property>,
    pub navigation: Vec<String>,
}

impl EntityType {
    pub fn property(&self, name: &str) -> Option<&Property> {
        self.properties.iter().find(|p| p.name == name)
    }
}

/// An entity set of the default container.
#[derive(Debug, Clone)]
pub struct EntitySet {
    pub name: String,
    /// The entity type's name without its namespace.
    pub entity_type: String,
    pub creatable: bool,
    pub updatable: bool,
    pub deletable: bool,
}

/// What a resource path addresses.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// The service document (the service root).
    ServiceDocument,
    /// `$metadata`.
    Metadata,
    /// An entity set.
    Collection { set: String },
    /// One entity by key: key property -> value as text.
    Entity { set: String, key: BTreeMap<String, String> },
    /// `/Set/$count`.
    Count { set: String },
}

/// How an entity in a body is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Sent by the service: key properties must be present.
    Read,
    /// A POST body: only creatable properties.
    Create,
    /// A PATCH/MERGE/PUT body: only updatable properties.
    Update,
}

/// One OData v2 service's metadata.
#[derive(Debug)]
pub struct ODataV2 {
    /// The file, relative to the specs folder, for messages.
    pub file: String,
    types: HashMap<String, EntityType>,
    sets: BTreeMap<String, EntitySet>,
}

fn cache() -> &'static Mutex<HashMap<PathBuf, Arc<ODataV2>>> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, Arc<ODataV2>>>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

fn flag(node: roxmltree::Node<'_, '_>, name: &str) -> bool {
    node.attribute((SAP_NS, name)) != Some("false")
}

impl ODataV2 {
    /// Loads an EDMX file from the specs folder (once per process).
    pub fn load(relative: &str) -> Result<Arc<Self>, SpecError> {
        Self::load_from(&super::specs_dir(), relative)
    }

    /// Loads an EDMX file below `dir` (once per process).
    pub fn load_from(dir: &Path, relative: &str) -> Result<Arc<Self>, SpecError> {
        let path = dir.join(relative);
        let key = path.canonicalize().unwrap_or_else(|_| path.clone());
        if let Some(doc) = cache().lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(doc.clone());
        }
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(SpecError::Missing { path }),
            Err(error) => return Err(SpecError::Read { path, error }),
        };
        let doc = Arc::new(Self::parse(relative, &text).map_err(|message| SpecError::Parse {
            path: path.clone(),
            format: "EDMX (OData v2 metadata)",
            message,
        })?);
        cache()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, doc.clone());
        Ok(doc)
    }

    /// Reads an EDMX document's schemas and default entity container.
    pub fn parse(file: &str, text: &str) -> Result<Self, String> {
        let doc = roxmltree::Document::parse(text).map_err(|e| e.to_string())?;
        let root = doc.root_element();
        if root.tag_name().name() != "Edmx" {
            return Err(format!(
                "the root element is <{}>, not <edmx:Edmx>",
                root.tag_name().name()
            ));
        }
        let mut types = HashMap::new();
        let mut sets = BTreeMap::new();
        for schema in root.descendants().filter(|n| n.has_tag_name("Schema")) {
            for node in schema.children().filter(|n| n.is_element()) {
                match node.tag_name().name() {
                    "EntityType" => {
                        let name = node.attribute("Name").ok_or("an EntityType without a Name")?;
                        let keys = node
                            .children()
                            .filter(|n| n.has_tag_name("Key"))
                            .flat_map(|k| k.children().filter(|n| n.has_tag_name("PropertyRef")))
                            .filter_map(|r| r.attribute("Name").map(str::to_owned))
                            .collect();
                        let mut properties = Vec::new();
                        let mut navigation = Vec::new();
                        for child in node.children().filter(|n| n.is_element()) {
                            match child.tag_name().name() {
                                "Property" => {
                                    let pname = child
                                        .attribute("Name")
                                        .ok_or_else(|| format!("a property of {name} without a Name"))?;
                                    let type_name = child.attribute("Type").unwrap_or("Edm.String");
                                    properties.push(Property {
                                        name: pname.to_owned(),
                                        type_name: type_name.to_owned(),
                                        edm: EdmType::parse(type_name),
                                        nullable: child.attribute("Nullable") != Some("false"),
                                        max_length: child.attribute("MaxLength").and_then(|m| m.parse().ok()),
                                        precision: child.attribute("Precision").and_then(|m| m.parse().ok()),
                                        scale: child.attribute("Scale").and_then(|m| m.parse().ok()),
                                        creatable: flag(child, "creatable"),
                                        updatable: flag(child, "updatable"),
                                    });
                                }
                                "NavigationProperty" => {
                                    if let Some(n) = child.attribute("Name") {
                                        navigation.push(n.to_owned());
                                    }
                                }
                                _ => {}
                            }
                        }
                        types.insert(
                            name.to_owned(),
                            EntityType {
                                name: name.to_owned(),
                                keys,
                                properties,
                                navigation,
                            },
                        );
                    }
                    "EntityContainer" => {
                        for set in node.children().filter(|n| n.has_tag_name("EntitySet")) {
                            let name = set.attribute("Name").ok_or("an EntitySet without a Name")?;
                            let qualified = set
                                .attribute("EntityType")
                                .ok_or_else(|| format!("entity set {name} has no EntityType"))?;
                            let entity_type = qualified.rsplit('.').next().unwrap_or(qualified).to_owned();
                            sets.insert(
                                name.to_owned(),
                                EntitySet {
                                    name: name.to_owned(),
                                    entity_type,
                                    creatable: flag(set, "creatable"),
                                    updatable: flag(set, "updatable"),
                                    deletable: flag(set, "deletable"),
                                },
                            );
                        }
                    }
                    _ => {}
                }
            }
        }
        if sets.is_empty() {
            return Err("no EntitySet in any EntityContainer".into());
        }
        for set in sets.values() {
            if !types.contains_key(&set.entity_type) {
                return Err(format!(
                    "entity set {} names entity type {}, which no schema declares",
                    set.name, set.entity_type
                ));
            }
        }
        Ok(Self {
            file: file.to_owned(),
            types,
            sets,
        })
    }

    pub fn set(&self, name: &str) -> Option<&EntitySet> {
        self.sets.get(name)
    }

    /// The entity type of a set.
    pub fn set_type(&self, set: &str) -> Option<&EntityType> {
        self.sets.get(set).and_then(|s| self.types.get(&s.entity_type))
    }

    /// The entity set names.
    pub fn set_names(&self) -> impl Iterator<Item = &str> {
        self.sets.keys().map(String::as_str)
    }

    /// What a path below the service root addresses (percent-decoded already).
    pub fn resolve(&self, path: &str) -> Result<Target, String> {
        let path = path.trim_start_matches('/');
        if path.is_empty() {
            return Ok(Target::ServiceDocument);
        }
        if path == "$metadata" {
            return Ok(Target::Metadata);
        }
        let (resource, rest) = match path.split_once('/') {
            Some((r, rest)) => (r, Some(rest)),
            None => (path, None),
        };
        let (name, key) = match resource.find('(') {
            Some(i) if resource.ends_with(')') => (&resource[..i], Some(&resource[i + 1..resource.len() - 1])),
            Some(_) => return Err(format!("`{resource}` is not an entity set or an entity key")),
            None => (resource, None),
        };
        let ty = self
            .set_type(name)
            .ok_or_else(|| format!("`{name}` is not an entity set of {}", self.file))?;
        match (key, rest) {
            (None, None) => Ok(Target::Collection { set: name.to_owned() }),
            (None, Some("$count")) => Ok(Target::Count { set: name.to_owned() }),
            (Some(key), None) => Ok(Target::Entity {
                set: name.to_owned(),
                key: parse_key(ty, key)?,
            }),
            (_, Some(rest)) => Err(format!(
                "`/{rest}` after `{resource}`: navigation and property paths are not checked by this fake"
            )),
        }
    }

    /// Checks a request's method, query options and JSON body against the metadata.
    pub fn check_request(
        &self,
        target: &Target,
        method: &str,
        query: &[(String, String)],
        body: &[u8],
    ) -> Vec<Problem> {
        let mut problems = Vec::new();
        let set = match target {
            Target::Collection { set } | Target::Entity { set, .. } | Target::Count { set } => self.sets.get(set),
            _ => None,
        };
        let allowed = match (target, method) {
            (_, "GET") => true,
            (Target::Collection { .. }, "POST") => set.is_some_and(|s| s.creatable),
            (Target::Entity { .. }, "PATCH" | "MERGE" | "PUT") => set.is_some_and(|s| s.updatable),
            (Target::Entity { .. }, "DELETE") => set.is_some_and(|s| s.deletable),
            _ => false,
        };
        if !allowed {
            problems.push((
                "/method".to_owned(),
                format!("{method} is not allowed on {target:?} by the service metadata"),
            ));
        }
        let ty = set.and_then(|s| self.types.get(&s.entity_type));
        problems.extend(check_query(ty, target, query));
        let purpose = match method {
            "POST" => Some(Purpose::Create),
            "PATCH" | "MERGE" | "PUT" => Some(Purpose::Update),
            _ => None,
        };
        match (purpose, ty) {
            (Some(purpose), Some(ty)) => match serde_json::from_slice::<Value>(body) {
                Ok(entity) => problems.extend(check_entity(ty, &entity, purpose, "/body")),
                Err(_) => problems.push(("/body".to_owned(), "the body is not JSON".to_owned())),
            },
            (None, _) if !body.is_empty() => {
                problems.push(("/body".to_owned(), format!("a {method} request carries a body")))
            }
            _ => {}
        }
        problems
    }

    /// Checks a response to a request for `target` with `method`.
    pub fn check_response(
        &self,
        target: &Target,
        method: &str,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Vec<Problem> {
        let json_type = content_type.is_some_and(|c| c.contains("json"));
        if status >= 400 {
            if !json_type {
                // SAP Gateway answers some refusals (the CSRF check) in plain text.
                return Vec::new();
            }
            return match serde_json::from_slice::<Value>(body) {
                Ok(v) => check_error(&v),
                Err(_) => vec![("/body".into(), "an error body labelled JSON is not JSON".into())],
            };
        }
        let expected = match (target, method) {
            (Target::Collection { .. }, "POST") => 201,
            (Target::Entity { .. }, "PATCH" | "MERGE" | "PUT" | "DELETE") => 204,
            _ => 200,
        };
        let mut problems = Vec::new();
        if status != expected {
            problems.push((
                "/status".into(),
                format!("HTTP {status}, but OData v2 answers {expected} here"),
            ));
        }
        if expected == 204 {
            if !body.is_empty() {
                problems.push(("/body".into(), "a 204 response carries a body".into()));
            }
            return problems;
        }
        if matches!(target, Target::Metadata) {
            return problems;
        }
        if let Target::Count { .. } = target {
            if !std::str::from_utf8(body).is_ok_and(|t| !t.is_empty() && t.trim().bytes().all(|b| b.is_ascii_digit())) {
                problems.push(("/body".into(), "$count answers a plain number".into()));
            }
            return problems;
        }
        let doc: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => {
                problems.push(("/body".into(), "the body is not JSON".into()));
                return problems;
            }
        };
        let Some(d) = doc.get("d") else {
            problems.push(("/body".into(), "verbose JSON wraps the payload in `d`".into()));
            return problems;
        };
        match target {
            Target::ServiceDocument => match d.get("EntitySets").and_then(Value::as_array) {
                Some(names) => {
                    for (i, n) in names.iter().enumerate() {
                        if !n.as_str().is_some_and(|n| self.sets.contains_key(n)) {
                            problems.push((format!("/body/d/EntitySets/{i}"), format!("{n} is not an entity set")));
                        }
                    }
                }
                None => problems.push((
                    "/body/d/EntitySets".into(),
                    "the service document lists EntitySets".into(),
                )),
            },
            Target::Collection { set } if method == "GET" => {
                let ty = self.set_type(set).expect("resolved sets exist");
                match d.get("results").and_then(Value::as_array) {
                    Some(results) => {
                        for (i, entity) in results.iter().enumerate() {
                            problems.extend(check_entity(ty, entity, Purpose::Read, &format!("/body/d/results/{i}")));
                        }
                    }
                    None => problems.push(("/body/d/results".into(), "a collection is `d.results`, an array".into())),
                }
                if let Some(count) = d.get("__count") {
                    if !count
                        .as_str()
                        .is_some_and(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()))
                    {
                        problems.push(("/body/d/__count".into(), "`__count` is a string of digits".into()));
                    }
                }
                if let Some(next) = d.get("__next") {
                    if !next.is_string() {
                        problems.push(("/body/d/__next".into(), "`__next` is a URL string".into()));
                    }
                }
                for key in d.as_object().into_iter().flat_map(|o| o.keys()) {
                    if !matches!(key.as_str(), "results" | "__count" | "__next") {
                        problems.push((
                            format!("/body/d/{key}"),
                            format!("`{key}` is not part of a v2 collection"),
                        ));
                    }
                }
            }
            Target::Collection { set } | Target::Entity { set, .. } => {
                let ty = self.set_type(set).expect("resolved sets exist");
                problems.extend(check_entity(ty, d, Purpose::Read, "/body/d"));
            }
            Target::Metadata | Target::Count { .. } => {}
        }
        problems
    }
}

/// Parses a key predicate: `'17'` for a single key, `Name='17',Other=2` for several.
fn parse_key(ty: &EntityType, text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let parts = split_top(text, ',');
    if parts.len() == 1 && !parts[0].contains('=') {
        if ty.keys.len() != 1 {
            return Err(format!("{} has a composite key: name each key property", ty.name));
        }
        let prop = ty.property(&ty.keys[0]).ok_or("the key property is not declared")?;
        out.insert(prop.name.clone(), key_literal(prop, parts[0])?);
        return Ok(out);
    }
    for part in parts {
        let (name, literal) = part
            .split_once('=')
            .ok_or_else(|| format!("`{part}` is not Name=value"))?;
        if !ty.keys.iter().any(|k| k == name) {
            return Err(format!("`{name}` is not a key property of {}", ty.name));
        }
        let prop = ty.property(name).ok_or("the key property is not declared")?;
        out.insert(name.to_owned(), key_literal(prop, literal)?);
    }
    if out.len() != ty.keys.len() {
        return Err(format!("the key of {} is {}", ty.name, ty.keys.join(", ")));
    }
    Ok(out)
}

fn key_literal(prop: &Property, literal: &str) -> Result<String, String> {
    match parse_literal(literal) {
        Ok(Literal::String(s)) if prop.edm == EdmType::String => {
            if prop.max_length.is_some_and(|m| s.chars().count() > m) {
                return Err(format!(
                    "key {} is longer than {} characters",
                    prop.name,
                    prop.max_length.unwrap_or(0)
                ));
            }
            Ok(s)
        }
        Ok(lit) if literal_fits(prop.edm, &lit) => Ok(literal.to_owned()),
        _ => Err(format!(
            "`{literal}` is not a {} literal for key {}",
            prop.type_name, prop.name
        )),
    }
}

/// Splits on `sep` outside quotes and parentheses.
fn split_top(text: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    for (i, c) in text.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            c if c == sep && !quoted && depth == 0 => {
                out.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

/// The system query options of a request.
#[derive(Debug, Clone, Default)]
pub struct QueryOptions {
    pub filter: Option<Filter>,
    pub top: Option<usize>,
    pub skip: Option<usize>,
    pub skiptoken: Option<String>,
    pub inlinecount: bool,
    pub select: Vec<String>,
    pub orderby: Vec<(String, bool)>,
}

/// Reads the system query options a fake acts on (after [`ODataV2::check_request`] has
/// judged them): an unreadable one is left out.
pub fn query_options(ty: Option<&EntityType>, query: &[(String, String)]) -> Result<QueryOptions, String> {
    let mut options = QueryOptions::default();
    for (name, value) in query {
        match name.as_str() {
            "$filter" => {
                let ty = ty.ok_or("$filter needs an entity set")?;
                options.filter = Some(Filter::parse(ty, value)?);
            }
            "$top" => options.top = value.parse().ok(),
            "$skip" => options.skip = value.parse().ok(),
            "$skiptoken" => options.skiptoken = Some(value.clone()),
            "$inlinecount" => options.inlinecount = value == "allpages",
            "$select" => options.select = value.split(',').map(|s| s.trim().to_owned()).collect(),
            "$orderby" => {
                options.orderby = value
                    .split(',')
                    .map(|item| {
                        let mut words = item.split_whitespace();
                        let name = words.next().unwrap_or_default().to_owned();
                        (name, words.next() == Some("desc"))
                    })
                    .collect()
            }
            _ => {}
        }
    }
    Ok(options)
}

fn check_query(ty: Option<&EntityType>, target: &Target, query: &[(String, String)]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let collection = matches!(target, Target::Collection { .. } | Target::Count { .. });
    for (name, value) in query {
        let at = format!("/query/{name}");
        let known_property =
            |p: &str| ty.is_some_and(|t| t.property(p).is_some() || t.navigation.iter().any(|n| n == p));
        match name.as_str() {
            "$filter" | "$top" | "$skip" | "$skiptoken" | "$inlinecount" | "$orderby" if !collection => {
                problems.push((at, format!("{name} applies to collections only")));
            }
            "$filter" => match ty.map(|t| Filter::parse(t, value)) {
                Some(Ok(_)) => {}
                Some(Err(e)) => problems.push((at, e)),
                None => problems.push((at, "$filter needs an entity set".into())),
            },
            "$top" | "$skip" => problems.extend(
                value
                    .parse::<u64>()
                    .is_err()
                    .then(|| (at, format!("{name} is a non-negative integer, not `{value}`"))),
            ),
            "$skiptoken" => {}
            "$inlinecount" => problems.extend(
                (!matches!(value.as_str(), "allpages" | "none"))
                    .then(|| (at, "$inlinecount is `allpages` or `none`".into())),
            ),
            "$format" => problems.extend(
                (!matches!(value.as_str(), "json" | "xml" | "atom"))
                    .then(|| (at, "$format is json, xml or atom".into())),
            ),
            "$select" => {
                for item in value.split(',').map(str::trim) {
                    if item != "*" && !known_property(item) {
                        problems.push((at.clone(), format!("$select names `{item}`, which is not a property")));
                    }
                }
            }
            "$orderby" => {
                for item in value.split(',') {
                    let mut words = item.split_whitespace();
                    let property = words.next().unwrap_or_default();
                    let direction = words.next();
                    if ty.is_none_or(|t| t.property(property).is_none()) {
                        problems.push((
                            at.clone(),
                            format!("$orderby names `{property}`, which is not a property"),
                        ));
                    }
                    if !matches!(direction, None | Some("asc") | Some("desc")) || words.next().is_some() {
                        problems.push((at.clone(), format!("`{item}` is not `Property [asc|desc]`")));
                    }
                }
            }
            "$expand" => {
                for item in value.split(',').map(str::trim) {
                    let first = item.split('/').next().unwrap_or_default();
                    if !ty.is_some_and(|t| t.navigation.iter().any(|n| n == first)) {
                        problems.push((
                            at.clone(),
                            format!("$expand names `{first}`, which is not a navigation property"),
                        ));
                    }
                }
            }
            other if other.starts_with('$') => {
                problems.push((at, format!("`{other}` is not an OData v2 system query option")));
            }
            _ => {} // custom query options (sap-client, sap-language) are the service's own
        }
    }
    problems
}

/// A literal in a URL (`$filter`, keys).
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    /// `datetime'...'` or `datetimeoffset'...'`: unix milliseconds.
    DateTime(i64),
    /// `time'PT..'`: seconds.
    Time(f64),
    Guid(String),
}

fn parse_literal(text: &str) -> Result<Literal, String> {
    let text = text.trim();
    let quoted = |prefix: &str| -> Option<String> {
        let rest = text.strip_prefix(prefix)?.strip_prefix('\'')?.strip_suffix('\'')?;
        Some(rest.replace("''", "'"))
    };
    if text == "null" {
        return Ok(Literal::Null);
    }
    if text == "true" || text == "false" {
        return Ok(Literal::Bool(text == "true"));
    }
    if let Some(s) = quoted("datetimeoffset") {
        return datetime_millis(&s, true).map(Literal::DateTime);
    }
    if let Some(s) = quoted("datetime") {
        return datetime_millis(&s, false).map(Literal::DateTime);
    }
    if let Some(s) = quoted("time") {
        return duration_secs(&s)
            .map(Literal::Time)
            .ok_or_else(|| format!("`{s}` is not an ISO 8601 duration"));
    }
    if let Some(s) = quoted("guid") {
        return if is_guid(&s) {
            Ok(Literal::Guid(s))
        } else {
            Err(format!("`{s}` is not a GUID"))
        };
    }
    if let Some(s) = quoted("") {
        return Ok(Literal::String(s));
    }
    let number = text.trim_end_matches(['L', 'M', 'm', 'd', 'D', 'f', 'F']);
    number
        .parse::<f64>()
        .map(Literal::Number)
        .map_err(|_| format!("`{text}` is not an OData literal"))
}

/// `yyyy-mm-ddThh:mm[:ss[.fffffff]]` (and, with an offset, `Z` or `+hh:mm`) as unix millis.
fn datetime_millis(text: &str, offset: bool) -> Result<i64, String> {
    use time::format_description::well_known::Rfc3339;
    let bad = || {
        format!(
            "`{text}` is not an OData {} literal",
            if offset { "datetimeoffset" } else { "datetime" }
        )
    };
    if offset {
        return time::OffsetDateTime::parse(text, &Rfc3339)
            .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
            .map_err(|_| bad());
    }
    if text.ends_with('Z') || text.len() < 16 {
        return Err(bad());
    }
    let full = if text.len() == 16 {
        format!("{text}:00Z")
    } else {
        format!("{text}Z")
    };
    time::OffsetDateTime::parse(&full, &Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| bad())
}

/// `PT12H30M05S` (and `P1DT2H`) as seconds.
pub fn duration_secs(text: &str) -> Option<f64> {
    let rest = text.strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) => (d, t),
        None => (rest, ""),
    };
    let mut secs = 0.0;
    let mut any = false;
    let mut read = |part: &str, units: &[(char, f64)]| -> Option<()> {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                number.push(c);
            } else {
                let scale = units.iter().find(|(u, _)| *u == c)?.1;
                secs += number.parse::<f64>().ok()? * scale;
                number.clear();
                any = true;
            }
        }
        number.is_empty().then_some(())
    };
    read(days, &[('D', 86_400.0)])?;
    read(time, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)])?;
    any.then_some(secs)
}

fn is_guid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Unix millis of a `/Date(<ms>[+-hhmm])/` value.
pub fn json_date_millis(text: &str) -> Option<(i64, bool)> {
    let inner = text.strip_prefix("/Date(")?.strip_suffix(")/")?;
    let end = inner
        .char_indices()
        .skip(1)
        .find(|(_, c)| *c == '+' || *c == '-')
        .map_or(inner.len(), |(i, _)| i);
    let (millis, offset) = inner.split_at(end);
    let offset_ok = offset.is_empty() || (offset.len() == 5 && offset[1..].bytes().all(|b| b.is_ascii_digit()));
    if !offset_ok {
        return None;
    }
    Some((millis.parse().ok()?, !offset.is_empty()))
}

fn literal_fits(edm: EdmType, literal: &Literal) -> bool {
    use EdmType as E;
    match literal {
        Literal::Null => true,
        Literal::Bool(_) => edm == E::Boolean,
        Literal::Number(_) => matches!(
            edm,
            E::Byte | E::SByte | E::Int16 | E::Int32 | E::Int64 | E::Decimal | E::Double | E::Single
        ),
        Literal::String(_) => edm == E::String,
        Literal::DateTime(_) => matches!(edm, E::DateTime | E::DateTimeOffset),
        Literal::Time(_) => edm == E::Time,
        Literal::Guid(_) => edm == E::Guid,
    }
}

/// A `$filter` expression: comparisons joined with `and`, `or`, `not` and parentheses.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Compare {
        property: String,
        op: CmpOp,
        literal: Literal,
    },
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

struct FilterParser<'a> {
    ty: &'a EntityType,
    tokens: Vec<String>,
    at: usize,
}

fn tokenize(text: &str) -> Result<Vec<String>, String> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' || c == ')' {
            tokens.push(c.to_string());
            i += 1;
        } else {
            let start = i;
            let mut quoted = false;
            while i < chars.len() {
                let c = chars[i];
                if c == '\'' {
                    quoted = !quoted;
                } else if !quoted && (c.is_whitespace() || c == '(' || c == ')') {
                    break;
                }
                i += 1;
            }
            if quoted {
                return Err("an unclosed quote in $filter".into());
            }
            tokens.push(chars[start..i].iter().collect());
        }
    }
    Ok(tokens)
}

impl Filter {
    /// Parses a `$filter` and checks each comparison's property and literal type.
    pub fn parse(ty: &EntityType, text: &str) -> Result<Filter, String> {
        let mut p = FilterParser {
            ty,
            tokens: tokenize(text)?,
            at: 0,
        };
        let f = p.or()?;
        if p.at != p.tokens.len() {
            return Err(format!("$filter: unexpected `{}`", p.tokens[p.at]));
        }
        Ok(f)
    }

    /// Whether an entity (verbose JSON) matches.
    pub fn matches(&self, entity: &Value) -> bool {
        match self {
            Filter::And(a, b) => a.matches(entity) && b.matches(entity),
            Filter::Or(a, b) => a.matches(entity) || b.matches(entity),
            Filter::Not(f) => !f.matches(entity),
            Filter::Compare { property, op, literal } => {
                let value = entity.get(property).unwrap_or(&Value::Null);
                let ordering = match (value, literal) {
                    (Value::Null, Literal::Null) => Some(std::cmp::Ordering::Equal),
                    (Value::Null, _) | (_, Literal::Null) => None,
                    (Value::String(s), Literal::String(l)) => Some(s.as_str().cmp(l.as_str())),
                    (Value::String(s), Literal::DateTime(l)) => json_date_millis(s).map(|(ms, _)| ms.cmp(l)),
                    (Value::String(s), Literal::Time(l)) => duration_secs(s).and_then(|v| v.partial_cmp(l)),
                    (Value::String(s), Literal::Guid(l)) => Some(s.to_ascii_lowercase().cmp(&l.to_ascii_lowercase())),
                    (Value::String(s), Literal::Number(l)) => s.parse::<f64>().ok().and_then(|v| v.partial_cmp(l)),
                    (Value::Number(n), Literal::Number(l)) => n.as_f64().and_then(|v| v.partial_cmp(l)),
                    (Value::Bool(b), Literal::Bool(l)) => Some(b.cmp(l)),
                    _ => None,
                };
                match (ordering, op) {
                    (Some(o), CmpOp::Eq) => o.is_eq(),
                    (Some(o), CmpOp::Ne) => o.is_ne(),
                    (None, CmpOp::Ne) => true,
                    (Some(o), CmpOp::Gt) => o.is_gt(),
                    (Some(o), CmpOp::Ge) => o.is_ge(),
                    (Some(o), CmpOp::Lt) => o.is_lt(),
                    (Some(o), CmpOp::Le) => o.is_le(),
                    (None, _) => false,
                }
            }
        }
    }
}

impl FilterParser<'_> {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn next(&mut self) -> Result<String, String> {
        let t = self.tokens.get(self.at).cloned().ok_or("$filter ends too early")?;
        self.at += 1;
        Ok(t)
    }

    fn or(&mut self) -> Result<Filter, String> {
        let mut left = self.and()?;
        while self.peek() == Some("or") {
            self.at += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut left = self.unary()?;
        while self.peek() == Some("and") {
            self.at += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, String> {
        match self.peek() {
            Some("not") => {
                self.at += 1;
                Ok(Filter::Not(Box::new(self.unary()?)))
            }
            Some("(") => {
                self.at += 1;
                let inner = self.or()?;
                if self.next()? != ")" {
                    return Err("$filter: a `(` is not closed".into());
                }
                Ok(inner)
            }
            _ => self.comparison(),
        }
    }

    fn comparison(&mut self) -> Result<Filter, String> {
        let property = self.next()?;
        if self.peek() == Some("(") {
            return Err(format!("$filter: function `{property}` is not supported by this fake"));
        }
        let prop = self
            .ty
            .property(&property)
            .ok_or_else(|| format!("$filter: `{property}` is not a property of {}", self.ty.name))?;
        let op = match self.next()?.as_str() {
            "eq" => CmpOp::Eq,
            "ne" => CmpOp::Ne,
            "gt" => CmpOp::Gt,
            "ge" => CmpOp::Ge,
            "lt" => CmpOp::Lt,
            "le" => CmpOp::Le,
            other => return Err(format!("$filter: `{other}` is not a comparison operator")),
        };
        let text = self.next()?;
        let literal = parse_literal(&text).map_err(|e| format!("$filter: {e}"))?;
        if !literal_fits(prop.edm, &literal) {
            return Err(format!(
                "$filter: `{text}` is not a literal of {}'s type {}",
                prop.name, prop.type_name
            ));
        }
        if prop.edm == EdmType::DateTime && text.starts_with("datetimeoffset") {
            return Err(format!(
                "$filter: {} is Edm.DateTime: compare it with datetime'...'",
                prop.name
            ));
        }
        if literal == Literal::Null && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
            return Err("$filter: null is compared with eq or ne only".into());
        }
        Ok(Filter::Compare { property, op, literal })
    }
}

/// Checks one entity in verbose JSON.
pub fn check_entity(ty: &EntityType, entity: &Value, purpose: Purpose, at: &str) -> Vec<Problem> {
    let Some(object) = entity.as_object() else {
        return vec![(at.to_owned(), format!("an entity of {} is a JSON object", ty.name))];
    };
    let mut problems = Vec::new();
    for (name, value) in object {
        let here = format!("{at}/{name}");
        if name == "__metadata" {
            if !value.is_object() {
                problems.push((here, "`__metadata` is an object".into()));
            }
            continue;
        }
        if ty.navigation.iter().any(|n| n == name) {
            if !(value.is_object() || value.is_array()) {
                problems.push((
                    here,
                    "a navigation property is deferred (an object) or inline entities".into(),
                ));
            }
            continue;
        }
        let Some(prop) = ty.property(name) else {
            problems.push((here, format!("`{name}` is not a property of {}", ty.name)));
            continue;
        };
        if purpose == Purpose::Create && !prop.creatable {
            problems.push((
                here.clone(),
                format!("{name} is not creatable (sap:creatable=\"false\")"),
            ));
        }
        if purpose == Purpose::Update && !prop.updatable {
            problems.push((
                here.clone(),
                format!("{name} is not updatable (sap:updatable=\"false\")"),
            ));
        }
        if let Some(message) = check_value(prop, value) {
            problems.push((here, message));
        }
    }
    if purpose == Purpose::Read {
        for key in &ty.keys {
            if !object.contains_key(key) {
                problems.push((format!("{at}/{key}"), format!("the key property {key} is missing")));
            }
        }
    }
    problems
}

/// Why a JSON value is not a value of the property, if it is not.
pub fn check_value(prop: &Property, value: &Value) -> Option<String> {
    use EdmType as E;
    let ty = &prop.type_name;
    if value.is_null() {
        return (!prop.nullable).then(|| format!("null, but {} is not nullable", prop.name));
    }
    let int_range = |lo: i64, hi: i64| -> Option<String> {
        match value.as_i64() {
            Some(n) if (lo..=hi).contains(&n) => None,
            _ => Some(format!("{value} is not an {ty} (a JSON integer from {lo} to {hi})")),
        }
    };
    match prop.edm {
        E::String => match value.as_str() {
            Some(s) if prop.max_length.is_some_and(|m| s.chars().count() > m) => Some(format!(
                "{} characters, more than MaxLength {}",
                s.chars().count(),
                prop.max_length.unwrap_or(0)
            )),
            Some(_) => None,
            None => Some(format!("{value} is not a string ({ty})")),
        },
        E::Boolean => (!value.is_boolean()).then(|| format!("{value} is not a boolean ({ty})")),
        E::Byte => int_range(0, 255),
        E::SByte => int_range(-128, 127),
        E::Int16 => int_range(i64::from(i16::MIN), i64::from(i16::MAX)),
        E::Int32 => int_range(i64::from(i32::MIN), i64::from(i32::MAX)),
        E::Int64 => match value.as_str() {
            Some(s) if s.parse::<i64>().is_ok() => None,
            _ => Some(format!("{value} is not an Edm.Int64 (a string of digits in v2 JSON)")),
        },
        E::Decimal => match value.as_str() {
            Some(s) if s.parse::<f64>().is_ok_and(f64::is_finite) => {
                let (int, frac) = s
                    .trim_start_matches('-')
                    .split_once('.')
                    .unwrap_or((s.trim_start_matches('-'), ""));
                let scale = prop.scale.unwrap_or(0) as usize;
                let precision = prop.precision.unwrap_or(29) as usize;
                if frac.len() > scale || int.trim_start_matches('0').len() + scale > precision.max(scale) {
                    Some(format!("`{s}` does not fit Edm.Decimal({precision},{scale})"))
                } else {
                    None
                }
            }
            _ => Some(format!("{value} is not an Edm.Decimal (a numeric string in v2 JSON)")),
        },
        E::Double | E::Single => match value {
            Value::Number(_) => None,
            Value::String(s) if s.parse::<f64>().is_ok() || matches!(s.as_str(), "INF" | "-INF" | "NaN") => None,
            _ => Some(format!("{value} is not an {ty}")),
        },
        E::DateTime => match value.as_str().and_then(json_date_millis) {
            Some((_, false)) => None,
            _ => Some(format!("{value} is not an Edm.DateTime (\"/Date(<ms>)/\" in v2 JSON)")),
        },
        E::DateTimeOffset => match value.as_str().and_then(json_date_millis) {
            Some(_) => None,
            None => Some(format!(
                "{value} is not an Edm.DateTimeOffset (\"/Date(<ms>+0000)/\" in v2 JSON)"
            )),
        },
        E::Time => match value.as_str().and_then(duration_secs) {
            Some(s) if (0.0..86_400.0).contains(&s) => None,
            _ => Some(format!(
                "{value} is not an Edm.Time (an ISO 8601 duration like \"PT12H30M00S\")"
            )),
        },
        E::Guid => match value.as_str() {
            Some(s) if is_guid(s) => None,
            _ => Some(format!("{value} is not an Edm.Guid")),
        },
        E::Binary => (!value.is_string()).then(|| format!("{value} is not an Edm.Binary (base64 text)")),
        E::Other => None,
    }
}

fn check_error(body: &Value) -> Vec<Problem> {
    let error = body.get("error");
    let ok = error.and_then(|e| e.get("code")).is_some_and(Value::is_string)
        && error.and_then(|e| e.get("message")).is_some_and(|m| {
            m.get("lang").is_some_and(Value::is_string) && m.get("value").is_some_and(Value::is_string)
        });
    if ok {
        Vec::new()
    } else {
        vec![(
            "/body/error".into(),
            "an OData v2 error is {\"error\": {\"code\": ..., \"message\": {\"lang\": ..., \"value\": ...}}}".into(),
        )]
    }
}

/// A value of the property's type for generated entities: `null` where nullable, else an
/// empty or zero value of the right JSON form.
pub fn default_value(prop: &Property) -> Value {
    use EdmType as E;
    if prop.nullable && !matches!(prop.edm, E::String | E::Boolean) {
        return Value::Null;
    }
    match prop.edm {
        E::String => Value::String(String::new()),
        E::Boolean => Value::Bool(false),
        E::Byte | E::SByte | E::Int16 | E::Int32 | E::Double | E::Single => Value::from(0),
        E::Int64 | E::Decimal => Value::String("0".into()),
        E::DateTime => Value::String("/Date(0)/".into()),
        E::DateTimeOffset => Value::String("/Date(0+0000)/".into()),
        E::Time => Value::String("PT00H00M00S".into()),
        E::Guid => Value::String("00000000-0000-0000-0000-000000000000".into()),
        E::Binary => Value::String(String::new()),
        E::Other => Value::Null,
    }
}

/// Every property of a type at its default ([`default_value`]), as a JSON object.
pub fn default_entity(ty: &EntityType) -> Map<String, Value> {
    ty.properties
        .iter()
        .map(|p| (p.name.clone(), default_value(p)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EDMX: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx" xmlns:sap="http://www.sap.com/Protocols/SAPData">
 <edmx:DataServices>
  <Schema Namespace="S" xmlns="http://schemas.microsoft.com/ado/2008/09/edm">
   <EntityType Name="PartnerType">
    <Key><PropertyRef Name="Id"/></Key>
    <Property Name="Id" Type="Edm.String" Nullable="false" MaxLength="10"/>
    <Property Name="Name" Type="Edm.String" MaxLength="5"/>
    <Property Name="Changed" Type="Edm.DateTime" sap:creatable="false" sap:updatable="false"/>
    <Property Name="At" Type="Edm.Time"/>
    <Property Name="Amount" Type="Edm.Decimal" Precision="5" Scale="2"/>
    <Property Name="Count" Type="Edm.Int16"/>
    <Property Name="Blocked" Type="Edm.Boolean"/>
    <NavigationProperty Name="to_Address" Relationship="S.a" FromRole="f" ToRole="t"/>
   </EntityType>
   <EntityContainer Name="C" m:IsDefaultEntityContainer="true" xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata">
    <EntitySet Name="Partner" EntityType="S.PartnerType" sap:deletable="false"/>
   </EntityContainer>
  </Schema>
 </edmx:DataServices>
</edmx:Edmx>"#;

    fn doc() -> ODataV2 {
        ODataV2::parse("test.edmx", EDMX).unwrap()
    }

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn reads_types_keys_facets_and_sap_flags() {
        let d = doc();
        let ty = d.set_type("Partner").unwrap();
        assert_eq!(ty.keys, ["Id"]);
        let changed = ty.property("Changed").unwrap();
        assert_eq!(changed.edm, EdmType::DateTime);
        assert!(!changed.creatable && !changed.updatable);
        assert_eq!(ty.property("Name").unwrap().max_length, Some(5));
        assert!(!d.set("Partner").unwrap().deletable);
        assert_eq!(ty.navigation, ["to_Address"]);
        assert!(ODataV2::parse("x", "<a/>").unwrap_err().contains("Edmx"));
    }

    #[test]
    fn resolves_sets_keys_and_counts() {
        let d = doc();
        assert_eq!(d.resolve("/").unwrap(), Target::ServiceDocument);
        assert_eq!(
            d.resolve("/Partner").unwrap(),
            Target::Collection { set: "Partner".into() }
        );
        let key = |id: &str| BTreeMap::from([("Id".to_owned(), id.to_owned())]);
        assert_eq!(
            d.resolve("/Partner('O''Neil')").unwrap(),
            Target::Entity {
                set: "Partner".into(),
                key: key("O'Neil")
            }
        );
        assert_eq!(
            d.resolve("/Partner(Id='7')").unwrap(),
            Target::Entity {
                set: "Partner".into(),
                key: key("7")
            }
        );
        assert!(d.resolve("/Partner(7)").unwrap_err().contains("Edm.String"));
        assert!(d.resolve("/Partner('12345678901')").unwrap_err().contains("longer"));
        assert!(d.resolve("/Nope").unwrap_err().contains("not an entity set"));
        assert_eq!(
            d.resolve("/Partner/$count").unwrap(),
            Target::Count { set: "Partner".into() }
        );
    }

    #[test]
    fn checks_methods_query_options_and_bodies() {
        let d = doc();
        let set = d.resolve("/Partner").unwrap();
        let one = d.resolve("/Partner('1')").unwrap();
        let ok = q(&[
            ("$filter", "Changed ge datetime'2024-06-01T00:00:00' and Name eq 'x'"),
            ("$inlinecount", "allpages"),
            ("sap-client", "100"),
        ]);
        assert_eq!(d.check_request(&set, "GET", &ok, b""), Vec::<Problem>::new());
        let problems = d.check_request(
            &set,
            "GET",
            &q(&[("$filter", "Changed ge '2024'"), ("$top", "-1"), ("$bogus", "1")]),
            b"",
        );
        let pointers: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            pointers,
            ["/query/$filter", "/query/$top", "/query/$bogus"],
            "{problems:?}"
        );
        assert!(d
            .check_request(&one, "DELETE", &[], b"")
            .iter()
            .any(|(p, _)| p == "/method"));
        let problems = d.check_request(
            &set,
            "POST",
            &[],
            br#"{"Id": "1", "Name": "toolong", "Changed": "/Date(0)/", "Extra": 1}"#,
        );
        let pointers: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(pointers, ["/body/Changed", "/body/Extra", "/body/Name"], "{problems:?}");
        assert!(d.check_request(&one, "PATCH", &[], br#"{"Name": "ok"}"#).is_empty());
    }

    #[test]
    fn values_take_the_v2_json_form_of_their_type() {
        let d = doc();
        let ty = d.set_type("Partner").unwrap();
        let good = serde_json::json!({"Id": "1", "Name": null, "Changed": "/Date(1700000000000)/", "At": "PT12H30M00S",
            "Amount": "123.45", "Count": 3, "Blocked": true, "to_Address": {"__deferred": {"uri": "x"}}, "__metadata": {}});
        assert_eq!(check_entity(ty, &good, Purpose::Read, ""), Vec::<Problem>::new());
        let bad =
            serde_json::json!({"Changed": "2024-01-01", "At": "12:30", "Amount": 1.5, "Count": 70000, "Blocked": "X"});
        let problems = check_entity(ty, &bad, Purpose::Read, "");
        let pointers: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            pointers,
            ["/Amount", "/At", "/Blocked", "/Changed", "/Count", "/Id"],
            "{problems:?}"
        );
        assert!(
            check_value(ty.property("Amount").unwrap(), &serde_json::json!("1234.5")).is_some(),
            "precision 5, scale 2"
        );
    }

    #[test]
    fn filters_evaluate_comparisons_on_v2_values() {
        let d = doc();
        let ty = d.set_type("Partner").unwrap();
        let f = Filter::parse(
            ty,
            "Changed ge datetime'2023-11-14T00:00:00' and (Name eq 'a' or not Blocked eq true)",
        )
        .unwrap();
        let entity = |changed: i64, name: &str, blocked: bool| serde_json::json!({"Changed": format!("/Date({changed})/"), "Name": name, "Blocked": blocked});
        assert!(f.matches(&entity(1_700_000_000_000, "a", true)));
        assert!(f.matches(&entity(1_700_000_000_000, "b", false)));
        assert!(!f.matches(&entity(1_700_000_000_000, "b", true)));
        assert!(!f.matches(&entity(1_600_000_000_000, "a", false)));
        assert!(Filter::parse(ty, "substringof('a', Name)")
            .unwrap_err()
            .contains("not supported"));
        assert!(Filter::parse(ty, "Nope eq 1").unwrap_err().contains("not a property"));
    }

    #[test]
    fn responses_are_checked_for_status_wrapper_and_entities() {
        let d = doc();
        let set = d.resolve("/Partner").unwrap();
        let body = br#"{"d": {"results": [{"Id": "1"}], "__count": "1", "__next": "http://x/Partner?$skiptoken=1"}}"#;
        assert!(d
            .check_response(&set, "GET", 200, Some("application/json"), body)
            .is_empty());
        let problems = d.check_response(&set, "GET", 200, Some("application/json"), br#"{"d": [{"Name": 1}]}"#);
        assert_eq!(problems[0].0, "/body/d/results");
        assert!(
            d.check_response(&set, "POST", 200, Some("application/json"), br#"{"d": {"Id": "1"}}"#)[0].0 == "/status"
        );
        let one = d.resolve("/Partner('1')").unwrap();
        assert!(d.check_response(&one, "PATCH", 204, None, b"").is_empty());
        let error = br#"{"error": {"code": "X/1", "message": {"lang": "en", "value": "no"}}}"#;
        assert!(d
            .check_response(&one, "GET", 404, Some("application/json"), error)
            .is_empty());
        assert!(!d
            .check_response(&one, "GET", 404, Some("application/json"), br#"{"message": "no"}"#)
            .is_empty());
    }
}
