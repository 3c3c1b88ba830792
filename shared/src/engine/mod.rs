//! The commission engine: attribution, plans and ledger rules applied to one customer's view (a
//! small head plus the records an event names). No I/O and no AWS types: the processor loads the
//! view and the directory, calls `apply_event`, and writes what changed in one transaction.

mod admission;
mod apply;
mod approval;
pub mod book;
mod customer;
mod directory;
pub mod legacy;
mod outcome;
mod reason;
mod records;
mod resolve;
mod view;

pub use admission::{admit, Admission, SeenEvent};
pub use apply::{apply_event, EngineError};
pub use approval::{approve_commission, approve_due};
pub use customer::{AffiliateAttribution, Attribution, AttributionSource, CustomerHead};
pub use directory::{Affiliate, Directory, EmailOwner, MemoryDirectory};
pub use outcome::{Applied, Outcome, OutcomeKind, ReviewItem, ReviewKind};
pub use reason::Reason;
pub use records::{
    Challenge, ChallengeRecord, ParkedRef, Record, RecordKey, Transaction, TransactionKind,
    TransactionRecord, MAX_PARKED_PER_RECORD,
};
pub use resolve::{resolve_review, ResolveError, Resolved, ReviewAction};
pub use view::{ChangedRecord, CustomerView, Needed, Slot};
