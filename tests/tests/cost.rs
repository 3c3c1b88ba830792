//! The cost command (`infra/cost.py`, docs/cost.md) prices what the benchmark counted: its lines
//! are the counted units times the published prices, its total is their sum, and the figures it
//! is documented with (docs/cost/) are the ones it computes.

use std::process::Command;

use rust_decimal::Decimal;
use serde_json::Value;
use system_tests::{venv_python, workspace_root};

fn run(args: &[&str]) -> std::process::Output {
    Command::new(venv_python())
        .arg(workspace_root().join("infra/cost.py"))
        .args(args)
        .current_dir(workspace_root())
        .output()
        .expect("run infra/cost.py")
}

fn dec(v: &Value) -> Decimal {
    match v {
        Value::String(s) => s.parse().unwrap_or_else(|_| panic!("not a decimal: {s}")),
        Value::Number(n) => n.to_string().parse().unwrap(),
        other => panic!("not a decimal: {other}"),
    }
}

fn priced(args: &[&str]) -> Vec<Value> {
    let out = run(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

fn line<'a>(doc: &'a Value, item: &str) -> &'a Value {
    doc["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["item"] == item)
        .unwrap_or_else(|| panic!("no line {item}"))
}

#[test]
fn each_line_is_the_counted_units_at_the_published_price_and_the_total_their_sum() {
    let docs = priced(&[
        "--json",
        "docs/cost/after.json",
        "docs/cost/before-b1fd094.json",
    ]);
    assert_eq!(docs.len(), 2);
    for doc in &docs {
        let sum: Decimal = doc["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| dec(&l["dollars"]))
            .sum();
        assert_eq!(sum, dec(&doc["total"]), "{}", doc["measurements"]);
        // one HTTP API request per event at $1.00 per million
        assert_eq!(
            dec(&line(doc, "API Gateway HTTP API")["dollars"]),
            Decimal::ONE
        );
    }
    // the table writes are the measured WCU per event at $0.625 per million
    let measured: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace_root().join("docs/cost/after.json")).unwrap(),
    )
    .unwrap();
    let longest = measured["lengths"].as_array().unwrap().last().unwrap();
    let wcu = dec(&longest["mix_average"]["wcu"]);
    let writes = line(&docs[0], "DynamoDB writes: tables");
    assert_eq!(dec(&writes["quantity"]), wcu * Decimal::from(1_000_000));
    assert_eq!(
        dec(&writes["dollars"]),
        wcu * "0.625".parse::<Decimal>().unwrap()
    );
    // bounded state costs less than the whole-history item did at its longest measured history
    assert!(dec(&docs[0]["total"]) < dec(&docs[1]["total"]));
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let out = run(&["--batch-size", "11", "docs/cost/after.json"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--batch-size must be 1 to 10"));
    let out = run(&["--length", "7", "docs/cost/after.json"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no measurement at length 7"));
    let out = run(&["docs/no-such-file.json"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}
