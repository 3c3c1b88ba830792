//! Integration tier: the directory through the admin API on the local stack — plans published as
//! new versions (never edited), affiliates created and changed, coupon codes assigned, each change
//! with its history — and an affiliate's page (commissions by month and status, balances,
//! quality by month) with exact amounts. The processor then prices with what was changed.

use chrono::{Duration, SecondsFormat, Timelike, Utc};
use serde_json::{json, Value};
use shared::events::EventType;
use system_tests::{AdminHarness, LocalStack, Webhooks};

fn ago(d: Duration) -> String {
    (Utc::now() - d).to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn purchase(customer: &str, tx: &str, amount: &str, referral: Value) -> Value {
    let mut body = json!({
        "customer_id": customer, "occurred_at": ago(Duration::days(3)), "transaction_id": tx,
        "challenge_id": format!("ch-{tx}"), "tier": "100k", "account_size": "100000",
        "amount": amount, "currency": "USD",
    });
    for (k, v) in referral.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

async fn send(stack: &LocalStack, events: &[(EventType, &str, Value)]) {
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

fn fields(response: &Value) -> Vec<String> {
    response["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|x| x["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn ops(admin: &AdminHarness, method: &str, path: &str, body: Value) -> (u16, Value) {
    admin
        .call(method, path, Some(&admin.ops()), Some(&body))
        .await
}

fn gamma_v3() -> Value {
    json!({
        "plan_id": "gamma-revshare", "version": 3, "currency": "USD",
        "attribution_window_days": 60, "cooling_off_hours": 48,
        "revshare_percent": "20", "resets_in_scope": true
    })
}

#[tokio::test]
async fn a_plan_is_published_as_a_new_version_and_never_edited() {
    let stack = LocalStack::fresh().await;
    let admin = stack.admin(Utc::now()).await;
    let reason = "Q1 deal: 20% RevShare";
    let (status, published) = ops(
        &admin,
        "POST",
        "/admin/plans",
        json!({"plan": gamma_v3(), "reason": reason}),
    )
    .await;
    assert_eq!(status, 200, "{published}");
    assert_eq!(published["change"]["by"], "ops-alice");
    assert_eq!(published["change"]["reason"], reason);
    assert_eq!(published["plan"]["plan"]["revshare_percent"], "20");

    // the same version again, even identical, is refused: published versions are never edited
    let (status, again) = ops(
        &admin,
        "POST",
        "/admin/plans",
        json!({"plan": gamma_v3(), "reason": "x"}),
    )
    .await;
    assert_eq!(status, 409, "{again}");
    assert!(
        again["message"].as_str().unwrap().contains("publish v4"),
        "{again}"
    );
    let mut v2 = gamma_v3();
    v2["version"] = 2.into();
    assert_eq!(
        ops(
            &admin,
            "POST",
            "/admin/plans",
            json!({"plan": v2, "reason": "x"})
        )
        .await
        .0,
        409
    );
    // a gap in versions, a bad rate, an unknown field: 400 naming the field, nothing written
    let mut gap = gamma_v3();
    gap["version"] = 9.into();
    let mut negative = gamma_v3();
    negative["version"] = 4.into();
    negative["cpa_by_tier"] = json!({"100k": "-5.00"});
    let mut unknown = gamma_v3();
    unknown["version"] = 4.into();
    unknown["revshare_pct"] = "20".into();
    let mut too_precise = gamma_v3();
    too_precise["version"] = 4.into();
    too_precise["cpa_default"] = "10.001".into();
    for (plan, field) in [
        (gap, "plan.version"),
        (negative, "plan.cpa_by_tier.100k"),
        (unknown, "plan"),
        (too_precise, "plan.cpa_default"),
    ] {
        let (status, response) = ops(
            &admin,
            "POST",
            "/admin/plans",
            json!({"plan": plan, "reason": "x"}),
        )
        .await;
        assert_eq!(status, 400, "{response}");
        assert_eq!(fields(&response), vec![field.to_owned()], "{response}");
    }
    let (status, response) = ops(&admin, "POST", "/admin/plans", json!({"plan": gamma_v3()})).await;
    assert_eq!(
        (status, fields(&response)),
        (400, vec!["reason".to_owned()])
    );
    // a viewer may not publish
    let (status, _) = admin
        .call(
            "POST",
            "/admin/plans",
            Some(&admin.viewer()),
            Some(&json!({"plan": gamma_v3(), "reason": "x"})),
        )
        .await;
    assert_eq!(status, 403);
    let (_, list) = admin
        .call("GET", "/admin/plans", Some(&admin.viewer()), None)
        .await;
    let versions: Vec<(String, u64)> = list["plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["plan"]["plan_id"].as_str().unwrap().to_owned(),
                p["plan"]["version"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        versions,
        vec![
            ("alpha-hybrid".to_owned(), 1),
            ("beta-cpa".to_owned(), 1),
            ("gamma-revshare".to_owned(), 1),
            ("gamma-revshare".to_owned(), 2),
            ("gamma-revshare".to_owned(), 3),
        ]
    );
}

#[tokio::test]
async fn an_affiliates_own_emails_are_kept_hashed_and_catch_a_self_referral() {
    let stack = LocalStack::fresh().await;
    let admin = stack.admin(Utc::now()).await;
    let create = json!({
        "affiliate_id": "aff-delta", "plan_id": "beta-cpa", "plan_version": 1,
        "own_customer_ids": ["cust-delta-own"], "own_emails": ["Delta.Owner@Example.com"],
        "reason": "signed the partner agreement"
    });
    let (status, created) = ops(&admin, "POST", "/admin/affiliates", create.clone()).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["affiliate"]["own_email_count"], 1);
    assert_eq!(created["affiliate"]["version"], 1);
    assert!(
        !created.to_string().contains("Example.com"),
        "no email in a response: {created}"
    );
    // nowhere in the table either
    let env = &stack.function("AdminFunction").environment;
    let items = stack.scan(&env["DIRECTORY_TABLE"]).await;
    let text = format!("{items:?}").to_lowercase();
    assert!(
        !text.contains("delta.owner"),
        "an email in clear in the directory"
    );
    // created twice: 409; an unpublished plan or a tier the plan does not price: 400
    assert_eq!(
        ops(&admin, "POST", "/admin/affiliates", create.clone())
            .await
            .0,
        409
    );
    let mut bad = create.clone();
    bad["affiliate_id"] = "aff-epsilon".into();
    bad["plan_version"] = 7.into();
    let (status, response) = ops(&admin, "POST", "/admin/affiliates", bad.clone()).await;
    assert_eq!(
        (status, fields(&response)),
        (400, vec!["plan_version".to_owned()]),
        "{response}"
    );
    bad["plan_version"] = 1.into();
    bad["quality_tier"] = "platinum".into();
    let (status, response) = ops(&admin, "POST", "/admin/affiliates", bad.clone()).await;
    assert_eq!(
        (status, fields(&response)),
        (400, vec!["quality_tier".to_owned()]),
        "{response}"
    );
    bad["quality_tier"] = Value::Null;
    bad["own_emails"] = json!(["not-an-email"]);
    let (status, response) = ops(&admin, "POST", "/admin/affiliates", bad.clone()).await;
    assert_eq!(
        (status, fields(&response)),
        (400, vec!["own_emails[0]".to_owned()]),
        "{response}"
    );
    assert!(
        !response.to_string().contains("not-an-email"),
        "the email is not echoed"
    );
    bad["own_emails"] = json!([]);
    bad["qualified_by_month"] = json!({"2026-11": 50});
    let (status, response) = ops(&admin, "POST", "/admin/affiliates", bad).await;
    assert_eq!(
        (status, fields(&response)),
        (400, vec!["qualified_by_month".to_owned()]),
        "{response}"
    );

    // the processor sees the new affiliate: its own email buying through its link is held
    let mut p = purchase(
        "cust-someone",
        "tx-d1",
        "499.00",
        json!({"affiliate_id": "aff-delta"}),
    );
    p["email"] = "delta.owner@example.com".into();
    send(&stack, &[(EventType::Purchase, "d-p1", p)]).await;
    let (_, queue) = admin
        .call(
            "GET",
            "/admin/reviews?kind=self_referral",
            Some(&admin.ops()),
            None,
        )
        .await;
    assert_eq!(
        queue["items"][0]["review_id"], "self_referral#d-p1",
        "{queue}"
    );
}

#[tokio::test]
async fn moving_an_affiliate_to_a_new_plan_version_is_audited_and_prices_what_follows() {
    let stack = LocalStack::fresh().await;
    let admin = stack.admin(Utc::now()).await;
    // a purchase under gamma v2 (gold: 18%), then aff-gamma moves to v3 (20%, no tiers)
    send(
        &stack,
        &[(
            EventType::Purchase,
            "g-p1",
            purchase(
                "cust-g1",
                "tx-g1",
                "500.00",
                json!({"affiliate_id": "aff-gamma"}),
            ),
        )],
    )
    .await;
    assert_eq!(
        ops(
            &admin,
            "POST",
            "/admin/plans",
            json!({"plan": gamma_v3(), "reason": "new deal"})
        )
        .await
        .0,
        200
    );
    // v3 has no gold tier: moving with the tier kept is refused, naming it
    let (status, response) = ops(
        &admin,
        "PATCH",
        "/admin/affiliates/aff-gamma",
        json!({"plan_id": "gamma-revshare", "plan_version": 3, "reason": "new deal"}),
    )
    .await;
    assert_eq!(
        (status, fields(&response)),
        (400, vec!["quality_tier".to_owned()]),
        "{response}"
    );
    let (status, changed) = ops(
        &admin,
        "PATCH",
        "/admin/affiliates/aff-gamma",
        json!({"plan_id": "gamma-revshare", "plan_version": 3, "quality_tier": null, "reason": "new deal"}),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["change"]["before"]["plan_version"], 2);
    assert_eq!(changed["change"]["before"]["quality_tier"], "gold");
    assert_eq!(changed["change"]["after"]["plan_version"], 3);
    // (loaded from directory.json through the API: version 1; this change: 2)
    assert_eq!(changed["affiliate"]["version"], 2);
    // nothing to change, half a plan, an amount: 400
    for (body, field) in [
        (json!({"reason": "x"}), "body"),
        (
            json!({"plan_id": "beta-cpa", "reason": "x"}),
            "plan_version",
        ),
        (json!({"plan_version": 1, "reason": "x"}), "plan_id"),
        (json!({"amount": "10.00", "reason": "x"}), "amount"),
    ] {
        let (status, response) = ops(&admin, "PATCH", "/admin/affiliates/aff-gamma", body).await;
        assert_eq!(
            (status, fields(&response)),
            (400, vec![field.to_owned()]),
            "{response}"
        );
    }
    assert_eq!(
        ops(
            &admin,
            "PATCH",
            "/admin/affiliates/aff-nobody",
            json!({"quality_tier": null, "reason": "x"})
        )
        .await
        .0,
        404
    );

    // what follows is priced under v3: 20% of 500.00 = 100.00; what came before keeps 18% = 90.00
    send(
        &stack,
        &[(
            EventType::Purchase,
            "g-p2",
            purchase(
                "cust-g2",
                "tx-g2",
                "500.00",
                json!({"affiliate_id": "aff-gamma"}),
            ),
        )],
    )
    .await;
    let (status, page) = admin
        .call(
            "GET",
            "/admin/affiliates/aff-gamma",
            Some(&admin.viewer()),
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["affiliate"]["plan_version"], 3);
    assert_eq!(page["plan"]["plan"]["revshare_percent"], "20");
    // both purchases happened three days ago: their month
    let month = (Utc::now() - Duration::days(3)).format("%Y-%m").to_string();
    let lines = page["activity"]["commissions_by_month"].as_array().unwrap();
    let pending: Vec<&Value> = lines.iter().filter(|l| l["status"] == "pending").collect();
    assert_eq!(pending.len(), 1, "{lines:?}");
    assert_eq!(pending[0]["commissions"], 2);
    assert_eq!(pending[0]["amount"], "190.00");
    assert_eq!(pending[0]["month"], month.as_str());
    assert_eq!(page["activity"]["balances"][0]["pending"], "190.00");
    assert_eq!(page["activity"]["balances"][0]["payable"], "0.00");
    let history = page["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(history[0]["action"], "create");
    assert_eq!(history[1]["action"], "change");
    assert_eq!(history[1]["by"], "ops-alice");
    assert_eq!(history[1]["reason"], "new deal");

    // two changes decided on the same version at once: one wins, the other is told to reload
    let (a, b) = tokio::join!(
        ops(
            &admin,
            "PATCH",
            "/admin/affiliates/aff-gamma",
            json!({"own_customer_ids": ["acc-1"], "reason": "a"})
        ),
        ops(
            &admin,
            "PATCH",
            "/admin/affiliates/aff-gamma",
            json!({"own_customer_ids": ["acc-2"], "reason": "b"})
        ),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
    let (_, page) = admin
        .call(
            "GET",
            "/admin/affiliates/aff-gamma",
            Some(&admin.viewer()),
            None,
        )
        .await;
    assert_eq!(page["history"].as_array().unwrap().len(), 3);
    // the processor's counters on the same item survived every change
    let env = &stack.function("AdminFunction").environment;
    let item = stack
        .scan(&env["DIRECTORY_TABLE"])
        .await
        .into_iter()
        .find(|i| i["pk"].as_s().unwrap() == "affiliate#aff-gamma")
        .unwrap();
    let months = item["qualified_by_month"].as_m().unwrap();
    assert_eq!(
        months
            .values()
            .map(|v| v.as_n().unwrap().parse::<u32>().unwrap())
            .sum::<u32>(),
        2
    );
}

#[tokio::test]
async fn reassigning_a_coupon_code_is_audited_and_attributes_what_follows() {
    let stack = LocalStack::fresh().await;
    let admin = stack.admin(Utc::now()).await;
    let (status, moved) = ops(
        &admin,
        "PUT",
        "/admin/coupons/ALPHA10",
        json!({"affiliate_id": "aff-beta", "reason": "code sold to aff-beta"}),
    )
    .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["change"]["action"], "reassign");
    assert_eq!(moved["change"]["before"]["affiliate_id"], "aff-alpha");
    // the same assignment again records nothing; an unknown affiliate or bad code is a 400
    let (status, same) = ops(
        &admin,
        "PUT",
        "/admin/coupons/ALPHA10",
        json!({"affiliate_id": "aff-beta", "reason": "again"}),
    )
    .await;
    assert_eq!((status, same["change"].clone()), (200, Value::Null));
    let (status, response) = ops(
        &admin,
        "PUT",
        "/admin/coupons/ALPHA10",
        json!({"affiliate_id": "aff-nobody", "reason": "x"}),
    )
    .await;
    assert_eq!(
        (status, fields(&response)),
        (400, vec!["affiliate_id".to_owned()])
    );
    let (status, response) = ops(
        &admin,
        "PUT",
        "/admin/coupons/has%20space",
        json!({"affiliate_id": "aff-beta", "reason": "x"}),
    )
    .await;
    assert_eq!(
        (status, fields(&response)),
        (400, vec!["coupon_code".to_owned()])
    );
    let (status, created) = ops(
        &admin,
        "PUT",
        "/admin/coupons/GAMMA5",
        json!({"affiliate_id": "aff-gamma", "reason": "launch"}),
    )
    .await;
    assert_eq!(
        (status, created["change"]["action"].clone()),
        (200, json!("create"))
    );
    let (_, coupon) = admin
        .call("GET", "/admin/coupons/ALPHA10", Some(&admin.viewer()), None)
        .await;
    let history = coupon["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{coupon}");
    assert_eq!(history[1]["reason"], "code sold to aff-beta");
    // a purchase with ALPHA10 now belongs to aff-beta (beta-cpa 100k: 100.00)
    send(
        &stack,
        &[(
            EventType::Purchase,
            "c-p1",
            purchase(
                "cust-c1",
                "tx-c1",
                "499.00",
                json!({"coupon_code": "ALPHA10"}),
            ),
        )],
    )
    .await;
    let (_, timeline) = admin
        .call(
            "GET",
            "/admin/customers/cust-c1",
            Some(&admin.viewer()),
            None,
        )
        .await;
    assert_eq!(timeline["attribution"]["affiliate_id"], "aff-beta");
    assert_eq!(timeline["events"][0]["entries"][0]["amount"], "100.00");
    let (_, list) = admin
        .call("GET", "/admin/coupons", Some(&admin.viewer()), None)
        .await;
    let codes: Vec<(&str, &str)> = list["coupons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["coupon_code"].as_str().unwrap(),
                c["affiliate_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        codes,
        vec![
            ("ALPHA10", "aff-beta"),
            ("BETA20", "aff-beta"),
            ("GAMMA5", "aff-gamma")
        ]
    );
}

#[tokio::test]
async fn the_affiliate_page_shows_balances_that_move_when_a_review_is_resolved() {
    let stack = LocalStack::fresh().await;
    // aff-gamma: one clean purchase (89.82 at 18% of 499.00) and its own account's (held)
    send(
        &stack,
        &[
            (
                EventType::Purchase,
                "b-p1",
                purchase(
                    "cust-b1",
                    "tx-b1",
                    "499.00",
                    json!({"affiliate_id": "aff-gamma"}),
                ),
            ),
            (
                EventType::Purchase,
                "b-p2",
                purchase(
                    "cust-gamma-own",
                    "tx-b2",
                    "299.00",
                    json!({"affiliate_id": "aff-gamma"}),
                ),
            ),
        ],
    )
    .await;
    let harness = stack.processor();
    // cooling-off (48 h) ended for both: the tick approves the clean one, not the held one
    stack.tick(&harness, Utc::now()).await;
    let admin = stack.admin(Utc::now()).await;
    let balance = |page: &Value| page["activity"]["balances"][0].clone();
    let (_, page) = admin
        .call(
            "GET",
            "/admin/affiliates/aff-gamma",
            Some(&admin.viewer()),
            None,
        )
        .await;
    assert_eq!(
        balance(&page),
        json!({"currency": "USD", "payable": "89.82", "paid": "0.00", "pending": "0.00", "on_hold": "53.82"})
    );
    // quality by month: two purchases, one self-referral
    let quality = &page["activity"]["quality_by_month"];
    assert_eq!(quality.as_array().unwrap().len(), 1, "{quality}");
    assert_eq!(quality[0]["score"]["purchases"], "2");

    let (status, _) = admin
        .call(
            "POST",
            "/admin/reviews/self_referral%23b-p2/resolution",
            Some(&admin.ops()),
            Some(&json!({"action": "approve", "reason": "a customer, not the affiliate"})),
        )
        .await;
    assert_eq!(status, 200);
    // the released commission is approved at the next tick (its approval takes effect at its
    // cooling-off end, before the release was written: the page orders by write order)
    assert_eq!(stack.tick(&harness, Utc::now()).await.approvals, 1);
    let (_, page) = admin
        .call(
            "GET",
            "/admin/affiliates/aff-gamma",
            Some(&admin.viewer()),
            None,
        )
        .await;
    assert_eq!(
        balance(&page),
        json!({"currency": "USD", "payable": "143.64", "paid": "0.00", "pending": "0.00", "on_hold": "0.00"})
    );
    let (status, _) = admin
        .call(
            "GET",
            "/admin/affiliates/aff-nobody",
            Some(&admin.viewer()),
            None,
        )
        .await;
    assert_eq!(status, 404);

    // Finance records that the statement at a cut-off after both approvals was paid.
    let cut_off = Utc::now().with_nanosecond(0).unwrap() + Duration::seconds(1);
    let admin = stack.admin(cut_off + Duration::seconds(5)).await;
    let path = "/admin/affiliates/aff-gamma/payouts";
    let body = json!({"cut_off": cut_off.to_rfc3339(), "reason": "bank transfer, batch 12"});
    // no amount, status or anything else can be sent; a cut-off in the future is refused
    for (bad, field) in [
        (
            json!({"cut_off": cut_off.to_rfc3339(), "reason": "x", "amount": "1000.00"}),
            "amount",
        ),
        (json!({"cut_off": "yesterday", "reason": "x"}), "cut_off"),
        (
            json!({"cut_off": (cut_off + Duration::days(1)).to_rfc3339(), "reason": "x"}),
            "cut_off",
        ),
        (json!({"cut_off": cut_off.to_rfc3339()}), "reason"),
    ] {
        let (status, response) = admin
            .call("POST", path, Some(&admin.ops()), Some(&bad))
            .await;
        assert_eq!(status, 400, "{bad}: {response}");
        assert_eq!(response["errors"][0]["field"], field, "{response}");
    }
    let (status, response) = admin
        .call("POST", path, Some(&admin.viewer()), Some(&body))
        .await;
    assert_eq!(status, 403, "{response}");
    let (status, paid) = admin
        .call("POST", path, Some(&admin.ops()), Some(&body))
        .await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["recorded"], true);
    let statement_id = format!("aff-gamma@{}", cut_off.format("%Y%m%dT%H%M%SZ"));
    assert_eq!(paid["statement_id"], statement_id.as_str());
    assert_eq!(paid["payouts"].as_array().unwrap().len(), 1);
    assert_eq!(paid["payouts"][0]["currency"], "USD");
    assert_eq!(paid["payouts"][0]["amount"], "143.64");
    // the same statement again: nothing more (one payout entry), the first recording shown
    let (status, again) = admin
        .call("POST", path, Some(&admin.ops()), Some(&body))
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["recorded"], false);
    assert_eq!(again["payouts"], paid["payouts"]);
    // a later statement cannot pay again what this payout (booked after that cut-off) paid
    let later = json!({"cut_off": (cut_off + Duration::seconds(2)).to_rfc3339(), "reason": "x"});
    let (status, refused) = admin
        .call("POST", path, Some(&admin.ops()), Some(&later))
        .await;
    assert_eq!(status, 409, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("is more than is payable now (0.00)"),
        "{refused}"
    );
    // the ledger holds exactly one payout, with who recorded it and why
    let text = |i: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
                k: &str| match i.get(k) {
        Some(aws_sdk_dynamodb::types::AttributeValue::S(v)) => v.clone(),
        Some(aws_sdk_dynamodb::types::AttributeValue::N(v)) => v.clone(),
        other => panic!("{k}: {other:?}"),
    };
    let payouts: Vec<_> = stack
        .scan(&harness.config.tables.ledger)
        .await
        .into_iter()
        .filter(|i| text(i, "kind") == "payout")
        .collect();
    assert_eq!(payouts.len(), 1, "{payouts:?}");
    assert_eq!(
        rust_decimal::Decimal::from_str_exact(&text(&payouts[0], "amount")).unwrap(),
        rust_decimal::Decimal::new(-14364, 2)
    );
    assert_eq!(text(&payouts[0], "paid_by"), "ops-alice");
    assert_eq!(text(&payouts[0], "reason"), "bank transfer, batch 12");
    assert_eq!(text(&payouts[0], "statement_id"), statement_id);
    // the affiliate page: nothing payable, 143.64 paid
    let (_, page) = admin
        .call(
            "GET",
            "/admin/affiliates/aff-gamma",
            Some(&admin.viewer()),
            None,
        )
        .await;
    assert_eq!(
        balance(&page),
        json!({"currency": "USD", "payable": "0.00", "paid": "143.64", "pending": "0.00", "on_hold": "0.00"})
    );
}
