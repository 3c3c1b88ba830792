//! Resolving review items (the admin API's approve, reject, reassign and merge) with exact
//! amounts: what each posts to the ledger (only new entries), what happens to the attribution,
//! and that an item closes exactly once.

mod support;

use chrono::Duration;
use shared::engine::book::Book;
use shared::engine::{Attribution, OutcomeKind, ReviewAction};
use shared::ledger::{CommissionStatus, EntryKind};
use support::*;

/// A commission's entries in the order they took effect.
fn entries(
    book: &Book,
    commission: &str,
) -> Vec<(EntryKind, rust_decimal::Decimal, CommissionStatus)> {
    let mut found: Vec<_> = book
        .entries
        .values()
        .filter(|e| e.commission_id == commission)
        .collect();
    found.sort_by_key(|e| e.effective_at);
    found.iter().map(|e| (e.kind, e.amount, e.status)).collect()
}

fn review_of(book: &Book, kind: &str) -> String {
    book.reviews
        .keys()
        .find(|k| k.starts_with(kind))
        .unwrap_or_else(|| panic!("no {kind} review"))
        .clone()
}

/// aff-self's own account buys through its own link: held for a self-referral review.
fn self_referred() -> Book {
    let mut book = Book::new(directory());
    book.deliver(&envelope(
        "p1",
        "cust-self",
        t0(),
        purchase("tx1", "ch1", "100k", "499.00", Some("aff-self"), None),
    ));
    assert_eq!(book.events["p1"].outcome.kind, OutcomeKind::HeldForReview);
    book
}

#[test]
fn approving_releases_what_is_held_and_the_tick_then_approves_it() {
    let mut book = self_referred();
    let review = review_of(&book, "self_referral#");
    let at = t0() + Duration::days(5);
    let resolved = book.resolve(&review, ReviewAction::Approve, at).unwrap();
    assert_eq!(resolved.released, vec!["p1".to_owned()]);
    assert_eq!(
        entries(&book, "p1"),
        vec![
            (EntryKind::Commission, d("100"), CommissionStatus::OnHold),
            (EntryKind::Release, d("0"), CommissionStatus::Pending),
        ]
    );
    // the attribution no longer holds through this review: a later purchase by the affiliate's
    // own account is held by a review of its own, not by the approved one
    book.deliver(&envelope(
        "p2",
        "cust-self",
        t0() + Duration::days(6),
        purchase("tx2", "ch2", "100k", "499.00", Some("aff-self"), None),
    ));
    assert_eq!(
        commission(&book, "p2").review_hold.as_deref(),
        Some("self_referral#p2")
    );
    // cooling-off has long ended: the released commission is approved at the next tick
    assert_eq!(book.tick(at + Duration::hours(1)), 1);
    assert_eq!(commission(&book, "p1").status(), CommissionStatus::Approved);
    // an item closes exactly once
    assert!(book.resolve(&review, ReviewAction::Reject, at).is_err());
    assert_eq!(entries(&book, "p1").len(), 3);
}

#[test]
fn rejecting_cancels_what_is_held_and_an_attribution_review_makes_the_customer_organic() {
    let mut book = self_referred();
    let review = review_of(&book, "self_referral#");
    book.resolve(&review, ReviewAction::Reject, t0() + Duration::days(5))
        .unwrap();
    assert_eq!(
        entries(&book, "p1"),
        vec![
            (EntryKind::Commission, d("100"), CommissionStatus::OnHold),
            (
                EntryKind::Cancellation,
                d("-100"),
                CommissionStatus::Cancelled
            ),
        ]
    );
    assert!(matches!(
        book.customer("cust-self").head.attribution,
        Attribution::Organic { .. }
    ));
    // nothing the customer does earns any more
    book.deliver(&envelope(
        "p2",
        "cust-self",
        t0() + Duration::days(6),
        purchase("tx2", "ch2", "100k", "499.00", None, None),
    ));
    assert_eq!(book.events["p2"].outcome.reason.as_str(), "unattributed");
    assert_eq!(net_of(&book, "p1"), d("0"));
}

