//! `kind: imap` connectors: a mailbox as a source, read incrementally through `async-imap`,
//! behind the same [`super::kind::KindClient`] calls as the other kinds.
//!
//! * [`spec`]: the definition's `imap:` section (mailbox, page size, size bounds).
//! * [`position`]: the UIDVALIDITY + UID cursor.
//! * [`message`]: a fetched message as a record (`mail-parser`).
//!
//! The connection's config: `host` (required, checked by the network guard like any
//! configured URL), `port` (default 993 for `tls`, 143 otherwise), `security`: `tls`
//! (implicit TLS, the default), `starttls` (the connection must upgrade, or nothing is sent)
//! or `plain` (no encryption: only where private networks are allowed, i.e. loopback tests),
//! `mailbox` (overrides the streams') and `ca_certificate` (PEM: CAs trusted beside the
//! web's roots, see [`super::trust`]). Credentials: `username` and `password` in the
//! connection's secret (IMAP LOGIN).
//!
//! Reading: a run connects and logs in once (a page with a next page keeps its session for
//! it, up to 30 s); each page opens the mailbox read-only (EXAMINE: nothing is marked as
//! seen), searches the UIDs above the resume point and fetches the next `page_size` of them
//! with `BODY.PEEK[]` cut at `max_message_bytes`. The cursor is the
//! mailbox's UIDVALIDITY with the last UID read; when the server's UIDVALIDITY is no longer
//! the cursor's, the mailbox was rebuilt and the whole mailbox is read again. A message
//! that cannot be parsed is reported as rejected (the read goes on). The kind has no writes.

pub mod message;
pub mod position;
pub mod spec;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_imap::{Client, Session};
use futures::future::BoxFuture;
use futures::TryStreamExt;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

use super::auth::Credentials;
use super::client::{CheckReport, ClientSettings, Page};
use super::definition::{ConnectorDefinition, CursorKind};
use super::errors::{ConnectorError, ErrorClass, ErrorKind};
use super::pagination::{self, PageToken, StreamState};
use super::write::WriteResult;
use position::Position;
pub use spec::{ImapSpec, ImapStreamSpec};

/// How the connection to the server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    Tls,
    StartTls,
    Plain,
}

/// The byte stream under a session: TCP, or TLS over TCP.
trait Io: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Io for T {}
type Stream = Box<dyn Io>;

/// A `kind: imap` definition bound to one connection.
pub struct ImapClient {
    connector: String,
    spec: ImapSpec,
    host: String,
    port: u16,
    security: Security,
    mailbox: Option<String>,
    username: SecretString,
    password: SecretString,
    timeout: Duration,
    max_pages: u32,
    allow_private_network: bool,
    /// CA certificates trusted beside the web's roots (config `ca_certificate`).
    extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// The session of a page that has a next page, kept for it: a run logs in once, not once
    /// a page.
    kept: std::sync::Mutex<Option<(Session<Stream>, Instant)>>,
}

/// How long a kept session waits for the next page before it is dropped (the next page of a
/// run comes at once; servers close idle sessions after 30 minutes at the earliest).
const KEEP_SESSION: Duration = Duration::from_secs(30);

impl std::fmt::Debug for ImapClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapClient")
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

