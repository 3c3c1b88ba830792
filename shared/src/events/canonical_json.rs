//! The envelope's JSON, written by hand: byte for byte what serde_json writes for the same
//! structures (a property test below holds it to that over arbitrary content), because this runs
//! on every webhook and serde_json's generic path scans each string byte through an escape table
//! and regrows its buffer. Strings that need no escaping (all that validation lets through, in
//! practice) are copied whole; any other string goes through serde_json's own escaping.
//!
//! The content's bytes are what `content_hash` is computed over, so they must never change for
//! the same content: a redelivery sealed by a later version must still hash the same.

use std::io::Write as _;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::Decimal;

use super::{DisputeStatus, EventPayload, EventType, FailureReason, ParsedBody};
use crate::money::Money;

/// Appends the canonical content object: customer, occurred_at, email hash, payload.
pub(super) fn write_content(out: &mut Vec<u8>, body: &ParsedBody) {
    let mut o = Object::open(out);
    o.str("customer_id", &body.customer_id);
    o.time("occurred_at", &body.occurred_at);
    o.opt_str("email_hash", body.email_hash.as_deref());
    o.key("payload");
    write_payload(o.out, &body.payload);
    o.close();
}

/// Appends the metadata fields (no braces) after a comma, so that `{content…` followed by this
/// and `}` is the whole envelope.
pub(super) fn write_metadata_fields(
    out: &mut Vec<u8>,
    schema_version: u32,
    event_id: &str,
    event_type: EventType,
    received_at: &DateTime<Utc>,
    content_hash: &str,
) {
    let mut o = Object {
        out,
        has_fields: true,
    };
    o.number("schema_version", schema_version);
    o.str("event_id", event_id);
    o.str("event_type", event_type.as_str());
    o.time("received_at", received_at);
    o.str("content_hash", content_hash);
}

fn write_payload(out: &mut Vec<u8>, payload: &EventPayload) {
    let mut o = Object::open(out);
    match payload {
        EventPayload::Purchase(p) => {
            o.str("kind", "purchase");
            o.str("transaction_id", &p.transaction_id);
            o.str("challenge_id", &p.challenge_id);
            o.str("tier", &p.tier);
            o.decimal("account_size", &p.account_size);
            o.money("price", &p.price);
            o.opt_str("affiliate_id", p.affiliate_id.as_deref());
            o.opt_str("click_id", p.click_id.as_deref());
            o.opt_str("coupon_code", p.coupon_code.as_deref());
        }
        EventPayload::EvaluationStarted(e) => {
            o.str("kind", "evaluation_started");
            o.str("challenge_id", &e.challenge_id);
            o.decimal("account_size", &e.account_size);
            o.date("start_date", &e.start_date);
        }
        EventPayload::EvaluationFailed(e) => {
            o.str("kind", "evaluation_failed");
            o.str("challenge_id", &e.challenge_id);
            o.str("reason", failure_reason(e.reason));
            o.number("days_active", e.days_active);
        }
        EventPayload::EvaluationPassed(e) => {
            o.str("kind", "evaluation_passed");
            o.str("challenge_id", &e.challenge_id);
            o.date("pass_date", &e.pass_date);
            o.number("days_to_pass", e.days_to_pass);
        }
        EventPayload::Reset(r) => {
            o.str("kind", "reset");
            o.str("transaction_id", &r.transaction_id);
            o.str("original_challenge_id", &r.original_challenge_id);
            o.money("fee", &r.fee);
        }
        EventPayload::Funded(f) => {
            o.str("kind", "funded");
            o.str("account_id", &f.account_id);
            o.str("challenge_id", &f.challenge_id);
            o.decimal("account_size", &f.account_size);
            o.decimal("profit_split", &f.profit_split);
        }
        EventPayload::Chargeback(c) => {
            o.str("kind", "chargeback");
            o.str("original_transaction_id", &c.original_transaction_id);
            o.str("reason_code", &c.reason_code);
            o.money("disputed", &c.disputed);
            o.str("dispute_status", dispute_status(c.dispute_status));
        }
        EventPayload::Refund(r) => {
            o.str("kind", "refund");
            o.str("original_transaction_id", &r.original_transaction_id);
            o.money("refunded", &r.refunded);
            o.str("reason", &r.reason);
            o.opt_str("new_tier", r.new_tier.as_deref());
        }
    }
    o.close();
}

fn failure_reason(reason: FailureReason) -> &'static str {
    match reason {
        FailureReason::DrawdownLimit => "drawdown_limit",
        FailureReason::TimeExpired => "time_expired",
        FailureReason::RuleViolation => "rule_violation",
    }
}

