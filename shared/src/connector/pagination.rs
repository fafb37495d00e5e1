//! Pagination as pure state stepping: the state after a page is a function of the state
//! before it and the response. No I/O, so every style and every loop guard is unit-tested.
//!
//! Loop guards end a stream with an error instead of looping: a token seen before (the
//! current one or any of the last [`RECENT_TOKENS`]), the page cap (checked before each
//! request by [`check_before_request`]) and, in the engine, the request timeout.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::definition::PaginationSpec;

/// How many recent page tokens the repeated-token guard remembers.
pub const RECENT_TOKENS: usize = 16;

/// Where a stream is: checkpointed after every page and carried in continuation messages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamState {
    /// Lower bound of an incremental run (the flow's checkpointed cursor, before lookback);
    /// `None` reads everything (full refresh).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,

    /// Where the next page starts; `None` is the first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<PageToken>,

    /// Pages read so far in this run.
    #[serde(default)]
    pub pages_read: u32,

    /// Highest cursor value seen so far in this run. When a run ends, it becomes the
    /// flow's cursor (the next run's `since`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cursor: Option<String>,

    /// Fingerprints of recent page tokens (the repeated-token guard).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_tokens: Vec<String>,

    /// A child stream's place in its parent stream (`parent` in the stream's definition);
    /// `None` before the first page. `page` and `recent_tokens` are then the child's paging
    /// under the current parent record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Box<ParentPosition>>,
}

/// Where a child stream is in its parent: the parent's next page, and the parent records
/// read but not yet done, each kept only with the fields the child's requests use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentPosition {
    /// The parent stream's next page; `None` once its last page was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<StreamState>,
    /// Parent records whose children are still to read; the first is the current one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<Value>,
}

impl ParentPosition {
    /// The position before the parent's first page.
    pub fn start() -> Self {
        Self {
            next: Some(StreamState::full_refresh()),
            pending: Vec::new(),
        }
    }

    /// Whether nothing is left: no parent record pending and no parent page to read.
    pub fn is_done(&self) -> bool {
        self.pending.is_empty() && self.next.is_none()
    }
}

/// The child state after a child page under the current parent record. `child_next` is the
/// child's own next page under that record (from [`advance`]); without one the current parent
/// record is done and the next starts from its first child page. `None`: the run is over.
/// The run's page count and highest cursor carry on either way.
pub fn step_child(
    state: &StreamState,
    child_next: Option<StreamState>,
    max_cursor: Option<String>,
) -> Option<StreamState> {
    let mut position = state.parent.as_deref().cloned().unwrap_or_else(ParentPosition::start);
    let mut next = match child_next {
        Some(next) => next,
        None => {
            if !position.pending.is_empty() {
                position.pending.remove(0);
            }
            if position.is_done() {
                return None;
            }
            StreamState {
                since: state.since.clone(),
                pages_read: state.pages_read + 1,
                ..StreamState::default()
            }
        }
    };
    next.max_cursor = max_cursor;
    next.parent = Some(Box::new(position));
    Some(next)
}

/// The child state after reading a page of the parent: its records (projected) join the
/// pending ones, and `parent_next` is the parent's next page. `None` when the parent page was
/// the last and held no records: the run is over.
pub fn step_parent(state: &StreamState, records: Vec<Value>, parent_next: Option<StreamState>) -> Option<StreamState> {
    let mut position = state.parent.as_deref().cloned().unwrap_or_else(ParentPosition::start);
    position.pending.extend(records);
    position.next = parent_next;
    if position.is_done() {
        return None;
    }
    Some(StreamState {
        since: state.since.clone(),
        page: None,
        pages_read: state.pages_read + 1,
        max_cursor: state.max_cursor.clone(),
        recent_tokens: Vec::new(),
        parent: Some(Box::new(position)),
    })
}

/// A parent record cut down to the `parent.*` names the child's requests use
/// (`parent.uuid`, `parent.owner.uri`), so the state a run checkpoints stays small.
pub fn project(record: &Value, names: &[Vec<String>]) -> Value {
    let mut out = Value::Object(serde_json::Map::new());
    for path in names {
        let mut from = record;
        let mut found = true;
        for segment in path {
            from = match from {
                Value::Object(map) => match map.get(segment) {
                    Some(v) => v,
                    None => {
                        found = false;
                        break;
                    }
                },
                Value::Array(items) => match segment.parse::<usize>().ok().and_then(|i| items.get(i)) {
                    Some(v) => v,
                    None => {
                        found = false;
                        break;
                    }
                },
                _ => {
                    found = false;
                    break;
                }
            };
        }
        if !found {
            continue;
        }
        let mut to = &mut out;
        for (i, segment) in path.iter().enumerate() {
            let last = i + 1 == path.len();
            let Value::Object(map) = to else { break };
            if last {
                map.insert(segment.clone(), from.clone());
                break;
            }
            to = map
                .entry(segment.clone())
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
        }
    }
    out
}

