//! The route table and one module per resource.

pub(crate) mod audit;
pub(crate) mod conflicts;
pub(crate) mod connections;
pub(crate) mod connectors;
pub(crate) mod dead_letters;
pub(crate) mod events;
pub(crate) mod flows;
pub(crate) mod keys;
pub(crate) mod me;
pub(crate) mod reviews;
pub(crate) mod subjects;
pub(crate) mod suggestions;
pub(crate) mod usage;
pub(crate) mod webhook_subscriptions;

use super::auth::{Caller, Permission};
use super::problem::Problem;
use super::request::ApiRequest;
use super::response::ApiResponse;
use super::ApiDeps;

/// Every route, with its path parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Me,
    ListConnectors,
    ShowConnector(String),
    UploadConnector,
    UploadConnectorVersion(String),
    ListConnectorVersions(String),
    ShowConnectorVersion(String, String),
    DeleteConnector(String),
    ListConnections,
    CreateConnection,
    ShowConnection(String),
    UpdateConnection(String),
    DeleteConnection(String),
    TestConnection(String),
    RotateConnectionSecret(String),
    ListConnectionEvents(String),
    ListEvents,
    ListFlows,
    CreateFlow,
    ShowFlow(String),
    UpdateFlow(String),
    PauseFlow(String),
    ResumeFlow(String),
    RunFlow(String),
    ListConflicts(String),
    ResolveConflict(String, String),
    ListReviews(String),
    ResolveReview(String, String),
    Suggest,
    ListDeadLetters,
    ShowDeadLetter(String),
    ReplayDeadLetter(String),
    ListKeys,
    CreateKey,
    RotateKey(String),
    RevokeKey(String),
    ListAudit,
    ExportAudit,
    ExportSubject(subjects::SubjectRef),
    EraseSubject(subjects::SubjectRef),
    ShowUsage,
    ListEventTypes,
    ListSubscriptions,
    CreateSubscription,
    ShowSubscription(String),
    UpdateSubscription(String),
    DeleteSubscription(String),
    RotateSubscriptionSecret(String),
    ListDeliveries(String),
    ResendDelivery(String, String),
    RecoverDeliveries(String),
}

const METHODS: [&str; 4] = ["GET", "POST", "PATCH", "DELETE"];

