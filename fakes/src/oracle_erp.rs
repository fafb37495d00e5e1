//! Fake Oracle ERP Cloud (Oracle Fusion Cloud Financials) REST resources under
//! `/fscmRestApi/resources/11.13.18.05`: Payables invoices, suppliers and receivables customer
//! account activities.
//!
//! Oracle publishes no machine-readable description in the specs folder, so this fake follows
//! "REST API for Oracle Fusion Cloud Financials" on docs.oracle.com (the resource pages
//! "Invoices", "Suppliers", "Receivables Customer Account Activities", and the REST framework's
//! "Manage Collections" and "Status Codes"), and records every departure from it as a
//! [`Violation`]. It assumes:
//!
//! * HTTP basic auth of one integration user; anything else is 401;
//! * collections take `limit` (1-500, default 25), `offset`, `onlyData`, `fields`, `orderBy`
//!   (`Attr:asc|desc`, comma separated) and `q`; with `REST-Framework-Version` 2 or later `q`
//!   takes comparison expressions, here `LastUpdateDate >= '<RFC 3339>'` (or `>`), joined with
//!   `and`; an unknown attribute in `fields`, `orderBy` or `q` is 400;
//! * a collection answers `{"items", "count", "hasMore", "limit", "offset", "links"}`;
//!   an item `GET /<resource>/{id}` answers the item, 404 when missing;
//! * `POST /suppliers` needs `Supplier`, `TaxOrganizationType` and `BusinessRelationship`, and a
//!   supplier name is unique (400 "The supplier name already exists"); `PATCH
//!   /suppliers/{SupplierId}` changes the fields sent; `POST /invoices` needs `InvoiceNumber`,
//!   `InvoiceCurrency`, `InvoiceAmount`, `InvoiceDate`, `BusinessUnit`, `Supplier` and
//!   `SupplierSite`, and the supplier must exist; creates answer 201 with the item;
//! * errors (framework version 4) are `{"type", "title", "status", "o:errorDetails": [{"detail",
//!   "o:errorCode"}]}` with `Content-Type: application/vnd.oracle.adf.error+json`;
//! * `LastUpdateDate` and `CreationDate` are written `2024-05-02T11:17:33.123+00:00`; ids are
//!   large integers (`300100181234567`).

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::spec::{Direction, Violation, ViolationLog};
use crate::timestamp::now_ms;

/// The resource root under the pod's host.
pub const ROOT: &str = "/fscmRestApi/resources/11.13.18.05";
/// The integration user the default configuration accepts.
pub const USERNAME: &str = "fin.integration";
pub const PASSWORD: &str = "fake-oracle-password";

const MAX_LIMIT: usize = 500;

/// One REST resource the fake serves.
struct Resource {
    name: &'static str,
    id: &'static str,
    attributes: &'static [&'static str],
    /// Attributes a create must have (empty: the resource is read only).
    required: &'static [&'static str],
}

const RESOURCES: &[Resource] = &[
    Resource {
        name: "invoices",
        id: "InvoiceId",
        attributes: &[
            "InvoiceId",
            "InvoiceNumber",
            "InvoiceCurrency",
            "InvoiceAmount",
            "InvoiceDate",
            "BusinessUnit",
            "Supplier",
            "SupplierSite",
            "Description",
            "CreationDate",
            "LastUpdateDate",
        ],
        required: &[
            "InvoiceNumber",
            "InvoiceCurrency",
            "InvoiceAmount",
            "InvoiceDate",
            "BusinessUnit",
            "Supplier",
            "SupplierSite",
        ],
    },
    Resource {
        name: "suppliers",
        id: "SupplierId",
        attributes: &[
            "SupplierId",
            "Supplier",
            "SupplierNumber",
            "TaxOrganizationType",
            "BusinessRelationship",
            "Status",
            "CreationDate",
            "LastUpdateDate",
        ],
        required: &["Supplier", "TaxOrganizationType", "BusinessRelationship"],
    },
    Resource {
        name: "receivablesCustomerAccountActivities",
        id: "CustomerAccountId",
        attributes: &[
            "CustomerAccountId",
            "AccountNumber",
            "CustomerName",
            "CustomerId",
            "TaxpayerIdentificationNumber",
            "TotalOpenReceivablesForAccount",
            "CreationDate",
            "LastUpdateDate",
        ],
        required: &[],
    },
];

/// Read-only attributes set by the server.
const SYSTEM: &[&str] = &["CreationDate", "LastUpdateDate", "SupplierNumber", "Status"];

fn resource(name: &str) -> Option<&'static Resource> {
    RESOURCES.iter().find(|r| r.name == name)
}

