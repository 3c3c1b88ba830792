//! An affiliate's page: its commissions by month and status, what is payable, and its partner
//! quality by month. Pure: computed from the affiliate's ledger entries and stats records.
//!
//! A commission's month is the month of its original entry; its status is the status its last
//! written entry recorded (entries carry their commission's write order: `effective_at` is when
//! an entry takes effect, which an approval written after a later release would get wrong); its
//! amount is the sum of its entries (what is owed on it now). The payable balance is the net of
//! approved commissions minus the payouts recorded, per currency (docs/finance.md: the same
//! balance the statements command closes with, at the time of the read).

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;
use serde::Serialize;

use crate::finance::booked::{BookedEntry, BookedKind};
use crate::ledger::{CommissionStatus, EntryKind};
use crate::money::{self, Currency, MoneyOverflow};
use crate::quality::{self, QualityScore, StatsRecord};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonthStatusLine {
    pub month: String,
    pub currency: String,
    pub status: String,
    pub commissions: u64,
    /// Decimal string.
    pub amount: Decimal,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Balance {
    pub currency: String,
    /// Approved, minus what was paid: owed to the affiliate (negative: owed back).
    pub payable: Decimal,
    /// Paid out so far (the payouts recorded, as a positive amount).
    pub paid: Decimal,
    /// Still inside cooling-off.
    pub pending: Decimal,
    /// Held by a dispute or a review.
    pub on_hold: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityMonth {
    pub month: String,
    pub score: QualityScore,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AffiliateActivity {
    pub commissions_by_month: Vec<MonthStatusLine>,
    pub balances: Vec<Balance>,
    pub quality_by_month: Vec<QualityMonth>,
    pub entries: usize,
}

struct CommissionSummary {
    month: String,
    currency: Currency,
    status: CommissionStatus,
    latest: (
        u64,
        chrono::DateTime<chrono::Utc>,
        chrono::DateTime<chrono::Utc>,
        String,
    ),
    net: Decimal,
}

/// `entries`: the affiliate's book (payouts included); a commission's entries are ordered by
/// write order (record version, booking time, effective time, id), as finance orders them.
pub fn activity(
    entries: &[BookedEntry],
    stats: &[StatsRecord],
) -> Result<AffiliateActivity, MoneyOverflow> {
    let mut by_commission: HashMap<&str, CommissionSummary> = HashMap::new();
    let mut paid: BTreeMap<String, (Currency, Decimal)> = BTreeMap::new();
    for e in entries {
        let Some(status) = e.status.filter(|_| e.kind != BookedKind::Payout) else {
            let slot = paid
                .entry(e.currency.code().to_owned())
                .or_insert((e.currency, Decimal::ZERO));
            slot.1 = money::sub(slot.1, e.amount)?;
            continue;
        };
        let key = (
            e.record_version,
            e.recorded_at,
            e.effective_at,
            e.entry_id.clone(),
        );
        let c = by_commission
            .entry(e.commission_id.as_str())
            .or_insert_with(|| CommissionSummary {
                month: quality::month_of(e.effective_at),
                currency: e.currency,
                status,
                latest: key.clone(),
                net: Decimal::ZERO,
            });
        c.net = money::add(c.net, e.amount)?;
        if e.kind == BookedKind::Entry(EntryKind::Commission) {
            c.month = quality::month_of(e.effective_at);
        }
        if key >= c.latest {
            c.latest = key;
            c.status = status;
        }
    }
    let mut lines: BTreeMap<(String, String, &'static str), (u64, Decimal, Currency)> =
        BTreeMap::new();
    let mut balances: BTreeMap<String, (Currency, Balance)> = BTreeMap::new();
    for c in by_commission.values() {
        let line = lines
            .entry((
                c.month.clone(),
                c.currency.code().to_owned(),
                c.status.as_str(),
            ))
            .or_insert((0, Decimal::ZERO, c.currency));
        line.0 += 1;
        line.1 = money::add(line.1, c.net)?;
        let (_, b) = balances
            .entry(c.currency.code().to_owned())
            .or_insert_with(|| {
                let balance = Balance {
                    currency: c.currency.code().to_owned(),
                    ..Balance::default()
                };
                (c.currency, balance)
            });
        match c.status {
            CommissionStatus::Approved => b.payable = money::add(b.payable, c.net)?,
            CommissionStatus::Pending => b.pending = money::add(b.pending, c.net)?,
            CommissionStatus::OnHold => b.on_hold = money::add(b.on_hold, c.net)?,
            CommissionStatus::Cancelled | CommissionStatus::Reversed => {}
        }
    }
    for (code, (currency, amount)) in paid {
        let (_, b) = balances.entry(code.clone()).or_insert_with(|| {
            let balance = Balance {
                currency: code,
                ..Balance::default()
            };
            (currency, balance)
        });
        b.paid = amount;
        b.payable = money::sub(b.payable, amount)?;
    }
    let mut quality_by_month = Vec::with_capacity(stats.len());
    for s in stats {
        quality_by_month.push(QualityMonth {
            month: s.month.clone(),
            score: quality::score(&s.counters)?,
        });
    }
    quality_by_month.sort_by(|a, b| a.month.cmp(&b.month));
    Ok(AffiliateActivity {
        commissions_by_month: lines
            .into_iter()
            .map(
                |((month, _, status), (commissions, amount, currency))| MonthStatusLine {
                    month,
                    currency: currency.code().to_owned(),
                    status: status.to_owned(),
                    commissions,
                    amount: money::with_minor_units(amount, currency),
                },
            )
            .collect(),
        balances: balances
            .into_values()
            .map(|(currency, b)| Balance {
                payable: money::with_minor_units(b.payable, currency),
                paid: money::with_minor_units(b.paid, currency),
                pending: money::with_minor_units(b.pending, currency),
                on_hold: money::with_minor_units(b.on_hold, currency),
                ..b
            })
            .collect(),
        quality_by_month,
        entries: entries.len(),
    })
}
