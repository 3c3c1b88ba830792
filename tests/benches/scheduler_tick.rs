//! Scheduler tick cost on the local stack (moto, real SDK, real adapter): 10,000 attributed
//! customers with 10,000 pending commissions (10,000 open attributions), then ticks that find
//! nothing, 10 and 100 commissions due. Prints, per tick, what was due and changed, the DynamoDB
//! requests it made and its wall time, to show the cost follows what changed, not the table size.
//!
//! The customers' heads and records are computed by the engine, mapped to items by the adapter's
//! own item mapping, and written with BatchWriteItem (10,000 purchases through the processor would
//! only measure moto). The ticks stop at 100 approvals; wall times on moto grow with the table
//! (moto scans a table to answer an index query) where DynamoDB's do not: the request counts are
//! the figure to read.
//!
//! Run: `cargo bench -p system-tests --bench scheduler_tick` (part of `./infra/bench`).

use std::time::Instant;

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use chrono::{DateTime, Duration, TimeZone, Utc};
use shared::adapters::dynamo::items::{head_item, record_item};
use shared::engine::{apply_event, Affiliate, CustomerHead, CustomerView, MemoryDirectory};
use shared::events::{EventEnvelope, EventPayload, EventType, Purchase, ENVELOPE_SCHEMA_VERSION};
use shared::money::Money;
use shared::plans::Plan;
use shared::scheduler::{record_due, run_tick};
use system_tests::{workspace_root, LocalStack};

const CUSTOMERS: i64 = 10_000;
/// Purchases are 10 s apart, so cooling-off ends (48 h later) are too.
const SPACING_SECS: i64 = 10;

fn envelope(i: i64, t0: DateTime<Utc>) -> EventEnvelope {
    let customer = format!("bench-{i:05}");
    let payload = EventPayload::Purchase(Purchase {
        transaction_id: format!("tx-{i}"),
        challenge_id: format!("ch-{i}"),
        tier: "100k".into(),
        account_size: "100000".parse().unwrap(),
        price: Money {
            amount: "499.00".parse().unwrap(),
            currency: "USD".parse().unwrap(),
        },
        affiliate_id: Some("aff-alpha".into()),
        click_id: None,
        coupon_code: None,
    });
    let at = t0 + Duration::seconds(i * SPACING_SECS);
    EventEnvelope {
        schema_version: ENVELOPE_SCHEMA_VERSION,
        event_id: format!("bench-p-{i}"),
        event_type: EventType::Purchase,
        customer_id: customer,
        occurred_at: at,
        received_at: at,
        email_hash: None,
        content_hash: blake3::hash(format!("bench {i}").as_bytes())
            .to_hex()
            .to_string(),
        payload,
    }
}

#[tokio::main]
async fn main() {
    let stack = LocalStack::fresh().await;
    let harness = stack.processor();
    let rules = stack.anomaly_rules();
    let config = harness.config.tick_config;
    let t0 = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();

    let seeding = Instant::now();
    let mut directory = MemoryDirectory::default();
    let local: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(workspace_root().join("infra/local/directory.json")).unwrap(),
    )
    .unwrap();
    for p in local["plans"].as_array().unwrap() {
        directory.add_plan(Plan::from_json(&p.to_string()).unwrap());
    }
    let alpha: Affiliate = serde_json::from_value(local["affiliates"][0].clone()).unwrap();
    directory
        .affiliates
        .insert(alpha.affiliate_id.clone(), alpha);
    let ddb = stack.dynamodb();
    let put = |item| {
        WriteRequest::builder()
            .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
            .build()
    };
    let (mut heads, mut records) = (Vec::new(), Vec::new());
    for i in 0..CUSTOMERS {
        let e = envelope(i, t0);
        let mut view = CustomerView::complete(CustomerHead::new(&e.customer_id));
        let applied = apply_event(&mut view, &e, &directory).unwrap();
        assert_eq!(applied.entries.len(), 1);
        heads.push(put(head_item(&view.head)));
        for changed in view.changed_records() {
            let due = record_due(changed.record, &config);
            records.push(put(record_item(
                &e.customer_id,
                changed.key,
                1,
                changed.record,
                due,
            )));
        }
    }
    for (table, requests) in [
        (&harness.config.tables.customers, heads),
        (&harness.config.tables.records, records),
    ] {
        for chunk in requests.chunks(25) {
            let out = ddb
                .batch_write_item()
                .request_items(table, chunk.to_vec())
                .send()
                .await
                .unwrap();
            assert!(out.unprocessed_items().is_none_or(|u| u.is_empty()));
        }
    }
    println!(
        "tick: seeded {CUSTOMERS} attributed customers, each with a pending commission, in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    let usage = harness.store.usage();
    let tick = |label: &'static str, at: DateTime<Utc>| {
        let usage = usage.clone();
        let (store, rules) = (&harness.store, &rules);
        async move {
            let before = usage.snapshot();
            let started = Instant::now();
            let r = run_tick(store, at, &config, rules).await.unwrap();
            let used = usage.snapshot() - before;
            println!(
                "tick: {label:<34} due {:>5}  approvals {:>5}  scores {:>1}  | reads {:>5} (queries+gets)  writes {:>5}  | {:>7.1} ms",
                r.customers_due, r.approvals, r.scores_refreshed, used.read_requests, used.write_requests,
                started.elapsed().as_secs_f64() * 1e3
            );
            r
        }
    };
    let idle = tick("nothing due (10,000 rows)", t0 + Duration::hours(1)).await;
    assert_eq!(idle.customers_due, 0);
    let end = t0 + Duration::hours(48);
    let r = tick(
        "10 cooling-offs ended",
        end + Duration::seconds(9 * SPACING_SECS),
    )
    .await;
    assert_eq!(r.approvals, 10);
    let r = tick(
        "100 more ended",
        end + Duration::seconds(109 * SPACING_SECS),
    )
    .await;
    assert_eq!(r.approvals, 100);
    let idle = tick(
        "nothing due again",
        end + Duration::seconds(109 * SPACING_SECS),
    )
    .await;
    assert_eq!(idle.customers_due, 0);
    println!("tick: reads = 16 DueRecords + 16 legacy DueWork + 16 DirtyScores shard queries (one page each), one batched read of what is due (heads and records); writes = one transaction per changed record");
}
