//! Turns a webhook's JSON body into a typed, normalized event, or into the full list of field
//! errors. Pure: no I/O, no clock of its own.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::fields::{
    check_occurred_at, FieldError, FieldReader, ACCOUNT_SIZE_MAX, DISPUTE_STATUSES,
    FAILURE_REASONS, MAX_DAYS, PROFIT_SPLIT_MAX,
};
use super::*;
use crate::email::EmailHasher;
use crate::money::ZeroAllowed;

pub fn parse_event_body(
    event_type: EventType,
    body: &Value,
    email_hasher: &EmailHasher,
    now: DateTime<Utc>,
) -> Result<ParsedBody, Vec<FieldError>> {
    let Value::Object(object) = body else {
        return Err(vec![FieldError::new("body", "must be a JSON object")]);
    };
    let mut r = FieldReader::new(object);

    let customer_id = r.id("customer_id");
    let occurred_at = r.required_with("occurred_at", |s| check_occurred_at(s, now));
    let email_hash = match r.optional_raw("email") {
        None => None,
        Some(email) => match email_hasher.hash(email) {
            Ok(h) => Some(h),
            Err(e) => {
                r.error("email", e.to_string());
                None
            }
        },
    };

    let payload = match event_type {
        EventType::Purchase => read_purchase(&mut r),
        EventType::Evaluation => read_evaluation(&mut r),
        EventType::Reset => read_reset(&mut r),
        EventType::Funded => read_funded(&mut r),
        EventType::Chargeback => read_chargeback(&mut r),
        EventType::Refund => read_refund(&mut r),
    };

    r.finish()?;
    match (customer_id, occurred_at, payload) {
        (Some(customer_id), Some(occurred_at), Some(payload)) => Ok(ParsedBody {
            customer_id,
            occurred_at,
            email_hash,
            payload,
        }),
        // Every None above pushed an error, so finish() has already returned them.
        _ => Err(vec![FieldError::new("body", "could not be read")]),
    }
}

fn read_purchase(r: &mut FieldReader) -> Option<EventPayload> {
    let transaction_id = r.id("transaction_id");
    let challenge_id = r.id("challenge_id");
    let tier = r.text("tier");
    let account_size = r.positive_decimal("account_size", ACCOUNT_SIZE_MAX);
    let price = r.money("amount", "currency", ZeroAllowed::Yes);
    let affiliate_id = r.optional_id("affiliate_id");
    let click_id = r.optional_id("click_id");
    let coupon_code = r.optional_id("coupon_code");
    Some(EventPayload::Purchase(Purchase {
        transaction_id: transaction_id?,
        challenge_id: challenge_id?,
        tier: tier?,
        account_size: account_size?,
        price: price?,
        affiliate_id,
        click_id,
        coupon_code,
    }))
}

const EVALUATION_FIELDS: [&str; 7] = [
    "challenge_id",
    "account_size",
    "start_date",
    "reason",
    "days_active",
    "pass_date",
    "days_to_pass",
];

fn read_evaluation(r: &mut FieldReader) -> Option<EventPayload> {
    #[derive(Clone, Copy)]
    enum Status {
        Started,
        Failed,
        Passed,
    }
    let status = r.one_of(
        "status",
        &[
            ("started", Status::Started),
            ("failed", Status::Failed),
            ("passed", Status::Passed),
        ],
    );
    let Some(status) = status else {
        // Without a status we cannot tell which fields belong; do not pile on "unknown field" noise.
        EVALUATION_FIELDS.into_iter().for_each(|f| r.allow(f));
        return None;
    };
    let challenge_id = r.id("challenge_id");
    match status {
        Status::Started => {
            let account_size = r.positive_decimal("account_size", ACCOUNT_SIZE_MAX);
            let start_date = r.date("start_date");
            Some(EventPayload::EvaluationStarted(EvaluationStarted {
                challenge_id: challenge_id?,
                account_size: account_size?,
                start_date: start_date?,
            }))
        }
        Status::Failed => {
            let reason = r.one_of("reason", FAILURE_REASONS);
            let days_active = r.count("days_active", MAX_DAYS);
            Some(EventPayload::EvaluationFailed(EvaluationFailed {
                challenge_id: challenge_id?,
                reason: reason?,
                days_active: days_active?,
            }))
        }
        Status::Passed => {
            let pass_date = r.date("pass_date");
            let days_to_pass = r.count("days_to_pass", MAX_DAYS);
            Some(EventPayload::EvaluationPassed(EvaluationPassed {
                challenge_id: challenge_id?,
                pass_date: pass_date?,
                days_to_pass: days_to_pass?,
            }))
        }
    }
}

