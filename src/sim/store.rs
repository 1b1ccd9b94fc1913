//! The simulator's world: projects, API keys and resources, with Cattle's validation, state
//! machine (cattle-api.md §2.2), filters, sorting and pagination (§3). Resources are kept
//! as JSON maps, so PUT merges and filters work on any field the schema names. Transitions
//! complete lazily: a resource in `upgrading` reads `upgraded` once its delay has passed,
//! whoever looks first — the same thing a client sees from Cattle's background processes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{json, Map, Value};

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

/// A transition in progress: when it completes, the state becomes `to`.
struct Pending {
    due: Instant,
    to: &'static str,
    purge: bool,
}

struct Row {
    ty: &'static TypeInfo,
    num: u64,
    project: String,
    data: Map<String, Value>,
    pending: Option<Pending>,
}

pub struct World {
    pub projects: Vec<Project>,
    pub keys: Vec<ApiKey>,
    rows: BTreeMap<(&'static str, u64), Row>,
    next_num: u64,
    transition: Duration,
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

/// The default world of SPEC §9.
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

impl World {
    pub fn from_seed(text: &str, transition: Duration) -> Result<Self, String> {
        let seed: SeedWorld = serde_json::from_str(text).map_err(|e| format!("seed: {e}"))?;
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
            let at = |what: &str| format!("seed resource {i}: {what}");
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

    /// Completes every transition whose time has come.
    pub fn settle(&mut self, now: Instant) {
        for row in self.rows.values_mut() {
            if row.pending.as_ref().is_some_and(|p| p.due <= now) {
                if let Some(p) = row.pending.take() {
                    row.data.insert("state".into(), p.to.into());
                    if p.purge {
                        row.data.insert("removed".into(), time::now_iso().into());
                    }
                }
            }
        }
    }

    fn start(&mut self, key: (&'static str, u64), during: &'static str, to: &'static str) {
        let due = Instant::now() + self.transition;
        if let Some(row) = self.rows.get_mut(&key) {
            row.data.insert("state".into(), during.into());
            row.pending = Some(Pending {
                due,
                to,
                purge: false,
            });
        }
    }

    fn find(
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

    fn state_of(&self, k: (&'static str, u64)) -> String {
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
    fn render(&self, row: &Row, scope: &str) -> Value {
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

    /// Lists a collection: filters, sort, pagination (§3). `self_url` is the request's URL.
    pub fn list(
        &self,
        ty: &'static TypeInfo,
        project: &str,
        query: &[(String, String)],
        scope: &str,
        self_url: &str,
    ) -> Value {
        let show_removed = query.iter().any(|(k, _)| k == "_removed");
        let mut filters: BTreeMap<(&'static str, &str), Vec<&str>> = BTreeMap::new();
        let (mut sort, mut desc, mut limit, mut offset) = (None, false, 100usize, 0usize);
        for (k, v) in query {
            match k.as_str() {
                "sort" => sort = ty.field(v).filter(|f| f.filter),
                "order" => desc = v == "desc",
                "limit" => {
                    limit = match v.parse::<i64>() {
                        Ok(n) if n <= 0 => 3000,
                        Ok(n) => usize::try_from(n).unwrap_or(3000).min(3000),
                        Err(_) => 100,
                    }
                }
                "marker" => {
                    offset = v
                        .strip_prefix('m')
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0)
                }
                _ => {
                    let (name, modifier) = split_modifier(k);
                    // Unknown or non-filterable parameters are silently ignored (§3.2).
                    if let Some(f) = ty.field(name).filter(|f| f.filter) {
                        if schema::modifiers(f.kind).contains(&modifier) {
                            filters.entry((f.name, modifier)).or_default().push(v);
                        }
                    }
                }
            }
        }
        let mut rows: Vec<&Row> = self
            .rows
            .range((ty.plural, 0)..=(ty.plural, u64::MAX))
            .map(|(_, r)| r)
            .filter(|r| r.project == project)
            .filter(|r| show_removed || r.data.get("removed").is_none_or(Value::is_null))
            .filter(|r| {
                filters.iter().all(|((name, m), values)| {
                    let kind = ty.field(name).map_or(Kind::Str, |f| f.kind);
                    matches(r.data.get(*name), kind, m, values)
                })
            })
            .collect();
        if let Some(f) = sort {
            rows.sort_by(|a, b| {
                let o = compare(a.data.get(f.name), b.data.get(f.name));
                if desc { o.reverse() } else { o }.then(a.num.cmp(&b.num))
            });
        }
        let total = rows.len();
        let page: Vec<Value> = rows
            .iter()
            .skip(offset)
            .take(limit)
            .map(|r| self.render(r, scope))
            .collect();
        let partial = offset + limit < total;
        let next = partial.then(|| with_marker(self_url, offset + limit));
        let filter_doc: Map<String, Value> = ty
            .all_fields()
            .filter(|f| f.filter)
            .map(|f| {
                let used: Vec<Value> = filters
                    .iter()
                    .filter(|((n, _), _)| *n == f.name)
                    .flat_map(|((_, m), vs)| {
                        vs.iter().map(move |v| json!({"modifier": m, "value": v}))
                    })
                    .collect();
                let v = if used.is_empty() {
                    Value::Null
                } else {
                    Value::Array(used)
                };
                (f.name.to_owned(), v)
            })
            .collect();
        let sort_links: Map<String, Value> = ty
            .all_fields()
            .filter(|f| f.filter)
            .map(|f| {
                (
                    f.name.to_owned(),
                    format!("{}/{}?sort={}", scope, ty.plural, f.name).into(),
                )
            })
            .collect();
        json!({
            "type": "collection",
            "resourceType": ty.id,
            "links": {"self": self_url},
            "createTypes": {},
            "actions": {},
            "createDefaults": {},
            "data": page,
            "sortLinks": sort_links,
            "pagination": {"first": null, "previous": null, "next": next, "limit": limit,
                           "total": null, "partial": partial},
            "sort": sort.map(|f| json!({"name": f.name, "order": if desc {"desc"} else {"asc"}, "reverse": null})),
            "filters": filter_doc,
        })
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

    /// `host.evacuate`: deactivate the host, and with `deleteHost` remove and purge it.
    fn evacuate(&mut self, host: (&'static str, u64), delete: bool) {
        let due = Instant::now() + self.transition;
        if let Some(row) = self.rows.get_mut(&host) {
            row.data.insert("state".into(), "deactivating".into());
            row.pending = Some(Pending {
                due,
                to: if delete { "purged" } else { "inactive" },
                purge: delete,
            });
        }
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

    /// `POST …/{id}/?action=NAME` — 202 with the resource in its transitioning state.
    pub fn action(
        &mut self,
        ty: &'static TypeInfo,
        project: &str,
        id: &str,
        action: &str,
        body: Map<String, Value>,
        scope: &str,
    ) -> Result<Value, ApiError> {
        let k = self.find(ty, project, id)?;
        if !ty.resource_actions.contains(&action) {
            return Err(ApiError::invalid("InvalidAction", "action"));
        }
        let state = self.state_of(k);
        if !available_actions(ty, &state).contains(&action) {
            return Err(ApiError::invalid("ActionNotAvailable", "action"));
        }
        if action == "remove" {
            return self.delete(ty, project, id, scope);
        }
        let (during, to) = match (ty.id, action) {
            ("service", "upgrade") => {
                self.upgrade(k, &body)?;
                ("upgrading", "upgraded")
            }
            ("service", "finishupgrade") => ("finishing-upgrade", "active"),
            ("service", "cancelupgrade") => ("canceling-upgrade", "canceled-upgrade"),
            ("service", "continueupgrade") => ("upgrading", "upgraded"),
            ("service", "rollback") => {
                let prev = self.rows[&k]
                    .data
                    .get("upgrade")
                    .and_then(|u| u.pointer("/inServiceStrategy/previousLaunchConfig"))
                    .cloned();
                if let (Some(prev), Some(row)) = (prev, self.rows.get_mut(&k)) {
                    row.data.insert("launchConfig".into(), prev);
                }
                ("rolling-back", "active")
            }
            (_, "activate") => ("activating", "active"),
            (_, "deactivate") => ("deactivating", "inactive"),
            (_, "evacuate") => ("deactivating", "inactive"),
            (_, "restart") => ("restarting", "active"),
            (_, "purge") => ("purging", "purged"),
            (_, "update") => return self.update(ty, project, id, body, scope),
            _ => return Err(ApiError::invalid("InvalidAction", "action")),
        };
        self.start(k, during, to);
        Ok(self.render(&self.rows[&k], scope))
    }

    /// Validates and applies an in-service upgrade (§2.3).
    fn upgrade(
        &mut self,
        k: (&'static str, u64),
        body: &Map<String, Value>,
    ) -> Result<(), ApiError> {
        let Some(Value::Object(strategy)) = body.get("inServiceStrategy") else {
            return Err(ApiError::invalid("MissingRequired", "inServiceStrategy"));
        };
        let launch = strategy.get("launchConfig").filter(|v| !v.is_null());
        let secondary = strategy
            .get("secondaryLaunchConfigs")
            .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()));
        if launch.is_none() && secondary.is_none() {
            return Err(ApiError::invalid("InvalidOption", "inServiceStrategy"));
        }
        let row = self.rows.get_mut(&k).ok_or_else(|| ApiError::status(404))?;
        if launch.is_none()
            && row.data.get("kind").and_then(Value::as_str) == Some("loadBalancerService")
        {
            return Err(ApiError::invalid("InvalidOption", "launchConfig"));
        }
        for (f, min) in [("batchSize", 1), ("intervalMillis", 100)] {
            if strategy
                .get(f)
                .and_then(Value::as_i64)
                .is_some_and(|v| v < min)
            {
                return Err(ApiError::invalid("MinLimitExceeded", f));
            }
        }
        let mut recorded = strategy.clone();
        recorded.insert(
            "previousLaunchConfig".into(),
            row.data.get("launchConfig").cloned().unwrap_or(Value::Null),
        );
        if let Some(l) = launch {
            row.data.insert("launchConfig".into(), l.clone());
        }
        row.data
            .insert("upgrade".into(), json!({ "inServiceStrategy": recorded }));
        Ok(())
    }
}

/// Actions offered in a state (the state table of cattle-api.md §2.2; a few for the rest).
pub fn available_actions(ty: &TypeInfo, state: &str) -> Vec<&'static str> {
    let allowed: &[(&'static str, &[&str])] = match ty.id {
        "service" => &[
            ("activate", &["inactive", "restarting"]),
            (
                "deactivate",
                &[
                    "restarting",
                    "active",
                    "activating",
                    "updating-inactive",
                    "updating-active",
                ],
            ),
            (
                "update",
                &[
                    "inactive",
                    "active",
                    "updating-active",
                    "updating-inactive",
                    "finishing-upgrade",
                    "activating",
                    "canceling-upgrade",
                    "upgrading",
                    "rolling-back",
                ],
            ),
            (
                "remove",
                &[
                    "inactive",
                    "registering",
                    "active",
                    "activating",
                    "updating-active",
                    "updating-inactive",
                    "upgrading",
                    "canceling-upgrade",
                    "rolling-back",
                    "deactivating",
                    "requested",
                    "canceled-upgrade",
                    "upgraded",
                    "finishing-upgrade",
                    "restarting",
                ],
            ),
            (
                "upgrade",
                &["active", "activating", "inactive", "updating-active"],
            ),
            ("continueupgrade", &["canceled-upgrade"]),
            ("cancelupgrade", &["upgrading", "finishing-upgrade"]),
            ("rollback", &["upgrading", "upgraded", "canceled-upgrade"]),
            ("finishupgrade", &["upgraded"]),
            ("restart", &["active"]),
        ],
        "host" => &[
            ("activate", &["inactive"]),
            ("deactivate", &["active"]),
            ("update", &["active", "inactive", "registering"]),
            ("evacuate", &["active", "inactive"]),
            ("remove", &["active", "inactive", "registering", "error"]),
            ("purge", &["removed"]),
        ],
        "stack" => &[
            ("update", &["active"]),
            ("remove", &["active", "activating", "requested"]),
        ],
        _ => &[(
            "remove",
            &["requested", "activating", "active", "created", "creating"],
        )],
    };
    allowed
        .iter()
        .filter(|(_, states)| states.contains(&state))
        .map(|(a, _)| *a)
        .collect()
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

/// `name_ne` → (`name`, `ne`); a suffix that is no modifier is part of the name.
fn split_modifier(param: &str) -> (&str, &str) {
    const MODS: &[&str] = &[
        "ne", "lt", "lte", "gt", "gte", "prefix", "like", "notlike", "null", "notnull", "eq",
    ];
    match param.rsplit_once('_') {
        Some((name, m)) if MODS.contains(&m) && !name.is_empty() => (name, m),
        _ => (param, "eq"),
    }
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn matches(v: Option<&Value>, kind: Kind, modifier: &str, values: &[&str]) -> bool {
    let text = v.and_then(as_text);
    match modifier {
        "null" => text.is_none(),
        "notnull" => text.is_some(),
        "eq" => text.is_some_and(|t| values.contains(&t.as_str())),
        "ne" => text.is_none_or(|t| !values.contains(&t.as_str())),
        "prefix" => text.is_some_and(|t| values.iter().any(|p| t.starts_with(p))),
        "like" => text.is_some_and(|t| values.iter().any(|p| like(p, &t))),
        "notlike" => text.is_none_or(|t| !values.iter().any(|p| like(p, &t))),
        _ => {
            let Some(t) = text else { return false };
            values.iter().all(|want| {
                let ord = if kind == Kind::Int {
                    match (t.parse::<i64>(), want.parse::<i64>()) {
                        (Ok(a), Ok(b)) => a.cmp(&b),
                        _ => return false,
                    }
                } else {
                    t.as_str().cmp(want)
                };
                match modifier {
                    "lt" => ord.is_lt(),
                    "lte" => ord.is_le(),
                    "gt" => ord.is_gt(),
                    _ => ord.is_ge(),
                }
            })
        }
    }
}

/// SQL LIKE: `%` any run, `_` any one character.
fn like(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('%', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
            Some(('_', rest)) => !t.is_empty() && go(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

fn compare(a: Option<&Value>, b: Option<&Value>) -> std::cmp::Ordering {
    match (a.and_then(Value::as_i64), b.and_then(Value::as_i64)) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => a.and_then(as_text).cmp(&b.and_then(as_text)),
    }
}

/// The request URL with `marker` set to `m<offset>`.
fn with_marker(url: &str, offset: usize) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut parts: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("marker="))
        .map(str::to_owned)
        .collect();
    parts.push(format!("marker=m{offset}"));
    format!("{base}?{}", parts.join("&"))
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
    fn like_and_modifiers() {
        assert!(like("we%", "web"));
        assert!(like("w_b", "web"));
        assert!(!like("w_b", "webs"));
        assert_eq!(split_modifier("name_ne"), ("name", "ne"));
        assert_eq!(split_modifier("scale_gte"), ("scale", "gte"));
        assert_eq!(split_modifier("host_template"), ("host_template", "eq"));
        assert!(matches(Some(&json!(3)), Kind::Int, "gt", &["2"]));
        assert!(matches(Some(&json!(3)), Kind::Int, "lt", &["20"]));
        assert!(!matches(Some(&json!(30)), Kind::Int, "lt", &["20"]));
        assert!(matches(None, Kind::Str, "null", &["x"]));
    }

    #[test]
    fn marker_replaces_marker() {
        assert_eq!(
            with_marker("http://h/x?limit=5&marker=m5", 10),
            "http://h/x?limit=5&marker=m10"
        );
        assert_eq!(with_marker("http://h/x", 100), "http://h/x?marker=m100");
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
