//! scaleService (docs/triggers.md, "scaleService"): current scale ± amount, clamped to
//! [min, max] and never against the action's direction. Concurrent steps of one service
//! share one Cattle write (group commit, `batch`), each applied in arrival order with its
//! own clamp, so no update is lost; the scale is trusted from the cache for `--scale-ttl-ms`
//! and refreshed from every Cattle answer, so a busy service is written without reads.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tokio::sync::oneshot;

use super::fields::{field, known_only, non_empty, read};
use super::scale::{Bounds, ScaleAction};
use super::{Cx, Details, Kind, OnResolved, Outcome, Parse, Policy, Report, Settings, Step};
use crate::cattle::{Auth, Cattle, CattleError};
use crate::codec::{DecodeError, Reader, Writer};
use crate::error::Error;
use crate::fresh::FreshMap;
use crate::pair::Pair;

pub mod batch;

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

/// The most steps one write carries.
const MAX_BATCH: usize = 256;

/// (project, service id), owned by the cache and the queues; looked up as a borrowed
/// [`Pair`], so a trigger that only reads allocates no key.
type Key = (String, String);

/// This replica's view of the services it scales. Cheap to clone.
#[derive(Clone)]
pub struct State(Arc<Shared>);

struct Shared {
    /// (project, service id) → scale, refreshed from every Cattle answer and trusted for
    /// `--scale-ttl-ms`.
    /// Only read and written, never loaded through (so nothing to coalesce); read by every
    /// trigger: a [`FreshMap`], not a general cache. Its keys come from sealed tokens.
    scales: FreshMap<Key, i64>,
    /// How long a scale read or written is trusted (`--scale-ttl-ms`).
    ttl: Duration,
    /// Steps waiting for their service's batch (group commit).
    queues: Mutex<batch::Queues<Key, Waiter>>,
}

/// A trigger waiting for its step's batch.
struct Waiter {
    step: batch::Step,
    done: oneshot::Sender<Result<(i64, i64), Failure>>,
}

/// Why a batch failed; every trigger of it gets its own error from this.
#[derive(Clone, Debug)]
enum Failure {
    Cattle(CattleError),
    Gone,
    NotScalable(String),
    NoScale,
}

impl Failure {
    fn error(self, id: &str) -> Error {
        match self {
            Failure::Cattle(CattleError::Rejected { status: 404, .. }) | Failure::Gone => gone(id),
            Failure::Cattle(e) => e.into(),
            Failure::NotScalable(kind) => Error::Unprocessable(format!(
                "service {id} is a {kind}, which cannot be scaled"
            )),
            Failure::NoScale => Error::Unprocessable(format!("service {id} has no scale")),
        }
    }
}

