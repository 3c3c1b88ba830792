//! Standard Webhooks v1 (symmetric) signature verification.
//!
//! The signed content is `"{webhook-id}.{webhook-timestamp}.{raw body}"`, HMAC-SHA256 under the
//! key that `whsec_<base64>` encodes; `webhook-signature` carries one or more space-separated
//! `v1,<base64 mac>` entries. Any entry matching any active secret passes, which is how secrets
//! are rotated without downtime. Comparison is constant-time over the decoded MAC bytes.

use std::fmt;

use aws_lc_rs::{constant_time, hmac};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chrono::{DateTime, Utc};

/// Timestamps further than this from "now", in either direction, are rejected (replay guard).
pub const TIMESTAMP_TOLERANCE_SECONDS: i64 = 5 * 60;
/// More entries than this in `webhook-signature` is not rotation, it is abuse; bound the work.
pub const MAX_SIGNATURE_ENTRIES: usize = 16;
const SECRET_PREFIX: &str = "whsec_";
const MAC_LEN: usize = 32;

/// One signing secret, its HMAC key prepared once. Its Debug output never shows the key.
#[derive(Clone)]
pub struct SigningSecret {
    key: hmac::Key,
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("signing secret must start with \"whsec_\"")]
    MissingPrefix,
    #[error("signing secret is not valid base64 after \"whsec_\"")]
    NotBase64,
    #[error("signing secret key must be at least 16 bytes")]
    TooShort,
}

impl SigningSecret {
    /// Parses `whsec_<base64 key>`. The prefix is required so that a raw key pasted by mistake
    /// (which would silently be a different key) is caught at start-up.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let encoded = text
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::MissingPrefix)?;
        let key = BASE64.decode(encoded).map_err(|_| SecretError::NotBase64)?;
        if key.len() < 16 {
            return Err(SecretError::TooShort);
        }
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &key),
        })
    }

    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> [u8; MAC_LEN] {
        let mut mac = hmac::Context::with_key(&self.key);
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.sign()
            .as_ref()
            .try_into()
            .expect("HMAC-SHA256 tags are 32 bytes")
    }

    /// The `v1,<base64>` signature a sender would put in `webhook-signature`.
    pub fn sign(&self, id: &str, timestamp: &str, body: &[u8]) -> String {
        format!("v1,{}", BASE64.encode(self.mac(id, timestamp, body)))
    }
}

/// The three Standard Webhooks headers as received (None when absent).
#[derive(Debug, Clone, Copy, Default)]
pub struct SignatureHeaders<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// Why a request failed verification. All map to 401; the message helps the sender's engineers
/// without revealing anything about the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("webhook-timestamp must be an integer number of Unix seconds")]
    MalformedTimestamp,
    #[error("webhook-timestamp is more than 5 minutes old")]
    TimestampTooOld,
    #[error("webhook-timestamp is more than 5 minutes in the future")]
    TimestampInFuture,
    #[error("webhook-signature has no well-formed v1 entry")]
    MalformedSignatureList,
    #[error("no signature matches")]
    NoMatchingSignature,
}

/// What a successful verification vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified<'a> {
    pub id: &'a str,
    pub timestamp: DateTime<Utc>,
}

/// Verifies requests against every active secret.
#[derive(Debug, Clone)]
pub struct Verifier {
    secrets: Vec<SigningSecret>,
}

impl Verifier {
    pub fn new(secrets: Vec<SigningSecret>) -> Self {
        Self { secrets }
    }

    pub fn verify<'a>(
        &self,
        headers: &SignatureHeaders<'a>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Verified<'a>, SignatureError> {
        let id = headers
            .id
            .filter(|s| !s.is_empty())
            .ok_or(SignatureError::MissingHeader("webhook-id"))?;
        let ts_text = headers
            .timestamp
            .filter(|s| !s.is_empty())
            .ok_or(SignatureError::MissingHeader("webhook-timestamp"))?;
        let list = headers
            .signature
            .filter(|s| !s.is_empty())
            .ok_or(SignatureError::MissingHeader("webhook-signature"))?;

        let timestamp = parse_timestamp(ts_text)?;
        let age = now.timestamp() - timestamp.timestamp();
        if age > TIMESTAMP_TOLERANCE_SECONDS {
            return Err(SignatureError::TimestampTooOld);
        }
        if -age > TIMESTAMP_TOLERANCE_SECONDS {
            return Err(SignatureError::TimestampInFuture);
        }

        let candidates = parse_signature_list(list)?;
        let matched = self.secrets.iter().any(|secret| {
            let expected = secret.mac(id, ts_text, body);
            // Check every candidate without early exit so timing does not say which one matched;
            // each comparison is aws-lc's constant-time CRYPTO_memcmp.
            candidates.iter().fold(false, |matched, candidate| {
                matched | constant_time::verify_slices_are_equal(candidate, &expected).is_ok()
            })
        });
        if matched {
            Ok(Verified { id, timestamp })
        } else {
            Err(SignatureError::NoMatchingSignature)
        }
    }
}

fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, SignatureError> {
    if text.is_empty() || text.len() > 12 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignatureError::MalformedTimestamp);
    }
    let seconds: i64 = text
        .parse()
        .map_err(|_| SignatureError::MalformedTimestamp)?;
    DateTime::from_timestamp(seconds, 0).ok_or(SignatureError::MalformedTimestamp)
}

/// Keeps the decodable `v1` entries; entries of other versions (e.g. asymmetric `v1a`) are
/// skipped as the specification asks. A list with no usable entry is malformed. Decodes into a
/// fixed array: no allocation on every webhook's path.
fn parse_signature_list(list: &str) -> Result<SignatureList, SignatureError> {
    let mut out = SignatureList {
        macs: [[0; MAC_LEN]; MAX_SIGNATURE_ENTRIES],
        len: 0,
    };
    for (i, entry) in list.split(' ').filter(|e| !e.is_empty()).enumerate() {
        if i == MAX_SIGNATURE_ENTRIES {
            return Err(SignatureError::MalformedSignatureList);
        }
        let Some(("v1", sig)) = entry.split_once(',') else {
            continue;
        };
        // 48 bytes: more than any 32-byte MAC's base64 can need, so a longer one fails the length check.
        let mut buf = [0u8; 48];
        if sig.len() <= 64 && BASE64.decode_slice(sig, &mut buf) == Ok(MAC_LEN) {
            out.macs[out.len].copy_from_slice(&buf[..MAC_LEN]);
            out.len += 1;
        }
    }
    if out.len == 0 {
        return Err(SignatureError::MalformedSignatureList);
    }
    Ok(out)
}

struct SignatureList {
    macs: [[u8; MAC_LEN]; MAX_SIGNATURE_ENTRIES],
    len: usize,
}

impl SignatureList {
    fn iter(&self) -> impl Iterator<Item = &[u8; MAC_LEN]> {
        self.macs[..self.len].iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The two test vectors published with the Standard Webhooks specification and its libraries.
    const VECTORS: [(&str, &str, &str, &str, &str); 2] = [
        (
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            r#"{"test": 2432232314}"#,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ),
        (
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            "1649367553",
            r#"{"email":"test@example.com","username":"test_user"}"#,
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
        ),
    ];

    fn at(ts: &str) -> DateTime<Utc> {
        DateTime::from_timestamp(ts.parse().unwrap(), 0).unwrap()
    }

    fn headers<'a>(id: &'a str, ts: &'a str, sig: &'a str) -> SignatureHeaders<'a> {
        SignatureHeaders {
            id: Some(id),
            timestamp: Some(ts),
            signature: Some(sig),
        }
    }

    #[test]
    fn published_vectors_sign_and_verify() {
        for (secret, id, ts, body, sig) in VECTORS {
            let secret = SigningSecret::parse(secret).unwrap();
            assert_eq!(secret.sign(id, ts, body.as_bytes()), sig);
            let verifier = Verifier::new(vec![secret]);
            let ok = verifier
                .verify(&headers(id, ts, sig), body.as_bytes(), at(ts))
                .unwrap();
            assert_eq!(ok.id, id);
            assert_eq!(ok.timestamp, at(ts));
        }
    }

    #[test]
    fn secrets_need_the_prefix_valid_base64_and_enough_key() {
        assert_eq!(
            SigningSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_err(),
            SecretError::MissingPrefix
        );
        assert_eq!(
            SigningSecret::parse("whsec_!!!").unwrap_err(),
            SecretError::NotBase64
        );
        assert_eq!(
            SigningSecret::parse("whsec_c2hvcnQ=").unwrap_err(),
            SecretError::TooShort
        );
        assert!(!format!("{:?}", SigningSecret::parse(VECTORS[0].0).unwrap()).contains("MfKQ"));
    }

    fn vector_verifier() -> (
        Verifier,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    ) {
        let (secret, id, ts, body, sig) = VECTORS[0];
        (
            Verifier::new(vec![SigningSecret::parse(secret).unwrap()]),
            id,
            ts,
            body,
            sig,
        )
    }

    #[test]
    fn rotation_any_listed_signature_against_any_active_secret_passes() {
        let old = SigningSecret::parse(VECTORS[0].0).unwrap();
        let new = SigningSecret::parse(VECTORS[1].0).unwrap();
        let (_, id, ts, body, _) = VECTORS[0];
        let by_new = new.sign(id, ts, body.as_bytes());
        let by_old = old.sign(id, ts, body.as_bytes());
        let both = Verifier::new(vec![old.clone(), new.clone()]);
        // Sender signs with the new secret only, with both, or lists an unknown one first.
        for list in [
            by_new.clone(),
            format!("{by_old} {by_new}"),
            format!("v1,{} {by_new}", BASE64.encode([7u8; 32])),
        ] {
            assert!(
                both.verify(&headers(id, ts, &list), body.as_bytes(), at(ts))
                    .is_ok(),
                "{list}"
            );
        }
        // Once the old secret is retired, its signatures stop working.
        let only_new = Verifier::new(vec![new]);
        assert_eq!(
            only_new.verify(&headers(id, ts, &by_old), body.as_bytes(), at(ts)),
            Err(SignatureError::NoMatchingSignature)
        );
    }

