//! The directory as ops change it: plans (a published version is never edited: a change is a new
//! version), affiliates (created, moved to a plan version, given a quality tier, their own
//! customer ids and emails — emails kept only as keyed hashes) and coupon codes (one affiliate
//! each; reassigning one is audited). Every change records who, when and why in an append-only
//! history item written in the same transaction as the change, keyed by the entry's version.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::error::AdminError;
use crate::email::EmailHasher;
use crate::engine::Affiliate;
use crate::events::{check_id, check_text, FieldError};
use crate::plans::{Plan, PlanError};

/// At most this many own customer ids or emails per affiliate (self-referral signals; an
/// affiliate has a handful of trading accounts).
pub const MAX_OWN_ACCOUNTS: usize = 50;

/// Body fields of each directory write.
pub const PUBLISH_PLAN_FIELDS: [&str; 2] = ["plan", "reason"];
pub const CREATE_AFFILIATE_FIELDS: [&str; 7] = [
    "affiliate_id",
    "plan_id",
    "plan_version",
    "quality_tier",
    "own_customer_ids",
    "own_emails",
    "reason",
];
pub const UPDATE_AFFILIATE_FIELDS: [&str; 6] = [
    "plan_id",
    "plan_version",
    "quality_tier",
    "own_customer_ids",
    "own_emails",
    "reason",
];
pub const ASSIGN_COUPON_FIELDS: [&str; 2] = ["affiliate_id", "reason"];
/// Recording a statement's payout: the statement's cut-off and why. The amount is never sent: it
/// is the statement's balance, computed from the ledger.
pub const RECORD_PAYOUT_FIELDS: [&str; 2] = ["cut_off", "reason"];

/// Who last changed a directory entry, and its version (each change adds one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EntryMeta {
    pub version: u64,
    pub updated_by: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// One change to a directory entry, as its history keeps it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DirectoryChange {
    /// `plan#{id}#{version}`, `affiliate#{id}` or `coupon#{code}`.
    pub target: String,
    /// The entry's version after this change.
    pub version: u64,
    pub action: String,
    pub by: String,
    pub at: DateTime<Utc>,
    pub reason: String,
    /// The entry before and after, as shown by the API (no email in clear, ever).
    pub before: Value,
    pub after: Value,
}

/// An affiliate as the API shows it: its own emails only as a count of hashes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AffiliateView {
    pub affiliate_id: String,
    pub plan_id: String,
    pub plan_version: u32,
    pub quality_tier: Option<String>,
    pub own_customer_ids: Vec<String>,
    pub own_email_count: usize,
    #[serde(flatten)]
    pub meta: EntryMeta,
}

impl AffiliateView {
    pub fn new(a: &Affiliate, meta: EntryMeta) -> Self {
        AffiliateView {
            affiliate_id: a.affiliate_id.clone(),
            plan_id: a.plan_id.clone(),
            plan_version: a.plan_version,
            quality_tier: a.quality_tier.clone(),
            own_customer_ids: a.own_customer_ids.clone(),
            own_email_count: a.own_email_hashes.len(),
            meta,
        }
    }

