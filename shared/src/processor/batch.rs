//! One SQS FIFO batch: plan the reads, run the engine per event in queue order, commit each
//! event atomically, and report partial batch failures (after the first failure every later
//! record is returned too, so nothing overtakes it within its message group).
//!
//! Reads are bounded by the events, never by a customer's history: each event names the
//! transaction or challenge it concerns, and the batch reads exactly those records (plus the
//! customer's small head). When applying an event needs more (a parked event released by a
//! purchase, and that event's own records), the engine says what, and the processor reads it and
//! applies the event again.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use tracing::{info, warn, Instrument};

use super::store::{
    migrate_legacy, Commit, CounterUpdate, LoadRequest, Loaded, ProcessorStore, RecordId,
    StoreError, StoredHead,
};
use crate::engine::{
    admit, apply_event, Admission, CustomerHead, CustomerView, Directory, EngineError,
    MemoryDirectory, Needed, RecordKey, SeenEvent,
};
use crate::events::{EventEnvelope, EventPayload, ENVELOPE_SCHEMA_VERSION};
use crate::plans::Plan;

/// Reads per batch are bounded: events, heads, records and named affiliates/coupons first; then
/// the affiliates those point to; then plan versions not cached yet (rare: plans are immutable
/// and stay cached for the life of the instance).
const MAX_LOAD_ROUNDS: usize = 4;

/// Times one event may ask for more than was loaded (each ask is one read round). A purchase
/// releasing parked events asks once or twice; more means something is wrong.
const MAX_EXTRA_READS_PER_EVENT: usize = 8;

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
    /// It can never be processed (not an envelope this code understands, or an event the engine
    /// cannot price): send it to the dead-letter queue now, with the reason, rather than block
    /// its message group.
    Poison { message_id: String, reason: String },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub failures: Vec<RecordFailure>,
    pub applied: usize,
    pub duplicates: usize,
    pub conflicts: usize,
    pub load_rounds: usize,
    /// Legacy customers rewritten in the current format by this batch.
    pub migrated: usize,
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
/// stored head decides, and a wrong or missing hint costs one more read round, never a wrong
/// result.
pub struct Processor {
    plans: Mutex<HashMap<(String, u32), Plan>>,
    attribution_hints: Mutex<HashMap<String, String>>,
    /// When each commit is recorded (the ledger's booking time, which finance's periods use).
    clock: std::sync::Arc<dyn crate::clock::Clock>,
}

impl Default for Processor {
    fn default() -> Self {
        Self::with_clock(std::sync::Arc::new(crate::clock::SystemClock))
    }
}

impl std::fmt::Debug for Processor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processor").finish_non_exhaustive()
    }
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

/// The records an event names: what its rule reads and writes.
pub fn named_records(payload: &EventPayload) -> Vec<RecordKey> {
    match payload {
        EventPayload::Purchase(p) => vec![
            RecordKey::Transaction(p.transaction_id.clone()),
            RecordKey::Challenge(p.challenge_id.clone()),
        ],
        EventPayload::Reset(r) => vec![
            RecordKey::Challenge(r.original_challenge_id.clone()),
            RecordKey::Transaction(r.transaction_id.clone()),
        ],
        EventPayload::EvaluationStarted(e) => vec![RecordKey::Challenge(e.challenge_id.clone())],
        EventPayload::EvaluationFailed(e) => vec![RecordKey::Challenge(e.challenge_id.clone())],
        EventPayload::EvaluationPassed(e) => vec![RecordKey::Challenge(e.challenge_id.clone())],
        EventPayload::Funded(f) => vec![RecordKey::Challenge(f.challenge_id.clone())],
        EventPayload::Refund(r) => vec![RecordKey::Transaction(r.original_transaction_id.clone())],
        EventPayload::Chargeback(c) => {
            vec![RecordKey::Transaction(c.original_transaction_id.clone())]
        }
    }
}

/// Everything one batch has read or decided so far.
struct BatchContext {
    directory: MemoryDirectory,
    views: HashMap<String, CustomerView>,
    seen: HashMap<String, SeenEvent>,
}

/// Why an event was not committed.
enum HandleError {
    /// Retry it (and the rest of the batch).
    Store(StoreError),
    /// Never processable: dead-letter it with the reason.
    Poison(String),
}

impl From<StoreError> for HandleError {
    fn from(e: StoreError) -> Self {
        HandleError::Store(e)
    }
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

