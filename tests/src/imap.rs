//! A real IMAP server on loopback (Dovecot, Debian's `dovecot-imapd`) for the mailbox
//! connector's tests: each test starts its own on a free port, with a throwaway config, user
//! and Maildir in a temporary directory, and delivers mail by writing into the Maildir (as a
//! local delivery agent does: `tmp/`, then renamed into `new/`).
//!
//! `scripts/ensure-mail-servers.sh` (run by `make test`) installs Dovecot where it is missing
//! (as root on Debian) or says how. Set `SWITCHYARD_DOVECOT` to another `dovecot` binary.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running Dovecot with one user; stopped (and its directory removed) when dropped.
pub struct ImapServer {
    /// IMAP (plain, or STARTTLS when the server has TLS).
    pub port: u16,
    /// IMAPS (implicit TLS), when started with [`ImapServer::start_tls`].
    pub tls_port: Option<u16>,
    /// The PEM of the test CA that issued the server's certificate (for `localhost` only),
    /// when started with [`ImapServer::start_tls`]. Made for this server alone.
    pub ca_pem: Option<String>,
    pub user: String,
    pub password: String,
    dir: PathBuf,
    config: PathBuf,
    maildir: PathBuf,
    /// The owner Dovecot gives mail files (`dovecot` when the tests run as root).
    mail_owner: Option<(u32, u32)>,
    child: Child,
}

