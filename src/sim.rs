//! A Cattle v2-beta simulator (docs/cattle.md): enough of Rancher's API,
//! faithful in its shapes, codes and state machine, for hookgate's client, tests, the demo and
//! load runs. It keeps its own wire handling (JSON maps and its own seed types) and never
//! imports the client's types, so each checks the other.
//!
//! Admin endpoints outside the Cattle API: `/_sim/faults` (inject status, latency or dropped
//! connections), `/_sim/calls` (what was requested), `/_sim/upstreams` (where the service
//! proxy sends a service's traffic) and `/_sim/set` (raw fields, as Cattle's own processes
//! would set them).

mod machine;
mod proxy;
mod query;
mod schema;
mod store;

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;

use store::World;
pub use store::{ApiError, SeedError, DEFAULT_WORLD};

/// A fault to inject on requests whose path starts with `path_prefix`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Fault {
    #[serde(default)]
    path_prefix: String,
    /// Only requests of this method (any when absent).
    #[serde(default)]
    method: Option<String>,
    /// Holds the answer back this long after the request was carried out (a slow way back).
    #[serde(default)]
    answer_delay_ms: u64,
    status: Option<u16>,
    #[serde(default)]
    latency_ms: u64,
    #[serde(default = "one")]
    rate: f64,
    #[serde(default)]
    drop: bool,
}

fn one() -> f64 {
    1.0
}

/// Where the service proxy sends a service's traffic (admin endpoint `/_sim/upstreams`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Upstream {
    project_id: String,
    service: String,
    port: u16,
    url: String,
}

/// Raw fields to set on a resource, as Cattle's own processes would (admin endpoint
/// `/_sim/set`): a host's `agentState`, a service's state, a test's load gauge.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SetFields {
    project_id: String,
    collection: String,
    id: String,
    fields: Map<String, Value>,
}

/// The simulator. Cheap to share behind an `Arc`; every lock is held only for in-memory work.
pub struct Sim {
    world: Mutex<World>,
    faults: Mutex<Vec<Fault>>,
    calls: Mutex<Vec<Value>>,
    rng: Mutex<u64>,
    /// (project, service, port) → the URL the service proxy forwards to (tests' upstreams).
    upstreams: Mutex<std::collections::HashMap<(String, String, u16), String>>,
    /// How the service proxy reaches an upstream.
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Full<Bytes>,
    >,
}

/// The request was told to drop its connection; the server aborts it without a response.
#[derive(Debug)]
pub struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for Dropped {}

