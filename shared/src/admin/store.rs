//! The port the admin service reads and writes through. DynamoDB is an adapter behind it.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::directory::{CouponView, DirectoryChange, EntryMeta};
use super::request::ReviewQuery;
use crate::engine::{Affiliate, CustomerView, MemoryDirectory, OutcomeKind, Reason, ReviewItem};
use crate::events::EventEnvelope;
use crate::ledger::LedgerEntry;
use crate::plans::Plan;
use crate::processor::{StoreError, StoredHead};
use crate::quality::StatsRecord;

/// How a review item was closed: who, when, why, and what it posted (SPEC invariant 8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewResolution {
    pub action: String,
    /// The affiliate a reassign moved the customer to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub affiliate_id: Option<String>,
    /// The customer a merge took the attribution of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub into_customer_id: Option<String>,
    pub reason: String,
    /// The token subject of who resolved it.
    pub by: String,
    pub at: DateTime<Utc>,
    pub entry_ids: Vec<String>,
    /// The affiliate of each entry, in the same order: the ledger is partitioned by affiliate,
    /// and a reassign posts for two.
    pub entry_affiliates: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReview {
    pub item: ReviewItem,
    pub resolution: Option<ReviewResolution>,
}

/// An event as the event log holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub envelope: EventEnvelope,
    pub seq: u64,
    pub outcome: OutcomeKind,
    pub reason: Reason,
    pub entry_ids: Vec<String>,
    pub review_ids: Vec<String>,
    /// The affiliate of each entry, in the same order (empty on records written before the admin
    /// API: their entries are the customer's attributed affiliate's, as nothing could move them).
    pub entry_affiliates: Vec<String>,
}

/// A cursor that is not one this API returned (the caller's mistake: a 400 naming `cursor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the cursor is not one this API returned")]
pub struct InvalidCursor;

/// One page of a list, and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// What closing a review item writes, all or nothing: the item (conditional on it being open),
/// the customer's head and records the resolution changed (conditional on their versions), and
/// the ledger entries it posted (conditional on absence).
#[derive(Debug, Clone)]
pub struct ResolutionCommit<'a> {
    pub review: &'a ReviewItem,
    pub resolution: &'a ReviewResolution,
    /// The customer, when the review concerns one (anomaly reviews do not).
    pub customer: Option<(&'a CustomerView, u64)>,
    pub entries: &'a [LedgerEntry],
    /// When it is written (the resolution's time): the entries' booking time.
    pub recorded_at: chrono::DateTime<chrono::Utc>,
}

/// A statement's payout entries and who recorded them.
#[derive(Debug, Clone)]
pub struct PayoutCommit<'a> {
    pub affiliate_id: &'a str,
    pub entries: &'a [crate::finance::booked::BookedEntry],
    pub by: &'a str,
    /// How many payout entries the affiliate had when the balance was read.
    pub payout_entries_read: u64,
}

/// A directory change and its history item, written together: the entry conditional on the
/// version read (or on absence), the history item conditional on absence.
#[derive(Debug, Clone)]
pub enum DirectoryWrite<'a> {
    /// A new plan version (never an existing one: published versions are immutable).
    Plan {
        plan: &'a Plan,
        change: &'a DirectoryChange,
    },
    NewAffiliate {
        affiliate: &'a Affiliate,
        change: &'a DirectoryChange,
    },
    /// Sets the fields a change can touch, at `expected` (the version read; 0 for entries loaded
    /// before versions existed). The processor's counters on the same item are left alone.
    UpdateAffiliate {
        affiliate: &'a Affiliate,
        expected: u64,
        change: &'a DirectoryChange,
    },
    /// Creates (`expected` `None`) or reassigns a coupon code.
    Coupon {
        code: &'a str,
        affiliate_id: &'a str,
        expected: Option<u64>,
        change: &'a DirectoryChange,
    },
}

/// A published plan and who published it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPlan {
    pub plan: Plan,
    pub meta: EntryMeta,
}

