//! The rules: one event in, its effects out. Pure and deterministic: the same view, event and
//! directory always give the same result, which is what makes replays and rebuilds exact. One
//! module per kind of event; the rules they share (posting to the ledger, parking, attribution and
//! earning) live here and in `attribution`.

mod attribution;
mod chargeback;
mod milestone;
mod purchase;
mod refund;
mod reset;

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::directory::Directory;
use super::outcome::{Applied, Outcome, OutcomeKind, ReviewItem, ReviewKind};
use super::reason::Reason;
use super::records::{ParkedRef, RecordKey, MAX_PARKED_PER_RECORD};
use super::view::{CustomerView, Needed};
use crate::events::{EventEnvelope, EventPayload};
use crate::ledger::{Commission, CommissionSource, EntryKind, LedgerEntry};
use crate::money::{self, MoneyOverflow};
use crate::plans::{MilestoneKind, Plan, PricingContext};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("event {event_id} belongs to another customer than the view it was applied to")]
    WrongCustomer { event_id: String },
    /// The view lacks what the event needs; load these and apply the event again (to a fresh copy
    /// of the view: this attempt may have changed it half-way).
    #[error("not loaded: {0:?}")]
    NotLoaded(Vec<Needed>),
    /// Unreachable from accepted input (amounts are bounded at validation), but never assumed.
    #[error("event {event_id}: {source}")]
    Arithmetic {
        event_id: String,
        source: MoneyOverflow,
    },
}

/// What one rule decided for one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Decision {
    pub kind: OutcomeKind,
    pub reason: Reason,
    /// The event created a transaction or challenge that parked events may be waiting for.
    pub releases_parked: bool,
}

impl Decision {
    fn new(kind: OutcomeKind, reason: Reason) -> Self {
        Decision {
            kind,
            reason,
            releases_parked: false,
        }
    }

    fn no_commission(reason: Reason) -> Self {
        Decision::new(OutcomeKind::NoCommission, reason)
    }

    /// The same decision, noting that the event created a reference.
    fn releasing(self) -> Self {
        Decision {
            releases_parked: true,
            ..self
        }
    }
}

type RuleResult = Result<Decision, EngineError>;

/// Applies one event to the customer's view. The caller has already ruled out duplicates (an
/// event id with a recorded outcome is never applied again). On `Err(NotLoaded)` the view may be
/// half-changed: the caller applies the event again to a fresh copy once it has loaded more.
///
/// The head's version counts the events that changed the customer (its attribution or a record).
/// An event that changes neither — an evaluation that is only reported, the most common event —
/// leaves it as it was: its `seq` in the event log is the version it saw (the rebuild order
/// places it after the change it saw and before the next), and the head need not be written.
pub fn apply_event(
    view: &mut CustomerView,
    event: &EventEnvelope,
    directory: &dyn Directory,
) -> Result<Applied, EngineError> {
    if event.customer_id != view.head.customer_id {
        return Err(EngineError::WrongCustomer {
            event_id: event.event_id.clone(),
        });
    }
    let seq = view.head.version + 1;
    let attribution_before = view.head.attribution.clone();
    let mut applied = Applied::default();
    let decision = apply_one(view, event, seq, directory, &mut applied)?;
    if decision.releases_parked {
        release_parked(view, seq, directory, &mut applied)?;
    }
    if view.has_changes() || view.head.attribution != attribution_before {
        view.head.version = seq;
    }
    Ok(applied)
}

/// Applies parked events whose reference now exists, earliest parked first, until none is left
/// (a released reset can in turn release a refund of that reset). Only records the view holds
/// can have been given their reference by this event: it created them, so it loaded them.
fn release_parked(
    view: &mut CustomerView,
    seq: u64,
    directory: &dyn Directory,
    applied: &mut Applied,
) -> Result<(), EngineError> {
    loop {
        let next = view
            .records()
            .filter(|(_, r)| r.reference_exists())
            .flat_map(|(key, r)| r.parked().iter().map(move |p| (p.seq, key, p)))
            .min_by(|a, b| (a.0, &a.2.event_id).cmp(&(b.0, &b.2.event_id)))
            .map(|(_, key, p)| (key.clone(), p.event_id.clone()));
        let Some((key, event_id)) = next else {
            return Ok(());
        };
        // The envelope first: if it is not loaded yet nothing has changed for this release.
        let envelope = view.take_envelope(&event_id)?;
        if let Some(record) = view.record_mut(&key)? {
            record.parked_mut().retain(|p| p.event_id != event_id);
        }
        apply_one(view, &envelope, seq, directory, applied)?;
        applied.released.push(envelope);
    }
}