type Resp = Response<Full<Bytes>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock would be a simulator bug; keep serving regardless.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Sim {
    /// A simulator holding the world described by `seed` (the format of `world.json`).
    pub fn new(seed: &str, transition: Duration) -> Result<Self, SeedError> {
        // A random seed for fault rates; a fixed one if the OS has no random source.
        let mut s = [0u8; 8];
        let _ = getrandom::fill(&mut s);
        Ok(Self {
            world: Mutex::new(World::from_seed(seed, transition)?),
            faults: Mutex::new(Vec::new()),
            calls: Mutex::new(Vec::new()),
            rng: Mutex::new(u64::from_le_bytes(s) | 1),
            upstreams: Mutex::new(Default::default()),
            client: hyper_util::client::legacy::Client::builder(
                hyper_util::rt::TokioExecutor::new(),
            )
            .build_http(),
        })
    }

    /// The default world (docs/cattle.md, "The simulator").
    pub fn with_default_world(transition: Duration) -> Self {
        match Self::new(DEFAULT_WORLD, transition) {
            Ok(s) => s,
            // The embedded world is checked by a unit test; failing here is a build defect.
            Err(e) => panic!("embedded default world is invalid: {e}"),
        }
    }

    /// How many Cattle API calls (not `/_sim/` ones) the simulator has received so far.
    pub fn calls_made(&self) -> usize {
        lock(&self.calls).len()
    }

    /// Forgets the calls received so far (`DELETE /_sim/calls`).
    pub fn forget_calls(&self) {
        lock(&self.calls).clear();
    }

    fn chance(&self, rate: f64) -> bool {
        let mut x = lock(&self.rng);
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        ((*x >> 11) as f64 / (1u64 << 53) as f64) < rate
    }

    /// Handles one request. `Err(Dropped)` asks the server to abort the connection.
    pub async fn handle(&self, req: Request<Incoming>) -> Result<Resp, Dropped> {
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, 4 << 20).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return Ok(error_response(&ApiError::status(400), None)),
        };
        let path = parts.uri.path().to_owned();
        let query = parts.uri.query().unwrap_or("").to_owned();
        if let Some(admin) = path.strip_prefix("/_sim/") {
            return Ok(self.admin(&parts.method, admin, &body));
        }
        lock(&self.calls)
            .push(json!({"method": parts.method.as_str(), "path": path, "query": query}));

        let fault = lock(&self.faults)
            .iter()
            .find(|f| {
                path.starts_with(&f.path_prefix)
                    && f.method
                        .as_deref()
                        .is_none_or(|m| m.eq_ignore_ascii_case(parts.method.as_str()))
            })
            .cloned();
        let mut answer_delay = 0;
        if let Some(f) = fault.filter(|f| self.chance(f.rate)) {
            answer_delay = f.answer_delay_ms;
            if f.latency_ms > 0 {
                tokio::time::sleep(Duration::from_millis(f.latency_ms)).await;
            }
            if f.drop {
                return Err(Dropped);
            }
            if let Some(status) = f.status {
                return Ok(error_response(&ApiError::status(status), None));
            }
        }

        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        let ctx = Ctx {
            base: format!("http://{host}"),
            method: parts.method.clone(),
            path,
            query,
            auth: parts.headers.get(header::AUTHORIZATION).cloned(),
            no_challenge: parts
                .headers
                .get("x-api-no-challenge")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true")),
        };
        let resp = match ctx.path.strip_prefix("/r/projects/") {
            Some(rest) => {
                let rest = rest.to_owned();
                self.proxy(&ctx, &rest, &parts.headers, body).await
            }
            None => self.api(&ctx, &body),
        };
        if answer_delay > 0 {
            tokio::time::sleep(Duration::from_millis(answer_delay)).await;
        }
        Ok(resp)
    }

    fn admin(&self, method: &Method, what: &str, body: &[u8]) -> Resp {
        match (method, what) {
            (&Method::POST, "faults") => match serde_json::from_slice::<Fault>(body) {
                Ok(f) => {
                    lock(&self.faults).push(f);
                    json_response(StatusCode::CREATED, &json!({"ok": true}), None)
                }
                Err(e) => error_response(
                    &ApiError::new(400, "InvalidBodyContent", Some(format!("fault: {e}"))),
                    None,
                ),
            },
            (&Method::DELETE, "faults") => {
                lock(&self.faults).clear();
                empty(StatusCode::NO_CONTENT)
            }
            (&Method::GET, "calls") => {
                let calls = Value::Array(lock(&self.calls).clone());
                json_response(StatusCode::OK, &calls, None)
            }
            (&Method::DELETE, "calls") => {
                self.forget_calls();
                empty(StatusCode::NO_CONTENT)
            }
            (&Method::POST, "upstreams") => match serde_json::from_slice::<Upstream>(body) {
                Ok(u) => {
                    lock(&self.upstreams).insert((u.project_id, u.service, u.port), u.url);
                    json_response(StatusCode::CREATED, &json!({"ok": true}), None)
                }
                Err(e) => error_response(
                    &ApiError::new(400, "InvalidBodyContent", Some(format!("upstream: {e}"))),
                    None,
                ),
            },
            (&Method::DELETE, "upstreams") => {
                lock(&self.upstreams).clear();
                empty(StatusCode::NO_CONTENT)
            }
            (&Method::GET, "metrics") => {
                let mut world = lock(&self.world);
                world.settle(Instant::now());
                let mut r = Response::new(Full::new(Bytes::from(world.service_metrics())));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                r
            }
            (&Method::POST, "set") => {
                let result = serde_json::from_slice::<SetFields>(body)
                    .map_err(|e| {
                        ApiError::new(400, "InvalidBodyContent", Some(format!("set: {e}")))
                    })
                    .and_then(|s| {
                        lock(&self.world).set_fields(&s.collection, &s.project_id, &s.id, s.fields)
                    });
                match result {
                    Ok(()) => empty(StatusCode::NO_CONTENT),
                    Err(e) => error_response(&e, None),
                }
            }
            _ => error_response(&ApiError::status(404), None),
        }
    }

    fn api(&self, ctx: &Ctx, body: &[u8]) -> Resp {
        let Some((version, rest)) = split_version(&ctx.path) else {
            return error_response(&ApiError::status(404), None);
        };
        let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        let root = format!("{}/{version}", ctx.base);
        let mut world = lock(&self.world);
        world.settle(Instant::now());

        let key = match authenticate(&world, ctx) {
            Ok(k) => k,
            Err(resp) => return *resp,
        };
        // Unscoped: the version root, schemas, and the projects the key reaches.
        let (project, segs) = match segs.as_slice() {
            ["projects", pid, rest @ ..] => (Some(*pid), rest),
            other => (None, other),
        };
        let Some(pid) = project else {
            let schemas_url = format!("{root}/schemas");
            return match segs {
                [] => json_response(StatusCode::OK, &version_doc(&root), Some(&schemas_url)),
                ["schemas", rest @ ..] => schemas(&root, rest, &schemas_url),
                ["projects"] if ctx.method == Method::GET => {
                    let data: Vec<Value> = world
                        .projects
                        .iter()
                        .filter(|p| world.keys[key].reaches(&p.id))
                        .map(|p| project_doc(&root, &p.id, &p.name))
                        .collect();
                    let doc = json!({"type": "collection", "resourceType": "project",
                        "links": {"self": format!("{root}/projects")}, "data": data,
                        "pagination": {"limit": 100, "partial": false}});
                    json_response(StatusCode::OK, &doc, Some(&schemas_url))
                }
                _ => error_response(&ApiError::status(404), Some(&schemas_url)),
            };
        };
        let scope = format!("{root}/projects/{pid}");
        let schemas_url = format!("{scope}/schemas");
        let hdr = Some(schemas_url.as_str());
        if !world.keys[key].reaches(pid) || world.project(pid).is_none() {
            return error_response(&ApiError::status(403), hdr);
        }
        let Some((collection, rest)) = segs.split_first() else {
            let p = world.project(pid).map_or(String::new(), |p| p.name.clone());
            return json_response(StatusCode::OK, &project_doc(&root, pid, &p), hdr);
        };
        if *collection == "schemas" {
            return schemas(&scope, rest, &schemas_url);
        }
        let Some(ty) = schema::by_plural(collection) else {
            return error_response(&ApiError::status(404), hdr);
        };
        let query: Vec<(String, String)> = form_urlencoded::parse(ctx.query.as_bytes())
            .into_owned()
            .collect();
        let self_url = if ctx.query.is_empty() {
            format!("{}{}", ctx.base, ctx.path)
        } else {
            format!("{}{}?{}", ctx.base, ctx.path, ctx.query)
        };
        let action = query
            .iter()
            .find(|(k, _)| k == "action")
            .map(|(_, v)| v.as_str());
        let methods = if rest.is_empty() {
            ty.collection_methods
        } else {
            ty.resource_methods
        };
        let method_ok = methods.contains(&ctx.method.as_str())
            || (ctx.method == Method::POST && action.is_some() && !rest.is_empty());
        if !method_ok {
            return error_response(&ApiError::status(405), hdr);
        }
        let parsed_body = || -> Result<Map<String, Value>, ApiError> {
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(Map::new());
            }
            match serde_json::from_slice(body) {
                Ok(Value::Object(m)) => Ok(m),
                _ => Err(ApiError::new(
                    422,
                    "InvalidBodyContent",
                    Some("body is not a JSON object".into()),
                )),
            }
        };
        let result = match (rest, &ctx.method) {
            ([], &Method::GET) => Ok((
                StatusCode::OK,
                world.list(ty, pid, &query, &scope, &self_url),
            )),
            ([], &Method::POST) => parsed_body()
                .and_then(|b| world.create(ty, pid, b, &scope))
                .map(|v| (StatusCode::CREATED, v)),
            ([id], &Method::GET) => world.get(ty, pid, id, &scope).map(|v| (StatusCode::OK, v)),
            ([id], &Method::POST) => match action {
                Some(a) => parsed_body()
                    .and_then(|b| world.action(ty, pid, id, a, b, &scope))
                    .map(|v| (StatusCode::ACCEPTED, v)),
                None => Err(ApiError::status(405)),
            },
            ([id], &Method::PUT) => parsed_body()
                .and_then(|b| world.update(ty, pid, id, b, &scope))
                .map(|v| (StatusCode::OK, v)),
            ([id], &Method::DELETE) => world
                .delete(ty, pid, id, &scope)
                .map(|v| (StatusCode::OK, v)),
            _ => Err(ApiError::status(404)),
        };
        match result {
            Ok((status, v)) => json_response(status, &v, hdr),
            Err(e) => error_response(&e, hdr),
        }
    }
}

