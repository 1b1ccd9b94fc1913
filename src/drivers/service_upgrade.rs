//! serviceUpgrade (docs/triggers.md, "serviceUpgrade"): a registry says an image was
//! pushed; the services whose labels match the selector, whose tag rule matches the pushed
//! tag, and whose current image is of the pushed repository are upgraded to it.
//!
//! The answer comes at once and lists what will be upgraded and what was skipped and why;
//! the upgrades run in the background, one task per service, bounded by a timeout, logged
//! and counted. A service mid-upgrade is finished first. A push for a service whose upgrade
//! is still running waits for it, and only the newest waiting push is applied.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::fields::{bad, count, field, known_only, missing, non_empty, read};
use super::{Cx, Kind, Labels, Outcome, Parse, Policy, Report, Settings, Step};
use crate::cattle::wire::{InServiceStrategy, LaunchConfig, Service, UpgradeRequest};
use crate::cattle::{Auth, Cattle, CattleError};
use crate::codec::{DecodeError, Reader, Writer};
use crate::error::Error;
use crate::receiver::ReceiverId;
use crate::registry::{self, ImageRef, Pushed};

pub struct ServiceUpgrade;

/// Registry payload shapes serviceUpgrade understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PayloadFormat {
    Dockerhub = 0,
    Alicloud = 1,
    Azure = 2,
    Quay = 3,
    Harbor = 4,
    /// The Docker distribution (registry:2) notification envelope.
    Registry = 5,
}

impl PayloadFormat {
    /// In the order of their discriminants (the token's encoding).
    const ALL: [PayloadFormat; 6] = [
        PayloadFormat::Dockerhub,
        PayloadFormat::Alicloud,
        PayloadFormat::Azure,
        PayloadFormat::Quay,
        PayloadFormat::Harbor,
        PayloadFormat::Registry,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PayloadFormat::Dockerhub => "dockerhub",
            PayloadFormat::Alicloud => "alicloud",
            PayloadFormat::Azure => "azure",
            PayloadFormat::Quay => "quay",
            PayloadFormat::Harbor => "harbor",
            PayloadFormat::Registry => "registry",
        }
    }
}

/// Alibaba registry endpoint flavour (Rancher 1.6's `addressType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum AddressType {
    Registry = 0,
    RegistryInternal = 1,
    RegistryVpc = 2,
}

impl AddressType {
    const ALL: [AddressType; 3] = [
        AddressType::Registry,
        AddressType::RegistryInternal,
        AddressType::RegistryVpc,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AddressType::Registry => "registry",
            AddressType::RegistryInternal => "registry-internal",
            AddressType::RegistryVpc => "registry-vpc",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceUpgradeConfig {
    /// Every pair must be on the service (keys and values case-insensitively; an empty
    /// value matches any value).
    pub service_selector: Labels,
    /// The pushed tag that upgrades (exact, Rancher's rule).
    pub tag: String,
    /// hookgate's addition: a glob (`*`, `?`) that also upgrades when it matches.
    pub tag_pattern: Option<String>,
    pub payload_format: PayloadFormat,
    pub address_type: AddressType,
    pub batch_size: u32,
    /// Seconds, despite the name: Rancher's UI labels it so and its service multiplied by
    /// 1000.
    pub interval_millis: u32,
    pub start_first: bool,
}

impl ServiceUpgradeConfig {
    fn format(&self) -> registry::Format {
        match self.payload_format {
            PayloadFormat::Dockerhub => registry::Format::Dockerhub,
            PayloadFormat::Alicloud => registry::Format::Alicloud {
                address: self.address_type.name(),
            },
            PayloadFormat::Azure => registry::Format::Azure,
            PayloadFormat::Quay => registry::Format::Quay,
            PayloadFormat::Harbor => registry::Format::Harbor,
            PayloadFormat::Registry => registry::Format::Registry,
        }
    }

    fn tag_matches(&self, tag: &str) -> bool {
        tag == self.tag
            || self
                .tag_pattern
                .as_deref()
                .is_some_and(|p| registry::glob(p, tag))
    }

    /// Whether labels carry every selector pair.
    fn labels_match(&self, labels: Option<&Labels>) -> bool {
        self.service_selector.iter().all(|(k, v)| {
            labels.into_iter().flatten().any(|(lk, lv)| {
                lk.eq_ignore_ascii_case(k) && (v.is_empty() || lv.eq_ignore_ascii_case(v))
            })
        })
    }
}

mod wire {
    use serde::Deserialize;
    use serde_json::{Map, Value};

    use crate::drivers::Labels;

    /// `serviceUpgradeConfig` as Rancher's UI sends it.
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ServiceUpgradeWire {
        pub service_selector: Option<Labels>,
        pub tag: Option<String>,
        pub tag_pattern: Option<String>,
        pub payload_format: Option<String>,
        pub address_type: Option<String>,
        pub batch_size: Option<i64>,
        pub interval_millis: Option<i64>,
        pub start_first: Option<bool>,
        /// The nested `type` Rancher's UI sends; carries nothing.
        #[serde(rename = "type", default)]
        pub _type: Option<Value>,
        /// Fields no Rancher version defined.
        #[serde(flatten)]
        pub unknown: Map<String, Value>,
    }
}

/// A Docker tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}` (Rancher's rule).
pub fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b.iter().all(|&c| word(c) || c == b'.' || c == b'-')
}

/// A tag glob: a tag's characters plus `*` and `?`.
fn valid_tag_pattern(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 128
        && p.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"_.-*?".contains(&c))
}