/// How the fake pod behaves.
#[derive(Debug, Clone)]
pub struct OracleConfig {
    pub port: u16,
    /// Items seeded per resource.
    pub records: usize,
    pub faults: FaultConfig,
}

impl Default for OracleConfig {
    fn default() -> Self {
        Self {
            port: 0,
            records: 250,
            faults: FaultConfig::default(),
        }
    }
}

/// The fake pod.
pub struct OracleErp {
    items: Mutex<HashMap<&'static str, Vec<Map<String, Value>>>>,
    next_id: AtomicU64,
    violations: Arc<ViolationLog>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `ms` as Oracle writes a timestamp: `2024-05-02T11:17:33.123+00:00`.
fn stamp(ms: i64) -> String {
    crate::timestamp::iso_ms(ms).replace('Z', "+00:00")
}

/// Starts a fake Oracle ERP Cloud pod on a loopback port.
///
/// # Panics
/// When the port cannot be bound.
pub fn start(config: OracleConfig) -> FakeHandle<OracleErp> {
    server::expect_started("oracle-erp", try_start(config))
}

/// Starts a fake pod, reporting a bind failure.
pub fn try_start(config: OracleConfig) -> io::Result<FakeHandle<OracleErp>> {
    let violations = Arc::new(ViolationLog::default());
    let state = Arc::new(OracleErp {
        items: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(300_100_181_000_001),
        violations: violations.clone(),
    });
    let start = now_ms() - 86_400_000 * 30;
    for n in 1..=config.records {
        let at = start + n as i64 * 1000;
        state.create(
            "suppliers",
            json!({"Supplier": format!("Supplier {n}"), "TaxOrganizationType": "CORPORATION", "BusinessRelationship": "SPEND_AUTHORIZED"}),
            at,
        );
        state.create(
            "invoices",
            json!({
                "InvoiceNumber": format!("INV-{n:05}"), "InvoiceCurrency": "USD",
                "InvoiceAmount": 100.0 + n as f64, "InvoiceDate": "2026-10-01",
                "BusinessUnit": "US1 Business Unit", "Supplier": format!("Supplier {}", 1 + n % 10),
                "SupplierSite": "HQ", "Description": format!("Invoice {n}"),
            }),
            at,
        );
        state.create(
            "receivablesCustomerAccountActivities",
            json!({
                "AccountNumber": format!("ACCT-{n:05}"), "CustomerName": format!("Customer {n}"),
                "CustomerId": 100_100_148_000_000u64 + n as u64, "TaxpayerIdentificationNumber": null,
                "TotalOpenReceivablesForAccount": (n * 10) as f64,
            }),
            at,
        );
    }
    let spec = Spec {
        name: "oracle-erp",
        port: config.port,
        state: state.clone(),
        faults: config.faults,
        check: None,
        violations,
        respond: fault,
    };
    server::spawn(spec, move |_| Router::new().fallback(handle).with_state(state))
}

fn fault(status: StatusCode) -> Response {
    error(status, "", "The server is unable to process the request at this time.")
}

fn error(status: StatusCode, code: &str, detail: &str) -> Response {
    let mut item = json!({"detail": detail, "o:errorPath": null});
    if !code.is_empty() {
        item["o:errorCode"] = json!(code);
    }
    let body = json!({
        "type": "http://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16().to_string(),
        "o:errorDetails": [item],
    });
    (
        status,
        [("content-type", "application/vnd.oracle.adf.error+json")],
        body.to_string(),
    )
        .into_response()
}

impl OracleErp {
    fn create(&self, resource_name: &str, fields: Value, at: i64) -> Map<String, Value> {
        let r = resource(resource_name).expect("a known resource");
        let Value::Object(mut item) = fields else {
            return Map::new();
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        item.insert(r.id.into(), json!(id));
        item.insert("CreationDate".into(), json!(stamp(at)));
        item.insert("LastUpdateDate".into(), json!(stamp(at)));
        if r.name == "suppliers" {
            item.insert("SupplierNumber".into(), json!((id % 1_000_000).to_string()));
            item.insert("Status".into(), json!("ACTIVE"));
        }
        lock(&self.items).entry(r.name).or_default().push(item.clone());
        item
    }

    /// How many items a resource has.
    pub fn count(&self, resource_name: &str) -> usize {
        lock(&self.items).get(resource_name).map_or(0, Vec::len)
    }

    /// An item by its id (as text or number).
    pub fn item(&self, resource_name: &str, id: &str) -> Option<Value> {
        let r = resource(resource_name)?;
        lock(&self.items)
            .get(r.name)?
            .iter()
            .find(|i| same_id(&i[r.id], id))
            .map(|i| Value::Object(i.clone()))
    }

    /// An item whose attribute has `value`.
    pub fn find(&self, resource_name: &str, attribute: &str, value: &Value) -> Option<Value> {
        lock(&self.items)
            .get(resource_name)?
            .iter()
            .find(|i| i.get(attribute) == Some(value))
            .map(|i| Value::Object(i.clone()))
    }

    /// Changes an item as a user in the application would: `LastUpdateDate` becomes now.
    pub fn touch(&self, resource_name: &str, id: &str, changes: Value) -> Option<Value> {
        let r = resource(resource_name)?;
        let mut items = lock(&self.items);
        let item = items.get_mut(r.name)?.iter_mut().find(|i| same_id(&i[r.id], id))?;
        if let Value::Object(changes) = changes {
            item.extend(changes);
        }
        item.insert("LastUpdateDate".into(), json!(stamp(now_ms())));
        Some(Value::Object(item.clone()))
    }

    /// Adds an item as a user in the application would.
    pub fn insert(&self, resource_name: &str, fields: Value) -> Value {
        Value::Object(self.create(resource_name, fields, now_ms()))
    }

    /// Requests that broke the documented contract.
    pub fn violations(&self) -> Vec<Violation> {
        self.violations.all()
    }

    fn violation(&self, method: &str, path: &str, pointer: &str, message: String) {
        self.violations.record(
            "oracle-erp",
            vec![Violation::new("-", Direction::Request, method, path, pointer, message)],
        );
    }
}

/// Whether an item's id (a number) is the id a path or a caller names (text).
fn same_id(value: &Value, id: &str) -> bool {
    value.as_u64().is_some_and(|n| id.parse::<u64>() == Ok(n)) || value.as_str() == Some(id)
}

fn authorized(headers: &HeaderMap) -> bool {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USERNAME}:{PASSWORD}"))
    );
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str())
}

