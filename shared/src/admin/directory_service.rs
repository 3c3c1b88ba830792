//! The admin API's directory operations: list and publish plans, create and change affiliates,
//! assign coupon codes, and an affiliate's page. Every change is validated against the directory
//! as stored (a plan version must exist to be assigned, a tier must be one the plan prices) and
//! written with its history item in one transaction, conditional on what was read.

use serde_json::{json, Value};

use super::affiliate::activity;
use super::caller::Caller;
use super::directory::{
    hash_emails, AffiliateView, AssignCoupon, CreateAffiliate, DirectoryChange, EntryMeta,
    PublishPlan, UpdateAffiliate,
};
use super::error::AdminError;
use super::service::{to_json, AdminApi};
use super::store::{AdminStore, DirectoryWrite, PayoutCommit, StoredPlan};
use crate::clock::Clock;
use crate::engine::Affiliate;
use crate::plans::Plan;
use crate::processor::StoreError;

fn plan_view(p: &StoredPlan) -> Value {
    json!({
        "plan": p.plan,
        "published_by": p.meta.updated_by,
        "published_at": p.meta.updated_at,
    })
}

/// A lost conditional write on a directory entry: someone changed it between the read and the
/// write. Nothing was written; the caller reloads.
fn raced(what: &str, current: Value) -> AdminError {
    AdminError::Conflict {
        message: format!("{what} changed while this request was being made; nothing was written: reload and retry"),
        current,
    }
}

impl<S: AdminStore, C: Clock> AdminApi<S, C> {
    fn change(
        &self,
        caller: &Caller,
        target: String,
        version: u64,
        action: &str,
        reason: &str,
        (before, after): (Value, Value),
    ) -> DirectoryChange {
        DirectoryChange {
            target,
            version,
            action: action.to_owned(),
            by: caller.subject.clone(),
            at: self.clock.now(),
            reason: reason.to_owned(),
            before,
            after,
        }
    }

    /// The plan an affiliate is moved to must be published, and its tier one the plan prices.
    async fn check_plan(
        &self,
        plan_id: &str,
        version: u32,
        tier: Option<&str>,
    ) -> Result<Plan, AdminError> {
        let Some(stored) = self.store.plan(plan_id, version).await? else {
            return Err(AdminError::invalid(
                "plan_version",
                format!("{plan_id} v{version} is not a published plan"),
            ));
        };
        if let Some(t) = tier {
            if !stored.plan.quality_tiers.contains_key(t) {
                return Err(AdminError::invalid(
                    "quality_tier",
                    format!("{plan_id} v{version} has no quality tier {t}"),
                ));
            }
        }
        Ok(stored.plan)
    }

    pub(super) async fn list_plans(&self) -> Result<Value, AdminError> {
        let mut plans = self.store.plans().await?;
        plans.sort_by(|a, b| {
            (&a.plan.plan_id, a.plan.version).cmp(&(&b.plan.plan_id, b.plan.version))
        });
        Ok(json!({ "plans": plans.iter().map(plan_view).collect::<Vec<_>>() }))
    }

    pub(super) async fn publish_plan(
        &self,
        caller: &Caller,
        p: PublishPlan,
    ) -> Result<Value, AdminError> {
        let plan = p.plan;
        let latest = self
            .store
            .plans()
            .await?
            .into_iter()
            .filter(|s| s.plan.plan_id == plan.plan_id)
            .map(|s| s.plan.version)
            .max()
            .unwrap_or(0);
        if plan.version <= latest {
            let current = self.store.plan(&plan.plan_id, plan.version).await?;
            return Err(AdminError::Conflict {
                message: format!(
                    "{} v{} is already published and is never edited: publish v{} instead",
                    plan.plan_id,
                    plan.version,
                    latest + 1
                ),
                current: current.as_ref().map(plan_view).unwrap_or(Value::Null),
            });
        }
        if plan.version != latest + 1 {
            return Err(AdminError::invalid(
                "plan.version",
                format!(
                    "must be {} (the next version of {})",
                    latest + 1,
                    plan.plan_id
                ),
            ));
        }
        let target = format!("plan#{}#{}", plan.plan_id, plan.version);
        let change = self.change(
            caller,
            target,
            1,
            "publish",
            &p.reason,
            (Value::Null, to_json(&plan)),
        );
        match self
            .store
            .commit_directory(&DirectoryWrite::Plan {
                plan: &plan,
                change: &change,
            })
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                let current = self.store.plan(&plan.plan_id, plan.version).await?;
                return Err(AdminError::Conflict {
                    message: format!("{} v{} was published meanwhile", plan.plan_id, plan.version),
                    current: current.as_ref().map(plan_view).unwrap_or(Value::Null),
                });
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(plan_id = %plan.plan_id, version = plan.version, by = %caller.subject, "plan published");
        let stored = StoredPlan {
            plan,
            meta: EntryMeta {
                version: 1,
                updated_by: Some(change.by.clone()),
                updated_at: Some(change.at),
            },
        };
        Ok(json!({ "plan": plan_view(&stored), "change": change }))
    }

