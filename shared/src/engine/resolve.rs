//! Resolving a review item: what approving, rejecting, reassigning or merging does to the
//! commissions it holds and to the customer's attribution, as new ledger entries (never a change
//! to an existing one). Pure, like the rest of the engine: the admin service loads the customer
//! (every record: a review can hold commissions anywhere in the history) and writes what this
//! returns in one transaction with the item's closing.
//!
//! - **approve**: the held commissions are released (a `release` entry each); the attribution no
//!   longer holds new ones.
//! - **reject**: the held commissions are cancelled (a `cancellation` each, of what is left); when
//!   the review was on the attribution itself (decided at the first purchase), the customer becomes
//!   organic: nothing it does earns from then on.
//! - **reassign** to an affiliate: the held commissions are cancelled for the old affiliate and the
//!   same transactions and milestones are priced again for the new one, under its current plan
//!   version, as new commissions; the attribution moves to it (same start, its plan's window).
//! - **merge** into another customer: this customer takes that customer's attribution (a reassign
//!   to its affiliate, or a reject when it is organic).
//!
//! Entry ids are `{review_id}#r{n}`: resolving the same item again could only write the same ids,
//! and the store writes them only with the item's closing (conditional on it being open).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::customer::{AffiliateAttribution, Attribution, AttributionSource};
use super::directory::Directory;
use super::outcome::{ReviewItem, ReviewKind};
use super::reason::Reason;
use super::records::{Record, TransactionKind};
use super::view::CustomerView;
use crate::ledger::{Commission, CommissionSource, CommissionStatus, EntryKind, LedgerEntry};
use crate::money::{self, MoneyOverflow};
use crate::plans::{Basis, PricingContext};

/// What to do, as the engine needs it (the other customer of a merge is resolved to its
/// attribution by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewAction {
    Approve,
    Reject,
    Reassign {
        affiliate_id: String,
    },
    Merge {
        into_customer_id: String,
        into: Attribution,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("{0}")]
    NotApplicable(String),
    #[error("affiliate {0} (or its current plan) is not in the directory")]
    UnknownAffiliate(String),
    #[error("money arithmetic overflowed")]
    Arithmetic(#[from] MoneyOverflow),
}

/// What a resolution changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    pub entries: Vec<LedgerEntry>,
    /// Commissions released, cancelled, and posted anew.
    pub released: Vec<String>,
    pub cancelled: Vec<String>,
    pub posted: Vec<String>,
    /// Held commissions that could not be priced for the new affiliate, and why.
    pub not_priced: Vec<(String, Reason)>,
}

struct Entries<'a> {
    review_id: &'a str,
    customer_id: String,
    at: DateTime<Utc>,
    out: Vec<LedgerEntry>,
}

impl Entries<'_> {
    fn next_id(&self) -> String {
        format!("{}#r{}", self.review_id, self.out.len())
    }

    fn push(
        &mut self,
        c: &Commission,
        kind: EntryKind,
        amount: Decimal,
        reason: Reason,
        corrects: Option<String>,
    ) {
        let amount = if amount.is_zero() {
            Decimal::ZERO
        } else {
            amount
        };
        self.out.push(LedgerEntry {
            entry_id: self.next_id(),
            commission_id: c.commission_id.clone(),
            affiliate_id: c.affiliate_id.clone(),
            customer_id: self.customer_id.clone(),
            kind,
            amount,
            currency: c.currency,
            status: c.status(),
            plan_id: c.plan_id.clone(),
            plan_version: c.plan_version,
            event_id: None,
            effective_at: self.at,
            corrects,
            reason,
        });
    }
}

/// Whether this review is the one the attribution itself is held by.
fn on_attribution(view: &CustomerView, review_id: &str) -> bool {
    match &view.head.attribution {
        Attribution::Affiliate(a) => a.review_id.as_deref() == Some(review_id),
        Attribution::Unresolved { review_id: r, .. } => r == review_id,
        _ => false,
    }
}

/// Cancels a held commission: what is left is voided, and it is no longer held.
fn cancel(
    c: &mut Commission,
    entries: &mut Entries<'_>,
    reason: Reason,
) -> Result<(), MoneyOverflow> {
    let amount = -c.net;
    c.net = money::add(c.net, amount)?;
    c.net = Decimal::ZERO;
    c.review_hold = None;
    c.terminal = Some(CommissionStatus::Cancelled);
    entries.push(
        c,
        EntryKind::Cancellation,
        amount,
        reason,
        Some(c.original_entry_id.clone()),
    );
    Ok(())
}

