//! Administrative operations shared by the CLI (and, later, the admin API).

use secrecy::{ExposeSecret, SecretString};

use crate::secrets::{ConnectionSecretValue, SecretError, SecretStore};
use crate::store::connections::{Connection, ConnectionStore};
use crate::store::StoreError;

/// A failure creating a connection.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("{0}")]
    Invalid(String),
}

/// The secret name a connection's credentials are stored under.
pub fn secret_name(tenant: &str, connection_id: &str) -> String {
    format!("switchyard/{tenant}/{connection_id}")
}

/// Webhook secrets given when creating a connection.
pub struct NewWebhookSecrets {
    pub current: SecretString,
    pub previous: Option<SecretString>,
}

/// Creates a connection: its secret (webhook secrets and connector credentials such as an API
/// key or OAuth tokens) in Secrets Manager first, then the item (holding the ARN) in DynamoDB.
/// If the item cannot be written the secret is deleted again, so a failure leaves nothing behind.
pub async fn create_connection(
    connections: &ConnectionStore,
    secrets: &SecretStore,
    mut conn: Connection,
    webhook: Option<NewWebhookSecrets>,
    credentials: serde_json::Map<String, serde_json::Value>,
) -> Result<Connection, AdminError> {
    crate::store::table::validate_id("connection id", &conn.id)?;
    crate::store::table::validate_id("tenant", &conn.tenant)?;
    let awaits_handshake = conn.webhook.as_ref().is_some_and(|w| w.handshake_until.is_some());
    if let Some(settings) = &conn.webhook {
        if awaits_handshake && !settings.scheme.handshake_expected() {
            return Err(AdminError::Invalid(format!(
                "the {} scheme has no handshake to wait for; give the webhook secret with --webhook-secret-file",
                settings.scheme.name()
            )));
        }
        if awaits_handshake && webhook.is_none() && !settings.scheme.secret_set_by_handshake() {
            return Err(AdminError::Invalid(format!(
                "the {} scheme's handshake does not set the webhook secret; give it with --webhook-secret-file \
                 (Microsoft Graph: the subscription's clientState)",
                settings.scheme.name()
            )));
        }
    }
    if let Some(settings) = conn.webhook.as_ref().filter(|w| !w.scheme.uses_secret()) {
        if webhook.is_some() {
            return Err(AdminError::Invalid(format!(
                "the {} scheme signs with the provider's certificate, not a shared secret: give no webhook secret",
                settings.scheme.name()
            )));
        }
        if settings.scheme == crate::webhook::Scheme::Paypal {
            crate::receiver::paypal_certs::webhook_id(&conn.config).map_err(AdminError::Invalid)?;
        }
    }
    let needs_secret = conn.webhook.as_ref().is_some_and(|w| w.scheme.uses_secret());
    if needs_secret && webhook.is_none() && !awaits_handshake {
        return Err(AdminError::Invalid(
            "a webhook scheme needs a webhook secret (--webhook-secret-file), or, for a provider that \
             sends it in a handshake (asana), --await-handshake"
                .into(),
        ));
    }
    if connections.get(&conn.id).await?.is_some() {
        return Err(StoreError::AlreadyExists {
            kind: "connection",
            id: conn.id.clone(),
        }
        .into());
    }
    if credentials
        .keys()
        .any(|k| k == "webhook_secret" || k == "previous_webhook_secret")
    {
        return Err(AdminError::Invalid(
            "give webhook secrets with --webhook-secret-file, not in the credentials".into(),
        ));
    }
    let arn = if webhook.is_none() && credentials.is_empty() && !awaits_handshake {
        None
    } else {
        let value = ConnectionSecretValue {
            webhook_secret: webhook.as_ref().map(|w| w.current.expose_secret().to_string()),
            previous_webhook_secret: webhook
                .as_ref()
                .and_then(|w| w.previous.as_ref())
                .map(|p| p.expose_secret().to_string()),
            other: credentials,
        };
        Some(secrets.create(&secret_name(&conn.tenant, &conn.id), &value).await?)
    };
    conn.secret_arn = arn.clone();
    if let Err(e) = connections.create(&conn).await {
        if let Some(arn) = arn {
            if let Err(cleanup) = secrets.delete_now(&arn).await {
                tracing::error!(message = "Could not delete the secret of a connection that failed to save.", arn = %arn, error = %cleanup);
            }
        }
        return Err(e.into());
    }
    Ok(conn)
}

