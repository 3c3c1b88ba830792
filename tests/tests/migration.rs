//! Migration from the legacy whole-history customer item, on items written by the code that
//! wrote them (commit b1fd094, `tests/fixtures/legacy/`): a table in the old format keeps working.
//! Each path that migrates — the processor on an event, the scheduler on due work, the one-off
//! `migrate-customers` command — must leave every customer exactly where the current code would
//! have it had it processed the whole history itself: the same ledger, outcomes, reviews,
//! attributions and quality counters.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde_json::Value;
use shared::adapters::dynamo::items::{decode_envelope, decode_head};
use shared::engine::book::Book;
use shared::engine::{legacy, MemoryDirectory, Record};
use shared::events::*;
use shared::plans::Plan;
use shared::processor::StoredHead;
use system_tests::history::{envelope, usd};
use system_tests::{workspace_root, LocalStack, ProcessorHarness};

fn fixture() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(
            workspace_root().join("tests/fixtures/legacy/b1fd094-tables.json"),
        )
        .expect("fixture"),
    )
    .expect("fixture JSON")
}

fn attribute(v: &Value) -> AttributeValue {
    let (kind, inner) = v.as_object().unwrap().iter().next().unwrap();
    match kind.as_str() {
        "S" => AttributeValue::S(inner.as_str().unwrap().to_owned()),
        "N" => AttributeValue::N(inner.as_str().unwrap().to_owned()),
        "BOOL" => AttributeValue::Bool(inner.as_bool().unwrap()),
        "NULL" => AttributeValue::Null(true),
        "L" => AttributeValue::L(inner.as_array().unwrap().iter().map(attribute).collect()),
        "M" => AttributeValue::M(
            inner
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), attribute(v)))
                .collect(),
        ),
        other => panic!("fixture attribute type {other}"),
    }
}

fn items(fixture: &Value, table: &str) -> Vec<HashMap<String, AttributeValue>> {
    fixture["tables"][table]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            item.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), attribute(v)))
                .collect()
        })
        .collect()
}

fn history_one() -> Vec<EventEnvelope> {
    serde_json::from_value(fixture()["history"].clone()).unwrap()
}

