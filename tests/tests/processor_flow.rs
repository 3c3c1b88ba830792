//! Integration tier: webhook → SQS FIFO → processor → DynamoDB, all on moto's server through the
//! real AWS SDK, for every row of SPEC.md's event table, with exact amounts to the cent.

use chrono::{Duration, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use shared::events::EventType;
use system_tests::{LedgerRow, LocalStack, Webhooks};

fn ago(d: Duration) -> String {
    (Utc::now() - d).to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn purchase(
    customer: &str,
    at: &str,
    tx: &str,
    ch: &str,
    tier: &str,
    amount: &str,
    referral: Value,
) -> Value {
    let mut body = json!({
        "customer_id": customer, "occurred_at": at, "transaction_id": tx, "challenge_id": ch,
        "tier": tier, "account_size": "100000", "amount": amount, "currency": "USD",
    });
    for (k, v) in referral.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

fn entries_of<'a>(ledger: &'a [LedgerRow], commission: &str) -> Vec<(&'a str, Decimal, &'a str)> {
    ledger
        .iter()
        .filter(|r| r.commission_id == commission)
        .map(|r| (r.kind.as_str(), r.amount, r.status.as_str()))
        .collect()
}

async fn accepted(hooks: &Webhooks, t: EventType, id: &str, body: Value) {
    let (status, response) = hooks.send(t, id, &body).await;
    assert_eq!(status, 202, "{id}: {response}");
}

#[tokio::test]
async fn every_event_type_reaches_the_ledger_with_exact_amounts() {
    let stack = LocalStack::fresh().await;
    let hooks = Webhooks::new(&stack).await;
    let harness = stack.processor();
    use EventType::*;

    // cust-a via aff-alpha's link (hybrid: 75.00 CPA for 100k + 10%; resets 10%; milestones)
    accepted(
        &hooks,
        Purchase,
        "a-p",
        purchase(
            "cust-a",
            &ago(Duration::days(10)),
            "tx-a",
            "ch-a",
            "100k",
            "499.00",
            json!({"affiliate_id": "aff-alpha", "click_id": "clk-1"}),
        ),
    )
    .await;
    accepted(&hooks, Evaluation, "a-e1", json!({"customer_id": "cust-a", "occurred_at": ago(Duration::days(10) - Duration::hours(1)), "challenge_id": "ch-a", "status": "started", "account_size": "100000", "start_date": "2026-11-12"})).await;
    accepted(&hooks, Reset, "a-r", json!({"customer_id": "cust-a", "occurred_at": ago(Duration::days(8)), "transaction_id": "tx-a-r", "original_challenge_id": "ch-a", "amount": "79.00", "currency": "USD"})).await;
    accepted(&hooks, Evaluation, "a-e2", json!({"customer_id": "cust-a", "occurred_at": ago(Duration::days(5)), "challenge_id": "ch-a", "status": "passed", "pass_date": "2026-11-17", "days_to_pass": 5})).await;
    accepted(&hooks, Funded, "a-f", json!({"customer_id": "cust-a", "occurred_at": ago(Duration::days(4)), "account_id": "acc-a", "challenge_id": "ch-a", "account_size": "100000", "profit_split": "80"})).await;
    accepted(&hooks, Refund, "a-rf", json!({"customer_id": "cust-a", "occurred_at": ago(Duration::days(1)), "original_transaction_id": "tx-a", "amount": "199.00", "currency": "USD", "reason": "partial"})).await;

    // cust-b via coupon BETA20 → aff-beta (CPA 60.00 for 50k, 24 h cooling-off)
    accepted(
        &hooks,
        Purchase,
        "b-p",
        purchase(
            "cust-b",
            &ago(Duration::hours(3)),
            "tx-b",
            "ch-b",
            "50k",
            "299.00",
            json!({"coupon_code": "BETA20"}),
        ),
    )
    .await;
    accepted(&hooks, Evaluation, "b-e", json!({"customer_id": "cust-b", "occurred_at": ago(Duration::hours(2)), "challenge_id": "ch-b", "status": "failed", "reason": "drawdown_limit", "days_active": 0})).await;
    accepted(&hooks, Refund, "b-rf", json!({"customer_id": "cust-b", "occurred_at": ago(Duration::hours(1)), "original_transaction_id": "tx-b", "amount": "299.00", "currency": "USD", "reason": "changed mind"})).await;

    // cust-c: chargeback opened, then lost
    accepted(
        &hooks,
        Purchase,
        "c-p",
        purchase(
            "cust-c",
            &ago(Duration::days(20)),
            "tx-c",
            "ch-c",
            "50k",
            "299.00",
            json!({"affiliate_id": "aff-alpha"}),
        ),
    )
    .await;
    accepted(&hooks, Chargeback, "c-cb1", json!({"customer_id": "cust-c", "occurred_at": ago(Duration::days(3)), "original_transaction_id": "tx-c", "reason_code": "10.4", "amount": "299.00", "currency": "USD", "dispute_status": "opened"})).await;
    accepted(&hooks, Chargeback, "c-cb2", json!({"customer_id": "cust-c", "occurred_at": ago(Duration::days(1)), "original_transaction_id": "tx-c", "reason_code": "10.4", "amount": "299.00", "currency": "USD", "dispute_status": "lost"})).await;

    // cust-d via aff-gamma (plan v2, quality tier gold: 18%): chargeback opened, then won
    accepted(
        &hooks,
        Purchase,
        "d-p",
        purchase(
            "cust-d",
            "2026-11-16T10:00:00Z",
            "tx-d",
            "ch-d",
            "100k",
            "499.00",
            json!({"affiliate_id": "aff-gamma"}),
        ),
    )
    .await;
    accepted(&hooks, Chargeback, "d-cb1", json!({"customer_id": "cust-d", "occurred_at": ago(Duration::days(3)), "original_transaction_id": "tx-d", "reason_code": "13.1", "amount": "499.00", "currency": "USD", "dispute_status": "opened"})).await;
    accepted(&hooks, Chargeback, "d-cb2", json!({"customer_id": "cust-d", "occurred_at": ago(Duration::days(1)), "original_transaction_id": "tx-d", "reason_code": "13.1", "amount": "499.00", "currency": "USD", "dispute_status": "won"})).await;

    // cust-e: full refund after cooling-off
    accepted(
        &hooks,
        Purchase,
        "e-p",
        purchase(
            "cust-e",
            &ago(Duration::days(5)),
            "tx-e",
            "ch-e",
            "100k",
            "499.00",
            json!({"affiliate_id": "aff-alpha"}),
        ),
    )
    .await;
    accepted(&hooks, Refund, "e-rf", json!({"customer_id": "cust-e", "occurred_at": ago(Duration::hours(1)), "original_transaction_id": "tx-e", "amount": "499.00", "currency": "USD", "reason": "late"})).await;

    let run = stack.run_trigger(&harness, &harness.store, 50).await;
    assert_eq!(run.failed, 0, "{run:?}");
    assert_eq!(run.delivered, 17);

    let ledger = stack.ledger(&harness).await;
    let pending = "pending";
    assert_eq!(
        entries_of(&ledger, "a-p"),
        vec![
            ("commission", dec("124.90"), pending),
            ("adjustment", dec("-19.90"), pending)
        ]
    );
    // the partial refund is an adjustment entry of its own (-19.90: 75 + 10% of 300.00 = 105.00)
    let adj: Vec<_> = ledger.iter().filter(|r| r.entry_id == "a-rf#0").collect();
    assert_eq!(
        (
            adj[0].kind.as_str(),
            adj[0].amount,
            adj[0].commission_id.as_str()
        ),
        ("adjustment", dec("-19.90"), "a-p")
    );
    assert_eq!(
        entries_of(&ledger, "a-r"),
        vec![("commission", dec("7.90"), pending)]
    );
    assert_eq!(
        entries_of(&ledger, "a-e2"),
        vec![("commission", dec("25.00"), pending)]
    );
    assert_eq!(
        entries_of(&ledger, "a-f"),
        vec![("commission", dec("100.00"), pending)]
    );
    assert_eq!(
        ledger
            .iter()
            .filter(|r| r.entry_id == "b-rf#0")
            .map(|r| (r.kind.as_str(), r.amount, r.status.as_str()))
            .collect::<Vec<_>>(),
        vec![("cancellation", dec("-60.00"), "cancelled")]
    );
    assert_eq!(entries_of(&ledger, "b-p").len(), 2);
    let c: Vec<_> = ledger
        .iter()
        .filter(|r| r.customer_id == "cust-c")
        .map(|r| {
            (
                r.entry_id.as_str(),
                r.kind.as_str(),
                r.amount,
                r.status.as_str(),
            )
        })
        .collect();
    assert_eq!(
        c,
        vec![
            ("c-cb1#0", "hold", dec("0"), "on_hold"),
            ("c-cb2#0", "reversal", dec("-69.90"), "reversed"),
            ("c-p#0", "commission", dec("69.90"), pending)
        ]
    );
    let d: Vec<_> = ledger
        .iter()
        .filter(|r| r.customer_id == "cust-d")
        .map(|r| {
            (
                r.entry_id.as_str(),
                r.kind.as_str(),
                r.amount,
                r.status.as_str(),
                r.affiliate_id.as_str(),
            )
        })
        .collect();
    assert_eq!(
        d,
        vec![
            ("d-cb1#0", "hold", dec("0"), "on_hold", "aff-gamma"),
            ("d-cb2#0", "release", dec("0"), pending, "aff-gamma"),
            ("d-p#0", "commission", dec("89.82"), pending, "aff-gamma")
        ]
    );
    let e: Vec<_> = ledger
        .iter()
        .filter(|r| r.customer_id == "cust-e")
        .map(|r| (r.kind.as_str(), r.amount, r.status.as_str()))
        .collect();
    assert_eq!(
        e,
        vec![
            ("commission", dec("124.90"), pending),
            ("reversal", dec("-124.90"), "reversed")
        ]
    );
    assert!(ledger.iter().all(|r| r.currency == "USD"));

    for (id, outcome, reason) in [
        ("a-p", "commission_posted", "purchase"),
        ("a-e1", "no_commission", "reporting_only"),
        ("a-r", "commission_posted", "reset"),
        ("a-e2", "commission_posted", "evaluation_passed"),
        ("a-f", "commission_posted", "funded"),
        ("a-rf", "adjusted", "partial_refund_recalculated"),
        ("b-p", "commission_posted", "purchase"),
        ("b-e", "no_commission", "reporting_only"),
        ("b-rf", "cancelled", "full_refund_in_cooling_off"),
        ("c-cb1", "held", "dispute_opened"),
        ("c-cb2", "reversed", "chargeback_lost"),
        ("d-cb1", "held", "dispute_opened"),
        ("d-cb2", "released", "dispute_won"),
        ("e-rf", "reversed", "full_refund_after_cooling_off"),
    ] {
        assert_eq!(
            stack.outcome(&harness, id).await,
            Some((outcome.into(), reason.into())),
            "{id}"
        );
    }
    let total: Decimal = ledger
        .iter()
        .filter(|r| r.affiliate_id == "aff-alpha")
        .map(|r| r.amount)
        .sum();
    // 124.90 - 19.90 + 7.90 + 25.00 + 100.00 + (69.90 - 69.90) + (124.90 - 124.90)
    assert_eq!(total, dec("237.90"));
}

#[tokio::test]
async fn redeliveries_days_later_change_nothing_and_a_changed_body_goes_to_review() {
    let stack = LocalStack::fresh().await;
    let hooks = Webhooks::new(&stack).await;
    let harness = stack.processor();
    let body = purchase(
        "cust-r",
        &ago(Duration::days(1)),
        "tx-r",
        "ch-r",
        "100k",
        "499.00",
        json!({"affiliate_id": "aff-alpha"}),
    );
    accepted(&hooks, EventType::Purchase, "r-p", body.clone()).await;
    stack.run_trigger(&harness, &harness.store, 10).await;
    let before = stack.ledger(&harness).await;
    assert_eq!(before.len(), 1);

    // A sender retry after SQS's 5-minute deduplication window is a new message with the same
    // envelope; here it is put on the queue directly with a fresh deduplication id.
    let queue = stack.resource("EventQueue").reference.clone();
    let events = stack.scan(&harness.config.tables.events).await;
    let envelope = serde_json::to_string(
        &shared::adapters::dynamo::items::decode_envelope(&events[0]).expect("an event record"),
    )
    .unwrap();
    stack
        .sqs()
        .send_message()
        .queue_url(&queue)
        .message_body(envelope)
        .message_group_id("cust-r")
        .message_deduplication_id("days-later")
        .send()
        .await
        .unwrap();
    // and the same webhook id with a different amount
    let mut changed = body.clone();
    changed["amount"] = "999.00".into();
    accepted(&hooks, EventType::Purchase, "r-p", changed).await;
    let run = stack.run_trigger(&harness, &harness.store, 10).await;
    assert_eq!((run.delivered, run.failed), (2, 0));

    assert_eq!(stack.ledger(&harness).await, before);
    let reviews = stack.scan(&harness.config.tables.reviews).await;
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0]["kind"].as_s().unwrap(), "conflicting_redelivery");
    assert_eq!(reviews[0]["open_queue"].as_s().unwrap(), "open");
}

