//! Approval at the end of cooling-off: the one status change the scheduler makes to a commission.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::reason::Reason;
use super::view::CustomerView;
use crate::ledger::{Commission, CommissionStatus, EntryKind, LedgerEntry};

/// Approves a pending commission whose cooling-off has ended at `now` (the end instant itself
/// counts as ended). The entry id is derived from the commission, so approving twice, or from two
/// ticks at once, can only ever write one approval; its `effective_at` is the end of cooling-off,
/// not the tick's time, so a replayed tick writes the same entry.
pub fn approve_commission(
    commission: &mut Commission,
    customer_id: &str,
    now: DateTime<Utc>,
) -> Option<LedgerEntry> {
    if commission.status() != CommissionStatus::Pending || commission.cooling_off_ends_at > now {
        return None;
    }
    commission.approved = true;
    Some(LedgerEntry {
        entry_id: format!("{}#approval", commission.commission_id),
        commission_id: commission.commission_id.clone(),
        affiliate_id: commission.affiliate_id.clone(),
        customer_id: customer_id.to_owned(),
        kind: EntryKind::Approval,
        amount: Decimal::ZERO,
        currency: commission.currency,
        status: CommissionStatus::Approved,
        plan_id: commission.plan_id.clone(),
        plan_version: commission.plan_version,
        event_id: None,
        effective_at: commission.cooling_off_ends_at,
        corrects: Some(commission.original_entry_id.clone()),
        reason: Reason::CoolingOffEnded,
    })
}

/// Approves every due commission in the records the view holds.
pub fn approve_due(view: &mut CustomerView, now: DateTime<Utc>) -> Vec<LedgerEntry> {
    let customer_id = view.head.customer_id.clone();
    let mut entries = Vec::new();
    for (_, record) in view.records_mut() {
        for commission in record.commissions_mut() {
            entries.extend(approve_commission(commission, &customer_id, now));
        }
    }
    entries
}
