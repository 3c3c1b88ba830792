//! Reads a JSON object field by field, collecting every problem instead of stopping at the first,
//! so one 400 response tells the sender everything that is wrong.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value};

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

    fn check_id(&mut self, name: &'static str, s: &str) -> Option<String> {
        if s.is_empty() || s.len() > MAX_ID_LEN || !s.bytes().all(|b| b.is_ascii_graphic()) {
            self.error(
                name,
                format!("must be 1-{MAX_ID_LEN} printable ASCII characters without spaces"),
            );
            None
        } else {
            Some(s.to_owned())
        }
    }

    fn check_text(&mut self, name: &'static str, s: &str) -> Option<String> {
        if s.trim().is_empty()
            || s.chars().count() > MAX_TEXT_LEN
            || s.chars().any(char::is_control)
        {
            self.error(
                name,
                format!("must be 1-{MAX_TEXT_LEN} characters of text without control characters"),
            );
            None
        } else {
            Some(s.to_owned())
        }
    }

    pub fn id(&mut self, name: &'static str) -> Option<String> {
        let s = self.string(name, true)?;
        self.check_id(name, s)
    }

    pub fn optional_id(&mut self, name: &'static str) -> Option<String> {
        let s = self.string(name, false)?;
        self.check_id(name, s)
    }

    pub fn text(&mut self, name: &'static str) -> Option<String> {
        let s = self.string(name, true)?;
        self.check_text(name, s)
    }

    pub fn optional_text(&mut self, name: &'static str) -> Option<String> {
        let s = self.string(name, false)?;
        self.check_text(name, s)
    }

    /// Raw optional string, for fields validated by their own module (email).
    pub fn optional_raw(&mut self, name: &'static str) -> Option<&'a str> {
        self.string(name, false)
    }

    pub fn timestamp(&mut self, name: &'static str) -> Option<DateTime<Utc>> {
        let s = self.string(name, true)?;
        match DateTime::parse_from_rfc3339(s) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                self.error(
                    name,
                    "must be an RFC 3339 timestamp such as \"2026-11-02T14:03:00Z\"",
                );
                None
            }
        }
    }

    pub fn date(&mut self, name: &'static str) -> Option<NaiveDate> {
        let s = self.string(name, true)?;
        match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            Ok(d) if s.len() == 10 => Some(d),
            _ => {
                self.error(name, "must be a date such as \"2026-11-02\"");
                None
            }
        }
    }

    pub fn count(&mut self, name: &'static str, max: u32) -> Option<u32> {
        match self.get(name) {
            None => {
                self.error(name, "is required");
                None
            }
            Some(Value::Number(n)) => match n.as_u64().filter(|&v| v <= u64::from(max)) {
                Some(v) => Some(v as u32),
                None => {
                    self.error(name, format!("must be a whole number from 0 to {max}"));
                    None
                }
            },
            Some(_) => {
                self.error(name, format!("must be a whole number from 0 to {max}"));
                None
            }
        }
    }

    pub fn one_of<T: Copy>(&mut self, name: &'static str, choices: &[(&str, T)]) -> Option<T> {
        let s = self.string(name, true)?;
        match choices.iter().find(|(label, _)| *label == s) {
            Some((_, v)) => Some(*v),
            None => {
                let names: Vec<&str> = choices.iter().map(|(l, _)| *l).collect();
                self.error(name, format!("must be one of: {}", names.join(", ")));
                None
            }
        }
    }

    pub fn currency(&mut self, name: &'static str) -> Option<Currency> {
        let s = self.string(name, true)?;
        match s.parse() {
            Ok(c) => Some(c),
            Err(_) => {
                self.error(name, "must be an ISO 4217 currency code such as \"USD\"");
                None
            }
        }
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
        match parse_amount_for(text, currency_value, zero) {
            Ok(value) => Some(Money {
                amount: value,
                currency: currency_value?,
            }),
            Err(e) => {
                self.error(amount, e.to_string());
                None
            }
        }
    }

    /// A positive decimal string that is not money (account size, profit split), bounded above.
    pub fn positive_decimal(&mut self, name: &'static str, max: Decimal) -> Option<Decimal> {
        let message = format!("must be a decimal string greater than 0 and at most {max}");
        let value = match self.get(name) {
            None => {
                self.error(name, "is required");
                return None;
            }
            Some(Value::String(s)) => {
                let plain = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.');
                plain.then(|| Decimal::from_str_exact(s).ok()).flatten()
            }
            Some(_) => None,
        };
        match value.filter(|v| *v > Decimal::ZERO && *v <= max) {
            Some(v) => Some(v),
            None => {
                self.error(name, message);
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
                self.error_owned(key, "is not a field of this event type");
            }
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }

    fn error_owned(&mut self, field: String, message: &str) {
        self.errors.push(FieldError {
            field,
            message: message.to_owned(),
        });
    }
}
