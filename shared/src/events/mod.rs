//! Lifecycle events: the six webhook types, their typed payloads, and the normalized envelope
//! that travels on the queue.

mod canonical_json;
mod envelope;
mod fast;
mod fields;
mod parse;

pub use envelope::{seal, EventEnvelope, SealedEnvelope, ENVELOPE_SCHEMA_VERSION};
pub use fast::parse_fast;
pub use fields::{
    check_id, check_occurred_at, check_text, FieldError, OCCURRED_AT_FUTURE_TOLERANCE_SECONDS,
};
pub use parse::parse_event_body;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::email::EmailHasher;
use crate::money::Money;

/// Parses a webhook body from its bytes: the typed fast path when it accepts the body outright,
/// else the reporting reader, which lists every field error. (The two readers share the rules in
/// `fields` and know nothing of each other.)
pub fn parse_event_json(
    event_type: EventType,
    body: &[u8],
    email_hasher: &EmailHasher,
    now: DateTime<Utc>,
) -> Result<ParsedBody, Vec<FieldError>> {
    if let Some(parsed) = fast::parse_fast(event_type, body, email_hasher, now) {
        return Ok(parsed);
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| vec![FieldError::new("body", format!("is not valid JSON: {e}"))])?;
    parse::parse_event_body(event_type, &value, email_hasher, now)
}

/// The common fields plus the typed payload of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedBody {
    pub customer_id: String,
    pub occurred_at: DateTime<Utc>,
    pub email_hash: Option<String>,
    pub payload: EventPayload,
}

/// The six webhook endpoints, one Lambda each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    Purchase,
    Evaluation,
    Reset,
    Funded,
    Chargeback,
    Refund,
}

impl EventType {
    pub const ALL: [EventType; 6] = [
        EventType::Purchase,
        EventType::Evaluation,
        EventType::Reset,
        EventType::Funded,
        EventType::Chargeback,
        EventType::Refund,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Purchase => "purchase",
            EventType::Evaluation => "evaluation",
            EventType::Reset => "reset",
            EventType::Funded => "funded",
            EventType::Chargeback => "chargeback",
            EventType::Refund => "refund",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown event type {s:?}"))
    }
}

/// The normalized, typed content of one lifecycle event. Tagged by `kind` on the wire so the
/// processor can match on it without knowing which endpoint it came through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventPayload {
    Purchase(Purchase),
    EvaluationStarted(EvaluationStarted),
    EvaluationFailed(EvaluationFailed),
    EvaluationPassed(EvaluationPassed),
    Reset(Reset),
    Funded(Funded),
    Chargeback(Chargeback),
    Refund(Refund),
}

impl EventPayload {
    pub fn event_type(&self) -> EventType {
        match self {
            EventPayload::Purchase(_) => EventType::Purchase,
            EventPayload::EvaluationStarted(_)
            | EventPayload::EvaluationFailed(_)
            | EventPayload::EvaluationPassed(_) => EventType::Evaluation,
            EventPayload::Reset(_) => EventType::Reset,
            EventPayload::Funded(_) => EventType::Funded,
            EventPayload::Chargeback(_) => EventType::Chargeback,
            EventPayload::Refund(_) => EventType::Refund,
        }
    }
}

/// A challenge bought. Creates the attribution from the click/affiliate id or coupon it carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purchase {
    pub transaction_id: String,
    pub challenge_id: String,
    pub tier: String,
    /// Nominal trading account size (e.g. 100000): a product attribute, not money that moves.
    pub account_size: Decimal,
    pub price: Money,
    pub affiliate_id: Option<String>,
    pub click_id: Option<String>,
    pub coupon_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvaluationStarted {
    pub challenge_id: String,
    pub account_size: Decimal,
    pub start_date: NaiveDate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    DrawdownLimit,
    TimeExpired,
    RuleViolation,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvaluationFailed {
    pub challenge_id: String,
    pub reason: FailureReason,
    pub days_active: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvaluationPassed {
    pub challenge_id: String,
    pub pass_date: NaiveDate,
    pub days_to_pass: u32,
}

/// A reset bought for an existing challenge; commissionable when the plan's scope includes resets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reset {
    pub transaction_id: String,
    pub original_challenge_id: String,
    pub fee: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Funded {
    pub account_id: String,
    pub challenge_id: String,
    pub account_size: Decimal,
    /// The trader's share of profits in percent, 0 < split <= 100.
    pub profit_split: Decimal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputeStatus {
    Opened,
    Won,
    Lost,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chargeback {
    pub original_transaction_id: String,
    pub reason_code: String,
    pub disputed: Money,
    pub dispute_status: DisputeStatus,
}

/// A refund, full or partial; `new_tier` is set when the refund is a downgrade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub original_transaction_id: String,
    pub refunded: Money,
    pub reason: String,
    pub new_tier: Option<String>,
}
