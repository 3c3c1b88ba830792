//! The rules for each kind of field, as pure functions over the field's text, and a reader that
//! applies them to a JSON object field by field, collecting every problem instead of stopping at
//! the first, so one 400 response tells the sender everything that is wrong.
//!
//! The typed fast path (`fast.rs`) applies the very same functions; only the reader reports.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value};

use super::{DisputeStatus, FailureReason};
use crate::money::{parse_amount_for, Currency, Money, ZeroAllowed};

/// One problem with one field of the request body, as shown in a 400 response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Identifiers (customer, transaction, challenge, affiliate, coupon …) must be usable as SQS
/// message group ids and DynamoDB keys: 1–128 printable ASCII characters, no spaces.
pub const MAX_ID_LEN: usize = 128;
/// Free-text fields (reasons, tier names) are bounded so a body cannot smuggle a novel into a key.
pub const MAX_TEXT_LEN: usize = 500;

// ---------------------------------------------------------------- rules, one per kind of field

pub fn check_id(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > MAX_ID_LEN || !s.bytes().all(|b| b.is_ascii_graphic()) {
        Err(format!(
            "must be 1-{MAX_ID_LEN} printable ASCII characters without spaces"
        ))
    } else {
        Ok(s.to_owned())
    }
}

pub fn check_text(s: &str) -> Result<String, String> {
    if s.trim().is_empty() || s.chars().count() > MAX_TEXT_LEN || s.chars().any(char::is_control) {
        Err(format!(
            "must be 1-{MAX_TEXT_LEN} characters of text without control characters"
        ))
    } else {
        Ok(s.to_owned())
    }
}

pub fn check_timestamp(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| "must be an RFC 3339 timestamp such as \"2026-11-02T14:03:00Z\"".to_owned())
}

pub fn check_date(s: &str) -> Result<NaiveDate, String> {
    match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        Ok(d) if s.len() == 10 => Ok(d),
        _ => Err("must be a date such as \"2026-11-02\"".to_owned()),
    }
}

pub fn check_count(n: Option<u64>, max: u32) -> Result<u32, String> {
    n.filter(|&v| v <= u64::from(max))
        .map(|v| v as u32)
        .ok_or_else(|| format!("must be a whole number from 0 to {max}"))
}

pub fn check_one_of<T: Copy>(s: &str, choices: &[(&str, T)]) -> Result<T, String> {
    choices
        .iter()
        .find(|(label, _)| *label == s)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|(l, _)| *l).collect();
            format!("must be one of: {}", names.join(", "))
        })
}

pub fn check_currency(s: &str) -> Result<Currency, String> {
    s.parse()
        .map_err(|_| "must be an ISO 4217 currency code such as \"USD\"".to_owned())
}

pub fn check_amount(
    s: &str,
    currency: Option<Currency>,
    zero: ZeroAllowed,
) -> Result<Decimal, String> {
    parse_amount_for(s, currency, zero).map_err(|e| e.to_string())
}

/// A positive decimal string that is not money (account size, profit split), bounded above.
pub fn check_positive_decimal(s: &str, max: Decimal) -> Result<Decimal, String> {
    let plain = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    plain
        .then(|| Decimal::from_str_exact(s).ok())
        .flatten()
        .filter(|v| *v > Decimal::ZERO && *v <= max)
        .ok_or_else(|| positive_decimal_message(max))
}

fn positive_decimal_message(max: Decimal) -> String {
    format!("must be a decimal string greater than 0 and at most {max}")
}

// ---------------------------------------------------------------- the reporting reader

pub struct FieldReader<'a> {
    object: &'a Map<String, Value>,
    /// Schema fields looked up so far, and how many of them the body has. When every key of the
    /// body is accounted for, there is no unknown field, and no set of names has to be kept.
    known: Vec<&'static str>,
    known_present: usize,
    errors: Vec<FieldError>,
}

impl<'a> FieldReader<'a> {
    pub fn new(object: &'a Map<String, Value>) -> Self {
        Self {
            object,
            known: Vec::with_capacity(16),
            known_present: 0,
            errors: Vec::new(),
        }
    }

    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// Marks a field as part of the schema without reading it (read elsewhere).
    pub fn allow(&mut self, name: &'static str) {
        self.get(name);
    }

