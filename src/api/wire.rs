//! The management API's JSON, as Rancher's webhook-service and its UI spoke it
//! (docs/api.md): the create body, and driver configs as stored in a receiver's generic
//! object (`resourceData.config`). Converting them to domain configs checks every field and
//! names the one at fault. One parser reads both: a create request is strict (a field no
//! Rancher version defined is a 422 naming it, so a misspelling is not silently a default);
//! a stored config is lenient (Rancher stored configs as sent).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::Error;
use crate::receiver::{
    AddressType, DeleteOption, DriverConfig, ForwardPostConfig, OnResolved, PayloadFormat,
    ScaleAction, ScaleHostConfig, ScaleServiceConfig, ServiceUpgradeConfig,
};

/// `POST /v1-webhooks/receivers`. Inactive configs may be absent or `null`; integer fields
/// refuse floats (`amount: 1.5` is a 400, as in Rancher).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateReceiver {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub driver: Option<String>,
    #[serde(default)]
    pub scale_service_config: Option<ScaleServiceIn>,
    #[serde(default)]
    pub scale_host_config: Option<ScaleHostIn>,
    #[serde(default)]
    pub service_upgrade_config: Option<ServiceUpgradeIn>,
    #[serde(default)]
    pub forward_post_config: Option<ForwardPostIn>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleServiceIn {
    /// The driver name Rancher's UI nests in every config; carries nothing.
    #[serde(rename = "type", default)]
    pub type_: Option<Value>,
    /// Fields no Rancher version defined (refused on create, ignored when stored).
    #[serde(flatten)]
    pub unknown: serde_json::Map<String, Value>,
    pub service_id: Option<String>,
    pub action: Option<String>,
    pub amount: Option<i64>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub cooldown_seconds: Option<i64>,
    pub on_resolved: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleHostIn {
    /// The driver name Rancher's UI nests in every config; carries nothing.
    #[serde(rename = "type", default)]
    pub type_: Option<Value>,
    /// Fields no Rancher version defined (refused on create, ignored when stored).
    #[serde(flatten)]
    pub unknown: serde_json::Map<String, Value>,
    pub host_selector: Option<BTreeMap<String, String>>,
    pub host_template_id: Option<String>,
    pub action: Option<String>,
    pub amount: Option<i64>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub delete_option: Option<String>,
    pub cooldown_seconds: Option<i64>,
    pub on_resolved: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceUpgradeIn {
    /// The driver name Rancher's UI nests in every config; carries nothing.
    #[serde(rename = "type", default)]
    pub type_: Option<Value>,
    /// Fields no Rancher version defined (refused on create, ignored when stored).
    #[serde(flatten)]
    pub unknown: serde_json::Map<String, Value>,
    pub service_selector: Option<BTreeMap<String, String>>,
    pub tag: Option<String>,
    pub payload_format: Option<String>,
    pub address_type: Option<String>,
    pub batch_size: Option<i64>,
    pub interval_millis: Option<i64>,
    pub start_first: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForwardPostIn {
    /// The driver name Rancher's UI nests in every config; carries nothing.
    #[serde(rename = "type", default)]
    pub type_: Option<Value>,
    /// Fields no Rancher version defined (refused on create, ignored when stored).
    #[serde(flatten)]
    pub unknown: serde_json::Map<String, Value>,
    pub project_id: Option<String>,
    pub service_name: Option<String>,
    /// Rancher's schema has a string; numbers are accepted too.
    pub port: Option<Value>,
    pub path: Option<String>,
}

fn bad(field: &'static str, message: impl Into<String>) -> Error {
    Error::invalid(400, "InvalidOption", field, message)
}

fn missing(field: &'static str, message: impl Into<String>) -> Error {
    Error::invalid(400, "MissingRequired", field, message)
}

fn action(a: Option<&str>) -> Result<ScaleAction, Error> {
    match a {
        None | Some("") => Err(missing("action", "Scale action not provided")),
        Some("up") => Ok(ScaleAction::Up),
        Some("down") => Ok(ScaleAction::Down),
        Some(other) => Err(bad("action", format!("Invalid action {other}"))),
    }
}

fn count(v: Option<i64>, field: &'static str, min: i64, what: &str) -> Result<u32, Error> {
    match v {
        None => Err(missing(field, format!("{what} not provided"))),
        Some(n) if n < min => Err(Error::invalid(
            400,
            "MinLimitExceeded",
            field,
            format!("{what} must be at least {min}, got {n}"),
        )),
        Some(n) => u32::try_from(n).map_err(|_| {
            Error::invalid(
                400,
                "MaxLimitExceeded",
                field,
                format!("{what} is too large: {n}"),
            )
        }),
    }
}

fn bounds(min: Option<i64>, max: Option<i64>) -> Result<(u32, u32), Error> {
    // SPEC §4.1 allows scaling to zero (min 0); Rancher required min ≥ 1.
    let min = count(min, "min", 0, "Minimum scale")?;
    let max = count(max, "max", 1, "Maximum scale")?;
    if min >= max {
        return Err(bad("max", "Max must be greater than min"));
    }
    Ok((min, max))
}

fn on_resolved(v: Option<&str>) -> Result<OnResolved, Error> {
    match v {
        None | Some("") | Some("ignore") => Ok(OnResolved::Ignore),
        Some("reverse") => Ok(OnResolved::Reverse),
        Some("trigger") => Ok(OnResolved::Trigger),
        Some(o) => Err(bad(
            "onResolved",
            format!("onResolved must be ignore, reverse or trigger, not {o}"),
        )),
    }
}

fn cooldown(v: Option<i64>) -> Result<u32, Error> {
    match v {
        None => Ok(0),
        v => count(v, "cooldownSeconds", 0, "cooldownSeconds"),
    }
}

fn non_empty(v: Option<&str>, field: &'static str, message: &str) -> Result<String, Error> {
    match v {
        Some(s) if !s.trim().is_empty() => Ok(s.to_owned()),
        _ => Err(missing(field, message)),
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

impl ScaleServiceIn {
    pub fn to_config(&self) -> Result<ScaleServiceConfig, Error> {
        let action = action(self.action.as_deref())?;
        let amount = count(self.amount, "amount", 1, "Amount")?;
        let service_id = non_empty(
            self.service_id.as_deref(),
            "serviceId",
            "ServiceId not provided",
        )?;
        let (min, max) = bounds(self.min, self.max)?;
        Ok(ScaleServiceConfig {
            service_id,
            action,
            amount,
            min,
            max,
            cooldown_seconds: cooldown(self.cooldown_seconds)?,
            on_resolved: on_resolved(self.on_resolved.as_deref())?,
        })
    }
}

impl ScaleHostIn {
    pub fn to_config(&self) -> Result<ScaleHostConfig, Error> {
        let action = action(self.action.as_deref())?;
        let amount = count(self.amount, "amount", 1, "Amount")?;
        let template = self.host_template_id.clone().filter(|t| !t.is_empty());
        if self.host_selector.is_none() && template.is_none() {
            return Err(missing(
                "hostSelector",
                "HostSelector or hostTemplateId not provided",
            ));
        }
        let (min, max) = bounds(self.min, self.max)?;
        let delete_option = match (action, self.delete_option.as_deref()) {
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
        Ok(ScaleHostConfig {
            host_selector: self.host_selector.clone(),
            host_template_id: template,
            action,
            amount,
            min,
            max,
            delete_option,
            cooldown_seconds: cooldown(self.cooldown_seconds)?,
            on_resolved: on_resolved(self.on_resolved.as_deref())?,
        })
    }
}

impl ServiceUpgradeIn {
    pub fn to_config(&self) -> Result<ServiceUpgradeConfig, Error> {
        let service_selector = self
            .service_selector
            .clone()
            .ok_or_else(|| missing("serviceSelector", "Service selectors not provided"))?;
        let tag = non_empty(self.tag.as_deref(), "tag", "Tag not provided")?;
        if !valid_tag(&tag) {
            return Err(bad("tag", format!("Invalid tag {tag}")));
        }
        let payload_format = match self.payload_format.as_deref() {
            None | Some("") | Some("dockerhub") => PayloadFormat::Dockerhub,
            Some("alicloud") => PayloadFormat::Alicloud,
            Some("azure") => PayloadFormat::Azure,
            Some("quay") => PayloadFormat::Quay,
            Some("harbor") => PayloadFormat::Harbor,
            Some("distribution") => PayloadFormat::Distribution,
            Some(o) => return Err(bad("payloadFormat", format!("Invalid payload format {o}"))),
        };
        let address_type = match self.address_type.as_deref() {
            None | Some("") | Some("registry") => AddressType::Registry,
            Some("registry-internal") => AddressType::RegistryInternal,
            Some("registry-vpc") => AddressType::RegistryVpc,
            Some(o) => return Err(bad("addressType", format!("Invalid address type {o}"))),
        };
        Ok(ServiceUpgradeConfig {
            service_selector,
            tag,
            payload_format,
            address_type,
            batch_size: count(self.batch_size, "batchSize", 1, "Batch size for upgrade")?,
            interval_millis: count(
                self.interval_millis,
                "intervalMillis",
                1,
                "Batch interval for upgrade",
            )?,
            start_first: self.start_first.unwrap_or(false),
        })
    }
}

impl ForwardPostIn {
    pub fn to_config(&self, receiver_project: &str) -> Result<ForwardPostConfig, Error> {
        let port = match &self.port {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(missing("port", "port not provided")),
        };
        if !port.parse::<u16>().is_ok_and(|p| p > 0) {
            return Err(bad("port", format!("Invalid port {port}")));
        }
        let project_id = self
            .project_id
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| receiver_project.to_owned());
        // A forward never leaves the receiver's own project (SPEC §6.4).
        if project_id != receiver_project {
            return Err(bad(
                "projectId",
                "forwardPost can only target a service in the receiver's own project",
            ));
        }
        let path = self.path.clone().unwrap_or_default();
        if !path.is_empty() && !path.starts_with('/') {
            return Err(bad("path", "path must start with /"));
        }
        Ok(ForwardPostConfig {
            project_id,
            service_name: non_empty(
                self.service_name.as_deref(),
                "serviceName",
                "serviceName not provided",
            )?,
            port,
            path,
        })
    }
}

/// A create request's config must not carry fields no Rancher version defined.
fn known_fields_only(unknown: &serde_json::Map<String, Value>) -> Result<(), Error> {
    match unknown.keys().next() {
        None => Ok(()),
        Some(name) => {
            let name: String = name.chars().take(64).collect();
            Err(Error::invalid(
                422,
                "InvalidOption",
                name.clone(),
                format!("unknown field {name} in the driver config"),
            ))
        }
    }
}

impl CreateReceiver {
    /// The active driver's config, checked field by field; fields no Rancher version
    /// defined are refused.
    pub fn config(&self, project: &str) -> Result<DriverConfig, Error> {
        fn active<'a, T>(c: &'a Option<T>, field: &'static str) -> Result<&'a T, Error> {
            c.as_ref()
                .ok_or_else(|| missing(field, format!("{field} not provided")))
        }
        let unknown = match self.driver.as_deref() {
            Some("scaleService") => self.scale_service_config.as_ref().map(|c| &c.unknown),
            Some("scaleHost") => self.scale_host_config.as_ref().map(|c| &c.unknown),
            Some("serviceUpgrade") => self.service_upgrade_config.as_ref().map(|c| &c.unknown),
            Some("forwardPost") => self.forward_post_config.as_ref().map(|c| &c.unknown),
            _ => None,
        };
        if let Some(unknown) = unknown {
            known_fields_only(unknown)?;
        }
        Ok(match self.driver.as_deref() {
            None | Some("") => return Err(missing("driver", "Driver not provided")),
            Some("scaleService") => DriverConfig::ScaleService(
                active(&self.scale_service_config, "scaleServiceConfig")?.to_config()?,
            ),
            Some("scaleHost") => DriverConfig::ScaleHost(Box::new(
                active(&self.scale_host_config, "scaleHostConfig")?.to_config()?,
            )),
            Some("serviceUpgrade") => DriverConfig::ServiceUpgrade(Box::new(
                active(&self.service_upgrade_config, "serviceUpgradeConfig")?.to_config()?,
            )),
            Some("forwardPost") => DriverConfig::ForwardPost(Box::new(
                active(&self.forward_post_config, "forwardPostConfig")?.to_config(project)?,
            )),
            Some(other) => return Err(bad("driver", format!("Invalid driver {other}"))),
        })
    }
}

/// A driver config as stored in `resourceData.config`, for `driver`: read by the same
/// parser and checks as a create request, except that fields unknown to hookgate (Rancher
/// stored configs as its UI sent them) are ignored.
pub fn stored_config(driver: &str, config: &Value, project: &str) -> Result<DriverConfig, Error> {
    if !config.is_object() {
        return Err(bad("config", "Driver config not found"));
    }
    fn read<'a, T: Deserialize<'a>>(v: &'a Value) -> Result<T, Error> {
        T::deserialize(v).map_err(|e| Error::BadRequest(format!("stored config is invalid: {e}")))
    }
    Ok(match driver {
        "scaleService" => DriverConfig::ScaleService(read::<ScaleServiceIn>(config)?.to_config()?),
        "scaleHost" => DriverConfig::ScaleHost(Box::new(read::<ScaleHostIn>(config)?.to_config()?)),
        "serviceUpgrade" => {
            DriverConfig::ServiceUpgrade(Box::new(read::<ServiceUpgradeIn>(config)?.to_config()?))
        }
        "forwardPost" => {
            DriverConfig::ForwardPost(Box::new(read::<ForwardPostIn>(config)?.to_config(project)?))
        }
        other => return Err(bad("driver", format!("Driver {other} is not registered"))),
    })
}

/// The config as the API shows it and as it is stored: Rancher's field names plus `type`.
pub fn config_json(c: &DriverConfig) -> Value {
    let mut v = match c {
        DriverConfig::ScaleService(s) => serde_json::to_value(s),
        DriverConfig::ScaleHost(s) => serde_json::to_value(s),
        DriverConfig::ServiceUpgrade(s) => serde_json::to_value(s),
        DriverConfig::ForwardPost(s) => serde_json::to_value(s),
    }
    .unwrap_or_else(|_| json!({}));
    v["type"] = c.driver().name().into();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_rancher() {
        for ok in [
            "wh-tag",
            "1.2.3",
            "latest",
            "1.2.3-alpha1",
            "1.2.3-alpha1-pre1_rc1",
            "1234",
            "version",
            "VERSION",
            "versionLATEST123",
            "version.latest.123-version_latest",
            "_startsWithUnderscore",
        ] {
            assert!(valid_tag(ok), "{ok}");
        }
        let long = "a".repeat(135);
        for bad in [
            long.as_str(),
            ".startsWithPeriod",
            "-startsWithDash",
            "$%^startsWithSpecialCharacters",
            "Contains@#$characters",
            "endsWith^&*(",
            "1.2.3-alpha&",
            "",
        ] {
            assert!(!valid_tag(bad), "{bad}");
        }
    }

    #[test]
    fn scale_service_fields_are_checked_in_rancher_order() {
        let good = ScaleServiceIn {
            service_id: Some("1s1".into()),
            action: Some("up".into()),
            amount: Some(1),
            min: Some(1),
            max: Some(4),
            ..Default::default()
        };
        assert!(good.to_config().is_ok());
        let cases: Vec<(ScaleServiceIn, &str)> = vec![
            (
                ScaleServiceIn {
                    action: None,
                    ..good.clone()
                },
                "action",
            ),
            (
                ScaleServiceIn {
                    action: Some("sideways".into()),
                    ..good.clone()
                },
                "action",
            ),
            (
                ScaleServiceIn {
                    amount: Some(0),
                    ..good.clone()
                },
                "amount",
            ),
            (
                ScaleServiceIn {
                    service_id: Some(String::new()),
                    ..good.clone()
                },
                "serviceId",
            ),
            (
                ScaleServiceIn {
                    min: Some(-1),
                    ..good.clone()
                },
                "min",
            ),
            (
                ScaleServiceIn {
                    max: Some(-4),
                    ..good.clone()
                },
                "max",
            ),
            (
                ScaleServiceIn {
                    min: Some(4),
                    max: Some(4),
                    ..good.clone()
                },
                "max",
            ),
            (
                ScaleServiceIn {
                    on_resolved: Some("later".into()),
                    ..good.clone()
                },
                "onResolved",
            ),
            (
                ScaleServiceIn {
                    cooldown_seconds: Some(-5),
                    ..good.clone()
                },
                "cooldownSeconds",
            ),
        ];
        for (input, field) in cases {
            let e = input.to_config().expect_err(field);
            assert_eq!(e.parts().3, Some(field), "{e}");
            assert_eq!(e.status().as_u16(), 400);
        }
        // SPEC allows scaling to zero.
        assert_eq!(
            ScaleServiceIn {
                min: Some(0),
                ..good
            }
            .to_config()
            .map(|c| c.min)
            .ok(),
            Some(0)
        );
    }
}