impl State {
    /// Services with steps in flight right now.
    pub fn in_use(&self) -> usize {
        self.0
            .queues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// The cached scale, while it is trusted (a hit is counted, not a miss: a miss is for
    /// whoever reads Cattle next).
    fn trusted(&self, key: &dyn Pair<str>) -> Option<i64> {
        let s = self.0.scales.get(key, Instant::now())?;
        crate::metrics::count_cache("scale", true);
        Some(s)
    }

    /// Trusts `scale` as the service's for the next `--scale-ttl-ms`.
    fn remember(&self, key: Key, scale: i64) {
        let until = crate::fresh::until(Instant::now(), self.0.ttl);
        self.0.scales.insert(key, scale, until);
    }

    /// The service's scale: the cached one while it is trusted, else read from Cattle. Only
    /// the service's writer may `remember` what it read: a read by anyone else can finish
    /// after a write it started before, and caching it would put an older scale over a
    /// newer one — and the next batch would write from it, losing steps.
    async fn current(
        &self,
        cattle: &Cattle,
        key: &dyn Pair<str>,
        remember: bool,
    ) -> Result<i64, Failure> {
        if let Some(s) = self.trusted(key) {
            return Ok(s);
        }
        crate::metrics::count_cache("scale", false);
        let (project, id) = key.parts();
        let s = current_scale(cattle, project, id).await?;
        if remember {
            self.remember((project.to_owned(), id.to_owned()), s);
        }
        Ok(s)
    }
}

/// Writes the batches of one service until none waits: reads the scale once if the cached
/// one is no longer trusted, applies every step in arrival order with its own clamp, writes
/// once, answers each trigger with its own from → to. Runs in a task of its own, so no
/// sender hanging up can stop it half-way.
async fn write_batches(cattle: Cattle, state: State, key: Key) {
    let mut writing = Writing {
        state: &state,
        key: &key,
        done: false,
    };
    let mut answered = 0;
    loop {
        // Let the requests that are ready to run join first: woken by Cattle's answer, this
        // task would otherwise run ahead of them and write batches of whoever had joined.
        // While fewer steps wait than the last batch answered (its senders may be about to
        // send again), yield a few more times.
        for _ in 0..4 {
            tokio::task::yield_now().await;
            if batch::waiting(&state.0.queues, &key) >= answered {
                break;
            }
        }
        let Some(batch) = batch::next(&state.0.queues, &key, MAX_BATCH) else {
            writing.done = true;
            break;
        };
        crate::metrics::observe_batch(batch.len());
        let result = async {
            let current = state.current(&cattle, &key, true).await?;
            let (moves, last) = batch::apply(current, batch.iter().map(|w| &w.step));
            if last != current {
                match cattle.set_scale(Auth::Service, &key.0, &key.1, last).await {
                    Ok(svc) => state.remember(key.clone(), svc.scale.unwrap_or(last)),
                    Err(e) => return Err(Failure::Cattle(e)),
                }
            }
            Ok(moves)
        }
        .await;
        match result {
            Ok(moves) => {
                answered = batch.len();
                for (w, m) in batch.into_iter().zip(moves) {
                    let _ = w.done.send(Ok(m));
                }
            }
            Err(f) => {
                // Whatever happened, the cached scale can no longer be trusted.
                state.0.scales.invalidate(&key);
                for w in batch {
                    let _ = w.done.send(Err(f.clone()));
                }
            }
        }
    }
}

/// A writer at work on its service; dropped before `batch::next` said nothing is left (a
/// panic, a cancelled task), it gives the service up (`batch::abandon`), so that no step
/// waits for good on a writer that is gone, and stops trusting the cached scale.
struct Writing<'a> {
    state: &'a State,
    key: &'a Key,
    done: bool,
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        if !self.done {
            // Its last write may or may not have reached Cattle: the next writer reads.
            self.state.0.scales.invalidate(self.key);
            let dropped = batch::abandon(&self.state.0.queues, self.key);
            tracing::error!(
                service_id = %self.key.1,
                dropped,
                "a scale writer ended early: its waiting steps were answered with an error"
            );
        }
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
        State(Arc::new(Shared {
            scales: FreshMap::new(100_000),
            ttl: settings.scale_ttl,
            queues: Mutex::new(batch::Queues::default()),
        }))
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

    fn target(c: &ScaleServiceConfig) -> Cow<'_, str> {
        Cow::Borrowed(&c.service_id)
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
        let name = (cx.project, id);
        let key: &dyn Pair<str> = &name;
        let step = batch_step(c, step);
        let (from, to) = if dry_run {
            // A dry run decides from what hookgate believes now and joins no batch. (Boxed:
            // a Cattle read's future would make every trigger's future larger.)
            let current = Box::pin(cx.state.current(cx.cattle, key, false))
                .await
                .map_err(|f| f.error(id))?;
            (current, step.after(current))
        } else {
            // `at_once` said no just now: the step joins its service's batch.
            let (done, answer) = oneshot::channel();
            let key: Key = (cx.project.to_owned(), id.to_owned());
            if batch::join(&cx.state.0.queues, &key, step.up, Waiter { step, done }) {
                tokio::spawn(write_batches(cx.cattle.clone(), cx.state.clone(), key));
            }
            answer
                .await
                .map_err(|_| Error::Internal("the batch ended without an answer".into()))?
                .map_err(|f| f.error(id))?
        };
        if to == from {
            return Ok(unchanged(id, from, step.up));
        }
        let message = if dry_run {
            format!("would scale service {id} from {from} to {to}")
        } else {
            format!("scaled service {id} from {from} to {to}")
        };
        Ok(Outcome::Acted(Report {
            from: Some(from),
            to: Some(to),
            change: to - from,
            ..Report::new("scaled", message, details(id, from, to, None))
        }))
    }

    /// A trusted scale this step cannot move, and nothing in flight that could bring it back
    /// within the step's reach ([`batch::at_once`]): the step is answered first, without a
    /// batch.
    fn at_once(
        state: &State,
        project: &str,
        c: &ScaleServiceConfig,
        step: Step,
    ) -> Option<Outcome> {
        let step = batch_step(c, step);
        let name = (project, c.service_id.as_str());
        let key: &dyn Pair<str> = &name;
        let scale = batch::at_once(&state.0.queues, key, &step, || state.trusted(key))?;
        Some(unchanged(&c.service_id, scale, step.up))
    }
}

/// The step a trigger takes, with its receiver's clamp.
fn batch_step(c: &ScaleServiceConfig, step: Step) -> batch::Step {
    let (up, amount) = c.bounds().direction(step);
    batch::Step {
        up,
        amount,
        min: c.min,
        max: c.max,
    }
}