async fn handle(
    State(erp): State<Arc<OracleErp>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let m = method.as_str().to_owned();
    if !authorized(&headers) {
        return (
            StatusCode::UNAUTHORIZED,
            [("www-authenticate", "Basic realm=\"fusion\"")],
        )
            .into_response();
    }
    let version = headers
        .get("rest-framework-version")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u32>().ok());
    if !version.is_some_and(|v| (2..=9).contains(&v)) {
        erp.violation(
            &m,
            &path,
            "/headers/rest-framework-version",
            "q expressions and JSON errors need REST-Framework-Version 2 or later".into(),
        );
    }
    let Some(rest) = path.strip_prefix(ROOT).and_then(|r| r.strip_prefix('/')) else {
        erp.violation(&m, &path, "/path", format!("not under {ROOT}"));
        return error(StatusCode::NOT_FOUND, "", "Not Found");
    };
    let (name, id) = match rest.split_once('/') {
        Some((name, id)) => (name, Some(id.to_owned())),
        None => (rest, None),
    };
    let Some(r) = resource(name) else {
        erp.violation(&m, &path, "/path", format!("no resource {name}"));
        return error(StatusCode::NOT_FOUND, "", "Not Found");
    };
    let query: Vec<(String, String)> = form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    match (method, id) {
        (Method::GET, None) => list(&erp, r, &path, &query),
        (Method::GET, Some(id)) => match fields_param(&erp, r, &path, &query) {
            Err(e) => *e,
            Ok(fields) => match erp.item(r.name, &id) {
                Some(item) => Json(project(&item, fields.as_deref())).into_response(),
                None => error(
                    StatusCode::NOT_FOUND,
                    "",
                    &format!("The requested resource {id} wasn't found."),
                ),
            },
        },
        (Method::POST, None) if !r.required.is_empty() => create(&erp, r, &path, &body),
        (Method::PATCH, Some(id)) if r.name == "suppliers" => update(&erp, r, &path, &id, &body),
        (method, _) => {
            erp.violation(
                method.as_str(),
                &path,
                "/method",
                "the resource has no such operation".into(),
            );
            error(StatusCode::METHOD_NOT_ALLOWED, "", "Method Not Allowed")
        }
    }
}

fn unknown_attribute(erp: &OracleErp, r: &Resource, path: &str, what: &str, attribute: &str) -> Box<Response> {
    erp.violation(
        "GET",
        path,
        &format!("/query/{what}"),
        format!("`{attribute}` is not an attribute of {}", r.name),
    );
    Box::new(error(
        StatusCode::BAD_REQUEST,
        "",
        &format!("URL request parameter {what} with value {attribute} isn't valid."),
    ))
}

