//! scaleService (docs/triggers.md, "scaleService"): current scale ± amount, clamped to
//! [min, max] and never against the action's direction. One change at a time per service in
//! this replica, so concurrent triggers never lose an update; the scale is cached briefly
//! and refreshed from every Cattle answer, so a burst costs one write per trigger and no
//! extra reads.


use serde_json::{json, Map, Value};

use super::fields::{field, known_only, non_empty, read};
use super::scale::{Bounds, ScaleAction};
use super::{Cx, Kind, OnResolved, Outcome, Parse, Policy, Report, Settings, Step};
use crate::cattle::{Auth, Cattle, CattleError};
use crate::codec::{DecodeError, Reader, Writer};
use crate::error::Error;
use crate::keyed::KeyedState;

/// Service kinds whose scale can be set (Rancher's rule).
const SCALABLE: [&str; 2] = ["service", "loadBalancerService"];

pub struct ScaleService;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScaleServiceConfig {
    pub service_id: String,
    pub action: ScaleAction,
    pub amount: u32,
    pub min: u32,
    pub max: u32,
    pub cooldown_seconds: u32,
    pub on_resolved: OnResolved,
}

impl ScaleServiceConfig {
    fn new(service_id: String, b: Bounds) -> Self {
        Self {
            service_id,
            action: b.action,
            amount: b.amount,
            min: b.min,
            max: b.max,
            cooldown_seconds: b.cooldown_seconds,
            on_resolved: b.on_resolved,
        }
    }

    /// The fields both scale drivers share.
    pub fn bounds(&self) -> Bounds {
        Bounds {
            action: self.action,
            amount: self.amount,
            min: self.min,
            max: self.max,
            cooldown_seconds: self.cooldown_seconds,
            on_resolved: self.on_resolved,
        }
    }
}

/// This replica's view of the services it scales.
pub struct State {
    /// (project, service id) → scale, refreshed from every Cattle answer.
    scales: moka::future::Cache<(String, String), i64>,
    /// Per-service locks: concurrent changes of one service run one after another.
    locks: KeyedState<(String, String), ()>,
}

impl State {
    /// Services being changed right now.
    pub fn in_use(&self) -> usize {
        self.locks.in_use()
    }
}

mod wire {
    use serde::Deserialize;
    use serde_json::{Map, Value};

    use crate::drivers::scale::BoundsWire;

    /// `scaleServiceConfig` as Rancher's UI sends it. Integers refuse floats
    /// (`amount: 1.5` is a 400, as in Rancher).
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ScaleServiceWire {
        pub service_id: Option<String>,
        #[serde(flatten)]
        pub bounds: BoundsWire,
        /// The nested `type` Rancher's UI sends; carries nothing.
        #[serde(rename = "type", default)]
        pub _type: Option<Value>,
        /// Fields no Rancher version defined.
        #[serde(flatten)]
        pub unknown: Map<String, Value>,
    }
}

impl Kind for ScaleService {
    const NAME: &'static str = "scaleService";
    type Config = ScaleServiceConfig;
    type State = State;

    fn state(settings: &Settings) -> State {
        State {
            scales: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(settings.scale_ttl)
                .build(),
            locks: KeyedState::locks(),
        }
    }

    fn parse(config: &Value, _project: &str, mode: Parse) -> Result<ScaleServiceConfig, Error> {
        let w: wire::ScaleServiceWire = read(config)?;
        known_only(&w.unknown, mode)?;
        let mut service_id = None;
        let bounds = w.bounds.check(|| {
            service_id = Some(non_empty(
                w.service_id.as_deref(),
                "serviceId",
                "ServiceId not provided",
            )?);
            Ok(())
        })?;
        Ok(ScaleServiceConfig::new(
            service_id.unwrap_or_default(),
            bounds,
        ))
    }

