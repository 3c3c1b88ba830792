//! A challenge purchased: records the transaction and the challenge, decides the attribution at
//! the customer's first purchase, checks the conflicts that hold a commission for review, and
//! prices the purchase under the affiliate's current plan.

use rust_decimal::Decimal;

use super::attribution::{
    account_merge, claim_email, click_coupon_conflict, current_plan, decide_first_attribution,
    disputed_attribution, disputed_organic, named_affiliate, self_referral,
};
use super::{post_commission, pricing_context, Decision, EventContext, NewCommission, RuleResult};
use crate::engine::customer::Attribution;
use crate::engine::outcome::{OutcomeKind, ReviewKind};
use crate::engine::reason::Reason;
use crate::engine::records::{Challenge, Transaction, TransactionKind};
use crate::engine::view::CustomerView;
use crate::events::Purchase;
use crate::ledger::CommissionSource;
use crate::plans::Basis;
use crate::quality::month_of;

pub(super) fn purchase(
    view: &mut CustomerView,
    p: &Purchase,
    ctx: &mut EventContext<'_>,
) -> RuleResult {
    if view
        .transaction(&p.transaction_id)?
        .is_some_and(|r| r.transaction.is_some())
    {
        return Ok(Decision::no_commission(Reason::DuplicateTransaction));
    }
    if view
        .challenge(&p.challenge_id)?
        .is_some_and(|r| r.challenge.is_some())
    {
        ctx.open_review(
            ReviewKind::InvalidReference,
            vec![],
            &[
                ("challenge_id", &p.challenge_id),
                ("problem", "challenge already purchased"),
            ],
        );
        return Ok(Decision::new(
            OutcomeKind::HeldForReview,
            Reason::ChallengeAlreadyPurchased,
        ));
    }
    let is_first_purchase = matches!(view.head.attribution, Attribution::None);
    let coupon_affiliate = p
        .coupon_code
        .as_deref()
        .and_then(|c| ctx.directory.coupon(c))
        .map(str::to_owned);
    let named = named_affiliate(p, coupon_affiliate.as_deref());

    // Record the transaction and challenge first: whatever the commission outcome, later events
    // can reference them.
    record_purchase(view, p, ctx)?;

    if is_first_purchase {
        if let Some(decision) = decide_first_attribution(view, p, named.as_deref(), ctx) {
            return Ok(decision);
        }
    }
    let attributed = match &view.head.attribution {
        Attribution::Affiliate(a) => a.clone(),
        Attribution::Unresolved { .. } => {
            claim_email(ctx, None);
            return Ok(
                Decision::new(OutcomeKind::HeldForReview, Reason::AttributionInReview).releasing(),
            );
        }
        Attribution::Organic { .. } | Attribution::None => {
            claim_email(ctx, None);
            if let Some(other) = &named {
                disputed_organic(other, ctx);
                return Ok(
                    Decision::new(OutcomeKind::HeldForReview, Reason::DisputedAttribution)
                        .releasing(),
                );
            }
            return Ok(Decision::no_commission(Reason::Unattributed).releasing());
        }
    };
    let affiliate_id = attributed.affiliate_id.clone();
    if is_first_purchase {
        // The deciding purchase carries the window's end: it is due work for the scheduler.
        view.transaction_or_new(&p.transaction_id)?.window_ends_at =
            Some(attributed.window_ends_at);
    }

    // Conflicts: each opens a review item and holds the commission.
    let customer_id = view.head.customer_id.clone();
    let mut review_hold: Option<String> = attributed.review_id.clone();
    let conflicts = [
        click_coupon_conflict(p, coupon_affiliate.as_deref(), ctx),
        (!is_first_purchase)
            .then(|| disputed_attribution(&affiliate_id, named.as_deref(), ctx))
            .flatten(),
        self_referral(&customer_id, ctx, &affiliate_id),
        account_merge(&customer_id, ctx, &affiliate_id),
    ];
    for id in conflicts.into_iter().flatten() {
        review_hold.get_or_insert(id);
    }
    claim_email(ctx, Some(&affiliate_id));
    if is_first_purchase {
        if let (Some(id), Attribution::Affiliate(a)) = (&review_hold, &mut view.head.attribution) {
            a.review_id = Some(id.clone());
        }
    }

    if !attributed.window_contains(ctx.event.occurred_at) {
        return Ok(Decision::no_commission(Reason::OutsideWindow).releasing());
    }
    let Some((affiliate, plan)) = current_plan(ctx.directory, &affiliate_id) else {
        ctx.open_review(
            ReviewKind::UnknownAffiliate,
            vec![affiliate_id.clone()],
            &[
                ("affiliate_id", &affiliate_id),
                ("problem", "no affiliate or plan in the directory"),
            ],
        );
        return Ok(Decision::new(OutcomeKind::HeldForReview, Reason::PlanMissing).releasing());
    };
    if p.price.currency != plan.currency {
        return Ok(Decision::no_commission(Reason::CurrencyMismatch).releasing());
    }
    if let Some(why) = plan.disqualifies(
        &p.tier,
        p.price.amount,
        p.coupon_code.as_deref(),
        is_first_purchase,
    ) {
        return Ok(Decision::no_commission(why).releasing());
    }
    let month = month_of(ctx.event.occurred_at);
    let pricing = pricing_context(
        ctx,
        affiliate,
        affiliate.qualified_in(&month).saturating_add(1),
    );
    ctx.applied.qualified.push((affiliate_id.clone(), month));
    let amount = plan
        .price(
            Basis::Purchase {
                tier: &p.tier,
                amount: p.price.amount,
            },
            &pricing,
        )
        .map_err(ctx.overflow())?;
    if amount.is_zero() {
        return Ok(Decision::no_commission(Reason::PlanPaysNothing).releasing());
    }
    let (commission, decision) = post_commission(
        ctx,
        NewCommission {
            affiliate_id,
            plan,
            source: CommissionSource::Purchase,
            challenge_id: p.challenge_id.clone(),
            transaction_id: Some(p.transaction_id.clone()),
            amount,
            pricing,
            review_hold,
            reason: Reason::Purchase,
        },
    );
    view.transaction_or_new(&p.transaction_id)?.commission = Some(commission);
    Ok(decision.releasing())
}

/// The purchase's transaction and challenge records (a placeholder holding parked events keeps
/// them: they are applied once this event is).
fn record_purchase(
    view: &mut CustomerView,
    p: &Purchase,
    ctx: &EventContext<'_>,
) -> Result<(), crate::engine::EngineError> {
    view.transaction_or_new(&p.transaction_id)?.transaction = Some(Transaction {
        transaction_id: p.transaction_id.clone(),
        kind: TransactionKind::Purchase,
        event_id: ctx.event.event_id.clone(),
        challenge_id: p.challenge_id.clone(),
        tier: Some(p.tier.clone()),
        coupon_code: p.coupon_code.clone(),
        price: p.price,
        refunded: Decimal::ZERO,
        occurred_at: ctx.event.occurred_at,
        dispute: None,
        tier_changed_at: None,
    });
    view.challenge_or_new(&p.challenge_id)?.challenge = Some(Challenge {
        purchase_transaction_id: p.transaction_id.clone(),
    });
    Ok(())
}
