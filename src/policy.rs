//! Whether a trigger should act, and how (docs/triggers.md, "Policy"): duplicate
//! Alertmanager/Grafana notifications, resolved notifications (`onResolved`), cooldowns.
//! Decisions over a receiver's in-memory state (pure but for the wake-up of waiting
//! triggers), made under the receiver's lock: a resolution that reverses holds it from
//! [`decide_settled`] through the action to `record`; any other trigger `reserve`s its alerts
//! and the cooldown under it, acts without it and `settle`s the claim by the result, and a
//! trigger whose decision hangs on that result waits for it ([`decide_settled`]). Either way
//! two copies of one notification never both act, nor two successful steps fall within one
//! cooldown (docs/triggers.md, "Policy").
//!
//! The state is small and bounded: at most [`REMEMBERED_ALERTS`] alerts per receiver, each a
//! fixed-size digest of its identity plus the step taken for it, whatever the sender sent.
//! It lives in this replica's memory only: dedupe and cooldown are per replica.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde::Deserialize;
use sha2::{Digest as _, Sha256};

/// What a `resolved` Alertmanager/Grafana notification does (docs/triggers.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum OnResolved {
    /// Acknowledge and do nothing (the default: an alert ending is not a reason to act).
    #[default]
    Ignore = 0,
    /// Undo exactly the step the alert's firing took.
    Reverse = 1,
    /// Perform the configured action, as Rancher did for any POST.
    Trigger = 2,
}

impl OnResolved {
    /// In the order of their discriminants (the token's encoding).
    pub const ALL: [OnResolved; 3] = [OnResolved::Ignore, OnResolved::Reverse, OnResolved::Trigger];

    pub fn name(self) -> &'static str {
        match self {
            OnResolved::Ignore => "ignore",
            OnResolved::Reverse => "reverse",
            OnResolved::Trigger => "trigger",
        }
    }
}

/// How many alerts a receiver remembers; the oldest is forgotten first (and may then act
/// again if a sender repeats it).
pub const REMEMBERED_ALERTS: usize = 1024;
/// Longest `fingerprint` and `startsAt` accepted (Alertmanager's are 16 and ~30 bytes).
pub const MAX_ALERT_FIELD: usize = 64;

/// One alert's identity: a digest of its fingerprint (or, when a sender gives none, its
/// sorted labels) and its `startsAt`. A re-fired alert has a new `startsAt`, so a new id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AlertId([u8; 16]);

/// What a trigger's body says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notification {
    /// An Alertmanager or Grafana notification (JSON with `status` firing or resolved): the
    /// alerts in the notification's own phase.
    Alerts {
        resolved: bool,
        alerts: Vec<AlertId>,
    },
    /// Anything else, or no body: a plain trigger, as Rancher treated every POST.
    Plain,
}

/// A notification hookgate refuses to remember (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    #[error("an alert's {0} is longer than {MAX_ALERT_FIELD} bytes")]
    TooLong(&'static str),
    #[error("an alert's startsAt is not an RFC 3339 date-time")]
    BadStartsAt,
}

// The notification as sent, borrowed from the body: only the fields dedupe needs are
// decoded, the rest (annotations, URLs, values) are skipped without allocating.
#[derive(Deserialize)]
struct Doc<'a> {
    #[serde(borrow)]
    status: Cow<'a, str>,
    #[serde(borrow, default)]
    alerts: Vec<AlertDoc<'a>>,
}

#[derive(Deserialize)]
struct AlertDoc<'a> {
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    fingerprint: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "startsAt")]
    starts_at: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    labels: Option<BTreeMap<Cow<'a, str>, Cow<'a, str>>>,
}

impl AlertDoc<'_> {
    fn id(&self) -> Result<AlertId, NotificationError> {
        let short = |v: &Option<Cow<'_, str>>, what| match v {
            Some(s) if s.len() > MAX_ALERT_FIELD => Err(NotificationError::TooLong(what)),
            _ => Ok(()),
        };
        short(&self.fingerprint, "fingerprint")?;
        short(&self.starts_at, "startsAt")?;
        let starts_at = self.starts_at.as_deref().unwrap_or("");
        if !starts_at.is_empty() && crate::time::parse_rfc3339(starts_at).is_none() {
            return Err(NotificationError::BadStartsAt);
        }
        // Length-prefixed parts, so no two identities share an encoding.
        let mut h = Sha256::new();
        let mut part = |tag: u8, s: &str| {
            h.update([tag]);
            h.update((s.len() as u64).to_be_bytes());
            h.update(s.as_bytes());
        };
        match (&self.fingerprint, &self.labels) {
            (Some(f), _) => part(b'f', f),
            (None, Some(labels)) => {
                for (k, v) in labels {
                    part(b'k', k);
                    part(b'v', v);
                }
            }
            (None, None) => part(b'n', ""),
        }
        part(b's', starts_at);
        let d = h.finalize();
        let mut id = [0u8; 16];
        id.copy_from_slice(&d[..16]);
        Ok(AlertId(id))
    }
}

