//! RS256-signed JSON Web Tokens from a connection's private key: the assertions of the OAuth
//! JWT bearer grant ([`super::auth`], RFC 7523) and self-signed tokens sent as the bearer
//! credential itself (`type: jwt`: Snowflake's key-pair authentication).
//!
//! The key is a PEM RSA private key (PKCS#8 `BEGIN PRIVATE KEY` or PKCS#1 `BEGIN RSA PRIVATE
//! KEY`), kept as a [`SecretString`]. Errors name what is wrong with it, never its text.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::signature::KeyPair as _;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::errors::{ConnectorError, ErrorClass, ErrorKind};

fn credentials_error(message: &str) -> ConnectorError {
    ConnectorError::new(ErrorClass::Permanent, ErrorKind::Credentials, message.to_owned())
}

/// Signs `claims` with RS256. A key that is not a PEM RSA private key is a credentials error
/// that does not quote it.
pub(crate) fn sign_rs256<T: serde::Serialize>(
    claims: &T,
    private_key: &SecretString,
) -> Result<String, ConnectorError> {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(private_key.expose_secret().as_bytes())
        .map_err(|_| credentials_error("the JWT signing key is not a PEM RSA private key"))?;
    jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256), claims, &key)
        .map_err(|_| credentials_error("the JWT could not be signed with the private key"))
}

/// The DER bytes inside the first PEM block labelled `label`.
fn pem_block(text: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text[start..].find(&end)?;
    let body: String = text[start..stop].chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(body).ok()
}

/// A DER length.
fn der_len(len: usize, out: &mut Vec<u8>) {
    match len {
        0..=0x7f => out.push(len as u8),
        0x80..=0xff => out.extend([0x81, len as u8]),
        _ => out.extend([0x82, (len >> 8) as u8, len as u8]),
    }
}

/// The public key of a PEM RSA private key as DER `SubjectPublicKeyInfo` (what
/// `openssl rsa -pubout -outform DER` prints).
pub fn public_key_der(private_key_pem: &str) -> Result<Vec<u8>, ConnectorError> {
    let not_rsa =
        || credentials_error("the private key is not a PEM RSA private key (PKCS#8 or PKCS#1) of 2048 to 8192 bits");
    let pair = if let Some(der) = pem_block(private_key_pem, "PRIVATE KEY") {
        ring::signature::RsaKeyPair::from_pkcs8(&der).map_err(|_| not_rsa())?
    } else if let Some(der) = pem_block(private_key_pem, "RSA PRIVATE KEY") {
        ring::signature::RsaKeyPair::from_der(&der).map_err(|_| not_rsa())?
    } else {
        return Err(not_rsa());
    };
    // ring gives the PKCS#1 RSAPublicKey; SubjectPublicKeyInfo wraps it with the
    // rsaEncryption algorithm identifier (RFC 3279 section 2.3.1) in a BIT STRING.
    let pkcs1 = pair.public_key().as_ref();
    const RSA_ALGORITHM: [u8; 15] = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bit_string = vec![0x03];
    der_len(pkcs1.len() + 1, &mut bit_string);
    bit_string.push(0x00);
    bit_string.extend_from_slice(pkcs1);
    let mut spki = vec![0x30];
    der_len(RSA_ALGORITHM.len() + bit_string.len(), &mut spki);
    spki.extend_from_slice(&RSA_ALGORITHM);
    spki.extend_from_slice(&bit_string);
    Ok(spki)
}

/// `SHA256:` and the base64 SHA-256 of the key's public `SubjectPublicKeyInfo`: the
/// fingerprint Snowflake shows as a user's `RSA_PUBLIC_KEY_FP` and expects in a key-pair
/// JWT's `iss`.
pub fn public_key_fingerprint(private_key_pem: &str) -> Result<String, ConnectorError> {
    let der = public_key_der(private_key_pem)?;
    Ok(format!("SHA256:{}", STANDARD.encode(Sha256::digest(&der))))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A 2048-bit key made by `openssl genpkey` for this test run, and its public key as
    /// openssl prints it (DER). Fails, naming the package, where openssl is not installed.
    pub(crate) fn openssl_key() -> (String, Vec<u8>) {
        let dir = std::env::temp_dir().join(format!("switchyard-jwt-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("key.pem");
        let status = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
            ])
            .arg(&key)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl is installed (apt-get install openssl) to make test keys");
        assert!(status.success());
        let public = std::process::Command::new("openssl")
            .args(["pkey", "-pubout", "-outform", "DER", "-in"])
            .arg(&key)
            .output()
            .unwrap();
        assert!(public.status.success());
        let pem = std::fs::read_to_string(&key).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        (pem, public.stdout)
    }

    #[test]
    fn the_public_key_and_fingerprint_match_what_openssl_derives() {
        let (pem, openssl_der) = openssl_key();
        assert_eq!(public_key_der(&pem).unwrap(), openssl_der);
        let fp = public_key_fingerprint(&pem).unwrap();
        assert_eq!(fp, format!("SHA256:{}", STANDARD.encode(Sha256::digest(&openssl_der))));
    }

    #[test]
    fn a_key_that_is_not_rsa_pem_is_refused_without_quoting_it() {
        let err =
            public_key_fingerprint("-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS10ZXh0\n-----END PRIVATE KEY-----")
                .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Credentials);
        assert!(!err.message.contains("c2VjcmV0"), "{err}");
        assert!(public_key_fingerprint("not a key").is_err());
        let err = sign_rs256(&serde_json::json!({"iss": "x"}), &SecretString::from("not a key")).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Credentials);
    }
}
