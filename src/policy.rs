//! Whether a trigger should act (SPEC §4.1): duplicate Alertmanager/Grafana notifications,
//! resolved notifications, and cooldowns. Pure decisions over a receiver's in-memory state;
//! the trigger path holds the receiver's lock from `decide` through the action to `record`,
//! so two copies of one notification can never both act.
//!
//! The state lives in this replica's memory only: dedupe and cooldown are per replica.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet, VecDeque};

use serde::Deserialize;

use crate::receiver::OnResolved;

/// How many acted-on alerts a receiver remembers.
const REMEMBERED_ALERTS: usize = 1024;

/// One alert's identity for dedupe: fingerprint + start time, and which phase.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AlertKey {
    pub fingerprint: String,
    pub starts_at: String,
    pub resolved: bool,
}

/// What a trigger's body says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notification {
    /// An Alertmanager or Grafana notification (JSON with `status` and `alerts[]`).
    Alerts { resolved: bool, keys: Vec<AlertKey> },
    /// Anything else, or no body: a plain trigger, as Rancher treated every POST.
    Plain,
}

// The notification as sent, borrowed from the body: only the fields dedupe needs are
// decoded, the rest (annotations, URLs, values) are skipped without allocating.
#[derive(Deserialize)]
struct Doc<'a> {
    #[serde(borrow)]
    status: Cow<'a, str>,
    #[serde(borrow)]
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

impl Notification {
    /// Reads a body. Only well-formed alert notifications are treated specially.
    pub fn parse(body: &[u8]) -> Notification {
        let Ok(doc) = serde_json::from_slice::<Doc<'_>>(body) else {
            return Notification::Plain;
        };
        let resolved = match &*doc.status {
            "firing" => false,
            "resolved" => true,
            _ => return Notification::Plain,
        };
        let keys = doc
            .alerts
            .into_iter()
            // A firing notification also lists alerts that already resolved; only the ones
            // in the notification's own phase make it new or a duplicate.
            .filter(|a| {
                a.status
                    .as_deref()
                    .is_none_or(|s| (s == "resolved") == resolved)
            })
            .map(|a| AlertKey {
                fingerprint: match a.fingerprint {
                    Some(f) => f.into_owned(),
                    // Older senders omit the fingerprint; the labels identify the alert.
                    None => a
                        .labels
                        .map(|l| serde_json::to_string(&l).unwrap_or_default())
                        .unwrap_or_default(),
                },
                starts_at: a.starts_at.map(Cow::into_owned).unwrap_or_default(),
                resolved,
            })
            .collect();
        Notification::Alerts { resolved, keys }
    }
}

/// What to do with a trigger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Perform the action; `reverse` for a resolved alert with `onResolved: reverse`.
    Act { reverse: bool },
    /// Every alert in it was already acted on.
    Duplicate,
    /// A resolved notification and `onResolved: ignore`.
    ResolvedIgnored,
    /// Within the cooldown of the last performed action; eligible from this Unix second.
    Cooldown { eligible_at: u64 },
}

/// A receiver's memory: when it last acted, and which alerts it acted on.
#[derive(Debug, Default)]
pub struct ReceiverState {
    last_performed: Option<u64>,
    order: VecDeque<AlertKey>,
    acted: HashSet<AlertKey>,
}

pub fn decide(
    state: &ReceiverState,
    note: &Notification,
    on_resolved: OnResolved,
    cooldown_seconds: u32,
    now: u64,
) -> Decision {
    let mut reverse = false;
    if let Notification::Alerts { resolved, keys } = note {
        if !keys.is_empty() && keys.iter().all(|k| state.acted.contains(k)) {
            return Decision::Duplicate;
        }
        if *resolved {
            match on_resolved {
                OnResolved::Ignore => return Decision::ResolvedIgnored,
                OnResolved::Reverse => reverse = true,
                OnResolved::Trigger => {}
            }
        }
    }
    if let Some(last) = state.last_performed {
        let eligible_at = last.saturating_add(u64::from(cooldown_seconds));
        if cooldown_seconds > 0 && now < eligible_at {
            return Decision::Cooldown { eligible_at };
        }
    }
    Decision::Act { reverse }
}

