//! Partner quality: per affiliate and calendar month, counters the processor adds to in the same
//! transaction as each event (so they are exact and never need a scan), the scores derived from
//! them, and the anomaly rules the scheduler runs over them.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::engine::{Applied, CustomerHead, OutcomeKind, ReviewItem, ReviewKind};
use crate::events::{DisputeStatus, EventEnvelope, EventPayload, FailureReason};
use crate::money::{self, MoneyOverflow};

pub fn month_of(t: DateTime<Utc>) -> String {
    format!("{:04}-{:02}", t.year(), t.month())
}

/// Counter names. Money counters carry their currency in the name (`revenue_USD`): a counter is
/// a DynamoDB number added to atomically, and amounts in different currencies never mix.
pub mod counter {
    pub const EVENTS: &str = "events";
    pub const REFERRED_CUSTOMERS: &str = "referred_customers";
    pub const PURCHASES: &str = "purchases";
    pub const EVALUATIONS_STARTED: &str = "evaluations_started";
    pub const PASSES: &str = "passes";
    pub const DAYS_TO_PASS_TOTAL: &str = "days_to_pass_total";
    pub const RESETS: &str = "resets";
    pub const FUNDED: &str = "funded";
    pub const REFUNDS: &str = "refunds";
    pub const CHARGEBACKS: &str = "chargebacks";
    pub const CHARGEBACKS_LOST: &str = "chargebacks_lost";
    pub const REVIEWS: &str = "reviews";
    pub const SELF_REFERRALS: &str = "self_referrals";
    pub fn failures(reason: crate::events::FailureReason) -> String {
        format!("failures_{}", super::failure_name(reason))
    }
    pub fn revenue(currency: &str) -> String {
        format!("revenue_{currency}")
    }
    pub fn refunded(currency: &str) -> String {
        format!("refunded_{currency}")
    }
    pub fn chargeback_losses(currency: &str) -> String {
        format!("chargeback_losses_{currency}")
    }
    pub fn commission(currency: &str) -> String {
        format!("commission_{currency}")
    }
}

fn failure_name(r: FailureReason) -> &'static str {
    match r {
        FailureReason::DrawdownLimit => "drawdown_limit",
        FailureReason::TimeExpired => "time_expired",
        FailureReason::RuleViolation => "rule_violation",
    }
}

/// What one event adds to one affiliate-month.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsDelta {
    pub affiliate_id: String,
    pub month: String,
    pub counters: BTreeMap<String, Decimal>,
}

impl StatsDelta {
    fn add(&mut self, name: impl Into<String>, v: Decimal) -> Result<(), MoneyOverflow> {
        let slot = self.counters.entry(name.into()).or_default();
        *slot = money::add(*slot, v)?;
        Ok(())
    }
}

/// The counters an applied event (and any parked events it released) add, per affiliate-month.
/// Only attributed customers count; an event is counted when it is applied, not when parked.
/// `was_attributed`: whether the customer was attributed before this event (its first
/// attributed purchase counts a referred customer).
pub fn stats_deltas(
    was_attributed: bool,
    after: &CustomerHead,
    event: &EventEnvelope,
    applied: &Applied,
) -> Result<Vec<StatsDelta>, MoneyOverflow> {
    let Some(affiliate) = after.attributed_affiliate() else {
        return Ok(Vec::new());
    };
    let mut by_month: BTreeMap<String, StatsDelta> = BTreeMap::new();
    let one = Decimal::ONE;
    for outcome in &applied.outcomes {
        if outcome.kind == OutcomeKind::Parked {
            continue;
        }
        let envelope = if outcome.event_id == event.event_id {
            event
        } else if let Some(e) = applied
            .released
            .iter()
            .find(|e| e.event_id == outcome.event_id)
        {
            e
        } else {
            continue;
        };
        let month = month_of(envelope.occurred_at);
        let d = by_month.entry(month.clone()).or_insert_with(|| StatsDelta {
            affiliate_id: affiliate.to_owned(),
            month,
            counters: BTreeMap::new(),
        });
        d.add(counter::EVENTS, one)?;
        match &envelope.payload {
            EventPayload::Purchase(p) => {
                d.add(counter::PURCHASES, one)?;
                d.add(counter::revenue(p.price.currency.code()), p.price.amount)?;
                if !was_attributed && envelope.event_id == event.event_id {
                    d.add(counter::REFERRED_CUSTOMERS, one)?;
                }
            }
            EventPayload::EvaluationStarted(_) => d.add(counter::EVALUATIONS_STARTED, one)?,
            EventPayload::EvaluationPassed(e) => {
                d.add(counter::PASSES, one)?;
                d.add(counter::DAYS_TO_PASS_TOTAL, Decimal::from(e.days_to_pass))?;
            }
            EventPayload::EvaluationFailed(e) => d.add(counter::failures(e.reason), one)?,
            EventPayload::Reset(r) => {
                d.add(counter::RESETS, one)?;
                d.add(counter::revenue(r.fee.currency.code()), r.fee.amount)?;
            }
            EventPayload::Funded(_) => d.add(counter::FUNDED, one)?,
            EventPayload::Refund(r) => {
                d.add(counter::REFUNDS, one)?;
                d.add(
                    counter::refunded(r.refunded.currency.code()),
                    r.refunded.amount,
                )?;
            }
            EventPayload::Chargeback(c) => match c.dispute_status {
                DisputeStatus::Opened => d.add(counter::CHARGEBACKS, one)?,
                DisputeStatus::Lost => {
                    d.add(counter::CHARGEBACKS_LOST, one)?;
                    d.add(
                        counter::chargeback_losses(c.disputed.currency.code()),
                        c.disputed.amount,
                    )?;
                }
                DisputeStatus::Won => {}
            },
        }
        for entry in applied
            .entries
            .iter()
            .filter(|e| e.event_id.as_deref() == Some(&outcome.event_id))
        {
            if entry.affiliate_id == affiliate && !entry.amount.is_zero() {
                d.add(counter::commission(entry.currency.code()), entry.amount)?;
            }
        }
        for review in applied
            .reviews
            .iter()
            .filter(|r| r.event_id == outcome.event_id)
        {
            d.add(counter::REVIEWS, one)?;
            if review.kind == ReviewKind::SelfReferral {
                d.add(counter::SELF_REFERRALS, one)?;
            }
        }
    }
    Ok(by_month.into_values().collect())
}

