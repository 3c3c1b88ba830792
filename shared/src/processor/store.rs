//! The port the processor writes through. One `load` is one read round trip (a batched get);
//! one `commit` is one atomic write of everything one event changed.

use std::collections::HashMap;
use std::future::Future;

use crate::engine::{Affiliate, Applied, CustomerState, EmailOwner, ReviewItem, SeenEvent};
use crate::events::EventEnvelope;
use crate::plans::Plan;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadRequest {
    pub event_ids: Vec<String>,
    pub customer_ids: Vec<String>,
    pub email_hashes: Vec<String>,
    pub affiliate_ids: Vec<String>,
    pub coupon_codes: Vec<String>,
    pub plans: Vec<(String, u32)>,
}

impl LoadRequest {
    pub fn is_empty(&self) -> bool {
        self.event_ids.is_empty()
            && self.customer_ids.is_empty()
            && self.email_hashes.is_empty()
            && self.affiliate_ids.is_empty()
            && self.coupon_codes.is_empty()
            && self.plans.is_empty()
    }

    pub fn keys(&self) -> usize {
        self.event_ids.len()
            + self.customer_ids.len()
            + self.email_hashes.len()
            + self.affiliate_ids.len()
            + self.coupon_codes.len()
            + self.plans.len()
    }
}

/// What a load found; absent keys are simply missing from the maps.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub events: HashMap<String, SeenEvent>,
    pub customers: HashMap<String, CustomerState>,
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
    /// The state version read (0 = no state item yet): the write is conditional on it.
    pub expected_version: u64,
    pub state: &'a CustomerState,
    pub applied: &'a Applied,
    pub counters: Vec<CounterUpdate>,
    /// Partner-quality counters to add (one item per affiliate-month).
    pub stats: Vec<crate::quality::StatsDelta>,
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

pub trait ProcessorStore {
    /// One batched, strongly consistent read.
    fn load(&self, request: &LoadRequest) -> impl Future<Output = Result<Loaded, StoreError>>;
    /// One atomic write of an event's effects.
    fn commit(&self, commit: &Commit<'_>) -> impl Future<Output = Result<(), StoreError>>;
    /// Records a conflicting redelivery's review item (idempotent: conditional on absence).
    fn record_conflict(&self, review: &ReviewItem) -> impl Future<Output = Result<(), StoreError>>;
}
