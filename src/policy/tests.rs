use super::*;

const FIRING: &str = r#"{"status":"firing","alerts":[{"status":"firing","fingerprint":"f1","startsAt":"2026-11-29T10:00:00Z"},{"status":"resolved","fingerprint":"f0","startsAt":"2026-11-29T09:00:00Z"}]}"#;
const RESOLVED: &str = r#"{"status":"resolved","alerts":[{"status":"resolved","fingerprint":"f1","startsAt":"2026-11-29T10:00:00Z"}]}"#;
const REFIRED: &str = r#"{"status":"firing","alerts":[{"status":"firing","fingerprint":"f1","startsAt":"2026-11-29T11:00:00.123456789+01:00"}]}"#;

fn note(s: &str) -> Notification {
    Notification::parse(s.as_bytes()).expect("parses")
}

/// A claim on a receiver whose cooldown no step in flight holds.
fn reserved(
    state: &mut ReceiverState,
    note: &Notification,
    on_resolved: OnResolved,
    cooldown_seconds: u32,
    now: u64,
) -> (Decision, Reservation) {
    reserve(state, note, on_resolved, cooldown_seconds, now).expect("nothing to wait for")
}

fn alerts(n: &Notification) -> &[AlertId] {
    match n {
        Notification::Alerts { alerts, .. } => alerts,
        Notification::Plain => panic!("alerts expected"),
    }
}

