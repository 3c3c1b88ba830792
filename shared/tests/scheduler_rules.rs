//! The scheduler's time rules at their boundaries, and the tick's idempotence over random
//! histories (property test).

mod support;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use shared::engine::book::Book;
use shared::engine::{Attribution, CustomerView};
use shared::events::DisputeStatus;
use shared::ledger::Commission;
use shared::ledger::CommissionStatus;
use shared::scheduler::{next_due, tick_customer, TickConfig};
use support::*;

fn config() -> TickConfig {
    TickConfig {
        parked_review_after: Duration::hours(72),
    }
}

fn bought() -> Book {
    let mut book = Book::new(directory());
    book.deliver(&envelope(
        "p1",
        "c1",
        t0(),
        purchase("tx1", "ch1", "100k", "499.00", Some("aff-a"), None),
    ));
    book
}

fn state(book: &Book) -> CustomerView {
    book.customer("c1").clone()
}

fn commission_of<'v>(view: &'v CustomerView, id: &str) -> &'v Commission {
    view.commissions()
        .find(|c| c.commission_id == id)
        .unwrap_or_else(|| panic!("no commission {id}"))
}

/// Puts a view the test ticked back into the book, as the store would after writing it.
fn store(book: &mut Book, mut view: CustomerView) {
    view.settle();
    book.customers.insert("c1".into(), view);
}

#[test]
fn approval_happens_at_the_end_of_cooling_off_not_a_nanosecond_before() {
    let end = t0() + Duration::hours(48);
    let mut s = state(&bought());
    assert!(
        tick_customer(&mut s, end - Duration::nanoseconds(1), &config())
            .approvals
            .is_empty()
    );
    let tick = tick_customer(&mut s, end, &config());
    assert_eq!(tick.approvals.len(), 1);
    assert_eq!(tick.approvals[0].entry_id, "p1#approval");
    assert_eq!(tick.approvals[0].effective_at, end);
    assert_eq!(commission_of(&s, "p1").status(), CommissionStatus::Approved);
    assert!(tick_customer(&mut s, end + Duration::days(1), &config())
        .approvals
        .is_empty());
}

#[test]
fn the_window_expires_at_its_end_instant_and_is_recorded_once() {
    let end = t0() + Duration::days(90);
    let mut s = state(&bought());
    tick_customer(&mut s, end - Duration::days(1), &config()); // approvals only
    let before = s.clone();
    let tick = tick_customer(&mut s, end - Duration::nanoseconds(1), &config());
    assert!(!tick.changed());
    assert_eq!(s, before);
    let tick = tick_customer(&mut s, end, &config());
    assert!(tick.window_expired);
    let Attribution::Affiliate(a) = &s.head.attribution else {
        panic!()
    };
    assert_eq!(
        a.expired_at,
        Some(end),
        "recorded as the window's end, not the tick's time"
    );
    assert!(!tick_customer(&mut s, end + Duration::days(3), &config()).changed());
}

#[test]
fn a_reference_that_never_arrives_becomes_one_review_item_at_the_configured_time() {
    let mut book = Book::new(directory());
    let refund_at = t0();
    book.deliver(&envelope(
        "f1",
        "c1",
        refund_at,
        refund("tx-missing", "10.00", None),
    ));
    let received = refund_at + Duration::seconds(1);
    let due = received + Duration::hours(72);
    let mut s = state(&book);
    assert_eq!(next_due(&s, &config()), Some(due));
    assert!(!tick_customer(&mut s, due - Duration::nanoseconds(1), &config()).changed());
    let tick = tick_customer(&mut s, due, &config());
    assert_eq!(tick.reviews.len(), 1);
    assert_eq!(tick.reviews[0].review_id, "reference_never_arrived#f1");
    assert_eq!(tick.reviews[0].opened_at, due);
    assert_eq!(
        tick.reviews[0].evidence["waiting_for"],
        "transaction:tx-missing"
    );
    assert!(!tick_customer(&mut s, due + Duration::days(9), &config()).changed());
    assert_eq!(
        next_due(&s, &config()),
        None,
        "nothing left for the scheduler"
    );
    assert_eq!(
        s.records().map(|(_, r)| r.parked().len()).sum::<usize>(),
        1,
        "still parked: if the purchase comes after all, it applies"
    );
}

#[test]
fn next_due_is_the_earliest_of_approval_window_and_parked_review() {
    let s = state(&bought());
    assert_eq!(next_due(&s, &config()), Some(t0() + Duration::hours(48)));
    let mut s2 = s.clone();
    tick_customer(&mut s2, t0() + Duration::hours(48), &config());
    assert_eq!(next_due(&s2, &config()), Some(t0() + Duration::days(90)));
    tick_customer(&mut s2, t0() + Duration::days(90), &config());
    assert_eq!(next_due(&s2, &config()), None);
}