fn dovecot() -> PathBuf {
    if let Some(p) = std::env::var_os("SWITCHYARD_DOVECOT") {
        return PathBuf::from(p);
    }
    for p in ["/usr/sbin/dovecot", "/usr/local/sbin/dovecot"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    PathBuf::from("dovecot")
}

fn doveadm(dovecot: &Path) -> PathBuf {
    let beside = dovecot.with_file_name("doveadm");
    if beside.exists() {
        return beside;
    }
    for p in ["/usr/bin/doveadm", "/usr/local/bin/doveadm"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    PathBuf::from("doveadm")
}

/// uid and gid of a system user, from `id`.
fn ids_of(user: &str) -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").arg(flag).arg(user).output().ok()?;
        String::from_utf8(out.stdout).ok()?.trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

impl ImapServer {
    /// Starts Dovecot with user `support` and an empty INBOX, without TLS.
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// [`Self::start`] with TLS: IMAPS on [`Self::tls_port`] and STARTTLS on [`Self::port`],
    /// with a certificate issued by a CA made for this server ([`Self::ca_pem`]), which no
    /// client trusts unless told to.
    pub fn start_tls() -> Self {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> Self {
        let dovecot = dovecot();
        let version = Command::new(&dovecot).arg("--version").output();
        if !version.as_ref().is_ok_and(|o| o.status.success()) {
            panic!(
                "\n\nThe IMAP test server is missing: `{} --version` did not run.\n\
                 Run `scripts/ensure-mail-servers.sh` (as root on Debian it installs it), or\n\
                 `apt-get update && apt-get install -y dovecot-imapd`, or point SWITCHYARD_DOVECOT at a dovecot binary.\n",
                dovecot.display()
            );
        }
        let port = super::free_port();
        let dir = std::env::temp_dir().join(format!("switchyard-imap-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(dir.join("run")).expect("temp dir is writable");
        let me = std::fs::metadata(&dir).expect("temp dir").uid();
        // As root, Dovecot's own unprivileged users run it (the package creates them); as
        // anyone else, everything runs as that user (Dovecot's "non-root" set-up).
        let id_text = |flag: &str| {
            Command::new("id")
                .arg(flag)
                .output()
                .ok()
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|| panic!("`id {flag}` names the current user or group"))
        };
        let (internal, group, login, mail_owner) = if me == 0 {
            let owner = ids_of("dovecot").expect("the dovecot-core package creates the `dovecot` user");
            (
                "dovecot".to_owned(),
                "dovecot".to_owned(),
                "dovenull".to_owned(),
                Some(owner),
            )
        } else {
            let name = id_text("-un");
            (name.clone(), id_text("-gn"), name, None)
        };
        let user = "support".to_owned();
        let password = format!("pw-{}", ulid::Ulid::new());
        let mail_root = dir.join("mail");
        let maildir = mail_root.join(&user);
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(maildir.join(sub)).expect("maildir");
        }
        if let Some((uid, gid)) = mail_owner {
            for p in [
                mail_root.clone(),
                maildir.clone(),
                maildir.join("cur"),
                maildir.join("new"),
                maildir.join("tmp"),
            ] {
                std::os::unix::fs::chown(&p, Some(uid), Some(gid)).expect("chown the maildir");
            }
        }
        let users = dir.join("users");
        std::fs::write(&users, format!("{user}:{{PLAIN}}{password}\n")).expect("users file");
        let (mail_uid, mail_gid) = mail_owner.unwrap_or((me, std::fs::metadata(&dir).expect("temp dir").gid()));
        let unprivileged = if mail_owner.is_none() {
            // Without root, no service can chroot.
            "service imap-login {\n  chroot =\n}\nservice anvil {\n  chroot =\n}\n"
        } else {
            ""
        };
        let d = dir.display();
        let (tls_port, ca_pem, ssl) = if tls {
            let ca = super::tls::make_certificates(&dir);
            if let Some((uid, gid)) = mail_owner {
                // Read by Dovecot's own processes.
                std::os::unix::fs::chown(dir.join("server.key"), Some(uid), Some(gid)).expect("chown the key");
            }
            let tls_port = super::free_port();
            let dh = if Path::new("/usr/share/dovecot/dh.pem").exists() {
                "ssl_dh = </usr/share/dovecot/dh.pem\n"
            } else {
                ""
            };
            (
                Some(tls_port),
                Some(ca),
                format!("ssl = yes\nssl_cert = <{d}/server.pem\nssl_key = <{d}/server.key\n{dh}"),
            )
        } else {
            (None, None, "ssl = no\n".to_owned())
        };
        let imaps_port = tls_port.unwrap_or(0);
        let config = dir.join("dovecot.conf");
        std::fs::write(
            &config,
            format!(
                "base_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/dovecot.log\n\
                 protocols = imap\nlisten = 127.0.0.1\n{ssl}\
                 disable_plaintext_auth = no\nauth_mechanisms = plain login\n\
                 default_internal_user = {internal}\ndefault_internal_group = {group}\n\
                 default_login_user = {login}\nfirst_valid_uid = {mail_uid}\nfirst_valid_gid = {mail_gid}\n\
                 mail_location = maildir:{d}/mail/%u\n\
                 passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {users}\n}}\n\
                 userdb {{\n  driver = static\n  args = uid={mail_uid} gid={mail_gid} home={d}/mail/%u\n}}\n\
                 service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n\
                 \x20 inet_listener imaps {{\n    address = 127.0.0.1\n    port = {imaps_port}\n  }}\n}}\n{unprivileged}",
                users = users.display(),
            ),
        )
        .expect("config file");
        // The shell stops Dovecot when our stdin pipe closes, i.e. when the test process ends,
        // however it ends.
        let child = Command::new("sh")
            .arg("-c")
            .arg(r#""$0" -F -c "$1" & pid=$!; cat >/dev/null; kill "$pid" 2>/dev/null; wait "$pid""#)
            .arg(&dovecot)
            .arg(&config)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("stderr.log")).expect("log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", dovecot.display()));
        let server = Self {
            port,
            tls_port,
            ca_pem,
            user,
            password,
            dir,
            config,
            maildir,
            mail_owner,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let listening = |p: u16| std::net::TcpStream::connect(("127.0.0.1", p)).is_ok();
        while !(listening(port) && tls_port.is_none_or(listening)) {
            if Instant::now() > deadline {
                panic!(
                    "Dovecot did not start on 127.0.0.1:{port} within 30 s; its output:\n{}\n{}",
                    std::fs::read_to_string(server.dir.join("stderr.log")).unwrap_or_default(),
                    std::fs::read_to_string(server.dir.join("dovecot.log")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// Delivers `raw` (a whole RFC 5322 message) into the user's INBOX.
    pub fn deliver(&self, raw: &str) {
        let name = format!("{}.{}.switchyard-test", ulid::Ulid::new(), std::process::id());
        let tmp = self.maildir.join("tmp").join(&name);
        // Maildir files hold LF line ends; the server sends CRLF.
        std::fs::write(&tmp, raw.replace("\r\n", "\n")).expect("write into tmp/");
        if let Some((uid, gid)) = self.mail_owner {
            std::os::unix::fs::chown(&tmp, Some(uid), Some(gid)).expect("chown the message");
        }
        std::fs::rename(&tmp, self.maildir.join("new").join(&name)).expect("move into new/");
    }

    /// Delivers a plain message from `from` with `subject` and `body`.
    pub fn deliver_simple(&self, from: &str, subject: &str, body: &str) {
        self.deliver(&format!(
            "From: {from}\nTo: support@example.com\nSubject: {subject}\n\
             Date: Thu, 02 May 2024 13:17:33 +0200\nMessage-ID: <{}@example.com>\n\n{body}\n",
            ulid::Ulid::new()
        ));
    }

    /// Gives the INBOX a new UIDVALIDITY (as a server does when it rebuilds a mailbox).
    pub fn set_uid_validity(&self, validity: u32) {
        let dovecot = dovecot();
        let out = Command::new(doveadm(&dovecot))
            .arg("-c")
            .arg(&self.config)
            .args(["mailbox", "update", "-u", &self.user, "--uid-validity"])
            .arg(validity.to_string())
            .arg("INBOX")
            .output()
            .expect("doveadm runs");
        assert!(
            out.status.success(),
            "doveadm mailbox update failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The names of the INBOX's message files (`cur/` and `new/`), flags included.
    pub fn maildir_files(&self) -> Vec<String> {
        ["cur", "new"]
            .iter()
            .flat_map(|sub| std::fs::read_dir(self.maildir.join(sub)).expect("maildir"))
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect()
    }

    /// How many logins Dovecot has logged so far, waiting up to 2 s for at least `at_least`
    /// (its log process writes a moment after the login).
    pub fn logins(&self, at_least: usize) -> usize {
        let count = || self.log().matches(" Login: user=<").count();
        let deadline = Instant::now() + Duration::from_secs(2);
        while count() < at_least && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        count()
    }

    /// Dovecot's log, for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dovecot.log")).unwrap_or_default()
    }
}

impl Drop for ImapServer {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_dir_all(&self.dir);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