impl Notification {
    /// Reads a body. Only well-formed alert notifications are treated specially; one whose
    /// alert identities are oversized or whose `startsAt` is not a date is refused.
    pub fn parse(body: &[u8]) -> Result<Notification, NotificationError> {
        // The commonest trigger (curl, CI) sends nothing: no parser, no error to build.
        if body.is_empty() {
            return Ok(Notification::Plain);
        }
        let Ok(doc) = serde_json::from_slice::<Doc<'_>>(body) else {
            return Ok(Notification::Plain);
        };
        let resolved = match &*doc.status {
            "firing" => false,
            "resolved" => true,
            _ => return Ok(Notification::Plain),
        };
        let alerts = doc
            .alerts
            .iter()
            // A firing notification also lists alerts that already resolved; only the ones
            // in the notification's own phase make it new or a duplicate.
            .filter(|a| {
                a.status
                    .as_deref()
                    .is_none_or(|s| (s == "resolved") == resolved)
            })
            .map(AlertDoc::id)
            .collect::<Result<_, _>>()?;
        Ok(Notification::Alerts { resolved, alerts })
    }
}

/// What to do with a trigger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Perform the configured action.
    Act,
    /// Undo the steps taken for the resolved alerts: change the scale by `delta`.
    Reverse { delta: i64 },
    /// Every alert in it was already handled.
    Duplicate,
    /// A resolved notification and `onResolved: ignore`.
    ResolvedIgnored,
    /// A resolved notification with `onResolved: reverse` whose alerts never stepped (or
    /// were reversed already), or one that names no alert at all.
    NothingToReverse,
    /// Within the cooldown of the last performed action; eligible from this Unix second.
    Cooldown { eligible_at: u64 },
}

/// One remembered alert.
#[derive(Clone, Copy, Debug)]
struct Remembered {
    id: AlertId,
    fired: bool,
    resolved: bool,
    /// The step its firing took (0: none), shared by the alerts of one notification.
    step: u32,
    /// That step's actual change of scale.
    delta: i64,
    reversed: bool,
}

/// A receiver's memory: when it last acted, and the alerts it handled (oldest first).
#[derive(Debug, Default)]
pub struct ReceiverState {
    last_performed: Option<u64>,
    alerts: VecDeque<Remembered>,
    last_step: u32,
    /// Alerts claimed by actions in flight ([`reserve`]), each with its phase (`true`:
    /// resolved), kept apart from `alerts` until [`settle`]: a claim never makes room by
    /// forgetting a remembered alert, so one whose action fails leaves the memory as it was.
    /// Bounded by the alerts of the triggers in flight.
    claimed: Vec<(AlertId, bool)>,
    /// Whether a forward step in flight claimed the cooldown ([`reserve`]): until it
    /// settles, no other step can know whether it is within a cooldown, so it waits
    /// ([`decide_settled`]).
    cooldown_claimed: bool,
    /// Woken when a claim (of alerts, or of the cooldown) settles.
    settled: Arc<tokio::sync::Notify>,
}

impl ReceiverState {
    fn find(&self, id: &AlertId) -> Option<&Remembered> {
        self.alerts.iter().find(|r| r.id == *id)
    }

    /// Whether the alert was handled in this phase (`resolved` or firing), or is claimed
    /// for it by an action in flight.
    fn handled(&self, id: &AlertId, resolved: bool) -> bool {
        let remembered = self
            .find(id)
            .is_some_and(|r| if resolved { r.resolved } else { r.fired });
        remembered || self.claimed.contains(&(*id, resolved))
    }

    /// Whether this notification's alert needs no action: it was handled in this phase, or
    /// is claimed for it — or, on a receiver that reverses, it is a firing of an alert whose
    /// resolution was handled already. Such a firing arrived late (it waited for a step in
    /// flight while the resolution came); acting on it would leave a step that no
    /// resolution undoes. (An alert that fires again has a new `startsAt`: a new id.)
    fn done(&self, id: &AlertId, resolved: bool, on_resolved: OnResolved) -> bool {
        self.handled(id, resolved)
            || (!resolved
                && on_resolved == OnResolved::Reverse
                && self.find(id).is_some_and(|r| r.resolved))
    }

