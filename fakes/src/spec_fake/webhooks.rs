//! Webhooks the fake sends on writes: the profile's body, signed with the provider's scheme
//! by `switchyard::webhook::sign`, posted in the background.

use std::sync::atomic::{AtomicU64, Ordering};

use secrecy::SecretString;
use serde_json::{json, Value};
use switchyard::webhook::{sign, Scheme, SignInput};
use tracing::warn;

use super::{template, SpecFake};
use crate::profile::Collection;
use crate::timestamp::now_ms;

static EVENT_COUNTER: AtomicU64 = AtomicU64::new(1);

/// Records `event_type` for an object in the profile's event log, and sends it when the fake
/// has a webhook target.
pub(crate) fn emit(fake: &SpecFake, c: &Collection, event_type: Option<&str>, id: &str, object: &Value) {
    log_event(fake, c, event_type, id, object);
    send(fake, event_type, id, object);
}

/// Keeps `event_type` for an object in the profile's event log (the provider's events API).
pub(crate) fn log_event(fake: &SpecFake, _c: &Collection, event_type: Option<&str>, id: &str, object: &Value) {
    if let (Some(log), Some(event_type), Some(profile)) = (&fake.profile.event_log, event_type, &fake.profile.webhooks)
    {
        let now = now_ms();
        let vars = |name: &str| match name {
            "event_type" => Some(json!(event_type)),
            "object_id" => Some(json!(id)),
            "object" => Some(object.clone()),
            "occurred_at_ms" => Some(json!(now)),
            "occurred_at_secs" => Some(json!(now / 1000)),
            _ => None,
        };
        // The log assigns the event its own id and time, as the provider's store would.
        let mut body = template::fill(&profile.body, &vars);
        if let Some(map) = body.as_object_mut() {
            map.remove("id");
        }
        fake.record_event(log, &body);
    }
}

/// Sends `event_type` for an object when the fake has a webhook target.
fn send(fake: &SpecFake, event_type: Option<&str>, id: &str, object: &Value) {
    let (Some(url), Some(event_type), Some(profile)) = (&fake.webhook_url, event_type, &fake.profile.webhooks) else {
        return;
    };
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let event_number = EVENT_COUNTER.fetch_add(1, Ordering::Relaxed);
    let now = now_ms();
    let vars = |name: &str| match name {
        "event_type" => Some(json!(event_type)),
        "event_id" => Some(json!(format!("evt_fake_{event_number:010}"))),
        "event_id_number" => Some(json!(event_number)),
        "object_id" => Some(json!(id)),
        "object_id_number" => Some(id.parse::<u64>().map_or_else(|_| json!(id), |n| json!(n))),
        "object" => Some(object.clone()),
        "occurred_at_ms" => Some(json!(now)),
        "occurred_at_secs" => Some(json!(now / 1000)),
        _ => None,
    };
    let mut body = template::fill(&profile.body, &vars);
    if profile.batch {
        body = Value::Array(vec![body]);
    }
    let body = body.to_string().into_bytes();
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    if let Some(secret) = &fake.webhook_secret {
        let signed = Scheme::from_name(&profile.scheme)
            .map_err(|e| e.to_string())
            .and_then(|scheme| {
                sign(
                    &scheme,
                    &SignInput {
                        method: "POST",
                        url,
                        body: &body,
                        secret: &SecretString::from(secret.clone()),
                        now: now / 1000,
                        message_id: None,
                    },
                )
                .map_err(|e| e.to_string())
            });
        match signed {
            Ok(signature) => headers.extend(signature),
            Err(error) => warn!(message = "Webhook not signed.", fake = fake.name, error = %error),
        }
    }
    fake.webhooks_sent.fetch_add(1, Ordering::Relaxed);
    let client = fake.http.clone();
    let url = url.clone();
    let name = fake.name;
    runtime.spawn(async move {
        let mut request = client.post(&url).body(body);
        for (k, v) in headers {
            request = request.header(k, v);
        }
        if let Err(error) = request.send().await {
            warn!(message = "Webhook delivery failed.", fake = name, error = %error);
        }
    });
}
