//! Why an event had the outcome it had, and why a ledger entry was written: one closed list, so
//! every reason a reader can meet is named here, and a typo cannot invent a new one.

use serde::{Deserialize, Serialize};

use crate::plans::MilestoneKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    // -- a commission was posted for …
    Purchase,
    Reset,
    EvaluationStarted,
    EvaluationPassed,
    Funded,
    // -- no commission: reporting and attribution
    ReportingOnly,
    Unattributed,
    OutsideWindow,
    /// The first purchase named an affiliate (or coupon) the directory does not know.
    UnknownAffiliate,
    /// The attributed affiliate (or its current plan) is missing from the directory.
    PlanMissing,
    AttributionInReview,
    DisputedAttribution,
    /// Posted, but held: a review item disputes the attribution.
    AttributionConflict,
    // -- no commission: the plan's rules
    CurrencyMismatch,
    BelowMinimumAmount,
    NotFirstPurchase,
    TierNotIncluded,
    TierExcluded,
    CouponExcluded,
    /// A purchase of amount zero (a free challenge): earns nothing unless the plan says so.
    FreePurchase,
    OutOfScope,
    PlanPaysNothing,
    MilestoneAlreadyPaid,
    // -- references
    DuplicateTransaction,
    ChallengeAlreadyPurchased,
    ReferenceNotYetReceived,
    /// More events already wait for the same purchase or challenge than one record holds.
    TooManyWaiting,
    // -- corrections
    NoCommissionToCorrect,
    AlreadyCancelledOrReversed,
    FullRefundInCoolingOff,
    FullRefundAfterCoolingOff,
    PartialRefundRecalculated,
    DowngradeRecalculated,
    RecalculationUnchanged,
    // -- disputes
    DisputeOpened,
    DisputeWon,
    ChargebackLost,
    AlreadyOnHold,
    NotOnHold,
    StaleDisputeStatus,
    // -- the scheduler
    CoolingOffEnded,
    // -- review items resolved by ops
    /// Released: the review found nothing wrong.
    ReviewApproved,
    /// Cancelled: the review found the commission should not be paid.
    ReviewRejected,
    /// Cancelled for one affiliate and posted for another.
    Reassigned,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        use Reason::*;
        match self {
            Purchase => "purchase",
            Reset => "reset",
            EvaluationStarted => "evaluation_started",
            EvaluationPassed => "evaluation_passed",
            Funded => "funded",
            ReportingOnly => "reporting_only",
            Unattributed => "unattributed",
            OutsideWindow => "outside_window",
            UnknownAffiliate => "unknown_affiliate",
            PlanMissing => "plan_missing",
            AttributionInReview => "attribution_in_review",
            DisputedAttribution => "disputed_attribution",
            AttributionConflict => "attribution_conflict",
            CurrencyMismatch => "currency_mismatch",
            BelowMinimumAmount => "below_minimum_amount",
            NotFirstPurchase => "not_first_purchase",
            TierNotIncluded => "tier_not_included",
            TierExcluded => "tier_excluded",
            CouponExcluded => "coupon_excluded",
            FreePurchase => "free_purchase",
            OutOfScope => "out_of_scope",
            PlanPaysNothing => "plan_pays_nothing",
            MilestoneAlreadyPaid => "milestone_already_paid",
            DuplicateTransaction => "duplicate_transaction",
            ChallengeAlreadyPurchased => "challenge_already_purchased",
            ReferenceNotYetReceived => "reference_not_yet_received",
            TooManyWaiting => "too_many_waiting",
            NoCommissionToCorrect => "no_commission_to_correct",
            AlreadyCancelledOrReversed => "already_cancelled_or_reversed",
            FullRefundInCoolingOff => "full_refund_in_cooling_off",
            FullRefundAfterCoolingOff => "full_refund_after_cooling_off",
            PartialRefundRecalculated => "partial_refund_recalculated",
            DowngradeRecalculated => "downgrade_recalculated",
            RecalculationUnchanged => "recalculation_unchanged",
            DisputeOpened => "dispute_opened",
            DisputeWon => "dispute_won",
            ChargebackLost => "chargeback_lost",
            AlreadyOnHold => "already_on_hold",
            NotOnHold => "not_on_hold",
            StaleDisputeStatus => "stale_dispute_status",
            CoolingOffEnded => "cooling_off_ended",
            ReviewApproved => "review_approved",
            ReviewRejected => "review_rejected",
            Reassigned => "reassigned",
        }
    }

    /// The reason a milestone commission is posted with.
    pub fn milestone(kind: MilestoneKind) -> Reason {
        match kind {
            MilestoneKind::EvaluationStarted => Reason::EvaluationStarted,
            MilestoneKind::EvaluationPassed => Reason::EvaluationPassed,
            MilestoneKind::Funded => Reason::Funded,
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Reason {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(s.to_owned()))
            .map_err(|_| format!("unknown reason {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use Reason::*;
    const ALL: [Reason; 44] = [
        Purchase,
        Reset,
        EvaluationStarted,
        EvaluationPassed,
        Funded,
        ReportingOnly,
        Unattributed,
        OutsideWindow,
        UnknownAffiliate,
        PlanMissing,
        AttributionInReview,
        DisputedAttribution,
        AttributionConflict,
        CurrencyMismatch,
        BelowMinimumAmount,
        NotFirstPurchase,
        TierNotIncluded,
        TierExcluded,
        CouponExcluded,
        FreePurchase,
        OutOfScope,
        PlanPaysNothing,
        MilestoneAlreadyPaid,
        DuplicateTransaction,
        ChallengeAlreadyPurchased,
        ReferenceNotYetReceived,
        TooManyWaiting,
        NoCommissionToCorrect,
        AlreadyCancelledOrReversed,
        FullRefundInCoolingOff,
        FullRefundAfterCoolingOff,
        PartialRefundRecalculated,
        DowngradeRecalculated,
        RecalculationUnchanged,
        DisputeOpened,
        DisputeWon,
        ChargebackLost,
        AlreadyOnHold,
        NotOnHold,
        StaleDisputeStatus,
        CoolingOffEnded,
        ReviewApproved,
        ReviewRejected,
        Reassigned,
    ];

    #[test]
    fn every_reason_is_written_as_its_serialized_name_and_reads_back() {
        let mut seen = std::collections::BTreeSet::new();
        for r in ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
            assert_eq!(r.as_str().parse::<Reason>(), Ok(r));
            assert!(seen.insert(r.as_str()), "{r:?} listed twice");
        }
        assert!("no_such_reason".parse::<Reason>().is_err());
    }
}
