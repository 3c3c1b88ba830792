//! A refund, full or partial (a downgrade is a partial refund with a new tier): cancels the
//! commission inside cooling-off, reverses it after, or recalculates it under its frozen plan
//! version and pricing context.

use rust_decimal::Decimal;

use super::{park, Decision, EventContext, RuleResult};
use crate::engine::outcome::{OutcomeKind, ReviewKind};
use crate::engine::reason::Reason;
use crate::engine::records::{RecordKey, TransactionKind};
use crate::engine::view::CustomerView;
use crate::events::Refund;
use crate::ledger::{CommissionStatus, EntryKind};
use crate::money;
use crate::plans::Basis;

pub(super) fn refund(
    view: &mut CustomerView,
    r: &Refund,
    ctx: &mut EventContext<'_>,
) -> RuleResult {
    let overflow = ctx.overflow();
    let Some(record) = view
        .transaction_mut(&r.original_transaction_id)?
        .filter(|rec| rec.transaction.is_some())
    else {
        return park(
            view,
            ctx,
            RecordKey::Transaction(r.original_transaction_id.clone()),
        );
    };
    let tx = record.transaction.as_mut().expect("checked above");
    if r.refunded.currency != tx.price.currency {
        let tx_id = tx.transaction_id.clone();
        ctx.open_review(
            ReviewKind::InvalidReference,
            vec![],
            &[
                ("original_transaction_id", &tx_id),
                ("problem", "refund currency differs from the transaction's"),
            ],
        );
        return Ok(Decision::new(
            OutcomeKind::HeldForReview,
            Reason::CurrencyMismatch,
        ));
    }
    tx.refunded = money::add(tx.refunded, r.refunded.amount)
        .map_err(&overflow)?
        .min(tx.price.amount);
    if let Some(new_tier) = &r.new_tier {
        // Two downgrades: the one that occurred later decides the tier, in any arrival order.
        if tx
            .tier_changed_at
            .is_none_or(|at| ctx.event.occurred_at >= at)
        {
            tx.tier = Some(new_tier.clone());
            tx.tier_changed_at = Some(ctx.event.occurred_at);
        }
    }
    let tx = tx.clone();
    let Some(commission) = record.commission.as_mut() else {
        return Ok(Decision::no_commission(Reason::NoCommissionToCorrect));
    };
    if commission.terminal.is_some() {
        return Ok(Decision::no_commission(Reason::AlreadyCancelledOrReversed));
    }
    if tx.refunded >= tx.price.amount {
        let amount = -commission.net;
        let (status, kind, reason, outcome) = if commission.in_cooling_off(ctx.event.occurred_at) {
            (
                CommissionStatus::Cancelled,
                EntryKind::Cancellation,
                Reason::FullRefundInCoolingOff,
                OutcomeKind::Cancelled,
            )
        } else {
            (
                CommissionStatus::Reversed,
                EntryKind::Reversal,
                Reason::FullRefundAfterCoolingOff,
                OutcomeKind::Reversed,
            )
        };
        commission.terminal = Some(status);
        ctx.post(commission, kind, amount, reason)?;
        return Ok(Decision::new(outcome, reason));
    }
    // Partial refund or downgrade: recalculate under the frozen plan version and pricing context.
    let Some(plan) = ctx
        .directory
        .plan(&commission.plan_id, commission.plan_version)
    else {
        let (affiliate, plan_id) = (commission.affiliate_id.clone(), commission.plan_id.clone());
        ctx.open_review(
            ReviewKind::UnknownAffiliate,
            vec![affiliate],
            &[
                ("plan_id", &plan_id),
                ("problem", "frozen plan version missing from the directory"),
            ],
        );
        return Ok(Decision::new(
            OutcomeKind::HeldForReview,
            Reason::PlanMissing,
        ));
    };
    let overflow = ctx.overflow();
    let effective = money::sub(tx.price.amount, tx.refunded).map_err(&overflow)?;
    let target = match tx.kind {
        TransactionKind::Purchase => {
            let tier = tx.tier.as_deref().unwrap_or_default();
            // The customer's first purchase already qualified; only amount and tier rules can
            // change with a refund or downgrade.
            if plan
                .disqualifies(tier, effective, tx.coupon_code.as_deref(), true)
                .is_some()
            {
                Decimal::ZERO
            } else {
                plan.price(
                    Basis::Purchase {
                        tier,
                        amount: effective,
                    },
                    &commission.pricing,
                )
                .map_err(&overflow)?
            }
        }
        TransactionKind::Reset => plan
            .price(Basis::Reset { fee: effective }, &commission.pricing)
            .map_err(&overflow)?,
    };
    // A refund never raises a commission, and never takes back more than is left.
    let delta = money::sub(target, commission.net)
        .map_err(&overflow)?
        .min(Decimal::ZERO)
        .max(-commission.net);
    if delta.is_zero() {
        return Ok(Decision::no_commission(Reason::RecalculationUnchanged));
    }
    let reason = if r.new_tier.is_some() {
        Reason::DowngradeRecalculated
    } else {
        Reason::PartialRefundRecalculated
    };
    ctx.post(commission, EntryKind::Adjustment, delta, reason)?;
    Ok(Decision::new(OutcomeKind::Adjusted, reason))
}