    pub fn with_clock(clock: std::sync::Arc<dyn crate::clock::Clock>) -> Self {
        Processor {
            plans: Mutex::default(),
            attribution_hints: Mutex::default(),
            clock,
        }
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

        let plans = std::mem::take(&mut *self.plans.lock().unwrap_or_else(|p| p.into_inner()));
        let mut ctx = BatchContext {
            directory: MemoryDirectory {
                plans,
                ..MemoryDirectory::default()
            },
            views: HashMap::new(),
            seen: HashMap::new(),
        };
        if let Err(error) = self.load(store, &envelopes, &mut ctx, &mut outcome).await {
            *self.plans.lock().unwrap_or_else(|p| p.into_inner()) =
                std::mem::take(&mut ctx.directory.plans);
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
            let result = self
                .handle(store, &mut ctx, envelope, &mut outcome)
                .instrument(span)
                .await;
            match result {
                Ok(()) => {}
                Err(HandleError::Poison(reason)) => {
                    warn!(event_id = %envelope.event_id, reason = %reason, "event cannot be applied; dead-lettering it");
                    outcome.failures.push(RecordFailure::Poison {
                        message_id: record.message_id.clone(),
                        reason,
                    });
                }
                Err(HandleError::Store(error)) => {
                    warn!(event_id = %envelope.event_id, error = %error, "event not committed; returning it and the rest of the batch");
                    failed = true;
                    outcome.failures.push(RecordFailure::Retry {
                        message_id: record.message_id.clone(),
                        reason: error.to_string(),
                    });
                }
            }
        }
        self.remember_attributions(&ctx.views);
        *self.plans.lock().unwrap_or_else(|p| p.into_inner()) =
            std::mem::take(&mut ctx.directory.plans);
        outcome
    }

