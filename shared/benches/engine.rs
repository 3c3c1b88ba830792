//! Processor domain throughput: events per second on one core through the pure core the
//! processor runs per event (admission check, `apply_event` on the customer's view, settling the
//! records it changed, directory update), without I/O. Thread CPU time, median of several rounds.
//!
//! Run: `cargo bench -p shared --bench engine` (also part of `./infra/bench`).

#[path = "support/cpu_time.rs"]
mod cpu_time;

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::hint::black_box;

use cpu_time::thread_cpu_time;

use chrono::Duration as Span;
use shared::engine::{admit, apply_event, Admission, CustomerHead, CustomerView, SeenEvent};
use shared::events::{DisputeStatus, EventEnvelope};
use support::*;

const TARGET_EVENTS_PER_SEC: f64 = 200_000.0;
const CUSTOMERS: usize = 2_000;
const ROUNDS: usize = 9;

/// A realistic mix per customer: purchase, evaluation started and passed, reset, funded,
/// a partial refund and a chargeback opened then won.
fn traffic() -> Vec<EventEnvelope> {
    let mut out = Vec::new();
    for c in 0..CUSTOMERS {
        let cust = format!("cust-{c}");
        let t = t0() + Span::minutes(c as i64);
        let aff = if c % 3 == 0 { None } else { Some("aff-a") };
        let coupon = if c % 3 == 0 { Some("BETA") } else { None };
        let e = |n: &str| format!("{cust}-{n}");
        out.push(envelope(
            &e("p"),
            &cust,
            t,
            purchase(&e("tx"), &e("ch"), "100k", "499.00", aff, coupon),
        ));
        out.push(envelope(
            &e("s"),
            &cust,
            t + Span::hours(1),
            started(&e("ch")),
        ));
        out.push(envelope(
            &e("r"),
            &cust,
            t + Span::days(2),
            reset(&e("tx-r"), &e("ch"), "79.00"),
        ));
        out.push(envelope(
            &e("v"),
            &cust,
            t + Span::days(9),
            passed(&e("ch")),
        ));
        out.push(envelope(
            &e("f"),
            &cust,
            t + Span::days(10),
            funded(&e("ch")),
        ));
        out.push(envelope(
            &e("rf"),
            &cust,
            t + Span::days(11),
            refund(&e("tx"), "100.00", None),
        ));
        out.push(envelope(
            &e("cb1"),
            &cust,
            t + Span::days(12),
            chargeback(&e("tx-r"), DisputeStatus::Opened),
        ));
        out.push(envelope(
            &e("cb2"),
            &cust,
            t + Span::days(20),
            chargeback(&e("tx-r"), DisputeStatus::Won),
        ));
    }
    out
}

fn main() {
    let events = traffic();
    let run = || {
        let mut directory = directory();
        let mut views: HashMap<String, CustomerView> = HashMap::with_capacity(CUSTOMERS);
        let mut seen: HashMap<String, SeenEvent> = HashMap::with_capacity(events.len());
        let mut entries = 0usize;
        let start = thread_cpu_time();
        for event in &events {
            if admit(seen.get(&event.event_id), event) != Admission::Apply {
                continue;
            }
            let view = views
                .entry(event.customer_id.clone())
                .or_insert_with(|| CustomerView::complete(CustomerHead::new(&event.customer_id)));
            let applied = apply_event(view, event, &directory).unwrap();
            black_box(view.changed_records());
            view.settle();
            entries += applied.entries.len();
            directory.absorb(&applied);
            seen.insert(
                event.event_id.clone(),
                SeenEvent {
                    content_hash: event.content_hash.clone(),
                },
            );
            black_box(&applied);
        }
        (thread_cpu_time() - start, entries)
    };
    let (_, entries) = run();
    let mut rates: Vec<f64> = (0..ROUNDS)
        .map(|_| events.len() as f64 / run().0.as_secs_f64())
        .collect();
    rates.sort_by(|a, b| a.total_cmp(b));
    let median = rates[ROUNDS / 2];
    println!(
        "engine: {} events ({CUSTOMERS} customers x 8 lifecycle events) -> {entries} ledger entries, {ROUNDS} rounds, thread CPU time",
        events.len()
    );
    println!(
        "engine: median {:.0} events/s on one core ({:.2} us/event; min {:.0}, max {:.0})  target >= {TARGET_EVENTS_PER_SEC:.0}  [{}]",
        median,
        1e6 / median,
        rates[0],
        rates[ROUNDS - 1],
        if median >= TARGET_EVENTS_PER_SEC { "ok" } else { "UNDER TARGET" }
    );
}
