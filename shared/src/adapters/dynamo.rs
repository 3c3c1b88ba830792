//! DynamoDB implementation of the processor's store port. Item layouts are documented in
//! `docs/dynamodb.md`; amounts are DynamoDB numbers with a `currency` attribute beside them.
//!
//! moto note: moto returns numbers as written ("124.90"); DynamoDB normalizes them ("124.9").
//! Numbers are therefore always parsed into `Decimal` and compared as decimals, never as strings.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, ReturnConsumedCapacity, TransactWriteItem, Update,
};
use rust_decimal::Decimal;

use crate::engine::{Affiliate, CustomerState, EmailOwner, Outcome, ReviewItem, SeenEvent};
use crate::events::EventEnvelope;
use crate::ledger::LedgerEntry;
use crate::plans::Plan;
use crate::processor::{Commit, LoadRequest, Loaded, ProcessorStore, StoreError};
use crate::quality::{Counters, QualityScore, StatsRecord};
use crate::scheduler::{next_due, CustomerTick, SchedulerStore, TickConfig};

/// BatchGetItem takes at most 100 keys per request.
const BATCH_GET_LIMIT: usize = 100;
/// Retries of keys DynamoDB left unprocessed (it does so under throttling).
const UNPROCESSED_RETRIES: u32 = 5;

/// The environment variables that name each table (the template sets them per function).
pub const CUSTOMERS_TABLE_VAR: &str = "CUSTOMERS_TABLE";
pub const EVENTS_TABLE_VAR: &str = "EVENTS_TABLE";
pub const LEDGER_TABLE_VAR: &str = "LEDGER_TABLE";
pub const REVIEWS_TABLE_VAR: &str = "REVIEWS_TABLE";
pub const EMAIL_MATCHES_TABLE_VAR: &str = "EMAIL_MATCHES_TABLE";
pub const DIRECTORY_TABLE_VAR: &str = "DIRECTORY_TABLE";
pub const STATS_TABLE_VAR: &str = "STATS_TABLE";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    pub customers: String,
    pub events: String,
    pub ledger: String,
    pub reviews: String,
    pub email_matches: String,
    pub directory: String,
    /// Partner-quality counters and scores per affiliate and month.
    pub stats: String,
}

/// Requests and capacity units this store has used: the benchmark's and the logs' figures.
#[derive(Debug, Default)]
pub struct Usage {
    pub read_requests: AtomicU64,
    pub write_requests: AtomicU64,
    /// Capacity units in hundredths, as the service reports them (0.5 RCU reads exist).
    pub capacity_centi_units: AtomicU64,
    /// Capacity units by DynamoDB's documented rules, from the items' sizes: a strongly
    /// consistent read is 1 RCU per 4 KB per item (a key that is absent still costs 1); a
    /// transactional write is 2 WCU per 1 KB per item; a plain write 1 WCU per 1 KB.
    pub documented_read_units: AtomicU64,
    pub documented_write_units: AtomicU64,
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
        }
    }
    fn add_capacity(&self, units: f64) {
        // Capacity is a measurement DynamoDB reports as a double; it is never money.
        self.capacity_centi_units
            .fetch_add((units * 100.0).round() as u64, Ordering::Relaxed);
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageSnapshot {
    pub read_requests: u64,
    pub write_requests: u64,
    pub reported_capacity: Decimal,
    pub documented_read_units: u64,
    pub documented_write_units: u64,
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

/// The sparse index of customers with scheduler work: `due_shard` (one of DUE_SHARDS values,
/// present only while something is due) and `next_due_at` (a fixed-width RFC 3339 instant, so
/// string order is time order). Sharded so the index's write load spreads over partitions.
pub const DUE_INDEX: &str = "DueWork";
pub const DUE_SHARDS: u8 = 16;

fn due_shard(customer_id: &str) -> String {
    format!(
        "due#{:02}",
        blake3::hash(customer_id.as_bytes()).as_bytes()[0] % DUE_SHARDS
    )
}

/// Fixed width (nanoseconds, `Z`): lexicographic order equals time order.
pub fn sortable_instant(t: chrono::DateTime<chrono::Utc>) -> String {
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

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
fn list(v: &[String]) -> AttributeValue {
    AttributeValue::L(v.iter().map(|x| s(x.clone())).collect())
}
fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

type Item = HashMap<String, AttributeValue>;

fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| StoreError::Corrupt(format!("attribute {name} missing or not a string")))
}
fn opt_s(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}
fn get_u32(item: &Item, name: &str) -> Result<u32, StoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| Decimal::from_str(v).ok())
        .and_then(|d| {
            u32::try_from(d.normalize().mantissa())
                .ok()
                .filter(|_| d.fract().is_zero())
        })
        .ok_or_else(|| {
            StoreError::Corrupt(format!("attribute {name} missing or not a whole number"))
        })
}
fn str_list(item: &Item, name: &str) -> Vec<String> {
    item.get(name)
        .and_then(|v| v.as_l().ok())
        .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
        .unwrap_or_default()
}

