//! localstripe (PyPI), the stateful fake Stripe, for connector tests.
//!
//! The first test that asks for it starts one localstripe server per test binary, from the
//! project's virtual environment (`.venv`, made by `make test` / `scripts/setup-venv.sh`), on a
//! free loopback port; it stops when the test process exits. Set `SWITCHYARD_LOCALSTRIPE` to
//! the base URL of a localstripe that is already running to use it instead.
//!
//! What to know when writing tests against it (localstripe 1.15):
//!
//! * It speaks Stripe's `/v1/...` API and accepts any `sk_...` key ([`API_KEY`]), as Basic or
//!   Bearer auth; request bodies may be form-encoded (as Stripe's) or JSON.
//! * State is shared by every test in the binary and kept in memory only: use unique emails
//!   and remember the ids you created rather than counting everything.
//! * Lists come oldest first (Stripe: newest first), paged with `limit` and `starting_after`.
//!   Customer lists filter only by `email`, not by `created`; `GET /v1/events` filters by
//!   `type` and `created[gt|gte|lt|lte]`. Customers have no `updated` field: incremental reads
//!   go through events (`customer.updated`).
//! * Webhooks: `POST /_config/webhooks/{name}` with `url`, `secret` and optionally `events`
//!   ([`LocalStripe::register_webhook`]). About one second after an event (for customers:
//!   `customer.created`, `customer.updated`, `customer.deleted`) localstripe POSTs the event JSON
//!   to every registered URL, signed like Stripe: `Stripe-Signature: t={created},v1={hex
//!   HMAC-SHA256 of "{t}.{body}" keyed with the secret's UTF-8 bytes}`. Registrations are global
//!   and cannot be removed: every test's endpoint receives every test's events, so filter on
//!   your own object ids. There are no retries.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The secret key tests send; localstripe accepts any key starting with `sk_`.
pub const API_KEY: &str = "sk_test_12345";

/// Serves localstripe's aiohttp app on 127.0.0.1 only (the stock `localstripe` command listens
/// on every interface) and keeps its state in memory (the stock store pickles itself to
/// `/tmp/localstripe.pickle` after every write and reloads it at start, which parallel runs
/// would share).
const LAUNCHER: &str = include_str!("../../scripts/localstripe_serve.py");

/// A running localstripe.
pub struct LocalStripe {
    /// `http://127.0.0.1:{port}`, without a trailing slash.
    pub base_url: String,
    client: reqwest::Client,
    _guard: Option<Mutex<Child>>,
}

static LOCALSTRIPE: OnceLock<LocalStripe> = OnceLock::new();

/// The shared localstripe, started on first use.
pub fn localstripe() -> &'static LocalStripe {
    LOCALSTRIPE.get_or_init(start)
}

/// A localstripe of the caller's own (stopped when dropped), for tests that sync "every
/// customer" and so must not see other tests' customers.
pub fn start_isolated() -> LocalStripe {
    spawn()
}

fn venv_bin(name: &str) -> PathBuf {
    super::workspace_root().join(".venv/bin").join(name)
}

fn start() -> LocalStripe {
    if let Ok(base_url) = std::env::var("SWITCHYARD_LOCALSTRIPE") {
        return LocalStripe::new(base_url.trim_end_matches('/').to_owned(), None);
    }
    spawn()
}

