//! serviceUpgrade: on an image push from a registry, upgrade the services whose labels match
//! the selector to the pushed image.

use serde_json::{json, Map, Value};

use super::fields::{bad, count, field, known_only, missing, non_empty, read};
use super::{Cx, Kind, Labels, Outcome, Parse, Policy, Settings, Step};
use crate::cattle::{Auth, Cattle};
use crate::codec::{DecodeError, Reader, Writer};
use crate::error::Error;

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
    Distribution = 5,
}

impl PayloadFormat {
    /// In the order of their discriminants (the token's encoding).
    const ALL: [PayloadFormat; 6] = [
        PayloadFormat::Dockerhub,
        PayloadFormat::Alicloud,
        PayloadFormat::Azure,
        PayloadFormat::Quay,
        PayloadFormat::Harbor,
        PayloadFormat::Distribution,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PayloadFormat::Dockerhub => "dockerhub",
            PayloadFormat::Alicloud => "alicloud",
            PayloadFormat::Azure => "azure",
            PayloadFormat::Quay => "quay",
            PayloadFormat::Harbor => "harbor",
            PayloadFormat::Distribution => "distribution",
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
    pub service_selector: Labels,
    pub tag: String,
    pub payload_format: PayloadFormat,
    pub address_type: AddressType,
    pub batch_size: u32,
    /// Seconds, despite the name: Rancher's UI labels it so and its service multiplied by
    /// 1000.
    pub interval_millis: u32,
    pub start_first: bool,
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

impl Kind for ServiceUpgrade {
    const NAME: &'static str = "serviceUpgrade";
    type Config = ServiceUpgradeConfig;
    type State = ();

    fn state(_: &Settings) {}

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
            payload_format,
            address_type,
            batch_size: count(w.batch_size, "batchSize", 1, "Batch size for upgrade")?,
            interval_millis: count(
                w.interval_millis,
                "intervalMillis",
                1,
                "Batch interval for upgrade",
            )?,
            start_first: w.start_first.unwrap_or(false),
        })
    }

    fn to_json(c: &ServiceUpgradeConfig) -> Map<String, Value> {
        let v = json!({
            "serviceSelector": c.service_selector,
            "tag": c.tag,
            "payloadFormat": c.payload_format.name(),
            "addressType": c.address_type.name(),
            "batchSize": c.batch_size,
            "intervalMillis": c.interval_millis,
            "startFirst": c.start_first,
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
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

    fn encode(c: &ServiceUpgradeConfig, w: &mut Writer<'_>) {
        w.map(&c.service_selector);
        w.str(&c.tag);
        w.byte(c.payload_format as u8);
        w.byte(c.address_type as u8);
        w.u32(c.batch_size);
        w.u32(c.interval_millis);
        w.bool(c.start_first);
    }

    fn decode(r: &mut Reader<'_>) -> Result<ServiceUpgradeConfig, DecodeError> {
        Ok(ServiceUpgradeConfig {
            service_selector: r.map()?,
            tag: r.string()?,
            payload_format: r.pick("payloadFormat", &PayloadFormat::ALL)?,
            address_type: r.pick("addressType", &AddressType::ALL)?,
            batch_size: r.u32()?,
            interval_millis: r.u32()?,
            start_first: r.bool("startFirst")?,
        })
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
        _cx: &Cx<'_, ()>,
        _c: &ServiceUpgradeConfig,
        _step: Step,
        _dry_run: bool,
    ) -> Result<Outcome, Error> {
        Err(Error::NotImplemented(
            "the serviceUpgrade driver is not executed by this build yet".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::valid_tag;

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
}
