//! scaleHost (docs/triggers.md, "scaleHost"): add hosts to a group — from its host template,
//! or cloned from the group's oldest machine-driver host — or remove hosts from it, within
//! [min, max]. The group is the hosts of a template (`hostTemplateId`, what Rancher's later
//! service used) or the hosts whose labels carry every pair of `hostSelector`
//! (case-insensitively; what Rancher 1.6 shipped, which matched one pair only). Hosts in
//! `error` do not count. Changes of one project's hosts run one after another in this
//! replica; one trigger adds or removes at most 100 hosts.

use std::borrow::Cow;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::fields::{bad, field, known_only, missing, read};
use super::scale::{Bounds, ScaleAction};
use super::{Cx, Kind, Labels, OnResolved, Outcome, Parse, Policy, Report, Settings, Step};
use crate::cattle::wire::Host;
use crate::cattle::{Auth, Cattle, CattleError};
use crate::keyed::KeyedState;
use crate::codec::{DecodeError, Reader, Writer};
use crate::error::Error;

pub struct ScaleHost;

/// Which hosts go first when scaling down (after hosts in a bad state).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum DeleteOption {
    MostRecent = 1,
    LeastRecent = 2,
}

impl DeleteOption {
    pub fn name(self) -> &'static str {
        match self {
            DeleteOption::MostRecent => "mostRecent",
            DeleteOption::LeastRecent => "leastRecent",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScaleHostConfig {
    /// Rancher 1.6's mode: hosts whose labels match every pair.
    pub host_selector: Option<Labels>,
    /// Rancher master's mode: hosts created from this template.
    pub host_template_id: Option<String>,
    pub action: ScaleAction,
    pub amount: u32,
    pub min: u32,
    pub max: u32,
    /// Required for `down`, refused for `up`.
    pub delete_option: Option<DeleteOption>,
    pub cooldown_seconds: u32,
    pub on_resolved: OnResolved,
}

impl ScaleHostConfig {
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

    fn new(
        host_selector: Option<Labels>,
        host_template_id: Option<String>,
        b: Bounds,
        delete_option: Option<DeleteOption>,
    ) -> Self {
        Self {
            host_selector,
            host_template_id,
            action: b.action,
            amount: b.amount,
            min: b.min,
            max: b.max,
            delete_option,
            cooldown_seconds: b.cooldown_seconds,
            on_resolved: b.on_resolved,
        }
    }
}

mod wire {
    use serde::Deserialize;
    use serde_json::{Map, Value};

    use crate::drivers::scale::BoundsWire;
    use crate::drivers::Labels;

    /// `scaleHostConfig` as Rancher's UI sends it.
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ScaleHostWire {
        pub host_selector: Option<Labels>,
        pub host_template_id: Option<String>,
        pub delete_option: Option<String>,
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

impl Kind for ScaleHost {
    const NAME: &'static str = "scaleHost";
    type Config = ScaleHostConfig;
    type State = State;

    fn state(_: &Settings) -> State {
        State {
            locks: KeyedState::locks(),
            evacuating: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(EVACUATION_MEMORY)
                .build(),
        }
    }

    fn parse(config: &Value, _project: &str, mode: Parse) -> Result<ScaleHostConfig, Error> {
        let w: wire::ScaleHostWire = read(config)?;
        known_only(&w.unknown, mode)?;
        let template = w.host_template_id.clone().filter(|t| !t.is_empty());
        let bounds = w.bounds.check(|| {
            if w.host_selector.is_none() && template.is_none() {
                return Err(missing(
                    "hostSelector",
                    "HostSelector or hostTemplateId not provided",
                ));
            }
            // An empty selector would select every host of the project (Rancher's service
            // matched none).
            if template.is_none() && w.host_selector.as_ref().is_some_and(|s| s.is_empty()) {
                return Err(bad(
                    "hostSelector",
                    "hostSelector must name at least one label",
                ));
            }
            Ok(())
        })?;
        if bounds.amount > MAX_STEP {
            return Err(Error::invalid(
                400,
                "MaxLimitExceeded",
                "amount",
                format!("Amount is at most {MAX_STEP} hosts per trigger"),
            ));
        }
        if bounds.max > MAX_HOSTS {
            return Err(Error::invalid(
                400,
                "MaxLimitExceeded",
                "max",
                format!("Maximum scale is at most {MAX_HOSTS} hosts"),
            ));
        }
        let delete_option = match (bounds.action, w.delete_option.as_deref()) {
            (ScaleAction::Up, None | Some("")) => None,
            (ScaleAction::Up, Some(_)) => {
                return Err(bad(
                    "deleteOption",
                    "Delete option not to be provided while scaling up",
                ))
            }
            (ScaleAction::Down, Some("mostRecent")) => Some(DeleteOption::MostRecent),
            (ScaleAction::Down, Some("leastRecent")) => Some(DeleteOption::LeastRecent),
            (ScaleAction::Down, other) => {
                return Err(bad(
                    "deleteOption",
                    format!(
                        "Invalid delete option/Delete option missing {}",
                        other.unwrap_or("")
                    ),
                ))
            }
        };
        Ok(ScaleHostConfig::new(
            w.host_selector,
            template,
            bounds,
            delete_option,
        ))
    }

    fn to_json(c: &ScaleHostConfig) -> Map<String, Value> {
        let mut m = Map::new();
        if let Some(s) = &c.host_selector {
            m.insert("hostSelector".into(), json!(s));
        }
        if let Some(t) = &c.host_template_id {
            m.insert("hostTemplateId".into(), t.clone().into());
        }
        if let Some(d) = c.delete_option {
            m.insert("deleteOption".into(), d.name().into());
        }
        c.bounds().to_json(&mut m);
        m
    }

    fn schema_fields() -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("hostSelector".into(), field("map[string]", json!({})));
        m.insert("hostTemplateId".into(), field("string", json!({})));
        m.insert(
            "deleteOption".into(),
            field(
                "enum",
                json!({"options": ["mostRecent", "leastRecent"]}),
            ),
        );
        Bounds::schema_fields(&mut m);
        m
    }

    fn check(c: &ScaleHostConfig) -> Result<(), &'static str> {
        if c.host_selector.is_none() && c.host_template_id.is_none() {
            return Err("hostSelector or hostTemplateId is required");
        }
        c.bounds().check()
    }

    fn encode(c: &ScaleHostConfig, w: &mut Writer<'_>) {
        w.option(c.host_selector.as_ref(), |w, m| w.map(m));
        w.option(c.host_template_id.as_ref(), |w, t| w.str(t));
        let b = c.bounds();
        b.encode_action(w);
        w.byte(c.delete_option.map_or(0, |d| d as u8));
        b.encode_policy(w);
    }

    fn decode(r: &mut Reader<'_>) -> Result<ScaleHostConfig, DecodeError> {
        let host_selector = r.option("hostSelector tag", Reader::map)?;
        let host_template_id = r.option("hostTemplateId tag", Reader::string)?;
        let mut delete_option = None;
        let bounds = Bounds::decode(r, |r| {
            delete_option = r.pick(
                "deleteOption",
                &[
                    None,
                    Some(DeleteOption::MostRecent),
                    Some(DeleteOption::LeastRecent),
                ],
            )?;
            Ok(())
        })?;
        Ok(ScaleHostConfig::new(
            host_selector,
            host_template_id,
            bounds,
            delete_option,
        ))
    }

    fn target(c: &ScaleHostConfig) -> Cow<'_, str> {
        match (&c.host_selector, &c.host_template_id) {
            (Some(labels), _) => format!("selector:{}", crate::drivers::labels_text(labels)).into(),
            (None, Some(t)) => format!("template:{t}").into(),
            (None, None) => Cow::Borrowed(""),
        }
    }

    fn policy(c: &ScaleHostConfig) -> Option<Policy> {
        Some(c.bounds().policy())
    }

    /// Rancher's rule: a host template named must exist and not be removed. And, because a
    /// group without a machine-driver host cannot grow (custom hosts cannot be cloned), a
    /// selector receiver that scales up must select one.
    async fn validate(
        cattle: &Cattle,
        auth: Auth<'_>,
        project: &str,
        c: &ScaleHostConfig,
    ) -> Result<(), Error> {
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
        } else if c.action == ScaleAction::Up {
            let hosts = cattle
                .list_hosts(auth, project, &[])
                .await
                .map_err(Error::from_caller)?;
            let group = members(c, hosts, |_| false);
            if oldest_machine(&group).is_none() {
                return Err(Error::invalid(
                    400,
                    "InvalidReference",
                    "hostSelector",
                    "Cannot use custom hosts for scaling up: no host the selector matches \
                     was created by a machine driver, so none can be cloned",
                ));
            }
        }
        Ok(())
    }