/// The label that makes Cattle pull the new image even when the tag is not new.
const PULL_ALWAYS: (&str, &str) = ("io.rancher.container.pull_image", "always");
/// States a service can be upgraded from (after finishing an upgrade in progress).
const UPGRADABLE: [&str; 8] = [
    "active",
    "activating",
    "inactive",
    "updating-active",
    "updating-inactive",
    "upgrading",
    "upgraded",
    "finishing-upgrade",
];

impl Kind for ServiceUpgrade {
    const NAME: &'static str = "serviceUpgrade";
    type Config = ServiceUpgradeConfig;
    type State = State;

    fn state(settings: &Settings) -> State {
        State(Arc::new(Jobs {
            slots: Mutex::new(HashMap::new()),
            poll: settings.upgrade_poll,
            timeout: settings.upgrade_timeout,
        }))
    }

    fn parse(config: &Value, _project: &str, mode: Parse) -> Result<ServiceUpgradeConfig, Error> {
        let w: wire::ServiceUpgradeWire = read(config)?;
        known_only(&w.unknown, mode)?;
        let service_selector = w
            .service_selector
            .ok_or_else(|| missing("serviceSelector", "Service selectors not provided"))?;
        let tag = non_empty(w.tag.as_deref(), "tag", "Tag not provided")?;
        if !valid_tag(&tag) {
            return Err(bad("tag", format!("Invalid tag {tag}")));
        }
        let tag_pattern = w.tag_pattern.filter(|p| !p.is_empty());
        if tag_pattern.as_deref().is_some_and(|p| !valid_tag_pattern(p)) {
            return Err(bad(
                "tagPattern",
                "tagPattern is a tag with * and ? wildcards, at most 128 characters",
            ));
        }
        let payload_format = match w.payload_format.as_deref() {
            None | Some("") => PayloadFormat::Dockerhub,
            Some(name) => PayloadFormat::ALL
                .into_iter()
                .find(|f| f.name() == name)
                .ok_or_else(|| bad("payloadFormat", format!("Invalid payload format {name}")))?,
        };
        let address_type = match w.address_type.as_deref() {
            None | Some("") => AddressType::Registry,
            Some(name) => AddressType::ALL
                .into_iter()
                .find(|a| a.name() == name)
                .ok_or_else(|| bad("addressType", format!("Invalid address type {name}")))?,
        };
        Ok(ServiceUpgradeConfig {
            service_selector,
            tag,
            tag_pattern,
            payload_format,
            address_type,
            // Absent, they take the schema's defaults (what Rancher's UI always sent); a value
            // below 1 is refused as Rancher did.
            batch_size: count(
                w.batch_size.or(Some(1)),
                "batchSize",
                1,
                "Batch size for upgrade",
            )?,
            interval_millis: count(
                w.interval_millis.or(Some(2)),
                "intervalMillis",
                1,
                "Batch interval for upgrade",
            )?,
            start_first: w.start_first.unwrap_or(false),
        })
    }

