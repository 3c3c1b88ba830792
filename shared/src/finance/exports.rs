//! Which exports to ask DynamoDB for at a cut-off, and starting them: one per exported table
//! (ledger, stats), each under a prefix that names the table and the cut-off, with a client token
//! derived from both, so a repeated request (a retried schedule, a second operator, the schedule
//! and the command at the same cut-off) starts the export once. The port `TableExporter` is
//! `ExportTableToPointInTime` and `DescribeExport`; the DynamoDB adapter implements it.

use std::future::Future;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

/// The tables finance exports, by the label that names their prefix and their Athena table.
pub const LEDGER_LABEL: &str = "ledger";
pub const STATS_LABEL: &str = "stats";

/// One export to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRequest {
    /// `ledger` or `stats`: names the prefix and the Athena table.
    pub table_label: &'static str,
    pub table_arn: String,
    pub bucket: String,
    /// `<label>/<cut-off as YYYY-MM-DDTHH-MM-SSZ>`: DynamoDB adds `/AWSDynamoDB/<export id>/`.
    pub prefix: String,
    /// The point in time exported (whole seconds).
    pub export_time: DateTime<Utc>,
    /// Deterministic per table and cut-off. DynamoDB keeps a token for 8 hours: a request with the
    /// same token and parameters in that time returns the export already started.
    pub client_token: String,
}

/// The cut-off a schedule tick or a command exports: its time, to the whole second (the prefix
/// names whole seconds, and two requests within one second are the same export).
pub fn cut_off_of(instant: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(instant.timestamp(), 0).unwrap_or(instant)
}

/// The prefix stamp of a cut-off: no colons, so it is a plain S3 path segment.
pub fn cut_off_stamp(cut_off: DateTime<Utc>) -> String {
    cut_off_of(cut_off).format("%Y-%m-%dT%H-%M-%SZ").to_string()
}

/// A cut-off must be in the past: DynamoDB exports what a table held at a moment it has seen
/// (`InvalidExportTimeException` otherwise), and a statement cut at a future moment could change.
pub fn check_cut_off(cut_off: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), String> {
    if cut_off > now {
        return Err(format!(
            "cut-off {} is in the future (now {}): an export is of a moment that has passed",
            cut_off.to_rfc3339_opts(SecondsFormat::Secs, true),
            now.to_rfc3339_opts(SecondsFormat::Secs, true)
        ));
    }
    Ok(())
}

pub fn export_requests(
    bucket: &str,
    tables: &[(&'static str, String)],
    cut_off: DateTime<Utc>,
) -> Vec<ExportRequest> {
    let cut_off = cut_off_of(cut_off);
    let stamp = cut_off_stamp(cut_off);
    tables
        .iter()
        .map(|(label, arn)| {
            let digest = blake3::hash(format!("{arn}\n{stamp}").as_bytes());
            ExportRequest {
                table_label: label,
                table_arn: arn.clone(),
                bucket: bucket.to_owned(),
                prefix: format!("{label}/{stamp}"),
                export_time: cut_off,
                client_token: digest.to_hex()[..32].to_owned(),
            }
        })
        .collect()
}

/// Where an export stands, as `DescribeExport` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExportStatus {
    InProgress,
    Completed,
    Failed { code: String, message: String },
}

/// An export DynamoDB accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StartedExport {
    pub table: &'static str,
    pub export_arn: String,
    /// `s3://<bucket>/<prefix>/AWSDynamoDB/<export id>/`: what the statements command reads.
    pub location: String,
    #[serde(flatten)]
    pub status: ExportStatus,
}

/// The export's folder: DynamoDB writes under `<prefix>/AWSDynamoDB/<export id>/`, the export id
/// being the last segment of its ARN (`<table arn>/export/<export id>`).
pub fn export_location(bucket: &str, prefix: &str, export_arn: &str) -> String {
    let id = export_arn.rsplit('/').next().unwrap_or(export_arn);
    format!(
        "s3://{bucket}/{}/AWSDynamoDB/{id}/",
        prefix.trim_end_matches('/')
    )
}

/// Why DynamoDB refused or lost an export request. `retryable` is the SDK's view (throttling,
/// a 5xx, a timeout): a schedule retries those; a refusal (no PITR, no such table, a token reused
/// with other parameters) needs a person.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{message}")]
pub struct ExporterError {
    pub message: String,
    pub retryable: bool,
}

/// `ExportTableToPointInTime` and `DescribeExport`.
pub trait TableExporter {
    fn start(
        &self,
        request: &ExportRequest,
    ) -> impl Future<Output = Result<(String, ExportStatus), ExporterError>>;
    fn describe(
        &self,
        export_arn: &str,
    ) -> impl Future<Output = Result<ExportStatus, ExporterError>>;
}

/// What one run started, and what it could not.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExportRun {
    pub cut_off: String,
    pub started: Vec<StartedExport>,
    pub failed: Vec<FailedExport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailedExport {
    pub table: &'static str,
    pub error: String,
    pub retryable: bool,
}

