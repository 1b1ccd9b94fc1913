//! What a receiver hook *is*: its id, its project and the complete configuration of its
//! driver. These are domain types shared by the token (which seals them), the trigger path
//! (which executes them) and the management API (which mints them).
//!
//! Field names follow Rancher's webhook-service (cattle-api.md §5) so that `inspect` output
//! and the API read the same; additions (`cooldownSeconds`, `onResolved`) are hookgate's.
//! Nothing here does I/O.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// A receiver's identity: 128 random bits. Rendered as 32 lowercase hex characters, which
/// is also the `key` of the receiver's generic object in Cattle (Rancher's own keys were
/// 40 alphanumeric characters, so the two never collide).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReceiverId(pub [u8; 16]);

impl ReceiverId {
    /// A fresh id from the operating system's random source.
    pub fn random() -> Result<Self, getrandom::Error> {
        let mut b = [0u8; 16];
        getrandom::fill(&mut b)?;
        Ok(Self(b))
    }

    /// Parses the 32-hex-character form; anything else is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.as_bytes();
        if s.len() != 32 {
            return None;
        }
        let mut out = [0u8; 16];
        for (i, pair) in s.chunks_exact(2).enumerate() {
            out[i] = (hex_val(pair[0])? << 4) | hex_val(pair[1])?;
        }
        Some(Self(out))
    }
}

#[cfg(test)]
mod tests {
    use super::ReceiverId;

    #[test]
    fn ids_print_and_parse_as_32_hex_characters() {
        let id = ReceiverId([
            0x00, 0x01, 0x7f, 0x80, 0xab, 0xcd, 0xef, 0xff, 9, 10, 11, 12, 13, 14, 15, 16,
        ]);
        let s = id.to_string();
        assert_eq!(s, "00017f80abcdefff090a0b0c0d0e0f10");
        assert_eq!(ReceiverId::parse(&s), Some(id));
        for bad in [
            "",
            "00017f80abcdefff090a0b0c0d0e0f1",
            "00017F80abcdefff090a0b0c0d0e0f10",
            "g0017f80abcdefff090a0b0c0d0e0f10",
        ] {
            assert_eq!(ReceiverId::parse(bad), None, "{bad}");
        }
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

impl fmt::Display for ReceiverId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 32];
        for (i, b) in self.0.iter().enumerate() {
            out[2 * i] = HEX[usize::from(b >> 4)];
            out[2 * i + 1] = HEX[usize::from(b & 0x0f)];
        }
        // Only ASCII hex digits were written.
        f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for ReceiverId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReceiverId({self})")
    }
}

impl Serialize for ReceiverId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The four drivers Rancher's webhook-service had, by their wire names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Driver {
    ScaleService,
    ScaleHost,
    ServiceUpgrade,
    ForwardPost,
}

impl Driver {
    pub const ALL: [Driver; 4] = [
        Driver::ScaleService,
        Driver::ScaleHost,
        Driver::ServiceUpgrade,
        Driver::ForwardPost,
    ];

    /// Rancher's name: the value of `driver` and of the config's `type`.
    pub fn name(self) -> &'static str {
        match self {
            Driver::ScaleService => "scaleService",
            Driver::ScaleHost => "scaleHost",
            Driver::ServiceUpgrade => "serviceUpgrade",
            Driver::ForwardPost => "forwardPost",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScaleAction {
    Up,
    Down,
}

/// What a `resolved` Alertmanager/Grafana notification does (SPEC §4.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnResolved {
    /// Acknowledge and do nothing (the default: an alert ending is not a reason to act).
    #[default]
    Ignore,
    /// Perform the opposite action (scale back down after an "up" alert resolves).
    Reverse,
    /// Perform the configured action, as Rancher did for any POST.
    Trigger,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum DeleteOption {
    #[serde(rename = "mostRecent")]
    MostRecent,
    #[serde(rename = "leastRecent")]
    LeastRecent,
}

/// Registry payload shapes serviceUpgrade understands (SPEC §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadFormat {
    Dockerhub,
    Alicloud,
    Azure,
    Quay,
    Harbor,
    Distribution,
}

/// Alibaba registry endpoint flavour (WS-1.6 `addressType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum AddressType {
    #[serde(rename = "registry")]
    Registry,
    #[serde(rename = "registry-internal")]
    RegistryInternal,
    #[serde(rename = "registry-vpc")]
    RegistryVpc,
}

