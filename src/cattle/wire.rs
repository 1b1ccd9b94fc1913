//! Cattle v2-beta JSON as the client reads and writes it (docs/cattle.md). Only the
//! fields hookgate uses are named; everything else is ignored on read. Nothing here is shared
//! with the simulator.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Links {
    #[serde(rename = "self", default)]
    pub self_: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Collection<T> {
    pub data: Vec<T>,
    #[serde(default)]
    pub pagination: Option<Pagination>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Pagination {
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub partial: Option<bool>,
}

/// Cattle's error envelope. `status` is an int in Cattle; anything else is tolerated.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// `error` in Cattle's envelope.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub field_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LaunchConfig {
    #[serde(default)]
    pub image_uuid: Option<String>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    /// Every other container field, carried through an upgrade unchanged.
    #[serde(flatten)]
    pub rest: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub id: String,
    #[serde(rename = "type", default)]
    pub type_: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub stack_id: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub transitioning: Option<String>,
    #[serde(default)]
    pub transitioning_message: Option<String>,
    #[serde(default)]
    pub scale: Option<i64>,
    #[serde(default)]
    pub current_scale: Option<i64>,
    #[serde(default)]
    pub launch_config: Option<LaunchConfig>,
    #[serde(default)]
    pub secondary_launch_configs: Option<Vec<LaunchConfig>>,
    #[serde(default)]
    pub removed: Option<String>,
    #[serde(default)]
    pub links: Links,
    #[serde(default)]
    pub actions: HashMap<String, String>,
}

/// What a scale write needs of Cattle's answer (the whole service): its scale. Read
/// without the rest — a service's launch config, kept whole by [`Service`] for upgrades,
/// was most of a scale write's decoding.
#[derive(Debug, Clone, Deserialize)]
pub struct ScaledService {
    #[serde(default)]
    pub scale: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenericObject {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub resource_data: Option<Value>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub removed: Option<String>,
    #[serde(default)]
    pub links: Links,
}

impl GenericObject {
    /// Whether the record still exists: not removed, nor on its way out. (Cattle's lists
    /// hide removed rows, but a row being removed, and any row fetched by id, still shows.)
    pub fn is_live(&self) -> bool {
        self.removed.is_none()
            && !matches!(
                self.state.as_deref(),
                Some("removing" | "removed" | "purging" | "purged")
            )
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewGenericObject<'a> {
    pub name: &'a str,
    pub key: &'a str,
    pub kind: &'a str,
    pub resource_data: &'a Value,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Host {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub host_template_id: Option<String>,
    #[serde(default)]
    pub driver: Option<String>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default, rename = "createdTS")]
    pub created_ts: Option<i64>,
    #[serde(default)]
    pub removed: Option<String>,
}

/// A project (Rancher's "environment").
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub removed: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostTemplate {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub driver: Option<String>,
    #[serde(default)]
    pub removed: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewExternalHostEvent<'a> {
    pub event_type: &'a str,
    pub host_id: &'a str,
    pub delete_host: bool,
}

/// Body of the `upgrade` action (docs/cattle.md, "Resources hookgate uses").
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeRequest {
    pub in_service_strategy: InServiceStrategy,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InServiceStrategy {
    pub batch_size: u32,
    pub interval_millis: u64,
    pub start_first: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch_config: Option<LaunchConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secondary_launch_configs: Option<Vec<LaunchConfig>>,
}
