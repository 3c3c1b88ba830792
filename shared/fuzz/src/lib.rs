//! What both fuzz targets share: the local stack's ingest secrets and a fixed clock, a small
//! directory (two plans, three affiliates, two coupons), and webhook bodies built from
//! fuzzer-chosen fields, so that most inputs get past the parser into the engine. Arbitrary bytes
//! are fuzzed as bodies too.

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Map, Value};
use shared::clock::FixedClock;
use shared::engine::{Affiliate, MemoryDirectory};
use shared::events::EventType;
use shared::ingest::{EventQueue, Ingest, IngestSecrets, QueueError, QueueMessage};
use shared::plans::Plan;
use shared::signing::SigningSecret;

pub const SECRETS_JSON: &str = include_str!("../../../infra/local/secrets.local.json");

pub const HYBRID: &str = r#"{
  "plan_id": "hybrid", "version": 1, "currency": "USD",
  "attribution_window_days": 90, "cooling_off_hours": 48,
  "cpa_by_tier": {"50k": "40.00", "100k": "75.00"},
  "revshare_percent": "10", "resets_in_scope": true,
  "milestones": {"evaluation_passed": "25.00", "funded": "100.00"},
  "qualification": {"min_amount": "50.00"},
  "performance_steps": [{"min_qualified_purchases": 2, "rates": {"revshare_percent": "12.5"}}]
}"#;

pub const CPA_ONLY: &str = r#"{
  "plan_id": "cpa", "version": 1, "currency": "USD",
  "attribution_window_days": 30, "cooling_off_hours": 24,
  "cpa_by_tier": {"50k": "60.00", "100k": "100.00"}
}"#;

/// The instant every request is received at.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
}

pub fn secrets() -> IngestSecrets {
    IngestSecrets::from_json(SECRETS_JSON).expect("the local secrets parse")
}

pub fn signing_secret() -> &'static SigningSecret {
    static SECRET: OnceLock<SigningSecret> = OnceLock::new();
    SECRET.get_or_init(|| secrets().signing[0].clone())
}

/// A queue that is never called: the targets use `Ingest::prepare`, everything but the send.
pub struct NoQueue;

impl EventQueue for NoQueue {
    async fn send(&self, _: &QueueMessage) -> Result<(), QueueError> {
        Ok(())
    }
}

pub type FuzzIngest = Ingest<NoQueue, FixedClock>;

/// One ingest per webhook route, built once.
pub fn ingest(event_type: EventType) -> &'static FuzzIngest {
    static INGESTS: OnceLock<Vec<FuzzIngest>> = OnceLock::new();
    let all = INGESTS.get_or_init(|| {
        EventType::ALL
            .iter()
            .map(|t| Ingest::new(*t, secrets(), NoQueue, FixedClock(now())))
            .collect()
    });
    &all[EventType::ALL
        .iter()
        .position(|t| *t == event_type)
        .unwrap()]
}

pub fn affiliate(id: &str, plan: &str) -> Affiliate {
    Affiliate {
        affiliate_id: id.into(),
        plan_id: plan.into(),
        plan_version: 1,
        quality_tier: None,
        own_customer_ids: vec![],
        own_email_hashes: vec![],
        qualified_by_month: Default::default(),
    }
}

pub fn plans() -> Vec<Plan> {
    vec![
        Plan::from_json(HYBRID).unwrap(),
        Plan::from_json(CPA_ONLY).unwrap(),
    ]
}

pub fn affiliates() -> Vec<Affiliate> {
    let mut own = affiliate("aff-self", "cpa");
    own.own_customer_ids = vec!["cust-9".into()];
    vec![affiliate("aff-a", "hybrid"), affiliate("aff-b", "cpa"), own]
}

pub const COUPONS: [(&str, &str); 2] = [("ALPHA10", "aff-a"), ("BETA", "aff-b")];

pub fn directory() -> MemoryDirectory {
    let mut dir = MemoryDirectory::default();
    for plan in plans() {
        dir.add_plan(plan);
    }
    for a in affiliates() {
        dir.affiliates.insert(a.affiliate_id.clone(), a);
    }
    for (code, a) in COUPONS {
        dir.coupons.insert(code.into(), a.into());
    }
    dir
}

// ------------------------------------------------------------------ webhook bodies

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Tier {
    T50k,
    T100k,
    Unknown,
}

