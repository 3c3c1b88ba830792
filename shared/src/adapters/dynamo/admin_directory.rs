//! The admin API's directory and affiliate reads and writes on DynamoDB.
//!
//! Directory entries keep their plain attributes (the processor reads them as before) plus
//! `version`, `updated_by` and `updated_at`; each change also writes a history item
//! `history#{target}#{version:010}` (target `plan#{id}#{v}`, `affiliate#{id}` or `coupon#{code}`)
//! in the same transaction, conditional on absence: the history is append-only and read back by
//! key, never scanned. Listing plans, affiliates or coupons scans the (small) directory table
//! with a key-prefix filter: an admin page, not the per-event path.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use chrono::{DateTime, Utc};

use super::items::{
    decode_affiliate, decode_stats, get_s, get_time, get_u64, item_size, list, n, opt_s, rfc3339,
    s, units, Item,
};
use super::keys::{key_affiliate, key_coupon, key_plan};
use super::{map_sdk_error, DynamoStore};
use crate::admin::directory::{CouponView, DirectoryChange, EntryMeta};
use crate::admin::store::PayoutCommit;
use crate::admin::store::{DirectoryWrite, StoredPlan};
use crate::engine::Affiliate;
use crate::finance::booked::BookedEntry;
use crate::plans::Plan;
use crate::processor::StoreError;
use crate::quality::StatsRecord;

fn key_history(target: &str, version: u64) -> String {
    format!("history#{target}#{version:010}")
}

/// An affiliate's or a coupon's version and last change (entries loaded before versions existed
/// are version 0). A plan item's `version` is the plan's own version: see `decode_plan`.
fn meta(item: &Item) -> Result<EntryMeta, StoreError> {
    Ok(EntryMeta {
        version: if item.contains_key("version") {
            get_u64(item, "version")?
        } else {
            0
        },
        updated_by: opt_s(item, "updated_by"),
        updated_at: match opt_s(item, "updated_at") {
            Some(_) => Some(get_time(item, "updated_at")?),
            None => None,
        },
    })
}

fn decode_plan(item: &Item) -> Result<StoredPlan, StoreError> {
    let plan = Plan::from_json(get_s(item, "definition")?)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    // A published plan is never changed: its one change is its publication.
    let published = meta(item)?;
    Ok(StoredPlan {
        plan,
        meta: EntryMeta {
            version: 1,
            ..published
        },
    })
}

fn decode_coupon(item: &Item) -> Result<CouponView, StoreError> {
    Ok(CouponView {
        coupon_code: get_s(item, "coupon_code")?.to_owned(),
        affiliate_id: get_s(item, "affiliate_id")?.to_owned(),
        meta: meta(item)?,
    })
}

fn decode_change(item: &Item) -> Result<DirectoryChange, StoreError> {
    let json = |name: &str| -> Result<serde_json::Value, StoreError> {
        serde_json::from_str(get_s(item, name)?)
            .map_err(|e| StoreError::Corrupt(format!("history {name}: {e}")))
    };
    Ok(DirectoryChange {
        target: get_s(item, "target")?.to_owned(),
        version: get_u64(item, "version")?,
        action: get_s(item, "action")?.to_owned(),
        by: get_s(item, "by")?.to_owned(),
        at: get_time(item, "at")?,
        reason: get_s(item, "reason")?.to_owned(),
        before: json("before")?,
        after: json("after")?,
    })
}

fn change_item(c: &DirectoryChange) -> Item {
    HashMap::from([
        ("pk".to_owned(), s(key_history(&c.target, c.version))),
        ("target".to_owned(), s(&c.target)),
        ("version".to_owned(), n(c.version)),
        ("action".to_owned(), s(&c.action)),
        ("by".to_owned(), s(&c.by)),
        ("at".to_owned(), s(rfc3339(c.at))),
        ("reason".to_owned(), s(&c.reason)),
        ("before".to_owned(), s(c.before.to_string())),
        ("after".to_owned(), s(c.after.to_string())),
    ])
}

fn stamp(item: &mut Item, version: u64, by: &str, at: DateTime<Utc>) {
    item.insert("version".into(), n(version));
    item.insert("updated_by".into(), s(by));
    item.insert("updated_at".into(), s(rfc3339(at)));
}

