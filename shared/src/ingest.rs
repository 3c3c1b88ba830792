//! The webhook ingest shared by the six webhook Lambdas: verify the signature over the raw bytes,
//! check size and media type, validate and normalize the body, and hand the envelope to the queue.
//!
//! Framework-free: the request is plain bytes and headers, the queue is a port. The lambda_http
//! glue and the SQS adapter plug in at the edge.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use tracing::Instrument;

use crate::clock::Clock;
use crate::email::EmailHasher;
use crate::events::{parse_event_json, seal, EventType, FieldError};
use crate::signing::{SecretError, SignatureError, SignatureHeaders, SigningSecret, Verifier};

/// Bodies above this are refused with 413 before any other work. Lifecycle events are a few
/// hundred bytes; 64 KiB is ample.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// `webhook-id` becomes a DynamoDB key downstream; bound it and keep it printable.
pub const MAX_EVENT_ID_LEN: usize = 256;

/// A webhook request as the edge received it.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    pub method: &'a str,
    pub content_type: Option<&'a str>,
    pub signature: SignatureHeaders<'a>,
    pub body: &'a [u8],
}

/// What goes on the FIFO queue for one accepted event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    pub event_id: String,
    pub event_type: EventType,
    /// The customer id: per-customer ordering on the FIFO queue.
    pub group_id: String,
    /// Hash of (event id, content hash). An exact redelivery inside SQS's five-minute window is
    /// dropped by SQS; the same id with a different body is not, so the processor can record the
    /// conflict for review instead of SQS silently discarding it.
    pub deduplication_id: String,
    /// The serialized `EventEnvelope`.
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueueError(pub String);

/// The outbound port: a durable queue. `Ok` means the message is durably stored.
pub trait EventQueue: Send + Sync {
    fn send(&self, message: &QueueMessage) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// Why a request was not accepted. Each maps to exactly one HTTP status, here and nowhere else.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("body exceeds {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("unauthorized: {0}")]
    Unauthorized(#[from] SignatureError),
    #[error("content type must be application/json")]
    UnsupportedMediaType,
    #[error("invalid request")]
    Invalid(Vec<FieldError>),
    #[error("the event could not be queued")]
    NotQueued(QueueError),
}

impl Rejection {
    pub fn status(&self) -> u16 {
        match self {
            Rejection::MethodNotAllowed => 405,
            Rejection::TooLarge => 413,
            Rejection::Unauthorized(_) => 401,
            Rejection::UnsupportedMediaType => 415,
            Rejection::Invalid(_) => 400,
            // 503 tells the sender to retry; nothing was accepted.
            Rejection::NotQueued(_) => 503,
        }
    }

    /// A short, stable code for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::MethodNotAllowed => "method_not_allowed",
            Rejection::TooLarge => "payload_too_large",
            Rejection::Unauthorized(_) => "unauthorized",
            Rejection::UnsupportedMediaType => "unsupported_media_type",
            Rejection::Invalid(_) => "invalid",
            Rejection::NotQueued(_) => "not_queued",
        }
    }

    /// The response body. Never includes internal error details (the queue error is logged, not
    /// returned).
    pub fn body(&self) -> Value {
        match self {
            Rejection::Invalid(errors) => json!({ "error": "invalid", "errors": errors }),
            Rejection::Unauthorized(reason) => {
                json!({ "error": "unauthorized", "message": reason.to_string() })
            }
            Rejection::NotQueued(_) => {
                json!({ "error": "unavailable", "message": "the event could not be queued; retry later" })
            }
            other => json!({ "error": other.code(), "message": other.to_string() }),
        }
    }
}

/// The response the edge turns into HTTP.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookResponse {
    pub status: u16,
    pub body: Value,
}

impl WebhookResponse {
    fn accepted(event_id: &str) -> Self {
        Self {
            status: 202,
            body: json!({ "event_id": event_id }),
        }
    }
}

impl From<&Rejection> for WebhookResponse {
    fn from(r: &Rejection) -> Self {
        Self {
            status: r.status(),
            body: r.body(),
        }
    }
}

/// The secrets the ingest needs, as stored (one JSON document) in Secrets Manager:
/// `{"signing_secrets": ["whsec_…", …], "email_hash_key": "<base64, at least 32 bytes>"}`.
/// Several signing secrets may be active at once during a rotation.
#[derive(Clone)]
pub struct IngestSecrets {
    pub signing: Vec<SigningSecret>,
    pub email_hash_key: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    #[error("ingest secrets are not the expected JSON document: {0}")]
    Malformed(String),
    #[error("no signing secret is configured")]
    NoSigningSecret,
    #[error("signing secret #{index}: {source}")]
    BadSigningSecret { index: usize, source: SecretError },
    #[error("email_hash_key must be base64 of at least 32 bytes")]
    BadEmailHashKey,
}

