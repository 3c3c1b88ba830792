//! One-off: rewrites every customer still in the legacy whole-history format (before bounded
//! state) in the current format. The processor and the scheduler migrate a legacy customer on
//! first touch anyway; this finishes the ones nothing touches, so the legacy `DueWork` index can
//! be dropped. Idempotent, and safe beside running functions. See docs/dynamodb.md, "Migration".
//!
//! ```sh
//! CUSTOMERS_TABLE=… RECORDS_TABLE=… PARKED_REVIEW_AFTER_HOURS=72 \
//!   cargo run --release -p shared --features dynamodb --bin migrate-customers
//! ```
//! Credentials and region come from the usual AWS environment; `--endpoint-url URL` points it at
//! the local stack instead. It prints a JSON report and exits non-zero on any failure.

use std::process::ExitCode;

use shared::adapters::dynamo::{DynamoStore, Tables, CUSTOMERS_TABLE_VAR, RECORDS_TABLE_VAR};

const USAGE: &str = "usage: migrate-customers [--endpoint-url URL]\n\
    environment: CUSTOMERS_TABLE, RECORDS_TABLE, PARKED_REVIEW_AFTER_HOURS (as the template sets them)";

fn var(name: &str) -> Result<String, String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("environment variable {name} is not set\n{USAGE}"))
}

async fn run() -> Result<String, String> {
    let mut args = std::env::args().skip(1);
    let mut endpoint = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--endpoint-url" => {
                endpoint = Some(
                    args.next()
                        .ok_or(format!("--endpoint-url needs a URL\n{USAGE}"))?,
                )
            }
            "-h" | "--help" => return Ok(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let tick_config = shared::scheduler::tick_config_from_env()?;
    // Only the customers and records tables are touched.
    const UNUSED: &str = "not-used-by-the-migration";
    let tables = Tables {
        customers: var(CUSTOMERS_TABLE_VAR)?,
        records: var(RECORDS_TABLE_VAR)?,
        events: UNUSED.into(),
        ledger: UNUSED.into(),
        reviews: UNUSED.into(),
        email_matches: UNUSED.into(),
        directory: UNUSED.into(),
        stats: UNUSED.into(),
    };
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(url) = endpoint {
        loader = loader.endpoint_url(url);
    }
    let sdk = loader.load().await;
    let store =
        DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), tables).with_tick_config(tick_config);
    let report = store.migrate_all().await.map_err(|e| e.to_string())?;
    Ok(serde_json::to_string(&report).expect("report JSON"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("migrate-customers: {e}");
            ExitCode::FAILURE
        }
    }
}
