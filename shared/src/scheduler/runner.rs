//! One tick over the store: read the records whose work is due (a query of a sparse index, so
//! the cost follows what is due, not the table) with their customers' heads, apply the time
//! rules, and write each changed customer atomically — only the records that changed (and the
//! head when a window expired), each conditional on the version read — several customers at a
//! time. Two ticks at once, or a tick racing the processor, cannot both write: the loser's
//! condition fails and it leaves that customer to the writer that won (or to the next tick).
//! Customers still in the legacy whole-history format with due work are migrated first.

use std::collections::BTreeMap;
use std::future::Future;

use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};
use tracing::{info, warn};

use super::{tick_records, RecordTick, TickConfig};
use crate::engine::{ChangedRecord, CustomerHead, CustomerView, ReviewItem};
use crate::ledger::LedgerEntry;
use crate::processor::{
    migrate_legacy, MigrationStore, RecordId, StoreError, StoredHead, StoredRecord,
};
use crate::quality::{
    anomalies, combine, previous_month, score, AnomalyRules, QualityScore, StatsRecord,
};

/// Heads and records read for a tick.
#[derive(Debug, Clone, Default)]
pub struct TickRead {
    pub heads: std::collections::HashMap<String, StoredHead>,
    pub records: std::collections::HashMap<RecordId, StoredRecord>,
}

/// What a tick writes for one customer, all-or-nothing.
#[derive(Debug, Clone)]
pub struct TickCommit<'a> {
    pub customer_id: &'a str,
    /// The head, when a window expired: written with its version bumped, conditional on
    /// `expected_head_version`.
    pub head: Option<&'a CustomerHead>,
    pub expected_head_version: u64,
    /// The records the tick changed, each conditional on the version read.
    pub records: Vec<ChangedRecord<'a>>,
    pub approvals: &'a [LedgerEntry],
    pub reviews: &'a [ReviewItem],
    /// The tick's time: stored on the approvals as their booking time.
    pub recorded_at: chrono::DateTime<chrono::Utc>,
}

