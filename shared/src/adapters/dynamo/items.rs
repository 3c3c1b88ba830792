//! Item mapping: the domain's values as DynamoDB items and back. Attribute names and values that
//! finance and ops read (heads, events, ledger, reviews) stay plain words; the engine's record
//! state is one compact JSON attribute.
//!
//! moto note: moto returns numbers as written ("124.90"); DynamoDB normalizes them ("124.9").
//! Numbers are therefore always parsed into `Decimal` and compared as decimals, never as strings.

use std::collections::HashMap;
use std::str::FromStr;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::keys::{due_shard, sortable_instant};
use crate::admin::{ReviewResolution, StoredEvent, StoredReview};
use crate::engine::{
    legacy, Affiliate, AffiliateAttribution, Attribution, AttributionSource, CustomerHead, Outcome,
    Record, RecordKey, ReviewItem,
};
use crate::events::{EventEnvelope, EventPayload, ENVELOPE_SCHEMA_VERSION};
use crate::ledger::LedgerEntry;
use crate::processor::{StoreError, StoredHead, StoredRecord};
use crate::quality::{Counters, StatsRecord};

pub type Item = HashMap<String, AttributeValue>;

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
pub fn list(v: &[String]) -> AttributeValue {
    AttributeValue::L(v.iter().map(|x| s(x.clone())).collect())
}
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

