//! Table names, item keys and index names: how the domain's ids become DynamoDB keys.

use chrono::{DateTime, Utc};

/// The environment variables that name each table (the template sets them per function).
pub const CUSTOMERS_TABLE_VAR: &str = "CUSTOMERS_TABLE";
pub const RECORDS_TABLE_VAR: &str = "RECORDS_TABLE";
pub const EVENTS_TABLE_VAR: &str = "EVENTS_TABLE";
pub const LEDGER_TABLE_VAR: &str = "LEDGER_TABLE";
pub const REVIEWS_TABLE_VAR: &str = "REVIEWS_TABLE";
pub const EMAIL_MATCHES_TABLE_VAR: &str = "EMAIL_MATCHES_TABLE";
pub const DIRECTORY_TABLE_VAR: &str = "DIRECTORY_TABLE";
pub const STATS_TABLE_VAR: &str = "STATS_TABLE";

/// The sparse, keys-only index of records with scheduler work: `due_shard` (one of `DUE_SHARDS`
/// values, present only while something is due) and `next_due_at` (a fixed-width RFC 3339
/// instant, so string order is time order). Sharded so the index's write load spreads.
pub const RECORDS_DUE_INDEX: &str = "DueRecords";
/// The customers table's index of due work, from the legacy whole-history format. Current heads
/// never carry its keys; it only finds legacy customers that still have work due, so the tick can
/// migrate them. Empty once every legacy customer is migrated.
pub const LEGACY_DUE_INDEX: &str = "DueWork";
/// The reviews table's sparse index of open items (`open_queue`, `opened_at`): removed from an
/// item when it closes.
pub const OPEN_QUEUE_INDEX: &str = "OpenQueue";
/// The reviews table's sparse index of closed items (`resolved_queue`, `resolved_sort`: the
/// fixed-width instant it closed), newest first.
pub const RESOLVED_INDEX: &str = "Resolved";
/// The sparse index of affiliate-months whose counters changed since their score was computed.
pub const DIRTY_INDEX: &str = "DirtyScores";
pub const DUE_SHARDS: u8 = 16;

/// The shard of a customer's (or an affiliate's) index entries.
pub fn due_shard(id: &str) -> String {
    format!(
        "due#{:02}",
        blake3::hash(id.as_bytes()).as_bytes()[0] % DUE_SHARDS
    )
}

/// Fixed width (nanoseconds, `Z`): lexicographic order equals time order.
pub fn sortable_instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

pub fn key_affiliate(id: &str) -> String {
    format!("affiliate#{id}")
}

pub fn key_coupon(code: &str) -> String {
    format!("coupon#{code}")
}

pub fn key_plan(id: &str, version: u32) -> String {
    format!("plan#{id}#{version}")
}