/// Applies one event (the delivered one, or a released parked one) and records its outcome.
fn apply_one(
    view: &mut CustomerView,
    event: &EventEnvelope,
    seq: u64,
    directory: &dyn Directory,
    applied: &mut Applied,
) -> RuleResult {
    let mut ctx = EventContext {
        event,
        seq,
        directory,
        entries_before: applied.entries.len(),
        applied,
        reviews: Vec::new(),
    };
    let decision = match &event.payload {
        EventPayload::Purchase(p) => purchase::purchase(view, p, &mut ctx),
        EventPayload::Reset(r) => reset::reset(view, r, &mut ctx),
        EventPayload::EvaluationStarted(e) => milestone::milestone_event(
            view,
            &e.challenge_id,
            Some(MilestoneKind::EvaluationStarted),
            &mut ctx,
        ),
        EventPayload::EvaluationFailed(e) => {
            milestone::milestone_event(view, &e.challenge_id, None, &mut ctx)
        }
        EventPayload::EvaluationPassed(e) => milestone::milestone_event(
            view,
            &e.challenge_id,
            Some(MilestoneKind::EvaluationPassed),
            &mut ctx,
        ),
        EventPayload::Funded(f) => {
            milestone::milestone_event(view, &f.challenge_id, Some(MilestoneKind::Funded), &mut ctx)
        }
        EventPayload::Refund(r) => refund::refund(view, r, &mut ctx),
        EventPayload::Chargeback(c) => chargeback::chargeback(view, c, &mut ctx),
    }?;
    let entry_ids = ctx.applied.entries[ctx.entries_before..]
        .iter()
        .map(|e| e.entry_id.clone())
        .collect();
    let review_ids = ctx.reviews.iter().map(|r| r.review_id.clone()).collect();
    let reviews = std::mem::take(&mut ctx.reviews);
    ctx.applied.reviews.extend(reviews);
    ctx.applied.outcomes.push(Outcome {
        event_id: event.event_id.clone(),
        kind: decision.kind,
        reason: decision.reason,
        entry_ids,
        review_ids,
    });
    Ok(decision)
}

/// One event being applied: what it may write to.
struct EventContext<'a> {
    event: &'a EventEnvelope,
    /// The `seq` of the delivered event (released parked events apply within it).
    seq: u64,
    directory: &'a dyn Directory,
    applied: &'a mut Applied,
    entries_before: usize,
    reviews: Vec<ReviewItem>,
}

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

    /// Maps a money overflow to this event's error (owns the id: no borrow of the context).
    fn overflow(&self) -> impl Fn(MoneyOverflow) -> EngineError {
        let event_id = self.event.event_id.clone();
        move |source| EngineError::Arithmetic {
            event_id: event_id.clone(),
            source,
        }
    }

    /// Appends a correction or status entry to a commission, updating its summary.
    fn post(
        &mut self,
        commission: &mut Commission,
        kind: EntryKind,
        amount: Decimal,
        reason: Reason,
    ) -> Result<(), EngineError> {
        // Decimal keeps a sign on zero; a "-0" amount or net must not reach the ledger.
        let amount = if amount.is_zero() {
            Decimal::ZERO
        } else {
            amount
        };
        commission.net = money::add(commission.net, amount).map_err(self.overflow())?;
        if commission.net.is_zero() {
            commission.net = Decimal::ZERO;
        }
        debug_assert!(!commission.net.is_sign_negative());
        let entry = LedgerEntry {
            entry_id: self.next_entry_id(),
            commission_id: commission.commission_id.clone(),
            affiliate_id: commission.affiliate_id.clone(),
            customer_id: self.event.customer_id.clone(),
            kind,
            amount,
            currency: commission.currency,
            status: commission.status(),
            plan_id: commission.plan_id.clone(),
            plan_version: commission.plan_version,
            event_id: Some(self.event.event_id.clone()),
            effective_at: self.event.occurred_at,
            corrects: Some(commission.original_entry_id.clone()),
            reason,
        };
        self.applied.entries.push(entry);
        Ok(())
    }
}