    fn get(&mut self, name: &'static str) -> Option<&'a Value> {
        let found = self.object.get(name);
        // Count each name once, so a field read twice can never make up for an unknown one.
        if !self.known.contains(&name) {
            self.known.push(name);
            self.known_present += usize::from(found.is_some());
        }
        match found {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    fn string(&mut self, name: &'static str, required: bool) -> Option<&'a str> {
        match self.get(name) {
            None if required => {
                self.error(name, "is required");
                None
            }
            None => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => {
                self.error(name, "must be a string");
                None
            }
        }
    }

    /// Applies a rule, recording its message under the field's name.
    fn rule<T>(&mut self, name: &'static str, result: Result<T, String>) -> Option<T> {
        result.map_err(|message| self.error(name, message)).ok()
    }

    pub fn id(&mut self, name: &'static str) -> Option<String> {
        let s = self.string(name, true)?;
        self.rule(name, check_id(s))
    }

    pub fn optional_id(&mut self, name: &'static str) -> Option<String> {
        let s = self.string(name, false)?;
        self.rule(name, check_id(s))
    }

    pub fn text(&mut self, name: &'static str) -> Option<String> {
        let s = self.string(name, true)?;
        self.rule(name, check_text(s))
    }

    pub fn optional_text(&mut self, name: &'static str) -> Option<String> {
        let s = self.string(name, false)?;
        self.rule(name, check_text(s))
    }

    /// Raw optional string, for fields validated by their own module (email).
    pub fn optional_raw(&mut self, name: &'static str) -> Option<&'a str> {
        self.string(name, false)
    }

    /// A required string field checked by a rule that needs more than the text (e.g. `now`).
    pub fn required_with<T>(
        &mut self,
        name: &'static str,
        rule: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let s = self.string(name, true)?;
        self.rule(name, rule(s))
    }

    pub fn date(&mut self, name: &'static str) -> Option<NaiveDate> {
        let s = self.string(name, true)?;
        self.rule(name, check_date(s))
    }

    pub fn count(&mut self, name: &'static str, max: u32) -> Option<u32> {
        match self.get(name) {
            None => {
                self.error(name, "is required");
                None
            }
            Some(Value::Number(n)) => self.rule(name, check_count(n.as_u64(), max)),
            Some(_) => self.rule(name, check_count(None, max)),
        }
    }

    pub fn one_of<T: Copy>(&mut self, name: &'static str, choices: &[(&str, T)]) -> Option<T> {
        let s = self.string(name, true)?;
        self.rule(name, check_one_of(s, choices))
    }

    pub fn currency(&mut self, name: &'static str) -> Option<Currency> {
        let s = self.string(name, true)?;
        self.rule(name, check_currency(s))
    }

    /// `amount` + `currency` as one Money. The amount is checked against the currency's minor
    /// units only when the currency itself is valid; its other checks apply regardless.
    pub fn money(
        &mut self,
        amount: &'static str,
        currency: &'static str,
        zero: ZeroAllowed,
    ) -> Option<Money> {
        let currency_value = self.currency(currency);
        let text = match self.get(amount) {
            None => {
                self.error(amount, "is required");
                return None;
            }
            Some(Value::String(s)) => s.as_str(),
            Some(Value::Number(_)) => {
                self.error(
                    amount,
                    "must be a decimal string such as \"499.00\", not a JSON number",
                );
                return None;
            }
            Some(_) => {
                self.error(amount, "must be a decimal string such as \"499.00\"");
                return None;
            }
        };
        let value = self.rule(amount, check_amount(text, currency_value, zero))?;
        Some(Money {
            amount: value,
            currency: currency_value?,
        })
    }

    pub fn positive_decimal(&mut self, name: &'static str, max: Decimal) -> Option<Decimal> {
        match self.get(name) {
            None => {
                self.error(name, "is required");
                None
            }
            Some(Value::String(s)) => self.rule(name, check_positive_decimal(s, max)),
            Some(_) => {
                self.error(name, positive_decimal_message(max));
                None
            }
        }
    }

    /// Ends the read: any field the schema does not name is an error, so a misspelled optional
    /// field (say "cupon_code") is reported instead of silently losing an attribution.
    pub fn finish(mut self) -> Result<(), Vec<FieldError>> {
        if self.known_present < self.object.len() {
            let unknown: Vec<String> = self
                .object
                .keys()
                .filter(|k| !self.known.contains(&k.as_str()))
                .cloned()
                .collect();
            for key in unknown {
                self.errors.push(FieldError {
                    field: key,
                    message: "is not a field of this event type".to_owned(),
                });
            }
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}

// ------------------------------------------------------------------ the bounds every path applies

/// How far in the future `occurred_at` may be (clock skew between the firm and us). Anything
/// later cannot have happened yet, and would let a sender steer time-based rules.
pub const OCCURRED_AT_FUTURE_TOLERANCE_SECONDS: i64 = 5 * 60;

/// Largest nominal account size accepted (a sanity bound, not a business rule).
pub const ACCOUNT_SIZE_MAX: Decimal = Decimal::from_parts(100_000_000, 0, 0, false, 0);
/// A profit split is a percentage.
pub const PROFIT_SPLIT_MAX: Decimal = Decimal::from_parts(100, 0, 0, false, 0);
/// Day counts beyond ten years are sender bugs.
pub const MAX_DAYS: u32 = 3650;
pub const FAILURE_REASONS: &[(&str, FailureReason)] = &[
    ("drawdown_limit", FailureReason::DrawdownLimit),
    ("time_expired", FailureReason::TimeExpired),
    ("rule_violation", FailureReason::RuleViolation),
];
pub const DISPUTE_STATUSES: &[(&str, DisputeStatus)] = &[
    ("opened", DisputeStatus::Opened),
    ("won", DisputeStatus::Won),
    ("lost", DisputeStatus::Lost),
];

/// `occurred_at`: RFC 3339, and not later than the skew allowance after `now`.
pub fn check_occurred_at(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let t = check_timestamp(s)?;
    if t > now + chrono::Duration::seconds(OCCURRED_AT_FUTURE_TOLERANCE_SECONDS) {
        Err("is in the future".to_owned())
    } else {
        Ok(t)
    }
}