/// Records a handled trigger: the alerts it handled, and — when an action was performed,
/// not merely found unnecessary — its time, which starts the cooldown.
pub fn record(state: &mut ReceiverState, note: &Notification, now: u64, performed: bool) {
    if performed {
        state.last_performed = Some(now);
    }
    if let Notification::Alerts { keys, .. } = note {
        for k in keys {
            if state.acted.insert(k.clone()) {
                state.order.push_back(k.clone());
            }
        }
        while state.order.len() > REMEMBERED_ALERTS {
            if let Some(old) = state.order.pop_front() {
                state.acted.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRING: &str = r#"{"status":"firing","alerts":[{"status":"firing","fingerprint":"f1","startsAt":"t0"},{"status":"resolved","fingerprint":"f0","startsAt":"t-1"}]}"#;
    const RESOLVED: &str = r#"{"status":"resolved","alerts":[{"status":"resolved","fingerprint":"f1","startsAt":"t0"}]}"#;
    const REFIRED: &str =
        r#"{"status":"firing","alerts":[{"status":"firing","fingerprint":"f1","startsAt":"t9"}]}"#;

    fn note(s: &str) -> Notification {
        Notification::parse(s.as_bytes())
    }

    #[test]
    fn bodies_are_classified() {
        assert_eq!(note(""), Notification::Plain);
        assert_eq!(note("not json"), Notification::Plain);
        assert_eq!(note(r#"{"push_data":{"tag":"x"}}"#), Notification::Plain);
        assert_eq!(
            note(r#"{"status":"weird","alerts":[]}"#),
            Notification::Plain
        );
        let Notification::Alerts { resolved, keys } = note(FIRING) else {
            panic!("alerts expected")
        };
        assert!(!resolved);
        assert_eq!(
            keys.len(),
            1,
            "the resolved alert in a firing group is not counted"
        );
        assert_eq!(keys[0].fingerprint, "f1");
        let Notification::Alerts { keys, .. } =
            note(r#"{"status":"firing","alerts":[{"labels":{"a":"b"},"startsAt":"t"}]}"#)
        else {
            panic!("alerts expected")
        };
        assert_eq!(keys[0].fingerprint, r#"{"a":"b"}"#);
    }

    #[test]
    fn decisions() {
        let mut s = ReceiverState::default();
        let ign = OnResolved::Ignore;
        assert_eq!(
            decide(&s, &note(FIRING), ign, 0, 100),
            Decision::Act { reverse: false }
        );
        record(&mut s, &note(FIRING), 100, true);
        assert_eq!(decide(&s, &note(FIRING), ign, 0, 101), Decision::Duplicate);
        assert_eq!(
            decide(&s, &note(REFIRED), ign, 0, 101),
            Decision::Act { reverse: false }
        );
        assert_eq!(
            decide(&s, &note(RESOLVED), ign, 0, 101),
            Decision::ResolvedIgnored
        );
        let rev = OnResolved::Reverse;
        assert_eq!(
            decide(&s, &note(RESOLVED), rev, 0, 101),
            Decision::Act { reverse: true }
        );
        let trig = OnResolved::Trigger;
        assert_eq!(
            decide(&s, &note(RESOLVED), trig, 0, 101),
            Decision::Act { reverse: false }
        );
        record(&mut s, &note(RESOLVED), 101, true);
        assert_eq!(
            decide(&s, &note(RESOLVED), rev, 0, 102),
            Decision::Duplicate
        );
        // Plain triggers are never duplicates.
        assert_eq!(
            decide(&s, &Notification::Plain, ign, 0, 102),
            Decision::Act { reverse: false }
        );
    }

    #[test]
    fn cooldown_counts_from_the_last_performed_action() {
        let mut s = ReceiverState::default();
        let p = Notification::Plain;
        assert_eq!(
            decide(&s, &p, OnResolved::Ignore, 60, 1000),
            Decision::Act { reverse: false }
        );
        record(&mut s, &p, 1000, true);
        let mut idle = ReceiverState::default();
        record(&mut idle, &p, 1000, false);
        assert_eq!(
            decide(&idle, &p, OnResolved::Ignore, 60, 1001),
            Decision::Act { reverse: false }
        );
        assert_eq!(
            decide(&s, &p, OnResolved::Ignore, 60, 1059),
            Decision::Cooldown { eligible_at: 1060 }
        );
        assert_eq!(
            decide(&s, &p, OnResolved::Ignore, 60, 1060),
            Decision::Act { reverse: false }
        );
        assert_eq!(
            decide(&s, &p, OnResolved::Ignore, 0, 1001),
            Decision::Act { reverse: false }
        );
    }

    #[test]
    fn memory_is_bounded() {
        let mut s = ReceiverState::default();
        for i in 0..(REMEMBERED_ALERTS + 10) {
            let n = Notification::Alerts {
                resolved: false,
                keys: vec![AlertKey {
                    fingerprint: i.to_string(),
                    starts_at: "t".into(),
                    resolved: false,
                }],
            };
            record(&mut s, &n, 0, true);
        }
        assert_eq!(s.acted.len(), REMEMBERED_ALERTS);
        assert_eq!(s.order.len(), REMEMBERED_ALERTS);
    }
}