    fn to_json(c: &ServiceUpgradeConfig) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("serviceSelector".into(), json!(c.service_selector));
        m.insert("tag".into(), c.tag.clone().into());
        if let Some(p) = &c.tag_pattern {
            m.insert("tagPattern".into(), p.clone().into());
        }
        m.insert("payloadFormat".into(), c.payload_format.name().into());
        m.insert("addressType".into(), c.address_type.name().into());
        m.insert("batchSize".into(), c.batch_size.into());
        m.insert("intervalMillis".into(), c.interval_millis.into());
        m.insert("startFirst".into(), c.start_first.into());
        m
    }

    fn schema_fields() -> Map<String, Value> {
        let formats: Vec<&str> = PayloadFormat::ALL.iter().map(|f| f.name()).collect();
        let addresses: Vec<&str> = AddressType::ALL.iter().map(|a| a.name()).collect();
        let fields = [
            (
                "serviceSelector",
                field("map[string]", json!({"required": true})),
            ),
            ("tag", field("string", json!({"required": true}))),
            (
                "tagPattern",
                field(
                    "string",
                    json!({"description": "also upgrade on tags matching this glob (* and ?)"}),
                ),
            ),
            (
                "payloadFormat",
                field("enum", json!({"default": "dockerhub", "options": formats})),
            ),
            (
                "addressType",
                field("enum", json!({"default": "registry", "options": addresses})),
            ),
            ("batchSize", field("int", json!({"default": 1, "min": 1}))),
            (
                "intervalMillis",
                field(
                    "int",
                    json!({"default": 2, "min": 1,
                        "description": "seconds between batches (the name is Rancher's)"}),
                ),
            ),
            ("startFirst", field("boolean", json!({"default": false}))),
            ("type", field("string", json!({}))),
        ];
        fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    fn check(c: &ServiceUpgradeConfig) -> Result<(), &'static str> {
        if c.tag.is_empty() {
            return Err("tag is empty");
        }
        if c.batch_size == 0 || c.interval_millis == 0 {
            return Err("batchSize and intervalMillis must be greater than 0");
        }
        Ok(())
    }

    /// `tagPattern` came after tokens were in the wild: it is appended only when set (a `1`
    /// and the pattern), so older tokens still open and each config has one encoding.
    fn encode(c: &ServiceUpgradeConfig, w: &mut Writer<'_>) {
        w.map(&c.service_selector);
        w.str(&c.tag);
        w.byte(c.payload_format as u8);
        w.byte(c.address_type as u8);
        w.u32(c.batch_size);
        w.u32(c.interval_millis);
        w.bool(c.start_first);
        if let Some(p) = &c.tag_pattern {
            w.byte(1);
            w.str(p);
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<ServiceUpgradeConfig, DecodeError> {
        let mut c = ServiceUpgradeConfig {
            service_selector: r.map()?,
            tag: r.string()?,
            tag_pattern: None,
            payload_format: r.pick("payloadFormat", &PayloadFormat::ALL)?,
            address_type: r.pick("addressType", &AddressType::ALL)?,
            batch_size: r.u32()?,
            interval_millis: r.u32()?,
            start_first: r.bool("startFirst")?,
        };
        if !r.is_empty() {
            match r.byte()? {
                1 => c.tag_pattern = Some(r.string()?),
                _ => return Err(DecodeError::InvalidValue("tagPattern tag")),
            }
        }
        Ok(c)
    }

    fn target(c: &ServiceUpgradeConfig) -> Cow<'_, str> {
        crate::drivers::labels_text(&c.service_selector).into()
    }

    fn policy(_: &ServiceUpgradeConfig) -> Option<Policy> {
        None
    }

    /// Rancher checked nothing against Cattle for this driver.
    async fn validate(
        _cattle: &Cattle,
        _auth: Auth<'_>,
        _project: &str,
        _c: &ServiceUpgradeConfig,
    ) -> Result<(), Error> {
        Ok(())
    }

    async fn execute(
        cx: &Cx<'_, State>,
        c: &ServiceUpgradeConfig,
        _step: Step,
        dry_run: bool,
    ) -> Result<Outcome, Error> {
        let pushes = registry::parse(cx.request.body, c.format())
            .map_err(|e| Error::BadRequest(e.to_string()))?;
        let services = cx
            .cattle
            .list_services(Auth::Service, cx.project, &[])
            .await?;
        let (plans, skipped) = plan(c, &pushes, &services);
        let upgrading: Vec<Value> = plans.iter().map(Plan::to_json).collect();
        let skipped_json: Vec<Value> = skipped.iter().map(Skip::to_json).collect();
        let pushed: Vec<String> = pushes
            .iter()
            .map(|p| format!("{}/{}:{}", p.registry, p.repository, p.tag.as_deref().unwrap_or("")))
            .collect();
        let details = vec![
            ("pushed", json!(pushed)),
            ("upgrading", Value::Array(upgrading)),
            ("skipped", Value::Array(skipped_json)),
        ];
        let n = plans.len();
        let (outcome, message) = match (n, dry_run) {
            (0, _) => (
                super::UNCHANGED,
                format!(
                    "no service to upgrade for this push ({} skipped)",
                    skipped.len()
                ),
            ),
            (_, true) => ("upgrading", format!("would upgrade {n} service(s)")),
            (_, false) => (
                "upgrading",
                format!("upgrading {n} service(s) in the background"),
            ),
        };
        if !dry_run {
            for plan in plans {
                cx.state.submit(
                    cx.cattle.clone(),
                    Job {
                        receiver: cx.receiver,
                        project: cx.project.to_owned(),
                        plan,
                        strategy: (c.batch_size, c.interval_millis, c.start_first),
                    },
                );
            }
        }
        Ok(Outcome::Acted(Report::new(outcome, message, details)))
    }
}

