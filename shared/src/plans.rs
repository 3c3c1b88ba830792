//! Commission plans: versioned, immutable once published, and the arithmetic that turns a
//! qualifying event into an amount. The JSON format is documented in `docs/plans.md`.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::engine::Reason;
use crate::money::{self, round_commission, Currency, MoneyOverflow, MAX_AMOUNT};

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
    /// CPA per challenge tier.
    #[serde(default)]
    pub cpa_by_tier: BTreeMap<String, Decimal>,
    /// CPA for a tier `cpa_by_tier` does not list. Without it such a tier earns no CPA.
    #[serde(default)]
    pub cpa_default: Option<Decimal>,
    /// RevShare in percent of the purchase price (and of reset fees when `resets_in_scope` and
    /// no `reset_revshare_percent` is set).
    #[serde(default)]
    pub revshare_percent: Option<Decimal>,
    /// RevShare in percent of reset fees, when resets earn at another rate than purchases (or
    /// only resets earn: leave `revshare_percent` out). Needs `resets_in_scope`.
    #[serde(default)]
    pub reset_revshare_percent: Option<Decimal>,
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
    /// A purchase of amount zero (a free challenge) earns nothing and does not count towards
    /// performance steps, unless this is true: then it qualifies and earns its CPA (RevShare of
    /// nothing is nothing).
    #[serde(default)]
    pub free_purchases_qualify: bool,
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
    pub reset_revshare_percent: Option<Decimal>,
    #[serde(default)]
    pub cpa_by_tier: BTreeMap<String, Decimal>,
    #[serde(default)]
    pub cpa_default: Option<Decimal>,
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
    #[error("plan {plan_id} v{version}: {field}: {problem}")]
    Invalid {
        plan_id: String,
        version: u32,
        /// The path of the offending field, e.g. `quality_tiers.gold.revshare_percent`.
        field: String,
        problem: String,
    },
}