impl DynamoStore {
    /// Every directory item whose key starts with `prefix`.
    async fn scan_directory(&self, prefix: &str) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            self.usage.read_requests.fetch_add(1, Ordering::Relaxed);
            let page = self
                .client
                .scan()
                .table_name(&self.tables.directory)
                .filter_expression("begins_with(pk, :prefix)")
                .expression_attribute_values(":prefix", s(prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(map_sdk_error)?;
            out.extend(page.items().iter().cloned());
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(out);
            }
        }
    }

    async fn directory_item(&self, pk: String) -> Result<Option<Item>, StoreError> {
        self.get(
            &self.tables.directory,
            HashMap::from([("pk".to_owned(), s(pk))]),
        )
        .await
    }

    /// Every item of one partition of a table, page by page (strongly consistent).
    pub(super) async fn partition(
        &self,
        table: &str,
        key: &str,
        value: &str,
    ) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            self.usage.read_requests.fetch_add(1, Ordering::Relaxed);
            let page = self
                .client
                .query()
                .table_name(table)
                .key_condition_expression("#k = :v")
                .expression_attribute_names("#k", key)
                .expression_attribute_values(":v", s(value))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(map_sdk_error)?;
            self.usage.documented_read_units.fetch_add(
                units(page.items().iter().map(item_size).sum(), 4096),
                Ordering::Relaxed,
            );
            out.extend(page.items().iter().cloned());
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(out);
            }
        }
    }

    fn directory_writes(
        &self,
        write: &DirectoryWrite<'_>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let table = &self.tables.directory;
        let (entry, change) = match write {
            DirectoryWrite::Plan { plan, change } => {
                let mut item = HashMap::from([
                    ("pk".to_owned(), s(key_plan(&plan.plan_id, plan.version))),
                    ("plan_id".to_owned(), s(&plan.plan_id)),
                    ("version".to_owned(), n(plan.version)),
                    ("currency".to_owned(), s(plan.currency.code())),
                    (
                        "definition".to_owned(),
                        s(serde_json::to_string(plan)
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?),
                    ),
                ]);
                item.insert("updated_by".into(), s(&change.by));
                item.insert("updated_at".into(), s(rfc3339(change.at)));
                (
                    self.put(table, item, "attribute_not_exists(pk)", None)?,
                    change,
                )
            }
            DirectoryWrite::NewAffiliate { affiliate, change } => {
                let mut item = affiliate_item(affiliate);
                // Must exist: the processor counts qualified purchases into it by month.
                item.insert(
                    "qualified_by_month".into(),
                    AttributeValue::M(HashMap::new()),
                );
                stamp(&mut item, change.version, &change.by, change.at);
                (
                    self.put(table, item, "attribute_not_exists(pk)", None)?,
                    change,
                )
            }
            DirectoryWrite::UpdateAffiliate {
                affiliate,
                expected,
                change,
            } => {
                // Only the fields a change touches: the processor's qualified_by_month counters
                // on the same item are updated concurrently and must not be overwritten.
                let mut set = vec![
                    "plan_id = :plan",
                    "plan_version = :plan_version",
                    "own_customer_ids = :ids",
                    "own_email_hashes = :emails",
                    "version = :next",
                    "updated_by = :by",
                    "updated_at = :at",
                ];
                let mut update = Update::builder()
                    .table_name(table)
                    .key("pk", s(key_affiliate(&affiliate.affiliate_id)))
                    .expression_attribute_values(":plan", s(&affiliate.plan_id))
                    .expression_attribute_values(":plan_version", n(affiliate.plan_version))
                    .expression_attribute_values(":ids", list(&affiliate.own_customer_ids))
                    .expression_attribute_values(":emails", list(&affiliate.own_email_hashes))
                    .expression_attribute_values(":next", n(change.version))
                    .expression_attribute_values(":by", s(&change.by))
                    .expression_attribute_values(":at", s(rfc3339(change.at)));
                let mut expression = String::new();
                match &affiliate.quality_tier {
                    Some(t) => {
                        set.push("quality_tier = :tier");
                        update = update.expression_attribute_values(":tier", s(t));
                    }
                    None => expression = " REMOVE quality_tier".into(),
                }
                update = if *expected == 0 {
                    update.condition_expression(
                        "attribute_exists(pk) AND attribute_not_exists(version)",
                    )
                } else {
                    update
                        .condition_expression("version = :expected")
                        .expression_attribute_values(":expected", n(*expected))
                };
                let update = update
                    .update_expression(format!("SET {}{expression}", set.join(", ")))
                    .build()
                    .map_err(|e| StoreError::Corrupt(format!("building Update: {e}")))?;
                (TransactWriteItem::builder().update(update).build(), change)
            }
            DirectoryWrite::Coupon {
                code,
                affiliate_id,
                expected,
                change,
            } => {
                let mut item = HashMap::from([
                    ("pk".to_owned(), s(key_coupon(code))),
                    ("coupon_code".to_owned(), s(*code)),
                    ("affiliate_id".to_owned(), s(*affiliate_id)),
                ]);
                stamp(&mut item, change.version, &change.by, change.at);
                let put = match expected {
                    None => self.put(table, item, "attribute_not_exists(pk)", None)?,
                    Some(0) => self.put(
                        table,
                        item,
                        "attribute_exists(pk) AND attribute_not_exists(version)",
                        None,
                    )?,
                    Some(v) => self.put(
                        table,
                        item,
                        "version = :expected",
                        Some(HashMap::from([(":expected".to_owned(), n(*v))])),
                    )?,
                };
                (put, change)
            }
        };
        let history = self.put(table, change_item(change), "attribute_not_exists(pk)", None)?;
        Ok(vec![entry, history])
    }
}

