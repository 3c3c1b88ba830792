//! Money: an exact decimal amount with its ISO 4217 currency. No floating point anywhere near it.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// ISO 4217 active codes with their minor-unit exponent (digits after the decimal point).
/// Funds codes and precious metals (XAU, XDR, …) are left out on purpose: nobody buys a
/// challenge in them, and accepting them would only let typos through.
const ISO_4217: &[(&str, u8)] = &[
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("ANG", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("UYU", 2),
    ("UZS", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWG", 2),
];

/// An ISO 4217 currency code known to this system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: [u8; 3],
    minor_units: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown ISO 4217 currency code")]
pub struct UnknownCurrency;

impl Currency {
    pub fn code(&self) -> &str {
        // The bytes come from the ISO table above, which is ASCII.
        std::str::from_utf8(&self.code).unwrap_or("???")
    }

    /// Digits after the decimal point in the currency's smallest unit (USD 2, JPY 0, BHD 3).
    pub fn minor_units(&self) -> u8 {
        self.minor_units
    }
}

impl FromStr for Currency {
    type Err = UnknownCurrency;

    /// Exact, upper-case codes only: "usd" is rejected rather than guessed at.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ISO_4217
            .binary_search_by(|(code, _)| code.cmp(&s))
            .map(|i| {
                let (code, minor_units) = ISO_4217[i];
                let b = code.as_bytes();
                Currency {
                    code: [b[0], b[1], b[2]],
                    minor_units,
                }
            })
            .map_err(|_| UnknownCurrency)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        code.parse()
            .map_err(|_| serde::de::Error::custom(format!("unknown currency {code:?}")))
    }
}

/// An exact amount in one currency. Amounts are serialized as decimal strings so that no JSON
/// reader on the way can turn them into binary floating point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub amount: Decimal,
    pub currency: Currency,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("must be a decimal string such as \"499.00\"")]
    NotADecimal,
    #[error("must not be negative")]
    Negative,
    #[error("must be greater than zero")]
    NotPositive,
    #[error("has more decimal places than {currency} allows ({allowed})")]
    TooPrecise { currency: String, allowed: u8 },
    #[error("must not exceed {MAX_AMOUNT}")]
    TooLarge,
}

/// The largest amount accepted anywhere (a webhook's amount, a plan's fixed amounts): a trillion
/// units of any currency, far above any challenge, reset or commission, and far enough below
/// `Decimal`'s range (about 7.9 × 10^28) that no sum, percentage or count of them can overflow.
/// Amounts above it are sender bugs; accepting them would only move the failure further in.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(3_567_587_328, 232, 0, false, 0);

/// Money arithmetic that cannot panic: every operation on an amount goes through these, and an
/// overflow (unreachable from bounded inputs, but never assumed) is an error the caller reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("money arithmetic overflowed")]
pub struct MoneyOverflow;

pub fn add(a: Decimal, b: Decimal) -> Result<Decimal, MoneyOverflow> {
    a.checked_add(b).ok_or(MoneyOverflow)
}

pub fn sub(a: Decimal, b: Decimal) -> Result<Decimal, MoneyOverflow> {
    a.checked_sub(b).ok_or(MoneyOverflow)
}

/// `amount × percent / 100`, exactly (unrounded).
pub fn percent_of(amount: Decimal, percent: Decimal) -> Result<Decimal, MoneyOverflow> {
    amount
        .checked_mul(percent)
        .and_then(|x| x.checked_div(Decimal::ONE_HUNDRED))
        .ok_or(MoneyOverflow)
}

/// Whether zero is an acceptable amount (a fully discounted purchase is; a refund of nothing is not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZeroAllowed {
    Yes,
    No,
}

/// Parses a wire amount strictly: plain decimal notation only (no exponent, no sign other than
/// the rejected '-', no spaces, no thousands separators), at most the currency's minor units.
pub fn parse_amount(
    text: &str,
    currency: Currency,
    zero: ZeroAllowed,
) -> Result<Decimal, AmountError> {
    parse_amount_for(text, Some(currency), zero)
}