/// What a new commission is for, and on what terms.
struct NewCommission<'p> {
    affiliate_id: String,
    plan: &'p Plan,
    source: CommissionSource,
    challenge_id: String,
    transaction_id: Option<String>,
    amount: Decimal,
    pricing: PricingContext,
    review_hold: Option<String>,
    reason: Reason,
}

/// Posts a new commission: its original ledger entry, and the summary the caller stores in the
/// record it prices. Held when a review item disputes the attribution.
fn post_commission(ctx: &mut EventContext<'_>, new: NewCommission<'_>) -> (Commission, Decision) {
    let entry_id = ctx.next_entry_id();
    let commission = Commission {
        commission_id: ctx.event.event_id.clone(),
        original_entry_id: entry_id.clone(),
        affiliate_id: new.affiliate_id,
        plan_id: new.plan.plan_id.clone(),
        plan_version: new.plan.version,
        source: new.source,
        challenge_id: new.challenge_id,
        transaction_id: new.transaction_id,
        currency: new.plan.currency,
        original: new.amount,
        net: new.amount,
        pricing: new.pricing,
        cooling_off_ends_at: ctx.event.occurred_at + new.plan.cooling_off(),
        approved: false,
        dispute_hold: false,
        review_hold: new.review_hold,
        terminal: None,
    };
    ctx.applied.entries.push(LedgerEntry {
        entry_id,
        commission_id: commission.commission_id.clone(),
        affiliate_id: commission.affiliate_id.clone(),
        customer_id: ctx.event.customer_id.clone(),
        kind: EntryKind::Commission,
        amount: commission.original,
        currency: commission.currency,
        status: commission.status(),
        plan_id: commission.plan_id.clone(),
        plan_version: commission.plan_version,
        event_id: Some(ctx.event.event_id.clone()),
        effective_at: ctx.event.occurred_at,
        corrects: None,
        reason: new.reason,
    });
    let decision = if commission.review_hold.is_some() {
        Decision::new(OutcomeKind::HeldForReview, Reason::AttributionConflict)
    } else {
        Decision::new(OutcomeKind::CommissionPosted, new.reason)
    };
    (commission, decision)
}

/// Parks the event in the record of the reference it waits for (creating it as a placeholder),
/// to be applied when that reference arrives. A record holds at most `MAX_PARKED_PER_RECORD`;
/// beyond that the event is held for review instead, so a record's size stays bounded.
fn park(view: &mut CustomerView, ctx: &mut EventContext<'_>, waiting_for: RecordKey) -> RuleResult {
    let record = view.record_or_new(&waiting_for)?;
    if record.parked().len() >= MAX_PARKED_PER_RECORD {
        let waiting = waiting_for.sort_key();
        ctx.open_review(
            ReviewKind::InvalidReference,
            vec![],
            &[
                ("waiting_for", &waiting),
                ("problem", "too many events wait for this reference"),
            ],
        );
        return Ok(Decision::new(
            OutcomeKind::HeldForReview,
            Reason::TooManyWaiting,
        ));
    }
    record.parked_mut().push(ParkedRef {
        event_id: ctx.event.event_id.clone(),
        event_type: ctx.event.event_type,
        received_at: ctx.event.received_at,
        seq: ctx.seq,
        review_id: None,
    });
    view.insert_envelope(ctx.event.clone());
    Ok(Decision::new(
        OutcomeKind::Parked,
        Reason::ReferenceNotYetReceived,
    ))
}

/// The pricing context of an event for an affiliate: frozen on the commission it posts.
fn pricing_context(
    ctx: &EventContext<'_>,
    affiliate: &super::Affiliate,
    qualified_in_month: u32,
) -> PricingContext {
    PricingContext {
        occurred_at: ctx.event.occurred_at,
        qualified_in_month,
        quality_tier: affiliate.quality_tier.clone(),
    }
}
