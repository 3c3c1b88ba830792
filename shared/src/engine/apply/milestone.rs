//! Evaluation and funded events: reporting on the challenge, plus a milestone commission when the
//! plan pays one (at most once per challenge and milestone).

use super::attribution::{earning, Earner};
use super::{
    park, post_commission, pricing_context, Decision, EventContext, NewCommission, RuleResult,
};
use crate::engine::reason::Reason;
use crate::engine::records::RecordKey;
use crate::engine::view::CustomerView;
use crate::ledger::CommissionSource;
use crate::plans::MilestoneKind;
use crate::quality::month_of;

pub(super) fn milestone_event(
    view: &mut CustomerView,
    challenge_id: &str,
    milestone: Option<MilestoneKind>,
    ctx: &mut EventContext<'_>,
) -> RuleResult {
    let Some(record) = view
        .challenge(challenge_id)?
        .filter(|r| r.challenge.is_some())
    else {
        return park(view, ctx, RecordKey::Challenge(challenge_id.to_owned()));
    };
    let Some(kind) = milestone else {
        return Ok(Decision::no_commission(Reason::ReportingOnly));
    };
    let already_paid = record.milestones.contains_key(&kind);
    let Earner {
        affiliate_id,
        affiliate,
        plan,
        review_hold,
    } = match earning(&view.head.attribution, ctx.directory, ctx.event.occurred_at) {
        Ok(earner) => earner,
        // An event of an unattributed customer is still reported: reporting only.
        Err(decision) if decision.reason == Reason::Unattributed => {
            return Ok(Decision::no_commission(Reason::ReportingOnly))
        }
        Err(decision) => return Ok(decision),
    };
    let Some(amount) = plan.milestone(kind) else {
        return Ok(Decision::no_commission(Reason::ReportingOnly));
    };
    if already_paid {
        return Ok(Decision::no_commission(Reason::MilestoneAlreadyPaid));
    }
    let month = month_of(ctx.event.occurred_at);
    let pricing = pricing_context(ctx, affiliate, affiliate.qualified_in(&month));
    let (commission, decision) = post_commission(
        ctx,
        NewCommission {
            affiliate_id,
            plan,
            source: CommissionSource::Milestone(kind),
            challenge_id: challenge_id.to_owned(),
            transaction_id: None,
            amount,
            pricing,
            review_hold,
            reason: Reason::milestone(kind),
        },
    );
    if let Some(record) = view.challenge_mut(challenge_id)? {
        record.milestones.insert(kind, commission);
    }
    Ok(decision)
}
