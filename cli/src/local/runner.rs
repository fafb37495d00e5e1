//! The local runner: serves the template's HTTP route as API Gateway would (payload v2) and
//! polls the sync queue as Lambda's event source mapping would (batches, partial batch failures,
//! redrive by the queue's own policy), calling the same shared handlers the functions call.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpRequestContext};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine as _;
use switchyard::receiver::{self, ReceiverDeps};
use switchyard::sync::{self, SyncDeps};

/// Builds the API Gateway HTTP API (payload v2) event for a request, as API Gateway does.
pub fn apigw_event(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    host: &str,
    connection_id: &str,
) -> ApiGatewayV2httpRequest {
    let mut event = ApiGatewayV2httpRequest::default();
    event.version = Some("2.0".into());
    event.route_key = Some(format!("{method} /hooks/{{connection_id}}"));
    event.raw_path = Some(uri.path().to_string());
    event.raw_query_string = Some(uri.query().unwrap_or("").to_string());
    event.headers = headers.clone();
    event
        .headers
        .insert("x-forwarded-proto", axum::http::HeaderValue::from_static("http"));
    event.path_parameters = HashMap::from([("connection_id".to_string(), connection_id.to_string())]);
    let mut ctx = ApiGatewayV2httpRequestContext::default();
    ctx.domain_name = Some(host.to_string());
    ctx.request_id = Some(ulid::Ulid::new().to_string());
    ctx.route_key = event.route_key.clone();
    ctx.http.method = method.clone();
    ctx.http.path = Some(uri.path().to_string());
    ctx.time_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    event.request_context = ctx;
    match std::str::from_utf8(body) {
        Ok(text) => {
            event.body = Some(text.to_string());
            event.is_base64_encoded = false;
        }
        Err(_) => {
            event.body = Some(base64::engine::general_purpose::STANDARD.encode(body));
            event.is_base64_encoded = true;
        }
    }
    event
}

#[derive(Clone)]
struct Http {
    receiver: Arc<ReceiverDeps>,
    api: Arc<switchyard::api::ApiDeps>,
    host: String,
}

/// The request path as printed: a path secret after the connection id is never shown.
fn shown_path(path: &str) -> String {
    match path.split_once("/hooks/") {
        Some((before, rest)) => match rest.split_once('/') {
            Some((id, _secret)) => format!("{before}/hooks/{id}/[redacted]"),
            None => path.to_owned(),
        },
        None => path.to_owned(),
    }
}

