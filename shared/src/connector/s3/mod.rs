//! `kind: s3` connectors: files in an S3 bucket (or an S3-compatible store) through the AWS
//! SDK, behind the same [`super::kind::KindClient`] calls as the other kinds.
//!
//! * [`spec`]: the definition's `s3:` section.
//! * [`position`]: objects ordered by (last-modified, key), the cursor and the resume point.
//! * [`decode`]: CSV / JSON Lines records read as the body arrives, each with its line.
//! * [`encode`]: records into object bodies, and the batch [`encode::Manifest`].
//!
//! The connection's config names the `bucket` (required), a base `prefix`, the `region`
//! (default `us-east-1`), an `endpoint_url` for S3-compatible stores (checked by the network
//! guard like any configured URL), `force_path_style` (default: on when `endpoint_url` is
//! set) and `settle_secs` (overrides the streams'). Credentials: `access_key_id` + `secret_access_key` (+ `session_token`) from the
//! connection's secret, else the function's own role (the SDK's default chain).
//!
//! Reading: each page lists the prefix (ListObjectsV2, every listing page), keeps the objects
//! after the resume point, oldest first, and reads them with GetObject, record by record as
//! the body arrives, until `page_size` records. A page that stops inside an object resumes
//! there with a ranged GET (`bytes=<offset>-`, `If-Match` on the object's ETag). An object's
//! position becomes the cursor once it is read to its end. Objects are read only once their
//! last-modified second is over and `settle_secs` more have passed, so that no object can
//! still arrive with a time at or before the cursor's. Listing the whole prefix on every
//! page costs one request per 1,000 objects: partition busy prefixes (by date, say).

pub mod decode;
pub mod encode;
pub mod position;
pub mod spec;

use std::time::{Duration, Instant};

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use futures::future::BoxFuture;
use secrecy::ExposeSecret;
use serde_json::{json, Map, Value};
use tokio::sync::OnceCell;

use super::auth::Credentials;
use super::client::{CheckReport, ClientSettings, Page};
use super::definition::{ConnectorDefinition, CursorKind};
use super::errors::{ConnectorError, ErrorClass, ErrorKind};
use super::pagination::{self, PageToken, StreamState};
use super::write::WriteResult;
use decode::{Item, RecordReader, Start};
use position::{Position, Resume};
pub use spec::{FileFormat, S3Spec, S3StreamSpec, S3WriteSpec};

/// The field every record read from an object carries: `{key, line, last_modified}`.
pub const OBJECT_FIELD: &str = "_object";

/// A `kind: s3` definition bound to one connection.
pub struct S3Client {
    connector: String,
    spec: S3Spec,
    bucket: String,
    prefix: String,
    region: String,
    endpoint: Option<String>,
    path_style: bool,
    credentials: Option<aws_sdk_s3::config::Credentials>,
    timeout: Duration,
    max_pages: u32,
    /// The connection's `settle_secs`, overriding the streams'.
    settle_secs: Option<u64>,
    client: OnceCell<aws_sdk_s3::Client>,
}

impl std::fmt::Debug for S3Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Client")
            .field("connector", &self.connector)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .finish()
    }
}

fn config_text(
    def: &ConnectorDefinition,
    config: &Map<String, Value>,
    key: &str,
) -> Result<Option<String>, ConnectorError> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ConnectorError::config(format!(
            "connector `{}`: config `{key}` must be a string",
            def.id
        ))),
    }
}

