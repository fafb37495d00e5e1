//! The email connector (`kind: smtp`, lettre) against a real SMTP server on loopback
//! (aiosmtpd, see `switchyard_tests::mail`): the built-in definition's writes with a batch the
//! server and the templates partly refuse, SMTP AUTH, and the check; STARTTLS and implicit TLS
//! against the same server holding a certificate from a CA made by the test. The kind has no
//! streams: reading one is a configuration error.

use std::sync::Arc;

use serde_json::{json, Value};
use switchyard::connector::{
    ClientSettings, ConnectorClient, ConnectorError, Credentials, ErrorClass, ErrorKind, Registry, StreamState,
    WriteResult,
};
use switchyard_tests::mail::{MailServer, Security};

const USER: &str = "switchyard";
const PASSWORD: &str = "s3cret-pass";

fn bind(
    config: Value,
    secret: &[(&str, &str)],
    allow_private_network: bool,
) -> Result<ConnectorClient, ConnectorError> {
    switchyard_tests::log_capture::install();
    let registry = Registry::embedded().expect("built-in definitions");
    let def: Arc<_> = registry.get_shared("smtp").expect("built in");
    let mut settings = ClientSettings::from_connection_config(config.as_object().expect("an object"));
    settings.allow_private_network = allow_private_network;
    let mut credentials = Credentials::new();
    for (k, v) in secret {
        credentials = credentials.with(*k, *v);
    }
    let http =
        switchyard::connector::url_guard::http_client(std::time::Duration::from_secs(5), true).expect("HTTP client");
    ConnectorClient::new(def, settings, credentials, http)
}

fn config(server: &MailServer, security: &str) -> Value {
    json!({"host": "127.0.0.1", "port": server.port, "security": security,
           "from": "Switchyard Alerts <alerts@switchyard.test>"})
}

#[tokio::test]
async fn smtp_sends_templated_messages_and_refuses_records_alone() {
    let server = MailServer::start(Some((USER, PASSWORD)));
    let c = bind(
        config(&server, "plain"),
        &[("username", USER), ("password", PASSWORD)],
        true,
    )
    .expect("binds");
    let report = c.check().await.expect("the check connects and logs in");
    assert_eq!((report.status, report.auth), (250, "smtp_auth"));

    let batch = vec![
        json!({"to": "ada@example.com", "subject": "Welcome, Ada", "text": "Hello Ada,\nyour account is ready."}),
        json!({"subject": "No recipient", "text": "x"}),
        json!({"to": "refuse@example.com", "subject": "Refused", "text": "x"}),
        json!({"to": "busy@example.com", "subject": "Later", "text": "x"}),
        json!({"to": ["grace@example.com", "Edsger <edsger@example.com>"], "cc": "ops@example.com",
               "subject": "Two of you", "text": "Hi both"}),
        json!({"to": "not an address", "subject": "Bad", "text": "x"}),
    ];
    let results = c
        .write_batch("message.send", &batch)
        .await
        .expect("the batch is answered");
    let id = |r: &WriteResult| match r {
        WriteResult::Ok { destination_id } => destination_id.clone().expect("a Message-ID"),
        other => panic!("should be sent: {other:?}"),
    };
    let refused = |r: &WriteResult| match r {
        WriteResult::Failed { class, reason } => (*class, reason.clone()),
        other => panic!("should be refused: {other:?}"),
    };
    let ada_id = id(&results[0]);
    assert!(
        ada_id.starts_with('<') && ada_id.ends_with("@switchyard.test>"),
        "{ada_id}"
    );
    assert_eq!(
        refused(&results[1]),
        (ErrorClass::Permanent, "record 2: the mapped record has no `to`".into())
    );
    let (class, reason) = refused(&results[2]);
    assert_eq!(class, ErrorClass::Permanent, "550 is permanent: {reason}");
    assert!(reason.contains("550"), "{reason}");
    let (class, reason) = refused(&results[3]);
    assert_eq!(class, ErrorClass::Transient, "450 is worth a retry: {reason}");
    id(&results[4]);
    assert_eq!(refused(&results[5]).0, ErrorClass::Permanent);

    let received = server.received();
    assert_eq!(received.len(), 2, "only the sendable messages arrive: {received:?}");
    let ada = &received[0];
    assert_eq!(ada.mail_from, "alerts@switchyard.test");
    assert_eq!(ada.rcpt_tos, ["ada@example.com"]);
    assert_eq!(ada.login.as_deref(), Some(USER), "sent after AUTH");
    assert!(ada.data.contains("Subject: Welcome, Ada"), "{}", ada.data);
    assert!(
        ada.data.contains("Hello Ada,\r\nyour account is ready."),
        "{}",
        ada.data
    );
    assert!(ada.data.contains(&format!("Message-ID: {ada_id}")), "{}", ada.data);
    let both = &received[1];
    assert_eq!(
        both.rcpt_tos,
        ["grace@example.com", "edsger@example.com", "ops@example.com"]
    );
    assert!(both.data.contains("Cc: ops@example.com"), "{}", both.data);

    // The alert template.
    let results = c
        .write_batch(
            "alert.send",
            &[json!({"to": "ops@example.com", "title": "Flow parked", "summary": "1 message parked.", "detail": "flow_a: HTTP 400"})],
        )
        .await
        .expect("sent");
    id(&results[0]);
    let alert = server.received().pop().expect("the alert");
    assert!(
        alert.data.contains("Subject: [Switchyard] Flow parked"),
        "{}",
        alert.data
    );
    assert!(
        alert.data.contains("1 message parked.\r\n\r\nflow_a: HTTP 400"),
        "{}",
        alert.data
    );

    // No streams.
    let e = c
        .read_page("messages", &StreamState::full_refresh())
        .await
        .expect_err("no streams");
    assert_eq!(e.kind, ErrorKind::Config, "{e}");
}