fn affiliate_item(a: &Affiliate) -> Item {
    let mut item = HashMap::from([
        ("pk".to_owned(), s(key_affiliate(&a.affiliate_id))),
        ("affiliate_id".to_owned(), s(&a.affiliate_id)),
        ("plan_id".to_owned(), s(&a.plan_id)),
        ("plan_version".to_owned(), n(a.plan_version)),
        ("own_customer_ids".to_owned(), list(&a.own_customer_ids)),
        ("own_email_hashes".to_owned(), list(&a.own_email_hashes)),
    ]);
    if let Some(t) = &a.quality_tier {
        item.insert("quality_tier".into(), s(t));
    }
    item
}

/// The directory part of the admin store port (`impl AdminStore` delegates here).
impl DynamoStore {
    pub async fn admin_plans(&self) -> Result<Vec<StoredPlan>, StoreError> {
        self.scan_directory("plan#")
            .await?
            .iter()
            .map(decode_plan)
            .collect()
    }

    pub async fn admin_plan(
        &self,
        plan_id: &str,
        version: u32,
    ) -> Result<Option<StoredPlan>, StoreError> {
        self.directory_item(key_plan(plan_id, version))
            .await?
            .map(|i| decode_plan(&i))
            .transpose()
    }

    pub async fn admin_affiliates(&self) -> Result<Vec<(Affiliate, EntryMeta)>, StoreError> {
        self.scan_directory("affiliate#")
            .await?
            .iter()
            .map(|i| Ok((decode_affiliate(i)?, meta(i)?)))
            .collect()
    }

    pub async fn admin_affiliate(
        &self,
        affiliate_id: &str,
    ) -> Result<Option<(Affiliate, EntryMeta)>, StoreError> {
        match self.directory_item(key_affiliate(affiliate_id)).await? {
            Some(i) => Ok(Some((decode_affiliate(&i)?, meta(&i)?))),
            None => Ok(None),
        }
    }

    pub async fn admin_coupons(&self) -> Result<Vec<CouponView>, StoreError> {
        self.scan_directory("coupon#")
            .await?
            .iter()
            .map(decode_coupon)
            .collect()
    }

    pub async fn admin_coupon(&self, code: &str) -> Result<Option<CouponView>, StoreError> {
        self.directory_item(key_coupon(code))
            .await?
            .map(|i| decode_coupon(&i))
            .transpose()
    }

    pub async fn admin_history(
        &self,
        target: &str,
        version: u64,
    ) -> Result<Vec<DirectoryChange>, StoreError> {
        let keys = (1..=version)
            .map(|v| {
                (
                    self.tables.directory.clone(),
                    HashMap::from([("pk".to_owned(), s(key_history(target, v)))]),
                )
            })
            .collect();
        let mut changes = self
            .batch_get(keys)
            .await?
            .iter()
            .map(|(_, i)| decode_change(i))
            .collect::<Result<Vec<_>, _>>()?;
        changes.sort_by_key(|c| c.version);
        Ok(changes)
    }

    pub async fn admin_commit_directory(
        &self,
        write: &DirectoryWrite<'_>,
    ) -> Result<(), StoreError> {
        self.transact(self.directory_writes(write)?).await
    }

