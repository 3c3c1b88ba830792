//! The rules: one event in, its effects out. Pure and deterministic: the same state, event and
//! directory always give the same result, which is what makes replays and rebuilds exact.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::directory::{Affiliate, Directory, EmailOwner};
use super::outcome::{Applied, Outcome, OutcomeKind, ReviewItem, ReviewKind};
use super::state::{
    AffiliateAttribution, Attribution, AttributionSource, Challenge, CustomerState, ParkedEvent,
    Transaction, TransactionKind,
};
use crate::events::{
    Chargeback, DisputeStatus, EventEnvelope, EventPayload, Purchase, Refund, Reset,
};
use crate::ledger::{Commission, CommissionSource, CommissionStatus, EntryKind, LedgerEntry};
use crate::plans::{Basis, MilestoneKind, Plan, PricingContext};
use crate::quality::month_of;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("event {event_id} belongs to another customer than the state it was applied to")]
    WrongCustomer { event_id: String },
}

/// Applies one event to the customer's state. The caller has already ruled out duplicates
/// (an event id with a recorded outcome is never applied again).
pub fn apply_event(
    state: &mut CustomerState,
    event: &EventEnvelope,
    directory: &dyn Directory,
) -> Result<Applied, EngineError> {
    if event.customer_id != state.customer_id {
        return Err(EngineError::WrongCustomer {
            event_id: event.event_id.clone(),
        });
    }
    let mut applied = Applied::default();
    let releases_parked = apply_one(state, event, directory, &mut applied);
    if releases_parked {
        release_parked(state, directory, &mut applied);
    }
    state.version += 1;
    Ok(applied)
}

/// Applies parked events whose reference now exists, repeating until nothing more moves (a
/// released reset can in turn release a refund of that reset).
fn release_parked(state: &mut CustomerState, directory: &dyn Directory, applied: &mut Applied) {
    loop {
        let Some(pos) = state
            .parked
            .iter()
            .position(|p| reference_exists(state, &p.waiting_for))
        else {
            return;
        };
        let parked = state.parked.remove(pos);
        apply_one(state, &parked.envelope, directory, applied);
    }
}

fn reference_exists(state: &CustomerState, waiting_for: &str) -> bool {
    if let Some(tx) = waiting_for.strip_prefix("transaction:") {
        state.transactions.contains_key(tx)
    } else if let Some(ch) = waiting_for.strip_prefix("challenge:") {
        state.challenges.contains_key(ch)
    } else {
        false
    }
}

/// Returns whether the event created something parked events may be waiting for.
fn apply_one(
    state: &mut CustomerState,
    event: &EventEnvelope,
    directory: &dyn Directory,
    applied: &mut Applied,
) -> bool {
    let mut ctx = EventContext {
        event,
        directory,
        applied,
        entries_before: 0,
        reviews: Vec::new(),
    };
    ctx.entries_before = ctx.applied.entries.len();
    let (kind, reason, releases) = match &event.payload {
        EventPayload::Purchase(p) => purchase(state, p, &mut ctx),
        EventPayload::Reset(r) => reset(state, r, &mut ctx),
        EventPayload::EvaluationStarted(e) => milestone_event(
            state,
            &e.challenge_id,
            Some(MilestoneKind::EvaluationStarted),
            &mut ctx,
            |c| c.started = true,
        ),
        EventPayload::EvaluationFailed(e) => {
            let reason = e.reason;
            milestone_event(state, &e.challenge_id, None, &mut ctx, |c| {
                c.failed = Some(reason)
            })
        }
        EventPayload::EvaluationPassed(e) => {
            let days = e.days_to_pass;
            milestone_event(
                state,
                &e.challenge_id,
                Some(MilestoneKind::EvaluationPassed),
                &mut ctx,
                |c| c.passed_after_days = Some(days),
            )
        }
        EventPayload::Funded(f) => {
            let account = f.account_id.clone();
            milestone_event(
                state,
                &f.challenge_id,
                Some(MilestoneKind::Funded),
                &mut ctx,
                |c| c.funded_account_id = Some(account),
            )
        }
        EventPayload::Refund(r) => refund(state, r, &mut ctx),
        EventPayload::Chargeback(c) => chargeback(state, c, &mut ctx),
    };
    let entry_ids = ctx.applied.entries[ctx.entries_before..]
        .iter()
        .map(|e| e.entry_id.clone())
        .collect();
    let review_ids = ctx.reviews.iter().map(|r| r.review_id.clone()).collect();
    let reviews = std::mem::take(&mut ctx.reviews);
    ctx.applied.reviews.extend(reviews);
    ctx.applied.outcomes.push(Outcome {
        event_id: event.event_id.clone(),
        kind,
        reason: reason.to_owned(),
        entry_ids,
        review_ids,
    });
    releases
}