    async fn execute(
        cx: &Cx<'_, State>,
        c: &ScaleHostConfig,
        step: Step,
        dry_run: bool,
    ) -> Result<Outcome, Error> {
        // One change of a project's hosts at a time: groups of different receivers may
        // overlap (a template's hosts and a label's), and new names must not collide.
        let lease = cx.state.locks.lease(&cx.project.to_owned());
        let _one_at_a_time = lease.lock().await;
        // Every host of the project: the group's, and the names a new host must not take.
        let hosts = cx.cattle.list_hosts(Auth::Service, cx.project, &[]).await?;
        let taken: Vec<String> = hosts.iter().map(|h| display_name(h).to_owned()).collect();
        let group = members(c, hosts, |id| {
            cx.state
                .evacuating
                .contains_key(&(cx.project.to_owned(), id.to_owned()))
        });
        let bounds = c.bounds();
        let from = i64::try_from(group.len()).unwrap_or(i64::MAX);
        let to = bounds.target(from, step);
        let (up, _) = bounds.direction(step);
        if to == from {
            let bound = if up { "maximum" } else { "minimum" };
            let details = vec![
                ("from", from.into()),
                ("to", from.into()),
                ("bound", bound.into()),
            ];
            return Ok(Outcome::Acted(Report {
                from: Some(from),
                to: Some(from),
                ..Report::new(
                    super::UNCHANGED,
                    format!("the group already has its {bound} of {from} hosts"),
                    details,
                )
            }));
        }
        // A reversal's step comes from history, not from the config: the cap holds for it too.
        let n = usize::try_from((to - from).unsigned_abs())
            .unwrap_or(usize::MAX)
            .min(MAX_STEP as usize);
        let to = if up { from + n as i64 } else { from - n as i64 };
        let mut details: super::Details = vec![("from", from.into()), ("to", to.into())];
        let would = if dry_run { "would " } else { "" };
        let message = if up {
            let names = add(cx, c, &group, &taken, n, dry_run).await?;
            let message = format!("{would}add {n} host(s) ({}): {from} → {to}", names.join(", "));
            details.push(("created", json!(names)));
            message
        } else {
            let removed = remove(cx, c, &group, n, dry_run).await?;
            let names: Vec<&str> = removed.iter().map(|h| display_name(h)).collect();
            let message = format!("{would}remove {n} host(s) ({}): {from} → {to}", names.join(", "));
            let list: Vec<Value> = removed
                .iter()
                .map(|h| json!({"id": h.id, "name": display_name(h), "state": h.state}))
                .collect();
            details.push(("removed", Value::Array(list)));
            message
        };
        Ok(Outcome::Acted(Report {
            from: Some(from),
            to: Some(to),
            change: to - from,
            ..Report::new("scaled", message, details)
        }))
    }
}

