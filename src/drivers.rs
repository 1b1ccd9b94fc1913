//! The drivers: what a receiver does when triggered. A closed set, one file per driver;
//! `execute` runs at trigger time with the receiver's claims.

pub mod scale_service;

use serde_json::{json, Value};

use crate::app::App;
use crate::cattle::{Auth, Cattle};
use crate::error::Error;
use crate::receiver::{Claims, DriverConfig};

/// Which way a trigger moves its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The configured action.
    Forward,
    /// Undo earlier steps: change the scale by `delta` (a resolved alert, `onResolved:
    /// reverse`).
    Reverse { delta: i64 },
}

/// What a trigger did (or deliberately did not do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The service's scale changed (or, in a dry run, would change).
    Scaled {
        service_id: String,
        from: i64,
        to: i64,
    },
    /// Already at the bound the action moves towards: nothing to change.
    Unchanged {
        service_id: String,
        scale: i64,
        bound: &'static str,
    },
    Duplicate,
    /// A resolved notification that acts nothing; `note` says why.
    Resolved {
        note: &'static str,
    },
    Cooldown {
        eligible_at: u64,
    },
}

impl Outcome {
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Scaled { .. } => "scaled",
            Outcome::Unchanged { .. } => "unchanged",
            Outcome::Duplicate => "duplicate",
            Outcome::Resolved { .. } => "resolved",
            Outcome::Cooldown { .. } => "skipped",
        }
    }

    /// The change of scale made (0 when nothing changed).
    pub fn change(&self) -> i64 {
        match self {
            Outcome::Scaled { from, to, .. } => to - from,
            _ => 0,
        }
    }

    pub fn from_to(&self) -> (Option<i64>, Option<i64>) {
        match self {
            Outcome::Scaled { from, to, .. } => (Some(*from), Some(*to)),
            Outcome::Unchanged { scale, .. } => (Some(*scale), Some(*scale)),
            _ => (None, None),
        }
    }

    pub fn message(&self, dry_run: bool) -> String {
        match self {
            Outcome::Scaled {
                service_id,
                from,
                to,
            } if dry_run => {
                format!("would scale service {service_id} from {from} to {to}")
            }
            Outcome::Scaled {
                service_id,
                from,
                to,
            } => {
                format!("scaled service {service_id} from {from} to {to}")
            }
            Outcome::Unchanged {
                service_id,
                scale,
                bound,
            } => {
                format!("service {service_id} is already at its {bound} scale {scale}")
            }
            Outcome::Duplicate => "every alert in this notification was already acted on".into(),
            Outcome::Resolved { note } => (*note).into(),
            Outcome::Cooldown { eligible_at } => format!(
                "within the cooldown; eligible again at {}",
                crate::time::format_iso(*eligible_at as i64 * 1000)
            ),
        }
    }

    /// Fields added to the response body.
    pub fn details(&self) -> Value {
        match self {
            Outcome::Scaled {
                service_id,
                from,
                to,
            } => {
                json!({"serviceId": service_id, "from": from, "to": to})
            }
            Outcome::Unchanged {
                service_id,
                scale,
                bound,
            } => {
                json!({"serviceId": service_id, "from": scale, "to": scale, "bound": bound})
            }
            Outcome::Cooldown { eligible_at } => json!({
                "nextEligibleAt": crate::time::format_iso(*eligible_at as i64 * 1000),
                "nextEligibleAtTS": eligible_at * 1000,
            }),
            Outcome::Duplicate | Outcome::Resolved { .. } => json!({}),
        }
    }
}

/// Performs the receiver's action, or its `step`; `dry_run` decides without changing
/// anything.
pub async fn execute(
    app: &App,
    claims: &Claims,
    step: Step,
    dry_run: bool,
) -> Result<Outcome, Error> {
    match &claims.config {
        DriverConfig::ScaleService(c) => {
            scale_service::execute(app, &claims.project_id, c, step, dry_run).await
        }
        other => Err(Error::NotImplemented(format!(
            "the {} driver is not executed by this build yet",
            other.driver().name()
        ))),
    }
}

/// Checks a new receiver's config against Cattle with the caller's credentials (Rancher's
/// creation rules, cattle-api.md §5.5–5.8). Refusals are 400s naming the field.
pub async fn validate(
    cattle: &Cattle,
    auth: Auth<'_>,
    project: &str,
    config: &DriverConfig,
) -> Result<(), Error> {
    match config {
        DriverConfig::ScaleService(c) => scale_service::validate(cattle, auth, project, c).await,
        DriverConfig::ScaleHost(c) => {
            if let Some(t) = &c.host_template_id {
                let found = cattle
                    .get_host_template(auth, project, t)
                    .await
                    .map_err(Error::from_caller)?;
                if found.is_none_or(|t| t.removed.is_some()) {
                    return Err(Error::invalid(
                        400,
                        "InvalidReference",
                        "hostTemplateId",
                        "hostTemplate does not exist",
                    ));
                }
            }
            Ok(())
        }
        DriverConfig::ServiceUpgrade(_) => Ok(()),
        DriverConfig::ForwardPost(c) => {
            let found = cattle
                .list_services(auth, project, &[("name", c.service_name.as_str())])
                .await
                .map_err(Error::from_caller)?;
            if found.is_empty() {
                return Err(Error::invalid(
                    400,
                    "InvalidReference",
                    "serviceName",
                    format!("no service named {} in this project", c.service_name),
                ));
            }
            Ok(())
        }
    }
}