fn tick_one() -> DateTime<Utc> {
    fixture()["tick_at"].as_str().unwrap().parse().unwrap()
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn env(id: &str, customer: &str, t: &str, payload: EventPayload) -> EventEnvelope {
    envelope(id, customer, at(t), None, payload)
}

fn purchase(tx: &str, ch: &str, aff: Option<&str>) -> EventPayload {
    EventPayload::Purchase(Purchase {
        transaction_id: tx.into(),
        challenge_id: ch.into(),
        tier: "100k".into(),
        account_size: "100000".parse().unwrap(),
        price: usd("499.00"),
        affiliate_id: aff.map(str::to_owned),
        click_id: None,
        coupon_code: None,
    })
}

/// What happens after the legacy items were written: every kind of continuation.
fn history_two() -> Vec<EventEnvelope> {
    vec![
        // a pending commission's full refund inside cooling-off: cancelled
        env(
            "m-l6-rf",
            "cust-l6",
            "2026-10-16T06:00:00Z",
            EventPayload::Refund(Refund {
                original_transaction_id: "tx-l6".into(),
                refunded: usd("499.00"),
                reason: "full".into(),
                new_tier: None,
            }),
        ),
        // the held reset's dispute is lost: reversed
        env(
            "m-l1-cb",
            "cust-l1",
            "2026-10-17T10:00:00Z",
            EventPayload::Chargeback(Chargeback {
                original_transaction_id: "tx-l1-r1".into(),
                reason_code: "10.4".into(),
                disputed: usd("79.00"),
                dispute_status: DisputeStatus::Lost,
            }),
        ),
        // a new challenge, and the first one fully refunded after cooling-off: reversed
        env(
            "m-l1-p2",
            "cust-l1",
            "2026-10-18T10:00:00Z",
            purchase("tx-l1-2", "ch-l1-2", Some("aff-alpha")),
        ),
        env(
            "m-l1-rf",
            "cust-l1",
            "2026-10-19T10:00:00Z",
            EventPayload::Refund(Refund {
                original_transaction_id: "tx-l1".into(),
                refunded: usd("399.00"),
                reason: "rest".into(),
                new_tier: None,
            }),
        ),
        env(
            "m-l1-ep",
            "cust-l1",
            "2026-10-20T10:00:00Z",
            EventPayload::EvaluationPassed(EvaluationPassed {
                challenge_id: "ch-l1-2".into(),
                pass_date: "2026-10-20".parse().unwrap(),
                days_to_pass: 2,
            }),
        ),
        // the purchase a parked evaluation waited for (its review is already open)
        env(
            "m-l3-p",
            "cust-l3",
            "2026-10-17T09:00:00Z",
            purchase("tx-l3b", "ch-l3b", Some("aff-gamma")),
        ),
        // an organic customer's purchase naming an affiliate: disputed
        env(
            "m-l4-p",
            "cust-l4",
            "2026-10-17T11:00:00Z",
            purchase("tx-l4b", "ch-l4b", Some("aff-beta")),
        ),
        // an unresolved customer's reset: in review
        env(
            "m-l5-r",
            "cust-l5",
            "2026-10-17T12:00:00Z",
            EventPayload::Reset(Reset {
                transaction_id: "tx-l5-r".into(),
                original_challenge_id: "ch-l5".into(),
                fee: usd("79.00"),
            }),
        ),
        // a dispute on a commission held for an account merge
        env(
            "m-l7-cb",
            "cust-l7",
            "2026-10-18T12:00:00Z",
            EventPayload::Chargeback(Chargeback {
                original_transaction_id: "tx-l7".into(),
                reason_code: "10.4".into(),
                disputed: usd("499.00"),
                dispute_status: DisputeStatus::Opened,
            }),
        ),
        // a customer the legacy code never saw
        env(
            "m-l8-p",
            "cust-l8",
            "2026-10-18T13:00:00Z",
            purchase("tx-l8", "ch-l8", Some("aff-alpha")),
        ),
    ]
}

/// Approvals, expired windows (the beta plan's 30 days), anomaly scores.
fn tick_two() -> DateTime<Utc> {
    at("2026-11-20T00:00:00Z")
}

async fn process(stack: &LocalStack, harness: &ProcessorHarness, events: &[EventEnvelope]) {
    stack.enqueue(events).await;
    let run = stack.run_trigger(harness, &harness.store, 100).await;
    assert_eq!(run.failed, 0, "{run:?}");
}

async fn tick(
    stack: &LocalStack,
    harness: &ProcessorHarness,
    now: DateTime<Utc>,
) -> shared::scheduler::TickReport {
    let report = stack.tick(harness, now).await;
    assert_eq!((report.failed, report.raced), (0, 0), "{report:?}");
    report
}

async fn load_fixture(stack: &LocalStack, harness: &ProcessorHarness) {
    let fixture = fixture();
    let t = &harness.config.tables;
    let ddb = stack.dynamodb();
    for (name, table) in [
        ("customers", &t.customers),
        ("events", &t.events),
        ("ledger", &t.ledger),
        ("reviews", &t.reviews),
        ("email_matches", &t.email_matches),
        ("directory", &t.directory),
        ("stats", &t.stats),
    ] {
        for item in items(&fixture, name) {
            ddb.put_item()
                .table_name(table)
                .set_item(Some(item))
                .send()
                .await
                .unwrap();
        }
    }
}

/// Everything that must come out the same, in comparable form.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    ledger: Vec<String>,
    events: BTreeMap<String, String>,
    reviews: Vec<String>,
    attributions: BTreeMap<String, String>,
    stats: Vec<String>,
}

fn text(item: &HashMap<String, AttributeValue>, names: &[&str]) -> String {
    names
        .iter()
        .map(|n| match item.get(*n) {
            Some(AttributeValue::S(s)) => s.clone(),
            // moto keeps trailing zeros; DynamoDB would not: compare numbers as decimals
            Some(AttributeValue::N(v)) => v
                .parse::<rust_decimal::Decimal>()
                .unwrap()
                .normalize()
                .to_string(),
            Some(AttributeValue::L(l)) => format!(
                "{:?}",
                l.iter()
                    .map(|v| v.as_s().unwrap().clone())
                    .collect::<Vec<_>>()
            ),
            Some(other) => format!("{other:?}"),
            None => "-".into(),
        })
        .collect::<Vec<_>>()
        .join("|")
}

