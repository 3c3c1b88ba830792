//! Integration tier, finance end to end on the local stack: a lifecycle with approvals, a
//! reversal, an adjustment and held commissions goes through the webhooks, the processor and the
//! scheduler; the exporter function exports the ledger and stats tables through moto into the
//! export bucket; the statements command reads the export from S3; every total reconciles to the
//! cent with the ledger read directly from DynamoDB (and with the admin API's balances); the
//! payout is recorded through the admin API; the next statement opens at the first one's closing
//! and shows the payout.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, SecondsFormat, Timelike, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use shared::events::EventType;
use shared::finance::exports::ExportRun;
use shared::finance::run::{Options, Report};
use shared::finance::s3::{parse_s3_url, run_from_s3};
use system_tests::{LocalStack, Webhooks};

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_else(|_| panic!("{s:?} is not a decimal"))
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn purchase(customer: &str, tx: &str, tier: &str, amount: &str, affiliate: &str) -> Value {
    json!({
        "customer_id": customer, "occurred_at": stamp(Utc::now() - Duration::days(3)),
        "transaction_id": tx, "challenge_id": format!("ch-{tx}"), "tier": tier,
        "account_size": "100000", "amount": amount, "currency": "USD", "affiliate_id": affiliate,
    })
}

async fn deliver(stack: &LocalStack, events: &[(EventType, &str, Value)]) {
    let hooks = Webhooks::new(stack).await;
    for (t, id, body) in events {
        let (status, response) = hooks.send(*t, id, body).await;
        assert_eq!(status, 202, "{id}: {response}");
    }
    let harness = stack.processor();
    assert_eq!(
        stack.run_trigger(&harness, &harness.store, 10).await.failed,
        0
    );
}

/// The next whole second after every write so far: a cut-off nothing is booked at or after.
async fn cut_off_now() -> DateTime<Utc> {
    let t = Utc::now().with_nanosecond(0).unwrap() + Duration::seconds(1);
    tokio::time::sleep((t - Utc::now()).to_std().unwrap_or_default()).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    t
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("finance-flow-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The statements of the ledger export of `run`, read from S3 by its cut-off prefix.
async fn statements(
    stack: &LocalStack,
    run: &ExportRun,
    from: Option<DateTime<Utc>>,
    out: &Path,
) -> Report {
    let ledger = run.started.iter().find(|s| s.table == "ledger").unwrap();
    // the prefix the schedule names (table and cut-off), not the export's own folder: the
    // command finds the one export under it
    let location = &ledger.location;
    let prefix = &location[..location.find("/AWSDynamoDB/").unwrap()];
    let url = parse_s3_url(prefix).unwrap();
    let opts = Options {
        export: PathBuf::new(),
        out: out.to_owned(),
        from,
        to: None,
        progress: false,
    };
    let (fetched, report) = run_from_s3(&stack.s3(), &url, &opts)
        .await
        .expect("statements");
    assert_eq!(fetched.source, *location);
    // the fetched copy is gone; only the statements are left
    let leftovers: Vec<_> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".export-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    report
}

/// summary.csv by affiliate (all USD here).
fn summary(out: &Path) -> BTreeMap<String, HashMap<String, String>> {
    let mut r = csv::Reader::from_path(out.join("summary.csv")).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            let row: HashMap<String, String> = header
                .iter()
                .cloned()
                .zip(rec.iter().map(str::to_owned))
                .collect();
            assert_eq!(row["currency"], "USD");
            (row["affiliate_id"].clone(), row)
        })
        .collect()
}

