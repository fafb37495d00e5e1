//! Outbound safety on every path a stranger's configuration can point somewhere: connector base
//! URLs, OAuth token URLs, next-page URLs, alert webhooks (shared/src/health/alert.rs has that
//! one). Each test listens on loopback, points the path at it in one of its spellings, and
//! asserts the refusal comes before any connection reaches the listener.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use switchyard::connector::{url_guard, ClientSettings, ConnectorClient, Credentials, ErrorKind, Registry};

/// A loopback listener that must never see a connection.
struct Trap {
    listener: TcpListener,
    port: u16,
}

impl Trap {
    fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        Self { listener, port }
    }

    /// The spellings of this listener's address a guard must see through.
    fn urls(&self, path: &str) -> Vec<String> {
        let p = self.port;
        vec![
            format!("http://127.0.0.1:{p}{path}"),
            format!("http://[::ffff:127.0.0.1]:{p}{path}"),
            format!("http://[::ffff:7f00:1]:{p}{path}"),
            format!("http://0x7f000001:{p}{path}"),
            format!("http://2130706433:{p}{path}"),
            format!("http://localhost:{p}{path}"),
        ]
    }

    fn assert_untouched(&self) {
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            matches!(self.listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "a connection reached the loopback listener"
        );
    }
}

fn registry_with(id: &str, yaml: &str) -> Arc<switchyard::connector::ConnectorDefinition> {
    let mut sources = Registry::embedded_sources().to_vec();
    let file: &'static str = Box::leak(format!("{id}.yaml").into_boxed_str());
    let text: &'static str = Box::leak(yaml.to_owned().into_boxed_str());
    sources.push((file, text));
    Registry::from_sources(sources)
        .expect("the test definition validates")
        .get_shared(id)
        .expect("it is registered")
}

fn settings(base_url: &str) -> ClientSettings {
    ClientSettings {
        base_url: Some(base_url.to_owned()),
        allow_private_network: false,
        request_timeout: Duration::from_secs(2),
        ..ClientSettings::default()
    }
}

#[tokio::test]
async fn a_connector_base_url_at_a_loopback_address_is_refused_before_connecting() {
    let trap = Trap::new();
    let def = Registry::embedded().unwrap().get_shared("generic-rest").unwrap();
    let http = url_guard::http_client(Duration::from_secs(2), false).unwrap();
    for url in trap.urls("") {
        let creds = Credentials::new().with("api_key", "test-api-key-123");
        match ConnectorClient::new(def.clone(), settings(&url), creds, http.clone()) {
            // A literal address is refused when the client is built.
            Err(e) => assert_eq!(e.kind, ErrorKind::UrlRejected, "{url}: {e}"),
            // A name is refused when it resolves, before the request goes out.
            Ok(client) => {
                let e = client
                    .check()
                    .await
                    .expect_err(&format!("{url}: the check must be refused"));
                assert!(
                    e.kind == ErrorKind::UrlRejected || e.message.contains("loopback"),
                    "{url}: {e}"
                );
            }
        }
    }
    trap.assert_untouched();
}

#[tokio::test]
async fn an_oauth_token_url_at_a_loopback_address_is_refused_before_connecting() {
    let trap = Trap::new();
    for token_url in trap.urls("/oauth/token") {
        let def = registry_with(
            "oauth-probe",
            &format!(
                r#"
id: oauth-probe
name: OAuth probe
# A public address: the API itself is never reached, the token request comes first.
base_url: https://93.184.216.34
auth:
  type: oauth2
  token_url: "{token_url}"
  grant: refresh_token
check:
  request: {{path: /me}}
streams:
  items:
    request: {{path: /items, query: {{after: "{{{{ page.token }}}}"}}}}
    records: /data
    pagination: {{type: cursor, token: /next}}
"#
            ),
        );
        let creds = Credentials::new()
            .with("client_id", "client-id-123")
            .with("client_secret", "client-secret-123")
            .with("refresh_token", "refresh-token-123");
        let http = url_guard::http_client(Duration::from_secs(2), false).unwrap();
        let client =
            ConnectorClient::new(def, settings("https://93.184.216.34"), creds, http).expect("the client binds");
        let e = client.check().await.expect_err("the token request must be refused");
        assert!(
            e.kind == ErrorKind::UrlRejected || e.message.contains("token_url"),
            "{token_url}: {e}"
        );
    }
    trap.assert_untouched();
}

#[tokio::test]
async fn a_next_page_url_pointing_elsewhere_is_refused_before_connecting() {
    // The provider (a fake on loopback, allowed here) answers with a next-page URL on another
    // host: the client must not follow it with the connection's credentials.
    let trap = Trap::new();
    let next = format!("http://127.0.0.2:{}/items?page=2", trap.port);
    let provider = axum::Router::new().route(
        "/items",
        axum::routing::get(move || {
            let next = next.clone();
            async move { axum::Json(json!({"data": [{"id": "1"}], "next": next})) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, provider).await });
    let def = registry_with(
        "next-probe",
        r#"
id: next-probe
name: Next-URL probe
base_url: https://api.example.com
auth: {type: bearer, credential: access_token}
streams:
  items:
    request: {path: /items}
    records: /data
    pagination: {type: next_url, pointer: /next}
"#,
    );
    let mut s = settings(&base);
    s.allow_private_network = true;
    let http = url_guard::http_client(Duration::from_secs(2), true).unwrap();
    let client = ConnectorClient::new(def, s, Credentials::new().with("access_token", "token-123456"), http).unwrap();
    let e = client
        .read_page("items", &switchyard::connector::StreamState::full_refresh())
        .await
        .expect_err("a page whose next URL points to another host is refused");
    assert_eq!(e.kind, ErrorKind::UrlRejected, "{e}");
    trap.assert_untouched();
}
