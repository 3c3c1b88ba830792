//! A webhook request, headers and raw body, through what a webhook function does before the send
//! (`Ingest::prepare`): method, size, signature verification over the exact bytes, media type,
//! parsing, validation and normalization into the queued envelope.
//!
//! Checked on every input, besides "no panic": only a POST with a valid signature over these exact
//! bytes and a JSON media type is accepted; an accepted request's message is an envelope the
//! processor reads back, under the verified id, for the route's event type and the body's
//! customer; the same request prepared twice gives the same message (its deduplication id is
//! deterministic); a refusal is one of the documented statuses with a JSON body.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use shared::events::{EventEnvelope, EventType, ENVELOPE_SCHEMA_VERSION};
use shared::ingest::{Rejection, WebhookRequest, MAX_BODY_BYTES};
use shared::signing::SignatureHeaders;
use shared_fuzz::{ingest, now, signed, FuzzWebhook};

#[derive(Arbitrary, Debug)]
enum Body<'a> {
    /// Any bytes at all.
    Raw(&'a [u8]),
    /// A well-formed event, as a sender would post it.
    Event(FuzzWebhook),
    /// A well-formed event with one field replaced or added by the fuzzer.
    Edited(FuzzWebhook, &'a str, &'a str),
}

#[derive(Arbitrary, Debug)]
enum Signature<'a> {
    /// Signed over the body by the local secret, now.
    Valid,
    /// Signed, then the fuzzer's text appended to the header (more signatures, junk).
    ValidThen(&'a str),
    /// Signed, with the timestamp moved by this many seconds (the window is 300 s).
    Skewed(i32),
    /// Whatever the fuzzer wrote.
    Raw(&'a str, &'a str),
    Missing,
}

#[derive(Arbitrary, Debug)]
enum ContentType<'a> {
    Json,
    /// `application/json` with parameters (`; charset=utf-8`, or the fuzzer's).
    JsonWith(&'a str),
    Raw(&'a str),
    Missing,
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    route: u8,
    post: bool,
    content_type: ContentType<'a>,
    id: &'a str,
    signature: Signature<'a>,
    body: Body<'a>,
}

fuzz_target!(|input: Input<'_>| {
    let route = EventType::ALL[usize::from(input.route) % EventType::ALL.len()];
    let body: Vec<u8> = match &input.body {
        Body::Raw(bytes) => bytes.to_vec(),
        Body::Event(event) => serde_json::to_vec(&event.body().1).unwrap(),
        Body::Edited(event, key, value) => {
            let mut json = event.body().1;
            json[*key] = serde_json::Value::String((*value).to_owned());
            serde_json::to_vec(&json).unwrap()
        }
    };
    let (timestamp, signature) = match &input.signature {
        Signature::Valid => signed(input.id, &body),
        Signature::ValidThen(more) => {
            let (t, s) = signed(input.id, &body);
            (t, format!("{s}{more}"))
        }
        Signature::Skewed(seconds) => {
            let t = (now().timestamp() + i64::from(*seconds)).to_string();
            let s = shared_fuzz::signing_secret().sign(input.id, &t, &body);
            (t, s)
        }
        Signature::Raw(t, s) => ((*t).to_owned(), (*s).to_owned()),
        Signature::Missing => (String::new(), String::new()),
    };
    let missing = matches!(input.signature, Signature::Missing);
    let content_type = match input.content_type {
        ContentType::Json => Some("application/json".to_owned()),
        ContentType::JsonWith(more) => Some(format!("application/json;{more}")),
        ContentType::Raw(text) => Some(text.to_owned()),
        ContentType::Missing => None,
    };
    let request = WebhookRequest {
        method: if input.post { "POST" } else { "GET" },
        content_type: content_type.as_deref(),
        signature: SignatureHeaders {
            id: (!missing).then_some(input.id),
            timestamp: (!missing).then_some(timestamp.as_str()),
            signature: (!missing).then_some(signature.as_str()),
        },
        body: &body,
    };
    let ingest = ingest(route);
    let first = ingest.prepare(&request, now());
    let second = ingest.prepare(&request, now());
    assert_eq!(first, second, "the same request is handled the same way");

    match first {
        Ok(message) => {
            assert!(input.post, "only POST is accepted");
            assert!(body.len() <= MAX_BODY_BYTES);
            assert!(
                !matches!(input.signature, Signature::Missing | Signature::Raw(..)),
                "accepted without the secret's signature"
            );
            if let Signature::Skewed(s) = input.signature {
                assert!(s.unsigned_abs() <= 300, "accepted {s} s off");
            }
            let envelope: EventEnvelope = serde_json::from_str(&message.body)
                .expect("an accepted message is an envelope the processor reads");
            assert_eq!(envelope.schema_version, ENVELOPE_SCHEMA_VERSION);
            assert_eq!(envelope.event_id, input.id);
            assert_eq!(message.event_id, input.id);
            assert_eq!(envelope.event_type, route);
            assert_eq!(envelope.payload.event_type(), route);
            assert_eq!(message.group_id, envelope.customer_id);
            assert!(!envelope.customer_id.is_empty());
            assert_eq!(envelope.received_at, now());
        }
        Err(rejection) => {
            let status = rejection.status();
            assert!(
                [400, 401, 405, 413, 415].contains(&status),
                "status {status} from prepare"
            );
            if !input.post {
                assert_eq!(rejection, Rejection::MethodNotAllowed);
            }
            let json = serde_json::to_string(&rejection.body()).unwrap();
            assert!(json.starts_with('{'));
        }
    }
});