    fn to_json(c: &ScaleServiceConfig) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("serviceId".into(), c.service_id.clone().into());
        c.bounds().to_json(&mut m);
        m
    }

    fn schema_fields() -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(
            "serviceId".into(),
            field("string", json!({"required": true})),
        );
        Bounds::schema_fields(&mut m);
        m
    }

    fn check(c: &ScaleServiceConfig) -> Result<(), &'static str> {
        if c.service_id.is_empty() {
            return Err("serviceId is empty");
        }
        c.bounds().check()
    }

    fn encode(c: &ScaleServiceConfig, w: &mut Writer<'_>) {
        w.str(&c.service_id);
        let b = c.bounds();
        b.encode_action(w);
        b.encode_policy(w);
    }

    fn decode(r: &mut Reader<'_>) -> Result<ScaleServiceConfig, DecodeError> {
        let service_id = r.string()?;
        let bounds = Bounds::decode(r, |_| Ok(()))?;
        Ok(ScaleServiceConfig::new(service_id, bounds))
    }

    fn policy(c: &ScaleServiceConfig) -> Option<Policy> {
        Some(c.bounds().policy())
    }

    /// Rancher's rules: the service exists and is not removed, is a service or a load
    /// balancer, is not global, and has an image.
    async fn validate(
        cattle: &Cattle,
        auth: Auth<'_>,
        project: &str,
        c: &ScaleServiceConfig,
    ) -> Result<(), Error> {
        let id = c.service_id.as_str();
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

    async fn execute(
        cx: &Cx<'_, State>,
        c: &ScaleServiceConfig,
        step: Step,
        dry_run: bool,
    ) -> Result<Outcome, Error> {
        let id = c.service_id.as_str();
        let key = (cx.project.to_owned(), id.to_owned());
        let lease = cx.state.locks.lease(&key);
        let _one_at_a_time = lease.lock().await;

        let current = match cx.state.scales.get(&key).await {
            Some(s) => {
                crate::metrics::count_cache("scale", true);
                s
            }
            None => {
                crate::metrics::count_cache("scale", false);
                let s = current_scale(cx.cattle, cx.project, id).await?;
                cx.state.scales.insert(key.clone(), s).await;
                s
            }
        };
        let bounds = c.bounds();
        let to = bounds.target(current, step);
        if to == current {
            let (up, _) = bounds.direction(step);
            let bound = if up { "maximum" } else { "minimum" };
            return Ok(Outcome::Acted(Report {
                outcome: "unchanged",
                message: format!("service {id} is already at its {bound} scale {current}"),
                details: details(id, current, current, Some(bound)),
                from: Some(current),
                to: Some(current),
                change: 0,
                reply: None,
            }));
        }
        if !dry_run {
            match cx
                .cattle
                .set_scale(Auth::Service, cx.project, id, to)
                .await
            {
                Ok(svc) => cx.state.scales.insert(key, svc.scale.unwrap_or(to)).await,
                Err(e) => {
                    // Whatever happened, the cached scale can no longer be trusted.
                    cx.state.scales.invalidate(&key).await;
                    return Err(match e {
                        CattleError::Rejected { status: 404, .. } => gone(id),
                        e => e.into(),
                    });
                }
            }
        }
        let message = if dry_run {
            format!("would scale service {id} from {current} to {to}")
        } else {
            format!("scaled service {id} from {current} to {to}")
        };
        Ok(Outcome::Acted(Report {
            outcome: "scaled",
            message,
            details: details(id, current, to, None),
            from: Some(current),
            to: Some(to),
            change: to - current,
            reply: None,
        }))
    }
}

fn details(id: &str, from: i64, to: i64, bound: Option<&str>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("serviceId".into(), id.into());
    m.insert("from".into(), from.into());
    m.insert("to".into(), to.into());
    if let Some(b) = bound {
        m.insert("bound".into(), b.into());
    }
    m
}

/// Reads the service and checks it can still be scaled.
async fn current_scale(cattle: &Cattle, project: &str, id: &str) -> Result<i64, Error> {
    let svc = cattle
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
    use super::*;

    fn parse(v: Value) -> Result<ScaleServiceConfig, Error> {
        ScaleService::parse(&v, "1a5", Parse::Create)
    }

    #[test]
    fn fields_are_checked_in_rancher_order() {
        let good = json!({"serviceId": "1s1", "action": "up", "amount": 1, "min": 1, "max": 4});
        let c = parse(good.clone()).expect("valid");
        assert_eq!(
            (c.service_id.as_str(), c.action, c.max),
            ("1s1", ScaleAction::Up, 4)
        );
        assert_eq!(c.on_resolved, OnResolved::Ignore);
        let with = |k: &str, v: Value| {
            let mut c = good.clone();
            if v.is_null() {
                c.as_object_mut().map(|m| m.remove(k));
            } else {
                c[k] = v;
            }
            c
        };
        // (field changed, new value, field named in the error)
        let cases = [
            ("action", Value::Null, "action"),
            ("action", json!("sideways"), "action"),
            ("amount", json!(0), "amount"),
            ("serviceId", json!(""), "serviceId"),
            ("min", json!(-1), "min"),
            ("max", json!(-4), "max"),
            ("min", json!(4), "max"),
            ("onResolved", json!("later"), "onResolved"),
            ("cooldownSeconds", json!(-5), "cooldownSeconds"),
            ("cooldown", json!(300), "cooldown"),
        ];
        for (k, v, field) in cases {
            let e = parse(with(k, v.clone())).expect_err(k);
            assert_eq!(e.parts().3, Some(field), "{k}={v}: {e}");
        }
        assert_eq!(
            parse(with("amount", json!(1.5))).map(|_| ()).err().map(|e| e.status().as_u16()),
            Some(400)
        );
        // Scaling to zero is allowed; a stored config may carry fields hookgate ignores.
        assert_eq!(parse(with("min", json!(0))).map(|c| c.min).ok(), Some(0));
        let stored = ScaleService::parse(&with("somethingOld", json!(1)), "1a5", Parse::Stored);
        assert!(stored.is_ok());
    }

    #[test]
    fn json_round_trips() {
        let c = parse(json!({"serviceId": "1s1", "action": "down", "amount": 2, "min": 0,
            "max": 9, "cooldownSeconds": 60, "onResolved": "reverse", "type": "scaleService"}))
        .expect("valid");
        let back = parse(Value::Object(ScaleService::to_json(&c))).expect("round trip");
        assert_eq!(back, c);
    }
}
