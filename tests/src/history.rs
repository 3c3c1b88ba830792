//! One trader's long history in the realistic mix, as envelopes: challenge purchases, evaluations
//! (started, then failed or passed), resets after failures, funded accounts, and now and then a
//! refund or a chargeback. Deterministic (a seeded generator), so every run — and the before/after
//! measurements in docs/dynamodb.md — replays the same events.
//!
//! The mix per challenge bought: evaluation started; failed 80 % / passed 20 %; after a failure a
//! reset 55 % of the time (then a new evaluation), else the next purchase; after a pass, funded
//! 75 %. After a purchase: a partial refund 5 %, a full refund 2 %; after a reset: a chargeback
//! opened 3 % (then lost or won). Events are 10 minutes apart, so 5,000 events span 35 days: all
//! inside the attribution window, so a late event earns as an early one would.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use shared::events::*;
use shared::money::Money;

/// The affiliate (tracking link) every generated customer is attributed to; its plan in
/// `infra/local/directory.json` is hybrid with resets in scope, milestones and a performance step.
pub const AFFILIATE: &str = "aff-alpha";

pub fn start() -> DateTime<Utc> {
    "2026-06-01T08:00:00Z".parse().unwrap()
}

const SPACING_MINUTES: i64 = 10;

/// SplitMix64: tiny, seeded, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// An amount in US dollars.
pub fn usd(amount: &str) -> Money {
    Money {
        amount: amount.parse().expect("decimal"),
        currency: "USD".parse().expect("currency"),
    }
}

/// Realistic ids: Standard Webhooks message ids, UUID customers, processor-style transactions.
fn event_id(customer: &str, n: usize) -> String {
    format!("msg_{}_{n:06}", &customer[..8])
}

/// Builds envelopes for one customer; `received_at` is `occurred_at` plus a second.
pub struct HistoryBuilder {
    customer: String,
    email_hash: String,
    next_at: DateTime<Utc>,
    n: usize,
}

impl HistoryBuilder {
    pub fn new(customer: &str) -> Self {
        HistoryBuilder {
            customer: customer.to_owned(),
            email_hash: blake3::hash(customer.as_bytes()).to_hex().to_string(),
            next_at: start(),
            n: 0,
        }
    }

    pub fn customer(&self) -> &str {
        &self.customer
    }

    /// When the next event will have occurred.
    pub fn next_at(&self) -> DateTime<Utc> {
        self.next_at
    }

    /// Moves the clock forward (never back), e.g. past a scheduler tick.
    pub fn skip_to(&mut self, t: DateTime<Utc>) {
        self.next_at = self.next_at.max(t);
    }

    pub fn envelope(&mut self, payload: EventPayload) -> EventEnvelope {
        let occurred_at = self.next_at;
        self.next_at += Duration::minutes(SPACING_MINUTES);
        let id = event_id(&self.customer, self.n);
        self.n += 1;
        let email = matches!(payload, EventPayload::Purchase(_)).then(|| self.email_hash.clone());
        envelope(&id, &self.customer, occurred_at, email.as_deref(), payload)
    }

    pub fn transaction_id(&self, kind: &str) -> String {
        format!("txn_{kind}_{:06}_{}", self.n, &self.customer[..8])
    }

    pub fn challenge_id(&self) -> String {
        format!("chal_{:06}_{}", self.n, &self.customer[..8])
    }

    pub fn purchase(&mut self, tx: &str, challenge: &str) -> EventEnvelope {
        self.envelope(EventPayload::Purchase(Purchase {
            transaction_id: tx.into(),
            challenge_id: challenge.into(),
            tier: "100k".into(),
            account_size: "100000".parse().expect("size"),
            price: usd("499.00"),
            affiliate_id: Some(AFFILIATE.into()),
            click_id: Some("clk_7f3a9c".into()),
            coupon_code: None,
        }))
    }

    pub fn started(&mut self, challenge: &str) -> EventEnvelope {
        let date = self.next_at.date_naive();
        self.envelope(EventPayload::EvaluationStarted(EvaluationStarted {
            challenge_id: challenge.into(),
            account_size: "100000".parse().expect("size"),
            start_date: date,
        }))
    }

    pub fn failed(&mut self, challenge: &str) -> EventEnvelope {
        self.envelope(EventPayload::EvaluationFailed(EvaluationFailed {
            challenge_id: challenge.into(),
            reason: FailureReason::DrawdownLimit,
            days_active: 6,
        }))
    }

    pub fn passed(&mut self, challenge: &str) -> EventEnvelope {
        let date: NaiveDate = self.next_at.date_naive();
        self.envelope(EventPayload::EvaluationPassed(EvaluationPassed {
            challenge_id: challenge.into(),
            pass_date: date,
            days_to_pass: 9,
        }))
    }

    pub fn funded(&mut self, challenge: &str) -> EventEnvelope {
        let account = format!("acct_{challenge}");
        self.envelope(EventPayload::Funded(Funded {
            account_id: account,
            challenge_id: challenge.into(),
            account_size: "100000".parse().expect("size"),
            profit_split: "80".parse().expect("split"),
        }))
    }

    pub fn reset(&mut self, tx: &str, challenge: &str) -> EventEnvelope {
        self.envelope(EventPayload::Reset(Reset {
            transaction_id: tx.into(),
            original_challenge_id: challenge.into(),
            fee: usd("79.00"),
        }))
    }

    pub fn refund(&mut self, tx: &str, amount: &str) -> EventEnvelope {
        self.envelope(EventPayload::Refund(Refund {
            original_transaction_id: tx.into(),
            refunded: usd(amount),
            reason: "customer_request".into(),
            new_tier: None,
        }))
    }

