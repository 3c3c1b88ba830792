//! Email is only a secondary matching key (account merges). It is kept as a keyed hash and never
//! stored or logged in clear: the key lives in Secrets Manager, so the hashes cannot be reversed by
//! anyone holding only a table export. The keyed hash is BLAKE3 in keyed mode (a PRF), with its
//! 32-byte key derived from the stored secret under a fixed context.

use std::fmt;

/// Changing this changes every stored hash: never, after go-live.
const KEY_CONTEXT: &str = "prop-lifecycle 2026-11 email matching key v1";

#[derive(Clone)]
pub struct EmailHasher {
    key: [u8; 32],
}

impl fmt::Debug for EmailHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EmailHasher(<redacted>)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("must be an email address such as \"trader@example.com\"")]
    Malformed,
}

impl EmailHasher {
    pub fn new(key: &[u8]) -> Self {
        Self {
            key: blake3::derive_key(KEY_CONTEXT, key),
        }
    }

    /// Hex keyed hash of the normalized address (trimmed, lower-cased), so that the same person
    /// typing "Trader@Example.com " and "trader@example.com" matches.
    pub fn hash(&self, email: &str) -> Result<String, EmailError> {
        let normalized = normalize(email)?;
        Ok(blake3::keyed_hash(&self.key, normalized.as_bytes())
            .to_hex()
            .to_string())
    }
}

fn normalize(email: &str) -> Result<String, EmailError> {
    let email = email.trim();
    let (local, domain) = email.split_once('@').ok_or(EmailError::Malformed)?;
    let well_formed = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if well_formed {
        Ok(email.to_lowercase())
    } else {
        Err(EmailError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_address_in_other_case_or_spacing_hashes_the_same() {
        let h = EmailHasher::new(b"k");
        assert_eq!(
            h.hash(" Trader@Example.COM ").unwrap(),
            h.hash("trader@example.com").unwrap()
        );
        assert_ne!(
            h.hash("a@example.com").unwrap(),
            h.hash("b@example.com").unwrap()
        );
        assert_eq!(h.hash("x@example.com").unwrap().len(), 64);
    }

    #[test]
    fn a_different_key_gives_a_different_hash() {
        let a = EmailHasher::new(b"key-a").hash("t@example.com").unwrap();
        let b = EmailHasher::new(b"key-b").hash("t@example.com").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn malformed_addresses_are_rejected() {
        let h = EmailHasher::new(b"k");
        for bad in [
            "",
            "no-at",
            "@example.com",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "a@.com",
            "a@com.",
        ] {
            assert_eq!(h.hash(bad), Err(EmailError::Malformed), "{bad:?}");
        }
    }
}
