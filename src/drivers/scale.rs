//! What the two scale drivers (scaleService, scaleHost) share: the action, the amount and
//! the [min, max] bounds, their clamp, their policy fields, and the JSON, schema and token
//! encoding of those fields.

use serde_json::{json, Map, Value};

use super::fields::{bad, count, field, missing};
use super::{OnResolved, Policy, Step};
use crate::codec::{DecodeError, Reader, Writer};
use crate::error::Error;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ScaleAction {
    Up = 0,
    Down = 1,
}

impl ScaleAction {
    /// In the order of their discriminants (the token's encoding).
    const ALL: [ScaleAction; 2] = [ScaleAction::Up, ScaleAction::Down];

    pub fn name(self) -> &'static str {
        match self {
            ScaleAction::Up => "up",
            ScaleAction::Down => "down",
        }
    }
}

/// The fields both scale drivers have, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    pub action: ScaleAction,
    pub amount: u32,
    pub min: u32,
    pub max: u32,
    pub cooldown_seconds: u32,
    pub on_resolved: OnResolved,
}

/// The same fields as sent: Rancher's names, unchecked.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BoundsWire {
    pub action: Option<String>,
    pub amount: Option<i64>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub cooldown_seconds: Option<i64>,
    pub on_resolved: Option<String>,
}

impl BoundsWire {
    /// The action first, then the amount (Rancher's order of checks); `between` runs the
    /// driver's own checks that Rancher made between the amount and the bounds.
    pub fn check(&self, between: impl FnOnce() -> Result<(), Error>) -> Result<Bounds, Error> {
        let action = match self.action.as_deref() {
            None | Some("") => return Err(missing("action", "Scale action not provided")),
            Some("up") => ScaleAction::Up,
            Some("down") => ScaleAction::Down,
            Some(other) => return Err(bad("action", format!("Invalid action {other}"))),
        };
        let amount = count(self.amount, "amount", 1, "Amount")?;
        between()?;
        // Scaling to zero (min 0) is allowed; Rancher required min ≥ 1.
        let min = count(self.min, "min", 0, "Minimum scale")?;
        let max = count(self.max, "max", 1, "Maximum scale")?;
        if min >= max {
            return Err(bad("max", "Max must be greater than min"));
        }
        let cooldown_seconds = match self.cooldown_seconds {
            None => 0,
            v => count(v, "cooldownSeconds", 0, "cooldownSeconds")?,
        };
        let on_resolved = match self.on_resolved.as_deref() {
            None | Some("") | Some("ignore") => OnResolved::Ignore,
            Some("reverse") => OnResolved::Reverse,
            Some("trigger") => OnResolved::Trigger,
            Some(o) => {
                return Err(bad(
                    "onResolved",
                    format!("onResolved must be ignore, reverse or trigger, not {o}"),
                ))
            }
        };
        Ok(Bounds {
            action,
            amount,
            min,
            max,
            cooldown_seconds,
            on_resolved,
        })
    }
}

impl Bounds {
    pub fn to_json(&self, m: &mut Map<String, Value>) {
        m.insert("action".into(), self.action.name().into());
        m.insert("amount".into(), self.amount.into());
        m.insert("min".into(), self.min.into());
        m.insert("max".into(), self.max.into());
        m.insert("cooldownSeconds".into(), self.cooldown_seconds.into());
        m.insert("onResolved".into(), self.on_resolved.name().into());
    }

    /// The schema fields, with Rancher's defaults (min 1, max 100).
    pub fn schema_fields(m: &mut Map<String, Value>) {
        let fields = [
            ("amount", field("int", json!({"required": true, "min": 1}))),
            (
                "action",
                field("enum", json!({"required": true, "options": ["up", "down"]})),
            ),
            ("min", field("int", json!({"default": 1, "min": 0}))),
            ("max", field("int", json!({"default": 100, "min": 1}))),
            (
                "cooldownSeconds",
                field("int", json!({"default": 0, "min": 0})),
            ),
            (
                "onResolved",
                field(
                    "enum",
                    json!({"default": "ignore", "options": ["ignore", "reverse", "trigger"]}),
                ),
            ),
            ("type", field("string", json!({}))),
        ];
        m.extend(fields.into_iter().map(|(k, v)| (k.to_owned(), v)));
    }

