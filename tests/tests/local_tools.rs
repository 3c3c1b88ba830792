//! The local stack's Python helpers agree with the product: money printed by the sample and the
//! stack uses the same ISO 4217 minor units as `shared::money`.

use std::process::Command;
use std::str::FromStr;

use shared::money::Currency;
use system_tests::{venv_python, workspace_root};

fn python(code: &str) -> String {
    let out = Command::new(venv_python())
        .current_dir(workspace_root().join("infra/local"))
        .args(["-c", code])
        .output()
        .expect("run the venv's python");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn money_format_minor_units_match_shared_money_for_every_currency() {
    let table = python(
        "import money_format as m\n\
         for c in sorted(m.MINOR_UNITS_OTHER_THAN_2): print(c, m.MINOR_UNITS_OTHER_THAN_2[c])",
    );
    let listed: Vec<(String, u8)> = table
        .lines()
        .map(|l| {
            let (c, n) = l.split_once(' ').unwrap();
            (c.to_owned(), n.parse().unwrap())
        })
        .collect();
    assert!(!listed.is_empty());
    for (code, units) in &listed {
        let currency =
            Currency::from_str(code).unwrap_or_else(|_| panic!("{code} is not a currency"));
        assert_eq!(currency.minor_units(), *units, "{code}");
    }
    // Every currency the product accepts: listed with its exponent, or 2.
    let mut accepted = 0;
    for a in b'A'..=b'Z' {
        for b in b'A'..=b'Z' {
            for c in b'A'..=b'Z' {
                let code = String::from_utf8(vec![a, b, c]).unwrap();
                if let Ok(currency) = Currency::from_str(&code) {
                    accepted += 1;
                    let expected = listed
                        .iter()
                        .find(|(c, _)| *c == code)
                        .map_or(2, |(_, u)| *u);
                    assert_eq!(currency.minor_units(), expected, "{code}");
                }
            }
        }
    }
    assert!(accepted > 100, "only {accepted} currencies parsed");
}

#[test]
fn money_format_adds_zeros_and_refuses_to_round() {
    let out = python(
        "import money_format as m\n\
         print(m.money('124.9', 'USD'), m.money('5000', 'JPY'), m.money('1.5', 'KWD'), m.money('-4.95', 'USD'))\n\
         try:\n    m.amount('0.001', 'USD')\n    print('rounded')\nexcept ValueError as e:\n    print('refused:', e)",
    );
    assert_eq!(
        out,
        "124.90 USD 5000 JPY 1.500 KWD -4.95 USD\nrefused: 0.001 USD is finer than the currency's minor unit\n"
    );
}
