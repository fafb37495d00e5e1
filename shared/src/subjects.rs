//! People whose data Switchyard holds (data subjects, for GDPR / CCPA export and erasure),
//! identified by email address. Pure code: finding addresses in bodies and records, and the
//! subject key items are indexed under.
//!
//! **How a person's items are found without a table scan.** Every item that can carry a
//! person's data and is written per record or per event carries, on itself, the keys of the
//! `gsi1` index: `gsi1pk = SUBJ#<tenant>#<digest of the address>`, `gsi1sk` naming the item
//! (`EVT#...`, `REC#...`, `REVIEW#...`, `DLV#...`, `OUTBOX#...`). The address is the first one
//! the item holds (see [`emails_in_bytes`]). Writing it costs no request: the receiver's one
//! conditional `PutItem` per event, the sync's link `BatchWriteItem`, the review queue's
//! `PutItem`, connector-sync's delivery-log `PutItem` (an outbound webhook's payload: a
//! `record.*` event carries the record written) and the outbox's `BatchWriteItem` carry two
//! more attributes. An export or erasure is then one `Query` of the tenant's subject partition.
//!
//! **Second addresses.** An item is indexed on itself under its first address; each further
//! address (a `cc`, an invitee list, a record's second email field; up to ten) gets a pointer
//! item in its own partition ([`crate::store::subjects::pointer_item`]), so a person is found by
//! any of their addresses. Pointers cost a `BatchWriteItem` only for items with more than one
//! address, and never on the receiver's warm path: an event's pointers are written by
//! connector-sync when it first takes the event (so the receiver keeps its one write and one
//! send), a record link's beside the link by the sync that writes it, a review item's when it
//! is parked, a webhook delivery's and an outbox item's in the same `BatchWriteItem` as the
//! item (instead of its `PutItem`), with its TTL. `switchyard subjects backfill` writes the
//! pointers an item lacks (items it indexes, and events parked before connector-sync took
//! them).
//!
//! Trade-offs, said plainly:
//! - An event whose message never reaches connector-sync (parked before its first delivery
//!   was processed) has no pointers until the backfill writes them; it is found by its first
//!   address only.
//! - A webhook delivery queued on SQS when its person is erased is not on the table to erase:
//!   a retry whose log item is gone is dropped (the item is written before a retry is
//!   queued), and a first attempt finds the erasure marker the erasure leaves for 14 days
//!   (SQS's longest retention; see [`crate::store::subjects`]) and is dropped. The marker holds
//!   the address's digest and the time: like the audit entry, it says that someone with that
//!   digest was erased, to whoever guesses the address.
//! - Erasing a person removes the items found and the person's pointers; the pointers other
//!   addresses hold to a removed item are left (they hold no personal data, events' expire with
//!   the event's TTL) and are skipped, and removed by that address's own erasure.
//! - Items written before the index existed are not indexed (events expire with their TTL;
//!   links are indexed when next written).
//! - Dead letters are not indexed: they are few (one index partition, which `GET
//!   /v1/dead-letters` already reads whole), so a subject's dead letters are that bounded read,
//!   filtered to the tenant and to those whose message or errors hold the address, plus the
//!   dead letters of the subject's events by key.
//! - The digest is SHA-256 of the normalised address (its first 128 bits, hex): it keeps the
//!   address out of keys and audit entries, but it is not anonymous against someone who guesses
//!   the address.

use sha2::{Digest, Sha256};

/// The `gsi1pk` prefix of subject partitions.
pub const SUBJECT_PREFIX: &str = "SUBJ#";

/// The longest address (RFC 5321's path limit).
const MAX_EMAIL: usize = 254;

/// `ada@example.com`, `  Ada@Example.COM `: trimmed and lower-cased, when it is one address and
/// nothing else.
pub fn normalise(email: &str) -> Option<String> {
    let lower = email.trim().to_lowercase();
    match emails_in_text(&lower).as_slice() {
        [one] if *one == lower => Some(lower),
        _ => None,
    }
}

/// The digest of a normalised address: hex of the first 16 bytes of its SHA-256.
pub fn digest(email: &str) -> String {
    hex::encode(&Sha256::digest(email.as_bytes())[..16])
}

/// The `gsi1pk` of a tenant's subject partition for a normalised address.
pub fn subject_key(tenant: &str, email: &str) -> String {
    format!("{SUBJECT_PREFIX}{tenant}#{}", digest(email))
}

