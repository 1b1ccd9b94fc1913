//! The simulator's world: projects, API keys and resources, created, read, updated and
//! deleted with Cattle's validation (docs/cattle.md). Resources are kept as JSON maps, so PUT
//! merges and filters work on any field the schema names. The state machine (actions,
//! transitions) is in `machine.rs`; listing (filters, sort, pagination) in `query.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::machine::{available_actions, Pending};
use super::schema::{self, Kind, TypeInfo, SERVICE_KINDS};
use crate::time;

/// A Cattle error response: status, code, and what is at fault.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: Option<String>,
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: Option<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message,
            field: None,
        }
    }
    /// A generic error: code and message are the status's reason text, as Cattle does.
    pub fn status(status: u16) -> Self {
        let text = match status {
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method not allowed",
            409 => "Conflict",
            422 => "Unprocessable Entity",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            504 => "Gateway Timeout",
            _ => "Internal Server Error",
        };
        Self::new(status, text, Some(text.into()))
    }
    /// A 422 validation error naming the field.
    pub fn invalid(code: &str, field: &str) -> Self {
        Self {
            status: 422,
            code: code.into(),
            message: None,
            field: Some(field.into()),
        }
    }
}

pub struct Project {
    pub id: String,
    pub name: String,
}

pub struct ApiKey {
    pub access: String,
    pub secret: String,
    /// Project ids this key reaches; `*` reaches all.
    pub projects: Vec<String>,
}

impl ApiKey {
    pub fn reaches(&self, project: &str) -> bool {
        self.projects.iter().any(|p| p == "*" || p == project)
    }
}

pub(super) struct Row {
    pub(super) ty: &'static TypeInfo,
    pub(super) num: u64,
    pub(super) project: String,
    pub(super) data: Map<String, Value>,
    pub(super) pending: Option<Pending>,
}

