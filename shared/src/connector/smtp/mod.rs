//! `kind: smtp` connectors: email as a destination through `lettre`, behind the same
//! [`super::kind::KindClient`] calls as the other kinds. Each mapped record is one message
//! whose recipients come from its fields and whose subject and bodies come from the write's
//! templates ([`message`]).
//!
//! The connection's config: `host` (required, checked by the network guard like any
//! configured URL), `port` (default 587 for `starttls`, 465 for `tls`, 25 for `plain`),
//! `security`: `starttls` (the default: the connection must upgrade, or nothing is sent),
//! `tls` (implicit TLS) or `plain` (no encryption: only where private networks are allowed,
//! i.e. loopback tests and local relays), and `from` (the sender, required). Credentials:
//! `username` and `password` in the connection's secret, or none (no AUTH).
//!
//! A record that cannot become a message, or that the server refuses with a permanent
//! (5xx) reply, fails alone; a transient (4xx) reply fails that record for a retry; the
//! server unreachable before anything was sent fails the whole batch as transient.

pub mod message;
pub mod spec;

use std::time::Instant;

use futures::future::BoxFuture;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials as SmtpCredentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::ExposeSecret;
use serde_json::{Map, Value};

use super::auth::Credentials;
use super::client::{CheckReport, ClientSettings, Page};
use super::definition::{ConnectorDefinition, CursorKind};
use super::errors::{ConnectorError, ErrorClass, ErrorKind};
use super::pagination::StreamState;
use super::write::WriteResult;
pub use spec::{SmtpSpec, SmtpWriteSpec};

/// How the connection to the server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    StartTls,
    Tls,
    Plain,
}

/// A `kind: smtp` definition bound to one connection.
pub struct SmtpClient {
    connector: String,
    spec: SmtpSpec,
    host: String,
    port: u16,
    security: Security,
    from: Mailbox,
    config: Value,
    allow_private_network: bool,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    authenticated: bool,
}

impl std::fmt::Debug for SmtpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpClient")
            .field("connector", &self.connector)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .finish()
    }
}

fn text<'c>(
    def: &ConnectorDefinition,
    config: &'c Map<String, Value>,
    key: &str,
) -> Result<Option<&'c str>, ConnectorError> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(ConnectorError::config(format!(
            "connector `{}`: config `{key}` must be a string",
            def.id
        ))),
    }
}

