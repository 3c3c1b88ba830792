//! What the admin API answers with: plain JSON shapes (documented in docs/openapi.yaml). Money is
//! a decimal string with its currency, as everywhere.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use serde_json::Value;

use super::store::{ReviewResolution, StoredEvent, StoredReview};
use crate::engine::Attribution;
use crate::ledger::LedgerEntry;
use crate::money;

#[derive(Debug, Clone, Serialize)]
pub struct ReviewView {
    pub review_id: String,
    pub kind: String,
    pub status: &'static str,
    pub customer_id: String,
    pub event_id: String,
    pub affiliate_ids: Vec<String>,
    pub evidence: BTreeMap<String, String>,
    pub opened_at: DateTime<Utc>,
    pub resolution: Option<ReviewResolution>,
}

impl From<&StoredReview> for ReviewView {
    fn from(r: &StoredReview) -> Self {
        ReviewView {
            review_id: r.item.review_id.clone(),
            kind: r.item.kind.as_str().to_owned(),
            status: if r.resolution.is_some() {
                "resolved"
            } else {
                "open"
            },
            customer_id: r.item.customer_id.clone(),
            event_id: r.item.event_id.clone(),
            affiliate_ids: r.item.affiliate_ids.clone(),
            evidence: r.item.evidence.clone(),
            opened_at: r.item.opened_at,
            resolution: r.resolution.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ReviewPage {
    pub items: Vec<ReviewView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    pub event_id: String,
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub seq: u64,
    pub outcome: String,
    pub reason: String,
    pub review_ids: Vec<String>,
    /// The normalized content (never an email: only its keyed hash is kept, and it is not shown).
    pub payload: Value,
    #[serde(serialize_with = "entries_in_minor_units")]
    pub entries: Vec<LedgerEntry>,
}

impl EventView {
    pub fn new(e: &StoredEvent, entries: Vec<LedgerEntry>) -> Self {
        EventView {
            event_id: e.envelope.event_id.clone(),
            event_type: e.envelope.event_type.as_str().to_owned(),
            occurred_at: e.envelope.occurred_at,
            received_at: e.envelope.received_at,
            seq: e.seq,
            outcome: e.outcome.as_str().to_owned(),
            reason: e.reason.as_str().to_owned(),
            review_ids: e.review_ids.clone(),
            payload: serde_json::to_value(&e.envelope.payload).unwrap_or(Value::Null),
            entries,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ReviewDetail {
    pub review: ReviewView,
    /// The event the item is about, with the entries it posted.
    pub event: Option<EventView>,
    /// The entries the resolution posted, if it is resolved.
    #[serde(serialize_with = "entries_in_minor_units")]
    pub resolution_entries: Vec<LedgerEntry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CustomerTimeline {
    pub customer_id: String,
    pub version: u64,
    pub attribution: Attribution,
    pub events: Vec<EventView>,
    /// Review items of the events on this page, open and resolved.
    pub reviews: Vec<ReviewView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResolutionView {
    pub review: ReviewView,
    #[serde(serialize_with = "entries_in_minor_units")]
    pub entries: Vec<LedgerEntry>,
    pub released: Vec<String>,
    pub cancelled: Vec<String>,
    pub posted: Vec<String>,
    /// Held commissions the new affiliate's plan does not pay, and why.
    pub not_priced: Vec<(String, String)>,
}

/// Entries shown with their currency's minor units (`124.90`, `0.00`), whatever the store kept
/// (DynamoDB drops trailing zeros, moto keeps them).
fn entries_in_minor_units<S: Serializer>(entries: &[LedgerEntry], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(entries.iter().map(|e| LedgerEntry {
        amount: money::with_minor_units(e.amount, e.currency),
        ..e.clone()
    }))
}
