//! The group-commit protocol under a model checker: loom runs every interleaving of a few
//! triggers (and a failing write, concurrent alert reservations, a step at its bound
//! answered without a batch) and the checks below must hold in each.

use std::sync::atomic::{AtomicUsize, Ordering};

use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

use super::*;
use crate::policy::{self, Decision, Notification, OnResolved, ReceiverState};

/// Explores every interleaving with at most two preemptions (loom's usual bound: bugs of
/// this kind show up within two or three; the full space of three threads is too large to
/// walk on every test run).
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(2);
    b.check(f);
}

/// loom's mutex as the queues' guard.
struct Model<T>(Mutex<T>);

impl<T> Guard<T> for Model<T> {
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.0.lock().expect("no panics in the model"))
    }
}

const START: i64 = 5;

fn up(amount: u32, max: u32) -> Step {
    Step { up: true, amount, min: 1, max }
}

fn down(amount: u32) -> Step {
    Step { up: false, amount, min: 1, max: 100 }
}

/// A fake Cattle: the service's scale, whether the next write fails, how many writes.
struct Cattle {
    scale: i64,
    fail_next: bool,
    writes: usize,
}

type Answers = Vec<Option<Result<(i64, i64), ()>>>;

/// What a model's triggers share: the service's queues, the fake Cattle (its first write
/// failing when asked), each ticket's answer, and the tickets applied, in order.
struct World {
    queues: Arc<Model<Queues<&'static str, (usize, Step)>>>,
    cattle: Arc<Mutex<Cattle>>,
    answers: Arc<Mutex<Answers>>,
    applied: Arc<Mutex<Vec<usize>>>,
}

fn world(tickets: usize, fail_first_write: bool) -> World {
    World {
        queues: Arc::new(Model(Mutex::new(Queues::default()))),
        cattle: Arc::new(Mutex::new(Cattle {
            scale: START,
            fail_next: fail_first_write,
            writes: 0,
        })),
        answers: Arc::new(Mutex::new(vec![None; tickets])),
        applied: Arc::new(Mutex::new(Vec::new())),
    }
}

/// What one writer does: take batches until none is left, apply each in order, write once
/// per batch, answer every step of it. Returns the tickets whose steps were applied, in the
/// order they were.
fn write(
    queues: &Model<Queues<&'static str, (usize, Step)>>,
    cattle: &Mutex<Cattle>,
    answers: &Mutex<Answers>,
    applied: &Mutex<Vec<usize>>,
) {
    while let Some(batch) = next(queues, &"1s1", 2) {
        // A read, then a write, as against Cattle: two writers at once would lose updates.
        let current = cattle.lock().expect("cattle").scale;
        let (moves, last) = apply(current, batch.iter().map(|(_, s)| s));
        let mut c = cattle.lock().expect("cattle");
        let ok = !std::mem::take(&mut c.fail_next);
        if ok && last != current {
            c.scale = last;
            c.writes += 1;
        }
        drop(c);
        let mut a = answers.lock().expect("answers");
        for ((ticket, _), m) in batch.iter().zip(moves) {
            assert!(a[*ticket].is_none(), "step {ticket} answered twice");
            a[*ticket] = Some(if ok { Ok(m) } else { Err(()) });
        }
        if ok {
            applied
                .lock()
                .expect("applied")
                .extend(batch.iter().map(|(t, _)| *t));
        }
    }
}

/// Every step was answered; replaying the applied ones one after another gives each its own
/// answer and leaves Cattle where the batches left it.
fn assert_exact(steps: &[Step], answers: &Answers, applied: &[usize], cattle: &Cattle) {
    assert!(answers.iter().all(Option::is_some), "a step was lost: {answers:?}");
    let mut scale = START;
    for &t in applied {
        let want = (scale, steps[t].after(scale));
        assert_eq!(answers[t], Some(Ok(want)), "step {t} misattributed");
        scale = want.1;
    }
    assert_eq!(cattle.scale, scale);
}