/// Applies a resolution to a complete view of the customer. `at` is the resolution's instant
/// (the entries' `effective_at`).
pub fn resolve_review(
    view: &mut CustomerView,
    review: &ReviewItem,
    action: &ReviewAction,
    directory: &dyn Directory,
    at: DateTime<Utc>,
) -> Result<Resolved, ResolveError> {
    let review_id = review.review_id.as_str();
    let attribution_review = on_attribution(view, review_id);
    let unresolved = matches!(view.head.attribution, Attribution::Unresolved { .. });
    // Reassigning or merging moves the attribution; only a review about who referred the
    // customer can do that.
    let about_attribution = matches!(
        review.kind,
        ReviewKind::ClickCouponConflict
            | ReviewKind::DisputedAttribution
            | ReviewKind::AccountMerge
            | ReviewKind::SelfReferral
            | ReviewKind::UnknownAffiliate
    );
    match action {
        ReviewAction::Approve if unresolved && attribution_review => {
            return Err(ResolveError::NotApplicable(
                "the first purchase named an affiliate the directory does not know: reassign it to a known affiliate, or reject it (the customer is organic)".into(),
            ))
        }
        ReviewAction::Reassign { .. } | ReviewAction::Merge { .. } if !about_attribution => {
            return Err(ResolveError::NotApplicable(format!(
                "a {} review is not about who referred the customer: approve or reject it",
                review.kind.as_str()
            )))
        }
        _ => {}
    }
    let mut entries = Entries {
        review_id,
        customer_id: view.head.customer_id.clone(),
        at,
        out: Vec::new(),
    };
    let mut resolved = Resolved::default();
    // The new affiliate and attribution, for reassign and merge.
    let target: Option<Attribution> = match action {
        ReviewAction::Approve | ReviewAction::Reject => None,
        ReviewAction::Reassign { affiliate_id } => {
            let affiliate = directory
                .affiliate(affiliate_id)
                .ok_or_else(|| ResolveError::UnknownAffiliate(affiliate_id.clone()))?;
            let plan = directory
                .plan(&affiliate.plan_id, affiliate.plan_version)
                .ok_or_else(|| ResolveError::UnknownAffiliate(affiliate_id.clone()))?;
            let (decided_by_event, starts_at) = match &view.head.attribution {
                Attribution::Affiliate(a) => (a.decided_by_event.clone(), a.starts_at),
                Attribution::Unresolved {
                    decided_by_event, ..
                }
                | Attribution::Organic { decided_by_event } => {
                    let start = first_purchase_at(view, decided_by_event).unwrap_or(at);
                    (decided_by_event.clone(), start)
                }
                Attribution::None => {
                    return Err(ResolveError::NotApplicable(
                        "the customer has no purchase yet".into(),
                    ))
                }
            };
            Some(Attribution::Affiliate(AffiliateAttribution {
                affiliate_id: affiliate_id.clone(),
                source: AttributionSource::Link,
                click_id: None,
                coupon_code: None,
                decided_by_event,
                starts_at,
                window_ends_at: starts_at + plan.window(),
                review_id: None,
                expired_at: None,
            }))
        }
        ReviewAction::Merge { into, .. } => Some(match into {
            Attribution::Affiliate(a) => Attribution::Affiliate(AffiliateAttribution {
                review_id: None,
                ..a.clone()
            }),
            other => other.clone(),
        }),
    };
    let new_affiliate = match &target {
        Some(Attribution::Affiliate(a)) => Some(a.affiliate_id.clone()),
        _ => None,
    };
    let cancels = matches!(action, ReviewAction::Reject) || target.is_some();
    for (_, record) in view.records_mut() {
        let tx = match &*record {
            Record::Transaction(r) => r.transaction.clone(),
            Record::Challenge(_) => None,
        };
        for commission in record.commissions_mut() {
            if commission.review_hold.as_deref() != Some(review_id) || commission.terminal.is_some()
            {
                continue;
            }
            if !cancels {
                commission.review_hold = None;
                entries.push(
                    commission,
                    EntryKind::Release,
                    Decimal::ZERO,
                    Reason::ReviewApproved,
                    Some(commission.original_entry_id.clone()),
                );
                resolved.released.push(commission.commission_id.clone());
                continue;
            }
            let reason = if target.is_some() {
                Reason::Reassigned
            } else {
                Reason::ReviewRejected
            };
            cancel(commission, &mut entries, reason)?;
            resolved.cancelled.push(commission.commission_id.clone());
            let Some(affiliate_id) = &new_affiliate else {
                continue;
            };
            // The same basis, priced for the new affiliate under its current plan version.
            let entry_id = entries.next_id();
            match reprice(commission, tx.as_ref(), affiliate_id, entry_id, directory)? {
                Ok(new) => {
                    entries.push(
                        &new,
                        EntryKind::Commission,
                        new.original,
                        Reason::Reassigned,
                        None,
                    );
                    resolved.posted.push(new.commission_id.clone());
                    *commission = new;
                }
                Err(why) => resolved
                    .not_priced
                    .push((commission.commission_id.clone(), why)),
            }
        }
    }
    // An attribution left unresolved (the first purchase named an unknown affiliate) earned
    // nothing; assigning it prices that purchase for its affiliate, as if it had been named.
    if let (true, true, Some(affiliate_id)) = (unresolved, attribution_review, &new_affiliate) {
        let deciding = match &view.head.attribution {
            Attribution::Unresolved {
                decided_by_event, ..
            } => decided_by_event.clone(),
            _ => String::new(),
        };
        for (_, record) in view.records_mut() {
            let Record::Transaction(r) = record else {
                continue;
            };
            let Some(tx) = r.transaction.clone().filter(|t| t.event_id == deciding) else {
                continue;
            };
            if r.commission.is_some() {
                continue;
            }
            let placeholder = Commission {
                commission_id: tx.event_id.clone(),
                original_entry_id: String::new(),
                affiliate_id: String::new(),
                plan_id: String::new(),
                plan_version: 0,
                source: CommissionSource::Purchase,
                challenge_id: tx.challenge_id.clone(),
                transaction_id: Some(tx.transaction_id.clone()),
                currency: tx.price.currency,
                original: Decimal::ZERO,
                net: Decimal::ZERO,
                pricing: PricingContext {
                    occurred_at: tx.occurred_at,
                    qualified_in_month: 1,
                    quality_tier: None,
                },
                cooling_off_ends_at: tx.occurred_at,
                approved: false,
                dispute_hold: matches!(tx.dispute, Some((crate::events::DisputeStatus::Opened, _))),
                review_hold: None,
                terminal: None,
            };
            let entry_id = entries.next_id();
            match reprice(&placeholder, Some(&tx), affiliate_id, entry_id, directory)? {
                Ok(new) => {
                    entries.push(
                        &new,
                        EntryKind::Commission,
                        new.original,
                        Reason::Reassigned,
                        None,
                    );
                    resolved.posted.push(new.commission_id.clone());
                    r.commission = Some(new);
                }
                Err(why) => resolved.not_priced.push((placeholder.commission_id, why)),
            }
        }
    }
    // The attribution.
    match (action, &target) {
        (ReviewAction::Approve, _) => {
            if let Attribution::Affiliate(a) = &mut view.head.attribution {
                if a.review_id.as_deref() == Some(review_id) {
                    a.review_id = None;
                }
            }
        }
        (ReviewAction::Reject, _) if attribution_review => {
            let decided_by_event = match &view.head.attribution {
                Attribution::Affiliate(a) => a.decided_by_event.clone(),
                Attribution::Unresolved {
                    decided_by_event, ..
                } => decided_by_event.clone(),
                _ => review.event_id.clone(),
            };
            view.head.attribution = Attribution::Organic { decided_by_event };
            clear_window(view);
        }
        (ReviewAction::Reject, _) => {}
        (_, Some(new)) => {
            let window = match new {
                Attribution::Affiliate(a) if a.expired_at.is_none() => Some(a.window_ends_at),
                _ => None,
            };
            let decided_by = match new {
                Attribution::Affiliate(a) => Some(a.decided_by_event.clone()),
                _ => None,
            };
            view.head.attribution = new.clone();
            clear_window(view);
            // The window's end is due work, carried by the purchase that decided it.
            if let (Some(end), Some(event)) = (window, decided_by) {
                for (_, record) in view.records_mut() {
                    if let Record::Transaction(r) = record {
                        if r.transaction.as_ref().is_some_and(|t| t.event_id == event) {
                            r.window_ends_at = Some(end);
                        }
                    }
                }
            }
        }
        (_, None) => {}
    }
    if !entries.out.is_empty() || view.has_changes() {
        view.head.version += 1;
    }
    resolved.entries = entries.out;
    Ok(resolved)
}

