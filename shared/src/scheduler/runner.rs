//! One tick over the store: read the customers whose work is due (a query of a sparse index, so
//! the cost follows what is due, not the table), apply the time rules, and write each changed
//! customer atomically, conditional on the version read. Two ticks at once, or a tick racing the
//! processor, cannot both write: the loser's condition fails and it leaves that customer to the
//! writer that won (or to the next tick).

use std::future::Future;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::{tick_customer, CustomerTick, TickConfig};
use crate::engine::CustomerState;
use crate::processor::StoreError;

pub trait SchedulerStore {
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
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TickReport {
    pub now: String,
    pub customers_due: usize,
    pub customers_changed: usize,
    pub approvals: usize,
    pub windows_expired: usize,
    pub reviews_opened: usize,
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
) -> Result<TickReport, StoreError> {
    let due = store.due_customers(now).await?;
    let mut report = TickReport {
        now: now.to_rfc3339(),
        customers_due: due.len(),
        ..TickReport::default()
    };
    for mut state in due {
        let expected = state.version;
        let tick = tick_customer(&mut state, now, config);
        if !tick.changed() {
            continue;
        }
        match store.commit_tick(expected, &state, &tick).await {
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
    info!(
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