fn read_reset(r: &mut FieldReader) -> Option<EventPayload> {
    let transaction_id = r.id("transaction_id");
    let original_challenge_id = r.id("original_challenge_id");
    let fee = r.money("amount", "currency", ZeroAllowed::No);
    Some(EventPayload::Reset(Reset {
        transaction_id: transaction_id?,
        original_challenge_id: original_challenge_id?,
        fee: fee?,
    }))
}

fn read_funded(r: &mut FieldReader) -> Option<EventPayload> {
    let account_id = r.id("account_id");
    let challenge_id = r.id("challenge_id");
    let account_size = r.positive_decimal("account_size", ACCOUNT_SIZE_MAX);
    let profit_split = r.positive_decimal("profit_split", PROFIT_SPLIT_MAX);
    Some(EventPayload::Funded(Funded {
        account_id: account_id?,
        challenge_id: challenge_id?,
        account_size: account_size?,
        profit_split: profit_split?,
    }))
}

fn read_chargeback(r: &mut FieldReader) -> Option<EventPayload> {
    let original_transaction_id = r.id("original_transaction_id");
    let reason_code = r.id("reason_code");
    let disputed = r.money("amount", "currency", ZeroAllowed::No);
    let dispute_status = r.one_of("dispute_status", DISPUTE_STATUSES);
    Some(EventPayload::Chargeback(Chargeback {
        original_transaction_id: original_transaction_id?,
        reason_code: reason_code?,
        disputed: disputed?,
        dispute_status: dispute_status?,
    }))
}

