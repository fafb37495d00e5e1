//! Signing secrets, secret rotation, and the result of a successful verification.

use secrecy::{ExposeSecret, SecretString};

use super::rejection::Rejection;

/// The connection's current signing secret plus, during rotation, the previous one.
///
/// Both must be non-empty: an empty secret is rejected as [`Rejection::InvalidSecret`] rather
/// than silently accepting MACs anyone can compute. Map an unset "previous" to `None`.
#[derive(Debug, Clone)]
pub struct SigningSecrets {
    pub current: SecretString,
    pub previous: Option<SecretString>,
}

impl SigningSecrets {
    /// Only a current secret.
    pub fn new(current: impl Into<String>) -> Self {
        Self {
            current: SecretString::from(current.into()),
            previous: None,
        }
    }

    /// Adds the previous secret, tried when the current one does not match.
    pub fn with_previous(mut self, previous: impl Into<String>) -> Self {
        self.previous = Some(SecretString::from(previous.into()));
        self
    }

    /// Prepares both secrets with `prepare` (for example, base64-decoding them). The previous
    /// secret is prepared too, so a broken one is reported even while the current one works.
    pub(crate) fn keys<K>(&self, prepare: impl Fn(&str) -> Result<K, Rejection>) -> Result<Keys<K>, Rejection> {
        let current = prepare(self.current.expose_secret())?;
        let previous = match &self.previous {
            Some(previous) => Some(prepare(previous.expose_secret()).map_err(|rejection| match rejection {
                Rejection::InvalidSecret { reason } => Rejection::InvalidSecret {
                    reason: format!("previous secret: {reason}"),
                },
                other => other,
            })?),
            None => None,
        };
        Ok(Keys { current, previous })
    }

    /// Both secrets as their UTF-8 bytes, which is the HMAC key of every scheme except
    /// Standard Webhooks.
    pub(crate) fn utf8_keys(&self) -> Result<Keys<&[u8]>, Rejection> {
        let current = non_empty(self.current.expose_secret())?;
        let previous = match &self.previous {
            Some(previous) => Some(
                non_empty(previous.expose_secret())
                    .map_err(|_| Rejection::invalid_secret("previous secret: secret is empty"))?,
            ),
            None => None,
        };
        Ok(Keys { current, previous })
    }
}

fn non_empty(secret: &str) -> Result<&[u8], Rejection> {
    if secret.is_empty() {
        Err(Rejection::invalid_secret("secret is empty"))
    } else {
        Ok(secret.as_bytes())
    }
}

/// Which configured secret verified the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretUsed {
    Current,
    Previous,
}

impl SecretUsed {
    /// `"current"` or `"previous"`, for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            SecretUsed::Current => "current",
            SecretUsed::Previous => "previous",
        }
    }
}

/// A successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The secret that matched; `Previous` means the provider still signs with the old secret.
    pub secret: SecretUsed,
}

/// Prepared keys for the current and previous secret.
pub(crate) struct Keys<K> {
    current: K,
    previous: Option<K>,
}

impl<K> Keys<K> {
    /// Tries the current key, then the previous one; `matches` says whether a key produces a
    /// MAC equal to one of the received signatures.
    pub(crate) fn first_match(&self, mut matches: impl FnMut(&K) -> bool) -> Result<Verified, Rejection> {
        if matches(&self.current) {
            return Ok(Verified {
                secret: SecretUsed::Current,
            });
        }
        match &self.previous {
            Some(previous) if matches(previous) => Ok(Verified {
                secret: SecretUsed::Previous,
            }),
            _ => Err(Rejection::NoMatchingSignature),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_secret_wins_over_previous() {
        let secrets = SigningSecrets::new("a").with_previous("b");
        let keys = secrets.utf8_keys().unwrap();
        assert_eq!(keys.first_match(|_| true).unwrap().secret, SecretUsed::Current);
        assert_eq!(keys.first_match(|k| *k == b"b").unwrap().secret, SecretUsed::Previous);
        assert_eq!(keys.first_match(|_| false), Err(Rejection::NoMatchingSignature));
    }

    #[test]
    fn empty_secrets_are_rejected_as_invalid() {
        assert_eq!(
            SigningSecrets::new("").utf8_keys().err().map(|r| r.code()),
            Some("invalid_secret")
        );
        let rejection = SigningSecrets::new("a").with_previous("").utf8_keys().err().unwrap();
        assert!(rejection.to_string().contains("previous secret"));
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let printed = format!("{:?}", SigningSecrets::new("hunter2").with_previous("hunter3"));
        assert!(!printed.contains("hunter"));
    }
}
