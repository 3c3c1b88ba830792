//! Handler tier: the real lambda_http handler, fed API Gateway v2 (HTTP API) events built from the
//! captured fixture, with a fixed clock and an in-memory queue.

use base64::Engine as _;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};
use shared::clock::FixedClock;
use shared::events::{EventEnvelope, EventPayload, EventType};
use shared::ingest::Ingest;
use shared::lambda::handle_webhook;
use system_tests::{local_secrets, local_signing_secret, response_parts, Delivery, MemoryQueue};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
}

fn ingest(event_type: EventType) -> Ingest<MemoryQueue, FixedClock> {
    Ingest::new(
        event_type,
        local_secrets(),
        MemoryQueue::default(),
        FixedClock(now()),
    )
}

fn queued(ingest: &Ingest<MemoryQueue, FixedClock>) -> Vec<EventEnvelope> {
    ingest
        .queue()
        .sent
        .lock()
        .unwrap()
        .iter()
        .map(|m| serde_json::from_str(&m.body).unwrap())
        .collect()
}

fn purchase_body() -> Value {
    json!({
        "customer_id": "cust-1", "occurred_at": "2026-11-22T11:59:00Z", "transaction_id": "tx-1",
        "challenge_id": "ch-1", "tier": "100k", "account_size": "100000", "amount": "499.00",
        "currency": "USD", "affiliate_id": "aff-1", "email": "Trader@Example.com"
    })
}

fn delivery(id: &str, body: &str) -> Delivery {
    Delivery::signed("purchase", id, body, now(), &local_signing_secret())
}

async fn send(ingest: &Ingest<MemoryQueue, FixedClock>, d: &Delivery) -> (u16, Value) {
    response_parts(handle_webhook(ingest, d.lambda_request()).await)
}

#[tokio::test]
async fn a_signed_purchase_is_accepted_and_its_envelope_queued() {
    let ingest = ingest(EventType::Purchase);
    let (status, body) = send(&ingest, &delivery("evt-1", &purchase_body().to_string())).await;
    assert_eq!((status, body), (202, json!({"event_id": "evt-1"})));
    let queued = queued(&ingest);
    assert_eq!(queued.len(), 1);
    assert_eq!(
        (
            queued[0].event_id.as_str(),
            queued[0].event_type,
            queued[0].received_at
        ),
        ("evt-1", EventType::Purchase, now())
    );
    assert!(
        matches!(&queued[0].payload, EventPayload::Purchase(p) if p.affiliate_id.as_deref() == Some("aff-1"))
    );
    // The email is kept only as its keyed hash.
    let raw = &ingest.queue().sent.lock().unwrap()[0].body;
    assert!(!raw.to_lowercase().contains("trader@example.com"));
    assert_eq!(queued[0].email_hash.as_ref().map(String::len), Some(64));
}

#[tokio::test]
async fn a_base64_encoded_body_is_verified_over_the_decoded_bytes() {
    let ingest = ingest(EventType::Purchase);
    let mut d = delivery("evt-b64", &purchase_body().to_string());
    d.base64 = true;
    assert_eq!(d.apigw_event()["isBase64Encoded"], true);
    assert_eq!(send(&ingest, &d).await.0, 202);
}