fn spawn() -> LocalStripe {
    let python = venv_bin("python");
    if !venv_bin("localstripe").exists() || !python.exists() {
        panic!(
            "\n\nThe fake Stripe server is missing: {} does not exist.\n\
             Run the README's test command (`make test`), which installs the pinned localstripe into .venv,\n\
             or install it yourself with `scripts/setup-venv.sh`, or point SWITCHYARD_LOCALSTRIPE at a running localstripe.\n",
            venv_bin("localstripe").display()
        );
    }
    let port = super::free_port();
    let log = std::env::temp_dir().join(format!("switchyard-localstripe-{port}.log"));
    // The shell wrapper stops localstripe when our stdin pipe closes, i.e. when the test process exits.
    let child = Command::new("sh")
        .arg("-c")
        .arg(r#""$0" -c "$1" "$2" >"$3" 2>&1 & pid=$!; read _; kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null"#)
        .arg(&python)
        .arg(LAUNCHER)
        .arg(port.to_string())
        .arg(&log)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start localstripe with {}: {e}", python.display()));
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr = format!("127.0.0.1:{port}");
    while std::net::TcpStream::connect(&addr).is_err() {
        if Instant::now() > deadline {
            let out = std::fs::read_to_string(&log).unwrap_or_default();
            panic!(
                "localstripe did not start on {addr} within 60 s. Its output ({}):\n{out}\n\
                 Reinstall it with `rm -rf .venv && scripts/setup-venv.sh`.",
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    LocalStripe::new(format!("http://{addr}"), Some(Mutex::new(child)))
}

impl LocalStripe {
    fn new(base_url: String, guard: Option<Mutex<Child>>) -> Self {
        // Each #[tokio::test] has its own runtime: a pooled connection would outlive the runtime
        // that opened it, so every request opens a fresh one.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("the localstripe client builds");
        Self {
            base_url,
            client,
            _guard: guard,
        }
    }

    /// `base_url` followed by `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    async fn call(&self, request: reqwest::RequestBuilder, what: &str) -> Value {
        let response = request
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap_or_else(|e| panic!("localstripe did not answer {what}: {e}"));
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "localstripe refused {what}: {status} {body}");
        serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("localstripe answered {what} with non-JSON ({e}): {body}"))
    }

    /// Creates a customer; returns it as Stripe does (`id` is `cus_...`).
    pub async fn create_customer(&self, email: &str, name: &str) -> Value {
        let request = self
            .client
            .post(self.url("/v1/customers"))
            .json(&json!({ "email": email, "name": name }));
        self.call(request, "a customer creation").await
    }

    /// Charges `amount` (in the currency's smallest unit) to a new test card (Visa 4242...) of
    /// `customer`; returns the charge as Stripe does (`id` is `ch_...`, `status` `succeeded`,
    /// `created` in Unix seconds). localstripe takes a charge's source as a payment method.
    pub async fn create_charge(&self, customer: &str, amount: u64, currency: &str, description: &str) -> Value {
        let card = json!({"type": "card", "card": {"number": "4242424242424242", "exp_month": 12,
            "exp_year": 2034, "cvc": "123"}});
        let request = self.client.post(self.url("/v1/payment_methods")).json(&card);
        let method = self.call(request, "a payment method creation").await;
        let pm = method["id"].as_str().expect("a payment method has an id");
        let request = self.client.post(self.url("/v1/charges")).json(&json!({
            "amount": amount, "currency": currency, "customer": customer, "source": pm,
            "description": description,
        }));
        self.call(request, "a charge creation").await
    }

    /// Updates a customer with the fields of a JSON object (e.g. `{"name": "..", "metadata":
    /// {"k": "v"}}`); returns the updated customer. Emits `customer.updated`.
    pub async fn update_customer(&self, id: &str, fields: Value) -> Value {
        let request = self.client.post(self.url(&format!("/v1/customers/{id}"))).json(&fields);
        self.call(request, "a customer update").await
    }

    /// Creates a customer who can pay (a test card as the default source: localstripe, like
    /// Stripe, refuses a subscription for a customer without a payment method).
    pub async fn create_paying_customer(&self, email: &str, name: &str) -> Value {
        let card = json!({"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}});
        let token = self
            .call(self.client.post(self.url("/v1/tokens")).json(&card), "a card token")
            .await;
        let request = self
            .client
            .post(self.url("/v1/customers"))
            .json(&json!({ "email": email, "name": name, "source": token["id"] }));
        self.call(request, "a customer creation").await
    }

    /// Creates a product and a monthly plan `id` of it costing `amount` (in cents, USD).
    pub async fn create_monthly_plan(&self, id: &str, product: &str, amount: u64) -> Value {
        let product = self
            .call(
                self.client
                    .post(self.url("/v1/products"))
                    .json(&json!({"name": product, "type": "service"})),
                "a product creation",
            )
            .await;
        let request = self.client.post(self.url("/v1/plans")).json(&json!({
            "id": id, "amount": amount, "currency": "usd", "interval": "month", "product": product["id"],
        }));
        self.call(request, "a plan creation").await
    }

    /// Subscribes `customer` to `plan`; returns the subscription as Stripe does.
    pub async fn create_subscription(&self, customer: &str, plan: &str) -> Value {
        let request = self
            .client
            .post(self.url("/v1/subscriptions"))
            .json(&json!({"customer": customer, "items": [{"plan": plan}]}));
        self.call(request, "a subscription creation").await
    }

    /// Cancels a subscription at once; returns it (`status: canceled`).
    pub async fn cancel_subscription(&self, id: &str) -> Value {
        let request = self.client.delete(self.url(&format!("/v1/subscriptions/{id}")));
        self.call(request, "a subscription cancellation").await
    }

    /// Deletes a customer (Stripe answers `{"id": .., "deleted": true}`).
    pub async fn delete_customer(&self, id: &str) -> Value {
        let request = self.client.delete(self.url(&format!("/v1/customers/{id}")));
        self.call(request, "a customer deletion").await
    }

    /// Every customer, oldest first (all pages).
    pub async fn list_customers(&self) -> Vec<Value> {
        let mut customers = Vec::new();
        let mut starting_after: Option<String> = None;
        loop {
            let mut url = self.url("/v1/customers?limit=100");
            if let Some(after) = &starting_after {
                url.push_str(&format!("&starting_after={after}"));
            }
            let page = self.call(self.client.get(url), "a customer list").await;
            let data = page["data"].as_array().cloned().unwrap_or_default();
            starting_after = data.last().and_then(|c| c["id"].as_str()).map(str::to_owned);
            customers.extend(data);
            if page["has_more"] != Value::Bool(true) || starting_after.is_none() {
                return customers;
            }
        }
    }

    /// Registers (or replaces) the webhook endpoint `name`: localstripe then POSTs every event
    /// (or only `events`) to `url`, signed with `secret` as Stripe signs (see the module docs).
    pub async fn register_webhook(&self, name: &str, url: &str, secret: &str, events: Option<&[&str]>) {
        let mut body = json!({ "url": url, "secret": secret });
        if let Some(events) = events {
            body["events"] = json!(events);
        }
        let response = self
            .client
            .post(self.url(&format!("/_config/webhooks/{name}")))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("localstripe did not answer a webhook registration: {e}"));
        assert!(
            response.status().is_success(),
            "localstripe refused the webhook registration: {}",
            response.status()
        );
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use switchyard::webhook::{self, Headers, Scheme, SigningSecrets, VerifyOptions, WebhookRequest};

    use super::*;

    fn unique(prefix: &str) -> String {
        format!("{prefix}-{}@example.com", ulid::Ulid::new().to_string().to_lowercase())
    }

    #[tokio::test]
    async fn customers_created_in_localstripe_are_listed_and_updated() {
        let stripe = localstripe();
        let (a, b) = (unique("ann"), unique("bob"));
        let ann = stripe.create_customer(&a, "Ann").await;
        let bob = stripe.create_customer(&b, "Bob").await;
        assert!(ann["id"].as_str().unwrap().starts_with("cus_"));
        let updated = stripe
            .update_customer(
                bob["id"].as_str().unwrap(),
                json!({"name": "Robert", "metadata": {"tier": "gold"}}),
            )
            .await;
        assert_eq!(updated["name"], "Robert");
        assert_eq!(updated["metadata"]["tier"], "gold");
        let customers = stripe.list_customers().await;
        let ours: Vec<&Value> = customers
            .iter()
            .filter(|c| c["id"] == ann["id"] || c["id"] == bob["id"])
            .collect();
        assert_eq!(ours.len(), 2);
        assert_eq!(ours[0]["email"], json!(a), "oldest first");
        assert_eq!(ours[1]["name"], "Robert");
    }

    /// Reads one HTTP/1.1 request: lower-case headers and the body (by Content-Length).
    async fn read_request(socket: &mut tokio::net::TcpStream) -> (Vec<(String, String)>, Vec<u8>) {
        let mut data = Vec::new();
        let mut chunk = [0u8; 4096];
        let header_end = loop {
            let n = socket.read(&mut chunk).await.expect("the request arrives");
            assert!(n > 0, "connection closed before the headers ended");
            data.extend_from_slice(&chunk[..n]);
            if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
        };
        let head = String::from_utf8_lossy(&data[..header_end]).into_owned();
        let headers: Vec<(String, String)> = head
            .lines()
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        while data.len() < header_end + length {
            let n = socket.read(&mut chunk).await.expect("the body arrives");
            assert!(n > 0, "connection closed before the body ended");
            data.extend_from_slice(&chunk[..n]);
        }
        (headers, data[header_end..header_end + length].to_vec())
    }

    #[tokio::test]
    async fn localstripe_webhooks_are_signed_like_stripes() {
        let stripe = localstripe();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/stripe", listener.local_addr().unwrap());
        let secret = "whsec_localstripe_test_secret";
        let name = format!("test-{}", ulid::Ulid::new());
        stripe
            .register_webhook(&name, &url, secret, Some(&["customer.created"]))
            .await;
        let customer = stripe.create_customer(&unique("hook"), "Hook").await;
        let id = customer["id"].as_str().unwrap().to_owned();

        // Other tests' events reach this endpoint too: wait for ours.
        let (headers, body) = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let (headers, body) = read_request(&mut socket).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
                let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                if event["data"]["object"]["id"] == json!(id) {
                    return (headers, body);
                }
            }
        })
        .await
        .expect("localstripe delivers customer.created within 20 s");

        let event: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(event["type"], "customer.created");
        assert!(event["id"].as_str().unwrap().starts_with("evt_"));
        let headers = Headers::from_pairs(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let request = WebhookRequest {
            method: "POST",
            url: &url,
            headers: &headers,
            body: &body,
        };
        let verified = webhook::verify(
            &Scheme::Stripe,
            &request,
            &SigningSecrets::new(secret),
            &VerifyOptions::default(),
        );
        assert!(verified.is_ok(), "{verified:?}");
    }
}
