//! Per-affiliate payout statements from a DynamoDB export of the ledger table.
//!
//!   statements --export <folder> --out <new folder> [--from <instant>] [--to <instant>]
//!
//! `<folder>` is the export's `AWSDynamoDB/<export id>/` folder (manifest-summary.json,
//! manifest-files.json, data/). The period is the entries booked after `--from` (default: the
//! beginning) up to and including `--to` (default: the export's time). Writes, per affiliate with a
//! balance or activity, `<affiliate>.csv` (every line) and `<affiliate>.html` (the statement), and
//! `summary.csv` (one row per affiliate and currency). Exit status 1 with the reason (the file
//! and line, for a bad export) and nothing written when anything is wrong.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use shared::finance::run::{run, Options};

const USAGE: &str = "usage: statements --export <folder> --out <new folder> [--from <RFC 3339 instant>] [--to <RFC 3339 instant>] [--progress|--no-progress]";

fn instant(flag: &str, value: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{flag} {value:?} is not an RFC 3339 instant ({e})"))
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut export = None;
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
            "--export" => export = Some(PathBuf::from(value()?)),
            "--out" => out = Some(PathBuf::from(value()?)),
            "--from" => from = Some(instant("--from", &value()?)?),
            "--to" => to = Some(instant("--to", &value()?)?),
            "--progress" => progress = true,
            "--no-progress" => progress = false,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Options {
        export: export.ok_or("--export is required")?,
        out: out.ok_or("--out is required")?,
        from,
        to,
        progress,
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse(&args) {
        Ok(o) => o,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("statements: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&opts) {
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