impl Tier {
    fn name(self) -> &'static str {
        match self {
            Tier::T50k => "50k",
            Tier::T100k => "100k",
            Tier::Unknown => "200k",
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Referral {
    None,
    Link(u8),
    Coupon(u8),
    LinkAndCoupon(u8, u8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Dispute {
    Opened,
    Won,
    Lost,
}

/// Amounts in cents, small enough to be realistic but spanning zero, fractions and large values.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct Cents(pub u32);

impl Cents {
    fn text(self) -> String {
        format!("{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

/// A lifecycle event as a sender would post it; ids come from small spaces so events of one
/// trader meet each other (a refund finds its purchase, a reset its challenge).
#[derive(Arbitrary, Debug, Clone)]
pub enum FuzzEvent {
    Purchase {
        tx: u8,
        challenge: u8,
        tier: Tier,
        amount: Cents,
        referral: Referral,
        email: Option<u8>,
    },
    EvaluationStarted {
        challenge: u8,
    },
    EvaluationFailed {
        challenge: u8,
    },
    EvaluationPassed {
        challenge: u8,
        days: u8,
    },
    Reset {
        tx: u8,
        challenge: u8,
        amount: Cents,
    },
    Funded {
        challenge: u8,
    },
    Refund {
        tx: u8,
        amount: Cents,
    },
    Chargeback {
        tx: u8,
        amount: Cents,
        dispute: Dispute,
    },
}

#[derive(Arbitrary, Debug, Clone)]
pub struct FuzzWebhook {
    pub customer: u8,
    /// Minutes before `now()` the event occurred (up to ~45 days).
    pub minutes_ago: u16,
    pub event: FuzzEvent,
}

const AFFILIATES: [&str; 4] = ["aff-a", "aff-b", "aff-self", "aff-unknown"];
const CODES: [&str; 3] = ["ALPHA10", "BETA", "NOPE"];

fn pick<'a>(from: &[&'a str], i: u8) -> &'a str {
    from[usize::from(i) % from.len()]
}

impl FuzzWebhook {
    pub fn customer_id(&self) -> String {
        format!("cust-{}", self.customer % 10)
    }

    /// The route and the JSON body a sender would post.
    pub fn body(&self) -> (EventType, Value) {
        let at = now() - Duration::minutes(i64::from(self.minutes_ago));
        let mut body = Map::new();
        body.insert("customer_id".into(), json!(self.customer_id()));
        body.insert("occurred_at".into(), json!(at.to_rfc3339()));
        let tx = |t: u8| format!("tx-{}", t % 6);
        let ch = |c: u8| format!("ch-{}", c % 4);
        let event_type = match &self.event {
            FuzzEvent::Purchase {
                tx: t,
                challenge,
                tier,
                amount,
                referral,
                email,
            } => {
                body.insert("transaction_id".into(), json!(tx(*t)));
                body.insert("challenge_id".into(), json!(ch(*challenge)));
                body.insert("tier".into(), json!(tier.name()));
                body.insert("account_size".into(), json!("100000"));
                body.insert("amount".into(), json!(amount.text()));
                body.insert("currency".into(), json!("USD"));
                if let Some(e) = email {
                    body.insert(
                        "email".into(),
                        json!(format!("trader{}@example.com", e % 4)),
                    );
                }
                match referral {
                    Referral::None => {}
                    Referral::Link(a) => {
                        body.insert("affiliate_id".into(), json!(pick(&AFFILIATES, *a)));
                        body.insert("click_id".into(), json!("clk-1"));
                    }
                    Referral::Coupon(c) => {
                        body.insert("coupon_code".into(), json!(pick(&CODES, *c)));
                    }
                    Referral::LinkAndCoupon(a, c) => {
                        body.insert("affiliate_id".into(), json!(pick(&AFFILIATES, *a)));
                        body.insert("click_id".into(), json!("clk-2"));
                        body.insert("coupon_code".into(), json!(pick(&CODES, *c)));
                    }
                }
                EventType::Purchase
            }
            FuzzEvent::EvaluationStarted { challenge } => {
                body.insert("challenge_id".into(), json!(ch(*challenge)));
                body.insert("status".into(), json!("started"));
                body.insert("account_size".into(), json!("100000"));
                body.insert("start_date".into(), json!(at.date_naive().to_string()));
                EventType::Evaluation
            }
            FuzzEvent::EvaluationFailed { challenge } => {
                body.insert("challenge_id".into(), json!(ch(*challenge)));
                body.insert("status".into(), json!("failed"));
                body.insert("reason".into(), json!("drawdown_limit"));
                body.insert("days_active".into(), json!(1));
                EventType::Evaluation
            }
            FuzzEvent::EvaluationPassed { challenge, days } => {
                body.insert("challenge_id".into(), json!(ch(*challenge)));
                body.insert("status".into(), json!("passed"));
                body.insert("pass_date".into(), json!(at.date_naive().to_string()));
                body.insert("days_to_pass".into(), json!(days));
                EventType::Evaluation
            }
            FuzzEvent::Reset {
                tx: t,
                challenge,
                amount,
            } => {
                body.insert("transaction_id".into(), json!(tx(*t)));
                body.insert("original_challenge_id".into(), json!(ch(*challenge)));
                body.insert("amount".into(), json!(amount.text()));
                body.insert("currency".into(), json!("USD"));
                EventType::Reset
            }
            FuzzEvent::Funded { challenge } => {
                body.insert("account_id".into(), json!("acc-1"));
                body.insert("challenge_id".into(), json!(ch(*challenge)));
                body.insert("account_size".into(), json!("100000"));
                body.insert("profit_split".into(), json!("80"));
                EventType::Funded
            }
            FuzzEvent::Refund { tx: t, amount } => {
                body.insert("original_transaction_id".into(), json!(tx(*t)));
                body.insert("amount".into(), json!(amount.text()));
                body.insert("currency".into(), json!("USD"));
                body.insert("reason".into(), json!("fuzz"));
                EventType::Refund
            }
            FuzzEvent::Chargeback {
                tx: t,
                amount,
                dispute,
            } => {
                body.insert("original_transaction_id".into(), json!(tx(*t)));
                body.insert("reason_code".into(), json!("10.4"));
                body.insert("amount".into(), json!(amount.text()));
                body.insert("currency".into(), json!("USD"));
                let status = match dispute {
                    Dispute::Opened => "opened",
                    Dispute::Won => "won",
                    Dispute::Lost => "lost",
                };
                body.insert("dispute_status".into(), json!(status));
                EventType::Chargeback
            }
        };
        (event_type, Value::Object(body))
    }
}

/// The three signature headers for `body`, signed now with the local secret.
pub fn signed(id: &str, body: &[u8]) -> (String, String) {
    let timestamp = now().timestamp().to_string();
    let signature = signing_secret().sign(id, &timestamp, body);
    (timestamp, signature)
}
