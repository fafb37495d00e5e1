//! PayPal's side of certificate-signed webhooks, for tests: a PKI made at test time with
//! `openssl` (a root CA the receiver is told to trust, a TLS certificate for PayPal's API hosts,
//! the signing certificate for `messageverificationcerts.sandbox.paypal.com` with its RSA key,
//! and a second, untrusted CA with a signing certificate of its own), a certificate host that
//! serves the PEMs over HTTPS under PayPal's real host names and counts every fetch, and a
//! signer that signs deliveries as PayPal does.
//!
//! The receiver reaches the host through an HTTP `CONNECT` proxy it is built with
//! (`PaypalCertificates::with_overrides`): the proxy is this server, which then speaks TLS as
//! `api.sandbox.paypal.com` itself, so the receiver's TLS checks the real host name against
//! the test CA. Nothing here is reachable from a delivery.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

/// The host the certificates are served from, one of PayPal's.
pub const CERT_HOST: &str = "api.sandbox.paypal.com";
/// The name PayPal's sandbox signing certificate is issued for.
pub const SIGNER_NAME: &str = "messageverificationcerts.sandbox.paypal.com";
/// The webhook id the tests' connections are configured with (PayPal's shape).
pub const WEBHOOK_ID: &str = "9XL90610J3647323C";

/// Paths the host serves.
pub const GOOD: &str = "/v1/notifications/certs/CERT-360caa42-fca2a594-good";
pub const ROGUE: &str = "/v1/notifications/certs/CERT-360caa42-fca2a594-rogue";
pub const WRONG_NAME: &str = "/v1/notifications/certs/CERT-360caa42-fca2a594-name";

/// Runs `openssl` with `args` in `dir`, or panics saying how to get it.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("`openssl` did not run ({e}): install it (`apt-get install -y openssl`)"));
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("temp dir is writable");
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("openssl wrote {name}: {e}"))
}

/// A CA (`{name}.pem`, `{name}.key`), valid for ten days.
fn make_ca(dir: &Path, name: &str) {
    write(
        dir,
        &format!("{name}.cnf"),
        &format!(
            "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = Switchyard test {name}\n\
             [v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n\
             subjectKeyIdentifier = hash\n"
        ),
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-config",
            &format!("{name}.cnf"),
            "-extensions",
            "v3_ca",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "10",
        ],
    );
}

/// A leaf certificate `{name}.pem` for `dns` names, issued by `ca`, valid for two days, with
/// an RSA key (`rsa`) or a P-256 key; its key as PKCS#8 DER in `{name}.der`.
fn make_leaf(dir: &Path, name: &str, ca: &str, dns: &[&str], rsa: bool) {
    let sans: Vec<String> = dns.iter().map(|d| format!("DNS:{d}")).collect();
    write(
        dir,
        &format!("{name}.ext"),
        &format!(
            "basicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage = serverAuth,clientAuth\nsubjectAltName = {}\n",
            sans.join(",")
        ),
    );
    let key_args: &[&str] = if rsa {
        &["-newkey", "rsa:2048"]
    } else {
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    };
    let (subject, key, csr) = (format!("/CN={}", dns[0]), format!("{name}.key"), format!("{name}.csr"));
    let head: [&str; 5] = ["req", "-new", "-subj", &subject, "-nodes"];
    let tail: [&str; 4] = ["-keyout", &key, "-out", &csr];
    openssl(dir, &[&head[..], key_args, &tail[..]].concat());
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
        ],
    );
    // PKCS#8 (`pkey -outform DER` writes PKCS#1 for RSA).
    openssl(
        dir,
        &[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            &format!("{name}.key"),
            "-outform",
            "DER",
            "-out",
            &format!("{name}.der"),
        ],
    );
}

/// The test PKI.
pub struct Pki {
    dir: PathBuf,
    /// The root the receiver trusts (DER).
    pub root: CertificateDer<'static>,
    /// PKCS#8 DER of the signing certificate's key.
    signer_key: Vec<u8>,
    /// PKCS#8 DER of an RSA key no certificate carries.
    stranger_key: Vec<u8>,
    /// PKCS#8 DER of the key of the certificate the untrusted CA issued.
    rogue_key: Vec<u8>,
}

