//! Attribution rules: who a first purchase attributes the customer to, the conflicts that hold a
//! commission for review, and whether a later event earns (the window, one rule, one home:
//! `AffiliateAttribution::window_contains`).

use super::{Decision, EventContext};
use crate::engine::customer::{AffiliateAttribution, Attribution, AttributionSource};
use crate::engine::directory::{Affiliate, EmailOwner};
use crate::engine::outcome::{OutcomeKind, ReviewKind};
use crate::engine::reason::Reason;
use crate::engine::view::CustomerView;
use crate::engine::Directory;
use crate::events::Purchase;
use crate::plans::Plan;

/// The affiliate's current plan, or `None` when the directory lacks the affiliate or the plan.
pub(super) fn current_plan<'d>(
    directory: &'d dyn Directory,
    affiliate_id: &str,
) -> Option<(&'d Affiliate, &'d Plan)> {
    let affiliate = directory.affiliate(affiliate_id)?;
    let plan = directory.plan(&affiliate.plan_id, affiliate.plan_version)?;
    Some((affiliate, plan))
}

/// The affiliate a purchase names: its tracking link's affiliate id, else its coupon's owner.
pub(super) fn named_affiliate(p: &Purchase, coupon_affiliate: Option<&str>) -> Option<String> {
    p.affiliate_id
        .clone()
        .or_else(|| coupon_affiliate.map(str::to_owned))
}

/// The first purchase decides the attribution. Returns the decision when it ends the purchase's
/// pricing (organic, or an affiliate the directory cannot price for).
pub(super) fn decide_first_attribution(
    view: &mut CustomerView,
    p: &Purchase,
    named: Option<&str>,
    ctx: &mut EventContext<'_>,
) -> Option<Decision> {
    let event = ctx.event;
    let Some(affiliate_id) = named else {
        view.head.attribution = Attribution::Organic {
            decided_by_event: event.event_id.clone(),
        };
        claim_email(ctx, None);
        return Some(Decision::no_commission(Reason::Unattributed).releasing());
    };
    let Some((_, plan)) = current_plan(ctx.directory, affiliate_id) else {
        let review_id = ctx.open_review(
            ReviewKind::UnknownAffiliate,
            vec![affiliate_id.to_owned()],
            &[
                ("affiliate_id", affiliate_id),
                ("problem", "no affiliate or plan in the directory"),
            ],
        );
        view.head.attribution = Attribution::Unresolved {
            decided_by_event: event.event_id.clone(),
            review_id,
        };
        claim_email(ctx, None);
        return Some(
            Decision::new(OutcomeKind::HeldForReview, Reason::UnknownAffiliate).releasing(),
        );
    };
    view.head.attribution = Attribution::Affiliate(AffiliateAttribution {
        affiliate_id: affiliate_id.to_owned(),
        source: if p.affiliate_id.is_some() {
            AttributionSource::Link
        } else {
            AttributionSource::Coupon
        },
        click_id: p.click_id.clone(),
        coupon_code: p.coupon_code.clone(),
        decided_by_event: event.event_id.clone(),
        starts_at: event.occurred_at,
        window_ends_at: event.occurred_at + plan.window(),
        review_id: None,
        expired_at: None,
    });
    None
}

/// A link naming one affiliate and a coupon belonging to another: review, hold.
pub(super) fn click_coupon_conflict(
    p: &Purchase,
    coupon_affiliate: Option<&str>,
    ctx: &mut EventContext<'_>,
) -> Option<String> {
    let (link, coupon_aff) = (p.affiliate_id.as_deref()?, coupon_affiliate?);
    if link == coupon_aff {
        return None;
    }
    Some(ctx.open_review(
        ReviewKind::ClickCouponConflict,
        vec![link.to_owned(), coupon_aff.to_owned()],
        &[
            ("link_affiliate_id", link),
            ("coupon_affiliate_id", coupon_aff),
            ("coupon_code", p.coupon_code.as_deref().unwrap_or_default()),
            ("click_id", p.click_id.as_deref().unwrap_or_default()),
        ],
    ))
}

/// A later purchase naming another affiliate than the attributed one: review, hold.
pub(super) fn disputed_attribution(
    attributed: &str,
    named: Option<&str>,
    ctx: &mut EventContext<'_>,
) -> Option<String> {
    let other = named.filter(|n| *n != attributed)?;
    Some(ctx.open_review(
        ReviewKind::DisputedAttribution,
        vec![attributed.to_owned(), other.to_owned()],
        &[
            ("attributed_affiliate_id", attributed),
            ("named_affiliate_id", other),
        ],
    ))
}

