//! Commission plans: versioned, immutable once published, and the arithmetic that turns a
//! qualifying event into an amount. The JSON format is documented in `docs/plans.md`.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::{round_commission, Currency};

/// One version of one plan. A new version is a new item; a published version never changes, so
/// a commission's frozen `(plan_id, version)` always finds the terms it was computed under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub plan_id: String,
    pub version: u32,
    /// The currency of every fixed amount in the plan (CPA, milestones).
    pub currency: Currency,
    pub attribution_window_days: u32,
    /// How long a commission stays `pending` before it becomes payable (SPEC: 24–48 h).
    pub cooling_off_hours: u32,
    /// CPA per challenge tier. A tier missing here earns no CPA.
    #[serde(default)]
    pub cpa_by_tier: BTreeMap<String, Decimal>,
    /// RevShare in percent of the purchase price (and reset fees when `resets_in_scope`).
    #[serde(default)]
    pub revshare_percent: Option<Decimal>,
    #[serde(default)]
    pub resets_in_scope: bool,
    /// Fixed amounts paid at most once per challenge.
    #[serde(default)]
    pub milestones: Milestones,
    #[serde(default)]
    pub qualification: Qualification,
    /// Rate steps by the affiliate's qualified purchases in the calendar month (UTC) of the event,
    /// counting the purchase being priced.
    #[serde(default)]
    pub performance_steps: Vec<RateStep>,
    /// Rates by the affiliate's quality tier (set on the affiliate by ops).
    #[serde(default)]
    pub quality_tiers: BTreeMap<String, Rates>,
    /// Time-bounded promotions, decided by the event's `occurred_at`: `starts_at <= t < ends_at`.
    #[serde(default)]
    pub promotions: Vec<Promotion>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Milestones {
    #[serde(default)]
    pub evaluation_started: Option<Decimal>,
    #[serde(default)]
    pub evaluation_passed: Option<Decimal>,
    #[serde(default)]
    pub funded: Option<Decimal>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Qualification {
    /// Minimum purchase amount (in the plan currency) for a purchase to earn anything.
    #[serde(default)]
    pub min_amount: Option<Decimal>,
    /// Only the customer's first purchase earns.
    #[serde(default)]
    pub first_purchase_only: bool,
    /// When non-empty, only these tiers earn.
    #[serde(default)]
    pub tiers_included: Vec<String>,
    #[serde(default)]
    pub tiers_excluded: Vec<String>,
    /// Purchases made with one of these coupon codes earn nothing.
    #[serde(default)]
    pub excluded_coupons: Vec<String>,
}

/// Rates that can replace the base ones. Where several apply, each component takes the best
/// (highest) of the base and every applicable override: tiers, steps and promotions never lower
/// what the base plan pays.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rates {
    #[serde(default)]
    pub revshare_percent: Option<Decimal>,
    #[serde(default)]
    pub cpa_by_tier: BTreeMap<String, Decimal>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateStep {
    pub min_qualified_purchases: u32,
    pub rates: Rates,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Promotion {
    pub name: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub rates: Rates,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("plan JSON is invalid: {0}")]
    Json(String),
    #[error("plan {plan_id} v{version}: {problem}")]
    Invalid {
        plan_id: String,
        version: u32,
        problem: String,
    },
}

/// Everything about the moment of pricing that is not in the plan. Frozen on the commission so a
/// later recalculation (partial refund, downgrade) prices under exactly the same terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricingContext {
    pub occurred_at: DateTime<Utc>,
    /// The affiliate's qualified purchases in the event's month, including this one.
    pub qualified_in_month: u32,
    pub quality_tier: Option<String>,
}

/// What is being priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis<'a> {
    Purchase { tier: &'a str, amount: Decimal },
    Reset { fee: Decimal },
}

impl Plan {
    pub fn from_json(text: &str) -> Result<Plan, PlanError> {
        let plan: Plan = serde_json::from_str(text).map_err(|e| PlanError::Json(e.to_string()))?;
        plan.validate()?;
        Ok(plan)
    }