/// The answer to a step that left the service at `scale`, its bound in the step's direction.
fn unchanged(id: &str, scale: i64, up: bool) -> Outcome {
    let bound = if up { "maximum" } else { "minimum" };
    Outcome::Acted(Report {
        from: Some(scale),
        to: Some(scale),
        ..Report::new(
            super::UNCHANGED,
            // Every trigger at a bound is answered this: built without `format!`'s machinery.
            [
                "service ",
                id,
                " is already at its ",
                bound,
                " scale ",
                itoa::Buffer::new().format(scale),
            ]
            .concat(),
            details(id, scale, scale, Some(bound)),
        )
    })
}

fn details(id: &str, from: i64, to: i64, bound: Option<&str>) -> Details {
    let mut d = Vec::with_capacity(4);
    d.push(("serviceId", id.into()));
    d.push(("from", from.into()));
    d.push(("to", to.into()));
    if let Some(b) = bound {
        d.push(("bound", b.into()));
    }
    d
}

/// Reads the service and checks it can still be scaled.
async fn current_scale(cattle: &Cattle, project: &str, id: &str) -> Result<i64, Failure> {
    let svc = cattle
        .get_service(Auth::Service, project, id)
        .await
        .map_err(Failure::Cattle)?
        .ok_or(Failure::Gone)?;
    if svc.removed.is_some()
        || matches!(
            svc.state.as_deref(),
            Some("removed" | "removing" | "purged")
        )
    {
        return Err(Failure::Gone);
    }
    let kind = svc.kind.as_deref().unwrap_or("");
    if !SCALABLE.contains(&kind) {
        return Err(Failure::NotScalable(kind.to_owned()));
    }
    svc.scale.ok_or(Failure::NoScale)
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
    fn a_step_at_its_bound_says_which_bound() {
        for (up, bound, scale) in [(true, "maximum", 12), (false, "minimum", -3)] {
            let Outcome::Acted(r) = unchanged("1s7", scale, up) else {
                panic!("not a report")
            };
            assert_eq!(
                r.message,
                format!("service 1s7 is already at its {bound} scale {scale}")
            );
            assert_eq!(
                (r.outcome, r.from, r.to, r.change),
                (super::super::UNCHANGED, Some(scale), Some(scale), 0)
            );
        }
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

    /// A writer that ends early (here its task is aborted while Cattle has not answered its
    /// write) gives its service up: every step of it, in the batch being written or still
    /// waiting, learns that it got no answer, the cached scale is no longer trusted, and the
    /// service's next step starts a writer of its own.
    #[tokio::test]
    async fn a_writer_that_ends_early_leaves_no_step_waiting_for_good() {
        use crate::cattle::CattleConfig;
        use std::time::Duration;

        // A Cattle that takes the connection and never answers.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let cattle = Cattle::new(&CattleConfig {
            url: format!("http://{}", silent.local_addr().expect("addr")),
            access_key: "a".into(),
            secret_key: "s".into(),
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
            extra_roots_pem: None,
        })
        .expect("client");
        let state = ScaleService::state(&Settings::default());
        let key: Key = ("1a5".into(), "1s1".into());
        let step = batch::Step {
            up: true,
            amount: 1,
            min: 0,
            max: 10,
        };
        let waiter = || {
            let (done, answer) = oneshot::channel();
            (Waiter { step, done }, answer)
        };
        // The scale is trusted: the writer takes its batch and writes 3 → 4 at once.
        state.remember(key.clone(), 3);
        let (first, first_answer) = waiter();
        assert!(batch::join(&state.0.queues, &key, true, first));
        let writer = tokio::spawn(write_batches(cattle, state.clone(), key.clone()));
        let _held = tokio::time::timeout(Duration::from_secs(10), silent.accept())
            .await
            .expect("the writer calls Cattle")
            .expect("accept");
        let (second, second_answer) = waiter();
        assert!(!batch::join(&state.0.queues, &key, true, second));
        writer.abort();
        assert!(writer.await.expect_err("aborted").is_cancelled());
        for answer in [first_answer, second_answer] {
            let answered = tokio::time::timeout(Duration::from_secs(5), answer).await;
            assert!(
                matches!(answered, Ok(Err(_))),
                "a step of the writer that ended must learn it got no answer"
            );
        }
        assert_eq!(state.in_use(), 0);
        // Whether that write reached Cattle is unknown: the scale is no longer trusted.
        assert_eq!(state.trusted(&key), None);
        let (third, _) = waiter();
        assert!(
            batch::join(&state.0.queues, &key, true, third),
            "the next step starts a new writer"
        );
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
