//! What one event costs in DynamoDB as a customer's history grows: one trader's history in the
//! realistic mix (`system_tests::history`) is replayed through the real processor and adapter on
//! the local stack (moto, real SDK), and at each length — 1, 10, 50, 200, 1,000 and 5,000 events —
//! a fixed probe (one event of each kind, each alone in its SQS batch: the worst case, nothing to
//! share reads with) is measured: read and write requests, read and write capacity units by
//! DynamoDB's documented rules (transactions double), the index writes the table writes cause,
//! and the largest item written. Then a scheduler tick approves what has come due, measured per
//! approval.
//!
//! Counts are exact; capacity units are computed from the items' sizes (moto does not bill like
//! DynamoDB). Two things the adapter cannot see are measured here: a stats counter update is billed
//! on the stats item's size, and its index entry (DirtyScores projects the whole item) too, so the
//! stats item is read after each probe event and both are charged at its real size.
//!
//! Targets (issue 9): flat in history length; no item over 4 KB; at most 8 WCU per event averaged
//! over the mix. The figures go to `.local/bench/customer-history.json` for `infra/cost.py`.
//!
//! Run: `cargo bench -p system-tests --bench customer_history` (part of `./infra/bench`).
//! `HISTORY_LENGTHS=1,10,50` measures fewer lengths.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Duration;
use rust_decimal::Decimal;
use serde_json::json;
use shared::adapters::dynamo::{item_size, UsageSnapshot};
use shared::events::EventEnvelope;
use shared::quality::month_of;
use system_tests::history::{customer_id, kind, History, AFFILIATE};
use system_tests::{workspace_root, LocalStack, ProcessorHarness};

const ITEM_LIMIT: usize = 4096;
const WCU_TARGET: Decimal = Decimal::from_parts(8, 0, 0, false, 0);

#[path = "../../shared/benches/support/cpu_time.rs"]
mod cpu_time;

/// One measured event (or tick).
#[derive(Debug, Clone, Default)]
struct Cost {
    /// This thread's CPU time: the processor's own work (the engine, the SDK's requests), which is
    /// what a Lambda bills besides waiting; moto runs in another process. The bench runs on one
    /// thread so all of the processor's work is counted here.
    cpu: std::time::Duration,
    read_requests: u64,
    write_requests: u64,
    rcu: u64,
    wcu: u64,
    index_wcu: u64,
    largest_item: usize,
}

impl Cost {
    fn add(&mut self, o: &Cost) {
        self.cpu += o.cpu;
        self.read_requests += o.read_requests;
        self.write_requests += o.write_requests;
        self.rcu += o.rcu;
        self.wcu += o.wcu;
        self.index_wcu += o.index_wcu;
        self.largest_item = self.largest_item.max(o.largest_item);
    }
}

fn units(size: usize) -> u64 {
    size.div_ceil(1024).max(1) as u64
}