/// Starts every export of the cut-off. One table's refusal does not keep the other from starting;
/// the run reports both, and a rerun at the same cut-off finds the started one by its token.
pub async fn start_exports<E: TableExporter>(
    exporter: &E,
    requests: &[ExportRequest],
) -> ExportRun {
    let mut run = ExportRun {
        cut_off: requests
            .first()
            .map(|r| r.export_time.to_rfc3339_opts(SecondsFormat::Secs, true))
            .unwrap_or_default(),
        ..ExportRun::default()
    };
    for request in requests {
        match exporter.start(request).await {
            Ok((export_arn, status)) => run.started.push(StartedExport {
                table: request.table_label,
                location: export_location(&request.bucket, &request.prefix, &export_arn),
                export_arn,
                status,
            }),
            Err(e) => run.failed.push(FailedExport {
                table: request.table_label,
                error: e.message,
                retryable: e.retryable,
            }),
        }
    }
    run
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn tables() -> [(&'static str, String); 2] {
        [
            (
                LEDGER_LABEL,
                "arn:aws:dynamodb:us-east-1:1:table/l".to_owned(),
            ),
            (
                STATS_LABEL,
                "arn:aws:dynamodb:us-east-1:1:table/s".to_owned(),
            ),
        ]
    }

    #[test]
    fn one_request_per_table_named_by_table_and_cut_off_with_a_stable_token() {
        let t: DateTime<Utc> = "2026-12-03T00:00:00.750Z".parse().unwrap();
        let a = export_requests("b", &tables(), t);
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].prefix, "ledger/2026-12-03T00-00-00Z");
        assert_eq!(a[1].prefix, "stats/2026-12-03T00-00-00Z");
        assert_eq!(a[0].export_time.to_rfc3339(), "2026-12-03T00:00:00+00:00");
        assert_eq!(a[0].client_token.len(), 32);
        assert_ne!(a[0].client_token, a[1].client_token);
        // the same cut-off again: the same tokens (DynamoDB starts each export once)
        assert_eq!(export_requests("b", &tables(), t), a);
        let later = export_requests("b", &tables(), t + chrono::Duration::seconds(1));
        assert_ne!(later[0].client_token, a[0].client_token);
    }

    #[test]
    fn a_cut_off_may_be_now_or_earlier_never_later() {
        let now: DateTime<Utc> = "2026-12-03T12:00:00Z".parse().unwrap();
        assert!(check_cut_off(now, now).is_ok());
        assert!(check_cut_off(now - chrono::Duration::days(1), now).is_ok());
        let e = check_cut_off(now + chrono::Duration::seconds(1), now).unwrap_err();
        assert!(e.contains("2026-12-03T12:00:01Z is in the future"), "{e}");
    }

    #[test]
    fn the_location_is_the_prefix_and_the_export_id() {
        assert_eq!(
            export_location(
                "bkt",
                "ledger/2026-12-03T00-00-00Z",
                "arn:aws:dynamodb:us-east-1:1:table/l/export/01764720000000-a1b2c3d4"
            ),
            "s3://bkt/ledger/2026-12-03T00-00-00Z/AWSDynamoDB/01764720000000-a1b2c3d4/"
        );
    }

    /// Refuses the stats table, accepts the ledger; records what it was asked.
    struct HalfRefusing {
        asked: RefCell<Vec<String>>,
    }

    impl TableExporter for HalfRefusing {
        async fn start(&self, r: &ExportRequest) -> Result<(String, ExportStatus), ExporterError> {
            self.asked.borrow_mut().push(r.client_token.clone());
            if r.table_label == STATS_LABEL {
                return Err(ExporterError {
                    message: "PointInTimeRecoveryUnavailableException: PITR is off".into(),
                    retryable: false,
                });
            }
            Ok((
                format!("{}/export/01-x", r.table_arn),
                ExportStatus::InProgress,
            ))
        }
        async fn describe(&self, _: &str) -> Result<ExportStatus, ExporterError> {
            Ok(ExportStatus::Completed)
        }
    }

    #[tokio::test]
    async fn a_refused_table_does_not_keep_the_other_from_starting() {
        let exporter = HalfRefusing {
            asked: RefCell::new(vec![]),
        };
        let t: DateTime<Utc> = "2026-12-03T00:00:00Z".parse().unwrap();
        let requests = export_requests("b", &tables(), t);
        let run = start_exports(&exporter, &requests).await;
        assert_eq!(exporter.asked.borrow().len(), 2);
        assert_eq!(run.cut_off, "2026-12-03T00:00:00Z");
        assert_eq!(run.started.len(), 1);
        assert_eq!(run.started[0].table, "ledger");
        assert_eq!(
            run.started[0].location,
            "s3://b/ledger/2026-12-03T00-00-00Z/AWSDynamoDB/01-x/"
        );
        assert_eq!(run.failed.len(), 1);
        assert_eq!(run.failed[0].table, "stats");
        assert!(!run.failed[0].retryable);
        let json = serde_json::to_value(&run).unwrap();
        assert_eq!(json["started"][0]["status"], "IN_PROGRESS");
    }
}
