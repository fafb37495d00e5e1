//! The `imap:` section of a `kind: imap` definition: which mailboxes are streams, and how much
//! of each message a record carries. The server, the security and the login come from the
//! connection (see [`super::ImapClient::new`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::connector::compiled::Invalid;
use crate::connector::definition::{ConnectorDefinition, ConnectorKind};

/// A mailbox connector's streams.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapSpec {
    /// Readable streams, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub streams: BTreeMap<String, ImapStreamSpec>,
}

/// A stream: the messages of one mailbox in UID order, each a record (see
/// [`super::message::record`]). Its cursor is the mailbox's UIDVALIDITY and the last UID read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapStreamSpec {
    /// What the stream is, for people.
    #[serde(default)]
    pub description: String,

    /// The mailbox (`INBOX`); the connection's config `mailbox` overrides it. Printable
    /// ASCII: names outside it need IMAP's modified UTF-7, which is not supported.
    #[serde(default = "default_mailbox")]
    pub mailbox: String,

    /// Messages per page (a checkpoint after each).
    #[serde(default = "default_page_size")]
    pub page_size: u32,

    /// The most of a message fetched, in bytes (its headers and the start of its body): a
    /// larger message is read up to here and its record says `truncated: true`.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: u32,

    /// The most of the text body a record carries, in characters (`text_truncated` says
    /// when it was cut).
    #[serde(default = "default_max_text_chars")]
    pub max_text_chars: usize,
}

fn default_mailbox() -> String {
    "INBOX".into()
}
fn default_page_size() -> u32 {
    50
}
fn default_max_message_bytes() -> u32 {
    256 * 1024
}
fn default_max_text_chars() -> usize {
    32 * 1024
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Whether `name` can be sent as a mailbox name: printable ASCII, no quote or backslash
/// (sent as an IMAP quoted string), at most 200 characters.
pub fn mailbox_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && name
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

/// Checks the `imap:` section against the definition's kind.
pub fn validate(def: &ConnectorDefinition) -> Result<(), Invalid> {
    let imap = match (def.kind, &def.imap) {
        (ConnectorKind::Imap, Some(s)) => s,
        (ConnectorKind::Imap, None) => return Err(invalid("imap", "a `kind: imap` connector needs an `imap` section")),
        (_, Some(_)) => return Err(invalid("imap", "only a `kind: imap` connector has an `imap` section")),
        (_, None) => return Ok(()),
    };
    crate::connector::kind::refuse_http_fields(def, "imap")?;
    if imap.streams.is_empty() {
        return Err(invalid("imap.streams", "a mailbox connector needs at least one stream"));
    }
    for (name, stream) in &imap.streams {
        let at = format!("imap.streams.{name}");
        if !mailbox_name_ok(&stream.mailbox) {
            return Err(invalid(
                format!("{at}.mailbox"),
                "must be 1 to 200 printable ASCII characters without `\"` or `\\`",
            ));
        }
        if !(1..=1000).contains(&stream.page_size) {
            return Err(invalid(format!("{at}.page_size"), "must be between 1 and 1000"));
        }
        if !(1024..=25 * 1024 * 1024).contains(&stream.max_message_bytes) {
            return Err(invalid(
                format!("{at}.max_message_bytes"),
                "must be between 1024 and 26214400 (25 MiB)",
            ));
        }
        if !(1..=1024 * 1024).contains(&stream.max_text_chars) {
            return Err(invalid(format!("{at}.max_text_chars"), "must be between 1 and 1048576"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailbox_names_are_printable_ascii_without_quotes() {
        assert!(mailbox_name_ok("INBOX"));
        assert!(mailbox_name_ok("Support/Tickets 2024"));
        assert!(!mailbox_name_ok(""));
        assert!(!mailbox_name_ok("a\"b"));
        assert!(!mailbox_name_ok("a\\b"));
        assert!(!mailbox_name_ok("INBOX\r\nA1 DELETE INBOX"));
        assert!(!mailbox_name_ok("Überweisungen"));
        assert!(!mailbox_name_ok(&"x".repeat(201)));
    }
}