    pub fn validate(&self) -> Result<(), PlanError> {
        let fail = |problem: String| {
            Err(PlanError::Invalid {
                plan_id: self.plan_id.clone(),
                version: self.version,
                problem,
            })
        };
        if self.plan_id.is_empty() || self.plan_id.contains('#') {
            return fail("plan_id must be non-empty and must not contain '#'".into());
        }
        if self.version == 0 {
            return fail("version starts at 1".into());
        }
        if self.attribution_window_days == 0 {
            return fail("attribution_window_days must be at least 1".into());
        }
        let singles = [
            self.milestones.evaluation_started,
            self.milestones.evaluation_passed,
            self.milestones.funded,
            self.qualification.min_amount,
        ];
        let fixed = self
            .cpa_by_tier
            .values()
            .chain(
                self.quality_tiers
                    .values()
                    .flat_map(|r| r.cpa_by_tier.values()),
            )
            .chain(
                self.performance_steps
                    .iter()
                    .flat_map(|s| s.rates.cpa_by_tier.values()),
            )
            .chain(
                self.promotions
                    .iter()
                    .flat_map(|p| p.rates.cpa_by_tier.values()),
            )
            .chain(singles.iter().flatten());
        for amount in fixed {
            if amount.is_sign_negative() {
                return fail(format!("amount {amount} is negative"));
            }
            if amount.scale() > u32::from(self.currency.minor_units()) {
                return fail(format!(
                    "amount {amount} has more decimals than {} allows",
                    self.currency
                ));
            }
        }
        let percents = self
            .revshare_percent
            .iter()
            .chain(
                self.quality_tiers
                    .values()
                    .filter_map(|r| r.revshare_percent.as_ref()),
            )
            .chain(
                self.performance_steps
                    .iter()
                    .filter_map(|s| s.rates.revshare_percent.as_ref()),
            )
            .chain(
                self.promotions
                    .iter()
                    .filter_map(|p| p.rates.revshare_percent.as_ref()),
            );
        for pct in percents {
            if pct.is_sign_negative() || *pct > Decimal::ONE_HUNDRED {
                return fail(format!("percentage {pct} is outside 0..=100"));
            }
        }
        for promo in &self.promotions {
            if promo.ends_at <= promo.starts_at {
                return fail(format!("promotion {} ends before it starts", promo.name));
            }
        }
        Ok(())
    }

    pub fn cooling_off(&self) -> Duration {
        Duration::hours(i64::from(self.cooling_off_hours))
    }

    pub fn window(&self) -> Duration {
        Duration::days(i64::from(self.attribution_window_days))
    }

    /// The rates in force for this context: each component the best of the base and every
    /// applicable override.
    fn rates_for(&self, ctx: &PricingContext) -> Rates {
        let mut best = Rates {
            revshare_percent: self.revshare_percent,
            cpa_by_tier: self.cpa_by_tier.clone(),
        };
        let overrides = self
            .performance_steps
            .iter()
            .filter(|s| ctx.qualified_in_month >= s.min_qualified_purchases)
            .map(|s| &s.rates)
            .chain(
                ctx.quality_tier
                    .as_ref()
                    .and_then(|t| self.quality_tiers.get(t)),
            )
            .chain(
                self.promotions
                    .iter()
                    .filter(|p| p.starts_at <= ctx.occurred_at && ctx.occurred_at < p.ends_at)
                    .map(|p| &p.rates),
            );
        for over in overrides {
            if let Some(pct) = over.revshare_percent {
                best.revshare_percent = Some(best.revshare_percent.map_or(pct, |b| b.max(pct)));
            }
            for (tier, amount) in &over.cpa_by_tier {
                let slot = best.cpa_by_tier.entry(tier.clone()).or_insert(*amount);
                *slot = (*slot).max(*amount);
            }
        }
        best
    }