struct EventContext<'a> {
    event: &'a EventEnvelope,
    directory: &'a dyn Directory,
    applied: &'a mut Applied,
    entries_before: usize,
    reviews: Vec<ReviewItem>,
}

type Decision = (OutcomeKind, &'static str, bool);

impl EventContext<'_> {
    fn open_review(
        &mut self,
        kind: ReviewKind,
        affiliate_ids: Vec<String>,
        evidence: &[(&str, &str)],
    ) -> String {
        let review_id = format!("{}#{}", kind.as_str(), self.event.event_id);
        self.reviews.push(ReviewItem {
            review_id: review_id.clone(),
            kind,
            customer_id: self.event.customer_id.clone(),
            event_id: self.event.event_id.clone(),
            affiliate_ids,
            evidence: evidence
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            opened_at: self.event.received_at,
        });
        review_id
    }

    fn next_entry_id(&self) -> String {
        let n = self.applied.entries.len() - self.entries_before;
        format!("{}#{}", self.event.event_id, n)
    }

    /// Appends a correction or status entry to a commission, updating its summary.
    fn post(
        &mut self,
        commission: &mut Commission,
        kind: EntryKind,
        amount: Decimal,
        customer_id: &str,
        reason: &str,
    ) {
        // Decimal keeps a sign on zero; a "-0" amount or net must not reach the ledger.
        let amount = if amount.is_zero() {
            Decimal::ZERO
        } else {
            amount
        };
        commission.net += amount;
        if commission.net.is_zero() {
            commission.net = Decimal::ZERO;
        }
        debug_assert!(!commission.net.is_sign_negative());
        let entry = LedgerEntry {
            entry_id: self.next_entry_id(),
            commission_id: commission.commission_id.clone(),
            affiliate_id: commission.affiliate_id.clone(),
            customer_id: customer_id.to_owned(),
            kind,
            amount,
            currency: commission.currency,
            status: commission.status(),
            plan_id: commission.plan_id.clone(),
            plan_version: commission.plan_version,
            event_id: Some(self.event.event_id.clone()),
            effective_at: self.event.occurred_at,
            corrects: Some(commission.original_entry_id.clone()),
            reason: reason.to_owned(),
        };
        self.applied.entries.push(entry);
    }
}

/// The affiliate's current plan, or `None` when the directory lacks the affiliate or the plan.
fn current_plan<'d>(
    directory: &'d dyn Directory,
    affiliate_id: &str,
) -> Option<(&'d Affiliate, &'d Plan)> {
    let affiliate = directory.affiliate(affiliate_id)?;
    let plan = directory.plan(&affiliate.plan_id, affiliate.plan_version)?;
    Some((affiliate, plan))
}