impl Route {
    /// The route for a method and raw path; 404 for an unknown path, 405 for a known path
    /// with another method.
    pub fn parse(method: &str, path: &str) -> Result<Route, Problem> {
        let segments: Vec<String> = match path.strip_prefix("/v1/") {
            Some(rest) => rest
                .trim_end_matches('/')
                .split('/')
                .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned())
                .collect(),
            None => return Err(Problem::not_found("no such route; the API lives under /v1/")),
        };
        if segments.iter().any(String::is_empty) {
            return Err(Problem::not_found("no such route"));
        }
        if let Some(route) = Self::matching(method, &segments) {
            return Ok(route);
        }
        let allow: Vec<&str> = METHODS
            .iter()
            .copied()
            .filter(|m| Self::matching(m, &segments).is_some())
            .collect();
        if allow.is_empty() {
            Err(Problem::not_found("no such route"))
        } else {
            Err(Problem::method_not_allowed(&allow))
        }
    }

    fn matching(method: &str, segments: &[String]) -> Option<Route> {
        let s: Vec<&str> = segments.iter().map(String::as_str).collect();
        let id = |i: usize| segments[i].clone();
        Some(match (method, s.as_slice()) {
            ("GET", ["me"]) => Route::Me,
            ("GET", ["connectors"]) => Route::ListConnectors,
            ("GET", ["connectors", _]) => Route::ShowConnector(id(1)),
            ("POST", ["connectors"]) => Route::UploadConnector,
            ("DELETE", ["connectors", _]) => Route::DeleteConnector(id(1)),
            ("POST", ["connectors", _, "versions"]) => Route::UploadConnectorVersion(id(1)),
            ("GET", ["connectors", _, "versions"]) => Route::ListConnectorVersions(id(1)),
            ("GET", ["connectors", _, "versions", _]) => Route::ShowConnectorVersion(id(1), id(3)),
            ("GET", ["connections"]) => Route::ListConnections,
            ("POST", ["connections"]) => Route::CreateConnection,
            ("GET", ["connections", _]) => Route::ShowConnection(id(1)),
            ("PATCH", ["connections", _]) => Route::UpdateConnection(id(1)),
            ("DELETE", ["connections", _]) => Route::DeleteConnection(id(1)),
            ("POST", ["connections", _, "test"]) => Route::TestConnection(id(1)),
            ("POST", ["connections", _, "rotate-secret"]) => Route::RotateConnectionSecret(id(1)),
            ("GET", ["connections", _, "events"]) => Route::ListConnectionEvents(id(1)),
            ("GET", ["events"]) => Route::ListEvents,
            ("GET", ["audit"]) => Route::ListAudit,
            ("GET", ["audit", "export"]) => Route::ExportAudit,
            ("GET", ["flows"]) => Route::ListFlows,
            ("POST", ["flows"]) => Route::CreateFlow,
            ("GET", ["flows", _]) => Route::ShowFlow(id(1)),
            ("PATCH", ["flows", _]) => Route::UpdateFlow(id(1)),
            ("POST", ["flows", _, "pause"]) => Route::PauseFlow(id(1)),
            ("POST", ["flows", _, "resume"]) => Route::ResumeFlow(id(1)),
            ("POST", ["flows", _, "run"]) => Route::RunFlow(id(1)),
            ("GET", ["flows", _, "conflicts"]) => Route::ListConflicts(id(1)),
            ("POST", ["flows", _, "conflicts", _, "resolve"]) => Route::ResolveConflict(id(1), id(3)),
            ("GET", ["flows", _, "reviews"]) => Route::ListReviews(id(1)),
            ("POST", ["flows", _, "reviews", _, "resolve"]) => Route::ResolveReview(id(1), id(3)),
            ("POST", ["suggestions"]) => Route::Suggest,
            ("GET", ["dead-letters"]) => Route::ListDeadLetters,
            ("GET", ["dead-letters", _]) => Route::ShowDeadLetter(id(1)),
            ("POST", ["dead-letters", _, "replay"]) => Route::ReplayDeadLetter(id(1)),
            ("GET", ["keys"]) => Route::ListKeys,
            ("POST", ["keys"]) => Route::CreateKey,
            ("POST", ["keys", _, "rotate"]) => Route::RotateKey(id(1)),
            ("POST", ["keys", _, "revoke"]) => Route::RevokeKey(id(1)),
            ("GET", ["subjects", _]) => Route::ExportSubject(subjects::SubjectRef::new(&segments[1])),
            ("DELETE", ["subjects", _]) => Route::EraseSubject(subjects::SubjectRef::new(&segments[1])),
            ("GET", ["usage"]) => Route::ShowUsage,
            ("GET", ["webhook-subscriptions"]) => Route::ListSubscriptions,
            // Before `{id}`: subscription ids are `whsub_...`, never this.
            ("GET", ["webhook-subscriptions", "event-types"]) => Route::ListEventTypes,
            ("POST", ["webhook-subscriptions"]) => Route::CreateSubscription,
            ("GET", ["webhook-subscriptions", _]) => Route::ShowSubscription(id(1)),
            ("PATCH", ["webhook-subscriptions", _]) => Route::UpdateSubscription(id(1)),
            ("DELETE", ["webhook-subscriptions", _]) => Route::DeleteSubscription(id(1)),
            ("POST", ["webhook-subscriptions", _, "rotate-secret"]) => Route::RotateSubscriptionSecret(id(1)),
            ("GET", ["webhook-subscriptions", _, "deliveries"]) => Route::ListDeliveries(id(1)),
            ("POST", ["webhook-subscriptions", _, "deliveries", _, "resend"]) => Route::ResendDelivery(id(1), id(3)),
            ("POST", ["webhook-subscriptions", _, "recover"]) => Route::RecoverDeliveries(id(1)),
            _ => return None,
        })
    }

    pub fn permission(&self) -> Permission {
        use Route::*;
        match self {
            Me
            | ListConnectors
            | ShowConnector(_)
            | ListConnectorVersions(_)
            | ShowConnectorVersion(_, _)
            | ListConnections
            | ShowConnection(_)
            | ListFlows
            | ShowFlow(_)
            | ListConflicts(_)
            | ListReviews(_)
            | Suggest
            | ListDeadLetters
            | ShowDeadLetter(_)
            | ListEvents
            | ListConnectionEvents(_)
            | ShowUsage
            | ListEventTypes
            | ListSubscriptions
            | ShowSubscription(_)
            | ListDeliveries(_) => Permission::Read,
            RunFlow(_) | ReplayDeadLetter(_) | TestConnection(_) | ResendDelivery(_, _) | RecoverDeliveries(_) => {
                Permission::Run
            }
            UploadConnector
            | UploadConnectorVersion(_)
            | DeleteConnector(_)
            | CreateConnection
            | UpdateConnection(_)
            | DeleteConnection(_)
            | RotateConnectionSecret(_)
            | CreateFlow
            | UpdateFlow(_)
            | PauseFlow(_)
            | ResumeFlow(_)
            | ResolveConflict(_, _)
            // Links two records (or has each side create its own): changes what the flows write.
            | ResolveReview(_, _)
            | CreateSubscription
            | UpdateSubscription(_)
            | DeleteSubscription(_)
            | RotateSubscriptionSecret(_)
            // A person's data, bodies included: as `?include=body`.
            | ExportSubject(_) => Permission::Write,
            ListKeys | CreateKey | RotateKey(_) | RevokeKey(_) | ListAudit | ExportAudit | EraseSubject(_) => {
                Permission::Admin
            }
        }
    }

    /// The audit log's name for what the route does; `None` for routes that only read (and
    /// touch no credential).
    pub fn audit_action(&self) -> Option<&'static str> {
        use Route::*;
        Some(match self {
            UploadConnector => "connector.upload",
            UploadConnectorVersion(_) => "connector.upload_version",
            DeleteConnector(_) => "connector.delete",
            CreateConnection => "connection.create",
            UpdateConnection(_) => "connection.update",
            DeleteConnection(_) => "connection.delete",
            // Reads the stored credentials to call the provider: a credential access.
            TestConnection(_) => "connection.test",
            RotateConnectionSecret(_) => "connection.rotate_secret",
            CreateFlow => "flow.create",
            UpdateFlow(_) => "flow.update",
            PauseFlow(_) => "flow.pause",
            ResumeFlow(_) => "flow.resume",
            RunFlow(_) => "flow.run",
            ResolveConflict(_, _) => "conflict.resolve",
            ResolveReview(_, _) => "review.resolve",
            ReplayDeadLetter(_) => "dead_letter.replay",
            CreateKey => "key.create",
            RotateKey(_) => "key.rotate",
            RevokeKey(_) => "key.revoke",
            // Personal data read out, and erased: both worth a record (by digest, never the address).
            ExportSubject(_) => "subject.export",
            EraseSubject(_) => "subject.erase",
            CreateSubscription => "webhook_subscription.create",
            UpdateSubscription(_) => "webhook_subscription.update",
            DeleteSubscription(_) => "webhook_subscription.delete",
            // Makes and shows a new signing secret: a credential access.
            RotateSubscriptionSecret(_) => "webhook_subscription.rotate_secret",
            ResendDelivery(_, _) => "webhook_delivery.resend",
            RecoverDeliveries(_) => "webhook_delivery.recover",
            Me
            | ListConnectors
            | ShowConnector(_)
            | ListConnectorVersions(_)
            | ShowConnectorVersion(_, _)
            | ListConnections
            | ShowConnection(_)
            | ListFlows
            | ShowFlow(_)
            | ListConflicts(_)
            | ListReviews(_)
            | Suggest
            | ListDeadLetters
            | ShowDeadLetter(_)
            | ListKeys
            | ListAudit
            | ExportAudit
            | ListEvents
            | ListConnectionEvents(_)
            | ShowUsage
            | ListEventTypes
            | ListSubscriptions
            | ShowSubscription(_)
            | ListDeliveries(_) => return None,
        })
    }

    /// The resource id in the route's path, if any.
    pub fn resource(&self) -> Option<&str> {
        use Route::*;
        match self {
            ShowConnector(id)
            | UploadConnectorVersion(id)
            | ListConnectorVersions(id)
            | ShowConnectorVersion(id, _)
            | DeleteConnector(id)
            | ShowConnection(id)
            | UpdateConnection(id)
            | DeleteConnection(id)
            | TestConnection(id)
            | RotateConnectionSecret(id)
            | ListConnectionEvents(id)
            | ShowFlow(id)
            | UpdateFlow(id)
            | PauseFlow(id)
            | ResumeFlow(id)
            | RunFlow(id)
            | ListConflicts(id)
            | ListReviews(id)
            | ShowDeadLetter(id)
            | ReplayDeadLetter(id)
            | RotateKey(id)
            | RevokeKey(id)
            | ShowSubscription(id)
            | UpdateSubscription(id)
            | DeleteSubscription(id)
            | RotateSubscriptionSecret(id)
            | ListDeliveries(id)
            | RecoverDeliveries(id) => Some(id),
            // The delivery: the audit entry's action names what was resent.
            ResendDelivery(_, delivery) => Some(delivery),
            // The record: the audit entry's action names what was resolved.
            ResolveConflict(_, record) | ResolveReview(_, record) => Some(record),
            // `subject:<digest>`: the address itself never reaches the audit log.
            ExportSubject(s) | EraseSubject(s) => Some(&s.target),
            Me | ListConnectors | UploadConnector | ListConnections | CreateConnection | ListFlows | CreateFlow
            | Suggest | ListDeadLetters | ListKeys | CreateKey | ListAudit | ExportAudit | ListEvents | ShowUsage
            | ListEventTypes | ListSubscriptions | CreateSubscription => None,
        }
    }

    /// Every route's name (the OpenAPI test checks each is documented).
    #[cfg(test)]
    pub fn all_names() -> Vec<&'static str> {
        let id = || "x".to_string();
        use Route::*;
        [
            Me,
            ListConnectors,
            ShowConnector(id()),
            UploadConnector,
            UploadConnectorVersion(id()),
            ListConnectorVersions(id()),
            ShowConnectorVersion(id(), id()),
            DeleteConnector(id()),
            ListConnections,
            CreateConnection,
            ShowConnection(id()),
            UpdateConnection(id()),
            DeleteConnection(id()),
            TestConnection(id()),
            RotateConnectionSecret(id()),
            ListConnectionEvents(id()),
            ListEvents,
            ListFlows,
            CreateFlow,
            ShowFlow(id()),
            UpdateFlow(id()),
            PauseFlow(id()),
            ResumeFlow(id()),
            RunFlow(id()),
            ListConflicts(id()),
            ResolveConflict(id(), id()),
            ListReviews(id()),
            ResolveReview(id(), id()),
            Suggest,
            ListDeadLetters,
            ShowDeadLetter(id()),
            ReplayDeadLetter(id()),
            ListKeys,
            CreateKey,
            RotateKey(id()),
            RevokeKey(id()),
            ListAudit,
            ExportAudit,
            ExportSubject(subjects::SubjectRef::new("ada@example.com")),
            EraseSubject(subjects::SubjectRef::new("ada@example.com")),
            ShowUsage,
            ListEventTypes,
            ListSubscriptions,
            CreateSubscription,
            ShowSubscription(id()),
            UpdateSubscription(id()),
            DeleteSubscription(id()),
            RotateSubscriptionSecret(id()),
            ListDeliveries(id()),
            ResendDelivery(id(), id()),
            RecoverDeliveries(id()),
        ]
        .iter()
        .map(Route::name)
        .collect()
    }

    /// For logs and metrics: the route's template, never its ids.
    pub fn name(&self) -> &'static str {
        use Route::*;
        match self {
            Me => "GET /v1/me",
            ListConnectors => "GET /v1/connectors",
            ShowConnector(_) => "GET /v1/connectors/{id}",
            UploadConnector => "POST /v1/connectors",
            UploadConnectorVersion(_) => "POST /v1/connectors/{id}/versions",
            ListConnectorVersions(_) => "GET /v1/connectors/{id}/versions",
            ShowConnectorVersion(_, _) => "GET /v1/connectors/{id}/versions/{version}",
            DeleteConnector(_) => "DELETE /v1/connectors/{id}",
            ListConnections => "GET /v1/connections",
            CreateConnection => "POST /v1/connections",
            ShowConnection(_) => "GET /v1/connections/{id}",
            UpdateConnection(_) => "PATCH /v1/connections/{id}",
            DeleteConnection(_) => "DELETE /v1/connections/{id}",
            TestConnection(_) => "POST /v1/connections/{id}/test",
            RotateConnectionSecret(_) => "POST /v1/connections/{id}/rotate-secret",
            ListConnectionEvents(_) => "GET /v1/connections/{id}/events",
            ListEvents => "GET /v1/events",
            ListAudit => "GET /v1/audit",
            ExportAudit => "GET /v1/audit/export",
            ListFlows => "GET /v1/flows",
            CreateFlow => "POST /v1/flows",
            ShowFlow(_) => "GET /v1/flows/{id}",
            UpdateFlow(_) => "PATCH /v1/flows/{id}",
            PauseFlow(_) => "POST /v1/flows/{id}/pause",
            ResumeFlow(_) => "POST /v1/flows/{id}/resume",
            RunFlow(_) => "POST /v1/flows/{id}/run",
            ListConflicts(_) => "GET /v1/flows/{id}/conflicts",
            ResolveConflict(_, _) => "POST /v1/flows/{id}/conflicts/{record}/resolve",
            ListReviews(_) => "GET /v1/flows/{id}/reviews",
            ResolveReview(_, _) => "POST /v1/flows/{id}/reviews/{record}/resolve",
            Suggest => "POST /v1/suggestions",
            ListDeadLetters => "GET /v1/dead-letters",
            ShowDeadLetter(_) => "GET /v1/dead-letters/{key}",
            ReplayDeadLetter(_) => "POST /v1/dead-letters/{key}/replay",
            ListKeys => "GET /v1/keys",
            CreateKey => "POST /v1/keys",
            RotateKey(_) => "POST /v1/keys/{prefix}/rotate",
            RevokeKey(_) => "POST /v1/keys/{prefix}/revoke",
            ExportSubject(_) => "GET /v1/subjects/{email}",
            EraseSubject(_) => "DELETE /v1/subjects/{email}",
            ShowUsage => "GET /v1/usage",
            ListEventTypes => "GET /v1/webhook-subscriptions/event-types",
            ListSubscriptions => "GET /v1/webhook-subscriptions",
            CreateSubscription => "POST /v1/webhook-subscriptions",
            ShowSubscription(_) => "GET /v1/webhook-subscriptions/{id}",
            UpdateSubscription(_) => "PATCH /v1/webhook-subscriptions/{id}",
            DeleteSubscription(_) => "DELETE /v1/webhook-subscriptions/{id}",
            RotateSubscriptionSecret(_) => "POST /v1/webhook-subscriptions/{id}/rotate-secret",
            ListDeliveries(_) => "GET /v1/webhook-subscriptions/{id}/deliveries",
            ResendDelivery(_, _) => "POST /v1/webhook-subscriptions/{id}/deliveries/{delivery}/resend",
            RecoverDeliveries(_) => "POST /v1/webhook-subscriptions/{id}/recover",
        }
    }
}