    pub(super) async fn list_affiliates(&self) -> Result<Value, AdminError> {
        let mut affiliates = self.store.affiliates().await?;
        affiliates.sort_by(|a, b| a.0.affiliate_id.cmp(&b.0.affiliate_id));
        let views: Vec<AffiliateView> = affiliates
            .iter()
            .map(|(a, m)| AffiliateView::new(a, m.clone()))
            .collect();
        Ok(json!({ "affiliates": views }))
    }

    pub(super) async fn create_affiliate(
        &self,
        caller: &Caller,
        c: CreateAffiliate,
    ) -> Result<Value, AdminError> {
        if let Some((existing, meta)) = self.store.affiliate(&c.affiliate_id).await? {
            return Err(AdminError::Conflict {
                message: format!("affiliate {} exists: change it instead", c.affiliate_id),
                current: to_json(&AffiliateView::new(&existing, meta)),
            });
        }
        self.check_plan(&c.plan_id, c.plan_version, c.quality_tier.as_deref())
            .await?;
        let affiliate = Affiliate {
            affiliate_id: c.affiliate_id.clone(),
            plan_id: c.plan_id,
            plan_version: c.plan_version,
            quality_tier: c.quality_tier,
            own_customer_ids: c.own_customer_ids,
            own_email_hashes: hash_emails(&self.hasher, &c.own_emails)?,
            qualified_by_month: Default::default(),
        };
        let change = self.change(
            caller,
            format!("affiliate#{}", affiliate.affiliate_id),
            1,
            "create",
            &c.reason,
            (Value::Null, AffiliateView::audited(&affiliate)),
        );
        match self
            .store
            .commit_directory(&DirectoryWrite::NewAffiliate {
                affiliate: &affiliate,
                change: &change,
            })
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(raced(
                    &format!("affiliate {}", affiliate.affiliate_id),
                    Value::Null,
                ))
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(affiliate_id = %affiliate.affiliate_id, by = %caller.subject, "affiliate created");
        let meta = EntryMeta {
            version: 1,
            updated_by: Some(change.by.clone()),
            updated_at: Some(change.at),
        };
        Ok(json!({ "affiliate": AffiliateView::new(&affiliate, meta), "change": change }))
    }