/// As `parse_amount`; with no (valid) currency, everything but the minor-units check is applied,
/// so a sender learns about a negative amount and a bad currency in one response.
pub fn parse_amount_for(
    text: &str,
    currency: Option<Currency>,
    zero: ZeroAllowed,
) -> Result<Decimal, AmountError> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let plain = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().filter(|&b| b == b'.').count() <= 1
        && !digits.starts_with('.')
        && !digits.ends_with('.');
    if !plain {
        return Err(AmountError::NotADecimal);
    }
    let value = Decimal::from_str_exact(digits).map_err(|_| AmountError::NotADecimal)?;
    // "-0.00" is rejected too: a sign on money that is not allowed to be negative is a sender bug.
    if negative {
        return Err(AmountError::Negative);
    }
    if zero == ZeroAllowed::No && value.is_zero() {
        return Err(AmountError::NotPositive);
    }
    if value > MAX_AMOUNT {
        return Err(AmountError::TooLarge);
    }
    if let Some(currency) = currency {
        if value.normalize().scale() > u32::from(currency.minor_units()) {
            return Err(AmountError::TooPrecise {
                currency: currency.code().to_owned(),
                allowed: currency.minor_units(),
            });
        }
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        "USD".parse().unwrap()
    }

    #[test]
    fn the_currency_table_is_sorted_and_unique_so_binary_search_is_sound() {
        assert!(ISO_4217.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(ISO_4217
            .iter()
            .all(|(c, _)| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase())));
    }

    #[test]
    fn known_currencies_parse_with_their_minor_units() {
        assert_eq!(usd().minor_units(), 2);
        assert_eq!("JPY".parse::<Currency>().unwrap().minor_units(), 0);
        assert_eq!("BHD".parse::<Currency>().unwrap().minor_units(), 3);
        assert_eq!("EUR".parse::<Currency>().unwrap().to_string(), "EUR");
    }

    #[test]
    fn unknown_or_mis_cased_currencies_are_rejected() {
        for bad in ["usd", "US", "USDX", "", "XXX", "ZZZ", "XAU"] {
            assert_eq!(bad.parse::<Currency>(), Err(UnknownCurrency), "{bad}");
        }
    }

    #[test]
    fn amounts_parse_exactly() {
        assert_eq!(
            parse_amount("499.00", usd(), ZeroAllowed::No)
                .unwrap()
                .to_string(),
            "499.00"
        );
        assert_eq!(
            parse_amount("0.10", usd(), ZeroAllowed::No).unwrap(),
            Decimal::new(10, 2)
        );
        assert_eq!(
            parse_amount("0", usd(), ZeroAllowed::Yes).unwrap(),
            Decimal::ZERO
        );
        // Trailing zeros beyond the minor units are still exact, so they are accepted.
        assert_eq!(
            parse_amount("1.5000", usd(), ZeroAllowed::No).unwrap(),
            Decimal::new(15, 1)
        );
    }

    #[test]
    fn malformed_negative_zero_and_over_precise_amounts_are_rejected() {
        let cases = [
            ("-1.00", AmountError::Negative),
            ("-0", AmountError::Negative),
            ("--1", AmountError::NotADecimal),
            ("abc", AmountError::NotADecimal),
            ("1e3", AmountError::NotADecimal),
            ("1,000.00", AmountError::NotADecimal),
            (" 1.00", AmountError::NotADecimal),
            ("+1.00", AmountError::NotADecimal),
            ("1.", AmountError::NotADecimal),
            (".5", AmountError::NotADecimal),
            ("1.2.3", AmountError::NotADecimal),
            ("1-2", AmountError::NotADecimal),
            ("NaN", AmountError::NotADecimal),
            ("", AmountError::NotADecimal),
            ("99999999999999999999999999999999", AmountError::NotADecimal),
            ("70000000000000000000000000000", AmountError::TooLarge),
            ("1000000000000.01", AmountError::TooLarge),
            ("0.00", AmountError::NotPositive),
            (
                "1.001",
                AmountError::TooPrecise {
                    currency: "USD".into(),
                    allowed: 2,
                },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(
                parse_amount(text, usd(), ZeroAllowed::No),
                Err(want),
                "{text:?}"
            );
        }
        let jpy = "JPY".parse().unwrap();
        assert!(matches!(
            parse_amount("100.5", jpy, ZeroAllowed::No),
            Err(AmountError::TooPrecise { .. })
        ));
        assert!(parse_amount("100", jpy, ZeroAllowed::No).is_ok());
    }

    #[test]
    fn the_largest_amount_is_a_trillion_and_is_accepted() {
        assert_eq!(MAX_AMOUNT, Decimal::from(1_000_000_000_000u64));
        assert_eq!(
            parse_amount("1000000000000.00", usd(), ZeroAllowed::No),
            Ok(Decimal::new(100_000_000_000_000, 2))
        );
    }

    #[test]
    fn checked_arithmetic_reports_overflow_instead_of_panicking() {
        assert_eq!(add(Decimal::MAX, Decimal::ONE), Err(MoneyOverflow));
        assert_eq!(sub(Decimal::MIN, Decimal::ONE), Err(MoneyOverflow));
        assert_eq!(
            percent_of(Decimal::MAX, Decimal::from(50)),
            Err(MoneyOverflow)
        );
        assert_eq!(percent_of(MAX_AMOUNT, Decimal::ONE_HUNDRED), Ok(MAX_AMOUNT));
    }
}