impl StreamState {
    /// The first page of a full refresh.
    pub fn full_refresh() -> Self {
        Self::default()
    }

    /// The first page of an incremental run from `cursor` (`None`: from the beginning).
    pub fn incremental(cursor: Option<String>) -> Self {
        Self {
            since: cursor,
            ..Self::default()
        }
    }

    /// Whether this is the first page of a run.
    pub fn is_first_page(&self) -> bool {
        self.page.is_none()
    }
}

/// The position of the next page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum PageToken {
    /// An opaque token for `{{ page.token }}`.
    Cursor(String),
    /// The next page's full URL (next-URL and Link-header styles). Credentials that travel
    /// in the query are removed before it is stored.
    Url(String),
    /// `{{ page.offset }}`.
    Offset(u64),
    /// `{{ page.number }}`.
    Number(u64),
    /// A page of a result set kept by the API: `{{ page.handle }}` with `{{ page.token }}`
    /// or `{{ page.number }}` (a partition, of `count`).
    ResultSet {
        handle: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        number: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<u64>,
    },
}

/// What the stepping needs from a response.
#[derive(Debug, Clone, Copy)]
pub struct PageResponse<'a> {
    /// The parsed body.
    pub body: &'a Value,
    /// The `Link` header values, joined with `, `.
    pub link_header: Option<&'a str>,
    /// The total page count from the header `total_pages_header` names, as sent.
    pub total_pages_header: Option<&'a str>,
    /// The records selected from this page.
    pub records: &'a [Value],
}

/// Why pagination stopped with an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaginationError {
    #[error("the API returned a page token already seen in this run (after page {page}); stopping instead of looping")]
    RepeatedToken { page: u32 },
    #[error("the stream reached the page cap of {max} pages in one run")]
    PageCap { max: u32 },
    #[error("the response says more pages follow but gives no way to reach them: {0}")]
    MissingToken(&'static str),
    #[error("the next page token is not a string or a number")]
    BadToken,
}

/// The page cap guard: refuses a request when `max_pages` pages were already read.
pub fn check_before_request(state: &StreamState, max_pages: u32) -> Result<(), PaginationError> {
    if state.pages_read >= max_pages {
        return Err(PaginationError::PageCap { max: max_pages });
    }
    Ok(())
}

/// The `page.*` placeholder values for the request `state` describes.
pub fn page_vars(spec: &PaginationSpec, state: &StreamState) -> Vec<(&'static str, Value)> {
    let mut vars = Vec::new();
    match spec {
        PaginationSpec::None | PaginationSpec::NextUrl { .. } | PaginationSpec::LinkHeader { .. } => {}
        PaginationSpec::Cursor { page_size, .. } => {
            if let Some(PageToken::Cursor(token)) = &state.page {
                vars.push(("page.token", json!(token)));
            }
            if let Some(size) = page_size {
                vars.push(("page.size", json!(size)));
            }
        }
        PaginationSpec::Offset { page_size, start, .. } => {
            let offset = match &state.page {
                Some(PageToken::Offset(o)) => *o,
                _ => *start,
            };
            vars.push(("page.offset", json!(offset)));
            vars.push(("page.size", json!(page_size)));
        }
        PaginationSpec::ResultSet { .. } => {
            if let Some(PageToken::ResultSet {
                handle, token, number, ..
            }) = &state.page
            {
                vars.push(("page.handle", json!(handle)));
                if let Some(token) = token {
                    vars.push(("page.token", json!(token)));
                }
                if let Some(number) = number {
                    vars.push(("page.number", json!(number)));
                }
            }
        }
        PaginationSpec::PageNumber { page_size, start, .. } => {
            let number = match &state.page {
                Some(PageToken::Number(n)) => *n,
                _ => *start,
            };
            vars.push(("page.number", json!(number)));
            vars.push(("page.size", json!(page_size)));
        }
    }
    vars
}

/// The state after the page `state` described returned `response`: `None` when the stream
/// has no more pages. The returned state carries `since` and `max_cursor` over unchanged
/// (the engine updates `max_cursor`).
pub fn step(
    spec: &PaginationSpec,
    state: &StreamState,
    response: &PageResponse<'_>,
) -> Result<Option<StreamState>, PaginationError> {
    match next_token(spec, state, response)? {
        Some(token) => advance(state, token).map(Some),
        None => Ok(None),
    }
}