/// What one service will get: the new image for its primary container and for each
/// matching sidekick.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub service_id: String,
    pub name: String,
    /// The primary container's new image, when its labels and repository match.
    pub primary: Option<String>,
    /// (sidekick name, new image) for each matching sidekick.
    pub sidekicks: Vec<(String, String)>,
}

impl Plan {
    fn to_json(&self) -> Value {
        let sidekicks: Vec<Value> = self
            .sidekicks
            .iter()
            .map(|(n, i)| json!({"name": n, "image": i}))
            .collect();
        json!({"serviceId": self.service_id, "name": self.name, "image": self.primary,
               "sidekicks": sidekicks})
    }
}

/// A service whose labels match, skipped, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skip {
    pub service_id: String,
    pub name: String,
    /// `tag`, `repository`, `state` or `no launch config`.
    pub reason: &'static str,
    pub detail: String,
}

impl Skip {
    fn to_json(&self) -> Value {
        json!({"serviceId": self.service_id, "name": self.name, "reason": self.reason,
               "detail": self.detail})
    }
}

/// Decides, for every service of the project, whether this push upgrades it.
pub fn plan(
    c: &ServiceUpgradeConfig,
    pushes: &[Pushed],
    services: &[Service],
) -> (Vec<Plan>, Vec<Skip>) {
    // A pushed tag must be a Docker tag before it can match: it goes into an image reference.
    let tagged: Vec<(&Pushed, &str)> = pushes
        .iter()
        .filter_map(|p| {
            let tag = p.tag.as_deref().filter(|t| valid_tag(t) && c.tag_matches(t))?;
            Some((p, tag))
        })
        .collect();
    let (mut plans, mut skipped) = (Vec::new(), Vec::new());
    for svc in services.iter().filter(|s| s.removed.is_none()) {
        let name = svc.name.clone().unwrap_or_default();
        let skip = |reason, detail: String| Skip {
            service_id: svc.id.clone(),
            name: name.clone(),
            reason,
            detail,
        };
        // Aliases and external services have no containers, so no labels and no image.
        let Some(primary) = &svc.launch_config else {
            if c.labels_match(None) {
                skipped.push(skip(
                    "no launch config",
                    "the service runs no container".into(),
                ));
            }
            continue;
        };
        let sidekicks = svc.secondary_launch_configs.as_deref().unwrap_or_default();
        let matching: Vec<(Container, &LaunchConfig)> = std::iter::once((Container::Primary, primary))
            .chain(sidekicks.iter().map(|s| (Container::of(s, sidekicks), s)))
            .filter(|(_, lc)| c.labels_match(lc.labels.as_ref()))
            .collect();
        if matching.is_empty() {
            continue;
        }
        // Cattle matches sidekicks by name: one without a name of its own cannot be
        // upgraded alone, and is never mistaken for another container.
        if matching.iter().all(|(who, _)| *who == Container::Unnamed) {
            skipped.push(skip(
                "sidekick name",
                "the matching sidekicks have no name of their own".into(),
            ));
            continue;
        }
        if tagged.is_empty() {
            let pushed: Vec<&str> = pushes.iter().filter_map(|p| p.tag.as_deref()).collect();
            skipped.push(skip(
                "tag",
                format!("pushed tag {pushed:?} does not match {}", c.tag),
            ));
            continue;
        }
        let mut plan = Plan {
            service_id: svc.id.clone(),
            name: name.clone(),
            primary: None,
            sidekicks: Vec::new(),
        };
        let mut images = Vec::new();
        for (who, lc) in &matching {
            if *who == Container::Unnamed {
                continue;
            }
            let current = lc.image_uuid.as_deref().unwrap_or("");
            images.push(current.trim_start_matches("docker:").to_owned());
            let Some(image) = ImageRef::parse(current) else {
                continue;
            };
            let Some((_, tag)) = tagged
                .iter()
                .find(|(p, _)| p.repository() == image.repository())
            else {
                continue;
            };
            let new = image.with_tag(tag);
            match who {
                Container::Primary => plan.primary = Some(new),
                Container::Sidekick(n) => plan.sidekicks.push(((*n).to_owned(), new)),
                Container::Unnamed => {}
            }
        }
        if plan.primary.is_none() && plan.sidekicks.is_empty() {
            skipped.push(skip(
                "repository",
                format!("runs {images:?}, not the pushed repository"),
            ));
            continue;
        }
        let state = svc.state.as_deref().unwrap_or("");
        if !UPGRADABLE.contains(&state) {
            skipped.push(skip("state", format!("service is {state}")));
            continue;
        }
        plans.push(plan);
    }
    (plans, skipped)
}

