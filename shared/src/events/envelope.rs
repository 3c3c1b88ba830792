//! The normalized event as it travels on the queue and is stored in the event log.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize, Serializer};

use super::{canonical_json, EventPayload, EventType, ParsedBody};

/// Bumped when the envelope's shape changes incompatibly, so a consumer can refuse what it does
/// not understand instead of misreading it.
pub const ENVELOPE_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventEnvelope {
    pub schema_version: u32,
    /// The sender's `webhook-id`: the idempotency key of the event everywhere downstream.
    pub event_id: String,
    pub event_type: EventType,
    pub customer_id: String,
    /// When it happened at the firm; every time rule is decided by this, not by arrival.
    #[serde(serialize_with = "rfc3339")]
    pub occurred_at: DateTime<Utc>,
    /// When this system accepted it.
    #[serde(serialize_with = "rfc3339")]
    pub received_at: DateTime<Utc>,
    /// Keyed hash of the normalized email, never the address itself.
    pub email_hash: Option<String>,
    /// BLAKE3 of the canonical content (customer, occurred_at, email hash, payload; not the ids
    /// or arrival time). The same `event_id` arriving with a different content hash is a
    /// conflicting redelivery.
    pub content_hash: String,
    pub payload: EventPayload,
}

/// An envelope ready for the queue: its JSON and the facts the queue needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedEnvelope {
    pub event_id: String,
    pub event_type: EventType,
    pub customer_id: String,
    pub content_hash: String,
    /// The `EventEnvelope` as JSON.
    pub json: String,
}

/// Writes the canonical content once, hashes those bytes, and appends the metadata fields to the
/// same buffer (the envelope is the content object with the metadata fields after it). One
/// serialization, one hash and one buffer per event: this is on every webhook's path. The content
/// is serialized from typed fields in a fixed order, so two bodies that differ only in
/// whitespace, key order or the textual form of a timestamp's offset are the same content.
pub fn seal(event_id: &str, received_at: DateTime<Utc>, body: ParsedBody) -> SealedEnvelope {
    let event_type = body.payload.event_type();
    // Room for a typical envelope (a 1 KB body plus metadata) so the buffer is not regrown.
    let mut json = Vec::with_capacity(ENVELOPE_CAPACITY_HINT);
    canonical_json::write_content(&mut json, &body);
    let content_hash = blake3::hash(&json).to_hex().to_string();
    json.pop(); // the content's closing brace: the metadata fields go in the same object
    canonical_json::write_metadata_fields(
        &mut json,
        ENVELOPE_SCHEMA_VERSION,
        event_id,
        event_type,
        &received_at,
        &content_hash,
    );
    json.push(b'}');
    SealedEnvelope {
        event_id: event_id.to_owned(),
        event_type,
        customer_id: body.customer_id,
        content_hash,
        json: String::from_utf8(json).expect("the envelope writer writes UTF-8"),
    }
}

const ENVELOPE_CAPACITY_HINT: usize = 2048;

/// RFC 3339 in UTC with as many fractional digits as needed: the same text chrono's own
/// serializer writes, and what the canonical content writer writes.
fn rfc3339<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn timestamps_serialize_as_chrono_does() {
        for t in [
            Utc.with_ymd_and_hms(2026, 11, 22, 10, 58, 12).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 22, 10, 58, 12).unwrap()
                + chrono::Duration::milliseconds(123),
            Utc.with_ymd_and_hms(2026, 11, 22, 10, 58, 12).unwrap()
                + chrono::Duration::nanoseconds(7),
        ] {
            let ours = rfc3339(&t, serde_json::value::Serializer).unwrap();
            assert_eq!(ours, serde_json::to_value(t).unwrap());
        }
    }
}