pub fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| corrupt(format!("attribute {name} missing or not a string")))
}
pub fn opt_s(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}
pub fn get_time(item: &Item, name: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(get_s(item, name)?)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| corrupt(format!("attribute {name} is not an RFC 3339 instant")))
}
/// A whole, non-negative number (moto may keep a trailing ".0"; DynamoDB would not).
pub fn get_u64(item: &Item, name: &str) -> Result<u64, StoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| Decimal::from_str(v).ok())
        .filter(|d| d.fract().is_zero() && !d.is_sign_negative())
        .and_then(|d| u64::try_from(d.normalize().mantissa()).ok())
        .ok_or_else(|| corrupt(format!("attribute {name} missing or not a whole number")))
}
pub fn get_u32(item: &Item, name: &str) -> Result<u32, StoreError> {
    u32::try_from(get_u64(item, name)?)
        .map_err(|_| corrupt(format!("attribute {name} is too large")))
}
pub fn str_list(item: &Item, name: &str) -> Vec<String> {
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

/// Capacity units for `size` bytes at `unit` bytes per unit (a minimum of one).
pub fn units(size: usize, unit: usize) -> u64 {
    size.div_ceil(unit).max(1) as u64
}

// ------------------------------------------------------------------ customers: the head

/// The current head format. Plain attributes: ops and finance can read who referred a customer
/// without decoding anything. A legacy item is told apart by its `state` attribute.
pub const HEAD_FORMAT: u32 = 2;

pub fn head_item(head: &CustomerHead) -> Item {
    let mut item = HashMap::from([
        ("customer_id".to_owned(), s(&head.customer_id)),
        ("version".to_owned(), n(head.version)),
        ("format".to_owned(), n(HEAD_FORMAT)),
    ]);
    let label = match &head.attribution {
        Attribution::None => "none",
        Attribution::Organic { decided_by_event } => {
            item.insert("decided_by_event".into(), s(decided_by_event));
            "organic"
        }
        Attribution::Unresolved {
            decided_by_event,
            review_id,
        } => {
            item.insert("decided_by_event".into(), s(decided_by_event));
            item.insert("attribution_review_id".into(), s(review_id));
            "unresolved"
        }
        Attribution::Affiliate(a) => {
            item.insert("decided_by_event".into(), s(&a.decided_by_event));
            item.insert("affiliate_id".into(), s(&a.affiliate_id));
            item.insert("attribution_source".into(), s(a.source.as_str()));
            item.insert("window_starts_at".into(), s(rfc3339(a.starts_at)));
            item.insert("window_ends_at".into(), s(rfc3339(a.window_ends_at)));
            for (name, value) in [("click_id", &a.click_id), ("coupon_code", &a.coupon_code)] {
                if let Some(v) = value {
                    item.insert(name.into(), s(v));
                }
            }
            if let Some(r) = &a.review_id {
                item.insert("attribution_review_id".into(), s(r));
            }
            match a.expired_at {
                Some(at) => {
                    item.insert("window_expired_at".into(), s(rfc3339(at)));
                    "expired"
                }
                None => "affiliate",
            }
        }
    };
    item.insert("attribution_state".into(), s(label));
    item
}

pub fn decode_head(item: &Item) -> Result<StoredHead, StoreError> {
    if let Some(json) = opt_s(item, "state") {
        return legacy::parse(&json)
            .map(|state| StoredHead::Legacy(Box::new(state)))
            .map_err(corrupt);
    }
    let customer_id = get_s(item, "customer_id")?.to_owned();
    let attribution = match get_s(item, "attribution_state")? {
        "none" => Attribution::None,
        "organic" => Attribution::Organic {
            decided_by_event: get_s(item, "decided_by_event")?.to_owned(),
        },
        "unresolved" => Attribution::Unresolved {
            decided_by_event: get_s(item, "decided_by_event")?.to_owned(),
            review_id: get_s(item, "attribution_review_id")?.to_owned(),
        },
        state @ ("affiliate" | "expired") => Attribution::Affiliate(AffiliateAttribution {
            affiliate_id: get_s(item, "affiliate_id")?.to_owned(),
            source: match get_s(item, "attribution_source")? {
                "link" => AttributionSource::Link,
                "coupon" => AttributionSource::Coupon,
                other => return Err(corrupt(format!("attribution_source {other:?}"))),
            },
            click_id: opt_s(item, "click_id"),
            coupon_code: opt_s(item, "coupon_code"),
            decided_by_event: get_s(item, "decided_by_event")?.to_owned(),
            starts_at: get_time(item, "window_starts_at")?,
            window_ends_at: get_time(item, "window_ends_at")?,
            review_id: opt_s(item, "attribution_review_id"),
            expired_at: if state == "expired" {
                Some(get_time(item, "window_expired_at")?)
            } else {
                None
            },
        }),
        other => return Err(corrupt(format!("attribution_state {other:?}"))),
    };
    Ok(StoredHead::Current(CustomerHead {
        customer_id,
        version: get_u64(item, "version")?,
        attribution,
    }))
}

// ------------------------------------------------------------------ records

/// A record item: the customer, the record's sort key, its version, its compact state, and —
/// while it has scheduler work — the keys of the sparse due index.
pub fn record_item(
    customer_id: &str,
    key: &RecordKey,
    version: u64,
    record: &Record,
    due: Option<DateTime<Utc>>,
) -> Item {
    let mut item = HashMap::from([
        ("customer_id".to_owned(), s(customer_id)),
        ("record".to_owned(), s(key.sort_key())),
        ("v".to_owned(), n(version)),
        ("state".to_owned(), s(record.to_json())),
    ]);
    if let Some(due) = due {
        item.insert("due_shard".into(), s(due_shard(customer_id)));
        item.insert("next_due_at".into(), s(sortable_instant(due)));
    }
    item
}

pub fn record_key_of(item: &Item) -> Result<(String, RecordKey), StoreError> {
    let sort_key = get_s(item, "record")?;
    let key = RecordKey::parse(sort_key).ok_or_else(|| corrupt(format!("record {sort_key:?}")))?;
    Ok((get_s(item, "customer_id")?.to_owned(), key))
}

pub fn decode_record(item: &Item) -> Result<((String, RecordKey), StoredRecord), StoreError> {
    let (customer, key) = record_key_of(item)?;
    let record = Record::from_json(&key, get_s(item, "state")?)
        .map_err(|e| corrupt(format!("record {} of {customer}: {e}", key.sort_key())))?;
    let version = get_u64(item, "v")?;
    Ok(((customer, key), StoredRecord { version, record }))
}

// ------------------------------------------------------------------ events

/// The durable event record and event log entry. The normalized content is `payload` (JSON);
/// the other fields of the envelope are plain attributes, so nothing is stored twice.
/// `entry_affiliates` is the affiliate of each of the outcome's entries, in the same order (the
/// ledger is keyed by affiliate, so the admin API reads an event's entries by these keys).
pub fn event_item(
    event: &EventEnvelope,
    outcome: &Outcome,
    entry_affiliates: &[String],
    seq: u64,
) -> Item {
    let payload = serde_json::to_string(&event.payload).expect("payloads serialize");
    let mut item = HashMap::from([
        ("event_id".into(), s(&event.event_id)),
        ("customer_id".into(), s(&event.customer_id)),
        ("event_type".into(), s(event.event_type.as_str())),
        ("content_hash".into(), s(&event.content_hash)),
        ("occurred_at".into(), s(rfc3339(event.occurred_at))),
        ("received_at".into(), s(rfc3339(event.received_at))),
        ("seq".into(), n(seq)),
        ("outcome".into(), s(outcome.kind.as_str())),
        ("reason".into(), s(outcome.reason.as_str())),
        ("entry_ids".into(), list(&outcome.entry_ids)),
        ("review_ids".into(), list(&outcome.review_ids)),
        ("payload".into(), s(payload)),
    ]);
    if !entry_affiliates.is_empty() {
        item.insert("entry_affiliates".into(), list(entry_affiliates));
    }
    if let Some(h) = &event.email_hash {
        item.insert("email_hash".into(), s(h));
    }
    item
}

/// The envelope an event record holds: rebuilt from its attributes, or (records written before
/// bounded state) read from its `envelope` attribute.
pub fn decode_envelope(item: &Item) -> Result<EventEnvelope, StoreError> {
    if let Some(json) = opt_s(item, "envelope") {
        return serde_json::from_str(&json).map_err(|e| corrupt(format!("event envelope: {e}")));
    }
    let payload: EventPayload = serde_json::from_str(get_s(item, "payload")?)
        .map_err(|e| corrupt(format!("event payload: {e}")))?;
    let event_type = get_s(item, "event_type")?
        .parse()
        .map_err(|e: String| corrupt(e))?;
    Ok(EventEnvelope {
        schema_version: ENVELOPE_SCHEMA_VERSION,
        event_id: get_s(item, "event_id")?.to_owned(),
        event_type,
        customer_id: get_s(item, "customer_id")?.to_owned(),
        occurred_at: get_time(item, "occurred_at")?,
        received_at: get_time(item, "received_at")?,
        email_hash: opt_s(item, "email_hash"),
        content_hash: get_s(item, "content_hash")?.to_owned(),
        payload,
    })
}

// ------------------------------------------------------------------ ledger and reviews

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
        ("reason".to_owned(), s(e.reason.as_str())),
    ]);
    if let Some(ev) = &e.event_id {
        item.insert("event_id".into(), s(ev));
    }
    if let Some(c) = &e.corrects {
        item.insert("corrects".into(), s(c));
    }
    item
}