/// Most hosts one trigger adds or removes, and the largest group a receiver may ask for:
/// hosts are machines, and one trigger must not order thousands of them (nor make hookgate
/// plan them).
const MAX_STEP: u32 = 100;
const MAX_HOSTS: u32 = 10_000;

/// How long a host this replica asked Cattle to evacuate stays out of its group's count
/// (Cattle shows it `deactivating` for a while before it is gone).
const EVACUATION_MEMORY: Duration = Duration::from_secs(900);

/// Host states removed first when scaling down.
const BAD_STATES: [&str; 4] = ["inactive", "deactivating", "reconnecting", "disconnected"];

/// This replica's view of host groups.
pub struct State {
    /// Per-project locks: changes of a project's hosts run one after another.
    locks: KeyedState<String, ()>,
    /// (project, host id) of hosts this replica asked to evacuate recently.
    evacuating: moka::sync::Cache<(String, String), ()>,
}

/// The hosts of the receiver's group that count, oldest first: those of its template (or
/// carrying every selector pair), not in `error`, not removed or on their way out, and not
/// already being evacuated by this replica.
fn members(c: &ScaleHostConfig, hosts: Vec<Host>, evacuating: impl Fn(&str) -> bool) -> Vec<Host> {
    let mut group: Vec<Host> = hosts
        .into_iter()
        .filter(|h| match &c.host_template_id {
            Some(t) => h.host_template_id.as_deref() == Some(t.as_str()),
            None => c.host_selector.iter().flatten().all(|(k, v)| {
                h.labels
                    .iter()
                    .flatten()
                    .any(|(hk, hv)| hk.eq_ignore_ascii_case(k) && hv.eq_ignore_ascii_case(v))
            }),
        })
        .filter(|h| h.removed.is_none())
        .filter(|h| {
            !matches!(
                h.state.as_deref(),
                Some("error" | "erroring" | "removing" | "removed" | "purging" | "purged")
            )
        })
        .filter(|h| !evacuating(&h.id))
        .collect();
    group.sort_by(|a, b| {
        (a.created_ts, id_number(&a.id)).cmp(&(b.created_ts, id_number(&b.id)))
    });
    group
}