fn net_of(book: &Book, commission: &str) -> rust_decimal::Decimal {
    entries(book, commission).iter().map(|(_, a, _)| *a).sum()
}

/// Attributed to aff-a (hybrid plan); a later purchase names aff-b: that purchase's commission is
/// held for a disputed-attribution review.
fn disputed() -> Book {
    let mut book = Book::new(directory());
    book.deliver(&envelope(
        "p1",
        "c1",
        t0(),
        purchase("tx1", "ch1", "100k", "499.00", Some("aff-a"), None),
    ));
    book.deliver(&envelope(
        "p2",
        "c1",
        t0() + Duration::days(1),
        purchase("tx2", "ch2", "100k", "299.00", Some("aff-b"), None),
    ));
    assert_eq!(book.events["p2"].outcome.kind, OutcomeKind::HeldForReview);
    book
}

#[test]
fn reassigning_cancels_for_the_old_affiliate_and_posts_for_the_new_under_its_plan() {
    let mut book = disputed();
    let review = review_of(&book, "disputed_attribution#");
    let at = t0() + Duration::days(3);
    let resolved = book
        .resolve(
            &review,
            ReviewAction::Reassign {
                affiliate_id: "aff-b".into(),
            },
            at,
        )
        .unwrap();
    // aff-a's held 75.00 + 10% of 299.00 = 104.90 is cancelled ...
    assert_eq!(
        entries(&book, "p2"),
        vec![
            (EntryKind::Commission, d("104.9"), CommissionStatus::OnHold),
            (
                EntryKind::Cancellation,
                d("-104.9"),
                CommissionStatus::Cancelled
            ),
        ]
    );
    // ... and aff-b's CPA plan pays 100.00 for the same 100k purchase, as a new commission
    assert_eq!(resolved.posted, vec!["p2~aff-b".to_owned()]);
    let new = commission(&book, "p2~aff-b");
    assert_eq!(
        (new.affiliate_id.as_str(), new.plan_id.as_str()),
        ("aff-b", "cpa")
    );
    assert_eq!(
        entries(&book, "p2~aff-b"),
        vec![(EntryKind::Commission, d("100"), CommissionStatus::Pending)]
    );
    // the cooling-off is the new plan's (24 h), from when the purchase occurred
    assert_eq!(
        new.cooling_off_ends_at,
        t0() + Duration::days(1) + Duration::hours(24)
    );
    // the first purchase's commission (not held) stays aff-a's
    assert_eq!(commission(&book, "p1").affiliate_id, "aff-a");
    // the attribution moved: a later reset is aff-b's (its CPA plan has resets out of scope)
    let Attribution::Affiliate(a) = &book.customer("c1").head.attribution else {
        panic!("not attributed")
    };
    assert_eq!(a.affiliate_id, "aff-b");
    assert_eq!(a.window_ends_at, t0() + Duration::days(30));
    book.deliver(&envelope(
        "r1",
        "c1",
        t0() + Duration::days(4),
        reset("tx-r", "ch1", "79.00"),
    ));
    assert_eq!(book.events["r1"].outcome.reason.as_str(), "out_of_scope");
    // a refund of the reassigned purchase corrects the new commission, under the new plan
    book.deliver(&envelope(
        "f1",
        "c1",
        t0() + Duration::days(1) + Duration::hours(2),
        refund("tx2", "299.00", None),
    ));
    assert_eq!(net_of(&book, "p2~aff-b"), d("0"));
    assert_eq!(
        commission(&book, "p2~aff-b").status(),
        CommissionStatus::Cancelled
    );
}

