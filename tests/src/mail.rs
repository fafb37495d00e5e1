//! A real SMTP server on loopback (`aiosmtpd` from PyPI, run by `scripts/smtp_sink.py`) for
//! the email connector's tests: each test starts its own on a free port and reads what it
//! received. The server comes from the project's virtual environment (`.venv`, made by
//! `scripts/setup-venv.sh` from requirements-dev.txt); set `SWITCHYARD_SMTP_PYTHON` to another
//! Python that has aiosmtpd installed.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LAUNCHER: &str = include_str!("../../scripts/smtp_sink.py");

/// A message the server accepted.
#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    /// The message as sent (headers and body).
    pub data: String,
    /// The AUTH login used, if any.
    pub login: Option<String>,
}

/// How the server secures its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    Plain,
    /// Offers STARTTLS and requires it before any mail.
    StartTls,
    /// TLS from the first byte (as on port 465).
    Tls,
}

/// A running SMTP server; stopped when dropped.
pub struct MailServer {
    pub port: u16,
    /// With TLS: the PEM of the CA that issued the server's certificate (for `localhost`
    /// only), made for this server ([`super::tls::make_certificates`]).
    pub ca_pem: Option<String>,
    mailbox: PathBuf,
    child: Child,
}

fn python() -> PathBuf {
    std::env::var_os("SWITCHYARD_SMTP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| super::workspace_root().join(".venv/bin/python"))
}

impl MailServer {
    /// Starts a server; with `auth`, AUTH with that user name and password is required.
    pub fn start(auth: Option<(&str, &str)>) -> Self {
        Self::start_with(auth, Security::Plain)
    }

    /// Starts a server secured as `security` says, with a certificate for `localhost` from a
    /// CA made for it ([`Self::ca_pem`]).
    pub fn start_with(auth: Option<(&str, &str)>, security: Security) -> Self {
        let python = python();
        let has_aiosmtpd = Command::new(&python)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !has_aiosmtpd {
            panic!(
                "\n\nThe SMTP test server is missing: {} cannot import aiosmtpd.\n\
                 Run `scripts/setup-venv.sh` (it installs requirements-dev.txt, aiosmtpd included, into .venv),\n\
                 or point SWITCHYARD_SMTP_PYTHON at a Python that has aiosmtpd.\n",
                python.display()
            );
        }
        let port = super::free_port();
        let dir = std::env::temp_dir().join(format!("switchyard-smtp-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir).expect("temp dir is writable");
        let mailbox = dir.join("mailbox.jsonl");
        let log = dir.join("server.log");
        let mut cmd = Command::new(&python);
        cmd.arg("-c").arg(LAUNCHER).arg(port.to_string()).arg(&mailbox);
        if let Some((user, password)) = auth {
            cmd.arg(user).arg(password);
        }
        let ca_pem = match security {
            Security::Plain => None,
            Security::StartTls | Security::Tls => {
                let ca = super::tls::make_certificates(&dir);
                let flag = if security == Security::Tls {
                    "--tls"
                } else {
                    "--starttls"
                };
                cmd.arg(flag).arg(dir.join("server.pem")).arg(dir.join("server.key"));
                Some(ca)
            }
        };
        let child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("could not start the SMTP server with {}: {e}", python.display()));
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = format!("127.0.0.1:{port}");
        while std::net::TcpStream::connect(&addr).is_err() {
            if Instant::now() > deadline {
                panic!(
                    "the SMTP server did not start on {addr} within 30 s; its output:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            port,
            ca_pem,
            mailbox,
            child,
        }
    }

    /// Every message accepted so far, in order.
    pub fn received(&self) -> Vec<Received> {
        std::fs::read_to_string(&self.mailbox)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("the server writes JSON lines");
                let text = |k: &str| v[k].as_str().map(str::to_owned);
                Received {
                    mail_from: text("mail_from").unwrap_or_default(),
                    rcpt_tos: v["rcpt_tos"]
                        .as_array()
                        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
                        .unwrap_or_default(),
                    data: text("data").unwrap_or_default(),
                    login: text("login"),
                }
            })
            .collect()
    }
}

impl Drop for MailServer {
    fn drop(&mut self) {
        // Closing stdin stops the server; kill it if it lingers.
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