/// Runs `steps` as concurrent triggers of one service; checks no step is lost, doubled or
/// misattributed, in every interleaving.
fn check(steps: Vec<Step>, fail_first_write: bool) {
    model(move || {
        let World {
            queues,
            cattle,
            answers,
            applied,
        } = world(steps.len(), fail_first_write);
        let threads: Vec<_> = steps
            .iter()
            .enumerate()
            .map(|(ticket, step)| {
                let (q, c, a, ap, step) = (
                    queues.clone(),
                    cattle.clone(),
                    answers.clone(),
                    applied.clone(),
                    *step,
                );
                thread::spawn(move || {
                    if join(&*q, &"1s1", step.up, (ticket, step)) {
                        write(&q, &c, &a, &ap);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        let answers = answers.lock().expect("answers");
        let c = cattle.lock().expect("cattle");
        assert_exact(&steps, &answers, &applied.lock().expect("applied"), &c);
        assert!(c.writes <= steps.len());
        let failed = answers.iter().filter(|a| matches!(a, Some(Err(())))).count();
        assert_eq!(failed + applied.lock().expect("applied").len(), steps.len());
        assert!(queues.with(|q| q.is_empty()), "the service's queue is gone when done");
    });
}

#[test]
fn concurrent_steps_are_neither_lost_doubled_nor_misattributed() {
    check(vec![up(1, 100), up(1, 100), up(1, 100)], false);
}

#[test]
fn mixed_steps_with_their_own_clamps_equal_sequential_application() {
    check(vec![up(3, 7), down(2), up(1, 6)], false);
}

#[test]
fn a_failing_write_fails_its_batch_only() {
    check(vec![up(1, 100), down(1), up(2, 100)], true);
}

/// Triggers on one receiver as the trigger path runs them when they may run side by side:
/// each claims under the receiver's lock (`policy::reserve`), joins a batch of up-by-1 steps
/// and settles its claim by its answer; the first write fails. Returns the receiver's state
/// after all of them, and the tickets whose steps were applied.
fn claims(notes: Vec<Notification>, cooldown: u32) -> (ReceiverState, Vec<usize>) {
    let receiver = Arc::new(Mutex::new(ReceiverState::default()));
    // What the trigger path's wait for a settled claim is, in the model.
    let settled = Arc::new(Condvar::new());
    let World {
        queues,
        cattle,
        answers,
        applied,
    } = world(notes.len(), true);
    let threads: Vec<_> = notes
        .into_iter()
        .enumerate()
        .map(|(ticket, note)| {
            let (r, s, q, c, a, ap) = (
                receiver.clone(),
                settled.clone(),
                queues.clone(),
                cattle.clone(),
                answers.clone(),
                applied.clone(),
            );
            thread::spawn(move || {
                // While a step in flight holds the cooldown, wait for it to settle.
                let (decision, claim) = {
                    let mut state = r.lock().expect("receiver");
                    loop {
                        match policy::reserve(&mut state, &note, OnResolved::Ignore, cooldown, 1000)
                        {
                            Some(claimed) => break claimed,
                            None => state = s.wait(state).expect("receiver"),
                        }
                    }
                };
                if decision != Decision::Act {
                    let mut state = r.lock().expect("receiver");
                    policy::settle(&mut state, claim, None);
                    s.notify_all();
                    a.lock().expect("answers")[ticket] = Some(Err(()));
                    return;
                }
                if join(&*q, &"1s1", true, (ticket, up(1, 100))) {
                    write(&q, &c, &a, &ap);
                }
                // Wait for this step's answer (another thread may be writing it).
                let outcome = loop {
                    if let Some(o) = a.lock().expect("answers")[ticket] {
                        break o;
                    }
                    thread::yield_now();
                };
                let change = outcome.ok().map(|(from, to)| to - from);
                policy::settle(&mut r.lock().expect("receiver"), claim, change);
                s.notify_all();
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let applied = applied.lock().expect("applied").clone();
    let state = std::mem::take(&mut *receiver.lock().expect("receiver"));
    (state, applied)
}

/// Two copies of one alert and a plain trigger, on one receiver without cooldown, the first
/// write failing: the alert acts exactly once — a copy waits for the step in flight, and
/// acts if that step failed — and is remembered after.
#[test]
fn reservations_and_a_failing_write_keep_alerts_exact() {
    model(|| {
        const FIRING: &str = r#"{"status":"firing","alerts":[{"fingerprint":"f1","startsAt":"2026-11-29T10:00:00Z"}]}"#;
        let alert = Notification::parse(FIRING.as_bytes()).expect("alert");
        let (state, applied) = claims(vec![alert.clone(), alert.clone(), Notification::Plain], 0);
        let alert_steps = applied.iter().filter(|t| **t < 2).count();
        assert_eq!(alert_steps, 1, "the alert acts once, despite the failure");
        assert_eq!(
            policy::decide_settled(&state, &alert, OnResolved::Ignore, 0, 1001),
            Some(Decision::Duplicate),
            "remembered, and no claim left"
        );
    });
}

/// Three plain triggers on one receiver with a cooldown, the first write failing: at most
/// one step is applied within the cooldown, and the cooldown runs exactly when one was — a
/// failed write leaves no cooldown behind, no claim outlives its trigger, and a trigger that
/// waited for a failed step acts: some step is always applied.
#[test]
fn a_claimed_cooldown_and_a_failing_write_allow_one_step() {
    model(|| {
        let plain = Notification::Plain;
        let (state, applied) = claims(vec![plain.clone(), plain.clone(), plain.clone()], 60);
        assert_eq!(applied.len(), 1, "one step within one cooldown, despite the failure");
        let ign = OnResolved::Ignore;
        assert_eq!(
            policy::decide_settled(&state, &plain, ign, 60, 1001),
            Some(Decision::Cooldown { eligible_at: 1060 }),
            "in the cooldown the step started, and no claim left"
        );
        assert_eq!(
            policy::decide_settled(&state, &plain, ign, 60, 1060),
            Some(Decision::Act)
        );
    });
}

/// Replays `steps` one after another from `START`, each with its own clamp: the scale before
/// each step, then the scale after the last.
fn states(steps: impl IntoIterator<Item = Step>) -> Vec<i64> {
    let mut v = vec![START];
    for s in steps {
        let last = *v.last().expect("START");
        v.push(s.after(last));
    }
    v
}

/// `others` join as concurrent triggers; `bound`, a step at its bound from `START`, may be
/// answered at once by the trigger path's own decision (`at_once`, with Cattle's scale as
/// the trusted one: the writer updates both before it answers), else joins. (The real
/// trusted scale can lag Cattle by the write in flight; docs/triggers.md says what such an
/// answer shows.) In every interleaving: the joined steps are exact (as in `check`); and a step
/// answered at once
/// - answered with a scale the service had while it ran: one of the scales after the
///   applied steps, no earlier than the last step answered before it checked;
/// - could have joined instead without changing the final scale: at some point of the
///   queue between its check and its read of the scale it would have left the scale where
///   it was (so no step of the other direction that arrived before it was overtaken).
///
/// `answered_at_once` counts the interleavings in which the step was answered at once: some
/// must be, or the check would check nothing.
fn check_answered_at_once(
    others: Vec<Step>,
    bound: Step,
    fail_first_write: bool,
    answered_at_once: &'static AtomicUsize,
) {
    assert_eq!(bound.after(START), START, "`bound` starts at its bound");
    model(move || {
        let n = others.len();
        let World {
            queues,
            cattle,
            answers,
            applied,
        } = world(n + 1, fail_first_write);
        // Tickets in the order they joined (under the queues' lock, so this is the order
        // of the queue), and how many had joined when the step at its bound checked and
        // when it read the scale.
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let answered_at = Arc::new(Mutex::new(None));
        let steps: Vec<Step> = others.iter().copied().chain([bound]).collect();
        let threads: Vec<_> = steps
            .iter()
            .enumerate()
            .map(|(ticket, step)| {
                let (q, c, a, ap, ar, at, step) = (
                    queues.clone(),
                    cattle.clone(),
                    answers.clone(),
                    applied.clone(),
                    arrivals.clone(),
                    answered_at.clone(),
                    *step,
                );
                thread::spawn(move || {
                    if ticket == n {
                        // As the trigger path does it (`ScaleService::at_once`), with Cattle's
                        // scale as the trusted one; what had joined and been answered is
                        // noted before the check, how many had joined at the read.
                        let ok = |x: &&Option<_>| matches!(x, Some(Ok(_)));
                        let done = a.lock().expect("answers").iter().filter(ok).count();
                        let checked = ar.lock().expect("arrivals").len();
                        let mut read = checked;
                        let answered = at_once(&*q, "1s1", &step, || {
                            let ar = ar.lock().expect("arrivals");
                            read = ar.len();
                            Some(c.lock().expect("cattle").scale)
                        });
                        if let Some(scale) = answered {
                            a.lock().expect("answers")[ticket] = Some(Ok((scale, scale)));
                            *at.lock().expect("answered at") = Some((checked..=read, done));
                            answered_at_once.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    }
                    let writer = q.with(|qs| {
                        ar.lock().expect("arrivals").push(ticket);
                        qs.join(&"1s1", step.up, (ticket, step))
                    });
                    if writer {
                        write(&q, &c, &a, &ap);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        let answers = answers.lock().expect("answers");
        let applied = applied.lock().expect("applied");
        assert_exact(&steps, &answers, &applied, &cattle.lock().expect("cattle"));
        assert!(queues.with(|q| q.is_empty()), "the service's queue is gone when done");
        let Some((window, done)) = answered_at.lock().expect("answered at").clone() else {
            return;
        };
        let Some(Ok((from, to))) = answers[n] else {
            unreachable!("answered at once with a scale")
        };
        assert_eq!(from, to);
        // The scale after each prefix of the queue (in arrival order) of applied steps.
        let arrivals = arrivals.lock().expect("arrivals");
        let joined = arrivals.iter().filter(|t| applied.contains(t));
        let prefix = states(joined.map(|&t| steps[t]));
        let applied_before = |k: usize| arrivals[..k].iter().filter(|t| applied.contains(t)).count();
        let had = &prefix[done..=applied_before(*window.end())];
        assert!(had.contains(&from), "answered {from}; while it ran the scale was one of {had:?}");
        let there: Vec<i64> = window.map(|k| prefix[applied_before(k)]).collect();
        assert!(
            there.iter().any(|&s| bound.after(s) == s),
            "answered at once, but joining would have moved the scale from each of {there:?}"
        );
    });
    assert!(
        answered_at_once.load(Ordering::Relaxed) > 0,
        "no interleaving answered the step at once"
    );
}

/// At its maximum, an `up` is answered at once beside other `up`s in flight, but not past a
/// `down` that is being written or waits (which could bring the scale back within its
/// reach) — and again once that `down`'s batch is written.
#[test]
fn a_step_at_its_bound_answered_at_once_changes_nothing() {
    static AT_ONCE: AtomicUsize = AtomicUsize::new(0);
    check_answered_at_once(vec![down(1), up(2, 100)], up(1, START as u32), false, &AT_ONCE);
}

#[test]
fn a_step_at_its_minimum_answered_at_once_changes_nothing() {
    static AT_ONCE: AtomicUsize = AtomicUsize::new(0);
    let at_min = Step { up: false, amount: 1, min: START as u32, max: 100 };
    check_answered_at_once(vec![up(2, 100), down(1)], at_min, false, &AT_ONCE);
}

#[test]
fn a_step_at_its_bound_beside_a_failing_write() {
    static AT_ONCE: AtomicUsize = AtomicUsize::new(0);
    check_answered_at_once(vec![up(1, 100), down(2)], up(1, START as u32), true, &AT_ONCE);
}

/// Which directions hold back a step at its bound, batch by batch: the batch being written
/// and the steps waiting; not the batches already written (their scale is trusted by then).
#[test]
fn only_steps_being_written_or_waiting_oppose() {
    let mut q: Queues<&str, usize> = Queues::default();
    assert!(q.unopposed("s", true) && q.unopposed("s", false), "nothing in flight");
    assert!(q.join(&"s", false, 1), "the first step's trigger writes");
    assert!(!q.unopposed("s", true), "a down waits");
    assert!(q.unopposed("s", false), "downs do not hold back a down");
    let writing = std::sync::Mutex::new(q);
    assert_eq!(next(&writing, &"s", 8), Some(vec![1]));
    let mut q = writing.into_inner().expect("queues");
    assert!(!q.unopposed("s", true), "the down is being written");
    assert!(!q.join(&"s", true, 2));
    let writing = std::sync::Mutex::new(q);
    assert_eq!(next(&writing, &"s", 8), Some(vec![2]), "the down's batch is written");
    let q = writing.into_inner().expect("queues");
    assert!(q.unopposed("s", true), "only an up is in flight now");
    assert!(!q.unopposed("s", false));
}
