//! What applying one event produced: its outcome, ledger entries, review items, and the
//! reference-data changes the processor writes in the same transaction.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::directory::EmailOwner;
use super::reason::Reason;
use crate::events::EventEnvelope;
use crate::ledger::LedgerEntry;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    CommissionPosted,
    NoCommission,
    HeldForReview,
    Cancelled,
    Reversed,
    Adjusted,
    /// A dispute put the commission on hold.
    Held,
    /// A won dispute released the hold.
    Released,
    /// Waiting for the purchase or challenge it references; replaced by the final outcome.
    Parked,
}

impl OutcomeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::CommissionPosted => "commission_posted",
            OutcomeKind::NoCommission => "no_commission",
            OutcomeKind::HeldForReview => "held_for_review",
            OutcomeKind::Cancelled => "cancelled",
            OutcomeKind::Reversed => "reversed",
            OutcomeKind::Adjusted => "adjusted",
            OutcomeKind::Held => "held",
            OutcomeKind::Released => "released",
            OutcomeKind::Parked => "parked",
        }
    }
}

/// The one recorded outcome of an accepted event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub event_id: String,
    pub kind: OutcomeKind,
    /// Machine-readable why: `reporting_only`, `outside_window`, `unattributed`, …
    pub reason: Reason,
    pub entry_ids: Vec<String>,
    pub review_ids: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewKind {
    /// Click/link and coupon name different affiliates.
    ClickCouponConflict,
    /// A later purchase names another affiliate than the attributed one.
    DisputedAttribution,
    /// The same email hash under another customer with another affiliate.
    AccountMerge,
    SelfReferral,
    /// The first purchase named an affiliate (or coupon) with no usable plan.
    UnknownAffiliate,
    /// The same event id arrived again with different content.
    ConflictingRedelivery,
    /// A reference that exists but does not fit (e.g. a refund in another currency), or one that
    /// more events wait for than a record holds.
    InvalidReference,
    /// A parked event whose purchase or challenge did not arrive within the configured time.
    ReferenceNeverArrived,
    /// An affiliate's refund rate, chargeback rate or self-referral signals crossed a threshold.
    Anomaly,
}

impl ReviewKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewKind::ClickCouponConflict => "click_coupon_conflict",
            ReviewKind::DisputedAttribution => "disputed_attribution",
            ReviewKind::AccountMerge => "account_merge",
            ReviewKind::SelfReferral => "self_referral",
            ReviewKind::UnknownAffiliate => "unknown_affiliate",
            ReviewKind::ConflictingRedelivery => "conflicting_redelivery",
            ReviewKind::InvalidReference => "invalid_reference",
            ReviewKind::ReferenceNeverArrived => "reference_never_arrived",
            ReviewKind::Anomaly => "anomaly",
        }
    }
}

impl std::str::FromStr for ReviewKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(s.to_owned()))
            .map_err(|_| format!("unknown review kind {s:?}"))
    }
}

impl std::str::FromStr for OutcomeKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(s.to_owned()))
            .map_err(|_| format!("unknown outcome {s:?}"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewItem {
    /// `{kind}#{event_id}`: one per kind per event, so a replay cannot open a second one.
    pub review_id: String,
    pub kind: ReviewKind,
    pub customer_id: String,
    pub event_id: String,
    pub affiliate_ids: Vec<String>,
    /// Plain facts for the reviewer (ids, never emails).
    pub evidence: BTreeMap<String, String>,
    pub opened_at: DateTime<Utc>,
}

/// Everything one event (and any parked events it released) produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// The event's own outcome first, then those of released parked events.
    pub outcomes: Vec<Outcome>,
    pub entries: Vec<LedgerEntry>,
    pub reviews: Vec<ReviewItem>,
    pub email_claims: Vec<EmailOwner>,
    /// `(affiliate_id, YYYY-MM)`: one more qualified purchase to count.
    pub qualified: Vec<(String, String)>,
    /// The parked events this event released, in the order they were applied (their outcomes
    /// follow the event's own in `outcomes`).
    pub released: Vec<EventEnvelope>,
}