pub trait AdminStore {
    /// Review items by status, oldest first (open) or newest first (resolved), filtered.
    fn reviews(
        &self,
        query: &ReviewQuery,
        opened_before: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<Result<Page<StoredReview>, InvalidCursor>, StoreError>>;
    fn review(
        &self,
        review_id: &str,
    ) -> impl Future<Output = Result<Option<StoredReview>, StoreError>>;
    fn reviews_by_id(
        &self,
        ids: &[String],
    ) -> impl Future<Output = Result<Vec<StoredReview>, StoreError>>;
    fn event(
        &self,
        event_id: &str,
    ) -> impl Future<Output = Result<Option<StoredEvent>, StoreError>>;
    /// A customer's events in the order they were applied, a page at a time.
    fn customer_events(
        &self,
        customer_id: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<Result<Page<StoredEvent>, InvalidCursor>, StoreError>>;
    fn head(
        &self,
        customer_id: &str,
    ) -> impl Future<Output = Result<Option<StoredHead>, StoreError>>;
    /// Ledger entries by `(affiliate_id, entry_id)`; absent ones are left out.
    fn entries(
        &self,
        keys: &[(String, String)],
    ) -> impl Future<Output = Result<Vec<LedgerEntry>, StoreError>>;
    /// The whole customer (every record), migrated if it is still in the legacy format; `None`
    /// if there is no such customer.
    fn customer(
        &self,
        customer_id: &str,
    ) -> impl Future<Output = Result<Option<CustomerView>, StoreError>>;
    /// The affiliates named and their current plan versions.
    fn directory(
        &self,
        affiliate_ids: &[String],
    ) -> impl Future<Output = Result<MemoryDirectory, StoreError>>;
    fn commit_resolution(
        &self,
        commit: &ResolutionCommit<'_>,
    ) -> impl Future<Output = Result<(), StoreError>>;

    /// Every published plan version.
    fn plans(&self) -> impl Future<Output = Result<Vec<StoredPlan>, StoreError>>;
    fn plan(
        &self,
        plan_id: &str,
        version: u32,
    ) -> impl Future<Output = Result<Option<StoredPlan>, StoreError>>;
    fn affiliates(&self) -> impl Future<Output = Result<Vec<(Affiliate, EntryMeta)>, StoreError>>;
    fn affiliate(
        &self,
        affiliate_id: &str,
    ) -> impl Future<Output = Result<Option<(Affiliate, EntryMeta)>, StoreError>>;
    fn coupons(&self) -> impl Future<Output = Result<Vec<CouponView>, StoreError>>;
    fn coupon(&self, code: &str) -> impl Future<Output = Result<Option<CouponView>, StoreError>>;
    /// A directory entry's history, versions 1 to `version`, oldest first.
    fn history(
        &self,
        target: &str,
        version: u64,
    ) -> impl Future<Output = Result<Vec<DirectoryChange>, StoreError>>;
    fn commit_directory(
        &self,
        write: &DirectoryWrite<'_>,
    ) -> impl Future<Output = Result<(), StoreError>>;
    /// Every ledger item of an affiliate, payouts included, as finance reads them (booking time
    /// and write order), read consistently.
    fn affiliate_book(
        &self,
        affiliate_id: &str,
    ) -> impl Future<Output = Result<Vec<crate::finance::booked::BookedEntry>, StoreError>>;
    /// Appends a statement's payout entries (each conditional on its absence), with who recorded
    /// them, in one transaction that also moves the affiliate's count of payout entries from the
    /// one read (so two payouts decided on the same balance cannot both be written).
    fn record_payouts(
        &self,
        commit: &PayoutCommit<'_>,
    ) -> impl Future<Output = Result<(), StoreError>>;
    /// The affiliate's partner-quality counters, one record per month.
    fn affiliate_stats(
        &self,
        affiliate_id: &str,
    ) -> impl Future<Output = Result<Vec<StatsRecord>, StoreError>>;
}
