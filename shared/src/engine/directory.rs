//! The reference data the engine consults: affiliates, coupon codes, plan versions and email
//! owners. The processor loads what a batch needs before the engine runs; the engine never does
//! I/O.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::plans::Plan;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Affiliate {
    pub affiliate_id: String,
    /// The plan version new commissions are computed under.
    pub plan_id: String,
    pub plan_version: u32,
    #[serde(default)]
    pub quality_tier: Option<String>,
    /// The affiliate's own trading accounts and email hashes, for self-referral detection.
    #[serde(default)]
    pub own_customer_ids: Vec<String>,
    #[serde(default)]
    pub own_email_hashes: Vec<String>,
    /// Qualified purchases per calendar month (`YYYY-MM`, UTC), for performance steps.
    #[serde(default)]
    pub qualified_by_month: BTreeMap<String, u32>,
}

impl Affiliate {
    pub fn qualified_in(&self, month: &str) -> u32 {
        self.qualified_by_month.get(month).copied().unwrap_or(0)
    }
}

/// The customer an email hash was first seen with, and that customer's affiliate then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailOwner {
    pub email_hash: String,
    pub customer_id: String,
    pub affiliate_id: Option<String>,
}

pub trait Directory {
    fn affiliate(&self, affiliate_id: &str) -> Option<&Affiliate>;
    /// The affiliate a coupon code belongs to.
    fn coupon(&self, code: &str) -> Option<&str>;
    fn plan(&self, plan_id: &str, version: u32) -> Option<&Plan>;
    fn email_owner(&self, email_hash: &str) -> Option<&EmailOwner>;
}

/// A directory held in memory: what the processor fills per batch, and what tests use.
#[derive(Debug, Clone, Default)]
pub struct MemoryDirectory {
    pub affiliates: HashMap<String, Affiliate>,
    pub coupons: HashMap<String, String>,
    pub plans: HashMap<(String, u32), Plan>,
    pub email_owners: HashMap<String, EmailOwner>,
}

impl MemoryDirectory {
    pub fn add_plan(&mut self, plan: Plan) {
        self.plans
            .insert((plan.plan_id.clone(), plan.version), plan);
    }

    /// Applies what an event changed in the reference data, once its write has succeeded.
    pub fn absorb(&mut self, applied: &super::Applied) {
        for (affiliate_id, month) in &applied.qualified {
            if let Some(a) = self.affiliates.get_mut(affiliate_id) {
                *a.qualified_by_month.entry(month.clone()).or_insert(0) += 1;
            }
        }
        for claim in &applied.email_claims {
            self.email_owners
                .entry(claim.email_hash.clone())
                .or_insert_with(|| claim.clone());
        }
    }
}

impl Directory for MemoryDirectory {
    fn affiliate(&self, affiliate_id: &str) -> Option<&Affiliate> {
        self.affiliates.get(affiliate_id)
    }
    fn coupon(&self, code: &str) -> Option<&str> {
        self.coupons.get(code).map(String::as_str)
    }
    fn plan(&self, plan_id: &str, version: u32) -> Option<&Plan> {
        self.plans.get(&(plan_id.to_owned(), version))
    }
    fn email_owner(&self, email_hash: &str) -> Option<&EmailOwner> {
        self.email_owners.get(email_hash)
    }
}