/// The state for the page at `token`, after the page `state` described. Refuses a token seen
/// before (the current one or a recent one). Callers that rewrite tokens (resolving relative
/// URLs) do so before calling this, so the guard compares like with like.
pub fn advance(state: &StreamState, token: PageToken) -> Result<StreamState, PaginationError> {
    let fingerprint = fingerprint(&token);
    let current = state.page.as_ref().map(self::fingerprint);
    if current.as_deref() == Some(fingerprint.as_str()) || state.recent_tokens.contains(&fingerprint) {
        return Err(PaginationError::RepeatedToken {
            page: state.pages_read + 1,
        });
    }
    let mut recent = state.recent_tokens.clone();
    if let Some(current) = current {
        recent.push(current);
    }
    if recent.len() > RECENT_TOKENS {
        recent.drain(..recent.len() - RECENT_TOKENS);
    }
    Ok(StreamState {
        since: state.since.clone(),
        page: Some(token),
        pages_read: state.pages_read + 1,
        max_cursor: state.max_cursor.clone(),
        recent_tokens: recent,
        parent: state.parent.clone(),
    })
}

/// The state for the next page of a result set whose token stays the same (`result_set:
/// true`): no repeated-token check; the page cap still bounds the run.
pub fn advance_in_result_set(state: &StreamState, token: PageToken) -> StreamState {
    StreamState {
        since: state.since.clone(),
        page: Some(token),
        pages_read: state.pages_read + 1,
        max_cursor: state.max_cursor.clone(),
        recent_tokens: Vec::new(),
        parent: state.parent.clone(),
    }
}

/// Whether a `has_more` value says more pages follow: `true`, `"true"`, or a number (or
/// numeric text) above 0.
fn more_follow(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f > 0.0),
        Value::String(s) => {
            let s = s.trim();
            s.eq_ignore_ascii_case("true") || s.parse::<f64>().is_ok_and(|f| f > 0.0)
        }
        _ => false,
    }
}

/// The raw token of the page after `response`, or `None` at the end of the stream.
pub fn next_token(
    spec: &PaginationSpec,
    state: &StreamState,
    response: &PageResponse<'_>,
) -> Result<Option<PageToken>, PaginationError> {
    let records = response.records.len() as u64;
    Ok(match spec {
        PaginationSpec::None => None,
        PaginationSpec::Cursor {
            token,
            token_from_last_record,
            has_more,
            end_of_stream,
            ..
        } => {
            if let Some(pointer) = has_more {
                // An absent flag is read as "no more": stopping beats looping.
                if !response.body.pointer(pointer).is_some_and(more_follow) {
                    return Ok(None);
                }
            }
            if let Some(pointer) = end_of_stream {
                // Likewise an absent end flag ends the stream.
                if response.body.pointer(pointer).and_then(Value::as_bool).unwrap_or(true) {
                    return Ok(None);
                }
            }
            // Either flag says another page follows: its token must be there.
            let has_more = has_more.as_ref().or(end_of_stream.as_ref());
            let value = if let Some(pointer) = token {
                response.body.pointer(pointer)
            } else if let Some(pointer) = token_from_last_record {
                match response.records.last() {
                    Some(last) => last.pointer(pointer),
                    None if has_more.is_some() => {
                        return Err(PaginationError::MissingToken(
                            "the page has no records to continue after",
                        ))
                    }
                    None => return Ok(None),
                }
            } else {
                None
            };
            match value {
                None | Some(Value::Null) => {
                    if has_more.is_some() {
                        return Err(PaginationError::MissingToken("the next token is absent"));
                    }
                    None
                }
                Some(Value::String(s)) if s.is_empty() => None,
                Some(Value::String(s)) => Some(PageToken::Cursor(s.clone())),
                Some(Value::Number(n)) => Some(PageToken::Cursor(n.to_string())),
                Some(_) => return Err(PaginationError::BadToken),
            }
        }
        PaginationSpec::NextUrl { pointer } => match response.body.pointer(pointer) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(PageToken::Url(s.trim().to_owned())),
            Some(_) => return Err(PaginationError::BadToken),
        },
        PaginationSpec::LinkHeader { rel } => response
            .link_header
            .and_then(|h| link_target(h, rel))
            .map(PageToken::Url),
        PaginationSpec::Offset {
            page_size,
            start,
            total,
            has_more,
        } => {
            if records == 0 {
                return Ok(None);
            }
            let offset = match &state.page {
                Some(PageToken::Offset(o)) => *o,
                _ => *start,
            };
            let next = offset + records;
            if let Some(pointer) = has_more {
                // An absent flag is read as "no more": stopping beats looping.
                let more = response.body.pointer(pointer).is_some_and(more_follow);
                return Ok(more.then_some(PageToken::Offset(next)));
            }
            let more = match total
                .as_deref()
                .and_then(|p| response.body.pointer(p))
                .and_then(Value::as_u64)
            {
                Some(total) => next < total,
                None => records >= *page_size,
            };
            more.then_some(PageToken::Offset(next))
        }
        PaginationSpec::PageNumber {
            page_size,
            start,
            total_pages,
            total_pages_header,
            total,
        } => {
            if records == 0 {
                return Ok(None);
            }
            let number = match &state.page {
                Some(PageToken::Number(n)) => *n,
                _ => *start,
            };
            // Page numbers may start at 0 or 1: count pages read from `start`.
            let pages_read = number + 1 - start;
            let from_body = total_pages
                .as_deref()
                .and_then(|p| response.body.pointer(p))
                .and_then(Value::as_u64);
            let from_header = total_pages_header
                .as_ref()
                .and(response.total_pages_header)
                .and_then(|h| h.trim().parse::<u64>().ok());
            let total_records = total
                .as_deref()
                .and_then(|p| response.body.pointer(p))
                .and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())));
            let more = match (from_body.or(from_header), total_records) {
                (Some(total_pages), _) => pages_read < total_pages,
                // Full pages before this one, plus this one's records.
                (None, Some(total)) => (pages_read - 1) * page_size + records < total,
                (None, None) => records >= *page_size,
            };
            more.then_some(PageToken::Number(number + 1))
        }
        PaginationSpec::ResultSet {
            handle,
            token,
            partitions,
        } => {
            let (handle, number, count) = match &state.page {
                Some(PageToken::ResultSet {
                    handle, number, count, ..
                }) => (handle.clone(), number.unwrap_or(0), *count),
                _ => {
                    let handle = match response.body.pointer(handle) {
                        Some(Value::String(s)) if !s.is_empty() => s.clone(),
                        Some(Value::Number(n)) => n.to_string(),
                        _ => {
                            return Err(PaginationError::MissingToken(
                                "the first page names no result set handle",
                            ))
                        }
                    };
                    let count = partitions
                        .as_deref()
                        .and_then(|p| response.body.pointer(p))
                        .map(|v| match v {
                            Value::Array(items) => items.len() as u64,
                            other => other.as_u64().unwrap_or(1),
                        });
                    (handle, 0, count)
                }
            };
            if token.is_some() {
                match token.as_deref().and_then(|p| response.body.pointer(p)) {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) if s.is_empty() => None,
                    Some(Value::String(s)) => Some(PageToken::ResultSet {
                        handle,
                        token: Some(s.clone()),
                        number: None,
                        count: None,
                    }),
                    Some(_) => return Err(PaginationError::BadToken),
                }
            } else {
                // Partitions: 0 came with the first response; an absent count is one partition.
                let count = count.unwrap_or(1);
                (number + 1 < count).then_some(PageToken::ResultSet {
                    handle,
                    token: None,
                    number: Some(number + 1),
                    count: Some(count),
                })
            }
        }
    })
}

