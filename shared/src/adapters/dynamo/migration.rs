//! Rewriting a legacy customer (one item holding the whole history) in the current format: one
//! item per transaction and challenge, then the small head in place of the legacy item.
//!
//! Safe to run from several places at once (processor, scheduler, the `migrate-customers`
//! command) and to repeat after a crash half-way: records are written at version 1 only where
//! none exists or one from an earlier migration attempt does (`v = 1`: the same content, from the
//! same or an older legacy version); a record already past version 1 means another writer
//! finished the migration and moved on, so this attempt stops (`Conflict`) and the caller re-reads.
//! The head is swapped last, conditional on the legacy item still being the one converted, and
//! one version higher, so a writer that still holds the legacy version cannot overwrite it.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use futures_util::stream::{self, StreamExt, TryStreamExt};

use super::items::{self, decode_head, item_size, n, units, Item};
use super::{map_sdk_error, DynamoStore};
use crate::engine::legacy::{self, MigratedCustomer};
use crate::processor::{MigrationStore, StoreError, StoredHead};
use crate::scheduler::record_due;

/// Record writes in flight at once while migrating one customer.
const MIGRATION_CONCURRENCY: usize = 16;

/// Attempts per customer when another writer changes it under the migration.
const MIGRATION_ATTEMPTS: usize = 5;

/// What the one-off migration did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct MigrationReport {
    /// Customers found in the legacy format by the scan.
    pub legacy_found: usize,
    /// Rewritten in the current format by this run.
    pub migrated: usize,
    /// Found legacy by the scan, current by the time they were read (another writer migrated
    /// them: the processor or the scheduler, which migrate on first touch).
    pub already_current: usize,
}

impl MigrationStore for DynamoStore {
    async fn migrate(
        &self,
        migrated: &MigratedCustomer,
        legacy_version: u64,
    ) -> Result<(), StoreError> {
        self.migrate_customer(migrated, legacy_version).await
    }
}

impl DynamoStore {
    async fn migrate_customer(
        &self,
        migrated: &MigratedCustomer,
        legacy_version: u64,
    ) -> Result<(), StoreError> {
        let customer = migrated.head.customer_id.as_str();
        // Owned items: a stream over borrowed records makes a future that is not provably Send
        // (lambda_http requires Send handler futures).
        let record_items: Vec<(String, Item, bool)> = migrated
            .records
            .iter()
            .map(|(key, record)| {
                let due = record_due(record, &self.tick_config);
                let item =
                    items::record_item(customer, key, legacy::MIGRATED_RECORD_VERSION, record, due);
                (key.sort_key(), item, due.is_some())
            })
            .collect();
        stream::iter(record_items)
            .map(|(sort_key, item, due)| async move {
                self.plain_write(item_size(&item), u64::from(due));
                self.client
                    .put_item()
                    .table_name(&self.tables.records)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(customer_id) OR v = :migrated")
                    .expression_attribute_values(":migrated", n(legacy::MIGRATED_RECORD_VERSION))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| match map_sdk_error(e) {
                        StoreError::Conflict(_) => StoreError::Conflict(format!(
                            "customer {customer}: record {sort_key} is past its migrated version: another writer migrated it"
                        )),
                        other => other,
                    })
            })
            .buffer_unordered(MIGRATION_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        let head = items::head_item(&migrated.head);
        // The legacy item leaves the legacy due index (if it was in it).
        self.plain_write(item_size(&head), 1);
        self.client
            .put_item()
            .table_name(&self.tables.customers)
            .set_item(Some(head))
            .condition_expression("version = :legacy AND attribute_exists(#state)")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":legacy", n(legacy_version))
            .send()
            .await
            .map(|_| ())
            .map_err(map_sdk_error)
    }

    /// Counts one non-transactional put (and its index writes).
    fn plain_write(&self, size: usize, index_units: u64) {
        self.usage.write_requests.fetch_add(1, Ordering::Relaxed);
        self.usage
            .documented_write_units
            .fetch_add(units(size, 1024), Ordering::Relaxed);
        self.usage.put_item(size);
        self.usage.index_writes(index_units);
    }

    /// The one-off command: migrates every customer still in the legacy format. Idempotent (a
    /// second run finds nothing) and safe beside running processors and ticks.
    pub async fn migrate_all(&self) -> Result<MigrationReport, StoreError> {
        let legacy = self.legacy_customers().await?;
        let mut report = MigrationReport {
            legacy_found: legacy.len(),
            ..MigrationReport::default()
        };
        for customer in legacy {
            let mut attempt = 0;
            loop {
                attempt += 1;
                self.usage.read_requests.fetch_add(1, Ordering::Relaxed);
                let out = self
                    .client
                    .get_item()
                    .table_name(&self.tables.customers)
                    .key("customer_id", items::s(&customer))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(map_sdk_error)?;
                let Some(item) = out.item else {
                    return Err(StoreError::Corrupt(format!(
                        "customer {customer} vanished during migration"
                    )));
                };
                let StoredHead::Legacy(state) = decode_head(&item)? else {
                    report.already_current += 1;
                    break;
                };
                let version = state.version;
                let migrated =
                    legacy::migrate(*state).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                match self.migrate_customer(&migrated, version).await {
                    Ok(()) => {
                        report.migrated += 1;
                        break;
                    }
                    Err(StoreError::Conflict(_)) if attempt < MIGRATION_ATTEMPTS => continue,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(report)
    }

    /// Every customer still in the legacy format, page by page (a scan with a filter: this is
    /// the one-off command's job, not the per-event path).
    pub async fn legacy_customers(&self) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> = None;
        loop {
            self.usage.read_requests.fetch_add(1, Ordering::Relaxed);
            let page = self
                .client
                .scan()
                .table_name(&self.tables.customers)
                .filter_expression("attribute_exists(#state)")
                .expression_attribute_names("#state", "state")
                .projection_expression("customer_id")
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(map_sdk_error)?;
            for item in page.items() {
                out.push(items::get_s(item, "customer_id")?.to_owned());
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(out);
            }
        }
    }
}
