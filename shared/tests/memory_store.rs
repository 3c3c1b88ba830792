//! The in-memory processor store (used by the SQS-batch fuzz target): the real processor over it
//! books what the reference book does, and it refuses what the DynamoDB transaction would.

mod support;

use std::sync::Arc;

use chrono::Duration;
use shared::clock::FixedClock;
use shared::engine::book::Book;
use shared::engine::OutcomeKind;
use shared::events::{DisputeStatus, EventEnvelope};
use shared::processor::{BatchRecord, MemoryState, MemoryStore, Processor, RecordFailure};
use support::*;

fn state() -> MemoryState {
    let dir = directory();
    MemoryState {
        plans: dir.plans.values().cloned().collect(),
        affiliates: dir.affiliates.clone().into_iter().collect(),
        coupons: dir.coupons.clone().into_iter().collect(),
        ..MemoryState::default()
    }
}

fn records(envelopes: &[&EventEnvelope], first: usize) -> Vec<BatchRecord> {
    envelopes
        .iter()
        .enumerate()
        .map(|(i, e)| BatchRecord {
            message_id: format!("m{}", first + i),
            body: serde_json::to_string(e).unwrap(),
        })
        .collect()
}

/// A trader's story out of order (refund and reset before the purchase they need), a
/// redelivery, a conflicting redelivery, and a body that is not an envelope.
#[tokio::test]
async fn the_processor_over_memory_books_what_the_reference_book_does() {
    let t = t0();
    let p1 = envelope(
        "e1",
        "cust-1",
        t,
        purchase("tx-1", "ch-1", "100k", "499.00", Some("aff-a"), None),
    );
    let refund = envelope(
        "e2",
        "cust-1",
        t + Duration::hours(1),
        refund("tx-1", "100.00", None),
    );
    let reset = envelope(
        "e3",
        "cust-1",
        t + Duration::hours(2),
        reset("tx-2", "ch-1", "99.00"),
    );
    let passed = envelope("e4", "cust-1", t + Duration::hours(3), passed("ch-1"));
    let p2 = envelope(
        "e5",
        "cust-2",
        t,
        purchase("tx-3", "ch-3", "50k", "299.00", None, Some("BETA")),
    );
    let lost = envelope(
        "e6",
        "cust-2",
        t + Duration::hours(5),
        chargeback("tx-3", DisputeStatus::Lost),
    );
    let conflicting = envelope(
        "e1",
        "cust-1",
        t,
        purchase("tx-1", "ch-1", "100k", "999.00", Some("aff-a"), None),
    );

    let store = MemoryStore::new(state());
    let processor = Processor::with_clock(Arc::new(FixedClock(t + Duration::days(1))));
    let mut book = Book::new(directory());

    // batch 1: what needs the purchase comes first and is parked
    let first = [&refund, &reset, &p2];
    let outcome = processor.process(&store, &records(&first, 0)).await;
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    for e in first {
        book.deliver(e);
    }
    let parked = store.snapshot();
    assert_eq!(parked.events["e2"].outcome.kind, OutcomeKind::Parked);

    // batch 2: the purchase releases them; a redelivery, a conflict and a poison body
    let mut batch = records(&[&p1, &passed, &lost, &p1, &conflicting], 10);
    batch.push(BatchRecord {
        message_id: "poison".into(),
        body: "{\"not\": \"an envelope\"}".into(),
    });
    let outcome = processor.process(&store, &batch).await;
    assert_eq!(outcome.duplicates, 1);
    assert_eq!(outcome.conflicts, 1);
    assert!(matches!(
        outcome.failures.as_slice(),
        [RecordFailure::Poison { message_id, .. }] if message_id == "poison"
    ));
    for e in [&p1, &passed, &lost, &p1, &conflicting] {
        book.deliver(e);
    }

    let state = store.snapshot();
    assert_ne!(state.events["e2"].outcome.kind, OutcomeKind::Parked);
    assert_eq!(
        state.entries, book.entries,
        "the same ledger, entry by entry"
    );
    assert!(
        state.entries.len() >= 5,
        "commissions, refund adjustment, reset, milestone, reversal: {:?}",
        state.entries.keys().collect::<Vec<_>>()
    );
    assert_eq!(
        state.log,
        ["e2", "e3", "e5", "e1", "e4", "e6"].map(String::from)
    );
    assert_eq!(state.reviews.len(), book.reviews.len());

    // everything again: nothing changes
    let all = records(&[&refund, &reset, &p2, &p1, &passed, &lost], 20);
    let outcome = processor.process(&store, &all).await;
    assert_eq!(outcome.duplicates, 6);
    let again = store.snapshot();
    assert_eq!(again.entries, state.entries);
    assert_eq!(again.log, state.log);
}