async fn stats_item_size(stack: &LocalStack, harness: &ProcessorHarness, month: &str) -> usize {
    let out = stack
        .dynamodb()
        .get_item()
        .table_name(&harness.config.tables.stats)
        .key("affiliate_id", AttributeValue::S(AFFILIATE.into()))
        .key("month", AttributeValue::S(month.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    out.item.as_ref().map_or(0, item_size)
}

/// Processes `events` (one SQS batch per `batch` events) and returns what it cost, with the stats
/// update and its index entry charged at the stats item's real size.
async fn process(
    stack: &LocalStack,
    harness: &ProcessorHarness,
    events: &[EventEnvelope],
    batch: usize,
) -> Cost {
    let usage = harness.store.usage();
    let mut cost = Cost::default();
    for chunk in events.chunks(batch) {
        stack.enqueue(chunk).await;
        let before: UsageSnapshot = usage.snapshot();
        usage.take_largest_item();
        let started = cpu_time::thread_cpu_time();
        let run = stack.run_trigger(harness, &harness.store, 50).await;
        let cpu = cpu_time::thread_cpu_time() - started;
        assert_eq!(run.failed, 0, "{run:?}");
        let used = usage.snapshot() - before;
        let mut c = Cost {
            cpu,
            read_requests: used.read_requests,
            write_requests: used.write_requests,
            rcu: used.documented_read_units,
            wcu: used.documented_write_units,
            index_wcu: used.documented_index_write_units,
            largest_item: usage.take_largest_item(),
        };
        // The adapter charged each stats update at the 1 KB minimum (twice: the transactional
        // write and the DirtyScores index entry): charge the rest of the item's real size.
        let months: std::collections::BTreeSet<String> =
            chunk.iter().map(|e| month_of(e.occurred_at)).collect();
        for month in months {
            let size = stats_item_size(stack, harness, &month).await;
            let updates = chunk
                .iter()
                .filter(|e| month_of(e.occurred_at) == month)
                .count() as u64;
            let extra = units(size) - 1;
            c.wcu += 2 * extra * updates;
            c.index_wcu += extra * updates;
            c.largest_item = c.largest_item.max(size);
        }
        cost.add(&c);
    }
    cost
}

/// A ratio of counts as an exact decimal (six places), as the JSON carries it: the cost command
/// prices these, and no binary float stands between a count and a price.
fn ratio(count: u64, n: usize) -> Decimal {
    (Decimal::from(count) / Decimal::from(n.max(1)))
        .round_dp(6)
        .normalize()
}

fn per(c: &Cost, n: usize) -> serde_json::Value {
    json!({
        "read_requests": ratio(c.read_requests, n),
        "write_requests": ratio(c.write_requests, n),
        "rcu": ratio(c.rcu, n),
        "wcu": ratio(c.wcu, n),
        "index_wcu": ratio(c.index_wcu, n),
        "largest_item": c.largest_item,
    })
}

fn row(length: usize, label: &str, c: &Cost, n: usize) {
    let n = n as f64;
    println!(
        "history: {length:>5} | {label:<32} reads {:>5.2}  writes {:>4.2}  RCU {:>5.2}  WCU {:>5.2}  index WCU {:>5.2}  largest item {:>5} B  CPU {:>5.0} us",
        c.read_requests as f64 / n,
        c.write_requests as f64 / n,
        c.rcu as f64 / n,
        c.wcu as f64 / n,
        c.index_wcu as f64 / n,
        c.largest_item,
        c.cpu.as_secs_f64() * 1e6 / n
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let lengths: Vec<usize> = std::env::var("HISTORY_LENGTHS")
        .ok()
        .map(|v| {
            v.split(',')
                .map(|n| n.trim().parse().expect("a length"))
                .collect()
        })
        .unwrap_or_else(|| vec![1, 10, 50, 200, 1_000, 5_000]);
    let stack = LocalStack::fresh().await;
    let harness = stack.processor();
    let usage = harness.store.usage();
    let customer = customer_id("bench-history-1");
    let mut history = History::new(&customer, 42);

    // The mix the weights come from: what the generator produces over the longest history.
    let longest = *lengths.iter().max().unwrap();
    let mut weights: BTreeMap<&'static str, usize> = BTreeMap::new();
    for e in History::new(&customer_id("bench-mix"), 42).take(longest.max(1_000)) {
        *weights.entry(kind(&e)).or_default() += 1;
    }
    let total_weight: usize = weights.values().sum();
    println!(
        "history: mix over {total_weight} generated events: {}",
        weights
            .iter()
            .map(|(k, n)| format!("{k} {:.1} %", 100.0 * *n as f64 / total_weight as f64))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let mut processed = 0usize;
    let mut replay = Cost::default();
    let mut replayed = 0usize;
    let mut results = Vec::new();
    let mut worst_item = 0usize;
    for &length in &lengths {
        // the history up to `length` events, in full SQS batches
        let prefix = history.take(length.saturating_sub(processed));
        replayed += prefix.len();
        replay.add(&process(&stack, &harness, &prefix, 10).await);
        processed += prefix.len();

        let mut by_kind: BTreeMap<&'static str, (Cost, usize)> = BTreeMap::new();
        let mut probe_total = Cost::default();
        let probe = history.builder.probe();
        for (label, e) in &probe {
            let c = process(&stack, &harness, std::slice::from_ref(e), 1).await;
            row(processed, label, &c, 1);
            let slot = by_kind.entry(kind(e)).or_default();
            slot.0.add(&c);
            slot.1 += 1;
            probe_total.add(&c);
        }
        processed += probe.len();
        worst_item = worst_item.max(probe_total.largest_item);
        row(
            processed - probe.len(),
            "probe average",
            &probe_total,
            probe.len(),
        );

        // The mix average: each kind's probe cost, weighted by how often the mix has it (kinds
        // the probe lacks cost as their nearest probed kind).
        let nearest = |k: &str| -> &'static str {
            match k {
                "full refund" => "partial refund",
                "chargeback won" => "chargeback lost",
                other => by_kind
                    .keys()
                    .find(|p| **p == other)
                    .copied()
                    .unwrap_or("purchase"),
            }
        };
        let mut mix = [Decimal::ZERO; 5];
        for (k, n) in &weights {
            let (c, samples) = &by_kind[nearest(k)];
            let share = Decimal::from(*n) / Decimal::from(total_weight * samples);
            for (slot, count) in
                mix.iter_mut()
                    .zip([c.wcu, c.rcu, c.index_wcu, c.read_requests, c.write_requests])
            {
                *slot += share * Decimal::from(count);
            }
        }
        let [wcu, rcu, index, reads, writes] = mix.map(|x| x.round_dp(6).normalize());
        println!(
            "history: {:>5} | MIX AVERAGE (weighted)            reads {reads:>5.2}  writes {writes:>4.2}  RCU {rcu:>5.2}  WCU {wcu:>5.2}  index WCU {index:>5.2}  (WCU target <= {WCU_TARGET})",
            processed - probe.len()
        );

        // A tick once all the probe's commissions are due: what one approval writes.
        let now = history.builder.next_at() + Duration::hours(49);
        let before = usage.snapshot();
        usage.take_largest_item();
        let report = stack.tick(&harness, now).await;
        assert_eq!((report.failed, report.raced), (0, 0), "{report:?}");
        let used = usage.snapshot() - before;
        history.builder.skip_to(now + Duration::minutes(1));
        // The tick also refreshes the affiliate's quality score (one update, not per approval).
        let score_writes = report.scores_refreshed as u64;
        let approval = Cost {
            cpu: Default::default(),
            read_requests: used.read_requests,
            write_requests: used.write_requests - score_writes,
            rcu: used.documented_read_units,
            wcu: used.documented_write_units - 2 * score_writes,
            index_wcu: used.documented_index_write_units,
            largest_item: usage.take_largest_item(),
        };
        let n = report.approvals.max(1);
        println!(
            "approval: {:>4} | {} approvals over {} due records: per approval writes {:.2}  WCU {:.2}  index WCU {:.2}  largest item {} B; the tick read {} requests ({} RCU)",
            processed - probe.len(),
            report.approvals,
            report.records_due,
            approval.write_requests as f64 / n as f64,
            approval.wcu as f64 / n as f64,
            approval.index_wcu as f64 / n as f64,
            approval.largest_item,
            approval.read_requests,
            approval.rcu
        );
        worst_item = worst_item.max(approval.largest_item);
        results.push(json!({
            "length": processed - probe.len(),
            "probe": by_kind.iter().map(|(k, (c, n))| (k.to_string(), per(c, *n))).collect::<BTreeMap<_, _>>(),
            "mix_average": {"wcu": wcu, "rcu": rcu, "index_wcu": index, "read_requests": reads, "write_requests": writes},
            "approval": {"approvals": report.approvals, "per_approval": per(&approval, n)},
        }));
    }
    // What the history leaves stored, per event: every item (plus DynamoDB's 100 bytes of
    // per-item overhead) and every index entry, as DynamoDB bills storage.
    let t = &harness.config.tables;
    let keys_only = |item: &std::collections::HashMap<String, AttributeValue>, names: &[&str]| {
        names
            .iter()
            .filter_map(|n| item.get(*n).map(|v| (n.to_string(), v.clone())))
            .collect::<std::collections::HashMap<_, _>>()
    };
    let mut stored = 0usize;
    let mut stored_by_table = BTreeMap::new();
    for (name, table) in [
        ("customers", &t.customers),
        ("records", &t.records),
        ("events", &t.events),
        ("ledger", &t.ledger),
        ("reviews", &t.reviews),
        ("email_matches", &t.email_matches),
        ("stats", &t.stats),
    ] {
        let mut bytes = 0;
        for item in stack.scan(table).await {
            bytes += item_size(&item) + 100;
            bytes += match name {
                // indexes that project the whole item
                "events" | "ledger" => item_size(&item) + 100,
                "reviews" if item.contains_key("open_queue") => item_size(&item) + 100,
                "stats" if item.contains_key("dirty_shard") => item_size(&item) + 100,
                // the keys-only due index
                "records" if item.contains_key("due_shard") => {
                    item_size(&keys_only(
                        &item,
                        &["customer_id", "record", "due_shard", "next_due_at"],
                    )) + 100
                }
                _ => 0,
            };
        }
        stored += bytes;
        stored_by_table.insert(name, bytes / processed.max(1));
    }
    let approvals_total: u64 = results
        .iter()
        .map(|r| r["approval"]["approvals"].as_u64().unwrap())
        .sum();
    println!(
        "history: stored {} bytes per event (tables and indexes, 100 B per-item overhead included): {}; approvals per event {:.2}",
        stored / processed.max(1),
        stored_by_table
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        approvals_total as f64 / processed as f64
    );
    let mix_wcu = |r: &serde_json::Value| -> Decimal {
        r["mix_average"]["wcu"].as_str().unwrap().parse().unwrap()
    };
    let first = mix_wcu(&results[0]);
    let last = mix_wcu(&results[results.len() - 1]);
    println!(
        "history: replayed {replayed} events in batches of 10: per event reads {:.2}  writes {:.2}  RCU {:.2}  WCU {:.2}  index WCU {:.2}",
        replay.read_requests as f64 / replayed as f64,
        replay.write_requests as f64 / replayed as f64,
        replay.rcu as f64 / replayed as f64,
        replay.wcu as f64 / replayed as f64,
        replay.index_wcu as f64 / replayed as f64,
    );
    println!(
        "history: mix WCU at {} events {:.2}, at {} events {:.2}; largest item anywhere {} B (limit {ITEM_LIMIT}) [{}]",
        results[0]["length"],
        first,
        results[results.len() - 1]["length"],
        last,
        worst_item,
        if worst_item <= ITEM_LIMIT && last <= WCU_TARGET && first == last { "ok" } else { "OVER TARGET" }
    );
    let out = workspace_root().join(".local/bench");
    std::fs::create_dir_all(&out).unwrap();
    let doc = json!({
        "measured_by": "cargo bench -p system-tests --bench customer_history",
        "mix": weights,
        "lengths": results,
        "replay_in_batches_of_10": per(&replay, replayed),
        "largest_item": worst_item,
        "stored_bytes_per_event": stored / processed.max(1),
        "approvals_per_event": ratio(approvals_total, processed),
    });
    std::fs::write(
        out.join("customer-history.json"),
        serde_json::to_string_pretty(&doc).unwrap(),
    )
    .unwrap();
    println!("history: figures written to .local/bench/customer-history.json");
}
