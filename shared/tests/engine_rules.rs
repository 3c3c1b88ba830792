//! Every row of SPEC.md's event table, and every attribution and ledger rule, with exact
//! amounts to the cent.

mod support;

use chrono::Duration;
use shared::engine::book::{Book, Delivered};
use shared::engine::{Attribution, OutcomeKind, ReviewKind};
use shared::events::DisputeStatus;
use shared::ledger::{CommissionStatus, EntryKind};
use support::*;

fn outcome(book: &Book, id: &str) -> (OutcomeKind, String) {
    let o = &book.events[id].outcome;
    (o.kind, o.reason.as_str().to_owned())
}

fn amounts(
    book: &Book,
    commission: &str,
) -> Vec<(EntryKind, rust_decimal::Decimal, CommissionStatus)> {
    book.entries
        .values()
        .filter(|e| e.commission_id == commission)
        .map(|e| (e.kind, e.amount, e.status))
        .collect()
}

fn net(book: &Book, commission: &str) -> rust_decimal::Decimal {
    book.entries
        .values()
        .filter(|e| e.commission_id == commission)
        .map(|e| e.amount)
        .sum()
}

fn bought(book: &mut Book) {
    book.deliver(&envelope(
        "p1",
        "c1",
        t0(),
        purchase("tx1", "ch1", "100k", "499.00", Some("aff-a"), None),
    ));
}

#[test]
fn purchase_by_link_posts_hybrid_commission_pending_for_the_cooling_off() {
    let mut book = Book::new(directory());
    bought(&mut book);
    assert_eq!(
        outcome(&book, "p1"),
        (OutcomeKind::CommissionPosted, "purchase".into())
    );
    // 75.00 CPA + 10% of 499.00
    assert_eq!(
        amounts(&book, "p1"),
        vec![(
            EntryKind::Commission,
            d("124.90"),
            CommissionStatus::Pending
        )]
    );
    let Attribution::Affiliate(a) = &book.customer("c1").head.attribution else {
        panic!("not attributed")
    };
    assert_eq!(a.affiliate_id, "aff-a");
    assert_eq!(a.window_ends_at, t0() + Duration::days(90));
    assert_eq!(
        commission(&book, "p1").cooling_off_ends_at,
        t0() + Duration::hours(48)
    );
    assert_eq!(book.entries["p1#0"].plan_id, "hybrid");
    assert_eq!(book.entries["p1#0"].plan_version, 1);
}

#[test]
fn purchase_by_coupon_resolves_the_coupon_to_its_affiliate() {
    let mut book = Book::new(directory());
    book.deliver(&envelope(
        "p1",
        "c1",
        t0(),
        purchase("tx1", "ch1", "50k", "299.00", None, Some("BETA")),
    ));
    assert_eq!(
        amounts(&book, "p1"),
        vec![(EntryKind::Commission, d("60.00"), CommissionStatus::Pending)]
    );
    assert_eq!(book.entries["p1#0"].affiliate_id, "aff-b");
}

#[test]
fn evaluation_events_are_reporting_unless_the_plan_pays_a_milestone_once_per_challenge() {
    let mut book = Book::new(directory());
    bought(&mut book);
    book.deliver(&envelope(
        "e1",
        "c1",
        t0() + Duration::hours(1),
        started("ch1"),
    ));
    book.deliver(&envelope(
        "e2",
        "c1",
        t0() + Duration::days(18),
        passed("ch1"),
    ));
    book.deliver(&envelope(
        "e3",
        "c1",
        t0() + Duration::days(19),
        passed("ch1"),
    ));
    book.deliver(&envelope(
        "f1",
        "c1",
        t0() + Duration::days(20),
        funded("ch1"),
    ));
    assert_eq!(
        outcome(&book, "e1"),
        (OutcomeKind::NoCommission, "reporting_only".into())
    );
    assert_eq!(
        outcome(&book, "e2"),
        (OutcomeKind::CommissionPosted, "evaluation_passed".into())
    );
    assert_eq!(
        outcome(&book, "e3"),
        (OutcomeKind::NoCommission, "milestone_already_paid".into())
    );
    assert_eq!(
        outcome(&book, "f1"),
        (OutcomeKind::CommissionPosted, "funded".into())
    );
    assert_eq!(net(&book, "e2"), d("25.00"));
    assert_eq!(net(&book, "f1"), d("100.00"));

    let mut book = Book::new(directory());
    bought(&mut book);
    book.deliver(&envelope(
        "e4",
        "c1",
        t0() + Duration::days(3),
        failed("ch1"),
    ));
    assert_eq!(
        outcome(&book, "e4"),
        (OutcomeKind::NoCommission, "reporting_only".into())
    );
    assert!(book.events["e4"].outcome.entry_ids.is_empty());
}