fn fingerprint(token: &PageToken) -> String {
    let text = match token {
        PageToken::ResultSet {
            handle, token, number, ..
        } => format!(
            "r:{handle}:{}:{}",
            token.as_deref().unwrap_or_default(),
            number.unwrap_or(0)
        ),
        PageToken::Cursor(s) => format!("c:{s}"),
        PageToken::Url(s) => format!("u:{s}"),
        PageToken::Offset(o) => format!("o:{o}"),
        PageToken::Number(n) => format!("n:{n}"),
    };
    hex::encode(&Sha256::digest(text.as_bytes())[..8])
}

/// The target of the link with relation `rel` in an RFC 8288 `Link` header value.
pub fn link_target(header: &str, rel: &str) -> Option<String> {
    let mut rest = header;
    loop {
        let start = rest.find('<')?;
        let end = start + rest[start..].find('>')?;
        let target = &rest[start + 1..end];
        let after = &rest[end + 1..];
        let params_end = after.find('<').unwrap_or(after.len());
        let params = after[..params_end].trim().trim_end_matches(',');
        let matches = params.split(';').any(|param| {
            let Some((name, value)) = param.split_once('=') else {
                return false;
            };
            name.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|r| r.eq_ignore_ascii_case(rel))
        });
        if matches {
            return Some(target.trim().to_owned());
        }
        rest = &after[params_end..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> PaginationSpec {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn recs(n: usize) -> Vec<Value> {
        (0..n).map(|i| json!({"id": format!("r{i}")})).collect()
    }

    fn step_with(spec: &PaginationSpec, state: &StreamState, body: Value, records: &[Value]) -> Option<StreamState> {
        step(
            spec,
            state,
            &PageResponse {
                body: &body,
                link_header: None,
                total_pages_header: None,
                records,
            },
        )
        .unwrap()
    }

    #[test]
    fn a_child_run_steps_through_each_parent_record_then_the_next_parent_page() {
        let start = StreamState::incremental(Some("2024-01-01T00:00:00Z".into()));
        // The parent's first page: two records, more pages to come.
        let parent_next = advance(&StreamState::full_refresh(), PageToken::Cursor("p2".into())).unwrap();
        let s = step_parent(
            &start,
            vec![json!({"id": "a"}), json!({"id": "b"})],
            Some(parent_next.clone()),
        )
        .unwrap();
        assert_eq!(s.page, None, "the first child page of the first parent record");
        assert_eq!(
            s.since.as_deref(),
            Some("2024-01-01T00:00:00Z"),
            "the run's since carries on"
        );
        let position = s.parent.as_deref().unwrap();
        assert_eq!(position.pending, vec![json!({"id": "a"}), json!({"id": "b"})]);
        // Record `a` has a second child page: same parent record, the child's token.
        let child_next = advance(&s, PageToken::Cursor("c2".into())).unwrap();
        let s = step_child(&s, Some(child_next), Some("5".into())).unwrap();
        assert_eq!(s.page, Some(PageToken::Cursor("c2".into())));
        assert_eq!(s.parent.as_deref().unwrap().pending[0], json!({"id": "a"}));
        // `a` is done: `b` starts from its first child page, tokens forgotten, cursor kept.
        let s = step_child(&s, None, Some("7".into())).unwrap();
        assert_eq!((s.page.clone(), s.recent_tokens.len()), (None, 0));
        assert_eq!(s.max_cursor.as_deref(), Some("7"));
        assert_eq!(s.parent.as_deref().unwrap().pending, vec![json!({"id": "b"})]);
        // `b` is done, the parent has another page: nothing pending, the parent's next page.
        let s = step_child(&s, None, Some("7".into())).unwrap();
        let position = s.parent.as_deref().unwrap();
        assert!(position.pending.is_empty());
        assert_eq!(position.next, Some(parent_next));
        // The parent's last page is empty: the run is over.
        assert_eq!(step_parent(&s, Vec::new(), None), None);
        // A parent's last page with a record, then its last child page: over.
        let s = step_parent(&s, vec![json!({"id": "c"})], None).unwrap();
        assert_eq!(step_child(&s, None, None), None);
        assert!(s.pages_read >= 4, "every page counts toward the run's page cap");
    }

    #[test]
    fn a_parent_record_is_kept_with_only_the_fields_the_child_uses() {
        let record = json!({"id": "e1", "uri": "https://x/e1", "owner": {"uri": "https://x/u1", "name": "Ann"}, "tags": ["a", "b"], "big": "..."});
        let names = vec![
            vec!["uri".to_owned()],
            vec!["owner".to_owned(), "uri".to_owned()],
            vec!["tags".to_owned(), "1".to_owned()],
            vec!["missing".to_owned()],
        ];
        assert_eq!(
            project(&record, &names),
            json!({"uri": "https://x/e1", "owner": {"uri": "https://x/u1"}, "tags": {"1": "b"}})
        );
    }

    #[test]
    fn cursor_in_body_follows_the_token_until_it_is_absent() {
        let s = spec("{type: cursor, token: /paging/next/after, page_size: 100}");
        let first = StreamState::full_refresh();
        assert_eq!(page_vars(&s, &first), vec![("page.size", json!(100))]);
        let next = step_with(&s, &first, json!({"paging": {"next": {"after": "200"}}}), &recs(100)).unwrap();
        assert_eq!(next.page, Some(PageToken::Cursor("200".into())));
        assert_eq!(next.pages_read, 1);
        assert_eq!(page_vars(&s, &next)[0], ("page.token", json!("200")));
        assert_eq!(step_with(&s, &next, json!({"results": []}), &recs(3)), None);
    }

    #[test]
    fn cursor_from_last_record_stops_when_has_more_is_false() {
        let s = spec("{type: cursor, token_from_last_record: /id, has_more: /has_more}");
        let next = step_with(&s, &StreamState::default(), json!({"has_more": true}), &recs(3)).unwrap();
        assert_eq!(next.page, Some(PageToken::Cursor("r2".into())));
        assert_eq!(step_with(&s, &next, json!({"has_more": false}), &recs(3)), None);
        assert_eq!(step_with(&s, &next, json!({}), &recs(3)), None);
    }

    #[test]
    fn end_of_stream_stops_and_a_missing_token_before_it_is_an_error() {
        let s = spec("{type: cursor, token: /after_cursor, end_of_stream: /end_of_stream}");
        let next = step_with(
            &s,
            &StreamState::default(),
            json!({"after_cursor": "c1", "end_of_stream": false}),
            &recs(3),
        )
        .unwrap();
        assert_eq!(next.page, Some(PageToken::Cursor("c1".into())));
        // The last page still carries a cursor (to poll from later); the flag ends the run.
        assert_eq!(
            step_with(
                &s,
                &next,
                json!({"after_cursor": "c2", "end_of_stream": true}),
                &recs(3)
            ),
            None
        );
        assert_eq!(step_with(&s, &next, json!({"after_cursor": "c2"}), &recs(3)), None);
        let body = json!({"end_of_stream": false});
        let err = step(
            &s,
            &next,
            &PageResponse {
                body: &body,
                link_header: None,
                total_pages_header: None,
                records: &recs(1),
            },
        );
        assert_eq!(err, Err(PaginationError::MissingToken("the next token is absent")));
    }

    #[test]
    fn has_more_reads_booleans_text_and_remaining_counts() {
        let s = spec("{type: cursor, token: /next, has_more: /more}");
        let go = |more: Value| {
            step_with(
                &s,
                &StreamState::default(),
                json!({"next": "t", "more": more}),
                &recs(1),
            )
        };
        for yes in [json!(true), json!("true"), json!(3), json!("150")] {
            assert!(go(yes.clone()).is_some(), "{yes}");
        }
        for no in [json!(false), json!("false"), json!(0), json!("0"), json!("")] {
            assert!(go(no.clone()).is_none(), "{no}");
        }
    }

    #[test]
    fn has_more_without_records_or_token_is_an_error_not_a_loop() {
        let s = spec("{type: cursor, token_from_last_record: /id, has_more: /has_more}");
        let body = json!({"has_more": true});
        let err = step(
            &s,
            &StreamState::default(),
            &PageResponse {
                body: &body,
                link_header: None,
                total_pages_header: None,
                records: &[],
            },
        )
        .unwrap_err();
        assert!(matches!(err, PaginationError::MissingToken(_)));
    }

    #[test]
    fn next_url_in_body_is_followed_until_null() {
        let s = spec("{type: next_url, pointer: /next}");
        let next = step_with(
            &s,
            &StreamState::default(),
            json!({"next": "https://api.x/items?p=2"}),
            &recs(1),
        )
        .unwrap();
        assert_eq!(next.page, Some(PageToken::Url("https://api.x/items?p=2".into())));
        assert_eq!(step_with(&s, &next, json!({"next": null}), &recs(1)), None);
        assert_eq!(step_with(&s, &next, json!({"next": ""}), &recs(1)), None);
    }

    #[test]
    fn link_header_next_is_parsed_among_other_relations() {
        let header = r#"<https://api.x/items?page=1>; rel="first", <https://api.x/items?page=3>; rel="next last""#;
        assert_eq!(
            link_target(header, "next").as_deref(),
            Some("https://api.x/items?page=3")
        );
        assert_eq!(
            link_target(header, "first").as_deref(),
            Some("https://api.x/items?page=1")
        );
        assert_eq!(link_target(header, "prev"), None);
        assert_eq!(link_target("garbage", "next"), None);
        let s = spec("{type: link_header}");
        let body = Value::Null;
        let next = step(
            &s,
            &StreamState::default(),
            &PageResponse {
                body: &body,
                link_header: Some(header),
                total_pages_header: None,
                records: &recs(1),
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!(next.page, Some(PageToken::Url("https://api.x/items?page=3".into())));
        assert_eq!(step_with(&s, &next, Value::Null, &recs(1)), None);
    }

    #[test]
    fn offset_advances_by_records_and_stops_on_a_short_page_or_total() {
        let s = spec("{type: offset, page_size: 2}");
        let first = StreamState::default();
        assert_eq!(
            page_vars(&s, &first),
            vec![("page.offset", json!(0)), ("page.size", json!(2))]
        );
        let next = step_with(&s, &first, Value::Null, &recs(2)).unwrap();
        assert_eq!(next.page, Some(PageToken::Offset(2)));
        assert_eq!(step_with(&s, &next, Value::Null, &recs(1)), None);
        assert_eq!(step_with(&s, &next, Value::Null, &[]), None);
        let s = spec("{type: offset, page_size: 2, total: /total}");
        let next = step_with(&s, &first, json!({"total": 3}), &recs(2)).unwrap();
        assert_eq!(step_with(&s, &next, json!({"total": 3}), &recs(2)), None);
    }

    #[test]
    fn offset_with_has_more_follows_the_flag_not_the_page_length() {
        let s = spec("{type: offset, page_size: 2, has_more: /hasMore}");
        let first = StreamState::default();
        // A full page that says nothing follows is the last: no extra empty request.
        assert_eq!(step_with(&s, &first, json!({"hasMore": false}), &recs(2)), None);
        // A short page that says more follow is not the last (the server capped the limit).
        let next = step_with(&s, &first, json!({"hasMore": true}), &recs(1)).unwrap();
        assert_eq!(next.page, Some(PageToken::Offset(1)));
        let next = step_with(&s, &next, json!({"hasMore": "true"}), &recs(2)).unwrap();
        assert_eq!(next.page, Some(PageToken::Offset(3)));
        // An absent flag ends the stream instead of looping.
        assert_eq!(step_with(&s, &next, json!({}), &recs(2)), None);
        // So does an empty page, whatever it says.
        assert_eq!(step_with(&s, &next, json!({"hasMore": true}), &[]), None);
    }

    #[test]
    fn page_number_counts_up_and_stops_on_a_short_page_or_total_pages() {
        let s = spec("{type: page_number, page_size: 2}");
        let first = StreamState::default();
        assert_eq!(page_vars(&s, &first)[0], ("page.number", json!(1)));
        let next = step_with(&s, &first, Value::Null, &recs(2)).unwrap();
        assert_eq!(next.page, Some(PageToken::Number(2)));
        assert_eq!(step_with(&s, &next, Value::Null, &recs(1)), None);
        let s = spec("{type: page_number, page_size: 2, start: 0, total_pages: /pages}");
        let next = step_with(&s, &first, json!({"pages": 2}), &recs(2)).unwrap();
        assert_eq!(next.page, Some(PageToken::Number(1)));
        assert_eq!(step_with(&s, &next, json!({"pages": 2}), &recs(2)), None);
    }

    fn step_with_header(
        spec: &PaginationSpec,
        state: &StreamState,
        header: Option<&str>,
        records: &[Value],
    ) -> Option<StreamState> {
        step(
            spec,
            state,
            &PageResponse {
                body: &json!([]),
                link_header: None,
                total_pages_header: header,
                records,
            },
        )
        .unwrap()
    }

    #[test]
    fn page_number_stops_at_the_total_page_count_of_a_header() {
        let s = spec("{type: page_number, page_size: 2, total_pages_header: X-WP-TotalPages}");
        let first = StreamState::default();
        // Full pages, yet the header says there are two: the second is the last.
        let second = step_with_header(&s, &first, Some("2"), &recs(2)).unwrap();
        assert_eq!(second.page, Some(PageToken::Number(2)));
        assert_eq!(step_with_header(&s, &second, Some("2"), &recs(2)), None);
        // More pages than the header's first answer: the latest answer counts.
        assert!(step_with_header(&s, &second, Some("3"), &recs(2)).is_some());
        // No header (or garbage): a short page is the last, a full one is not.
        assert!(step_with_header(&s, &first, None, &recs(2)).is_some());
        assert_eq!(step_with_header(&s, &first, Some("many"), &recs(1)), None);
    }

    #[test]
    fn page_number_stops_when_the_records_reach_the_total_count() {
        let s = spec("{type: page_number, page_size: 2, total: /total_count}");
        let first = StreamState::default();
        let second = step_with(&s, &first, json!({"total_count": 4}), &recs(2)).unwrap();
        // The second page reaches 4 records: no third request, which would repeat it.
        assert_eq!(step_with(&s, &second, json!({"total_count": 4}), &recs(2)), None);
        assert!(step_with(&s, &second, json!({"total_count": "5"}), &recs(2)).is_some());
        // Without the count, a full page asks for the next one.
        assert!(step_with(&s, &second, json!({}), &recs(2)).is_some());
    }

    #[test]
    fn no_pagination_reads_one_page() {
        assert_eq!(
            step_with(&PaginationSpec::None, &StreamState::default(), json!({}), &recs(5)),
            None
        );
    }

    #[test]
    fn the_same_token_twice_in_a_row_is_a_loop() {
        let s = spec("{type: cursor, token: /next}");
        let next = step_with(&s, &StreamState::default(), json!({"next": "a"}), &recs(1)).unwrap();
        let body = json!({"next": "a"});
        let err = step(
            &s,
            &next,
            &PageResponse {
                body: &body,
                link_header: None,
                total_pages_header: None,
                records: &recs(1),
            },
        )
        .unwrap_err();
        assert_eq!(err, PaginationError::RepeatedToken { page: 2 });
    }

    #[test]
    fn a_token_cycle_is_a_loop() {
        let s = spec("{type: next_url, pointer: /next}");
        let mut state = StreamState::default();
        for url in ["/a", "/b", "/c"] {
            state = step_with(&s, &state, json!({"next": url}), &recs(1)).unwrap();
        }
        let body = json!({"next": "/a"});
        let err = step(
            &s,
            &state,
            &PageResponse {
                body: &body,
                link_header: None,
                total_pages_header: None,
                records: &recs(1),
            },
        )
        .unwrap_err();
        assert!(matches!(err, PaginationError::RepeatedToken { .. }));
    }

    #[test]
    fn recent_tokens_are_bounded() {
        let s = spec("{type: cursor, token: /next}");
        let mut state = StreamState::default();
        for i in 0..100 {
            state = step_with(&s, &state, json!({"next": format!("t{i}")}), &recs(1)).unwrap();
        }
        assert_eq!(state.recent_tokens.len(), RECENT_TOKENS);
        assert_eq!(state.pages_read, 100);
    }

    #[test]
    fn the_page_cap_refuses_the_next_request() {
        let mut state = StreamState::default();
        assert!(check_before_request(&state, 2).is_ok());
        state.pages_read = 2;
        assert_eq!(
            check_before_request(&state, 2),
            Err(PaginationError::PageCap { max: 2 })
        );
    }

    #[test]
    fn a_non_scalar_token_is_an_error() {
        let s = spec("{type: cursor, token: /next}");
        let body = json!({"next": {"a": 1}});
        let err = step(
            &s,
            &StreamState::default(),
            &PageResponse {
                body: &body,
                link_header: None,
                total_pages_header: None,
                records: &[],
            },
        )
        .unwrap_err();
        assert_eq!(err, PaginationError::BadToken);
    }

    #[test]
    fn state_round_trips_through_json_and_keeps_since_and_max_cursor() {
        let s = spec("{type: cursor, token: /next}");
        let mut start = StreamState::incremental(Some("1700000000".into()));
        start.max_cursor = Some("1700000500".into());
        let next = step_with(&s, &start, json!({"next": "x"}), &recs(1)).unwrap();
        assert_eq!(next.since.as_deref(), Some("1700000000"));
        assert_eq!(next.max_cursor.as_deref(), Some("1700000500"));
        let text = serde_json::to_string(&next).unwrap();
        assert_eq!(serde_json::from_str::<StreamState>(&text).unwrap(), next);
        assert_eq!(
            serde_json::to_value(StreamState::default()).unwrap(),
            json!({"pages_read": 0})
        );
    }

    #[test]
    fn result_set_partitions_count_from_the_first_response_and_keep_the_handle() {
        let s = spec("{type: result_set, handle: /statementHandle, partitions: /resultSetMetaData/partitionInfo}");
        let first = StreamState::full_refresh();
        assert!(page_vars(&s, &first).is_empty());
        let body = json!({"statementHandle": "h-1", "resultSetMetaData": {"partitionInfo": [{}, {}, {}]}});
        let p1 = step_with(&s, &first, body, &recs(2)).unwrap();
        assert_eq!(
            page_vars(&s, &p1),
            vec![("page.handle", json!("h-1")), ("page.number", json!(1))]
        );
        // Later partitions carry only data: the handle and count come from the state.
        let p2 = step_with(&s, &p1, json!({"data": []}), &recs(2)).unwrap();
        assert_eq!(page_vars(&s, &p2)[1], ("page.number", json!(2)));
        assert_eq!(step_with(&s, &p2, json!({"data": []}), &recs(2)), None);
        // One partition: the first response is the whole result.
        let one = json!({"statementHandle": "h-2", "resultSetMetaData": {"partitionInfo": [{}]}});
        assert_eq!(step_with(&s, &first, one, &recs(2)), None);
    }

    #[test]
    fn result_set_tokens_follow_until_absent_and_a_missing_handle_is_an_error() {
        let s = spec("{type: result_set, handle: /jobReference/jobId, token: /pageToken}");
        let first = StreamState::full_refresh();
        let body = json!({"jobReference": {"jobId": "job_1"}, "pageToken": "t1"});
        let p1 = step_with(&s, &first, body, &recs(2)).unwrap();
        assert_eq!(
            page_vars(&s, &p1),
            vec![("page.handle", json!("job_1")), ("page.token", json!("t1"))]
        );
        let p2 = step_with(&s, &p1, json!({"pageToken": "t2"}), &recs(2)).unwrap();
        assert_eq!(page_vars(&s, &p2)[0], ("page.handle", json!("job_1")));
        assert_eq!(step_with(&s, &p2, json!({}), &recs(2)), None);
        let err = step(
            &s,
            &first,
            &PageResponse {
                body: &json!({"pageToken": "t1"}),
                link_header: None,
                total_pages_header: None,
                records: &recs(1),
            },
        )
        .unwrap_err();
        assert!(matches!(err, PaginationError::MissingToken(_)), "{err:?}");
        // The same token twice in one run is refused.
        let again = step(
            &s,
            &p2,
            &PageResponse {
                body: &json!({"pageToken": "t2"}),
                link_header: None,
                total_pages_header: None,
                records: &recs(1),
            },
        );
        assert!(matches!(again, Err(PaginationError::RepeatedToken { .. })), "{again:?}");
    }
}
