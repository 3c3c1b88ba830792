//! One SQS FIFO batch: plan the reads, run the engine per event in queue order, commit each
//! event atomically, and report partial batch failures (after the first failure every later
//! record is returned too, so nothing overtakes it within its message group).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use tracing::{info, warn, Instrument};

use super::store::{Commit, CounterUpdate, LoadRequest, ProcessorStore, StoreError};
use crate::engine::{
    admit, apply_event, Admission, Attribution, CustomerState, Directory, MemoryDirectory,
    SeenEvent,
};
use crate::events::{EventEnvelope, EventPayload, ENVELOPE_SCHEMA_VERSION};
use crate::plans::Plan;

/// Reads per batch are bounded: events, customers and named affiliates/coupons first; then the
/// affiliates those point to; then plan versions not cached yet (rare: plans are immutable and
/// stay cached for the life of the instance).
const MAX_LOAD_ROUNDS: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRecord {
    pub message_id: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordFailure {
    /// Transient: return it to the queue (SQS redelivers; after the redrive limit it goes to
    /// the dead-letter queue).
    Retry { message_id: String, reason: String },
    /// It can never be processed (not an envelope this code understands): send it to the
    /// dead-letter queue now, with the reason, rather than block its message group.
    Poison { message_id: String, reason: String },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub failures: Vec<RecordFailure>,
    pub applied: usize,
    pub duplicates: usize,
    pub conflicts: usize,
    pub load_rounds: usize,
}

impl BatchOutcome {
    pub fn retry_ids(&self) -> impl Iterator<Item = &str> {
        self.failures.iter().filter_map(|f| match f {
            RecordFailure::Retry { message_id, .. } => Some(message_id.as_str()),
            RecordFailure::Poison { .. } => None,
        })
    }
}

/// Entries kept in the attribution hint before it is emptied and refilled (a few MB at most).
const MAX_ATTRIBUTION_HINTS: usize = 100_000;

/// Holds what outlives a batch: the cache of immutable plan versions, and a hint of which
/// affiliate each recently seen customer is attributed to, so a batch can ask for the affiliate in
/// the same read as the customer. The hint is only a guess about what to read: the customer's
/// stored state decides, and a wrong or missing hint costs one more read round, never a wrong
/// result.
#[derive(Debug, Default)]
pub struct Processor {
    plans: Mutex<HashMap<(String, u32), Plan>>,
    attribution_hints: Mutex<HashMap<String, String>>,
}

/// Whether applying the event consults the attributed affiliate (its current plan, tier and
/// counters). Refunds, chargebacks and failures use the commission's frozen plan version only.
fn needs_affiliate(payload: &EventPayload) -> bool {
    match payload {
        EventPayload::Purchase(_)
        | EventPayload::Reset(_)
        | EventPayload::EvaluationStarted(_)
        | EventPayload::EvaluationPassed(_)
        | EventPayload::Funded(_) => true,
        EventPayload::EvaluationFailed(_)
        | EventPayload::Refund(_)
        | EventPayload::Chargeback(_) => false,
    }
}

/// Everything one batch has read or decided so far.
struct BatchContext {
    directory: MemoryDirectory,
    customers: HashMap<String, CustomerState>,
    seen: HashMap<String, SeenEvent>,
}

fn parse(record: &BatchRecord) -> Result<EventEnvelope, String> {
    let envelope: EventEnvelope =
        serde_json::from_str(&record.body).map_err(|e| format!("not an event envelope: {e}"))?;
    if envelope.schema_version != ENVELOPE_SCHEMA_VERSION {
        return Err(format!(
            "envelope schema_version {} is not {ENVELOPE_SCHEMA_VERSION}",
            envelope.schema_version
        ));
    }
    Ok(envelope)
}

impl Processor {
    pub fn new() -> Self {
        Self::default()
    }

    pub async fn process<S: ProcessorStore>(
        &self,
        store: &S,
        records: &[BatchRecord],
    ) -> BatchOutcome {
        let mut outcome = BatchOutcome::default();
        let parsed: Vec<Result<EventEnvelope, String>> = records.iter().map(parse).collect();
        let envelopes: Vec<&EventEnvelope> =
            parsed.iter().filter_map(|p| p.as_ref().ok()).collect();

        let mut plans = std::mem::take(&mut *self.plans.lock().unwrap_or_else(|p| p.into_inner()));
        let loaded = self.load(store, &envelopes, &mut plans, &mut outcome).await;
        let mut ctx = match loaded {
            Ok(ctx) => ctx,
            Err((error, plans_back)) => {
                *self.plans.lock().unwrap_or_else(|p| p.into_inner()) = plans_back;
                warn!(error = %error, records = records.len(), "batch read failed; returning the batch");
                outcome.failures = records
                    .iter()
                    .map(|r| RecordFailure::Retry {
                        message_id: r.message_id.clone(),
                        reason: error.to_string(),
                    })
                    .collect();
                return outcome;
            }
        };

        let mut failed = false;
        for (record, envelope) in records.iter().zip(&parsed) {
            if failed {
                outcome.failures.push(RecordFailure::Retry {
                    message_id: record.message_id.clone(),
                    reason: "an earlier record of the batch failed".into(),
                });
                continue;
            }
            let envelope = match envelope {
                Ok(e) => e,
                Err(reason) => {
                    warn!(message_id = %record.message_id, reason = %reason, "poison message");
                    outcome.failures.push(RecordFailure::Poison {
                        message_id: record.message_id.clone(),
                        reason: reason.clone(),
                    });
                    continue;
                }
            };
            let span = tracing::info_span!("event", event_id = %envelope.event_id, event_type = %envelope.event_type);
            let result = Self::handle(store, &mut ctx, envelope, &mut outcome)
                .instrument(span)
                .await;
            if let Err(error) = result {
                warn!(event_id = %envelope.event_id, error = %error, "event not committed; returning it and the rest of the batch");
                failed = true;
                outcome.failures.push(RecordFailure::Retry {
                    message_id: record.message_id.clone(),
                    reason: error.to_string(),
                });
            }
        }
        self.remember_attributions(&ctx.customers);
        *self.plans.lock().unwrap_or_else(|p| p.into_inner()) =
            std::mem::take(&mut ctx.directory.plans);
        outcome
    }

    async fn handle<S: ProcessorStore>(
        store: &S,
        ctx: &mut BatchContext,
        envelope: &EventEnvelope,
        outcome: &mut BatchOutcome,
    ) -> Result<(), StoreError> {
        match admit(ctx.seen.get(&envelope.event_id), envelope) {
            Admission::Duplicate => {
                info!(outcome = "duplicate", "already processed");
                outcome.duplicates += 1;
                Ok(())
            }
            Admission::Conflict(review) => {
                store.record_conflict(&review).await?;
                warn!(review_id = %review.review_id, "same event id with different content: recorded for review");
                outcome.conflicts += 1;
                Ok(())
            }
            Admission::Apply => {
                let before = ctx
                    .customers
                    .get(&envelope.customer_id)
                    .cloned()
                    .unwrap_or_else(|| CustomerState::new(&envelope.customer_id));
                let mut state = before.clone();
                let expected_version = state.version;
                let applied = apply_event(&mut state, envelope, &ctx.directory)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let counters = applied
                    .qualified
                    .iter()
                    .map(|(affiliate_id, month)| CounterUpdate {
                        affiliate_id: affiliate_id.clone(),
                        month: month.clone(),
                        previous: ctx
                            .directory
                            .affiliate(affiliate_id)
                            .map_or(0, |a| a.qualified_in(month)),
                    })
                    .collect();
                store
                    .commit(&Commit {
                        event: envelope,
                        expected_version,
                        state: &state,
                        applied: &applied,
                        counters,
                        stats: crate::quality::stats_deltas(&before, &state, envelope, &applied),
                    })
                    .await?;
                for o in &applied.outcomes {
                    info!(outcome_event_id = %o.event_id, outcome = o.kind.as_str(), reason = %o.reason, entries = o.entry_ids.len(), "outcome recorded");
                }
                ctx.directory.absorb(&applied);
                ctx.seen.insert(
                    envelope.event_id.clone(),
                    SeenEvent {
                        content_hash: envelope.content_hash.clone(),
                    },
                );
                ctx.customers.insert(envelope.customer_id.clone(), state);
                outcome.applied += 1;
                Ok(())
            }
        }
    }

    /// Loads events, customers and reference data for the batch: the first round asks for
    /// everything the envelopes name; later rounds only for what the first answers point to.
    async fn load<S: ProcessorStore>(
        &self,
        store: &S,
        envelopes: &[&EventEnvelope],
        plans: &mut HashMap<(String, u32), Plan>,
        outcome: &mut BatchOutcome,
    ) -> Result<BatchContext, (StoreError, HashMap<(String, u32), Plan>)> {
        let mut ctx = BatchContext {
            directory: MemoryDirectory {
                plans: std::mem::take(plans),
                ..MemoryDirectory::default()
            },
            customers: HashMap::new(),
            seen: HashMap::new(),
        };
        let mut asked_affiliates: HashSet<String> = HashSet::new();
        let mut asked_plans: HashSet<(String, u32)> = HashSet::new();
        let mut request = LoadRequest::default();
        let mut seen_customers = HashSet::new();
        let mut seen_emails = HashSet::new();
        let mut seen_coupons = HashSet::new();
        let mut seen_events = HashSet::new();
        let mut customers_needing_affiliate: HashSet<&str> = HashSet::new();
        // Copied out for this batch's customers, so the lock is not held across awaits.
        let hints: HashMap<String, String> = {
            let all = self
                .attribution_hints
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            envelopes
                .iter()
                .filter_map(|e| {
                    all.get(&e.customer_id)
                        .map(|a| (e.customer_id.clone(), a.clone()))
                })
                .collect()
        };
        for e in envelopes {
            if needs_affiliate(&e.payload) {
                customers_needing_affiliate.insert(e.customer_id.as_str());
                if let Some(a) = hints.get(e.customer_id.as_str()) {
                    if asked_affiliates.insert(a.clone()) {
                        request.affiliate_ids.push(a.clone());
                    }
                }
            }
            // DynamoDB rejects a batch get that names one key twice.
            if seen_events.insert(e.event_id.as_str()) {
                request.event_ids.push(e.event_id.clone());
            }
            if seen_customers.insert(e.customer_id.as_str()) {
                request.customer_ids.push(e.customer_id.clone());
            }
            if let Some(h) = &e.email_hash {
                if seen_emails.insert(h.as_str()) {
                    request.email_hashes.push(h.clone());
                }
            }
            if let EventPayload::Purchase(p) = &e.payload {
                if let Some(a) = &p.affiliate_id {
                    if asked_affiliates.insert(a.clone()) {
                        request.affiliate_ids.push(a.clone());
                    }
                }
                if let Some(c) = &p.coupon_code {
                    if seen_coupons.insert(c.as_str()) {
                        request.coupon_codes.push(c.clone());
                    }
                }
            }
        }
        for _ in 0..MAX_LOAD_ROUNDS {
            if request.is_empty() {
                break;
            }
            outcome.load_rounds += 1;
            let loaded = match store.load(&request).await {
                Ok(l) => l,
                Err(e) => return Err((e, std::mem::take(&mut ctx.directory.plans))),
            };
            ctx.seen.extend(loaded.events);
            ctx.customers.extend(loaded.customers);
            ctx.directory.email_owners.extend(loaded.email_owners);
            ctx.directory.affiliates.extend(loaded.affiliates);
            ctx.directory.coupons.extend(loaded.coupons);
            for plan in loaded.plans {
                ctx.directory.add_plan(plan);
            }
            request = LoadRequest::default();
            // affiliates the customers and coupons point to
            let pointed = ctx
                .customers
                .values()
                .filter(|s| customers_needing_affiliate.contains(s.customer_id.as_str()))
                .filter_map(|s| match &s.attribution {
                    Attribution::Affiliate(a) => Some(a.affiliate_id.clone()),
                    _ => None,
                })
                .chain(ctx.directory.coupons.values().cloned());
            for a in pointed {
                if asked_affiliates.insert(a.clone()) {
                    request.affiliate_ids.push(a);
                }
            }
            // plan versions: each affiliate's current one, and every commission's frozen one
            let wanted: Vec<(String, u32)> = ctx
                .directory
                .affiliates
                .values()
                .map(|a| (a.plan_id.clone(), a.plan_version))
                .chain(ctx.customers.values().flat_map(|s| {
                    s.commissions
                        .values()
                        .map(|c| (c.plan_id.clone(), c.plan_version))
                }))
                .collect();
            for key in wanted {
                if !ctx.directory.plans.contains_key(&key) && asked_plans.insert(key.clone()) {
                    request.plans.push(key);
                }
            }
        }
        Ok(ctx)
    }

    /// Remembers the attributions this batch read or created, for the next batches' first read.
    fn remember_attributions(&self, customers: &HashMap<String, CustomerState>) {
        let mut hints = self
            .attribution_hints
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if hints.len() > MAX_ATTRIBUTION_HINTS {
            hints.clear();
        }
        for s in customers.values() {
            if let Attribution::Affiliate(a) = &s.attribution {
                hints.insert(s.customer_id.clone(), a.affiliate_id.clone());
            }
        }
    }
}
