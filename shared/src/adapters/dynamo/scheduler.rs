//! The scheduler's store port on DynamoDB: sharded queries of the sparse due indexes, a batched
//! read of the due records and their heads, and one transaction per changed customer holding only
//! what changed.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use chrono::{DateTime, Utc};

use super::items::{
    self, decode_head, decode_record, decode_stats, get_s, item_size, list, n, rfc3339, s, units,
};
use super::keys::{sortable_instant, DIRTY_INDEX, LEGACY_DUE_INDEX, RECORDS_DUE_INDEX};
use super::{map_sdk_error, DynamoStore};
use crate::engine::ReviewItem;
use crate::processor::{RecordId, StoreError};
use crate::quality::{QualityScore, StatsRecord};
use crate::scheduler::{SchedulerStore, TickCommit, TickRead};

impl SchedulerStore for DynamoStore {
    fn concurrent_writes(&self) -> usize {
        self.concurrent_writes
    }

    async fn due_records(&self, now: DateTime<Utc>) -> Result<Vec<RecordId>, StoreError> {
        // A keys-only index: each entry is the record's key and its due time, nothing more.
        self.query_shards(
            &self.tables.records,
            RECORDS_DUE_INDEX,
            "due_shard = :shard AND next_due_at <= :now",
            Some((":now", s(sortable_instant(now)))),
            items::record_key_of,
        )
        .await
    }

    async fn due_legacy_customers(&self, now: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        self.query_shards(
            &self.tables.customers,
            LEGACY_DUE_INDEX,
            "due_shard = :shard AND next_due_at <= :now",
            Some((":now", s(sortable_instant(now)))),
            |item| get_s(item, "customer_id").map(str::to_owned),
        )
        .await
    }

    async fn read(&self, heads: &[String], records: &[RecordId]) -> Result<TickRead, StoreError> {
        let mut keys = Vec::with_capacity(heads.len() + records.len());
        for customer in heads {
            keys.push((
                self.tables.customers.clone(),
                HashMap::from([("customer_id".to_owned(), s(customer))]),
            ));
        }
        for (customer, key) in records {
            keys.push((
                self.tables.records.clone(),
                HashMap::from([
                    ("customer_id".to_owned(), s(customer)),
                    ("record".to_owned(), s(key.sort_key())),
                ]),
            ));
        }
        let mut read = TickRead::default();
        for (table, item) in self.batch_get(keys).await? {
            if table == self.tables.customers {
                read.heads
                    .insert(get_s(&item, "customer_id")?.to_owned(), decode_head(&item)?);
            } else {
                let (id, stored) = decode_record(&item)?;
                read.records.insert(id, stored);
            }
        }
        Ok(read)
    }

    async fn commit_tick(&self, commit: &TickCommit<'_>) -> Result<(), StoreError> {
        let mut writes = Vec::new();
        if let Some(head) = commit.head {
            writes.push(self.versioned_put(
                &self.tables.customers,
                items::head_item(head),
                "customer_id",
                "version",
                commit.expected_head_version,
            )?);
        }
        for changed in &commit.records {
            writes.push(self.record_write(commit.customer_id, changed)?);
        }
        self.append_entries_and_reviews(
            &mut writes,
            commit.approvals,
            commit.reviews,
            &commit.records,
            commit.recorded_at,
        )?;
        self.transact(writes).await
    }

    async fn dirty_stats(&self) -> Result<Vec<StatsRecord>, StoreError> {
        self.query_shards(
            &self.tables.stats,
            DIRTY_INDEX,
            "dirty_shard = :shard",
            None,
            decode_stats,
        )
        .await
    }

    async fn stats(
        &self,
        affiliate_id: &str,
        month: &str,
    ) -> Result<Option<StatsRecord>, StoreError> {
        self.usage
            .read_requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.stats)
            .key("affiliate_id", s(affiliate_id))
            .key("month", s(month))
            .consistent_read(true)
            .send()
            .await
            .map_err(map_sdk_error)?;
        self.usage.documented_read_units.fetch_add(
            units(out.item().map_or(0, item_size), 4096),
            std::sync::atomic::Ordering::Relaxed,
        );
        out.item().map(decode_stats).transpose()
    }

    async fn commit_score(
        &self,
        record: &StatsRecord,
        score: &QualityScore,
        reviews: &[ReviewItem],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(score).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let opened: Vec<String> = reviews.iter().map(|r| r.review_id.clone()).collect();
        let update = Update::builder()
            .table_name(&self.tables.stats)
            .key("affiliate_id", s(&record.affiliate_id))
            .key("month", s(&record.month))
            .update_expression(
                "SET score = :score, scored_at = :now, anomalies_opened = list_append(if_not_exists(anomalies_opened, :empty), :opened) REMOVE dirty_shard",
            )
            .condition_expression("updates = :updates")
            .expression_attribute_values(":score", s(json))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .expression_attribute_values(":empty", AttributeValue::L(vec![]))
            .expression_attribute_values(":opened", list(&opened))
            .expression_attribute_values(":updates", n(record.updates))
            .build()
            .map_err(|e| StoreError::Corrupt(format!("building Update: {e}")))?;
        let mut writes = vec![TransactWriteItem::builder().update(update).build()];
        self.append_entries_and_reviews(&mut writes, &[], reviews, &[], now)?;
        self.transact(writes).await
    }
}
