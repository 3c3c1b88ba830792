//! Exactly-once admission: an event id with a recorded outcome is never applied again. The same
//! id with different content is not applied either; it opens a review item instead.

use std::collections::BTreeMap;

use super::outcome::{ReviewItem, ReviewKind};
use crate::events::EventEnvelope;

/// What the durable event record says about an id already seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenEvent {
    pub content_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Never seen: apply it.
    Apply,
    /// Seen with the same content: nothing to do (the delivery is acknowledged).
    Duplicate,
    /// Seen with other content: not applied; this review item records it (its id is derived from
    /// the event id and the new content hash, so a third delivery of it adds nothing).
    Conflict(ReviewItem),
}

pub fn admit(seen: Option<&SeenEvent>, event: &EventEnvelope) -> Admission {
    match seen {
        None => Admission::Apply,
        Some(s) if s.content_hash == event.content_hash => Admission::Duplicate,
        Some(s) => Admission::Conflict(ReviewItem {
            review_id: format!(
                "{}#{}#{}",
                ReviewKind::ConflictingRedelivery.as_str(),
                event.event_id,
                event.content_hash
            ),
            kind: ReviewKind::ConflictingRedelivery,
            customer_id: event.customer_id.clone(),
            event_id: event.event_id.clone(),
            affiliate_ids: vec![],
            evidence: BTreeMap::from([
                ("recorded_content_hash".to_owned(), s.content_hash.clone()),
                (
                    "received_content_hash".to_owned(),
                    event.content_hash.clone(),
                ),
            ]),
            opened_at: event.received_at,
        }),
    }
}
