//! Ingest benchmark: CPU time per webhook (verify + parse + validate + normalize + serialize the
//! envelope, 1 KB body), the same split by stage, and the release size of each function binary.
//!
//! Run with `./infra/bench` (builds the release binaries first), or `cargo bench -p shared --bench
//! ingest` for the CPU figure alone. CPU time is the thread's own (CLOCK_THREAD_CPUTIME_ID), so
//! other load on the machine does not inflate it; the figure is the median of several rounds.

#[path = "support/cpu_time.rs"]
mod cpu_time;

use std::hint::black_box;

use cpu_time::thread_cpu_time;
use std::path::Path;

use chrono::{TimeZone, Utc};
use shared::clock::FixedClock;
use shared::email::EmailHasher;
use shared::events::{parse_event_body, parse_fast, seal, EventType};
use shared::ingest::{EventQueue, Ingest, IngestSecrets, QueueError, QueueMessage, WebhookRequest};
use shared::signing::{SignatureHeaders, SigningSecret, Verifier};

const TARGET_MICROS: f64 = 20.0;
/// 8 MB read strictly as 8,000,000 bytes.
const TARGET_BINARY_BYTES: u64 = 8_000_000;
const ROUNDS: usize = 15;
const ITERATIONS: u32 = 20_000;

/// A named piece of the per-webhook work, timed on its own.
type Stage<'a> = (&'a str, Box<dyn Fn() + 'a>);

struct NoQueue;
impl EventQueue for NoQueue {
    async fn send(&self, _: &QueueMessage) -> Result<(), QueueError> {
        Ok(())
    }
}

/// The reporting reader's cost: JSON to a tree, then the field-by-field reader.
fn parse_event_json_slow(
    body: &str,
    hasher: &EmailHasher,
    now: chrono::DateTime<Utc>,
) -> shared::events::ParsedBody {
    let value: serde_json::Value = serde_json::from_slice(body.as_bytes()).unwrap();
    parse_event_body(EventType::Purchase, &value, hasher, now).unwrap()
}

/// Median thread CPU time of one call of `f`, in microseconds, over ROUNDS rounds.
fn median_micros<T>(mut f: impl FnMut() -> T) -> (f64, f64, f64) {
    for _ in 0..2_000 {
        black_box(f());
    }
    let mut per_call: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let start = thread_cpu_time();
            for _ in 0..ITERATIONS {
                black_box(f());
            }
            (thread_cpu_time() - start).as_secs_f64() * 1e6 / f64::from(ITERATIONS)
        })
        .collect();
    per_call.sort_by(|a, b| a.total_cmp(b));
    (per_call[ROUNDS / 2], per_call[0], per_call[ROUNDS - 1])
}