/// `/hooks/{connection_id}/{secret}`: the secret stays in the path the receiver reads.
async fn hook_with_secret(
    state: State<Http>,
    Path((connection_id, _secret)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    hook(state, Path(connection_id), method, uri, headers, body).await
}

async fn hook(
    State(http): State<Http>,
    Path(connection_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let event = apigw_event(&method, &uri, &headers, &body, &http.host, &connection_id);
    let resp = receiver::handle(&http.receiver, event).await;
    let status = StatusCode::from_u16(resp.status_code as u16).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    eprintln!(
        "webhook-receiver  {} {} -> {} ({} ms)",
        method,
        shown_path(uri.path()),
        status.as_u16(),
        started.elapsed().as_millis()
    );
    let mut out = match resp.body {
        Some(Body::Text(t)) => (status, t).into_response(),
        Some(Body::Binary(b)) => (status, b).into_response(),
        _ => status.into_response(),
    };
    out.headers_mut().extend(resp.headers);
    out
}

/// `/v1/...`: the management API, as API Gateway's `ANY /v1/{proxy+}` route hands it over.
async fn api_route(State(http): State<Http>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let started = Instant::now();
    let mut event = apigw_event(&method, &uri, &headers, &body, &http.host, "");
    let (route_key, prefix) = if uri.path().starts_with("/v1/") {
        ("ANY /v1/{proxy+}", "/v1/")
    } else {
        ("GET /console/{proxy+}", "/console/")
    };
    event.route_key = Some(route_key.into());
    event.request_context.route_key = event.route_key.clone();
    event.path_parameters = HashMap::from([("proxy".to_string(), uri.path().trim_start_matches(prefix).to_string())]);
    let resp = switchyard::api::handle_apigw(&http.api, event).await;
    let status = StatusCode::from_u16(resp.status_code as u16).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    eprintln!(
        "api               {} {} -> {} ({} ms)",
        method,
        uri.path(),
        status.as_u16(),
        started.elapsed().as_millis()
    );
    let mut out = match resp.body {
        Some(Body::Text(t)) => (status, t).into_response(),
        Some(Body::Binary(b)) => (status, b).into_response(),
        _ => status.into_response(),
    };
    out.headers_mut().extend(resp.headers);
    out
}

/// Serves `POST /hooks/{connection_id}` (and `GET`, for verification challenges), the
/// management API under `/v1/` and the console under `/console` on `listener` until the task is
/// dropped.
pub async fn serve_http(
    listener: tokio::net::TcpListener,
    receiver: Arc<ReceiverDeps>,
    api: Arc<switchyard::api::ApiDeps>,
) -> anyhow::Result<()> {
    let host = listener.local_addr()?.to_string();
    let app = Router::new()
        .route("/hooks/{connection_id}", post(hook).get(hook))
        .route(
            "/hooks/{connection_id}/{secret}",
            post(hook_with_secret).get(hook_with_secret),
        )
        .route("/v1/{*proxy}", axum::routing::any(api_route))
        // The admin console's assets, served by the api function (template: GET /console and
        // GET /console/{proxy+}).
        .route("/console", axum::routing::get(api_route))
        .route("/console/{*proxy}", axum::routing::get(api_route))
        .with_state(Http { receiver, api, host });
    axum::serve(listener, app).await?;
    Ok(())
}

/// How the poller behaves (the template's event source mapping).
pub struct PollSettings {
    pub batch_size: i32,
    /// Visibility timeout given to a failed message so it comes back soon (Lambda would leave
    /// the queue's own timeout; locally that would be an hour and a half).
    pub retry_visibility_secs: i32,
}

/// connector-sync's handler for one batch.
pub fn sync_handler(deps: Arc<SyncDeps>, timeout: Duration) -> impl Fn(SqsEvent) -> BoxedBatch + Send + Sync {
    move |event| {
        let deps = deps.clone();
        Box::pin(async move { sync::handle_sqs(&deps, event, Some(Instant::now() + timeout)).await })
    }
}

/// retry-handler's handler for one batch of the dead-letter queue.
pub fn retry_handler(deps: Arc<switchyard::retry::RetryDeps>) -> impl Fn(SqsEvent) -> BoxedBatch + Send + Sync {
    move |event| {
        let deps = deps.clone();
        Box::pin(async move { switchyard::retry::handle_dlq(&deps, event).await })
    }
}

/// A handler's answer to one batch.
pub type BoxedBatch =
    std::pin::Pin<Box<dyn std::future::Future<Output = aws_lambda_events::event::sqs::SqsBatchResponse> + Send>>;

/// Polls `queue_url` as an event source mapping and hands each batch to `handler` (logged as
/// `function`), deleting the messages that succeeded. Failed messages come back after
/// `retry_visibility_secs`; the queue's redrive policy moves them to its dead-letter queue
/// after maxReceiveCount receives.
pub async fn poll_queue(
    function: &'static str,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    settings: PollSettings,
    handler: impl Fn(SqsEvent) -> BoxedBatch,
) {
    loop {
        let received = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(settings.batch_size)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
            .wait_time_seconds(1)
            .send()
            .await;
        let messages = match received {
            Ok(r) => r.messages.unwrap_or_default(),
            Err(e) => {
                eprintln!(
                    "connector-sync    cannot poll the sync queue: {}",
                    switchyard::aws::describe_sdk_error(&e)
                );
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        if messages.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        let mut event = SqsEvent::default();
        let mut receipts = HashMap::new();
        for m in &messages {
            let mut record = SqsMessage::default();
            record.message_id = m.message_id.clone();
            record.receipt_handle = m.receipt_handle.clone();
            record.body = m.body.clone();
            record.event_source = Some("aws:sqs".into());
            if let Some(attrs) = &m.attributes {
                for (k, v) in attrs {
                    record.attributes.insert(k.as_str().to_string(), v.clone());
                }
            }
            receipts.insert(
                m.message_id.clone().unwrap_or_default(),
                m.receipt_handle.clone().unwrap_or_default(),
            );
            event.records.push(record);
        }
        let started = Instant::now();
        let resp = handler(event).await;
        let failed: Vec<String> = resp
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        eprintln!(
            "{function:<17} {} message(s), {} failed ({} ms)",
            messages.len(),
            failed.len(),
            started.elapsed().as_millis()
        );
        for (id, receipt) in receipts {
            let settled = if failed.contains(&id) {
                sqs.change_message_visibility()
                    .queue_url(&queue_url)
                    .receipt_handle(receipt)
                    .visibility_timeout(settings.retry_visibility_secs)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| switchyard::aws::describe_sdk_error(&e))
            } else {
                sqs.delete_message()
                    .queue_url(&queue_url)
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| switchyard::aws::describe_sdk_error(&e))
            };
            if let Err(e) = settled {
                eprintln!("{function:<17} cannot settle message {id}: {e}");
            }
        }
    }
}

/// Fires the template's schedules: connector-sync's dispatch tick every minute and the health
/// checker every five minutes, as EventBridge would (the first ticks right away). A health run
/// gets `health_timeout`, the function's timeout in the template.
pub async fn fire_schedules(
    sync_deps: Arc<SyncDeps>,
    dispatcher: Arc<switchyard::dispatch::Dispatcher>,
    health: Arc<switchyard::health::HealthDeps>,
    health_timeout: Duration,
) {
    let mut dispatch = tokio::time::interval(Duration::from_secs(60));
    let mut checks = tokio::time::interval(Duration::from_secs(300));
    loop {
        tokio::select! {
            _ = dispatch.tick() => {
                let started = Instant::now();
                match dispatcher.tick(&sync_deps).await {
                    Ok(r) => eprintln!(
                        "connector-sync    dispatch tick: {} due, {} dispatched, {} skipped (open circuit) ({} ms)",
                        r.due,
                        r.dispatched.len(),
                        r.skipped_open_circuit.len(),
                        started.elapsed().as_millis()
                    ),
                    Err(e) => eprintln!("connector-sync    dispatch tick failed: {e}"),
                }
            }
            _ = checks.tick() => {
                let started = Instant::now();
                let deadline = Instant::now() + health_timeout;
                match switchyard::health::run_checks(&health, Some(deadline)).await {
                    Ok(r) => eprintln!(
                        "health-checker    {} connections, {} checked, {} state changes, {} alerts ({} ms)",
                        r.connections,
                        r.checked,
                        r.transitions,
                        r.alerts_sent,
                        started.elapsed().as_millis()
                    ),
                    Err(e) => eprintln!("health-checker    run failed: {e}"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_body_is_sent_base64_like_api_gateway() {
        assert_eq!(shown_path("/hooks/conn_1/s3cret"), "/hooks/conn_1/[redacted]");
        assert_eq!(shown_path("/hooks/conn_1"), "/hooks/conn_1");
        let uri: Uri = "/hooks/conn_1?a=1".parse().unwrap();
        let ev = apigw_event(
            &Method::POST,
            &uri,
            &HeaderMap::new(),
            &[0xff, 0x00],
            "127.0.0.1:3000",
            "conn_1",
        );
        assert!(ev.is_base64_encoded);
        assert_eq!(ev.raw_query_string.as_deref(), Some("a=1"));
        let parsed = receiver::from_apigw(&ev, 1024).unwrap();
        assert_eq!(parsed.body, vec![0xff, 0x00]);
        assert_eq!(parsed.url, "http://127.0.0.1:3000/hooks/conn_1?a=1");
        assert_eq!(parsed.connection_id, "conn_1");
    }
}
