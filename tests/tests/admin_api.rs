//! Integration tier: the admin API on the local stack (moto's server, the real AWS SDK, the
//! function's own handler and configuration from template.yaml). Every route is authorized; input
//! is allow-listed; each resolution kind goes webhook → processor → review item → resolution →
//! ledger entries with exact amounts; a second or concurrent resolution has no second effect.

use std::collections::HashMap;

use chrono::{Duration, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use shared::events::EventType;
use system_tests::{AdminHarness, LedgerRow, LocalStack, ProcessorHarness, Webhooks};

fn ago(d: Duration) -> String {
    (Utc::now() - d).to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn purchase(customer: &str, tx: &str, amount: &str, referral: Value) -> Value {
    let mut body = json!({
        "customer_id": customer, "occurred_at": ago(Duration::days(2)), "transaction_id": tx,
        "challenge_id": format!("ch-{tx}"), "tier": "100k", "account_size": "100000",
        "amount": amount, "currency": "USD",
    });
    for (k, v) in referral.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

/// Sends purchases through the webhooks and the processor.
async fn deliver(stack: &LocalStack, harness: &ProcessorHarness, purchases: &[(&str, Value)]) {
    let hooks = Webhooks::new(stack).await;
    for (id, body) in purchases {
        let (status, response) = hooks.send(EventType::Purchase, id, body).await;
        assert_eq!(status, 202, "{id}: {response}");
    }
    let run = stack.run_trigger(harness, &harness.store, 10).await;
    assert_eq!(run.failed, 0);
}

/// `/admin/reviews/{id}` with the id percent-encoded (`#` would end the path).
fn review_path(id: &str) -> String {
    format!("/admin/reviews/{}", id.replace('#', "%23"))
}

/// A commission's entries as (affiliate, kind, amount, status), sorted (entry ids of resolutions
/// and of events do not sort in time order; the expected lists below are sorted the same way).
fn rows<'a>(
    ledger: &'a [LedgerRow],
    commission: &str,
) -> Vec<(&'a str, &'a str, Decimal, &'a str)> {
    let mut out: Vec<_> = ledger
        .iter()
        .filter(|r| r.commission_id == commission)
        .map(|r| {
            (
                r.affiliate_id.as_str(),
                r.kind.as_str(),
                r.amount,
                r.status.as_str(),
            )
        })
        .collect();
    out.sort();
    out
}

async fn open_review(admin: &AdminHarness, kind: &str) -> Value {
    let (status, page) = admin
        .call(
            "GET",
            &format!("/admin/reviews?kind={kind}"),
            Some(&admin.ops()),
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "one open {kind} item: {page}");
    items[0].clone()
}

async fn resolve(admin: &AdminHarness, review_id: &str, body: Value) -> (u16, Value) {
    admin
        .call(
            "POST",
            &format!("{}/resolution", review_path(review_id)),
            Some(&admin.ops()),
            Some(&body),
        )
        .await
}

/// The self-referral case: aff-gamma's own account buys through aff-gamma's link (gamma v2,
/// gold tier: 18% RevShare of 499.00 = 89.82, held for review).
async fn self_referral(stack: &LocalStack) -> (ProcessorHarness, AdminHarness, String) {
    let harness = stack.processor();
    deliver(
        stack,
        &harness,
        &[(
            "sr-p",
            purchase(
                "cust-gamma-own",
                "tx-sr",
                "499.00",
                json!({"affiliate_id": "aff-gamma"}),
            ),
        )],
    )
    .await;
    let admin = stack.admin(Utc::now()).await;
    let item = open_review(&admin, "self_referral").await;
    let id = item["review_id"].as_str().unwrap().to_owned();
    assert_eq!(id, "self_referral#sr-p");
    assert_eq!(item["status"], "open");
    assert_eq!(item["evidence"]["affiliate_id"], "aff-gamma");
    (harness, admin, id)
}

/// (method, path) of every route the template puts on the admin API.
fn admin_routes_in_template() -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(system_tests::workspace_root().join("template.yaml")).unwrap();
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let events = &yaml["Resources"]["AdminFunction"]["Properties"]["Events"];
    let mut out: Vec<(String, String)> = events
        .as_mapping()
        .unwrap()
        .values()
        .map(|e| {
            (
                e["Properties"]["Method"].as_str().unwrap().to_owned(),
                e["Properties"]["Path"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn every_route_needs_a_verified_caller_and_only_ops_may_resolve() {
    let stack = LocalStack::fresh().await;
    let (harness, admin, id) = self_referral(&stack).await;
    let resolution = json!({"action": "approve", "reason": "checked"});
    let directory: Value = serde_json::from_str(
        &std::fs::read_to_string(system_tests::workspace_root().join("infra/local/directory.json"))
            .unwrap(),
    )
    .unwrap();
    let mut new_plan = directory["plans"][0].clone();
    new_plan["plan_id"] = json!("another-plan");
    new_plan["version"] = json!(1);
    // Every route of the admin API in template.yaml, with a valid body for each write: each is
    // refused without a verified caller, and a viewer may read but not write.
    let routes: Vec<(&str, &str, String, Option<Value>)> = vec![
        ("GET", "/admin/reviews", "/admin/reviews".into(), None),
        ("GET", "/admin/reviews/{review_id}", review_path(&id), None),
        (
            "POST",
            "/admin/reviews/{review_id}/resolution",
            format!("{}/resolution", review_path(&id)),
            Some(resolution.clone()),
        ),
        (
            "GET",
            "/admin/customers/{customer_id}",
            "/admin/customers/cust-gamma-own".into(),
            None,
        ),
        ("GET", "/admin/plans", "/admin/plans".into(), None),
        (
            "POST",
            "/admin/plans",
            "/admin/plans".into(),
            Some(json!({"plan": new_plan, "reason": "r"})),
        ),
        ("GET", "/admin/affiliates", "/admin/affiliates".into(), None),
        (
            "POST",
            "/admin/affiliates",
            "/admin/affiliates".into(),
            Some(
                json!({"affiliate_id": "aff-new", "plan_id": "gamma-revshare", "plan_version": 2, "reason": "r"}),
            ),
        ),
        (
            "GET",
            "/admin/affiliates/{affiliate_id}",
            "/admin/affiliates/aff-gamma".into(),
            None,
        ),
        (
            "PATCH",
            "/admin/affiliates/{affiliate_id}",
            "/admin/affiliates/aff-gamma".into(),
            Some(json!({"quality_tier": "gold", "reason": "r"})),
        ),
        (
            "POST",
            "/admin/affiliates/{affiliate_id}/payouts",
            "/admin/affiliates/aff-gamma/payouts".into(),
            Some(json!({"cut_off": "2026-11-30T23:59:59Z", "reason": "r"})),
        ),
        ("GET", "/admin/coupons", "/admin/coupons".into(), None),
        (
            "GET",
            "/admin/coupons/{coupon_code}",
            "/admin/coupons/ALPHA10".into(),
            None,
        ),
        (
            "PUT",
            "/admin/coupons/{coupon_code}",
            "/admin/coupons/ALPHA10".into(),
            Some(json!({"affiliate_id": "aff-beta", "reason": "r"})),
        ),
    ];
    let mut covered: Vec<(String, String)> = routes
        .iter()
        .map(|(m, template_path, _, _)| ((*m).to_owned(), (*template_path).to_owned()))
        .collect();
    covered.sort();
    let mut declared = admin_routes_in_template();
    declared.retain(|(_, p)| !p.starts_with("/admin/console"));
    assert_eq!(
        covered, declared,
        "every admin route of template.yaml is in this test"
    );
    let routes: Vec<(&str, String, Option<Value>)> = routes
        .into_iter()
        .map(|(m, _, path, body)| (m, path, body))
        .collect();
    let now = admin.now;
    let with = |patch: &[(&str, &str)]| {
        let mut c = admin.ops();
        for (k, v) in patch {
            if v.is_empty() {
                c.remove(*k);
            } else {
                c.insert((*k).to_owned(), (*v).to_owned());
            }
        }
        c
    };
    let expired = (now.timestamp() - 1).to_string();
    let not_yet = (now.timestamp() + 60).to_string();
    let refused: Vec<(&str, Option<HashMap<String, String>>)> = vec![
        ("no token", None),
        ("empty claims", Some(HashMap::new())),
        ("expired", Some(with(&[("exp", &expired)]))),
        ("no expiry", Some(with(&[("exp", "")]))),
        ("not yet valid", Some(with(&[("nbf", &not_yet)]))),
        ("another audience", Some(with(&[("aud", "another-api")]))),
        (
            "another issuer",
            Some(with(&[("iss", "https://evil.example")])),
        ),
        ("no subject", Some(with(&[("sub", "")]))),
        ("no admin role", Some(with(&[("role", "admin")]))),
    ];
    for (method, path, body) in &routes {
        for (why, claims) in &refused {
            let (status, response) = admin
                .call(method, path, claims.as_ref(), body.as_ref())
                .await;
            assert_eq!(status, 401, "{method} {path} with {why}: {response}");
            assert_eq!(response["error"], "unauthorized");
        }
        // a viewer reads everything and changes nothing
        let (status, response) = admin
            .call(method, path, Some(&admin.viewer()), body.as_ref())
            .await;
        if *method != "GET" {
            assert_eq!(status, 403, "viewer {method} {path}: {response}");
            assert_eq!(response["error"], "forbidden");
        } else {
            assert_eq!(status, 200, "viewer {method} {path}: {response}");
        }
    }
    // nothing was written by any refused request
    let ledger = stack.ledger(&harness).await;
    assert_eq!(rows(&ledger, "sr-p").len(), 1);
    let (_, item) = admin
        .call("GET", &review_path(&id), Some(&admin.viewer()), None)
        .await;
    assert_eq!(item["review"]["status"], "open");
    // an anonymous request with bad input learns nothing about the input
    let (status, _) = admin
        .call("GET", "/admin/reviews?bogus=1", None, None)
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_problem_and_nothing_is_written() {
    let stack = LocalStack::fresh().await;
    let (harness, admin, id) = self_referral(&stack).await;
    let resolution_path = format!("{}/resolution", review_path(&id));
    let ops = admin.ops();
    let field_of = |response: &Value| -> Vec<String> {
        response["errors"]
            .as_array()
            .map(|e| {
                e.iter()
                    .map(|x| x["field"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    // (method, path, body, status, fields named)
    type Case<'a> = (&'a str, String, Option<Value>, u16, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (
            "GET",
            "/admin/reviews?limit=0".into(),
            None,
            400,
            vec!["limit"],
        ),
        (
            "GET",
            "/admin/reviews?limit=101".into(),
            None,
            400,
            vec!["limit"],
        ),
        (
            "GET",
            "/admin/reviews?limit=ten".into(),
            None,
            400,
            vec!["limit"],
        ),
        (
            "GET",
            "/admin/reviews?status=closed".into(),
            None,
            400,
            vec!["status"],
        ),
        (
            "GET",
            "/admin/reviews?kind=fraud".into(),
            None,
            400,
            vec!["kind"],
        ),
        (
            "GET",
            "/admin/reviews?amount=5".into(),
            None,
            400,
            vec!["amount"],
        ),
        (
            "GET",
            "/admin/reviews?limit=5&limit=6".into(),
            None,
            400,
            vec!["limit"],
        ),
        (
            "GET",
            "/admin/reviews?cursor=not-a-cursor".into(),
            None,
            400,
            vec!["cursor"],
        ),
        (
            "GET",
            "/admin/reviews?affiliate_id=a%20b".into(),
            None,
            400,
            vec!["affiliate_id"],
        ),
        (
            "GET",
            "/admin/reviews?older_than_hours=-1".into(),
            None,
            400,
            vec!["older_than_hours"],
        ),
        (
            "GET",
            "/admin/reviews/not-a-review".into(),
            None,
            400,
            vec!["review_id"],
        ),
        (
            "GET",
            "/admin/customers/has%20space".into(),
            None,
            400,
            vec!["customer_id"],
        ),
        (
            "GET",
            "/admin/customers/cust-gamma-own?limit=1000".into(),
            None,
            400,
            vec!["limit"],
        ),
        (
            "GET",
            "/admin/customers/cust-gamma-own?cursor=eyJ4Ijp7IlMiOiJ5In19".into(),
            None,
            400,
            vec!["cursor"],
        ),
        (
            "POST",
            resolution_path.clone(),
            Some(json!({"action": "approve", "reason": "ok", "amount": "1000.00"})),
            400,
            vec!["amount"],
        ),
        (
            "POST",
            resolution_path.clone(),
            Some(json!({"action": "approve", "reason": "ok", "status": "approved"})),
            400,
            vec!["status"],
        ),
        (
            "POST",
            resolution_path.clone(),
            Some(json!({"action": "approve", "reason": "ok", "affiliate_id": "aff-alpha"})),
            400,
            vec!["affiliate_id"],
        ),
        (
            "POST",
            resolution_path.clone(),
            Some(json!({"action": "approve"})),
            400,
            vec!["reason"],
        ),
        (
            "POST",
            resolution_path.clone(),
            Some(json!({"reason": "why"})),
            400,
            vec!["action"],
        ),
        (
            "POST",
            resolution_path.clone(),
            Some(json!({"action": "pay", "reason": "x"})),
            400,
            vec!["action"],
        ),
        (
            "POST",
            resolution_path.clone(),
            Some(json!({"action": "reassign", "reason": "x"})),
            400,
            vec!["affiliate_id"],
        ),
        (
            "POST",
            resolution_path.clone(),
            Some(json!({"action": "reassign", "reason": "x", "affiliate_id": "bad id!"})),
            400,
            vec!["affiliate_id"],
        ),
        (
            "POST",
            resolution_path.clone(),
            Some(json!({"action": "merge", "reason": "x"})),
            400,
            vec!["into_customer_id"],
        ),
        (
            "POST",
            resolution_path.clone(),
            Some(json!(["approve"])),
            400,
            vec!["body"],
        ),
        (
            "POST",
            resolution_path.clone(),
            Some(json!({"action": 1, "reason": "x"})),
            400,
            vec!["action"],
        ),
        (
            "GET",
            "/admin/reviews/self_referral%23nothing".into(),
            None,
            404,
            vec![],
        ),
        (
            "GET",
            "/admin/customers/cust-nobody".into(),
            None,
            404,
            vec![],
        ),
        ("GET", "/admin/payouts".into(), None, 404, vec![]),
    ];
    for (method, path, body, status, fields) in cases {
        let (got, response) = admin.call(method, &path, Some(&ops), body.as_ref()).await;
        assert_eq!(got, status, "{method} {path} {body:?}: {response}");
        for f in &fields {
            assert!(
                field_of(&response).iter().any(|x| x == f),
                "{path}: {f} not named in {response}"
            );
        }
        // never an internal detail in a response
        let text = response.to_string();
        assert!(
            !text.contains("Error {") && !text.contains("dynamodb"),
            "{text}"
        );
    }
    // a body that is not JSON, and one too large
    let mut raw = system_tests::admin_event("POST", &resolution_path, Some(&ops), None);
    raw["headers"]["content-type"] = "text/plain".into();
    raw["body"] = "approve".into();
    assert_eq!(admin.call_raw(raw).await.0, 415);
    let big = json!({"action": "approve", "reason": "x".repeat(20_000)});
    let (status, response) = admin
        .call("POST", &resolution_path, Some(&ops), Some(&big))
        .await;
    assert_eq!(status, 413, "{response}");
    // nothing was written: the item is open, the ledger holds the one held commission
    let ledger = stack.ledger(&harness).await;
    assert_eq!(
        rows(&ledger, "sr-p"),
        vec![("aff-gamma", "commission", dec("89.82"), "on_hold")]
    );
    let (_, detail) = admin.call("GET", &review_path(&id), Some(&ops), None).await;
    assert_eq!(detail["review"]["status"], "open");
    assert!(detail["review"]["resolution"].is_null());
}

#[tokio::test]
async fn approving_releases_the_held_commission_with_an_audit_record_once() {
    let stack = LocalStack::fresh().await;
    let (harness, admin, id) = self_referral(&stack).await;
    // the item with its evidence, its event and the entries it concerns
    let (status, detail) = admin
        .call("GET", &review_path(&id), Some(&admin.viewer()), None)
        .await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["event"]["event_id"], "sr-p");
    assert_eq!(detail["event"]["outcome"], "held_for_review");
    assert_eq!(detail["event"]["entries"][0]["amount"], "89.82");
    assert_eq!(detail["event"]["entries"][0]["status"], "on_hold");

    let (status, resolved) = resolve(
        &admin,
        &id,
        json!({"action": "approve", "reason": "family account, verified"}),
    )
    .await;
    assert_eq!(status, 200, "{resolved}");
    assert_eq!(resolved["released"], json!(["sr-p"]));
    assert_eq!(resolved["review"]["status"], "resolved");
    let audit = &resolved["review"]["resolution"];
    assert_eq!(audit["action"], "approve");
    assert_eq!(audit["by"], "ops-alice");
    assert_eq!(audit["reason"], "family account, verified");
    let at: chrono::DateTime<Utc> = audit["at"].as_str().unwrap().parse().unwrap();
    assert_eq!(at, admin.now);
    let ledger = stack.ledger(&harness).await;
    assert_eq!(
        rows(&ledger, "sr-p"),
        vec![
            ("aff-gamma", "commission", dec("89.82"), "on_hold"),
            ("aff-gamma", "release", dec("0"), "pending"),
        ]
    );
    // resolving again: 409 saying how it was resolved, and no second effect
    let (status, again) = resolve(
        &admin,
        &id,
        json!({"action": "reject", "reason": "second thoughts"}),
    )
    .await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["current"]["resolution"]["action"], "approve");
    assert_eq!(again["current"]["resolution"]["by"], "ops-alice");
    assert_eq!(stack.ledger(&harness).await, ledger);
    // out of the open queue, into the resolved one, with the entries it posted
    let (_, open) = admin
        .call("GET", "/admin/reviews", Some(&admin.ops()), None)
        .await;
    assert_eq!(open["items"], json!([]));
    let (_, closed) = admin
        .call(
            "GET",
            "/admin/reviews?status=resolved",
            Some(&admin.ops()),
            None,
        )
        .await;
    assert_eq!(closed["items"][0]["review_id"], id);
    let (_, detail) = admin
        .call("GET", &review_path(&id), Some(&admin.ops()), None)
        .await;
    assert_eq!(detail["resolution_entries"][0]["kind"], "release");
    // cooling-off (48 h) ended long ago: the next tick approves the released commission
    stack.tick(&harness, Utc::now()).await;
    let ledger = stack.ledger(&harness).await;
    assert!(
        rows(&ledger, "sr-p").iter().any(|r| r.1 == "approval"),
        "{ledger:?}"
    );
}

#[tokio::test]
async fn rejecting_cancels_what_is_held_and_the_customer_becomes_organic() {
    let stack = LocalStack::fresh().await;
    let (harness, admin, id) = self_referral(&stack).await;
    let (status, resolved) = resolve(
        &admin,
        &id,
        json!({"action": "reject", "reason": "the affiliate's own account"}),
    )
    .await;
    assert_eq!(status, 200, "{resolved}");
    assert_eq!(resolved["cancelled"], json!(["sr-p"]));
    let ledger = stack.ledger(&harness).await;
    assert_eq!(
        rows(&ledger, "sr-p"),
        vec![
            ("aff-gamma", "cancellation", dec("-89.82"), "cancelled"),
            ("aff-gamma", "commission", dec("89.82"), "on_hold"),
        ]
    );
    let net: Decimal = ledger.iter().map(|r| r.amount).sum();
    assert_eq!(net, Decimal::ZERO);
    // the timeline shows it all: attribution, the event, its entry, the closed review
    let (status, timeline) = admin
        .call(
            "GET",
            "/admin/customers/cust-gamma-own",
            Some(&admin.viewer()),
            None,
        )
        .await;
    assert_eq!(status, 200, "{timeline}");
    assert_eq!(timeline["attribution"]["state"], "organic");
    assert_eq!(timeline["events"][0]["event_id"], "sr-p");
    assert_eq!(timeline["events"][0]["entries"][0]["amount"], "89.82");
    assert_eq!(timeline["reviews"][0]["resolution"]["action"], "reject");
    // nothing the customer does earns from then on
    deliver(
        &stack,
        &harness,
        &[(
            "sr-p2",
            purchase(
                "cust-gamma-own",
                "tx-sr2",
                "499.00",
                json!({"affiliate_id": "aff-gamma"}),
            ),
        )],
    )
    .await;
    let ledger = stack.ledger(&harness).await;
    assert!(rows(&ledger, "sr-p2").is_empty());
}

#[tokio::test]
async fn reassigning_moves_the_commission_to_the_new_affiliate_under_its_plan() {
    let stack = LocalStack::fresh().await;
    let harness = stack.processor();
    // aff-alpha's link and aff-beta's coupon on one purchase: held for a conflict review
    deliver(
        &stack,
        &harness,
        &[(
            "cc-p",
            purchase(
                "cust-cc",
                "tx-cc",
                "499.00",
                json!({"affiliate_id": "aff-alpha", "click_id": "clk-9", "coupon_code": "BETA20"}),
            ),
        )],
    )
    .await;
    let admin = stack.admin(Utc::now()).await;
    let item = open_review(&admin, "click_coupon_conflict").await;
    let id = item["review_id"].as_str().unwrap().to_owned();
    assert_eq!(item["affiliate_ids"], json!(["aff-alpha", "aff-beta"]));
    // the filters find it by either affiliate and by customer, and not by another
    for query in [
        "affiliate_id=aff-beta",
        "affiliate_id=aff-alpha",
        "customer_id=cust-cc",
    ] {
        let (_, page) = admin
            .call(
                "GET",
                &format!("/admin/reviews?{query}"),
                Some(&admin.ops()),
                None,
            )
            .await;
        assert_eq!(page["items"][0]["review_id"], id, "{query}");
    }
    let (_, page) = admin
        .call(
            "GET",
            "/admin/reviews?affiliate_id=aff-gamma",
            Some(&admin.ops()),
            None,
        )
        .await;
    assert_eq!(page["items"], json!([]));

    let (status, resolved) = resolve(
        &admin,
        &id,
        json!({"action": "reassign", "affiliate_id": "aff-beta", "reason": "the coupon was the last touch"}),
    )
    .await;
    assert_eq!(status, 200, "{resolved}");
    assert_eq!(resolved["cancelled"], json!(["cc-p"]));
    assert_eq!(resolved["posted"], json!(["cc-p~aff-beta"]));
    let ledger = stack.ledger(&harness).await;
    // alpha-hybrid: 75.00 CPA + 10% of 499.00 = 124.90, cancelled; beta-cpa 100k: 100.00
    assert_eq!(
        rows(&ledger, "cc-p"),
        vec![
            ("aff-alpha", "cancellation", dec("-124.90"), "cancelled"),
            ("aff-alpha", "commission", dec("124.90"), "on_hold"),
        ]
    );
    assert_eq!(
        rows(&ledger, "cc-p~aff-beta"),
        vec![("aff-beta", "commission", dec("100.00"), "pending")]
    );
    // the attribution moved: the customer's next purchase earns for aff-beta (first purchase
    // only under beta-cpa, so nothing), and the timeline says aff-beta
    let (_, timeline) = admin
        .call("GET", "/admin/customers/cust-cc", Some(&admin.ops()), None)
        .await;
    assert_eq!(timeline["attribution"]["affiliate_id"], "aff-beta");
    assert_eq!(
        timeline["events"][0]["entries"].as_array().unwrap().len(),
        1
    );
    // reassigning to an affiliate the directory does not know is refused, naming the field
    let (status, response) = resolve(
        &admin,
        &id,
        json!({"action": "reassign", "affiliate_id": "aff-nobody", "reason": "x"}),
    )
    .await;
    assert_eq!(status, 409, "already resolved: {response}");
}

#[tokio::test]
async fn an_unknown_affiliate_reassigned_is_priced_for_the_named_one() {
    let stack = LocalStack::fresh().await;
    let harness = stack.processor();
    deliver(
        &stack,
        &harness,
        &[(
            "ua-p",
            purchase(
                "cust-ua",
                "tx-ua",
                "499.00",
                json!({"affiliate_id": "aff-typo"}),
            ),
        )],
    )
    .await;
    let admin = stack.admin(Utc::now()).await;
    let id = open_review(&admin, "unknown_affiliate").await["review_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // approving an unknown affiliate is not possible: say what to do instead
    let (status, response) =
        resolve(&admin, &id, json!({"action": "approve", "reason": "x"})).await;
    assert_eq!(status, 409, "{response}");
    assert!(response["message"].as_str().unwrap().contains("reassign"));
    let (status, response) = resolve(
        &admin,
        &id,
        json!({"action": "reassign", "affiliate_id": "aff-nobody", "reason": "x"}),
    )
    .await;
    assert_eq!(status, 400, "{response}");
    assert_eq!(response["errors"][0]["field"], "affiliate_id");
    let (status, resolved) = resolve(
        &admin,
        &id,
        json!({"action": "reassign", "affiliate_id": "aff-alpha", "reason": "typo in the link"}),
    )
    .await;
    assert_eq!(status, 200, "{resolved}");
    let ledger = stack.ledger(&harness).await;
    assert_eq!(
        rows(&ledger, "ua-p~aff-alpha"),
        vec![("aff-alpha", "commission", dec("124.90"), "pending")]
    );
    assert_eq!(ledger.len(), 1);
}

#[tokio::test]
async fn merging_takes_the_other_customers_attribution() {
    let stack = LocalStack::fresh().await;
    let harness = stack.processor();
    // the same email: first under aff-alpha, then as another customer under aff-beta
    let mut first = purchase(
        "cust-m1",
        "tx-m1",
        "499.00",
        json!({"affiliate_id": "aff-alpha"}),
    );
    first["email"] = "trader@example.com".into();
    let mut second = purchase(
        "cust-m2",
        "tx-m2",
        "499.00",
        json!({"affiliate_id": "aff-beta"}),
    );
    second["email"] = "Trader@Example.com".into();
    second["occurred_at"] = ago(Duration::days(1)).into();
    deliver(&stack, &harness, &[("m-p1", first), ("m-p2", second)]).await;
    let admin = stack.admin(Utc::now()).await;
    let item = open_review(&admin, "account_merge").await;
    let id = item["review_id"].as_str().unwrap().to_owned();
    assert_eq!(item["customer_id"], "cust-m2");
    assert_eq!(item["evidence"]["other_customer_id"], "cust-m1");
    // merging into itself or into nobody is refused
    let (status, _) = resolve(
        &admin,
        &id,
        json!({"action": "merge", "into_customer_id": "cust-m2", "reason": "x"}),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = resolve(
        &admin,
        &id,
        json!({"action": "merge", "into_customer_id": "cust-none", "reason": "x"}),
    )
    .await;
    assert_eq!(status, 400);
    let (status, resolved) = resolve(&admin, &id, json!({"action": "merge", "into_customer_id": "cust-m1", "reason": "same trader, second account"})).await;
    assert_eq!(status, 200, "{resolved}");
    let ledger = stack.ledger(&harness).await;
    assert_eq!(
        rows(&ledger, "m-p2"),
        vec![
            ("aff-beta", "cancellation", dec("-100.00"), "cancelled"),
            ("aff-beta", "commission", dec("100.00"), "on_hold"),
        ]
    );
    assert_eq!(
        rows(&ledger, "m-p2~aff-alpha"),
        vec![("aff-alpha", "commission", dec("124.90"), "pending")]
    );
    let (_, timeline) = admin
        .call("GET", "/admin/customers/cust-m2", Some(&admin.ops()), None)
        .await;
    assert_eq!(timeline["attribution"]["affiliate_id"], "aff-alpha");
    assert_eq!(
        resolved["review"]["resolution"]["into_customer_id"],
        "cust-m1"
    );
}

#[tokio::test]
async fn two_resolutions_at_once_one_wins_the_other_is_told_what_happened() {
    let stack = LocalStack::fresh().await;
    let (harness, admin, id) = self_referral(&stack).await;
    let path = format!("{}/resolution", review_path(&id));
    let alice = admin.ops();
    let mut carol = admin.ops();
    carol.insert("sub".into(), "ops-carol".into());
    let approve = json!({"action": "approve", "reason": "verified"});
    let reject = json!({"action": "reject", "reason": "own account"});
    let (a, b) = tokio::join!(
        admin.call("POST", &path, Some(&alice), Some(&approve)),
        admin.call("POST", &path, Some(&carol), Some(&reject)),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
    let (winner, loser) = if a.0 == 200 { (a.1, b.1) } else { (b.1, a.1) };
    // the loser is told who won and how
    assert_eq!(
        loser["current"]["resolution"]["action"],
        winner["review"]["resolution"]["action"]
    );
    assert_eq!(
        loser["current"]["resolution"]["by"],
        winner["review"]["resolution"]["by"]
    );
    // one effect: the original entry and exactly one resolution entry
    let ledger = stack.ledger(&harness).await;
    assert_eq!(rows(&ledger, "sr-p").len(), 2, "{ledger:?}");
    let (_, closed) = admin
        .call(
            "GET",
            "/admin/reviews?status=resolved",
            Some(&admin.ops()),
            None,
        )
        .await;
    assert_eq!(closed["items"].as_array().unwrap().len(), 1);

    // the store's own guard: a commit decided on the open item, written after it closed, is
    // refused as a whole (no entry, no second audit record)
    use shared::admin::{AdminStore, ResolutionCommit, ReviewResolution};
    let store = admin.api.store();
    let stale = store.review(&id).await.unwrap().unwrap();
    let late = ReviewResolution {
        action: "reject".into(),
        affiliate_id: None,
        into_customer_id: None,
        reason: "late".into(),
        by: "ops-late".into(),
        at: admin.now,
        entry_ids: vec!["late#r0".into()],
        entry_affiliates: vec!["aff-gamma".into()],
    };
    let original = store
        .entries(&[("aff-gamma".to_owned(), "sr-p#0".to_owned())])
        .await
        .unwrap()
        .pop()
        .expect("the held commission's entry");
    let late_entry = shared::ledger::LedgerEntry {
        entry_id: "late#r0".into(),
        kind: shared::ledger::EntryKind::Cancellation,
        amount: -original.amount,
        ..original
    };
    let commit = ResolutionCommit {
        review: &stale.item,
        resolution: &late,
        customer: None,
        entries: std::slice::from_ref(&late_entry),
        recorded_at: admin.now,
    };
    let refused = store.commit_resolution(&commit).await;
    assert!(
        matches!(refused, Err(shared::processor::StoreError::Conflict(_))),
        "{refused:?}"
    );
    let after = store.review(&id).await.unwrap().unwrap();
    assert_eq!(
        after.resolution.unwrap().by,
        winner["review"]["resolution"]["by"].as_str().unwrap()
    );
    assert_eq!(stack.ledger(&harness).await, ledger);
}

#[tokio::test]
async fn the_claims_are_read_from_the_authorizer_context_api_gateway_sends() {
    let stack = LocalStack::fresh().await;
    let admin = stack.admin(Utc::now()).await;
    // the captured event as API Gateway delivers it: Cognito's claims, another issuer
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(
            system_tests::workspace_root().join("tests/fixtures/apigw-v2/admin-jwt.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let (status, response) = admin.call_raw(fixture.clone()).await;
    assert_eq!(status, 401, "{response}");
    assert_eq!(
        response["message"],
        "the token is not from the configured issuer"
    );
    // the same event with this stack's issuer and audience and a live expiry gets through
    let mut event = fixture;
    let claims = &mut event["requestContext"]["authorizer"]["jwt"]["claims"];
    claims["iss"] = system_tests::LOCAL_ISSUER.into();
    claims["aud"] = system_tests::LOCAL_AUDIENCE.into();
    claims["exp"] = (admin.now.timestamp() + 60).to_string().into();
    let (status, response) = admin.call_raw(event).await;
    assert_eq!(status, 404, "no such review yet: {response}");
    assert_eq!(response["error"], "not_found");
}

#[tokio::test]
async fn the_queue_pages_oldest_first_and_filters_by_age() {
    let stack = LocalStack::fresh().await;
    let harness = stack.processor();
    let purchases: Vec<(String, Value)> = (0..5)
        .map(|i| {
            let mut p = purchase(
                &format!("cust-u{i}"),
                &format!("tx-u{i}"),
                "499.00",
                json!({"affiliate_id": "aff-unknown"}),
            );
            p["occurred_at"] = ago(Duration::days(5 - i)).into();
            (format!("u-p{i}"), p)
        })
        .collect();
    let refs: Vec<(&str, Value)> = purchases
        .iter()
        .map(|(i, p)| (i.as_str(), p.clone()))
        .collect();
    deliver(&stack, &harness, &refs).await;
    let admin = stack.admin(Utc::now() + Duration::hours(2)).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/admin/reviews?limit=2&cursor={c}"),
            None => "/admin/reviews?limit=2".into(),
        };
        let (status, page) = admin.call("GET", &q, Some(&admin.viewer()), None).await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|i| {
            (
                i["review_id"].as_str().unwrap().to_owned(),
                i["opened_at"].as_str().unwrap().to_owned(),
            )
        }));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(seen, sorted, "oldest first");
    // opened just now (processed a moment ago): none is older than an hour at admin.now - 2 h
    let (_, page) = admin
        .call(
            "GET",
            "/admin/reviews?older_than_hours=1",
            Some(&admin.viewer()),
            None,
        )
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 5);
    let (_, page) = admin
        .call(
            "GET",
            "/admin/reviews?older_than_hours=3",
            Some(&admin.viewer()),
            None,
        )
        .await;
    assert_eq!(page["items"], json!([]));
}

#[tokio::test]
async fn the_console_shell_is_served_without_a_token_and_holds_no_data() {
    let stack = LocalStack::fresh().await;
    let (_, admin, _) = self_referral(&stack).await;
    let (status, headers, body) = admin.call_http("GET", "/admin/console").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let csp = &headers["content-security-policy"];
    assert!(
        csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    assert_eq!(headers["x-frame-options"], "DENY");
    let page = String::from_utf8(body).unwrap();
    assert!(page.contains("Sign in"));
    // the shell is the same for everyone: none of the stack's data is in it
    for secret in ["cust-gamma-own", "aff-gamma", "self_referral#", "89.82"] {
        assert!(!page.contains(secret), "{secret} in the console shell");
    }
    for (path, status, kind) in [
        (
            "/admin/console/app.js",
            200,
            "text/javascript; charset=utf-8",
        ),
        (
            "/admin/console/uPlot.iife.min.js",
            200,
            "text/javascript; charset=utf-8",
        ),
        ("/admin/console/app.css", 200, "text/css; charset=utf-8"),
        ("/admin/console/secrets.json", 404, "application/json"),
    ] {
        let (got, headers, _) = admin.call_http("GET", path).await;
        assert_eq!(
            (got, headers["content-type"].as_str()),
            (status, kind),
            "{path}"
        );
    }
    assert_eq!(admin.call_http("POST", "/admin/console").await.0, 405);
    // everything the console shows comes from the API, which still needs a token
    let (status, _) = admin.call("GET", "/admin/reviews", None, None).await;
    assert_eq!(status, 401);
}
