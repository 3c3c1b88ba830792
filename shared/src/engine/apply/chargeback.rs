//! A chargeback's dispute status: opened holds the commission, won releases it, lost reverses
//! what is left, whenever it arrives.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::{park, Decision, EventContext, RuleResult};
use crate::engine::outcome::{OutcomeKind, ReviewKind};
use crate::engine::reason::Reason;
use crate::engine::records::RecordKey;
use crate::engine::view::CustomerView;
use crate::events::{Chargeback, DisputeStatus};
use crate::ledger::{CommissionStatus, EntryKind};

/// Orders dispute statuses that occur at the same instant: opened before any decision.
fn dispute_rank(s: DisputeStatus) -> u8 {
    match s {
        DisputeStatus::Opened => 0,
        DisputeStatus::Won | DisputeStatus::Lost => 1,
    }
}

/// A lost dispute is final whenever it arrives; between opened and won, the later one (by
/// `occurred_at`) decides, so the hold ends the same in any arrival order.
fn is_stale(
    status: DisputeStatus,
    at: DateTime<Utc>,
    last: Option<(DisputeStatus, DateTime<Utc>)>,
) -> bool {
    last.is_some_and(|(last, last_at)| {
        status != DisputeStatus::Lost && (at, dispute_rank(status)) < (last_at, dispute_rank(last))
    })
}

pub(super) fn chargeback(
    view: &mut CustomerView,
    c: &Chargeback,
    ctx: &mut EventContext<'_>,
) -> RuleResult {
    let Some(record) = view
        .transaction_mut(&c.original_transaction_id)?
        .filter(|rec| rec.transaction.is_some())
    else {
        return park(
            view,
            ctx,
            RecordKey::Transaction(c.original_transaction_id.clone()),
        );
    };
    let tx = record.transaction.as_mut().expect("checked above");
    if c.disputed.currency != tx.price.currency {
        let tx_id = tx.transaction_id.clone();
        ctx.open_review(
            ReviewKind::InvalidReference,
            vec![],
            &[
                ("original_transaction_id", &tx_id),
                ("problem", "dispute currency differs from the transaction's"),
            ],
        );
        return Ok(Decision::new(
            OutcomeKind::HeldForReview,
            Reason::CurrencyMismatch,
        ));
    }
    if is_stale(c.dispute_status, ctx.event.occurred_at, tx.dispute) {
        return Ok(Decision::no_commission(Reason::StaleDisputeStatus));
    }
    tx.dispute = Some((c.dispute_status, ctx.event.occurred_at));
    let Some(commission) = record.commission.as_mut() else {
        return Ok(Decision::no_commission(Reason::NoCommissionToCorrect));
    };
    if commission.terminal.is_some() {
        return Ok(Decision::no_commission(Reason::AlreadyCancelledOrReversed));
    }
    match c.dispute_status {
        DisputeStatus::Opened if commission.dispute_hold => {
            Ok(Decision::no_commission(Reason::AlreadyOnHold))
        }
        DisputeStatus::Opened => {
            commission.dispute_hold = true;
            ctx.post(
                commission,
                EntryKind::Hold,
                Decimal::ZERO,
                Reason::DisputeOpened,
            )?;
            Ok(Decision::new(OutcomeKind::Held, Reason::DisputeOpened))
        }
        DisputeStatus::Lost => {
            let amount = -commission.net;
            commission.dispute_hold = false;
            commission.terminal = Some(CommissionStatus::Reversed);
            ctx.post(
                commission,
                EntryKind::Reversal,
                amount,
                Reason::ChargebackLost,
            )?;
            Ok(Decision::new(OutcomeKind::Reversed, Reason::ChargebackLost))
        }
        DisputeStatus::Won if commission.dispute_hold => {
            commission.dispute_hold = false;
            ctx.post(
                commission,
                EntryKind::Release,
                Decimal::ZERO,
                Reason::DisputeWon,
            )?;
            Ok(Decision::new(OutcomeKind::Released, Reason::DisputeWon))
        }
        DisputeStatus::Won => Ok(Decision::no_commission(Reason::NotOnHold)),
    }
}