#[tokio::test]
async fn an_event_before_its_purchase_is_parked_then_applied() {
    let stack = LocalStack::fresh().await;
    let hooks = Webhooks::new(&stack).await;
    let harness = stack.processor();
    accepted(&hooks, EventType::Refund, "o-rf", json!({"customer_id": "cust-o", "occurred_at": ago(Duration::hours(1)), "original_transaction_id": "tx-o", "amount": "499.00", "currency": "USD", "reason": "x"})).await;
    stack.run_trigger(&harness, &harness.store, 10).await;
    assert_eq!(
        stack.outcome(&harness, "o-rf").await,
        Some(("parked".into(), "reference_not_yet_received".into()))
    );
    // parked in a placeholder record of the transaction it waits for, due for review in 72 h
    let records = stack.scan(&harness.config.tables.records).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["record"].as_s().unwrap(), "tx#tx-o");
    assert!(records[0]["state"].as_s().unwrap().contains("\"o-rf\""));
    assert!(records[0].contains_key("due_shard"));

    accepted(
        &hooks,
        EventType::Purchase,
        "o-p",
        purchase(
            "cust-o",
            &ago(Duration::hours(2)),
            "tx-o",
            "ch-o",
            "100k",
            "499.00",
            json!({"affiliate_id": "aff-alpha"}),
        ),
    )
    .await;
    stack.run_trigger(&harness, &harness.store, 10).await;
    assert_eq!(
        stack.outcome(&harness, "o-rf").await,
        Some(("cancelled".into(), "full_refund_in_cooling_off".into()))
    );
    let ledger = stack.ledger(&harness).await;
    let amounts: Vec<_> = ledger
        .iter()
        .map(|r| (r.entry_id.as_str(), r.amount))
        .collect();
    assert_eq!(
        amounts,
        vec![("o-p#0", dec("124.90")), ("o-rf#0", dec("-124.90"))]
    );
    // released: no record holds a parked event any more
    for record in stack.scan(&harness.config.tables.records).await {
        assert!(
            !record["state"].as_s().unwrap().contains("\"o-rf\""),
            "{record:?}"
        );
    }
}

