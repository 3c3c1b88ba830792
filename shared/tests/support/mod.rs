//! Builders for engine tests: a small directory of plans, affiliates and coupons, and envelopes
//! for every event type.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use shared::engine::book::Book;
use shared::engine::{Affiliate, MemoryDirectory};
use shared::events::*;
use shared::ledger::Commission;
use shared::money::Money;
use shared::plans::Plan;

pub fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

pub fn usd(s: &str) -> Money {
    Money {
        amount: d(s),
        currency: "USD".parse().unwrap(),
    }
}

pub fn t0() -> DateTime<Utc> {
    "2026-11-02T12:00:00Z".parse().unwrap()
}

pub const HYBRID: &str = r#"{
  "plan_id": "hybrid", "version": 1, "currency": "USD",
  "attribution_window_days": 90, "cooling_off_hours": 48,
  "cpa_by_tier": {"50k": "40.00", "100k": "75.00"},
  "revshare_percent": "10", "resets_in_scope": true,
  "milestones": {"evaluation_passed": "25.00", "funded": "100.00"},
  "qualification": {"min_amount": "50.00"},
  "performance_steps": [{"min_qualified_purchases": 10, "rates": {"revshare_percent": "12.5"}}]
}"#;

pub const CPA_ONLY: &str = r#"{
  "plan_id": "cpa", "version": 1, "currency": "USD",
  "attribution_window_days": 30, "cooling_off_hours": 24,
  "cpa_by_tier": {"50k": "60.00", "100k": "100.00"}
}"#;

pub fn affiliate(id: &str, plan: &str) -> Affiliate {
    Affiliate {
        affiliate_id: id.into(),
        plan_id: plan.into(),
        plan_version: 1,
        quality_tier: None,
        own_customer_ids: vec![],
        own_email_hashes: vec![],
        qualified_by_month: BTreeMap::new(),
    }
}

pub fn directory() -> MemoryDirectory {
    let mut dir = MemoryDirectory::default();
    dir.add_plan(Plan::from_json(HYBRID).unwrap());
    dir.add_plan(Plan::from_json(CPA_ONLY).unwrap());
    dir.affiliates
        .insert("aff-a".into(), affiliate("aff-a", "hybrid"));
    dir.affiliates
        .insert("aff-b".into(), affiliate("aff-b", "cpa"));
    let mut own = affiliate("aff-self", "cpa");
    own.own_customer_ids = vec!["cust-self".into()];
    dir.affiliates.insert("aff-self".into(), own);
    dir.coupons.insert("ALPHA10".into(), "aff-a".into());
    dir.coupons.insert("BETA".into(), "aff-b".into());
    dir
}

pub fn envelope(
    id: &str,
    customer: &str,
    at: DateTime<Utc>,
    payload: EventPayload,
) -> EventEnvelope {
    envelope_with_email(id, customer, at, None, payload)
}

pub fn envelope_with_email(
    id: &str,
    customer: &str,
    at: DateTime<Utc>,
    email_hash: Option<&str>,
    payload: EventPayload,
) -> EventEnvelope {
    let content = serde_json::to_string(&(customer, at, email_hash, &payload)).unwrap();
    EventEnvelope {
        schema_version: ENVELOPE_SCHEMA_VERSION,
        event_id: id.into(),
        event_type: payload.event_type(),
        customer_id: customer.into(),
        occurred_at: at,
        received_at: at + Duration::seconds(1),
        email_hash: email_hash.map(str::to_owned),
        content_hash: blake3::hash(content.as_bytes()).to_hex().to_string(),
        payload,
    }
}

pub fn purchase(
    tx: &str,
    challenge: &str,
    tier: &str,
    amount: &str,
    affiliate: Option<&str>,
    coupon: Option<&str>,
) -> EventPayload {
    EventPayload::Purchase(Purchase {
        transaction_id: tx.into(),
        challenge_id: challenge.into(),
        tier: tier.into(),
        account_size: d("100000"),
        price: usd(amount),
        affiliate_id: affiliate.map(str::to_owned),
        click_id: affiliate.map(|_| "clk-1".to_owned()),
        coupon_code: coupon.map(str::to_owned),
    })
}

pub fn started(challenge: &str) -> EventPayload {
    EventPayload::EvaluationStarted(EvaluationStarted {
        challenge_id: challenge.into(),
        account_size: d("100000"),
        start_date: NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(),
    })
}

pub fn failed(challenge: &str) -> EventPayload {
    EventPayload::EvaluationFailed(EvaluationFailed {
        challenge_id: challenge.into(),
        reason: FailureReason::DrawdownLimit,
        days_active: 6,
    })
}

pub fn passed(challenge: &str) -> EventPayload {
    EventPayload::EvaluationPassed(EvaluationPassed {
        challenge_id: challenge.into(),
        pass_date: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
        days_to_pass: 18,
    })
}

pub fn reset(tx: &str, challenge: &str, fee: &str) -> EventPayload {
    EventPayload::Reset(Reset {
        transaction_id: tx.into(),
        original_challenge_id: challenge.into(),
        fee: usd(fee),
    })
}

pub fn funded(challenge: &str) -> EventPayload {
    EventPayload::Funded(Funded {
        account_id: format!("acct-{challenge}"),
        challenge_id: challenge.into(),
        account_size: d("100000"),
        profit_split: d("80"),
    })
}

pub fn refund(tx: &str, amount: &str, new_tier: Option<&str>) -> EventPayload {
    EventPayload::Refund(Refund {
        original_transaction_id: tx.into(),
        refunded: usd(amount),
        reason: "customer_request".into(),
        new_tier: new_tier.map(str::to_owned),
    })
}

pub fn chargeback(tx: &str, status: DisputeStatus) -> EventPayload {
    EventPayload::Chargeback(Chargeback {
        original_transaction_id: tx.into(),
        reason_code: "10.4".into(),
        disputed: usd("499.00"),
        dispute_status: status,
    })
}

/// A commission of the book, by id.
pub fn commission<'b>(book: &'b Book, id: &str) -> &'b Commission {
    book.commissions()
        .find(|c| c.commission_id == id)
        .unwrap_or_else(|| panic!("no commission {id}"))
}

/// Events parked for a customer, over all its records.
pub fn parked(book: &Book, customer: &str) -> usize {
    book.customer(customer)
        .records()
        .map(|(_, r)| r.parked().len())
        .sum()
}
