//! Finance: statements from DynamoDB exports of the ledger. Pure domain (`booked`, `statement`,
//! `payout`, `exports`: which exports to start at a cut-off); reading an export from a folder or
//! S3 and writing statements (`export`, `s3`, `render`, `run`) need the `finance` feature.

pub mod booked;
pub mod exports;
pub mod payout;
pub mod statement;

#[cfg(feature = "finance")]
pub mod export;
#[cfg(feature = "finance")]
pub mod fixture;
#[cfg(feature = "finance")]
pub mod render;
#[cfg(feature = "finance")]
pub mod run;
#[cfg(feature = "finance")]
pub mod s3;
#[cfg(feature = "finance")]
pub mod spill;
