//! A ledger item as finance reads it from a DynamoDB export: the entry, when it was booked
//! (`recorded_at`) and its place in its commission's write order (`record_version`). Payouts are
//! ledger items too (`kind = payout`), one per affiliate, statement and currency.

use std::borrow::Cow;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::ledger::{CommissionStatus, EntryKind};
use crate::money::{Currency, MAX_AMOUNT};

/// What a booked line is: a commission's ledger entry, or a payout to the affiliate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookedKind {
    Entry(EntryKind),
    Payout,
}

impl BookedKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BookedKind::Entry(k) => k.as_str(),
            BookedKind::Payout => PAYOUT_KIND,
        }
    }
}

/// The `kind` of a payout item.
pub const PAYOUT_KIND: &str = "payout";
/// The `status` of a payout item.
pub const PAYOUT_STATUS: &str = "paid";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookedEntry {
    pub affiliate_id: String,
    pub entry_id: String,
    /// For a payout: `payout#{statement_id}#{currency}` (each payout is its own line of account).
    pub commission_id: String,
    pub customer_id: Option<String>,
    pub kind: BookedKind,
    pub amount: Decimal,
    pub currency: Currency,
    /// None for a payout.
    pub status: Option<CommissionStatus>,
    pub event_id: Option<String>,
    pub effective_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    /// The commission's write order (0 when the writer had none to give).
    pub record_version: u64,
    pub reason: String,
    pub corrects: Option<String>,
    /// For a payout: the statement it paid.
    pub statement_id: Option<String>,
}

/// What is wrong with one exported item; the reader adds the file and line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ItemError {
    #[error("not a DynamoDB JSON export line: {0}")]
    Json(String),
    #[error("{field} is missing")]
    Missing { field: &'static str },
    #[error("{field} must be a DynamoDB {expected}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
    #[error("{field} {value:?} is invalid: {why}")]
    Invalid {
        field: &'static str,
        value: String,
        why: String,
    },
}

/// One DynamoDB JSON attribute value; only the types ledger items use are read (another type
/// reads as neither and is reported as the wrong type).
#[derive(Deserialize)]
struct Av<'a> {
    #[serde(rename = "S", borrow, default)]
    s: Option<Cow<'a, str>>,
    #[serde(rename = "N", borrow, default)]
    n: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct RawItem<'a> {
    #[serde(borrow)]
    affiliate_id: Option<Av<'a>>,
    #[serde(borrow)]
    entry_id: Option<Av<'a>>,
    #[serde(borrow)]
    commission_id: Option<Av<'a>>,
    #[serde(borrow)]
    customer_id: Option<Av<'a>>,
    #[serde(borrow)]
    kind: Option<Av<'a>>,
    #[serde(borrow)]
    amount: Option<Av<'a>>,
    #[serde(borrow)]
    currency: Option<Av<'a>>,
    #[serde(borrow)]
    status: Option<Av<'a>>,
    #[serde(borrow)]
    event_id: Option<Av<'a>>,
    #[serde(borrow)]
    effective_at: Option<Av<'a>>,
    #[serde(borrow)]
    recorded_at: Option<Av<'a>>,
    #[serde(borrow)]
    record_version: Option<Av<'a>>,
    #[serde(borrow)]
    reason: Option<Av<'a>>,
    #[serde(borrow)]
    corrects: Option<Av<'a>>,
    #[serde(borrow)]
    statement_id: Option<Av<'a>>,
}

#[derive(Deserialize)]
struct RawLine<'a> {
    #[serde(rename = "Item", borrow)]
    item: RawItem<'a>,
}

fn string<'a>(field: &'static str, v: &'a Option<Av<'a>>) -> Result<&'a str, ItemError> {
    match v {
        None => Err(ItemError::Missing { field }),
        Some(Av { s: Some(s), .. }) => Ok(s),
        Some(_) => Err(ItemError::WrongType {
            field,
            expected: "string (S)",
        }),
    }
}

fn optional_string(field: &'static str, v: &Option<Av<'_>>) -> Result<Option<String>, ItemError> {
    match v {
        None => Ok(None),
        Some(_) => string(field, v).map(|s| Some(s.to_owned())),
    }
}

fn number<'a>(field: &'static str, v: &'a Option<Av<'a>>) -> Result<&'a str, ItemError> {
    match v {
        None => Err(ItemError::Missing { field }),
        Some(Av { n: Some(n), .. }) => Ok(n),
        Some(_) => Err(ItemError::WrongType {
            field,
            expected: "number (N)",
        }),
    }
}

