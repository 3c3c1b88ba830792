//! AWS adapters for the domain's ports. The only place in `shared` that names AWS SDK types.

#[cfg(feature = "dynamodb")]
pub mod dynamo;
pub mod secrets;
pub mod sqs;