impl Pki {
    pub fn make() -> Self {
        let dir = std::env::temp_dir().join(format!("switchyard-paypal-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir).expect("temp dir is writable");
        make_ca(&dir, "root");
        make_ca(&dir, "rogue-root");
        make_leaf(&dir, "tls", "root", &[CERT_HOST, "api.paypal.com"], false);
        make_leaf(&dir, "signer", "root", &[SIGNER_NAME], true);
        make_leaf(&dir, "rogue", "rogue-root", &[SIGNER_NAME], true);
        make_leaf(&dir, "stranger", "root", &["other.example.com"], true);
        let root = CertificateDer::from_pem_slice(&read(&dir, "root.pem")).expect("root.pem is a certificate");
        Self {
            root: root.into_owned(),
            signer_key: read(&dir, "signer.der"),
            stranger_key: read(&dir, "stranger.der"),
            rogue_key: read(&dir, "rogue.der"),
            dir,
        }
    }

    fn pem(&self, name: &str) -> Vec<u8> {
        read(&self.dir, &format!("{name}.pem"))
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Which key signs a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// The key of the trusted signing certificate.
    Signer,
    /// An RSA key no served certificate carries.
    Stranger,
    /// The key of the certificate the untrusted CA issued.
    Rogue,
}

impl Pki {
    /// The headers PayPal sends with `body`: transmission id and time (`at`, unix seconds),
    /// the signature over `id|time|webhook_id|crc32(body)` with `key`, `cert_url`, the algorithm.
    pub fn sign(
        &self,
        key: Key,
        transmission_id: &str,
        at: i64,
        webhook_id: &str,
        cert_url: &str,
        body: &[u8],
    ) -> Vec<(String, String)> {
        let time = time::OffsetDateTime::from_unix_timestamp(at)
            .expect("a time in range")
            .format(&time::format_description::well_known::Rfc3339)
            .expect("formats");
        let message = switchyard::webhook::paypal::signed_message(transmission_id, &time, webhook_id, body);
        let der = match key {
            Key::Signer => &self.signer_key,
            Key::Stranger => &self.stranger_key,
            Key::Rogue => &self.rogue_key,
        };
        let pair = ring::signature::RsaKeyPair::from_pkcs8(der).expect("openssl wrote a PKCS#8 RSA key");
        let mut signature = vec![0; pair.public().modulus_len()];
        pair.sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            message.as_bytes(),
            &mut signature,
        )
        .expect("signs");
        vec![
            ("PAYPAL-TRANSMISSION-ID".into(), transmission_id.into()),
            ("PAYPAL-TRANSMISSION-TIME".into(), time),
            (
                "PAYPAL-TRANSMISSION-SIG".into(),
                base64::engine::general_purpose::STANDARD.encode(signature),
            ),
            ("PAYPAL-CERT-URL".into(), cert_url.into()),
            ("PAYPAL-AUTH-ALGO".into(), "SHA256withRSA".into()),
        ]
    }
}

/// PayPal's certificate host, reached as an HTTP `CONNECT` proxy.
pub struct CertHost {
    /// `http://127.0.0.1:<port>`: the proxy URL the receiver is built with.
    pub proxy_url: String,
    fetches: Arc<Mutex<HashMap<String, usize>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CertHost {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CertHost {
    /// Serves `/v1/notifications/certs/...`: [`GOOD`] (the signing certificate and the root, as
    /// PayPal serves a chain), [`ROGUE`] (a certificate of the untrusted CA), [`WRONG_NAME`] (a
    /// trusted certificate for another name); anything else is 404.
    pub async fn start(pki: &Pki) -> Self {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pki.pem("tls"))
            .collect::<Result<_, _>>()
            .expect("tls.pem is PEM");
        let key = PrivateKeyDer::from_pem_slice(&read(&pki.dir, "tls.key")).expect("tls.key is a key");
        let config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("the TLS certificate and key match");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let mut pems = HashMap::new();
        pems.insert(GOOD.to_owned(), [pki.pem("signer"), pki.pem("root")].concat());
        pems.insert(ROGUE.to_owned(), [pki.pem("rogue"), pki.pem("rogue-root")].concat());
        pems.insert(WRONG_NAME.to_owned(), pki.pem("stranger"));
        let pems = Arc::new(pems);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds a loopback port");
        let addr: SocketAddr = listener.local_addr().expect("has an address");
        let fetches: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let counted = fetches.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, pems, counted) = (acceptor.clone(), pems.clone(), counted.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, acceptor, &pems, &counted).await;
                });
            }
        });
        Self {
            proxy_url: format!("http://{addr}"),
            fetches,
            task,
        }
    }

    /// `https://api.sandbox.paypal.com{path}`.
    pub fn url(path: &str) -> String {
        format!("https://{CERT_HOST}{path}")
    }

    /// How many times `path` was fetched.
    pub fn fetches(&self, path: &str) -> usize {
        self.fetches.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// Every fetch, of any path.
    pub fn total_fetches(&self) -> usize {
        self.fetches.lock().unwrap().values().sum()
    }
}

/// Reads an HTTP head (up to the blank line) from `stream`.
async fn read_head<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await? == 0 || head.len() > 16 * 1024 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

async fn serve(
    mut stream: tokio::net::TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    pems: &HashMap<String, Vec<u8>>,
    fetches: &Mutex<HashMap<String, usize>>,
) -> std::io::Result<()> {
    // The proxy leg: only PayPal's hosts on 443 are tunnelled (to this very server).
    let head = read_head(&mut stream).await?;
    let target = head.split_whitespace().nth(1).unwrap_or_default().to_owned();
    if !head.starts_with("CONNECT ") || !(target == format!("{CERT_HOST}:443") || target == "api.paypal.com:443") {
        stream
            .write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            .await?;
        return Ok(());
    }
    stream.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n").await?;
    let mut tls = acceptor.accept(stream).await?;
    let head = read_head(&mut tls).await?;
    let mut parts = head.split_whitespace();
    let (method, path) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    *fetches.lock().unwrap().entry(path.to_owned()).or_default() += 1;
    let response = match (method, pems.get(path)) {
        ("GET", Some(pem)) => [
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/x-pem-file\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                pem.len()
            )
            .into_bytes(),
            pem.clone(),
        ]
        .concat(),
        _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
    };
    tls.write_all(&response).await?;
    tls.shutdown().await
}