/// Everything about the moment of pricing that is not in the plan. Frozen on the commission so a
/// later recalculation (partial refund, downgrade) prices under exactly the same terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricingContext {
    #[serde(rename = "at")]
    pub occurred_at: DateTime<Utc>,
    /// The affiliate's qualified purchases in the event's month, including this one.
    #[serde(rename = "q")]
    pub qualified_in_month: u32,
    #[serde(rename = "qt", default, skip_serializing_if = "Option::is_none")]
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
        let fail = |field: &str, problem: String| {
            Err(PlanError::Invalid {
                plan_id: self.plan_id.clone(),
                version: self.version,
                field: field.to_owned(),
                problem,
            })
        };
        if self.plan_id.is_empty() || self.plan_id.contains('#') || self.plan_id.len() > 128 {
            return fail(
                "plan_id",
                "must be 1-128 characters and must not contain '#'".into(),
            );
        }
        if self.version == 0 {
            return fail("version", "starts at 1".into());
        }
        if self.attribution_window_days == 0 {
            return fail("attribution_window_days", "must be at least 1".into());
        }
        let mut fixed: Vec<(String, Decimal)> = Vec::new();
        let mut percents: Vec<(String, Decimal)> = Vec::new();
        let mut rate_sets: Vec<(String, &Rates)> = Vec::new();
        for (i, step) in self.performance_steps.iter().enumerate() {
            rate_sets.push((format!("performance_steps[{i}].rates"), &step.rates));
        }
        for (tier, rates) in &self.quality_tiers {
            rate_sets.push((format!("quality_tiers.{tier}"), rates));
        }
        for (i, promo) in self.promotions.iter().enumerate() {
            rate_sets.push((format!("promotions[{i}].rates"), &promo.rates));
        }
        let base = self.base_rates();
        for (path, rates) in std::iter::once((String::new(), &base)).chain(rate_sets) {
            let at = |field: &str| {
                if path.is_empty() {
                    field.to_owned()
                } else {
                    format!("{path}.{field}")
                }
            };
            for (tier, amount) in &rates.cpa_by_tier {
                fixed.push((at(&format!("cpa_by_tier.{tier}")), *amount));
            }
            if let Some(a) = rates.cpa_default {
                fixed.push((at("cpa_default"), a));
            }
            if let Some(p) = rates.revshare_percent {
                percents.push((at("revshare_percent"), p));
            }
            if let Some(p) = rates.reset_revshare_percent {
                if !self.resets_in_scope {
                    return fail(
                        &at("reset_revshare_percent"),
                        "is set but resets_in_scope is false".into(),
                    );
                }
                percents.push((at("reset_revshare_percent"), p));
            }
        }
        let singles = [
            (
                "milestones.evaluation_started",
                self.milestones.evaluation_started,
            ),
            (
                "milestones.evaluation_passed",
                self.milestones.evaluation_passed,
            ),
            ("milestones.funded", self.milestones.funded),
            ("qualification.min_amount", self.qualification.min_amount),
        ];
        for (name, amount) in singles {
            if let Some(a) = amount {
                fixed.push((name.to_owned(), a));
            }
        }
        for (field, amount) in fixed {
            if amount.is_sign_negative() {
                return fail(&field, format!("amount {amount} is negative"));
            }
            if amount > MAX_AMOUNT {
                return fail(&field, format!("amount {amount} exceeds {MAX_AMOUNT}"));
            }
            if amount.normalize().scale() > u32::from(self.currency.minor_units()) {
                return fail(
                    &field,
                    format!(
                        "amount {amount} has more decimals than {} allows",
                        self.currency
                    ),
                );
            }
        }
        for (field, pct) in percents {
            if pct.is_sign_negative() || pct > Decimal::ONE_HUNDRED {
                return fail(&field, format!("percentage {pct} is outside 0..=100"));
            }
        }
        for (i, promo) in self.promotions.iter().enumerate() {
            if promo.ends_at <= promo.starts_at {
                return fail(
                    &format!("promotions[{i}].ends_at"),
                    format!("promotion {} ends before it starts", promo.name),
                );
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

    fn base_rates(&self) -> Rates {
        Rates {
            revshare_percent: self.revshare_percent,
            reset_revshare_percent: self.reset_revshare_percent,
            cpa_by_tier: self.cpa_by_tier.clone(),
            cpa_default: self.cpa_default,
        }
    }

    /// The base rates and every override that applies in this context.
    fn applicable_rates<'p>(&'p self, ctx: &'p PricingContext) -> impl Iterator<Item = Rates> + 'p {
        let steps = self
            .performance_steps
            .iter()
            .filter(|s| ctx.qualified_in_month >= s.min_qualified_purchases)
            .map(|s| &s.rates);
        let tier = ctx
            .quality_tier
            .as_ref()
            .and_then(|t| self.quality_tiers.get(t));
        let promotions = self
            .promotions
            .iter()
            .filter(|p| p.starts_at <= ctx.occurred_at && ctx.occurred_at < p.ends_at)
            .map(|p| &p.rates);
        std::iter::once(self.base_rates()).chain(steps.chain(tier).chain(promotions).cloned())
    }

    /// The reset rate one source of rates offers. When the plan has its own reset rate, purchase
    /// RevShare never applies to resets; when it has none, resets follow the purchase rate (as
    /// plans without the field always did), and an override's explicit reset rate counts too.
    fn reset_rate_of(&self, rates: &Rates) -> Option<Decimal> {
        rates
            .reset_revshare_percent
            .or(if self.reset_revshare_percent.is_none() {
                rates.revshare_percent
            } else {
                None
            })
    }

    /// Whether resets are priced under this plan at all: in scope, and some rate offered for them
    /// (a rate of zero is offered: it prices to nothing, `plan_pays_nothing`).
    pub fn pays_on_resets(&self) -> bool {
        self.resets_in_scope
            && std::iter::once(self.base_rates())
                .chain(self.performance_steps.iter().map(|s| s.rates.clone()))
                .chain(self.quality_tiers.values().cloned())
                .chain(self.promotions.iter().map(|p| p.rates.clone()))
                .any(|r| self.reset_rate_of(&r).is_some())
    }

    /// The commission for a basis, rounded once by the stated rule. Each component (CPA, purchase
    /// RevShare, reset RevShare) takes the best (highest) of the base rates and every applicable
    /// override. Zero when nothing in the plan applies. The caller has already checked
    /// qualification and currency.
    pub fn price(&self, basis: Basis<'_>, ctx: &PricingContext) -> Result<Decimal, MoneyOverflow> {
        let best = |pick: &dyn Fn(&Rates) -> Option<Decimal>| {
            self.applicable_rates(ctx).filter_map(|r| pick(&r)).max()
        };
        let unrounded = match basis {
            Basis::Purchase { tier, amount } => {
                let cpa = best(&|r| r.cpa_by_tier.get(tier).copied().or(r.cpa_default))
                    .unwrap_or_default();
                let revshare = match best(&|r| r.revshare_percent) {
                    Some(pct) => money::percent_of(amount, pct)?,
                    None => Decimal::ZERO,
                };
                money::add(cpa, revshare)?
            }
            Basis::Reset { fee } if self.resets_in_scope => {
                match best(&|r| self.reset_rate_of(r)) {
                    Some(pct) => money::percent_of(fee, pct)?,
                    None => Decimal::ZERO,
                }
            }
            Basis::Reset { .. } => Decimal::ZERO,
        };
        Ok(round_commission(unrounded, self.currency))
    }

    /// Why a purchase does not qualify under this plan, if it does not.
    pub fn disqualifies(
        &self,
        tier: &str,
        amount: Decimal,
        coupon: Option<&str>,
        is_first_purchase: bool,
    ) -> Option<Reason> {
        let q = &self.qualification;
        if amount.is_zero() && !q.free_purchases_qualify {
            return Some(Reason::FreePurchase);
        }
        if q.min_amount.is_some_and(|min| amount < min) {
            return Some(Reason::BelowMinimumAmount);
        }
        if q.first_purchase_only && !is_first_purchase {
            return Some(Reason::NotFirstPurchase);
        }
        if !q.tiers_included.is_empty() && !q.tiers_included.iter().any(|t| t == tier) {
            return Some(Reason::TierNotIncluded);
        }
        if q.tiers_excluded.iter().any(|t| t == tier) {
            return Some(Reason::TierExcluded);
        }
        if coupon.is_some_and(|c| q.excluded_coupons.iter().any(|x| x == c)) {
            return Some(Reason::CouponExcluded);
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

    /// The validation error of the hybrid plan with `patch`'s top-level fields replaced.
    fn bad(patch: &str) -> String {
        let mut v: serde_json::Value = serde_json::to_value(hybrid()).unwrap();
        let p: serde_json::Value = serde_json::from_str(patch).unwrap();
        for (k, val) in p.as_object().unwrap() {
            v[k] = val.clone();
        }
        Plan::from_json(&v.to_string()).unwrap_err().to_string()
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
        let amount = p
            .price(
                Basis::Purchase {
                    tier: "100k",
                    amount: d("499.99"),
                },
                &c,
            )
            .unwrap();
        assert_eq!(amount, d("125"));
        // a tier without CPA earns RevShare only
        let amount = p
            .price(
                Basis::Purchase {
                    tier: "200k",
                    amount: d("999.00"),
                },
                &c,
            )
            .unwrap();
        assert_eq!(amount, d("99.9"));
        // reset fee in scope: RevShare only, never CPA
        assert_eq!(
            p.price(Basis::Reset { fee: d("79.00") }, &c).unwrap(),
            d("7.9")
        );
    }

    #[test]
    fn steps_tiers_and_promotions_take_the_best_rate_at_their_boundaries() {
        let p = hybrid();
        let base = Basis::Purchase {
            tier: "100k",
            amount: d("100.00"),
        };
        assert_eq!(
            p.price(base, &ctx(9, None, "2026-11-02T00:00:00Z"))
                .unwrap(),
            d("85")
        );
        assert_eq!(
            p.price(base, &ctx(10, None, "2026-11-02T00:00:00Z"))
                .unwrap(),
            d("87.5")
        );
        assert_eq!(
            p.price(base, &ctx(25, None, "2026-11-02T00:00:00Z"))
                .unwrap(),
            d("105")
        );
        assert_eq!(
            p.price(base, &ctx(10, Some("gold"), "2026-11-02T00:00:00Z"))
                .unwrap(),
            d("88")
        );
        assert_eq!(
            p.price(base, &ctx(1, Some("silver"), "2026-11-02T00:00:00Z"))
                .unwrap(),
            d("85")
        );
        // promotion window is [starts_at, ends_at)
        assert_eq!(
            p.price(base, &ctx(1, None, "2026-11-26T23:59:59Z"))
                .unwrap(),
            d("85")
        );
        assert_eq!(
            p.price(base, &ctx(1, None, "2026-11-27T00:00:00Z"))
                .unwrap(),
            d("95")
        );
        assert_eq!(
            p.price(base, &ctx(1, None, "2026-11-29T23:59:59Z"))
                .unwrap(),
            d("95")
        );
        assert_eq!(
            p.price(base, &ctx(1, None, "2026-11-30T00:00:00Z"))
                .unwrap(),
            d("85")
        );
    }

    #[test]
    fn qualification_rules() {
        let p = hybrid();
        assert_eq!(
            p.disqualifies("100k", d("49.99"), None, true),
            Some(Reason::BelowMinimumAmount)
        );
        assert_eq!(p.disqualifies("100k", d("50.00"), None, true), None);
        assert_eq!(
            p.disqualifies("trial", d("99"), None, true),
            Some(Reason::TierExcluded)
        );
        assert_eq!(
            p.disqualifies("100k", d("99"), Some("STAFF100"), true),
            Some(Reason::CouponExcluded)
        );
        let mut first_only = p.clone();
        first_only.qualification.first_purchase_only = true;
        first_only.qualification.tiers_included = vec!["100k".into()];
        assert_eq!(
            first_only.disqualifies("100k", d("99"), None, false),
            Some(Reason::NotFirstPurchase)
        );
        assert_eq!(
            first_only.disqualifies("50k", d("99"), None, true),
            Some(Reason::TierNotIncluded)
        );
    }

    #[test]
    fn invalid_plans_are_refused_with_the_reason() {
        assert!(bad(r#"{"revshare_percent": "101"}"#).contains("outside 0..=100"));
        assert!(bad(r#"{"cpa_by_tier": {"x": "1.001"}}"#).contains("more decimals"));
        assert!(bad(r#"{"cpa_by_tier": {"x": "-1"}}"#).contains("negative"));
        assert!(bad(r#"{"version": 0}"#).contains("version: starts at 1"));
        assert!(bad(r#"{"surprise": 1}"#).contains("unknown field"));
        assert!(bad(r#"{"attribution_window_days": 0}"#).contains("at least 1"));
    }

    #[test]
    fn a_default_cpa_pays_tiers_the_plan_does_not_list() {
        let mut p = hybrid();
        p.cpa_default = Some(d("30.00"));
        let c = ctx(1, None, "2026-11-02T10:00:00Z");
        // listed tiers keep their own CPA; others get the default; both plus RevShare
        let listed = Basis::Purchase {
            tier: "100k",
            amount: d("100"),
        };
        let unlisted = Basis::Purchase {
            tier: "200k",
            amount: d("100"),
        };
        assert_eq!(p.price(listed, &c).unwrap(), d("85"));
        assert_eq!(p.price(unlisted, &c).unwrap(), d("40"));
        // an override's default competes per tier like any rate: the best wins
        p.promotions[0].rates.cpa_default = Some(d("45.00"));
        let promo = ctx(1, None, "2026-11-28T00:00:00Z");
        assert_eq!(p.price(unlisted, &promo).unwrap(), d("65")); // 45 + 20 %
        assert_eq!(p.price(listed, &promo).unwrap(), d("95")); // 75 + 20 %
    }

    #[test]
    fn resets_can_earn_at_their_own_rate_or_alone() {
        let c = ctx(1, None, "2026-11-02T10:00:00Z");
        let reset = Basis::Reset { fee: d("80.00") };
        let purchase = Basis::Purchase {
            tier: "200k",
            amount: d("100"),
        };
        // without a reset rate, resets follow the purchase RevShare (as before the field)
        let mut p = hybrid();
        assert_eq!(p.price(reset, &c).unwrap(), d("8"));
        // with one, purchases and resets earn at their own rates
        p.reset_revshare_percent = Some(d("5"));
        assert_eq!(p.price(reset, &c).unwrap(), d("4"));
        assert_eq!(p.price(purchase, &c).unwrap(), d("10"));
        // a promotion raising purchase RevShare does not leak into resets then
        let promo = ctx(1, None, "2026-11-28T00:00:00Z");
        assert_eq!(p.price(reset, &promo).unwrap(), d("4"));
        // only resets earn
        p.revshare_percent = None;
        p.cpa_by_tier.clear();
        p.performance_steps.clear();
        p.quality_tiers.clear();
        p.promotions.clear();
        assert_eq!(p.price(purchase, &c).unwrap(), d("0"));
        assert_eq!(p.price(reset, &c).unwrap(), d("4"));
        assert!(p.pays_on_resets());
        p.reset_revshare_percent = Some(d("0"));
        assert!(p.pays_on_resets());
        assert_eq!(p.price(reset, &c).unwrap(), d("0"));
        p.reset_revshare_percent = None;
        assert!(!p.pays_on_resets());
    }

    #[test]
    fn a_free_purchase_does_not_qualify_unless_the_plan_says_so() {
        let mut p = hybrid();
        p.qualification.min_amount = None;
        assert_eq!(
            p.disqualifies("100k", d("0"), None, true),
            Some(Reason::FreePurchase)
        );
        p.qualification.free_purchases_qualify = true;
        assert_eq!(p.disqualifies("100k", d("0"), None, true), None);
        let c = ctx(1, None, "2026-11-02T10:00:00Z");
        let free = Basis::Purchase {
            tier: "100k",
            amount: d("0"),
        };
        assert_eq!(p.price(free, &c).unwrap(), d("75"));
    }

    #[test]
    fn the_new_fields_are_validated_with_their_path() {
        let e = bad(r#"{"reset_revshare_percent": "5", "resets_in_scope": false}"#);
        assert!(
            e.contains("reset_revshare_percent: is set but resets_in_scope is false"),
            "{e}"
        );
        let e = bad(r#"{"reset_revshare_percent": "101"}"#);
        assert!(
            e.contains("reset_revshare_percent: percentage 101 is outside"),
            "{e}"
        );
        let e = bad(r#"{"cpa_default": "-1"}"#);
        assert!(e.contains("cpa_default: amount -1 is negative"), "{e}");
        let e = bad(r#"{"cpa_default": "1000000000000.01"}"#);
        assert!(
            e.contains("cpa_default: amount 1000000000000.01 exceeds"),
            "{e}"
        );
        let e = bad(
            r#"{"promotions": [{"name": "x", "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2026-02-01T00:00:00Z", "rates": {"reset_revshare_percent": "-2"}}]}"#,
        );
        assert!(
            e.contains("promotions[0].rates.reset_revshare_percent"),
            "{e}"
        );
    }

    /// Pricing never panics: every amount up to the largest accepted, every percentage, every
    /// combination of overrides gives a rounded amount (or, never, an overflow error).
    #[test]
    fn pricing_at_the_extremes_never_overflows() {
        let extremes = [
            d("0"),
            d("0.01"),
            d("499.99"),
            MAX_AMOUNT - d("0.01"),
            MAX_AMOUNT,
        ];
        let percents = [d("0"), d("0.0001"), d("12.5"), d("100")];
        for amount in extremes {
            for pct in percents {
                for cpa in extremes {
                    let mut p = hybrid();
                    p.revshare_percent = Some(pct);
                    p.reset_revshare_percent = Some(pct);
                    p.cpa_default = Some(cpa);
                    p.cpa_by_tier.insert("100k".into(), cpa);
                    p.validate().unwrap();
                    for count in [0, 10, u32::MAX] {
                        let c = ctx(count, Some("gold"), "2026-11-28T00:00:00Z");
                        let purchase = Basis::Purchase {
                            tier: "100k",
                            amount,
                        };
                        let got = p.price(purchase, &c).unwrap();
                        // the step at 25 purchases pays 90.00 for 100k; RevShare is at most the amount
                        assert!(
                            got <= cpa.max(d("90")) + amount,
                            "{got} for {amount} at {pct}%"
                        );
                        assert!(!got.is_sign_negative() && got.scale() <= 2);
                        let reset = p.price(Basis::Reset { fee: amount }, &c).unwrap();
                        assert!(reset <= amount);
                    }
                }
            }
        }
    }
}
