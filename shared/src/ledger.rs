//! The commission ledger: append-only entries, and the per-commission summary the engine keeps so
//! it never has to read the entries back.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::engine::Reason;
use crate::money::Currency;
use crate::plans::{MilestoneKind, PricingContext};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommissionStatus {
    /// Inside the cooling-off period.
    Pending,
    /// Payable.
    Approved,
    /// A dispute is open or the attribution is in review.
    OnHold,
    /// Voided: a full refund inside cooling-off.
    Cancelled,
    /// Taken back: chargeback lost, or a full refund after cooling-off.
    Reversed,
}

impl CommissionStatus {
    pub const ALL: [CommissionStatus; 5] = [
        CommissionStatus::Pending,
        CommissionStatus::Approved,
        CommissionStatus::OnHold,
        CommissionStatus::Cancelled,
        CommissionStatus::Reversed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CommissionStatus::Pending => "pending",
            CommissionStatus::Approved => "approved",
            CommissionStatus::OnHold => "on_hold",
            CommissionStatus::Cancelled => "cancelled",
            CommissionStatus::Reversed => "reversed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// The original amount (> 0).
    Commission,
    /// A recalculation delta (< 0): partial refund or downgrade.
    Adjustment,
    /// Voids what is left (−net): full refund inside cooling-off.
    Cancellation,
    /// Takes back what is left (−net): chargeback lost, full refund after cooling-off.
    Reversal,
    /// Status only (amount 0): dispute opened.
    Hold,
    /// Status only (amount 0): dispute won.
    Release,
    /// Status only (amount 0): cooling-off ended, the commission is payable.
    Approval,
}

impl EntryKind {
    pub const ALL: [EntryKind; 7] = [
        EntryKind::Commission,
        EntryKind::Adjustment,
        EntryKind::Cancellation,
        EntryKind::Reversal,
        EntryKind::Hold,
        EntryKind::Release,
        EntryKind::Approval,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Commission => "commission",
            EntryKind::Adjustment => "adjustment",
            EntryKind::Cancellation => "cancellation",
            EntryKind::Reversal => "reversal",
            EntryKind::Hold => "hold",
            EntryKind::Release => "release",
            EntryKind::Approval => "approval",
        }
    }
}

/// Parses the words `as_str` writes (how entries read back from the store).
macro_rules! from_words {
    ($t:ty, $what:literal) => {
        impl std::str::FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                serde_json::from_value(serde_json::Value::String(s.to_owned()))
                    .map_err(|_| format!("unknown {} {s:?}", $what))
            }
        }
    };
}
from_words!(CommissionStatus, "commission status");
from_words!(EntryKind, "entry kind");

/// What earned a commission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "milestone")]
pub enum CommissionSource {
    Purchase,
    Reset,
    Milestone(MilestoneKind),
}

/// One immutable ledger line. Written once with a deterministic id; never updated or deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// `{event_id}#{n}` for entries an event caused, `{commission_id}#approval` for approval.
    pub entry_id: String,
    pub commission_id: String,
    pub affiliate_id: String,
    pub customer_id: String,
    pub kind: EntryKind,
    /// Signed: positive for the commission, negative for corrections, zero for status entries.
    pub amount: Decimal,
    pub currency: Currency,
    /// The commission's status once this entry is applied.
    pub status: CommissionStatus,
    pub plan_id: String,
    pub plan_version: u32,
    /// The event that caused the entry; none for approvals (the cooling-off ending did).
    pub event_id: Option<String>,
    /// When it took effect: the causing event's `occurred_at`, or the end of cooling-off.
    pub effective_at: DateTime<Utc>,
    /// For corrections and status entries: the commission's original entry.
    pub corrects: Option<String>,
    pub reason: Reason,
}

/// The engine's running summary of one commission, kept in the record of what it prices (a
/// transaction, or a challenge for milestones), so a refund or chargeback never reads ledger
/// entries back. Stored with short names: it is engine state, not what finance reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commission {
    #[serde(rename = "id")]
    pub commission_id: String,
    #[serde(rename = "oe")]
    pub original_entry_id: String,
    #[serde(rename = "a")]
    pub affiliate_id: String,
    #[serde(rename = "pl")]
    pub plan_id: String,
    #[serde(rename = "pv")]
    pub plan_version: u32,
    #[serde(rename = "src")]
    pub source: CommissionSource,
    #[serde(rename = "ch")]
    pub challenge_id: String,
    /// The purchase or reset transaction priced, if any (milestones have none).
    #[serde(rename = "tx", default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    #[serde(rename = "cur")]
    pub currency: Currency,
    #[serde(rename = "o")]
    pub original: Decimal,
    /// Original plus every correction so far; never below zero.
    #[serde(rename = "n")]
    pub net: Decimal,
    #[serde(rename = "pr")]
    pub pricing: PricingContext,
    #[serde(rename = "co")]
    pub cooling_off_ends_at: DateTime<Utc>,
    #[serde(rename = "ap", default, skip_serializing_if = "is_false")]
    pub approved: bool,
    #[serde(rename = "dh", default, skip_serializing_if = "is_false")]
    pub dispute_hold: bool,
    /// The review item holding it, while the attribution is disputed.
    #[serde(rename = "rh", default, skip_serializing_if = "Option::is_none")]
    pub review_hold: Option<String>,
    #[serde(rename = "tm", default, skip_serializing_if = "Option::is_none")]
    pub terminal: Option<CommissionStatus>,
}

fn is_false(b: &bool) -> bool {
    !b
}

impl Commission {
    pub fn status(&self) -> CommissionStatus {
        if let Some(t) = self.terminal {
            t
        } else if self.dispute_hold || self.review_hold.is_some() {
            CommissionStatus::OnHold
        } else if self.approved {
            CommissionStatus::Approved
        } else {
            CommissionStatus::Pending
        }
    }

    /// Cooling-off is `[occurred_at, cooling_off_ends_at)`: an instant equal to the end is after.
    pub fn in_cooling_off(&self, at: DateTime<Utc>) -> bool {
        at < self.cooling_off_ends_at
    }
}