#[test]
fn bodies_are_classified() {
    for plain in [
        "",
        "not json",
        r#"{"push_data":{"tag":"x"}}"#,
        r#"{"status":"weird","alerts":[]}"#,
    ] {
        assert_eq!(note(plain), Notification::Plain, "{plain}");
    }
    let firing = note(FIRING);
    assert_eq!(
        alerts(&firing).len(),
        1,
        "the resolved alert in a firing group is not counted"
    );
    // Without a fingerprint the sorted labels identify the alert.
    let a = note(
        r#"{"status":"firing","alerts":[{"labels":{"a":"b","c":"d"},"startsAt":"2026-11-29T10:00:00Z"}]}"#,
    );
    let b = note(
        r#"{"status":"firing","alerts":[{"labels":{"c":"d","a":"b"},"startsAt":"2026-11-29T10:00:00Z"}]}"#,
    );
    let c = note(
        r#"{"status":"firing","alerts":[{"labels":{"a":"bc","c":"d"},"startsAt":"2026-11-29T10:00:00Z"}]}"#,
    );
    assert_eq!(alerts(&a), alerts(&b));
    assert_ne!(alerts(&a), alerts(&c));
    // A resolved notification with no alerts at all is still a resolved notification.
    assert_eq!(
        note(r#"{"status":"resolved"}"#),
        Notification::Alerts {
            resolved: true,
            alerts: vec![]
        }
    );
}

#[test]
fn oversized_or_undated_alerts_are_refused() {
    let long = "x".repeat(MAX_ALERT_FIELD + 1);
    let fits = "x".repeat(MAX_ALERT_FIELD);
    let body = |fp: &str, starts: &str| {
        format!(
            r#"{{"status":"firing","alerts":[{{"fingerprint":"{fp}","startsAt":"{starts}"}}]}}"#
        )
    };
    let cases = [
        (
            body(&long, "2026-11-29T10:00:00Z"),
            Some(NotificationError::TooLong("fingerprint")),
        ),
        (
            body("f", &format!("2026-11-29T10:00:00.{}Z", "1".repeat(50))),
            Some(NotificationError::TooLong("startsAt")),
        ),
        (body("f", "yesterday"), Some(NotificationError::BadStartsAt)),
        (
            body("f", "2026-11-29 10:00:00"),
            Some(NotificationError::BadStartsAt),
        ),
        (body(&fits, "2026-11-29T10:00:00.999999999-07:00"), None),
        (body("f", ""), None),
    ];
    for (b, want) in cases {
        assert_eq!(Notification::parse(b.as_bytes()).err(), want, "{b}");
    }
}

#[test]
fn duplicates_and_resolved_handling() {
    let mut s = ReceiverState::default();
    let ign = OnResolved::Ignore;
    assert_eq!(decide(&s, &note(FIRING), ign, 0, 100), Decision::Act);
    record(&mut s, &note(FIRING), Decision::Act, 1, 100);
    assert_eq!(decide(&s, &note(FIRING), ign, 0, 101), Decision::Duplicate);
    assert_eq!(decide(&s, &note(REFIRED), ign, 0, 101), Decision::Act);
    assert_eq!(
        decide(&s, &note(RESOLVED), ign, 0, 101),
        Decision::ResolvedIgnored
    );
    assert_eq!(
        decide(&s, &note(RESOLVED), OnResolved::Reverse, 0, 101),
        Decision::Reverse { delta: -1 }
    );
    let trig = OnResolved::Trigger;
    assert_eq!(decide(&s, &note(RESOLVED), trig, 0, 101), Decision::Act);
    record(&mut s, &note(RESOLVED), Decision::Act, 1, 101);
    assert_eq!(
        decide(&s, &note(RESOLVED), trig, 0, 102),
        Decision::Duplicate
    );
    // Plain triggers are never duplicates.
    assert_eq!(decide(&s, &Notification::Plain, ign, 0, 102), Decision::Act);
}

#[test]
fn reverse_undoes_exactly_the_step_taken_once() {
    let rev = OnResolved::Reverse;
    // Firing stepped by +2 (clamped from +3): resolved undoes -2, once, despite a cooldown.
    let mut s = ReceiverState::default();
    record(&mut s, &note(FIRING), Decision::Act, 2, 100);
    let d = decide(&s, &note(RESOLVED), rev, 300, 101);
    assert_eq!(d, Decision::Reverse { delta: -2 });
    record(&mut s, &note(RESOLVED), d, -2, 101);
    assert_eq!(
        decide(&s, &note(RESOLVED), rev, 300, 102),
        Decision::Duplicate
    );
    // A new alert within the firing's cooldown is held back, as any forward action is.
    assert_eq!(
        decide(&s, &note(REFIRED), rev, 300, 102),
        Decision::Cooldown { eligible_at: 400 }
    );
    let mut fresh = ReceiverState::default();
    record(
        &mut fresh,
        &note(RESOLVED),
        Decision::Reverse { delta: 0 },
        0,
        1,
    );
    assert!(
        fresh.last_performed.is_none(),
        "a reversal starts no cooldown"
    );

    // A firing that never stepped (at a bound) reverses nothing; nor does an unknown alert.
    let mut s = ReceiverState::default();
    record(&mut s, &note(FIRING), Decision::Act, 0, 100);
    assert_eq!(
        decide(&s, &note(RESOLVED), rev, 0, 101),
        Decision::NothingToReverse
    );
    assert_eq!(
        decide(&ReceiverState::default(), &note(RESOLVED), rev, 0, 101),
        Decision::NothingToReverse
    );
    // A cooldown-skipped firing is not remembered, so its resolution reverses nothing.
    let mut s = ReceiverState::default();
    record(&mut s, &Notification::Plain, Decision::Act, 1, 100);
    let d = decide(&s, &note(FIRING), rev, 300, 101);
    assert!(matches!(d, Decision::Cooldown { .. }));
    record(&mut s, &note(FIRING), d, 0, 101);
    assert_eq!(
        decide(&s, &note(RESOLVED), rev, 300, 102),
        Decision::NothingToReverse
    );
    // An empty resolved notification acts nothing, whatever onResolved says.
    for on in [OnResolved::Reverse, OnResolved::Trigger] {
        assert_eq!(
            decide(
                &s,
                &note(r#"{"status":"resolved","alerts":[]}"#),
                on,
                0,
                500
            ),
            Decision::NothingToReverse,
            "{on:?}"
        );
    }
}

#[test]
fn two_alerts_of_one_step_reverse_it_once() {
    let rev = OnResolved::Reverse;
    let both = r#"{"status":"firing","alerts":[{"fingerprint":"a","startsAt":"2026-11-29T10:00:00Z"},{"fingerprint":"b","startsAt":"2026-11-29T10:00:00Z"}]}"#;
    let a_done =
        r#"{"status":"resolved","alerts":[{"fingerprint":"a","startsAt":"2026-11-29T10:00:00Z"}]}"#;
    let b_done =
        r#"{"status":"resolved","alerts":[{"fingerprint":"b","startsAt":"2026-11-29T10:00:00Z"}]}"#;
    let mut s = ReceiverState::default();
    record(&mut s, &note(both), Decision::Act, 1, 100);
    let d = decide(&s, &note(a_done), rev, 0, 101);
    assert_eq!(d, Decision::Reverse { delta: -1 });
    record(&mut s, &note(a_done), d, -1, 101);
    assert_eq!(
        decide(&s, &note(b_done), rev, 0, 102),
        Decision::NothingToReverse
    );
}

#[test]
fn cooldown_counts_from_the_last_performed_action() {
    let mut s = ReceiverState::default();
    let p = Notification::Plain;
    let ign = OnResolved::Ignore;
    assert_eq!(decide(&s, &p, ign, 60, 1000), Decision::Act);
    record(&mut s, &p, Decision::Act, 1, 1000);
    let mut idle = ReceiverState::default();
    record(&mut idle, &p, Decision::Act, 0, 1000);
    assert_eq!(decide(&idle, &p, ign, 60, 1001), Decision::Act);
    assert_eq!(
        decide(&s, &p, ign, 60, 1059),
        Decision::Cooldown { eligible_at: 1060 }
    );
    assert_eq!(decide(&s, &p, ign, 60, 1060), Decision::Act);
    assert_eq!(decide(&s, &p, ign, 0, 1001), Decision::Act);
}

#[test]
fn memory_is_bounded_and_small() {
    let mut s = ReceiverState::default();
    for i in 0..(REMEMBERED_ALERTS + 10) {
        let body = format!(
            r#"{{"status":"firing","alerts":[{{"fingerprint":"{i}","startsAt":"2026-11-29T10:00:00Z"}}]}}"#
        );
        record(&mut s, &note(&body), Decision::Act, 1, 0);
    }
    assert_eq!(s.remembered(), REMEMBERED_ALERTS);
    // The first alerts were forgotten: they may act again.
    let first =
        r#"{"status":"firing","alerts":[{"fingerprint":"0","startsAt":"2026-11-29T10:00:00Z"}]}"#;
    assert_eq!(
        decide(&s, &note(first), OnResolved::Ignore, 0, 1),
        Decision::Act
    );
    assert!(std::mem::size_of::<Remembered>() <= 40);
}

#[test]
fn reservations_claim_alerts_and_release_them_on_failure() {
    let ign = OnResolved::Ignore;
    let mut s = ReceiverState::default();
    let (d, claim) = reserved(&mut s, &note(FIRING), ign, 0, 100);
    assert_eq!(d, Decision::Act);
    // A copy arriving while the first is in flight would be a duplicate, but only if the
    // first succeeds: it waits for the result.
    assert_eq!(decide(&s, &note(FIRING), ign, 0, 100), Decision::Duplicate);
    assert!(reserve(&mut s, &note(FIRING), ign, 0, 100).is_none());
    // The action failed: released, so the copy (or the retry) acts.
    settle(&mut s, claim, None);
    let (d, claim) = reserved(&mut s, &note(FIRING), ign, 0, 101);
    assert_eq!(d, Decision::Act);
    settle(&mut s, claim, Some(1));
    assert_eq!(decide(&s, &note(FIRING), ign, 0, 102), Decision::Duplicate);
    // The step was recorded: a reversal would undo it.
    assert_eq!(
        decide(&s, &note(RESOLVED), OnResolved::Reverse, 0, 102),
        Decision::Reverse { delta: -1 }
    );
    // Plain triggers claim nothing.
    let (d, claim) = reserved(&mut s, &Notification::Plain, ign, 0, 103);
    assert_eq!(d, Decision::Act);
    assert!(claim.alerts.is_empty());
}

#[test]
fn a_failed_claim_on_a_full_memory_forgets_nothing() {
    let ign = OnResolved::Ignore;
    let firing = |i: usize| {
        note(&format!(
            r#"{{"status":"firing","alerts":[{{"fingerprint":"{i}","startsAt":"2026-11-29T10:00:00Z"}}]}}"#
        ))
    };
    let mut s = ReceiverState::default();
    for i in 0..REMEMBERED_ALERTS {
        let (d, claim) = reserved(&mut s, &firing(i), ign, 0, 0);
        assert_eq!(d, Decision::Act);
        settle(&mut s, claim, Some(1));
    }
    assert_eq!(s.remembered(), REMEMBERED_ALERTS);
    // A new alert claimed while the memory is full: its action fails.
    let new = firing(REMEMBERED_ALERTS);
    let (d, claim) = reserved(&mut s, &new, ign, 0, 1);
    assert_eq!(d, Decision::Act);
    // While it is in flight, a copy is a duplicate; the oldest alert is still remembered.
    assert_eq!(decide(&s, &new, ign, 0, 1), Decision::Duplicate);
    assert_eq!(decide(&s, &firing(0), ign, 0, 1), Decision::Duplicate);
    settle(&mut s, claim, None);
    // No trace: the oldest alert is remembered still, the new one may act on a retry.
    assert_eq!(decide(&s, &firing(0), ign, 0, 2), Decision::Duplicate);
    assert_eq!(decide(&s, &new, ign, 0, 2), Decision::Act);
    assert_eq!(s.remembered(), REMEMBERED_ALERTS);
    assert!(s.claimed.is_empty());
    // The retry succeeds: now the new alert is remembered and the oldest forgotten.
    let (_, claim) = reserved(&mut s, &new, ign, 0, 3);
    settle(&mut s, claim, Some(1));
    assert_eq!(decide(&s, &new, ign, 0, 3), Decision::Duplicate);
    assert_eq!(decide(&s, &firing(0), ign, 0, 3), Decision::Act);
}

#[test]
fn a_resolved_claim_fails_without_touching_the_firing_it_resolves() {
    let ign = OnResolved::Ignore;
    let trig = OnResolved::Trigger;
    let mut s = ReceiverState::default();
    let (_, claim) = reserved(&mut s, &note(FIRING), ign, 0, 0);
    settle(&mut s, claim, Some(1));
    let (d, claim) = reserved(&mut s, &note(RESOLVED), trig, 0, 1);
    assert_eq!(d, Decision::Act);
    assert_eq!(decide(&s, &note(RESOLVED), trig, 0, 1), Decision::Duplicate);
    settle(&mut s, claim, None);
    // The firing stays handled; the resolution is not, so its retry acts.
    assert_eq!(decide(&s, &note(FIRING), ign, 0, 2), Decision::Duplicate);
    assert_eq!(decide(&s, &note(RESOLVED), trig, 0, 2), Decision::Act);
}

#[test]
fn a_step_in_flight_holds_the_cooldown_until_it_settles() {
    use futures_util::FutureExt as _;
    let ign = OnResolved::Ignore;
    let p = Notification::Plain;
    let mut s = ReceiverState::default();
    // A step claims the cooldown; until it settles, others wait (no claim for them).
    let (d, first) = reserved(&mut s, &p, ign, 60, 1000);
    assert_eq!(d, Decision::Act);
    assert_eq!(decide_settled(&s, &p, ign, 60, 1001), None);
    assert!(reserve(&mut s, &p, ign, 60, 1001).is_none());
    // A receiver without a cooldown never waits.
    assert_eq!(decide_settled(&s, &p, ign, 0, 1001), Some(Decision::Act));
    // Its write failed: the waiting triggers are woken, and the next step acts.
    let woken = s.settled().notified_owned();
    settle(&mut s, first, None);
    assert_eq!(
        woken.now_or_never(),
        Some(()),
        "settling wakes the waiting triggers"
    );
    assert_eq!(decide_settled(&s, &p, ign, 60, 1002), Some(Decision::Act));
    // A step that changed nothing (at its bound) starts no cooldown either.
    let (_, at_bound) = reserved(&mut s, &p, ign, 60, 1002);
    settle(&mut s, at_bound, Some(0));
    assert_eq!(decide(&s, &p, ign, 60, 1003), Decision::Act);
    // One that changed the scale starts it from when it was claimed.
    let (_, stepped) = reserved(&mut s, &p, ign, 60, 1003);
    settle(&mut s, stepped, Some(1));
    assert_eq!(
        reserved(&mut s, &p, ign, 60, 1010).0,
        Decision::Cooldown { eligible_at: 1063 }
    );
    assert!(!s.cooldown_claimed, "a skipped trigger claims nothing");
    assert_eq!(decide(&s, &p, ign, 60, 1063), Decision::Act);
}

#[test]
fn alerts_that_waited_for_a_claimed_cooldown_are_decided_by_its_result() {
    let ign = OnResolved::Ignore;
    let other =
        r#"{"status":"firing","alerts":[{"fingerprint":"f2","startsAt":"2026-11-29T10:00:00Z"}]}"#;
    let mut s = ReceiverState::default();
    let (d, first) = reserved(&mut s, &note(FIRING), ign, 60, 1000);
    assert_eq!(d, Decision::Act);
    // While its step is in flight, a copy and another alert wait; a resolution that acts
    // nothing does not.
    assert!(reserve(&mut s, &note(FIRING), ign, 60, 1001).is_none());
    assert!(reserve(&mut s, &note(other), ign, 60, 1001).is_none());
    assert_eq!(
        decide_settled(&s, &note(RESOLVED), ign, 60, 1001),
        Some(Decision::ResolvedIgnored)
    );
    settle(&mut s, first, Some(1));
    // Then: a copy is a duplicate; another alert is within the cooldown, and not remembered,
    // so once the cooldown is over it acts.
    assert_eq!(
        reserved(&mut s, &note(FIRING), ign, 60, 1001).0,
        Decision::Duplicate
    );
    let (d, skipped) = reserved(&mut s, &note(other), ign, 60, 1001);
    assert_eq!(d, Decision::Cooldown { eligible_at: 1060 });
    settle(&mut s, skipped, None);
    assert_eq!(decide(&s, &note(other), ign, 60, 1060), Decision::Act);
    assert_eq!(
        decide(&s, &note(FIRING), ign, 60, 1060),
        Decision::Duplicate
    );
}

#[test]
fn a_notification_naming_an_alert_in_flight_waits_for_its_result() {
    use futures_util::FutureExt as _;
    let ign = OnResolved::Ignore;
    let firing = |fingerprints: &[&str]| {
        let alerts: Vec<String> = fingerprints
            .iter()
            .map(|f| format!(r#"{{"fingerprint":"{f}","startsAt":"2026-11-29T10:00:00Z"}}"#))
            .collect();
        note(&format!(
            r#"{{"status":"firing","alerts":[{}]}}"#,
            alerts.join(",")
        ))
    };
    let (a, ab) = (firing(&["a"]), firing(&["a", "b"]));
    let mut s = ReceiverState::default();
    let (d, first) = reserved(&mut s, &a, ign, 0, 1);
    assert_eq!(d, Decision::Act);
    // A copy, and a notification naming the alert and a new one, wait (no cooldown here).
    assert!(reserve(&mut s, &a, ign, 0, 1).is_none());
    assert!(reserve(&mut s, &ab, ign, 0, 1).is_none());
    // The step fails: the waiting triggers are woken, and {a, b} claims both alerts.
    let woken = s.settled().notified_owned();
    settle(&mut s, first, None);
    assert_eq!(woken.now_or_never(), Some(()), "an alert claim wakes too");
    let (d, both) = reserved(&mut s, &ab, ign, 0, 2);
    assert_eq!(d, Decision::Act);
    assert!(
        reserve(&mut s, &a, ign, 0, 2).is_none(),
        "a is in flight again"
    );
    settle(&mut s, both, Some(1));
    // {a, b}'s step covered a: the first sender's retry is a duplicate.
    assert_eq!(decide_settled(&s, &a, ign, 0, 3), Some(Decision::Duplicate));
}

#[test]
fn a_reversal_waits_for_its_alerts_step_in_flight_and_undoes_it() {
    let rev = OnResolved::Reverse;
    let mut s = ReceiverState::default();
    // f1 fires: its step is claimed and in flight.
    let (d, claim) = reserved(&mut s, &note(FIRING), rev, 0, 1000);
    assert_eq!(d, Decision::Act);
    assert!(
        claimed_in(&s, &note(RESOLVED), false),
        "f1's resolution waits"
    );
    let other = r#"{"status":"resolved","alerts":[{"status":"resolved","fingerprint":"f9","startsAt":"2026-11-29T10:00:00Z"}]}"#;
    assert!(
        !claimed_in(&s, &note(other), false),
        "another alert's does not"
    );
    // Decided now, the resolution would find no step to undo: it waits (a dry run too).
    assert_eq!(
        decide(&s, &note(RESOLVED), rev, 0, 1001),
        Decision::NothingToReverse
    );
    assert_eq!(decide_settled(&s, &note(RESOLVED), rev, 0, 1001), None);
    assert!(decide_settled(&s, &note(other), rev, 0, 1001).is_some());
    // Once the step settles (it scaled by 2), the resolution undoes exactly it.
    settle(&mut s, claim, Some(2));
    assert!(!claimed_in(&s, &note(RESOLVED), false));
    assert_eq!(
        decide_settled(&s, &note(RESOLVED), rev, 0, 1002),
        Some(Decision::Reverse { delta: -2 })
    );
}

/// A firing that waited for a step in flight while its alert's resolution came (and found
/// nothing to undo) must not act after it: its step would never be undone.
#[test]
fn a_firing_that_waited_past_its_alerts_resolution_does_not_act() {
    let rev = OnResolved::Reverse;
    let a =
        r#"{"status":"firing","alerts":[{"fingerprint":"a","startsAt":"2026-11-29T10:00:00Z"}]}"#;
    let ab = r#"{"status":"firing","alerts":[{"fingerprint":"a","startsAt":"2026-11-29T10:00:00Z"},{"fingerprint":"b","startsAt":"2026-11-29T10:00:00Z"}]}"#;
    let b_resolved = r#"{"status":"resolved","alerts":[{"status":"resolved","fingerprint":"b","startsAt":"2026-11-29T10:00:00Z"}]}"#;
    let mut s = ReceiverState::default();
    let (_, first) = reserved(&mut s, &note(a), rev, 0, 1000);
    // {a, b} waits for a's step; b's resolution does not, and finds nothing to undo.
    assert_eq!(reserve(&mut s, &note(ab), rev, 0, 1001).map(|r| r.0), None);
    let undo = decide_settled(&s, &note(b_resolved), rev, 0, 1001);
    assert_eq!(undo, Some(Decision::NothingToReverse));
    record(
        &mut s,
        &note(b_resolved),
        Decision::NothingToReverse,
        0,
        1001,
    );
    settle(&mut s, first, Some(1));
    // Then {a, b} decides: a was acted on, b resolved before it: nothing to do.
    let (d, claim) = reserved(&mut s, &note(ab), rev, 0, 1002);
    assert_eq!(d, Decision::Duplicate);
    settle(&mut s, claim, Some(0));
    // Elsewhere a late firing still acts: with onResolved: trigger, b's resolution acted.
    let mut t = ReceiverState::default();
    let trig = OnResolved::Trigger;
    let (_, r) = reserved(&mut t, &note(b_resolved), trig, 0, 1000);
    settle(&mut t, r, Some(1));
    assert_eq!(reserved(&mut t, &note(ab), trig, 0, 1001).0, Decision::Act);
}