    fn entry(&mut self, id: AlertId) -> &mut Remembered {
        let at = match self.alerts.iter().position(|r| r.id == id) {
            Some(i) => i,
            None => {
                if self.alerts.len() == REMEMBERED_ALERTS {
                    self.alerts.pop_front();
                }
                self.alerts.push_back(Remembered {
                    id,
                    fired: false,
                    resolved: false,
                    step: 0,
                    delta: 0,
                    reversed: false,
                });
                self.alerts.len() - 1
            }
        };
        &mut self.alerts[at]
    }

    /// Remembers alerts handled in one phase (`resolved` or firing); a firing that changed
    /// the scale by `change` is one step, recorded for each of its alerts so that their
    /// resolution can undo it once.
    fn remember(&mut self, resolved: bool, alerts: &[AlertId], change: i64) {
        let step = if resolved || change == 0 || alerts.is_empty() {
            0
        } else {
            self.last_step = self.last_step.wrapping_add(1).max(1);
            self.last_step
        };
        for id in alerts {
            let r = self.entry(*id);
            if resolved {
                r.resolved = true;
            } else if !r.fired {
                (r.fired, r.step, r.delta) = (true, step, change);
            }
        }
    }

    /// The distinct, not yet reversed steps taken for these alerts, and their total change.
    fn steps_of(&self, ids: &[AlertId]) -> (Vec<u32>, i64) {
        let mut steps: Vec<u32> = Vec::new();
        let mut total = 0;
        for r in ids.iter().filter_map(|id| self.find(id)) {
            if r.step != 0 && !r.reversed && !steps.contains(&r.step) {
                steps.push(r.step);
                total += r.delta;
            }
        }
        (steps, total)
    }

    /// What a trigger waits on ([`decide_settled`]): woken when a claim settles.
    /// Wait on a future made before the receiver's lock is released, or the wake-up may be
    /// missed.
    pub fn settled(&self) -> Arc<tokio::sync::Notify> {
        self.settled.clone()
    }

    /// How many alerts are remembered (for tests and bounds).
    pub fn remembered(&self) -> usize {
        self.alerts.len()
    }
}

pub fn decide(
    state: &ReceiverState,
    note: &Notification,
    on_resolved: OnResolved,
    cooldown_seconds: u32,
    now: u64,
) -> Decision {
    if let Notification::Alerts { resolved, alerts } = note {
        if !alerts.is_empty()
            && alerts
                .iter()
                .all(|id| state.done(id, *resolved, on_resolved))
        {
            return Decision::Duplicate;
        }
        if *resolved {
            match on_resolved {
                OnResolved::Ignore => return Decision::ResolvedIgnored,
                // A reversal undoes what was done; it is never held back by the cooldown.
                OnResolved::Reverse => {
                    let (_, total) = state.steps_of(alerts);
                    return if total == 0 {
                        Decision::NothingToReverse
                    } else {
                        Decision::Reverse { delta: -total }
                    };
                }
                OnResolved::Trigger if alerts.is_empty() => return Decision::NothingToReverse,
                OnResolved::Trigger => {}
            }
        }
    }
    if cooldown_seconds > 0 {
        // Callers wait for a claimed cooldown to settle (`decide_settled`); were one not
        // to, it would still not act beside the step in flight.
        if state.cooldown_claimed {
            return Decision::Cooldown {
                eligible_at: now.saturating_add(u64::from(cooldown_seconds)),
            };
        }
        if let Some(last) = state.last_performed {
            let eligible_at = last.saturating_add(u64::from(cooldown_seconds));
            if now < eligible_at {
                return Decision::Cooldown { eligible_at };
            }
        }
    }
    Decision::Act
}

/// Records a handled trigger: the alerts it handled and the step it took (`change`, the
/// actual change of scale: 0 when nothing changed). A performed forward action starts the
/// cooldown; a reversal does not. Failed or dry-run triggers are never recorded.
pub fn record(
    state: &mut ReceiverState,
    note: &Notification,
    decision: Decision,
    change: i64,
    now: u64,
) {
    let Notification::Alerts { resolved, alerts } = note else {
        if decision == Decision::Act && change != 0 {
            state.last_performed = Some(now);
        }
        return;
    };
    match decision {
        Decision::Act => {
            if change != 0 {
                state.last_performed = Some(now);
            }
            state.remember(*resolved, alerts, change);
        }
        Decision::Reverse { .. } | Decision::NothingToReverse => {
            let (steps, _) = state.steps_of(alerts);
            for r in state.alerts.iter_mut() {
                if steps.contains(&r.step) {
                    r.reversed = true;
                }
            }
            for id in alerts {
                state.entry(*id).resolved = true;
            }
        }
        Decision::Duplicate | Decision::ResolvedIgnored | Decision::Cooldown { .. } => {}
    }
}

