//! The port the processor writes through. One `load` is one read round trip (a batched get);
//! one `commit` is one atomic write of everything one event changed.

use std::collections::HashMap;
use std::future::Future;

use crate::engine::legacy::{LegacyCustomerState, MigratedCustomer};
use crate::engine::{
    Affiliate, Applied, ChangedRecord, CustomerHead, EmailOwner, Record, RecordKey, ReviewItem,
    SeenEvent,
};
use crate::events::EventEnvelope;
use crate::plans::Plan;

/// A customer's record, by customer and key.
pub type RecordId = (String, RecordKey);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadRequest {
    /// Event records, for the durable dedup.
    pub event_ids: Vec<String>,
    /// Parked events' envelopes, from the event log.
    pub envelopes: Vec<String>,
    pub customer_ids: Vec<String>,
    pub records: Vec<RecordId>,
    pub email_hashes: Vec<String>,
    pub affiliate_ids: Vec<String>,
    pub coupon_codes: Vec<String>,
    pub plans: Vec<(String, u32)>,
}

impl LoadRequest {
    pub fn is_empty(&self) -> bool {
        self.keys() == 0
    }

    pub fn keys(&self) -> usize {
        self.event_ids.len()
            + self.envelopes.len()
            + self.customer_ids.len()
            + self.records.len()
            + self.email_hashes.len()
            + self.affiliate_ids.len()
            + self.coupon_codes.len()
            + self.plans.len()
    }
}

/// A customer's head as stored: the current format, or a legacy whole-history item that must be
/// migrated before anything else touches the customer.
#[derive(Debug, Clone)]
pub enum StoredHead {
    Current(CustomerHead),
    Legacy(Box<LegacyCustomerState>),
}

/// A record as stored: its version (the write condition) and content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub version: u64,
    pub record: Record,
}

/// What a load found; absent keys are simply missing from the maps.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub events: HashMap<String, SeenEvent>,
    pub envelopes: HashMap<String, EventEnvelope>,
    pub heads: HashMap<String, StoredHead>,
    pub records: HashMap<RecordId, StoredRecord>,
    pub email_owners: HashMap<String, EmailOwner>,
    pub affiliates: HashMap<String, Affiliate>,
    /// coupon code → affiliate id
    pub coupons: HashMap<String, String>,
    pub plans: Vec<Plan>,
}

/// One more qualified purchase for an affiliate's month, conditional on the count read, so two
/// processors pricing purchases of the same affiliate at once cannot both take the same step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterUpdate {
    pub affiliate_id: String,
    pub month: String,
    pub previous: u32,
}

/// Everything one event changed, written all-or-nothing.
#[derive(Debug, Clone)]
pub struct Commit<'a> {
    pub event: &'a EventEnvelope,
    /// The head after the event; written, conditional on `expected_head_version`, when the event
    /// changed the customer (its version then moved on).
    pub head: &'a CustomerHead,
    /// The head version read (0 = no head item yet).
    pub expected_head_version: u64,
    /// The records the event changed, each conditional on the version read.
    pub records: Vec<ChangedRecord<'a>>,
    pub applied: &'a Applied,
    pub counters: Vec<CounterUpdate>,
    /// Partner-quality counters to add (one item per affiliate-month).
    pub stats: Vec<crate::quality::StatsDelta>,
    /// When the commit is written: stored on its ledger entries as their booking time.
    pub recorded_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A condition failed: another writer got there first. Retrying re-reads and decides again.
    #[error("conditional write lost a race: {0}")]
    Conflict(String),
    #[error("throttled: {0}")]
    Throttled(String),
    /// Timeouts, 5xx, connection errors: the write may or may not have happened.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A stored item this code cannot read. Retrying will not help, but failing the message
    /// sends it to the dead-letter queue after the redrive limit instead of losing it.
    #[error("stored item unreadable: {0}")]
    Corrupt(String),
}

/// Rewrites a legacy customer in the current format: its records (idempotent puts), then its
/// head, conditional on the legacy item still being at `legacy_version`. The processor and the
/// scheduler both migrate a legacy customer the first time they touch it.
pub trait MigrationStore {
    fn migrate(
        &self,
        migrated: &MigratedCustomer,
        legacy_version: u64,
    ) -> impl Future<Output = Result<(), StoreError>>;
}

/// Converts and writes a legacy customer, and returns it as the engine sees it now.
pub async fn migrate_legacy<S: MigrationStore>(
    store: &S,
    state: LegacyCustomerState,
) -> Result<crate::engine::CustomerView, StoreError> {
    let legacy_version = state.version;
    let migrated =
        crate::engine::legacy::migrate(state).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    store.migrate(&migrated, legacy_version).await?;
    tracing::info!(customer_id = %migrated.head.customer_id, records = migrated.records.len(), "legacy customer migrated");
    Ok(migrated.into_view())
}

pub trait ProcessorStore: MigrationStore {
    /// One batched, strongly consistent read.
    fn load(&self, request: &LoadRequest) -> impl Future<Output = Result<Loaded, StoreError>>;
    /// One atomic write of an event's effects.
    fn commit(&self, commit: &Commit<'_>) -> impl Future<Output = Result<(), StoreError>>;
    /// Records a conflicting redelivery's review item (idempotent: conditional on absence).
    fn record_conflict(&self, review: &ReviewItem) -> impl Future<Output = Result<(), StoreError>>;
}
