//! Integration tier: signed webhooks through the real handler, built exactly as a deployed function
//! builds itself (secrets from Secrets Manager, SQS client, environment names from template.yaml),
//! into the FIFO queue on moto's server, read back with the AWS SDK.

use aws_sdk_sqs::types::MessageSystemAttributeName as Attr;
use chrono::Utc;
use serde_json::{json, Value};
use shared::events::{EventEnvelope, EventType};
use shared::ingest::Ingest;
use shared::lambda::{build_ingest, handle_webhook, WebhookConfig, QUEUE_URL_VAR, SECRETS_ID_VAR};
use system_tests::{local_signing_secret, response_parts, Delivery, LocalStack, WEBHOOK_FUNCTIONS};

const FUNCTIONS: [(EventType, &str); 6] = WEBHOOK_FUNCTIONS;

fn logical_id(event_type: EventType) -> &'static str {
    FUNCTIONS.iter().find(|(t, _)| *t == event_type).unwrap().1
}

/// The function's configuration exactly as template.yaml gives it to the deployed function.
fn config_from_template(stack: &LocalStack, event_type: EventType) -> WebhookConfig {
    let env = &stack.function(logical_id(event_type)).environment;
    WebhookConfig {
        queue_url: env
            .get(QUEUE_URL_VAR)
            .unwrap_or_else(|| panic!("template sets no {QUEUE_URL_VAR}"))
            .clone(),
        secrets_id: env
            .get(SECRETS_ID_VAR)
            .unwrap_or_else(|| panic!("template sets no {SECRETS_ID_VAR}"))
            .clone(),
    }
}

async fn ingest_for(
    stack: &LocalStack,
    event_type: EventType,
) -> Ingest<shared::adapters::sqs::SqsEventQueue, shared::clock::SystemClock> {
    build_ingest(
        event_type,
        &config_from_template(stack, event_type),
        &stack.sdk,
    )
    .await
    .expect("cold start")
}

fn queue_url(stack: &LocalStack) -> String {
    stack.resource("EventQueue").reference.clone()
}

fn ago(minutes: i64) -> String {
    (Utc::now() - chrono::Duration::minutes(minutes)).to_rfc3339()
}

fn lifecycle() -> Vec<(EventType, &'static str, Value)> {
    vec![
        (
            EventType::Purchase,
            "it-1",
            json!({"customer_id": "cust-a", "occurred_at": ago(60), "transaction_id": "tx-1", "challenge_id": "ch-1",
            "tier": "100k", "account_size": "100000", "amount": "499.00", "currency": "USD", "coupon_code": "SAVE10"}),
        ),
        (
            EventType::Evaluation,
            "it-2",
            json!({"customer_id": "cust-a", "occurred_at": ago(50), "challenge_id": "ch-1", "status": "started",
            "account_size": "100000", "start_date": "2026-11-01"}),
        ),
        (
            EventType::Evaluation,
            "it-3",
            json!({"customer_id": "cust-a", "occurred_at": ago(40), "challenge_id": "ch-1", "status": "failed",
            "reason": "time_expired", "days_active": 30}),
        ),
        (
            EventType::Reset,
            "it-4",
            json!({"customer_id": "cust-a", "occurred_at": ago(30), "transaction_id": "tx-2", "original_challenge_id": "ch-1",
            "amount": "89.99", "currency": "USD"}),
        ),
        (
            EventType::Evaluation,
            "it-5",
            json!({"customer_id": "cust-a", "occurred_at": ago(20), "challenge_id": "ch-1", "status": "passed",
            "pass_date": "2026-11-20", "days_to_pass": 12}),
        ),
        (
            EventType::Funded,
            "it-6",
            json!({"customer_id": "cust-a", "occurred_at": ago(10), "account_id": "acc-1", "challenge_id": "ch-1",
            "account_size": "100000", "profit_split": "90"}),
        ),
        (
            EventType::Purchase,
            "it-7",
            json!({"customer_id": "cust-b", "occurred_at": ago(60), "transaction_id": "tx-9", "challenge_id": "ch-9",
            "tier": "10k", "account_size": "10000", "amount": "89.00", "currency": "EUR", "click_id": "clk-1"}),
        ),
        (
            EventType::Refund,
            "it-8",
            json!({"customer_id": "cust-b", "occurred_at": ago(30), "original_transaction_id": "tx-9",
            "amount": "40.00", "currency": "EUR", "reason": "downgrade", "new_tier": "5k"}),
        ),
        (
            EventType::Chargeback,
            "it-9",
            json!({"customer_id": "cust-b", "occurred_at": ago(5), "original_transaction_id": "tx-9",
            "reason_code": "13.1", "amount": "49.00", "currency": "EUR", "dispute_status": "opened"}),
        ),
    ]
}

