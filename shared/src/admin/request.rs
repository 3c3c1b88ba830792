//! What a caller may ask, and nothing else: each route, its path parameters and query keys, and
//! its body, all allow-listed. An unknown query key or body field is a 400 that names it; ids are
//! checked like the webhooks' ids; list sizes are bounded. No request names an amount, a status or
//! a commission's affiliate: the routes that change something say what to do (resolve with an
//! action and a reason), and the amounts follow from the ledger's rules.

use chrono::Duration;
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

use super::directory;
use super::error::AdminError;
use crate::engine::ReviewKind;
use crate::events::{check_id, check_text, FieldError};

/// The largest body an admin request may have (a resolution is a few hundred bytes).
pub const MAX_ADMIN_BODY_BYTES: usize = 16 * 1024;
/// Page sizes: at most this many items per page.
pub const MAX_PAGE: usize = 100;
pub const DEFAULT_PAGE: usize = 25;
/// The query keys of `GET /admin/reviews`.
pub const REVIEW_QUERY_KEYS: [&str; 7] = [
    "status",
    "kind",
    "affiliate_id",
    "customer_id",
    "older_than_hours",
    "limit",
    "cursor",
];
/// The query keys of `GET /admin/customers/{id}`.
pub const CUSTOMER_QUERY_KEYS: [&str; 2] = ["limit", "cursor"];
/// The body fields of a resolution.
pub const RESOLUTION_FIELDS: [&str; 4] = ["action", "reason", "affiliate_id", "into_customer_id"];
/// Opaque continuation tokens are at most this long.
const MAX_CURSOR_LEN: usize = 2048;

/// An HTTP request as the edge received it.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequest<'a> {
    pub method: &'a str,
    /// The raw (percent-encoded) path.
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewStatusFilter {
    Open,
    Resolved,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewQuery {
    pub status: ReviewStatusFilter,
    pub kind: Option<ReviewKind>,
    pub affiliate_id: Option<String>,
    pub customer_id: Option<String>,
    /// Only items opened at least this long ago.
    pub older_than: Option<Duration>,
    pub limit: usize,
    pub cursor: Option<String>,
}

/// What to do with a review item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolutionAction {
    /// Release what it holds.
    Approve,
    /// Cancel what it holds.
    Reject,
    /// The customer belongs to another affiliate: cancel what it holds for the old one, post the
    /// same commissions for the new one under its plan, move the attribution.
    Reassign { affiliate_id: String },
    /// The customer is the same person as another: take that customer's attribution.
    Merge { into_customer_id: String },
}

impl ResolutionAction {
    pub fn as_str(&self) -> &'static str {
        match self {
            ResolutionAction::Approve => "approve",
            ResolutionAction::Reject => "reject",
            ResolutionAction::Reassign { .. } => "reassign",
            ResolutionAction::Merge { .. } => "merge",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub action: ResolutionAction,
    /// Why, in the resolver's words (recorded with who and when).
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AdminRequest {
    ListReviews(ReviewQuery),
    GetReview {
        review_id: String,
    },
    ResolveReview {
        review_id: String,
        resolution: Resolution,
    },
    GetCustomer {
        customer_id: String,
        limit: usize,
        cursor: Option<String>,
    },
    ListPlans,
    PublishPlan(Box<directory::PublishPlan>),
    ListAffiliates,
    CreateAffiliate(directory::CreateAffiliate),
    GetAffiliate {
        affiliate_id: String,
    },
    UpdateAffiliate {
        affiliate_id: String,
        update: directory::UpdateAffiliate,
    },
    ListCoupons,
    GetCoupon {
        coupon_code: String,
    },
    AssignCoupon {
        coupon_code: String,
        assign: directory::AssignCoupon,
    },
    RecordPayout {
        affiliate_id: String,
        payout: directory::RecordPayout,
    },
}

impl AdminRequest {
    /// Whether the request changes anything (only `ops` may).
    pub fn writes(&self) -> bool {
        matches!(
            self,
            AdminRequest::ResolveReview { .. }
                | AdminRequest::PublishPlan(_)
                | AdminRequest::CreateAffiliate(_)
                | AdminRequest::UpdateAffiliate { .. }
                | AdminRequest::AssignCoupon { .. }
                | AdminRequest::RecordPayout { .. }
        )
    }
}

/// The path's segments after `/admin`, percent-decoded.
fn segments(path: &str) -> Result<Vec<String>, AdminError> {
    let rest = path
        .strip_prefix("/admin")
        .ok_or_else(|| AdminError::NotFound(format!("route {path}")))?;
    rest.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_decode_str(s)
                .decode_utf8()
                .map(|d| d.into_owned())
                .map_err(|_| AdminError::invalid("path", "is not valid UTF-8 once decoded"))
        })
        .collect()
}

