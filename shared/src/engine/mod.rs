//! The commission engine: attribution, plans and ledger rules applied to one customer's state.
//! No I/O and no AWS types: the processor loads state and directory, calls `apply_event`, and
//! writes what comes back in one transaction.

mod admission;
mod apply;
pub mod book;
mod directory;
mod outcome;
mod state;

pub use admission::{admit, Admission, SeenEvent};
pub use apply::{apply_event, approve_due, EngineError};
pub use directory::{Affiliate, Directory, EmailOwner, MemoryDirectory};
pub use outcome::{Applied, Outcome, OutcomeKind, ReviewItem, ReviewKind};
pub use state::{
    AffiliateAttribution, Attribution, AttributionSource, Challenge, CustomerState, ParkedEvent,
    Transaction, TransactionKind,
};
