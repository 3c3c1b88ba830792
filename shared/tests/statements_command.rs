//! The `statements` command on exports in DynamoDB's layout: totals to the cent, every line
//! traceable, and bad exports refused with the file and line, leaving nothing written.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use shared::finance::booked::{BookedEntry, BookedKind};
use shared::finance::export::write_export;
use shared::ledger::{CommissionStatus, EntryKind};
use shared::money::Currency;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}
fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

const TABLE: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/prop-ledger";

struct Ledger(Vec<BookedEntry>);

impl Ledger {
    #[allow(clippy::too_many_arguments)]
    fn entry(
        &mut self,
        affiliate: &str,
        commission: &str,
        version: u64,
        kind: EntryKind,
        amount: &str,
        currency: &str,
        status: CommissionStatus,
        at: &str,
    ) -> &mut Self {
        let n = self.0.len();
        self.0.push(BookedEntry {
            affiliate_id: affiliate.into(),
            entry_id: format!("evt-{n}#0"),
            commission_id: commission.into(),
            customer_id: Some(format!("cust-{commission}")),
            kind: BookedKind::Entry(kind),
            amount: d(amount),
            currency: Currency::from_str(currency).unwrap(),
            status: Some(status),
            event_id: Some(format!("evt-{n}")),
            effective_at: t(at),
            recorded_at: t(at),
            record_version: version,
            reason: kind.as_str().into(),
            corrects: None,
            statement_id: None,
        });
        self
    }

    fn payout(&mut self, affiliate: &str, statement: &str, amount: &str, at: &str) -> &mut Self {
        self.0.push(BookedEntry {
            affiliate_id: affiliate.into(),
            entry_id: format!("payout#{statement}#USD"),
            commission_id: format!("payout#{statement}#USD"),
            customer_id: None,
            kind: BookedKind::Payout,
            amount: d(amount),
            currency: Currency::from_str("USD").unwrap(),
            status: None,
            event_id: None,
            effective_at: t(at),
            recorded_at: t(at),
            record_version: 0,
            reason: "payout".into(),
            corrects: None,
            statement_id: Some(statement.into()),
        });
        self
    }
}

use CommissionStatus::*;
use EntryKind as K;