/// Labels, kept sorted so that a config has exactly one encoding.
pub type Labels = BTreeMap<String, String>;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleServiceConfig {
    pub service_id: String,
    pub action: ScaleAction,
    pub amount: u32,
    pub min: u32,
    pub max: u32,
    pub cooldown_seconds: u32,
    pub on_resolved: OnResolved,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleHostConfig {
    /// Rancher 1.6's mode: hosts whose labels match every pair.
    pub host_selector: Option<Labels>,
    /// Rancher master's mode: hosts created from this template.
    pub host_template_id: Option<String>,
    pub action: ScaleAction,
    pub amount: u32,
    pub min: u32,
    pub max: u32,
    pub delete_option: Option<DeleteOption>,
    pub cooldown_seconds: u32,
    pub on_resolved: OnResolved,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceUpgradeConfig {
    pub service_selector: Labels,
    pub tag: String,
    pub payload_format: PayloadFormat,
    pub address_type: AddressType,
    pub batch_size: u32,
    /// Seconds, despite the name: Rancher's UI labels it so and its service multiplied by 1000.
    pub interval_millis: u32,
    pub start_first: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ForwardPostConfig {
    pub project_id: String,
    pub service_name: String,
    pub port: String,
    pub path: String,
}

/// The complete configuration of one receiver's driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DriverConfig {
    ScaleService(ScaleServiceConfig),
    // The larger configs are boxed so that `Claims`, which the hot path moves around, stays
    // the size of a scaleService receiver.
    ScaleHost(Box<ScaleHostConfig>),
    ServiceUpgrade(Box<ServiceUpgradeConfig>),
    ForwardPost(Box<ForwardPostConfig>),
}

impl DriverConfig {
    pub fn driver(&self) -> Driver {
        match self {
            DriverConfig::ScaleService(_) => Driver::ScaleService,
            DriverConfig::ScaleHost(_) => Driver::ScaleHost,
            DriverConfig::ServiceUpgrade(_) => Driver::ServiceUpgrade,
            DriverConfig::ForwardPost(_) => Driver::ForwardPost,
        }
    }

    /// The invariants every sealed config keeps, whoever minted it. Rancher's stricter
    /// creation rules (min ≥ 1, service exists, ...) belong to the management API.
    pub fn check(&self) -> Result<(), &'static str> {
        fn scale(amount: u32, min: u32, max: u32) -> Result<(), &'static str> {
            if amount == 0 {
                return Err("amount must be greater than 0");
            }
            if min >= max {
                return Err("max must be greater than min");
            }
            Ok(())
        }
        match self {
            DriverConfig::ScaleService(c) => {
                if c.service_id.is_empty() {
                    return Err("serviceId is empty");
                }
                scale(c.amount, c.min, c.max)
            }
            DriverConfig::ScaleHost(c) => {
                if c.host_selector.is_none() && c.host_template_id.is_none() {
                    return Err("hostSelector or hostTemplateId is required");
                }
                scale(c.amount, c.min, c.max)
            }
            DriverConfig::ServiceUpgrade(c) => {
                if c.tag.is_empty() {
                    return Err("tag is empty");
                }
                if c.batch_size == 0 || c.interval_millis == 0 {
                    return Err("batchSize and intervalMillis must be greater than 0");
                }
                Ok(())
            }
            DriverConfig::ForwardPost(c) => {
                if c.service_name.is_empty() || c.port.is_empty() {
                    return Err("serviceName and port are required");
                }
                Ok(())
            }
        }
    }
}

/// Everything a token carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    pub receiver_id: ReceiverId,
    pub project_id: String,
    /// Unix seconds.
    pub issued_at: u64,
    /// Unix seconds; the token is refused from this instant on.
    pub expires_at: Option<u64>,
    pub config: DriverConfig,
}

/// The JSON form `hookgate inspect` prints: Rancher's `<driver>Config` naming.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimsView<'a> {
    pub receiver_id: &'a ReceiverId,
    pub project_id: &'a str,
    pub issued_at: u64,
    pub expires_at: Option<u64>,
    pub driver: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_service_config: Option<&'a ScaleServiceConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_host_config: Option<&'a ScaleHostConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_upgrade_config: Option<&'a ServiceUpgradeConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forward_post_config: Option<&'a ForwardPostConfig>,
}

impl Claims {
    pub fn view(&self) -> ClaimsView<'_> {
        let mut v = ClaimsView {
            receiver_id: &self.receiver_id,
            project_id: &self.project_id,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            driver: self.config.driver().name(),
            scale_service_config: None,
            scale_host_config: None,
            service_upgrade_config: None,
            forward_post_config: None,
        };
        match &self.config {
            DriverConfig::ScaleService(c) => v.scale_service_config = Some(c),
            DriverConfig::ScaleHost(c) => v.scale_host_config = Some(c),
            DriverConfig::ServiceUpgrade(c) => v.service_upgrade_config = Some(c),
            DriverConfig::ForwardPost(c) => v.forward_post_config = Some(c),
        }
        v
    }
}
