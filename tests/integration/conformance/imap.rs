//! The mailbox connector (`kind: imap`, async-imap) against a real IMAP server on loopback
//! (Dovecot, see `switchyard_tests::imap`): a full read over three pages, an incremental read
//! that returns only the new mail, a changed UIDVALIDITY that reads the mailbox again, a fetch
//! by id, the check (a refused login, a missing mailbox), that a run logs in once for all its
//! pages, and that reading marks nothing as seen. The kind has no writes. Then TLS and
//! STARTTLS with a CA the connection names.

use std::sync::Arc;

use serde_json::{json, Value};
use switchyard::connector::{
    ClientSettings, ConnectorClient, ConnectorError, Credentials, ErrorClass, ErrorKind, Registry, StreamState,
};
use switchyard_tests::imap::ImapServer;

const STREAM: &str = "messages";

fn bind(server: &ImapServer, config: Value, password: &str) -> Result<ConnectorClient, ConnectorError> {
    switchyard_tests::log_capture::install();
    switchyard_tests::log_capture::known_secret(password);
    let registry = Registry::embedded().expect("built-in definitions");
    let def: Arc<_> = registry.get_shared("imap").expect("built in");
    let mut settings = ClientSettings::from_connection_config(config.as_object().expect("an object"));
    settings.allow_private_network = true;
    let credentials = Credentials::new()
        .with("username", server.user.as_str())
        .with("password", password);
    let http =
        switchyard::connector::url_guard::http_client(std::time::Duration::from_secs(5), true).expect("HTTP client");
    ConnectorClient::new(def, settings, credentials, http)
}

fn config(server: &ImapServer) -> Value {
    json!({"host": "127.0.0.1", "port": server.port, "security": "plain"})
}

/// Every page of a run from `since`: the records, the run's cursor and the pages read.
async fn read_all(c: &ConnectorClient, since: Option<String>) -> (Vec<Value>, Option<String>, u32) {
    let mut state = StreamState::incremental(since);
    let mut records = Vec::new();
    let mut pages = 0;
    loop {
        let page = c.read_page(STREAM, &state).await.expect("a page");
        assert!(page.rejected.is_empty(), "{:?}", page.rejected);
        pages += 1;
        records.extend(page.records);
        match page.next {
            Some(next) => state = next,
            None => return (records, page.max_cursor, pages),
        }
    }
}

fn subjects(records: &[Value]) -> Vec<&str> {
    records
        .iter()
        .map(|r| r["subject"].as_str().unwrap_or_default())
        .collect()
}

const WITH_ATTACHMENT: &str = "From: \"Ada Lovelace\" <ada@example.com>
To: support@example.com
Cc: ops@example.com
Subject: Printer report
Date: Thu, 02 May 2024 13:17:33 +0200
Message-ID: <report-1@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=\"b1\"

--b1
Content-Type: text/plain; charset=utf-8

The report is attached.
--b1
Content-Type: application/pdf; name=\"report.pdf\"
Content-Disposition: attachment; filename=\"report.pdf\"
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--b1--
";