/// Runs an authorised route.
pub async fn dispatch(deps: &ApiDeps, caller: &Caller, route: Route, req: &ApiRequest) -> Result<ApiResponse, Problem> {
    use Route::*;
    match route {
        Me => me::show(caller),
        ListConnectors => connectors::list(deps, caller, req).await,
        ShowConnector(id) => connectors::show(deps, caller, &id).await,
        UploadConnector => connectors::upload(deps, caller, req).await,
        UploadConnectorVersion(id) => connectors::upload_version(deps, caller, &id, req).await,
        ListConnectorVersions(id) => connectors::versions(deps, caller, &id).await,
        ShowConnectorVersion(id, version) => connectors::show_version(deps, caller, &id, &version).await,
        DeleteConnector(id) => connectors::delete(deps, caller, &id).await,
        ListConnections => connections::list(deps, caller, req).await,
        CreateConnection => connections::create(deps, caller, req).await,
        ShowConnection(id) => connections::show(deps, caller, &id).await,
        UpdateConnection(id) => connections::update(deps, caller, &id, req).await,
        DeleteConnection(id) => connections::delete(deps, caller, &id).await,
        TestConnection(id) => connections::test(deps, caller, &id).await,
        RotateConnectionSecret(id) => connections::rotate_secret(deps, caller, &id, req).await,
        ListConnectionEvents(id) => events::list_for_connection(deps, caller, &id, req).await,
        ListEvents => events::list(deps, caller, req).await,
        ListAudit => audit::list(deps, caller, req).await,
        ExportAudit => audit::export(deps, caller, req).await,
        ListFlows => flows::list(deps, caller, req).await,
        CreateFlow => flows::create(deps, caller, req).await,
        ShowFlow(id) => flows::show(deps, caller, &id, req).await,
        UpdateFlow(id) => flows::update(deps, caller, &id, req).await,
        PauseFlow(id) => flows::pause(deps, caller, &id).await,
        ResumeFlow(id) => flows::resume(deps, caller, &id).await,
        RunFlow(id) => flows::run(deps, caller, &id, req).await,
        ListConflicts(id) => conflicts::list(deps, caller, &id).await,
        ResolveConflict(id, record) => conflicts::resolve(deps, caller, &id, &record, req).await,
        ListReviews(id) => reviews::list(deps, caller, &id).await,
        ResolveReview(id, record) => reviews::resolve(deps, caller, &id, &record, req).await,
        Suggest => suggestions::suggest(deps, caller, req).await,
        ListDeadLetters => dead_letters::list(deps, caller, req).await,
        ShowDeadLetter(key) => dead_letters::show(deps, caller, &key).await,
        ReplayDeadLetter(key) => dead_letters::replay(deps, caller, &key).await,
        ListKeys => keys::list(deps, caller, req).await,
        CreateKey => keys::create(deps, caller, req).await,
        RotateKey(prefix) => keys::rotate(deps, caller, &prefix, req).await,
        RevokeKey(prefix) => keys::revoke(deps, caller, &prefix).await,
        ExportSubject(subject) => subjects::export(deps, caller, &subject, req).await,
        EraseSubject(subject) => subjects::erase(deps, caller, &subject).await,
        ShowUsage => usage::show(deps, caller, req).await,
        ListEventTypes => webhook_subscriptions::event_types(),
        ListSubscriptions => webhook_subscriptions::list(deps, caller, req).await,
        CreateSubscription => webhook_subscriptions::create(deps, caller, req).await,
        ShowSubscription(id) => webhook_subscriptions::show(deps, caller, &id).await,
        UpdateSubscription(id) => webhook_subscriptions::update(deps, caller, &id, req).await,
        DeleteSubscription(id) => webhook_subscriptions::delete(deps, caller, &id).await,
        RotateSubscriptionSecret(id) => webhook_subscriptions::rotate_secret(deps, caller, &id).await,
        ListDeliveries(id) => webhook_subscriptions::deliveries(deps, caller, &id, req).await,
        ResendDelivery(id, delivery) => webhook_subscriptions::resend(deps, caller, &id, &delivery).await,
        RecoverDeliveries(id) => webhook_subscriptions::recover(deps, caller, &id, req).await,
    }
}

