//! The normalized event as it travels on the queue and is stored in the event log.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize, Serializer};

use super::{EventPayload, EventType, ParsedBody};

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

/// The canonical content: serialized from typed fields in a fixed order, so two bodies that differ
/// only in whitespace, key order or the textual form of a timestamp's offset are the same content.
#[derive(Serialize)]
struct Content<'a> {
    customer_id: &'a str,
    #[serde(serialize_with = "rfc3339")]
    occurred_at: DateTime<Utc>,
    email_hash: &'a Option<String>,
    payload: &'a EventPayload,
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

/// Serializes the content once, hashes those bytes, and splices the same bytes into the envelope
/// (the envelope is the content object with the metadata fields in front). One serialization and
/// one hash per event: this is on every webhook's path.
pub fn seal(event_id: &str, received_at: DateTime<Utc>, body: ParsedBody) -> SealedEnvelope {
    let event_type = body.payload.event_type();
    let content = serde_json::to_string(&Content {
        customer_id: &body.customer_id,
        occurred_at: body.occurred_at,
        email_hash: &body.email_hash,
        payload: &body.payload,
    })
    .expect("serializing plain data cannot fail");
    let content_hash = blake3::hash(content.as_bytes()).to_hex().to_string();
    // `{metadata…}` + `,` + `content…}`: both are non-empty JSON objects from serde_json.
    let mut json = Vec::with_capacity(content.len() + 256);
    serde_json::to_writer(
        &mut json,
        &Metadata {
            schema_version: ENVELOPE_SCHEMA_VERSION,
            event_id,
            event_type,
            received_at,
            content_hash: &content_hash,
        },
    )
    .expect("serializing plain data cannot fail");
    json.pop();
    json.push(b',');
    json.extend_from_slice(&content.as_bytes()[1..]);
    let json = String::from_utf8(json).expect("serde_json writes UTF-8");
    SealedEnvelope {
        event_id: event_id.to_owned(),
        event_type,
        customer_id: body.customer_id,
        content_hash,
        json,
    }
}

#[derive(Serialize)]
struct Metadata<'a> {
    schema_version: u32,
    event_id: &'a str,
    event_type: EventType,
    #[serde(serialize_with = "rfc3339")]
    received_at: DateTime<Utc>,
    content_hash: &'a str,
}

/// RFC 3339 in UTC with as many fractional digits as needed, the same text chrono's own
/// serializer writes, without going through `core::fmt` (this is on every webhook's path).
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
