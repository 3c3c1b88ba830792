//! Per-affiliate payout statements from a DynamoDB export of the ledger table.
//!
//!   statements --export <folder | s3://bucket/prefix> --out <new folder> [--from <instant>] [--to <instant>]
//!
//! `<folder>` is the export's `AWSDynamoDB/<export id>/` folder (manifest-summary.json,
//! manifest-files.json, data/). `s3://bucket/prefix` is the export's folder in S3 or a prefix
//! holding exactly one export (`s3://<ExportBucketName>/ledger/<cut-off>`, as the scheduled export
//! writes it); it is fetched beside `--out` first and removed afterwards. Credentials and region
//! come from the usual AWS environment; `--endpoint-url URL` points it at the local stack. The period is the entries booked after `--from` (default: the
//! beginning) up to and including `--to` (default: the export's time). Writes, per affiliate with a
//! balance or activity, `<affiliate>.csv` (every line) and `<affiliate>.html` (the statement), and
//! `summary.csv` (one row per affiliate and currency). Exit status 1 with the reason (the file
//! and line, for a bad export) and nothing written when anything is wrong.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use shared::finance::run::{run, Options, Report, RunError};
use shared::finance::s3::{parse_s3_url, run_from_s3, S3Url};

// The command builds and drops millions of short strings (each entry's fields, twice) between
// statement-sized buffers, and glibc's malloc spent a tenth of the run consolidating its free
// lists (perf). Measured with `cargo bench -p shared --features finance --bench statements`, 10^6
// entries on tmpfs, same VM and hour: glibc 11.3-12.4 s user CPU (12.2-13.7 s wall), mimalloc
// 8.5-9.1 s (9.4-10.0 s wall); peak RSS 34 MB -> 63-67 MB, still flat from 10^5 to 10^6.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage: statements --export <folder | s3://bucket/prefix> --out <new folder> [--from <RFC 3339 instant>] [--to <RFC 3339 instant>] [--progress|--no-progress] [--endpoint-url URL]";

/// What the command was asked.
struct Command {
    opts: Options,
    /// Set when `--export` is an `s3://` URL.
    s3: Option<S3Url>,
    endpoint: Option<String>,
}

fn instant(flag: &str, value: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{flag} {value:?} is not an RFC 3339 instant ({e})"))
}

fn parse(args: &[String]) -> Result<Command, String> {
    let mut export: Option<String> = None;
    let mut endpoint = None;
    let mut out = None;
    let mut from = None;
    let mut to = None;
    let mut progress = true;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--export" => export = Some(value()?),
            "--endpoint-url" => endpoint = Some(value()?),
            "--out" => out = Some(PathBuf::from(value()?)),
            "--from" => from = Some(instant("--from", &value()?)?),
            "--to" => to = Some(instant("--to", &value()?)?),
            "--progress" => progress = true,
            "--no-progress" => progress = false,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let export = export.ok_or("--export is required")?;
    let s3 = if export.starts_with("s3://") {
        Some(parse_s3_url(&export).map_err(|e| e.to_string())?)
    } else {
        None
    };
    if endpoint.is_some() && s3.is_none() {
        return Err("--endpoint-url is for an s3:// export".into());
    }
    Ok(Command {
        opts: Options {
            export: PathBuf::from(export),
            out: out.ok_or("--out is required")?,
            from,
            to,
            progress,
        },
        s3,
        endpoint,
    })
}

/// Fetches the export from S3, then runs as on a folder.
fn run_s3(url: &S3Url, endpoint: Option<String>, opts: &Options) -> Result<Report, RunError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| RunError::Usage(format!("cannot start the S3 client's runtime: {e}")))?;
    runtime.block_on(async {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(url) = endpoint {
            loader = loader.endpoint_url(url);
        }
        let sdk = loader.load().await;
        // A local endpoint (moto) serves buckets by path, not by host name.
        let config = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(sdk.endpoint_url().is_some())
            .build();
        let client = aws_sdk_s3::Client::from_conf(config);
        let (fetched, report) = run_from_s3(&client, url, opts).await?;
        println!(
            "statements: fetched {} ({} files, {} bytes)",
            fetched.source, fetched.files, fetched.bytes
        );
        Ok(report)
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match parse(&args) {
        Ok(o) => o,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("statements: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let opts = &command.opts;
    let result = match &command.s3 {
        Some(url) => run_s3(url, command.endpoint.clone(), opts),
        None => run(opts),
    };
    match result {
        Ok(report) => {
            println!(
                "statements: {} items, {} affiliates, {} statements written to {}",
                report.items,
                report.affiliates,
                report.statements,
                report.out.display()
            );
            println!(
                "  read and checked the export in {:.2} s, wrote the statements in {:.2} s",
                report.read_seconds, report.write_seconds
            );
            for (currency, closing) in &report.closing_by_currency {
                println!("  closing payable, all affiliates: {closing} {currency}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("statements: {e}; nothing written");
            ExitCode::from(1)
        }
    }
}
