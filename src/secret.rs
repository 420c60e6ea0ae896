//! Secrets that never print (upstream keys, client credentials) and their short fingerprints.

use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// A secret string. `Debug` and `Display` print `*****`; only [`Secret::expose`] gives the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value itself. Call only where the value must leave the process (an upstream header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A short, stable, non-reversible id safe for logs, metrics and the admin UI.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.0)
    }

    /// SHA-256 of the secret, used for constant-time credential comparison.
    pub fn digest(&self) -> [u8; 32] {
        digest(self.0.as_bytes())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("*****")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("*****")
    }
}

/// SHA-256 digest of some bytes.
pub fn digest(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&Sha256::digest(bytes));
    out
}

/// `fp-` followed by the first 8 hex digits of the SHA-256 of the value.
pub fn fingerprint(value: &str) -> String {
    let d = digest(value.as_bytes());
    format!("fp-{:02x}{:02x}{:02x}{:02x}", d[0], d[1], d[2], d[3])
}

/// Constant-time equality of two digests.
pub fn digest_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("AIza-very-secret");
        assert_eq!(format!("{s}"), "*****");
        assert_eq!(format!("{s:?}"), "*****");
        assert!(!s.fingerprint().contains("secret"));
    }

    #[test]
    fn fingerprint_is_short_and_stable() {
        let a = fingerprint("key-one");
        assert_eq!(a, fingerprint("key-one"));
        assert_ne!(a, fingerprint("key-two"));
        assert_eq!(a.len(), 11);
        assert!(a.starts_with("fp-"));
    }

    #[test]
    fn digest_compare() {
        assert!(digest_eq(&digest(b"x"), &digest(b"x")));
        assert!(!digest_eq(&digest(b"x"), &digest(b"y")));
    }
}
