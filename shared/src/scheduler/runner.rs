//! One tick over the store: read the customers whose work is due (a query of a sparse index, so
//! the cost follows what is due, not the table), apply the time rules, and write each changed
//! customer atomically, conditional on the version read, several customers at a time. Two ticks
//! at once, or a tick racing the processor, cannot both write: the loser's condition fails and it
//! leaves that customer to the writer that won (or to the next tick).

use std::future::Future;

use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};
use tracing::{info, warn};

use super::{tick_customer, CustomerTick, TickConfig};
use crate::engine::{CustomerState, ReviewItem};
use crate::processor::StoreError;
use crate::quality::{
    anomalies, combine, previous_month, score, AnomalyRules, QualityScore, StatsRecord,
};

pub trait SchedulerStore {
    /// How many `commit_tick` calls the store takes at once. Different customers never contend,
    /// so on DynamoDB a backlog of due work is written several customers at a time instead of one
    /// round trip after another; 1 (the default) writes them in turn.
    fn concurrent_writes(&self) -> usize {
        1
    }
    /// Customers with scheduler work due at or before `now`. May be slightly stale (an index):
    /// every write is conditional on the version returned here.
    fn due_customers(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<CustomerState>, StoreError>>;
    /// Writes one customer's tick atomically: the state (condition: `version == expected`), the
    /// approval entries and review items (condition: absent).
    fn commit_tick(
        &self,
        expected_version: u64,
        state: &CustomerState,
        tick: &CustomerTick,
    ) -> impl Future<Output = Result<(), StoreError>>;
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
    pub customers_due: usize,
    pub customers_changed: usize,
    pub approvals: usize,
    pub windows_expired: usize,
    pub reviews_opened: usize,
    /// Affiliate-months whose quality score was recomputed.
    pub scores_refreshed: usize,
    pub anomalies_opened: usize,
    /// Share of the refreshed affiliate-months' events that went to review (reviews / events).
    pub review_share: Option<String>,
    /// Customers another writer changed between our read and our write: left to it.
    pub raced: usize,
    /// Customers whose write failed for another reason: the tick reports failure so the
    /// schedule's retry policy runs it again.
    pub failed: usize,
}

pub async fn run_tick<S: SchedulerStore>(
    store: &S,
    now: DateTime<Utc>,
    config: &TickConfig,
    rules: &AnomalyRules,
) -> Result<TickReport, StoreError> {
    let due = store.due_customers(now).await?;
    let mut report = TickReport {
        now: now.to_rfc3339(),
        customers_due: due.len(),
        ..TickReport::default()
    };
    let changed: Vec<(u64, CustomerState, CustomerTick)> = due
        .into_iter()
        .filter_map(|mut state| {
            let expected = state.version;
            let tick = tick_customer(&mut state, now, config);
            tick.changed().then_some((expected, state, tick))
        })
        .collect();
    let mut writes = stream::iter(&changed)
        .map(|(expected, state, tick)| async move {
            (state, tick, store.commit_tick(*expected, state, tick).await)
        })
        .buffer_unordered(store.concurrent_writes().max(1));
    while let Some((state, tick, written)) = writes.next().await {
        match written {
            Ok(()) => {
                report.customers_changed += 1;
                report.approvals += tick.approvals.len();
                report.windows_expired += usize::from(tick.window_expired);
                report.reviews_opened += tick.reviews.len();
            }
            Err(StoreError::Conflict(_)) => report.raced += 1,
            Err(e) => {
                warn!(customer_id = %state.customer_id, error = %e, "tick write failed");
                report.failed += 1;
            }
        }
    }
    let (mut events, mut reviews) = (rust_decimal::Decimal::ZERO, rust_decimal::Decimal::ZERO);
    for record in store.dirty_stats().await? {
        let previous = store
            .stats(&record.affiliate_id, &previous_month(&record.month))
            .await?
            .unwrap_or_default();
        let period = combine(&record.counters, &previous.counters);
        let new_reviews: Vec<ReviewItem> =
            anomalies(&record.affiliate_id, &record.month, &period, rules, now)
                .into_iter()
                .filter(|r| !record.anomalies_opened.contains(&r.review_id))
                .collect();
        let scored = score(&record.counters);
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