impl SmtpClient {
    /// Binds `def` (of `kind: smtp`) to a connection. No I/O: the server is reached on the
    /// first send or check.
    pub fn new(
        def: &ConnectorDefinition,
        settings: &ClientSettings,
        credentials: &Credentials,
    ) -> Result<Self, ConnectorError> {
        let spec = def
            .smtp
            .clone()
            .ok_or_else(|| ConnectorError::config(format!("connector `{}` has no `smtp` section", def.id)))?;
        let config = &settings.config;
        let host = text(def, config, "host")?
            .filter(|h| !h.is_empty())
            .ok_or_else(|| {
                ConnectorError::config(format!("connector `{}` needs `host` in the connection config", def.id))
            })?
            .to_owned();
        let security = match text(def, config, "security")?.unwrap_or("starttls") {
            "starttls" => Security::StartTls,
            "tls" => Security::Tls,
            "plain" => Security::Plain,
            other => {
                return Err(ConnectorError::config(format!(
                    "connector `{}`: config `security` is `{}`: use `starttls`, `tls` or `plain`",
                    def.id,
                    other.escape_debug()
                )))
            }
        };
        if security == Security::Plain && !settings.allow_private_network {
            return Err(ConnectorError::config(format!(
                "connector `{}`: `security: plain` sends mail and passwords unencrypted; it is allowed only where private networks are (local relays, tests)",
                def.id
            )));
        }
        let port = match config.get("port") {
            None | Some(Value::Null) => match security {
                Security::StartTls => 587,
                Security::Tls => 465,
                Security::Plain => 25,
            },
            Some(v) => v
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p > 0)
                .ok_or_else(|| {
                    ConnectorError::config(format!("connector `{}`: config `port` must be a port number", def.id))
                })?,
        };
        let from: Mailbox = text(def, config, "from")?
            .ok_or_else(|| {
                ConnectorError::config(format!(
                    "connector `{}` needs `from` (the sender) in the connection config",
                    def.id
                ))
            })?
            .parse()
            .map_err(|_| {
                ConnectorError::config(format!("connector `{}`: config `from` is not an email address", def.id))
            })?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
            .port(port)
            .timeout(Some(settings.request_timeout));
        builder = match security {
            Security::Plain => builder.tls(Tls::None),
            Security::StartTls | Security::Tls => {
                // The web's roots (lettre's default store) plus the connection's own CAs.
                let mut params = TlsParameters::builder(host.clone());
                for der in super::trust::extra_roots(&def.id, config)? {
                    let cert = lettre::transport::smtp::client::Certificate::from_der(der.to_vec()).map_err(|e| {
                        ConnectorError::config(format!("connector `{}`: config `ca_certificate`: {e}", def.id))
                    })?;
                    params = params.add_root_certificate(cert);
                }
                let params = params
                    .build()
                    .map_err(|e| ConnectorError::config(format!("connector `{}`: TLS for `{host}`: {e}", def.id)))?;
                builder.tls(if security == Security::Tls {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                })
            }
        };
        let authenticated = match (credentials.get("username"), credentials.get("password")) {
            (None, None) => false,
            (Some(user), Some(password)) => {
                builder = builder.credentials(SmtpCredentials::new(
                    user.expose_secret().to_owned(),
                    password.expose_secret().to_owned(),
                ));
                true
            }
            _ => {
                return Err(ConnectorError::new(
                    ErrorClass::Permanent,
                    ErrorKind::Credentials,
                    format!(
                        "connector `{}` needs both `username` and `password` in the connection's secret (or neither)",
                        def.id
                    ),
                ))
            }
        };
        Ok(Self {
            connector: def.id.clone(),
            spec,
            host,
            port,
            security,
            from,
            config: Value::Object(config.clone()),
            allow_private_network: settings.allow_private_network,
            transport: builder.build(),
            authenticated,
        })
    }

    /// The network guard over the server's address (resolved: every address checked).
    async fn guard(&self) -> Result<(), ConnectorError> {
        let url = reqwest::Url::parse(&format!("https://{}:{}/", self.host, self.port)).map_err(|_| {
            ConnectorError::config(format!(
                "connector `{}`: config `host` is not a host name",
                self.connector
            ))
        })?;
        super::url_guard::check_url(&url, false, self.allow_private_network)
            .await
            .map_err(|e| {
                ConnectorError::new(
                    ErrorClass::Permanent,
                    ErrorKind::UrlRejected,
                    format!("connector `{}`: config `host`: {e}", self.connector),
                )
            })
    }

    /// An SMTP failure as a connector error: the reply code, never the credentials.
    fn error(&self, what: &str, e: &lettre::transport::smtp::Error) -> ConnectorError {
        let code = e.status().map(|c| c.to_string());
        let (class, kind) = classify(e);
        let detail = match &code {
            Some(code) => format!("the server replied {code}"),
            None if e.is_timeout() => "timed out".into(),
            None if e.is_tls() => "the TLS connection failed".into(),
            None if tls_refusal(e).is_some() => {
                format!("the TLS connection failed ({})", tls_refusal(e).expect("checked"))
            }
            None if e.is_client() => {
                "the server does not offer what the connection requires (STARTTLS, or an AUTH mechanism)".into()
            }
            None => "the connection failed".into(),
        };
        ConnectorError::new(
            class,
            kind,
            format!(
                "connector `{}`: {what} ({}:{}): {detail}",
                self.connector, self.host, self.port
            ),
        )
    }

    async fn check_inner(&self) -> Result<CheckReport, ConnectorError> {
        self.guard().await?;
        let started = Instant::now();
        match self.transport.test_connection().await {
            Ok(true) => Ok(CheckReport {
                status: 250,
                latency: started.elapsed(),
                auth: if self.authenticated { "smtp_auth" } else { "none" },
            }),
            Ok(false) => Err(ConnectorError::new(
                ErrorClass::Transient,
                ErrorKind::Network,
                format!(
                    "connector `{}`: the server at {}:{} did not answer NOOP",
                    self.connector, self.host, self.port
                ),
            )),
            Err(e) => Err(self.error("connecting", &e)),
        }
    }

    async fn write_inner(&self, operation: &str, records: &[Value]) -> Result<Vec<WriteResult>, ConnectorError> {
        let spec = self.spec.writes.get(operation).ok_or_else(|| {
            ConnectorError::config(format!(
                "connector `{}` has no write operation `{operation}`",
                self.connector
            ))
        })?;
        let templates =
            message::Templates::new(spec).map_err(|e| ConnectorError::config(format!("write `{operation}`: {e}")))?;
        self.guard().await?;
        let domain = self.from.email.domain().to_owned();
        let mut results = Vec::with_capacity(records.len());
        let mut sent_any = false;
        for (index, record) in records.iter().enumerate() {
            let id = format!("<{}@{domain}>", ulid::Ulid::new());
            let message = match message::build(spec, &templates, &self.from, &self.config, record, &id) {
                Ok(m) => m,
                Err(reason) => {
                    results.push(WriteResult::Failed {
                        reason: format!("record {}: {reason}", index + 1),
                        class: ErrorClass::Permanent,
                    });
                    continue;
                }
            };
            match self.transport.send(message).await {
                Ok(_) => {
                    sent_any = true;
                    results.push(WriteResult::Ok {
                        destination_id: Some(id),
                    });
                }
                Err(e) => {
                    let err = self.error("sending", &e);
                    // A refused login or no usable connection (no reply to the message itself)
                    // fails what is left of the batch; before anything was sent, the batch as
                    // a whole (nothing was written).
                    if err.class == ErrorClass::ReAuth || e.status().is_none() {
                        if !sent_any {
                            return Err(err);
                        }
                        while results.len() < records.len() {
                            results.push(WriteResult::Failed {
                                reason: err.message.clone(),
                                class: err.class,
                            });
                        }
                        break;
                    }
                    results.push(WriteResult::Failed {
                        reason: err.message,
                        class: err.class,
                    });
                }
            }
        }
        Ok(results)
    }
}