/// The subject key of the first address in `body` (any format: JSON, form-encoded, XML, text).
pub fn subject_of_bytes(tenant: &str, body: &[u8]) -> Option<String> {
    if tenant.is_empty() {
        return None;
    }
    first_email_in_bytes(body).map(|e| subject_key(tenant, &e))
}

/// The subject key of the first address among a record's string values.
pub fn subject_of_value(tenant: &str, value: &serde_json::Value) -> Option<String> {
    if tenant.is_empty() {
        return None;
    }
    first_email_in_value(value).map(|e| subject_key(tenant, &e))
}

/// The subject keys of every address among a record's strings after the first (its own
/// subject), in document order, at most [`crate::store::subjects::MAX_OTHER_ADDRESSES`].
pub fn other_subjects_of_value(tenant: &str, value: &serde_json::Value) -> Vec<String> {
    let mut emails = Vec::new();
    emails_in_value(value, &mut emails);
    others(tenant, emails)
}

/// A record's own subject key (its first address) and the keys of its further addresses,
/// from one walk of its strings: what [`subject_of_value`] and [`other_subjects_of_value`]
/// return, for the sync's written records, which need both.
pub fn subject_and_others_of_value(tenant: &str, value: &serde_json::Value) -> (Option<String>, Vec<String>) {
    if tenant.is_empty() {
        return (None, Vec::new());
    }
    let mut emails = Vec::new();
    emails_in_value(value, &mut emails);
    let own = emails.first().map(|e| subject_key(tenant, e));
    (own, others(tenant, emails))
}

/// The subject keys of every address in a body after the first.
pub fn other_subjects_of_bytes(tenant: &str, body: &[u8]) -> Vec<String> {
    if !body.contains(&b'@') && !contains(body, b"%40") {
        return Vec::new();
    }
    others(tenant, emails_in_bytes(body))
}

/// The subject keys of every address among a record's strings, in document order (the first
/// is its own subject).
pub fn subjects_of_value(tenant: &str, value: &serde_json::Value) -> Vec<String> {
    let mut emails = Vec::new();
    emails_in_value(value, &mut emails);
    keys(tenant, emails)
}

/// The subject keys of every address in a body, in order of first appearance.
pub fn subjects_of_bytes(tenant: &str, body: &[u8]) -> Vec<String> {
    if !body.contains(&b'@') && !contains(body, b"%40") {
        return Vec::new();
    }
    keys(tenant, emails_in_bytes(body))
}

fn keys(tenant: &str, emails: Vec<String>) -> Vec<String> {
    if tenant.is_empty() {
        return Vec::new();
    }
    emails.into_iter().map(|e| subject_key(tenant, &e)).collect()
}

fn others(tenant: &str, emails: Vec<String>) -> Vec<String> {
    if tenant.is_empty() {
        return Vec::new();
    }
    emails
        .into_iter()
        .skip(1)
        .take(crate::store::subjects::MAX_OTHER_ADDRESSES)
        .map(|e| subject_key(tenant, &e))
        .collect()
}