fn instant(field: &'static str, v: &Option<Av<'_>>) -> Result<DateTime<Utc>, ItemError> {
    let s = string(field, v)?;
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| ItemError::Invalid {
            field,
            value: s.to_owned(),
            why: format!("not an RFC 3339 instant ({e})"),
        })
}

fn invalid(field: &'static str, value: &str, why: impl Into<String>) -> ItemError {
    ItemError::Invalid {
        field,
        value: value.to_owned(),
        why: why.into(),
    }
}

impl BookedEntry {
    /// Parses one line of a DynamoDB JSON export (`{"Item": {...}}`) of the ledger table.
    pub fn from_export_line(line: &str) -> Result<Self, ItemError> {
        let raw: RawLine<'_> =
            serde_json::from_str(line).map_err(|e| ItemError::Json(e.to_string()))?;
        Self::from_raw(&raw.item)
    }

    fn from_raw(i: &RawItem<'_>) -> Result<Self, ItemError> {
        let currency_code = string("currency", &i.currency)?;
        let currency = Currency::from_str(currency_code)
            .map_err(|_| invalid("currency", currency_code, "not an ISO 4217 currency code"))?;
        let amount_text = number("amount", &i.amount)?;
        let amount = Decimal::from_str_exact(amount_text)
            .or_else(|_| Decimal::from_scientific(amount_text))
            .map_err(|_| invalid("amount", amount_text, "not a decimal number"))?;
        if amount.abs() > MAX_AMOUNT {
            return Err(invalid("amount", amount_text, "beyond the largest amount"));
        }
        if amount.normalize().scale() > u32::from(currency.minor_units()) {
            return Err(invalid(
                "amount",
                amount_text,
                format!(
                    "finer than {currency_code}'s {} decimals",
                    currency.minor_units()
                ),
            ));
        }
        let kind_text = string("kind", &i.kind)?;
        let status_text = string("status", &i.status)?;
        let (kind, status) = if kind_text == PAYOUT_KIND {
            if status_text != PAYOUT_STATUS {
                return Err(invalid(
                    "status",
                    status_text,
                    format!("a payout's status is {PAYOUT_STATUS:?}"),
                ));
            }
            if amount >= Decimal::ZERO {
                return Err(invalid("amount", amount_text, "a payout is negative"));
            }
            (BookedKind::Payout, None)
        } else {
            // The words as_str writes, matched directly (a hot path: one per exported item).
            let kind = EntryKind::ALL
                .into_iter()
                .find(|k| k.as_str() == kind_text)
                .ok_or_else(|| {
                    invalid(
                        "kind",
                        kind_text,
                        format!("unknown entry kind {kind_text:?}"),
                    )
                })?;
            let status = CommissionStatus::ALL
                .into_iter()
                .find(|s| s.as_str() == status_text)
                .ok_or_else(|| {
                    invalid(
                        "status",
                        status_text,
                        format!("unknown commission status {status_text:?}"),
                    )
                })?;
            (BookedKind::Entry(kind), Some(status))
        };
        let record_version = match &i.record_version {
            None => 0,
            Some(_) => {
                let t = number("record_version", &i.record_version)?;
                t.parse::<u64>()
                    .map_err(|_| invalid("record_version", t, "not a whole number"))?
            }
        };
        let statement_id = optional_string("statement_id", &i.statement_id)?;
        if kind == BookedKind::Payout && statement_id.is_none() {
            return Err(ItemError::Missing {
                field: "statement_id",
            });
        }
        Ok(BookedEntry {
            affiliate_id: string("affiliate_id", &i.affiliate_id)?.to_owned(),
            entry_id: string("entry_id", &i.entry_id)?.to_owned(),
            commission_id: string("commission_id", &i.commission_id)?.to_owned(),
            customer_id: optional_string("customer_id", &i.customer_id)?,
            kind,
            amount,
            currency,
            status,
            event_id: optional_string("event_id", &i.event_id)?,
            effective_at: instant("effective_at", &i.effective_at)?,
            recorded_at: instant("recorded_at", &i.recorded_at)?,
            record_version,
            reason: string("reason", &i.reason)?.to_owned(),
            corrects: optional_string("corrects", &i.corrects)?,
            statement_id,
        })
    }
}