/// An amount as people read it: with exactly its currency's minor units (`124.9` USD → `124.90`,
/// `5000` JPY stays). Ledger amounts are already exact to the minor unit, so this only adds zeros;
/// an amount finer than that is left as it is rather than rounded out of sight.
pub fn with_minor_units(amount: Decimal, currency: Currency) -> Decimal {
    let mut shown = amount;
    let scale = u32::from(currency.minor_units());
    if shown.scale() < scale {
        shown.rescale(scale);
    }
    shown
}

/// The one rounding rule for commission amounts: to the currency's minor units, half away from
/// zero (0.005 USD → 0.01, −0.005 → −0.01). Applied exactly once per ledger entry, to the entry's
/// unrounded total: components (CPA, RevShare) are summed exactly first.
pub fn round_commission(amount: Decimal, currency: Currency) -> Decimal {
    let mut rounded = amount.round_dp_with_strategy(
        u32::from(currency.minor_units()),
        rust_decimal::RoundingStrategy::MidpointAwayFromZero,
    );
    // A stored amount carries no meaningless trailing zeros beyond the currency's precision and
    // none at all in its scale: DynamoDB normalizes numbers, and equality must not depend on it.
    rounded = rounded.normalize();
    rounded
}

#[cfg(test)]
mod rounding_tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn shown_with_minor_units_adds_zeros_and_never_rounds() {
        let usd: Currency = "USD".parse().unwrap();
        let jpy: Currency = "JPY".parse().unwrap();
        let bhd: Currency = "BHD".parse().unwrap();
        assert_eq!(with_minor_units(d("124.9"), usd).to_string(), "124.90");
        assert_eq!(with_minor_units(d("0"), usd).to_string(), "0.00");
        assert_eq!(with_minor_units(d("-4.95"), usd).to_string(), "-4.95");
        assert_eq!(with_minor_units(d("5000"), jpy).to_string(), "5000");
        assert_eq!(with_minor_units(d("1.5"), bhd).to_string(), "1.500");
        // finer than the currency (a defect elsewhere): shown as it is, not rounded away
        assert_eq!(with_minor_units(d("0.001"), usd).to_string(), "0.001");
    }

    #[test]
    fn rounds_half_away_from_zero_to_minor_units() {
        let usd: Currency = "USD".parse().unwrap();
        let jpy: Currency = "JPY".parse().unwrap();
        let bhd: Currency = "BHD".parse().unwrap();
        assert_eq!(round_commission(d("0.005"), usd), d("0.01"));
        assert_eq!(round_commission(d("-0.005"), usd), d("-0.01"));
        assert_eq!(round_commission(d("0.0049999"), usd), d("0"));
        assert_eq!(round_commission(d("49.90"), usd), d("49.9"));
        assert_eq!(round_commission(d("12.5"), jpy), d("13"));
        assert_eq!(round_commission(d("1.0005"), bhd), d("1.001"));
    }
}
