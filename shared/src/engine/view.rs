//! What the engine sees of one customer while it applies an event: the head, and the records the
//! event concerns. The processor loads only the records an event names; asking for one that was
//! not loaded is an error (`EngineError::NotLoaded`) that says which, so the processor loads it and
//! runs the event again — the engine never reads more than it asked for, and never guesses that an
//! unloaded record is absent. The in-memory book holds complete views (every record of the
//! customer), where a missing record really is absent.

use std::collections::BTreeMap;

use super::apply::EngineError;
use super::customer::CustomerHead;
use super::records::{ChallengeRecord, Record, RecordKey, TransactionRecord};
use crate::events::EventEnvelope;
use crate::ledger::Commission;

/// Something the engine needs that the view does not hold yet.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Needed {
    Record(RecordKey),
    /// A parked event's envelope (kept in the event log), by event id.
    Envelope(String),
}

/// One record as loaded, and as the engine has left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// The stored version (0: no item yet). Writes are conditional on it.
    pub version: u64,
    loaded: Option<Record>,
    current: Option<Record>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerView {
    pub head: CustomerHead,
    records: BTreeMap<RecordKey, Slot>,
    envelopes: BTreeMap<String, EventEnvelope>,
    /// Every record of the customer is here: a missing one is absent, not unloaded.
    complete: bool,
}

/// A record the engine changed, to be written conditional on `version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedRecord<'a> {
    pub key: &'a RecordKey,
    pub version: u64,
    pub record: &'a Record,
    /// As it was loaded (none: a new item), so a store can tell what else the write changes
    /// (an index entry, for one).
    pub before: Option<&'a Record>,
}

impl CustomerView {
    /// A view holding only what the processor loads into it.
    pub fn partial(head: CustomerHead) -> Self {
        CustomerView {
            head,
            records: BTreeMap::new(),
            envelopes: BTreeMap::new(),
            complete: false,
        }
    }

    /// A view that holds every record of the customer (the in-memory book, rebuilds).
    pub fn complete(head: CustomerHead) -> Self {
        CustomerView {
            complete: true,
            ..CustomerView::partial(head)
        }
    }

    pub fn customer_id(&self) -> &str {
        &self.head.customer_id
    }

    /// Adds a record as the store returned it (`None`: no item, version 0).
    pub fn insert_loaded(&mut self, key: RecordKey, version: u64, record: Option<Record>) {
        self.records.insert(
            key,
            Slot {
                version,
                loaded: record.clone(),
                current: record,
            },
        );
    }

    pub fn is_loaded(&self, key: &RecordKey) -> bool {
        self.complete || self.records.contains_key(key)
    }

    pub fn insert_envelope(&mut self, envelope: EventEnvelope) {
        self.envelopes.insert(envelope.event_id.clone(), envelope);
    }

    pub fn has_envelope(&self, event_id: &str) -> bool {
        self.envelopes.contains_key(event_id)
    }

    pub(super) fn take_envelope(&mut self, event_id: &str) -> Result<EventEnvelope, EngineError> {
        self.envelopes
            .remove(event_id)
            .ok_or_else(|| EngineError::NotLoaded(vec![Needed::Envelope(event_id.to_owned())]))
    }

    pub fn record(&self, key: &RecordKey) -> Result<Option<&Record>, EngineError> {
        match self.records.get(key) {
            Some(slot) => Ok(slot.current.as_ref()),
            None if self.complete => Ok(None),
            None => Err(EngineError::NotLoaded(vec![Needed::Record(key.clone())])),
        }
    }

    pub fn record_mut(&mut self, key: &RecordKey) -> Result<Option<&mut Record>, EngineError> {
        if !self.is_loaded(key) {
            return Err(EngineError::NotLoaded(vec![Needed::Record(key.clone())]));
        }
        Ok(self
            .records
            .get_mut(key)
            .and_then(|slot| slot.current.as_mut()))
    }

    /// The record, created empty (a new item, version 0) if absent.
    pub(super) fn record_or_new(&mut self, key: &RecordKey) -> Result<&mut Record, EngineError> {
        if !self.is_loaded(key) {
            return Err(EngineError::NotLoaded(vec![Needed::Record(key.clone())]));
        }
        let slot = self.records.entry(key.clone()).or_insert(Slot {
            version: 0,
            loaded: None,
            current: None,
        });
        Ok(slot.current.get_or_insert_with(|| match key {
            RecordKey::Transaction(_) => Record::Transaction(TransactionRecord::default()),
            RecordKey::Challenge(_) => Record::Challenge(ChallengeRecord::default()),
        }))
    }

