//! Lists: the profile's filters, then a page in the profile's pagination style, in the
//! profile's envelope.

use serde_json::{json, Map, Value};

use super::handler::Reply;
use super::store::{set, Stored};
use super::{template, SpecFake};
use crate::profile::{Collection, Filter, FilterOp, PageStyle, TimeFormat};
use crate::timestamp::parse_ms;

/// The raw query pairs (bracket keys kept as written).
fn pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// A comparable form of a value: instants as milliseconds, numbers, else text.
#[derive(PartialEq, PartialOrd)]
enum Key {
    Number(f64),
    Text(String),
}

fn key(value: &Value, format: Option<TimeFormat>) -> Option<Key> {
    match value {
        Value::Number(n) => {
            let n = n.as_f64()?;
            Some(Key::Number(match format {
                Some(TimeFormat::Unix) => n * 1000.0,
                _ => n,
            }))
        }
        Value::String(text) => {
            if let Some(format) = format {
                if let Ok(n) = text.parse::<f64>() {
                    return Some(Key::Number(if format == TimeFormat::Unix { n * 1000.0 } else { n }));
                }
            }
            match parse_ms(text) {
                Some(ms) if format.is_some() || text.contains('T') => Some(Key::Number(ms as f64)),
                _ => Some(Key::Text(text.clone())),
            }
        }
        Value::Bool(b) => Some(Key::Text(b.to_string())),
        _ => None,
    }
}

fn passes(filter: &Filter, object: &Value, wanted: &str) -> bool {
    let Some(actual) = object.pointer(&filter.field) else {
        return false;
    };
    if filter.op == FilterOp::Wildcard {
        let actual = actual.as_str().unwrap_or_default();
        return match wanted.strip_suffix('*') {
            Some(prefix) => actual.starts_with(prefix),
            None => actual == wanted,
        };
    }
    // The field's own format decides how it compares (a unix integer, an RFC 3339 text).
    let field_format = match actual {
        Value::Number(_) => filter.format.or(Some(TimeFormat::UnixMs)),
        _ => None,
    };
    let (Some(actual), Some(wanted)) = (
        key(actual, field_format),
        key(&Value::String(wanted.to_owned()), filter.format),
    ) else {
        return false;
    };
    match filter.op {
        FilterOp::Eq | FilterOp::Wildcard => actual == wanted,
        FilterOp::Gt => actual > wanted,
        FilterOp::Gte => actual >= wanted,
        FilterOp::Lt => actual < wanted,
        FilterOp::Lte => actual <= wanted,
    }
}

/// `GET {collection.path}`.
pub(crate) fn list(fake: &SpecFake, c: &Collection, query: Option<&str>) -> Reply {
    let pairs = pairs(query);
    let p = &fake.profile.list.pagination;
    let limit = match param(&pairs, &p.limit_param) {
        None => p.default_limit,
        Some(raw) => match raw.parse::<usize>() {
            Ok(limit) if (1..=p.max_limit).contains(&limit) => limit,
            _ => {
                return fake.error(
                    &fake.profile.errors.bad_request,
                    &format!("{} must be between 1 and {}, got {raw}", p.limit_param, p.max_limit),
                )
            }
        },
    };
    let state = fake.lock();
    let objects: Vec<&Stored> = state
        .collections
        .get(&c.name)
        .map(|o| o.by_seq.values().collect())
        .unwrap_or_default();
    let filtered: Vec<&Stored> = objects
        .into_iter()
        .filter(|s| {
            c.filters
                .iter()
                .all(|f| param(&pairs, &f.param).is_none_or(|wanted| passes(f, &s.value, wanted)))
        })
        .collect();
    let total = filtered.len();

    // (page, next cursor or page, has more)
    let (page, next): (Vec<&Stored>, Option<String>) = match p.style {
        PageStyle::Cursor => {
            let start: u64 = match param(&pairs, &p.cursor_param).filter(|s| !s.is_empty()) {
                None => 0,
                Some(raw) => match raw.parse() {
                    Ok(start) => start,
                    Err(_) => {
                        return fake.error(
                            &fake.profile.errors.bad_request,
                            &format!("Invalid paging cursor {raw}"),
                        )
                    }
                },
            };
            let mut page: Vec<&Stored> = filtered
                .into_iter()
                .filter(|s| s.seq >= start)
                .take(limit + 1)
                .collect();
            let next = (page.len() > limit)
                .then(|| page.pop().map(|s| s.seq.to_string()))
                .flatten();
            (page, next)
        }
        PageStyle::StartingAfter => {
            let after = param(&pairs, &p.cursor_param).filter(|s| !s.is_empty());
            let start = match after {
                None => 0,
                Some(id) => match filtered.iter().position(|s| s.id == id) {
                    Some(i) => i + 1,
                    None => return fake.error(&fake.profile.errors.bad_request, &format!("No such object: '{id}'")),
                },
            };
            let page: Vec<&Stored> = filtered.iter().skip(start).take(limit).copied().collect();
            let more = start + page.len() < filtered.len();
            (page, more.then(String::new))
        }
        PageStyle::Offset => {
            let offset: usize = param(&pairs, &p.offset_param).and_then(|o| o.parse().ok()).unwrap_or(0);
            let page: Vec<&Stored> = filtered.iter().skip(offset).take(limit).copied().collect();
            (page, None)
        }
        PageStyle::Page | PageStyle::LinkHeader => {
            let number: usize = param(&pairs, &p.page_param)
                .and_then(|o| o.parse().ok())
                .unwrap_or(p.first_page)
                .max(p.first_page);
            let skip = (number - p.first_page) * limit;
            let page: Vec<&Stored> = filtered.iter().skip(skip).take(limit).copied().collect();
            let more = skip + page.len() < filtered.len();
            (page, more.then(|| (number + 1).to_string()))
        }
    };
    let items: Vec<Value> = page.iter().map(|s| s.value.clone()).collect();
    drop(state);

    let vars = |name: &str| (name == "path").then(|| Value::String(c.path.clone()));
    let mut body = Value::Object(Map::new());
    for (k, v) in &fake.profile.list.envelope {
        set(&mut body, &format!("/{k}"), template::fill(v, &vars));
    }
    if fake.profile.list.items.is_empty() {
        body = Value::Array(items);
    } else {
        set(&mut body, &fake.profile.list.items, Value::Array(items));
    }
    if let Some(total_pointer) = &p.total {
        set(&mut body, total_pointer, json!(total));
    }
    let next_url = |param_name: &str, value: &str| {
        let mut kept: Vec<(String, String)> = pairs.iter().filter(|(k, _)| k != param_name).cloned().collect();
        kept.push((param_name.to_owned(), value.to_owned()));
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(kept)
            .finish();
        format!("{}{}?{query}", fake.base_url(), c.path)
    };
    let mut headers = Vec::new();
    match p.style {
        PageStyle::Cursor => {
            if let Some(next) = &next {
                set(&mut body, &p.next, json!(next));
                if let Some(link) = &p.next_link {
                    set(&mut body, link, json!(next_url(&p.cursor_param, next)));
                }
            }
        }
        PageStyle::StartingAfter => set(&mut body, &p.has_more, json!(next.is_some())),
        // Offset and page styles: the client computes the next page (with `total` if sent).
        PageStyle::Offset | PageStyle::Page => {}
        PageStyle::LinkHeader => {
            if let Some(next) = &next {
                headers.push((
                    "link".to_owned(),
                    format!("<{}>; rel=\"next\"", next_url(&p.page_param, next)),
                ));
            }
        }
    }
    let mut reply = Reply::json(200, body);
    reply.headers = headers;
    reply
}