async fn deliver(
    stack: &LocalStack,
    event_type: EventType,
    id: &str,
    body: &Value,
) -> (u16, Value) {
    let ingest = ingest_for(stack, event_type).await;
    let d = Delivery::signed(
        event_type.as_str(),
        id,
        body.to_string(),
        Utc::now(),
        &local_signing_secret(),
    );
    response_parts(handle_webhook(&ingest, d.lambda_request()).await)
}

#[tokio::test]
async fn every_event_type_is_queued_in_order_per_customer() {
    let stack = LocalStack::fresh().await;
    for (event_type, id, body) in lifecycle() {
        let (status, response) = deliver(&stack, event_type, id, &body).await;
        assert_eq!((status, response), (202, json!({"event_id": id})), "{id}");
    }
    let messages = stack.drain(&queue_url(&stack)).await;
    assert_eq!(messages.len(), 9);
    let mut per_customer: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for m in &messages {
        let attrs = m.attributes().unwrap();
        let envelope: EventEnvelope = serde_json::from_str(m.body().unwrap()).unwrap();
        // FIFO group = customer id; the event type travels as a message attribute too.
        assert_eq!(
            attrs.get(&Attr::MessageGroupId).unwrap(),
            &envelope.customer_id
        );
        let attr = m.message_attributes().unwrap().get("event_type").unwrap();
        assert_eq!(attr.string_value(), Some(envelope.event_type.as_str()));
        per_customer
            .entry(envelope.customer_id.clone())
            .or_default()
            .push(envelope.event_id.clone());
    }
    assert_eq!(
        per_customer["cust-a"],
        ["it-1", "it-2", "it-3", "it-4", "it-5", "it-6"]
    );
    assert_eq!(per_customer["cust-b"], ["it-7", "it-8", "it-9"]);
}

#[tokio::test]
async fn a_redelivery_is_202_and_not_queued_twice_but_a_changed_body_is_kept_for_review() {
    let stack = LocalStack::fresh().await;
    let (event_type, id, body) = lifecycle().remove(0);
    for _ in 0..3 {
        assert_eq!(deliver(&stack, event_type, id, &body).await.0, 202);
    }
    assert_eq!(
        stack.drain(&queue_url(&stack)).await.len(),
        1,
        "SQS deduplicated the redeliveries"
    );
    // Not asserted: on SQS, deleting a message does not reopen its five-minute deduplication
    // window; moto forgets the id on delete. Nothing here relies on either: the processor's
    // durable processed-event record is what makes a late redelivery harmless.
    // Same webhook-id, different content: accepted and queued, so the processor can record the
    // conflict for review rather than SQS discarding it unseen.
    let mut changed = body.clone();
    changed["amount"] = json!("1.00");
    assert_eq!(deliver(&stack, event_type, id, &changed).await.0, 202);
    let messages = stack.drain(&queue_url(&stack)).await;
    assert_eq!(messages.len(), 1, "the changed body is a new message");
    let envelope: EventEnvelope = serde_json::from_str(messages[0].body().unwrap()).unwrap();
    assert_eq!(envelope.event_id, id);
    assert!(
        matches!(envelope.payload, shared::events::EventPayload::Purchase(p) if p.price.amount.to_string() == "1.00")
    );
}

#[tokio::test]
async fn rejected_webhooks_leave_no_trace_on_the_queue() {
    let stack = LocalStack::fresh().await;
    let (event_type, id, body) = lifecycle().remove(0);
    let ingest = ingest_for(&stack, event_type).await;
    let mut unsigned = Delivery::signed(
        "purchase",
        id,
        body.to_string(),
        Utc::now(),
        &local_signing_secret(),
    );
    unsigned.signature = None;
    let mut bad = body.clone();
    bad["amount"] = json!("-1");
    let invalid = Delivery::signed(
        "purchase",
        "it-invalid",
        bad.to_string(),
        Utc::now(),
        &local_signing_secret(),
    );
    assert_eq!(
        response_parts(handle_webhook(&ingest, unsigned.lambda_request()).await).0,
        401
    );
    assert_eq!(
        response_parts(handle_webhook(&ingest, invalid.lambda_request()).await).0,
        400
    );
    assert!(stack.drain(&queue_url(&stack)).await.is_empty());
}