#[test]
fn reset_earns_revshare_when_in_scope_and_references_the_original_challenge() {
    let mut book = Book::new(directory());
    bought(&mut book);
    book.deliver(&envelope(
        "r1",
        "c1",
        t0() + Duration::days(5),
        reset("tx2", "ch1", "79.00"),
    ));
    assert_eq!(
        amounts(&book, "r1"),
        vec![(EntryKind::Commission, d("7.90"), CommissionStatus::Pending)]
    );
    assert_eq!(commission(&book, "r1").challenge_id, "ch1");

    // a CPA-only plan has resets out of scope
    let mut book = Book::new(directory());
    book.deliver(&envelope(
        "p1",
        "c1",
        t0(),
        purchase("tx1", "ch1", "100k", "499.00", Some("aff-b"), None),
    ));
    book.deliver(&envelope(
        "r1",
        "c1",
        t0() + Duration::days(5),
        reset("tx2", "ch1", "79.00"),
    ));
    assert_eq!(
        outcome(&book, "r1"),
        (OutcomeKind::NoCommission, "out_of_scope".into())
    );
}

#[test]
fn refunds_cancel_inside_cooling_off_reverse_after_and_recalculate_partials() {
    // full refund one second before the end of cooling-off: voided
    let mut book = Book::new(directory());
    bought(&mut book);
    let end = t0() + Duration::hours(48);
    book.deliver(&envelope(
        "f1",
        "c1",
        end - Duration::seconds(1),
        refund("tx1", "499.00", None),
    ));
    assert_eq!(
        outcome(&book, "f1"),
        (OutcomeKind::Cancelled, "full_refund_in_cooling_off".into())
    );
    assert_eq!(net(&book, "p1"), d("0"));
    assert_eq!(book.entries["f1#0"].kind, EntryKind::Cancellation);
    assert_eq!(book.entries["f1#0"].status, CommissionStatus::Cancelled);
    assert_eq!(book.entries["f1#0"].corrects.as_deref(), Some("p1#0"));

    // at exactly the end instant: after cooling-off, so a reversal
    let mut book = Book::new(directory());
    bought(&mut book);
    book.deliver(&envelope("f1", "c1", end, refund("tx1", "499.00", None)));
    assert_eq!(
        outcome(&book, "f1"),
        (
            OutcomeKind::Reversed,
            "full_refund_after_cooling_off".into()
        )
    );
    assert_eq!(book.entries["f1#0"].amount, d("-124.90"));

    // partial refund: 499 - 199 = 300 → 75 + 30.00 = 105.00, delta -19.90
    let mut book = Book::new(directory());
    bought(&mut book);
    book.deliver(&envelope(
        "f2",
        "c1",
        t0() + Duration::days(10),
        refund("tx1", "199.00", None),
    ));
    assert_eq!(
        outcome(&book, "f2"),
        (OutcomeKind::Adjusted, "partial_refund_recalculated".into())
    );
    assert_eq!(book.entries["f2#0"].amount, d("-19.90"));
    // the rest refunded later: full refund after cooling-off reverses the remaining 105.00
    book.deliver(&envelope(
        "f3",
        "c1",
        t0() + Duration::days(11),
        refund("tx1", "300.00", None),
    ));
    assert_eq!(book.entries["f3#0"].amount, d("-105.00"));
    assert_eq!(net(&book, "p1"), d("0"));
    // and a further refund has nothing left to take
    book.deliver(&envelope(
        "f4",
        "c1",
        t0() + Duration::days(12),
        refund("tx1", "10.00", None),
    ));
    assert_eq!(
        outcome(&book, "f4"),
        (
            OutcomeKind::NoCommission,
            "already_cancelled_or_reversed".into()
        )
    );

    // downgrade 100k → 50k with 100.00 back: 40 + 10% of 399.00 = 79.90, delta -45.00
    let mut book = Book::new(directory());
    bought(&mut book);
    book.deliver(&envelope(
        "f5",
        "c1",
        t0() + Duration::hours(2),
        refund("tx1", "100.00", Some("50k")),
    ));
    assert_eq!(
        outcome(&book, "f5"),
        (OutcomeKind::Adjusted, "downgrade_recalculated".into())
    );
    assert_eq!(book.entries["f5#0"].amount, d("-45.00"));
    assert_eq!(net(&book, "p1"), d("79.90"));
}