/// An item's size as DynamoDB bills it: attribute names plus values (strings by UTF-8 length,
/// numbers by about one byte per two significant digits plus one, lists and maps 3 bytes plus
/// their elements and one byte each).
pub fn item_size(item: &Item) -> usize {
    fn value(v: &AttributeValue) -> usize {
        match v {
            AttributeValue::S(s) => s.len(),
            AttributeValue::N(n) => {
                let digits = n.trim_start_matches('-').replace('.', "");
                digits.trim_start_matches('0').len().div_ceil(2) + 1
            }
            AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
            AttributeValue::L(l) => 3 + l.iter().map(|x| value(x) + 1).sum::<usize>(),
            AttributeValue::M(m) => {
                3 + m.iter().map(|(k, x)| k.len() + value(x) + 1).sum::<usize>()
            }
            AttributeValue::Ss(l) => l.iter().map(String::len).sum(),
            AttributeValue::B(b) => b.as_ref().len(),
            _ => 0,
        }
    }
    item.iter().map(|(k, v)| k.len() + value(v)).sum()
}

fn units(size: usize, unit: usize) -> u64 {
    size.div_ceil(unit).max(1) as u64
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

    /// How many customer writes a scheduler tick keeps in flight (1 unless set: moto, the local
    /// stand-in, cannot take concurrent transactions; DynamoDB can).
    pub fn with_concurrent_writes(mut self, writes: usize) -> Self {
        self.concurrent_writes = writes;
        self
    }

    /// The scheduler's time rules, which decide when a customer next has work due.
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

    fn keys(&self, request: &LoadRequest) -> Vec<(String, Item)> {
        let mut keys: Vec<(String, Item)> = Vec::with_capacity(request.keys());
        let one = |name: &str, value: String| HashMap::from([(name.to_owned(), s(value))]);
        for id in &request.event_ids {
            keys.push((self.tables.events.clone(), one("event_id", id.clone())));
        }
        for id in &request.customer_ids {
            keys.push((
                self.tables.customers.clone(),
                one("customer_id", id.clone()),
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
                                .fetch_add(units(item_size(&item), 4096), Ordering::Relaxed);
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

    fn decode(&self, found: Vec<(String, Item)>) -> Result<Loaded, StoreError> {
        let mut loaded = Loaded::default();
        for (table, item) in found {
            if table == self.tables.events {
                loaded.events.insert(
                    get_s(&item, "event_id")?.to_owned(),
                    SeenEvent {
                        content_hash: get_s(&item, "content_hash")?.to_owned(),
                    },
                );
            } else if table == self.tables.customers {
                let state: CustomerState = serde_json::from_str(get_s(&item, "state")?)
                    .map_err(|e| StoreError::Corrupt(format!("customer state: {e}")))?;
                loaded.customers.insert(state.customer_id.clone(), state);
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

    fn event_item(
        &self,
        event: &EventEnvelope,
        outcome: &Outcome,
        seq: u64,
    ) -> Result<Item, StoreError> {
        let envelope =
            serde_json::to_string(event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(HashMap::from([
            ("event_id".into(), s(&event.event_id)),
            ("customer_id".into(), s(&event.customer_id)),
            ("event_type".into(), s(event.event_type.as_str())),
            ("content_hash".into(), s(&event.content_hash)),
            ("occurred_at".into(), s(rfc3339(event.occurred_at))),
            ("received_at".into(), s(rfc3339(event.received_at))),
            ("seq".into(), n(seq)),
            ("outcome".into(), s(outcome.kind.as_str())),
            ("reason".into(), s(&outcome.reason)),
            ("entry_ids".into(), list(&outcome.entry_ids)),
            ("review_ids".into(), list(&outcome.review_ids)),
            ("envelope".into(), s(envelope)),
        ]))
    }

    /// The customer item as the processor and scheduler write it.
    pub fn customer_item(&self, state: &CustomerState) -> Result<Item, StoreError> {
        let json = serde_json::to_string(state).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut item = HashMap::from([
            ("customer_id".into(), s(&state.customer_id)),
            ("version".into(), n(state.version)),
            ("state".into(), s(json)),
            ("parked_count".into(), n(state.parked.len())),
        ]);
        let (label, attribution) = match &state.attribution {
            crate::engine::Attribution::None => ("none", None),
            crate::engine::Attribution::Organic { .. } => ("organic", None),
            crate::engine::Attribution::Unresolved { .. } => ("unresolved", None),
            crate::engine::Attribution::Affiliate(a) => ("affiliate", Some(a)),
        };
        item.insert("attribution_state".into(), s(label));
        if let Some(a) = attribution {
            item.insert("affiliate_id".into(), s(&a.affiliate_id));
            item.insert("window_starts_at".into(), s(rfc3339(a.starts_at)));
            item.insert("window_ends_at".into(), s(rfc3339(a.window_ends_at)));
            item.insert(
                "attribution_source".into(),
                s(match a.source {
                    crate::engine::AttributionSource::Link => "link",
                    crate::engine::AttributionSource::Coupon => "coupon",
                }),
            );
            if let Some(r) = &a.review_id {
                item.insert("attribution_review_id".into(), s(r));
            }
        }
        // Sparse attributes for the scheduler's indexes: present only while there is work.
        if let Some(due) = state.next_approval_due() {
            item.insert("next_approval_due".into(), s(rfc3339(due)));
        }
        if let Some(p) = state.parked.first() {
            item.insert(
                "oldest_parked_at".into(),
                s(rfc3339(p.envelope.received_at)),
            );
        }
        if let Some(due) = next_due(state, &self.tick_config) {
            item.insert("due_shard".into(), s(due_shard(&state.customer_id)));
            item.insert("next_due_at".into(), s(sortable_instant(due)));
        }
        if let crate::engine::Attribution::Affiliate(a) = &state.attribution {
            if let Some(at) = a.expired_at {
                item.insert("attribution_state".into(), s("expired"));
                item.insert("window_expired_at".into(), s(rfc3339(at)));
            }
        }
        Ok(item)
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

    fn transact_items(&self, commit: &Commit<'_>) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut items = Vec::new();
        let applied = commit.applied;
        let seq = commit.state.version;
        for outcome in &applied.outcomes {
            if outcome.event_id == commit.event.event_id {
                items.push(self.put(
                    &self.tables.events,
                    self.event_item(commit.event, outcome, seq)?,
                    "attribute_not_exists(event_id)",
                    None,
                )?);
            } else {
                // A parked event released by this one: its "parked" outcome becomes final, once.
                let update = Update::builder()
                    .table_name(&self.tables.events)
                    .key("event_id", s(&outcome.event_id))
                    .update_expression(
                        "SET outcome = :o, reason = :r, entry_ids = :e, review_ids = :v, seq = :q",
                    )
                    .condition_expression("outcome = :parked")
                    .expression_attribute_values(":o", s(outcome.kind.as_str()))
                    .expression_attribute_values(":r", s(&outcome.reason))
                    .expression_attribute_values(":e", list(&outcome.entry_ids))
                    .expression_attribute_values(":v", list(&outcome.review_ids))
                    .expression_attribute_values(":q", n(seq))
                    .expression_attribute_values(":parked", s("parked"))
                    .build()
                    .map_err(|e| StoreError::Corrupt(format!("building Update: {e}")))?;
                items.push(TransactWriteItem::builder().update(update).build());
            }
        }
        let (condition, values) = if commit.expected_version == 0 {
            ("attribute_not_exists(customer_id)", None)
        } else {
            (
                "version = :expected",
                Some(HashMap::from([(
                    ":expected".to_owned(),
                    n(commit.expected_version),
                )])),
            )
        };
        items.push(self.put(
            &self.tables.customers,
            self.customer_item(commit.state)?,
            condition,
            values,
        )?);
        self.append_entries_and_reviews(&mut items, &applied.entries, &applied.reviews)?;
        for claim in &applied.email_claims {
            let mut item = HashMap::from([
                ("email_hash".to_owned(), s(&claim.email_hash)),
                ("customer_id".to_owned(), s(&claim.customer_id)),
            ]);
            if let Some(a) = &claim.affiliate_id {
                item.insert("affiliate_id".into(), s(a));
            }
            items.push(self.put(
                &self.tables.email_matches,
                item,
                "attribute_not_exists(email_hash)",
                None,
            )?);
        }
        for delta in &commit.stats {
            items.push(
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
            items.push(TransactWriteItem::builder().update(update).build());
        }
        Ok(items)
    }
}

/// The sparse index of affiliate-months whose counters changed since their score was computed.
pub const DIRTY_INDEX: &str = "DirtyScores";

impl DynamoStore {
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

pub fn ledger_item(e: &LedgerEntry) -> Item {
    let mut item = HashMap::from([
        ("affiliate_id".to_owned(), s(&e.affiliate_id)),
        ("entry_id".to_owned(), s(&e.entry_id)),
        ("commission_id".to_owned(), s(&e.commission_id)),
        ("customer_id".to_owned(), s(&e.customer_id)),
        ("kind".to_owned(), s(e.kind.as_str())),
        ("amount".to_owned(), n(e.amount.normalize())),
        ("currency".to_owned(), s(e.currency.code())),
        ("status".to_owned(), s(e.status.as_str())),
        ("plan_id".to_owned(), s(&e.plan_id)),
        ("plan_version".to_owned(), n(e.plan_version)),
        ("effective_at".to_owned(), s(rfc3339(e.effective_at))),
        ("reason".to_owned(), s(&e.reason)),
    ]);
    if let Some(ev) = &e.event_id {
        item.insert("event_id".into(), s(ev));
    }
    if let Some(c) = &e.corrects {
        item.insert("corrects".into(), s(c));
    }
    item
}

fn review_item(r: &ReviewItem) -> Item {
    HashMap::from([
        ("review_id".to_owned(), s(&r.review_id)),
        ("kind".to_owned(), s(r.kind.as_str())),
        ("customer_id".to_owned(), s(&r.customer_id)),
        ("event_id".to_owned(), s(&r.event_id)),
        ("affiliate_ids".to_owned(), list(&r.affiliate_ids)),
        (
            "evidence".to_owned(),
            AttributeValue::M(r.evidence.iter().map(|(k, v)| (k.clone(), s(v))).collect()),
        ),
        ("opened_at".to_owned(), s(rfc3339(r.opened_at))),
        ("status".to_owned(), s("open")),
        // Sparse index key: removed when the item is closed, so the index holds the open queue.
        ("open_queue".to_owned(), s("open")),
    ])
}

fn decode_affiliate(item: &Item) -> Result<Affiliate, StoreError> {
    let months = match item.get("qualified_by_month") {
        Some(AttributeValue::M(m)) => m
            .iter()
            .map(|(k, v)| {
                let count = v
                    .as_n()
                    .ok()
                    .and_then(|x| x.parse::<u32>().ok())
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!("qualified_by_month.{k} is not a count"))
                    })?;
                Ok((k.clone(), count))
            })
            .collect::<Result<_, StoreError>>()?,
        None => Default::default(),
        Some(_) => {
            return Err(StoreError::Corrupt(
                "qualified_by_month is not a map".into(),
            ))
        }
    };
    Ok(Affiliate {
        affiliate_id: get_s(item, "affiliate_id")?.to_owned(),
        plan_id: get_s(item, "plan_id")?.to_owned(),
        plan_version: get_u32(item, "plan_version")?,
        quality_tier: opt_s(item, "quality_tier"),
        own_customer_ids: str_list(item, "own_customer_ids"),
        own_email_hashes: str_list(item, "own_email_hashes"),
        qualified_by_month: months,
    })
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

impl ProcessorStore for DynamoStore {
    async fn load(&self, request: &LoadRequest) -> Result<Loaded, StoreError> {
        let found = self.batch_get(self.keys(request)).await?;
        self.decode(found)
    }

    async fn commit(&self, commit: &Commit<'_>) -> Result<(), StoreError> {
        self.transact(self.transact_items(commit)?).await
    }

    async fn record_conflict(&self, review: &ReviewItem) -> Result<(), StoreError> {
        self.usage.write_requests.fetch_add(1, Ordering::Relaxed);
        self.usage.documented_write_units.fetch_add(
            units(item_size(&review_item(review)), 1024),
            Ordering::Relaxed,
        );
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.reviews)
            .set_item(Some(review_item(review)))
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

impl DynamoStore {
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
                    .expression_attribute_values(":shard", s(format!("due#{shard:02}")))
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
                    units(page.items().iter().map(item_size).sum(), 8192),
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

    /// Appends the conditional puts of new ledger entries and review items: both are written
    /// once and never overwritten.
    fn append_entries_and_reviews(
        &self,
        items: &mut Vec<TransactWriteItem>,
        entries: &[LedgerEntry],
        reviews: &[ReviewItem],
    ) -> Result<(), StoreError> {
        for entry in entries {
            items.push(self.put(
                &self.tables.ledger,
                ledger_item(entry),
                "attribute_not_exists(entry_id)",
                None,
            )?);
        }
        for review in reviews {
            items.push(self.put(
                &self.tables.reviews,
                review_item(review),
                "attribute_not_exists(review_id)",
                None,
            )?);
        }
        Ok(())
    }

    /// One TransactWriteItems, its capacity counted and its cancellation reasons mapped.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        self.usage.write_requests.fetch_add(1, Ordering::Relaxed);
        // Updates (parked outcomes, counters) are small: they cost the 1 KB minimum.
        let documented: u64 = items
            .iter()
            .map(|w| 2 * units(w.put().map_or(0, |p| item_size(p.item())), 1024))
            .sum();
        self.usage
            .documented_write_units
            .fetch_add(documented, Ordering::Relaxed);
        let out = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
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

impl SchedulerStore for DynamoStore {
    fn concurrent_writes(&self) -> usize {
        self.concurrent_writes
    }

    async fn due_customers(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<CustomerState>, StoreError> {
        let condition = "due_shard = :shard AND next_due_at <= :now";
        let bound = (":now", s(sortable_instant(now)));
        self.query_shards(
            &self.tables.customers,
            DUE_INDEX,
            condition,
            Some(bound),
            |item| {
                serde_json::from_str(get_s(item, "state")?)
                    .map_err(|e| StoreError::Corrupt(format!("customer state: {e}")))
            },
        )
        .await
    }

    async fn commit_tick(
        &self,
        expected_version: u64,
        state: &CustomerState,
        tick: &CustomerTick,
    ) -> Result<(), StoreError> {
        let mut items = vec![self.put(
            &self.tables.customers,
            self.customer_item(state)?,
            "version = :expected",
            Some(HashMap::from([(
                ":expected".to_owned(),
                n(expected_version),
            )])),
        )?];
        self.append_entries_and_reviews(&mut items, &tick.approvals, &tick.reviews)?;
        self.transact(items).await
    }

    async fn dirty_stats(&self) -> Result<Vec<StatsRecord>, StoreError> {
        let condition = "dirty_shard = :shard";
        self.query_shards(
            &self.tables.stats,
            DIRTY_INDEX,
            condition,
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
        self.usage.read_requests.fetch_add(1, Ordering::Relaxed);
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
            Ordering::Relaxed,
        );
        out.item().map(decode_stats).transpose()
    }

    async fn commit_score(
        &self,
        record: &StatsRecord,
        score: &QualityScore,
        reviews: &[ReviewItem],
        now: chrono::DateTime<chrono::Utc>,
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
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        self.append_entries_and_reviews(&mut items, &[], reviews)?;
        self.transact(items).await
    }
}

fn decode_stats(item: &Item) -> Result<StatsRecord, StoreError> {
    let mut counters = Counters::new();
    let mut updates = 0;
    for (name, value) in item {
        let AttributeValue::N(text) = value else {
            continue;
        };
        let v = Decimal::from_str(text)
            .map_err(|_| StoreError::Corrupt(format!("stats {name} is not a number")))?;
        if name == "updates" {
            updates = u64::try_from(v.normalize().mantissa())
                .map_err(|_| StoreError::Corrupt("stats updates is not a count".into()))?;
        } else {
            counters.insert(name.clone(), v);
        }
    }
    Ok(StatsRecord {
        affiliate_id: get_s(item, "affiliate_id")?.to_owned(),
        month: get_s(item, "month")?.to_owned(),
        counters,
        updates,
        anomalies_opened: str_list(item, "anomalies_opened"),
    })
}
