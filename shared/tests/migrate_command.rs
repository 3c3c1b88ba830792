//! The `migrate-customers` command's own surface: what it needs and how it says so. (What it does
//! to a table, `DynamoStore::migrate_all`, is tested on the local stack in tests/tests/migration.rs.)

use std::process::Command;

fn run(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_migrate-customers"));
    cmd.args(args)
        .env_remove("CUSTOMERS_TABLE")
        .env_remove("RECORDS_TABLE")
        .env_remove("PARKED_REVIEW_AFTER_HOURS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run migrate-customers");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn it_names_what_is_missing_and_refuses_what_it_does_not_know() {
    let (ok, out, _) = run(&["--help"], &[]);
    assert!(ok);
    assert!(
        out.contains("CUSTOMERS_TABLE, RECORDS_TABLE, PARKED_REVIEW_AFTER_HOURS"),
        "{out}"
    );

    let (ok, _, err) = run(&["--bogus"], &[]);
    assert!(!ok);
    assert!(err.contains("unknown argument \"--bogus\""), "{err}");

    let (ok, _, err) = run(&["--endpoint-url"], &[]);
    assert!(!ok);
    assert!(err.contains("--endpoint-url needs a URL"), "{err}");

    let (ok, _, err) = run(&[], &[("PARKED_REVIEW_AFTER_HOURS", "72")]);
    assert!(!ok);
    assert!(err.contains("CUSTOMERS_TABLE is not set"), "{err}");

    let (ok, _, err) = run(&[], &[("CUSTOMERS_TABLE", "c"), ("RECORDS_TABLE", "r")]);
    assert!(!ok);
    assert!(err.contains("PARKED_REVIEW_AFTER_HOURS"), "{err}");

    let (ok, _, err) = run(
        &[],
        &[
            ("CUSTOMERS_TABLE", "c"),
            ("RECORDS_TABLE", "r"),
            ("PARKED_REVIEW_AFTER_HOURS", "soon"),
        ],
    );
    assert!(!ok);
    assert!(err.contains("whole number of hours"), "{err}");
}