#[test]
fn chargebacks_hold_then_release_when_won_or_reverse_when_lost() {
    let mut book = Book::new(directory());
    bought(&mut book);
    book.deliver(&envelope(
        "cb1",
        "c1",
        t0() + Duration::days(3),
        chargeback("tx1", DisputeStatus::Opened),
    ));
    book.deliver(&envelope(
        "cb2",
        "c1",
        t0() + Duration::days(3),
        chargeback("tx1", DisputeStatus::Opened),
    ));
    book.deliver(&envelope(
        "cb3",
        "c1",
        t0() + Duration::days(20),
        chargeback("tx1", DisputeStatus::Won),
    ));
    assert_eq!(
        outcome(&book, "cb1"),
        (OutcomeKind::Held, "dispute_opened".into())
    );
    assert_eq!(
        outcome(&book, "cb2"),
        (OutcomeKind::NoCommission, "already_on_hold".into())
    );
    assert_eq!(
        outcome(&book, "cb3"),
        (OutcomeKind::Released, "dispute_won".into())
    );
    assert_eq!(
        amounts(&book, "p1"),
        vec![
            // ordered by entry id: cb1#0, cb3#0, p1#0
            (EntryKind::Hold, d("0"), CommissionStatus::OnHold),
            (EntryKind::Release, d("0"), CommissionStatus::Pending),
            (
                EntryKind::Commission,
                d("124.90"),
                CommissionStatus::Pending
            ),
        ]
    );

    let mut book = Book::new(directory());
    bought(&mut book);
    book.deliver(&envelope(
        "cb1",
        "c1",
        t0() + Duration::days(3),
        chargeback("tx1", DisputeStatus::Opened),
    ));
    book.deliver(&envelope(
        "cb2",
        "c1",
        t0() + Duration::days(30),
        chargeback("tx1", DisputeStatus::Lost),
    ));
    book.deliver(&envelope(
        "cb3",
        "c1",
        t0() + Duration::days(31),
        chargeback("tx1", DisputeStatus::Lost),
    ));
    assert_eq!(
        outcome(&book, "cb2"),
        (OutcomeKind::Reversed, "chargeback_lost".into())
    );
    assert_eq!(book.entries["cb2#0"].amount, d("-124.90"));
    assert_eq!(
        outcome(&book, "cb3"),
        (
            OutcomeKind::NoCommission,
            "already_cancelled_or_reversed".into()
        )
    );
    // a stale "opened" that occurred before the loss changes nothing
    book.deliver(&envelope(
        "cb4",
        "c1",
        t0() + Duration::days(2),
        chargeback("tx1", DisputeStatus::Opened),
    ));
    assert_eq!(
        outcome(&book, "cb4"),
        (OutcomeKind::NoCommission, "stale_dispute_status".into())
    );
    assert_eq!(net(&book, "p1"), d("0"));
}

#[test]
fn cooling_off_approval_at_its_boundary_happens_exactly_once() {
    let mut book = Book::new(directory());
    bought(&mut book);
    let end = t0() + Duration::hours(48);
    assert_eq!(book.tick(end - Duration::nanoseconds(1)), 0);
    assert_eq!(book.tick(end), 1);
    assert_eq!(book.tick(end), 0);
    assert_eq!(book.tick(end + Duration::days(1)), 0);
    assert_eq!(
        book.entries["p1#approval"].status,
        CommissionStatus::Approved
    );
    assert_eq!(book.entries["p1#approval"].effective_at, end);
    // a held commission is not approved; after release it is
    let mut book = Book::new(directory());
    bought(&mut book);
    book.deliver(&envelope(
        "cb1",
        "c1",
        t0() + Duration::hours(1),
        chargeback("tx1", DisputeStatus::Opened),
    ));
    assert_eq!(book.tick(end), 0);
    book.deliver(&envelope(
        "cb2",
        "c1",
        t0() + Duration::days(9),
        chargeback("tx1", DisputeStatus::Won),
    ));
    assert_eq!(book.tick(t0() + Duration::days(10)), 1);
}

