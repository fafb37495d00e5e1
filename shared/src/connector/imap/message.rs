//! A fetched message as a record: its headers, its text and what it carries, decoded by
//! `mail-parser`. Pure: bytes in, JSON out.
//!
//! ```json
//! {"id": "1700000000:0000000042", "uid": 42, "uidvalidity": 1700000000, "mailbox": "INBOX",
//!  "message_id": "abc@example.com", "in_reply_to": null,
//!  "from": {"name": "Ada", "address": "ada@example.com"},
//!  "to": [{"name": null, "address": "support@example.com"}], "cc": [], "reply_to": [],
//!  "subject": "Printer on fire", "date": "2024-05-02T11:17:33Z",
//!  "received_at": "2024-05-02T11:17:35Z",
//!  "text": "It is on fire.", "text_truncated": false,
//!  "size": 1843, "truncated": false,
//!  "attachments": [{"filename": "photo.jpg", "content_type": "image/jpeg", "size": 10240}]}
//! ```
//!
//! `date` is the Date header (UTC), or the server's arrival time when the header is missing or
//! unreadable; `received_at` is always the arrival time. `text` is the first plain-text body
//! (or the HTML body converted to text), cut at the stream's `max_text_chars`. A message larger
//! than the stream's `max_message_bytes` is read only that far: `truncated` is then true, and
//! its later parts (attachments too) may be missing.

use mail_parser::{Address, MessageParser, MimeHeaders};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;

use super::position::Position;

/// What the server answered for one message.
#[derive(Debug, Clone)]
pub struct Fetched<'a> {
    pub position: Position,
    pub mailbox: &'a str,
    /// `RFC822.SIZE`: the whole message's size.
    pub size: Option<u32>,
    /// `INTERNALDATE`, unix seconds.
    pub internal_date: Option<i64>,
    /// The message as fetched: whole, or its first `max_message_bytes`.
    pub raw: &'a [u8],
}

fn utc(secs: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
}

fn addresses(list: Option<&Address<'_>>) -> Vec<Value> {
    list.map(|a| {
        a.iter()
            .map(|addr| json!({"name": addr.name(), "address": addr.address()}))
            .collect()
    })
    .unwrap_or_default()
}

/// Cuts `text` to `max` characters; whether it was cut.
fn cut(text: &str, max: usize) -> (String, bool) {
    match text.char_indices().nth(max) {
        Some((at, _)) => (text[..at].to_owned(), true),
        None => (text.to_owned(), false),
    }
}

