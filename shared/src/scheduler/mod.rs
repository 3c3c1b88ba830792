//! The scheduler's core: what one tick does to one customer at an instant `now` (the scheduled
//! event's `time`, so any tick can be replayed). Pure; `runner` drives it over the customers the
//! store's sparse indexes say have work due, so a tick costs what changed, not the table size.

mod runner;

pub use runner::{run_tick, SchedulerStore, TickCommit, TickRead, TickReport};

use chrono::{DateTime, Duration, Utc};

use crate::engine::{
    approve_commission, Attribution, CustomerHead, CustomerView, Record, RecordKey, ReviewItem,
    ReviewKind,
};
use crate::ledger::LedgerEntry;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TickConfig {
    /// A parked event whose reference has not arrived this long after it was received becomes a
    /// review item.
    pub parked_review_after: Duration,
}

impl Default for TickConfig {
    fn default() -> Self {
        TickConfig {
            parked_review_after: Duration::hours(72),
        }
    }
}

/// Hours after which a parked event whose reference never arrived becomes a review item. Read by
/// the scheduler and by the processor (which keeps each customer's next due instant indexed), so
/// template.yaml sets it on both from one parameter.
pub const PARKED_REVIEW_AFTER_HOURS_VAR: &str = "PARKED_REVIEW_AFTER_HOURS";

/// The time rules' configuration from the environment. Missing or malformed is an error: a
/// silent default would make the processor and scheduler disagree about what is due.
pub fn tick_config_from_env() -> Result<TickConfig, String> {
    let text = std::env::var(PARKED_REVIEW_AFTER_HOURS_VAR)
        .map_err(|_| format!("environment variable {PARKED_REVIEW_AFTER_HOURS_VAR} is not set"))?;
    let hours: u32 = text
        .parse()
        .map_err(|_| format!("{PARKED_REVIEW_AFTER_HOURS_VAR} must be a whole number of hours"))?;
    Ok(TickConfig {
        parked_review_after: Duration::hours(i64::from(hours)),
    })
}

/// Customer writes a tick keeps in flight at once (template parameter `TickConcurrentWrites`).
pub const TICK_CONCURRENT_WRITES_VAR: &str = "TICK_CONCURRENT_WRITES";

pub fn concurrent_writes_from_env() -> Result<usize, String> {
    let text = std::env::var(TICK_CONCURRENT_WRITES_VAR)
        .map_err(|_| format!("environment variable {TICK_CONCURRENT_WRITES_VAR} is not set"))?;
    parse_concurrent_writes(&text)
}

fn parse_concurrent_writes(text: &str) -> Result<usize, String> {
    text.parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_CONCURRENT_WRITES).contains(n))
        .ok_or_else(|| {
            format!("{TICK_CONCURRENT_WRITES_VAR} must be a whole number from 1 to {MAX_CONCURRENT_WRITES}")
        })
}

/// The template's bound too: beyond this a tick would burst the table instead of draining it.
pub const MAX_CONCURRENT_WRITES: usize = 64;

/// The anomaly rules' thresholds from the environment (set by template.yaml parameters).
pub fn anomaly_rules_from_env() -> Result<crate::quality::AnomalyRules, String> {
    let read = |name: &str| -> Result<rust_decimal::Decimal, String> {
        std::env::var(name)
            .map_err(|_| format!("environment variable {name} is not set"))?
            .parse()
            .map_err(|_| format!("{name} must be a decimal number"))
    };
    Ok(crate::quality::AnomalyRules {
        refund_rate_above: read(ANOMALY_REFUND_RATE_ABOVE_VAR)?,
        chargeback_rate_above: read(ANOMALY_CHARGEBACK_RATE_ABOVE_VAR)?,
        min_purchases: read(ANOMALY_MIN_PURCHASES_VAR)?,
        self_referrals_at_least: read(ANOMALY_SELF_REFERRALS_VAR)?,
    })
}

pub const ANOMALY_REFUND_RATE_ABOVE_VAR: &str = "ANOMALY_REFUND_RATE_ABOVE";
pub const ANOMALY_CHARGEBACK_RATE_ABOVE_VAR: &str = "ANOMALY_CHARGEBACK_RATE_ABOVE";
pub const ANOMALY_MIN_PURCHASES_VAR: &str = "ANOMALY_MIN_PURCHASES";
pub const ANOMALY_SELF_REFERRALS_VAR: &str = "ANOMALY_SELF_REFERRALS_AT_LEAST";

/// What a tick changed for one customer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerTick {
    pub approvals: Vec<LedgerEntry>,
    pub window_expired: bool,
    pub reviews: Vec<ReviewItem>,
}

impl CustomerTick {
    pub fn changed(&self) -> bool {
        !self.approvals.is_empty() || self.window_expired || !self.reviews.is_empty()
    }
}

/// What a tick changed in one record: its approvals and review items, and whether the window
/// it carried expired (then the head changed too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordTick {
    pub key: RecordKey,
    pub approvals: Vec<LedgerEntry>,
    pub reviews: Vec<ReviewItem>,
    pub window_expired: bool,
}

