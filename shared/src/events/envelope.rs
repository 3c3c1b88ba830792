//! The normalized event as it travels on the queue and is stored in the event log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
    pub occurred_at: DateTime<Utc>,
    /// When this system accepted it.
    pub received_at: DateTime<Utc>,
    /// Keyed hash of the normalized email, never the address itself.
    pub email_hash: Option<String>,
    /// SHA-256 of the normalized content (everything but ids and arrival time). The same
    /// `event_id` arriving with a different content hash is a conflicting redelivery.
    pub content_hash: String,
    pub payload: EventPayload,
}

impl EventEnvelope {
    pub fn new(event_id: String, received_at: DateTime<Utc>, body: ParsedBody) -> Self {
        let content_hash = content_hash(&body);
        Self {
            schema_version: ENVELOPE_SCHEMA_VERSION,
            event_id,
            event_type: body.payload.event_type(),
            customer_id: body.customer_id,
            occurred_at: body.occurred_at,
            received_at,
            email_hash: body.email_hash,
            content_hash,
            payload: body.payload,
        }
    }
}

/// Hash of the canonical serialization of the normalized content. Serializing typed structs gives
/// a fixed field order, so two bodies that differ only in whitespace, key order or the textual
/// form of a timestamp's offset hash the same.
fn content_hash(body: &ParsedBody) -> String {
    #[derive(Serialize)]
    struct Content<'a> {
        customer_id: &'a str,
        occurred_at: &'a DateTime<Utc>,
        email_hash: &'a Option<String>,
        payload: &'a EventPayload,
    }
    let canonical = serde_json::to_vec(&Content {
        customer_id: &body.customer_id,
        occurred_at: &body.occurred_at,
        email_hash: &body.email_hash,
        payload: &body.payload,
    })
    .expect("serializing plain data cannot fail");
    hex::encode(Sha256::digest(canonical))
}
