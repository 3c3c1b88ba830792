//! The statements command: an export in, a folder of statements out, in memory that does not grow
//! with the export.
//!
//! Pass 1 streams every data file (checking manifests, counts and checksums, and parsing every
//! item) and appends each line to one of N bucket files by its affiliate, N chosen so a bucket
//! holds about `BUCKET_ITEMS` items. Pass 2 loads one bucket at a time, groups it by affiliate and
//! writes each affiliate's statement. Everything is written into a staging folder that is renamed
//! to the output folder only when every statement is written: a bad export leaves no statement.

use std::collections::HashMap;
use std::fs::{self, File};
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::booked::BookedEntry;
use super::export::{Export, ExportError};
use super::render;
use super::spill;
use super::statement::{statement, Category, Period, StatementError};

/// Items per bucket in pass 2 (about 25 MB of entries at most in memory at once).
pub const BUCKET_ITEMS: u64 = 50_000;

#[derive(Debug, Clone)]
pub struct Options {
    pub export: PathBuf,
    pub out: PathBuf,
    pub from: Option<DateTime<Utc>>,
    /// Default: the export's time.
    pub to: Option<DateTime<Utc>>,
    /// Progress lines on standard error (by default when it is a terminal).
    pub progress: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    Fetch(#[from] super::s3::FetchError),
    #[error("affiliate {affiliate_id}: {error}")]
    Statement {
        affiliate_id: String,
        error: StatementError,
    },
    #[error("{0}")]
    Usage(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |source| RunError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What one run produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub items: u64,
    pub buckets: u64,
    pub affiliates: u64,
    pub statements: u64,
    /// Closing payable balance per currency, summed over affiliates.
    pub closing_by_currency: Vec<(String, Decimal)>,
    pub out: PathBuf,
    /// Reading and checking the export (pass 1), and writing the statements (pass 2).
    pub read_seconds: f64,
    pub write_seconds: f64,
}

/// One row of `summary.csv`.
struct SummaryRow {
    affiliate_id: String,
    statement_id: String,
    currency: String,
    opening: Decimal,
    totals: Vec<Decimal>,
    closing: Decimal,
    lines: usize,
}

fn bucket_of(affiliate_id: &str, buckets: u64) -> u64 {
    // SipHash with fixed keys: the same affiliate lands in the same bucket on every run.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    affiliate_id.hash(&mut h);
    h.finish() % buckets
}

/// A statement's files are named after the affiliate: only ids that are safe as file names.
fn file_stem(affiliate_id: &str) -> Result<&str, RunError> {
    let ok = !affiliate_id.is_empty()
        && affiliate_id.len() <= 128
        && !affiliate_id.starts_with('.')
        && affiliate_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(affiliate_id)
    } else {
        Err(RunError::Usage(format!(
            "affiliate id {affiliate_id:?} cannot name a statement file"
        )))
    }
}

/// A working folder next to `out` (same filesystem, so the final rename is atomic):
/// `.<out name>.<what>-<pid>`. Refuses an `out` that exists (statements are never overwritten) and
/// creates `out`'s parent.
pub(super) fn beside_out(out: &Path, what: &str) -> Result<PathBuf, RunError> {
    if out.exists() {
        return Err(RunError::Usage(format!(
            "{} already exists: statements are never overwritten; choose another --out",
            out.display()
        )));
    }
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(io(parent))?;
    Ok(parent.join(format!(
        ".{}.{what}-{}",
        out.file_name()
            .map_or("statements".into(), |n| n.to_string_lossy()),
        std::process::id()
    )))
}

pub fn run(opts: &Options) -> Result<Report, RunError> {
    let export = Export::open(&opts.export)?;
    let to = opts.to.unwrap_or(export.export_time);
    if to > export.export_time {
        return Err(RunError::Usage(format!(
            "--to {} is after the export's time {}: the export cannot hold what was booked since",
            to.to_rfc3339(),
            export.export_time.to_rfc3339()
        )));
    }
    if let Some(from) = opts.from {
        if from >= to {
            return Err(RunError::Usage(format!(
                "--from {} is not before --to {}",
                from.to_rfc3339(),
                to.to_rfc3339()
            )));
        }
    }
    let period = Period {
        from: opts.from,
        to,
    };
    let staging = beside_out(&opts.out, "partial")?;
    let result = write_statements(&export, period, &staging, opts.progress);
    match result {
        Ok(mut report) => {
            fs::rename(&staging, &opts.out).map_err(io(&opts.out))?;
            report.out = opts.out.clone();
            Ok(report)
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}

fn write_statements(
    export: &Export,
    period: Period,
    staging: &Path,
    progress: bool,
) -> Result<Report, RunError> {
    let buckets = export.item_count.div_ceil(BUCKET_ITEMS).max(1);
    let work = staging.join(".buckets");
    fs::create_dir_all(&work).map_err(io(&work))?;
    let mut writers = Vec::with_capacity(buckets as usize);
    for b in 0..buckets {
        let path = work.join(format!("{b:05}.tsv"));
        let file = File::create(&path).map_err(io(&path))?;
        writers.push((path, BufWriter::with_capacity(64 * 1024, file)));
    }
    let progress = progress && std::io::stderr().is_terminal();
    let total = export.item_count;
    let mut seen = 0u64;
    let started = std::time::Instant::now();
    // Pass 1: validate every item, and route its line to its affiliate's bucket.
    let mut encoded = String::with_capacity(512);
    export.for_each_item(|_, entry| {
        let (path, w) = &mut writers[bucket_of(&entry.affiliate_id, buckets) as usize];
        encoded.clear();
        spill::encode(&entry, &mut encoded);
        w.write_all(encoded.as_bytes())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        seen += 1;
        if progress && seen % 100_000 == 0 {
            eprint!("\rstatements: read {seen} of {total} items");
        }
        Ok(())
    })?;
    for (path, mut w) in writers.drain(..) {
        w.flush().map_err(io(&path))?;
    }
    if progress {
        eprintln!("\rstatements: read {seen} of {total} items, checked");
    }

    // Pass 2: one bucket at a time.
    let mut summary: Vec<SummaryRow> = Vec::new();
    let mut report = Report {
        items: seen,
        buckets,
        read_seconds: started.elapsed().as_secs_f64(),
        ..Report::default()
    };
    let started = std::time::Instant::now();
    for b in 0..buckets {
        let path = work.join(format!("{b:05}.tsv"));
        let file = File::open(&path).map_err(io(&path))?;
        let mut by_affiliate: HashMap<String, Vec<BookedEntry>> = HashMap::new();
        let mut reader = BufReader::with_capacity(256 * 1024, file);
        let mut line = String::with_capacity(512);
        loop {
            line.clear();
            if reader.read_line(&mut line).map_err(io(&path))? == 0 {
                break;
            }
            // Checked in pass 1; a failure here is the local disk's, and still an error.
            let entry = spill::decode(line.trim_end_matches('\n')).map_err(|e| RunError::Io {
                path: path.clone(),
                source: std::io::Error::other(format!("re-reading a checked item: {e}")),
            })?;
            // The key is copied once per affiliate, not once per entry.
            match by_affiliate.get_mut(&entry.affiliate_id) {
                Some(entries) => entries.push(entry),
                None => {
                    by_affiliate.insert(entry.affiliate_id.clone(), vec![entry]);
                }
            }
        }
        fs::remove_file(&path).map_err(io(&path))?;
        let mut affiliates: Vec<_> = by_affiliate.into_iter().collect();
        affiliates.sort_by(|a, b| a.0.cmp(&b.0));
        for (affiliate_id, entries) in affiliates {
            report.affiliates += 1;
            let stem = file_stem(&affiliate_id)?.to_owned();
            let st =
                statement(&affiliate_id, entries, period).map_err(|error| RunError::Statement {
                    affiliate_id: affiliate_id.clone(),
                    error,
                })?;
            if st.currencies.is_empty() {
                continue;
            }
            let id = render::statement_id(&st);
            let csv_path = staging.join(format!("{stem}.csv"));
            let csv_file = BufWriter::new(File::create(&csv_path).map_err(io(&csv_path))?);
            render::write_csv(&st, csv_file).map_err(|e| RunError::Io {
                path: csv_path.clone(),
                source: std::io::Error::other(e.to_string()),
            })?;
            let html_path = staging.join(format!("{stem}.html"));
            fs::write(&html_path, render::html(&st)).map_err(io(&html_path))?;
            report.statements += 1;
            for c in &st.currencies {
                summary.push(SummaryRow {
                    affiliate_id: affiliate_id.clone(),
                    statement_id: id.clone(),
                    currency: c.currency.code().to_owned(),
                    opening: c.opening,
                    totals: Category::ALL
                        .iter()
                        .map(|k| c.totals.get(k).copied().unwrap_or_default())
                        .collect(),
                    closing: c.closing,
                    lines: c.lines.len(),
                });
            }
        }
        if progress {
            eprint!("\rstatements: wrote bucket {} of {buckets}", b + 1);
        }
    }
    if progress {
        eprintln!();
    }
    fs::remove_dir(&work).map_err(io(&work))?;
    summary.sort_by(|a, b| (&a.affiliate_id, &a.currency).cmp(&(&b.affiliate_id, &b.currency)));
    let mut closing: std::collections::BTreeMap<String, Decimal> = Default::default();
    let summary_path = staging.join("summary.csv");
    let mut w = csv::Writer::from_path(&summary_path).map_err(|e| RunError::Io {
        path: summary_path.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let mut header = vec!["affiliate_id", "statement_id", "currency", "opening"];
    header.extend(Category::ALL.iter().map(|c| c.as_str()));
    header.extend(["closing", "lines"]);
    let csv_err = |e: csv::Error| RunError::Io {
        path: summary_path.clone(),
        source: std::io::Error::other(e.to_string()),
    };
    w.write_record(&header).map_err(csv_err)?;
    for row in &summary {
        let c = closing.entry(row.currency.clone()).or_default();
        *c = crate::money::add(*c, row.closing).map_err(|e| RunError::Statement {
            affiliate_id: row.affiliate_id.clone(),
            error: e.into(),
        })?;
        let mut record = vec![
            row.affiliate_id.clone(),
            row.statement_id.clone(),
            row.currency.clone(),
            row.opening.to_string(),
        ];
        record.extend(row.totals.iter().map(|d| d.to_string()));
        record.extend([row.closing.to_string(), row.lines.to_string()]);
        w.write_record(&record).map_err(csv_err)?;
    }
    w.flush().map_err(io(&summary_path))?;
    report.closing_by_currency = closing.into_iter().collect();
    report.write_seconds = started.elapsed().as_secs_f64();
    Ok(report)
}