/// The number in a Cattle id (`1h12` → 12), for a stable order among equal times.
fn id_number(id: &str) -> u64 {
    id.strip_prefix('1')
        .unwrap_or(id)
        .trim_start_matches(|c: char| c.is_ascii_alphabetic())
        .parse()
        .unwrap_or(0)
}

/// A host's name as Rancher showed it: `name`, else `hostname`, cut at the first `.`.
fn display_name(h: &Host) -> &str {
    let full = h
        .name
        .as_deref()
        .filter(|n| !n.is_empty())
        .or(h.hostname.as_deref())
        .unwrap_or("");
    full.split('.').next().unwrap_or(full)
}

/// The oldest host of the group that a machine driver created (the one to clone).
fn oldest_machine(group: &[Host]) -> Option<&Host> {
    group
        .iter()
        .find(|h| h.driver.as_deref().is_some_and(|d| !d.is_empty()))
}

/// `n` new names continuing the group's numeric suffix, zero-padding kept: `node01`,
/// `node02` → `node03`; a lone `web` → `web2`; an empty group → `scaledhost1`. A name some
/// host of the project already has (`taken`) is skipped.
pub fn next_names(group: &[Host], taken: &[String], n: usize) -> Vec<String> {
    let base = oldest_machine(group).map(display_name);
    let prefix = base
        .map(|b| b.trim_end_matches(|c: char| c.is_ascii_digit()))
        .filter(|p| !p.is_empty())
        .unwrap_or("scaledhost");
    let (mut last, width) = group
        .iter()
        .filter_map(|h| {
            let digits = display_name(h).strip_prefix(prefix)?;
            if digits.is_empty() {
                return Some((1u64, 0));
            }
            if !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some((digits.parse().ok()?, digits.len()))
        })
        .max()
        .unwrap_or((0, 0));
    let mut names = Vec::with_capacity(n);
    while names.len() < n {
        last += 1;
        let name = format!("{prefix}{last:0width$}");
        if !taken.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Creates `n` hosts for the group: from its template, or cloned from its oldest
/// machine-driver host. Returns their names.
async fn add(
    cx: &Cx<'_, State>,
    c: &ScaleHostConfig,
    group: &[Host],
    taken: &[String],
    n: usize,
    dry_run: bool,
) -> Result<Vec<String>, Error> {
    let names = next_names(group, taken, n);
    let template = match &c.host_template_id {
        Some(t) => {
            let found = cx
                .cattle
                .get_host_template(Auth::Service, cx.project, t)
                .await?;
            if found.is_none_or(|t| t.removed.is_some()) {
                return Err(Error::Gone(format!("host template {t} no longer exists")));
            }
            Some(t.as_str())
        }
        None => None,
    };
    let base = match template {
        Some(_) => None,
        None => Some(oldest_machine(group).ok_or_else(|| {
            Error::Unprocessable(
                "the group has no machine-driver host left to clone (custom hosts cannot be \
                 cloned)"
                    .into(),
            )
        })?),
    };
    if dry_run {
        return Ok(names);
    }
    let raw = match base {
        Some(b) => Some(
            cx.cattle
                .get_host_raw(Auth::Service, cx.project, &b.id)
                .await?
                .ok_or_else(|| Error::Unprocessable(format!("host {} to clone is gone", b.id)))?,
        ),
        None => None,
    };
    for name in &names {
        let body = match (&raw, template) {
            (_, Some(t)) => json!({"hostname": name, "hostTemplateId": t}),
            (Some(raw), None) => clone_body(raw, name),
            (None, None) => return Err(Error::Internal("nothing to create a host from".into())),
        };
        cx.cattle
            .create_host(Auth::Service, cx.project, &body)
            .await
            .map_err(created_so_far(name))?;
        tracing::info!(receiver_id = %cx.receiver, project_id = %cx.project, host = %name, "host created");
    }
    Ok(names)
}

fn created_so_far(name: &str) -> impl Fn(CattleError) -> Error + '_ {
    move |e| {
        tracing::warn!(host = %name, error = %crate::logging::Escaped(&e), "host creation failed; the retry recounts the group");
        Error::Cattle(e)
    }
}

/// A clone of a host as Rancher made it: the whole host, with a new hostname and no name,
/// minus what Cattle sets itself.
fn clone_body(raw: &Value, hostname: &str) -> Value {
    let mut body = raw.as_object().cloned().unwrap_or_default();
    for k in [
        "id", "uuid", "links", "actions", "state", "created", "createdTS", "removed",
        "removedTS", "removeTime", "transitioning", "transitioningMessage",
        "transitioningProgress", "accountId", "agentState", "type", "baseType",
    ] {
        body.remove(k);
    }
    body.insert("name".into(), Value::Null);
    body.insert("hostname".into(), hostname.into());
    Value::Object(body)
}

/// Evacuates and deletes `n` hosts: those in a bad state first, then the most or least
/// recent as the receiver says (most recent when it does not, i.e. undoing an "up").
async fn remove<'g>(
    cx: &Cx<'_, State>,
    c: &ScaleHostConfig,
    group: &'g [Host],
    n: usize,
    dry_run: bool,
) -> Result<Vec<&'g Host>, Error> {
    let victims = removal_order(group, c.delete_option.unwrap_or(DeleteOption::MostRecent));
    let victims: Vec<&Host> = victims.into_iter().take(n).collect();
    if dry_run {
        return Ok(victims);
    }
    for h in &victims {
        cx.cattle
            .create_external_host_event(
                Auth::Service,
                cx.project,
                &crate::cattle::wire::NewExternalHostEvent {
                    event_type: "host.evacuate",
                    host_id: &h.id,
                    delete_host: true,
                },
            )
            .await?;
        cx.state
            .evacuating
            .insert((cx.project.to_owned(), h.id.clone()), ());
        tracing::info!(receiver_id = %cx.receiver, project_id = %cx.project, host = %display_name(h), host_id = %h.id, "host evacuated and deleted");
    }
    Ok(victims)
}

/// The group in the order hosts go: bad states first, then by the delete option.
pub fn removal_order(group: &[Host], option: DeleteOption) -> Vec<&Host> {
    let bad = |h: &Host| BAD_STATES.contains(&h.state.as_deref().unwrap_or(""));
    let ordered: Vec<&Host> = match option {
        DeleteOption::MostRecent => group.iter().rev().collect(),
        DeleteOption::LeastRecent => group.iter().collect(),
    };
    let (mut first, rest): (Vec<&Host>, Vec<&Host>) = ordered.into_iter().partition(|h| bad(h));
    first.extend(rest);
    first
}

#[cfg(test)]
mod tests;
