//! The admin API's store port on DynamoDB: the review queues (the sparse `OpenQueue` and
//! `Resolved` indexes), the event log by customer (`ByCustomer`), ledger entries by key, a whole
//! customer (head and every record), and a resolution's one transaction.
//!
//! Continuation cursors are DynamoDB's `LastEvaluatedKey`, as base64url JSON: opaque to callers,
//! checked on the way back in (a cursor that does not decode to the index's key attributes is a
//! 400, never a scan from somewhere unexpected).

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity, TransactWriteItem, Update};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};

use super::items::{
    self, decode_head, decode_ledger_entry, decode_record, decode_review, decode_stored_event,
    get_s, item_size, rfc3339, s, units, Item,
};
use super::keys::{key_affiliate, key_plan, OPEN_QUEUE_INDEX, RESOLVED_INDEX};
use super::{map_sdk_error, DynamoStore};
use crate::admin::directory::{CouponView, DirectoryChange, EntryMeta};
use crate::admin::request::{ReviewQuery, ReviewStatusFilter};
use crate::admin::store::{DirectoryWrite, StoredPlan};
use crate::admin::{AdminStore, InvalidCursor, Page, ResolutionCommit, StoredEvent, StoredReview};
use crate::engine::Affiliate;
use crate::engine::{CustomerView, MemoryDirectory};
use crate::ledger::LedgerEntry;
use crate::plans::Plan;
use crate::processor::{migrate_legacy, StoreError, StoredHead};
use crate::quality::StatsRecord;

/// The event log's index of a customer's events in the order they were applied.
const EVENTS_BY_CUSTOMER_INDEX: &str = "ByCustomer";
/// A filtered list reads at most this many index pages per request, so one request's cost is
/// bounded however selective its filter; a short page then still carries a cursor.
const MAX_QUERY_PAGES: usize = 10;

fn encode_cursor(key: &Item) -> String {
    let plain: serde_json::Map<String, serde_json::Value> = key
        .iter()
        .filter_map(|(k, v)| match v {
            AttributeValue::S(s) => Some((k.clone(), serde_json::json!({ "S": s }))),
            AttributeValue::N(n) => Some((k.clone(), serde_json::json!({ "N": n }))),
            _ => None,
        })
        .collect();
    URL_SAFE_NO_PAD.encode(serde_json::Value::Object(plain).to_string())
}

/// A cursor back into the key it was made from; only the index's key attributes are accepted.
fn decode_cursor(cursor: &str, attributes: &[&str]) -> Result<Item, InvalidCursor> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| InvalidCursor)?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| InvalidCursor)?;
    let object = value.as_object().ok_or(InvalidCursor)?;
    if object.len() != attributes.len() || !attributes.iter().all(|a| object.contains_key(*a)) {
        return Err(InvalidCursor);
    }
    object
        .iter()
        .map(|(k, v)| {
            let typed = v
                .as_object()
                .filter(|o| o.len() == 1)
                .ok_or(InvalidCursor)?;
            let (t, text) = typed.iter().next().ok_or(InvalidCursor)?;
            let text = text.as_str().ok_or(InvalidCursor)?.to_owned();
            let value = match t.as_str() {
                "S" => AttributeValue::S(text),
                "N" => AttributeValue::N(text),
                _ => return Err(InvalidCursor),
            };
            Ok((k.clone(), value))
        })
        .collect()
}