/// What a trigger claimed for its action while the action is in flight: its alerts, and the
/// cooldown when the receiver has one.
#[derive(Debug, Default)]
pub struct Reservation {
    alerts: Vec<AlertId>,
    resolved: bool,
    /// Whether it claimed the cooldown (at most one claim does at a time).
    cooldown: bool,
    /// When it was claimed: the time a step that changed something is performed at.
    at: u64,
}

/// Decides, or `None` while the decision hangs on a step in flight: whether this trigger is
/// within a cooldown that step claimed (should it fail or change nothing, the cooldown does
/// not start), or what becomes of an alert of this notification that step claimed — a copy
/// is a duplicate only if the step succeeds (should it fail, the copy must act: its sender,
/// told `duplicate`, would not retry), and a notification that also names new alerts must
/// know whether its step covers that alert too (else the claimed alert's retry would act a
/// second time), or which steps a resolution that reverses undoes (one of its alerts' step
/// is in flight). The trigger waits for [`ReceiverState::settled`] and asks again.
/// Decisions that hang on nothing in flight are given at once.
pub fn decide_settled(
    state: &ReceiverState,
    note: &Notification,
    on_resolved: OnResolved,
    cooldown_seconds: u32,
    now: u64,
) -> Option<Decision> {
    let decision = decide(state, note, on_resolved, cooldown_seconds, now);
    let on_cooldown = matches!(decision, Decision::Act | Decision::Cooldown { .. })
        && cooldown_seconds > 0
        && state.cooldown_claimed;
    let on_alerts = matches!(decision, Decision::Duplicate | Decision::Act)
        && matches!(note, Notification::Alerts { resolved, .. }
            if claimed_in(state, note, *resolved));
    // A reversal's steps are known once no step of its alerts (as firing) is in flight.
    let on_steps = matches!(
        decision,
        Decision::Reverse { .. } | Decision::NothingToReverse
    ) && claimed_in(state, note, false);
    (!(on_cooldown || on_alerts || on_steps)).then_some(decision)
}

/// Whether a step in flight claimed one of the alerts this notification names, in the phase
/// `resolved` (or firing).
fn claimed_in(state: &ReceiverState, note: &Notification, resolved: bool) -> bool {
    matches!(note, Notification::Alerts { alerts, .. }
        if alerts.iter().any(|id| state.claimed.contains(&(*id, resolved))))
}

/// Decides, and claims what one action in flight needs: the notification's new alerts
/// (copies of it that arrive meanwhile wait for its result) and, with a cooldown, the
/// cooldown (so do other triggers); `None` when the trigger must wait
/// ([`decide_settled`]). For every trigger but a resolution that reverses (it decides,
/// acts and records under the receiver's lock); [`settle`] ends the claim. A dry run
/// claims nothing: it decides.
pub fn reserve(
    state: &mut ReceiverState,
    note: &Notification,
    on_resolved: OnResolved,
    cooldown_seconds: u32,
    now: u64,
) -> Option<(Decision, Reservation)> {
    let decision = decide_settled(state, note, on_resolved, cooldown_seconds, now)?;
    let mut claim = Reservation {
        at: now,
        ..Reservation::default()
    };
    if decision == Decision::Act && cooldown_seconds > 0 {
        state.cooldown_claimed = true;
        claim.cooldown = true;
    }
    if let (Decision::Act, Notification::Alerts { resolved, alerts }) = (decision, note) {
        claim.resolved = *resolved;
        for id in alerts {
            // An alert named twice in one notification is claimed once.
            if !state.done(id, *resolved, on_resolved) {
                state.claimed.push((*id, *resolved));
                claim.alerts.push(*id);
            }
        }
    }
    Some((decision, claim))
}

/// Ends a claim: with the action's change when it succeeded — the alerts are remembered
/// (forgetting the oldest if the memory is full), a firing's step is recorded for them, and
/// a step that changed something starts the cooldown from when it was claimed — or `None`
/// when it failed: the claim is dropped and the memory is as it was, so the sender's retry
/// (or a copy waiting for the result) acts. Either way the triggers waiting for it decide.
pub fn settle(state: &mut ReceiverState, claim: Reservation, change: Option<i64>) {
    state
        .claimed
        .retain(|(id, resolved)| *resolved != claim.resolved || !claim.alerts.contains(id));
    if claim.cooldown {
        state.cooldown_claimed = false;
    }
    if let Some(change) = change {
        if change != 0 {
            state.last_performed = Some(claim.at);
        }
        state.remember(claim.resolved, &claim.alerts, change);
    }
    if claim.cooldown || !claim.alerts.is_empty() {
        state.settled.notify_waiters();
    }
}

#[cfg(test)]
mod tests;