    pub fn check(&self) -> Result<(), &'static str> {
        if self.amount == 0 {
            return Err("amount must be greater than 0");
        }
        if self.min >= self.max {
            return Err("max must be greater than min");
        }
        Ok(())
    }

    pub fn policy(&self) -> Policy {
        Policy {
            on_resolved: self.on_resolved,
            cooldown_seconds: self.cooldown_seconds,
        }
    }

    /// Which way and how far a step moves: the configured action, or the reversal's delta.
    pub fn direction(&self, step: Step) -> (bool, u32) {
        match step {
            Step::Forward => (self.action == ScaleAction::Up, self.amount),
            Step::Reverse { delta } => (
                delta > 0,
                u32::try_from(delta.unsigned_abs()).unwrap_or(u32::MAX),
            ),
        }
    }

    /// The new scale from `current`, for a step (see [`target`]).
    pub fn target(&self, current: i64, step: Step) -> i64 {
        let (up, amount) = self.direction(step);
        target(current, up, amount, self.min, self.max)
    }

    /// The action and the amount (the token's order).
    pub fn encode_action(&self, w: &mut Writer<'_>) {
        w.byte(self.action as u8);
        w.u32(self.amount);
        w.u32(self.min);
        w.u32(self.max);
    }

    pub fn encode_policy(&self, w: &mut Writer<'_>) {
        w.u32(self.cooldown_seconds);
        w.byte(self.on_resolved as u8);
    }

    /// Reads what `encode_action` and, after the driver's own fields, `encode_policy` wrote.
    pub fn decode(
        r: &mut Reader<'_>,
        between: impl FnOnce(&mut Reader<'_>) -> Result<(), DecodeError>,
    ) -> Result<Bounds, DecodeError> {
        let action = r.pick("action", &ScaleAction::ALL)?;
        let (amount, min, max) = (r.u32()?, r.u32()?, r.u32()?);
        between(r)?;
        let cooldown_seconds = r.u32()?;
        let on_resolved = r.pick("onResolved", &OnResolved::ALL)?;
        Ok(Bounds {
            action,
            amount,
            min,
            max,
            cooldown_seconds,
            on_resolved,
        })
    }
}

/// The new scale: `current ± amount` within [min, max], never moving against the action (an
/// "up" never scales down a target that was set above max by hand, nor a "down" up).
pub fn target(current: i64, up: bool, amount: u32, min: u32, max: u32) -> i64 {
    let (amount, min, max) = (i64::from(amount), i64::from(min), i64::from(max));
    if up {
        current.saturating_add(amount).clamp(min, max).max(current)
    } else {
        current.saturating_sub(amount).clamp(min, max).min(current)
    }
}

#[cfg(test)]
mod tests {
    use super::target;

    #[test]
    fn clamps_without_moving_backwards() {
        // (current, up, amount, min, max) → new
        let cases = [
            (2, true, 1, 1, 10, 3),
            (9, true, 5, 1, 10, 10),
            (10, true, 1, 1, 10, 10),
            (12, true, 1, 1, 10, 12), // above max by hand: an "up" never scales down
            (0, true, 1, 2, 10, 2),   // below min: up lands inside the range
            (5, false, 2, 1, 10, 3),
            (2, false, 5, 1, 10, 1),
            (1, false, 1, 1, 10, 1),
            (0, false, 1, 1, 10, 0), // below min by hand: a "down" never scales up
            (20, false, 1, 1, 10, 10),
        ];
        for (cur, up, amount, min, max, want) in cases {
            assert_eq!(
                target(cur, up, amount, min, max),
                want,
                "{cur} {up} {amount} [{min},{max}]"
            );
        }
    }
}