/// An affiliate-month's counters as stored.
pub type Counters = BTreeMap<String, Decimal>;

fn get(c: &Counters, name: &str) -> Decimal {
    c.get(name).copied().unwrap_or_default()
}

/// A rate rounded to 4 decimal places (half away from zero); none when the denominator is zero
/// (checked: `None` too if it cannot be represented, which stored counts never produce).
fn rate(num: Decimal, den: Decimal) -> Option<Decimal> {
    num.checked_div(den).map(|r| {
        r.round_dp_with_strategy(4, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
            .normalize()
    })
}

/// Derived from one affiliate-month's counters; recomputed whenever they change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QualityScore {
    pub referred_customers: Decimal,
    pub purchases: Decimal,
    pub evaluations_started: Decimal,
    /// passes / evaluations started
    pub pass_rate: Option<Decimal>,
    pub average_days_to_pass: Option<Decimal>,
    pub failures: BTreeMap<String, Decimal>,
    /// resets / purchases
    pub reset_rate: Option<Decimal>,
    /// funded / passes
    pub funded_rate: Option<Decimal>,
    /// refunds / purchases
    pub refund_rate: Option<Decimal>,
    /// chargebacks opened / purchases
    pub chargeback_rate: Option<Decimal>,
    /// reviews / events
    pub review_rate: Option<Decimal>,
    /// Per currency: revenue, refunds, chargeback losses, commission cost, and net revenue to the
    /// firm (revenue − refunded − chargeback losses − commission).
    pub money: BTreeMap<String, MoneyLine>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoneyLine {
    pub revenue: Decimal,
    pub refunded: Decimal,
    pub chargeback_losses: Decimal,
    pub commission_cost: Decimal,
    pub net_revenue: Decimal,
}

/// The score of an affiliate-month. Sums are checked: counters read back from the store are
/// numbers any writer could have put there.
pub fn score(c: &Counters) -> Result<QualityScore, MoneyOverflow> {
    let purchases = get(c, counter::PURCHASES);
    let passes = get(c, counter::PASSES);
    let mut money: BTreeMap<String, MoneyLine> = BTreeMap::new();
    for (name, v) in c {
        let (field, cur) = if let Some(cur) = name.strip_prefix("revenue_") {
            (0, cur)
        } else if let Some(cur) = name.strip_prefix("refunded_") {
            (1, cur)
        } else if let Some(cur) = name.strip_prefix("chargeback_losses_") {
            (2, cur)
        } else if let Some(cur) = name.strip_prefix("commission_") {
            (3, cur)
        } else {
            continue;
        };
        let line = money.entry(cur.to_owned()).or_default();
        let slot = match field {
            0 => &mut line.revenue,
            1 => &mut line.refunded,
            2 => &mut line.chargeback_losses,
            _ => &mut line.commission_cost,
        };
        *slot = crate::money::add(*slot, *v)?;
    }
    for line in money.values_mut() {
        let costs = crate::money::add(
            crate::money::add(line.refunded, line.chargeback_losses)?,
            line.commission_cost,
        )?;
        line.net_revenue = crate::money::sub(line.revenue, costs)?;
    }
    Ok(QualityScore {
        referred_customers: get(c, counter::REFERRED_CUSTOMERS),
        purchases,
        evaluations_started: get(c, counter::EVALUATIONS_STARTED),
        pass_rate: rate(passes, get(c, counter::EVALUATIONS_STARTED)),
        average_days_to_pass: rate(get(c, counter::DAYS_TO_PASS_TOTAL), passes),
        failures: c
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("failures_").map(|r| (r.to_owned(), *v)))
            .collect(),
        reset_rate: rate(get(c, counter::RESETS), purchases),
        funded_rate: rate(get(c, counter::FUNDED), passes),
        refund_rate: rate(get(c, counter::REFUNDS), purchases),
        chargeback_rate: rate(get(c, counter::CHARGEBACKS), purchases),
        review_rate: rate(get(c, counter::REVIEWS), get(c, counter::EVENTS)),
        money,
    })
}