#[test]
fn an_unknown_affiliate_is_resolved_by_reassigning_the_first_purchase_or_rejecting() {
    let unknown = || {
        let mut book = Book::new(directory());
        book.deliver(&envelope(
            "p1",
            "c1",
            t0(),
            purchase("tx1", "ch1", "50k", "299.00", Some("aff-nobody"), None),
        ));
        book
    };
    let mut book = unknown();
    let review = review_of(&book, "unknown_affiliate#");
    // approving would leave the customer attributed to nobody
    assert!(book
        .resolve(&review, ReviewAction::Approve, t0() + Duration::days(1))
        .is_err());
    let resolved = book
        .resolve(
            &review,
            ReviewAction::Reassign {
                affiliate_id: "aff-b".into(),
            },
            t0() + Duration::days(1),
        )
        .unwrap();
    // the first purchase is priced for aff-b as if it had been named: 60.00 CPA for 50k
    assert_eq!(resolved.posted, vec!["p1~aff-b".to_owned()]);
    assert_eq!(
        entries(&book, "p1~aff-b"),
        vec![(EntryKind::Commission, d("60"), CommissionStatus::Pending)]
    );
    let mut book = unknown();
    book.resolve(&review, ReviewAction::Reject, t0() + Duration::days(1))
        .unwrap();
    assert!(book.entries.is_empty());
    assert!(matches!(
        book.customer("c1").head.attribution,
        Attribution::Organic { .. }
    ));
}

#[test]
fn merging_gives_the_customer_the_other_customers_attribution() {
    // c1 (email e) is aff-a's; c2, the same email, names aff-b: an account-merge review holds it
    let mut book = Book::new(directory());
    book.deliver(&envelope_with_email(
        "p1",
        "c1",
        t0(),
        Some("hash-e"),
        purchase("tx1", "ch1", "100k", "499.00", Some("aff-a"), None),
    ));
    book.deliver(&envelope_with_email(
        "p2",
        "c2",
        t0() + Duration::hours(1),
        Some("hash-e"),
        purchase("tx2", "ch2", "50k", "299.00", Some("aff-b"), None),
    ));
    let review = review_of(&book, "account_merge#");
    let into = book.customer("c1").head.attribution.clone();
    book.resolve(
        &review,
        ReviewAction::Merge {
            into_customer_id: "c1".into(),
            into,
        },
        t0() + Duration::days(2),
    )
    .unwrap();
    // aff-b's 60.00 cancelled; aff-a's hybrid plan pays 40.00 + 10% of 299.00 = 69.90
    assert_eq!(net_of(&book, "p2"), d("0"));
    assert_eq!(
        entries(&book, "p2~aff-a"),
        vec![(EntryKind::Commission, d("69.9"), CommissionStatus::Pending)]
    );
    let Attribution::Affiliate(a) = &book.customer("c2").head.attribution else {
        panic!("not attributed")
    };
    assert_eq!((a.affiliate_id.as_str(), a.starts_at), ("aff-a", t0()));
}

#[test]
fn reviews_that_are_not_about_attribution_cannot_move_it() {
    // a refund in another currency than its transaction: an invalid-reference review
    let mut book = Book::new(directory());
    book.deliver(&envelope(
        "p1",
        "c1",
        t0(),
        purchase("tx1", "ch1", "100k", "499.00", Some("aff-a"), None),
    ));
    let mut eur = refund("tx1", "10.00", None);
    if let shared::events::EventPayload::Refund(r) = &mut eur {
        r.refunded.currency = "EUR".parse().unwrap();
    }
    book.deliver(&envelope("f1", "c1", t0() + Duration::hours(1), eur));
    let review = review_of(&book, "invalid_reference#");
    assert!(book
        .resolve(
            &review,
            ReviewAction::Reassign {
                affiliate_id: "aff-b".into()
            },
            t0()
        )
        .is_err());
    // acknowledging it changes no money
    let before = book.entries.clone();
    book.resolve(&review, ReviewAction::Approve, t0()).unwrap();
    assert_eq!(book.entries, before);
}
