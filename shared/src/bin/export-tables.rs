//! On demand: exports the ledger and stats tables to the export bucket at a cut-off, exactly as
//! the scheduled exporter function does (same prefixes, same client tokens: asking again for a
//! cut-off the schedule already exported starts nothing new).
//!
//! ```sh
//! EXPORT_BUCKET=… LEDGER_TABLE_ARN=… STATS_TABLE_ARN=… \
//!   cargo run --release -p shared --features exporter --bin export-tables -- [--cut-off <instant>] [--wait]
//! ```
//! The variables are the exporter function's (template.yaml). `--cut-off` defaults to now and may
//! not be in the future. `--wait` polls DescribeExport until every export is COMPLETED (or one
//! FAILED, or `--wait-minutes` pass, default 60). Credentials and region come from the usual AWS
//! environment; `--endpoint-url URL` points it at the local stack. Prints a JSON report (each
//! export's ARN, status and the `s3://…` folder the statements command reads); exits non-zero if
//! an export was refused, failed or did not finish in time.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use shared::adapters::dynamo::DynamoExporter;
use shared::exporter_lambda::{export_targets_from_env, ExportTargets};
use shared::finance::exports::{
    check_cut_off, export_requests, start_exports, ExportStatus, TableExporter,
};

const USAGE: &str = "usage: export-tables [--cut-off <RFC 3339 instant>] [--wait] [--wait-minutes N] [--endpoint-url URL]\n\
    environment: EXPORT_BUCKET, LEDGER_TABLE_ARN, STATS_TABLE_ARN (as the template sets them on ExporterFunction)";

const POLL: Duration = Duration::from_secs(5);

struct Args {
    cut_off: Option<DateTime<Utc>>,
    wait: Option<Duration>,
    endpoint: Option<String>,
}

fn parse() -> Result<Option<Args>, String> {
    let mut args = std::env::args().skip(1);
    let mut out = Args {
        cut_off: None,
        wait: None,
        endpoint: None,
    };
    let mut minutes = 60u64;
    let mut wait = false;
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--cut-off" => {
                let v = value()?;
                out.cut_off = Some(
                    DateTime::parse_from_rfc3339(&v)
                        .map_err(|e| format!("--cut-off {v:?} is not an RFC 3339 instant ({e})"))?
                        .with_timezone(&Utc),
                )
            }
            "--wait" => wait = true,
            "--wait-minutes" => {
                let v = value()?;
                minutes = v.parse().ok().filter(|m| *m > 0).ok_or(format!(
                    "--wait-minutes {v:?} is not a positive whole number"
                ))?;
                wait = true;
            }
            "--endpoint-url" => out.endpoint = Some(value()?),
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    out.wait = wait.then(|| Duration::from_secs(minutes * 60));
    Ok(Some(out))
}

async fn run(args: Args, targets: ExportTargets) -> Result<(String, bool), String> {
    let now = Utc::now();
    let cut_off = args.cut_off.unwrap_or(now);
    check_cut_off(cut_off, now)?;
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(url) = args.endpoint {
        loader = loader.endpoint_url(url);
    }
    let sdk = loader.load().await;
    let exporter = DynamoExporter::new(aws_sdk_dynamodb::Client::new(&sdk));
    let requests = export_requests(&targets.bucket, &targets.tables, cut_off);
    let mut run = start_exports(&exporter, &requests).await;
    if let Some(limit) = args.wait {
        let started = Instant::now();
        while run.failed.is_empty()
            && run
                .started
                .iter()
                .any(|s| s.status == ExportStatus::InProgress)
            && started.elapsed() < limit
        {
            tokio::time::sleep(POLL).await;
            for s in run
                .started
                .iter_mut()
                .filter(|s| s.status == ExportStatus::InProgress)
            {
                s.status = exporter
                    .describe(&s.export_arn)
                    .await
                    .map_err(|e| e.message)?;
            }
        }
    }
    let finished = run
        .started
        .iter()
        .all(|s| s.status == ExportStatus::Completed);
    let ok = run.failed.is_empty()
        && !run
            .started
            .iter()
            .any(|s| matches!(s.status, ExportStatus::Failed { .. }))
        && (args.wait.is_none() || finished);
    Ok((serde_json::to_string_pretty(&run).expect("report JSON"), ok))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match parse() {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("export-tables: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let targets = match export_targets_from_env() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("export-tables: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args, targets).await {
        Ok((report, ok)) => {
            println!("{report}");
            if ok {
                ExitCode::SUCCESS
            } else {
                eprintln!("export-tables: an export was refused, failed or did not finish; see the report");
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("export-tables: {e}");
            ExitCode::FAILURE
        }
    }
}