    pub(super) async fn update_affiliate(
        &self,
        caller: &Caller,
        affiliate_id: &str,
        u: UpdateAffiliate,
    ) -> Result<Value, AdminError> {
        let (before, meta) = self
            .store
            .affiliate(affiliate_id)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("affiliate {affiliate_id}")))?;
        let mut after = before.clone();
        if let Some((plan_id, version)) = &u.plan {
            after.plan_id = plan_id.clone();
            after.plan_version = *version;
        }
        if let Some(tier) = &u.quality_tier {
            after.quality_tier = tier.clone();
        }
        if let Some(ids) = &u.own_customer_ids {
            after.own_customer_ids = ids.clone();
        }
        if let Some(emails) = &u.own_emails {
            after.own_email_hashes = hash_emails(&self.hasher, emails)?;
        }
        self.check_plan(
            &after.plan_id,
            after.plan_version,
            after.quality_tier.as_deref(),
        )
        .await?;
        let change = self.change(
            caller,
            format!("affiliate#{affiliate_id}"),
            meta.version + 1,
            "change",
            &u.reason,
            (
                AffiliateView::audited(&before),
                AffiliateView::audited(&after),
            ),
        );
        let write = DirectoryWrite::UpdateAffiliate {
            affiliate: &after,
            expected: meta.version,
            change: &change,
        };
        match self.store.commit_directory(&write).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                let current = self.store.affiliate(affiliate_id).await?;
                return Err(raced(
                    &format!("affiliate {affiliate_id}"),
                    current
                        .map(|(a, m)| to_json(&AffiliateView::new(&a, m)))
                        .unwrap_or(Value::Null),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(affiliate_id = %affiliate_id, by = %caller.subject, version = change.version, "affiliate changed");
        let meta = EntryMeta {
            version: change.version,
            updated_by: Some(change.by.clone()),
            updated_at: Some(change.at),
        };
        Ok(json!({ "affiliate": AffiliateView::new(&after, meta), "change": change }))
    }

    /// The affiliate's page: its entry and plan, commissions by month and status, balances,
    /// quality by month, and the history of changes to it.
    pub(super) async fn affiliate_page(&self, affiliate_id: &str) -> Result<Value, AdminError> {
        let (affiliate, meta) = self
            .store
            .affiliate(affiliate_id)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("affiliate {affiliate_id}")))?;
        let plan = self
            .store
            .plan(&affiliate.plan_id, affiliate.plan_version)
            .await?;
        let entries = self.store.affiliate_book(affiliate_id).await?;
        let stats = self.store.affiliate_stats(affiliate_id).await?;
        let activity = activity(&entries, &stats).map_err(|_| {
            tracing::error!(affiliate_id = %affiliate_id, "money overflowed summing an affiliate's ledger");
            AdminError::Internal
        })?;
        let history = self
            .store
            .history(&format!("affiliate#{affiliate_id}"), meta.version)
            .await?;
        Ok(json!({
            "affiliate": AffiliateView::new(&affiliate, meta),
            "plan": plan.as_ref().map(plan_view),
            "activity": activity,
            "history": history,
        }))
    }

    pub(super) async fn list_coupons(&self) -> Result<Value, AdminError> {
        let mut coupons = self.store.coupons().await?;
        coupons.sort_by(|a, b| a.coupon_code.cmp(&b.coupon_code));
        Ok(json!({ "coupons": coupons }))
    }

    pub(super) async fn coupon_page(&self, code: &str) -> Result<Value, AdminError> {
        let coupon = self
            .store
            .coupon(code)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("coupon code {code}")))?;
        let history = self
            .store
            .history(&format!("coupon#{code}"), coupon.meta.version)
            .await?;
        Ok(json!({ "coupon": coupon, "history": history }))
    }

    /// Creates a coupon code or moves it to another affiliate (audited either way). Assigning it
    /// to the affiliate it already has changes nothing and records nothing.
    pub(super) async fn assign_coupon(
        &self,
        caller: &Caller,
        code: &str,
        a: AssignCoupon,
    ) -> Result<Value, AdminError> {
        if self.store.affiliate(&a.affiliate_id).await?.is_none() {
            return Err(AdminError::invalid(
                "affiliate_id",
                format!("{} is not an affiliate in the directory", a.affiliate_id),
            ));
        }
        let current = self.store.coupon(code).await?;
        if let Some(c) = &current {
            if c.affiliate_id == a.affiliate_id {
                return Ok(json!({ "coupon": c, "change": Value::Null }));
            }
        }
        let version = current.as_ref().map_or(0, |c| c.meta.version) + 1;
        let change = self.change(
            caller,
            format!("coupon#{code}"),
            version,
            if current.is_some() {
                "reassign"
            } else {
                "create"
            },
            &a.reason,
            (
                current
                    .as_ref()
                    .map_or(Value::Null, |c| json!({ "affiliate_id": c.affiliate_id })),
                json!({ "affiliate_id": a.affiliate_id }),
            ),
        );
        let write = DirectoryWrite::Coupon {
            code,
            affiliate_id: &a.affiliate_id,
            expected: current.as_ref().map(|c| c.meta.version),
            change: &change,
        };
        match self.store.commit_directory(&write).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                let now = self.store.coupon(code).await?;
                return Err(raced(
                    &format!("coupon code {code}"),
                    now.map(|c| to_json(&c)).unwrap_or(Value::Null),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(coupon_code = %code, affiliate_id = %a.affiliate_id, by = %caller.subject, "coupon code assigned");
        let coupon = super::directory::CouponView {
            coupon_code: code.to_owned(),
            affiliate_id: a.affiliate_id.clone(),
            meta: EntryMeta {
                version,
                updated_by: Some(change.by.clone()),
                updated_at: Some(change.at),
            },
        };
        Ok(json!({ "coupon": coupon, "change": change }))
    }

    /// Records that the affiliate's statement at `cut_off` was paid: a payout entry per currency
    /// for the statement's closing balance (computed here, never sent), at most what is payable
    /// now; the same statement twice records once.
    pub(super) async fn record_payout(
        &self,
        caller: &Caller,
        affiliate_id: &str,
        payout: super::directory::RecordPayout,
    ) -> Result<Value, AdminError> {
        use crate::finance::booked::BookedKind;
        use crate::finance::payout::{plan_payout, PayoutError, PayoutPlan};
        if self.store.affiliate(affiliate_id).await?.is_none() {
            return Err(AdminError::NotFound(format!("affiliate {affiliate_id}")));
        }
        let now = self.clock.now();
        let view = |entries: &[crate::finance::booked::BookedEntry], recorded: bool| {
            let statement_id = crate::finance::payout::statement_id(affiliate_id, payout.cut_off);
            json!({
                "statement_id": statement_id,
                "recorded": recorded,
                "payouts": entries.iter().map(|e| json!({
                    "entry_id": e.entry_id,
                    "currency": e.currency.code(),
                    "amount": crate::money::with_minor_units(-e.amount, e.currency),
                    "recorded_at": e.recorded_at,
                    "reason": e.reason,
                })).collect::<Vec<_>>(),
            })
        };
        for attempt in 0..2 {
            let book = self.store.affiliate_book(affiliate_id).await?;
            let payout_entries_read =
                book.iter().filter(|e| e.kind == BookedKind::Payout).count() as u64;
            let plan = plan_payout(affiliate_id, book, payout.cut_off, now, &payout.reason)
                .map_err(|e| match e {
                    PayoutError::FutureCutOff(_) => AdminError::invalid("cut_off", e.to_string()),
                    PayoutError::NothingPayable { .. } | PayoutError::ExceedsPayable { .. } => {
                        AdminError::Conflict {
                            message: e.to_string(),
                            current: Value::Null,
                        }
                    }
                    PayoutError::Ledger(inner) => {
                        tracing::error!(affiliate_id = %affiliate_id, error = %inner, "an affiliate's ledger does not add up");
                        AdminError::Internal
                    }
                })?;
            let entries = match plan {
                PayoutPlan::AlreadyRecorded(entries) => return Ok(view(&entries, false)),
                PayoutPlan::Record(entries) => entries,
            };
            let commit = PayoutCommit {
                affiliate_id,
                entries: &entries,
                by: &caller.subject,
                payout_entries_read,
            };
            match self.store.record_payouts(&commit).await {
                Ok(()) => {
                    tracing::info!(affiliate_id = %affiliate_id, by = %caller.subject, payouts = entries.len(), "payout recorded");
                    return Ok(view(&entries, true));
                }
                // Another payout was recorded meanwhile: read again (it may have been this one).
                Err(StoreError::Conflict(_)) if attempt == 0 => continue,
                Err(StoreError::Conflict(_)) => {
                    return Err(AdminError::Conflict {
                        message: "another payout was recorded at the same time; read the affiliate and try again".into(),
                        current: Value::Null,
                    })
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(AdminError::Internal)
    }
}