#[test]
fn a_refund_inside_cooling_off_cancels_even_when_it_arrives_after_approval() {
    let mut book = Book::new(directory());
    bought(&mut book);
    book.tick(t0() + Duration::hours(50));
    let late = envelope(
        "f1",
        "c1",
        t0() + Duration::hours(47),
        refund("tx1", "499.00", None),
    );
    book.deliver(&late);
    assert_eq!(
        outcome(&book, "f1"),
        (OutcomeKind::Cancelled, "full_refund_in_cooling_off".into())
    );
}

#[test]
fn out_of_order_events_are_parked_and_applied_when_the_reference_arrives() {
    let mut book = Book::new(directory());
    book.deliver(&envelope(
        "f1",
        "c1",
        t0() + Duration::hours(1),
        refund("tx1", "499.00", None),
    ));
    book.deliver(&envelope(
        "e1",
        "c1",
        t0() + Duration::hours(2),
        passed("ch1"),
    ));
    assert_eq!(
        outcome(&book, "f1"),
        (OutcomeKind::Parked, "reference_not_yet_received".into())
    );
    assert_eq!(parked(&book, "c1"), 2);
    bought(&mut book);
    assert_eq!(
        outcome(&book, "f1"),
        (OutcomeKind::Cancelled, "full_refund_in_cooling_off".into())
    );
    assert_eq!(
        outcome(&book, "e1"),
        (OutcomeKind::CommissionPosted, "evaluation_passed".into())
    );
    assert_eq!(parked(&book, "c1"), 0);
    assert_eq!(net(&book, "p1"), d("0"));
}

#[test]
fn attribution_conflicts_open_review_items_and_hold_the_commission() {
    // click/link names aff-a, coupon names aff-b
    let mut book = Book::new(directory());
    book.deliver(&envelope(
        "p1",
        "c1",
        t0(),
        purchase("tx1", "ch1", "100k", "499.00", Some("aff-a"), Some("BETA")),
    ));
    assert_eq!(
        outcome(&book, "p1"),
        (OutcomeKind::HeldForReview, "attribution_conflict".into())
    );
    assert_eq!(book.entries["p1#0"].status, CommissionStatus::OnHold);
    assert_eq!(
        book.reviews["click_coupon_conflict#p1"].kind,
        ReviewKind::ClickCouponConflict
    );
    // held commissions are not approved by the scheduler
    assert_eq!(book.tick(t0() + Duration::days(5)), 0);

    // a later purchase naming another affiliate: held, commission stays with the attributed one
    let mut book = Book::new(directory());
    bought(&mut book);
    book.deliver(&envelope(
        "p2",
        "c1",
        t0() + Duration::days(4),
        purchase("tx2", "ch2", "50k", "299.00", Some("aff-b"), None),
    ));
    assert_eq!(
        outcome(&book, "p2"),
        (OutcomeKind::HeldForReview, "attribution_conflict".into())
    );
    assert_eq!(book.entries["p2#0"].affiliate_id, "aff-a");
    assert!(book.reviews.contains_key("disputed_attribution#p2"));

    // the same email under another customer with another affiliate
    let mut book = Book::new(directory());
    book.deliver(&envelope_with_email(
        "p1",
        "c1",
        t0(),
        Some("h-1"),
        purchase("tx1", "ch1", "100k", "499.00", Some("aff-a"), None),
    ));
    book.deliver(&envelope_with_email(
        "p2",
        "c2",
        t0() + Duration::days(1),
        Some("h-1"),
        purchase("tx9", "ch9", "100k", "499.00", Some("aff-b"), None),
    ));
    assert_eq!(
        outcome(&book, "p2"),
        (OutcomeKind::HeldForReview, "attribution_conflict".into())
    );
    let review = &book.reviews["account_merge#p2"];
    assert_eq!(review.evidence["other_customer_id"], "c1");
    assert_eq!(review.evidence["other_affiliate_id"], "aff-a");

    // self-referral
    let mut book = Book::new(directory());
    book.deliver(&envelope(
        "p1",
        "cust-self",
        t0(),
        purchase("tx1", "ch1", "100k", "499.00", Some("aff-self"), None),
    ));
    assert_eq!(
        outcome(&book, "p1"),
        (OutcomeKind::HeldForReview, "attribution_conflict".into())
    );
    assert!(book.reviews.contains_key("self_referral#p1"));
}

