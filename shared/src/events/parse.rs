//! Turns a webhook's JSON body into a typed, normalized event, or into the full list of field
//! errors. Pure: no I/O, no clock of its own.

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

use super::fields::{FieldError, FieldReader};
use super::*;
use crate::email::EmailHasher;
use crate::money::ZeroAllowed;

/// How far in the future `occurred_at` may be (clock skew between the firm and us). Anything
/// later cannot have happened yet, and would let a sender steer time-based rules.
pub const OCCURRED_AT_FUTURE_TOLERANCE_SECONDS: i64 = 5 * 60;

/// Largest nominal account size accepted (a sanity bound, not a business rule).
const MAX_ACCOUNT_SIZE: Decimal = Decimal::from_parts(100_000_000, 0, 0, false, 0);
const HUNDRED: Decimal = Decimal::from_parts(100, 0, 0, false, 0);
/// Day counts beyond ten years are sender bugs.
const MAX_DAYS: u32 = 3650;

/// The common fields plus the typed payload of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedBody {
    pub customer_id: String,
    pub occurred_at: DateTime<Utc>,
    pub email_hash: Option<String>,
    pub payload: EventPayload,
}

pub fn parse_event_body(
    event_type: EventType,
    body: &Value,
    email_hasher: &EmailHasher,
    now: DateTime<Utc>,
) -> Result<ParsedBody, Vec<FieldError>> {
    let Value::Object(object) = body else {
        return Err(vec![FieldError::new("body", "must be a JSON object")]);
    };
    let mut r = FieldReader::new(object);

    let customer_id = r.id("customer_id");
    let occurred_at = r.timestamp("occurred_at");
    if let Some(t) = occurred_at {
        if t > now + Duration::seconds(OCCURRED_AT_FUTURE_TOLERANCE_SECONDS) {
            r.error("occurred_at", "is in the future");
        }
    }
    let email_hash = match r.optional_raw("email") {
        None => None,
        Some(email) => match email_hasher.hash(email) {
            Ok(h) => Some(h),
            Err(e) => {
                r.error("email", e.to_string());
                None
            }
        },
    };

    let payload = match event_type {
        EventType::Purchase => read_purchase(&mut r),
        EventType::Evaluation => read_evaluation(&mut r),
        EventType::Reset => read_reset(&mut r),
        EventType::Funded => read_funded(&mut r),
        EventType::Chargeback => read_chargeback(&mut r),
        EventType::Refund => read_refund(&mut r),
    };

    r.finish()?;
    match (customer_id, occurred_at, payload) {
        (Some(customer_id), Some(occurred_at), Some(payload)) => {
            Ok(ParsedBody { customer_id, occurred_at, email_hash, payload })
        }
        // Every None above pushed an error, so finish() has already returned them.
        _ => Err(vec![FieldError::new("body", "could not be read")]),
    }
}

fn read_purchase(r: &mut FieldReader) -> Option<EventPayload> {
    let transaction_id = r.id("transaction_id");
    let challenge_id = r.id("challenge_id");
    let tier = r.text("tier");
    let account_size = r.positive_decimal("account_size", MAX_ACCOUNT_SIZE);
    let price = r.money("amount", "currency", ZeroAllowed::Yes);
    let affiliate_id = r.optional_id("affiliate_id");
    let click_id = r.optional_id("click_id");
    let coupon_code = r.optional_id("coupon_code");
    Some(EventPayload::Purchase(Purchase {
        transaction_id: transaction_id?,
        challenge_id: challenge_id?,
        tier: tier?,
        account_size: account_size?,
        price: price?,
        affiliate_id,
        click_id,
        coupon_code,
    }))
}

const EVALUATION_FIELDS: [&str; 7] =
    ["challenge_id", "account_size", "start_date", "reason", "days_active", "pass_date", "days_to_pass"];

fn read_evaluation(r: &mut FieldReader) -> Option<EventPayload> {
    #[derive(Clone, Copy)]
    enum Status {
        Started,
        Failed,
        Passed,
    }
    let status = r.one_of("status", &[("started", Status::Started), ("failed", Status::Failed), ("passed", Status::Passed)]);
    let Some(status) = status else {
        // Without a status we cannot tell which fields belong; do not pile on "unknown field" noise.
        EVALUATION_FIELDS.into_iter().for_each(|f| r.allow(f));
        return None;
    };
    let challenge_id = r.id("challenge_id");
    match status {
        Status::Started => {
            let account_size = r.positive_decimal("account_size", MAX_ACCOUNT_SIZE);
            let start_date = r.date("start_date");
            Some(EventPayload::EvaluationStarted(EvaluationStarted {
                challenge_id: challenge_id?,
                account_size: account_size?,
                start_date: start_date?,
            }))
        }
        Status::Failed => {
            let reason = r.one_of(
                "reason",
                &[
                    ("drawdown_limit", FailureReason::DrawdownLimit),
                    ("time_expired", FailureReason::TimeExpired),
                    ("rule_violation", FailureReason::RuleViolation),
                ],
            );
            let days_active = r.count("days_active", MAX_DAYS);
            Some(EventPayload::EvaluationFailed(EvaluationFailed {
                challenge_id: challenge_id?,
                reason: reason?,
                days_active: days_active?,
            }))
        }
        Status::Passed => {
            let pass_date = r.date("pass_date");
            let days_to_pass = r.count("days_to_pass", MAX_DAYS);
            Some(EventPayload::EvaluationPassed(EvaluationPassed {
                challenge_id: challenge_id?,
                pass_date: pass_date?,
                days_to_pass: days_to_pass?,
            }))
        }
    }
}

fn read_reset(r: &mut FieldReader) -> Option<EventPayload> {
    let transaction_id = r.id("transaction_id");
    let original_challenge_id = r.id("original_challenge_id");
    let fee = r.money("amount", "currency", ZeroAllowed::No);
    Some(EventPayload::Reset(Reset {
        transaction_id: transaction_id?,
        original_challenge_id: original_challenge_id?,
        fee: fee?,
    }))
}

fn read_funded(r: &mut FieldReader) -> Option<EventPayload> {
    let account_id = r.id("account_id");
    let challenge_id = r.id("challenge_id");
    let account_size = r.positive_decimal("account_size", MAX_ACCOUNT_SIZE);
    let profit_split = r.positive_decimal("profit_split", HUNDRED);
    Some(EventPayload::Funded(Funded {
        account_id: account_id?,
        challenge_id: challenge_id?,
        account_size: account_size?,
        profit_split: profit_split?,
    }))
}

fn read_chargeback(r: &mut FieldReader) -> Option<EventPayload> {
    let original_transaction_id = r.id("original_transaction_id");
    let reason_code = r.id("reason_code");
    let disputed = r.money("amount", "currency", ZeroAllowed::No);
    let dispute_status = r.one_of(
        "dispute_status",
        &[("opened", DisputeStatus::Opened), ("won", DisputeStatus::Won), ("lost", DisputeStatus::Lost)],
    );
    Some(EventPayload::Chargeback(Chargeback {
        original_transaction_id: original_transaction_id?,
        reason_code: reason_code?,
        disputed: disputed?,
        dispute_status: dispute_status?,
    }))
}

fn read_refund(r: &mut FieldReader) -> Option<EventPayload> {
    let original_transaction_id = r.id("original_transaction_id");
    let refunded = r.money("amount", "currency", ZeroAllowed::No);
    let reason = r.text("reason");
    let new_tier = r.optional_text("new_tier");
    Some(EventPayload::Refund(Refund {
        original_transaction_id: original_transaction_id?,
        refunded: refunded?,
        reason: reason?,
        new_tier,
    }))
}