fn sidekick_name(lc: &LaunchConfig) -> Option<&str> {
    lc.rest
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
}

/// Which container of a service a launch config is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Container<'a> {
    Primary,
    /// A sidekick with a name no other sidekick of the service has.
    Sidekick(&'a str),
    /// A sidekick without a name, or sharing it: Cattle could not tell which one to upgrade.
    Unnamed,
}

impl<'a> Container<'a> {
    fn of(lc: &'a LaunchConfig, all: &'a [LaunchConfig]) -> Self {
        match sidekick_name(lc) {
            Some(n) if all.iter().filter(|s| sidekick_name(s) == Some(n)).count() == 1 => {
                Container::Sidekick(n)
            }
            _ => Container::Unnamed,
        }
    }
}

/// One service's upgrade, as submitted.
struct Job {
    receiver: ReceiverId,
    project: String,
    plan: Plan,
    /// batchSize, intervalMillis (seconds), startFirst.
    strategy: (u32, u32, bool),
}

/// Upgrades running and waiting, per service.
pub struct State(Arc<Jobs>);

struct Jobs {
    /// (project, service) → the push waiting for the running upgrade to end (newest wins).
    slots: Mutex<HashMap<(String, String), Option<Job>>>,
    poll: Duration,
    timeout: Duration,
}