/// A JSON value that a PATCH may leave out (unchanged), set to `null` (cleared) or set.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) enum Patch<T> {
    #[default]
    Missing,
    Null,
    Value(T),
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Patch<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Option::<T>::deserialize(d).map(|v| v.map_or(Patch::Null, Patch::Value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_routes_and_other_methods_get_405() {
        assert_eq!(Route::parse("GET", "/v1/flows").unwrap(), Route::ListFlows);
        assert_eq!(
            Route::parse("POST", "/v1/flows/flow_1/run").unwrap(),
            Route::RunFlow("flow_1".into())
        );
        assert_eq!(
            Route::parse("GET", "/v1/dead-letters/job%3Af%3Aj").unwrap(),
            Route::ShowDeadLetter("job:f:j".into())
        );
        let p = Route::parse("PUT", "/v1/flows/f").unwrap_err();
        assert_eq!(p.status, 405);
        assert!(p.headers.iter().any(|(n, v)| *n == "allow" && v == "GET, PATCH"));
        assert_eq!(Route::parse("GET", "/v1/events").unwrap(), Route::ListEvents);
        assert_eq!(
            Route::parse("GET", "/v1/connections/conn_1/events").unwrap(),
            Route::ListConnectionEvents("conn_1".into())
        );
        assert_eq!(
            Route::parse("GET", "/v1/webhook-subscriptions/event-types").unwrap(),
            Route::ListEventTypes
        );
        assert_eq!(
            Route::parse("GET", "/v1/webhook-subscriptions/whsub_1").unwrap(),
            Route::ShowSubscription("whsub_1".into())
        );
        assert_eq!(Route::ListEventTypes.permission(), Permission::Read);
        assert_eq!(Route::parse("GET", "/v1/nothing").unwrap_err().status, 404);
        assert_eq!(Route::parse("GET", "/hooks/x").unwrap_err().status, 404);
        assert_eq!(Route::parse("GET", "/v1/flows//run").unwrap_err().status, 404);
        assert_eq!(
            Route::parse("POST", "/v1/flows/f/conflicts/rec%2F1/resolve").unwrap(),
            Route::ResolveConflict("f".into(), "rec/1".into())
        );
        assert_eq!(
            Route::parse("GET", "/v1/flows/f/conflicts").unwrap().permission(),
            Permission::Read
        );
        assert_eq!(
            Route::parse("POST", "/v1/flows/f/conflicts/r/resolve")
                .unwrap()
                .permission(),
            Permission::Write
        );
    }

    #[test]
    fn patch_tells_missing_from_null() {
        #[derive(serde::Deserialize)]
        struct B {
            #[serde(default)]
            every: Patch<u64>,
        }
        let b: B = serde_json::from_str("{}").unwrap();
        assert_eq!(b.every, Patch::Missing);
        let b: B = serde_json::from_str(r#"{"every": null}"#).unwrap();
        assert_eq!(b.every, Patch::Null);
        let b: B = serde_json::from_str(r#"{"every": 5}"#).unwrap();
        assert_eq!(b.every, Patch::Value(5));
    }
}