    /// The affiliate's ledger items as finance reads them: each item goes through the same
    /// reader as an exported line (`BookedEntry::from_export_line`), so the admin API and the
    /// statements command validate and understand an item identically.
    pub async fn admin_affiliate_book(
        &self,
        affiliate_id: &str,
    ) -> Result<Vec<BookedEntry>, StoreError> {
        self.partition(&self.tables.ledger, "affiliate_id", affiliate_id)
            .await?
            .iter()
            .map(|item| {
                BookedEntry::from_export_line(&export_line(item))
                    .map_err(|e| StoreError::Corrupt(format!("ledger item of {affiliate_id}: {e}")))
            })
            .collect()
    }

    /// A statement's payout entries, conditional on their absence, and the affiliate's count of
    /// payout entries moved from the one read: one transaction.
    pub async fn admin_record_payouts(&self, commit: &PayoutCommit<'_>) -> Result<(), StoreError> {
        let mut writes = Vec::with_capacity(commit.entries.len() + 1);
        for e in commit.entries {
            let mut item = payout_item(e);
            item.insert("paid_by".into(), s(commit.by));
            // ByCommission projects the whole entry, as for every ledger put.
            self.usage.index_writes(units(item_size(&item), 1024));
            writes.push(self.put(
                &self.tables.ledger,
                item,
                "attribute_not_exists(entry_id)",
                None,
            )?);
        }
        let read = commit.payout_entries_read;
        let update = Update::builder()
            .table_name(&self.tables.directory)
            .key("pk", s(key_affiliate(commit.affiliate_id)))
            .update_expression("SET payout_entries = :after")
            .condition_expression(if read == 0 {
                "attribute_exists(pk) AND attribute_not_exists(payout_entries)"
            } else {
                "attribute_exists(pk) AND payout_entries = :read"
            })
            .set_expression_attribute_values(Some({
                let mut values =
                    HashMap::from([(":after".to_owned(), n(read + commit.entries.len() as u64))]);
                if read > 0 {
                    values.insert(":read".to_owned(), n(read));
                }
                values
            }))
            .build()
            .map_err(|e| StoreError::Corrupt(format!("building Update: {e}")))?;
        writes.push(TransactWriteItem::builder().update(update).build());
        self.transact(writes).await
    }

    pub async fn admin_affiliate_stats(
        &self,
        affiliate_id: &str,
    ) -> Result<Vec<StatsRecord>, StoreError> {
        self.partition(&self.tables.stats, "affiliate_id", affiliate_id)
            .await?
            .iter()
            .map(decode_stats)
            .collect()
    }
}

/// A DynamoDB item as its DynamoDB JSON export line (`{"Item": {...}}`). Ledger items hold
/// strings and numbers; any other type is carried as its type name, which the reader reports if
/// the attribute is one it needs.
fn export_line(item: &Item) -> String {
    let mut attributes = serde_json::Map::new();
    for (name, value) in item {
        let typed = match value {
            AttributeValue::S(v) => serde_json::json!({ "S": v }),
            AttributeValue::N(v) => serde_json::json!({ "N": v }),
            other => {
                serde_json::json!({ "unsupported": format!("{other:?}").split('(').next().unwrap_or("?") })
            }
        };
        attributes.insert(name.clone(), typed);
    }
    serde_json::json!({ "Item": attributes }).to_string()
}

/// A payout as a ledger item: the attributes the export reader reads.
fn payout_item(e: &BookedEntry) -> Item {
    let mut item = HashMap::from([
        ("affiliate_id".to_owned(), s(&e.affiliate_id)),
        ("entry_id".to_owned(), s(&e.entry_id)),
        ("commission_id".to_owned(), s(&e.commission_id)),
        ("kind".to_owned(), s(e.kind.as_str())),
        ("amount".to_owned(), n(e.amount.normalize())),
        ("currency".to_owned(), s(e.currency.code())),
        (
            "status".to_owned(),
            s(crate::finance::booked::PAYOUT_STATUS),
        ),
        ("effective_at".to_owned(), s(rfc3339(e.effective_at))),
        (
            super::RECORDED_AT_ATTRIBUTE.to_owned(),
            s(rfc3339(e.recorded_at)),
        ),
        ("reason".to_owned(), s(&e.reason)),
    ]);
    if let Some(id) = &e.statement_id {
        item.insert("statement_id".into(), s(id));
    }
    item
}