impl State {
    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Option<Job>>> {
        self.0.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs the job now, or after the service's running upgrade (replacing a waiting one).
    fn submit(&self, cattle: Cattle, job: Job) {
        let key = (job.project.clone(), job.plan.service_id.clone());
        {
            let mut slots = self.slots();
            if let Some(waiting) = slots.get_mut(&key) {
                tracing::info!(receiver_id = %job.receiver, project_id = %job.project,
                    service_id = %job.plan.service_id, "upgrade queued behind the one running");
                crate::metrics::count_upgrade("queued");
                *waiting = Some(job);
                return;
            }
            slots.insert(key.clone(), None);
        }
        let jobs = self.0.clone();
        tokio::spawn(async move {
            let mut job = job;
            loop {
                run(&cattle, &jobs, &job).await;
                let mut slots = jobs.slots.lock().unwrap_or_else(|p| p.into_inner());
                match slots.get_mut(&key).and_then(Option::take) {
                    Some(next) => job = next,
                    None => {
                        slots.remove(&key);
                        return;
                    }
                }
            }
        });
    }

    /// (project, service) of every upgrade running now.
    pub fn running(&self) -> Vec<(String, String)> {
        self.slots().keys().cloned().collect()
    }
}

/// Runs one upgrade to its end (or its timeout), logging every step and counting the
/// result. Cattle carries on with an upgrade it accepted even if hookgate stops watching.
async fn run(cattle: &Cattle, jobs: &Jobs, job: &Job) {
    let (rid, project, service) = (job.receiver, &job.project, &job.plan.service_id);
    tracing::info!(receiver_id = %rid, project_id = %project, service_id = %service,
        image = job.plan.primary.as_deref().unwrap_or("(sidekicks only)"), sidekicks = job.plan.sidekicks.len(), "upgrade starting");
    let result = match tokio::time::timeout(jobs.timeout, upgrade(cattle, jobs.poll, job)).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "did not finish within {} s",
            jobs.timeout.as_secs()
        )),
    };
    match result {
        Ok(()) => {
            crate::metrics::count_upgrade("finished");
            tracing::info!(receiver_id = %rid, project_id = %project, service_id = %service, "upgrade finished");
        }
        Err(e) => {
            crate::metrics::count_upgrade("failed");
            tracing::warn!(receiver_id = %rid, project_id = %project, service_id = %service, error = %crate::logging::Escaped(&e), "upgrade failed");
        }
    }
}

async fn upgrade(cattle: &Cattle, poll: Duration, job: &Job) -> Result<(), String> {
    let (project, id) = (job.project.as_str(), job.plan.service_id.as_str());
    let why = |e: CattleError| e.to_string();
    let mut svc = settle(cattle, poll, project, id).await?;
    // An upgrade in progress is finished first, as Rancher's UI would.
    if svc.state.as_deref() == Some("upgraded") {
        cattle
            .finish_upgrade(Auth::Service, &svc)
            .await
            .map_err(why)?;
        svc = settle(cattle, poll, project, id).await?;
    }
    let (batch_size, interval_secs, start_first) = job.strategy;
    let edit = |lc: &LaunchConfig, image: &str| {
        let mut lc = lc.clone();
        lc.image_uuid = Some(image.to_owned());
        lc.labels
            .get_or_insert_with(Default::default)
            .insert(PULL_ALWAYS.0.into(), PULL_ALWAYS.1.into());
        lc
    };
    let launch_config = match (&job.plan.primary, &svc.launch_config) {
        (Some(image), Some(lc)) => Some(edit(lc, image)),
        _ => None,
    };
    let sidekicks = svc.secondary_launch_configs.as_deref().unwrap_or_default();
    let secondary: Vec<LaunchConfig> = sidekicks
        .iter()
        .filter_map(|lc| {
            let Container::Sidekick(name) = Container::of(lc, sidekicks) else {
                return None;
            };
            let (_, image) = job.plan.sidekicks.iter().find(|(n, _)| n == name)?;
            Some(edit(lc, image))
        })
        .collect();
    let req = UpgradeRequest {
        in_service_strategy: InServiceStrategy {
            batch_size,
            interval_millis: u64::from(interval_secs) * 1000,
            start_first,
            launch_config,
            secondary_launch_configs: (!secondary.is_empty()).then_some(secondary),
        },
    };
    cattle
        .upgrade_service(Auth::Service, &svc, &req)
        .await
        .map_err(why)?;
    tracing::info!(receiver_id = %job.receiver, project_id = %project, service_id = %id, "upgrade accepted by cattle");
    let svc = settle(cattle, poll, project, id).await?;
    if svc.state.as_deref() == Some("upgraded") {
        cattle
            .finish_upgrade(Auth::Service, &svc)
            .await
            .map_err(why)?;
        settle(cattle, poll, project, id).await?;
    }
    Ok(())
}

/// Reads the service until Cattle is no longer transitioning it.
async fn settle(cattle: &Cattle, poll: Duration, project: &str, id: &str) -> Result<Service, String> {
    loop {
        let svc = cattle
            .get_service(Auth::Service, project, id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("service {id} no longer exists"))?;
        match svc.transitioning.as_deref() {
            Some("yes") => tokio::time::sleep(poll).await,
            Some("error") => {
                return Err(format!(
                    "cattle reports an error: {}",
                    svc.transitioning_message.as_deref().unwrap_or("")
                ))
            }
            _ => return Ok(svc),
        }
    }
}

#[cfg(test)]
mod tests;
