//! Cursor pagination: `?limit=` (1 to [`MAX_LIMIT`], default [`DEFAULT_LIMIT`]) and
//! `?cursor=` (opaque: the value of the last page's `next_cursor`). A list answers
//! `{"items": [...], "next_cursor": "..." | null}`.

use base64::Engine as _;
use serde::Serialize;

use super::problem::Problem;
use super::request::ApiRequest;

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 200;

/// What a list request asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    /// The position to continue after (decoded from the cursor).
    pub after: Option<String>,
}

impl PageRequest {
    pub fn from_request(req: &ApiRequest) -> Result<Self, Problem> {
        Self::from_request_up_to(req, MAX_POSITION)
    }

    /// [`Self::from_request`] for a list whose positions may be up to `max_position` long
    /// (a position made of several item keys).
    pub fn from_request_up_to(req: &ApiRequest, max_position: usize) -> Result<Self, Problem> {
        let limit = match req.query_param("limit") {
            None => DEFAULT_LIMIT,
            Some(raw) => match raw.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => return Err(Problem::field("limit", format!("an integer from 1 to {MAX_LIMIT}"))),
            },
        };
        let after =
            match req.query_param("cursor") {
                None => None,
                Some(c) if c.is_empty() => None,
                Some(c) => Some(decode_up_to(&c, max_position).ok_or_else(|| {
                    Problem::field("cursor", "not a cursor this API gave out; start again without it")
                })?),
            };
        Ok(Self { limit, after })
    }
}

/// `{"items": [...], "next_cursor": ...}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PageBody<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> PageBody<T> {
    /// A page whose next cursor continues after `last` when `more`.
    pub fn new(items: Vec<T>, more: bool, last: Option<&str>) -> Self {
        Self {
            items,
            next_cursor: if more { last.map(encode) } else { None },
        }
    }
}

/// The cursor of a position: URL-safe base64 with a version tag, so its shape can change.
pub fn encode(position: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("v1:{position}"))
}

/// The longest position a cursor holds (one item key).
const MAX_POSITION: usize = 600;

pub fn decode(cursor: &str) -> Option<String> {
    decode_up_to(cursor, MAX_POSITION)
}

/// [`decode`] for positions up to `max_len` long.
pub fn decode_up_to(cursor: &str, max_len: usize) -> Option<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let position = text.strip_prefix("v1:")?;
    let ok = !position.is_empty() && position.len() <= max_len && position.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| position.to_string())
}

/// One page of an in-memory list sorted by `position`: the items strictly after `after`.
pub fn page_of<T>(items: Vec<T>, page: &PageRequest, position: impl Fn(&T) -> String) -> PageBody<T> {
    let mut rest: Vec<T> = items
        .into_iter()
        .filter(|i| page.after.as_deref().is_none_or(|a| position(i).as_str() > a))
        .collect();
    let more = rest.len() > page.limit;
    rest.truncate(page.limit);
    let last = rest.last().map(&position);
    PageBody::new(rest, more, last.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(query: &str) -> ApiRequest {
        ApiRequest {
            method: "GET".into(),
            path: "/v1/flows".into(),
            query: query.into(),
            headers: http::HeaderMap::new(),
            body: Vec::new(),
        }
    }

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        assert_eq!(decode(&encode("flow_1")).as_deref(), Some("flow_1"));
        assert_eq!(decode("not a cursor"), None);
        assert_eq!(
            decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("flow_1")),
            None
        );
        let p = PageRequest::from_request(&req("cursor=abc")).unwrap_err();
        assert_eq!((p.status, p.errors[0].field.as_str()), (422, "cursor"));
    }

    #[test]
    fn limit_has_a_default_and_a_max() {
        assert_eq!(PageRequest::from_request(&req("")).unwrap().limit, DEFAULT_LIMIT);
        assert_eq!(PageRequest::from_request(&req("limit=200")).unwrap().limit, 200);
        for bad in ["limit=0", "limit=201", "limit=x", "limit=-1"] {
            let p = PageRequest::from_request(&req(bad)).unwrap_err();
            assert_eq!((p.status, p.errors[0].field.as_str()), (422, "limit"), "{bad}");
        }
    }

    #[test]
    fn pages_of_a_sorted_list_cover_it_once() {
        let items: Vec<String> = (0..7).map(|i| format!("id{i}")).collect();
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = PageRequest { limit: 3, after };
            let body = page_of(items.clone(), &page, |s| s.clone());
            seen.extend(body.items);
            match body.next_cursor {
                Some(c) => after = decode(&c),
                None => break,
            }
        }
        assert_eq!(seen, items);
    }
}
