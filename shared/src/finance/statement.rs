//! Per-affiliate statements: what is payable at a cut-off, and how a period moved it.
//!
//! **Payable** at an instant T is, per currency, the net of every commission whose status (as of
//! the entries booked by T) is `approved`, minus the payouts booked by T. Pending, held,
//! cancelled and reversed commissions are not payable. Periods and cut-offs go by when an entry
//! was *booked* (`recorded_at`), never by when it takes effect, so an issued statement never
//! changes: a late refund lands in the period it was booked in.
//!
//! Each entry's **payable effect** is how much it moved the payable balance: walking a commission's
//! entries in write order, effect = (net after, if approved) − (net before, if approved). An
//! approval makes the whole net payable; an adjustment or reversal of an approved commission takes
//! its amount off; a hold takes the net off and its release puts it back; anything that happens
//! while the commission is pending moves nothing. A payout's effect is its (negative) amount.
//! So, exactly: closing = opening + the sum of the period's effects, which `statement` checks
//! against the balance computed directly at the cut-off.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::booked::{BookedEntry, BookedKind};
use crate::ledger::{CommissionStatus, EntryKind};
use crate::money::{self, Currency, MoneyOverflow};

/// Entries booked after `from` (exclusive; none = since the beginning) up to and including `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: Option<DateTime<Utc>>,
    pub to: DateTime<Utc>,
}

impl Period {
    fn before(&self, t: DateTime<Utc>) -> bool {
        self.from.is_some_and(|from| t <= from)
    }
    fn within(&self, t: DateTime<Utc>) -> bool {
        !self.before(t) && t <= self.to
    }
}

/// How a line moved the balance, for the statement's totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// New commissions (pending: no effect until approved).
    Commission,
    /// Cooling-off ended: the commission became payable.
    Approved,
    Adjustment,
    Reversal,
    Cancellation,
    Hold,
    Release,
    Payout,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Commission => "commission",
            Category::Approved => "approved",
            Category::Adjustment => "adjustment",
            Category::Reversal => "reversal",
            Category::Cancellation => "cancellation",
            Category::Hold => "hold",
            Category::Release => "release",
            Category::Payout => "payout",
        }
    }

    fn of(kind: BookedKind) -> Self {
        match kind {
            BookedKind::Payout => Category::Payout,
            BookedKind::Entry(k) => match k {
                EntryKind::Commission => Category::Commission,
                EntryKind::Approval => Category::Approved,
                EntryKind::Adjustment => Category::Adjustment,
                EntryKind::Reversal => Category::Reversal,
                EntryKind::Cancellation => Category::Cancellation,
                EntryKind::Hold => Category::Hold,
                EntryKind::Release => Category::Release,
            },
        }
    }

    pub const ALL: [Category; 8] = [
        Category::Commission,
        Category::Approved,
        Category::Adjustment,
        Category::Reversal,
        Category::Cancellation,
        Category::Hold,
        Category::Release,
        Category::Payout,
    ];
}

/// One line of a statement: a ledger entry booked in the period, and what it did to the balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementLine {
    pub entry: BookedEntry,
    pub category: Category,
    /// The commission's status after the entry (none for a payout).
    pub status_after: Option<CommissionStatus>,
    pub payable_effect: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencyStatement {
    pub currency: Currency,
    pub opening: Decimal,
    /// Sum of the period's effects per category (every category present, zero when none).
    pub totals: BTreeMap<Category, Decimal>,
    pub closing: Decimal,
    /// The period's lines, in booking order.
    pub lines: Vec<StatementLine>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffiliateStatement {
    pub affiliate_id: String,
    pub period: Period,
    /// Per currency, in code order; only currencies with a balance or a line.
    pub currencies: Vec<CurrencyStatement>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    #[error("commission {commission_id} has entries in {first} and {second}")]
    MixedCurrencies {
        commission_id: String,
        first: String,
        second: String,
    },
    #[error("entry {entry_id} is affiliate {found}'s, not {expected}'s")]
    WrongAffiliate {
        entry_id: String,
        expected: String,
        found: String,
    },
    #[error("entry {0} appears twice")]
    DuplicateEntry(String),
    #[error("{0}")]
    Overflow(#[from] MoneyOverflow),
    #[error(
        "{affiliate_id} {currency}: closing {closing} is not the balance at the cut-off {direct}"
    )]
    DoesNotReconcile {
        affiliate_id: String,
        currency: String,
        closing: Decimal,
        direct: Decimal,
    },
}

