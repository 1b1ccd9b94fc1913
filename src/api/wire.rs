//! The management API's request JSON, as Rancher's webhook-service and its UI spoke it
//! (docs/api.md). A receiver's driver config is read by its driver (`DriverConfig::parse`),
//! strictly here (records Rancher stored are read leniently, `DriverConfig::from_stored`).

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::drivers::{Driver, DriverConfig, Parse};
use crate::error::Error;

/// `POST /v1-webhooks/receivers`.
#[derive(Debug, Deserialize)]
pub struct CreateReceiver {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub driver: Option<String>,
    /// Everything else: the `<driver>Config` objects (inactive ones may be absent, `null`
    /// or `{}`), and what Rancher's UI adds on clone (`type`, `state`, `url`, ...).
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

fn driver(name: Option<&str>) -> Result<Driver, Error> {
    match name {
        None | Some("") => Err(Error::invalid(
            400,
            "MissingRequired",
            "driver",
            "Driver not provided",
        )),
        Some(n) => Driver::from_name(n).ok_or_else(|| {
            Error::invalid(
                400,
                "InvalidOption",
                "driver",
                format!("Invalid driver {n}"),
            )
        }),
    }
}

impl CreateReceiver {
    /// The active driver's config, checked field by field; fields no Rancher version
    /// defined are refused.
    pub fn config(&self, project: &str) -> Result<DriverConfig, Error> {
        let driver = driver(self.driver.as_deref())?;
        let field = format!("{}Config", driver.name());
        let config = self
            .rest
            .get(&field)
            .filter(|v| !v.is_null())
            .ok_or_else(|| {
                Error::invalid(
                    400,
                    "MissingRequired",
                    field.clone(),
                    format!("{field} not provided"),
                )
            })?;
        DriverConfig::parse(driver, config, project, Parse::Create)
    }
}
