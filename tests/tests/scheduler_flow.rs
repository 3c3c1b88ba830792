//! Scheduler on the local stack: purchases go through webhook → SQS → processor → DynamoDB, then
//! ticks (built from the EventBridge scheduled-event fixture, at chosen instants) approve, expire
//! and review through the sparse index, exactly once even when two ticks run at once.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Duration, SecondsFormat, Timelike, Utc};
use serde_json::{json, Value};
use shared::engine::legacy::MigratedCustomer;
use shared::engine::ReviewItem;
use shared::events::EventType;
use shared::processor::{MigrationStore, RecordId, StoreError};
use shared::quality::{QualityScore, StatsRecord};
use shared::scheduler::{SchedulerStore, TickCommit, TickRead};
use shared::scheduler_lambda::handle_tick;
use std::sync::atomic::{AtomicUsize, Ordering};
use system_tests::{workspace_root, LocalStack, Webhooks};
use tokio::sync::{Barrier, Mutex};

/// The quality-score half of `SchedulerStore`, handed straight to the wrapped store by the test
/// wrappers that only change the customer half.
macro_rules! scores_pass_through {
    () => {
        async fn dirty_stats(&self) -> Result<Vec<StatsRecord>, StoreError> {
            self.inner.dirty_stats().await
        }
        async fn stats(
            &self,
            affiliate_id: &str,
            month: &str,
        ) -> Result<Option<StatsRecord>, StoreError> {
            self.inner.stats(affiliate_id, month).await
        }
        async fn commit_score(
            &self,
            record: &StatsRecord,
            score: &QualityScore,
            reviews: &[ReviewItem],
            now: DateTime<Utc>,
        ) -> Result<(), StoreError> {
            self.inner.commit_score(record, score, reviews, now).await
        }
    };
}

/// The due-work half of `SchedulerStore` that the wrappers below do not change.
macro_rules! due_work_pass_through {
    () => {
        async fn due_records(&self, now: DateTime<Utc>) -> Result<Vec<RecordId>, StoreError> {
            self.inner.due_records(now).await
        }
        async fn due_legacy_customers(
            &self,
            now: DateTime<Utc>,
        ) -> Result<Vec<String>, StoreError> {
            self.inner.due_legacy_customers(now).await
        }
    };
}

/// The wrappers below migrate legacy customers as the store they wrap does.
macro_rules! migration_pass_through {
    ($wrapper:ident) => {
        impl<S: SchedulerStore> MigrationStore for $wrapper<'_, S> {
            async fn migrate(
                &self,
                migrated: &MigratedCustomer,
                legacy_version: u64,
            ) -> Result<(), StoreError> {
                self.inner.migrate(migrated, legacy_version).await
            }
        }
    };
}

migration_pass_through!(Lockstep);
migration_pass_through!(PauseAfterRead);
migration_pass_through!(CountInFlight);

/// Two ticks "at once": each reads, waits until the other has read too, then writes. Writes go
/// one at a time because moto, unlike DynamoDB, does not make a conditional write atomic against
/// a concurrent one; DynamoDB serializes writes to an item, and that is what this models.
struct Lockstep<'a, S> {
    inner: &'a S,
    barrier: &'a Barrier,
    lock: &'a Mutex<()>,
}

impl<S: SchedulerStore> SchedulerStore for Lockstep<'_, S> {
    due_work_pass_through!();
    async fn read(&self, heads: &[String], records: &[RecordId]) -> Result<TickRead, StoreError> {
        let read = self.inner.read(heads, records).await;
        self.barrier.wait().await;
        read
    }
    async fn commit_tick(&self, commit: &TickCommit<'_>) -> Result<(), StoreError> {
        let _one_at_a_time = self.lock.lock().await;
        self.inner.commit_tick(commit).await
    }
    async fn dirty_stats(&self) -> Result<Vec<StatsRecord>, StoreError> {
        let dirty = self.inner.dirty_stats().await;
        self.barrier.wait().await;
        dirty
    }
    async fn stats(
        &self,
        affiliate_id: &str,
        month: &str,
    ) -> Result<Option<StatsRecord>, StoreError> {
        self.inner.stats(affiliate_id, month).await
    }
    async fn commit_score(
        &self,
        record: &StatsRecord,
        score: &QualityScore,
        reviews: &[ReviewItem],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let _one_at_a_time = self.lock.lock().await;
        self.inner.commit_score(record, score, reviews, now).await
    }
}

