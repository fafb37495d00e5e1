//! A mapped record into an email: recipients from its fields, subject and bodies from the
//! write's templates. Pure code; the reason a record cannot become a message is returned for
//! that record alone.

use std::borrow::Cow;

use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::Message;
use serde_json::Value;

use super::spec::SmtpWriteSpec;
use crate::connector::template::{Template, Vars};

/// The templates of one write, parsed once.
#[derive(Debug, Clone)]
pub struct Templates {
    subject: Template,
    text: Template,
    html: Option<Template>,
}

impl Templates {
    pub fn new(spec: &SmtpWriteSpec) -> Result<Self, String> {
        let parse = |t: &str| Template::parse(t).map_err(|e| e.to_string());
        Ok(Self {
            subject: parse(&spec.subject)?,
            text: parse(&spec.text)?,
            html: spec.html.as_deref().map(parse).transpose()?,
        })
    }
}

fn mailboxes(record: &Value, field: &str) -> Result<Vec<Mailbox>, String> {
    let values: Vec<&Value> = match record.get(field) {
        None | Some(Value::Null) => return Err(format!("the mapped record has no `{field}`")),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one) => vec![one],
    };
    if values.is_empty() {
        return Err(format!("`{field}` lists no address"));
    }
    values
        .into_iter()
        .map(|v| {
            let text = v
                .as_str()
                .ok_or_else(|| format!("`{field}` holds a value that is not an address"))?;
            text.parse::<Mailbox>().map_err(|_| {
                format!(
                    "`{field}`: `{}` is not an email address",
                    text.chars().take(80).collect::<String>().escape_debug()
                )
            })
        })
        .collect()
}

fn render(template: &Template, vars: &Vars<'_>, what: &str) -> Result<String, String> {
    let names: Vec<String> = template.vars().map(|v| v.to_string()).collect();
    template.render(vars, false).ok_or_else(|| {
        format!(
            "the {what} template needs a value the record lacks (one of: {})",
            names.join(", ")
        )
    })
}

/// The message for `record`, with `message_id` as its Message-ID, or why there is none.
pub fn build(
    spec: &SmtpWriteSpec,
    templates: &Templates,
    from: &Mailbox,
    config: &Value,
    record: &Value,
    message_id: &str,
) -> Result<Message, String> {
    if !record.is_object() {
        return Err("the mapped record is not a JSON object".into());
    }
    let mut vars = Vars::new();
    vars.root("record", Cow::Borrowed(record));
    vars.root("config", Cow::Borrowed(config));
    let subject = render(&templates.subject, &vars, "subject")?;
    if subject.contains(['\r', '\n']) {
        return Err("the subject holds a line break".into());
    }
    let text = render(&templates.text, &vars, "text")?;
    let mut builder = Message::builder()
        .from(from.clone())
        .subject(subject)
        .message_id(Some(message_id.to_owned()));
    for to in mailboxes(record, &spec.to)? {
        builder = builder.to(to);
    }
    if let Some(cc) = &spec.cc {
        if record.get(cc).is_some_and(|v| !v.is_null()) {
            for to in mailboxes(record, cc)? {
                builder = builder.cc(to);
            }
        }
    }
    let built = match &templates.html {
        Some(html) => {
            let html = render(html, &vars, "html")?;
            builder.multipart(MultiPart::alternative_plain_html(text, html))
        }
        None => builder.singlepart(SinglePart::plain(text)),
    };
    built.map_err(|e| format!("the message cannot be built: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> SmtpWriteSpec {
        SmtpWriteSpec {
            description: String::new(),
            to: "to".into(),
            cc: Some("cc".into()),
            subject: "[{{ config.env }}] {{ record.subject }}".into(),
            text: "Hello {{ record.name }},\n{{ record.body }}".into(),
            html: None,
        }
    }

    fn build_for(record: Value) -> Result<String, String> {
        let spec = spec();
        let templates = Templates::new(&spec).expect("templates parse");
        let from: Mailbox = "Switchyard <alerts@example.com>".parse().expect("an address");
        build(
            &spec,
            &templates,
            &from,
            &json!({"env": "prod"}),
            &record,
            "<m1@switchyard>",
        )
        .map(|m| String::from_utf8_lossy(&m.formatted()).into_owned())
    }

    #[test]
    fn a_record_becomes_a_templated_message() {
        let text = build_for(json!({"to": ["ops@example.com", "Ada <ada@example.com>"], "cc": null,
            "subject": "Flow failed", "name": "Ops", "body": "3 records parked."}))
        .expect("a message");
        assert!(text.contains("Subject: [prod] Flow failed"), "{text}");
        assert!(text.contains("To: ops@example.com, Ada <ada@example.com>"), "{text}");
        assert!(text.contains("Message-ID: <m1@switchyard>"), "{text}");
        assert!(text.contains("Hello Ops,\r\n3 records parked."), "{text}");
    }

    #[test]
    fn a_record_that_cannot_be_a_message_says_why() {
        let e = build_for(json!({"subject": "x", "name": "n", "body": "b"})).expect_err("no recipient");
        assert_eq!(e, "the mapped record has no `to`");
        let e = build_for(json!({"to": "not an address", "subject": "x", "name": "n", "body": "b"})).expect_err("bad");
        assert!(e.contains("is not an email address"), "{e}");
        let e = build_for(json!({"to": "a@example.com", "name": "n", "body": "b"})).expect_err("no subject");
        assert!(e.contains("record.subject"), "{e}");
        let e = build_for(
            json!({"to": "a@example.com", "subject": "x\r\nBcc: evil@example.com", "name": "n", "body": "b"}),
        )
        .expect_err("header injection");
        assert_eq!(e, "the subject holds a line break");
    }
}