fn id(field: &str, value: &str) -> Result<String, AdminError> {
    check_id(value).map_err(|m| AdminError::invalid(field, m))
}

/// A review id: `{kind}#{event id}` (conflicting redeliveries add `#{content hash}`; anomalies
/// are `anomaly_{rule}#{affiliate}#{month}`).
fn review_id(value: &str) -> Result<String, AdminError> {
    let ok = value.len() <= 512
        && value.bytes().all(|b| b.is_ascii_graphic())
        && value.split_once('#').is_some_and(|(kind, rest)| {
            (kind.parse::<ReviewKind>().is_ok() || kind.starts_with("anomaly_")) && !rest.is_empty()
        });
    if ok {
        Ok(value.to_owned())
    } else {
        Err(AdminError::invalid(
            "review_id",
            "must be a review item's id: {kind}#{event id}",
        ))
    }
}

/// The query string's keys, each at most once, every one in `allowed`.
fn query_pairs(query: &str, allowed: &[&str]) -> Result<Vec<(String, String)>, AdminError> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut errors = Vec::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if !allowed.contains(&k.as_ref()) {
            errors.push(FieldError::new(
                k.as_ref(),
                "is not a parameter of this request",
            ));
        } else if out.iter().any(|(seen, _)| *seen == k) {
            errors.push(FieldError::new(k.as_ref(), "is given more than once"));
        } else {
            out.push((k.into_owned(), v.into_owned()));
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(AdminError::Invalid(errors))
    }
}

fn limit(value: Option<&str>) -> Result<usize, AdminError> {
    match value {
        None => Ok(DEFAULT_PAGE),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                AdminError::invalid(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_PAGE}"),
                )
            }),
    }
}

fn cursor(value: Option<&str>) -> Result<Option<String>, AdminError> {
    match value {
        None => Ok(None),
        Some(v)
            if !v.is_empty()
                && v.len() <= MAX_CURSOR_LEN
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Ok(Some(v.to_owned()))
        }
        Some(_) => Err(AdminError::invalid(
            "cursor",
            "is not a cursor this API returned",
        )),
    }
}

fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn review_query(query: &str) -> Result<ReviewQuery, AdminError> {
    let pairs = query_pairs(query, &REVIEW_QUERY_KEYS)?;
    let mut errors = Vec::new();
    let mut check = |r: Result<(), AdminError>| {
        if let Err(AdminError::Invalid(e)) = r {
            errors.extend(e);
        }
    };
    let mut q = ReviewQuery {
        status: ReviewStatusFilter::Open,
        kind: None,
        affiliate_id: None,
        customer_id: None,
        older_than: None,
        limit: DEFAULT_PAGE,
        cursor: None,
    };
    match get(&pairs, "status") {
        None | Some("open") => {}
        Some("resolved") => q.status = ReviewStatusFilter::Resolved,
        Some(_) => check(Err(AdminError::invalid(
            "status",
            "must be open or resolved",
        ))),
    }
    if let Some(k) = get(&pairs, "kind") {
        match k.parse::<ReviewKind>() {
            Ok(kind) => q.kind = Some(kind),
            Err(_) => check(Err(AdminError::invalid("kind", "is not a review kind"))),
        }
    }
    if let Some(a) = get(&pairs, "affiliate_id") {
        match id("affiliate_id", a) {
            Ok(a) => q.affiliate_id = Some(a),
            Err(e) => check(Err(e)),
        }
    }
    if let Some(c) = get(&pairs, "customer_id") {
        match id("customer_id", c) {
            Ok(c) => q.customer_id = Some(c),
            Err(e) => check(Err(e)),
        }
    }
    if let Some(h) = get(&pairs, "older_than_hours") {
        match h.parse::<u32>().ok().filter(|h| *h <= 24 * 366) {
            Some(h) => q.older_than = Some(Duration::hours(i64::from(h))),
            None => check(Err(AdminError::invalid(
                "older_than_hours",
                "must be a whole number of hours, at most a year",
            ))),
        }
    }
    match limit(get(&pairs, "limit")) {
        Ok(l) => q.limit = l,
        Err(e) => check(Err(e)),
    }
    match cursor(get(&pairs, "cursor")) {
        Ok(c) => q.cursor = c,
        Err(e) => check(Err(e)),
    }
    if errors.is_empty() {
        Ok(q)
    } else {
        Err(AdminError::Invalid(errors))
    }
}