/// Two affiliates; worked out by hand below.
fn ledger() -> Vec<BookedEntry> {
    let mut l = Ledger(Vec::new());
    // aff-alpha, USD. October: c1 124.90 approved, c2 69.90 approved, paid 194.80 on Nov 1.
    l.entry(
        "aff-alpha",
        "c1",
        1,
        K::Commission,
        "124.9",
        "USD",
        Pending,
        "2026-10-01T10:00:00Z",
    )
    .entry(
        "aff-alpha",
        "c1",
        2,
        K::Approval,
        "0",
        "USD",
        Approved,
        "2026-10-03T10:00:00Z",
    )
    .entry(
        "aff-alpha",
        "c2",
        1,
        K::Commission,
        "69.9",
        "USD",
        Pending,
        "2026-10-20T10:00:00Z",
    )
    .entry(
        "aff-alpha",
        "c2",
        2,
        K::Approval,
        "0",
        "USD",
        Approved,
        "2026-10-22T10:00:00Z",
    )
    .payout(
        "aff-alpha",
        "aff-alpha@20261031T235959Z",
        "-194.8",
        "2026-11-01T09:00:00Z",
    )
    // November: c2 partially refunded after approval (-4.95), c1 charged back (-124.90),
    // c3 25.00 approved, c4 100.00 held by a dispute while pending, c5 60 cancelled.
    .entry(
        "aff-alpha",
        "c2",
        3,
        K::Adjustment,
        "-4.95",
        "USD",
        Approved,
        "2026-11-04T10:00:00Z",
    )
    .entry(
        "aff-alpha",
        "c1",
        3,
        K::Reversal,
        "-124.9",
        "USD",
        Reversed,
        "2026-11-06T10:00:00Z",
    )
    .entry(
        "aff-alpha",
        "c3",
        1,
        K::Commission,
        "25",
        "USD",
        Pending,
        "2026-11-10T10:00:00Z",
    )
    .entry(
        "aff-alpha",
        "c3",
        2,
        K::Approval,
        "0",
        "USD",
        Approved,
        "2026-11-12T10:00:00Z",
    )
    .entry(
        "aff-alpha",
        "c4",
        1,
        K::Commission,
        "100",
        "USD",
        Pending,
        "2026-11-14T10:00:00Z",
    )
    .entry(
        "aff-alpha",
        "c4",
        2,
        K::Hold,
        "0",
        "USD",
        OnHold,
        "2026-11-15T10:00:00Z",
    )
    .entry(
        "aff-alpha",
        "c5",
        1,
        K::Commission,
        "60",
        "USD",
        Pending,
        "2026-11-16T10:00:00Z",
    )
    .entry(
        "aff-alpha",
        "c5",
        2,
        K::Cancellation,
        "-60",
        "USD",
        Cancelled,
        "2026-11-16T11:00:00Z",
    )
    // December, after the cut-off: not in November's statement.
    .entry(
        "aff-alpha",
        "c6",
        1,
        K::Commission,
        "10",
        "USD",
        Pending,
        "2026-12-01T10:00:00Z",
    );
    // aff-beta, EUR: 1,000.00 approved in November.
    l.entry(
        "aff-beta",
        "b1",
        1,
        K::Commission,
        "1000",
        "EUR",
        Pending,
        "2026-11-02T10:00:00Z",
    )
    .entry(
        "aff-beta",
        "b1",
        2,
        K::Approval,
        "0",
        "EUR",
        Approved,
        "2026-11-04T10:00:00Z",
    );
    l.0
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("statements-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn export(dir: &Path, lines: &[String]) -> PathBuf {
    let folder = dir.join("AWSDynamoDB/01764547200000-fixture");
    write_export(&folder, TABLE, t("2026-12-02T00:00:00Z"), 3, lines).unwrap();
    folder
}

fn lines() -> Vec<String> {
    ledger().iter().map(BookedEntry::to_export_line).collect()
}

fn statements(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_statements"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
    let mut rows = vec![header];
    for rec in r.records() {
        rows.push(rec.unwrap().iter().map(str::to_owned).collect());
    }
    rows
}

fn column<'a>(rows: &'a [Vec<String>], row: &'a [String], name: &str) -> &'a str {
    let i = rows[0].iter().position(|h| h == name).unwrap();
    &row[i]
}

#[test]
fn november_statements_reconcile_to_the_cent_and_trace_every_line() {
    let dir = scratch("november");
    let folder = export(&dir, &lines());
    let out = dir.join("november");
    let (ok, stdout, stderr) = statements(&[
        "--export",
        folder.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--from",
        "2026-10-31T23:59:59Z",
        "--to",
        "2026-11-30T23:59:59Z",
    ]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("16 items, 2 affiliates, 2 statements"),
        "{stdout}"
    );

    let summary = csv_rows(&out.join("summary.csv"));
    assert_eq!(summary.len(), 3);
    let alpha = &summary[1];
    // Opening: 194.80 approved in October. November: paid -194.80; adjustment -4.95 on c2;
    // reversal -124.90 of the paid c1 (owed back); c3 +25.00 approved; c4 held while pending and
    // c5 cancelled in cooling-off move nothing. Closing: 194.80 - 194.80 - 4.95 - 124.90 + 25.00.
    let expect = [
        ("affiliate_id", "aff-alpha"),
        ("statement_id", "aff-alpha@20261130T235959Z"),
        ("currency", "USD"),
        ("opening", "194.80"),
        ("approved", "25.00"),
        ("adjustment", "-4.95"),
        ("reversal", "-124.90"),
        ("hold", "0.00"),
        ("cancellation", "0.00"),
        ("payout", "-194.80"),
        ("closing", "-104.85"),
        ("lines", "9"),
    ];
    for (name, value) in expect {
        assert_eq!(column(&summary, alpha, name), value, "{name}");
    }
    let beta = &summary[2];
    assert_eq!(column(&summary, beta, "currency"), "EUR");
    assert_eq!(column(&summary, beta, "opening"), "0.00");
    assert_eq!(column(&summary, beta, "closing"), "1000.00");

    // Every line: its ledger entry id and its event, and the effects sum to closing - opening.
    let lines = csv_rows(&out.join("aff-alpha.csv"));
    assert_eq!(lines.len(), 10);
    let exported: Vec<BookedEntry> = ledger();
    let mut sum = Decimal::ZERO;
    for row in &lines[1..] {
        let id = column(&lines, row, "entry_id");
        let entry = exported
            .iter()
            .find(|e| e.entry_id == id)
            .expect("a ledger entry");
        assert_eq!(
            column(&lines, row, "event_id"),
            entry.event_id.as_deref().unwrap_or("")
        );
        assert_eq!(d(column(&lines, row, "amount")), entry.amount);
        sum += d(column(&lines, row, "payable_effect"));
    }
    assert_eq!(sum, d("-104.85") - d("194.80"));
    assert!(
        lines[1..]
            .iter()
            .all(|r| column(&lines, r, "entry_id") != "evt-13#0"),
        "after the cut-off"
    );

    let html = std::fs::read_to_string(out.join("aff-alpha.html")).unwrap();
    for text in [
        "Opening payable balance",
        "194.80",
        "Closing payable balance",
        "-104.85",
        "aff-alpha@20261130T235959Z",
    ] {
        assert!(html.contains(text), "{text} not in the HTML statement");
    }
    assert!(!html.contains("<script"));

    // The next period opens where this one closed.
    let december = dir.join("december");
    let (ok, _, stderr) = statements(&[
        "--export",
        folder.to_str().unwrap(),
        "--out",
        december.to_str().unwrap(),
        "--from",
        "2026-11-30T23:59:59Z",
    ]);
    assert!(ok, "{stderr}");
    let next = csv_rows(&december.join("summary.csv"));
    assert_eq!(column(&next, &next[1], "opening"), "-104.85");
    assert_eq!(column(&next, &next[1], "closing"), "-104.85");
    assert_eq!(column(&next, &next[1], "commission"), "0.00");
    assert_eq!(column(&next, &next[1], "lines"), "1");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs the command on a broken export: it must fail naming the problem and write nothing.
fn refused(name: &str, break_it: impl FnOnce(&Path), expected: &[&str]) {
    let dir = scratch(name);
    let folder = export(&dir, &lines());
    break_it(&folder);
    let out = dir.join("out");
    let (ok, _, stderr) = statements(&[
        "--export",
        folder.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!ok, "{name}: accepted");
    for text in expected {
        assert!(stderr.contains(text), "{name}: {text:?} not in {stderr:?}");
    }
    assert!(stderr.contains("nothing written"), "{stderr}");
    assert!(!out.exists(), "{name}: statements written");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers,
        vec![std::ffi::OsString::from("AWSDynamoDB")],
        "{name}: {leftovers:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn data_file(folder: &Path, n: usize) -> PathBuf {
    folder.join("data").join(format!("part-{n:05}.json.gz"))
}

/// Rewrites the export with one line changed (so checksums and counts stay right).
fn with_line(folder: &Path, index: usize, change: impl Fn(&str) -> String) {
    let mut all = lines();
    all[index] = change(&all[index]);
    std::fs::remove_dir_all(folder).unwrap();
    write_export(folder, TABLE, t("2026-12-02T00:00:00Z"), 3, &all).unwrap();
}

#[test]
fn a_truncated_data_file_is_refused() {
    refused(
        "truncated",
        |f| {
            let path = data_file(f, 1);
            let bytes = std::fs::read(&path).unwrap();
            std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        },
        &["part-00001.json.gz", "truncated or corrupt"],
    );
}

#[test]
fn a_wrong_manifest_is_refused() {
    refused(
        "count",
        |f| {
            let p = f.join("manifest-summary.json");
            let text = std::fs::read_to_string(&p)
                .unwrap()
                .replace("\"itemCount\": 16", "\"itemCount\": 17");
            std::fs::write(&p, text).unwrap();
        },
        &["manifest-files.json", "hold 16 items, the summary says 17"],
    );
    refused(
        "checksum",
        |f| {
            let p = f.join("manifest-files.json");
            let text = std::fs::read_to_string(&p).unwrap();
            let mut listing: Vec<serde_json::Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            listing[2]["md5Checksum"] = "AAAAAAAAAAAAAAAAAAAAAA==".into();
            let text: String = listing.iter().map(|v| format!("{v}\n")).collect();
            std::fs::write(&p, text).unwrap();
        },
        &[
            "part-00002.json.gz",
            "MD5",
            "is not the manifest's AAAAAAAAAAAAAAAAAAAAAA==",
        ],
    );
    refused(
        "missing-file",
        |f| std::fs::remove_file(data_file(f, 0)).unwrap(),
        &["part-00000.json.gz", "cannot read it"],
    );
    refused(
        "format",
        |f| {
            let p = f.join("manifest-summary.json");
            let text = std::fs::read_to_string(&p)
                .unwrap()
                .replace("DYNAMODB_JSON", "ION");
            std::fs::write(&p, text).unwrap();
        },
        &["manifest-summary.json", "outputFormat is ION"],
    );
}

#[test]
fn a_non_numeric_amount_and_a_missing_currency_are_refused_with_their_line() {
    // Line 5 of the ledger is the 2nd line of part-00001 (lines are dealt round-robin over 3 files).
    refused(
        "amount",
        |f| {
            with_line(f, 4, |l| {
                l.replace(r#""amount":{"N":"-194.8"}"#, r#""amount":{"N":"12,50"}"#)
            })
        },
        &[
            "part-00001.json.gz, line 2",
            "amount \"12,50\" is invalid: not a decimal number",
        ],
    );
    refused(
        "currency",
        |f| with_line(f, 6, |l| l.replace(r#""currency":{"S":"USD"},"#, "")),
        &["part-00000.json.gz, line 3", "currency is missing"],
    );
}

#[test]
fn a_cut_off_after_the_export_and_an_existing_output_are_refused() {
    let dir = scratch("usage");
    let folder = export(&dir, &lines());
    let out = dir.join("out");
    let (ok, _, stderr) = statements(&[
        "--export",
        folder.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--to",
        "2026-12-03T00:00:00Z",
    ]);
    assert!(
        !ok && stderr.contains("is after the export's time"),
        "{stderr}"
    );
    std::fs::create_dir_all(&out).unwrap();
    let (ok, _, stderr) = statements(&[
        "--export",
        folder.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!ok && stderr.contains("already exists"), "{stderr}");
    let (ok, _, stderr) = statements(&["--export", folder.to_str().unwrap()]);
    assert!(!ok && stderr.contains("--out is required"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}