fn scheduled_event(at: DateTime<Utc>) -> EventBridgeEvent<Value> {
    let mut e: Value = serde_json::from_str(
        &std::fs::read_to_string(
            workspace_root().join("tests/fixtures/eventbridge/scheduled-event.json"),
        )
        .unwrap(),
    )
    .unwrap();
    e["time"] = at.to_rfc3339_opts(SecondsFormat::Secs, true).into();
    serde_json::from_value(e).expect("EventBridge scheduled event shape")
}

fn purchase(customer: &str, at: DateTime<Utc>, tx: &str) -> Value {
    json!({"customer_id": customer, "occurred_at": at.to_rfc3339_opts(SecondsFormat::Secs, true), "transaction_id": tx,
           "challenge_id": format!("ch-{tx}"), "tier": "100k", "account_size": "100000", "amount": "499.00",
           "currency": "USD", "affiliate_id": "aff-alpha"})
}

#[tokio::test]
async fn ticks_approve_expire_and_review_exactly_once_even_two_at_a_time() {
    let stack = LocalStack::fresh().await;
    let hooks = Webhooks::new(&stack).await;
    let harness = stack.processor();
    let bought = Utc::now() - Duration::hours(1);
    for i in 0..6 {
        let (status, _) = hooks
            .send(
                EventType::Purchase,
                &format!("p{i}"),
                &purchase(&format!("cust-{i}"), bought, &format!("tx-{i}")),
            )
            .await;
        assert_eq!(status, 202);
    }
    // a refund whose purchase never comes
    let (status, _) = hooks.send(EventType::Refund, "orphan", &json!({"customer_id": "cust-orphan", "occurred_at": bought.to_rfc3339_opts(SecondsFormat::Secs, true), "original_transaction_id": "tx-never", "amount": "10.00", "currency": "USD", "reason": "x"})).await;
    assert_eq!(status, 202);
    assert_eq!(
        stack.run_trigger(&harness, &harness.store, 20).await.failed,
        0
    );
    let config = harness.config.tick_config;
    let rules = stack.anomaly_rules();
    let store = &harness.store;

    // one nanosecond... one second before the end of cooling-off (48 h): nothing to approve
    let end = bought.with_nanosecond(0).unwrap() + Duration::hours(48);
    let early = handle_tick(
        store,
        &config,
        &rules,
        scheduled_event(end - Duration::seconds(1)),
    )
    .await
    .unwrap();
    assert_eq!(early.approvals, 0);

    // two ticks at once at the end instant: every commission approved exactly once
    let usage = store.usage();
    let before = usage.snapshot();
    // Both ticks read the due customers before either writes (a barrier), then write.
    let barrier = Barrier::new(2);
    let lock = Mutex::new(());
    let lockstep = Lockstep {
        inner: store,
        barrier: &barrier,
        lock: &lock,
    };
    let (a, b) = tokio::join!(
        handle_tick(&lockstep, &config, &rules, scheduled_event(end)),
        handle_tick(&lockstep, &config, &rules, scheduled_event(end)),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        (a.customers_due, b.customers_due),
        (6, 6),
        "both saw all the work"
    );
    assert_eq!(a.approvals + b.approvals, 6, "{a:?} {b:?}");
    assert_eq!(a.raced + b.raced, 6, "{a:?} {b:?}");
    let used = usage.snapshot() - before;
    let ledger = stack.ledger(&harness).await;
    let approvals: Vec<_> = ledger.iter().filter(|r| r.kind == "approval").collect();
    assert_eq!(approvals.len(), 6);
    assert!(approvals
        .iter()
        .all(|r| r.status == "approved" && r.amount.is_zero()));
    println!(
        "two concurrent ticks: {a:?} / {b:?}; {} queries, {} transactions",
        used.read_requests, used.write_requests
    );

    // the same tick again changes nothing
    let again = handle_tick(store, &config, &rules, scheduled_event(end))
        .await
        .unwrap();
    assert_eq!((again.approvals, again.customers_changed), (0, 0));

    // 72 h after it was received, the orphan refund becomes a review item
    let review_at = Utc::now() + Duration::hours(73);
    let r = handle_tick(store, &config, &rules, scheduled_event(review_at))
        .await
        .unwrap();
    assert_eq!(r.reviews_opened, 1);
    let reviews = stack.scan(&harness.config.tables.reviews).await;
    assert_eq!(reviews.len(), 1);
    assert_eq!(
        reviews[0]["review_id"].as_s().unwrap(),
        "reference_never_arrived#orphan"
    );

    // the 90-day window: expired at its end, visible on the customer item
    let window_end = end - Duration::hours(48) + Duration::days(90);
    let w = handle_tick(store, &config, &rules, scheduled_event(window_end))
        .await
        .unwrap();
    assert_eq!(w.windows_expired, 6);
    let customers = stack.scan(&harness.config.tables.customers).await;
    let expired = customers
        .iter()
        .filter(|c| c["attribution_state"].as_s().unwrap() == "expired")
        .count();
    assert_eq!(expired, 6);
    // nothing is due any more: no customer carries the sparse index key
    assert!(
        customers.iter().all(|c| !c.contains_key("due_shard")),
        "{customers:?}"
    );
    let idle = handle_tick(
        store,
        &config,
        &rules,
        scheduled_event(window_end + Duration::days(30)),
    )
    .await
    .unwrap();
    assert_eq!((idle.customers_due, idle.customers_changed), (0, 0));
}

