//! Everything the engine knows about one customer, kept in one item so one read gives the
//! processor all it needs and one conditional write (on `version`) keeps it consistent.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::events::{DisputeStatus, EventEnvelope, FailureReason};
use crate::ledger::Commission;
use crate::money::Money;
use crate::plans::MilestoneKind;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerState {
    pub customer_id: String,
    /// Events applied so far; the optimistic-concurrency token of the state item.
    pub version: u64,
    pub attribution: Attribution,
    pub email_hashes: BTreeSet<String>,
    pub transactions: BTreeMap<String, Transaction>,
    pub challenges: BTreeMap<String, Challenge>,
    pub commissions: BTreeMap<String, Commission>,
    /// Events waiting for the purchase or challenge they reference, in arrival order.
    pub parked: Vec<ParkedEvent>,
}

impl CustomerState {
    pub fn new(customer_id: &str) -> Self {
        CustomerState {
            customer_id: customer_id.to_owned(),
            version: 0,
            attribution: Attribution::None,
            email_hashes: BTreeSet::new(),
            transactions: BTreeMap::new(),
            challenges: BTreeMap::new(),
            commissions: BTreeMap::new(),
            parked: Vec::new(),
        }
    }

    pub fn attributed_affiliate(&self) -> Option<&str> {
        match &self.attribution {
            Attribution::Affiliate(a) => Some(&a.affiliate_id),
            _ => None,
        }
    }

    /// Earliest instant a pending commission can be approved, for the scheduler's sparse index.
    pub fn next_approval_due(&self) -> Option<DateTime<Utc>> {
        self.commissions
            .values()
            .filter(|c| c.status() == crate::ledger::CommissionStatus::Pending)
            .map(|c| c.cooling_off_ends_at)
            .min()
    }
}

/// Who referred the customer, decided at the first purchase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Attribution {
    /// No purchase yet.
    None,
    /// The first purchase named no affiliate.
    Organic {
        decided_by_event: String,
    },
    /// The first purchase named an affiliate the directory does not know (or whose plan is
    /// missing): a review item decides.
    Unresolved {
        decided_by_event: String,
        review_id: String,
    },
    Affiliate(AffiliateAttribution),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffiliateAttribution {
    pub affiliate_id: String,
    pub source: AttributionSource,
    pub click_id: Option<String>,
    pub coupon_code: Option<String>,
    pub decided_by_event: String,
    pub starts_at: DateTime<Utc>,
    /// The window is `[starts_at, window_ends_at)`.
    pub window_ends_at: DateTime<Utc>,
    /// Set while a review item disputes the attribution; commissions are held meanwhile.
    pub review_id: Option<String>,
    /// Set by the scheduler once the window has ended (to `window_ends_at`, not the tick's time,
    /// so a replayed tick writes the same thing). Earning already stops at `window_ends_at`;
    /// this makes it visible and queryable.
    #[serde(default)]
    pub expired_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributionSource {
    /// The affiliate id of a tracking link (with its click id, when sent).
    Link,
    /// A coupon code resolved to its affiliate.
    Coupon,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionKind {
    Purchase,
    Reset,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    pub transaction_id: String,
    pub kind: TransactionKind,
    pub event_id: String,
    pub challenge_id: String,
    /// The challenge tier (purchases; a downgrade changes it).
    pub tier: Option<String>,
    pub coupon_code: Option<String>,
    pub price: Money,
    /// Total refunded so far, capped at the price.
    pub refunded: Decimal,
    pub occurred_at: DateTime<Utc>,
    pub commission_id: Option<String>,
    /// The latest dispute status applied and when it occurred (older ones are stale).
    pub dispute: Option<(DisputeStatus, DateTime<Utc>)>,
    /// When the latest downgrade that set `tier` occurred.
    pub tier_changed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    pub challenge_id: String,
    pub purchase_transaction_id: String,
    pub milestones_paid: BTreeSet<MilestoneKind>,
    pub started: bool,
    pub failed: Option<FailureReason>,
    pub passed_after_days: Option<u32>,
    pub funded_account_id: Option<String>,
    pub resets: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParkedEvent {
    pub envelope: EventEnvelope,
    /// What it waits for: `transaction:{id}` or `challenge:{id}`.
    pub waiting_for: String,
    /// Set once the scheduler has opened a review item because the reference never came.
    #[serde(default)]
    pub review_id: Option<String>,
}
