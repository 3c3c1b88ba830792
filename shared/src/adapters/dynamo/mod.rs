//! DynamoDB implementation of the processor's and the scheduler's store ports. Item layouts are
//! documented in `docs/dynamodb.md`; amounts are DynamoDB numbers with a `currency` beside them.
//!
//! `keys` names tables, keys and indexes; `items` maps domain values to items and back;
//! `processor` and `scheduler` implement the two ports; `migration` rewrites legacy customers;
//! `exports` starts the finance exports.
//! This module holds what they share: the client, the batched read, the transaction, the
//! sharded index query, and the request and capacity counters.

mod admin;
mod admin_directory;
mod exports;
pub mod items;
pub mod keys;
mod migration;
mod processor;
mod scheduler;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, ReturnConsumedCapacity, TransactWriteItem,
};
use rust_decimal::Decimal;

pub use exports::DynamoExporter;
pub use items::{item_size, ledger_item, Item};
pub use keys::*;
pub use migration::MigrationReport;

use crate::processor::StoreError;
use crate::scheduler::TickConfig;

/// BatchGetItem takes at most 100 keys per request.
const BATCH_GET_LIMIT: usize = 100;
/// Retries of keys DynamoDB left unprocessed (it does so under throttling).
const UNPROCESSED_RETRIES: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    /// One small head per customer (attribution, version); legacy whole-history items too.
    pub customers: String,
    /// One record per customer transaction and challenge (the engine's bounded state).
    pub records: String,
    pub events: String,
    pub ledger: String,
    pub reviews: String,
    pub email_matches: String,
    pub directory: String,
    /// Partner-quality counters and scores per affiliate and month.
    pub stats: String,
}

/// Requests and capacity units this store has used: the benchmarks' and the logs' figures.
#[derive(Debug, Default)]
pub struct Usage {
    pub read_requests: AtomicU64,
    pub write_requests: AtomicU64,
    /// Capacity units in hundredths, as the service reports them (0.5 RCU reads exist).
    pub capacity_centi_units: AtomicU64,
    /// Capacity units by DynamoDB's documented rules, from the items' sizes: a strongly
    /// consistent read is 1 RCU per 4 KB per item (a key that is absent still costs 1); a
    /// transactional write is 2 WCU per 1 KB per item; a plain write 1 WCU per 1 KB. Updates are
    /// counted at the 1 KB minimum (the store does not see the item they change).
    pub documented_read_units: AtomicU64,
    pub documented_write_units: AtomicU64,
    /// Writes to global secondary indexes that the table writes cause (1 WCU per 1 KB of the
    /// projected item; a changed index key is a delete and a put). A stats counter update is
    /// counted at its 1 KB minimum here too.
    pub documented_index_write_units: AtomicU64,
    /// The largest item put, in bytes (DynamoDB's size rule).
    pub largest_item: AtomicUsize,
}

impl Usage {
    pub fn snapshot(&self) -> UsageSnapshot {
        UsageSnapshot {
            read_requests: self.read_requests.load(Ordering::Relaxed),
            write_requests: self.write_requests.load(Ordering::Relaxed),
            reported_capacity: Decimal::new(
                self.capacity_centi_units.load(Ordering::Relaxed) as i64,
                2,
            ),
            documented_read_units: self.documented_read_units.load(Ordering::Relaxed),
            documented_write_units: self.documented_write_units.load(Ordering::Relaxed),
            documented_index_write_units: self.documented_index_write_units.load(Ordering::Relaxed),
        }
    }

    /// The largest item put since the last call (and resets it).
    pub fn take_largest_item(&self) -> usize {
        self.largest_item.swap(0, Ordering::Relaxed)
    }

    fn add_capacity(&self, units: f64) {
        // Capacity is a measurement DynamoDB reports as a double; it is never money.
        self.capacity_centi_units
            .fetch_add((units * 100.0).round() as u64, Ordering::Relaxed);
    }

    fn put_item(&self, size: usize) {
        self.largest_item.fetch_max(size, Ordering::Relaxed);
    }