/// A flow as a person describes it (the CLI's `flows create` flags, the API's body).
#[derive(Debug, Clone)]
pub struct FlowDraft {
    pub tenant: String,
    pub id: Option<String>,
    pub name: Option<String>,
    pub source: String,
    pub stream: String,
    pub destination: String,
    pub operation: String,
    pub mapping: String,
    /// Records the mapping must map (strict), or `None` to try made-up records.
    pub samples: Option<Vec<serde_json::Value>>,
    pub mode: crate::store::flows::SyncMode,
    pub every: Option<u64>,
    pub retry_schedule_secs: Option<Vec<u64>>,
    pub event_types: Vec<String>,
    /// Ids earlier flows of the tenant wrote, read by the mapping as `$links.<name>`.
    pub lookups: Vec<crate::store::flows::LinkLookup>,
}

/// Why a flow was refused, naming the field at fault.
#[derive(Debug, thiserror::Error)]
pub enum FlowRejection {
    #[error("{field}: {message}")]
    Field { field: &'static str, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn reject(field: &'static str, message: impl Into<String>) -> FlowRejection {
    FlowRejection::Field {
        field,
        message: message.into(),
    }
}

/// Checks a draft the way every flow is checked before it is saved: the mapping compiles and maps the samples within its bounds, both connections
/// exist and belong to the draft's tenant (another tenant's connection is reported as missing),
/// the source connector has the stream and the destination connector the write operation.
/// Both connections are read in one `BatchGetItem`; only `registry`'s connectors are known.
/// The CLI calls [`build_flow_for_tenant`] (the tenant's uploaded connectors too), the API
/// [`build_flow_with`] (connections it has read already).
pub async fn build_flow(
    registry: &crate::connector::Registry,
    connections: &ConnectionStore,
    flows: &crate::store::flows::FlowStore,
    draft: FlowDraft,
    now: i64,
) -> Result<crate::store::flows::Flow, FlowRejection> {
    let found = connections.get_many(&[&draft.source, &draft.destination]).await?;
    build_flow_with(registry, found, flows, draft, now).await
}

/// [`build_flow`] for a tenant that may have uploaded connectors of its own: the draft's
/// connections are read once (one `BatchGetItem`), and the uploaded connectors of those that
/// are the tenant's join the built-in ones for the checks, as the API's `POST /v1/flows` does.
pub async fn build_flow_for_tenant(
    registry: &std::sync::Arc<crate::connector::Registry>,
    tenant_connectors: &crate::store::tenant_connectors::TenantConnectorStore,
    connections: &ConnectionStore,
    flows: &crate::store::flows::FlowStore,
    draft: FlowDraft,
    now: i64,
) -> Result<crate::store::flows::Flow, FlowRejection> {
    let found = connections.get_many(&[&draft.source, &draft.destination]).await?;
    let registry = tenant_connectors
        .registry_for_connections(registry, &draft.tenant, &found)
        .await?;
    build_flow_with(&registry, found, flows, draft, now).await
}

/// [`build_flow`] with the draft's connections already read (by id, as
/// [`ConnectionStore::get_many`] returns them; a missing one is simply absent). The API reads
/// them once for both the tenant's connectors and these checks. The checks are the same and run
/// in the same order; whose connection it is is checked here, not by the caller.
pub async fn build_flow_with(
    registry: &crate::connector::Registry,
    mut found: std::collections::HashMap<String, Connection>,
    flows: &crate::store::flows::FlowStore,
    draft: FlowDraft,
    now: i64,
) -> Result<crate::store::flows::Flow, FlowRejection> {
    crate::store::table::validate_id("tenant", &draft.tenant).map_err(|e| reject("tenant", e.to_string()))?;
    if let Some(id) = &draft.id {
        crate::store::table::validate_id("flow id", id).map_err(|e| reject("id", e.to_string()))?;
    }
    check_mapping_text(&draft.mapping, draft.samples.as_deref())?;
    if draft.every == Some(0) {
        return Err(reject("every", "a schedule interval is at least 1 second"));
    }
    if let Some(schedule) = &draft.retry_schedule_secs {
        if schedule.is_empty() || schedule.contains(&0) {
            return Err(reject(
                "retry_schedule_secs",
                "a retry schedule holds at least one delay, each at least 1 second",
            ));
        }
    }
    check_lookups(&draft.lookups)?;
    for lookup in &draft.lookups {
        // Another tenant's flow is reported as missing, as a connection is.
        if flows.get(&lookup.flow).await?.is_none_or(|f| f.tenant != draft.tenant) {
            return Err(reject(
                "lookups",
                format!("lookup `{}`: flow {} does not exist", lookup.name, lookup.flow),
            ));
        }
    }
    let owned = |c: Option<Connection>| c.filter(|c| c.tenant == draft.tenant);
    let source = owned(found.get(&draft.source).cloned())
        .ok_or_else(|| reject("source", format!("connection {} does not exist", draft.source)))?;
    let destination = owned(found.remove(&draft.destination)).ok_or_else(|| {
        reject(
            "destination",
            format!("connection {} does not exist", draft.destination),
        )
    })?;
    let source_def = registry.get(&source.provider).ok_or_else(|| {
        reject(
            "source",
            format!("connection {} uses unknown connector {}", source.id, source.provider),
        )
    })?;
    if !source_def.stream_names().contains(&draft.stream) {
        return Err(reject(
            "stream",
            format!(
                "connector {} has no stream {:?}; it has: {}",
                source_def.id,
                draft.stream,
                source_def.stream_names().join(", ")
            ),
        ));
    }
    let webhooks_only = source_def
        .streams
        .get(&draft.stream)
        .is_some_and(|s| s.request.is_none());
    if webhooks_only && draft.every.is_some() {
        return Err(reject(
            "every",
            format!(
                "stream {:?} of connector {} is fed by webhooks only (there is no list to read): a flow from it runs on its events; leave out the schedule",
                draft.stream, source_def.id
            ),
        ));
    }
    let dest_def = registry.get(&destination.provider).ok_or_else(|| {
        reject(
            "destination",
            format!(
                "connection {} uses unknown connector {}",
                destination.id, destination.provider
            ),
        )
    })?;
    if !dest_def.write_names().contains(&draft.operation) {
        return Err(reject(
            "operation",
            format!(
                "connector {} has no write operation {:?}; it has: {}",
                dest_def.id,
                draft.operation,
                dest_def.write_names().join(", ")
            ),
        ));
    }
    if dest_def
        .writes
        .get(&draft.operation)
        .is_some_and(|w| w.kind == crate::connector::definition::WriteKind::Delete)
    {
        return Err(reject(
            "operation",
            format!(
                "{:?} of connector {} deletes records: a two-way link uses it for deletes (`on_delete: propagate`), a flow writes through one of the others",
                draft.operation, dest_def.id
            ),
        ));
    }
    Ok(crate::store::flows::Flow {
        id: draft
            .id
            .unwrap_or_else(|| format!("flow_{}", ulid::Ulid::new().to_string().to_lowercase())),
        tenant: draft.tenant,
        name: draft.name.unwrap_or_else(|| {
            format!(
                "{} {} -> {} {}",
                source.provider, draft.stream, destination.provider, draft.operation
            )
        }),
        source_connection: source.id,
        source_stream: draft.stream,
        destination_connection: destination.id,
        destination_operation: draft.operation,
        mapping: draft.mapping,
        mode: draft.mode,
        schedule_interval_secs: draft.every,
        event_types: draft.event_types,
        enabled: true,
        created_at: now,
        cursor: None,
        next_run_at: draft.every.map(|_| now),
        retry_schedule_secs: draft.retry_schedule_secs,
        // Paired afterwards (`flows link`), never at creation.
        reverse_flow: None,
        on_conflict: Default::default(),
        lookups: draft.lookups,
        match_on_create: None,
        on_delete: Default::default(),
        archive_mapping: None,
    })
}

/// The shape of a flow's lookups: each named once, as a jq variable member can be
/// (`$links.<name>`), its key a JSON pointer, its flow a valid id; at most 8.
fn check_lookups(lookups: &[crate::store::flows::LinkLookup]) -> Result<(), FlowRejection> {
    if lookups.len() > 8 {
        return Err(reject("lookups", "a flow has at most 8 lookups"));
    }
    let mut names = std::collections::HashSet::new();
    for lookup in lookups {
        let name_ok = !lookup.name.is_empty()
            && lookup.name.len() <= 64
            && lookup.name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && lookup.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !name_ok {
            return Err(reject(
                "lookups",
                format!(
                    "lookup name {:?}: letters, digits and _, not starting with a digit, at most 64",
                    lookup.name
                ),
            ));
        }
        if !names.insert(lookup.name.as_str()) {
            return Err(reject("lookups", format!("lookup `{}` is named twice", lookup.name)));
        }
        if !(lookup.key.is_empty() || lookup.key.starts_with('/')) || lookup.key.len() > 256 {
            return Err(reject(
                "lookups",
                format!(
                    "lookup `{}`: the key is a JSON pointer (`/studentID`), at most 256 bytes",
                    lookup.name
                ),
            ));
        }
        crate::store::table::validate_id("flow id", &lookup.flow)
            .map_err(|e| reject("lookups", format!("lookup `{}`: {e}", lookup.name)))?;
    }
    Ok(())
}

/// The mapping check of [`build_flow`], for a mapping changed on its own.
pub fn check_mapping_text(mapping: &str, samples: Option<&[serde_json::Value]>) -> Result<(), FlowRejection> {
    use crate::connector::MappingError;
    crate::connector::check_mapping(mapping, samples).map_err(|e| match e {
        MappingError::Sample { .. } => reject("mapping", format!("the mapping was refused: {e}")),
        other => reject("mapping", format!("the mapping does not compile: {other}")),
    })?;
    Ok(())
}

/// Makes a new API key for `tenant` and stores its hash: the CLI's bootstrap
/// (`switchyard keys create`) and the API's `POST /v1/keys` and rotation. The returned
/// [`crate::api::key_material::NewKey`] holds the key itself, to be shown once.
pub async fn create_api_key(
    keys: &crate::store::api_keys::ApiKeyStore,
    tenant: &str,
    name: &str,
    role: crate::store::api_keys::Role,
    tier: crate::store::api_keys::Tier,
    created_by: &str,
    now: i64,
) -> Result<(crate::api::key_material::NewKey, crate::store::api_keys::ApiKey), StoreError> {
    let new = crate::api::key_material::generate();
    let key = crate::store::api_keys::ApiKey {
        prefix: new.prefix.clone(),
        tenant: tenant.to_string(),
        name: name.to_string(),
        role,
        tier,
        hash: new.hash.clone(),
        created_at: now,
        created_by: created_by.to_string(),
        expires_at: None,
        rotated_to: None,
        revoked_at: None,
    };
    keys.create(&key).await?;
    Ok((new, key))
}
