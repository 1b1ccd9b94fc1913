//! scaleHost: add hosts to a group (from a host template, or cloned from the group's oldest
//! machine-driver host), or remove hosts from it, within [min, max]. The group is the
//! hosts of a template (`hostTemplateId`, what Rancher's later service used) or the hosts
//! whose labels match every pair of `hostSelector` (what Rancher 1.6 shipped).

use serde_json::{json, Map, Value};

use super::fields::{bad, field, known_only, missing, read};
use super::scale::{Bounds, ScaleAction};
use super::{Cx, Kind, Labels, OnResolved, Outcome, Parse, Policy, Settings, Step};
use crate::cattle::{Auth, Cattle};
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
    type State = ();

    fn state(_: &Settings) {}

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
            Ok(())
        })?;
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

    fn policy(c: &ScaleHostConfig) -> Option<Policy> {
        Some(c.bounds().policy())
    }

    /// Rancher's rule: a host template named must exist and not be removed.
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
        }
        Ok(())
    }

    async fn execute(
        _cx: &Cx<'_, ()>,
        _c: &ScaleHostConfig,
        _step: Step,
        _dry_run: bool,
    ) -> Result<Outcome, Error> {
        Err(Error::NotImplemented(
            "the scaleHost driver is not executed by this build yet".into(),
        ))
    }
}