    fn index_writes(&self, units: u64) {
        self.documented_index_write_units
            .fetch_add(units, Ordering::Relaxed);
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageSnapshot {
    pub read_requests: u64,
    pub write_requests: u64,
    pub reported_capacity: Decimal,
    pub documented_read_units: u64,
    pub documented_write_units: u64,
    pub documented_index_write_units: u64,
}

impl std::ops::Sub for UsageSnapshot {
    type Output = UsageSnapshot;
    fn sub(self, o: UsageSnapshot) -> UsageSnapshot {
        UsageSnapshot {
            read_requests: self.read_requests - o.read_requests,
            write_requests: self.write_requests - o.write_requests,
            reported_capacity: self.reported_capacity - o.reported_capacity,
            documented_read_units: self.documented_read_units - o.documented_read_units,
            documented_write_units: self.documented_write_units - o.documented_write_units,
            documented_index_write_units: self.documented_index_write_units
                - o.documented_index_write_units,
        }
    }
}

#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: aws_sdk_dynamodb::Client,
    tables: Tables,
    usage: std::sync::Arc<Usage>,
    tick_config: TickConfig,
    concurrent_writes: usize,
}

/// Index-entry writes when an item's due time goes from `before` to `after` in a keys-only
/// index: adding or removing the entry is one write, moving it (a changed key) two.
fn due_index_writes<T: PartialEq>(before: Option<T>, after: Option<T>) -> u64 {
    match (before, after) {
        (None, None) => 0,
        (Some(a), Some(b)) if a == b => 0,
        (Some(_), Some(_)) => 2,
        _ => 1,
    }
}

impl DynamoStore {
    pub fn new(client: aws_sdk_dynamodb::Client, tables: Tables) -> Self {
        Self {
            client,
            tables,
            usage: Default::default(),
            tick_config: TickConfig::default(),
            concurrent_writes: 1,
        }
    }

    /// How many customer writes a scheduler tick keeps in flight (1 unless set: the local stack
    /// keeps 1; DynamoDB takes many).
    pub fn with_concurrent_writes(mut self, writes: usize) -> Self {
        self.concurrent_writes = writes;
        self
    }

    /// The scheduler's time rules, which decide when a record next has work due.
    pub fn with_tick_config(mut self, config: TickConfig) -> Self {
        self.tick_config = config;
        self
    }