/// Two processors that read the same customer at once: the second commit loses (the head's
/// version moved), as DynamoDB's condition would make it, and a retry applies it once.
#[tokio::test]
async fn a_commit_on_a_stale_read_is_a_conflict_and_its_retry_applies_once() {
    let t = t0();
    let p1 = envelope(
        "e1",
        "cust-1",
        t,
        purchase("tx-1", "ch-1", "100k", "499.00", Some("aff-a"), None),
    );
    let p2 = envelope(
        "e2",
        "cust-1",
        t + Duration::hours(1),
        purchase("tx-2", "ch-2", "50k", "299.00", Some("aff-a"), None),
    );
    let store = MemoryStore::new(state());
    let slow = Processor::with_clock(Arc::new(FixedClock(t)));
    let fast = Processor::with_clock(Arc::new(FixedClock(t)));

    /// Lets the fast processor commit between the slow one's read and its commit.
    struct Interleaved<'a> {
        inner: &'a MemoryStore,
        fast: &'a Processor,
        p2: &'a EventEnvelope,
        fired: std::sync::atomic::AtomicBool,
    }
    impl shared::processor::MigrationStore for Interleaved<'_> {
        async fn migrate(
            &self,
            m: &shared::engine::legacy::MigratedCustomer,
            v: u64,
        ) -> Result<(), shared::processor::StoreError> {
            self.inner.migrate(m, v).await
        }
    }
    impl shared::processor::ProcessorStore for Interleaved<'_> {
        async fn load(
            &self,
            r: &shared::processor::LoadRequest,
        ) -> Result<shared::processor::Loaded, shared::processor::StoreError> {
            self.inner.load(r).await
        }
        async fn commit(
            &self,
            c: &shared::processor::Commit<'_>,
        ) -> Result<(), shared::processor::StoreError> {
            if !self.fired.swap(true, std::sync::atomic::Ordering::SeqCst) {
                let outcome =
                    Box::pin(self.fast.process(self.inner, &records(&[self.p2], 99))).await;
                assert!(outcome.failures.is_empty());
            }
            self.inner.commit(c).await
        }
        async fn record_conflict(
            &self,
            r: &shared::engine::ReviewItem,
        ) -> Result<(), shared::processor::StoreError> {
            self.inner.record_conflict(r).await
        }
    }
    let interleaved = Interleaved {
        inner: &store,
        fast: &fast,
        p2: &p2,
        fired: false.into(),
    };
    let outcome = slow.process(&interleaved, &records(&[&p1], 0)).await;
    assert!(
        matches!(outcome.failures.as_slice(), [RecordFailure::Retry { reason, .. }] if reason.contains("head")),
        "{:?}",
        outcome.failures
    );
    assert_eq!(store.snapshot().log, ["e2"]);
    // SQS redelivers it: applied once, after e2
    let outcome = slow.process(&store, &records(&[&p1], 1)).await;
    assert!(outcome.failures.is_empty());
    let state = store.snapshot();
    assert_eq!(state.log, ["e2", "e1"]);
    let mut book = Book::new(directory());
    book.deliver(&p2);
    book.deliver(&p1);
    assert_eq!(state.entries, book.entries);
}
