//! API key material: `sy_live_<prefix>_<secret>`. The prefix (12 lower-case letters and
//! digits) is the key's id and stays visible; the secret (40 letters and digits, ~238 bits
//! from the OS-seeded CSPRNG) is shown once. The table holds only the SHA-256 of the whole key.

use rand::Rng as _;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const KEY_PREFIX: &str = "sy_live_";
const PREFIX_LEN: usize = 12;
const SECRET_LEN: usize = 40;
const PREFIX_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const SECRET_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A freshly made key: its visible prefix, the whole key (shown once) and its hash (stored).
pub struct NewKey {
    pub prefix: String,
    pub key: SecretString,
    pub hash: String,
}

fn random_string(len: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

/// Makes a new key.
pub fn generate() -> NewKey {
    let prefix = random_string(PREFIX_LEN, PREFIX_ALPHABET);
    let key = format!("{KEY_PREFIX}{prefix}_{}", random_string(SECRET_LEN, SECRET_ALPHABET));
    let hash = hash(&key);
    NewKey {
        prefix,
        key: SecretString::from(key),
        hash,
    }
}

/// Hex SHA-256 of a key.
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The prefix a presented key claims, if it has the shape of a key.
pub fn prefix_of(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    let (prefix, secret) = rest.split_once('_')?;
    let ok = prefix.len() == PREFIX_LEN
        && prefix.bytes().all(|b| PREFIX_ALPHABET.contains(&b))
        && secret.len() == SECRET_LEN
        && secret.bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then_some(prefix)
}

/// Whether `presented` hashes to `stored_hash` (constant time).
pub fn matches(presented: &SecretString, stored_hash: &str) -> bool {
    let got = hash(presented.expose_secret());
    got.as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_shows_its_prefix_and_matches_only_its_hash() {
        let k = generate();
        let text = k.key.expose_secret();
        assert!(text.starts_with(&format!("sy_live_{}_", k.prefix)), "{text}");
        assert_eq!(prefix_of(text), Some(k.prefix.as_str()));
        assert!(matches(&k.key, &k.hash));
        assert!(!text.contains(&k.hash));
        let other = generate();
        assert_ne!(other.prefix, k.prefix);
        assert!(!matches(&other.key, &k.hash));
    }

    #[test]
    fn strings_that_are_not_keys_have_no_prefix() {
        assert_eq!(prefix_of("Bearer x"), None);
        assert_eq!(prefix_of("sy_live_abc_def"), None);
        assert_eq!(
            prefix_of(&format!("sy_live_{}_{}", "A".repeat(12), "a".repeat(40))),
            None
        );
        assert_eq!(
            prefix_of(&format!("sy_live_{}_{}", "a".repeat(12), "a".repeat(39))),
            None
        );
        assert!(prefix_of(&format!("sy_live_{}_{}", "a".repeat(12), "a".repeat(40))).is_some());
    }
}