/// The one classification of SMTP failures: a 4xx reply, a timeout or a dropped connection
/// is transient; a refused login (535, 534, 530) needs a person; other 5xx replies are
/// permanent; TLS failures are permanent configuration errors (a server that cannot
/// upgrade does not start to).
pub fn classify(e: &lettre::transport::smtp::Error) -> (ErrorClass, ErrorKind) {
    let code = e.status().map(|c| c.to_string());
    match code.as_deref() {
        Some("535" | "534" | "530") => (ErrorClass::ReAuth, ErrorKind::Credentials),
        _ if e.is_transient() => (ErrorClass::Transient, ErrorKind::Mail),
        _ if e.is_permanent() => (ErrorClass::Permanent, ErrorKind::Mail),
        _ if e.is_timeout() => (ErrorClass::Transient, ErrorKind::Timeout),
        // TLS failures and what the client refuses (a server without the STARTTLS the
        // connection requires) are configuration: retrying cannot help.
        _ if e.is_tls() || e.is_client() || tls_refusal(e).is_some() => (ErrorClass::Permanent, ErrorKind::Config),
        _ => (ErrorClass::Transient, ErrorKind::Network),
    }
}

/// The TLS library's refusal behind `e` (an unknown issuer, a certificate for another name),
/// if there is one. lettre reports a rustls handshake failure as a connection error (an I/O
/// error wrapping rustls's), not as a TLS error, so the cause is looked for in the chain.
fn tls_refusal(e: &lettre::transport::smtp::Error) -> Option<&tokio_rustls::rustls::Error> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(c) = cause {
        if let Some(tls) = c.downcast_ref::<tokio_rustls::rustls::Error>() {
            return Some(tls);
        }
        if let Some(tls) = c
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<tokio_rustls::rustls::Error>())
        {
            return Some(tls);
        }
        cause = c.source();
    }
    None
}

impl super::kind::KindClient for SmtpClient {
    fn stream_cursor(&self, _stream: &str) -> Option<Option<CursorKind>> {
        None
    }

    fn record_id(&self, _stream: &str, _record: &Value) -> Option<String> {
        None
    }

    fn read_page<'a>(
        &'a self,
        stream: &'a str,
        _state: &'a StreamState,
    ) -> BoxFuture<'a, Result<Page, ConnectorError>> {
        Box::pin(async move {
            Err(ConnectorError::config(format!(
                "connector `{}` only sends email: it has no stream `{stream}`",
                self.connector
            )))
        })
    }

    fn fetch_record<'a>(
        &'a self,
        stream: &'a str,
        _id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Value>, ConnectorError>> {
        Box::pin(async move {
            Err(ConnectorError::config(format!(
                "connector `{}` only sends email: it has no stream `{stream}`",
                self.connector
            )))
        })
    }

    fn check(&self) -> BoxFuture<'_, Result<CheckReport, ConnectorError>> {
        Box::pin(self.check_inner())
    }

    fn write_batch<'a>(
        &'a self,
        operation: &'a str,
        records: &'a [Value],
    ) -> BoxFuture<'a, Result<Vec<WriteResult>, ConnectorError>> {
        Box::pin(self.write_inner(operation, records))
    }
}