fn read_refund(r: &mut FieldReader) -> Option<EventPayload> {
    let original_transaction_id = r.id("original_transaction_id");
    let refunded = r.money("amount", "currency", ZeroAllowed::No);
    let reason = r.text("reason");
    let new_tier = r.optional_text("new_tier");
    Some(EventPayload::Refund(Refund {
        original_transaction_id: original_transaction_id?,
        refunded: refunded?,
        reason: reason?,
        new_tier,
    }))
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }

    fn hasher() -> EmailHasher {
        EmailHasher::new(b"test-email-hash-key-of-32-bytes!")
    }

    fn purchase() -> Value {
        json!({
            "customer_id": "cust-1", "occurred_at": "2026-11-22T10:00:00Z", "email": "T@Example.com",
            "transaction_id": "tx-1", "challenge_id": "ch-1", "tier": "100k", "account_size": "100000",
            "amount": "499.00", "currency": "USD", "affiliate_id": "aff-1", "click_id": "clk-1",
            "coupon_code": "SAVE10"
        })
    }

    fn errors(event_type: EventType, body: Value) -> Vec<(String, String)> {
        parse_event_body(event_type, &body, &hasher(), now())
            .expect_err("should be rejected")
            .into_iter()
            .map(|e| (e.field, e.message))
            .collect()
    }

    fn fields(errs: &[(String, String)]) -> Vec<&str> {
        errs.iter().map(|(f, _)| f.as_str()).collect()
    }

    fn with(mut body: Value, key: &str, value: Value) -> Value {
        body[key] = value;
        body
    }

    fn without(mut body: Value, key: &str) -> Value {
        body.as_object_mut().unwrap().remove(key);
        body
    }

    #[test]
    fn a_full_purchase_normalizes() {
        let parsed = parse_event_body(EventType::Purchase, &purchase(), &hasher(), now()).unwrap();
        assert_eq!(parsed.customer_id, "cust-1");
        assert_eq!(
            parsed.occurred_at,
            Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
        );
        assert_eq!(
            parsed.email_hash,
            Some(hasher().hash("t@example.com").unwrap())
        );
        let EventPayload::Purchase(p) = parsed.payload else {
            panic!("not a purchase")
        };
        assert_eq!(p.price.amount, Decimal::new(49900, 2));
        assert_eq!(p.price.currency.code(), "USD");
        assert_eq!(p.account_size, Decimal::new(100000, 0));
        assert_eq!(
            (
                p.affiliate_id.as_deref(),
                p.click_id.as_deref(),
                p.coupon_code.as_deref()
            ),
            (Some("aff-1"), Some("clk-1"), Some("SAVE10"))
        );
    }

    #[test]
    fn offsets_in_occurred_at_normalize_to_utc() {
        let body = with(
            purchase(),
            "occurred_at",
            json!("2026-11-22T12:00:00+02:00"),
        );
        let parsed = parse_event_body(EventType::Purchase, &body, &hasher(), now()).unwrap();
        assert_eq!(
            parsed.occurred_at,
            Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
        );
    }

    #[test]
    fn optional_attribution_fields_may_be_absent_or_null() {
        let body = with(
            without(without(purchase(), "click_id"), "coupon_code"),
            "affiliate_id",
            Value::Null,
        );
        let EventPayload::Purchase(p) =
            parse_event_body(EventType::Purchase, &body, &hasher(), now())
                .unwrap()
                .payload
        else {
            panic!()
        };
        assert_eq!(
            (p.affiliate_id, p.click_id, p.coupon_code),
            (None, None, None)
        );
    }

    #[test]
    fn missing_customer_id_is_named() {
        assert_eq!(
            errors(EventType::Purchase, without(purchase(), "customer_id")),
            vec![("customer_id".into(), "is required".into())]
        );
    }

    #[test]
    fn wrong_types_are_named() {
        let body = with(
            with(
                with(purchase(), "customer_id", json!(42)),
                "tier",
                json!(["a"]),
            ),
            "occurred_at",
            json!(true),
        );
        assert_eq!(
            fields(&errors(EventType::Purchase, body)),
            vec!["customer_id", "occurred_at", "tier"]
        );
    }

    #[test]
    fn amounts_must_be_non_negative_decimal_strings() {
        for (amount, message) in [
            (json!("-1.00"), "must not be negative"),
            (
                json!("12abc"),
                "must be a decimal string such as \"499.00\"",
            ),
            (
                json!(499.0),
                "must be a decimal string such as \"499.00\", not a JSON number",
            ),
            (
                json!("499.001"),
                "has more decimal places than USD allows (2)",
            ),
        ] {
            assert_eq!(
                errors(
                    EventType::Purchase,
                    with(purchase(), "amount", amount.clone())
                ),
                vec![("amount".into(), message.into())],
                "{amount}"
            );
        }
    }

    #[test]
    fn unknown_currency_is_named_once() {
        assert_eq!(
            errors(
                EventType::Purchase,
                with(purchase(), "currency", json!("XYZ"))
            ),
            vec![(
                "currency".into(),
                "must be an ISO 4217 currency code such as \"USD\"".into()
            )]
        );
    }

    #[test]
    fn every_error_is_reported_at_once() {
        let body = json!({"occurred_at": "yesterday", "amount": "-3", "currency": "usd", "tier": "", "extra": 1});
        let errs = errors(EventType::Purchase, body);
        assert_eq!(
            fields(&errs),
            vec![
                "customer_id",
                "occurred_at",
                "transaction_id",
                "challenge_id",
                "tier",
                "account_size",
                "currency",
                "amount",
                "extra"
            ]
        );
    }

    #[test]
    fn unknown_fields_are_rejected_so_typos_cannot_drop_attribution() {
        let body = with(
            without(purchase(), "coupon_code"),
            "cupon_code",
            json!("SAVE10"),
        );
        assert_eq!(
            errors(EventType::Purchase, body),
            vec![(
                "cupon_code".into(),
                "is not a field of this event type".into()
            )]
        );
    }

    #[test]
    fn the_body_must_be_an_object() {
        for body in [json!([]), json!("x"), json!(1), Value::Null] {
            assert_eq!(fields(&errors(EventType::Purchase, body)), vec!["body"]);
        }
    }

    #[test]
    fn identifiers_are_bounded_printable_ascii() {
        for bad in [
            json!(""),
            json!("has space"),
            json!("x".repeat(129)),
            json!("ünïcode"),
            json!("tab\t"),
        ] {
            assert_eq!(
                fields(&errors(
                    EventType::Purchase,
                    with(purchase(), "customer_id", bad)
                )),
                vec!["customer_id"]
            );
        }
        assert!(parse_event_body(
            EventType::Purchase,
            &with(purchase(), "customer_id", json!("x".repeat(128))),
            &hasher(),
            now()
        )
        .is_ok());
    }

    #[test]
    fn occurred_at_may_not_be_in_the_future_beyond_the_skew_allowance() {
        let edge = now() + Duration::seconds(OCCURRED_AT_FUTURE_TOLERANCE_SECONDS);
        let ok = with(purchase(), "occurred_at", json!(edge.to_rfc3339()));
        assert!(parse_event_body(EventType::Purchase, &ok, &hasher(), now()).is_ok());
        let late = with(
            purchase(),
            "occurred_at",
            json!((edge + Duration::seconds(1)).to_rfc3339()),
        );
        assert_eq!(
            errors(EventType::Purchase, late),
            vec![("occurred_at".into(), "is in the future".into())]
        );
    }

    #[test]
    fn a_malformed_email_is_rejected_and_never_echoed() {
        let errs = errors(
            EventType::Purchase,
            with(purchase(), "email", json!("not-an-email")),
        );
        assert_eq!(fields(&errs), vec!["email"]);
        assert!(!errs[0].1.contains("not-an-email"));
    }

    fn evaluation(status: &str) -> Value {
        let mut body = json!({"customer_id": "cust-1", "occurred_at": "2026-11-22T10:00:00Z", "challenge_id": "ch-1", "status": status});
        let extra = match status {
            "started" => json!({"account_size": "50000", "start_date": "2026-11-20"}),
            "failed" => json!({"reason": "drawdown_limit", "days_active": 4}),
            _ => json!({"pass_date": "2026-11-21", "days_to_pass": 9}),
        };
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    }

    #[test]
    fn evaluations_parse_per_status() {
        let p = |s| {
            parse_event_body(EventType::Evaluation, &evaluation(s), &hasher(), now())
                .unwrap()
                .payload
        };
        assert!(
            matches!(p("started"), EventPayload::EvaluationStarted(e) if e.start_date.to_string() == "2026-11-20")
        );
        assert!(
            matches!(p("failed"), EventPayload::EvaluationFailed(e) if e.reason == FailureReason::DrawdownLimit && e.days_active == 4)
        );
        assert!(matches!(p("passed"), EventPayload::EvaluationPassed(e) if e.days_to_pass == 9));
    }

    #[test]
    fn an_evaluation_with_an_unknown_status_names_the_status_only() {
        let errs = errors(
            EventType::Evaluation,
            evaluation("paused").as_object().unwrap().clone().into(),
        );
        assert_eq!(
            errs,
            vec![(
                "status".into(),
                "must be one of: started, failed, passed".into()
            )]
        );
    }

    #[test]
    fn fields_of_another_status_are_rejected() {
        let body = with(evaluation("passed"), "reason", json!("drawdown_limit"));
        assert_eq!(
            errors(EventType::Evaluation, body),
            vec![("reason".into(), "is not a field of this event type".into())]
        );
        let body = with(evaluation("failed"), "reason", json!("bored"));
        assert_eq!(fields(&errors(EventType::Evaluation, body)), vec!["reason"]);
        let body = with(evaluation("failed"), "days_active", json!(-1));
        assert_eq!(
            fields(&errors(EventType::Evaluation, body)),
            vec!["days_active"]
        );
        let body = with(evaluation("started"), "start_date", json!("20/11/2026"));
        assert_eq!(
            fields(&errors(EventType::Evaluation, body)),
            vec!["start_date"]
        );
    }

    #[test]
    fn resets_funded_chargebacks_and_refunds_parse() {
        let base = json!({"customer_id": "c", "occurred_at": "2026-11-22T10:00:00Z"});
        let merge = |extra: Value| {
            let mut b = base.clone();
            b.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            b
        };
        let reset = merge(
            json!({"transaction_id": "tx-2", "original_challenge_id": "ch-1", "amount": "99.00", "currency": "USD"}),
        );
        assert!(
            matches!(parse_event_body(EventType::Reset, &reset, &hasher(), now()).unwrap().payload,
            EventPayload::Reset(r) if r.fee.amount == Decimal::new(9900, 2))
        );
        let funded = merge(
            json!({"account_id": "acc-1", "challenge_id": "ch-1", "account_size": "100000", "profit_split": "80"}),
        );
        assert!(
            matches!(parse_event_body(EventType::Funded, &funded, &hasher(), now()).unwrap().payload,
            EventPayload::Funded(f) if f.profit_split == Decimal::new(80, 0))
        );
        assert_eq!(
            fields(&errors(
                EventType::Funded,
                with(funded, "profit_split", json!("101"))
            )),
            vec!["profit_split"]
        );
        let chargeback = merge(
            json!({"original_transaction_id": "tx-1", "reason_code": "10.4", "amount": "499.00", "currency": "USD", "dispute_status": "lost"}),
        );
        assert!(
            matches!(parse_event_body(EventType::Chargeback, &chargeback, &hasher(), now()).unwrap().payload,
            EventPayload::Chargeback(c) if c.dispute_status == DisputeStatus::Lost)
        );
        assert_eq!(
            fields(&errors(
                EventType::Chargeback,
                with(chargeback, "dispute_status", json!("pending"))
            )),
            vec!["dispute_status"]
        );
        let refund = merge(
            json!({"original_transaction_id": "tx-1", "amount": "200.00", "currency": "USD", "reason": "downgrade", "new_tier": "50k"}),
        );
        assert!(
            matches!(parse_event_body(EventType::Refund, &refund, &hasher(), now()).unwrap().payload,
            EventPayload::Refund(r) if r.new_tier.as_deref() == Some("50k"))
        );
        assert_eq!(
            fields(&errors(
                EventType::Refund,
                with(refund, "amount", json!("0"))
            )),
            vec!["amount"]
        );
    }

    /// Valid bodies take the fast path, and it gives exactly the reader's result.
    #[test]
    fn valid_bodies_take_the_fast_path_with_the_readers_result() {
        let base = json!({"customer_id": "c", "occurred_at": "2026-11-22T10:00:00Z", "email": "a@example.com"});
        let merge = |extra: Value| {
            let mut b = base.clone();
            b.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            b
        };
        let bodies = [
            (EventType::Purchase, purchase()),
            (
                EventType::Purchase,
                with(without(purchase(), "email"), "click_id", Value::Null),
            ),
            (EventType::Evaluation, evaluation("started")),
            (EventType::Evaluation, evaluation("failed")),
            (EventType::Evaluation, evaluation("passed")),
            (
                EventType::Reset,
                merge(
                    json!({"transaction_id": "t", "original_challenge_id": "ch", "amount": "9.00", "currency": "USD"}),
                ),
            ),
            (
                EventType::Funded,
                merge(
                    json!({"account_id": "a", "challenge_id": "ch", "account_size": "1000", "profit_split": "90.5"}),
                ),
            ),
            (
                EventType::Chargeback,
                merge(
                    json!({"original_transaction_id": "t", "reason_code": "R", "amount": "1", "currency": "EUR", "dispute_status": "won"}),
                ),
            ),
            (
                EventType::Refund,
                merge(
                    json!({"original_transaction_id": "t", "amount": "1", "currency": "JPY", "reason": "r", "new_tier": "10k"}),
                ),
            ),
            (
                EventType::Refund,
                merge(
                    json!({"original_transaction_id": "t", "amount": "1", "currency": "JPY", "reason": "r"}),
                ),
            ),
        ];
        for (event_type, body) in bodies {
            let fast = crate::events::parse_fast(
                event_type,
                body.to_string().as_bytes(),
                &hasher(),
                now(),
            );
            assert_eq!(
                fast.clone().ok_or(vec![]),
                parse_event_body(event_type, &body, &hasher(), now()),
                "{body}"
            );
            assert!(fast.is_some(), "{body} fell back to the slow path");
        }
    }

    /// A field of another evaluation status is rejected even as `null`, on both paths.
    #[test]
    fn a_null_field_of_another_status_is_not_waved_through() {
        let body = with(evaluation("passed"), "reason", Value::Null);
        assert!(crate::events::parse_fast(
            EventType::Evaluation,
            body.to_string().as_bytes(),
            &hasher(),
            now()
        )
        .is_none());
        assert_eq!(
            errors(EventType::Evaluation, body),
            vec![("reason".into(), "is not a field of this event type".into())]
        );
    }

    #[test]
    fn bodies_the_fast_path_refuses_get_the_readers_errors() {
        let bytes = |b: &Value| b.to_string().into_bytes();
        for (body, field) in [
            (with(purchase(), "amount", json!(499)), "amount"),
            (with(purchase(), "junk", json!(1)), "junk"),
            (with(purchase(), "currency", json!("XYZ")), "currency"),
            (without(purchase(), "tier"), "tier"),
        ] {
            let errs =
                parse_event_json(EventType::Purchase, &bytes(&body), &hasher(), now()).unwrap_err();
            assert_eq!(
                errs.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
                vec![field],
                "{body}"
            );
        }
        let dup = br#"{"customer_id":"a","customer_id":"b"}"#;
        assert!(parse_event_json(EventType::Purchase, dup, &hasher(), now()).is_err());
        let not_json = parse_event_json(EventType::Purchase, b"{", &hasher(), now()).unwrap_err();
        assert!(not_json[0].message.starts_with("is not valid JSON: "));
    }

    #[test]
    fn a_body_of_one_type_sent_to_another_endpoint_is_rejected() {
        assert!(parse_event_body(EventType::Refund, &purchase(), &hasher(), now()).is_err());
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "[ -~]{0,12}".prop_map(Value::String),
            prop::sample::select(vec![
                "-1",
                "0",
                "0.00",
                "1e9",
                "499.00",
                "USD",
                "usd",
                "2026-11-22T10:00:00Z",
                "started",
                "lost"
            ])
            .prop_map(|s| json!(s)),
        ];
        leaf.prop_recursive(2, 8, 4, |inner| {
            prop::collection::vec(inner, 0..3).prop_map(Value::Array)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Whatever the sender puts in whichever field, parsing answers Ok or field errors, never panics,
        /// and an Ok envelope survives the queue round trip unchanged.
        #[test]
        fn parsing_never_panics_and_accepted_events_round_trip(
            type_index in 0usize..6,
            picks in prop::collection::vec((prop::sample::select(vec![
                "customer_id", "occurred_at", "email", "transaction_id", "challenge_id", "tier", "account_size",
                "amount", "currency", "affiliate_id", "status", "reason", "days_active", "pass_date",
                "original_transaction_id", "dispute_status", "profit_split", "new_tier", "junk"]), json_value()), 0..12),
        ) {
            let event_type = EventType::ALL[type_index];
            let mut body = match event_type {
                EventType::Purchase => purchase(),
                EventType::Evaluation => evaluation(["started", "failed", "passed"][type_index % 3]),
                _ => json!({}),
            };
            for (k, v) in picks { body[k] = v; }
            let slow = parse_event_body(event_type, &body, &hasher(), now());
            // The fast path may only accept what the reader accepts, with the same result.
            if let Some(fast) = crate::events::parse_fast(event_type, body.to_string().as_bytes(), &hasher(), now()) {
                prop_assert_eq!(Ok(fast), slow.clone());
            }
            match slow {
                Ok(parsed) => {
                    // The sealed JSON is exactly the envelope of what was parsed, and re-serializing
                    // it reads back the same.
                    let sealed = seal("evt", now(), parsed.clone());
                    let envelope: EventEnvelope = serde_json::from_str(&sealed.json).unwrap();
                    prop_assert_eq!(&envelope.event_id, "evt");
                    prop_assert_eq!(envelope.event_type, event_type);
                    prop_assert_eq!(&envelope.customer_id, &parsed.customer_id);
                    prop_assert_eq!(envelope.occurred_at, parsed.occurred_at);
                    prop_assert_eq!(envelope.received_at, now());
                    prop_assert_eq!(&envelope.email_hash, &parsed.email_hash);
                    prop_assert_eq!(&envelope.payload, &parsed.payload);
                    prop_assert_eq!(&envelope.content_hash, &sealed.content_hash);
                    let again: EventEnvelope = serde_json::from_str(&serde_json::to_string(&envelope).unwrap()).unwrap();
                    prop_assert_eq!(again, envelope);
                }
                Err(errs) => prop_assert!(!errs.is_empty()),
            }
        }
    }
}