/// Posts a new commission: its original ledger entry, its summary in the customer's state, and
/// the link from the transaction it prices. Held when a review item disputes the attribution.
#[allow(clippy::too_many_arguments)]
fn post_commission(
    ctx: &mut EventContext<'_>,
    state: &mut CustomerState,
    affiliate_id: &str,
    plan: &Plan,
    source: CommissionSource,
    challenge_id: &str,
    transaction_id: Option<&str>,
    amount: Decimal,
    pricing: PricingContext,
    review_hold: Option<String>,
    reason: &'static str,
) -> (OutcomeKind, &'static str) {
    let entry_id = ctx.next_entry_id();
    let commission = Commission {
        commission_id: ctx.event.event_id.clone(),
        original_entry_id: entry_id.clone(),
        affiliate_id: affiliate_id.to_owned(),
        plan_id: plan.plan_id.clone(),
        plan_version: plan.version,
        source,
        challenge_id: challenge_id.to_owned(),
        transaction_id: transaction_id.map(str::to_owned),
        currency: plan.currency,
        original: amount,
        net: amount,
        pricing,
        cooling_off_ends_at: ctx.event.occurred_at + plan.cooling_off(),
        approved: false,
        dispute_hold: false,
        review_hold,
        terminal: None,
    };
    ctx.applied.entries.push(LedgerEntry {
        entry_id,
        commission_id: commission.commission_id.clone(),
        affiliate_id: affiliate_id.to_owned(),
        customer_id: state.customer_id.clone(),
        kind: EntryKind::Commission,
        amount,
        currency: plan.currency,
        status: commission.status(),
        plan_id: plan.plan_id.clone(),
        plan_version: plan.version,
        event_id: Some(ctx.event.event_id.clone()),
        effective_at: ctx.event.occurred_at,
        corrects: None,
        reason: reason.to_owned(),
    });
    if let Some(tx) = transaction_id.and_then(|t| state.transactions.get_mut(t)) {
        tx.commission_id = Some(commission.commission_id.clone());
    }
    let held = commission.review_hold.is_some();
    state
        .commissions
        .insert(commission.commission_id.clone(), commission);
    if held {
        (OutcomeKind::HeldForReview, "attribution_conflict")
    } else {
        (OutcomeKind::CommissionPosted, reason)
    }
}

