//! The processor's store port on DynamoDB: one batched read per load, one transaction per event.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;

use aws_sdk_dynamodb::types::{ReturnConsumedCapacity, TransactWriteItem, Update};

use super::items::{
    self, decode_affiliate, decode_head, decode_record, get_s, item_size, list, n, opt_s, s, units,
    Item,
};
use super::keys::{due_shard, key_affiliate, key_coupon, key_plan};
use super::{map_sdk_error, DynamoStore};
use crate::engine::{EmailOwner, ReviewItem, SeenEvent};
use crate::plans::Plan;
use crate::processor::{Commit, LoadRequest, Loaded, ProcessorStore, StoreError};

impl DynamoStore {
    fn keys(&self, request: &LoadRequest) -> Vec<(String, Item)> {
        let mut keys: Vec<(String, Item)> = Vec::with_capacity(request.keys());
        let one = |name: &str, value: String| HashMap::from([(name.to_owned(), s(value))]);
        // An event asked for both as a dedup record and as an envelope is read once.
        let mut events = HashSet::new();
        for id in request.event_ids.iter().chain(&request.envelopes) {
            if events.insert(id.as_str()) {
                keys.push((self.tables.events.clone(), one("event_id", id.clone())));
            }
        }
        for id in &request.customer_ids {
            keys.push((
                self.tables.customers.clone(),
                one("customer_id", id.clone()),
            ));
        }
        for (customer, key) in &request.records {
            keys.push((
                self.tables.records.clone(),
                HashMap::from([
                    ("customer_id".to_owned(), s(customer)),
                    ("record".to_owned(), s(key.sort_key())),
                ]),
            ));
        }
        for h in &request.email_hashes {
            keys.push((
                self.tables.email_matches.clone(),
                one("email_hash", h.clone()),
            ));
        }
        for a in &request.affiliate_ids {
            keys.push((self.tables.directory.clone(), one("pk", key_affiliate(a))));
        }
        for c in &request.coupon_codes {
            keys.push((self.tables.directory.clone(), one("pk", key_coupon(c))));
        }
        for (p, v) in &request.plans {
            keys.push((self.tables.directory.clone(), one("pk", key_plan(p, *v))));
        }
        keys
    }

    fn decode(
        &self,
        request: &LoadRequest,
        found: Vec<(String, Item)>,
    ) -> Result<Loaded, StoreError> {
        let mut loaded = Loaded::default();
        let wanted_envelopes: HashSet<&str> =
            request.envelopes.iter().map(String::as_str).collect();
        for (table, item) in found {
            if table == self.tables.events {
                let event_id = get_s(&item, "event_id")?.to_owned();
                if wanted_envelopes.contains(event_id.as_str()) {
                    loaded
                        .envelopes
                        .insert(event_id.clone(), items::decode_envelope(&item)?);
                }
                loaded.events.insert(
                    event_id,
                    SeenEvent {
                        content_hash: get_s(&item, "content_hash")?.to_owned(),
                    },
                );
            } else if table == self.tables.customers {
                let customer = get_s(&item, "customer_id")?.to_owned();
                loaded.heads.insert(customer, decode_head(&item)?);
            } else if table == self.tables.records {
                let (id, stored) = decode_record(&item)?;
                loaded.records.insert(id, stored);
            } else if table == self.tables.email_matches {
                let owner = EmailOwner {
                    email_hash: get_s(&item, "email_hash")?.to_owned(),
                    customer_id: get_s(&item, "customer_id")?.to_owned(),
                    affiliate_id: opt_s(&item, "affiliate_id"),
                };
                loaded.email_owners.insert(owner.email_hash.clone(), owner);
            } else if table == self.tables.directory {
                let pk = get_s(&item, "pk")?;
                if pk.starts_with("affiliate#") {
                    let affiliate = decode_affiliate(&item)?;
                    loaded
                        .affiliates
                        .insert(affiliate.affiliate_id.clone(), affiliate);
                } else if pk.starts_with("coupon#") {
                    loaded.coupons.insert(
                        get_s(&item, "coupon_code")?.to_owned(),
                        get_s(&item, "affiliate_id")?.to_owned(),
                    );
                } else if pk.starts_with("plan#") {
                    let plan = Plan::from_json(get_s(&item, "definition")?)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    if key_plan(&plan.plan_id, plan.version) != pk {
                        return Err(StoreError::Corrupt(format!(
                            "{pk} holds plan {} v{}",
                            plan.plan_id, plan.version
                        )));
                    }
                    loaded.plans.push(plan);
                }
            }
        }
        Ok(loaded)
    }