fn fields_param(
    erp: &OracleErp,
    r: &Resource,
    path: &str,
    query: &[(String, String)],
) -> Result<Option<Vec<String>>, Box<Response>> {
    let Some((_, text)) = query.iter().find(|(k, _)| k == "fields") else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for a in text.split(',').map(str::trim) {
        if !r.attributes.contains(&a) {
            return Err(unknown_attribute(erp, r, path, "fields", a));
        }
        out.push(a.to_owned());
    }
    Ok(Some(out))
}

fn project(item: &Value, fields: Option<&[String]>) -> Value {
    match (item, fields) {
        (Value::Object(map), Some(fields)) => Value::Object(
            map.iter()
                .filter(|(k, _)| fields.iter().any(|f| f == *k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        _ => item.clone(),
    }
}

/// `LastUpdateDate >= '<RFC 3339>'` (or `>`): `(inclusive, millis)`.
fn parse_q(q: &str) -> Result<(bool, i64), String> {
    let q = q.trim();
    let rest = q
        .strip_prefix("LastUpdateDate")
        .ok_or_else(|| format!("this fake filters on LastUpdateDate only, not `{q}`"))?
        .trim_start();
    let (inclusive, literal) = if let Some(l) = rest.strip_prefix(">=") {
        (true, l)
    } else if let Some(l) = rest.strip_prefix('>') {
        (false, l)
    } else {
        return Err(format!("`{rest}` is not a > or >= comparison"));
    };
    let literal = literal
        .trim()
        .strip_prefix('\'')
        .and_then(|l| l.strip_suffix('\''))
        .ok_or("a date-time value is quoted with '")?;
    let ms = crate::timestamp::parse_ms(literal)
        .filter(|_| literal.contains('T'))
        .ok_or_else(|| format!("`{literal}` is not an RFC 3339 date-time"))?;
    Ok((inclusive, ms))
}

fn list(erp: &OracleErp, r: &Resource, path: &str, query: &[(String, String)]) -> Response {
    let get = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    for (k, _) in query {
        if !matches!(
            k.as_str(),
            "limit" | "offset" | "onlyData" | "fields" | "orderBy" | "q" | "totalResults"
        ) {
            erp.violation(
                "GET",
                path,
                &format!("/query/{k}"),
                format!("`{k}` is not a collection parameter"),
            );
        }
    }
    let limit = match get("limit").map(str::parse::<usize>) {
        None => 25,
        Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => {
            erp.violation("GET", path, "/query/limit", format!("limit is 1-{MAX_LIMIT}"));
            return error(StatusCode::BAD_REQUEST, "", "URL request parameter limit isn't valid.");
        }
    };
    let Ok(offset) = get("offset").unwrap_or("0").parse::<usize>() else {
        erp.violation("GET", path, "/query/offset", "offset is a number".into());
        return error(StatusCode::BAD_REQUEST, "", "URL request parameter offset isn't valid.");
    };
    let fields = match fields_param(erp, r, path, query) {
        Ok(f) => f,
        Err(e) => return *e,
    };
    let filter = match get("q").map(parse_q).transpose() {
        Ok(f) => f,
        Err(e) => {
            erp.violation("GET", path, "/query/q", e.clone());
            return error(
                StatusCode::BAD_REQUEST,
                "",
                &format!("URL request parameter q isn't valid: {e}"),
            );
        }
    };
    let mut order: Vec<(String, bool)> = Vec::new();
    if let Some(text) = get("orderBy") {
        for part in text.split(',') {
            let (attribute, direction) = part.split_once(':').unwrap_or((part, "asc"));
            if !r.attributes.contains(&attribute) || !matches!(direction, "asc" | "desc") {
                return *unknown_attribute(erp, r, path, "orderBy", part);
            }
            order.push((attribute.to_owned(), direction == "asc"));
        }
    }
    let mut items: Vec<Value> = lock(&erp.items)
        .get(r.name)
        .map(|items| items.iter().map(|i| Value::Object(i.clone())).collect())
        .unwrap_or_default();
    if let Some((inclusive, since)) = filter {
        items.retain(|i| {
            let at = i["LastUpdateDate"]
                .as_str()
                .and_then(crate::timestamp::parse_ms)
                .unwrap_or(0);
            if inclusive {
                at >= since
            } else {
                at > since
            }
        });
    }
    let key = |v: &Value| -> String {
        match v {
            Value::Number(n) => format!("{:020}", n.as_u64().unwrap_or(0)),
            other => other.as_str().map(str::to_owned).unwrap_or_default(),
        }
    };
    items.sort_by(|a, b| {
        for (attribute, asc) in &order {
            let o = key(&a[attribute.as_str()]).cmp(&key(&b[attribute.as_str()]));
            if o != std::cmp::Ordering::Equal {
                return if *asc { o } else { o.reverse() };
            }
        }
        key(&a[r.id]).cmp(&key(&b[r.id]))
    });
    let total = items.len();
    let page: Vec<Value> = items
        .iter()
        .skip(offset)
        .take(limit)
        .map(|i| project(i, fields.as_deref()))
        .collect();
    let mut body = json!({
        "items": page,
        "count": page.len(),
        "hasMore": offset + page.len() < total,
        "limit": limit,
        "offset": offset,
        "links": [{"rel": "self", "href": path, "name": r.name, "kind": "collection"}],
    });
    if get("totalResults") == Some("true") {
        body["totalResults"] = json!(total);
    }
    Json(body).into_response()
}

fn body_fields(
    erp: &OracleErp,
    r: &Resource,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<Map<String, Value>, Box<Response>> {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        erp.violation(method, path, "/body", "the body is a JSON object".into());
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "",
            "The request body isn't valid JSON.",
        )));
    };
    for k in fields.keys() {
        if !r.attributes.contains(&k.as_str()) || SYSTEM.contains(&k.as_str()) || k == r.id {
            erp.violation(
                method,
                path,
                &format!("/body/{k}"),
                format!("`{k}` is not a writable attribute of {}", r.name),
            );
            return Err(Box::new(error(
                StatusCode::BAD_REQUEST,
                "",
                &format!("The attribute {k} isn't valid or can't be updated."),
            )));
        }
    }
    Ok(fields)
}