struct Ctx {
    base: String,
    method: Method,
    path: String,
    query: String,
    auth: Option<HeaderValue>,
    no_challenge: bool,
}

/// `/v2-beta/...` or `/v1/...` (accepted alike) → (version, rest).
fn split_version(path: &str) -> Option<(&'static str, &str)> {
    for v in ["v2-beta", "v1"] {
        if let Some(rest) = path.strip_prefix('/').and_then(|p| p.strip_prefix(v)) {
            if rest.is_empty() || rest.starts_with('/') {
                return Some((v, rest));
            }
        }
    }
    None
}

/// HTTP Basic against the world's API keys: the key's index, or the 401 response.
fn authenticate(world: &World, ctx: &Ctx) -> Result<usize, Box<Resp>> {
    let creds = ctx
        .auth
        .as_ref()
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let found = creds
        .as_deref()
        .and_then(|c| c.split_once(':'))
        .and_then(|(a, s)| {
            world
                .keys
                .iter()
                .position(|k| k.access == a && k.secret == s)
        });
    found.ok_or_else(|| {
        let mut r = error_response(&ApiError::status(401), None);
        if !ctx.no_challenge {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(
                    "Basic realm=\"Enter API access key and secret key as username and password\"",
                ),
            );
        }
        Box::new(r)
    })
}

