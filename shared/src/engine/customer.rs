//! A customer's head: who referred them and how many events have been applied. Small and of
//! fixed size whatever the customer's history; everything that grows with history lives in the
//! per-transaction and per-challenge records (`records`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerHead {
    pub customer_id: String,
    /// Events applied so far: each event's `seq` in the event log, and the head's
    /// optimistic-concurrency token.
    pub version: u64,
    pub attribution: Attribution,
}

impl CustomerHead {
    pub fn new(customer_id: &str) -> Self {
        CustomerHead {
            customer_id: customer_id.to_owned(),
            version: 0,
            attribution: Attribution::None,
        }
    }

    pub fn attributed_affiliate(&self) -> Option<&str> {
        match &self.attribution {
            Attribution::Affiliate(a) => Some(&a.affiliate_id),
            _ => None,
        }
    }
}

/// Who referred the customer, decided at the first purchase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Attribution {
    /// No purchase yet.
    None,
    /// The first purchase named no affiliate.
    Organic {
        decided_by_event: String,
    },
    /// The first purchase named an affiliate the directory does not know (or whose plan is
    /// missing): a review item decides.
    Unresolved {
        decided_by_event: String,
        review_id: String,
    },
    Affiliate(AffiliateAttribution),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffiliateAttribution {
    pub affiliate_id: String,
    pub source: AttributionSource,
    pub click_id: Option<String>,
    pub coupon_code: Option<String>,
    pub decided_by_event: String,
    pub starts_at: DateTime<Utc>,
    /// The window is `[starts_at, window_ends_at)`: see `window_contains`.
    pub window_ends_at: DateTime<Utc>,
    /// Set while a review item disputes the attribution; commissions are held meanwhile.
    pub review_id: Option<String>,
    /// Set by the scheduler once the window has ended (to `window_ends_at`, not the tick's time,
    /// so a replayed tick writes the same thing). Earning already stops at `window_ends_at`;
    /// this makes it visible and queryable.
    #[serde(default)]
    pub expired_at: Option<DateTime<Utc>>,
}

impl AffiliateAttribution {
    /// The attribution window, the one rule every path asks: an event that occurred at `at`
    /// earns only if `starts_at <= at < window_ends_at` (by `occurred_at`, not arrival).
    pub fn window_contains(&self, at: DateTime<Utc>) -> bool {
        self.starts_at <= at && at < self.window_ends_at
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributionSource {
    /// The affiliate id of a tracking link (with its click id, when sent).
    Link,
    /// A coupon code resolved to its affiliate.
    Coupon,
}

impl AttributionSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AttributionSource::Link => "link",
            AttributionSource::Coupon => "coupon",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn the_window_includes_its_start_and_excludes_its_end() {
        let start: DateTime<Utc> = "2026-11-02T12:00:00Z".parse().unwrap();
        let a = AffiliateAttribution {
            affiliate_id: "a".into(),
            source: AttributionSource::Link,
            click_id: None,
            coupon_code: None,
            decided_by_event: "e".into(),
            starts_at: start,
            window_ends_at: start + Duration::days(90),
            review_id: None,
            expired_at: None,
        };
        assert!(!a.window_contains(start - Duration::nanoseconds(1)));
        assert!(a.window_contains(start));
        assert!(a.window_contains(start + Duration::days(90) - Duration::nanoseconds(1)));
        assert!(!a.window_contains(start + Duration::days(90)));
    }
}