fn purchase(state: &mut CustomerState, p: &Purchase, ctx: &mut EventContext<'_>) -> Decision {
    let event = ctx.event;
    if state.transactions.contains_key(&p.transaction_id) {
        return (OutcomeKind::NoCommission, "duplicate_transaction", false);
    }
    if state.challenges.contains_key(&p.challenge_id) {
        ctx.open_review(
            ReviewKind::InvalidReference,
            vec![],
            &[
                ("challenge_id", &p.challenge_id),
                ("problem", "challenge already purchased"),
            ],
        );
        return (
            OutcomeKind::HeldForReview,
            "challenge_already_purchased",
            false,
        );
    }
    let is_first_purchase = matches!(state.attribution, Attribution::None);
    let coupon_affiliate = p
        .coupon_code
        .as_deref()
        .and_then(|c| ctx.directory.coupon(c))
        .map(str::to_owned);
    let named = p.affiliate_id.clone().or_else(|| coupon_affiliate.clone());

    // Record the transaction and challenge first: whatever the commission outcome, later events
    // can reference them.
    state.transactions.insert(
        p.transaction_id.clone(),
        Transaction {
            transaction_id: p.transaction_id.clone(),
            kind: TransactionKind::Purchase,
            event_id: event.event_id.clone(),
            challenge_id: p.challenge_id.clone(),
            tier: Some(p.tier.clone()),
            coupon_code: p.coupon_code.clone(),
            price: p.price,
            refunded: Decimal::ZERO,
            occurred_at: event.occurred_at,
            commission_id: None,
            dispute: None,
            tier_changed_at: None,
        },
    );
    state.challenges.insert(
        p.challenge_id.clone(),
        Challenge {
            challenge_id: p.challenge_id.clone(),
            purchase_transaction_id: p.transaction_id.clone(),
            milestones_paid: BTreeSet::new(),
            started: false,
            failed: None,
            passed_after_days: None,
            funded_account_id: None,
            resets: 0,
        },
    );

    if is_first_purchase {
        let Some(affiliate_id) = named.clone() else {
            state.attribution = Attribution::Organic {
                decided_by_event: event.event_id.clone(),
            };
            claim_email(state, ctx, None);
            return (OutcomeKind::NoCommission, "unattributed", true);
        };
        let Some((_, plan)) = current_plan(ctx.directory, &affiliate_id) else {
            let review_id = ctx.open_review(
                ReviewKind::UnknownAffiliate,
                vec![affiliate_id.clone()],
                &[
                    ("affiliate_id", &affiliate_id),
                    ("problem", "no affiliate or plan in the directory"),
                ],
            );
            state.attribution = Attribution::Unresolved {
                decided_by_event: event.event_id.clone(),
                review_id,
            };
            claim_email(state, ctx, None);
            return (OutcomeKind::HeldForReview, "unknown_affiliate", true);
        };
        state.attribution = Attribution::Affiliate(AffiliateAttribution {
            affiliate_id: affiliate_id.clone(),
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
    }

    let attributed = match &state.attribution {
        Attribution::Affiliate(a) => a.clone(),
        Attribution::Unresolved { .. } => {
            claim_email(state, ctx, None);
            return (OutcomeKind::HeldForReview, "attribution_in_review", true);
        }
        Attribution::Organic { .. } | Attribution::None => {
            claim_email(state, ctx, None);
            if let Some(other) = named {
                ctx.open_review(
                    ReviewKind::DisputedAttribution,
                    vec![other.clone()],
                    &[
                        ("named_affiliate_id", &other),
                        ("attributed", "organic (first purchase named no affiliate)"),
                    ],
                );
                return (OutcomeKind::HeldForReview, "disputed_attribution", true);
            }
            return (OutcomeKind::NoCommission, "unattributed", true);
        }
    };
    let affiliate_id = attributed.affiliate_id.clone();

    // Conflicts: each opens a review item and holds the commission.
    let mut review_hold: Option<String> = attributed.review_id.clone();
    if let (Some(link), Some(coupon_aff)) = (&p.affiliate_id, &coupon_affiliate) {
        if link != coupon_aff {
            let id = ctx.open_review(
                ReviewKind::ClickCouponConflict,
                vec![link.clone(), coupon_aff.clone()],
                &[
                    ("link_affiliate_id", link),
                    ("coupon_affiliate_id", coupon_aff),
                    ("coupon_code", p.coupon_code.as_deref().unwrap_or_default()),
                    ("click_id", p.click_id.as_deref().unwrap_or_default()),
                ],
            );
            review_hold.get_or_insert(id);
        }
    }
    if !is_first_purchase {
        if let Some(other) = named.as_ref().filter(|n| **n != affiliate_id) {
            let id = ctx.open_review(
                ReviewKind::DisputedAttribution,
                vec![affiliate_id.clone(), other.clone()],
                &[
                    ("attributed_affiliate_id", &affiliate_id),
                    ("named_affiliate_id", other),
                ],
            );
            review_hold.get_or_insert(id);
        }
    }
    if let Some(id) = self_referral(state, ctx, &affiliate_id) {
        review_hold.get_or_insert(id);
    }
    if let Some(id) = account_merge(state, ctx, &affiliate_id) {
        review_hold.get_or_insert(id);
    }
    claim_email(state, ctx, Some(&affiliate_id));
    if is_first_purchase {
        if let (Some(id), Attribution::Affiliate(a)) = (&review_hold, &mut state.attribution) {
            a.review_id = Some(id.clone());
        }
    }

    if event.occurred_at >= attributed.window_ends_at {
        return (OutcomeKind::NoCommission, "outside_window", true);
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
        return (OutcomeKind::HeldForReview, "plan_missing", true);
    };
    if p.price.currency != plan.currency {
        return (OutcomeKind::NoCommission, "currency_mismatch", true);
    }
    if let Some(why) = plan.disqualifies(
        &p.tier,
        p.price.amount,
        p.coupon_code.as_deref(),
        is_first_purchase,
    ) {
        return (OutcomeKind::NoCommission, why, true);
    }
    let month = month_of(event.occurred_at);
    let pricing = PricingContext {
        occurred_at: event.occurred_at,
        qualified_in_month: affiliate.qualified_in(&month) + 1,
        quality_tier: affiliate.quality_tier.clone(),
    };
    ctx.applied.qualified.push((affiliate_id.clone(), month));
    let amount = plan.price(
        Basis::Purchase {
            tier: &p.tier,
            amount: p.price.amount,
        },
        &pricing,
    );
    if amount.is_zero() {
        return (OutcomeKind::NoCommission, "plan_pays_nothing", true);
    }
    let (kind, why) = post_commission(
        ctx,
        state,
        &affiliate_id,
        plan,
        CommissionSource::Purchase,
        &p.challenge_id,
        Some(&p.transaction_id),
        amount,
        pricing,
        review_hold,
        "purchase",
    );
    (kind, why, true)
}

fn self_referral(
    state: &CustomerState,
    ctx: &mut EventContext<'_>,
    affiliate_id: &str,
) -> Option<String> {
    let affiliate = ctx.directory.affiliate(affiliate_id)?;
    let by_account = affiliate.own_customer_ids.contains(&state.customer_id);
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

fn account_merge(
    state: &CustomerState,
    ctx: &mut EventContext<'_>,
    affiliate_id: &str,
) -> Option<String> {
    let hash = ctx.event.email_hash.as_ref()?;
    let owner = ctx.directory.email_owner(hash)?;
    if owner.customer_id == state.customer_id {
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
/// merge candidates.
fn claim_email(state: &mut CustomerState, ctx: &mut EventContext<'_>, affiliate_id: Option<&str>) {
    let Some(hash) = ctx.event.email_hash.clone() else {
        return;
    };
    let newly_seen = state.email_hashes.insert(hash.clone());
    if newly_seen && ctx.directory.email_owner(&hash).is_none() {
        ctx.applied.email_claims.push(EmailOwner {
            email_hash: hash,
            customer_id: state.customer_id.clone(),
            affiliate_id: affiliate_id.map(str::to_owned),
        });
    }
}

fn park(state: &mut CustomerState, ctx: &EventContext<'_>, waiting_for: String) -> Decision {
    state.parked.push(ParkedEvent {
        envelope: ctx.event.clone(),
        waiting_for,
        review_id: None,
    });
    (OutcomeKind::Parked, "reference_not_yet_received", false)
}

/// The attributed affiliate and its current plan, if the customer's events earn at `at`.
enum Earning<'d> {
    Yes {
        affiliate_id: String,
        affiliate: &'d Affiliate,
        plan: &'d Plan,
        review_hold: Option<String>,
    },
    No(OutcomeKind, &'static str),
}

fn earning<'d>(
    state: &CustomerState,
    directory: &'d dyn Directory,
    at: DateTime<Utc>,
) -> Earning<'d> {
    match &state.attribution {
        Attribution::Affiliate(a) => {
            if at >= a.window_ends_at || at < a.starts_at {
                return Earning::No(OutcomeKind::NoCommission, "outside_window");
            }
            match current_plan(directory, &a.affiliate_id) {
                Some((affiliate, plan)) => Earning::Yes {
                    affiliate_id: a.affiliate_id.clone(),
                    affiliate,
                    plan,
                    review_hold: a.review_id.clone(),
                },
                None => Earning::No(OutcomeKind::HeldForReview, "plan_missing"),
            }
        }
        Attribution::Unresolved { .. } => {
            Earning::No(OutcomeKind::HeldForReview, "attribution_in_review")
        }
        Attribution::Organic { .. } | Attribution::None => {
            Earning::No(OutcomeKind::NoCommission, "unattributed")
        }
    }
}

fn reset(state: &mut CustomerState, r: &Reset, ctx: &mut EventContext<'_>) -> Decision {
    let event = ctx.event;
    if !state.challenges.contains_key(&r.original_challenge_id) {
        return park(state, ctx, format!("challenge:{}", r.original_challenge_id));
    }
    if state.transactions.contains_key(&r.transaction_id) {
        return (OutcomeKind::NoCommission, "duplicate_transaction", false);
    }
    state.transactions.insert(
        r.transaction_id.clone(),
        Transaction {
            transaction_id: r.transaction_id.clone(),
            kind: TransactionKind::Reset,
            event_id: event.event_id.clone(),
            challenge_id: r.original_challenge_id.clone(),
            tier: None,
            coupon_code: None,
            price: r.fee,
            refunded: Decimal::ZERO,
            occurred_at: event.occurred_at,
            commission_id: None,
            dispute: None,
            tier_changed_at: None,
        },
    );
    if let Some(ch) = state.challenges.get_mut(&r.original_challenge_id) {
        ch.resets += 1;
    }
    let (affiliate_id, affiliate, plan, review_hold) =
        match earning(state, ctx.directory, event.occurred_at) {
            Earning::Yes {
                affiliate_id,
                affiliate,
                plan,
                review_hold,
            } => (affiliate_id, affiliate, plan, review_hold),
            Earning::No(kind, why) => return (kind, why, true),
        };
    if !plan.resets_in_scope || plan.revshare_percent.is_none() && !has_revshare_override(plan) {
        return (OutcomeKind::NoCommission, "out_of_scope", true);
    }
    if r.fee.currency != plan.currency {
        return (OutcomeKind::NoCommission, "currency_mismatch", true);
    }
    let pricing = PricingContext {
        occurred_at: event.occurred_at,
        qualified_in_month: affiliate.qualified_in(&month_of(event.occurred_at)),
        quality_tier: affiliate.quality_tier.clone(),
    };
    let amount = plan.price(Basis::Reset { fee: r.fee.amount }, &pricing);
    if amount.is_zero() {
        return (OutcomeKind::NoCommission, "plan_pays_nothing", true);
    }
    let (kind, why) = post_commission(
        ctx,
        state,
        &affiliate_id,
        plan,
        CommissionSource::Reset,
        &r.original_challenge_id,
        Some(&r.transaction_id),
        amount,
        pricing,
        review_hold,
        "reset",
    );
    (kind, why, true)
}

fn has_revshare_override(plan: &Plan) -> bool {
    plan.performance_steps
        .iter()
        .any(|s| s.rates.revshare_percent.is_some())
        || plan
            .quality_tiers
            .values()
            .any(|r| r.revshare_percent.is_some())
        || plan
            .promotions
            .iter()
            .any(|p| p.rates.revshare_percent.is_some())
}

/// Evaluation and funded events: reporting on the challenge, plus a milestone when the plan
/// pays one (at most once per challenge and milestone).
fn milestone_event(
    state: &mut CustomerState,
    challenge_id: &str,
    milestone: Option<MilestoneKind>,
    ctx: &mut EventContext<'_>,
    report: impl FnOnce(&mut Challenge),
) -> Decision {
    let event = ctx.event;
    let Some(challenge) = state.challenges.get_mut(challenge_id) else {
        return park(state, ctx, format!("challenge:{challenge_id}"));
    };
    report(challenge);
    let Some(kind) = milestone else {
        return (OutcomeKind::NoCommission, "reporting_only", false);
    };
    let (affiliate_id, affiliate, plan, review_hold) =
        match earning(state, ctx.directory, event.occurred_at) {
            Earning::Yes {
                affiliate_id,
                affiliate,
                plan,
                review_hold,
            } => (affiliate_id, affiliate, plan, review_hold),
            Earning::No(OutcomeKind::NoCommission, "unattributed") => {
                return (OutcomeKind::NoCommission, "reporting_only", false)
            }
            Earning::No(kind, why) => return (kind, why, false),
        };
    let Some(amount) = plan.milestone(kind) else {
        return (OutcomeKind::NoCommission, "reporting_only", false);
    };
    if state.challenges[challenge_id]
        .milestones_paid
        .contains(&kind)
    {
        return (OutcomeKind::NoCommission, "milestone_already_paid", false);
    }
    let pricing = PricingContext {
        occurred_at: event.occurred_at,
        qualified_in_month: affiliate.qualified_in(&month_of(event.occurred_at)),
        quality_tier: affiliate.quality_tier.clone(),
    };
    if let Some(ch) = state.challenges.get_mut(challenge_id) {
        ch.milestones_paid.insert(kind);
    }
    let (outcome, why) = post_commission(
        ctx,
        state,
        &affiliate_id,
        plan,
        CommissionSource::Milestone(kind),
        challenge_id,
        None,
        amount,
        pricing,
        review_hold,
        kind.as_str(),
    );
    (outcome, why, false)
}

fn refund(state: &mut CustomerState, r: &Refund, ctx: &mut EventContext<'_>) -> Decision {
    let event = ctx.event;
    let Some(tx) = state.transactions.get_mut(&r.original_transaction_id) else {
        return park(
            state,
            ctx,
            format!("transaction:{}", r.original_transaction_id),
        );
    };
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
        return (OutcomeKind::HeldForReview, "currency_mismatch", false);
    }
    tx.refunded = (tx.refunded + r.refunded.amount).min(tx.price.amount);
    if let Some(new_tier) = &r.new_tier {
        // Two downgrades: the one that occurred later decides the tier, in any arrival order.
        if tx.tier_changed_at.is_none_or(|at| event.occurred_at >= at) {
            tx.tier = Some(new_tier.clone());
            tx.tier_changed_at = Some(event.occurred_at);
        }
    }
    let tx = tx.clone();
    let Some(commission_id) = tx.commission_id.clone() else {
        return (OutcomeKind::NoCommission, "no_commission_to_correct", false);
    };
    let customer_id = state.customer_id.clone();
    let Some(commission) = state.commissions.get_mut(&commission_id) else {
        return (OutcomeKind::NoCommission, "no_commission_to_correct", false);
    };
    if commission.terminal.is_some() {
        return (
            OutcomeKind::NoCommission,
            "already_cancelled_or_reversed",
            false,
        );
    }
    let full = tx.refunded >= tx.price.amount;
    if full {
        let amount = -commission.net;
        if commission.in_cooling_off(event.occurred_at) {
            commission.terminal = Some(CommissionStatus::Cancelled);
            ctx.post(
                commission,
                EntryKind::Cancellation,
                amount,
                &customer_id,
                "full_refund_in_cooling_off",
            );
            return (OutcomeKind::Cancelled, "full_refund_in_cooling_off", false);
        }
        commission.terminal = Some(CommissionStatus::Reversed);
        ctx.post(
            commission,
            EntryKind::Reversal,
            amount,
            &customer_id,
            "full_refund_after_cooling_off",
        );
        return (
            OutcomeKind::Reversed,
            "full_refund_after_cooling_off",
            false,
        );
    }
    // Partial refund or downgrade: recalculate under the frozen plan version and pricing context.
    let Some(plan) = ctx
        .directory
        .plan(&commission.plan_id, commission.plan_version)
    else {
        ctx.open_review(
            ReviewKind::UnknownAffiliate,
            vec![commission.affiliate_id.clone()],
            &[
                ("plan_id", &commission.plan_id),
                ("problem", "frozen plan version missing from the directory"),
            ],
        );
        return (OutcomeKind::HeldForReview, "plan_missing", false);
    };
    let effective = tx.price.amount - tx.refunded;
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
            }
        }
        TransactionKind::Reset => plan.price(Basis::Reset { fee: effective }, &commission.pricing),
    };
    // A refund never raises a commission, and never takes back more than is left.
    let delta = (target - commission.net)
        .min(Decimal::ZERO)
        .max(-commission.net);
    if delta.is_zero() {
        return (OutcomeKind::NoCommission, "recalculation_unchanged", false);
    }
    let reason = if r.new_tier.is_some() {
        "downgrade_recalculated"
    } else {
        "partial_refund_recalculated"
    };
    ctx.post(
        commission,
        EntryKind::Adjustment,
        delta,
        &customer_id,
        reason,
    );
    (OutcomeKind::Adjusted, reason, false)
}

