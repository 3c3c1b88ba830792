//! A `ProcessorStore` in memory, with the DynamoDB adapter's write rules: one commit checks every
//! condition of its transaction (event not seen, parked outcome still parked, head and record
//! versions as read, ledger entries, review items and email claims absent, counters as read)
//! before it writes anything, and then writes all of it.
//!
//! It is for running the real `Processor` where no network may be used: the fuzz target over SQS
//! batches, and tests of the processor's batch logic. Integration tests use DynamoDB (moto).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use super::store::{
    Commit, LoadRequest, Loaded, MigrationStore, ProcessorStore, RecordId, StoreError, StoredHead,
    StoredRecord,
};
use crate::engine::legacy::MigratedCustomer;
use crate::engine::{
    Affiliate, CustomerHead, EmailOwner, Outcome, OutcomeKind, ReviewItem, SeenEvent,
};
use crate::events::EventEnvelope;
use crate::ledger::LedgerEntry;
use crate::plans::Plan;

/// An event as the event log keeps it: its envelope and its (final, or parked) outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub envelope: EventEnvelope,
    pub outcome: Outcome,
}

/// Everything the store holds. Public so a test can set up a directory and read the result.
#[derive(Debug, Clone, Default)]
pub struct MemoryState {
    pub events: BTreeMap<String, StoredEvent>,
    /// Accepted event ids in the order they were committed: the event log.
    pub log: Vec<String>,
    pub heads: BTreeMap<String, CustomerHead>,
    pub records: HashMap<RecordId, StoredRecord>,
    pub entries: BTreeMap<String, LedgerEntry>,
    pub reviews: BTreeMap<String, ReviewItem>,
    pub email_owners: BTreeMap<String, EmailOwner>,
    pub affiliates: BTreeMap<String, Affiliate>,
    /// coupon code → affiliate id
    pub coupons: BTreeMap<String, String>,
    pub plans: Vec<Plan>,
}

#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<MemoryState>,
}

impl MemoryStore {
    pub fn new(state: MemoryState) -> Self {
        MemoryStore {
            state: Mutex::new(state),
        }
    }

