//! Lifecycle commission tracking for prop trading firms: the domain and the ingest core.
//!
//! Everything outside `adapters`, `lambda` and `telemetry` is free of AWS and Lambda types. Those
//! three sit behind the `aws` and `lambda` features, at the edge.

pub mod admin;
pub mod clock;
pub mod email;
pub mod engine;
pub mod events;
pub mod finance;
pub mod ingest;
pub mod ledger;
pub mod money;
pub mod plans;
pub mod processor;
pub mod quality;
pub mod scheduler;
pub mod signing;

#[cfg(feature = "aws")]
pub mod adapters;
#[cfg(feature = "admin")]
pub mod admin_lambda;
#[cfg(feature = "exporter")]
pub mod exporter_lambda;
#[cfg(feature = "lambda")]
pub mod lambda;
#[cfg(feature = "processor")]
pub mod processor_lambda;
#[cfg(feature = "scheduler")]
pub mod scheduler_lambda;
#[cfg(feature = "telemetry")]
pub mod telemetry;
