//! The typed fast path for well-formed bodies: the JSON is deserialized straight into borrowed,
//! closed (`deny_unknown_fields`) wire structs, and each value goes through the same rule
//! functions as the reporting reader. Whatever it does not accept outright (a type error, an
//! unknown or duplicate field, a value a rule rejects) returns `None`, and the caller falls back to
//! the reader, which produces the full list of field errors. So the fast path decides nothing on
//! its own: it may only accept what the reader accepts, with the same result (property-tested).

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};

use super::fields::*;
use super::*;
use crate::email::EmailHasher;
use crate::money::ZeroAllowed;

/// A string field, borrowed from the body unless it had escapes to undo. (serde borrows a
/// `#[serde(borrow)] Cow<str>` field only when it is spelled exactly so, not inside `Option` or
/// behind an alias; this type borrows wherever it is, so a typical body allocates nothing here.)
#[derive(PartialEq)]
struct Text<'a>(Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> serde::de::Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(TextVisitor)
    }
}

/// Absent → None, `null` → Some(None), a value → Some(Some(v)): the reader treats a field that is
/// present but null differently from one that is absent when the field is foreign to the event.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PurchaseWire<'a> {
    #[serde(borrow)]
    customer_id: Text<'a>,
    #[serde(borrow)]
    occurred_at: Text<'a>,
    #[serde(borrow)]
    email: Option<Text<'a>>,
    #[serde(borrow)]
    transaction_id: Text<'a>,
    #[serde(borrow)]
    challenge_id: Text<'a>,
    #[serde(borrow)]
    tier: Text<'a>,
    #[serde(borrow)]
    account_size: Text<'a>,
    #[serde(borrow)]
    amount: Text<'a>,
    #[serde(borrow)]
    currency: Text<'a>,
    #[serde(borrow)]
    affiliate_id: Option<Text<'a>>,
    #[serde(borrow)]
    click_id: Option<Text<'a>>,
    #[serde(borrow)]
    coupon_code: Option<Text<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EvaluationWire<'a> {
    #[serde(borrow)]
    customer_id: Text<'a>,
    #[serde(borrow)]
    occurred_at: Text<'a>,
    #[serde(borrow)]
    email: Option<Text<'a>>,
    #[serde(borrow)]
    challenge_id: Text<'a>,
    #[serde(borrow)]
    status: Text<'a>,
    #[serde(default, borrow, deserialize_with = "present")]
    account_size: Option<Option<Text<'a>>>,
    #[serde(default, borrow, deserialize_with = "present")]
    start_date: Option<Option<Text<'a>>>,
    #[serde(default, borrow, deserialize_with = "present")]
    reason: Option<Option<Text<'a>>>,
    #[serde(default, deserialize_with = "present")]
    days_active: Option<Option<u64>>,
    #[serde(default, borrow, deserialize_with = "present")]
    pass_date: Option<Option<Text<'a>>>,
    #[serde(default, deserialize_with = "present")]
    days_to_pass: Option<Option<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetWire<'a> {
    #[serde(borrow)]
    customer_id: Text<'a>,
    #[serde(borrow)]
    occurred_at: Text<'a>,
    #[serde(borrow)]
    email: Option<Text<'a>>,
    #[serde(borrow)]
    transaction_id: Text<'a>,
    #[serde(borrow)]
    original_challenge_id: Text<'a>,
    #[serde(borrow)]
    amount: Text<'a>,
    #[serde(borrow)]
    currency: Text<'a>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FundedWire<'a> {
    #[serde(borrow)]
    customer_id: Text<'a>,
    #[serde(borrow)]
    occurred_at: Text<'a>,
    #[serde(borrow)]
    email: Option<Text<'a>>,
    #[serde(borrow)]
    account_id: Text<'a>,
    #[serde(borrow)]
    challenge_id: Text<'a>,
    #[serde(borrow)]
    account_size: Text<'a>,
    #[serde(borrow)]
    profit_split: Text<'a>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChargebackWire<'a> {
    #[serde(borrow)]
    customer_id: Text<'a>,
    #[serde(borrow)]
    occurred_at: Text<'a>,
    #[serde(borrow)]
    email: Option<Text<'a>>,
    #[serde(borrow)]
    original_transaction_id: Text<'a>,
    #[serde(borrow)]
    reason_code: Text<'a>,
    #[serde(borrow)]
    amount: Text<'a>,
    #[serde(borrow)]
    currency: Text<'a>,
    #[serde(borrow)]
    dispute_status: Text<'a>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefundWire<'a> {
    #[serde(borrow)]
    customer_id: Text<'a>,
    #[serde(borrow)]
    occurred_at: Text<'a>,
    #[serde(borrow)]
    email: Option<Text<'a>>,
    #[serde(borrow)]
    original_transaction_id: Text<'a>,
    #[serde(borrow)]
    amount: Text<'a>,
    #[serde(borrow)]
    currency: Text<'a>,
    #[serde(borrow)]
    reason: Text<'a>,
    #[serde(borrow)]
    new_tier: Option<Text<'a>>,
}

struct Common {
    customer_id: String,
    occurred_at: DateTime<Utc>,
    email_hash: Option<String>,
}

fn common(
    customer_id: &str,
    occurred_at: &str,
    email: Option<&str>,
    hasher: &EmailHasher,
    now: DateTime<Utc>,
) -> Option<Common> {
    Some(Common {
        customer_id: check_id(customer_id).ok()?,
        occurred_at: check_occurred_at(occurred_at, now).ok()?,
        email_hash: match email {
            None => None,
            Some(e) => Some(hasher.hash(e).ok()?),
        },
    })
}

/// An optional field: absent is fine; present, it must pass its rule.
fn optional<T>(v: Option<Text>, rule: impl Fn(&str) -> Result<T, String>) -> Option<Option<T>> {
    match v {
        None => Some(None),
        Some(s) => rule(&s).ok().map(Some),
    }
}

fn money(amount: &str, currency: &str, zero: ZeroAllowed) -> Option<Money> {
    let currency = check_currency(currency).ok()?;
    Some(Money {
        amount: check_amount(amount, Some(currency), zero).ok()?,
        currency,
    })
}

/// `Some` only for a body the reporting reader would accept, with the same result.
pub fn parse_fast(
    event_type: EventType,
    body: &[u8],
    hasher: &EmailHasher,
    now: DateTime<Utc>,
) -> Option<ParsedBody> {
    // One UTF-8 check of the whole body (ASCII goes word at a time) instead of one per string, as
    // `from_slice` would do: `from_str` then trusts the text.
    let body = std::str::from_utf8(body).ok()?;
    let (c, payload) = match event_type {
        EventType::Purchase => {
            let w: PurchaseWire = serde_json::from_str(body).ok()?;
            let c = common(
                &w.customer_id,
                &w.occurred_at,
                w.email.as_deref(),
                hasher,
                now,
            )?;
            (
                c,
                EventPayload::Purchase(Purchase {
                    transaction_id: check_id(&w.transaction_id).ok()?,
                    challenge_id: check_id(&w.challenge_id).ok()?,
                    tier: check_text(&w.tier).ok()?,
                    account_size: check_positive_decimal(&w.account_size, ACCOUNT_SIZE_MAX).ok()?,
                    price: money(&w.amount, &w.currency, ZeroAllowed::Yes)?,
                    affiliate_id: optional(w.affiliate_id, check_id)?,
                    click_id: optional(w.click_id, check_id)?,
                    coupon_code: optional(w.coupon_code, check_id)?,
                }),
            )
        }
        EventType::Evaluation => {
            let w: EvaluationWire = serde_json::from_str(body).ok()?;
            let c = common(
                &w.customer_id,
                &w.occurred_at,
                w.email.as_deref(),
                hasher,
                now,
            )?;
            let challenge_id = check_id(&w.challenge_id).ok()?;
            let payload = match &*w.status {
                "started"
                    if (&w.reason, &w.days_active, &w.pass_date, &w.days_to_pass)
                        == (&None, &None, &None, &None) =>
                {
                    EventPayload::EvaluationStarted(EvaluationStarted {
                        challenge_id,
                        account_size: check_positive_decimal(
                            w.account_size.flatten().as_deref()?,
                            ACCOUNT_SIZE_MAX,
                        )
                        .ok()?,
                        start_date: check_date(w.start_date.flatten().as_deref()?).ok()?,
                    })
                }
                "failed"
                    if (
                        &w.account_size,
                        &w.start_date,
                        &w.pass_date,
                        &w.days_to_pass,
                    ) == (&None, &None, &None, &None) =>
                {
                    EventPayload::EvaluationFailed(EvaluationFailed {
                        challenge_id,
                        reason: check_one_of(w.reason.flatten().as_deref()?, FAILURE_REASONS)
                            .ok()?,
                        days_active: check_count(w.days_active.flatten(), MAX_DAYS).ok()?,
                    })
                }
                "passed"
                    if (&w.account_size, &w.start_date, &w.reason, &w.days_active)
                        == (&None, &None, &None, &None) =>
                {
                    EventPayload::EvaluationPassed(EvaluationPassed {
                        challenge_id,
                        pass_date: check_date(w.pass_date.flatten().as_deref()?).ok()?,
                        days_to_pass: check_count(w.days_to_pass.flatten(), MAX_DAYS).ok()?,
                    })
                }
                _ => return None,
            };
            (c, payload)
        }
        EventType::Reset => {
            let w: ResetWire = serde_json::from_str(body).ok()?;
            let c = common(
                &w.customer_id,
                &w.occurred_at,
                w.email.as_deref(),
                hasher,
                now,
            )?;
            (
                c,
                EventPayload::Reset(Reset {
                    transaction_id: check_id(&w.transaction_id).ok()?,
                    original_challenge_id: check_id(&w.original_challenge_id).ok()?,
                    fee: money(&w.amount, &w.currency, ZeroAllowed::No)?,
                }),
            )
        }
        EventType::Funded => {
            let w: FundedWire = serde_json::from_str(body).ok()?;
            let c = common(
                &w.customer_id,
                &w.occurred_at,
                w.email.as_deref(),
                hasher,
                now,
            )?;
            (
                c,
                EventPayload::Funded(Funded {
                    account_id: check_id(&w.account_id).ok()?,
                    challenge_id: check_id(&w.challenge_id).ok()?,
                    account_size: check_positive_decimal(&w.account_size, ACCOUNT_SIZE_MAX).ok()?,
                    profit_split: check_positive_decimal(&w.profit_split, PROFIT_SPLIT_MAX).ok()?,
                }),
            )
        }
        EventType::Chargeback => {
            let w: ChargebackWire = serde_json::from_str(body).ok()?;
            let c = common(
                &w.customer_id,
                &w.occurred_at,
                w.email.as_deref(),
                hasher,
                now,
            )?;
            (
                c,
                EventPayload::Chargeback(Chargeback {
                    original_transaction_id: check_id(&w.original_transaction_id).ok()?,
                    reason_code: check_id(&w.reason_code).ok()?,
                    disputed: money(&w.amount, &w.currency, ZeroAllowed::No)?,
                    dispute_status: check_one_of(&w.dispute_status, DISPUTE_STATUSES).ok()?,
                }),
            )
        }
        EventType::Refund => {
            let w: RefundWire = serde_json::from_str(body).ok()?;
            let c = common(
                &w.customer_id,
                &w.occurred_at,
                w.email.as_deref(),
                hasher,
                now,
            )?;
            (
                c,
                EventPayload::Refund(Refund {
                    original_transaction_id: check_id(&w.original_transaction_id).ok()?,
                    refunded: money(&w.amount, &w.currency, ZeroAllowed::No)?,
                    reason: check_text(&w.reason).ok()?,
                    new_tier: optional(w.new_tier, check_text)?,
                }),
            )
        }
    };
    Some(ParsedBody {
        customer_id: c.customer_id,
        occurred_at: c.occurred_at,
        email_hash: c.email_hash,
        payload,
    })
}
