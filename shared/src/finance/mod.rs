//! Finance: statements from DynamoDB exports of the ledger. Pure domain (`booked`, `statement`);
//! reading an export and writing statements (`export`, `render`, `run`) need the `finance` feature.

pub mod booked;
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
pub mod spill;
