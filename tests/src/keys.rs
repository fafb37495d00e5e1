//! Signing keys made at test time, never committed: `openssl genpkey`, which every machine
//! running the suite has (Debian's `openssl` package); its absence fails the test that asks.

use std::process::{Command, Stdio};

/// A fresh 2048-bit RSA key pair: `(private key PEM (PKCS#8), public key PEM (SPKI))`.
///
/// # Panics
/// When `openssl` is not installed or fails, naming the package to install.
pub fn rsa_key_pair() -> (String, String) {
    let dir = std::env::temp_dir().join(format!("switchyard-key-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let private = dir.join("key.pem");
    let public = dir.join("key.pub.pem");
    let run = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl makes the test keys: apt-get install openssl");
        assert!(status.success(), "openssl {args:?} failed");
    };
    let private_path = private.to_string_lossy().into_owned();
    let public_path = public.to_string_lossy().into_owned();
    run(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        &private_path,
    ]);
    run(&["pkey", "-in", &private_path, "-pubout", "-out", &public_path]);
    let pair = (
        std::fs::read_to_string(&private).expect("the private key was written"),
        std::fs::read_to_string(&public).expect("the public key was written"),
    );
    std::fs::remove_dir_all(&dir).ok();
    pair
}