    /// The fields a change can touch, for the history's before/after.
    pub fn audited(a: &Affiliate) -> Value {
        serde_json::json!({
            "plan_id": a.plan_id,
            "plan_version": a.plan_version,
            "quality_tier": a.quality_tier,
            "own_customer_ids": a.own_customer_ids,
            "own_email_count": a.own_email_hashes.len(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CouponView {
    pub coupon_code: String,
    pub affiliate_id: String,
    #[serde(flatten)]
    pub meta: EntryMeta,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PublishPlan {
    pub plan: Plan,
    pub reason: String,
}

#[derive(Clone, PartialEq, Eq)]
pub struct CreateAffiliate {
    pub affiliate_id: String,
    pub plan_id: String,
    pub plan_version: u32,
    pub quality_tier: Option<String>,
    pub own_customer_ids: Vec<String>,
    /// In clear only in this request: hashed before anything is stored or logged.
    pub own_emails: Vec<String>,
    pub reason: String,
}

/// Never prints the emails, should a request ever be logged.
impl std::fmt::Debug for CreateAffiliate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateAffiliate")
            .field("affiliate_id", &self.affiliate_id)
            .field("plan_id", &self.plan_id)
            .field("plan_version", &self.plan_version)
            .field("quality_tier", &self.quality_tier)
            .field("own_customer_ids", &self.own_customer_ids)
            .field(
                "own_emails",
                &format_args!("<{} redacted>", self.own_emails.len()),
            )
            .field("reason", &self.reason)
            .finish()
    }
}

/// A partial change: what is absent stays as it is. `quality_tier: Some(None)` clears it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct UpdateAffiliate {
    pub plan: Option<(String, u32)>,
    pub quality_tier: Option<Option<String>>,
    pub own_customer_ids: Option<Vec<String>>,
    pub own_emails: Option<Vec<String>>,
    pub reason: String,
}

/// Never prints the emails, should a request ever be logged.
impl std::fmt::Debug for UpdateAffiliate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateAffiliate")
            .field("plan", &self.plan)
            .field("quality_tier", &self.quality_tier)
            .field("own_customer_ids", &self.own_customer_ids)
            .field(
                "own_emails",
                &self
                    .own_emails
                    .as_ref()
                    .map(|e| format!("<{} redacted>", e.len())),
            )
            .field("reason", &self.reason)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignCoupon {
    pub affiliate_id: String,
    pub reason: String,
}

/// Collects field errors; each parser below adds to it and returns what parsed.
#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    fn finish<T>(self, value: Option<T>) -> Result<T, AdminError> {
        match value {
            Some(v) if self.0.is_empty() => Ok(v),
            _ if self.0.is_empty() => Err(AdminError::invalid("body", "is not a valid request")),
            _ => Err(AdminError::Invalid(self.0)),
        }
    }

    fn reason(&mut self, object: &Map<String, Value>) -> Option<String> {
        match object.get("reason") {
            None => {
                self.add("reason", "is required: say why");
                None
            }
            Some(Value::String(r)) => match check_text(r) {
                Ok(r) => Some(r),
                Err(m) => {
                    self.add("reason", m);
                    None
                }
            },
            Some(_) => {
                self.add("reason", "must be a string");
                None
            }
        }
    }

    fn id(&mut self, object: &Map<String, Value>, field: &str, required: bool) -> Option<String> {
        match object.get(field) {
            None if required => {
                self.add(field, "is required");
                None
            }
            None => None,
            Some(Value::String(v)) => match check_id(v) {
                Ok(v) => Some(v),
                Err(m) => {
                    self.add(field, m);
                    None
                }
            },
            Some(_) => {
                self.add(field, "must be a string");
                None
            }
        }
    }

    fn version(&mut self, object: &Map<String, Value>, field: &str) -> Option<u32> {
        match object.get(field) {
            None => None,
            Some(v) => match v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n >= 1)
            {
                Some(n) => Some(n),
                None => {
                    self.add(field, "must be a whole number from 1");
                    None
                }
            },
        }
    }

    /// A list of at most `MAX_OWN_ACCOUNTS` strings, each checked by `check`.
    fn list(
        &mut self,
        object: &Map<String, Value>,
        field: &str,
        check: impl Fn(&str) -> Result<String, String>,
    ) -> Option<Vec<String>> {
        let value = object.get(field)?;
        let Some(items) = value.as_array() else {
            self.add(field, "must be a list of strings");
            return None;
        };
        if items.len() > MAX_OWN_ACCOUNTS {
            self.add(field, format!("holds at most {MAX_OWN_ACCOUNTS} entries"));
            return None;
        }
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item.as_str().map(&check) {
                Some(Ok(v)) if !out.contains(&v) => out.push(v),
                Some(Ok(_)) => {}
                Some(Err(m)) => self.add(&format!("{field}[{i}]"), m),
                None => self.add(&format!("{field}[{i}]"), "must be a string"),
            }
        }
        Some(out)
    }

    /// A quality tier: absent (keep), `null` (none) or a name.
    fn tier(&mut self, object: &Map<String, Value>) -> Option<Option<String>> {
        match object.get("quality_tier") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(t)) => match check_id(t) {
                Ok(t) => Some(Some(t)),
                Err(m) => {
                    self.add("quality_tier", m);
                    None
                }
            },
            Some(_) => {
                self.add("quality_tier", "must be a string or null");
                None
            }
        }
    }
}

/// An email as given for self-referral detection: checked for shape here (the hasher normalizes
/// and checks it again), never echoed back in an error.
fn email_shape(e: &str) -> Result<String, String> {
    let ok = e.len() <= 254
        && e.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'));
    if ok {
        Ok(e.to_owned())
    } else {
        Err("must be an email address such as \"trader@example.com\"".into())
    }
}

fn customer_id(c: &str) -> Result<String, String> {
    check_id(c)
}

pub fn publish_plan(object: &Map<String, Value>) -> Result<PublishPlan, AdminError> {
    let mut errors = Errors::default();
    let reason = errors.reason(object);
    let plan = match object.get("plan") {
        None => {
            errors.add("plan", "is required: the plan document (docs/plans.md)");
            None
        }
        Some(v) if !v.is_object() => {
            errors.add("plan", "must be a JSON object (docs/plans.md)");
            None
        }
        Some(v) => match Plan::from_json(&v.to_string()) {
            Ok(plan) => Some(plan),
            Err(PlanError::Json(m)) => {
                errors.add("plan", m);
                None
            }
            Err(PlanError::Invalid { field, problem, .. }) => {
                errors.add(&format!("plan.{field}"), problem);
                None
            }
        },
    };
    let value = match (plan, reason) {
        (Some(plan), Some(reason)) => Some(PublishPlan { plan, reason }),
        _ => None,
    };
    errors.finish(value)
}