    #[test]
    fn a_tampered_body_id_or_timestamp_fails() {
        let (v, id, ts, body, sig) = vector_verifier();
        let now = at(ts);
        assert_eq!(
            v.verify(&headers(id, ts, sig), br#"{"test": 2432232315}"#, now),
            Err(SignatureError::NoMatchingSignature)
        );
        assert_eq!(
            v.verify(&headers(id, ts, sig), format!("{body} ").as_bytes(), now),
            Err(SignatureError::NoMatchingSignature)
        );
        assert_eq!(
            v.verify(&headers("msg_other", ts, sig), body.as_bytes(), now),
            Err(SignatureError::NoMatchingSignature)
        );
        assert_eq!(
            v.verify(&headers(id, "1614265331", sig), body.as_bytes(), now),
            Err(SignatureError::NoMatchingSignature)
        );
    }

    #[test]
    fn timestamps_are_accepted_up_to_exactly_five_minutes_either_way() {
        let (v, id, ts, body, sig) = vector_verifier();
        let signed = at(ts);
        let tol = chrono::Duration::seconds(TIMESTAMP_TOLERANCE_SECONDS);
        let one = chrono::Duration::seconds(1);
        assert!(v
            .verify(&headers(id, ts, sig), body.as_bytes(), signed + tol)
            .is_ok());
        assert!(v
            .verify(&headers(id, ts, sig), body.as_bytes(), signed - tol)
            .is_ok());
        assert_eq!(
            v.verify(&headers(id, ts, sig), body.as_bytes(), signed + tol + one),
            Err(SignatureError::TimestampTooOld)
        );
        assert_eq!(
            v.verify(&headers(id, ts, sig), body.as_bytes(), signed - tol - one),
            Err(SignatureError::TimestampInFuture)
        );
    }

    #[test]
    fn missing_or_empty_headers_are_named() {
        let (v, id, ts, body, sig) = vector_verifier();
        let now = at(ts);
        let cases = [
            (
                SignatureHeaders {
                    id: None,
                    ..headers(id, ts, sig)
                },
                "webhook-id",
            ),
            (
                SignatureHeaders {
                    timestamp: None,
                    ..headers(id, ts, sig)
                },
                "webhook-timestamp",
            ),
            (
                SignatureHeaders {
                    signature: None,
                    ..headers(id, ts, sig)
                },
                "webhook-signature",
            ),
            (
                SignatureHeaders {
                    id: Some(""),
                    ..headers(id, ts, sig)
                },
                "webhook-id",
            ),
        ];
        for (h, name) in cases {
            assert_eq!(
                v.verify(&h, body.as_bytes(), now),
                Err(SignatureError::MissingHeader(name))
            );
        }
    }

    #[test]
    fn malformed_timestamps_and_signature_lists_are_rejected() {
        let (v, id, ts, body, sig) = vector_verifier();
        let now = at(ts);
        for bad_ts in [
            "abc",
            "-1614265330",
            "1614265330.5",
            " 1614265330",
            "99999999999999999999",
        ] {
            assert_eq!(
                v.verify(&headers(id, bad_ts, sig), body.as_bytes(), now),
                Err(SignatureError::MalformedTimestamp),
                "{bad_ts}"
            );
        }
        let mac = sig.trim_start_matches("v1,");
        let too_many = vec![sig; MAX_SIGNATURE_ENTRIES + 1].join(" ");
        for bad in [
            mac.to_string(),                            // no version prefix
            format!("v2,{mac}"),                        // unknown version only
            "v1,".to_string(),                          // empty signature
            "v1,not-base64!!".to_string(),              // not base64
            format!("v1,{}", BASE64.encode([1u8; 16])), // wrong length
            "v1a,abc".to_string(),                      // asymmetric entry, ignored, nothing left
            too_many,
        ] {
            assert_eq!(
                v.verify(&headers(id, ts, &bad), body.as_bytes(), now),
                Err(SignatureError::MalformedSignatureList),
                "{bad}"
            );
        }
        // A malformed entry next to a valid one does not spoil it.
        assert!(v
            .verify(
                &headers(id, ts, &format!("v1,garbage {sig}")),
                body.as_bytes(),
                now
            )
            .is_ok());
    }

    #[test]
    fn the_wrong_secret_fails() {
        let (_, id, ts, body, sig) = vector_verifier();
        let wrong = Verifier::new(vec![SigningSecret::parse(VECTORS[1].0).unwrap()]);
        assert_eq!(
            wrong.verify(&headers(id, ts, sig), body.as_bytes(), at(ts)),
            Err(SignatureError::NoMatchingSignature)
        );
    }
}