impl IngestSecrets {
    pub fn from_json(text: &str) -> Result<Self, SecretsError> {
        use base64::Engine as _;
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Stored {
            signing_secrets: Vec<String>,
            email_hash_key: String,
        }
        // Only the error's category and position: serde's own message can quote the value, and the
        // value here is a secret.
        let stored: Stored = serde_json::from_str(text).map_err(|e| {
            SecretsError::Malformed(format!(
                "{:?} error at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        if stored.signing_secrets.is_empty() {
            return Err(SecretsError::NoSigningSecret);
        }
        let signing = stored
            .signing_secrets
            .iter()
            .enumerate()
            .map(|(index, s)| {
                SigningSecret::parse(s)
                    .map_err(|source| SecretsError::BadSigningSecret { index, source })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let email_hash_key = base64::engine::general_purpose::STANDARD
            .decode(stored.email_hash_key.trim())
            .ok()
            .filter(|k| k.len() >= 32)
            .ok_or(SecretsError::BadEmailHashKey)?;
        Ok(Self {
            signing,
            email_hash_key,
        })
    }
}

/// One webhook endpoint's ingest: its event type, the verifier, and the queue it feeds.
pub struct Ingest<Q, C> {
    event_type: EventType,
    verifier: Verifier,
    email_hasher: EmailHasher,
    queue: Q,
    clock: C,
}

impl<Q: EventQueue, C: Clock> Ingest<Q, C> {
    pub fn new(event_type: EventType, secrets: IngestSecrets, queue: Q, clock: C) -> Self {
        Self {
            event_type,
            verifier: Verifier::new(secrets.signing),
            email_hasher: EmailHasher::new(&secrets.email_hash_key),
            queue,
            clock,
        }
    }

    pub fn event_type(&self) -> EventType {
        self.event_type
    }

    pub fn queue(&self) -> &Q {
        &self.queue
    }

    /// Everything but the send: the pure, CPU-only part of handling a webhook (what the
    /// benchmark measures).
    pub fn prepare(
        &self,
        request: &WebhookRequest<'_>,
        now: DateTime<Utc>,
    ) -> Result<QueueMessage, Rejection> {
        if !request.method.eq_ignore_ascii_case("POST") {
            return Err(Rejection::MethodNotAllowed);
        }
        if request.body.len() > MAX_BODY_BYTES {
            return Err(Rejection::TooLarge);
        }
        // Authenticate before looking at the content, so unauthenticated callers learn nothing
        // about what a valid body looks like.
        let verified = self
            .verifier
            .verify(&request.signature, request.body, now)?;
        if !is_json_media_type(request.content_type) {
            return Err(Rejection::UnsupportedMediaType);
        }
        let event_id = verified.id;
        let mut id_errors = Vec::new();
        if event_id.len() > MAX_EVENT_ID_LEN || !event_id.bytes().all(|b| b.is_ascii_graphic()) {
            id_errors.push(FieldError::new(
                "webhook-id",
                format!("must be 1-{MAX_EVENT_ID_LEN} printable ASCII characters without spaces"),
            ));
        }
        let parsed = parse_event_json(self.event_type, request.body, &self.email_hasher, now);
        let parsed = match (parsed, id_errors.is_empty()) {
            (Ok(p), true) => p,
            (Ok(_), false) => return Err(Rejection::Invalid(id_errors)),
            (Err(mut errors), _) => {
                id_errors.append(&mut errors);
                return Err(Rejection::Invalid(id_errors));
            }
        };

        let sealed = seal(event_id, now, parsed);
        let deduplication_id = {
            let mut h = blake3::Hasher::new();
            h.update(sealed.event_id.as_bytes());
            h.update(b"\n");
            h.update(sealed.content_hash.as_bytes());
            h.finalize().to_hex().to_string()
        };
        Ok(QueueMessage {
            body: sealed.json,
            event_id: sealed.event_id,
            event_type: sealed.event_type,
            group_id: sealed.customer_id,
            deduplication_id,
        })
    }

    /// Handles one request end to end. 202 only once the queue has the event durably.
    pub async fn handle(&self, request: &WebhookRequest<'_>) -> WebhookResponse {
        // The id is not trusted until verified, but naming the span by it is what lets a sender's
        // support ticket be found in the logs; it is bounded so it cannot flood them.
        let claimed_id: String = request
            .signature
            .id
            .unwrap_or("")
            .chars()
            .take(MAX_EVENT_ID_LEN)
            .collect();
        let span =
            tracing::info_span!("webhook", event_type = %self.event_type, event_id = %claimed_id);
        async {
            let outcome = match self.prepare(request, self.clock.now()) {
                Ok(message) => match self.queue.send(&message).await {
                    Ok(()) => Ok(message.event_id),
                    Err(e) => Err(Rejection::NotQueued(e)),
                },
                Err(rejection) => Err(rejection),
            };
            match outcome {
                Ok(event_id) => {
                    tracing::info!(status = 202, "accepted and queued");
                    WebhookResponse::accepted(&event_id)
                }
                Err(rejection) => {
                    match &rejection {
                        Rejection::NotQueued(e) => {
                            tracing::error!(status = 503, error = %e, "could not queue the event")
                        }
                        Rejection::Invalid(errors) => {
                            tracing::warn!(
                                status = 400,
                                field_errors = errors.len(),
                                "rejected: invalid body"
                            )
                        }
                        other => {
                            tracing::warn!(status = other.status(), reason = %other, "rejected")
                        }
                    }
                    WebhookResponse::from(&rejection)
                }
            }
        }
        .instrument(span)
        .await
    }
}

/// `application/json`, with or without parameters such as `; charset=utf-8`.
fn is_json_media_type(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use chrono::TimeZone;

    use super::*;
    use crate::clock::FixedClock;
    use crate::events::EventEnvelope;

    const SECRET: &str = "whsec_cHJvcC1saWZlY3ljbGUtbG9jYWwtc2lnbmluZy1rZXk=";

    #[derive(Default)]
    struct RecordingQueue {
        sent: Mutex<Vec<QueueMessage>>,
        fail: bool,
    }

    impl EventQueue for RecordingQueue {
        async fn send(&self, message: &QueueMessage) -> Result<(), QueueError> {
            if self.fail {
                return Err(QueueError(
                    "simulated outage: connection refused (arn:aws:sqs:secret-internal)".into(),
                ));
            }
            self.sent.lock().unwrap().push(message.clone());
            Ok(())
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }

    fn secrets() -> IngestSecrets {
        IngestSecrets::from_json(&format!(
            r#"{{"signing_secrets": ["{SECRET}"], "email_hash_key": "cHJvcC1saWZlY3ljbGUtbG9jYWwtZW1haWwtaGFzaC1rZXkh"}}"#
        ))
        .unwrap()
    }

    fn ingest(queue: RecordingQueue) -> Ingest<RecordingQueue, FixedClock> {
        Ingest::new(EventType::Refund, secrets(), queue, FixedClock(now()))
    }

    const BODY: &str = r#"{"customer_id":"c-1","occurred_at":"2026-11-22T11:00:00Z","original_transaction_id":"tx-1","amount":"10.00","currency":"USD","reason":"partial"}"#;

    struct Signed {
        id: String,
        ts: String,
        sig: String,
        body: Vec<u8>,
    }

    fn signed(id: &str, body: &str, at: DateTime<Utc>) -> Signed {
        let ts = at.timestamp().to_string();
        let sig = SigningSecret::parse(SECRET)
            .unwrap()
            .sign(id, &ts, body.as_bytes());
        Signed {
            id: id.into(),
            ts,
            sig,
            body: body.as_bytes().to_vec(),
        }
    }

    fn request<'a>(s: &'a Signed, content_type: Option<&'a str>) -> WebhookRequest<'a> {
        WebhookRequest {
            method: "POST",
            content_type,
            signature: SignatureHeaders {
                id: Some(&s.id),
                timestamp: Some(&s.ts),
                signature: Some(&s.sig),
            },
            body: &s.body,
        }
    }

    #[tokio::test]
    async fn a_valid_event_is_queued_once_and_answered_202_with_its_id() {
        let ingest = ingest(RecordingQueue::default());
        let s = signed("evt-1", BODY, now());
        let response = ingest
            .handle(&request(&s, Some("application/json; charset=utf-8")))
            .await;
        assert_eq!(
            response,
            WebhookResponse {
                status: 202,
                body: json!({"event_id": "evt-1"})
            }
        );
        let sent = ingest.queue.sent.lock().unwrap();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].group_id, "c-1");
        assert_eq!(sent[0].event_type, EventType::Refund);
        let envelope: EventEnvelope = serde_json::from_str(&sent[0].body).unwrap();
        assert_eq!(
            (
                envelope.event_id.as_str(),
                envelope.received_at,
                envelope.customer_id.as_str()
            ),
            ("evt-1", now(), "c-1")
        );
    }

    #[tokio::test]
    async fn rejections_get_their_status_and_never_reach_the_queue() {
        let ingest = ingest(RecordingQueue::default());
        let ok = signed("evt-1", BODY, now());
        let huge_body = format!("{{\"pad\":\"{}\"}}", "x".repeat(MAX_BODY_BYTES));
        let huge = signed("evt-2", &huge_body, now());
        let not_json = signed("evt-3", "customer_id=c-1", now());
        let bad_value = signed("evt-4", &BODY.replace("10.00", "-10.00"), now());
        let stale = signed("evt-5", BODY, now() - chrono::Duration::seconds(301));
        let bad_id = signed("evt 6", BODY, now());
        let cases: Vec<(WebhookRequest, u16)> = vec![
            (
                WebhookRequest {
                    method: "GET",
                    ..request(&ok, Some("application/json"))
                },
                405,
            ),
            (request(&huge, Some("application/json")), 413),
            (
                WebhookRequest {
                    body: b"{}",
                    ..request(&ok, Some("application/json"))
                },
                401,
            ),
            (request(&stale, Some("application/json")), 401),
            (request(&ok, Some("text/plain")), 415),
            (request(&ok, None), 415),
            (request(&not_json, Some("application/json")), 400),
            (request(&bad_value, Some("application/json")), 400),
            (request(&bad_id, Some("application/json")), 400),
        ];
        for (req, status) in cases {
            let response = ingest.handle(&req).await;
            assert_eq!(response.status, status, "{response:?}");
            assert!(response.body.get("event_id").is_none());
        }
        assert!(ingest.queue.sent.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn the_400_body_lists_field_errors_and_the_bad_json_position() {
        let ingest = ingest(RecordingQueue::default());
        let s = signed("evt-1", r#"{"customer_id": "c-1",,}"#, now());
        let response = ingest.handle(&request(&s, Some("application/json"))).await;
        assert_eq!(response.body["errors"][0]["field"], "body");
        assert!(response.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("is not valid JSON: "));
        let s = signed("evt-2", &BODY.replace("\"USD\"", "\"XXX\""), now());
        let response = ingest.handle(&request(&s, Some("application/json"))).await;
        assert_eq!(
            response.body,
            json!({"error": "invalid", "errors": [{"field": "currency", "message": "must be an ISO 4217 currency code such as \"USD\""}]})
        );
    }

    #[tokio::test]
    async fn a_queue_outage_is_503_without_internal_detail() {
        let ingest = ingest(RecordingQueue {
            fail: true,
            ..Default::default()
        });
        let s = signed("evt-1", BODY, now());
        let response = ingest.handle(&request(&s, Some("application/json"))).await;
        assert_eq!(response.status, 503);
        let text = response.body.to_string();
        assert!(
            !text.contains("arn:") && !text.contains("refused"),
            "{text}"
        );
    }

    #[test]
    fn redelivery_with_a_new_timestamp_keeps_the_dedup_id_and_a_changed_body_does_not() {
        let ingest = ingest(RecordingQueue::default());
        let first = signed("evt-1", BODY, now());
        let retry = signed("evt-1", BODY, now() - chrono::Duration::seconds(200));
        // Same content, different spacing and key order: still the same event.
        let reformatted_body =
            serde_json::to_string_pretty(&serde_json::from_str::<Value>(BODY).unwrap()).unwrap();
        let reformatted = signed("evt-1", &reformatted_body, now());
        let changed = signed("evt-1", &BODY.replace("10.00", "11.00"), now());
        let id = |s: &Signed| {
            ingest
                .prepare(&request(s, Some("application/json")), now())
                .unwrap()
                .deduplication_id
        };
        assert_eq!(id(&first), id(&retry));
        assert_eq!(id(&first), id(&reformatted));
        assert_ne!(id(&first), id(&changed));
        assert_eq!(id(&first).len(), 64);
    }

    #[test]
    fn secrets_documents_are_validated() {
        let bad = [
            ("{}", "ingest secrets are not the expected JSON document"),
            (
                r#"{"signing_secrets": [], "email_hash_key": "x"}"#,
                "no signing secret",
            ),
            (
                r#"{"signing_secrets": ["nope"], "email_hash_key": "x"}"#,
                "signing secret #0",
            ),
            (
                &format!(r#"{{"signing_secrets": ["{SECRET}"], "email_hash_key": "c2hvcnQ="}}"#),
                "email_hash_key",
            ),
            (
                &format!(
                    r#"{{"signing_secrets": ["{SECRET}"], "email_hash_key": "x", "more": 1}}"#
                ),
                "Data error",
            ),
            (
                &format!(r#"{{"signing_secrets": "{SECRET}", "email_hash_key": "x"}}"#),
                "Data error at line 1",
            ),
        ];
        for (doc, want) in bad {
            let err = IngestSecrets::from_json(doc).err().expect(doc).to_string();
            assert!(err.contains(want), "{err}");
            assert!(
                !err.contains("cHJvcC1"),
                "secret material leaked into an error: {err}"
            );
        }
    }
}
