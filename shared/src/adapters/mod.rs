//! AWS adapters for the domain's ports. The only place in `shared` that names AWS SDK types.

pub mod secrets;
pub mod sqs;
