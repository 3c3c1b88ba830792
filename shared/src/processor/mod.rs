//! The processor's core: takes one SQS batch of envelopes, loads what it needs through the store
//! port in as few round trips as the batch allows, runs the engine event by event, and commits
//! each event's effects atomically. No AWS types: DynamoDB is an adapter behind `ProcessorStore`.

mod batch;
mod memory;
mod store;

pub use batch::{named_records, BatchOutcome, BatchRecord, Processor, RecordFailure};
pub use memory::{MemoryState, MemoryStore, StoredEvent};
pub use store::{
    migrate_legacy, Commit, CounterUpdate, LoadRequest, Loaded, MigrationStore, ProcessorStore,
    RecordId, StoreError, StoredHead, StoredRecord,
};