async fn outcome(stack: &LocalStack, harness: &ProcessorHarness) -> Outcome {
    let t = &harness.config.tables;
    let mut ledger: Vec<String> = stack
        .scan(&t.ledger)
        .await
        .iter()
        .map(|i| {
            text(
                i,
                &[
                    "entry_id",
                    "affiliate_id",
                    "commission_id",
                    "customer_id",
                    "kind",
                    "amount",
                    "currency",
                    "status",
                    "plan_id",
                    "plan_version",
                    "event_id",
                    "effective_at",
                    "corrects",
                    "reason",
                ],
            )
        })
        .collect();
    ledger.sort();
    let events = stack
        .scan(&t.events)
        .await
        .iter()
        .map(|i| {
            (
                text(i, &["event_id"]),
                text(i, &["outcome", "reason", "entry_ids", "review_ids"]),
            )
        })
        .collect();
    let mut reviews: Vec<String> = stack
        .scan(&t.reviews)
        .await
        .iter()
        .map(|i| {
            text(
                i,
                &[
                    "review_id",
                    "kind",
                    "customer_id",
                    "event_id",
                    "affiliate_ids",
                    "opened_at",
                    "status",
                ],
            )
        })
        .collect();
    reviews.sort();
    let attributions = stack
        .scan(&t.customers)
        .await
        .iter()
        .map(|i| {
            let head = match decode_head(i).unwrap() {
                StoredHead::Current(h) => h,
                StoredHead::Legacy(_) => panic!("a customer is still in the legacy format"),
            };
            assert!(
                !i.contains_key("due_shard"),
                "a current head in the legacy due index"
            );
            (head.customer_id.clone(), format!("{:?}", head.attribution))
        })
        .collect();
    let mut stats: Vec<String> = stack
        .scan(&t.stats)
        .await
        .iter()
        .map(|i| {
            let mut counters: Vec<String> = i
                .iter()
                .filter(|(k, v)| matches!(v, AttributeValue::N(_)) && *k != "updates")
                .map(|(k, _)| format!("{k}={}", text(i, &[k])))
                .collect();
            counters.sort();
            format!(
                "{} {} {}",
                text(i, &["affiliate_id", "month"]),
                counters.join(","),
                text(i, &["score", "anomalies_opened"])
            )
        })
        .collect();
    stats.sort();
    Outcome {
        ledger,
        events,
        reviews,
        attributions,
        stats,
    }
}

/// The reference: the current code processes the whole history from the start (with a tick
/// between the two halves when asked).
async fn from_scratch(tick_between: Option<DateTime<Utc>>) -> Outcome {
    let stack = LocalStack::fresh().await;
    let harness = stack.processor();
    process(&stack, &harness, &history_one()).await;
    tick(&stack, &harness, tick_one()).await;
    if let Some(at) = tick_between {
        tick(&stack, &harness, at).await;
    }
    process(&stack, &harness, &history_two()).await;
    tick(&stack, &harness, tick_two()).await;
    outcome(&stack, &harness).await
}

#[tokio::test]
async fn the_processor_migrates_a_legacy_customer_on_its_next_event_and_continues_it_exactly() {
    let expected = from_scratch(None).await;
    let stack = LocalStack::fresh().await;
    let harness = stack.processor();
    load_fixture(&stack, &harness).await;
    stack.enqueue(&history_two()).await;
    let run = stack.run_trigger(&harness, &harness.store, 100).await;
    assert_eq!(run.failed, 0, "{run:?}");
    // the customers the events touched are current now; the others are still legacy
    let legacy_left = harness.store.legacy_customers().await.unwrap();
    assert_eq!(legacy_left.len(), 2, "{legacy_left:?}"); // cust-l2 and cust-gamma-own
    let report = tick(&stack, &harness, tick_two()).await;
    assert!(
        report.migrated >= 1,
        "the tick migrates the legacy customers with due work: {report:?}"
    );
    // a customer with nothing due is finished by the one-off command
    let command = harness.store.migrate_all().await.unwrap();
    assert_eq!(
        command.migrated + report.migrated,
        2,
        "{command:?} {report:?}"
    );
    assert!(harness.store.legacy_customers().await.unwrap().is_empty());
    assert_eq!(outcome(&stack, &harness).await, expected);
}