    pub fn chargeback(&mut self, tx: &str, amount: &str, status: DisputeStatus) -> EventEnvelope {
        self.envelope(EventPayload::Chargeback(Chargeback {
            original_transaction_id: tx.into(),
            reason_code: "10.4".into(),
            disputed: usd(amount),
            dispute_status: status,
        }))
    }

    /// The fixed probe measured at every history length: one of each kind of event, on a new
    /// challenge, so each length is measured on the same work.
    pub fn probe(&mut self) -> Vec<(&'static str, EventEnvelope)> {
        let tx = self.transaction_id("p");
        let ch = self.challenge_id();
        let purchase = self.purchase(&tx, &ch);
        let started = self.started(&ch);
        let failed = self.failed(&ch);
        let reset_tx = self.transaction_id("r");
        let reset = self.reset(&reset_tx, &ch);
        let restarted = self.started(&ch);
        let passed = self.passed(&ch);
        let funded = self.funded(&ch);
        let refund = self.refund(&tx, "50.00");
        let opened = self.chargeback(&reset_tx, "79.00", DisputeStatus::Opened);
        let lost = self.chargeback(&reset_tx, "79.00", DisputeStatus::Lost);
        vec![
            ("purchase", purchase),
            ("evaluation started", started),
            ("evaluation failed", failed),
            ("reset", reset),
            ("evaluation started", restarted),
            ("evaluation passed (milestone)", passed),
            ("funded (milestone)", funded),
            ("partial refund", refund),
            ("chargeback opened", opened),
            ("chargeback lost", lost),
        ]
    }
}

/// The realistic mix, event after event, for as long as asked.
pub struct History {
    pub builder: HistoryBuilder,
    rng: Rng,
    pending: std::collections::VecDeque<EventEnvelope>,
}

impl History {
    pub fn new(customer: &str, seed: u64) -> Self {
        History {
            builder: HistoryBuilder::new(customer),
            rng: Rng(seed),
            pending: Default::default(),
        }
    }

    /// The next `n` events of the history.
    pub fn take(&mut self, n: usize) -> Vec<EventEnvelope> {
        while self.pending.len() < n {
            self.challenge();
        }
        self.pending.drain(..n).collect()
    }

    /// One challenge's life: purchase, attempts (with resets), pass/fund, and the occasional
    /// refund or chargeback.
    fn challenge(&mut self) {
        let b = &mut self.builder;
        let tx = b.transaction_id("p");
        let ch = b.challenge_id();
        let mut out = vec![b.purchase(&tx, &ch)];
        if self.rng.chance(5) {
            out.push(b.refund(&tx, "50.00"));
        } else if self.rng.chance(2) {
            out.push(b.refund(&tx, "499.00"));
            self.pending.extend(out);
            return;
        }
        loop {
            out.push(b.started(&ch));
            if self.rng.chance(20) {
                out.push(b.passed(&ch));
                if self.rng.chance(75) {
                    out.push(b.funded(&ch));
                }
                break;
            }
            out.push(b.failed(&ch));
            if !self.rng.chance(55) {
                break;
            }
            let reset_tx = b.transaction_id("r");
            out.push(b.reset(&reset_tx, &ch));
            if self.rng.chance(3) {
                out.push(b.chargeback(&reset_tx, "79.00", DisputeStatus::Opened));
                let status = if self.rng.chance(50) {
                    DisputeStatus::Lost
                } else {
                    DisputeStatus::Won
                };
                out.push(b.chargeback(&reset_tx, "79.00", status));
            }
        }
        self.pending.extend(out);
    }
}

/// A normalized envelope as the webhook functions seal one: received a second after it occurred,
/// its content hash over the content (not the ids or the arrival).
pub fn envelope(
    event_id: &str,
    customer: &str,
    occurred_at: DateTime<Utc>,
    email_hash: Option<&str>,
    payload: EventPayload,
) -> EventEnvelope {
    let content =
        serde_json::to_string(&(customer, occurred_at, email_hash, &payload)).expect("json");
    EventEnvelope {
        schema_version: ENVELOPE_SCHEMA_VERSION,
        event_id: event_id.to_owned(),
        event_type: payload.event_type(),
        customer_id: customer.to_owned(),
        occurred_at,
        received_at: occurred_at + Duration::seconds(1),
        email_hash: email_hash.map(str::to_owned),
        content_hash: blake3::hash(content.as_bytes()).to_hex().to_string(),
        payload,
    }
}

/// A customer id that looks like one (a UUID), derived from a label.
pub fn customer_id(label: &str) -> String {
    let h = blake3::hash(label.as_bytes()).to_hex();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The kind of an event, as the mix counts it.
pub fn kind(e: &EventEnvelope) -> &'static str {
    match &e.payload {
        EventPayload::Purchase(_) => "purchase",
        EventPayload::EvaluationStarted(_) => "evaluation started",
        EventPayload::EvaluationFailed(_) => "evaluation failed",
        EventPayload::EvaluationPassed(_) => "evaluation passed",
        EventPayload::Funded(_) => "funded",
        EventPayload::Reset(_) => "reset",
        EventPayload::Refund(r) if r.refunded.amount.to_string() == "499.00" => "full refund",
        EventPayload::Refund(_) => "partial refund",
        EventPayload::Chargeback(c) => match c.dispute_status {
            DisputeStatus::Opened => "chargeback opened",
            DisputeStatus::Won => "chargeback won",
            DisputeStatus::Lost => "chargeback lost",
        },
    }
}