impl BookedEntry {
    /// The entry as a DynamoDB JSON export line (what the adapter writes, as DynamoDB exports it).
    pub fn to_export_line(&self) -> String {
        use serde_json::{json, Map, Value};
        let mut item = Map::new();
        let mut s = |k: &str, v: &str| {
            item.insert(k.to_owned(), json!({ "S": v }));
        };
        s("affiliate_id", &self.affiliate_id);
        s("entry_id", &self.entry_id);
        s("commission_id", &self.commission_id);
        s("kind", self.kind.as_str());
        s("currency", self.currency.code());
        s(
            "status",
            self.status.map_or(PAYOUT_STATUS, |st| st.as_str()),
        );
        s(
            "effective_at",
            &self
                .effective_at
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        );
        s(
            "recorded_at",
            &self
                .recorded_at
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        );
        s("reason", &self.reason);
        for (k, v) in [
            ("customer_id", &self.customer_id),
            ("event_id", &self.event_id),
            ("corrects", &self.corrects),
            ("statement_id", &self.statement_id),
        ] {
            if let Some(v) = v {
                s(k, v);
            }
        }
        item.insert(
            "amount".into(),
            json!({ "N": self.amount.normalize().to_string() }),
        );
        if self.record_version > 0 {
            item.insert(
                "record_version".into(),
                json!({ "N": self.record_version.to_string() }),
            );
        }
        json!({ "Item": Value::Object(item) }).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"Item":{"affiliate_id":{"S":"aff-alpha"},"entry_id":{"S":"evt-1#0"},"commission_id":{"S":"evt-1#0"},"customer_id":{"S":"cust-1"},"kind":{"S":"commission"},"amount":{"N":"124.9"},"currency":{"S":"USD"},"status":{"S":"pending"},"plan_id":{"S":"alpha"},"plan_version":{"N":"1"},"event_id":{"S":"evt-1"},"effective_at":{"S":"2026-11-02T10:00:00Z"},"recorded_at":{"S":"2026-11-02T10:00:01.5Z"},"record_version":{"N":"3"},"reason":{"S":"purchase"}}}"#;

    #[test]
    fn reads_a_ledger_item_exactly() {
        let e = BookedEntry::from_export_line(LINE).unwrap();
        assert_eq!(e.affiliate_id, "aff-alpha");
        assert_eq!(e.amount, Decimal::from_str("124.90").unwrap());
        assert_eq!(e.kind, BookedKind::Entry(EntryKind::Commission));
        assert_eq!(e.status, Some(CommissionStatus::Pending));
        assert_eq!(e.record_version, 3);
        assert_eq!(e.event_id.as_deref(), Some("evt-1"));
        assert_eq!(e.recorded_at.to_rfc3339(), "2026-11-02T10:00:01.500+00:00");
    }

    #[test]
    fn names_the_field_that_is_wrong() {
        let cases = [
            (
                LINE.replace(r#"{"N":"124.9"}"#, r#"{"N":"12x"}"#),
                "amount \"12x\" is invalid: not a decimal number",
            ),
            (
                LINE.replace(r#"{"N":"124.9"}"#, r#"{"S":"124.9"}"#),
                "amount must be a DynamoDB number (N)",
            ),
            (
                LINE.replace(r#"{"N":"124.9"}"#, r#"{"N":"124.901"}"#),
                "amount \"124.901\" is invalid: finer than USD's 2 decimals",
            ),
            (
                LINE.replace(r#""currency":{"S":"USD"},"#, ""),
                "currency is missing",
            ),
            (
                LINE.replace(r#"{"S":"USD"}"#, r#"{"S":"usd"}"#),
                "currency \"usd\" is invalid: not an ISO 4217 currency code",
            ),
            (
                LINE.replace(r#""recorded_at":{"S":"2026-11-02T10:00:01.5Z"},"#, ""),
                "recorded_at is missing",
            ),
            (
                LINE.replace(r#"{"S":"pending"}"#, r#"{"S":"paid"}"#),
                "status \"paid\" is invalid: unknown commission status \"paid\"",
            ),
            (
                LINE[..LINE.len() - 10].to_owned(),
                "not a DynamoDB JSON export line",
            ),
        ];
        for (line, expected) in cases {
            let err = BookedEntry::from_export_line(&line)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(expected), "{err} (expected {expected})");
        }
    }

    #[test]
    fn reads_a_payout_and_refuses_a_positive_one() {
        let payout = LINE
            .replace(r#"{"S":"commission"}"#, r#"{"S":"payout"}"#)
            .replace(r#"{"S":"pending"}"#, r#"{"S":"paid"}"#)
            .replace(r#"{"N":"124.9"}"#, r#"{"N":"-100"}"#)
            .replace(r#""reason""#, r#""statement_id":{"S":"st-1"},"reason""#);
        let e = BookedEntry::from_export_line(&payout).unwrap();
        assert_eq!((e.kind, e.status), (BookedKind::Payout, None));
        assert_eq!(e.statement_id.as_deref(), Some("st-1"));
        let positive = payout.replace(r#"{"N":"-100"}"#, r#"{"N":"100"}"#);
        assert!(BookedEntry::from_export_line(&positive)
            .unwrap_err()
            .to_string()
            .contains("a payout is negative"));
    }
}