/// Every signature case the contract names, each with the status it must get.
#[tokio::test]
async fn signature_cases_get_their_status() {
    let secret = local_signing_secret();
    let body = purchase_body().to_string();
    let good = delivery("evt-sig", &body);
    let other_secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode("another-32-byte-signing-key-here")
    );

    let mut cases: Vec<(&str, Delivery, u16, &str)> = vec![("valid", good.clone(), 202, "")];
    let mut tampered = good.clone();
    tampered.body = body.replace("499.00", "4999.00").into_bytes();
    cases.push(("tampered body", tampered, 401, "no signature matches"));
    let mut id_changed = good.clone();
    id_changed.webhook_id = Some("evt-sig-2".into());
    cases.push(("id changed", id_changed, 401, "no signature matches"));
    let mut ts_changed = good.clone();
    ts_changed.timestamp = Some((now().timestamp() - 1).to_string());
    cases.push(("timestamp changed", ts_changed, 401, "no signature matches"));
    cases.push((
        "stale",
        Delivery::signed(
            "purchase",
            "evt-old",
            &body,
            now() - Duration::seconds(301),
            &secret,
        ),
        401,
        "more than 5 minutes old",
    ));
    cases.push((
        "future",
        Delivery::signed(
            "purchase",
            "evt-new",
            &body,
            now() + Duration::seconds(301),
            &secret,
        ),
        401,
        "more than 5 minutes in the future",
    ));
    cases.push((
        "edge of tolerance",
        Delivery::signed(
            "purchase",
            "evt-edge",
            &body,
            now() - Duration::seconds(300),
            &secret,
        ),
        202,
        "",
    ));
    for (name, header) in [
        ("webhook-id", 0),
        ("webhook-timestamp", 1),
        ("webhook-signature", 2),
    ] {
        let mut d = good.clone();
        match header {
            0 => d.webhook_id = None,
            1 => d.timestamp = None,
            _ => d.signature = None,
        }
        cases.push(("missing header", d, 401, name));
    }
    for list in ["v1", "v1,", "v2,abc", "v1,%%%notbase64", "garbage"] {
        let mut d = good.clone();
        d.signature = Some(list.into());
        cases.push((
            "malformed signature list",
            d,
            401,
            "no well-formed v1 entry",
        ));
    }
    cases.push((
        "bad secret",
        Delivery::signed("purchase", "evt-x", &body, now(), &other_secret),
        401,
        "no signature matches",
    ));
    let mut rotated = good.clone();
    let by_other = Delivery::signed("purchase", "evt-sig", &body, now(), &other_secret);
    rotated.signature = Some(format!(
        "{} {}",
        by_other.signature.unwrap(),
        good.signature.clone().unwrap()
    ));
    cases.push(("several signatures, one valid", rotated, 202, ""));

    for (name, d, want, message) in cases {
        let ingest = ingest(EventType::Purchase);
        let (status, body) = send(&ingest, &d).await;
        assert_eq!(status, want, "{name}: {body}");
        if want == 401 {
            assert_eq!(body["error"], "unauthorized", "{name}");
            assert!(
                body["message"].as_str().unwrap().contains(message),
                "{name}: {body}"
            );
            assert!(queued(&ingest).is_empty(), "{name} reached the queue");
        }
    }
}

#[tokio::test]
async fn rotation_with_two_active_secrets_accepts_either() {
    let other = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode("the-next-32-byte-signing-key-abc")
    );
    let mut secrets = local_secrets();
    secrets
        .signing
        .push(shared::signing::SigningSecret::parse(&other).unwrap());
    let ingest = Ingest::new(
        EventType::Purchase,
        secrets,
        MemoryQueue::default(),
        FixedClock(now()),
    );
    let body = purchase_body().to_string();
    for (id, secret) in [
        ("evt-old-key", local_signing_secret()),
        ("evt-new-key", other),
    ] {
        let (status, _) = send(
            &ingest,
            &Delivery::signed("purchase", id, &body, now(), &secret),
        )
        .await;
        assert_eq!(status, 202, "{id}");
    }
    assert_eq!(queued(&ingest).len(), 2);
}

