//! Fault injection on the local stack: every store call the processor makes while processing a
//! batch fails in turn — before it reaches DynamoDB (timeout, throttling, a lost conditional
//! race) or after DynamoDB applied it (the response lost) — and after SQS redelivers, the ledger,
//! outcomes and customer state equal the fault-free run's.

use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{Duration, SecondsFormat, Utc};
use serde_json::{json, Value};
use shared::engine::ReviewItem;
use shared::events::EventType;
use shared::processor::{Commit, LoadRequest, Loaded, MigrationStore, ProcessorStore, StoreError};
use system_tests::{LocalStack, Webhooks};

#[derive(Debug, Clone, Copy)]
enum Fault {
    Timeout,
    Throttled,
    ConditionFailed,
    /// DynamoDB did the work; the caller never heard back.
    ResponseLost,
}

struct FaultyStore<'a, S> {
    inner: &'a S,
    fail_call: usize,
    fault: Fault,
    calls: AtomicUsize,
}

impl<S: ProcessorStore> FaultyStore<'_, S> {
    async fn around<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if n != self.fail_call {
            return call.await;
        }
        match self.fault {
            Fault::Timeout => Err(StoreError::Unavailable("injected: timeout".into())),
            Fault::Throttled => Err(StoreError::Throttled("injected: throttled".into())),
            Fault::ConditionFailed => {
                Err(StoreError::Conflict("injected: condition failed".into()))
            }
            Fault::ResponseLost => {
                call.await?;
                Err(StoreError::Unavailable("injected: response lost".into()))
            }
        }
    }
}

impl<S: ProcessorStore> ProcessorStore for FaultyStore<'_, S> {
    async fn load(&self, request: &LoadRequest) -> Result<Loaded, StoreError> {
        self.around(self.inner.load(request)).await
    }
    async fn commit(&self, commit: &Commit<'_>) -> Result<(), StoreError> {
        self.around(self.inner.commit(commit)).await
    }
    async fn record_conflict(&self, review: &ReviewItem) -> Result<(), StoreError> {
        self.around(self.inner.record_conflict(review)).await
    }
}

impl<S: ProcessorStore> MigrationStore for FaultyStore<'_, S> {
    async fn migrate(
        &self,
        migrated: &shared::engine::legacy::MigratedCustomer,
        legacy_version: u64,
    ) -> Result<(), StoreError> {
        self.around(self.inner.migrate(migrated, legacy_version))
            .await
    }
}

/// One "now" for every run, so each run sends identical events.
fn at(d: Duration) -> String {
    static NOW: std::sync::OnceLock<chrono::DateTime<Utc>> = std::sync::OnceLock::new();
    (*NOW.get_or_init(Utc::now) - d).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A purchase, a reset, a milestone, a partial refund and a chargeback for one customer, plus a
/// purchase for another: one batch, several commits, every kind of write.
fn history() -> Vec<(EventType, &'static str, Value)> {
    vec![
        (
            EventType::Purchase,
            "f-p",
            json!({"customer_id": "cust-f", "occurred_at": at(Duration::days(6)), "transaction_id": "tx-f", "challenge_id": "ch-f", "tier": "100k", "account_size": "100000", "amount": "499.00", "currency": "USD", "affiliate_id": "aff-alpha"}),
        ),
        (
            EventType::Reset,
            "f-r",
            json!({"customer_id": "cust-f", "occurred_at": at(Duration::days(5)), "transaction_id": "tx-f-r", "original_challenge_id": "ch-f", "amount": "79.00", "currency": "USD"}),
        ),
        (
            EventType::Evaluation,
            "f-e",
            json!({"customer_id": "cust-f", "occurred_at": at(Duration::days(4)), "challenge_id": "ch-f", "status": "passed", "pass_date": "2026-11-18", "days_to_pass": 2}),
        ),
        (
            EventType::Refund,
            "f-rf",
            json!({"customer_id": "cust-f", "occurred_at": at(Duration::days(3)), "original_transaction_id": "tx-f", "amount": "100.00", "currency": "USD", "reason": "partial"}),
        ),
        (
            EventType::Chargeback,
            "f-cb",
            json!({"customer_id": "cust-f", "occurred_at": at(Duration::days(2)), "original_transaction_id": "tx-f-r", "reason_code": "10.4", "amount": "79.00", "currency": "USD", "dispute_status": "lost"}),
        ),
        (
            EventType::Purchase,
            "g-p",
            json!({"customer_id": "cust-g", "occurred_at": at(Duration::days(1)), "transaction_id": "tx-g", "challenge_id": "ch-g", "tier": "50k", "account_size": "100000", "amount": "299.00", "currency": "USD", "coupon_code": "BETA20"}),
        ),
    ]
}

/// What must come out the same: the ledger, every outcome, every customer's head and records.
async fn result(
    stack: &LocalStack,
) -> (
    Vec<system_tests::LedgerRow>,
    Vec<(String, String)>,
    Vec<String>,
) {
    let harness = stack.processor();
    let ledger = stack.ledger(&harness).await;
    let mut outcomes = Vec::new();
    for (_, id, _) in history() {
        outcomes.push(stack.outcome(&harness, id).await.unwrap_or_default());
    }
    let mut states: Vec<String> = Vec::new();
    for table in [
        &harness.config.tables.customers,
        &harness.config.tables.records,
    ] {
        for item in stack.scan(table).await {
            let sorted: std::collections::BTreeMap<_, _> = item.into_iter().collect();
            states.push(format!("{sorted:?}"));
        }
    }
    states.sort();
    (ledger, outcomes, states)
}

async fn run_once(
    fault: Option<(usize, Fault)>,
) -> (
    usize,
    (
        Vec<system_tests::LedgerRow>,
        Vec<(String, String)>,
        Vec<String>,
    ),
) {
    let stack = LocalStack::fresh().await;
    let hooks = Webhooks::new(&stack).await;
    for (t, id, body) in history() {
        let (status, _) = hooks.send(t, id, &body).await;
        assert_eq!(status, 202);
    }
    let harness = stack.processor();
    let (fail_call, fault) = fault.unwrap_or((usize::MAX, Fault::Timeout));
    let store = FaultyStore {
        inner: &harness.store,
        fail_call,
        fault,
        calls: AtomicUsize::new(0),
    };
    let run = stack.run_trigger(&harness, &store, 20).await;
    if fail_call != usize::MAX {
        assert!(
            run.failed > 0,
            "fault at call {fail_call} was not reported as a failure: {run:?}"
        );
    }
    (store.calls.load(Ordering::SeqCst), result(&stack).await)
}

#[tokio::test]
async fn every_store_call_failing_in_turn_leaves_the_fault_free_ledger() {
    let (calls, expected) = run_once(None).await;
    assert_eq!(expected.0.len(), 6, "fault-free ledger: {:?}", expected.0);
    assert!(
        calls >= 7,
        "expected reads plus six commits, saw {calls} calls"
    );
    let mut runs = 0;
    for fault in [
        Fault::Timeout,
        Fault::Throttled,
        Fault::ConditionFailed,
        Fault::ResponseLost,
    ] {
        for call in 0..calls {
            let (_, got) = run_once(Some((call, fault))).await;
            assert_eq!(got, expected, "after {fault:?} at call {call}");
            runs += 1;
        }
    }
    println!("fault injection: {runs} faulted runs over {calls} store calls, all equal to the fault-free run");
}