pub fn review_item(r: &ReviewItem) -> Item {
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

/// A review item as stored: open, or closed with its resolution's audit attributes.
pub fn decode_review(item: &Item) -> Result<StoredReview, StoreError> {
    let evidence = match item.get("evidence") {
        Some(AttributeValue::M(m)) => m
            .iter()
            .map(|(k, v)| {
                v.as_s()
                    .map(|v| (k.clone(), v.clone()))
                    .map_err(|_| corrupt(format!("evidence {k} is not a string")))
            })
            .collect::<Result<_, _>>()?,
        _ => Default::default(),
    };
    let review = ReviewItem {
        review_id: get_s(item, "review_id")?.to_owned(),
        kind: get_s(item, "kind")?.parse().map_err(corrupt)?,
        customer_id: opt_s(item, "customer_id").unwrap_or_default(),
        event_id: opt_s(item, "event_id").unwrap_or_default(),
        affiliate_ids: str_list(item, "affiliate_ids"),
        evidence,
        opened_at: get_time(item, "opened_at")?,
    };
    let resolution = match get_s(item, "status")? {
        "open" => None,
        "resolved" => Some(ReviewResolution {
            action: get_s(item, "resolution_action")?.to_owned(),
            affiliate_id: opt_s(item, "resolution_affiliate_id"),
            into_customer_id: opt_s(item, "resolution_into_customer_id"),
            reason: get_s(item, "resolution_reason")?.to_owned(),
            by: get_s(item, "resolved_by")?.to_owned(),
            at: get_time(item, "resolved_at")?,
            entry_ids: str_list(item, "resolution_entry_ids"),
            entry_affiliates: str_list(item, "resolution_entry_affiliates"),
        }),
        other => return Err(corrupt(format!("review status {other:?}"))),
    };
    Ok(StoredReview {
        item: review,
        resolution,
    })
}

/// The attributes closing a review item sets (plain words: ops and finance read them as they are).
pub fn resolution_attributes(r: &ReviewResolution) -> Vec<(&'static str, AttributeValue)> {
    let mut out = vec![
        ("status", s("resolved")),
        ("resolution_action", s(&r.action)),
        ("resolution_reason", s(&r.reason)),
        ("resolved_by", s(&r.by)),
        ("resolved_at", s(rfc3339(r.at))),
        ("resolution_entry_ids", list(&r.entry_ids)),
        ("resolution_entry_affiliates", list(&r.entry_affiliates)),
        // Key of the sparse index of closed items, newest first.
        ("resolved_queue", s("resolved")),
        ("resolved_sort", s(sortable_instant(r.at))),
    ];
    if let Some(a) = &r.affiliate_id {
        out.push(("resolution_affiliate_id", s(a)));
    }
    if let Some(c) = &r.into_customer_id {
        out.push(("resolution_into_customer_id", s(c)));
    }
    out
}

/// An event record as the admin API shows it.
pub fn decode_stored_event(item: &Item) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        envelope: decode_envelope(item)?,
        seq: get_u64(item, "seq")?,
        outcome: get_s(item, "outcome")?.parse().map_err(corrupt)?,
        reason: get_s(item, "reason")?.parse().map_err(corrupt)?,
        entry_ids: str_list(item, "entry_ids"),
        review_ids: str_list(item, "review_ids"),
        entry_affiliates: str_list(item, "entry_affiliates"),
    })
}