/// A purchase naming an affiliate for a customer whose first purchase named none.
pub(super) fn disputed_organic(other: &str, ctx: &mut EventContext<'_>) -> String {
    ctx.open_review(
        ReviewKind::DisputedAttribution,
        vec![other.to_owned()],
        &[
            ("named_affiliate_id", other),
            ("attributed", "organic (first purchase named no affiliate)"),
        ],
    )
}

/// The affiliate referring itself: its own account, or its own email.
pub(super) fn self_referral(
    customer_id: &str,
    ctx: &mut EventContext<'_>,
    affiliate_id: &str,
) -> Option<String> {
    let affiliate = ctx.directory.affiliate(affiliate_id)?;
    let by_account = affiliate.own_customer_ids.iter().any(|c| c == customer_id);
    let by_email = ctx
        .event
        .email_hash
        .as_ref()
        .is_some_and(|h| affiliate.own_email_hashes.iter().any(|o| o == h));
    if !(by_account || by_email) {
        return None;
    }
    let signal = if by_account {
        "customer_id is the affiliate's own account"
    } else {
        "email matches the affiliate's own"
    };
    Some(ctx.open_review(
        ReviewKind::SelfReferral,
        vec![affiliate_id.to_owned()],
        &[("affiliate_id", affiliate_id), ("signal", signal)],
    ))
}

/// The same email under another customer with another affiliate: a possible account merge.
pub(super) fn account_merge(
    customer_id: &str,
    ctx: &mut EventContext<'_>,
    affiliate_id: &str,
) -> Option<String> {
    let hash = ctx.event.email_hash.as_ref()?;
    let owner = ctx.directory.email_owner(hash)?;
    if owner.customer_id == customer_id {
        return None;
    }
    let other_affiliate = owner.affiliate_id.as_deref()?;
    if other_affiliate == affiliate_id {
        return None;
    }
    let other_customer = owner.customer_id.clone();
    let other_affiliate = other_affiliate.to_owned();
    Some(ctx.open_review(
        ReviewKind::AccountMerge,
        vec![affiliate_id.to_owned(), other_affiliate.clone()],
        &[
            ("other_customer_id", &other_customer),
            ("other_affiliate_id", &other_affiliate),
            ("matched_on", "email_hash"),
        ],
    ))
}

/// The first customer an email hash is seen with owns it; later customers with the same hash are
/// merge candidates. (A customer that has seen the hash before already owns it.)
pub(super) fn claim_email(ctx: &mut EventContext<'_>, affiliate_id: Option<&str>) {
    let Some(hash) = ctx.event.email_hash.clone() else {
        return;
    };
    if ctx.directory.email_owner(&hash).is_none() {
        ctx.applied.email_claims.push(EmailOwner {
            email_hash: hash,
            customer_id: ctx.event.customer_id.clone(),
            affiliate_id: affiliate_id.map(str::to_owned),
        });
    }
}

/// Who an event earns for, when it earns: the attributed affiliate, its current plan, and the
/// review holding its commissions, if any.
pub(super) struct Earner<'d> {
    pub affiliate_id: String,
    pub affiliate: &'d Affiliate,
    pub plan: &'d Plan,
    pub review_hold: Option<String>,
}

/// Whether an event that occurred at `at` earns, and for whom; else the decision that says why
/// not.
pub(super) fn earning<'d>(
    attribution: &Attribution,
    directory: &'d dyn Directory,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Earner<'d>, Decision> {
    match attribution {
        Attribution::Affiliate(a) => {
            if !a.window_contains(at) {
                return Err(Decision::no_commission(Reason::OutsideWindow));
            }
            match current_plan(directory, &a.affiliate_id) {
                Some((affiliate, plan)) => Ok(Earner {
                    affiliate_id: a.affiliate_id.clone(),
                    affiliate,
                    plan,
                    review_hold: a.review_id.clone(),
                }),
                None => Err(Decision::new(
                    OutcomeKind::HeldForReview,
                    Reason::PlanMissing,
                )),
            }
        }
        Attribution::Unresolved { .. } => Err(Decision::new(
            OutcomeKind::HeldForReview,
            Reason::AttributionInReview,
        )),
        Attribution::Organic { .. } | Attribution::None => {
            Err(Decision::no_commission(Reason::Unattributed))
        }
    }
}