impl ImapClient {
    /// Binds `def` (of `kind: imap`) to a connection. No I/O: the server is reached on the
    /// first read or check.
    pub fn new(
        def: &ConnectorDefinition,
        settings: &ClientSettings,
        credentials: &Credentials,
    ) -> Result<Self, ConnectorError> {
        let spec = def
            .imap
            .clone()
            .ok_or_else(|| ConnectorError::config(format!("connector `{}` has no `imap` section", def.id)))?;
        let config = &settings.config;
        let host = text(def, config, "host")?
            .filter(|h| !h.is_empty())
            .ok_or_else(|| {
                ConnectorError::config(format!("connector `{}` needs `host` in the connection config", def.id))
            })?
            .to_owned();
        let security = match text(def, config, "security")?.unwrap_or("tls") {
            "tls" => Security::Tls,
            "starttls" => Security::StartTls,
            "plain" => Security::Plain,
            other => {
                return Err(ConnectorError::config(format!(
                    "connector `{}`: config `security` is `{}`: use `tls`, `starttls` or `plain`",
                    def.id,
                    other.escape_debug()
                )))
            }
        };
        if security == Security::Plain && !settings.allow_private_network {
            return Err(ConnectorError::config(format!(
                "connector `{}`: `security: plain` sends mail and passwords unencrypted; it is allowed only where private networks are (tests)",
                def.id
            )));
        }
        let port = match config.get("port") {
            None | Some(Value::Null) => match security {
                Security::Tls => 993,
                Security::StartTls | Security::Plain => 143,
            },
            Some(v) => v
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p > 0)
                .ok_or_else(|| {
                    ConnectorError::config(format!("connector `{}`: config `port` must be a port number", def.id))
                })?,
        };
        let mailbox = text(def, config, "mailbox")?.map(str::to_owned);
        if let Some(m) = &mailbox {
            if !spec::mailbox_name_ok(m) {
                return Err(ConnectorError::config(format!(
                    "connector `{}`: config `mailbox` must be 1 to 200 printable ASCII characters without `\"` or `\\`",
                    def.id
                )));
            }
        }
        let (username, password) = match (credentials.get("username"), credentials.get("password")) {
            (Some(u), Some(p)) => (
                SecretString::from(u.expose_secret().to_owned()),
                SecretString::from(p.expose_secret().to_owned()),
            ),
            _ => {
                return Err(ConnectorError::new(
                    ErrorClass::Permanent,
                    ErrorKind::Credentials,
                    format!(
                        "connector `{}` needs `username` and `password` in the connection's secret",
                        def.id
                    ),
                ))
            }
        };
        let extra_roots = super::trust::extra_roots(&def.id, config)?;
        Ok(Self {
            connector: def.id.clone(),
            spec,
            host,
            port,
            security,
            mailbox,
            username,
            password,
            timeout: settings.request_timeout,
            max_pages: settings.max_pages,
            allow_private_network: settings.allow_private_network,
            extra_roots,
            kept: std::sync::Mutex::new(None),
        })
    }

    /// The session a previous page kept, when it is recent enough.
    fn take_kept(&self) -> Option<Session<Stream>> {
        let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner()).take()?;
        (kept.1.elapsed() < KEEP_SESSION).then_some(kept.0)
    }

    fn stream(&self, name: &str) -> Result<&ImapStreamSpec, ConnectorError> {
        self.spec
            .streams
            .get(name)
            .ok_or_else(|| ConnectorError::config(format!("connector `{}` has no stream `{name}`", self.connector)))
    }

    fn mailbox<'a>(&'a self, spec: &'a ImapStreamSpec) -> &'a str {
        self.mailbox.as_deref().unwrap_or(&spec.mailbox)
    }

    fn fail(&self, class: ErrorClass, kind: ErrorKind, what: &str, detail: &str) -> ConnectorError {
        ConnectorError::new(
            class,
            kind,
            format!(
                "connector `{}`: {what} ({}:{}): {detail}",
                self.connector, self.host, self.port
            ),
        )
    }

    /// An IMAP failure as a connector error. The server's own words are left out (a NO or
    /// BAD text may echo what was sent); what was being done says enough.
    fn error(&self, what: &str, e: &async_imap::error::Error) -> ConnectorError {
        use async_imap::error::Error as E;
        let (class, kind, detail) = match e {
            E::Io(io) => (
                ErrorClass::Transient,
                ErrorKind::Network,
                format!("the connection failed ({})", io.kind()),
            ),
            E::ConnectionLost => (
                ErrorClass::Transient,
                ErrorKind::Network,
                "the connection was lost".into(),
            ),
            E::No(_) => (ErrorClass::Permanent, ErrorKind::Mail, "the server answered NO".into()),
            E::Bad(_) => (ErrorClass::Permanent, ErrorKind::Mail, "the server answered BAD".into()),
            E::Validate(_) => (
                ErrorClass::Permanent,
                ErrorKind::Config,
                "a name holds a line break".into(),
            ),
            _ => (
                ErrorClass::Transient,
                ErrorKind::InvalidResponse,
                "the server's answer could not be read".into(),
            ),
        };
        self.fail(class, kind, what, &detail)
    }

    /// `fut` within the request timeout.
    async fn timed<T>(
        &self,
        what: &str,
        fut: impl std::future::Future<Output = Result<T, ConnectorError>>,
    ) -> Result<T, ConnectorError> {
        tokio::time::timeout(self.timeout, fut)
            .await
            .unwrap_or_else(|_| Err(self.fail(ErrorClass::Transient, ErrorKind::Timeout, what, "timed out")))
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

    async fn tls(&self, tcp: TcpStream) -> Result<Stream, ConnectorError> {
        let roots = super::trust::root_store(&self.extra_roots);
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| ConnectorError::config(format!("connector `{}`: TLS: {e}", self.connector)))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from(self.host.clone()).map_err(|_| {
            ConnectorError::config(format!(
                "connector `{}`: config `host` is not a host name",
                self.connector
            ))
        })?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| {
                let detail = format!("the TLS connection failed ({})", e.kind());
                self.fail(ErrorClass::Permanent, ErrorKind::Config, "connecting", &detail)
            })?;
        Ok(Box::new(tls))
    }

    /// Connects (TLS as configured) and logs in.
    async fn session(&self) -> Result<Session<Stream>, ConnectorError> {
        self.guard().await?;
        let tcp = self
            .timed("connecting", async {
                TcpStream::connect((self.host.as_str(), self.port)).await.map_err(|e| {
                    self.fail(
                        ErrorClass::Transient,
                        ErrorKind::Network,
                        "connecting",
                        &format!("the connection failed ({})", e.kind()),
                    )
                })
            })
            .await?;
        let stream: Stream = match self.security {
            Security::Plain => Box::new(tcp),
            Security::Tls => self.timed("connecting", self.tls(tcp)).await?,
            Security::StartTls => {
                let tcp = self
                    .timed("starting TLS", async {
                        let mut client = Client::new(tcp);
                        greeting(&mut client).await.map_err(|e| self.error("connecting", &e))?;
                        client
                            .run_command_and_check_ok("STARTTLS", None)
                            .await
                            .map_err(|e| self.error("starting TLS", &e))?;
                        Ok(client.into_inner())
                    })
                    .await?;
                self.timed("starting TLS", self.tls(tcp)).await?
            }
        };
        self.timed("logging in", async {
            let mut client = Client::new(stream);
            if self.security != Security::StartTls {
                greeting(&mut client).await.map_err(|e| self.error("connecting", &e))?;
            }
            client
                .login(self.username.expose_secret(), self.password.expose_secret())
                .await
                .map_err(|(e, _)| match e {
                    async_imap::error::Error::No(_) => self.fail(
                        ErrorClass::ReAuth,
                        ErrorKind::Credentials,
                        "logging in",
                        "the server refused the user name or password",
                    ),
                    e => self.error("logging in", &e),
                })
        })
        .await
    }

    /// Opens `mailbox` read-only; its UIDVALIDITY.
    async fn examine(&self, session: &mut Session<Stream>, mailbox: &str) -> Result<u32, ConnectorError> {
        let what = format!("opening mailbox `{mailbox}`");
        let mb = self
            .timed(&what, async {
                session.examine(mailbox).await.map_err(|e| match e {
                    async_imap::error::Error::No(_) => self.fail(
                        ErrorClass::Permanent,
                        ErrorKind::Config,
                        &what,
                        "no such mailbox, or no access to it",
                    ),
                    e => self.error(&what, &e),
                })
            })
            .await?;
        mb.uid_validity.ok_or_else(|| {
            self.fail(
                ErrorClass::Permanent,
                ErrorKind::InvalidResponse,
                &what,
                "the server gives no UIDVALIDITY, so it cannot be read incrementally",
            )
        })
    }

    /// Fetches `uids` (ascending) and makes their records; messages that cannot be parsed
    /// come back as rejected (id, reason).
    async fn fetch(
        &self,
        session: &mut Session<Stream>,
        spec: &ImapStreamSpec,
        mailbox: &str,
        validity: u32,
        uids: &[u32],
    ) -> Result<(Vec<Value>, Vec<(String, String)>), ConnectorError> {
        if uids.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let set = uids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        let query = format!(
            "(UID RFC822.SIZE INTERNALDATE BODY.PEEK[]<0.{}>)",
            spec.max_message_bytes
        );
        let fetched: Vec<async_imap::types::Fetch> = self
            .timed("fetching messages", async {
                session
                    .uid_fetch(&set, &query)
                    .await
                    .map_err(|e| self.error("fetching messages", &e))?
                    .try_collect()
                    .await
                    .map_err(|e| self.error("fetching messages", &e))
            })
            .await?;
        let mut by_uid: std::collections::BTreeMap<u32, &async_imap::types::Fetch> = std::collections::BTreeMap::new();
        for f in &fetched {
            if let Some(uid) = f.uid {
                by_uid.insert(uid, f);
            }
        }
        let mut records = Vec::new();
        let mut rejected = Vec::new();
        // Messages expunged since the search are simply absent.
        for (uid, f) in by_uid.into_iter().filter(|(u, _)| uids.contains(u)) {
            let position = Position { validity, uid };
            let item = message::Fetched {
                position,
                mailbox,
                size: f.size,
                internal_date: f.internal_date().map(|d| d.timestamp()),
                raw: f.body().unwrap_or_default(),
            };
            match message::record(&item, spec.max_text_chars) {
                Ok(r) => records.push(r),
                Err(reason) => rejected.push((position.encode(), reason)),
            }
        }
        Ok((records, rejected))
    }

    async fn read_page_inner(&self, stream: &str, state: &StreamState) -> Result<Page, ConnectorError> {
        let spec = self.stream(stream)?;
        pagination::check_before_request(state, self.max_pages)
            .map_err(|e| ConnectorError::new(ErrorClass::Permanent, ErrorKind::Pagination, e.to_string()))?;
        let unreadable =
            |c: &str| ConnectorError::config(format!("stream `{stream}`: `{c}` is not a mailbox position"));
        let from = match (&state.page, &state.since) {
            (Some(PageToken::Cursor(token)), _) => Some(Position::parse(token).ok_or_else(|| unreadable(token))?),
            (Some(_), _) => return Err(unreadable("the checkpoint's page token")),
            (None, Some(since)) => Some(Position::parse(since).ok_or_else(|| unreadable(since))?),
            (None, None) => None,
        };
        let mailbox = self.mailbox(spec);
        // The previous page's session when it kept one (opened again: the mailbox may have
        // been rebuilt since); a new login when there is none or it no longer answers.
        let reused = match self.take_kept() {
            Some(mut session) => match self.examine(&mut session, mailbox).await {
                Ok(validity) => Some((session, validity)),
                Err(e) if e.class.is_retriable() => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        let (mut session, validity) = match reused {
            Some(reused) => reused,
            None => {
                let mut session = self.session().await?;
                let validity = self.examine(&mut session, mailbox).await?;
                (session, validity)
            }
        };
        let (after, reset) = position::resume_after(validity, from);
        if reset {
            tracing::info!(
                message = "The mailbox's UIDVALIDITY changed: it is read again from the start.",
                connector = %self.connector,
                mailbox = %mailbox,
                uidvalidity = validity
            );
        }
        let search = format!("UID {}:*", u64::from(after) + 1);
        let found = self
            .timed("searching messages", async {
                session
                    .uid_search(&search)
                    .await
                    .map_err(|e| self.error("searching messages", &e))
            })
            .await?;
        let (uids, more) = position::page_of(found.into_iter().collect(), after, spec.page_size as usize);
        let (records, rejected) = self.fetch(&mut session, spec, mailbox, validity, &uids).await?;
        if more {
            *self.kept.lock().unwrap_or_else(|p| p.into_inner()) = Some((session, Instant::now()));
        } else {
            // Logging out is a courtesy: the page is read either way.
            let _ = tokio::time::timeout(self.timeout, session.logout()).await;
        }

        let max_cursor = match uids.last() {
            Some(uid) => Some(Position { validity, uid: *uid }.encode()),
            None => state.max_cursor.clone(),
        };
        let next = match (&max_cursor, more) {
            (Some(cursor), true) => {
                let mut n = pagination::advance(state, PageToken::Cursor(cursor.clone()))
                    .map_err(|e| ConnectorError::new(ErrorClass::Permanent, ErrorKind::Pagination, e.to_string()))?;
                n.max_cursor = max_cursor.clone();
                Some(n)
            }
            _ => None,
        };
        Ok(Page {
            records,
            next,
            max_cursor,
            total: None,
            rejected,
            gone: Vec::new(),
            deleted: Vec::new(),
        })
    }

    async fn fetch_inner(&self, stream: &str, id: &str) -> Result<Option<Value>, ConnectorError> {
        let spec = self.stream(stream)?;
        let Some(wanted) = Position::parse(id) else {
            return Ok(None);
        };
        let mailbox = self.mailbox(spec);
        let mut session = self.session().await?;
        let validity = self.examine(&mut session, mailbox).await?;
        if validity != wanted.validity {
            return Ok(None);
        }
        let (records, _) = self.fetch(&mut session, spec, mailbox, validity, &[wanted.uid]).await?;
        let _ = tokio::time::timeout(self.timeout, session.logout()).await;
        Ok(records.into_iter().next())
    }

    async fn check_inner(&self) -> Result<CheckReport, ConnectorError> {
        let started = Instant::now();
        let mut session = self.session().await?;
        for spec in self.spec.streams.values() {
            self.examine(&mut session, self.mailbox(spec)).await?;
        }
        let _ = tokio::time::timeout(self.timeout, session.logout()).await;
        Ok(CheckReport {
            status: 200,
            latency: started.elapsed(),
            auth: "imap_login",
        })
    }
}

/// Reads the server's greeting (the first thing it says).
async fn greeting<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug>(
    client: &mut Client<T>,
) -> Result<(), async_imap::error::Error> {
    match client.read_response().await? {
        Some(_) => Ok(()),
        None => Err(async_imap::error::Error::ConnectionLost),
    }
}

impl super::kind::KindClient for ImapClient {
    fn stream_cursor(&self, stream: &str) -> Option<Option<CursorKind>> {
        self.spec.streams.get(stream).map(|_| Some(CursorKind::String))
    }

    fn record_id(&self, _stream: &str, record: &Value) -> Option<String> {
        record.get("id").and_then(Value::as_str).map(str::to_owned)
    }

    fn read_page<'a>(&'a self, stream: &'a str, state: &'a StreamState) -> BoxFuture<'a, Result<Page, ConnectorError>> {
        Box::pin(self.read_page_inner(stream, state))
    }

    fn fetch_record<'a>(
        &'a self,
        stream: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Value>, ConnectorError>> {
        Box::pin(self.fetch_inner(stream, id))
    }

    fn check(&self) -> BoxFuture<'_, Result<CheckReport, ConnectorError>> {
        Box::pin(self.check_inner())
    }

    fn write_batch<'a>(
        &'a self,
        operation: &'a str,
        _records: &'a [Value],
    ) -> BoxFuture<'a, Result<Vec<WriteResult>, ConnectorError>> {
        Box::pin(async move {
            Err(ConnectorError::config(format!(
                "connector `{}` only reads mail: it has no write operation `{operation}`",
                self.connector
            )))
        })
    }
}