fn lines(out: &Path, affiliate: &str) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_path(out.join(format!("{affiliate}.csv"))).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
    r.records()
        .map(|rec| {
            header
                .iter()
                .cloned()
                .zip(rec.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

fn text(item: &HashMap<String, AttributeValue>, k: &str) -> String {
    match item.get(k) {
        Some(AttributeValue::S(v)) | Some(AttributeValue::N(v)) => v.clone(),
        other => panic!("{k}: {other:?}"),
    }
}

/// Every line of every statement is a ledger item read directly from DynamoDB (same entry,
/// event, kind and amount to the cent), and every ledger item booked in the period is a line.
fn reconcile_lines(
    out: &Path,
    ledger: &[HashMap<String, AttributeValue>],
    from: Option<DateTime<Utc>>,
    to: DateTime<Utc>,
) {
    let booked = |i: &HashMap<String, AttributeValue>| {
        let at: DateTime<Utc> = text(i, "recorded_at").parse().unwrap();
        from.is_none_or(|f| at > f) && at <= to
    };
    for (affiliate, row) in summary(out) {
        let mut expected: BTreeMap<String, &HashMap<String, AttributeValue>> = ledger
            .iter()
            .filter(|i| text(i, "affiliate_id") == affiliate && booked(i))
            .map(|i| (text(i, "entry_id"), i))
            .collect();
        let got = lines(out, &affiliate);
        assert_eq!(got.len().to_string(), row["lines"], "{affiliate}");
        for line in &got {
            let item = expected.remove(&line["entry_id"]).unwrap_or_else(|| {
                panic!("{affiliate}: {} is not in the ledger", line["entry_id"])
            });
            // an approval or a payout has no originating event: the column is empty
            let event = item.get("event_id").map(|_| text(item, "event_id"));
            assert_eq!(line["event_id"], event.unwrap_or_default(), "{affiliate}");
            assert_eq!(line["kind"], text(item, "kind"), "{affiliate}");
            assert_eq!(d(&line["amount"]), d(&text(item, "amount")), "{affiliate}");
        }
        assert!(
            expected.is_empty(),
            "{affiliate}: not in the statement: {:?}",
            expected.keys()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_statements_reconcile_with_the_ledger_and_open_at_what_was_left_after_a_payout() {
    let stack = LocalStack::fresh().await;
    let harness = stack.processor();
    // Three days ago (cooling-off is 48 h for gamma, 24 h for beta):
    //  aff-gamma (18% revshare): 499.00 -> 89.82, 299.00 -> 53.82, and its own account's 299.00
    //    -> 53.82 held for review (self-referral);
    //  aff-beta (CPA 100k): two purchases -> 100.00 each.
    deliver(
        &stack,
        &[
            (
                EventType::Purchase,
                "fg-1",
                purchase("cust-fg1", "tx-fg1", "100k", "499.00", "aff-gamma"),
            ),
            (
                EventType::Purchase,
                "fg-2",
                purchase("cust-fg2", "tx-fg2", "100k", "299.00", "aff-gamma"),
            ),
            (
                EventType::Purchase,
                "fg-own",
                purchase("cust-gamma-own", "tx-fg3", "100k", "299.00", "aff-gamma"),
            ),
            (
                EventType::Purchase,
                "fb-1",
                purchase("cust-fb1", "tx-fb1", "100k", "399.00", "aff-beta"),
            ),
            (
                EventType::Purchase,
                "fb-2",
                purchase("cust-fb2", "tx-fb2", "100k", "399.00", "aff-beta"),
            ),
        ],
    )
    .await;
    // cooling-off over: four approvals (the held one waits for its review)
    assert_eq!(stack.tick(&harness, Utc::now()).await.approvals, 4);
    // after approval: a partial refund (adjustment -18.00 = 18% of 100.00), a chargeback lost
    // (reversal of fb-2's 100.00) and a dispute opened (fb-1's 100.00 held)
    let hour_ago = stamp(Utc::now() - Duration::hours(1));
    deliver(
        &stack,
        &[
            (EventType::Refund, "fg-1-rf", json!({"customer_id": "cust-fg1", "occurred_at": hour_ago, "original_transaction_id": "tx-fg1", "amount": "100.00", "currency": "USD", "reason": "partial"})),
            (EventType::Chargeback, "fb-2-cb", json!({"customer_id": "cust-fb2", "occurred_at": hour_ago, "original_transaction_id": "tx-fb2", "reason_code": "10.4", "amount": "399.00", "currency": "USD", "dispute_status": "lost"})),
            (EventType::Chargeback, "fb-1-cb", json!({"customer_id": "cust-fb1", "occurred_at": hour_ago, "original_transaction_id": "tx-fb1", "reason_code": "13.1", "amount": "399.00", "currency": "USD", "dispute_status": "opened"})),
        ],
    )
    .await;

    // ---- the first export and its statements
    let first_cut = cut_off_now().await;
    let first = stack.export_at(first_cut).await;
    assert_eq!(first.cut_off, stamp(first_cut));
    assert_eq!(first.started.len(), 2, "ledger and stats");
    let prefix = format!("ledger/{}", first_cut.format("%Y-%m-%dT%H-%M-%SZ"));
    assert!(
        first.started[0]
            .location
            .contains(&format!("/{prefix}/AWSDynamoDB/")),
        "{first:?}"
    );
    // the same cut-off again (a retried schedule, or the on-demand command): the same exports
    let again = stack.export_at(first_cut).await;
    assert_eq!(
        again
            .started
            .iter()
            .map(|s| &s.export_arn)
            .collect::<Vec<_>>(),
        first
            .started
            .iter()
            .map(|s| &s.export_arn)
            .collect::<Vec<_>>()
    );
    let objects = stack
        .s3()
        .list_objects_v2()
        .bucket(&stack.resource("ExportBucket").reference)
        .prefix(&prefix)
        .send()
        .await
        .unwrap();
    let summaries = objects
        .contents()
        .iter()
        .filter(|o| o.key().unwrap().ends_with("/manifest-summary.json"))
        .count();
    assert_eq!(summaries, 1, "one export per table and cut-off");

    let dir = scratch("first");
    let out1 = dir.join("statements-1");
    let report = statements(&stack, &first, None, &out1).await;
    let ledger = stack.scan(&harness.config.tables.ledger).await;
    assert_eq!(
        report.items as usize,
        ledger.len(),
        "the export holds the whole ledger"
    );
    let s1 = summary(&out1);
    // by hand: gamma 89.82 + 53.82 approved, -18.00 adjusted, 53.82 held -> 125.64 payable;
    // beta 200.00 approved, -100.00 reversed, -100.00 held by the open dispute -> 0.00
    let gamma = &s1["aff-gamma"];
    assert_eq!(d(&gamma["opening"]), d("0"));
    assert_eq!(d(&gamma["approved"]), d("143.64"), "{gamma:?}");
    assert_eq!(d(&gamma["adjustment"]), d("-18.00"), "{gamma:?}");
    assert_eq!(d(&gamma["closing"]), d("125.64"), "{gamma:?}");
    let beta = &s1["aff-beta"];
    assert_eq!(d(&beta["approved"]), d("200.00"), "{beta:?}");
    assert_eq!(d(&beta["reversal"]), d("-100.00"), "{beta:?}");
    assert_eq!(d(&beta["closing"]), d("0.00"), "{beta:?}");
    // every line is a ledger item read directly, and every item booked by the cut-off a line
    reconcile_lines(&out1, &ledger, None, first_cut);
    // the admin API (the ledger read directly by the admin function) agrees to the cent
    let admin = stack.admin(first_cut + Duration::seconds(1)).await;
    for (affiliate, row) in &s1 {
        let (status, page) = admin
            .call(
                "GET",
                &format!("/admin/affiliates/{affiliate}"),
                Some(&admin.viewer()),
                None,
            )
            .await;
        assert_eq!(status, 200);
        let balance = &page["activity"]["balances"][0];
        assert_eq!(
            d(balance["payable"].as_str().unwrap()),
            d(&row["closing"]),
            "{affiliate}"
        );
    }
    // the HTML statement says the same
    let html = std::fs::read_to_string(out1.join("aff-gamma.html")).unwrap();
    assert!(
        html.contains("125.64"),
        "the closing balance is on the statement"
    );

    // ---- finance pays gamma's statement through the admin API
    let (status, paid) = admin
        .call(
            "POST",
            "/admin/affiliates/aff-gamma/payouts",
            Some(&admin.ops()),
            Some(&json!({"cut_off": first_cut.to_rfc3339(), "reason": "wire 2026-12 batch 1"})),
        )
        .await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["payouts"][0]["amount"], "125.64");
    // beta's statement closes at 0.00: there is nothing to pay
    let (status, refused) = admin
        .call(
            "POST",
            "/admin/affiliates/aff-beta/payouts",
            Some(&admin.ops()),
            Some(&json!({"cut_off": first_cut.to_rfc3339(), "reason": "x"})),
        )
        .await;
    assert_eq!(status, 409, "{refused}");

    // ---- later: ops clears gamma's own-account purchase, the tick approves it
    let later = first_cut + Duration::seconds(3);
    tokio::time::sleep((later - Utc::now()).to_std().unwrap_or_default()).await;
    let admin = stack.admin(Utc::now()).await;
    let (status, _) = admin
        .call(
            "POST",
            "/admin/reviews/self_referral%23fg-own/resolution",
            Some(&admin.ops()),
            Some(&json!({"action": "approve", "reason": "a family member's account, allowed"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(stack.tick(&harness, Utc::now()).await.approvals, 1);

    // ---- the next export: its statement opens at the first one's closing
    let second_cut = cut_off_now().await;
    let second = stack.export_at(second_cut).await;
    let out2 = dir.join("statements-2");
    statements(&stack, &second, Some(first_cut), &out2).await;
    let s2 = summary(&out2);
    let gamma2 = &s2["aff-gamma"];
    assert_eq!(d(&gamma2["opening"]), d(&gamma["closing"]), "{gamma2:?}");
    assert_eq!(d(&gamma2["payout"]), d("-125.64"), "{gamma2:?}");
    // what is left: the released commission, now approved
    assert_eq!(d(&gamma2["closing"]), d("53.82"), "{gamma2:?}");
    // beta opened at 0.00 and nothing happened since: no statement to send
    assert_eq!(d(&beta["closing"]), d("0"));
    assert!(!s2.contains_key("aff-beta"), "{s2:?}");
    let ledger = stack.scan(&harness.config.tables.ledger).await;
    reconcile_lines(&out2, &ledger, Some(first_cut), second_cut);
    let admin = stack.admin(second_cut + Duration::seconds(1)).await;
    let (_, page) = admin
        .call(
            "GET",
            "/admin/affiliates/aff-gamma",
            Some(&admin.viewer()),
            None,
        )
        .await;
    let balance = &page["activity"]["balances"][0];
    assert_eq!(
        d(balance["payable"].as_str().unwrap()),
        d("53.82"),
        "{page}"
    );
    assert_eq!(d(balance["paid"].as_str().unwrap()), d("125.64"), "{page}");
    // the payout line names the statement it paid
    let payout = lines(&out2, "aff-gamma")
        .into_iter()
        .find(|l| l["kind"] == "payout")
        .expect("a payout line");
    assert_eq!(
        payout["paid_statement_id"],
        format!("aff-gamma@{}", first_cut.format("%Y%m%dT%H%M%SZ"))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A prefix that holds no export, or two, is refused naming what it found; nothing is written and
/// nothing fetched is left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefix_with_no_export_or_two_is_refused_and_nothing_is_written() {
    use shared::finance::run::RunError;
    use shared::finance::s3::FetchError;
    let stack = LocalStack::fresh().await;
    let first = cut_off_now().await;
    stack.export_at(first).await;
    let second = cut_off_now().await;
    stack.export_at(second).await;
    let bucket = stack.resource("ExportBucket").reference.clone();
    let dir = scratch("refused");
    let opts = |name: &str| Options {
        export: PathBuf::new(),
        out: dir.join(name),
        from: None,
        to: None,
        progress: false,
    };
    // `ledger/` holds both cut-offs' exports: which one is meant is not guessed
    let url = parse_s3_url(&format!("s3://{bucket}/ledger/")).unwrap();
    match run_from_s3(&stack.s3(), &url, &opts("two")).await {
        Err(RunError::Fetch(FetchError::SeveralExports { count, listing, .. })) => {
            assert_eq!(count, 2);
            for cut in [first, second] {
                let stamp = cut.format("%Y-%m-%dT%H-%M-%SZ").to_string();
                assert!(
                    listing.contains(&format!("s3://{bucket}/ledger/{stamp}/AWSDynamoDB/")),
                    "{listing}"
                );
            }
        }
        other => panic!("expected two exports refused, got {other:?}"),
    }
    let url = parse_s3_url(&format!("s3://{bucket}/ledger/1999-01-01T00-00-00Z")).unwrap();
    let e = run_from_s3(&stack.s3(), &url, &opts("none"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, RunError::Fetch(FetchError::NoExport { .. })),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        format!("no export under s3://{bucket}/ledger/1999-01-01T00-00-00Z (no manifest-summary.json there)")
    );
    // nothing written, nothing fetched left
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A table DynamoDB refuses to export (point-in-time recovery off) fails the invocation, so the
/// schedule retries it and then dead-letters it, while the other table's export still starts; a
/// retry at the same cut-off finds that export instead of starting another. An event without a
/// time has no cut-off and is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_export_fails_the_invocation_and_a_retry_starts_nothing_twice() {
    use shared::exporter_lambda::{handle_export, ExportLambdaError, ExportTargets};
    let stack = LocalStack::fresh().await;
    let env = &stack.function("ExporterFunction").environment;
    let targets = ExportTargets {
        bucket: env["EXPORT_BUCKET"].clone(),
        tables: vec![
            ("ledger", env["LEDGER_TABLE_ARN"].clone()),
            ("stats", env["STATS_TABLE_ARN"].clone()),
        ],
    };
    let stats_table = env["STATS_TABLE_ARN"]
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    stack
        .dynamodb()
        .update_continuous_backups()
        .table_name(&stats_table)
        .point_in_time_recovery_specification(
            aws_sdk_dynamodb::types::PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(false)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let exporter = shared::adapters::dynamo::DynamoExporter::new(stack.dynamodb());
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(
            system_tests::workspace_root().join("tests/fixtures/eventbridge/scheduled-event.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let cut_off = cut_off_now().await;
    let mut event = fixture.clone();
    event["time"] = stamp(cut_off).into();
    let event = || serde_json::from_value(event.clone()).unwrap();
    for attempt in 0..2 {
        match handle_export(&exporter, &targets, event()).await {
            Err(ExportLambdaError::Refused {
                cut_off: at,
                failed,
            }) => {
                assert_eq!(at, stamp(cut_off));
                assert!(
                    failed.starts_with("stats: PointInTimeRecoveryUnavailable"),
                    "{failed}"
                );
            }
            other => panic!("attempt {attempt}: expected a refusal, got {other:?}"),
        }
    }
    // both attempts asked for the ledger's export with the same token: one export, not two
    let exports = stack
        .dynamodb()
        .list_exports()
        .table_arn(&targets.tables[0].1)
        .send()
        .await
        .unwrap();
    assert_eq!(exports.export_summaries().len(), 1, "{exports:?}");
    // no time, no cut-off
    let mut timeless = fixture;
    timeless.as_object_mut().unwrap().remove("time");
    let e = handle_export(
        &exporter,
        &targets,
        serde_json::from_value(timeless).unwrap(),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, ExportLambdaError::NoTime), "{e}");
}
