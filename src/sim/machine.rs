//! The simulator's state machine (docs/cattle.md, "Service states"): which actions a state
//! offers, what each action does, and transitions that complete lazily — a resource in
//! `upgrading` reads `upgraded` once its delay has passed, whoever looks first, which is what
//! a client sees of Cattle's background processes.

use std::time::Instant;

use serde_json::{json, Map, Value};

use super::schema::TypeInfo;
use super::store::{ApiError, World};
use crate::time;

/// A transition in progress: when it completes, the state becomes `to`.
pub(super) struct Pending {
    pub(super) due: Instant,
    pub(super) to: &'static str,
    pub(super) purge: bool,
}

impl World {
    /// Completes every transition whose time has come.
    pub fn settle(&mut self, now: Instant) {
        for row in self.rows.values_mut() {
            if row.pending.as_ref().is_some_and(|p| p.due <= now) {
                if let Some(p) = row.pending.take() {
                    row.data.insert("state".into(), p.to.into());
                    if p.purge {
                        row.data.insert("removed".into(), time::now_iso().into());
                    }
                }
            }
        }
    }

    pub(super) fn start(
        &mut self,
        key: (&'static str, u64),
        during: &'static str,
        to: &'static str,
    ) {
        let due = Instant::now() + self.transition;
        if let Some(row) = self.rows.get_mut(&key) {
            row.data.insert("state".into(), during.into());
            row.pending = Some(Pending {
                due,
                to,
                purge: false,
            });
        }
    }

    /// `host.evacuate`: deactivate the host, and with `deleteHost` remove and purge it.
    pub(super) fn evacuate(&mut self, host: (&'static str, u64), delete: bool) {
        let due = Instant::now() + self.transition;
        if let Some(row) = self.rows.get_mut(&host) {
            row.data.insert("state".into(), "deactivating".into());
            row.pending = Some(Pending {
                due,
                to: if delete { "purged" } else { "inactive" },
                purge: delete,
            });
        }
    }

    /// `POST …/{id}/?action=NAME` — 202 with the resource in its transitioning state.
    pub fn action(
        &mut self,
        ty: &'static TypeInfo,
        project: &str,
        id: &str,
        action: &str,
        body: Map<String, Value>,
        scope: &str,
    ) -> Result<Value, ApiError> {
        let k = self.find(ty, project, id)?;
        if !ty.resource_actions.contains(&action) {
            return Err(ApiError::invalid("InvalidAction", "action"));
        }
        let state = self.state_of(k);
        if !available_actions(ty, &state).contains(&action) {
            return Err(ApiError::invalid("ActionNotAvailable", "action"));
        }
        if action == "remove" {
            return self.delete(ty, project, id, scope);
        }
        let (during, to) = match (ty.id, action) {
            ("service", "upgrade") => {
                self.upgrade(k, &body)?;
                ("upgrading", "upgraded")
            }
            ("service", "finishupgrade") => ("finishing-upgrade", "active"),
            ("service", "cancelupgrade") => ("canceling-upgrade", "canceled-upgrade"),
            ("service", "continueupgrade") => ("upgrading", "upgraded"),
            ("service", "rollback") => {
                let previous = |f: &str| {
                    self.rows[&k]
                        .data
                        .get("upgrade")
                        .and_then(|u| u.get("inServiceStrategy"))
                        .and_then(|s| s.get(f))
                        .filter(|v| !v.is_null())
                        .cloned()
                };
                let (launch, secondary) = (
                    previous("previousLaunchConfig"),
                    previous("previousSecondaryLaunchConfigs"),
                );
                if let Some(row) = self.rows.get_mut(&k) {
                    if let Some(l) = launch {
                        row.data.insert("launchConfig".into(), l);
                    }
                    if let Some(s) = secondary {
                        row.data.insert("secondaryLaunchConfigs".into(), s);
                    }
                }
                ("rolling-back", "active")
            }
            (_, "activate") => ("activating", "active"),
            (_, "deactivate") => ("deactivating", "inactive"),
            (_, "evacuate") => ("deactivating", "inactive"),
            (_, "restart") => ("restarting", "active"),
            (_, "purge") => ("purging", "purged"),
            (_, "update") => return self.update(ty, project, id, body, scope),
            _ => return Err(ApiError::invalid("InvalidAction", "action")),
        };
        self.start(k, during, to);
        Ok(self.render(&self.rows[&k], scope))
    }

    /// Validates and applies an in-service upgrade (§2.3).
    fn upgrade(
        &mut self,
        k: (&'static str, u64),
        body: &Map<String, Value>,
    ) -> Result<(), ApiError> {
        let Some(Value::Object(strategy)) = body.get("inServiceStrategy") else {
            return Err(ApiError::invalid("MissingRequired", "inServiceStrategy"));
        };
        let launch = strategy.get("launchConfig").filter(|v| !v.is_null());
        let secondary = strategy
            .get("secondaryLaunchConfigs")
            .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()));
        if launch.is_none() && secondary.is_none() {
            return Err(ApiError::invalid("InvalidOption", "inServiceStrategy"));
        }
        let row = self.rows.get_mut(&k).ok_or_else(|| ApiError::status(404))?;
        if launch.is_none()
            && row.data.get("kind").and_then(Value::as_str) == Some("loadBalancerService")
        {
            return Err(ApiError::invalid("InvalidOption", "launchConfig"));
        }
        for (f, min) in [("batchSize", 1), ("intervalMillis", 100)] {
            if strategy
                .get(f)
                .and_then(Value::as_i64)
                .is_some_and(|v| v < min)
            {
                return Err(ApiError::invalid("MinLimitExceeded", f));
            }
        }
        let mut recorded = strategy.clone();
        recorded.insert(
            "previousLaunchConfig".into(),
            row.data.get("launchConfig").cloned().unwrap_or(Value::Null),
        );
        recorded.insert(
            "previousSecondaryLaunchConfigs".into(),
            row.data
                .get("secondaryLaunchConfigs")
                .cloned()
                .unwrap_or(Value::Null),
        );
        // Sidekicks are matched to the service's own by name; the others are kept.
        if let Some(Value::Array(new)) = secondary {
            let mut current = match row.data.get("secondaryLaunchConfigs") {
                Some(Value::Array(a)) => a.clone(),
                _ => Vec::new(),
            };
            for lc in new {
                let name = lc.get("name").and_then(Value::as_str);
                let slot = current
                    .iter_mut()
                    .find(|c| name.is_some() && c.get("name").and_then(Value::as_str) == name)
                    .ok_or_else(|| {
                        ApiError::invalid("InvalidReference", "secondaryLaunchConfigs")
                    })?;
                *slot = lc.clone();
            }
            row.data
                .insert("secondaryLaunchConfigs".into(), Value::Array(current));
        }
        if let Some(l) = launch {
            row.data.insert("launchConfig".into(), l.clone());
        }
        row.data
            .insert("upgrade".into(), json!({ "inServiceStrategy": recorded }));
        Ok(())
    }
}

/// Actions offered in a state (the state table in docs/cattle.md; a few for the rest).
pub fn available_actions(ty: &TypeInfo, state: &str) -> Vec<&'static str> {
    let allowed: &[(&'static str, &[&str])] = match ty.id {
        "service" => &[
            ("activate", &["inactive", "restarting"]),
            (
                "deactivate",
                &[
                    "restarting",
                    "active",
                    "activating",
                    "updating-inactive",
                    "updating-active",
                ],
            ),
            (
                "update",
                &[
                    "inactive",
                    "active",
                    "updating-active",
                    "updating-inactive",
                    "finishing-upgrade",
                    "activating",
                    "canceling-upgrade",
                    "upgrading",
                    "rolling-back",
                ],
            ),
            (
                "remove",
                &[
                    "inactive",
                    "registering",
                    "active",
                    "activating",
                    "updating-active",
                    "updating-inactive",
                    "upgrading",
                    "canceling-upgrade",
                    "rolling-back",
                    "deactivating",
                    "requested",
                    "canceled-upgrade",
                    "upgraded",
                    "finishing-upgrade",
                    "restarting",
                ],
            ),
            (
                "upgrade",
                &["active", "activating", "inactive", "updating-active"],
            ),
            ("continueupgrade", &["canceled-upgrade"]),
            ("cancelupgrade", &["upgrading", "finishing-upgrade"]),
            ("rollback", &["upgrading", "upgraded", "canceled-upgrade"]),
            ("finishupgrade", &["upgraded"]),
            ("restart", &["active"]),
        ],
        "host" => &[
            ("activate", &["inactive"]),
            ("deactivate", &["active"]),
            ("update", &["active", "inactive", "registering"]),
            ("evacuate", &["active", "inactive"]),
            ("remove", &["active", "inactive", "registering", "error"]),
            ("purge", &["removed"]),
        ],
        "stack" => &[
            ("update", &["active"]),
            ("remove", &["active", "activating", "requested"]),
        ],
        _ => &[(
            "remove",
            &["requested", "activating", "active", "created", "creating"],
        )],
    };
    allowed
        .iter()
        .filter(|(_, states)| states.contains(&state))
        .map(|(a, _)| *a)
        .collect()
}