#[tokio::test]
async fn a_scheduled_event_without_time_is_refused() {
    let stack = LocalStack::fresh().await;
    let harness = stack.processor();
    let mut e = scheduled_event(Utc::now());
    e.time = None;
    let err = handle_tick(
        &harness.store,
        &harness.config.tick_config,
        &stack.anomaly_rules(),
        e,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("no time"), "{err}");
}

/// The tick reads a customer, then the processor commits a refund for that customer, then the
/// tick writes: its condition fails (the state moved on) and it leaves the customer alone; the
/// next tick sees the refund. Nothing is approved twice or approved after a cancellation.
struct PauseAfterRead<'a, S> {
    inner: &'a S,
    read_done: &'a tokio::sync::Notify,
    go: &'a tokio::sync::Notify,
}

impl<S: SchedulerStore> SchedulerStore for PauseAfterRead<'_, S> {
    due_work_pass_through!();
    async fn read(&self, heads: &[String], records: &[RecordId]) -> Result<TickRead, StoreError> {
        let read = self.inner.read(heads, records).await;
        self.read_done.notify_one();
        self.go.notified().await;
        read
    }
    async fn commit_tick(&self, commit: &TickCommit<'_>) -> Result<(), StoreError> {
        self.inner.commit_tick(commit).await
    }
    scores_pass_through!();
}

#[tokio::test]
async fn a_refund_landing_between_a_ticks_read_and_write_wins_and_the_commission_is_never_approved()
{
    let stack = LocalStack::fresh().await;
    let hooks = Webhooks::new(&stack).await;
    let harness = stack.processor();
    let rules = stack.anomaly_rules();
    let config = harness.config.tick_config;
    // bought 47 h ago: cooling-off ends in an hour; the tick runs at that end instant
    let bought = (Utc::now() - Duration::hours(47))
        .with_nanosecond(0)
        .unwrap();
    let (status, _) = hooks
        .send(
            EventType::Purchase,
            "race-p",
            &purchase("cust-race", bought, "tx-race"),
        )
        .await;
    assert_eq!(status, 202);
    stack.run_trigger(&harness, &harness.store, 5).await;
    let end = bought + Duration::hours(48);

    let (read_done, go) = (tokio::sync::Notify::new(), tokio::sync::Notify::new());
    let paused = PauseAfterRead {
        inner: &harness.store,
        read_done: &read_done,
        go: &go,
    };
    let tick = handle_tick(&paused, &config, &rules, scheduled_event(end));
    let refund = async {
        read_done.notified().await;
        // a full refund that occurred inside cooling-off: cancels
        let body = json!({"customer_id": "cust-race", "occurred_at": (bought + Duration::hours(2)).to_rfc3339_opts(SecondsFormat::Secs, true),
                          "original_transaction_id": "tx-race", "amount": "499.00", "currency": "USD", "reason": "x"});
        let (status, _) = hooks.send(EventType::Refund, "race-rf", &body).await;
        assert_eq!(status, 202);
        stack.run_trigger(&harness, &harness.store, 5).await;
        go.notify_one();
    };
    let (report, ()) = tokio::join!(tick, refund);
    let report = report.unwrap();
    assert_eq!((report.approvals, report.raced), (0, 1), "{report:?}");
    let next = handle_tick(&harness.store, &config, &rules, scheduled_event(end))
        .await
        .unwrap();
    assert_eq!(next.approvals, 0, "{next:?}");
    let kinds: Vec<String> = stack
        .ledger(&harness)
        .await
        .iter()
        .map(|r| r.kind.clone())
        .collect();
    assert_eq!(kinds, vec!["commission", "cancellation"]);
}

