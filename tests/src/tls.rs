//! Throwaway TLS certificates for the mail servers' tests (IMAP, SMTP): a CA and a server
//! certificate it issued for `localhost` only, made with `openssl` (Debian's `openssl` package,
//! which every machine running the suite has; its absence fails the test with how to install
//! it). Nothing here is committed: each test makes its own in its temporary directory.

use std::path::Path;
use std::process::Command;

/// Runs `openssl` with `args` in `dir`, or panics with its output.
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

/// Makes a CA (`ca.pem`) and a server certificate it issued (`server.pem`, `server.key`) for
/// `localhost` (only: not 127.0.0.1) in `dir`: P-256 keys, valid for two days. Returns the
/// CA's PEM.
pub fn make_certificates(dir: &Path) -> String {
    std::fs::write(
        dir.join("ca.cnf"),
        "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = Switchyard test CA\n\
         [v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n\
         subjectKeyIdentifier = hash\n",
    )
    .expect("temp dir is writable");
    std::fs::write(
        dir.join("server.cnf"),
        "basicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature\nextendedKeyUsage = serverAuth\n\
         subjectAltName = DNS:localhost\n",
    )
    .expect("temp dir is writable");
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    openssl(
        dir,
        &[
            &["req", "-x509", "-config", "ca.cnf", "-extensions", "v3_ca"][..],
            &ec,
            &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"],
        ]
        .concat(),
    );
    openssl(
        dir,
        &[
            &["req", "-new", "-subj", "/CN=localhost"][..],
            &ec,
            &["-keyout", "server.key", "-out", "server.csr"],
        ]
        .concat(),
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-extfile",
            "server.cnf",
            "-out",
            "server.pem",
            "-days",
            "2",
        ],
    );
    std::fs::read_to_string(dir.join("ca.pem")).expect("openssl wrote ca.pem")
}