#[tokio::test]
async fn imap_reads_a_mailbox_incrementally_by_uid_and_again_after_a_uidvalidity_change() {
    let server = ImapServer::start();
    let c = bind(&server, config(&server), &server.password).expect("binds");
    assert_eq!(c.check().await.expect("logs in and opens INBOX").auth, "imap_login");

    // An empty mailbox: one empty page, no cursor.
    let (records, cursor, _) = read_all(&c, None).await;
    assert!(records.is_empty() && cursor.is_none(), "{records:?} {cursor:?}");

    // 120 messages: three pages of 50, 50 and 20, in UID order. (Dovecot numbers the
    // messages that reach the Maildir together in the order it lists them, not ours.)
    server.deliver(WITH_ATTACHMENT);
    for i in 2..=120 {
        server.deliver_simple(
            &format!("Customer {i} <c{i}@example.com>"),
            &format!("Ticket {i}"),
            "Help!",
        );
    }
    let logins = server.logins(0);
    let (records, cursor, pages) = read_all(&c, None).await;
    assert_eq!((records.len(), pages), (120, 3), "{}", server.log());
    assert_eq!(
        server.logins(logins + 1),
        logins + 1,
        "one login for the run's three pages"
    );
    let uids: Vec<u64> = records.iter().map(|r| r["uid"].as_u64().expect("uid")).collect();
    assert!(uids.windows(2).all(|w| w[0] < w[1]), "ascending UIDs: {uids:?}");
    let mut got: Vec<&str> = subjects(&records);
    got.sort_unstable();
    let mut delivered: Vec<String> = (2..=120).map(|i| format!("Ticket {i}")).collect();
    delivered.push("Printer report".into());
    delivered.sort_unstable();
    assert_eq!(got, delivered, "every message once");
    let report = records
        .iter()
        .find(|r| r["subject"] == "Printer report")
        .expect("the report");
    assert_eq!(
        report["from"],
        json!({"name": "Ada Lovelace", "address": "ada@example.com"})
    );
    assert_eq!(report["to"], json!([{"name": null, "address": "support@example.com"}]));
    assert_eq!(report["cc"][0]["address"], "ops@example.com");
    assert_eq!(report["date"], "2024-05-02T11:17:33Z");
    assert_eq!(report["message_id"], "report-1@example.com");
    assert_eq!(report["text"], "The report is attached.");
    assert_eq!(
        report["attachments"],
        json!([{"filename": "report.pdf", "content_type": "application/pdf", "size": 9}])
    );
    assert_eq!(report["truncated"], false);
    let ticket = records.iter().find(|r| r["subject"] == "Ticket 7").expect("ticket 7");
    assert_eq!(ticket["from"]["address"], "c7@example.com");
    assert_eq!(ticket["text"], "Help!");
    let validity = report["uidvalidity"].as_u64().expect("uidvalidity");
    let cursor = cursor.expect("a cursor after a read");
    assert_eq!(
        cursor,
        records[119]["id"].as_str().expect("id"),
        "the cursor is the last message's place"
    );

    // Incremental: only what arrived since.
    let (records, same, _) = read_all(&c, Some(cursor.clone())).await;
    assert!(records.is_empty(), "nothing new: {:?}", subjects(&records));
    assert_eq!(same, None, "nothing read: no new cursor, so the flow keeps its own");
    server.deliver_simple("Grace <grace@example.com>", "New ticket A", "one");
    server.deliver_simple("Edsger <edsger@example.com>", "New ticket B", "two");
    let (records, next_cursor, pages) = read_all(&c, Some(cursor.clone())).await;
    let mut new = subjects(&records);
    new.sort_unstable();
    assert_eq!(new, ["New ticket A", "New ticket B"], "only the new mail");
    assert_eq!(pages, 1);
    let next_cursor = next_cursor.expect("moved");
    assert!(next_cursor > cursor, "{next_cursor} > {cursor}");

    // Fetch by id: this mailbox's message; an id of another UIDVALIDITY or UID is none.
    let id = records[1]["id"].as_str().expect("id").to_owned();
    let fetched = c.fetch_record(STREAM, &id).await.expect("fetch").expect("found");
    assert_eq!(fetched, records[1], "the same record as the read");
    let other_validity = format!("{:010}:{}", validity + 1, records[1]["uid"]);
    assert_eq!(c.fetch_record(STREAM, &other_validity).await.expect("fetch"), None);
    assert_eq!(c.fetch_record(STREAM, "0:99999").await.expect("fetch"), None);

    // The server rebuilds the mailbox (a new UIDVALIDITY): the old cursor means nothing, so
    // the next run reads all 122 messages again, under the new UIDVALIDITY.
    let new_validity = u32::try_from(validity).expect("32-bit") + 1000;
    server.set_uid_validity(new_validity);
    let (records, rebuilt_cursor, pages) = read_all(&c, Some(next_cursor.clone())).await;
    assert_eq!((records.len(), pages), (122, 3));
    assert!(records.iter().all(|r| r["uidvalidity"] == new_validity));
    let rebuilt_cursor = rebuilt_cursor.expect("a cursor");
    assert!(
        rebuilt_cursor.starts_with(&format!("{new_validity:010}:")),
        "{rebuilt_cursor}"
    );
    let (records, _, _) = read_all(&c, Some(rebuilt_cursor)).await;
    assert!(records.is_empty(), "and then only new mail again");

    // Reading marked nothing as seen: no message file carries Maildir's `S` flag.
    let seen: Vec<String> = server
        .maildir_files()
        .into_iter()
        .filter(|name| name.split_once(":2,").is_some_and(|(_, flags)| flags.contains('S')))
        .collect();
    assert!(seen.is_empty(), "marked as seen: {seen:?}");

    // No writes.
    let e = c
        .write_batch("message.send", &[json!({})])
        .await
        .expect_err("no writes");
    assert_eq!(e.kind, ErrorKind::Config, "{e}");
}

