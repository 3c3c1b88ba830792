//! The per-reference records of a customer: one per transaction (purchase or reset, with the
//! commission that prices it) and one per challenge (with its milestone commissions). An event
//! names the transaction or challenge it concerns, so it reads and writes exactly those records,
//! whatever the customer's history. A record also holds the events parked while waiting for its
//! reference (it then exists as a placeholder, without the transaction or challenge itself).
//!
//! Stored as compact JSON (short field names): this is the engine's internal state, never read
//! by finance; the ledger, events and reviews keep plain attribute names.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::events::{DisputeStatus, EventType};
use crate::ledger::Commission;
use crate::money::Money;
use crate::plans::MilestoneKind;

/// At most this many events wait on one purchase or challenge; a further one is held for review
/// instead (`too_many_waiting`). It bounds a record's size (no item over 4 KB) against a sender
/// that never sends the reference; real traffic parks a handful at most.
pub const MAX_PARKED_PER_RECORD: usize = 16;

/// Which record: a transaction or a challenge, by the id the firm gave it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecordKey {
    Transaction(String),
    Challenge(String),
}

impl RecordKey {
    /// The stored sort key: `tx#{id}` or `ch#{id}` (ids may contain `#`; the prefix decides).
    pub fn sort_key(&self) -> String {
        match self {
            RecordKey::Transaction(id) => format!("tx#{id}"),
            RecordKey::Challenge(id) => format!("ch#{id}"),
        }
    }

    pub fn parse(sort_key: &str) -> Option<RecordKey> {
        if let Some(id) = sort_key.strip_prefix("tx#") {
            Some(RecordKey::Transaction(id.to_owned()))
        } else {
            sort_key
                .strip_prefix("ch#")
                .map(|id| RecordKey::Challenge(id.to_owned()))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransactionKind {
    #[serde(rename = "p")]
    Purchase,
    #[serde(rename = "r")]
    Reset,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    #[serde(rename = "id")]
    pub transaction_id: String,
    #[serde(rename = "k")]
    pub kind: TransactionKind,
    #[serde(rename = "e")]
    pub event_id: String,
    #[serde(rename = "ch")]
    pub challenge_id: String,
    /// The challenge tier (purchases; a downgrade changes it).
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    #[serde(rename = "cp", default, skip_serializing_if = "Option::is_none")]
    pub coupon_code: Option<String>,
    #[serde(rename = "p")]
    pub price: Money,
    /// Total refunded so far, capped at the price.
    #[serde(rename = "rf")]
    pub refunded: Decimal,
    #[serde(rename = "at")]
    pub occurred_at: DateTime<Utc>,
    /// The latest dispute status applied and when it occurred (older ones are stale).
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    pub dispute: Option<(DisputeStatus, DateTime<Utc>)>,
    /// When the latest downgrade that set `tier` occurred.
    #[serde(rename = "tc", default, skip_serializing_if = "Option::is_none")]
    pub tier_changed_at: Option<DateTime<Utc>>,
}

/// A challenge bought: it exists, and which purchase bought it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    #[serde(rename = "tx")]
    pub purchase_transaction_id: String,
}

/// An event waiting for the purchase or challenge its record is about. The envelope itself is
/// in the event log (its record there says `parked`); the engine gets it back when it applies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParkedRef {
    #[serde(rename = "e")]
    pub event_id: String,
    #[serde(rename = "ty")]
    pub event_type: EventType,
    #[serde(rename = "rc")]
    pub received_at: DateTime<Utc>,
    /// The parking event's `seq`: parked events are applied in the order they were parked.
    #[serde(rename = "s")]
    pub seq: u64,
    /// Set once the scheduler has opened a review item because the reference never came.
    #[serde(rename = "rv", default, skip_serializing_if = "Option::is_none")]
    pub review_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionRecord {
    /// None while the record only holds events parked for a transaction not yet received.
    #[serde(rename = "tx", default, skip_serializing_if = "Option::is_none")]
    pub transaction: Option<Transaction>,
    /// The commission pricing this transaction (a transaction has at most one).
    #[serde(rename = "cm", default, skip_serializing_if = "Option::is_none")]
    pub commission: Option<Commission>,
    #[serde(rename = "pk", default, skip_serializing_if = "Vec::is_empty")]
    pub parked: Vec<ParkedRef>,
    /// Set on the purchase that decided the customer's attribution, until the scheduler has
    /// expired the window: the window's end is due work, and this record is where it is indexed.
    #[serde(rename = "w", default, skip_serializing_if = "Option::is_none")]
    pub window_ends_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeRecord {
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<Challenge>,
    /// Milestone commissions: at most one per milestone and challenge.
    #[serde(rename = "ms", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub milestones: BTreeMap<MilestoneKind, Commission>,
    #[serde(rename = "pk", default, skip_serializing_if = "Vec::is_empty")]
    pub parked: Vec<ParkedRef>,
}

/// Either kind of record, as the store reads and writes them. (The transaction variant is the
/// larger; records are moved rarely and never in bulk, so neither is boxed.)
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum Record {
    Transaction(TransactionRecord),
    Challenge(ChallengeRecord),
}

impl Record {
    pub fn parked(&self) -> &[ParkedRef] {
        match self {
            Record::Transaction(r) => &r.parked,
            Record::Challenge(r) => &r.parked,
        }
    }

    pub fn parked_mut(&mut self) -> &mut Vec<ParkedRef> {
        match self {
            Record::Transaction(r) => &mut r.parked,
            Record::Challenge(r) => &mut r.parked,
        }
    }

    /// Whether the transaction or challenge itself has arrived (else a placeholder).
    pub fn reference_exists(&self) -> bool {
        match self {
            Record::Transaction(r) => r.transaction.is_some(),
            Record::Challenge(r) => r.challenge.is_some(),
        }
    }

    pub fn commissions(&self) -> Box<dyn Iterator<Item = &Commission> + '_> {
        match self {
            Record::Transaction(r) => Box::new(r.commission.iter()),
            Record::Challenge(r) => Box::new(r.milestones.values()),
        }
    }

    pub fn commissions_mut(&mut self) -> Box<dyn Iterator<Item = &mut Commission> + '_> {
        match self {
            Record::Transaction(r) => Box::new(r.commission.iter_mut()),
            Record::Challenge(r) => Box::new(r.milestones.values_mut()),
        }
    }

    /// The compact JSON the store keeps.
    pub fn to_json(&self) -> String {
        match self {
            Record::Transaction(r) => serde_json::to_string(r),
            Record::Challenge(r) => serde_json::to_string(r),
        }
        .expect("records serialize")
    }

    pub fn from_json(key: &RecordKey, json: &str) -> Result<Record, serde_json::Error> {
        Ok(match key {
            RecordKey::Transaction(_) => Record::Transaction(serde_json::from_str(json)?),
            RecordKey::Challenge(_) => Record::Challenge(serde_json::from_str(json)?),
        })
    }
}
