//! The admin API: who is calling, what they ask, and the answer. Every request is authorized
//! before it is even parsed (an anonymous caller learns nothing, not even that a body was bad),
//! then checked against the caller's role, then executed against the store port.

use std::collections::{BTreeSet, HashMap};

use serde_json::{json, Value};

use super::caller::{authorize, AuthSettings, Caller, Role};
use super::error::AdminError;
use super::request::{parse, AdminRequest, HttpRequest, Resolution, ResolutionAction, ReviewQuery};
use super::store::{AdminStore, ResolutionCommit, ReviewResolution, StoredEvent, StoredReview};
use super::views::{
    CustomerTimeline, EventView, ResolutionView, ReviewDetail, ReviewPage, ReviewView,
};
use crate::clock::Clock;
use crate::email::EmailHasher;
use crate::engine::{resolve_review, Attribution, CustomerView, ResolveError, ReviewAction};
use crate::ledger::LedgerEntry;
use crate::processor::{StoreError, StoredHead};

/// How often a resolution is re-decided when the customer changed under it (an event applied
/// between the read and the write): each attempt re-reads everything.
const RESOLVE_ATTEMPTS: usize = 4;

/// DynamoDB's limit on the items of one transaction.
const MAX_TRANSACTION_ITEMS: usize = 100;

/// An answer: a status and a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminResponse {
    pub status: u16,
    pub body: Value,
}

pub struct AdminApi<S, C> {
    pub(super) store: S,
    pub(super) clock: C,
    auth: AuthSettings,
    /// The ingest's email hasher: affiliates' own emails are kept as the same keyed hashes the
    /// webhooks make of a purchase's email.
    pub(super) hasher: EmailHasher,
}

impl<S: AdminStore, C: Clock> AdminApi<S, C> {
    pub fn new(store: S, clock: C, auth: AuthSettings, hasher: EmailHasher) -> Self {
        AdminApi {
            store,
            clock,
            auth,
            hasher,
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// One request. `claims` are the verified token's claims as the authorizer passes them
    /// (`None` when there was no token). Never fails: every outcome is a status and a body.
    pub async fn handle(
        &self,
        request: &HttpRequest<'_>,
        claims: Option<&HashMap<String, String>>,
    ) -> AdminResponse {
        match self.route(request, claims).await {
            Ok(body) => AdminResponse { status: 200, body },
            Err(e) => {
                match &e {
                    AdminError::Internal | AdminError::Unavailable => {
                        tracing::error!(status = e.status(), error = %e, "admin request failed")
                    }
                    _ => tracing::info!(status = e.status(), error = %e, "admin request refused"),
                }
                AdminResponse {
                    status: e.status(),
                    body: e.body(),
                }
            }
        }
    }

    async fn route(
        &self,
        request: &HttpRequest<'_>,
        claims: Option<&HashMap<String, String>>,
    ) -> Result<Value, AdminError> {
        let caller =
            authorize(claims, &self.auth, self.clock.now()).map_err(AdminError::Unauthorized)?;
        let parsed = parse(request)?;
        if parsed.writes() && caller.role != Role::Ops {
            return Err(AdminError::Forbidden(
                "only the ops role may change anything; viewer may read",
            ));
        }
        let body = match parsed {
            AdminRequest::ListReviews(query) => to_json(&self.list_reviews(&query).await?),
            AdminRequest::GetReview { review_id } => {
                to_json(&self.review_detail(&review_id).await?)
            }
            AdminRequest::ResolveReview {
                review_id,
                resolution,
            } => to_json(&self.resolve(&caller, &review_id, &resolution).await?),
            AdminRequest::GetCustomer {
                customer_id,
                limit,
                cursor,
            } => to_json(
                &self
                    .timeline(&customer_id, limit, cursor.as_deref())
                    .await?,
            ),
            AdminRequest::ListPlans => self.list_plans().await?,
            AdminRequest::PublishPlan(p) => self.publish_plan(&caller, *p).await?,
            AdminRequest::ListAffiliates => self.list_affiliates().await?,
            AdminRequest::CreateAffiliate(c) => self.create_affiliate(&caller, c).await?,
            AdminRequest::GetAffiliate { affiliate_id } => {
                self.affiliate_page(&affiliate_id).await?
            }
            AdminRequest::UpdateAffiliate {
                affiliate_id,
                update,
            } => {
                self.update_affiliate(&caller, &affiliate_id, update)
                    .await?
            }
            AdminRequest::ListCoupons => self.list_coupons().await?,
            AdminRequest::GetCoupon { coupon_code } => self.coupon_page(&coupon_code).await?,
            AdminRequest::AssignCoupon {
                coupon_code,
                assign,
            } => self.assign_coupon(&caller, &coupon_code, assign).await?,
            AdminRequest::RecordPayout {
                affiliate_id,
                payout,
            } => self.record_payout(&caller, &affiliate_id, payout).await?,
        };
        Ok(body)
    }

    async fn list_reviews(&self, query: &ReviewQuery) -> Result<ReviewPage, AdminError> {
        let opened_before = query.older_than.map(|age| self.clock.now() - age);
        let page = self
            .store
            .reviews(query, opened_before)
            .await?
            .map_err(bad_cursor)?;
        Ok(ReviewPage {
            items: page.items.iter().map(ReviewView::from).collect(),
            next_cursor: page.next_cursor,
        })
    }

    async fn review_detail(&self, review_id: &str) -> Result<ReviewDetail, AdminError> {
        let review = self
            .store
            .review(review_id)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("review item {review_id}")))?;
        let event = match review.item.event_id.as_str() {
            "" => None,
            id => self.store.event(id).await?,
        };
        let fallback = self.attributed_affiliate(&review.item.customer_id).await?;
        let event = match event {
            Some(e) => {
                let entries = self.event_entries(&e, fallback.as_deref()).await?;
                Some(EventView::new(&e, entries))
            }
            None => None,
        };
        let resolution_entries = match &review.resolution {
            Some(r) => {
                self.store
                    .entries(&entry_keys(&r.entry_ids, &r.entry_affiliates, None))
                    .await?
            }
            None => Vec::new(),
        };
        Ok(ReviewDetail {
            review: ReviewView::from(&review),
            event,
            resolution_entries,
        })
    }