impl S3Client {
    /// Binds `def` (of `kind: s3`) to a connection. No I/O: the SDK client is built on first
    /// use (the default credential chain may ask the environment).
    pub fn new(
        def: &ConnectorDefinition,
        settings: &ClientSettings,
        credentials: &Credentials,
    ) -> Result<Self, ConnectorError> {
        let spec = def
            .s3
            .clone()
            .ok_or_else(|| ConnectorError::config(format!("connector `{}` has no `s3` section", def.id)))?;
        let config = &settings.config;
        let bucket = config_text(def, config, "bucket")?
            .filter(|b| !b.is_empty())
            .ok_or_else(|| {
                ConnectorError::config(format!(
                    "connector `{}` needs `bucket` in the connection config",
                    def.id
                ))
            })?;
        if bucket.len() > 255 || bucket.contains('/') {
            return Err(ConnectorError::config(format!(
                "connector `{}`: config `bucket` is not a bucket name",
                def.id
            )));
        }
        let mut prefix = config_text(def, config, "prefix")?.unwrap_or_default();
        if prefix.starts_with('/') || prefix.split('/').any(|s| s == "..") {
            return Err(ConnectorError::config(format!(
                "connector `{}`: config `prefix` must be relative, without `..`",
                def.id
            )));
        }
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        let region = config_text(def, config, "region")?.unwrap_or_else(|| "us-east-1".into());
        let endpoint = config_text(def, config, "endpoint_url")?;
        if let Some(url) = &endpoint {
            let parsed = reqwest::Url::parse(url).map_err(|_| {
                ConnectorError::config(format!(
                    "connector `{}`: config `endpoint_url` is not an absolute URL",
                    def.id
                ))
            })?;
            super::url_guard::check_static(&parsed, false, settings.allow_private_network).map_err(|e| {
                ConnectorError::new(
                    ErrorClass::Permanent,
                    ErrorKind::UrlRejected,
                    format!("connector `{}`: config `endpoint_url`: {e}", def.id),
                )
            })?;
        }
        let path_style = match config.get("force_path_style") {
            None | Some(Value::Null) => endpoint.is_some(),
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(ConnectorError::config(format!(
                    "connector `{}`: config `force_path_style` must be true or false",
                    def.id
                )))
            }
        };
        let credentials = match (credentials.get("access_key_id"), credentials.get("secret_access_key")) {
            (None, None) => None,
            (Some(id), Some(secret)) => Some(aws_sdk_s3::config::Credentials::new(
                id.expose_secret(),
                secret.expose_secret(),
                credentials.get("session_token").map(|t| t.expose_secret().to_owned()),
                None,
                "switchyard-connection-secret",
            )),
            _ => {
                return Err(ConnectorError::new(
                    ErrorClass::Permanent,
                    ErrorKind::Credentials,
                    format!(
                        "connector `{}` needs both `access_key_id` and `secret_access_key` in the connection's secret (or neither, to use the function's role)",
                        def.id
                    ),
                ))
            }
        };
        let settle_secs = match config.get("settle_secs") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_u64().filter(|s| *s <= 3600).ok_or_else(|| {
                ConnectorError::config(format!(
                    "connector `{}`: config `settle_secs` must be a whole number of seconds up to 3600",
                    def.id
                ))
            })?),
        };
        Ok(Self {
            connector: def.id.clone(),
            spec,
            bucket,
            prefix,
            region,
            endpoint,
            path_style,
            credentials,
            timeout: settings.request_timeout,
            max_pages: settings.max_pages,
            settle_secs,
            client: OnceCell::new(),
        })
    }

    async fn client(&self) -> &aws_sdk_s3::Client {
        self.client
            .get_or_init(|| async {
                let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .region(aws_config::Region::new(self.region.clone()))
                    .timeout_config(
                        aws_config::timeout::TimeoutConfig::builder()
                            .connect_timeout(Duration::from_secs(5))
                            .operation_attempt_timeout(self.timeout)
                            .build(),
                    );
                if let Some(c) = &self.credentials {
                    loader = loader.credentials_provider(c.clone());
                }
                if let Some(url) = &self.endpoint {
                    loader = loader.endpoint_url(url);
                }
                let shared = loader.load().await;
                let mut conf = aws_sdk_s3::config::Builder::from(&shared).force_path_style(self.path_style);
                if self.endpoint.is_some() {
                    // S3-compatible stores often lack the newer default checksums (CRC32 trailers).
                    conf = conf
                        .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
                        .response_checksum_validation(aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired);
                }
                aws_sdk_s3::Client::from_conf(conf.build())
            })
            .await
    }

    fn stream(&self, name: &str) -> Result<&S3StreamSpec, ConnectorError> {
        self.spec
            .streams
            .get(name)
            .ok_or_else(|| ConnectorError::config(format!("connector `{}` has no stream `{name}`", self.connector)))
    }

    fn stream_prefix(&self, spec: &S3StreamSpec) -> String {
        format!("{}{}", self.prefix, spec.prefix)
    }

    /// An SDK failure as a connector error: no credentials, no body; the code and status.
    fn error<E: ProvideErrorMetadata>(
        &self,
        what: &str,
        e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> ConnectorError {
        let (class, kind, status, detail) = classify(e);
        let mut err = ConnectorError::new(
            class,
            kind,
            format!(
                "connector `{}`: {what} (bucket `{}`): {detail}",
                self.connector, self.bucket
            ),
        );
        err.status = status;
        err
    }

    /// Every object under `prefix` ending with `suffix` last modified at or before `horizon`
    /// (unix seconds), in listing order.
    async fn list(
        &self,
        prefix: &str,
        suffix: &str,
        horizon: i64,
    ) -> Result<Vec<(Position, Option<String>)>, ConnectorError> {
        let client = self.client().await;
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        let mut requests = 0u32;
        loop {
            let resp = client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| self.error("listing objects", &e))?;
            requests += 1;
            for o in resp.contents() {
                let (Some(key), Some(at)) = (o.key(), o.last_modified()) else {
                    continue;
                };
                if key.ends_with('/') || !key.ends_with(suffix) || at.secs() > horizon {
                    continue;
                }
                if let Some(p) = Position::new(at.secs(), at.subsec_nanos(), key) {
                    out.push((p, o.e_tag().map(str::to_owned)));
                }
            }
            match resp.next_continuation_token() {
                Some(t) if resp.is_truncated() == Some(true) && requests < self.max_pages.max(1) * 10 => {
                    token = Some(t.to_owned())
                }
                _ => return Ok(out),
            }
        }
    }

    /// Opens `key` at `start.byte` (the same version when `etag` is given); `None` when the
    /// object is gone or was replaced since.
    async fn open(
        &self,
        key: &str,
        byte: u64,
        etag: Option<&str>,
    ) -> Result<Option<aws_sdk_s3::operation::get_object::GetObjectOutput>, ConnectorError> {
        let mut req = self.client().await.get_object().bucket(&self.bucket).key(key);
        if byte > 0 {
            req = req.range(format!("bytes={byte}-"));
        }
        if let Some(etag) = etag {
            req = req.if_match(etag);
        }
        match req.send().await {
            Ok(out) => Ok(Some(out)),
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                let code = e.as_service_error().and_then(|s| s.code()).unwrap_or_default();
                // 404: deleted since the listing; 412: replaced (its new version is listed
                // later, with a later time); 416: nothing after the offset.
                if matches!(status, Some(404) | Some(412) | Some(416))
                    || matches!(code, "NoSuchKey" | "PreconditionFailed" | "InvalidRange")
                {
                    return Ok(None);
                }
                Err(self.error(&format!("reading object `{key}`"), &e))
            }
        }
    }

    fn record(position: &Position, line: u64, mut fields: Map<String, Value>) -> Value {
        fields.insert(
            OBJECT_FIELD.into(),
            json!({"key": position.key, "line": line, "last_modified": position.last_modified}),
        );
        Value::Object(fields)
    }

    async fn read_page_inner(&self, stream: &str, state: &StreamState) -> Result<Page, ConnectorError> {
        let spec = self.stream(stream)?;
        pagination::check_before_request(state, self.max_pages)
            .map_err(|e| ConnectorError::new(ErrorClass::Permanent, ErrorKind::Pagination, e.to_string()))?;
        let resume = match &state.page {
            None => None,
            Some(PageToken::Cursor(token)) => Some(Resume::decode(token).ok_or_else(|| {
                ConnectorError::config(format!(
                    "stream `{stream}`: the checkpoint's page token is not an S3 position"
                ))
            })?),
            Some(_) => {
                return Err(ConnectorError::config(format!(
                    "stream `{stream}`: the checkpoint's page token is not an S3 position"
                )))
            }
        };
        let unreadable = |c: &str| ConnectorError::config(format!("stream `{stream}`: unreadable cursor `{c}`"));
        let (lower, inclusive) = match (&resume, &state.since) {
            (Some(Resume::After { cursor }), _) => {
                (Some(Position::parse(cursor).ok_or_else(|| unreadable(cursor))?), false)
            }
            (Some(Resume::Within { cursor, .. }), _) => {
                (Some(Position::parse(cursor).ok_or_else(|| unreadable(cursor))?), true)
            }
            (None, Some(since)) => (Some(Position::parse(since).ok_or_else(|| unreadable(since))?), false),
            (None, None) => (None, false),
        };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let horizon = now - 1 - i64::try_from(self.settle_secs.unwrap_or(spec.settle_secs)).unwrap_or(i64::MAX / 2);
        let listed = self.list(&self.stream_prefix(spec), &spec.suffix, horizon).await?;
        let etags: std::collections::HashMap<Position, Option<String>> = listed.iter().cloned().collect();
        let objects = position::select(listed.into_iter().map(|(p, _)| p).collect(), lower.as_ref(), inclusive);

        let page_size = spec.page_size as usize;
        let mut records = Vec::new();
        let mut rejected = Vec::new();
        let mut max_cursor = state.max_cursor.clone();
        let mut next: Option<Resume> = None;
        for (i, object) in objects.iter().enumerate() {
            let mut start = Start {
                byte: 0,
                line: 1,
                header: None,
            };
            let mut etag = None;
            if let Some(Resume::Within {
                cursor,
                byte,
                line,
                header,
                etag: e,
            }) = &resume
            {
                if *cursor == object.cursor() {
                    start = Start {
                        byte: *byte,
                        line: *line,
                        header: header.clone(),
                    };
                    etag = e.clone();
                }
            }
            let etag = etag.or_else(|| etags.get(object).cloned().flatten());
            let mut finished = true;
            if let Some(out) = self.open(&object.key, start.byte, etag.as_deref()).await? {
                let body = out.body.into_async_read();
                let mut reader = RecordReader::new(body, spec.format, spec.delimiter, start);
                loop {
                    if records.len() + rejected.len() >= page_size {
                        let (byte, line) = reader.position();
                        next = Some(Resume::Within {
                            cursor: object.cursor(),
                            byte,
                            line,
                            header: reader.header().cloned(),
                            etag: etag.clone(),
                        });
                        finished = false;
                        break;
                    }
                    match reader.next().await {
                        Ok(None) => break,
                        Ok(Some(Item::Record { line, fields })) => records.push(Self::record(object, line, fields)),
                        Ok(Some(Item::Rejected { line, reason })) => {
                            rejected.push((position::record_id(&object.key, line), reason))
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                            // The object cannot be read at all (its CSV header): recorded, skipped.
                            let (_, line) = reader.position();
                            rejected.push((position::record_id(&object.key, line.max(1)), e.to_string()));
                            break;
                        }
                        Err(e) => {
                            return Err(ConnectorError::new(
                                ErrorClass::Transient,
                                ErrorKind::Network,
                                format!(
                                    "connector `{}`: reading object `{}` (bucket `{}`): the body stopped arriving: {}",
                                    self.connector,
                                    object.key,
                                    self.bucket,
                                    e.kind()
                                ),
                            ))
                        }
                    }
                }
            }
            if !finished {
                break;
            }
            max_cursor = super::cursor::max(CursorKind::String, max_cursor, &object.cursor());
            if records.len() + rejected.len() >= page_size && i + 1 < objects.len() {
                next = Some(Resume::After {
                    cursor: object.cursor(),
                });
                break;
            }
        }
        let next = match next {
            Some(resume) => {
                let mut n = pagination::advance(state, PageToken::Cursor(resume.encode()))
                    .map_err(|e| ConnectorError::new(ErrorClass::Permanent, ErrorKind::Pagination, e.to_string()))?;
                n.max_cursor = max_cursor.clone();
                Some(n)
            }
            None => None,
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
        let Some((key, wanted)) = position::parse_record_id(id) else {
            return Ok(None);
        };
        if !key.starts_with(&self.stream_prefix(spec)) || !key.ends_with(&spec.suffix) {
            return Ok(None);
        }
        let Some(out) = self.open(key, 0, None).await? else {
            return Ok(None);
        };
        let Some(at) = out.last_modified() else { return Ok(None) };
        let Some(object) = Position::new(at.secs(), at.subsec_nanos(), key) else {
            return Ok(None);
        };
        let mut reader = RecordReader::new(
            out.body.into_async_read(),
            spec.format,
            spec.delimiter,
            Start::default(),
        );
        loop {
            match reader.next().await {
                Ok(Some(Item::Record { line, fields })) if line == wanted => {
                    return Ok(Some(Self::record(&object, line, fields)))
                }
                Ok(Some(item)) => {
                    let line = match item {
                        Item::Record { line, .. } | Item::Rejected { line, .. } => line,
                    };
                    if line >= wanted {
                        return Ok(None);
                    }
                }
                Ok(None) => return Ok(None),
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => return Ok(None),
                Err(e) => {
                    return Err(ConnectorError::new(
                        ErrorClass::Transient,
                        ErrorKind::Network,
                        format!("connector `{}`: reading object `{key}`: {}", self.connector, e.kind()),
                    ))
                }
            }
        }
    }

    async fn check_inner(&self) -> Result<CheckReport, ConnectorError> {
        let started = Instant::now();
        self.client()
            .await
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&self.prefix)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| self.error("listing objects", &e))?;
        Ok(CheckReport {
            status: 200,
            latency: started.elapsed(),
            auth: if self.credentials.is_some() {
                "access_key"
            } else {
                "role"
            },
        })
    }

    async fn write_inner(&self, operation: &str, records: &[Value]) -> Result<Vec<WriteResult>, ConnectorError> {
        let spec = self.spec.writes.get(operation).ok_or_else(|| {
            ConnectorError::config(format!(
                "connector `{}` has no write operation `{operation}`",
                self.connector
            ))
        })?;
        let mut results: Vec<Option<WriteResult>> = vec![None; records.len()];
        let (columns, rows, refused) = encode::encode(spec, records);
        for (index, reason) in refused {
            results[index] = Some(WriteResult::Failed {
                reason: format!("record {}: {reason}", index + 1),
                class: ErrorClass::Permanent,
            });
        }
        if !rows.is_empty() {
            let batch = ulid::Ulid::new().to_string();
            let folder = format!("{}{}{batch}/", self.prefix, spec.prefix);
            let mut files = Vec::new();
            let mut stop: Option<ConnectorError> = None;
            for (n, part) in rows.chunks(spec.records_per_object).enumerate() {
                if let Some(e) = &stop {
                    for row in part {
                        results[row.index] = Some(WriteResult::Failed {
                            reason: e.message.clone(),
                            class: e.class,
                        });
                    }
                    continue;
                }
                let key = format!("{folder}part-{:05}.{}", n + 1, spec.format.extension());
                let mut body = match spec.format {
                    FileFormat::Csv => encode::csv_header(spec.delimiter, &columns),
                    FileFormat::Jsonl => Vec::new(),
                };
                let header_lines = u64::from(spec.format == FileFormat::Csv);
                for row in part {
                    body.extend_from_slice(&row.row);
                }
                let bytes = body.len();
                let sent = self
                    .client()
                    .await
                    .put_object()
                    .bucket(&self.bucket)
                    .key(&key)
                    .content_type(spec.format.content_type())
                    .body(ByteStream::from(body))
                    .send()
                    .await;
                match sent {
                    Ok(_) => {
                        for (line, row) in part.iter().enumerate() {
                            results[row.index] = Some(WriteResult::Ok {
                                destination_id: Some(position::record_id(&key, header_lines + line as u64 + 1)),
                            });
                        }
                        files.push(encode::ManifestFile {
                            key,
                            records: part.len(),
                            bytes,
                        });
                    }
                    Err(e) => {
                        let e = self.error(&format!("writing object `{key}`"), &e);
                        if files.is_empty() {
                            return Err(e);
                        }
                        for row in part {
                            results[row.index] = Some(WriteResult::Failed {
                                reason: e.message.clone(),
                                class: e.class,
                            });
                        }
                        stop = Some(e);
                    }
                }
            }
            let manifest = encode::Manifest {
                version: 1,
                batch,
                format: spec.format.name().into(),
                created_at: time::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .expect("now formats"),
                records: files.iter().map(|f| f.records).sum(),
                files,
            };
            let key = format!("{folder}{}", encode::MANIFEST);
            self.client()
                .await
                .put_object()
                .bucket(&self.bucket)
                .key(&key)
                .content_type("application/json")
                .body(ByteStream::from(
                    serde_json::to_vec(&manifest).expect("a manifest serialises"),
                ))
                .send()
                .await
                // Without its manifest the batch is invisible: the whole batch is tried again.
                .map_err(|e| self.error(&format!("writing the manifest `{key}`"), &e))?;
        }
        Ok(results
            .into_iter()
            .map(|r| r.expect("every record gets a result"))
            .collect())
    }
}

