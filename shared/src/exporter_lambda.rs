//! Lambda glue for the finance exports: an EventBridge scheduled event in, the ledger and stats
//! tables exported at the event's `time` (the cut-off), a JSON report out. An export DynamoDB
//! refused makes the invocation fail, so the schedule's retry policy runs it again (the client
//! tokens make a rerun find the exports already started) and, past its limit, its dead-letter
//! queue keeps it.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{service_fn, LambdaEvent};
use tracing::Instrument;

use crate::adapters::dynamo::DynamoExporter;
use crate::finance::exports::{
    export_requests, start_exports, ExportRun, TableExporter, LEDGER_LABEL, STATS_LABEL,
};

pub const EXPORT_BUCKET_VAR: &str = "EXPORT_BUCKET";
pub const LEDGER_TABLE_ARN_VAR: &str = "LEDGER_TABLE_ARN";
pub const STATS_TABLE_ARN_VAR: &str = "STATS_TABLE_ARN";

#[derive(Debug, thiserror::Error)]
pub enum ExportLambdaError {
    #[error("environment variable {0} is not set")]
    MissingVar(&'static str),
    #[error("the scheduled event has no time; an export needs its cut-off")]
    NoTime,
    #[error("exports at {cut_off}: {failed}")]
    Refused { cut_off: String, failed: String },
}

/// Where the exports go and which tables they are of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportTargets {
    pub bucket: String,
    pub tables: Vec<(&'static str, String)>,
}

fn var(name: &'static str) -> Result<String, ExportLambdaError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(ExportLambdaError::MissingVar(name))
}

pub fn export_targets_from_env() -> Result<ExportTargets, ExportLambdaError> {
    Ok(ExportTargets {
        bucket: var(EXPORT_BUCKET_VAR)?,
        tables: vec![
            (LEDGER_LABEL, var(LEDGER_TABLE_ARN_VAR)?),
            (STATS_LABEL, var(STATS_TABLE_ARN_VAR)?),
        ],
    })
}

/// One invocation: the cut-off is the scheduled event's `time`, never the clock, so a retried
/// event asks for the same exports with the same tokens.
pub async fn handle_export<E: TableExporter>(
    exporter: &E,
    targets: &ExportTargets,
    event: EventBridgeEvent<serde_json::Value>,
) -> Result<ExportRun, ExportLambdaError> {
    let cut_off = event.time.ok_or(ExportLambdaError::NoTime)?;
    let requests = export_requests(&targets.bucket, &targets.tables, cut_off);
    let run = start_exports(exporter, &requests).await;
    for s in &run.started {
        tracing::info!(table = s.table, export_arn = %s.export_arn, location = %s.location, "export started");
    }
    for f in &run.failed {
        tracing::error!(table = f.table, error = %f.error, retryable = f.retryable, "export refused");
    }
    if !run.failed.is_empty() {
        let failed = run
            .failed
            .iter()
            .map(|f| format!("{}: {}", f.table, f.error))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(ExportLambdaError::Refused {
            cut_off: run.cut_off,
            failed,
        });
    }
    Ok(run)
}

pub async fn run() -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init();
    let targets = export_targets_from_env()?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let exporter = DynamoExporter::new(aws_sdk_dynamodb::Client::new(&sdk));
    let (exporter, targets) = (&exporter, &targets);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent<serde_json::Value>>| async move {
            let event_id = event.payload.id.clone().unwrap_or_default();
            let span = tracing::info_span!("export", event_id = %event_id);
            handle_export(exporter, targets, event.payload)
                .instrument(span)
                .await
                .map_err(|e| e.to_string())
        },
    ))
    .await
}