/// A realistic purchase padded to about 1 KB with long (but valid) identifiers and tier name.
fn one_kb_purchase() -> String {
    let id = |prefix: &str| format!("{prefix}-{}", "7f3a9c".repeat(20));
    let body = serde_json::json!({
        "customer_id": id("cust"), "occurred_at": "2026-11-22T11:58:12.123+01:00", "email": "Some.Trader@Example.com",
        "transaction_id": id("tx"), "challenge_id": id("ch"), "tier": format!("100k Two-Step {}", "Evaluation ".repeat(9)),
        "account_size": "100000", "amount": "499.00", "currency": "USD",
        "affiliate_id": id("aff"), "click_id": id("clk"), "coupon_code": "BLACKFRIDAY-2026-ALPHA"
    })
    .to_string();
    assert!(
        (1000..=1100).contains(&body.len()),
        "body is {} bytes",
        body.len()
    );
    body
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` would pass nothing: run in both cases.
    let secrets_json = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/local/secrets.local.json"),
    )
    .unwrap();
    let secrets = IngestSecrets::from_json(&secrets_json).unwrap();
    let signing = secrets.signing[0].clone();
    let now = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
    let ingest = Ingest::new(EventType::Purchase, secrets, NoQueue, FixedClock(now));
    let body = one_kb_purchase();
    let ts = now.timestamp().to_string();
    // Two entries, as during a rotation: the valid one second, so both are checked.
    let other = SigningSecret::parse("whsec_b3RoZXItc2VjcmV0LWtleS0zMi1ieXRlcy1sb25nIQ==").unwrap();
    let signature = format!(
        "{} {}",
        other.sign("evt-bench", &ts, body.as_bytes()),
        signing.sign("evt-bench", &ts, body.as_bytes())
    );
    let request = WebhookRequest {
        method: "POST",
        content_type: Some("application/json"),
        signature: SignatureHeaders {
            id: Some("evt-bench"),
            timestamp: Some(&ts),
            signature: Some(&signature),
        },
        body: body.as_bytes(),
    };
    ingest
        .prepare(&request, now)
        .expect("the benchmark request is valid");

    let (median, min, max) = median_micros(|| ingest.prepare(black_box(&request), now).unwrap());
    println!("ingest: {}-byte purchase, {ROUNDS} rounds x {ITERATIONS} webhooks, thread CPU time per webhook", body.len());
    println!(
        "ingest: median {median:.2} us  (min {min:.2}, max {max:.2})  target <= {TARGET_MICROS} us  [{}]",
        if median <= TARGET_MICROS { "ok" } else { "OVER TARGET" }
    );

    // The same work split by stage (each stage timed alone, so the parts need not add up exactly).
    let secrets = IngestSecrets::from_json(&secrets_json).unwrap();
    let verifier = Verifier::new(secrets.signing.clone());
    let hasher = EmailHasher::new(&secrets.email_hash_key);
    let parsed = parse_fast(EventType::Purchase, body.as_bytes(), &hasher, now).unwrap();
    let stages: [Stage; 5] = [
        (
            "verify signature",
            Box::new(|| {
                black_box(
                    verifier
                        .verify(&request.signature, body.as_bytes(), now)
                        .unwrap(),
                );
            }),
        ),
        (
            "parse + validate (fast)",
            Box::new(|| {
                drop(black_box(
                    parse_fast(EventType::Purchase, body.as_bytes(), &hasher, now).unwrap(),
                ))
            }),
        ),
        (
            "  of which email hash",
            Box::new(|| drop(black_box(hasher.hash("Some.Trader@Example.com").unwrap()))),
        ),
        (
            "seal (+ body clone)",
            Box::new(|| drop(black_box(seal("evt-bench", now, parsed.clone())))),
        ),
        // Only bodies the fast path refuses (invalid ones) pay for the reporting reader.
        (
            "reporting reader (fallback)",
            Box::new(|| drop(black_box(parse_event_json_slow(&body, &hasher, now)))),
        ),
    ];
    for (name, stage) in &stages {
        println!(
            "stage: {name:<24} median {:>6.2} us",
            median_micros(stage).0
        );
    }

    let lambda_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/lambda");
    let mut sizes: Vec<(String, u64)> = std::fs::read_dir(&lambda_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            std::fs::metadata(e.path().join("bootstrap"))
                .ok()
                .map(|m| (name, m.len()))
        })
        .collect();
    sizes.sort();
    if sizes.is_empty() {
        println!("binaries: none in target/lambda; `./infra/bench` builds them (cargo lambda build --release)");
    }
    for (name, bytes) in sizes {
        // The size target is the webhooks' (they are on the request path); the processor also
        // links the DynamoDB SDK and is reported for information.
        let verdict = if !name.starts_with("webhook-") {
            "no target"
        } else if bytes <= TARGET_BINARY_BYTES {
            "target <= 8 MB  [ok]"
        } else {
            "target <= 8 MB  [OVER TARGET]"
        };
        println!(
            "binary: {name:<20} {bytes:>9} bytes ({:.2} MB)  {verdict}",
            bytes as f64 / 1e6
        );
    }
}