/// The template's default `TickConcurrentWrites`.
const WRITES: usize = 16;

/// Takes `WRITES` customer writes at once, as DynamoDB does, and counts how many the tick keeps
/// in flight. Each write is held for a moment so that writes issued together are seen together,
/// then passed to moto one at a time: moto cannot take concurrent transactions (it deep-copies a
/// table per transaction and restores the copy if one fails, losing a concurrent one's writes).
struct CountInFlight<'a, S> {
    inner: &'a S,
    now: AtomicUsize,
    most: AtomicUsize,
    moto: Mutex<()>,
}

impl<S: SchedulerStore> SchedulerStore for CountInFlight<'_, S> {
    fn concurrent_writes(&self) -> usize {
        WRITES
    }
    due_work_pass_through!();
    async fn read(&self, heads: &[String], records: &[RecordId]) -> Result<TickRead, StoreError> {
        self.inner.read(heads, records).await
    }
    async fn commit_tick(&self, commit: &TickCommit<'_>) -> Result<(), StoreError> {
        let in_flight = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(in_flight, Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let written = {
            let _one_at_a_time = self.moto.lock().await;
            self.inner.commit_tick(commit).await
        };
        self.now.fetch_sub(1, Ordering::SeqCst);
        written
    }
    scores_pass_through!();
}

#[tokio::test]
async fn a_backlog_is_written_several_customers_at_a_time_and_each_exactly_once() {
    let stack = LocalStack::fresh().await;
    let hooks = Webhooks::new(&stack).await;
    let harness = stack.processor();
    let customers = 2 * WRITES + 5;
    let bought = (Utc::now() - Duration::hours(1))
        .with_nanosecond(0)
        .unwrap();
    for i in 0..customers {
        let (status, _) = hooks
            .send(
                EventType::Purchase,
                &format!("bl-{i}"),
                &purchase(&format!("cust-bl-{i}"), bought, &format!("tx-bl-{i}")),
            )
            .await;
        assert_eq!(status, 202);
    }
    assert_eq!(
        stack.run_trigger(&harness, &harness.store, 50).await.failed,
        0
    );
    let counted = CountInFlight {
        inner: &harness.store,
        now: AtomicUsize::new(0),
        most: AtomicUsize::new(0),
        moto: Mutex::new(()),
    };
    let end = bought + Duration::hours(48);
    let rules = stack.anomaly_rules();
    let report = handle_tick(
        &counted,
        &harness.config.tick_config,
        &rules,
        scheduled_event(end),
    )
    .await
    .unwrap();
    assert_eq!(
        (
            report.customers_changed,
            report.approvals,
            report.raced,
            report.failed
        ),
        (customers, customers, 0, 0),
        "{report:?}"
    );
    // In parallel, and never more at once than the bound.
    assert_eq!(counted.most.load(Ordering::SeqCst), WRITES);
    let ledger = stack.ledger(&harness).await;
    let mut approved: Vec<&str> = ledger
        .iter()
        .filter(|r| r.kind == "approval")
        .map(|r| r.commission_id.as_str())
        .collect();
    approved.sort_unstable();
    approved.dedup();
    assert_eq!(approved.len(), customers, "one approval per commission");
    assert_eq!(
        ledger.iter().filter(|r| r.kind == "approval").count(),
        customers
    );
}