fn emails_in_value(value: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match value {
        Value::String(s) => {
            for e in emails_in_text(s) {
                if !out.contains(&e) {
                    out.push(e);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| emails_in_value(v, out)),
        Value::Object(map) => map.values().for_each(|v| emails_in_value(v, out)),
        _ => {}
    }
}

/// The first address among `value`'s strings, depth first in document order.
pub fn first_email_in_value(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(s) => next_email(s.as_bytes(), &mut 0),
        Value::Array(items) => items.iter().find_map(first_email_in_value),
        Value::Object(map) => map.values().find_map(first_email_in_value),
        _ => None,
    }
}

/// The first address in a body. A body with `%40` (form-encoded) is percent-decoded first.
/// The same address as the first of [`emails_in_bytes`], found without reading past it.
pub fn first_email_in_bytes(body: &[u8]) -> Option<String> {
    if contains(body, b"%40") {
        let decoded: Vec<u8> = percent_encoding::percent_decode(body).collect();
        next_email(&decoded, &mut 0)
    } else {
        next_email(body, &mut 0)
    }
}

/// Every address in a body, lower-cased, in order of first appearance.
pub fn emails_in_bytes(body: &[u8]) -> Vec<String> {
    if contains(body, b"%40") {
        let decoded: Vec<u8> = percent_encoding::percent_decode(body).collect();
        scan(&decoded)
    } else {
        scan(body)
    }
}

/// Every address in a text, lower-cased, in order of first appearance.
pub fn emails_in_text(text: &str) -> Vec<String> {
    scan(text.as_bytes())
}

/// Whether a text holds the normalised address as a whole address (in any case; not as part
/// of a longer one).
pub fn text_holds(text: &str, email: &str) -> bool {
    let lower = text.to_lowercase();
    lower.contains(email) && emails_in_text(&lower).iter().any(|e| e == email)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

fn local_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-')
}

fn domain_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

/// Finds addresses around each `@`: a local part of letters, digits and `._+-`, a domain of
/// dot-separated labels whose last is at least two letters. Quoted local parts and non-ASCII
/// addresses are not recognised.
fn scan(bytes: &[u8]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut at = 0;
    while let Some(email) = next_email(bytes, &mut at) {
        if !out.contains(&email) {
            out.push(email);
        }
    }
    out
}

/// The next address (lower-cased) around an `@` at or after `*at`; `*at` moves past that `@`.
fn next_email(bytes: &[u8], at: &mut usize) -> Option<String> {
    while let Some(offset) = memchr::memchr(b'@', &bytes[*at..]) {
        let i = *at + offset;
        *at = i + 1;
        let mut start = i;
        while start > 0 && local_char(bytes[start - 1]) {
            start -= 1;
        }
        while start < i && bytes[start] == b'.' {
            start += 1;
        }
        let mut end = i + 1;
        while end < bytes.len() && domain_char(bytes[end]) {
            end += 1;
        }
        while end > i + 1 && matches!(bytes[end - 1], b'.' | b'-') {
            end -= 1;
        }
        if start == i || end <= i + 1 || end - start > MAX_EMAIL || !domain_ok(&bytes[i + 1..end]) {
            continue;
        }
        return Some(String::from_utf8_lossy(&bytes[start..end]).to_ascii_lowercase());
    }
    None
}

/// At least two dot-separated labels, none empty, the last at least two letters.
fn domain_ok(domain: &[u8]) -> bool {
    let mut labels = 0;
    let mut last: &[u8] = &[];
    for label in domain.split(|b| *b == b'.') {
        if label.is_empty() {
            return false;
        }
        labels += 1;
        last = label;
    }
    labels >= 2 && last.len() >= 2 && last.iter().all(u8::is_ascii_alphabetic)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn addresses_are_trimmed_and_lower_cased_and_anything_else_is_refused() {
        assert_eq!(normalise("  Ada@Example.COM ").as_deref(), Some("ada@example.com"));
        assert_eq!(
            normalise("ada+tag@mail.example.co.uk").as_deref(),
            Some("ada+tag@mail.example.co.uk")
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "ada@example.c0m",
            "a b@example.com",
            "ada@x.com, bob@y.com",
        ] {
            assert_eq!(normalise(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn addresses_are_found_in_json_form_and_text_bodies_in_order() {
        let json = br#"{"id":"evt_1","data":{"object":{"email":"Ada@Example.com","cc":["bob@example.org"]}}}"#;
        assert_eq!(emails_in_bytes(json), ["ada@example.com", "bob@example.org"]);
        let form = b"type=subscribe&data%5Bemail%5D=ada%2Btag%40example.com&data%5Bmerges%5D%5BFNAME%5D=Ada";
        assert_eq!(first_email_in_bytes(form).as_deref(), Some("ada+tag@example.com"));
        assert_eq!(
            emails_in_bytes(b"<Email>ada@example.com.</Email> ada@example.com"),
            ["ada@example.com"]
        );
        assert_eq!(first_email_in_bytes(b"{\"handle\":\"@ada\",\"at\":\"x@y\"}"), None);
        assert_eq!(first_email_in_bytes(b""), None);
    }

    #[test]
    fn the_first_address_skips_what_is_not_one_and_matches_the_full_scan() {
        for body in [
            &b"{\"handle\":\"@ada\",\"at\":\"x@y\",\"e\":\"Bob@Example.org\",\"f\":\"ada@example.com\"}"[..],
            b"a@b.c1 .ada@-x.example.com- z@x..com y@example.com",
            b"to=ada%40example.com&cc=bob@example.org",
            b"no address here",
        ] {
            assert_eq!(first_email_in_bytes(body), emails_in_bytes(body).into_iter().next());
        }
        assert_eq!(
            first_email_in_bytes(b"{\"handle\":\"@ada\",\"at\":\"x@y\",\"e\":\"Bob@Example.org\"}").as_deref(),
            Some("bob@example.org")
        );
        assert_eq!(
            first_email_in_bytes(b"to=ada%40example.com&cc=bob@example.org").as_deref(),
            Some("ada@example.com")
        );
    }

    #[test]
    fn a_records_first_address_is_its_subject_and_the_key_holds_no_address() {
        let record = json!({"id": 7, "properties": {"firstname": "Ada", "email": "ADA@example.com"}});
        assert_eq!(first_email_in_value(&record).as_deref(), Some("ada@example.com"));
        let key = subject_of_value("acme", &record).unwrap();
        assert_eq!(key, subject_key("acme", "ada@example.com"));
        assert!(key.starts_with("SUBJ#acme#") && !key.contains("ada"), "{key}");
        assert_eq!(key.len(), "SUBJ#acme#".len() + 32);
        assert_ne!(
            subject_key("acme", "ada@example.com"),
            subject_key("other", "ada@example.com")
        );
        assert_eq!(subject_of_value("", &record), None, "no tenant, no subject");
        assert_eq!(subject_of_value("acme", &json!({"n": 1})), None);
    }

    #[test]
    fn a_text_holds_an_address_only_as_a_whole_address() {
        assert!(text_holds("bad email Ada@Example.com refused", "ada@example.com"));
        assert!(!text_holds("bad email ada@example.com.au refused", "ada@example.com"));
        assert!(!text_holds("bad email xada@example.com refused", "ada@example.com"));
    }

    #[test]
    fn every_address_after_the_first_gets_its_own_subject_key() {
        // Keys in their map order (`cc` < `email` < `note`): bob is this record's first.
        let record = json!({"cc": ["bob@example.org", "Ada@example.com"], "email": "ada@example.com", "note": "ask eve@example.net"});
        assert_eq!(first_email_in_value(&record).as_deref(), Some("bob@example.org"));
        assert_eq!(
            other_subjects_of_value("acme", &record),
            [
                subject_key("acme", "ada@example.com"),
                subject_key("acme", "eve@example.net")
            ]
        );
        assert_eq!(
            other_subjects_of_bytes("acme", br#"{"to":"ada@example.com","cc":"bob@example.org"}"#),
            [subject_key("acme", "bob@example.org")]
        );
        assert!(other_subjects_of_value("acme", &json!({"email": "ada@example.com"})).is_empty());
        assert!(other_subjects_of_bytes("", b"a@example.com b@example.com").is_empty());
        let many: Vec<String> = (0..30).map(|i| format!("p{i}@example.com")).collect();
        assert_eq!(
            other_subjects_of_value("acme", &json!(many)).len(),
            crate::store::subjects::MAX_OTHER_ADDRESSES
        );
    }

    #[test]
    fn one_walk_gives_the_same_subject_and_further_keys_as_the_two_separate_ones() {
        let many: Vec<String> = (0..30).map(|i| format!("p{i}@example.com")).collect();
        for record in [
            json!({"cc": ["bob@example.org", "Ada@example.com"], "email": "ada@example.com", "note": "ask eve@example.net"}),
            json!({"email": "ada@example.com"}),
            json!({"n": 1, "handle": "@ada"}),
            json!(many),
        ] {
            let (own, others) = subject_and_others_of_value("acme", &record);
            assert_eq!(own, subject_of_value("acme", &record), "{record}");
            assert_eq!(others, other_subjects_of_value("acme", &record), "{record}");
        }
        let (own, others) = subject_and_others_of_value("acme", &json!({"a": "x@example.com", "b": "y@example.com"}));
        assert_eq!(own.as_deref(), Some(subject_key("acme", "x@example.com").as_str()));
        assert_eq!(others, [subject_key("acme", "y@example.com")]);
        assert_eq!(
            subject_and_others_of_value("", &json!({"a": "x@example.com", "b": "y@example.com"})),
            (None, Vec::new()),
            "no tenant, no subjects"
        );
    }
}