#[tokio::test]
async fn when_the_queue_is_unavailable_the_sender_gets_503_and_a_retry_succeeds() {
    let stack = LocalStack::fresh().await;
    let (event_type, id, body) = lifecycle().remove(0);
    let mut config = config_from_template(&stack, event_type);
    let real_queue = config.queue_url.clone();
    config.queue_url = real_queue.replace("events.fifo", "missing.fifo");
    let broken = build_ingest(event_type, &config, &stack.sdk).await.unwrap();
    let d = Delivery::signed(
        "purchase",
        id,
        body.to_string(),
        Utc::now(),
        &local_signing_secret(),
    );
    let (status, response) = response_parts(handle_webhook(&broken, d.lambda_request()).await);
    assert_eq!(status, 503);
    assert!(
        !response.to_string().contains("missing.fifo"),
        "internal detail leaked: {response}"
    );
    // The sender retries; this time the queue is there.
    assert_eq!(deliver(&stack, event_type, id, &body).await.0, 202);
    assert_eq!(stack.drain(&real_queue).await.len(), 1);
}

#[tokio::test]
async fn secrets_come_from_secrets_manager_and_rotate_at_the_next_cold_start() {
    let stack = LocalStack::fresh().await;
    let secret_id = stack.resource("IngestSecrets").reference.clone();
    let next = "whsec_bmV4dC1zaWduaW5nLWtleS1mb3Itcm90YXRpb24tdGVzdA==";
    let doc: Value = serde_json::from_str(&system_tests::local_secrets_json()).unwrap();
    let rotated = json!({"signing_secrets": [doc["signing_secrets"][0], next], "email_hash_key": doc["email_hash_key"]});
    aws_sdk_secretsmanager::Client::new(&stack.sdk)
        .put_secret_value()
        .secret_id(&secret_id)
        .secret_string(rotated.to_string())
        .send()
        .await
        .unwrap();
    let ingest = ingest_for(&stack, EventType::Purchase).await;
    let (_, _, body) = lifecycle().remove(0);
    for (id, key) in [
        ("rot-old", local_signing_secret()),
        ("rot-new", next.to_owned()),
    ] {
        let d = Delivery::signed("purchase", id, body.to_string(), Utc::now(), &key);
        assert_eq!(
            response_parts(handle_webhook(&ingest, d.lambda_request()).await).0,
            202,
            "{id}"
        );
    }
    // An unreadable secret fails the cold start loudly instead of running without verification.
    aws_sdk_secretsmanager::Client::new(&stack.sdk)
        .put_secret_value()
        .secret_id(&secret_id)
        .secret_string("{\"signing_secrets\": []}")
        .send()
        .await
        .unwrap();
    let err = build_ingest(
        EventType::Purchase,
        &config_from_template(&stack, EventType::Purchase),
        &stack.sdk,
    )
    .await
    .err()
    .expect("cold start must fail");
    assert!(err.to_string().contains("loading ingest secrets"), "{err}");
}

#[tokio::test]
async fn the_template_wires_every_webhook_function_to_the_queue_and_the_secret() {
    let stack = LocalStack::fresh().await;
    let queue = queue_url(&stack);
    let secret = stack.resource("IngestSecrets").reference.clone();
    for (event_type, logical) in FUNCTIONS {
        let f = stack.function(logical);
        assert_eq!(f.binary, format!("webhook-{event_type}"));
        assert_eq!(
            f.routes,
            vec![system_tests::Route {
                method: "POST".into(),
                path: format!("/webhooks/{event_type}")
            }]
        );
        assert_eq!(f.environment[QUEUE_URL_VAR], queue);
        assert_eq!(f.environment[SECRETS_ID_VAR], secret);
    }
    // The FIFO queue and its FIFO dead-letter queue exist with the template's redrive policy.
    let attrs = stack
        .sqs()
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let attrs = attrs.attributes().unwrap();
    assert_eq!(
        attrs[&aws_sdk_sqs::types::QueueAttributeName::FifoQueue],
        "true"
    );
    let redrive: Value =
        serde_json::from_str(&attrs[&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy])
            .unwrap();
    assert_eq!(
        redrive["deadLetterTargetArn"],
        stack.resource("EventDeadLetterQueue").attributes["Arn"]
    );
    assert_eq!(
        redrive["maxReceiveCount"].to_string().trim_matches('"'),
        "5"
    );
}
