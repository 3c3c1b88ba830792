//! The plan documents that are published (docs/plans.md) and loaded locally
//! (infra/local/directory.json) are valid plans, so the documentation cannot drift from the code.

use shared::plans::Plan;
use system_tests::workspace_root;

#[test]
fn every_plan_in_the_local_directory_loads() {
    let text =
        std::fs::read_to_string(workspace_root().join("infra/local/directory.json")).unwrap();
    let dir: serde_json::Value = serde_json::from_str(&text).unwrap();
    let plans = dir["plans"].as_array().unwrap();
    assert!(plans.len() >= 3);
    for p in plans {
        Plan::from_json(&p.to_string()).unwrap_or_else(|e| panic!("{e}"));
    }
    for a in dir["affiliates"].as_array().unwrap() {
        let (id, v) = (
            a["plan_id"].as_str().unwrap(),
            a["plan_version"].as_u64().unwrap(),
        );
        assert!(
            plans
                .iter()
                .any(|p| p["plan_id"] == id && p["version"] == v),
            "affiliate {} points at a plan that is not in the file",
            a["affiliate_id"]
        );
    }
}

#[test]
fn the_plan_example_in_the_docs_is_a_valid_plan() {
    let doc = std::fs::read_to_string(workspace_root().join("docs/plans.md")).unwrap();
    let block = doc
        .split("```json")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let plan = Plan::from_json(block).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((plan.plan_id.as_str(), plan.version), ("alpha-hybrid", 1));
    assert_eq!(plan.performance_steps.len(), 2);
}

/// Every plan document in docs/plans.md is a valid plan, and the worked example for resets at
/// their own rate and a default CPA prices exactly as its table says.
#[test]
fn the_reset_rate_and_default_cpa_example_prices_as_documented() {
    use chrono::TimeZone;
    use shared::plans::{Basis, PricingContext};
    let doc = std::fs::read_to_string(workspace_root().join("docs/plans.md")).unwrap();
    let blocks: Vec<&str> = doc
        .split("```json")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    assert_eq!(blocks.len(), 2, "two plan documents in docs/plans.md");
    for b in &blocks {
        Plan::from_json(b).unwrap_or_else(|e| panic!("{e}"));
    }
    let plan = Plan::from_json(blocks[1]).unwrap();
    assert_eq!(plan.plan_id, "delta-resets");
    let ctx = PricingContext {
        occurred_at: chrono::Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap(),
        qualified_in_month: 1,
        quality_tier: None,
    };
    let d = |s: &str| s.parse::<rust_decimal::Decimal>().unwrap();
    let price = |basis| plan.price(basis, &ctx).unwrap();
    assert_eq!(
        price(Basis::Purchase {
            tier: "200k",
            amount: d("899.00")
        }),
        d("164.95")
    );
    assert_eq!(
        price(Basis::Purchase {
            tier: "50k",
            amount: d("299.00")
        }),
        d("54.95")
    );
    assert_eq!(price(Basis::Reset { fee: d("99.00") }), d("24.75"));
    // after 49.50 of the reset is refunded: 12.38, so the adjustment is -12.37
    let after = price(Basis::Reset { fee: d("49.50") });
    assert_eq!(after, d("12.38"));
    assert_eq!(after - d("24.75"), d("-12.37"));
    assert_eq!(
        plan.disqualifies("50k", d("0"), None, true),
        Some(shared::engine::Reason::FreePurchase)
    );
    let mut opted_in = plan.clone();
    opted_in.qualification.free_purchases_qualify = true;
    assert_eq!(opted_in.disqualifies("50k", d("0"), None, true), None);
    assert_eq!(
        opted_in
            .price(
                Basis::Purchase {
                    tier: "50k",
                    amount: d("0")
                },
                &ctx
            )
            .unwrap(),
        d("40")
    );
}