    async fn handle<S: ProcessorStore>(
        &self,
        store: &S,
        ctx: &mut BatchContext,
        envelope: &EventEnvelope,
        outcome: &mut BatchOutcome,
    ) -> Result<(), HandleError> {
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
                let customer = envelope.customer_id.as_str();
                let mut extra_reads = 0;
                loop {
                    let view = ctx
                        .views
                        .entry(customer.to_owned())
                        .or_insert_with(|| CustomerView::partial(CustomerHead::new(customer)));
                    // Applied to a copy: an attempt that needs more leaves the view untouched.
                    let mut working = view.clone();
                    let was_attributed = working.head.attributed_affiliate().is_some();
                    let expected_head_version = working.head.version;
                    let applied = match apply_event(&mut working, envelope, &ctx.directory) {
                        Ok(applied) => applied,
                        Err(EngineError::NotLoaded(needed))
                            if extra_reads < MAX_EXTRA_READS_PER_EVENT =>
                        {
                            extra_reads += 1;
                            Self::load_needed(store, ctx, customer, &needed, outcome).await?;
                            continue;
                        }
                        Err(e @ EngineError::NotLoaded(_))
                        | Err(e @ EngineError::WrongCustomer { .. }) => {
                            return Err(StoreError::Corrupt(e.to_string()).into())
                        }
                        Err(e @ EngineError::Arithmetic { .. }) => {
                            return Err(HandleError::Poison(e.to_string()))
                        }
                    };
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
                    let stats = crate::quality::stats_deltas(
                        was_attributed,
                        &working.head,
                        envelope,
                        &applied,
                    )
                    .map_err(|e| HandleError::Poison(e.to_string()))?;
                    store
                        .commit(&Commit {
                            event: envelope,
                            head: &working.head,
                            expected_head_version,
                            records: working.changed_records(),
                            applied: &applied,
                            counters,
                            stats,
                            recorded_at: self.clock.now(),
                        })
                        .await?;
                    for o in &applied.outcomes {
                        info!(outcome_event_id = %o.event_id, outcome = o.kind.as_str(), reason = %o.reason, entries = o.entry_ids.len(), "outcome recorded");
                    }
                    working.settle();
                    ctx.views.insert(customer.to_owned(), working);
                    ctx.directory.absorb(&applied);
                    ctx.seen.insert(
                        envelope.event_id.clone(),
                        SeenEvent {
                            content_hash: envelope.content_hash.clone(),
                        },
                    );
                    outcome.applied += 1;
                    return Ok(());
                }
            }
        }
    }

    /// Loads events, heads, records and reference data for the batch: the first round asks for
    /// everything the envelopes name; later rounds only for what the first answers point to.
    async fn load<S: ProcessorStore>(
        &self,
        store: &S,
        envelopes: &[&EventEnvelope],
        ctx: &mut BatchContext,
        outcome: &mut BatchOutcome,
    ) -> Result<(), StoreError> {
        let mut asked_affiliates: HashSet<String> = HashSet::new();
        let mut asked_plans: HashSet<(String, u32)> = HashSet::new();
        let mut request = LoadRequest::default();
        let mut seen_customers = HashSet::new();
        let mut seen_records: HashSet<RecordId> = HashSet::new();
        let mut seen_emails = HashSet::new();
        let mut seen_coupons = HashSet::new();
        let mut seen_events = HashSet::new();
        let mut customers_needing_affiliate: HashSet<String> = HashSet::new();
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
                customers_needing_affiliate.insert(e.customer_id.clone());
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
            for key in named_records(&e.payload) {
                let id = (e.customer_id.clone(), key);
                if seen_records.insert(id.clone()) {
                    request.records.push(id);
                }
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
            let loaded = store.load(&request).await?;
            Self::absorb(store, ctx, &request, loaded, outcome).await?;
            request = LoadRequest::default();
            // affiliates the customers and coupons point to
            let pointed: Vec<String> = ctx
                .views
                .values()
                .filter(|v| customers_needing_affiliate.contains(v.customer_id()))
                .filter_map(|v| v.head.attributed_affiliate().map(str::to_owned))
                .chain(ctx.directory.coupons.values().cloned())
                .collect();
            for a in pointed {
                if asked_affiliates.insert(a.clone()) {
                    request.affiliate_ids.push(a);
                }
            }
            request.plans = Self::missing_plans(ctx, &mut asked_plans);
        }
        Ok(())
    }

    /// Plan versions the batch refers to and has not read yet: each affiliate's current one, and
    /// every loaded commission's frozen one.
    fn missing_plans(ctx: &BatchContext, asked: &mut HashSet<(String, u32)>) -> Vec<(String, u32)> {
        let wanted: Vec<(String, u32)> = ctx
            .directory
            .affiliates
            .values()
            .map(|a| (a.plan_id.clone(), a.plan_version))
            .chain(ctx.views.values().flat_map(|v| {
                v.commissions()
                    .map(|c| (c.plan_id.clone(), c.plan_version))
                    .collect::<Vec<_>>()
            }))
            .collect();
        wanted
            .into_iter()
            .filter(|key| !ctx.directory.plans.contains_key(key) && asked.insert(key.clone()))
            .collect()
    }

    /// Folds a load's answers into the batch: heads (migrating legacy ones), records (absent
    /// ones too: a record asked for and not found is known to be absent), envelopes, reference
    /// data.
    async fn absorb<S: ProcessorStore>(
        store: &S,
        ctx: &mut BatchContext,
        request: &LoadRequest,
        mut loaded: Loaded,
        outcome: &mut BatchOutcome,
    ) -> Result<(), StoreError> {
        ctx.seen.extend(loaded.events);
        for customer in &request.customer_ids {
            let view = match loaded.heads.remove(customer) {
                Some(StoredHead::Current(head)) => CustomerView::partial(head),
                Some(StoredHead::Legacy(state)) => {
                    outcome.migrated += 1;
                    migrate_legacy(store, *state).await?
                }
                None => CustomerView::partial(CustomerHead::new(customer)),
            };
            ctx.views.insert(customer.clone(), view);
        }
        for (customer, key) in &request.records {
            let Some(view) = ctx.views.get_mut(customer) else {
                return Err(StoreError::Corrupt(format!(
                    "record {} of {customer} read without its head",
                    key.sort_key()
                )));
            };
            // Already held (written earlier in this batch, or a just-migrated customer): what
            // the view holds is at least as new as this read.
            if view.is_loaded(key) {
                continue;
            }
            match loaded.records.remove(&(customer.clone(), key.clone())) {
                Some(stored) => {
                    view.insert_loaded(key.clone(), stored.version, Some(stored.record))
                }
                None => view.insert_loaded(key.clone(), 0, None),
            }
        }
        for (_, envelope) in loaded.envelopes {
            if let Some(view) = ctx.views.get_mut(&envelope.customer_id) {
                view.insert_envelope(envelope);
            }
        }
        ctx.directory.email_owners.extend(loaded.email_owners);
        ctx.directory.affiliates.extend(loaded.affiliates);
        ctx.directory.coupons.extend(loaded.coupons);
        for plan in loaded.plans {
            ctx.directory.add_plan(plan);
        }
        Ok(())
    }

    /// One more read round for what an event turned out to need (and, if those records hold
    /// commissions under plan versions not cached, one for the plans).
    async fn load_needed<S: ProcessorStore>(
        store: &S,
        ctx: &mut BatchContext,
        customer: &str,
        needed: &[Needed],
        outcome: &mut BatchOutcome,
    ) -> Result<(), StoreError> {
        let mut request = LoadRequest::default();
        for n in needed {
            match n {
                Needed::Record(key) => request.records.push((customer.to_owned(), key.clone())),
                Needed::Envelope(id) => request.envelopes.push(id.clone()),
            }
        }
        outcome.load_rounds += 1;
        let loaded = store.load(&request).await?;
        for id in &request.envelopes {
            if !loaded.envelopes.contains_key(id) {
                return Err(StoreError::Corrupt(format!(
                    "parked event {id} has no envelope in the event log"
                )));
            }
        }
        Self::absorb(store, ctx, &request, loaded, outcome).await?;
        let plans = Self::missing_plans(ctx, &mut HashSet::new());
        if !plans.is_empty() {
            let request = LoadRequest {
                plans,
                ..LoadRequest::default()
            };
            outcome.load_rounds += 1;
            let loaded = store.load(&request).await?;
            Self::absorb(store, ctx, &request, loaded, outcome).await?;
        }
        Ok(())
    }

    /// Remembers the attributions this batch read or created, for the next batches' first read.
    fn remember_attributions(&self, views: &HashMap<String, CustomerView>) {
        let mut hints = self
            .attribution_hints
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if hints.len() > MAX_ATTRIBUTION_HINTS {
            hints.clear();
        }
        for v in views.values() {
            if let Some(a) = v.head.attributed_affiliate() {
                hints.insert(v.customer_id().to_owned(), a.to_owned());
            }
        }
    }
}