    /// A copy of what the store holds now.
    pub fn snapshot(&self) -> MemoryState {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn conflict(what: impl Into<String>) -> StoreError {
    StoreError::Conflict(what.into())
}

impl MemoryState {
    /// Every condition the DynamoDB transaction carries, checked before anything is written.
    fn check(&self, commit: &Commit<'_>) -> Result<(), StoreError> {
        let event_id = &commit.event.event_id;
        for outcome in &commit.applied.outcomes {
            let stored = self.events.get(&outcome.event_id);
            if outcome.event_id == *event_id {
                if stored.is_some() {
                    return Err(conflict(format!("event {event_id} already recorded")));
                }
            } else if stored.map(|s| s.outcome.kind) != Some(OutcomeKind::Parked) {
                return Err(conflict(format!(
                    "released event {} is not parked",
                    outcome.event_id
                )));
            }
        }
        if commit.head.version != commit.expected_head_version {
            let stored = self
                .heads
                .get(&commit.head.customer_id)
                .map_or(0, |h| h.version);
            if stored != commit.expected_head_version {
                return Err(conflict(format!(
                    "head of {} is at {stored}, not {}",
                    commit.head.customer_id, commit.expected_head_version
                )));
            }
        }
        for changed in &commit.records {
            let id = (commit.head.customer_id.clone(), changed.key.clone());
            let stored = self.records.get(&id).map_or(0, |r| r.version);
            if stored != changed.version {
                return Err(conflict(format!(
                    "record {:?} is at {stored}, not {}",
                    changed.key, changed.version
                )));
            }
        }
        for entry in &commit.applied.entries {
            if self.entries.contains_key(&entry.entry_id) {
                return Err(conflict(format!("entry {} exists", entry.entry_id)));
            }
        }
        for review in &commit.applied.reviews {
            if self.reviews.contains_key(&review.review_id) {
                return Err(conflict(format!("review {} exists", review.review_id)));
            }
        }
        for claim in &commit.applied.email_claims {
            if self.email_owners.contains_key(&claim.email_hash) {
                return Err(conflict("email already claimed"));
            }
        }
        for counter in &commit.counters {
            let affiliate = self
                .affiliates
                .get(&counter.affiliate_id)
                .ok_or_else(|| conflict(format!("no affiliate {}", counter.affiliate_id)))?;
            if affiliate.qualified_in(&counter.month) != counter.previous {
                return Err(conflict(format!(
                    "counter {} {} moved",
                    counter.affiliate_id, counter.month
                )));
            }
        }
        Ok(())
    }

    fn write(&mut self, commit: &Commit<'_>) {
        let event_id = &commit.event.event_id;
        for outcome in &commit.applied.outcomes {
            if outcome.event_id == *event_id {
                self.events.insert(
                    event_id.clone(),
                    StoredEvent {
                        envelope: commit.event.clone(),
                        outcome: outcome.clone(),
                    },
                );
                self.log.push(event_id.clone());
            } else if let Some(parked) = self.events.get_mut(&outcome.event_id) {
                parked.outcome = outcome.clone();
            }
        }
        if commit.head.version != commit.expected_head_version {
            self.heads
                .insert(commit.head.customer_id.clone(), commit.head.clone());
        }
        for changed in &commit.records {
            self.records.insert(
                (commit.head.customer_id.clone(), changed.key.clone()),
                StoredRecord {
                    version: changed.version + 1,
                    record: changed.record.clone(),
                },
            );
        }
        for entry in &commit.applied.entries {
            self.entries.insert(entry.entry_id.clone(), entry.clone());
        }
        for review in &commit.applied.reviews {
            self.reviews
                .insert(review.review_id.clone(), review.clone());
        }
        for claim in &commit.applied.email_claims {
            self.email_owners
                .insert(claim.email_hash.clone(), claim.clone());
        }
        for counter in &commit.counters {
            if let Some(a) = self.affiliates.get_mut(&counter.affiliate_id) {
                a.qualified_by_month
                    .insert(counter.month.clone(), counter.previous + 1);
            }
        }
    }
}

impl MigrationStore for MemoryStore {
    async fn migrate(
        &self,
        _migrated: &MigratedCustomer,
        _legacy_version: u64,
    ) -> Result<(), StoreError> {
        // Nothing here is ever in the legacy format, so the processor never asks.
        Err(StoreError::Corrupt(
            "the memory store holds no legacy customers".into(),
        ))
    }
}

impl ProcessorStore for MemoryStore {
    async fn load(&self, request: &LoadRequest) -> Result<Loaded, StoreError> {
        let state = self.lock();
        let mut loaded = Loaded::default();
        for id in &request.event_ids {
            if let Some(e) = state.events.get(id) {
                loaded.events.insert(
                    id.clone(),
                    SeenEvent {
                        content_hash: e.envelope.content_hash.clone(),
                    },
                );
            }
        }
        for id in &request.envelopes {
            if let Some(e) = state.events.get(id) {
                loaded.envelopes.insert(id.clone(), e.envelope.clone());
            }
        }
        for id in &request.customer_ids {
            if let Some(h) = state.heads.get(id) {
                loaded
                    .heads
                    .insert(id.clone(), StoredHead::Current(h.clone()));
            }
        }
        for id in &request.records {
            if let Some(r) = state.records.get(id) {
                loaded.records.insert(id.clone(), r.clone());
            }
        }
        for hash in &request.email_hashes {
            if let Some(o) = state.email_owners.get(hash) {
                loaded.email_owners.insert(hash.clone(), o.clone());
            }
        }
        for id in &request.affiliate_ids {
            if let Some(a) = state.affiliates.get(id) {
                loaded.affiliates.insert(id.clone(), a.clone());
            }
        }
        for code in &request.coupon_codes {
            if let Some(a) = state.coupons.get(code) {
                loaded.coupons.insert(code.clone(), a.clone());
            }
        }
        for (plan_id, version) in &request.plans {
            loaded.plans.extend(
                state
                    .plans
                    .iter()
                    .filter(|p| p.plan_id == *plan_id && p.version == *version)
                    .cloned(),
            );
        }
        Ok(loaded)
    }

    async fn commit(&self, commit: &Commit<'_>) -> Result<(), StoreError> {
        let mut state = self.lock();
        state.check(commit)?;
        state.write(commit);
        Ok(())
    }

    async fn record_conflict(&self, review: &ReviewItem) -> Result<(), StoreError> {
        self.lock()
            .reviews
            .entry(review.review_id.clone())
            .or_insert_with(|| review.clone());
        Ok(())
    }
}
