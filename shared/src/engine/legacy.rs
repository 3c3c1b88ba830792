//! The customer item as it was written before bounded state (commit b1fd094 and earlier): one
//! item per customer holding the whole history as JSON in `state`. Read here, never written: a
//! customer in this format is converted (`migrate`) into a head and one record per transaction
//! and challenge the first time anything touches it (processor, scheduler, or the one-off
//! `migrate-customers` command). The types below are frozen copies of the old JSON shape.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;

use super::customer::{Attribution, CustomerHead};
use super::records::{
    Challenge, ChallengeRecord, ParkedRef, Record, RecordKey, Transaction, TransactionKind,
    TransactionRecord,
};
use super::view::CustomerView;
use crate::events::{DisputeStatus, EventEnvelope, FailureReason};
use crate::ledger::{Commission, CommissionSource, CommissionStatus};
use crate::money::{Currency, Money};
use crate::plans::{MilestoneKind, PricingContext};

#[derive(Debug, Clone, Deserialize)]
pub struct LegacyCustomerState {
    pub customer_id: String,
    pub version: u64,
    pub attribution: Attribution,
    #[serde(default)]
    pub email_hashes: BTreeSet<String>,
    pub transactions: BTreeMap<String, LegacyTransaction>,
    pub challenges: BTreeMap<String, LegacyChallenge>,
    pub commissions: BTreeMap<String, LegacyCommission>,
    pub parked: Vec<LegacyParkedEvent>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegacyTransactionKind {
    Purchase,
    Reset,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LegacyTransaction {
    pub transaction_id: String,
    pub kind: LegacyTransactionKind,
    pub event_id: String,
    pub challenge_id: String,
    pub tier: Option<String>,
    pub coupon_code: Option<String>,
    pub price: Money,
    pub refunded: Decimal,
    pub occurred_at: DateTime<Utc>,
    pub commission_id: Option<String>,
    pub dispute: Option<(DisputeStatus, DateTime<Utc>)>,
    pub tier_changed_at: Option<DateTime<Utc>>,
}

/// The old challenge also kept reporting fields (started, failed, …); the event log holds those
/// facts, so the new record does not.
#[derive(Debug, Clone, Deserialize)]
pub struct LegacyChallenge {
    pub challenge_id: String,
    pub purchase_transaction_id: String,
    pub milestones_paid: BTreeSet<MilestoneKind>,
    pub started: bool,
    pub failed: Option<FailureReason>,
    pub passed_after_days: Option<u32>,
    pub funded_account_id: Option<String>,
    pub resets: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LegacyPricingContext {
    pub occurred_at: DateTime<Utc>,
    pub qualified_in_month: u32,
    pub quality_tier: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LegacyCommission {
    pub commission_id: String,
    pub original_entry_id: String,
    pub affiliate_id: String,
    pub plan_id: String,
    pub plan_version: u32,
    pub source: CommissionSource,
    pub challenge_id: String,
    pub transaction_id: Option<String>,
    pub currency: Currency,
    pub original: Decimal,
    pub net: Decimal,
    pub pricing: LegacyPricingContext,
    pub cooling_off_ends_at: DateTime<Utc>,
    pub approved: bool,
    pub dispute_hold: bool,
    pub review_hold: Option<String>,
    pub terminal: Option<CommissionStatus>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LegacyParkedEvent {
    pub envelope: EventEnvelope,
    /// `transaction:{id}` or `challenge:{id}`.
    pub waiting_for: String,
    #[serde(default)]
    pub review_id: Option<String>,
}

/// A legacy customer in the new shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigratedCustomer {
    /// Its version is the legacy version plus one, so a writer still holding the legacy item's
    /// version (an old processor during a deploy) loses its condition instead of overwriting.
    pub head: CustomerHead,
    pub records: Vec<(RecordKey, Record)>,
    /// The parked events' envelopes (the records keep only references to them).
    pub parked_envelopes: Vec<EventEnvelope>,
}

/// The version a migrated record is written at.
pub const MIGRATED_RECORD_VERSION: u64 = 1;

impl MigratedCustomer {
    /// The customer as the engine sees it once the migration is written: every record is in
    /// hand, so the view is complete.
    pub fn into_view(self) -> CustomerView {
        let mut view = CustomerView::complete(self.head);
        for (key, record) in self.records {
            view.insert_loaded(key, MIGRATED_RECORD_VERSION, Some(record));
        }
        for envelope in self.parked_envelopes {
            view.insert_envelope(envelope);
        }
        view
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("legacy customer {customer_id}: {problem}")]
pub struct LegacyError {
    pub customer_id: String,
    pub problem: String,
}

pub fn parse(json: &str) -> Result<LegacyCustomerState, String> {
    serde_json::from_str(json).map_err(|e| format!("legacy customer state: {e}"))
}

fn commission(c: LegacyCommission) -> Commission {
    Commission {
        commission_id: c.commission_id,
        original_entry_id: c.original_entry_id,
        affiliate_id: c.affiliate_id,
        plan_id: c.plan_id,
        plan_version: c.plan_version,
        source: c.source,
        challenge_id: c.challenge_id,
        transaction_id: c.transaction_id,
        currency: c.currency,
        original: c.original,
        net: c.net,
        pricing: PricingContext {
            occurred_at: c.pricing.occurred_at,
            qualified_in_month: c.pricing.qualified_in_month,
            quality_tier: c.pricing.quality_tier,
        },
        cooling_off_ends_at: c.cooling_off_ends_at,
        approved: c.approved,
        dispute_hold: c.dispute_hold,
        review_hold: c.review_hold,
        terminal: c.terminal,
    }
}

/// Converts a legacy customer into a head and records holding exactly the same engine state
/// (every transaction, challenge, commission and parked event), so applying an event afterwards
/// gives what the legacy engine would have. Fails, rather than guesses, on an item whose parts
/// do not fit together.
pub fn migrate(state: LegacyCustomerState) -> Result<MigratedCustomer, LegacyError> {
    let customer_id = state.customer_id.clone();
    let fail = |problem: String| LegacyError {
        customer_id: customer_id.clone(),
        problem,
    };
    let mut commissions = state.commissions;
    let window_decider = match &state.attribution {
        Attribution::Affiliate(a) if a.expired_at.is_none() => {
            Some((a.decided_by_event.clone(), a.window_ends_at))
        }
        _ => None,
    };
    let mut records: BTreeMap<RecordKey, Record> = BTreeMap::new();
    for (id, tx) in state.transactions {
        let commission = match &tx.commission_id {
            Some(cid) => Some(commission(commissions.remove(cid).ok_or_else(|| {
                fail(format!(
                    "transaction {id} names commission {cid}, which is missing"
                ))
            })?)),
            None => None,
        };
        let window_ends_at = window_decider
            .as_ref()
            .filter(|(event, _)| *event == tx.event_id)
            .map(|(_, end)| *end);
        let record = TransactionRecord {
            transaction: Some(Transaction {
                transaction_id: tx.transaction_id,
                kind: match tx.kind {
                    LegacyTransactionKind::Purchase => TransactionKind::Purchase,
                    LegacyTransactionKind::Reset => TransactionKind::Reset,
                },
                event_id: tx.event_id,
                challenge_id: tx.challenge_id,
                tier: tx.tier,
                coupon_code: tx.coupon_code,
                price: tx.price,
                refunded: tx.refunded,
                occurred_at: tx.occurred_at,
                dispute: tx.dispute,
                tier_changed_at: tx.tier_changed_at,
            }),
            commission,
            parked: Vec::new(),
            window_ends_at,
        };
        records.insert(RecordKey::Transaction(id), Record::Transaction(record));
    }
    for (id, ch) in state.challenges {
        let mut milestones = BTreeMap::new();
        for kind in &ch.milestones_paid {
            let found = commissions
                .iter()
                .find(|(_, c)| {
                    c.challenge_id == id && c.source == CommissionSource::Milestone(*kind)
                })
                .map(|(cid, _)| cid.clone())
                .ok_or_else(|| {
                    fail(format!(
                        "challenge {id}: paid milestone {kind:?} has no commission"
                    ))
                })?;
            let c = commissions.remove(&found).expect("found above");
            milestones.insert(*kind, commission(c));
        }
        let record = ChallengeRecord {
            challenge: Some(Challenge {
                purchase_transaction_id: ch.purchase_transaction_id,
            }),
            milestones,
            parked: Vec::new(),
        };
        records.insert(RecordKey::Challenge(id), Record::Challenge(record));
    }
    if let Some(id) = commissions.keys().next() {
        return Err(fail(format!(
            "commission {id} belongs to no transaction or challenge"
        )));
    }
    let mut parked_envelopes = Vec::new();
    for (i, p) in state.parked.into_iter().enumerate() {
        let key = if let Some(id) = p.waiting_for.strip_prefix("transaction:") {
            RecordKey::Transaction(id.to_owned())
        } else if let Some(id) = p.waiting_for.strip_prefix("challenge:") {
            RecordKey::Challenge(id.to_owned())
        } else {
            return Err(fail(format!("parked event waits for {:?}", p.waiting_for)));
        };
        let record = records.entry(key.clone()).or_insert_with(|| match key {
            RecordKey::Transaction(_) => Record::Transaction(TransactionRecord::default()),
            RecordKey::Challenge(_) => Record::Challenge(ChallengeRecord::default()),
        });
        if record.reference_exists() {
            return Err(fail(format!(
                "event {} is parked for {}, which exists",
                p.envelope.event_id, p.waiting_for
            )));
        }
        record.parked_mut().push(ParkedRef {
            event_id: p.envelope.event_id.clone(),
            event_type: p.envelope.event_type,
            received_at: p.envelope.received_at,
            // Legacy parked events keep their order among themselves and come before anything
            // parked later (whose seq is at least the migrated head's version).
            seq: i as u64 + 1,
            review_id: p.review_id,
        });
        parked_envelopes.push(p.envelope);
    }
    Ok(MigratedCustomer {
        head: CustomerHead {
            customer_id: state.customer_id,
            version: state.version + 1,
            attribution: state.attribution,
        },
        records: records.into_iter().collect(),
        parked_envelopes,
    })
}
