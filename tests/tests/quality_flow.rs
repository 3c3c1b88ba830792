//! Partner quality on the local stack: a month of generated lifecycle traffic for three
//! affiliates with known behaviour — aff-alpha sends traders who pass, aff-beta sends refunders,
//! aff-gamma refers itself — goes webhook → SQS → processor → DynamoDB; a scheduler tick then
//! computes each affiliate-month's score and opens the anomaly review items. Every figure is
//! checked to the unit against what the traffic was built to produce.

use chrono::{DateTime, Datelike, Duration, SecondsFormat, TimeZone, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use shared::events::EventType;
use shared::quality::QualityScore;
use shared::scheduler::run_tick;
use system_tests::{LocalStack, Webhooks};

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// The first instant of the calendar month before now: the generated month.
fn month_start() -> DateTime<Utc> {
    let now = Utc::now();
    let (y, m) = if now.month() == 1 {
        (now.year() - 1, 12)
    } else {
        (now.year(), now.month() - 1)
    };
    Utc.with_ymd_and_hms(y, m, 1, 9, 0, 0).unwrap()
}

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn traffic() -> Vec<(EventType, String, Value)> {
    let m = month_start();
    let mut out = Vec::new();
    let mut push = |t: EventType, id: String, body: Value| out.push((t, id, body));
    let purchase = |c: &str, day: i64, tier: &str, amount: &str, aff: &str| {
        json!({"customer_id": c, "occurred_at": at(m + Duration::days(day)), "transaction_id": format!("tx-{c}"),
               "challenge_id": format!("ch-{c}"), "tier": tier, "account_size": "100000", "amount": amount,
               "currency": "USD", "affiliate_id": aff})
    };
    // aff-alpha: five traders who all pass (3..7 days) and three of whom get funded
    for i in 0..5i64 {
        let c = format!("alpha-{i}");
        push(
            EventType::Purchase,
            format!("{c}-p"),
            purchase(&c, i, "100k", "499.00", "aff-alpha"),
        );
        push(
            EventType::Evaluation,
            format!("{c}-s"),
            json!({"customer_id": c, "occurred_at": at(m + Duration::days(i) + Duration::hours(1)), "challenge_id": format!("ch-{c}"), "status": "started", "account_size": "100000", "start_date": (m + Duration::days(i)).date_naive().to_string()}),
        );
        push(
            EventType::Evaluation,
            format!("{c}-v"),
            json!({"customer_id": c, "occurred_at": at(m + Duration::days(i + 3 + i)), "challenge_id": format!("ch-{c}"), "status": "passed", "pass_date": (m + Duration::days(2 * i + 3)).date_naive().to_string(), "days_to_pass": 3 + i}),
        );
        if i < 3 {
            push(
                EventType::Funded,
                format!("{c}-f"),
                json!({"customer_id": c, "occurred_at": at(m + Duration::days(2 * i + 4)), "account_id": format!("acc-{c}"), "challenge_id": format!("ch-{c}"), "account_size": "100000", "profit_split": "80"}),
            );
        }
    }
    // aff-beta: six purchases, four refunded in full two hours later, one chargeback opened
    for i in 0..6i64 {
        let c = format!("beta-{i}");
        push(
            EventType::Purchase,
            format!("{c}-p"),
            purchase(&c, 10 + i, "50k", "299.00", "aff-beta"),
        );
        if i < 4 {
            push(
                EventType::Refund,
                format!("{c}-rf"),
                json!({"customer_id": c, "occurred_at": at(m + Duration::days(10 + i) + Duration::hours(2)), "original_transaction_id": format!("tx-{c}"), "amount": "299.00", "currency": "USD", "reason": "changed mind"}),
            );
        }
        if i == 5 {
            push(
                EventType::Chargeback,
                format!("{c}-cb"),
                json!({"customer_id": c, "occurred_at": at(m + Duration::days(20)), "original_transaction_id": format!("tx-{c}"), "reason_code": "10.4", "amount": "299.00", "currency": "USD", "dispute_status": "opened"}),
            );
        }
    }
    // aff-gamma: its own account through its own link, and two traders who fail
    push(
        EventType::Purchase,
        "self-p".into(),
        purchase("cust-gamma-own", 5, "50k", "299.00", "aff-gamma"),
    );
    for (i, reason) in ["drawdown_limit", "time_expired"].iter().enumerate() {
        let c = format!("gamma-{i}");
        push(
            EventType::Purchase,
            format!("{c}-p"),
            purchase(&c, 6, "100k", "499.00", "aff-gamma"),
        );
        push(
            EventType::Evaluation,
            format!("{c}-s"),
            json!({"customer_id": c, "occurred_at": at(m + Duration::days(6) + Duration::hours(1)), "challenge_id": format!("ch-{c}"), "status": "started", "account_size": "100000", "start_date": (m + Duration::days(6)).date_naive().to_string()}),
        );
        push(
            EventType::Evaluation,
            format!("{c}-x"),
            json!({"customer_id": c, "occurred_at": at(m + Duration::days(12)), "challenge_id": format!("ch-{c}"), "status": "failed", "reason": reason, "days_active": 6}),
        );
    }
    out
}

#[tokio::test]
async fn a_month_of_traffic_scores_each_affiliate_as_constructed() {
    let stack = LocalStack::fresh().await;
    let hooks = Webhooks::new(&stack).await;
    let harness = stack.processor();
    let events = traffic();
    for (t, id, body) in &events {
        let (status, response) = hooks.send(*t, id, body).await;
        assert_eq!(status, 202, "{id}: {response}");
    }
    let run = stack.run_trigger(&harness, &harness.store, 40).await;
    assert_eq!((run.delivered, run.failed), (events.len(), 0));

    let rules = stack.anomaly_rules();
    let report = run_tick(
        &harness.store,
        Utc::now(),
        &harness.config.tick_config,
        &rules,
    )
    .await
    .unwrap();
    assert_eq!(report.scores_refreshed, 3, "{report:?}");
    assert_eq!(report.anomalies_opened, 3, "{report:?}");
    // 1 review (the self-referral) out of 36 events
    assert_eq!(report.review_share.as_deref(), Some("0.0278"));

    let month = format!("{:04}-{:02}", month_start().year(), month_start().month());
    let stats = stack.scan(&harness.config.tables.stats).await;
    let score_of = |aff: &str| -> QualityScore {
        let item = stats
            .iter()
            .find(|i| {
                i["affiliate_id"].as_s().unwrap() == aff && i["month"].as_s().unwrap() == &month
            })
            .unwrap();
        assert!(
            !item.contains_key("dirty_shard"),
            "scored items leave the dirty index"
        );
        serde_json::from_str(item["score"].as_s().unwrap()).unwrap()
    };

    let alpha = score_of("aff-alpha");
    assert_eq!(
        (
            alpha.referred_customers,
            alpha.purchases,
            alpha.evaluations_started
        ),
        (dec("5"), dec("5"), dec("5"))
    );
    assert_eq!(alpha.pass_rate, Some(dec("1")));
    assert_eq!(alpha.average_days_to_pass, Some(dec("5"))); // (3+4+5+6+7)/5
    assert_eq!(alpha.funded_rate, Some(dec("0.6")));
    assert_eq!(
        (alpha.refund_rate, alpha.chargeback_rate, alpha.reset_rate),
        (Some(dec("0")), Some(dec("0")), Some(dec("0")))
    );
    assert_eq!(alpha.review_rate, Some(dec("0")));
    let usd = &alpha.money["USD"];
    // 5 x (75 + 49.90) + 5 x 25 passed + 3 x 100 funded
    assert_eq!(
        (usd.revenue, usd.commission_cost, usd.net_revenue),
        (dec("2495"), dec("1049.5"), dec("1445.5"))
    );

    let beta = score_of("aff-beta");
    assert_eq!(
        (beta.referred_customers, beta.purchases),
        (dec("6"), dec("6"))
    );
    assert_eq!(beta.refund_rate, Some(dec("0.6667")));
    assert_eq!(beta.chargeback_rate, Some(dec("0.1667")));
    assert_eq!(
        beta.pass_rate, None,
        "no evaluations: no rate rather than a made-up zero"
    );
    let usd = &beta.money["USD"];
    // 6 x 60.00 CPA, 4 cancelled in cooling-off
    assert_eq!(
        (
            usd.revenue,
            usd.refunded,
            usd.commission_cost,
            usd.net_revenue
        ),
        (dec("1794"), dec("1196"), dec("120"), dec("478"))
    );

    let gamma = score_of("aff-gamma");
    assert_eq!(
        (
            gamma.referred_customers,
            gamma.purchases,
            gamma.evaluations_started
        ),
        (dec("3"), dec("3"), dec("2"))
    );
    assert_eq!(gamma.pass_rate, Some(dec("0")));
    assert_eq!(
        gamma.failures,
        [
            ("drawdown_limit".to_owned(), dec("1")),
            ("time_expired".to_owned(), dec("1"))
        ]
        .into_iter()
        .collect()
    );
    assert_eq!(gamma.review_rate, Some(dec("0.1429"))); // 1 of 7 events
                                                        // 18% (gold) of 299.00 held + 2 x 18% of 499.00
    assert_eq!(gamma.money["USD"].commission_cost, dec("233.46"));

    let mut review_ids: Vec<String> = stack
        .scan(&harness.config.tables.reviews)
        .await
        .iter()
        .map(|r| r["review_id"].as_s().unwrap().clone())
        .collect();
    review_ids.sort();
    assert_eq!(
        review_ids,
        vec![
            format!("anomaly_chargeback_rate#aff-beta#{month}"),
            format!("anomaly_refund_rate#aff-beta#{month}"),
            format!("anomaly_self_referrals#aff-gamma#{month}"),
            "self_referral#self-p".to_owned(),
        ]
    );

    // Nothing changed: the next tick does nothing. One more event: only that affiliate-month.
    let again = run_tick(
        &harness.store,
        Utc::now(),
        &harness.config.tick_config,
        &rules,
    )
    .await
    .unwrap();
    assert_eq!((again.scores_refreshed, again.anomalies_opened), (0, 0));
    let c = "alpha-0";
    let (status, _) = hooks.send(EventType::Reset, "alpha-0-r", &json!({"customer_id": c, "occurred_at": at(month_start() + Duration::days(20)), "transaction_id": "tx-alpha-0-r", "original_challenge_id": "ch-alpha-0", "amount": "99.00", "currency": "USD"})).await;
    assert_eq!(status, 202);
    stack.run_trigger(&harness, &harness.store, 5).await;
    let after = run_tick(
        &harness.store,
        Utc::now(),
        &harness.config.tick_config,
        &rules,
    )
    .await
    .unwrap();
    assert_eq!(
        (after.scores_refreshed, after.anomalies_opened),
        (1, 0),
        "{after:?}"
    );
}