fn version_doc(root: &str) -> Value {
    let mut links = Map::new();
    links.insert("self".into(), root.into());
    links.insert("projects".into(), format!("{root}/projects").into());
    links.insert("schemas".into(), format!("{root}/schemas").into());
    json!({"id": root.rsplit('/').next(), "type": "apiVersion", "links": links, "actions": {}})
}

fn project_doc(root: &str, id: &str, name: &str) -> Value {
    json!({"id": id, "type": "project", "baseType": "account", "kind": "project", "name": name,
           "state": "active", "links": {"self": format!("{root}/projects/{id}"),
           "schemas": format!("{root}/projects/{id}/schemas")}, "actions": {}})
}

/// The schema collection, or one schema (ids matched case-insensitively).
fn schemas(scope: &str, rest: &[&str], schemas_url: &str) -> Resp {
    let mut all: Vec<Value> = schema::TYPES
        .iter()
        .map(|t| t.schema(t.id, scope))
        .collect();
    all.extend(schema::extra_schema_ids().map(|k| schema::SERVICE.schema(k, scope)));
    match rest {
        [] => {
            let doc = json!({"type": "collection", "resourceType": "schema",
                "links": {"self": schemas_url}, "data": all});
            json_response(StatusCode::OK, &doc, Some(schemas_url))
        }
        [id] => match all
            .into_iter()
            .find(|s| s["id"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(id)))
        {
            Some(s) => json_response(StatusCode::OK, &s, Some(schemas_url)),
            None => error_response(&ApiError::status(404), Some(schemas_url)),
        },
        _ => error_response(&ApiError::status(404), Some(schemas_url)),
    }
}

fn json_response(status: StatusCode, v: &Value, schemas: Option<&str>) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(s) = schemas.and_then(|s| HeaderValue::from_str(s).ok()) {
        r.headers_mut().insert("x-api-schemas", s);
    }
    r
}

fn empty(status: StatusCode) -> Resp {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r
}

/// Cattle's error envelope (docs/cattle.md, "Errors").
pub fn error_body(e: &ApiError) -> Value {
    let mut id = [0u8; 16];
    let _ = getrandom::fill(&mut id);
    let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    json!({"id": id, "type": "error", "baseType": "error", "links": {}, "actions": {},
           "status": e.status, "code": e.code, "message": e.message, "detail": null,
           "fieldName": e.field})
}

fn error_response(e: &ApiError, schemas: Option<&str>) -> Resp {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, &error_body(e), schemas)
}

/// Serves the simulator on `listener` until `shutdown` resolves.
pub async fn serve(listener: TcpListener, sim: Arc<Sim>, shutdown: impl Future<Output = ()>) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "sim accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let sim = sim.clone();
        // Each request is carried out in a task of its own, as Cattle carries out a request
        // whose client stopped waiting: a slow create still commits.
        let svc = hyper::service::service_fn(move |req| {
            let sim = sim.clone();
            async move {
                tokio::spawn(async move { sim.handle(req).await })
                    .await
                    .unwrap_or(Err(Dropped))
            }
        });
        let conn = builder
            .serve_connection(TokioIo::new(stream), svc)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
}