/// A JSON object body with exactly the allowed fields (an unknown one is named in the error).
fn body_object(
    request: &HttpRequest<'_>,
    allowed: &[&str],
) -> Result<Map<String, Value>, AdminError> {
    if request.body.len() > MAX_ADMIN_BODY_BYTES {
        return Err(AdminError::TooLarge(MAX_ADMIN_BODY_BYTES));
    }
    let json = request.content_type.is_some_and(|c| {
        c.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("application/json")
    });
    if !json {
        return Err(AdminError::UnsupportedMediaType);
    }
    let value: Value = serde_json::from_slice(request.body)
        .map_err(|e| AdminError::invalid("body", format!("is not valid JSON: {e}")))?;
    let Value::Object(object) = value else {
        return Err(AdminError::invalid("body", "must be a JSON object"));
    };
    let unknown: Vec<FieldError> = object
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| FieldError::new(k.as_str(), "is not a field of this request"))
        .collect();
    if unknown.is_empty() {
        Ok(object)
    } else {
        Err(AdminError::Invalid(unknown))
    }
}

fn string_field<'a>(
    object: &'a Map<String, Value>,
    name: &str,
    errors: &mut Vec<FieldError>,
) -> Option<&'a str> {
    match object.get(name) {
        None => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            errors.push(FieldError::new(name, "must be a string"));
            None
        }
    }
}

fn resolution(request: &HttpRequest<'_>) -> Result<Resolution, AdminError> {
    let object = body_object(request, &RESOLUTION_FIELDS)?;
    let mut errors = Vec::new();
    let action = string_field(&object, "action", &mut errors);
    let reason = string_field(&object, "reason", &mut errors);
    let affiliate = string_field(&object, "affiliate_id", &mut errors);
    let into = string_field(&object, "into_customer_id", &mut errors);
    let reason = match reason {
        None => {
            errors.push(FieldError::new("reason", "is required: say why"));
            None
        }
        Some(r) => match check_text(r) {
            Ok(r) => Some(r),
            Err(m) => {
                errors.push(FieldError::new("reason", m));
                None
            }
        },
    };
    let mut only = |field: &str, given: Option<&str>, wanted: bool| {
        if given.is_some() && !wanted {
            errors.push(FieldError::new(field, "is only for another action"));
        }
    };
    let action = match action {
        Some("approve") => {
            only("affiliate_id", affiliate, false);
            only("into_customer_id", into, false);
            Some(ResolutionAction::Approve)
        }
        Some("reject") => {
            only("affiliate_id", affiliate, false);
            only("into_customer_id", into, false);
            Some(ResolutionAction::Reject)
        }
        Some("reassign") => {
            only("into_customer_id", into, false);
            match affiliate.map(check_id) {
                Some(Ok(a)) => Some(ResolutionAction::Reassign { affiliate_id: a }),
                Some(Err(m)) => {
                    errors.push(FieldError::new("affiliate_id", m));
                    None
                }
                None => {
                    errors.push(FieldError::new("affiliate_id", "is required to reassign"));
                    None
                }
            }
        }
        Some("merge") => {
            only("affiliate_id", affiliate, false);
            match into.map(check_id) {
                Some(Ok(c)) => Some(ResolutionAction::Merge {
                    into_customer_id: c,
                }),
                Some(Err(m)) => {
                    errors.push(FieldError::new("into_customer_id", m));
                    None
                }
                None => {
                    errors.push(FieldError::new("into_customer_id", "is required to merge"));
                    None
                }
            }
        }
        Some(_) => {
            errors.push(FieldError::new(
                "action",
                "must be approve, reject, reassign or merge",
            ));
            None
        }
        None => {
            errors.push(FieldError::new("action", "is required"));
            None
        }
    };
    match (action, reason) {
        (Some(action), Some(reason)) if errors.is_empty() => Ok(Resolution { action, reason }),
        _ => Err(AdminError::Invalid(errors)),
    }
}