/// Orders dispute statuses that occur at the same instant: opened before any decision.
fn dispute_rank(s: DisputeStatus) -> u8 {
    match s {
        DisputeStatus::Opened => 0,
        DisputeStatus::Won | DisputeStatus::Lost => 1,
    }
}

fn chargeback(state: &mut CustomerState, c: &Chargeback, ctx: &mut EventContext<'_>) -> Decision {
    let event = ctx.event;
    let Some(tx) = state.transactions.get_mut(&c.original_transaction_id) else {
        return park(
            state,
            ctx,
            format!("transaction:{}", c.original_transaction_id),
        );
    };
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
        return (OutcomeKind::HeldForReview, "currency_mismatch", false);
    }
    // A lost dispute is final whenever it arrives; between opened and won, the later one
    // (by occurred_at) decides, so the hold state ends the same in any arrival order.
    if let Some((last, at)) = tx.dispute {
        let stale = c.dispute_status != DisputeStatus::Lost
            && (event.occurred_at, dispute_rank(c.dispute_status)) < (at, dispute_rank(last));
        if stale {
            return (OutcomeKind::NoCommission, "stale_dispute_status", false);
        }
    }
    tx.dispute = Some((c.dispute_status, event.occurred_at));
    let Some(commission_id) = tx.commission_id.clone() else {
        return (OutcomeKind::NoCommission, "no_commission_to_correct", false);
    };
    let customer_id = state.customer_id.clone();
    let Some(commission) = state.commissions.get_mut(&commission_id) else {
        return (OutcomeKind::NoCommission, "no_commission_to_correct", false);
    };
    if commission.terminal.is_some() {
        return (
            OutcomeKind::NoCommission,
            "already_cancelled_or_reversed",
            false,
        );
    }
    match c.dispute_status {
        DisputeStatus::Opened if commission.dispute_hold => {
            (OutcomeKind::NoCommission, "already_on_hold", false)
        }
        DisputeStatus::Opened => {
            commission.dispute_hold = true;
            ctx.post(
                commission,
                EntryKind::Hold,
                Decimal::ZERO,
                &customer_id,
                "dispute_opened",
            );
            (OutcomeKind::Held, "dispute_opened", false)
        }
        DisputeStatus::Lost => {
            let amount = -commission.net;
            commission.dispute_hold = false;
            commission.terminal = Some(CommissionStatus::Reversed);
            ctx.post(
                commission,
                EntryKind::Reversal,
                amount,
                &customer_id,
                "chargeback_lost",
            );
            (OutcomeKind::Reversed, "chargeback_lost", false)
        }
        DisputeStatus::Won if commission.dispute_hold => {
            commission.dispute_hold = false;
            ctx.post(
                commission,
                EntryKind::Release,
                Decimal::ZERO,
                &customer_id,
                "dispute_won",
            );
            (OutcomeKind::Released, "dispute_won", false)
        }
        DisputeStatus::Won => (OutcomeKind::NoCommission, "not_on_hold", false),
    }
}