    /// The customer's attributed affiliate: whose entries an event record written before entries
    /// carried their affiliate holds.
    async fn attributed_affiliate(&self, customer_id: &str) -> Result<Option<String>, AdminError> {
        if customer_id.is_empty() {
            return Ok(None);
        }
        Ok(match self.store.head(customer_id).await? {
            Some(StoredHead::Current(head)) => match head.attribution {
                Attribution::Affiliate(a) => Some(a.affiliate_id),
                _ => None,
            },
            _ => None,
        })
    }

    async fn event_entries(
        &self,
        event: &StoredEvent,
        fallback: Option<&str>,
    ) -> Result<Vec<LedgerEntry>, AdminError> {
        let keys = entry_keys(&event.entry_ids, &event.entry_affiliates, fallback);
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self.store.entries(&keys).await?)
    }

    async fn timeline(
        &self,
        customer_id: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<CustomerTimeline, AdminError> {
        let head = match self.store.head(customer_id).await? {
            Some(StoredHead::Current(head)) => head,
            // A legacy customer is migrated the first time anything touches it, reads included.
            Some(StoredHead::Legacy(_)) => match self.store.customer(customer_id).await? {
                Some(view) => view.head,
                None => return Err(AdminError::NotFound(format!("customer {customer_id}"))),
            },
            None => return Err(AdminError::NotFound(format!("customer {customer_id}"))),
        };
        let page = self
            .store
            .customer_events(customer_id, limit, cursor)
            .await?
            .map_err(bad_cursor)?;
        let fallback = match &head.attribution {
            Attribution::Affiliate(a) => Some(a.affiliate_id.clone()),
            _ => None,
        };
        let mut keys = Vec::new();
        for e in &page.items {
            keys.extend(entry_keys(
                &e.entry_ids,
                &e.entry_affiliates,
                fallback.as_deref(),
            ));
        }
        let entries = self.store.entries(&keys).await?;
        let mut by_id: HashMap<&str, &LedgerEntry> =
            entries.iter().map(|e| (e.entry_id.as_str(), e)).collect();
        let events = page
            .items
            .iter()
            .map(|e| {
                let mine = e
                    .entry_ids
                    .iter()
                    .filter_map(|id| by_id.remove(id.as_str()).cloned())
                    .collect();
                EventView::new(e, mine)
            })
            .collect();
        // The page's events' review items, and the one on the attribution itself.
        let mut review_ids: BTreeSet<String> = page
            .items
            .iter()
            .flat_map(|e| e.review_ids.iter().cloned())
            .collect();
        match &head.attribution {
            Attribution::Affiliate(a) => review_ids.extend(a.review_id.clone()),
            Attribution::Unresolved { review_id, .. } => {
                review_ids.insert(review_id.clone());
            }
            _ => {}
        }
        let ids: Vec<String> = review_ids.into_iter().collect();
        let reviews = self.store.reviews_by_id(&ids).await?;
        Ok(CustomerTimeline {
            customer_id: head.customer_id.clone(),
            version: head.version,
            attribution: head.attribution.clone(),
            events,
            reviews: reviews.iter().map(ReviewView::from).collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// Closes a review item: decides what it posts from the customer as stored now, and writes
    /// that with the item's closing in one transaction. A lost race re-decides from a fresh read;
    /// an item closed meanwhile is a 409 saying how it was closed.
    async fn resolve(
        &self,
        caller: &Caller,
        review_id: &str,
        resolution: &Resolution,
    ) -> Result<ResolutionView, AdminError> {
        for _ in 0..RESOLVE_ATTEMPTS {
            let review = self
                .store
                .review(review_id)
                .await?
                .ok_or_else(|| AdminError::NotFound(format!("review item {review_id}")))?;
            if let Some(done) = &review.resolution {
                return Err(already_resolved(&review, done));
            }
            match self.try_resolve(caller, &review, resolution).await {
                Err(AdminError::Conflict { current, .. }) if current.is_null() => continue,
                other => return other,
            }
        }
        Err(AdminError::Conflict {
            message: "the customer kept changing while this was being resolved; try again".into(),
            current: Value::Null,
        })
    }

    async fn try_resolve(
        &self,
        caller: &Caller,
        review: &StoredReview,
        resolution: &Resolution,
    ) -> Result<ResolutionView, AdminError> {
        let at = self.clock.now();
        let item = &review.item;
        let mut customer: Option<(CustomerView, u64)> = None;
        let mut resolved = crate::engine::Resolved::default();
        if item.customer_id.is_empty() {
            // An anomaly is about an affiliate, not a customer: closing it changes no commission.
            if !matches!(
                resolution.action,
                ResolutionAction::Approve | ResolutionAction::Reject
            ) {
                return Err(AdminError::invalid(
                    "action",
                    "an anomaly review can only be approved or rejected",
                ));
            }
        } else {
            let mut view = self.store.customer(&item.customer_id).await?.ok_or_else(|| {
                tracing::error!(review_id = %item.review_id, "the review's customer is not stored");
                AdminError::Internal
            })?;
            let expected = view.head.version;
            let action = self
                .engine_action(&item.customer_id, &resolution.action)
                .await?;
            let mut wanted: Vec<String> = Vec::new();
            if let ReviewAction::Reassign { affiliate_id } = &action {
                wanted.push(affiliate_id.clone());
            }
            if let ReviewAction::Merge {
                into: Attribution::Affiliate(a),
                ..
            } = &action
            {
                wanted.push(a.affiliate_id.clone());
            }
            let directory = self.store.directory(&wanted).await?;
            resolved = resolve_review(&mut view, item, &action, &directory, at).map_err(|e| match e {
                ResolveError::NotApplicable(why) => AdminError::Conflict {
                    message: why,
                    current: to_json(&ReviewView::from(review)),
                },
                ResolveError::UnknownAffiliate(a) => AdminError::invalid(
                    "affiliate_id",
                    format!("{a} is not an affiliate with a plan in the directory"),
                ),
                ResolveError::Arithmetic(_) => {
                    tracing::error!(review_id = %item.review_id, "money overflowed while resolving");
                    AdminError::Internal
                }
            })?;
            customer = Some((view, expected));
        }
        let (affiliate_id, into_customer_id) = match &resolution.action {
            ResolutionAction::Reassign { affiliate_id } => (Some(affiliate_id.clone()), None),
            ResolutionAction::Merge { into_customer_id } => (None, Some(into_customer_id.clone())),
            _ => (None, None),
        };
        let record = ReviewResolution {
            action: resolution.action.as_str().to_owned(),
            affiliate_id,
            into_customer_id,
            reason: resolution.reason.clone(),
            by: caller.subject.clone(),
            at,
            entry_ids: resolved
                .entries
                .iter()
                .map(|e| e.entry_id.clone())
                .collect(),
            entry_affiliates: resolved
                .entries
                .iter()
                .map(|e| e.affiliate_id.clone())
                .collect(),
        };
        // The item, the head, the changed records and the entries: one transaction, at most 100.
        let writes = 2
            + customer
                .as_ref()
                .map_or(0, |(v, _)| v.changed_records().len())
            + resolved.entries.len();
        if writes > MAX_TRANSACTION_ITEMS {
            return Err(AdminError::TooManyWrites(writes));
        }
        let commit = ResolutionCommit {
            review: item,
            resolution: &record,
            customer: customer.as_ref().map(|(v, expected)| (v, *expected)),
            entries: &resolved.entries,
            recorded_at: at,
        };
        match self.store.commit_resolution(&commit).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                // Either the item was closed by someone else (say how), or the customer changed
                // (decide again from a fresh read: the caller loops).
                if let Some(now) = self.store.review(&item.review_id).await? {
                    if let Some(done) = &now.resolution {
                        return Err(already_resolved(&now, done));
                    }
                }
                return Err(AdminError::Conflict {
                    message: "the customer changed".into(),
                    current: Value::Null,
                });
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(
            review_id = %item.review_id,
            action = resolution.action.as_str(),
            by = %caller.subject,
            entries = resolved.entries.len(),
            "review item resolved"
        );
        let closed = StoredReview {
            item: item.clone(),
            resolution: Some(record),
        };
        Ok(ResolutionView {
            review: ReviewView::from(&closed),
            entries: resolved.entries,
            released: resolved.released,
            cancelled: resolved.cancelled,
            posted: resolved.posted,
            not_priced: resolved
                .not_priced
                .into_iter()
                .map(|(c, why)| (c, why.as_str().to_owned()))
                .collect(),
        })
    }

    /// The request's action as the engine takes it: a merge names the other customer, whose
    /// attribution is read here.
    async fn engine_action(
        &self,
        customer_id: &str,
        action: &ResolutionAction,
    ) -> Result<ReviewAction, AdminError> {
        Ok(match action {
            ResolutionAction::Approve => ReviewAction::Approve,
            ResolutionAction::Reject => ReviewAction::Reject,
            ResolutionAction::Reassign { affiliate_id } => ReviewAction::Reassign {
                affiliate_id: affiliate_id.clone(),
            },
            ResolutionAction::Merge { into_customer_id } => {
                if into_customer_id == customer_id {
                    return Err(AdminError::invalid(
                        "into_customer_id",
                        "is the review's own customer",
                    ));
                }
                let into = match self.store.head(into_customer_id).await? {
                    Some(StoredHead::Current(head)) => head.attribution,
                    Some(StoredHead::Legacy(_)) => {
                        match self.store.customer(into_customer_id).await? {
                            Some(view) => view.head.attribution,
                            None => Attribution::None,
                        }
                    }
                    None => {
                        return Err(AdminError::invalid(
                            "into_customer_id",
                            "is not a known customer",
                        ))
                    }
                };
                if matches!(into, Attribution::None | Attribution::Unresolved { .. }) {
                    return Err(AdminError::invalid(
                        "into_customer_id",
                        "has no decided attribution to merge into",
                    ));
                }
                ReviewAction::Merge {
                    into_customer_id: into_customer_id.clone(),
                    into,
                }
            }
        })
    }
}

fn bad_cursor(_: super::store::InvalidCursor) -> AdminError {
    AdminError::invalid("cursor", "is not a cursor this API returned for this list")
}

fn already_resolved(review: &StoredReview, done: &ReviewResolution) -> AdminError {
    AdminError::Conflict {
        message: format!(
            "already resolved: {} by {} at {}",
            done.action,
            done.by,
            done.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        current: to_json(&ReviewView::from(review)),
    }
}

/// `(affiliate_id, entry_id)` keys of entries; `fallback` for records that do not say whose.
fn entry_keys(
    entry_ids: &[String],
    affiliates: &[String],
    fallback: Option<&str>,
) -> Vec<(String, String)> {
    entry_ids
        .iter()
        .enumerate()
        .filter_map(|(i, id)| {
            affiliates
                .get(i)
                .map(String::as_str)
                .or(fallback)
                .map(|a| (a.to_owned(), id.clone()))
        })
        .collect()
}

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> Value {
    // Every view is plain data (strings, numbers, maps): serializing cannot fail.
    serde_json::to_value(value).unwrap_or_else(|_| json!({"error": "internal"}))
}