pub struct World {
    pub projects: Vec<Project>,
    pub keys: Vec<ApiKey>,
    pub(super) rows: BTreeMap<(&'static str, u64), Row>,
    next_num: u64,
    pub(super) transition: Duration,
}

// Seed file wire types: the simulator's own, shared with nothing.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SeedWorld {
    projects: Vec<SeedProject>,
    api_keys: Vec<SeedKey>,
    #[serde(default)]
    resources: Vec<Map<String, Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedProject {
    id: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SeedKey {
    access_key: String,
    secret_key: String,
    projects: Vec<String>,
}

/// The default world (docs/cattle.md, "The simulator").
pub const DEFAULT_WORLD: &str = include_str!("world.json");

/// Parses a formatted id: `1`, then lowercase letters, then the number (§1.3).
pub fn parse_id(id: &str) -> Option<u64> {
    let rest = id.strip_prefix('1')?;
    let digits = rest.trim_start_matches(|c: char| c.is_ascii_lowercase());
    if digits.is_empty()
        || digits.len() == rest.len()
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    digits.parse().ok()
}

/// Why a seed file does not describe a world.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedError {
    #[error("seed: {0}")]
    Json(String),
    #[error("seed resource {index}: {problem}")]
    Resource { index: usize, problem: &'static str },
}

impl World {
    pub fn from_seed(text: &str, transition: Duration) -> Result<Self, SeedError> {
        let seed: SeedWorld =
            serde_json::from_str(text).map_err(|e| SeedError::Json(e.to_string()))?;
        let mut w = World {
            projects: seed
                .projects
                .into_iter()
                .map(|p| Project {
                    id: p.id,
                    name: p.name,
                })
                .collect(),
            keys: seed
                .api_keys
                .into_iter()
                .map(|k| ApiKey {
                    access: k.access_key,
                    secret: k.secret_key,
                    projects: k.projects,
                })
                .collect(),
            rows: BTreeMap::new(),
            next_num: 1,
            transition,
        };
        for (i, mut r) in seed.resources.into_iter().enumerate() {
            let at = |problem| SeedError::Resource { index: i, problem };
            let type_name = r
                .get("type")
                .and_then(Value::as_str)
                .ok_or_else(|| at("no type"))?
                .to_owned();
            let ty = schema::by_type_name(&type_name).ok_or_else(|| at("unknown type"))?;
            let id = r
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| at("no id"))?;
            let num = parse_id(id).ok_or_else(|| at("bad id"))?;
            let project = r
                .remove("accountId")
                .and_then(|v| v.as_str().map(str::to_owned))
                .ok_or_else(|| at("no accountId"))?;
            if !w.projects.iter().any(|p| p.id == project) {
                return Err(at("unknown project"));
            }
            r.remove("id");
            if ty.id == "service" && !r.contains_key("kind") {
                r.insert("kind".into(), type_name.clone().into());
            }
            r.entry("state").or_insert_with(|| "active".into());
            if ty.id == "service" {
                r.entry("healthState").or_insert_with(|| "healthy".into());
                // Only container-running kinds have a scale; an alias or external service
                // has none.
                if ["service", "loadBalancerService"].contains(&type_name.as_str()) {
                    let scale = r.get("scale").cloned().unwrap_or(json!(1));
                    r.entry("scale").or_insert(scale.clone());
                    r.entry("currentScale").or_insert(scale);
                }
            }
            w.insert_row(ty, num, project, r);
            w.next_num = w.next_num.max(num + 1);
        }
        Ok(w)
    }

    fn insert_row(
        &mut self,
        ty: &'static TypeInfo,
        num: u64,
        project: String,
        mut data: Map<String, Value>,
    ) {
        data.entry("created")
            .or_insert_with(|| time::now_iso().into());
        data.entry("uuid")
            .or_insert_with(|| format!("{}-{num:08}", ty.id).into());
        data.entry("removed").or_insert(Value::Null);
        if !data.contains_key("type") {
            data.insert("type".into(), ty.id.into());
        }
        self.rows.insert(
            (ty.plural, num),
            Row {
                ty,
                num,
                project,
                data,
                pending: None,
            },
        );
    }

    pub fn project(&self, id: &str) -> Option<&Project> {
        self.projects.iter().find(|p| p.id == id)
    }

    /// Whether the project has a live service of that name that runs containers.
    pub(super) fn runs_service(&self, project: &str, name: &str) -> bool {
        self.rows.values().any(|r| {
            r.ty.id == "service"
                && r.project == project
                && r.data.get("removed").is_none_or(Value::is_null)
                && r.data.get("launchConfig").is_some_and(Value::is_object)
                && r.data.get("name").and_then(Value::as_str) == Some(name)
        })
    }

    /// The services' scales and test loads in Prometheus' text format (`GET /_sim/metrics`,
    /// docs/cattle.md): what a monitoring system would see of the project, for the
    /// autoscaling loop. `load` is a field a test sets with `/_sim/set`; per container, the
    /// current scale is a label, so every step ends one series and starts another.
    pub fn service_metrics(&self) -> String {
        let label = |s: &str| {
            s.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
        };
        let mut scale = String::new();
        let mut load = String::new();
        let mut per = String::new();
        for r in self.rows.values() {
            let live = r.data.get("removed").is_none_or(Value::is_null);
            let Some(n) = r.data.get("scale").and_then(Value::as_i64) else {
                continue;
            };
            if !live || !matches!(r.ty.id, "service" | "loadBalancerService") {
                continue;
            }
            let id = format!("1{}{}", r.ty.prefix, r.num);
            let name = r.data.get("name").and_then(Value::as_str).unwrap_or("");
            let labels = format!(
                "project=\"{}\",service=\"{}\",name=\"{}\"",
                label(&r.project),
                label(&id),
                label(name)
            );
            scale.push_str(&format!("sim_service_scale{{{labels}}} {n}\n"));
            if let Some(l) = r.data.get("load").and_then(Value::as_f64) {
                load.push_str(&format!("sim_service_load{{{labels}}} {l}\n"));
                if n > 0 {
                    per.push_str(&format!(
                        "sim_service_load_per_container{{{labels},scale=\"{n}\"}} {}\n",
                        l / n as f64
                    ));
                }
            }
        }
        format!(
            "# HELP sim_service_scale The service's scale as Cattle holds it.\n\
             # TYPE sim_service_scale gauge\n{scale}\
             # HELP sim_service_load The load a test set on the service (field load).\n\
             # TYPE sim_service_load gauge\n{load}\
             # HELP sim_service_load_per_container The load divided by the scale, labelled with the scale.\n\
             # TYPE sim_service_load_per_container gauge\n{per}"
        )
    }

    /// Sets raw fields of a resource, bypassing validation (the admin endpoint).
    pub fn set_fields(
        &mut self,
        collection: &str,
        project: &str,
        id: &str,
        fields: Map<String, Value>,
    ) -> Result<(), ApiError> {
        let ty = schema::by_plural(collection).ok_or_else(|| ApiError::status(404))?;
        let k = self.find(ty, project, id)?;
        let row = self.rows.get_mut(&k).ok_or_else(|| ApiError::status(404))?;
        row.data.extend(fields);
        Ok(())
    }

    pub(super) fn find(
        &self,
        ty: &'static TypeInfo,
        project: &str,
        id: &str,
    ) -> Result<(&'static str, u64), ApiError> {
        let num = parse_id(id).ok_or_else(|| ApiError::status(404))?;
        match self.rows.get(&(ty.plural, num)) {
            Some(r) if r.project == project => Ok((ty.plural, num)),
            _ => Err(ApiError::status(404)),
        }
    }

    pub(super) fn state_of(&self, k: (&'static str, u64)) -> String {
        self.rows
            .get(&k)
            .and_then(|r| r.data.get("state"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    }

    pub fn get(
        &self,
        ty: &'static TypeInfo,
        project: &str,
        id: &str,
        scope: &str,
    ) -> Result<Value, ApiError> {
        let k = self.find(ty, project, id)?;
        Ok(self.render(&self.rows[&k], scope))
    }

    /// A resource as Cattle writes it: every schema field (nulls included), `links.self`,
    /// the actions valid in its current state, `XTS` twins of dates.
    pub(super) fn render(&self, row: &Row, scope: &str) -> Value {
        let mut out = Map::new();
        let id = format!("1{}{}", row.ty.prefix, row.num);
        let self_url = format!("{scope}/{}/{id}", row.ty.plural);
        for f in row.ty.all_fields() {
            out.insert(f.name.into(), Value::Null);
        }
        for (k, v) in &row.data {
            out.insert(k.clone(), v.clone());
        }
        out.insert("accountId".into(), row.project.clone().into());
        out.insert("id".into(), id.into());
        out.insert("baseType".into(), row.ty.id.into());
        let state = row.data.get("state").and_then(Value::as_str).unwrap_or("");
        // A host's displayed state is its agent's when the host is active (§2.5).
        if row.ty.id == "host" && state == "active" {
            if let Some(agent) = row.data.get("agentState").and_then(Value::as_str) {
                if !agent.is_empty() {
                    out.insert("state".into(), agent.into());
                }
            }
        }
        out.insert(
            "transitioning".into(),
            if row.pending.is_some() { "yes" } else { "no" }.into(),
        );
        for f in ["created", "removed"] {
            let ts = out
                .get(f)
                .and_then(Value::as_str)
                .and_then(time::parse_iso_ms);
            out.insert(format!("{f}TS"), ts.map_or(Value::Null, Value::from));
        }
        let actions: Map<String, Value> = available_actions(row.ty, state)
            .iter()
            .map(|a| ((*a).to_owned(), format!("{self_url}/?action={a}").into()))
            .collect();
        out.insert("links".into(), json!({ "self": self_url }));
        out.insert("actions".into(), Value::Object(actions));
        Value::Object(out)
    }

    pub fn create(
        &mut self,
        ty: &'static TypeInfo,
        project: &str,
        body: Map<String, Value>,
        scope: &str,
    ) -> Result<Value, ApiError> {
        let mut data = Map::new();
        for (k, v) in &body {
            if let Some(f) = ty.field(k).filter(|f| f.create) {
                check_kind(f.name, f.kind, v)?;
                data.insert(k.clone(), v.clone());
            }
        }
        let (during, to) = match ty.id {
            "service" => {
                self.check_service_name(project, &body, None)?;
                let stack = body
                    .get("stackId")
                    .and_then(Value::as_str)
                    .ok_or_else(|| ApiError::invalid("MissingRequired", "stackId"))?;
                self.find(&schema::STACK, project, stack)
                    .map_err(|_| ApiError::invalid("InvalidReference", "stackId"))?;
                let kind = body
                    .get("kind")
                    .and_then(Value::as_str)
                    .filter(|k| SERVICE_KINDS.contains(k))
                    .unwrap_or("service");
                data.insert("kind".into(), kind.into());
                data.insert("type".into(), kind.into());
                let scale = data.get("scale").cloned().unwrap_or(json!(1));
                check_scale(&scale)?;
                data.insert("scale".into(), scale.clone());
                data.insert("currentScale".into(), scale);
                data.insert("healthState".into(), "healthy".into());
                let start = body.get("startOnCreate").and_then(Value::as_bool) == Some(true);
                ("registering", if start { "active" } else { "inactive" })
            }
            "stack" => {
                required_str(&body, "name")?;
                ("activating", "active")
            }
            "genericObject" => ("activating", "active"),
            "host" => {
                required_str(&body, "hostname")?;
                if let Some(t) = body.get("hostTemplateId").and_then(Value::as_str) {
                    let k = self
                        .find(&schema::HOST_TEMPLATE, project, t)
                        .map_err(|_| ApiError::invalid("InvalidReference", "hostTemplateId"))?;
                    let driver = self.rows[&k]
                        .data
                        .get("driver")
                        .cloned()
                        .unwrap_or(Value::Null);
                    data.insert("driver".into(), driver);
                }
                ("registering", "active")
            }
            "hostTemplate" => ("activating", "active"),
            "externalHostEvent" => {
                let event = required_str(&body, "eventType")?.to_owned();
                if event == "host.evacuate" {
                    let host = body
                        .get("hostId")
                        .and_then(Value::as_str)
                        .ok_or_else(|| ApiError::invalid("MissingRequired", "hostId"))?;
                    let hk = self
                        .find(&schema::HOST, project, host)
                        .map_err(|_| ApiError::invalid("InvalidReference", "hostId"))?;
                    let delete = body.get("deleteHost").and_then(Value::as_bool) == Some(true);
                    self.evacuate(hk, delete);
                }
                ("creating", "created")
            }
            _ => ("activating", "active"),
        };
        data.insert("state".into(), "requested".into());
        let num = self.next_num;
        self.next_num += 1;
        self.insert_row(ty, num, project.to_owned(), data);
        self.start((ty.plural, num), during, to);
        Ok(self.render(&self.rows[&(ty.plural, num)], scope))
    }

    fn check_service_name(
        &self,
        project: &str,
        body: &Map<String, Value>,
        except: Option<u64>,
    ) -> Result<(), ApiError> {
        let name = required_str(body, "name")?;
        if name.len() > 63 {
            return Err(ApiError::invalid("MaxLengthExceeded", "name"));
        }
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(ApiError::invalid("InvalidCharacters", "name"));
        }
        let stack = body.get("stackId").and_then(Value::as_str);
        let taken = self.rows.values().any(|r| {
            r.ty.id == "service"
                && r.project == project
                && Some(r.num) != except
                && r.data.get("removed").is_none_or(Value::is_null)
                && (stack.is_none() || r.data.get("stackId").and_then(Value::as_str) == stack)
                && r.data
                    .get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
        });
        if taken {
            return Err(ApiError::invalid("NotUnique", "name"));
        }
        Ok(())
    }

    /// PUT: merges updatable fields that differ; unknown and read-only fields are dropped.
    pub fn update(
        &mut self,
        ty: &'static TypeInfo,
        project: &str,
        id: &str,
        body: Map<String, Value>,
        scope: &str,
    ) -> Result<Value, ApiError> {
        let k = self.find(ty, project, id)?;
        let mut changes = Map::new();
        for (name, v) in body {
            let Some(f) = ty.field(&name).filter(|f| f.update) else {
                continue;
            };
            check_kind(f.name, f.kind, &v)?;
            if name == "scale" {
                check_scale(&v)?;
            }
            if self.rows[&k].data.get(&name) != Some(&v) {
                changes.insert(name, v);
            }
        }
        if changes.is_empty() {
            return Ok(self.render(&self.rows[&k], scope));
        }
        let state = self.state_of(k);
        if ty.id == "service" {
            if !available_actions(ty, &state).contains(&"update") {
                return Err(ApiError::status(409));
            }
            if let Some(Value::String(_)) = changes.get("name") {
                let mut probe = changes.clone();
                if let Some(s) = self.rows[&k].data.get("stackId") {
                    probe.insert("stackId".into(), s.clone());
                }
                self.check_service_name(project, &probe, Some(k.1))?;
            }
        }
        let row = self.rows.get_mut(&k).ok_or_else(|| ApiError::status(404))?;
        if let Some(scale) = changes.get("scale").cloned() {
            row.data.insert("currentScale".into(), scale);
        }
        row.data.extend(changes);
        match (ty.id, state.as_str()) {
            ("service", "active") => self.start(k, "updating-active", "active"),
            ("service", "inactive") => self.start(k, "updating-inactive", "inactive"),
            _ => {}
        }
        Ok(self.render(&self.rows[&k], scope))
    }

    pub fn delete(
        &mut self,
        ty: &'static TypeInfo,
        project: &str,
        id: &str,
        scope: &str,
    ) -> Result<Value, ApiError> {
        let k = self.find(ty, project, id)?;
        let state = self.state_of(k);
        if !available_actions(ty, &state).contains(&"remove") {
            return Err(ApiError::status(405));
        }
        // `removed` is stamped at once so lists stop showing it, as clients observe it.
        if let Some(row) = self.rows.get_mut(&k) {
            row.data.insert("removed".into(), time::now_iso().into());
        }
        self.start(k, "removing", "removed");
        Ok(self.render(&self.rows[&k], scope))
    }
}

fn required_str<'a>(body: &'a Map<String, Value>, field: &str) -> Result<&'a str, ApiError> {
    match body.get(field).and_then(Value::as_str) {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(ApiError::invalid("MissingRequired", field)),
    }
}

fn check_kind(name: &str, kind: Kind, v: &Value) -> Result<(), ApiError> {
    let ok = v.is_null()
        || match kind {
            Kind::Str | Kind::Date | Kind::Ref => v.is_string(),
            Kind::Int => v.is_i64() || v.is_u64(),
            Kind::Bool => v.is_boolean(),
            Kind::Map => v
                .as_object()
                .is_some_and(|m| m.values().all(Value::is_string)),
            Kind::Json => true,
        };
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid("InvalidFormat", name))
    }
}