#[test]
fn no_commission_outcomes_say_why() {
    let mut book = Book::new(directory());
    book.deliver(&envelope(
        "p1",
        "c1",
        t0(),
        purchase("tx1", "ch1", "100k", "499.00", None, None),
    ));
    assert_eq!(
        outcome(&book, "p1"),
        (OutcomeKind::NoCommission, "unattributed".into())
    );

    let mut book = Book::new(directory());
    bought(&mut book);
    book.deliver(&envelope(
        "p2",
        "c1",
        t0() + Duration::days(90),
        purchase("tx2", "ch2", "100k", "499.00", None, None),
    ));
    assert_eq!(
        outcome(&book, "p2"),
        (OutcomeKind::NoCommission, "outside_window".into())
    );
    book.deliver(&envelope(
        "p3",
        "c1",
        t0() + Duration::days(89),
        purchase("tx3", "ch3", "100k", "40.00", None, None),
    ));
    assert_eq!(
        outcome(&book, "p3"),
        (OutcomeKind::NoCommission, "below_minimum_amount".into())
    );

    let mut book = Book::new(directory());
    book.deliver(&envelope(
        "p1",
        "c1",
        t0(),
        purchase("tx1", "ch1", "100k", "499.00", Some("aff-nobody"), None),
    ));
    assert_eq!(
        outcome(&book, "p1"),
        (OutcomeKind::HeldForReview, "unknown_affiliate".into())
    );
    assert!(book.entries.is_empty());
}

#[test]
fn performance_step_applies_from_the_tenth_qualified_purchase_in_the_month() {
    let mut book = Book::new(directory());
    for i in 0..10 {
        let c = format!("c{i}");
        book.deliver(&envelope(
            &format!("p{i}"),
            &c,
            t0() + Duration::minutes(i),
            purchase(
                &format!("tx{i}"),
                "ch",
                "100k",
                "100.00",
                Some("aff-a"),
                None,
            ),
        ));
    }
    assert_eq!(net(&book, "p8"), d("85.00"));
    assert_eq!(net(&book, "p9"), d("87.50"));
    assert_eq!(
        book.directory.affiliates["aff-a"].qualified_by_month["2026-11"],
        10
    );
}

#[test]
fn duplicates_change_nothing_and_conflicting_redeliveries_go_to_review() {
    let mut book = Book::new(directory());
    let p = envelope(
        "p1",
        "c1",
        t0(),
        purchase("tx1", "ch1", "100k", "499.00", Some("aff-a"), None),
    );
    assert_eq!(book.deliver(&p), Delivered::Applied);
    let before = (book.entries.clone(), book.customers.clone());
    assert_eq!(book.deliver(&p), Delivered::Duplicate);
    let other = envelope(
        "p1",
        "c1",
        t0(),
        purchase("tx1", "ch1", "100k", "999.00", Some("aff-a"), None),
    );
    assert_eq!(book.deliver(&other), Delivered::Conflict);
    assert_eq!(book.deliver(&other), Delivered::Conflict);
    assert_eq!((book.entries.clone(), book.customers.clone()), before);
    assert_eq!(book.reviews.len(), 1);
    assert_eq!(
        book.reviews.values().next().unwrap().kind,
        ReviewKind::ConflictingRedelivery
    );
}

/// A directory with one more plan, for affiliate `aff-x`.
fn with_plan(plan: &str) -> shared::engine::MemoryDirectory {
    let mut dir = directory();
    let plan = shared::plans::Plan::from_json(plan).unwrap();
    dir.affiliates
        .insert("aff-x".into(), affiliate("aff-x", &plan.plan_id));
    dir.add_plan(plan);
    dir
}