/// The record of a fetched message; `Err` (the reason) when the bytes are not a message.
pub fn record(f: &Fetched<'_>, max_text_chars: usize) -> Result<Value, String> {
    if f.raw.is_empty() {
        return Err("the server sent no content for this message".into());
    }
    let message = MessageParser::default()
        .parse(f.raw)
        .ok_or_else(|| "the message could not be parsed".to_owned())?;
    let received_at = f.internal_date.and_then(utc);
    let date = message
        .date()
        .and_then(|d| utc(d.to_timestamp()))
        .or_else(|| received_at.clone());
    let (text, text_truncated) = match message.body_text(0) {
        Some(t) => {
            let (t, cut_short) = cut(t.trim_end(), max_text_chars);
            (Some(t), cut_short)
        }
        None => (None, false),
    };
    let attachments: Vec<Value> = message
        .attachments()
        .map(|part| {
            let content_type = part.content_type().map(|c| match c.subtype() {
                Some(sub) => format!("{}/{}", c.ctype(), sub),
                None => c.ctype().to_owned(),
            });
            json!({"filename": part.attachment_name(), "content_type": content_type, "size": part.len()})
        })
        .collect();
    let truncated = f.size.is_some_and(|s| (s as usize) > f.raw.len());
    Ok(json!({
        "id": f.position.encode(),
        "uid": f.position.uid,
        "uidvalidity": f.position.validity,
        "mailbox": f.mailbox,
        "message_id": message.message_id(),
        "in_reply_to": message.in_reply_to().as_text(),
        "from": addresses(message.from()).into_iter().next(),
        "to": addresses(message.to()),
        "cc": addresses(message.cc()),
        "reply_to": addresses(message.reply_to()),
        "subject": message.subject(),
        "date": date,
        "received_at": received_at,
        "text": text,
        "text_truncated": text_truncated,
        "size": f.size,
        "truncated": truncated,
        "attachments": attachments,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const POSITION: Position = Position { validity: 7, uid: 3 };

    fn fetched(raw: &[u8]) -> Fetched<'_> {
        Fetched {
            position: POSITION,
            mailbox: "INBOX",
            size: Some(raw.len() as u32),
            internal_date: Some(1_714_648_655),
            raw,
        }
    }

    const MULTIPART: &str = "From: \"Ada Lovelace\" <ada@example.com>\r\n\
To: support@example.com, Bob <bob@example.com>\r\n\
Cc: ops@example.com\r\n\
Subject: =?UTF-8?Q?Drucker_=C3=BCberhitzt?=\r\n\
Date: Thu, 02 May 2024 13:17:33 +0200\r\n\
Message-ID: <abc@example.com>\r\n\
In-Reply-To: <prev@example.com>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
\r\n\
--b1\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
The printer is =C3=BCberhitzt.\r\n\
--b1\r\n\
Content-Type: application/pdf; name=\"report.pdf\"\r\n\
Content-Disposition: attachment; filename=\"report.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
JVBERi0xLjQK\r\n\
--b1--\r\n";

    #[test]
    fn a_multipart_message_becomes_headers_text_and_attachment_metadata() {
        let r = record(&fetched(MULTIPART.as_bytes()), 1000).expect("parses");
        assert_eq!(r["id"], "0000000007:0000000003");
        assert_eq!((r["uid"].as_u64(), r["uidvalidity"].as_u64()), (Some(3), Some(7)));
        assert_eq!(r["from"], json!({"name": "Ada Lovelace", "address": "ada@example.com"}));
        assert_eq!(
            r["to"],
            json!([{"name": null, "address": "support@example.com"}, {"name": "Bob", "address": "bob@example.com"}])
        );
        assert_eq!(r["cc"][0]["address"], "ops@example.com");
        assert_eq!(r["subject"], "Drucker überhitzt");
        assert_eq!(r["date"], "2024-05-02T11:17:33Z", "the Date header, in UTC");
        assert_eq!(r["received_at"], "2024-05-02T11:17:35Z");
        assert_eq!(r["message_id"], "abc@example.com");
        assert_eq!(r["in_reply_to"], "prev@example.com");
        assert_eq!(r["text"], "The printer is überhitzt.");
        assert_eq!(
            (r["text_truncated"].as_bool(), r["truncated"].as_bool()),
            (Some(false), Some(false))
        );
        assert_eq!(
            r["attachments"],
            json!([{"filename": "report.pdf", "content_type": "application/pdf", "size": 9}])
        );
    }

    #[test]
    fn long_text_and_large_messages_are_bounded_and_say_so() {
        let raw = "From: a@example.com\r\nSubject: long\r\n\r\nüüüüüüüüüü\r\n";
        let r = record(&fetched(raw.as_bytes()), 4).expect("parses");
        assert_eq!(r["text"], "üüüü");
        assert_eq!(r["text_truncated"], true);
        let mut f = fetched(raw.as_bytes());
        f.size = Some(10_000_000);
        let r = record(&f, 100).expect("a cut message still parses");
        assert_eq!(r["truncated"], true);
        assert_eq!(r["size"], 10_000_000);
    }

    #[test]
    fn a_message_without_a_date_takes_its_arrival_time_and_empty_content_is_refused() {
        let r = record(&fetched(b"Subject: no date\r\n\r\nhi\r\n"), 100).expect("parses");
        assert_eq!(r["date"], "2024-05-02T11:17:35Z");
        assert_eq!(r["from"], Value::Null);
        assert_eq!(r["to"], json!([]));
        assert!(record(&fetched(b""), 100).is_err());
    }
}