    pub fn transaction(&self, id: &str) -> Result<Option<&TransactionRecord>, EngineError> {
        Ok(match self.record(&RecordKey::Transaction(id.to_owned()))? {
            Some(Record::Transaction(r)) => Some(r),
            _ => None,
        })
    }

    pub(super) fn transaction_mut(
        &mut self,
        id: &str,
    ) -> Result<Option<&mut TransactionRecord>, EngineError> {
        Ok(
            match self.record_mut(&RecordKey::Transaction(id.to_owned()))? {
                Some(Record::Transaction(r)) => Some(r),
                _ => None,
            },
        )
    }

    pub(super) fn transaction_or_new(
        &mut self,
        id: &str,
    ) -> Result<&mut TransactionRecord, EngineError> {
        match self.record_or_new(&RecordKey::Transaction(id.to_owned()))? {
            Record::Transaction(r) => Ok(r),
            Record::Challenge(_) => unreachable!("a transaction key holds a transaction record"),
        }
    }

    pub fn challenge(&self, id: &str) -> Result<Option<&ChallengeRecord>, EngineError> {
        Ok(match self.record(&RecordKey::Challenge(id.to_owned()))? {
            Some(Record::Challenge(r)) => Some(r),
            _ => None,
        })
    }

    pub(super) fn challenge_mut(
        &mut self,
        id: &str,
    ) -> Result<Option<&mut ChallengeRecord>, EngineError> {
        Ok(
            match self.record_mut(&RecordKey::Challenge(id.to_owned()))? {
                Some(Record::Challenge(r)) => Some(r),
                _ => None,
            },
        )
    }

    pub(super) fn challenge_or_new(
        &mut self,
        id: &str,
    ) -> Result<&mut ChallengeRecord, EngineError> {
        match self.record_or_new(&RecordKey::Challenge(id.to_owned()))? {
            Record::Challenge(r) => Ok(r),
            Record::Transaction(_) => unreachable!("a challenge key holds a challenge record"),
        }
    }

    /// Every record held (loaded or created), as it is now.
    pub fn records(&self) -> impl Iterator<Item = (&RecordKey, &Record)> {
        self.records
            .iter()
            .filter_map(|(k, slot)| slot.current.as_ref().map(|r| (k, r)))
    }

    pub fn records_mut(&mut self) -> impl Iterator<Item = (&RecordKey, &mut Record)> {
        self.records
            .iter_mut()
            .filter_map(|(k, slot)| slot.current.as_mut().map(|r| (k, r)))
    }

    /// The head and every record held, to change both at once (the scheduler's tick).
    pub fn parts_mut(
        &mut self,
    ) -> (
        &mut CustomerHead,
        impl Iterator<Item = (&RecordKey, &mut Record)>,
    ) {
        let records = self
            .records
            .iter_mut()
            .filter_map(|(k, slot)| slot.current.as_mut().map(|r| (k, r)));
        (&mut self.head, records)
    }

    /// Every commission in the records held.
    pub fn commissions(&self) -> impl Iterator<Item = &Commission> {
        self.records().flat_map(|(_, r)| r.commissions())
    }

    /// The records that differ from what was loaded: exactly what a commit writes.
    pub fn changed_records(&self) -> Vec<ChangedRecord<'_>> {
        self.records
            .iter()
            .filter(|(_, slot)| slot.current != slot.loaded)
            .filter_map(|(key, slot)| {
                slot.current.as_ref().map(|record| ChangedRecord {
                    key,
                    version: slot.version,
                    record,
                    before: slot.loaded.as_ref(),
                })
            })
            .collect()
    }

    /// Whether any record differs from what was loaded.
    pub fn has_changes(&self) -> bool {
        self.records
            .values()
            .any(|slot| slot.current != slot.loaded)
    }

    /// After a successful write: what was written is now what is stored.
    pub fn settle(&mut self) {
        for slot in self.records.values_mut() {
            if slot.current != slot.loaded {
                slot.version += 1;
                slot.loaded = slot.current.clone();
            }
        }
    }
}