pub trait SchedulerStore: MigrationStore {
    /// How many `commit_tick` calls the store takes at once. Different customers never contend,
    /// so on DynamoDB a backlog of due work is written several customers at a time instead of one
    /// round trip after another; 1 (the default) writes them in turn.
    fn concurrent_writes(&self) -> usize {
        1
    }
    /// Records with scheduler work due at or before `now`. May be slightly stale (an index):
    /// every write is conditional on the versions read afterwards.
    fn due_records(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<RecordId>, StoreError>>;
    /// Customers still in the legacy format whose work is due at or before `now`.
    fn due_legacy_customers(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>>;
    /// Reads heads and records (strongly consistent).
    fn read(
        &self,
        heads: &[String],
        records: &[RecordId],
    ) -> impl Future<Output = Result<TickRead, StoreError>>;
    /// Writes one record's tick atomically (with the head, when the record's window expired).
    fn commit_tick(&self, commit: &TickCommit<'_>) -> impl Future<Output = Result<(), StoreError>>;
    /// Affiliate-months whose counters changed since their score was last computed (a sparse
    /// index: the cost follows what changed).
    fn dirty_stats(&self) -> impl Future<Output = Result<Vec<StatsRecord>, StoreError>>;
    fn stats(
        &self,
        affiliate_id: &str,
        month: &str,
    ) -> impl Future<Output = Result<Option<StatsRecord>, StoreError>>;
    /// Stores the score and opens the new anomaly review items, and clears the dirty mark — all
    /// conditional on the counters not having changed since they were read.
    fn commit_score(
        &self,
        record: &StatsRecord,
        score: &QualityScore,
        reviews: &[ReviewItem],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>>;
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TickReport {
    pub now: String,
    /// Customers with due work (records found by the index, legacy customers included).
    pub customers_due: usize,
    /// Due records read.
    pub records_due: usize,
    pub customers_changed: usize,
    pub approvals: usize,
    pub windows_expired: usize,
    pub reviews_opened: usize,
    /// Legacy customers rewritten in the current format by this tick.
    pub migrated: usize,
    /// Affiliate-months whose quality score was recomputed.
    pub scores_refreshed: usize,
    pub anomalies_opened: usize,
    /// Share of the refreshed affiliate-months' events that went to review (reviews / events).
    pub review_share: Option<String>,
    /// Records another writer changed between our read and our write: left to it.
    pub raced: usize,
    /// Record writes that failed for another reason: the tick reports failure so the
    /// schedule's retry policy runs it again.
    pub failed: usize,
}

/// A customer's view for the tick: its head and the records read, or — for a customer found
/// in the legacy format — every record, once it is migrated.
async fn customer_view<S: SchedulerStore>(
    store: &S,
    customer_id: &str,
    read: &mut TickRead,
    keys: &[RecordId],
    report: &mut TickReport,
) -> Result<CustomerView, StoreError> {
    let mut view = match read.heads.remove(customer_id) {
        Some(StoredHead::Current(head)) => CustomerView::partial(head),
        Some(StoredHead::Legacy(state)) => {
            report.migrated += 1;
            return migrate_legacy(store, *state).await;
        }
        // Records without a head: the processor always writes both, so nothing is due here.
        None => CustomerView::partial(CustomerHead::new(customer_id)),
    };
    for (customer, key) in keys {
        if let Some(stored) = read.records.remove(&(customer.clone(), key.clone())) {
            view.insert_loaded(key.clone(), stored.version, Some(stored.record));
        }
    }
    Ok(view)
}

pub async fn run_tick<S: SchedulerStore>(
    store: &S,
    now: DateTime<Utc>,
    config: &TickConfig,
    rules: &AnomalyRules,
) -> Result<TickReport, StoreError> {
    let mut report = TickReport {
        now: now.to_rfc3339(),
        ..TickReport::default()
    };
    let due = store.due_records(now).await?;
    report.records_due = due.len();
    let mut by_customer: BTreeMap<String, Vec<RecordId>> = BTreeMap::new();
    for id in due {
        by_customer.entry(id.0.clone()).or_default().push(id);
    }
    for customer in store.due_legacy_customers(now).await? {
        by_customer.entry(customer).or_default();
    }
    report.customers_due = by_customer.len();
    let heads: Vec<String> = by_customer.keys().cloned().collect();
    let keys: Vec<RecordId> = by_customer.values().flatten().cloned().collect();
    let mut read = store.read(&heads, &keys).await?;
    // One transaction per changed record (with the head when its window expired): records are
    // independent, each written conditional on its own version, so a customer with many
    // commissions due at once never outgrows a transaction.
    let mut views: Vec<CustomerView> = Vec::with_capacity(by_customer.len());
    let mut work: Vec<(usize, RecordTick, u64)> = Vec::new();
    for (customer, keys) in &by_customer {
        let mut view = customer_view(store, customer, &mut read, keys, &mut report).await?;
        let expected_head_version = view.head.version;
        let ticks = tick_records(&mut view, now, config);
        if ticks.iter().any(|t| t.window_expired) {
            view.head.version += 1;
        }
        work.extend(
            ticks
                .into_iter()
                .map(|t| (views.len(), t, expected_head_version)),
        );
        views.push(view);
    }
    let views = &views;
    let mut writes = stream::iter(&work)
        .map(|(i, tick, expected)| async move {
            let view = &views[*i];
            let commit = TickCommit {
                customer_id: view.customer_id(),
                head: tick.window_expired.then_some(&view.head),
                expected_head_version: *expected,
                records: view
                    .changed_records()
                    .into_iter()
                    .filter(|c| *c.key == tick.key)
                    .collect(),
                approvals: &tick.approvals,
                reviews: &tick.reviews,
                recorded_at: now,
            };
            (view, tick, store.commit_tick(&commit).await)
        })
        .buffer_unordered(store.concurrent_writes().max(1));
    let mut changed_customers = std::collections::HashSet::new();
    while let Some((view, tick, written)) = writes.next().await {
        match written {
            Ok(()) => {
                changed_customers.insert(view.customer_id());
                report.approvals += tick.approvals.len();
                report.windows_expired += usize::from(tick.window_expired);
                report.reviews_opened += tick.reviews.len();
            }
            Err(StoreError::Conflict(_)) => report.raced += 1,
            Err(e) => {
                warn!(customer_id = %view.customer_id(), record = %tick.key.sort_key(), error = %e, "tick write failed");
                report.failed += 1;
            }
        }
    }
    drop(writes);
    report.customers_changed = changed_customers.len();
    let (mut events, mut reviews) = (rust_decimal::Decimal::ZERO, rust_decimal::Decimal::ZERO);
    for record in store.dirty_stats().await? {
        let previous = store
            .stats(&record.affiliate_id, &previous_month(&record.month))
            .await?
            .unwrap_or_default();
        let scored = combine(&record.counters, &previous.counters)
            .and_then(|period| Ok((period, score(&record.counters)?)));
        let (period, scored) = match scored {
            Ok(x) => x,
            Err(e) => {
                warn!(affiliate_id = %record.affiliate_id, month = %record.month, error = %e, "stored counters cannot be scored");
                report.failed += 1;
                continue;
            }
        };
        let new_reviews: Vec<ReviewItem> =
            anomalies(&record.affiliate_id, &record.month, &period, rules, now)
                .into_iter()
                .filter(|r| !record.anomalies_opened.contains(&r.review_id))
                .collect();
        match store
            .commit_score(&record, &scored, &new_reviews, now)
            .await
        {
            Ok(()) => {
                report.scores_refreshed += 1;
                report.anomalies_opened += new_reviews.len();
                events += record
                    .counters
                    .get(crate::quality::counter::EVENTS)
                    .copied()
                    .unwrap_or_default();
                reviews += record
                    .counters
                    .get(crate::quality::counter::REVIEWS)
                    .copied()
                    .unwrap_or_default();
            }
            Err(StoreError::Conflict(_)) => report.raced += 1,
            Err(e) => {
                warn!(affiliate_id = %record.affiliate_id, month = %record.month, error = %e, "score write failed");
                report.failed += 1;
            }
        }
    }
    if !events.is_zero() {
        report.review_share = Some((reviews / events).round_dp(4).normalize().to_string());
    }
    info!(
        scores = report.scores_refreshed,
        anomalies = report.anomalies_opened,
        due = report.customers_due,
        records_due = report.records_due,
        migrated = report.migrated,
        changed = report.customers_changed,
        approvals = report.approvals,
        windows_expired = report.windows_expired,
        reviews_opened = report.reviews_opened,
        raced = report.raced,
        failed = report.failed,
        "tick done"
    );
    Ok(report)
}
