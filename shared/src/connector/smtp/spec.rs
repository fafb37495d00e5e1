//! The `smtp:` section of a `kind: smtp` definition: write operations that send one templated
//! email per mapped record. The server, the security and the sender come from the
//! connection's config (see [`super::SmtpClient::new`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::connector::compiled::Invalid;
use crate::connector::definition::{ConnectorDefinition, ConnectorKind};
use crate::connector::template::Template;

/// An email connector's writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSpec {
    /// Write operations, by name (`alert.send`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub writes: BTreeMap<String, SmtpWriteSpec>,
}

/// A write: each mapped record is one message. Templates read the mapped record as
/// `{{ record.<field> }}` and the connection's config as `{{ config.<name> }}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpWriteSpec {
    /// What the write does, for people.
    #[serde(default)]
    pub description: String,

    /// The mapped record's field holding the recipients: an address or a list of them.
    #[serde(default = "default_to")]
    pub to: String,

    /// The mapped record's field holding copy recipients, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cc: Option<String>,

    /// The subject template.
    pub subject: String,

    /// The plain-text body template.
    pub text: String,

    /// An HTML body template, sent beside the text (multipart/alternative). Values are
    /// inserted as they are: map them to HTML-safe text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
}

fn default_to() -> String {
    "to".into()
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Checks the `smtp:` section against the definition's kind, and its templates.
pub fn validate(def: &ConnectorDefinition) -> Result<(), Invalid> {
    let smtp = match (def.kind, &def.smtp) {
        (ConnectorKind::Smtp, Some(s)) => s,
        (ConnectorKind::Smtp, None) => return Err(invalid("smtp", "a `kind: smtp` connector needs an `smtp` section")),
        (_, Some(_)) => return Err(invalid("smtp", "only a `kind: smtp` connector has an `smtp` section")),
        (_, None) => return Ok(()),
    };
    crate::connector::kind::refuse_http_fields(def, "smtp")?;
    if smtp.writes.is_empty() {
        return Err(invalid("smtp.writes", "an email connector needs at least one write"));
    }
    for (name, write) in &smtp.writes {
        let at = format!("smtp.writes.{name}");
        let templates = [
            ("subject", Some(&write.subject)),
            ("text", Some(&write.text)),
            ("html", write.html.as_ref()),
        ];
        for (field, text) in templates {
            let Some(text) = text else { continue };
            let template = Template::parse(text).map_err(|e| invalid(format!("{at}.{field}"), e.to_string()))?;
            let stray = template
                .vars()
                .find(|v| !matches!(v.root(), "record" | "config"))
                .map(|v| v.to_string());
            if let Some(v) = stray {
                return Err(invalid(
                    format!("{at}.{field}"),
                    format!("`{{{{ {v} }}}}`: a message template reads only `record.*` and `config.*`"),
                ));
            }
        }
        if write.to.is_empty() {
            return Err(invalid(format!("{at}.to"), "must name the record's recipients field"));
        }
    }
    Ok(())
}