fn check_scale(v: &Value) -> Result<(), ApiError> {
    match v.as_i64() {
        Some(n) if n < 0 => Err(ApiError::invalid("MinLimitExceeded", "scale")),
        Some(_) => Ok(()),
        None => Err(ApiError::invalid("InvalidFormat", "scale")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::schema::SERVICE;

    #[test]
    fn ids_parse_like_cattle() {
        assert_eq!(parse_id("1s5"), Some(5));
        assert_eq!(parse_id("1go12"), Some(12));
        assert_eq!(parse_id("1ht1"), Some(1));
        assert_eq!(parse_id("s5"), None);
        assert_eq!(parse_id("15"), None);
        assert_eq!(parse_id("1s"), None);
        assert_eq!(parse_id("1s5x"), None);
    }

    #[test]
    fn default_world_loads() {
        let w = World::from_seed(DEFAULT_WORLD, Duration::from_millis(1)).expect("default world");
        assert_eq!(w.projects.len(), 2);
        let s = w
            .get(&SERVICE, "1a5", "1s1", "http://x/v2-beta/projects/1a5")
            .expect("1s1");
        assert_eq!(s["scale"], 2);
        assert_eq!(s["type"], "service");
        assert!(s["actions"]["upgrade"].is_string());
        assert!(w.get(&SERVICE, "1a5", "1s6", "").is_err(), "1s6 is in 1a7");
    }
}