/// Parses a request into what it asks for, or why it cannot be.
pub fn parse(request: &HttpRequest<'_>) -> Result<AdminRequest, AdminError> {
    let segments = segments(request.path)?;
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = request.method;
    let no_body = |r: AdminRequest| {
        if request.body.is_empty() {
            Ok(r)
        } else {
            Err(AdminError::invalid("body", "this request takes no body"))
        }
    };
    match (method, seg.as_slice()) {
        ("GET", ["reviews"]) => no_body(AdminRequest::ListReviews(review_query(request.query)?)),
        ("GET", ["reviews", id]) => {
            query_pairs(request.query, &[])?;
            no_body(AdminRequest::GetReview {
                review_id: review_id(id)?,
            })
        }
        ("POST", ["reviews", id, "resolution"]) => {
            query_pairs(request.query, &[])?;
            Ok(AdminRequest::ResolveReview {
                review_id: review_id(id)?,
                resolution: resolution(request)?,
            })
        }
        ("GET", ["customers", customer]) => {
            let pairs = query_pairs(request.query, &CUSTOMER_QUERY_KEYS)?;
            no_body(AdminRequest::GetCustomer {
                customer_id: id("customer_id", customer)?,
                limit: limit(get(&pairs, "limit"))?,
                cursor: cursor(get(&pairs, "cursor"))?,
            })
        }
        ("GET", ["plans"]) => {
            query_pairs(request.query, &[])?;
            no_body(AdminRequest::ListPlans)
        }
        ("POST", ["plans"]) => {
            query_pairs(request.query, &[])?;
            let object = body_object(request, &directory::PUBLISH_PLAN_FIELDS)?;
            Ok(AdminRequest::PublishPlan(Box::new(
                directory::publish_plan(&object)?,
            )))
        }
        ("GET", ["affiliates"]) => {
            query_pairs(request.query, &[])?;
            no_body(AdminRequest::ListAffiliates)
        }
        ("POST", ["affiliates"]) => {
            query_pairs(request.query, &[])?;
            let object = body_object(request, &directory::CREATE_AFFILIATE_FIELDS)?;
            Ok(AdminRequest::CreateAffiliate(directory::create_affiliate(
                &object,
            )?))
        }
        ("GET", ["affiliates", affiliate]) => {
            query_pairs(request.query, &[])?;
            no_body(AdminRequest::GetAffiliate {
                affiliate_id: id("affiliate_id", affiliate)?,
            })
        }
        ("PATCH", ["affiliates", affiliate]) => {
            query_pairs(request.query, &[])?;
            let affiliate_id = id("affiliate_id", affiliate)?;
            let object = body_object(request, &directory::UPDATE_AFFILIATE_FIELDS)?;
            Ok(AdminRequest::UpdateAffiliate {
                affiliate_id,
                update: directory::update_affiliate(&object)?,
            })
        }
        ("GET", ["coupons"]) => {
            query_pairs(request.query, &[])?;
            no_body(AdminRequest::ListCoupons)
        }
        ("GET", ["coupons", code]) => {
            query_pairs(request.query, &[])?;
            no_body(AdminRequest::GetCoupon {
                coupon_code: directory::coupon_code(code)?,
            })
        }
        ("PUT", ["coupons", code]) => {
            query_pairs(request.query, &[])?;
            let coupon_code = directory::coupon_code(code)?;
            let object = body_object(request, &directory::ASSIGN_COUPON_FIELDS)?;
            Ok(AdminRequest::AssignCoupon {
                coupon_code,
                assign: directory::assign_coupon(&object)?,
            })
        }
        ("POST", ["affiliates", affiliate, "payouts"]) => {
            query_pairs(request.query, &[])?;
            let affiliate_id = id("affiliate_id", affiliate)?;
            let object = body_object(request, &directory::RECORD_PAYOUT_FIELDS)?;
            Ok(AdminRequest::RecordPayout {
                affiliate_id,
                payout: directory::record_payout(&object)?,
            })
        }
        (_, ["reviews"])
        | (_, ["affiliates", _, "payouts"])
        | (_, ["reviews", _])
        | (_, ["reviews", _, "resolution"])
        | (_, ["customers", _])
        | (_, ["plans"])
        | (_, ["affiliates"])
        | (_, ["affiliates", _])
        | (_, ["coupons"])
        | (_, ["coupons", _]) => Err(AdminError::MethodNotAllowed),
        _ => Err(AdminError::NotFound(format!("route {}", request.path))),
    }
}
