//! SQS batches of envelopes through the real processor (decoding, batch reads, the engine, one
//! commit per event) over the in-memory store, which enforces every condition the DynamoDB
//! transaction carries.
//!
//! Bodies are events that went through the webhook ingest (so they are what the queue really
//! carries), redeliveries, conflicting redeliveries (same id, other content) and arbitrary text.
//! Checked on every input, besides "no panic":
//! - every failure names a record of its batch, once; nothing is ever returned for retry (the
//!   store never fails, so a retry would be a lost race or a read the processor got wrong);
//! - only bodies that are not envelopes are dead-lettered;
//! - each accepted event has exactly one recorded outcome, and no other event does;
//! - the ledger equals the in-memory reference book's (`engine::book::Book`, complete views, no
//!   batching) fed the same envelopes in the same order;
//! - delivering everything again changes nothing.
#![no_main]

use std::collections::BTreeSet;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use shared::engine::book::Book;
use shared::events::EventEnvelope;
use shared::ingest::WebhookRequest;
use shared::processor::{BatchRecord, MemoryState, MemoryStore, Processor, RecordFailure};
use shared::signing::SignatureHeaders;
use shared_fuzz::{affiliates, directory, ingest, now, plans, signed, FuzzWebhook, COUPONS};

#[derive(Arbitrary, Debug)]
enum Message<'a> {
    /// A new event under id `evt-<id>`.
    Event { id: u8, webhook: FuzzWebhook },
    /// The n-th message sent so far, again.
    Redeliver(u8),
    /// Arbitrary text on the queue (not from the ingest).
    Raw(&'a str),
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    /// Each batch holds up to 10 records, as SQS delivers them.
    batches: Vec<Vec<Message<'a>>>,
}

fn initial_state() -> MemoryState {
    let mut state = MemoryState {
        plans: plans(),
        ..MemoryState::default()
    };
    for a in affiliates() {
        state.affiliates.insert(a.affiliate_id.clone(), a);
    }
    for (code, a) in COUPONS {
        state.coupons.insert(code.into(), a.into());
    }
    state
}

/// The queued message for a webhook, if the ingest accepts it (some generated fields are invalid
/// on purpose, e.g. a zero amount; those never reach the queue).
fn queued(id: &str, webhook: &FuzzWebhook) -> Option<String> {
    let (route, body) = webhook.body();
    let body = serde_json::to_vec(&body).unwrap();
    let (timestamp, signature) = signed(id, &body);
    let request = WebhookRequest {
        method: "POST",
        content_type: Some("application/json"),
        signature: SignatureHeaders {
            id: Some(id),
            timestamp: Some(&timestamp),
            signature: Some(&signature),
        },
        body: &body,
    };
    ingest(route).prepare(&request, now()).ok().map(|m| m.body)
}

fuzz_target!(|input: Input<'_>| {
    let store = MemoryStore::new(initial_state());
    let processor = Processor::with_clock(std::sync::Arc::new(shared::clock::FixedClock(now())));
    let mut book = Book::new(directory());
    let mut sent: Vec<String> = Vec::new();
    let mut accepted: BTreeSet<String> = BTreeSet::new();
    let mut message_no = 0u64;

    let mut deliver = |batch: &[String], store: &MemoryStore, book: &mut Book| {
        let records: Vec<BatchRecord> = batch
            .iter()
            .map(|body| {
                message_no += 1;
                BatchRecord {
                    message_id: format!("msg-{message_no}"),
                    body: body.clone(),
                }
            })
            .collect();
        let outcome = pollster::block_on(processor.process(store, &records));
        let mut failed = BTreeSet::new();
        for failure in &outcome.failures {
            match failure {
                RecordFailure::Retry { message_id, reason } => {
                    panic!(
                        "{message_id} returned for retry from a store that never fails: {reason}"
                    )
                }
                RecordFailure::Poison { message_id, reason } => {
                    let record = records
                        .iter()
                        .find(|r| &r.message_id == message_id)
                        .expect("a failure names a record of its batch");
                    assert!(
                        serde_json::from_str::<EventEnvelope>(&record.body).is_err(),
                        "an envelope was dead-lettered: {reason}"
                    );
                    assert!(failed.insert(message_id.clone()), "failed twice");
                }
            }
        }
        // the reference: the same envelopes, in the same order, one at a time
        for record in &records {
            if let Ok(envelope) = serde_json::from_str::<EventEnvelope>(&record.body) {
                book.deliver(&envelope);
            }
        }
    };

    for batch in input.batches.iter().take(16) {
        let mut bodies = Vec::new();
        for message in batch.iter().take(10) {
            match message {
                Message::Event { id, webhook } => {
                    let id = format!("evt-{id}");
                    if let Some(body) = queued(&id, webhook) {
                        accepted.insert(id);
                        sent.push(body.clone());
                        bodies.push(body);
                    }
                }
                Message::Redeliver(n) if !sent.is_empty() => {
                    bodies.push(sent[usize::from(*n) % sent.len()].clone());
                }
                Message::Redeliver(_) => {}
                Message::Raw(text) => bodies.push((*text).to_owned()),
            }
        }
        deliver(&bodies, &store, &mut book);
    }

    let state = store.snapshot();
    let recorded: BTreeSet<String> = state.events.keys().cloned().collect();
    assert_eq!(
        recorded, accepted,
        "one outcome per accepted event, none other"
    );
    assert_eq!(
        state.entries, book.entries,
        "the processor's ledger is the reference's"
    );

    // everything again, in batches of ten: nothing changes
    for chunk in sent.chunks(10) {
        deliver(chunk, &store, &mut book);
    }
    let again = store.snapshot();
    assert_eq!(
        again.entries, state.entries,
        "a redelivery changed the ledger"
    );
    assert_eq!(again.log, state.log, "a redelivery was applied");
    assert_eq!(
        again.reviews.len(),
        state.reviews.len(),
        "a redelivery opened a review"
    );
});
