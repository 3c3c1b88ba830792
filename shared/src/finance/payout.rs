//! Recording that a statement was paid: one `payout` entry per currency with a positive balance at
//! the statement's cut-off, for exactly that balance, never more than what is payable now (a
//! reversal booked since the cut-off lowers it: then nothing is recorded and finance is told).
//! Keyed on the statement: the same statement paid twice records once.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::booked::{BookedEntry, BookedKind};
use super::statement::{statement, Period, StatementError};

/// The statement a payout pays: the affiliate and the cut-off (what the statements command
/// prints as the statement id).
pub fn statement_id(affiliate_id: &str, cut_off: DateTime<Utc>) -> String {
    if cut_off.timestamp_subsec_nanos() == 0 {
        format!("{affiliate_id}@{}", cut_off.format("%Y%m%dT%H%M%SZ"))
    } else {
        format!("{affiliate_id}@{}", cut_off.format("%Y%m%dT%H%M%S%.9fZ"))
    }
}

pub fn payout_entry_id(statement_id: &str, currency: &str) -> String {
    format!("payout#{statement_id}#{currency}")
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayoutError {
    #[error("the cut-off {0} is in the future")]
    FutureCutOff(String),
    #[error("nothing is payable to {affiliate_id} at {cut_off}")]
    NothingPayable {
        affiliate_id: String,
        cut_off: String,
    },
    #[error("{currency}: the statement's balance {statement} is more than is payable now ({now}): something was reversed, held or paid since the cut-off")]
    ExceedsPayable {
        currency: String,
        statement: Decimal,
        now: Decimal,
    },
    #[error("{0}")]
    Ledger(#[from] StatementError),
}

/// What recording the statement's payout means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayoutPlan {
    /// New payout entries to append.
    Record(Vec<BookedEntry>),
    /// The statement was paid already: these are its entries.
    AlreadyRecorded(Vec<BookedEntry>),
}

/// `book`: every entry of the affiliate (payouts included), as read now.
pub fn plan_payout(
    affiliate_id: &str,
    book: Vec<BookedEntry>,
    cut_off: DateTime<Utc>,
    now: DateTime<Utc>,
    reason: &str,
) -> Result<PayoutPlan, PayoutError> {
    if cut_off > now {
        return Err(PayoutError::FutureCutOff(cut_off.to_rfc3339()));
    }
    let id = statement_id(affiliate_id, cut_off);
    let paid: Vec<BookedEntry> = book
        .iter()
        .filter(|e| e.kind == BookedKind::Payout && e.statement_id.as_deref() == Some(id.as_str()))
        .cloned()
        .collect();
    if !paid.is_empty() {
        return Ok(PayoutPlan::AlreadyRecorded(paid));
    }
    let at_cut_off = statement(
        affiliate_id,
        book.clone(),
        Period {
            from: None,
            to: cut_off,
        },
    )?;
    let payable_now: BTreeMap<String, Decimal> = statement(
        affiliate_id,
        book,
        Period {
            from: None,
            to: now,
        },
    )?
    .currencies
    .into_iter()
    .map(|c| (c.currency.code().to_owned(), c.closing))
    .collect();
    let mut entries = Vec::new();
    for c in &at_cut_off.currencies {
        if c.closing <= Decimal::ZERO {
            continue;
        }
        let code = c.currency.code();
        let now_balance = payable_now.get(code).copied().unwrap_or_default();
        if c.closing > now_balance {
            return Err(PayoutError::ExceedsPayable {
                currency: code.to_owned(),
                statement: c.closing,
                now: now_balance,
            });
        }
        let entry_id = payout_entry_id(&id, code);
        entries.push(BookedEntry {
            affiliate_id: affiliate_id.to_owned(),
            entry_id: entry_id.clone(),
            commission_id: entry_id,
            customer_id: None,
            kind: BookedKind::Payout,
            amount: -c.closing,
            currency: c.currency,
            status: None,
            event_id: None,
            effective_at: now,
            recorded_at: now,
            record_version: 0,
            reason: reason.to_owned(),
            corrects: None,
            statement_id: Some(id.clone()),
        });
    }
    if entries.is_empty() {
        return Err(PayoutError::NothingPayable {
            affiliate_id: affiliate_id.to_owned(),
            cut_off: cut_off.to_rfc3339(),
        });
    }
    Ok(PayoutPlan::Record(entries))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{CommissionStatus, EntryKind};
    use crate::money::Currency;
    use std::str::FromStr;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn entry(
        c: &str,
        v: u64,
        kind: EntryKind,
        amount: &str,
        status: CommissionStatus,
        at: &str,
    ) -> BookedEntry {
        BookedEntry {
            affiliate_id: "aff-1".into(),
            entry_id: format!("{c}#{v}"),
            commission_id: c.into(),
            customer_id: None,
            kind: BookedKind::Entry(kind),
            amount: Decimal::from_str(amount).unwrap(),
            currency: Currency::from_str("USD").unwrap(),
            status: Some(status),
            event_id: None,
            effective_at: t(at),
            recorded_at: t(at),
            record_version: v,
            reason: "test".into(),
            corrects: None,
            statement_id: None,
        }
    }

    fn book() -> Vec<BookedEntry> {
        use CommissionStatus::*;
        vec![
            entry(
                "c1",
                1,
                EntryKind::Commission,
                "100",
                Pending,
                "2026-11-01T00:00:00Z",
            ),
            entry(
                "c1",
                2,
                EntryKind::Approval,
                "0",
                Approved,
                "2026-11-03T00:00:00Z",
            ),
            entry(
                "c2",
                1,
                EntryKind::Commission,
                "40",
                Pending,
                "2026-11-20T00:00:00Z",
            ),
            entry(
                "c2",
                2,
                EntryKind::Approval,
                "0",
                Approved,
                "2026-11-22T00:00:00Z",
            ),
            entry(
                "c3",
                1,
                EntryKind::Commission,
                "25",
                Pending,
                "2026-11-29T00:00:00Z",
            ),
        ]
    }

    #[test]
    fn pays_the_statements_balance_once() {
        let cut = t("2026-11-30T23:59:59Z");
        let now = t("2026-12-02T09:00:00Z");
        let PayoutPlan::Record(entries) =
            plan_payout("aff-1", book(), cut, now, "November").unwrap()
        else {
            panic!("nothing recorded")
        };
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].amount, Decimal::from_str("-140").unwrap());
        assert_eq!(entries[0].entry_id, "payout#aff-1@20261130T235959Z#USD");
        // paid: the next statement opens at zero, and paying again records nothing new
        let mut after = book();
        after.extend(entries.clone());
        let again = plan_payout("aff-1", after.clone(), cut, now, "again").unwrap();
        assert_eq!(again, PayoutPlan::AlreadyRecorded(entries));
        let next = statement(
            "aff-1",
            after,
            Period {
                from: Some(cut),
                to: now,
            },
        )
        .unwrap();
        assert_eq!(
            next.currencies[0].opening,
            Decimal::from_str("140.00").unwrap()
        );
        assert_eq!(next.currencies[0].closing, Decimal::ZERO);
    }

    #[test]
    fn never_more_than_is_payable_now() {
        let cut = t("2026-11-30T23:59:59Z");
        let mut b = book();
        b.push(entry(
            "c2",
            3,
            EntryKind::Reversal,
            "-40",
            CommissionStatus::Reversed,
            "2026-12-01T10:00:00Z",
        ));
        let err = plan_payout("aff-1", b, cut, t("2026-12-02T00:00:00Z"), "x").unwrap_err();
        assert!(matches!(err, PayoutError::ExceedsPayable { .. }), "{err}");
        assert!(matches!(
            plan_payout(
                "aff-1",
                book(),
                t("2026-11-02T00:00:00Z"),
                t("2026-12-02T00:00:00Z"),
                "x"
            ),
            Err(PayoutError::NothingPayable { .. })
        ));
        assert!(matches!(
            plan_payout(
                "aff-1",
                book(),
                t("2026-12-03T00:00:00Z"),
                t("2026-12-02T00:00:00Z"),
                "x"
            ),
            Err(PayoutError::FutureCutOff(_))
        ));
        assert_eq!(
            statement_id("aff-1", t("2026-11-30T23:59:59.999999999Z")),
            "aff-1@20261130T235959.999999999Z"
        );
    }
}