/// Over STARTTLS and over implicit TLS, a message (after AUTH) arrives when the connection
/// trusts the CA that issued the server's certificate, by the name the certificate holds.
/// Without that CA, or by another name for the same server, the connection is refused before
/// anything is sent; and `starttls` never falls back to plain text with a server that does not
/// offer it.
#[tokio::test]
async fn smtp_over_starttls_and_tls_trusts_the_ca_the_connection_names() {
    let secret = [("username", USER), ("password", PASSWORD)];
    for (security, name) in [(Security::StartTls, "starttls"), (Security::Tls, "tls")] {
        let server = MailServer::start_with(Some((USER, PASSWORD)), security);
        let ca = server.ca_pem.clone().expect("a TLS server has a CA");
        let trusted = json!({"host": "localhost", "port": server.port, "security": name,
                             "ca_certificate": ca, "from": "Switchyard Alerts <alerts@switchyard.test>"});
        let c = bind(trusted.clone(), &secret, true).expect("binds");
        let report = c.check().await.unwrap_or_else(|e| panic!("{name} with the CA: {e}"));
        assert_eq!((report.status, report.auth), (250, "smtp_auth"), "{name}");
        let results = c
            .write_batch(
                "message.send",
                &[json!({"to": "ada@example.com", "subject": format!("Over {name}"), "text": "Encrypted."})],
            )
            .await
            .unwrap_or_else(|e| panic!("{name}: the batch is answered: {e}"));
        assert!(
            matches!(
                &results[0],
                WriteResult::Ok {
                    destination_id: Some(_)
                }
            ),
            "{name}: {results:?}"
        );
        let received = server.received();
        assert_eq!(received.len(), 1, "{name}: {received:?}");
        assert_eq!(received[0].login.as_deref(), Some(USER), "{name}: AUTH inside TLS");
        assert!(
            received[0].data.contains(&format!("Subject: Over {name}")),
            "{name}: {}",
            received[0].data
        );

        // The web's roots alone do not trust the test CA.
        let mut untrusted = trusted.clone();
        untrusted.as_object_mut().expect("object").remove("ca_certificate");
        let c = bind(untrusted, &secret, true).expect("binds");
        let e = c.check().await.expect_err("an unknown issuer is refused");
        assert_eq!(
            (e.class, e.kind),
            (ErrorClass::Permanent, ErrorKind::Config),
            "{name}: {e}"
        );
        assert!(e.message.contains("the TLS connection failed"), "{name}: {e}");
        let e = c
            .write_batch(
                "message.send",
                &[json!({"to": "ada@example.com", "subject": "No", "text": "x"})],
            )
            .await
            .expect_err("nothing is sent to an untrusted server");
        assert!(e.message.contains("the TLS connection failed"), "{name}: {e}");

        // The CA does not excuse a name the certificate was not issued for: the same server
        // by its address.
        let mut other_name = trusted.clone();
        other_name["host"] = json!("127.0.0.1");
        let c = bind(other_name, &secret, true).expect("binds");
        let e = c.check().await.expect_err("the certificate names localhost only");
        assert_eq!(
            (e.class, e.kind),
            (ErrorClass::Permanent, ErrorKind::Config),
            "{name}: {e}"
        );
        assert!(e.message.contains("the TLS connection failed"), "{name}: {e}");
        assert_eq!(server.received().len(), 1, "{name}: only the trusted message arrived");
    }

    // `starttls` with a server that offers no STARTTLS: refused, nothing sent in plain text.
    let plain = MailServer::start(Some((USER, PASSWORD)));
    let c = bind(
        json!({"host": "localhost", "port": plain.port, "security": "starttls",
               "from": "Switchyard Alerts <alerts@switchyard.test>"}),
        &secret,
        true,
    )
    .expect("binds");
    let e = c
        .write_batch(
            "message.send",
            &[json!({"to": "ada@example.com", "subject": "Plain?", "text": "x"})],
        )
        .await
        .expect_err("no STARTTLS, no mail");
    assert_eq!(e.class, ErrorClass::Permanent, "{e}");
    assert!(plain.received().is_empty(), "nothing arrived in plain text");
}