fn create(erp: &OracleErp, r: &Resource, path: &str, body: &[u8]) -> Response {
    let fields = match body_fields(erp, r, "POST", path, body) {
        Ok(f) => f,
        Err(e) => return *e,
    };
    for attribute in r.required {
        if fields.get(*attribute).is_none_or(Value::is_null) {
            return error(
                StatusCode::BAD_REQUEST,
                "",
                &format!("An attribute value is required for {attribute}."),
            );
        }
    }
    if r.name == "suppliers" && erp.find("suppliers", "Supplier", &fields["Supplier"]).is_some() {
        return error(
            StatusCode::BAD_REQUEST,
            "POZ-2130359",
            &format!("The supplier name {} already exists.", fields["Supplier"]),
        );
    }
    if r.name == "invoices" {
        if erp.find("suppliers", "Supplier", &fields["Supplier"]).is_none() {
            return error(
                StatusCode::BAD_REQUEST,
                "AP-810419",
                &format!(
                    "The value of the attribute Supplier isn't valid: {}.",
                    fields["Supplier"]
                ),
            );
        }
        if !fields["InvoiceAmount"].is_number() {
            erp.violation("POST", path, "/body/InvoiceAmount", "InvoiceAmount is a number".into());
        }
    }
    let item = erp.create(r.name, Value::Object(fields), now_ms());
    (StatusCode::CREATED, Json(Value::Object(item))).into_response()
}

fn update(erp: &OracleErp, r: &Resource, path: &str, id: &str, body: &[u8]) -> Response {
    let fields = match body_fields(erp, r, "PATCH", path, body) {
        Ok(f) => f,
        Err(e) => return *e,
    };
    if let Some(name) = fields.get("Supplier") {
        let other = erp.find("suppliers", "Supplier", name);
        if other.is_some_and(|o| !same_id(&o[r.id], id)) {
            return error(
                StatusCode::BAD_REQUEST,
                "POZ-2130359",
                &format!("The supplier name {name} already exists."),
            );
        }
    }
    match erp.touch(r.name, id, Value::Object(fields)) {
        Some(item) => Json(item).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "",
            &format!("The requested resource {id} wasn't found."),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_last_update_date_comparisons() {
        assert_eq!(
            parse_q("LastUpdateDate >= '2026-11-27T01:02:03Z'"),
            Ok((true, 1_795_741_323_000))
        );
        assert_eq!(
            parse_q("LastUpdateDate>'2026-11-27T01:02:03.000+00:00'").map(|q| q.0),
            Ok(false)
        );
        assert!(parse_q("LastUpdateDate >= 2026-11-27").is_err());
        assert!(parse_q("CreationDate >= '2026-11-27T01:02:03Z'").is_err());
        assert!(parse_q("LastUpdateDate = '2026-11-27T01:02:03Z'").is_err());
    }
}