#[tokio::test]
async fn a_poison_message_goes_to_the_dead_letter_queue_with_its_reason_and_blocks_nothing() {
    let stack = LocalStack::fresh().await;
    let hooks = Webhooks::new(&stack).await;
    let harness = stack.processor();
    let queue = stack.resource("EventQueue").reference.clone();
    stack
        .sqs()
        .send_message()
        .queue_url(&queue)
        .message_body("{\"schema_version\": 99}")
        .message_group_id("cust-x")
        .message_deduplication_id("poison-1")
        .send()
        .await
        .unwrap();
    accepted(
        &hooks,
        EventType::Purchase,
        "x-p",
        purchase(
            "cust-x",
            &ago(Duration::hours(1)),
            "tx-x",
            "ch-x",
            "100k",
            "499.00",
            json!({"affiliate_id": "aff-alpha"}),
        ),
    )
    .await;
    let run = stack.run_trigger(&harness, &harness.store, 10).await;
    assert_eq!(run.failed, 0);
    assert_eq!(stack.ledger(&harness).await.len(), 1);
    let dlq = stack.resource("EventDeadLetterQueue").reference.clone();
    let dead = stack.drain(&dlq).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body(), Some("{\"schema_version\": 99}"));
    let reason = dead[0].message_attributes().unwrap()["failure_reason"]
        .string_value()
        .unwrap()
        .to_owned();
    assert!(reason.contains("not an event envelope"), "{reason}");
}
