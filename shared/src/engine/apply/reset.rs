//! A reset bought for an existing challenge: recorded as a transaction of its own, and priced
//! when the plan's scope includes resets (at the plan's reset rate).

use rust_decimal::Decimal;

use super::attribution::{earning, Earner};
use super::{
    park, post_commission, pricing_context, Decision, EventContext, NewCommission, RuleResult,
};
use crate::engine::reason::Reason;
use crate::engine::records::{RecordKey, Transaction, TransactionKind};
use crate::engine::view::CustomerView;
use crate::events::Reset;
use crate::ledger::CommissionSource;
use crate::plans::Basis;
use crate::quality::month_of;

pub(super) fn reset(view: &mut CustomerView, r: &Reset, ctx: &mut EventContext<'_>) -> RuleResult {
    let challenge_exists = view
        .challenge(&r.original_challenge_id)?
        .is_some_and(|c| c.challenge.is_some());
    if !challenge_exists {
        return park(
            view,
            ctx,
            RecordKey::Challenge(r.original_challenge_id.clone()),
        );
    }
    let record = view.transaction_or_new(&r.transaction_id)?;
    if record.transaction.is_some() {
        return Ok(Decision::no_commission(Reason::DuplicateTransaction));
    }
    record.transaction = Some(Transaction {
        transaction_id: r.transaction_id.clone(),
        kind: TransactionKind::Reset,
        event_id: ctx.event.event_id.clone(),
        challenge_id: r.original_challenge_id.clone(),
        tier: None,
        coupon_code: None,
        price: r.fee,
        refunded: Decimal::ZERO,
        occurred_at: ctx.event.occurred_at,
        dispute: None,
        tier_changed_at: None,
    });
    let Earner {
        affiliate_id,
        affiliate,
        plan,
        review_hold,
    } = match earning(&view.head.attribution, ctx.directory, ctx.event.occurred_at) {
        Ok(earner) => earner,
        Err(decision) => return Ok(decision.releasing()),
    };
    if !plan.pays_on_resets() {
        return Ok(Decision::no_commission(Reason::OutOfScope).releasing());
    }
    if r.fee.currency != plan.currency {
        return Ok(Decision::no_commission(Reason::CurrencyMismatch).releasing());
    }
    let month = month_of(ctx.event.occurred_at);
    let pricing = pricing_context(ctx, affiliate, affiliate.qualified_in(&month));
    let amount = plan
        .price(Basis::Reset { fee: r.fee.amount }, &pricing)
        .map_err(ctx.overflow())?;
    if amount.is_zero() {
        return Ok(Decision::no_commission(Reason::PlanPaysNothing).releasing());
    }
    let (commission, decision) = post_commission(
        ctx,
        NewCommission {
            affiliate_id,
            plan,
            source: CommissionSource::Reset,
            challenge_id: r.original_challenge_id.clone(),
            transaction_id: Some(r.transaction_id.clone()),
            amount,
            pricing,
            review_hold,
            reason: Reason::Reset,
        },
    );
    view.transaction_or_new(&r.transaction_id)?.commission = Some(commission);
    Ok(decision.releasing())
}