    /// Everything one event changed, as the items of one transaction.
    fn transact_items(&self, commit: &Commit<'_>) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut writes = Vec::new();
        let applied = commit.applied;
        let seq = commit.head.version;
        let affiliate_of: HashMap<&str, &str> = applied
            .entries
            .iter()
            .map(|e| (e.entry_id.as_str(), e.affiliate_id.as_str()))
            .collect();
        for outcome in &applied.outcomes {
            let entry_affiliates: Vec<String> = outcome
                .entry_ids
                .iter()
                .map(|id| {
                    affiliate_of
                        .get(id.as_str())
                        .copied()
                        .unwrap_or_default()
                        .to_owned()
                })
                .collect();
            if outcome.event_id == commit.event.event_id {
                let item = items::event_item(commit.event, outcome, &entry_affiliates, seq);
                // ByCustomer projects the whole event record.
                self.usage.index_writes(units(item_size(&item), 1024));
                writes.push(self.put(
                    &self.tables.events,
                    item,
                    "attribute_not_exists(event_id)",
                    None,
                )?);
            } else {
                // A parked event released by this one: its "parked" outcome becomes final, once.
                // Its `seq` stays the one it was first applied (parked) at: the log's order.
                let update = Update::builder()
                    .table_name(&self.tables.events)
                    .key("event_id", s(&outcome.event_id))
                    .update_expression(
                        "SET outcome = :o, reason = :r, entry_ids = :e, review_ids = :v, entry_affiliates = :a",
                    )
                    .condition_expression("outcome = :parked")
                    .expression_attribute_values(":o", s(outcome.kind.as_str()))
                    .expression_attribute_values(":r", s(outcome.reason.as_str()))
                    .expression_attribute_values(":e", list(&outcome.entry_ids))
                    .expression_attribute_values(":v", list(&outcome.review_ids))
                    .expression_attribute_values(":a", list(&entry_affiliates))
                    .expression_attribute_values(":parked", s("parked"))
                    .build()
                    .map_err(|e| StoreError::Corrupt(format!("building Update: {e}")))?;
                self.usage.index_writes(1);
                writes.push(TransactWriteItem::builder().update(update).build());
            }
        }
        // An event that changed nothing of the customer leaves the head's version, and the head,
        // as they were: nothing to write.
        if commit.head.version != commit.expected_head_version {
            writes.push(self.versioned_put(
                &self.tables.customers,
                items::head_item(commit.head),
                "customer_id",
                "version",
                commit.expected_head_version,
            )?);
        }
        let customer = commit.head.customer_id.as_str();
        for changed in &commit.records {
            writes.push(self.record_write(customer, changed)?);
        }
        self.append_entries_and_reviews(
            &mut writes,
            &applied.entries,
            &applied.reviews,
            &commit.records,
            commit.recorded_at,
        )?;
        for claim in &applied.email_claims {
            let mut item = HashMap::from([
                ("email_hash".to_owned(), s(&claim.email_hash)),
                ("customer_id".to_owned(), s(&claim.customer_id)),
            ]);
            if let Some(a) = &claim.affiliate_id {
                item.insert("affiliate_id".into(), s(a));
            }
            writes.push(self.put(
                &self.tables.email_matches,
                item,
                "attribute_not_exists(email_hash)",
                None,
            )?);
        }
        for delta in &commit.stats {
            // DirtyScores projects the whole stats item: counted at its 1 KB minimum.
            self.usage.index_writes(1);
            writes.push(
                TransactWriteItem::builder()
                    .update(self.stats_update(delta)?)
                    .build(),
            );
        }
        for counter in &commit.counters {
            let condition = if counter.previous == 0 {
                "attribute_exists(pk) AND attribute_not_exists(qualified_by_month.#m)"
            } else {
                "qualified_by_month.#m = :prev"
            };
            let mut update = Update::builder()
                .table_name(&self.tables.directory)
                .key("pk", s(key_affiliate(&counter.affiliate_id)))
                .update_expression("SET qualified_by_month.#m = :next")
                .condition_expression(condition)
                .expression_attribute_names("#m", &counter.month)
                .expression_attribute_values(":next", n(counter.previous + 1));
            if counter.previous != 0 {
                update = update.expression_attribute_values(":prev", n(counter.previous));
            }
            let update = update
                .build()
                .map_err(|e| StoreError::Corrupt(format!("building Update: {e}")))?;
            writes.push(TransactWriteItem::builder().update(update).build());
        }
        Ok(writes)
    }

    /// ADD every counter of the delta; mark the item dirty for the scheduler and count the update
    /// (the scheduler's clean-up is conditional on that count, so it never hides a newer change).
    fn stats_update(&self, delta: &crate::quality::StatsDelta) -> Result<Update, StoreError> {
        let mut expression = String::from("ADD updates :one");
        let mut update = Update::builder()
            .table_name(&self.tables.stats)
            .key("affiliate_id", s(&delta.affiliate_id))
            .key("month", s(&delta.month))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":shard", s(due_shard(&delta.affiliate_id)));
        for (i, (name, value)) in delta.counters.iter().enumerate() {
            expression.push_str(&format!(", #c{i} :v{i}"));
            update = update
                .expression_attribute_names(format!("#c{i}"), name)
                .expression_attribute_values(format!(":v{i}"), n(value.normalize()));
        }
        expression.push_str(" SET dirty_shard = :shard");
        update
            .update_expression(expression)
            .build()
            .map_err(|e| StoreError::Corrupt(format!("building Update: {e}")))
    }
}

impl ProcessorStore for DynamoStore {
    async fn load(&self, request: &LoadRequest) -> Result<Loaded, StoreError> {
        let found = self.batch_get(self.keys(request)).await?;
        self.decode(request, found)
    }

    async fn commit(&self, commit: &Commit<'_>) -> Result<(), StoreError> {
        self.transact(self.transact_items(commit)?).await
    }

    async fn record_conflict(&self, review: &ReviewItem) -> Result<(), StoreError> {
        let item = items::review_item(review);
        self.usage.write_requests.fetch_add(1, Ordering::Relaxed);
        self.usage
            .documented_write_units
            .fetch_add(units(item_size(&item), 1024), Ordering::Relaxed);
        self.usage.index_writes(units(item_size(&item), 1024));
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.reviews)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(review_id)")
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match result {
            Ok(out) => {
                if let Some(c) = out.consumed_capacity() {
                    self.usage
                        .add_capacity(c.capacity_units().unwrap_or_default());
                }
                Ok(())
            }
            // Already recorded by an earlier delivery: nothing more to do.
            Err(e) => match map_sdk_error(e) {
                StoreError::Conflict(_) => Ok(()),
                other => Err(other),
            },
        }
    }
}