#[test]
fn a_held_commission_is_not_approved_and_a_released_one_is_at_the_next_tick() {
    let mut book = bought();
    book.deliver(&envelope(
        "cb1",
        "c1",
        t0() + Duration::hours(1),
        chargeback("tx1", DisputeStatus::Opened),
    ));
    let mut s = state(&book);
    assert!(tick_customer(&mut s, t0() + Duration::days(3), &config())
        .approvals
        .is_empty());
    store(&mut book, s);
    book.deliver(&envelope(
        "cb2",
        "c1",
        t0() + Duration::days(4),
        chargeback("tx1", DisputeStatus::Won),
    ));
    let mut s = state(&book);
    assert_eq!(
        tick_customer(&mut s, t0() + Duration::days(4), &config())
            .approvals
            .len(),
        1
    );
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    prop::sample::select(vec![
        0i64, 3_600, 172_799, 172_800, 172_801, 259_201, 7_775_999, 7_776_000, 9_000_000,
    ])
    .prop_map(|s| t0() + Duration::seconds(s))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_000, ..ProptestConfig::default() })]

    /// Running a tick twice at the same instant changes nothing the second time; and ticks are
    /// monotone: a tick at t2 after one at t1 <= t2 ends in the same state as a tick at t2 alone.
    #[test]
    fn the_tick_is_idempotent(
        amount in prop::sample::select(vec!["49.00", "299.00", "499.00"]),
        refund_after in prop::option::of(0i64..400_000),
        dispute in prop::option::of(prop::sample::select(vec![DisputeStatus::Opened, DisputeStatus::Won, DisputeStatus::Lost])),
        orphan in any::<bool>(),
        t1 in instant(),
        t2 in instant(),
    ) {
        let mut book = Book::new(directory());
        book.deliver(&envelope("p1", "c1", t0(), purchase("tx1", "ch1", "100k", amount, Some("aff-a"), None)));
        book.deliver(&envelope("r1", "c1", t0() + Duration::hours(5), reset("tx2", "ch1", "79.00")));
        if let Some(after) = refund_after {
            book.deliver(&envelope("f1", "c1", t0() + Duration::seconds(after), refund("tx1", "100.00", None)));
        }
        if let Some(status) = dispute {
            book.deliver(&envelope("cb1", "c1", t0() + Duration::hours(30), chargeback("tx2", status)));
        }
        if orphan {
            book.deliver(&envelope("o1", "c1", t0() + Duration::hours(2), refund("tx-never", "5.00", None)));
        }
        let (t1, t2) = if t1 <= t2 { (t1, t2) } else { (t2, t1) };
        let start = state(&book);

        let mut once = start.clone();
        tick_customer(&mut once, t2, &config());
        let after_once = once.clone();
        let again = tick_customer(&mut once, t2, &config());
        prop_assert!(!again.changed());
        prop_assert_eq!(&once, &after_once);

        let mut stepped = start.clone();
        let first = tick_customer(&mut stepped, t1, &config());
        let second = tick_customer(&mut stepped, t2, &config());
        prop_assert_eq!(&stepped, &after_once);
        let direct = {
            let mut s = start.clone();
            tick_customer(&mut s, t2, &config())
        };
        let mut ids: Vec<_> = first.approvals.iter().chain(&second.approvals).map(|e| e.entry_id.clone()).collect();
        ids.sort();
        let mut direct_ids: Vec<_> = direct.approvals.iter().map(|e| e.entry_id.clone()).collect();
        direct_ids.sort();
        prop_assert_eq!(ids, direct_ids);
    }
}

/// A full refund that occurs exactly at the end of cooling-off (so: after it, a reversal) and a
/// tick at that same instant, in either order: the commission is approved at most once and ends
/// owing nothing.
#[test]
fn a_refund_and_a_tick_at_the_same_instant_resolve_the_same_either_way() {
    let end = t0() + Duration::hours(48);
    let refund_event = envelope("f1", "c1", end, refund("tx1", "499.00", None));

    // tick first, then the refund
    let mut book = bought();
    let mut s = state(&book);
    let first = tick_customer(&mut s, end, &config());
    assert_eq!(first.approvals.len(), 1);
    store(&mut book, s);
    book.deliver(&refund_event);
    let a = commission(&book, "p1").clone();

    // refund first, then the tick
    let mut book = bought();
    book.deliver(&refund_event);
    let mut s = state(&book);
    let second = tick_customer(&mut s, end, &config());
    assert!(
        second.approvals.is_empty(),
        "a reversed commission is never approved"
    );
    let b = commission_of(&s, "p1").clone();

    assert_eq!(
        (a.net, b.net),
        (rust_decimal::Decimal::ZERO, rust_decimal::Decimal::ZERO)
    );
    assert_eq!(a.status(), CommissionStatus::Reversed);
    assert_eq!(b.status(), CommissionStatus::Reversed);
}