impl RecordTick {
    pub fn changed(&self) -> bool {
        !self.approvals.is_empty() || self.window_expired || !self.reviews.is_empty()
    }
}

/// Applies every time rule due at `now` to one record. Each rule's boundary: approval when
/// `now >= cooling_off_ends_at`; window expiry when `now >= window_ends_at`; a parked event goes to
/// review when `now >= received_at + parked_review_after`. Everything written is derived from the
/// record and those boundaries, never from `now` itself, so two ticks at different instants that
/// both see the same due work write identical items (and the second finds nothing left to do).
pub fn tick_record(
    head: &mut CustomerHead,
    key: &RecordKey,
    record: &mut Record,
    now: DateTime<Utc>,
    config: &TickConfig,
) -> RecordTick {
    let customer_id = head.customer_id.clone();
    let mut tick = RecordTick {
        key: key.clone(),
        approvals: record
            .commissions_mut()
            .filter_map(|c| approve_commission(c, &customer_id, now))
            .collect(),
        reviews: Vec::new(),
        window_expired: false,
    };
    if let Record::Transaction(r) = record {
        if r.window_ends_at.is_some_and(|end| now >= end) {
            r.window_ends_at = None;
            if let Attribution::Affiliate(a) = &mut head.attribution {
                if a.expired_at.is_none() {
                    a.expired_at = Some(a.window_ends_at);
                    tick.window_expired = true;
                }
            }
        }
    }
    let waiting_for = match key {
        RecordKey::Transaction(id) => format!("transaction:{id}"),
        RecordKey::Challenge(id) => format!("challenge:{id}"),
    };
    for parked in record.parked_mut() {
        let due = parked.received_at + config.parked_review_after;
        if parked.review_id.is_some() || now < due {
            continue;
        }
        let kind = ReviewKind::ReferenceNeverArrived;
        let review_id = format!("{}#{}", kind.as_str(), parked.event_id);
        parked.review_id = Some(review_id.clone());
        tick.reviews.push(ReviewItem {
            review_id,
            kind,
            customer_id: customer_id.clone(),
            event_id: parked.event_id.clone(),
            affiliate_ids: vec![],
            evidence: [
                ("waiting_for".to_owned(), waiting_for.clone()),
                (
                    "event_type".to_owned(),
                    parked.event_type.as_str().to_owned(),
                ),
                ("received_at".to_owned(), parked.received_at.to_rfc3339()),
            ]
            .into_iter()
            .collect(),
            opened_at: due,
        });
    }
    tick
}

/// Every record's tick, one after another (the records the view holds: the runner loads the due
/// ones; a complete view holds them all).
pub fn tick_records(
    view: &mut CustomerView,
    now: DateTime<Utc>,
    config: &TickConfig,
) -> Vec<RecordTick> {
    let (head, records) = view.parts_mut();
    records
        .map(|(key, record)| tick_record(head, key, record, now, config))
        .filter(RecordTick::changed)
        .collect()
}

/// The whole customer's tick, as one summary (the in-memory book and the rule tests).
pub fn tick_customer(
    view: &mut CustomerView,
    now: DateTime<Utc>,
    config: &TickConfig,
) -> CustomerTick {
    let mut tick = CustomerTick::default();
    for r in tick_records(view, now, config) {
        tick.approvals.extend(r.approvals);
        tick.reviews.extend(r.reviews);
        tick.window_expired |= r.window_expired;
    }
    tick
}

/// The earliest instant at which this record has scheduler work, if any: what the store's sparse
/// index is keyed on.
pub fn record_due(record: &Record, config: &TickConfig) -> Option<DateTime<Utc>> {
    let approval = record
        .commissions()
        .filter(|c| c.status() == crate::ledger::CommissionStatus::Pending)
        .map(|c| c.cooling_off_ends_at)
        .min();
    let window = match record {
        Record::Transaction(r) => r.window_ends_at,
        Record::Challenge(_) => None,
    };
    let parked = record
        .parked()
        .iter()
        .filter(|p| p.review_id.is_none())
        .map(|p| p.received_at + config.parked_review_after)
        .min();
    [approval, window, parked].into_iter().flatten().min()
}

/// The earliest due instant over the records the view holds.
pub fn next_due(view: &CustomerView, config: &TickConfig) -> Option<DateTime<Utc>> {
    view.records()
        .filter_map(|(_, r)| record_due(r, config))
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_writes_are_a_bounded_whole_number() {
        assert_eq!(parse_concurrent_writes("1"), Ok(1));
        assert_eq!(parse_concurrent_writes("64"), Ok(MAX_CONCURRENT_WRITES));
        for bad in ["0", "65", "-1", "4.5", "", "sixteen"] {
            let err = parse_concurrent_writes(bad).unwrap_err();
            assert!(err.contains("from 1 to 64"), "{bad:?}: {err}");
        }
    }
}