fn dispute_status(status: DisputeStatus) -> &'static str {
    match status {
        DisputeStatus::Opened => "opened",
        DisputeStatus::Won => "won",
        DisputeStatus::Lost => "lost",
    }
}

/// One JSON object being written. Keys are this module's own literals (plain identifiers), so
/// they are written without escaping.
struct Object<'a> {
    out: &'a mut Vec<u8>,
    has_fields: bool,
}

impl<'a> Object<'a> {
    fn open(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self {
            out,
            has_fields: false,
        }
    }

    fn close(self) {
        self.out.push(b'}');
    }

    fn key(&mut self, key: &str) {
        if self.has_fields {
            self.out.push(b',');
        }
        self.has_fields = true;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        write_str(self.out, value);
    }

    fn opt_str(&mut self, key: &str, value: Option<&str>) {
        self.key(key);
        match value {
            Some(v) => write_str(self.out, v),
            None => self.out.extend_from_slice(b"null"),
        }
    }

    fn number(&mut self, key: &str, value: u32) {
        self.key(key);
        write!(self.out, "{value}").expect("writing to a Vec cannot fail");
    }

    /// Decimals travel as strings (rust_decimal's `serde-with-str`), never as JSON numbers.
    fn decimal(&mut self, key: &str, value: &Decimal) {
        self.key(key);
        write!(self.out, "\"{value}\"").expect("writing to a Vec cannot fail");
    }

    fn money(&mut self, key: &str, money: &Money) {
        self.key(key);
        let mut o = Object::open(self.out);
        o.decimal("amount", &money.amount);
        o.str("currency", money.currency.code());
        o.close();
    }

    fn date(&mut self, key: &str, date: &NaiveDate) {
        self.key(key);
        write!(self.out, "\"{date:?}\"").expect("writing to a Vec cannot fail");
    }

    /// RFC 3339 in UTC with as many fractional digits as needed: chrono's own serialization.
    fn time(&mut self, key: &str, time: &DateTime<Utc>) {
        self.key(key);
        self.out.push(b'"');
        self.out
            .extend_from_slice(time.to_rfc3339_opts(SecondsFormat::AutoSi, true).as_bytes());
        self.out.push(b'"');
    }
}

