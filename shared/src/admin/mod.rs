//! The admin API (SPEC "Admin"): ops and affiliate managers work the review queue and read a
//! customer's story. Framework-free like the rest of the domain: `caller` checks who is calling,
//! `request` parses what they ask (allow-listed), `service` answers it through the `store` port,
//! `views` shapes the answers and `error` maps every failure to one status.

pub mod affiliate;
pub mod caller;
pub mod console;
pub mod directory;
mod directory_service;
pub mod error;
pub mod request;
pub mod service;
pub mod store;
pub mod views;

pub use caller::{authorize, AuthError, AuthSettings, Caller, Role};
pub use error::AdminError;
pub use request::{parse, AdminRequest, HttpRequest, MAX_ADMIN_BODY_BYTES, MAX_PAGE};
pub use service::{AdminApi, AdminResponse};
pub use store::{
    AdminStore, InvalidCursor, Page, ResolutionCommit, ReviewResolution, StoredEvent, StoredReview,
};