/// Thresholds of the anomaly rules (template parameters). A rate rule needs at least
/// `min_purchases` purchases in the period, so two purchases and one refund are not a spike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnomalyRules {
    pub refund_rate_above: Decimal,
    pub chargeback_rate_above: Decimal,
    pub min_purchases: Decimal,
    pub self_referrals_at_least: Decimal,
}

/// The anomaly review items for an affiliate over the rolling period (the month and the one
/// before it, combined). Ids are `anomaly_{rule}#{affiliate}#{month}`: one per rule, affiliate
/// and month, however often the tick runs.
pub fn anomalies(
    affiliate_id: &str,
    month: &str,
    period: &Counters,
    rules: &AnomalyRules,
    opened_at: DateTime<Utc>,
) -> Vec<ReviewItem> {
    let purchases = get(period, counter::PURCHASES);
    let mut out = Vec::new();
    let mut open = |rule: &str, value: String, threshold: String| {
        out.push(ReviewItem {
            review_id: format!("anomaly_{rule}#{affiliate_id}#{month}"),
            kind: ReviewKind::Anomaly,
            customer_id: String::new(),
            event_id: String::new(),
            affiliate_ids: vec![affiliate_id.to_owned()],
            evidence: BTreeMap::from([
                ("rule".to_owned(), rule.to_owned()),
                ("value".to_owned(), value),
                ("threshold".to_owned(), threshold),
                ("period".to_owned(), format!("{month} and the month before")),
                ("purchases".to_owned(), purchases.to_string()),
            ]),
            opened_at,
        });
    };
    if purchases >= rules.min_purchases {
        if let Some(r) = rate(get(period, counter::REFUNDS), purchases) {
            if r > rules.refund_rate_above {
                open(
                    "refund_rate",
                    r.to_string(),
                    rules.refund_rate_above.to_string(),
                );
            }
        }
        if let Some(r) = rate(get(period, counter::CHARGEBACKS), purchases) {
            if r > rules.chargeback_rate_above {
                open(
                    "chargeback_rate",
                    r.to_string(),
                    rules.chargeback_rate_above.to_string(),
                );
            }
        }
    }
    let selfs = get(period, counter::SELF_REFERRALS);
    if selfs >= rules.self_referrals_at_least {
        open(
            "self_referrals",
            selfs.to_string(),
            rules.self_referrals_at_least.to_string(),
        );
    }
    out
}

/// The month before `YYYY-MM`.
pub fn previous_month(month: &str) -> String {
    let (y, m) = month.split_once('-').unwrap_or(("0", "1"));
    let (y, m): (i32, u32) = (y.parse().unwrap_or(0), m.parse().unwrap_or(1));
    if m <= 1 {
        format!("{:04}-12", y - 1)
    } else {
        format!("{y:04}-{:02}", m - 1)
    }
}

/// One affiliate-month as stored: its counters, how many updates made them, and the anomaly
/// review items already opened for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsRecord {
    pub affiliate_id: String,
    pub month: String,
    pub counters: Counters,
    pub updates: u64,
    pub anomalies_opened: Vec<String>,
}

/// Adds two periods' counters.
pub fn combine(a: &Counters, b: &Counters) -> Result<Counters, MoneyOverflow> {
    let mut out = a.clone();
    for (k, v) in b {
        let slot = out.entry(k.clone()).or_default();
        *slot = crate::money::add(*slot, *v)?;
    }
    Ok(out)
}