/// A JSON string. The check is a branch-free pass the compiler vectorizes; only a string that
/// holds a quote, a backslash or a control character takes serde_json's escaping.
fn write_str(out: &mut Vec<u8>, value: &str) {
    let needs_escape = value.bytes().fold(false, |seen, b| {
        seen | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if needs_escape {
        serde_json::to_writer(out, value).expect("writing to a Vec cannot fail");
    } else {
        out.reserve(value.len() + 2);
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde::Serialize;

    use super::*;
    use crate::events::*;
    use crate::money::Currency;

    /// The structure serde wrote for the content before it was written by hand: the reference
    /// the hand-written JSON is held to.
    #[derive(Serialize)]
    struct SerdeContent<'a> {
        customer_id: &'a str,
        #[serde(serialize_with = "rfc3339")]
        occurred_at: DateTime<Utc>,
        email_hash: &'a Option<String>,
        payload: &'a EventPayload,
    }

    fn rfc3339<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }

    /// Any text at all, including quotes, backslashes, control characters and non-ASCII.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[ -~]{0,20}",
            any::<String>(),
            "[\"\\\\\u{0}-\u{1f}\u{7f}é€😀a]{0,8}",
        ]
    }

    fn decimal() -> impl Strategy<Value = Decimal> {
        (any::<i64>(), 0u32..=28).prop_map(|(n, scale)| Decimal::new(n, scale))
    }

    fn money() -> impl Strategy<Value = Money> {
        (
            decimal(),
            prop::sample::select(vec!["USD", "JPY", "BHD", "EUR"]),
        )
            .prop_map(|(amount, code)| Money {
                amount,
                currency: code.parse::<Currency>().unwrap(),
            })
    }

    fn date() -> impl Strategy<Value = NaiveDate> {
        // Every date `check_date` accepts: four-digit years.
        (0i32..=9999, 1u32..=365).prop_map(|(y, d)| {
            NaiveDate::from_yo_opt(y, d).unwrap_or(NaiveDate::from_ymd_opt(y, 1, 1).unwrap())
        })
    }

    fn time() -> impl Strategy<Value = DateTime<Utc>> {
        (
            // Years 0000 to 9999, all RFC 3339 can say.
            -62_167_219_200i64..253_402_300_800,
            prop_oneof![Just(0u32), 0u32..1_000_000_000, Just(123_000_000)],
        )
            .prop_map(|(s, ns)| DateTime::from_timestamp(s, ns).unwrap())
    }

    fn payload() -> impl Strategy<Value = EventPayload> {
        let failure = prop::sample::select(vec![
            FailureReason::DrawdownLimit,
            FailureReason::TimeExpired,
            FailureReason::RuleViolation,
        ]);
        let dispute = prop::sample::select(vec![
            DisputeStatus::Opened,
            DisputeStatus::Won,
            DisputeStatus::Lost,
        ]);
        prop_oneof![
            (
                (text(), text(), text(), decimal(), money()),
                (
                    prop::option::of(text()),
                    prop::option::of(text()),
                    prop::option::of(text())
                ),
            )
                .prop_map(
                    |((transaction_id, challenge_id, tier, account_size, price), (a, c, k))| {
                        EventPayload::Purchase(Purchase {
                            transaction_id,
                            challenge_id,
                            tier,
                            account_size,
                            price,
                            affiliate_id: a,
                            click_id: c,
                            coupon_code: k,
                        })
                    }
                ),
            (text(), decimal(), date()).prop_map(|(challenge_id, account_size, start_date)| {
                EventPayload::EvaluationStarted(EvaluationStarted {
                    challenge_id,
                    account_size,
                    start_date,
                })
            }),
            (text(), failure, any::<u32>()).prop_map(|(challenge_id, reason, days_active)| {
                EventPayload::EvaluationFailed(EvaluationFailed {
                    challenge_id,
                    reason,
                    days_active,
                })
            }),
            (text(), date(), any::<u32>()).prop_map(|(challenge_id, pass_date, days_to_pass)| {
                EventPayload::EvaluationPassed(EvaluationPassed {
                    challenge_id,
                    pass_date,
                    days_to_pass,
                })
            }),
            (text(), text(), money()).prop_map(|(transaction_id, original_challenge_id, fee)| {
                EventPayload::Reset(Reset {
                    transaction_id,
                    original_challenge_id,
                    fee,
                })
            }),
            (text(), text(), decimal(), decimal()).prop_map(
                |(account_id, challenge_id, account_size, profit_split)| {
                    EventPayload::Funded(Funded {
                        account_id,
                        challenge_id,
                        account_size,
                        profit_split,
                    })
                }
            ),
            (text(), text(), money(), dispute).prop_map(
                |(original_transaction_id, reason_code, disputed, dispute_status)| {
                    EventPayload::Chargeback(Chargeback {
                        original_transaction_id,
                        reason_code,
                        disputed,
                        dispute_status,
                    })
                }
            ),
            (text(), money(), text(), prop::option::of(text())).prop_map(
                |(original_transaction_id, refunded, reason, new_tier)| {
                    EventPayload::Refund(Refund {
                        original_transaction_id,
                        refunded,
                        reason,
                        new_tier,
                    })
                }
            ),
        ]
    }

    fn parsed_body() -> impl Strategy<Value = ParsedBody> {
        (text(), time(), prop::option::of(text()), payload()).prop_map(
            |(customer_id, occurred_at, email_hash, payload)| ParsedBody {
                customer_id,
                occurred_at,
                email_hash,
                payload,
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        /// The content is byte for byte serde_json's, so its hash is what it always was; and the
        /// sealed envelope reads back as exactly what was sealed.
        #[test]
        fn hand_written_json_is_serde_jsons(
            body in parsed_body(),
            event_id in text(),
            received_at in time(),
        ) {
            let mut ours = Vec::new();
            write_content(&mut ours, &body);
            let serde = serde_json::to_vec(&SerdeContent {
                customer_id: &body.customer_id,
                occurred_at: body.occurred_at,
                email_hash: &body.email_hash,
                payload: &body.payload,
            })
            .unwrap();
            prop_assert_eq!(String::from_utf8(ours).unwrap(), String::from_utf8(serde).unwrap());

            let sealed = seal(&event_id, received_at, body.clone());
            let envelope: EventEnvelope = serde_json::from_str(&sealed.json).unwrap();
            prop_assert_eq!(envelope, EventEnvelope {
                schema_version: ENVELOPE_SCHEMA_VERSION,
                event_id,
                event_type: body.payload.event_type(),
                customer_id: body.customer_id,
                occurred_at: body.occurred_at,
                received_at,
                email_hash: body.email_hash,
                content_hash: sealed.content_hash.clone(),
                payload: body.payload,
            });
        }
    }

    #[test]
    fn strings_that_need_escaping_are_escaped() {
        for s in [
            "a\"b",
            "back\\slash",
            "tab\there",
            "nul\u{0}",
            "\u{1f}",
            "é€😀",
            "\u{7f}",
        ] {
            let mut out = Vec::new();
            write_str(&mut out, s);
            assert_eq!(out, serde_json::to_vec(s).unwrap(), "{s:?}");
            assert_eq!(serde_json::from_slice::<String>(&out).unwrap(), s);
        }
    }
}