fn first_purchase_at(view: &CustomerView, event_id: &str) -> Option<DateTime<Utc>> {
    view.records().find_map(|(_, r)| match r {
        Record::Transaction(t) => t
            .transaction
            .as_ref()
            .filter(|tx| tx.event_id == event_id)
            .map(|tx| tx.occurred_at),
        Record::Challenge(_) => None,
    })
}

fn clear_window(view: &mut CustomerView) {
    for (_, record) in view.records_mut() {
        if let Record::Transaction(r) = record {
            r.window_ends_at = None;
        }
    }
}

/// The commission a cancelled one becomes for another affiliate, or why it earns nothing there.
fn reprice(
    old: &Commission,
    tx: Option<&super::records::Transaction>,
    affiliate_id: &str,
    original_entry_id: String,
    directory: &dyn Directory,
) -> Result<Result<Commission, Reason>, ResolveError> {
    let affiliate = directory
        .affiliate(affiliate_id)
        .ok_or_else(|| ResolveError::UnknownAffiliate(affiliate_id.to_owned()))?;
    let plan = directory
        .plan(&affiliate.plan_id, affiliate.plan_version)
        .ok_or_else(|| ResolveError::UnknownAffiliate(affiliate_id.to_owned()))?;
    let pricing = PricingContext {
        occurred_at: old.pricing.occurred_at,
        qualified_in_month: affiliate
            .qualified_in(&crate::quality::month_of(old.pricing.occurred_at))
            .max(1),
        quality_tier: affiliate.quality_tier.clone(),
    };
    let amount = match (old.source, tx) {
        (CommissionSource::Purchase, Some(tx)) if tx.kind == TransactionKind::Purchase => {
            if tx.price.currency != plan.currency {
                return Ok(Err(Reason::CurrencyMismatch));
            }
            let tier = tx.tier.as_deref().unwrap_or_default();
            let effective = money::sub(tx.price.amount, tx.refunded)?;
            if let Some(why) = plan.disqualifies(tier, effective, tx.coupon_code.as_deref(), true) {
                return Ok(Err(why));
            }
            plan.price(
                Basis::Purchase {
                    tier,
                    amount: effective,
                },
                &pricing,
            )?
        }
        (CommissionSource::Reset, Some(tx)) => {
            if tx.price.currency != plan.currency {
                return Ok(Err(Reason::CurrencyMismatch));
            }
            if !plan.pays_on_resets() {
                return Ok(Err(Reason::OutOfScope));
            }
            let effective = money::sub(tx.price.amount, tx.refunded)?;
            plan.price(Basis::Reset { fee: effective }, &pricing)?
        }
        (CommissionSource::Milestone(kind), _) => match plan.milestone(kind) {
            Some(a) => a,
            None => return Ok(Err(Reason::PlanPaysNothing)),
        },
        _ => return Ok(Err(Reason::NoCommissionToCorrect)),
    };
    if amount.is_zero() {
        return Ok(Err(Reason::PlanPaysNothing));
    }
    let commission_id = format!("{}~{}", old.commission_id, affiliate_id);
    Ok(Ok(Commission {
        original_entry_id,
        commission_id,
        affiliate_id: affiliate_id.to_owned(),
        plan_id: plan.plan_id.clone(),
        plan_version: plan.version,
        source: old.source,
        challenge_id: old.challenge_id.clone(),
        transaction_id: old.transaction_id.clone(),
        currency: plan.currency,
        original: amount,
        net: amount,
        pricing,
        cooling_off_ends_at: old.pricing.occurred_at + plan.cooling_off(),
        approved: false,
        dispute_hold: old.dispute_hold,
        review_hold: None,
        terminal: None,
    }))
}