    /// The commission for a basis, rounded once by the stated rule. Zero when nothing in the plan
    /// applies. The caller has already checked qualification and currency.
    pub fn price(&self, basis: Basis<'_>, ctx: &PricingContext) -> Decimal {
        let rates = self.rates_for(ctx);
        let revshare = |amount: Decimal| {
            rates
                .revshare_percent
                .map_or(Decimal::ZERO, |pct| amount * pct / Decimal::ONE_HUNDRED)
        };
        let unrounded = match basis {
            Basis::Purchase { tier, amount } => {
                let cpa = rates.cpa_by_tier.get(tier).copied().unwrap_or_default();
                cpa + revshare(amount)
            }
            Basis::Reset { fee } if self.resets_in_scope => revshare(fee),
            Basis::Reset { .. } => Decimal::ZERO,
        };
        round_commission(unrounded, self.currency)
    }

    /// Why a purchase does not qualify under this plan, if it does not.
    pub fn disqualifies(
        &self,
        tier: &str,
        amount: Decimal,
        coupon: Option<&str>,
        is_first_purchase: bool,
    ) -> Option<&'static str> {
        let q = &self.qualification;
        if q.min_amount.is_some_and(|min| amount < min) {
            return Some("below_minimum_amount");
        }
        if q.first_purchase_only && !is_first_purchase {
            return Some("not_first_purchase");
        }
        if !q.tiers_included.is_empty() && !q.tiers_included.iter().any(|t| t == tier) {
            return Some("tier_not_included");
        }
        if q.tiers_excluded.iter().any(|t| t == tier) {
            return Some("tier_excluded");
        }
        if coupon.is_some_and(|c| q.excluded_coupons.iter().any(|x| x == c)) {
            return Some("coupon_excluded");
        }
        None
    }

    pub fn milestone(&self, kind: MilestoneKind) -> Option<Decimal> {
        match kind {
            MilestoneKind::EvaluationStarted => self.milestones.evaluation_started,
            MilestoneKind::EvaluationPassed => self.milestones.evaluation_passed,
            MilestoneKind::Funded => self.milestones.funded,
        }
        .filter(|a| !a.is_zero())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MilestoneKind {
    EvaluationStarted,
    EvaluationPassed,
    Funded,
}

impl MilestoneKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MilestoneKind::EvaluationStarted => "evaluation_started",
            MilestoneKind::EvaluationPassed => "evaluation_passed",
            MilestoneKind::Funded => "funded",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn hybrid() -> Plan {
        Plan::from_json(
            r#"{
              "plan_id": "hybrid", "version": 3, "currency": "USD",
              "attribution_window_days": 90, "cooling_off_hours": 48,
              "cpa_by_tier": {"50k": "40.00", "100k": "75.00"},
              "revshare_percent": "10", "resets_in_scope": true,
              "milestones": {"evaluation_passed": "25.00", "funded": "100.00"},
              "qualification": {"min_amount": "50.00", "tiers_excluded": ["trial"], "excluded_coupons": ["STAFF100"]},
              "performance_steps": [{"min_qualified_purchases": 10, "rates": {"revshare_percent": "12.5"}},
                                    {"min_qualified_purchases": 25, "rates": {"revshare_percent": "15", "cpa_by_tier": {"100k": "90.00"}}}],
              "quality_tiers": {"gold": {"revshare_percent": "13"}},
              "promotions": [{"name": "black-friday", "starts_at": "2026-11-27T00:00:00Z", "ends_at": "2026-11-30T00:00:00Z", "rates": {"revshare_percent": "20"}}]
            }"#,
        )
        .unwrap()
    }

    fn ctx(count: u32, tier: Option<&str>, t: &str) -> PricingContext {
        PricingContext {
            occurred_at: at(t),
            qualified_in_month: count,
            quality_tier: tier.map(str::to_owned),
        }
    }

    #[test]
    fn hybrid_sums_cpa_and_revshare_then_rounds_once() {
        let p = hybrid();
        let c = ctx(1, None, "2026-11-02T10:00:00Z");
        // 75 + 10% of 499.99 = 75 + 49.999 = 124.999 → 125.00
        let amount = p.price(
            Basis::Purchase {
                tier: "100k",
                amount: d("499.99"),
            },
            &c,
        );
        assert_eq!(amount, d("125"));
        // a tier without CPA earns RevShare only
        let amount = p.price(
            Basis::Purchase {
                tier: "200k",
                amount: d("999.00"),
            },
            &c,
        );
        assert_eq!(amount, d("99.9"));
        // reset fee in scope: RevShare only, never CPA
        assert_eq!(p.price(Basis::Reset { fee: d("79.00") }, &c), d("7.9"));
    }

    #[test]
    fn steps_tiers_and_promotions_take_the_best_rate_at_their_boundaries() {
        let p = hybrid();
        let base = Basis::Purchase {
            tier: "100k",
            amount: d("100.00"),
        };
        assert_eq!(
            p.price(base, &ctx(9, None, "2026-11-02T00:00:00Z")),
            d("85")
        );
        assert_eq!(
            p.price(base, &ctx(10, None, "2026-11-02T00:00:00Z")),
            d("87.5")
        );
        assert_eq!(
            p.price(base, &ctx(25, None, "2026-11-02T00:00:00Z")),
            d("105")
        );
        assert_eq!(
            p.price(base, &ctx(10, Some("gold"), "2026-11-02T00:00:00Z")),
            d("88")
        );
        assert_eq!(
            p.price(base, &ctx(1, Some("silver"), "2026-11-02T00:00:00Z")),
            d("85")
        );
        // promotion window is [starts_at, ends_at)
        assert_eq!(
            p.price(base, &ctx(1, None, "2026-11-26T23:59:59Z")),
            d("85")
        );
        assert_eq!(
            p.price(base, &ctx(1, None, "2026-11-27T00:00:00Z")),
            d("95")
        );
        assert_eq!(
            p.price(base, &ctx(1, None, "2026-11-29T23:59:59Z")),
            d("95")
        );
        assert_eq!(
            p.price(base, &ctx(1, None, "2026-11-30T00:00:00Z")),
            d("85")
        );
    }

    #[test]
    fn qualification_rules() {
        let p = hybrid();
        assert_eq!(
            p.disqualifies("100k", d("49.99"), None, true),
            Some("below_minimum_amount")
        );
        assert_eq!(p.disqualifies("100k", d("50.00"), None, true), None);
        assert_eq!(
            p.disqualifies("trial", d("99"), None, true),
            Some("tier_excluded")
        );
        assert_eq!(
            p.disqualifies("100k", d("99"), Some("STAFF100"), true),
            Some("coupon_excluded")
        );
        let mut first_only = p.clone();
        first_only.qualification.first_purchase_only = true;
        first_only.qualification.tiers_included = vec!["100k".into()];
        assert_eq!(
            first_only.disqualifies("100k", d("99"), None, false),
            Some("not_first_purchase")
        );
        assert_eq!(
            first_only.disqualifies("50k", d("99"), None, true),
            Some("tier_not_included")
        );
    }

    #[test]
    fn invalid_plans_are_refused_with_the_reason() {
        let bad = |patch: &str| {
            let mut v: serde_json::Value = serde_json::to_value(hybrid()).unwrap();
            let p: serde_json::Value = serde_json::from_str(patch).unwrap();
            for (k, val) in p.as_object().unwrap() {
                v[k] = val.clone();
            }
            Plan::from_json(&v.to_string()).unwrap_err().to_string()
        };
        assert!(bad(r#"{"revshare_percent": "101"}"#).contains("outside 0..=100"));
        assert!(bad(r#"{"cpa_by_tier": {"x": "1.001"}}"#).contains("more decimals"));
        assert!(bad(r#"{"cpa_by_tier": {"x": "-1"}}"#).contains("negative"));
        assert!(bad(r#"{"version": 0}"#).contains("version starts at 1"));
        assert!(bad(r#"{"surprise": 1}"#).contains("unknown field"));
        assert!(bad(r#"{"attribution_window_days": 0}"#).contains("at least 1"));
    }
}