#[tokio::test]
async fn the_one_off_command_migrates_every_legacy_customer_once_and_nothing_changes_after() {
    let expected = from_scratch(None).await;
    let stack = LocalStack::fresh().await;
    let harness = stack.processor();
    load_fixture(&stack, &harness).await;
    let legacy_customers = items(&fixture(), "customers").len();
    let first = harness.store.migrate_all().await.unwrap();
    assert_eq!(
        (first.legacy_found, first.migrated, first.already_current),
        (legacy_customers, legacy_customers, 0)
    );
    let again = harness.store.migrate_all().await.unwrap();
    assert_eq!(again, Default::default(), "a second run finds nothing");
    process(&stack, &harness, &history_two()).await;
    tick(&stack, &harness, tick_two()).await;
    assert_eq!(outcome(&stack, &harness).await, expected);
}

#[tokio::test]
async fn the_scheduler_migrates_legacy_customers_with_due_work_and_does_it() {
    // cust-l6's commission ends its cooling-off at 2026-10-17T12:00: the only legacy work due
    let between = at("2026-10-17T13:00:00Z");
    let expected = from_scratch(Some(between)).await;
    let stack = LocalStack::fresh().await;
    let harness = stack.processor();
    load_fixture(&stack, &harness).await;
    // before any event: the legacy index is the only way to find that work
    let report = tick(&stack, &harness, between).await;
    assert_eq!(
        (report.customers_due, report.migrated, report.approvals),
        (1, 1, 1),
        "the due customer is migrated and its work done in the same tick: {report:?}"
    );
    assert_eq!(harness.store.legacy_customers().await.unwrap().len(), 7);
    process(&stack, &harness, &history_two()).await;
    tick(&stack, &harness, tick_two()).await;
    harness.store.migrate_all().await.unwrap();
    assert_eq!(outcome(&stack, &harness).await, expected);
}

/// Domain level: the legacy state of every fixture customer, converted, holds exactly the
/// records the current engine builds from the same events (up to the store's versions and the
/// order tokens of parked events).
#[test]
fn every_legacy_customer_converts_to_the_records_the_current_engine_builds() {
    let fixture = fixture();
    let local: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace_root().join("infra/local/directory.json")).unwrap(),
    )
    .unwrap();
    let mut directory = MemoryDirectory::default();
    for p in local["plans"].as_array().unwrap() {
        directory.add_plan(Plan::from_json(&p.to_string()).unwrap());
    }
    for a in local["affiliates"].as_array().unwrap() {
        let affiliate: shared::engine::Affiliate = serde_json::from_value(a.clone()).unwrap();
        directory
            .affiliates
            .insert(affiliate.affiliate_id.clone(), affiliate);
    }
    for (code, affiliate) in local["coupons"].as_object().unwrap() {
        directory
            .coupons
            .insert(code.clone(), affiliate.as_str().unwrap().to_owned());
    }
    let mut book = Book::new(directory);
    for e in history_one() {
        book.deliver(&e);
    }
    // the legacy code's tick: approvals, and review items for references that never came
    let config = shared::scheduler::TickConfig::default();
    for view in book.customers.values_mut() {
        shared::scheduler::tick_customer(view, tick_one(), &config);
        view.settle();
    }
    let normalize = |r: &Record| {
        let mut r = r.clone();
        for p in r.parked_mut() {
            p.seq = 0;
        }
        r
    };
    for item in items(&fixture, "customers") {
        let json = item["state"].as_s().unwrap();
        let state = legacy::parse(json).unwrap();
        let customer = state.customer_id.clone();
        let legacy_version = state.version;
        let migrated = legacy::migrate(state).unwrap();
        let view = book.customer(&customer);
        assert_eq!(
            migrated.head.attribution, view.head.attribution,
            "{customer}"
        );
        assert_eq!(migrated.head.version, legacy_version + 1);
        let ours: BTreeMap<_, _> = view
            .records()
            .map(|(k, r)| (k.clone(), normalize(r)))
            .collect();
        let theirs: BTreeMap<_, _> = migrated
            .records
            .iter()
            .map(|(k, r)| (k.clone(), normalize(r)))
            .collect();
        assert_eq!(theirs, ours, "{customer}");
        let parked: Vec<_> = migrated
            .parked_envelopes
            .iter()
            .map(|e| e.event_id.clone())
            .collect();
        let expected: Vec<_> = ours
            .values()
            .flat_map(|r| r.parked().iter().map(|p| p.event_id.clone()))
            .collect();
        assert_eq!(parked, expected, "{customer}");
    }
    // the old event records still read back as envelopes
    for item in items(&fixture, "events") {
        let envelope = decode_envelope(&item).unwrap();
        assert_eq!(envelope.event_id, item["event_id"].as_s().unwrap().as_str());
    }
}
