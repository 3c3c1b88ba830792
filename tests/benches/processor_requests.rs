//! DynamoDB requests and capacity units per event, on the local stack (moto's server, the real
//! AWS SDK, the real processor and adapter). Counts are exact; capacity units are given twice:
//! as moto reports them, and by DynamoDB's documented rules from the item sizes (moto does not
//! bill like DynamoDB, so the documented figure is the one to plan with).
//!
//! Run: `cargo bench -p system-tests --bench processor_requests` (needs `./infra/bootstrap` once;
//! `./infra/bench` does both).

use chrono::{Duration, SecondsFormat, Utc};
use serde_json::{json, Value};
use shared::adapters::dynamo::UsageSnapshot;
use shared::events::EventType;
use system_tests::{LocalStack, Webhooks};

fn at(d: Duration) -> String {
    (Utc::now() - d).to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn purchase(customer: &str, tx: &str) -> Value {
    json!({"customer_id": customer, "occurred_at": at(Duration::days(3)), "transaction_id": tx, "challenge_id": format!("ch-{tx}"),
           "tier": "100k", "account_size": "100000", "amount": "499.00", "currency": "USD", "affiliate_id": "aff-alpha",
           "email": format!("{customer}@example.com")})
}

fn row(label: &str, events: usize, u: UsageSnapshot) {
    let n = events as f64;
    println!(
        "requests: {label:<34} per event: reads {:>5.2}  writes {:>4.2}  documented RCU {:>5.2}  WCU {:>5.2}  (moto reported CU {})",
        u.read_requests as f64 / n,
        u.write_requests as f64 / n,
        u.documented_read_units as f64 / n,
        u.documented_write_units as f64 / n,
        u.reported_capacity
    );
}

#[tokio::main]
async fn main() {
    let stack = LocalStack::fresh().await;
    let hooks = Webhooks::new(&stack).await;
    let harness = stack.processor();
    let usage = harness.store.usage();

    // Warm the plan cache the way a running instance has it (plans are immutable, cached).
    hooks
        .send(
            EventType::Purchase,
            "warm",
            &purchase("cust-warm", "tx-warm"),
        )
        .await;
    stack.run_trigger(&harness, &harness.store, 10).await;

    let single = |t: EventType, id: &'static str, body: Value| {
        let hooks = &hooks;
        let stack = &stack;
        let harness = &harness;
        let usage = usage.clone();
        async move {
            let (status, _) = hooks.send(t, id, &body).await;
            assert_eq!(status, 202);
            let before = usage.snapshot();
            let run = stack.run_trigger(harness, &harness.store, 5).await;
            assert_eq!(run.failed, 0);
            usage.snapshot() - before
        }
    };
    println!("requests: one event per SQS batch (the worst case: nothing to share reads with)");
    let u = single(EventType::Purchase, "b-p", purchase("cust-b", "tx-b")).await;
    row("attributed purchase", 1, u);
    let u = single(EventType::Reset, "b-r", json!({"customer_id": "cust-b", "occurred_at": at(Duration::days(2)), "transaction_id": "tx-b-r", "original_challenge_id": "ch-tx-b", "amount": "79.00", "currency": "USD"})).await;
    row("reset", 1, u);
    let u = single(EventType::Refund, "b-rf", json!({"customer_id": "cust-b", "occurred_at": at(Duration::days(1)), "original_transaction_id": "tx-b", "amount": "100.00", "currency": "USD", "reason": "partial"})).await;
    row("partial refund", 1, u);
    let u = single(EventType::Chargeback, "b-cb", json!({"customer_id": "cust-b", "occurred_at": at(Duration::hours(1)), "original_transaction_id": "tx-b-r", "reason_code": "10.4", "amount": "79.00", "currency": "USD", "dispute_status": "lost"})).await;
    row("chargeback (lost)", 1, u);

    // A full batch: ten attributed purchases of ten customers share their reads.
    for i in 0..10 {
        let (status, _) = hooks
            .send(
                EventType::Purchase,
                &format!("batch-{i}"),
                &purchase(&format!("cust-batch-{i}"), &format!("tx-batch-{i}")),
            )
            .await;
        assert_eq!(status, 202);
    }
    let before = usage.snapshot();
    let run = stack.run_trigger(&harness, &harness.store, 5).await;
    assert_eq!((run.failed, run.delivered), (0, 10));
    let u = usage.snapshot() - before;
    println!(
        "requests: a full SQS batch ({} invocation(s), {} events)",
        run.invocations, run.delivered
    );
    row("attributed purchase, batch of 10", 10, u);
    println!("requests: targets: one transactional write per event; at most one read round trip per event (reads are per batch)");
}