pub fn create_affiliate(object: &Map<String, Value>) -> Result<CreateAffiliate, AdminError> {
    let mut errors = Errors::default();
    let reason = errors.reason(object);
    let affiliate_id = errors.id(object, "affiliate_id", true);
    let plan_id = errors.id(object, "plan_id", true);
    let plan_version = errors.version(object, "plan_version");
    if !object.contains_key("plan_version") {
        errors.add("plan_version", "is required");
    }
    let quality_tier = errors.tier(object).unwrap_or(None);
    let own_customer_ids = errors
        .list(object, "own_customer_ids", customer_id)
        .unwrap_or_default();
    let own_emails = errors
        .list(object, "own_emails", email_shape)
        .unwrap_or_default();
    let value = match (affiliate_id, plan_id, plan_version, reason) {
        (Some(affiliate_id), Some(plan_id), Some(plan_version), Some(reason)) => {
            Some(CreateAffiliate {
                affiliate_id,
                plan_id,
                plan_version,
                quality_tier,
                own_customer_ids,
                own_emails,
                reason,
            })
        }
        _ => None,
    };
    errors.finish(value)
}

pub fn update_affiliate(object: &Map<String, Value>) -> Result<UpdateAffiliate, AdminError> {
    let mut errors = Errors::default();
    let reason = errors.reason(object);
    let plan_id = errors.id(object, "plan_id", false);
    let plan_version = errors.version(object, "plan_version");
    // A plan is a version of a plan: both or neither.
    let plan = match (
        object.contains_key("plan_id"),
        object.contains_key("plan_version"),
    ) {
        (true, true) => plan_id.zip(plan_version),
        (false, false) => None,
        (true, false) => {
            errors.add("plan_version", "is required with plan_id");
            None
        }
        (false, true) => {
            errors.add("plan_id", "is required with plan_version");
            None
        }
    };
    let update = UpdateAffiliate {
        plan,
        quality_tier: errors.tier(object),
        own_customer_ids: errors.list(object, "own_customer_ids", customer_id),
        own_emails: errors.list(object, "own_emails", email_shape),
        reason: reason.clone().unwrap_or_default(),
    };
    let changes_something = update.plan.is_some()
        || update.quality_tier.is_some()
        || update.own_customer_ids.is_some()
        || update.own_emails.is_some();
    if !changes_something && errors.0.is_empty() {
        errors.add("body", "names nothing to change");
    }
    errors.finish(reason.map(|_| update))
}

pub fn assign_coupon(object: &Map<String, Value>) -> Result<AssignCoupon, AdminError> {
    let mut errors = Errors::default();
    let reason = errors.reason(object);
    let affiliate_id = errors.id(object, "affiliate_id", true);
    let value = affiliate_id
        .zip(reason)
        .map(|(affiliate_id, reason)| AssignCoupon {
            affiliate_id,
            reason,
        });
    errors.finish(value)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordPayout {
    pub cut_off: DateTime<Utc>,
    pub reason: String,
}

pub fn record_payout(object: &Map<String, Value>) -> Result<RecordPayout, AdminError> {
    let mut errors = Errors::default();
    let reason = errors.reason(object);
    let cut_off = match object.get("cut_off") {
        None => {
            errors.add("cut_off", "is required: the statement's cut-off (RFC 3339)");
            None
        }
        Some(Value::String(text)) => match DateTime::parse_from_rfc3339(text) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                errors.add(
                    "cut_off",
                    "must be an RFC 3339 instant such as 2026-11-30T23:59:59Z",
                );
                None
            }
        },
        Some(_) => {
            errors.add("cut_off", "must be a string");
            None
        }
    };
    errors.finish(
        cut_off
            .zip(reason)
            .map(|(cut_off, reason)| RecordPayout { cut_off, reason }),
    )
}

/// A coupon code as senders send it (`coupon_code` in a purchase): an id, kept as given.
pub fn coupon_code(code: &str) -> Result<String, AdminError> {
    check_id(code).map_err(|m| AdminError::invalid("coupon_code", m))
}

/// Hashes the emails with the ingest key (as the webhooks hash a purchase's email), so the
/// processor's self-referral check compares like with like.
pub fn hash_emails(hasher: &EmailHasher, emails: &[String]) -> Result<Vec<String>, AdminError> {
    let mut errors = Vec::new();
    let mut out = Vec::with_capacity(emails.len());
    for (i, e) in emails.iter().enumerate() {
        match hasher.hash(e) {
            Ok(h) if !out.contains(&h) => out.push(h),
            Ok(_) => {}
            Err(m) => errors.push(FieldError::new(format!("own_emails[{i}]"), m.to_string())),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(AdminError::Invalid(errors))
    }
}
