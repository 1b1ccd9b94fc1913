//! scaleService (SPEC §4.1): current scale ± amount, clamped to [min, max] and never against
//! the action's direction. One change at a time per service in this replica, so concurrent
//! triggers never lose an update; the scale is cached briefly and refreshed from every
//! Cattle answer, so a burst costs one write per trigger and no extra reads.

use crate::app::App;
use crate::cattle::{Auth, Cattle, CattleError};
use crate::drivers::{Outcome, Step};
use crate::error::Error;
use crate::receiver::{ScaleAction, ScaleServiceConfig};

/// Service kinds whose scale can be set (Rancher's rule).
const SCALABLE: [&str; 2] = ["service", "loadBalancerService"];

/// The new scale: `current ± amount` within [min, max], never moving against the action.
pub fn target(current: i64, up: bool, amount: u32, min: u32, max: u32) -> i64 {
    let (amount, min, max) = (i64::from(amount), i64::from(min), i64::from(max));
    if up {
        current.saturating_add(amount).clamp(min, max).max(current)
    } else {
        current.saturating_sub(amount).clamp(min, max).min(current)
    }
}

pub async fn execute(
    app: &App,
    project: &str,
    cfg: &ScaleServiceConfig,
    step: Step,
    dry_run: bool,
) -> Result<Outcome, Error> {
    let id = cfg.service_id.as_str();
    let key = (project.to_owned(), id.to_owned());
    let lease = app.service_lock(&key);
    let _one_at_a_time = lease.lock().await;

    let current = match app.scales.get(&key).await {
        Some(s) => {
            crate::metrics::count_cache("scale", true);
            s
        }
        None => {
            crate::metrics::count_cache("scale", false);
            let s = current_scale(app, project, id).await?;
            app.scales.insert(key.clone(), s).await;
            s
        }
    };
    let (up, amount) = match step {
        Step::Forward => (cfg.action == ScaleAction::Up, cfg.amount),
        Step::Reverse { delta } => (
            delta > 0,
            u32::try_from(delta.unsigned_abs()).unwrap_or(u32::MAX),
        ),
    };
    let to = target(current, up, amount, cfg.min, cfg.max);
    if to == current {
        let bound = if up { "maximum" } else { "minimum" };
        return Ok(Outcome::Unchanged {
            service_id: id.into(),
            scale: current,
            bound,
        });
    }
    if !dry_run {
        match app.cattle.set_scale(Auth::Service, project, id, to).await {
            Ok(svc) => app.scales.insert(key, svc.scale.unwrap_or(to)).await,
            Err(e) => {
                // Whatever happened, the cached scale can no longer be trusted.
                app.scales.invalidate(&key).await;
                return Err(match e {
                    CattleError::Rejected { status: 404, .. } => gone(id),
                    e => e.into(),
                });
            }
        }
    }
    Ok(Outcome::Scaled {
        service_id: id.into(),
        from: current,
        to,
    })
}

/// Rancher's creation rules for scaleService, checked with the caller's credentials.
pub async fn validate(
    cattle: &Cattle,
    auth: Auth<'_>,
    project: &str,
    cfg: &ScaleServiceConfig,
) -> Result<(), Error> {
    let id = cfg.service_id.as_str();
    let invalid = |m: String| Error::invalid(400, "InvalidReference", "serviceId", m);
    let svc = cattle
        .get_service(auth, project, id)
        .await
        .map_err(Error::from_caller)?
        .filter(|s| s.removed.is_none())
        .ok_or_else(|| invalid(format!("Invalid service {id}")))?;
    let kind = svc.kind.as_deref().unwrap_or("");
    if !SCALABLE.contains(&kind) {
        return Err(invalid(format!(
            "Can only create webhooks for Services. The supplied service is of type {kind}"
        )));
    }
    let launch = svc.launch_config.as_ref();
    let global = launch
        .and_then(|l| l.labels.as_ref())
        .and_then(|l| l.get("io.rancher.scheduler.global"))
        .is_some_and(|v| v == "true");
    if global {
        return Err(invalid(format!(
            "Cannot create webhook for global service {id}"
        )));
    }
    let image = launch.and_then(|l| l.image_uuid.as_deref()).unwrap_or("");
    if image.is_empty() || image == "docker:rancher/none" {
        return Err(invalid(format!(
            "Cannot create webhook for service with no image {id}"
        )));
    }
    Ok(())
}

/// Reads the service and checks it can still be scaled.
async fn current_scale(app: &App, project: &str, id: &str) -> Result<i64, Error> {
    let svc = app
        .cattle
        .get_service(Auth::Service, project, id)
        .await?
        .ok_or_else(|| gone(id))?;
    if svc.removed.is_some()
        || matches!(
            svc.state.as_deref(),
            Some("removed" | "removing" | "purged")
        )
    {
        return Err(gone(id));
    }
    let kind = svc.kind.as_deref().unwrap_or("");
    if !SCALABLE.contains(&kind) {
        return Err(Error::Unprocessable(format!(
            "service {id} is a {kind}, which cannot be scaled"
        )));
    }
    svc.scale
        .ok_or_else(|| Error::Unprocessable(format!("service {id} has no scale")))
}

fn gone(id: &str) -> Error {
    Error::Gone(format!("service {id} no longer exists"))
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
