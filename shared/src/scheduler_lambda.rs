//! Lambda glue for the scheduler: an EventBridge scheduled event in, one tick at the event's
//! `time`, a JSON report out. A tick with failed writes returns an error, so the schedule's retry
//! policy runs it again (ticks are idempotent) and, past its limit, its dead-letter queue keeps it.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{service_fn, LambdaEvent};

use crate::adapters::dynamo::{
    DynamoStore, Tables, CUSTOMERS_TABLE_VAR, LEDGER_TABLE_VAR, RECORDS_TABLE_VAR,
    REVIEWS_TABLE_VAR, STATS_TABLE_VAR,
};
use crate::quality::AnomalyRules;
use crate::scheduler::{
    anomaly_rules_from_env, concurrent_writes_from_env, run_tick, tick_config_from_env,
    SchedulerStore, TickConfig, TickReport,
};

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("environment variable {0} is not set")]
    MissingVar(&'static str),
    #[error("{0}")]
    Config(String),
    #[error("the scheduled event has no time; a tick needs its instant")]
    NoTime,
    #[error("tick at {now}: {failed} customer writes failed; retrying the tick")]
    PartialFailure { now: String, failed: usize },
    #[error("tick could not read due customers: {0}")]
    Store(#[from] crate::processor::StoreError),
}

fn var(name: &'static str) -> Result<String, SchedulerError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(SchedulerError::MissingVar(name))
}

/// The scheduler touches customers, records, ledger, reviews and stats only. The other tables are named so any
/// accidental use fails loudly at DynamoDB instead of reaching a real table.
pub fn scheduler_tables_from_env() -> Result<Tables, SchedulerError> {
    const UNUSED: &str = "not-used-by-the-scheduler";
    Ok(Tables {
        customers: var(CUSTOMERS_TABLE_VAR)?,
        records: var(RECORDS_TABLE_VAR)?,
        ledger: var(LEDGER_TABLE_VAR)?,
        reviews: var(REVIEWS_TABLE_VAR)?,
        events: UNUSED.into(),
        email_matches: UNUSED.into(),
        directory: UNUSED.into(),
        stats: var(STATS_TABLE_VAR)?,
    })
}

/// One invocation: the tick's instant is the scheduled event's `time`, never the clock.
pub async fn handle_tick<S: SchedulerStore>(
    store: &S,
    config: &TickConfig,
    rules: &AnomalyRules,
    event: EventBridgeEvent<serde_json::Value>,
) -> Result<TickReport, SchedulerError> {
    let now = event.time.ok_or(SchedulerError::NoTime)?;
    let report = run_tick(store, now, config, rules).await?;
    if report.failed > 0 {
        return Err(SchedulerError::PartialFailure {
            now: report.now,
            failed: report.failed,
        });
    }
    Ok(report)
}

pub async fn run() -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init();
    let config = tick_config_from_env().map_err(SchedulerError::Config)?;
    let rules = anomaly_rules_from_env().map_err(SchedulerError::Config)?;
    let writes = concurrent_writes_from_env().map_err(SchedulerError::Config)?;
    let tables = scheduler_tables_from_env()?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), tables)
        .with_tick_config(config)
        .with_concurrent_writes(writes);
    let (store, config, rules) = (&store, &config, &rules);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent<serde_json::Value>>| async move {
            // The error text goes to the invocation's error record (retried by EventBridge).
            handle_tick(store, config, rules, event.payload)
                .await
                .map_err(|e| e.to_string())
        },
    ))
    .await
}