/// A ledger entry read back: amounts parsed as decimals (moto keeps trailing zeros; DynamoDB does
/// not: either reads the same).
pub fn decode_ledger_entry(item: &Item) -> Result<LedgerEntry, StoreError> {
    let entry_id = get_s(item, "entry_id")?.to_owned();
    let bad = |what: &str| corrupt(format!("ledger entry {entry_id}: {what}"));
    let amount = item
        .get("amount")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| Decimal::from_str(v).ok())
        .ok_or_else(|| bad("amount"))?;
    Ok(LedgerEntry {
        commission_id: get_s(item, "commission_id")?.to_owned(),
        affiliate_id: get_s(item, "affiliate_id")?.to_owned(),
        customer_id: get_s(item, "customer_id")?.to_owned(),
        kind: get_s(item, "kind")?.parse().map_err(|_| bad("kind"))?,
        amount,
        currency: get_s(item, "currency")?
            .parse()
            .map_err(|_| bad("currency"))?,
        status: get_s(item, "status")?.parse().map_err(|_| bad("status"))?,
        plan_id: get_s(item, "plan_id")?.to_owned(),
        plan_version: get_u32(item, "plan_version")?,
        event_id: opt_s(item, "event_id"),
        effective_at: get_time(item, "effective_at")?,
        corrects: opt_s(item, "corrects"),
        reason: get_s(item, "reason")?.parse().map_err(|_| bad("reason"))?,
        entry_id,
    })
}

// ------------------------------------------------------------------ directory and stats

pub fn decode_affiliate(item: &Item) -> Result<Affiliate, StoreError> {
    let months = match item.get("qualified_by_month") {
        Some(AttributeValue::M(m)) => m
            .iter()
            .map(|(k, v)| {
                let count = v
                    .as_n()
                    .ok()
                    .and_then(|x| x.parse::<u32>().ok())
                    .ok_or_else(|| corrupt(format!("qualified_by_month.{k} is not a count")))?;
                Ok((k.clone(), count))
            })
            .collect::<Result<_, StoreError>>()?,
        None => Default::default(),
        Some(_) => return Err(corrupt("qualified_by_month is not a map")),
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

pub fn decode_stats(item: &Item) -> Result<StatsRecord, StoreError> {
    let mut counters = Counters::new();
    let mut updates = 0;
    for (name, value) in item {
        let AttributeValue::N(text) = value else {
            continue;
        };
        let v = Decimal::from_str(text)
            .map_err(|_| corrupt(format!("stats {name} is not a number")))?;
        if name == "updates" {
            updates = get_u64(item, "updates")?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn head(attribution: Attribution) -> CustomerHead {
        CustomerHead {
            customer_id: "c-1".into(),
            version: 7,
            attribution,
        }
    }

    #[test]
    fn every_head_reads_back_as_written() {
        let t: DateTime<Utc> = "2026-11-02T12:00:00.123Z".parse().unwrap();
        let affiliate = AffiliateAttribution {
            affiliate_id: "aff-a".into(),
            source: AttributionSource::Coupon,
            click_id: Some("clk".into()),
            coupon_code: Some("ALPHA10".into()),
            decided_by_event: "e-1".into(),
            starts_at: t,
            window_ends_at: t + Duration::days(90),
            review_id: Some("self_referral#e-1".into()),
            expired_at: None,
        };
        let heads = [
            head(Attribution::None),
            head(Attribution::Organic {
                decided_by_event: "e-1".into(),
            }),
            head(Attribution::Unresolved {
                decided_by_event: "e-1".into(),
                review_id: "unknown_affiliate#e-1".into(),
            }),
            head(Attribution::Affiliate(affiliate.clone())),
            head(Attribution::Affiliate(AffiliateAttribution {
                expired_at: Some(t + Duration::days(90)),
                click_id: None,
                coupon_code: None,
                review_id: None,
                ..affiliate
            })),
        ];
        for h in heads {
            let item = head_item(&h);
            match decode_head(&item).unwrap() {
                StoredHead::Current(back) => assert_eq!(back, h),
                StoredHead::Legacy(_) => panic!("current head read as legacy"),
            }
            assert!(item_size(&item) < 400, "{}", item_size(&item));
        }
    }

    #[test]
    fn a_malformed_head_is_reported_not_guessed() {
        let mut item = head_item(&head(Attribution::None));
        item.insert("attribution_state".into(), s("maybe"));
        assert!(matches!(decode_head(&item), Err(StoreError::Corrupt(_))));
        let mut item = head_item(&head(Attribution::None));
        item.insert("version".into(), n("1.5"));
        assert!(matches!(decode_head(&item), Err(StoreError::Corrupt(_))));
    }
}