/// An entry's place in its commission's write order: the record version the write was
/// conditional on, then the booking time, then when it takes effect, then its id.
fn write_order(e: &BookedEntry) -> (u64, DateTime<Utc>, DateTime<Utc>, &str) {
    (e.record_version, e.recorded_at, e.effective_at, &e.entry_id)
}

#[derive(Default)]
struct Running {
    opening: Decimal,
    closing: Decimal,
    totals: BTreeMap<Category, Decimal>,
    lines: Vec<StatementLine>,
    /// Payable at the cut-off computed directly (per commission), to check `closing` against.
    direct: Decimal,
}

/// The affiliate's statement for `period`, from every entry of the affiliate (any order; entries
/// booked after the period's end are ignored).
pub fn statement(
    affiliate_id: &str,
    mut entries: Vec<BookedEntry>,
    period: Period,
) -> Result<AffiliateStatement, StatementError> {
    entries.retain(|e| e.recorded_at <= period.to);
    entries.sort_by(|a, b| {
        a.commission_id
            .cmp(&b.commission_id)
            .then_with(|| write_order(a).cmp(&write_order(b)))
    });
    let mut by_currency: BTreeMap<String, (Currency, Running)> = BTreeMap::new();
    let mut start = 0;
    while start < entries.len() {
        let commission = entries[start].commission_id.clone();
        let end = start
            + entries[start..]
                .iter()
                .take_while(|e| e.commission_id == commission)
                .count();
        let currency = entries[start].currency;
        let (_, run) = by_currency
            .entry(currency.code().to_owned())
            .or_insert_with(|| (currency, Running::default()));
        let mut net = Decimal::ZERO;
        let mut payable = Decimal::ZERO;
        for (i, e) in entries[start..end].iter().enumerate() {
            if e.affiliate_id != affiliate_id {
                return Err(StatementError::WrongAffiliate {
                    entry_id: e.entry_id.clone(),
                    expected: affiliate_id.to_owned(),
                    found: e.affiliate_id.clone(),
                });
            }
            if e.currency != currency {
                return Err(StatementError::MixedCurrencies {
                    commission_id: commission,
                    first: currency.code().to_owned(),
                    second: e.currency.code().to_owned(),
                });
            }
            if i > 0 && entries[start + i - 1].entry_id == e.entry_id {
                return Err(StatementError::DuplicateEntry(e.entry_id.clone()));
            }
            net = money::add(net, e.amount)?;
            let after = match e.kind {
                BookedKind::Payout => net,
                BookedKind::Entry(_) if e.status == Some(CommissionStatus::Approved) => net,
                BookedKind::Entry(_) => Decimal::ZERO,
            };
            let effect = money::sub(after, payable)?;
            payable = after;
            if period.before(e.recorded_at) {
                run.opening = money::add(run.opening, effect)?;
            } else if period.within(e.recorded_at) {
                let category = Category::of(e.kind);
                let total = run.totals.entry(category).or_default();
                *total = money::add(*total, effect)?;
                run.lines.push(StatementLine {
                    entry: e.clone(),
                    category,
                    status_after: e.status,
                    payable_effect: effect,
                });
            }
        }
        run.direct = money::add(run.direct, payable)?;
        start = end;
    }
    let mut currencies = Vec::with_capacity(by_currency.len());
    for (code, (currency, mut run)) in by_currency {
        let mut closing = run.opening;
        for total in run.totals.values() {
            closing = money::add(closing, *total)?;
        }
        run.closing = closing;
        if run.closing != run.direct {
            return Err(StatementError::DoesNotReconcile {
                affiliate_id: affiliate_id.to_owned(),
                currency: code,
                closing: run.closing,
                direct: run.direct,
            });
        }
        if run.opening.is_zero() && run.closing.is_zero() && run.lines.is_empty() {
            continue;
        }
        for c in Category::ALL {
            run.totals.entry(c).or_default();
        }
        run.lines.sort_by(|a, b| {
            (a.entry.recorded_at, &a.entry.entry_id).cmp(&(b.entry.recorded_at, &b.entry.entry_id))
        });
        let shown = |d: Decimal| money::with_minor_units(d, currency);
        currencies.push(CurrencyStatement {
            currency,
            opening: shown(run.opening),
            totals: run.totals.into_iter().map(|(c, d)| (c, shown(d))).collect(),
            closing: shown(run.closing),
            lines: run.lines,
        });
    }
    Ok(AffiliateStatement {
        affiliate_id: affiliate_id.to_owned(),
        period,
        currencies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }
    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    struct Book(Vec<BookedEntry>);

    impl Book {
        #[allow(clippy::too_many_arguments)]
        fn entry(
            &mut self,
            commission: &str,
            version: u64,
            kind: EntryKind,
            amount: &str,
            status: CommissionStatus,
            at: &str,
        ) -> &mut Self {
            let n = self.0.len();
            self.0.push(BookedEntry {
                affiliate_id: "aff-1".into(),
                entry_id: format!("{commission}#{n}"),
                commission_id: commission.into(),
                customer_id: Some("cust-1".into()),
                kind: BookedKind::Entry(kind),
                amount: d(amount),
                currency: Currency::from_str("USD").unwrap(),
                status: Some(status),
                event_id: Some(format!("evt-{n}")),
                effective_at: t(at),
                recorded_at: t(at),
                record_version: version,
                reason: "test".into(),
                corrects: None,
                statement_id: None,
            });
            self
        }
        fn payout(&mut self, statement: &str, amount: &str, at: &str) -> &mut Self {
            self.0.push(BookedEntry {
                affiliate_id: "aff-1".into(),
                entry_id: format!("payout#{statement}#USD"),
                commission_id: format!("payout#{statement}#USD"),
                customer_id: None,
                kind: BookedKind::Payout,
                amount: d(amount),
                currency: Currency::from_str("USD").unwrap(),
                status: None,
                event_id: None,
                effective_at: t(at),
                recorded_at: t(at),
                record_version: 0,
                reason: "payout".into(),
                corrects: None,
                statement_id: Some(statement.into()),
            });
            self
        }
    }

    use CommissionStatus::*;
    use EntryKind as K;

    fn book() -> Vec<BookedEntry> {
        let mut b = Book(Vec::new());
        // c1: 100, approved in October, 20 adjusted off in November, then charged back in November
        b.entry(
            "c1",
            1,
            K::Commission,
            "100",
            Pending,
            "2026-10-01T00:00:00Z",
        )
        .entry("c1", 2, K::Approval, "0", Approved, "2026-10-03T00:00:00Z")
        .entry(
            "c1",
            3,
            K::Adjustment,
            "-20",
            Approved,
            "2026-11-05T00:00:00Z",
        )
        .entry(
            "c1",
            4,
            K::Reversal,
            "-80",
            Reversed,
            "2026-11-20T00:00:00Z",
        );
        // c2: 50 approved in October, held and released in November
        b.entry(
            "c2",
            1,
            K::Commission,
            "50",
            Pending,
            "2026-10-10T00:00:00Z",
        )
        .entry("c2", 2, K::Approval, "0", Approved, "2026-10-12T00:00:00Z")
        .entry("c2", 3, K::Hold, "0", OnHold, "2026-11-02T00:00:00Z")
        .entry("c2", 4, K::Release, "0", Approved, "2026-11-09T00:00:00Z");
        // c3: 30 in November, adjusted while pending, approved in November
        b.entry(
            "c3",
            1,
            K::Commission,
            "30",
            Pending,
            "2026-11-10T00:00:00Z",
        )
        .entry(
            "c3",
            2,
            K::Adjustment,
            "-10",
            Pending,
            "2026-11-11T00:00:00Z",
        )
        .entry("c3", 3, K::Approval, "0", Approved, "2026-11-12T00:00:00Z");
        // c4: cancelled in cooling-off: never payable
        b.entry(
            "c4",
            1,
            K::Commission,
            "60",
            Pending,
            "2026-11-01T00:00:00Z",
        )
        .entry(
            "c4",
            2,
            K::Cancellation,
            "-60",
            Cancelled,
            "2026-11-01T12:00:00Z",
        );
        // c5: booked after the cut-off
        b.entry(
            "c5",
            1,
            K::Commission,
            "70",
            Pending,
            "2026-12-02T00:00:00Z",
        );
        b.payout("st-oct", "-150", "2026-11-01T00:00:00Z");
        b.0
    }

    #[test]
    fn a_period_opens_where_the_last_closed_and_every_line_is_accounted_for() {
        let october = statement(
            "aff-1",
            book(),
            Period {
                from: None,
                to: t("2026-10-31T23:59:59Z"),
            },
        )
        .unwrap();
        let oct = &october.currencies[0];
        assert_eq!((oct.opening, oct.closing), (d("0.00"), d("150.00")));
        assert_eq!(oct.totals[&Category::Approved], d("150.00"));

        let november = statement(
            "aff-1",
            book(),
            Period {
                from: Some(t("2026-10-31T23:59:59Z")),
                to: t("2026-11-30T23:59:59Z"),
            },
        )
        .unwrap();
        let nov = &november.currencies[0];
        assert_eq!(nov.opening, oct.closing);
        // -150 paid; c1: -20 adjusted, -80 reversed; c2: held -50, released +50; c3: +20 approved
        assert_eq!(nov.totals[&Category::Payout], d("-150.00"));
        assert_eq!(nov.totals[&Category::Adjustment], d("-20.00"));
        assert_eq!(nov.totals[&Category::Reversal], d("-80.00"));
        assert_eq!(nov.totals[&Category::Hold], d("-50.00"));
        assert_eq!(nov.totals[&Category::Release], d("50.00"));
        assert_eq!(nov.totals[&Category::Approved], d("20.00"));
        assert_eq!(nov.totals[&Category::Cancellation], d("0.00"));
        // what is payable at the end of November: c2 50 + c3 20 - nothing left of c1 - paid 150
        // + 150 approved in October = 70 - 150 + 150
        assert_eq!(nov.closing, d("-80.00"));
        assert_eq!(nov.closing.to_string(), "-80.00");
        // the c1 chargeback after its payout leaves the affiliate owing: negative balance, shown
        assert!(nov
            .lines
            .iter()
            .all(|l| l.entry.recorded_at > t("2026-10-31T23:59:59Z")));
        assert_eq!(nov.lines.len(), 10);
        assert!(nov.lines.iter().all(|l| l.entry.commission_id != "c5"));
    }

    #[test]
    fn entries_in_any_order_give_the_same_statement() {
        let period = Period {
            from: Some(t("2026-10-15T00:00:00Z")),
            to: t("2026-11-30T00:00:00Z"),
        };
        let sorted = statement("aff-1", book(), period).unwrap();
        let mut reversed = book();
        reversed.reverse();
        assert_eq!(statement("aff-1", reversed, period).unwrap(), sorted);
    }

    #[test]
    fn mixed_currencies_duplicates_and_another_affiliates_entry_are_errors() {
        let period = Period {
            from: None,
            to: t("2027-01-01T00:00:00Z"),
        };
        let mut mixed = book();
        mixed[1].currency = Currency::from_str("EUR").unwrap();
        assert!(matches!(
            statement("aff-1", mixed, period),
            Err(StatementError::MixedCurrencies { .. })
        ));
        let mut dup = book();
        dup.push(dup[0].clone());
        assert!(matches!(
            statement("aff-1", dup, period),
            Err(StatementError::DuplicateEntry(_))
        ));
        let mut other = book();
        other[3].affiliate_id = "aff-2".into();
        assert!(matches!(
            statement("aff-1", other, period),
            Err(StatementError::WrongAffiliate { .. })
        ));
    }
}