#[tokio::test]
async fn imap_check_names_a_refused_login_and_a_missing_mailbox_without_the_password() {
    let server = ImapServer::start();
    let wrong = "not-the-password";
    let c = bind(&server, config(&server), wrong).expect("binds");
    let e = c.check().await.expect_err("refused");
    assert_eq!((e.class, e.kind), (ErrorClass::ReAuth, ErrorKind::Credentials), "{e}");
    assert!(!e.message.contains(wrong), "{e}");

    let mut cfg = config(&server);
    cfg["mailbox"] = json!("Archive/2019");
    let c = bind(&server, cfg, &server.password).expect("binds");
    let e = c.check().await.expect_err("no such mailbox");
    assert_eq!((e.class, e.kind), (ErrorClass::Permanent, ErrorKind::Config), "{e}");
    assert!(e.message.contains("Archive/2019"), "names the mailbox: {e}");

    // Bad configuration is refused before anything is sent.
    let mut cfg = config(&server);
    cfg["mailbox"] = json!("INBOX\r\nA1 DELETE INBOX");
    let e = bind(&server, cfg, &server.password).expect_err("refused");
    assert_eq!(e.kind, ErrorKind::Config, "{e}");
    let registry = Registry::embedded().expect("built-in definitions");
    let mut settings = ClientSettings::from_connection_config(config(&server).as_object().expect("object"));
    settings.allow_private_network = false;
    let e = ConnectorClient::new(
        registry.get_shared("imap").expect("built in"),
        settings,
        Credentials::new()
            .with("username", server.user.as_str())
            .with("password", server.password.as_str()),
        switchyard::connector::url_guard::http_client(std::time::Duration::from_secs(5), false).expect("client"),
    )
    .expect_err("plain IMAP is refused where private networks are not allowed");
    assert_eq!(e.kind, ErrorKind::Config, "{e}");
}

/// TLS as deployed: a Dovecot whose certificate was issued by a CA made for this test. IMAPS
/// and STARTTLS both read the mailbox when the connection names that CA (`ca_certificate`,
/// trusted beside the web's roots); without it the same server is refused before the login is
/// sent, and so is an address the certificate does not name (it names `localhost` only). A `ca_certificate` that is not a
/// certificate is refused when the client is built.
#[tokio::test]
async fn imap_over_tls_and_starttls_trusts_the_ca_the_connection_names() {
    let server = ImapServer::start_tls();
    server.deliver_simple("Ada <ada@example.com>", "Over TLS", "Encrypted, hopefully.");
    let ca = server.ca_pem.clone().expect("a TLS server has a CA");
    let tls_port = server.tls_port.expect("a TLS server has an IMAPS port");
    let tls = json!({"host": "localhost", "port": tls_port, "security": "tls", "ca_certificate": ca});
    let c = bind(&server, tls.clone(), &server.password).expect("binds");
    c.check()
        .await
        .unwrap_or_else(|e| panic!("IMAPS with the CA: {e}\n{}", server.log()));
    let (records, _, _) = read_all(&c, None).await;
    assert_eq!(subjects(&records), ["Over TLS"]);

    let starttls = json!({"host": "localhost", "port": server.port, "security": "starttls", "ca_certificate": ca});
    let c = bind(&server, starttls, &server.password).expect("binds");
    let (records, _, _) = read_all(&c, None).await;
    assert_eq!(subjects(&records), ["Over TLS"], "STARTTLS reads the same mailbox");

    // The web's roots alone do not trust the test CA.
    let mut untrusted = tls.clone();
    untrusted.as_object_mut().expect("object").remove("ca_certificate");
    let c = bind(&server, untrusted, &server.password).expect("binds");
    let e = c.check().await.expect_err("an unknown issuer is refused");
    assert_eq!((e.class, e.kind), (ErrorClass::Permanent, ErrorKind::Config), "{e}");
    assert!(e.message.contains("TLS connection failed"), "{e}");
    // The CA does not excuse a name the certificate was not issued for: the same server by
    // its address.
    let mut other_name = tls.clone();
    other_name["host"] = json!("127.0.0.1");
    let c = bind(&server, other_name, &server.password).expect("binds");
    let e = c.check().await.expect_err("the certificate names localhost only");
    assert_eq!((e.class, e.kind), (ErrorClass::Permanent, ErrorKind::Config), "{e}");
    assert!(e.message.contains("TLS connection failed"), "{e}");

    let mut broken = tls;
    broken["ca_certificate"] = json!("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n");
    let e = bind(&server, broken, &server.password).expect_err("refused when bound");
    assert_eq!(e.kind, ErrorKind::Config, "{e}");
    assert!(e.message.contains("`ca_certificate`"), "{e}");
}