/// The one classification of S3 failures: throttling is rate limiting, 5xx, timeouts and
/// connection failures are transient, refused credentials need a person, the rest (a
/// missing bucket, a refused request) is permanent. Returns the class, kind, status and a
/// short detail (the S3 error code, never a body or a credential).
pub fn classify<E: ProvideErrorMetadata>(
    e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> (ErrorClass, ErrorKind, Option<u16>, String) {
    match e {
        SdkError::TimeoutError(_) => (ErrorClass::Transient, ErrorKind::Timeout, None, "timed out".into()),
        SdkError::DispatchFailure(_) => (
            ErrorClass::Transient,
            ErrorKind::Network,
            None,
            "the request could not be sent".into(),
        ),
        SdkError::ResponseError(_) => (
            ErrorClass::Transient,
            ErrorKind::InvalidResponse,
            None,
            "the response could not be read".into(),
        ),
        SdkError::ServiceError(ctx) => {
            let code = ctx.err().code().unwrap_or("unknown").to_owned();
            let status = e.raw_response().map(|r| r.status().as_u16());
            let (class, kind) = match (code.as_str(), status) {
                ("SlowDown" | "Throttling" | "ThrottlingException" | "RequestLimitExceeded", _)
                | (_, Some(429) | Some(503)) => (ErrorClass::RateLimited { retry_after: None }, ErrorKind::Http),
                (
                    "InvalidAccessKeyId"
                    | "SignatureDoesNotMatch"
                    | "ExpiredToken"
                    | "InvalidToken"
                    | "AccessDenied"
                    | "AllAccessDisabled",
                    _,
                ) => (ErrorClass::ReAuth, ErrorKind::Credentials),
                ("NoSuchBucket", _) => (ErrorClass::Permanent, ErrorKind::Config),
                (_, Some(s)) if s >= 500 => (ErrorClass::Transient, ErrorKind::Http),
                _ => (ErrorClass::Permanent, ErrorKind::Http),
            };
            let detail = match status {
                Some(s) => format!("{code} (HTTP {s})"),
                None => code,
            };
            (class, kind, status, detail)
        }
        _ => (
            ErrorClass::Permanent,
            ErrorKind::Config,
            None,
            "the request could not be built".into(),
        ),
    }
}

impl super::kind::KindClient for S3Client {
    fn stream_cursor(&self, stream: &str) -> Option<Option<CursorKind>> {
        self.spec.streams.get(stream).map(|_| Some(CursorKind::String))
    }

    fn record_id(&self, _stream: &str, record: &Value) -> Option<String> {
        let object = record.get(OBJECT_FIELD)?;
        Some(position::record_id(
            object.get("key")?.as_str()?,
            object.get("line")?.as_u64()?,
        ))
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
        records: &'a [Value],
    ) -> BoxFuture<'a, Result<Vec<WriteResult>, ConnectorError>> {
        Box::pin(self.write_inner(operation, records))
    }
}
