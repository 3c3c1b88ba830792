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