/// Bad input never panics and never reaches the queue; each gets its status and a body naming it.
#[tokio::test]
async fn bad_input_gets_its_status_and_a_named_problem() {
    let with = |key: &str, value: Value| {
        let mut b = purchase_body();
        b[key] = value;
        b.to_string()
    };
    let without = |key: &str| {
        let mut b = purchase_body();
        b.as_object_mut().unwrap().remove(key);
        b.to_string()
    };
    let oversized = {
        let mut b = purchase_body();
        b["tier"] = "x".repeat(70 * 1024).into();
        b.to_string()
    };
    let cases: Vec<(&str, String, Option<&str>, u16, &str)> = vec![
        (
            "invalid JSON",
            "{\"customer_id\": ".into(),
            Some("application/json"),
            400,
            "body",
        ),
        (
            "JSON array",
            "[1,2]".into(),
            Some("application/json"),
            400,
            "body",
        ),
        (
            "wrong type",
            with("account_size", json!(100000)),
            Some("application/json"),
            400,
            "account_size",
        ),
        (
            "negative amount",
            with("amount", json!("-499.00")),
            Some("application/json"),
            400,
            "amount",
        ),
        (
            "non-numeric amount",
            with("amount", json!("four hundred")),
            Some("application/json"),
            400,
            "amount",
        ),
        (
            // a decimal that parses but that no money operation may ever be handed
            "huge amount",
            with("amount", json!("70000000000000000000000000000")),
            Some("application/json"),
            400,
            "amount",
        ),
        (
            "number amount",
            with("amount", json!(499.0)),
            Some("application/json"),
            400,
            "amount",
        ),
        (
            "unknown currency",
            with("currency", json!("DOGE")),
            Some("application/json"),
            400,
            "currency",
        ),
        (
            "missing customer id",
            without("customer_id"),
            Some("application/json"),
            400,
            "customer_id",
        ),
        (
            "unknown field",
            with("affiliate", json!("aff-2")),
            Some("application/json"),
            400,
            "affiliate",
        ),
        (
            "oversized body",
            oversized,
            Some("application/json"),
            413,
            "",
        ),
        (
            "not JSON media type",
            purchase_body().to_string(),
            Some("text/plain"),
            415,
            "",
        ),
        ("no media type", purchase_body().to_string(), None, 415, ""),
        (
            "non-ASCII id",
            with("customer_id", json!("cust-\u{e9}")),
            Some("application/json"),
            400,
            "customer_id",
        ),
    ];
    for (name, body, content_type, want, field) in cases {
        let ingest = ingest(EventType::Purchase);
        let mut d = delivery("evt-bad", &body);
        d.content_type = content_type.map(str::to_owned);
        let (status, response) = send(&ingest, &d).await;
        assert_eq!(status, want, "{name}: {response}");
        if want == 400 {
            let fields: Vec<&str> = response["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["field"].as_str().unwrap())
                .collect();
            assert!(fields.contains(&field), "{name}: {response}");
            assert!(response["errors"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| !e["message"].as_str().unwrap().is_empty()));
        } else {
            assert!(
                response["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{name}: {response}"
            );
        }
        assert!(queued(&ingest).is_empty(), "{name} reached the queue");
    }
}

/// Bytes that are not UTF-8 (delivered base64-encoded, as API Gateway does for binary bodies) are a
/// 400 naming the body, once the signature over those exact bytes has been verified.
#[tokio::test]
async fn a_body_that_is_not_utf8_is_rejected() {
    let ingest = ingest(EventType::Purchase);
    let bytes: &[u8] = b"{\"customer_id\": \"\xff\"}";
    let mut d = Delivery::signed(
        "purchase",
        "evt-bytes",
        bytes,
        now(),
        &local_signing_secret(),
    );
    d.base64 = true;
    let (status, response) = send(&ingest, &d).await;
    assert_eq!(status, 400, "{response}");
    assert_eq!(response["errors"][0]["field"], "body");
    assert!(queued(&ingest).is_empty());
}

#[tokio::test]
async fn an_evaluation_with_an_unknown_status_is_rejected() {
    let ingest = ingest(EventType::Evaluation);
    let body = json!({"customer_id": "c", "occurred_at": "2026-11-22T11:00:00Z", "challenge_id": "ch", "status": "paused"});
    let d = Delivery::signed(
        "evaluation",
        "evt-eval",
        body.to_string(),
        now(),
        &local_signing_secret(),
    );
    let (status, response) = send(&ingest, &d).await;
    assert_eq!(status, 400);
    assert_eq!(
        response["errors"],
        json!([{"field": "status", "message": "must be one of: started, failed, passed"}])
    );
    assert!(queued(&ingest).is_empty());
}

#[tokio::test]
async fn each_endpoint_accepts_only_its_own_event_type() {
    // A purchase body posted to the refund endpoint is a 400, not a refund.
    let ingest = ingest(EventType::Refund);
    let d = Delivery::signed(
        "refund",
        "evt-wrong",
        purchase_body().to_string(),
        now(),
        &local_signing_secret(),
    );
    assert_eq!(send(&ingest, &d).await.0, 400);
    assert!(queued(&ingest).is_empty());
}
