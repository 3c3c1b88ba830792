//! An in-memory book of record with the same admission and write rules as the DynamoDB
//! processor: used by the domain's property tests and the throughput benchmark. Each customer is
//! a complete view (head and every record); records are versioned as the store versions them. It
//! refuses to change a written ledger entry, so a rule that tried would fail the tests.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{
    admit, apply_event, approve_due, resolve_review, Admission, Applied, CustomerHead,
    CustomerView, MemoryDirectory, Outcome, OutcomeKind, ResolveError, Resolved, ReviewAction,
    ReviewItem, SeenEvent,
};
use crate::events::EventEnvelope;
use crate::ledger::{Commission, LedgerEntry};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    pub envelope: EventEnvelope,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    Applied,
    Duplicate,
    Conflict,
}

#[derive(Debug, Clone, Default)]
pub struct Book {
    pub directory: MemoryDirectory,
    pub customers: BTreeMap<String, CustomerView>,
    pub events: BTreeMap<String, RecordedEvent>,
    /// Accepted event ids in the order they were first applied: the event log a rebuild replays.
    pub log: Vec<String>,
    pub entries: BTreeMap<String, LedgerEntry>,
    pub reviews: BTreeMap<String, ReviewItem>,
    /// Review items closed, and how: each closes exactly once.
    pub resolutions: BTreeMap<String, ReviewAction>,
}

impl Book {
    pub fn new(directory: MemoryDirectory) -> Self {
        Book {
            directory,
            ..Book::default()
        }
    }

    pub fn customer(&self, customer_id: &str) -> &CustomerView {
        &self.customers[customer_id]
    }

    /// Every commission of every customer.
    pub fn commissions(&self) -> impl Iterator<Item = &Commission> {
        self.customers.values().flat_map(CustomerView::commissions)
    }

    pub fn deliver(&mut self, event: &EventEnvelope) -> Delivered {
        let seen = self.events.get(&event.event_id).map(|r| SeenEvent {
            content_hash: r.envelope.content_hash.clone(),
        });
        match admit(seen.as_ref(), event) {
            Admission::Duplicate => Delivered::Duplicate,
            Admission::Conflict(review) => {
                self.reviews
                    .entry(review.review_id.clone())
                    .or_insert(review);
                Delivered::Conflict
            }
            Admission::Apply => {
                let view = self
                    .customers
                    .entry(event.customer_id.clone())
                    .or_insert_with(|| {
                        CustomerView::complete(CustomerHead::new(&event.customer_id))
                    });
                let applied = apply_event(view, event, &self.directory)
                    .expect("a complete view holds everything; amounts are bounded");
                view.settle();
                self.log.push(event.event_id.clone());
                self.record(event, applied);
                Delivered::Applied
            }
        }
    }

    fn record(&mut self, event: &EventEnvelope, applied: Applied) {
        self.directory.absorb(&applied);
        for outcome in applied.outcomes {
            match self.events.get_mut(&outcome.event_id) {
                // A parked event's outcome is replaced exactly once, by its final one.
                Some(existing) => {
                    assert_eq!(
                        existing.outcome.kind,
                        OutcomeKind::Parked,
                        "outcome rewritten"
                    );
                    existing.outcome = outcome;
                }
                None => {
                    assert_eq!(outcome.event_id, event.event_id);
                    self.events.insert(
                        outcome.event_id.clone(),
                        RecordedEvent {
                            envelope: event.clone(),
                            outcome,
                        },
                    );
                }
            }
        }
        for entry in applied.entries {
            self.put_entry(entry);
        }
        for review in applied.reviews {
            let previous = self
                .reviews
                .insert(review.review_id.clone(), review.clone());
            assert!(
                previous.is_none_or(|p| p == review),
                "review item rewritten"
            );
        }
    }

    fn put_entry(&mut self, entry: LedgerEntry) {
        if let Some(existing) = self.entries.get(&entry.entry_id) {
            panic!(
                "ledger entry {} written twice: {existing:?} then {entry:?}",
                entry.entry_id
            );
        }
        self.entries.insert(entry.entry_id.clone(), entry);
    }

    /// Resolves an open review item of a customer, as the admin API does.
    pub fn resolve(
        &mut self,
        review_id: &str,
        action: ReviewAction,
        at: DateTime<Utc>,
    ) -> Result<Resolved, ResolveError> {
        if self.resolutions.contains_key(review_id) {
            return Err(ResolveError::NotApplicable(format!(
                "{review_id} is already resolved"
            )));
        }
        let review = self
            .reviews
            .get(review_id)
            .cloned()
            .ok_or_else(|| ResolveError::NotApplicable(format!("no review {review_id}")))?;
        let view = self
            .customers
            .get_mut(&review.customer_id)
            .ok_or_else(|| ResolveError::NotApplicable("the review names no customer".into()))?;
        let resolved = resolve_review(view, &review, &action, &self.directory, at)?;
        view.settle();
        for entry in resolved.entries.clone() {
            self.put_entry(entry);
        }
        self.resolutions.insert(review_id.to_owned(), action);
        Ok(resolved)
    }

    /// The scheduler's approval pass at `now`, over every customer.
    pub fn tick(&mut self, now: DateTime<Utc>) -> usize {
        let mut approved = Vec::new();
        for view in self.customers.values_mut() {
            approved.extend(approve_due(view, now));
            view.settle();
        }
        let n = approved.len();
        for entry in approved {
            self.put_entry(entry);
        }
        n
    }

    /// Replays the event log, in its order, into a fresh book with the directory as it was at
    /// the start; approvals are re-derived by `ticks`. Used to check invariant 9.
    pub fn rebuild(
        &self,
        initial_directory: MemoryDirectory,
        ticks: &[(usize, DateTime<Utc>)],
    ) -> Book {
        let mut book = Book::new(initial_directory);
        let mut ticks = ticks.iter().peekable();
        for (i, id) in self.log.iter().enumerate() {
            while let Some((_, at)) = ticks.next_if(|(pos, _)| *pos <= i) {
                book.tick(*at);
            }
            book.deliver(&self.events[id].envelope);
        }
        for (_, at) in ticks {
            book.tick(*at);
        }
        book
    }
}
