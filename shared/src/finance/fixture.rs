//! A synthetic ledger for tests and benchmarks: deterministic (seeded), shaped like production
//! (commissions approved after cooling-off, some adjusted or reversed after approval, some held and
//! released, some cancelled while pending, and payouts), in several currencies.

use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;

use super::booked::{BookedEntry, BookedKind};
use crate::ledger::{CommissionStatus, EntryKind};
use crate::money::Currency;

/// xorshift64: the same seed, the same ledger, on every machine.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `entries` entries (the last commission may be cut short) over `affiliates` affiliates
/// (`aff-00000`, ...), booked between `start` and `start + days`; each affiliate is paid in one of
/// `currencies`. About one commission in 25 is followed by a payout of part of what it made.
pub fn synthetic_ledger(
    entries: usize,
    affiliates: usize,
    currencies: &[&str],
    start: DateTime<Utc>,
    days: i64,
    seed: u64,
) -> impl Iterator<Item = BookedEntry> {
    let currencies: Vec<Currency> = currencies
        .iter()
        .map(|c| Currency::from_str(c).expect("a currency"))
        .collect();
    let mut rng = Rng(seed | 1);
    let mut made = 0usize;
    let mut commission = 0u64;
    std::iter::from_fn(move || {
        if made >= entries {
            return None;
        }
        commission += 1;
        let a = (rng.next() % affiliates as u64) as usize;
        let affiliate = format!("aff-{a:05}");
        let currency = currencies[a % currencies.len()];
        let scale = u32::from(currency.minor_units());
        let cid = format!("evt-{commission}#0");
        let at = start + Duration::minutes((rng.next() % (days as u64 * 24 * 60)) as i64);
        let amount = Decimal::new((rng.next() % 50_000 + 100) as i64, scale);
        let entry = |n: u64,
                     kind: EntryKind,
                     amount: Decimal,
                     status: CommissionStatus,
                     at: DateTime<Utc>| BookedEntry {
            affiliate_id: affiliate.clone(),
            entry_id: if n == 1 {
                cid.clone()
            } else {
                format!("{cid}~{n}")
            },
            commission_id: cid.clone(),
            customer_id: Some(format!("cust-{commission}")),
            kind: BookedKind::Entry(kind),
            amount,
            currency,
            status: Some(status),
            event_id: Some(format!("evt-{commission}")),
            effective_at: at,
            recorded_at: at,
            record_version: n,
            reason: kind.as_str().into(),
            corrects: (n > 1).then(|| cid.clone()),
            statement_id: None,
        };
        let mut out = vec![entry(
            1,
            EntryKind::Commission,
            amount,
            CommissionStatus::Pending,
            at,
        )];
        match rng.next() % 12 {
            0 => out.push(entry(
                2,
                EntryKind::Cancellation,
                -amount,
                CommissionStatus::Cancelled,
                at + Duration::hours(5),
            )),
            1 => out.push(entry(
                2,
                EntryKind::Hold,
                Decimal::ZERO,
                CommissionStatus::OnHold,
                at + Duration::hours(5),
            )),
            r => {
                out.push(entry(
                    2,
                    EntryKind::Approval,
                    Decimal::ZERO,
                    CommissionStatus::Approved,
                    at + Duration::hours(48),
                ));
                match r {
                    2 => {
                        let cut = Decimal::new((rng.next() % 100 + 1) as i64, scale);
                        out.push(entry(
                            3,
                            EntryKind::Adjustment,
                            -cut,
                            CommissionStatus::Approved,
                            at + Duration::days(5),
                        ));
                    }
                    3 => out.push(entry(
                        3,
                        EntryKind::Reversal,
                        -amount,
                        CommissionStatus::Reversed,
                        at + Duration::days(9),
                    )),
                    4 => {
                        out.push(entry(
                            3,
                            EntryKind::Hold,
                            Decimal::ZERO,
                            CommissionStatus::OnHold,
                            at + Duration::days(4),
                        ));
                        out.push(entry(
                            4,
                            EntryKind::Release,
                            Decimal::ZERO,
                            CommissionStatus::Approved,
                            at + Duration::days(12),
                        ));
                    }
                    5 if commission % 2 == 0 => {
                        let statement = format!("{affiliate}@{commission}");
                        let id = format!("payout#{statement}#{}", currency.code());
                        out.push(BookedEntry {
                            entry_id: id.clone(),
                            commission_id: id,
                            customer_id: None,
                            kind: BookedKind::Payout,
                            amount: -amount,
                            status: None,
                            event_id: None,
                            record_version: 0,
                            reason: "payout".into(),
                            corrects: None,
                            statement_id: Some(statement),
                            ..entry(
                                0,
                                EntryKind::Commission,
                                amount,
                                CommissionStatus::Pending,
                                at + Duration::days(3),
                            )
                        });
                    }
                    _ => {}
                }
            }
        }
        made += out.len();
        Some(out)
    })
    .flatten()
    .take(entries)
}