impl DynamoStore {
    pub(super) async fn get(&self, table: &str, key: Item) -> Result<Option<Item>, StoreError> {
        self.usage.read_requests.fetch_add(1, Ordering::Relaxed);
        let out = self
            .client
            .get_item()
            .table_name(table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(map_sdk_error)?;
        self.usage.documented_read_units.fetch_add(
            out.item().map_or(1, |i| units(item_size(i), 4096)),
            Ordering::Relaxed,
        );
        Ok(out.item)
    }

    /// Every record of a customer, page by page (strongly consistent).
    async fn customer_records(&self, customer_id: &str) -> Result<Vec<Item>, StoreError> {
        self.partition(&self.tables.records, "customer_id", customer_id)
            .await
    }

    /// The review list: one of the two sparse queue indexes, filtered, up to `limit` items.
    pub async fn query_reviews(
        &self,
        query: &ReviewQuery,
        opened_before: Option<DateTime<Utc>>,
    ) -> Result<Result<Page<StoredReview>, InvalidCursor>, StoreError> {
        let (index, key_attributes, partition, forward) = match query.status {
            ReviewStatusFilter::Open => (
                OPEN_QUEUE_INDEX,
                ["review_id", "open_queue", "opened_at"],
                ("open_queue", "open"),
                true,
            ),
            ReviewStatusFilter::Resolved => (
                RESOLVED_INDEX,
                ["review_id", "resolved_queue", "resolved_sort"],
                ("resolved_queue", "resolved"),
                false,
            ),
        };
        let mut start = match &query.cursor {
            None => None,
            Some(c) => match decode_cursor(c, &key_attributes) {
                Ok(key) => Some(key),
                Err(e) => return Ok(Err(e)),
            },
        };
        let mut names: HashMap<String, String> =
            HashMap::from([("#p".to_owned(), partition.0.to_owned())]);
        let mut values: Item = HashMap::from([(":p".to_owned(), s(partition.1))]);
        let mut key_condition = "#p = :p".to_owned();
        let mut filters: Vec<&str> = Vec::new();
        if let Some(before) = opened_before {
            values.insert(":before".into(), s(rfc3339(before)));
            names.insert("#opened".into(), "opened_at".into());
            match query.status {
                // The open queue is sorted by when items opened: the age is a key condition.
                ReviewStatusFilter::Open => key_condition.push_str(" AND #opened <= :before"),
                ReviewStatusFilter::Resolved => filters.push("#opened <= :before"),
            }
        }
        if let Some(kind) = query.kind {
            names.insert("#kind".into(), "kind".into());
            values.insert(":kind".into(), s(kind.as_str()));
            filters.push("#kind = :kind");
        }
        if let Some(c) = &query.customer_id {
            values.insert(":customer".into(), s(c));
            filters.push("customer_id = :customer");
        }
        if let Some(a) = &query.affiliate_id {
            values.insert(":affiliate".into(), s(a));
            filters.push("contains(affiliate_ids, :affiliate)");
        }
        let filter = (!filters.is_empty()).then(|| filters.join(" AND "));
        let mut items = Vec::new();
        for _ in 0..MAX_QUERY_PAGES {
            self.usage.read_requests.fetch_add(1, Ordering::Relaxed);
            let page = self
                .client
                .query()
                .table_name(&self.tables.reviews)
                .index_name(index)
                .key_condition_expression(&key_condition)
                .set_filter_expression(filter.clone())
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(forward)
                // Never more than the page still needs: the cursor is then exactly where the
                // last returned item was.
                .limit((query.limit - items.len()) as i32)
                .set_exclusive_start_key(start)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(map_sdk_error)?;
            for item in page.items() {
                items.push(decode_review(item)?);
            }
            start = page.last_evaluated_key;
            if start.is_none() || items.len() >= query.limit {
                break;
            }
        }
        Ok(Ok(Page {
            items,
            next_cursor: start.as_ref().map(encode_cursor),
        }))
    }

    /// A customer's events in log order, a page at a time.
    pub async fn query_customer_events(
        &self,
        customer_id: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Result<Page<StoredEvent>, InvalidCursor>, StoreError> {
        let start = match cursor {
            None => None,
            Some(c) => match decode_cursor(c, &["event_id", "customer_id", "seq"]) {
                Ok(key) if key.get("customer_id") == Some(&s(customer_id)) => Some(key),
                _ => return Ok(Err(InvalidCursor)),
            },
        };
        self.usage.read_requests.fetch_add(1, Ordering::Relaxed);
        let page = self
            .client
            .query()
            .table_name(&self.tables.events)
            .index_name(EVENTS_BY_CUSTOMER_INDEX)
            .key_condition_expression("customer_id = :c")
            .expression_attribute_values(":c", s(customer_id))
            .limit(limit as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(map_sdk_error)?;
        let mut events = page
            .items()
            .iter()
            .map(decode_stored_event)
            .collect::<Result<Vec<_>, _>>()?;
        // Events that changed nothing share the seq of the one before: order those as received.
        events.sort_by(|a, b| {
            (a.seq, a.envelope.received_at, &a.envelope.event_id).cmp(&(
                b.seq,
                b.envelope.received_at,
                &b.envelope.event_id,
            ))
        });
        Ok(Ok(Page {
            items: events,
            next_cursor: page.last_evaluated_key.as_ref().map(encode_cursor),
        }))
    }

    /// Closing a review item: the item (only if still open), the customer's changed head and
    /// records (only at the versions read), and the entries (only if absent), all or nothing.
    fn resolution_writes(
        &self,
        commit: &ResolutionCommit<'_>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut writes = Vec::new();
        let mut update = Update::builder()
            .table_name(&self.tables.reviews)
            .key("review_id", s(&commit.review.review_id))
            .condition_expression("#status = :open")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":open", s("open"));
        let mut set = Vec::new();
        for (i, (name, value)) in items::resolution_attributes(commit.resolution)
            .into_iter()
            .enumerate()
        {
            if name == "status" {
                set.push("#status = :status".to_owned());
                update = update.expression_attribute_values(":status", value);
            } else {
                set.push(format!("{name} = :a{i}"));
                update = update.expression_attribute_values(format!(":a{i}"), value);
            }
        }
        let update = update
            // Leaving the open queue's sparse index, joining the resolved one.
            .update_expression(format!("SET {} REMOVE open_queue", set.join(", ")))
            .build()
            .map_err(|e| StoreError::Corrupt(format!("building Update: {e}")))?;
        // Out of OpenQueue (one index write), into Resolved (one per KB of the item).
        self.usage.index_writes(2);
        writes.push(TransactWriteItem::builder().update(update).build());
        if let Some((view, expected)) = commit.customer {
            if view.head.version != expected {
                writes.push(self.versioned_put(
                    &self.tables.customers,
                    items::head_item(&view.head),
                    "customer_id",
                    "version",
                    expected,
                )?);
            }
            let changed = view.changed_records();
            for record in &changed {
                writes.push(self.record_write(view.customer_id(), record)?);
            }
            self.append_entries_and_reviews(
                &mut writes,
                commit.entries,
                &[],
                &changed,
                commit.recorded_at,
            )?;
        } else {
            self.append_entries_and_reviews(
                &mut writes,
                commit.entries,
                &[],
                &[],
                commit.recorded_at,
            )?;
        }
        Ok(writes)
    }
}

impl AdminStore for DynamoStore {
    async fn reviews(
        &self,
        query: &ReviewQuery,
        opened_before: Option<DateTime<Utc>>,
    ) -> Result<Result<Page<StoredReview>, InvalidCursor>, StoreError> {
        self.query_reviews(query, opened_before).await
    }

    async fn review(&self, review_id: &str) -> Result<Option<StoredReview>, StoreError> {
        let key = HashMap::from([("review_id".to_owned(), s(review_id))]);
        self.get(&self.tables.reviews, key)
            .await?
            .map(|i| decode_review(&i))
            .transpose()
    }

    async fn reviews_by_id(&self, ids: &[String]) -> Result<Vec<StoredReview>, StoreError> {
        let keys = ids
            .iter()
            .map(|id| {
                (
                    self.tables.reviews.clone(),
                    HashMap::from([("review_id".to_owned(), s(id))]),
                )
            })
            .collect();
        let mut found = self
            .batch_get(keys)
            .await?
            .iter()
            .map(|(_, item)| decode_review(item))
            .collect::<Result<Vec<_>, _>>()?;
        found.sort_by(|a, b| {
            (a.item.opened_at, &a.item.review_id).cmp(&(b.item.opened_at, &b.item.review_id))
        });
        Ok(found)
    }

    async fn event(&self, event_id: &str) -> Result<Option<StoredEvent>, StoreError> {
        let key = HashMap::from([("event_id".to_owned(), s(event_id))]);
        self.get(&self.tables.events, key)
            .await?
            .map(|i| decode_stored_event(&i))
            .transpose()
    }

    async fn customer_events(
        &self,
        customer_id: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Result<Page<StoredEvent>, InvalidCursor>, StoreError> {
        self.query_customer_events(customer_id, limit, cursor).await
    }

    async fn head(&self, customer_id: &str) -> Result<Option<StoredHead>, StoreError> {
        let key = HashMap::from([("customer_id".to_owned(), s(customer_id))]);
        self.get(&self.tables.customers, key)
            .await?
            .map(|i| decode_head(&i))
            .transpose()
    }

    async fn entries(&self, keys: &[(String, String)]) -> Result<Vec<LedgerEntry>, StoreError> {
        let keys = keys
            .iter()
            .map(|(affiliate, entry)| {
                (
                    self.tables.ledger.clone(),
                    HashMap::from([
                        ("affiliate_id".to_owned(), s(affiliate)),
                        ("entry_id".to_owned(), s(entry)),
                    ]),
                )
            })
            .collect();
        let mut found = self
            .batch_get(keys)
            .await?
            .iter()
            .map(|(_, item)| decode_ledger_entry(item))
            .collect::<Result<Vec<_>, _>>()?;
        found.sort_by(|a, b| (a.effective_at, &a.entry_id).cmp(&(b.effective_at, &b.entry_id)));
        Ok(found)
    }

    async fn customer(&self, customer_id: &str) -> Result<Option<CustomerView>, StoreError> {
        let head = match self.head(customer_id).await? {
            None => return Ok(None),
            Some(StoredHead::Legacy(state)) => return migrate_legacy(self, *state).await.map(Some),
            Some(StoredHead::Current(head)) => head,
        };
        let mut view = CustomerView::complete(head);
        for item in self.customer_records(customer_id).await? {
            let ((_, key), stored) = decode_record(&item)?;
            view.insert_loaded(key, stored.version, Some(stored.record));
        }
        Ok(Some(view))
    }

    async fn directory(&self, affiliate_ids: &[String]) -> Result<MemoryDirectory, StoreError> {
        let mut directory = MemoryDirectory::default();
        if affiliate_ids.is_empty() {
            return Ok(directory);
        }
        let keys = affiliate_ids
            .iter()
            .map(|a| {
                (
                    self.tables.directory.clone(),
                    HashMap::from([("pk".to_owned(), s(key_affiliate(a)))]),
                )
            })
            .collect();
        let mut plans = Vec::new();
        for (_, item) in self.batch_get(keys).await? {
            let affiliate = items::decode_affiliate(&item)?;
            plans.push((
                self.tables.directory.clone(),
                HashMap::from([(
                    "pk".to_owned(),
                    s(key_plan(&affiliate.plan_id, affiliate.plan_version)),
                )]),
            ));
            directory
                .affiliates
                .insert(affiliate.affiliate_id.clone(), affiliate);
        }
        for (_, item) in self.batch_get(plans).await? {
            let plan = Plan::from_json(get_s(&item, "definition")?)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            directory.add_plan(plan);
        }
        Ok(directory)
    }

    async fn commit_resolution(&self, commit: &ResolutionCommit<'_>) -> Result<(), StoreError> {
        self.transact(self.resolution_writes(commit)?).await
    }

    async fn plans(&self) -> Result<Vec<StoredPlan>, StoreError> {
        self.admin_plans().await
    }

    async fn plan(&self, plan_id: &str, version: u32) -> Result<Option<StoredPlan>, StoreError> {
        self.admin_plan(plan_id, version).await
    }

    async fn affiliates(&self) -> Result<Vec<(Affiliate, EntryMeta)>, StoreError> {
        self.admin_affiliates().await
    }

    async fn affiliate(
        &self,
        affiliate_id: &str,
    ) -> Result<Option<(Affiliate, EntryMeta)>, StoreError> {
        self.admin_affiliate(affiliate_id).await
    }

    async fn coupons(&self) -> Result<Vec<CouponView>, StoreError> {
        self.admin_coupons().await
    }

    async fn coupon(&self, code: &str) -> Result<Option<CouponView>, StoreError> {
        self.admin_coupon(code).await
    }

    async fn history(
        &self,
        target: &str,
        version: u64,
    ) -> Result<Vec<DirectoryChange>, StoreError> {
        self.admin_history(target, version).await
    }

    async fn commit_directory(&self, write: &DirectoryWrite<'_>) -> Result<(), StoreError> {
        self.admin_commit_directory(write).await
    }

    async fn affiliate_book(
        &self,
        affiliate_id: &str,
    ) -> Result<Vec<crate::finance::booked::BookedEntry>, StoreError> {
        self.admin_affiliate_book(affiliate_id).await
    }

    async fn record_payouts(
        &self,
        commit: &crate::admin::store::PayoutCommit<'_>,
    ) -> Result<(), StoreError> {
        self.admin_record_payouts(commit).await
    }

    async fn affiliate_stats(&self, affiliate_id: &str) -> Result<Vec<StatsRecord>, StoreError> {
        self.admin_affiliate_stats(affiliate_id).await
    }
}
