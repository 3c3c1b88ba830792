//! The Athena tables and views (infra/athena/) executed on DuckDB over an export in DynamoDB's
//! layout, after the documented translation (infra/athena/duckdb_run.py), and compared to the
//! cent with the statements command run on the same export.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use shared::finance::booked::BookedEntry;
use shared::finance::export::write_export;
use shared::finance::fixture::synthetic_ledger;
use shared::finance::run::{run, Options};
use system_tests::{venv_python, workspace_root};

const LEDGER_ARN: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/prop-ledger";
const STATS_ARN: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/prop-stats";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}
fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_else(|_| panic!("{s:?} is not a decimal"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("athena-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// 4,000 entries over 12 affiliates paid in USD, EUR, JPY (0 decimals) and BHD (3 decimals),
/// booked from October to mid-December 2026.
fn ledger() -> Vec<BookedEntry> {
    synthetic_ledger(
        4_000,
        12,
        &["USD", "EUR", "JPY", "BHD"],
        t("2026-10-01T00:00:00Z"),
        75,
        42,
    )
    .collect()
}

fn duckdb(
    ledger: &Path,
    stats: Option<&Path>,
    queries: &[&str],
) -> Vec<Vec<BTreeMap<String, Value>>> {
    let mut cmd = Command::new(venv_python());
    cmd.arg(workspace_root().join("infra/athena/duckdb_run.py"))
        .arg("--ledger")
        .arg(ledger);
    if let Some(stats) = stats {
        cmd.arg("--stats").arg(stats);
    }
    for q in queries {
        cmd.arg("--query").arg(q);
    }
    let out = cmd.output().expect("run duckdb_run.py");
    assert!(
        out.status.success(),
        "duckdb_run.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON rows")
}

fn summary(path: &Path) -> BTreeMap<(String, String), BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
    r.records()
        .map(|rec| {
            let row: BTreeMap<String, String> = header
                .iter()
                .cloned()
                .zip(rec.unwrap().iter().map(str::to_owned))
                .collect();
            ((row["affiliate_id"].clone(), row["currency"].clone()), row)
        })
        .collect()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[test]
fn the_views_give_the_statements_commands_totals_to_the_cent() {
    let dir = scratch("views");
    let entries = ledger();
    // after every booking in the fixture (an export holds nothing booked after its time)
    let export_time = t("2027-01-01T00:00:00Z");
    let folder = dir.join("ledger/AWSDynamoDB/fixture");
    write_export(
        &folder,
        LEDGER_ARN,
        export_time,
        4,
        entries.iter().map(BookedEntry::to_export_line),
    )
    .unwrap();

    // November as the statements command sees it: booked in (Oct 31 24:00, Nov 30 24:00), the
    // views' calendar month.
    let november = dir.join("november");
    run(&Options {
        export: folder.clone(),
        out: november.clone(),
        from: Some(t("2026-10-31T23:59:59.999999999Z")),
        to: Some(t("2026-11-30T23:59:59.999999999Z")),
        progress: false,
    })
    .unwrap();
    let statements = summary(&november.join("summary.csv"));
    assert_eq!(
        statements.len(),
        12,
        "every affiliate has a November statement"
    );

    let [monthly, approved, corrections, balance] = <[_; 4]>::try_from(duckdb(
        &folder,
        None,
        &[
            "SELECT * FROM monthly_statement WHERE year(month) = 2026 AND month(month) = 11",
            "SELECT affiliate_id, currency, commissions, approved_amount FROM approved_commissions_by_month \
             WHERE year(month) = 2026 AND month(month) = 11",
            "SELECT affiliate_id, currency, SUM(payable_effect) AS effect, COUNT(*) AS n FROM corrections \
             WHERE year(recorded_at) = 2026 AND month(recorded_at) = 11 GROUP BY affiliate_id, currency",
            // as Athena requires: the query names the export (the injected cut-off partition)
            "SELECT * FROM payable_balance WHERE cut_off = '2026-12-15T00-00-00Z'",
        ],
    ))
    .unwrap();

    assert_eq!(monthly.len(), statements.len());
    for row in &monthly {
        let key = (text(&row["affiliate_id"]), text(&row["currency"]));
        let st = &statements[&key];
        for (view, command) in [
            ("opening", "opening"),
            ("approved", "approved"),
            ("adjustments", "adjustment"),
            ("reversals", "reversal"),
            ("cancellations", "cancellation"),
            ("holds", "hold"),
            ("releases", "release"),
            ("payouts", "payout"),
            ("closing", "closing"),
        ] {
            assert_eq!(d(&text(&row[view])), d(&st[command]), "{key:?} {view}");
        }
        assert_eq!(text(&row["lines"]), st["lines"], "{key:?} lines");
    }
    for row in &approved {
        let key = (text(&row["affiliate_id"]), text(&row["currency"]));
        assert_eq!(
            d(&text(&row["approved_amount"])),
            d(&statements[&key]["approved"]),
            "{key:?}"
        );
    }
    for row in &corrections {
        let key = (text(&row["affiliate_id"]), text(&row["currency"]));
        let st = &statements[&key];
        assert_eq!(
            d(&text(&row["effect"])),
            d(&st["adjustment"]) + d(&st["reversal"]),
            "{key:?}"
        );
    }

    // The payable balance at the export's cut-off: the statements command's closing, from the start.
    let all = dir.join("all");
    run(&Options {
        export: folder.clone(),
        out: all.clone(),
        from: None,
        to: None,
        progress: false,
    })
    .unwrap();
    let closing = summary(&all.join("summary.csv"));
    assert_eq!(balance.len(), closing.len());
    let mut nonzero = 0;
    for row in &balance {
        let key = (text(&row["affiliate_id"]), text(&row["currency"]));
        assert_eq!(
            d(&text(&row["payable"])),
            d(&closing[&key]["closing"]),
            "{key:?}"
        );
        nonzero += usize::from(!d(&closing[&key]["closing"]).is_zero());
    }
    assert!(nonzero >= 10, "a fixture with balances to compare");
    // The fixture exercises every category and the odd currencies.
    for category in [
        "adjustment",
        "reversal",
        "hold",
        "release",
        "payout",
        "cancellation",
    ] {
        assert!(
            statements.values().any(|r| !d(&r[category]).is_zero()) || category == "cancellation",
            "no {category} in November"
        );
    }
    assert!(
        statements.keys().any(|(_, c)| c == "JPY") && statements.keys().any(|(_, c)| c == "BHD")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn commission_cost_against_referred_revenue_reads_the_stats_export() {
    let dir = scratch("stats");
    let ledger_folder = dir.join("ledger/AWSDynamoDB/fixture");
    write_export(
        &ledger_folder,
        LEDGER_ARN,
        t("2026-12-20T00:00:00Z"),
        1,
        ledger().iter().take(10).map(BookedEntry::to_export_line),
    )
    .unwrap();
    // Stats items as the processor writes them: counters per affiliate and month, one per
    // currency for money.
    let items = [
        r#"{"Item":{"affiliate_id":{"S":"aff-alpha"},"month":{"S":"2026-11"},"updates":{"N":"9"},"purchases":{"N":"3"},"revenue_USD":{"N":"1497"},"refunded_USD":{"N":"99"},"commission_USD":{"N":"224.75"},"revenue_EUR":{"N":"199.5"},"commission_EUR":{"N":"19.95"},"chargeback_losses_USD":{"N":"499"}}}"#,
        r#"{"Item":{"affiliate_id":{"S":"aff-alpha"},"month":{"S":"2026-12"},"updates":{"N":"1"},"revenue_USD":{"N":"499"},"commission_USD":{"N":"124.9"}}}"#,
        r#"{"Item":{"affiliate_id":{"S":"aff-beta"},"month":{"S":"2026-11"},"updates":{"N":"2"},"revenue_JPY":{"N":"50000"},"commission_JPY":{"N":"5000"},"failures_max_drawdown":{"N":"1"}}}"#,
    ];
    let stats_folder = dir.join("stats/AWSDynamoDB/fixture");
    write_export(
        &stats_folder,
        STATS_ARN,
        t("2026-12-20T00:00:00Z"),
        2,
        items,
    )
    .unwrap();
    let [rows] = <[_; 1]>::try_from(duckdb(
        &ledger_folder,
        Some(&stats_folder),
        &[
            "SELECT * FROM commission_cost_vs_revenue WHERE cut_off = '2026-12-15T00-00-00Z' \
           ORDER BY affiliate_id, month, currency",
        ],
    ))
    .unwrap();
    let got: Vec<(String, String, String, Decimal, Decimal)> = rows
        .iter()
        .map(|r| {
            (
                text(&r["affiliate_id"]),
                text(&r["month"]),
                text(&r["currency"]),
                d(&text(&r["referred_revenue"])),
                d(&text(&r["commission_cost"])),
            )
        })
        .collect();
    let row = |a: &str, m: &str, c: &str, rev: &str, cost: &str| {
        (a.to_owned(), m.to_owned(), c.to_owned(), d(rev), d(cost))
    };
    assert_eq!(
        got,
        vec![
            row("aff-alpha", "2026-11", "EUR", "199.50", "19.95"),
            row("aff-alpha", "2026-11", "USD", "1497.00", "224.75"),
            row("aff-alpha", "2026-12", "USD", "499.00", "124.90"),
            row("aff-beta", "2026-11", "JPY", "50000", "5000"),
        ]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_translation_refuses_what_it_does_not_know() {
    let dir = scratch("refuse");
    let folder = dir.join("ledger/AWSDynamoDB/fixture");
    write_export(
        &folder,
        LEDGER_ARN,
        t("2026-12-20T00:00:00Z"),
        1,
        ledger().iter().take(5).map(BookedEntry::to_export_line),
    )
    .unwrap();
    let out = Command::new(venv_python())
        .arg(workspace_root().join("infra/athena/duckdb_run.py"))
        .arg("--ledger")
        .arg(&folder)
        .args(["--query", "SELECT date_parse('2026-11-01', '%Y-%m-%d')"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("an Athena function without a translation")
    );
    // Amounts are DECIMAL in every view that shows money, never DOUBLE.
    let views = std::fs::read_to_string(workspace_root().join("infra/athena/views.sql")).unwrap();
    let sql: String = views
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .map(|l| l.to_uppercase() + "\n")
        .collect();
    assert!(sql.contains("DECIMAL(38, 4)"));
    for float in ["DOUBLE", "REAL", "FLOAT"] {
        assert!(!sql.contains(float), "{float} in views.sql");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