/// Approves every pending commission whose cooling-off has ended at `now` (the end instant
/// itself counts as ended). The entry id is derived from the commission, so approving twice, or
/// from two ticks at once, can only ever write one approval. The caller counts the state's
/// version (one step per tick that changed anything).
pub fn approve_due(state: &mut CustomerState, now: DateTime<Utc>) -> Vec<LedgerEntry> {
    let customer_id = state.customer_id.clone();
    let mut entries = Vec::new();
    for commission in state.commissions.values_mut() {
        if commission.status() != CommissionStatus::Pending || commission.cooling_off_ends_at > now
        {
            continue;
        }
        commission.approved = true;
        entries.push(LedgerEntry {
            entry_id: format!("{}#approval", commission.commission_id),
            commission_id: commission.commission_id.clone(),
            affiliate_id: commission.affiliate_id.clone(),
            customer_id: customer_id.clone(),
            kind: EntryKind::Approval,
            amount: Decimal::ZERO,
            currency: commission.currency,
            status: CommissionStatus::Approved,
            plan_id: commission.plan_id.clone(),
            plan_version: commission.plan_version,
            event_id: None,
            effective_at: commission.cooling_off_ends_at,
            corrects: Some(commission.original_entry_id.clone()),
            reason: "cooling_off_ended".into(),
        });
    }
    entries
}