    pub fn usage(&self) -> std::sync::Arc<Usage> {
        self.usage.clone()
    }

    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    /// Strongly consistent reads of `(table, key)`s, 100 keys per request, retrying what
    /// DynamoDB leaves unprocessed. Returns the items found with their table.
    async fn batch_get(
        &self,
        keys: Vec<(String, Item)>,
    ) -> Result<Vec<(String, Item)>, StoreError> {
        let mut found = Vec::new();
        let requested = keys.len();
        for chunk in keys.chunks(BATCH_GET_LIMIT) {
            let mut pending: HashMap<String, KeysAndAttributes> = HashMap::new();
            let mut grouped: HashMap<String, Vec<Item>> = HashMap::new();
            for (table, key) in chunk {
                grouped.entry(table.clone()).or_default().push(key.clone());
            }
            for (table, keys) in grouped {
                let ka = KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::Corrupt(format!("building BatchGetItem: {e}")))?;
                pending.insert(table, ka);
            }
            for attempt in 0..=UNPROCESSED_RETRIES {
                if pending.is_empty() {
                    break;
                }
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
                }
                self.usage.read_requests.fetch_add(1, Ordering::Relaxed);
                let out = self
                    .client
                    .batch_get_item()
                    .set_request_items(Some(std::mem::take(&mut pending)))
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .map_err(map_sdk_error)?;
                for c in out.consumed_capacity() {
                    self.usage
                        .add_capacity(c.capacity_units().unwrap_or_default());
                }
                if let Some(responses) = out.responses {
                    for (table, items) in responses {
                        for item in items {
                            self.usage
                                .documented_read_units
                                .fetch_add(items::units(item_size(&item), 4096), Ordering::Relaxed);
                            found.push((table.clone(), item));
                        }
                    }
                }
                pending = out.unprocessed_keys.unwrap_or_default();
                pending.retain(|_, ka| !ka.keys().is_empty());
            }
            if !pending.is_empty() {
                return Err(StoreError::Throttled(
                    "BatchGetItem left keys unprocessed after retries".into(),
                ));
            }
        }
        // Absent keys still cost the minimum read.
        let absent = requested.saturating_sub(found.len()) as u64;
        self.usage
            .documented_read_units
            .fetch_add(absent, Ordering::Relaxed);
        Ok(found)
    }

    fn put(
        &self,
        table: &str,
        item: Item,
        condition: &str,
        values: Option<Item>,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_values(values)
            .build()
            .map_err(|e| StoreError::Corrupt(format!("building Put: {e}")))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The conditional put of an item versioned by `attribute`: absent when `expected` is 0,
    /// else at exactly `expected`.
    fn versioned_put(
        &self,
        table: &str,
        item: Item,
        key_attribute: &str,
        attribute: &str,
        expected: u64,
    ) -> Result<TransactWriteItem, StoreError> {
        if expected == 0 {
            self.put(
                table,
                item,
                &format!("attribute_not_exists({key_attribute})"),
                None,
            )
        } else {
            self.put(
                table,
                item,
                &format!("{attribute} = :expected"),
                Some(HashMap::from([(
                    ":expected".to_owned(),
                    items::n(expected),
                )])),
            )
        }
    }

    /// The conditional put of a changed record at its next version, with the due-index keys its
    /// scheduler work calls for (and the index writes that change causes).
    fn record_write(
        &self,
        customer_id: &str,
        changed: &crate::engine::ChangedRecord<'_>,
    ) -> Result<TransactWriteItem, StoreError> {
        let due = crate::scheduler::record_due(changed.record, &self.tick_config);
        let before = changed
            .before
            .and_then(|r| crate::scheduler::record_due(r, &self.tick_config));
        self.usage.index_writes(due_index_writes(before, due));
        self.versioned_put(
            &self.tables.records,
            items::record_item(
                customer_id,
                changed.key,
                changed.version + 1,
                changed.record,
                due,
            ),
            "customer_id",
            "v",
            changed.version,
        )
    }

    /// Every item of a sparse sharded index (`:shard` = `due#00` … `due#15`), page by page,
    /// decoded. An empty page still costs the minimum read.
    async fn query_shards<T>(
        &self,
        table: &str,
        index: &str,
        key_condition: &str,
        bound: Option<(&str, AttributeValue)>,
        decode: impl Fn(&Item) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        for shard in 0..DUE_SHARDS {
            let mut start = None;
            loop {
                self.usage.read_requests.fetch_add(1, Ordering::Relaxed);
                let mut query = self
                    .client
                    .query()
                    .table_name(table)
                    .index_name(index)
                    .key_condition_expression(key_condition)
                    .expression_attribute_values(":shard", items::s(format!("due#{shard:02}")))
                    .set_exclusive_start_key(start)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total);
                if let Some((name, value)) = &bound {
                    query = query.expression_attribute_values(*name, value.clone());
                }
                let page = query.send().await.map_err(map_sdk_error)?;
                if let Some(c) = page.consumed_capacity() {
                    self.usage
                        .add_capacity(c.capacity_units().unwrap_or_default());
                }
                self.usage.documented_read_units.fetch_add(
                    items::units(page.items().iter().map(item_size).sum(), 8192),
                    Ordering::Relaxed,
                );
                for item in page.items() {
                    out.push(decode(item)?);
                }
                start = page.last_evaluated_key;
                if start.is_none() {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Appends the conditional puts of new ledger entries and review items (written once, never
    /// overwritten), counting their index writes.
    fn append_entries_and_reviews(
        &self,
        writes: &mut Vec<TransactWriteItem>,
        entries: &[crate::ledger::LedgerEntry],
        reviews: &[crate::engine::ReviewItem],
        records: &[crate::engine::ChangedRecord<'_>],
        recorded_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        let versions = commission_versions(records);
        for entry in entries {
            let mut item = ledger_item(entry);
            item.insert(
                RECORDED_AT_ATTRIBUTE.into(),
                items::s(items::rfc3339(recorded_at)),
            );
            if let Some(v) = versions.get(entry.commission_id.as_str()) {
                item.insert(RECORD_VERSION_ATTRIBUTE.into(), items::n(*v));
            }
            // ByCommission projects the whole entry.
            self.usage
                .index_writes(items::units(item_size(&item), 1024));
            writes.push(self.put(
                &self.tables.ledger,
                item,
                "attribute_not_exists(entry_id)",
                None,
            )?);
        }
        for review in reviews {
            let item = items::review_item(review);
            // OpenQueue projects the whole (open) item.
            self.usage
                .index_writes(items::units(item_size(&item), 1024));
            writes.push(self.put(
                &self.tables.reviews,
                item,
                "attribute_not_exists(review_id)",
                None,
            )?);
        }
        Ok(())
    }

    /// One TransactWriteItems, its capacity counted and its cancellation reasons mapped.
    async fn transact(&self, writes: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        self.usage.write_requests.fetch_add(1, Ordering::Relaxed);
        let mut documented = 0;
        for w in &writes {
            let size = w.put().map_or(0, |p| item_size(p.item()));
            self.usage.put_item(size);
            documented += 2 * items::units(size, 1024);
        }
        self.usage
            .documented_write_units
            .fetch_add(documented, Ordering::Relaxed);
        let out = self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            // No ClientRequestToken is set: the SDK generates one per call and reuses it on its
            // own retries, so a retry after a lost response is answered, not re-run. A fresh
            // attempt after a failure re-reads and sends different parameters, which a reused
            // token would reject.
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match out {
            Ok(out) => {
                for c in out.consumed_capacity() {
                    self.usage
                        .add_capacity(c.capacity_units().unwrap_or_default());
                }
                Ok(())
            }
            Err(SdkError::ServiceError(service))
                if matches!(
                    service.err(),
                    TransactWriteItemsError::TransactionCanceledException(_)
                ) =>
            {
                let TransactWriteItemsError::TransactionCanceledException(cancelled) =
                    service.err()
                else {
                    unreachable!()
                };
                let codes: Vec<&str> = cancelled
                    .cancellation_reasons()
                    .iter()
                    .map(|r| r.code().unwrap_or("None"))
                    .collect();
                let summary = codes.join(",");
                if codes
                    .iter()
                    .any(|c| *c == "ThrottlingError" || *c == "ProvisionedThroughputExceeded")
                {
                    Err(StoreError::Throttled(format!(
                        "transaction cancelled: {summary}"
                    )))
                } else if codes
                    .iter()
                    .any(|c| *c == "ConditionalCheckFailed" || *c == "TransactionConflict")
                {
                    Err(StoreError::Conflict(format!(
                        "transaction cancelled: {summary}"
                    )))
                } else {
                    Err(StoreError::Unavailable(format!(
                        "transaction cancelled: {summary}"
                    )))
                }
            }
            Err(e) => Err(map_sdk_error(e)),
        }
    }
}

/// The ledger attribute that orders a commission's entries in the order they were written: the
/// version of the record holding the commission, as the entry's transaction wrote it. Every
/// writer of a commission's entries (processor, tick, admin) writes its record in the same
/// transaction, conditional on the version it read, so these versions are the write order.
/// (`effective_at` is when an entry takes effect, which is not always the write order: an
/// approval takes effect at the cooling-off end even when written after a later release.)
pub const RECORD_VERSION_ATTRIBUTE: &str = "record_version";

/// When an entry was written (its booking time): finance's statement periods and cut-offs go by
/// it, so an entry that takes effect in a past period (a late refund, an approval written after
/// its cooling-off ended) lands in the period it was booked in and an issued statement never
/// changes. Stored beside the entry, not in it: a ledger rebuilt from the event log is the same
/// ledger whenever it is rebuilt.
pub const RECORDED_AT_ATTRIBUTE: &str = "recorded_at";

/// Each commission of the changed records, and its record's version after the write.
fn commission_versions<'a>(
    records: &'a [crate::engine::ChangedRecord<'_>],
) -> HashMap<&'a str, u64> {
    let mut out = HashMap::new();
    for r in records {
        for c in r.record.commissions() {
            out.insert(c.commission_id.as_str(), r.version + 1);
        }
    }
    out
}

fn map_sdk_error<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match &e {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            // Code and message only: the raw response is noise in a log line.
            let text = format!("{code}: {}", service.err().message().unwrap_or_default());
            if matches!(
                code,
                "ProvisionedThroughputExceededException"
                    | "ThrottlingException"
                    | "RequestLimitExceeded"
            ) {
                StoreError::Throttled(text)
            } else if code == "ConditionalCheckFailedException" {
                StoreError::Conflict(text)
            } else {
                StoreError::Unavailable(text)
            }
        }
        _ => StoreError::Unavailable(DisplayErrorContext(&e).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_an_index_key_is_two_writes_adding_or_removing_one() {
        assert_eq!(due_index_writes::<u8>(None, None), 0);
        assert_eq!(due_index_writes(Some(1), Some(1)), 0);
        assert_eq!(due_index_writes(None, Some(1)), 1);
        assert_eq!(due_index_writes(Some(1), None), 1);
        assert_eq!(due_index_writes(Some(1), Some(2)), 2);
    }
}