#[test]
fn a_free_purchase_earns_no_cpa_unless_the_plan_says_free_purchases_qualify() {
    // the CPA plan pays 100.00 for a 100k challenge; the challenge is free
    let free = |dir| {
        let mut book = Book::new(dir);
        book.deliver(&envelope(
            "p1",
            "c1",
            t0(),
            purchase("tx1", "ch1", "100k", "0", Some("aff-x"), None),
        ));
        book
    };
    let book = free(with_plan(CPA_ONLY.replace("\"cpa\"", "\"cpa-x\"").as_str()));
    assert_eq!(
        outcome(&book, "p1"),
        (OutcomeKind::NoCommission, "free_purchase".into())
    );
    assert!(book.entries.is_empty());
    // not a qualified purchase either: it does not count towards performance steps
    assert_eq!(
        book.directory.affiliates["aff-x"].qualified_in("2026-11"),
        0
    );

    let opted_in = CPA_ONLY.replace("\"cpa\"", "\"cpa-x\"").replace(
        "\"cpa_by_tier\"",
        "\"qualification\": {\"free_purchases_qualify\": true}, \"cpa_by_tier\"",
    );
    let book = free(with_plan(&opted_in));
    assert_eq!(
        amounts(&book, "p1"),
        vec![(EntryKind::Commission, d("100"), CommissionStatus::Pending)]
    );
    assert_eq!(
        book.directory.affiliates["aff-x"].qualified_in("2026-11"),
        1
    );
}

#[test]
fn the_window_has_one_rule_a_purchase_before_its_start_earns_nothing() {
    // The later purchase arrives first and decides the attribution (the window starts at its
    // occurred_at); the earlier one, arriving second, occurred before the window: it earns
    // nothing, exactly as a reset or milestone at that instant would.
    let mut book = Book::new(directory());
    book.deliver(&envelope(
        "p2",
        "c1",
        t0() + Duration::hours(1),
        purchase("tx2", "ch2", "100k", "499.00", Some("aff-a"), None),
    ));
    book.deliver(&envelope(
        "p1",
        "c1",
        t0(),
        purchase("tx1", "ch1", "100k", "499.00", Some("aff-a"), None),
    ));
    book.deliver(&envelope("r1", "c1", t0(), reset("tx-r", "ch2", "79.00")));
    assert_eq!(
        outcome(&book, "p1"),
        (OutcomeKind::NoCommission, "outside_window".into())
    );
    assert_eq!(
        outcome(&book, "r1"),
        (OutcomeKind::NoCommission, "outside_window".into())
    );
    // at the start instant itself, both earn
    let mut book = Book::new(directory());
    bought(&mut book);
    book.deliver(&envelope(
        "p3",
        "c1",
        t0(),
        purchase("tx3", "ch3", "100k", "499.00", Some("aff-a"), None),
    ));
    book.deliver(&envelope("r2", "c1", t0(), reset("tx-r2", "ch1", "79.00")));
    assert_eq!(outcome(&book, "p3").0, OutcomeKind::CommissionPosted);
    assert_eq!(outcome(&book, "r2").0, OutcomeKind::CommissionPosted);
}

#[test]
fn a_plan_can_pay_resets_at_their_own_rate_or_only_resets_and_a_default_cpa() {
    // resets only, at 20 %; no RevShare on purchases, a 30.00 CPA for any tier
    let plan = r#"{
      "plan_id": "resets-only", "version": 1, "currency": "USD",
      "attribution_window_days": 90, "cooling_off_hours": 48,
      "cpa_default": "30.00",
      "reset_revshare_percent": "20", "resets_in_scope": true
    }"#;
    let mut book = Book::new(with_plan(plan));
    book.deliver(&envelope(
        "p1",
        "c1",
        t0(),
        purchase("tx1", "ch1", "200k", "999.00", Some("aff-x"), None),
    ));
    book.deliver(&envelope(
        "r1",
        "c1",
        t0() + Duration::days(1),
        reset("tx-r", "ch1", "79.00"),
    ));
    assert_eq!(
        amounts(&book, "p1"),
        vec![(EntryKind::Commission, d("30"), CommissionStatus::Pending)]
    );
    assert_eq!(
        amounts(&book, "r1"),
        vec![(EntryKind::Commission, d("15.8"), CommissionStatus::Pending)]
    );
    // a partial refund of the reset is recalculated at the reset rate of the frozen version
    book.deliver(&envelope(
        "f1",
        "c1",
        t0() + Duration::days(2),
        refund("tx-r", "29.00", None),
    ));
    assert_eq!(net(&book, "r1"), d("10")); // 20 % of 50.00
}
