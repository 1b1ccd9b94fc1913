//! The management API, compatible with Rancher's `/v1-webhooks` (docs/api.md): version
//! root, schemas, and receivers — create (minting a token), list, get, delete (revoking it).
//!
//! Authorization belongs to Cattle. In the default *front* deployment every Cattle call made
//! here carries the caller's own `Authorization` header, so a caller sees, creates and
//! deletes receivers — and mints tokens for services — only where Cattle lets them. Behind
//! Cattle's proxy (an explicit flag, and only on the internal listener) Cattle has
//! authenticated the caller already: hookgate uses its service account, reads the project
//! from `X-API-Project-Id`, and refuses create and delete to read-only roles with 405, as
//! Rancher 1.6 did. Who is asking is settled from headers alone before any body is read,
//! so a stranger costs no Cattle call and no buffer.

mod schemas;
pub mod wire;

use http::request::Parts;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use hyper::body::Incoming;
use serde_json::{json, Value};

use crate::app::App;
use crate::cattle::wire::{GenericObject, NewGenericObject};
use crate::cattle::Auth;
use crate::drivers::Driver;
use crate::error::Error;
use crate::http::{json as json_resp, no_store, Conn, Resp, Surface};
use crate::legacy::KIND;
use crate::receiver::ReceiverId;
use crate::token::Claims;
use wire::CreateReceiver;

/// Where a management request goes: the API's own sub-routes under `/v1-webhooks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiRoute<'a> {
    /// `GET /v1-webhooks`
    Root,
    /// `GET /v1-webhooks/schemas`
    Schemas,
    /// `GET /v1-webhooks/schemas/{id}`
    Schema(&'a str),
    /// `GET|POST /v1-webhooks/receivers`
    Receivers,
    /// `GET|DELETE /v1-webhooks/receivers/{id}`
    Receiver(&'a str),
    /// `GET /v1-webhooks/projects`, `/services`, `/hosttemplates`: the web UI's pickers.
    Lookup(Lookup),
}

/// What the web UI's pickers may read, with the caller's own credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The projects the caller reaches.
    Projects,
    /// A project's services (`?projectId=`).
    Services,
    /// A project's host templates (`?projectId=`).
    HostTemplates,
}

/// The path after `/v1-webhooks` (no trailing slash) → its route, if any.
pub fn route(rest: &str) -> Option<ApiRoute<'_>> {
    let mut segs = rest.split('/').skip(1);
    match (segs.next(), segs.next(), segs.next()) {
        (None, _, _) => Some(ApiRoute::Root),
        (Some("schemas"), None, _) => Some(ApiRoute::Schemas),
        (Some("schemas"), Some(id), None) if !id.is_empty() => Some(ApiRoute::Schema(id)),
        (Some("receivers"), None, _) => Some(ApiRoute::Receivers),
        (Some("receivers"), Some(id), None) if !id.is_empty() => Some(ApiRoute::Receiver(id)),
        (Some("projects"), None, _) => Some(ApiRoute::Lookup(Lookup::Projects)),
        (Some("services"), None, _) => Some(ApiRoute::Lookup(Lookup::Services)),
        (Some("hosttemplates"), None, _) => Some(ApiRoute::Lookup(Lookup::HostTemplates)),
        _ => None,
    }
}

/// Largest management request body: a receiver is well under 4 KiB.
pub const MAX_BODY: usize = 64 * 1024;

/// Roles Rancher 1.6 refused create and delete to.
const READ_ONLY_ROLES: [&str; 4] = ["readonly", "restricted", "v1-readonly", "v1-restricted"];

/// Who is asking, for which project, and how Cattle calls are authorized.
#[derive(Clone)]
struct Caller {
    project: String,
    /// The caller's `Authorization` (front), or `None`: the service account (behind proxy).
    authorization: Option<HeaderValue>,
    read_only: bool,
    /// Public base URL for links and trigger URLs.
    base: String,
}

impl Caller {
    fn auth(&self) -> Auth<'_> {
        match &self.authorization {
            Some(h) => Auth::Forward(h),
            None => Auth::Service,
        }
    }
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A Cattle id or project id: short, alphanumeric (it goes into Cattle URLs and filters).
fn valid_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

pub async fn handle(app: &App, rest: &str, parts: &Parts, body: Incoming, conn: Conn) -> Resp {
    let base = app.public_base(&with_host(parts), conn);
    let query = parts.uri.query();
    let method = &parts.method;
    let result = match route(rest) {
        None => Err(Error::NotFound("no such route".into())),
        Some(ApiRoute::Root) if method == Method::GET => Ok(version(&base, query)),
        Some(ApiRoute::Schemas) if method == Method::GET => {
            let doc = json!({"type": "collection", "resourceType": "schema",
                "links": {"self": format!("{base}/v1-webhooks/schemas")}, "data": schemas::all(&base)});
            Ok(json_resp(StatusCode::OK, &doc))
        }
        Some(ApiRoute::Schema(id)) if method == Method::GET => schemas::one(&base, id)
            .map(|s| json_resp(StatusCode::OK, &s))
            .ok_or_else(|| Error::NotFound("no such schema".into())),
        Some(ApiRoute::Root | ApiRoute::Schemas | ApiRoute::Schema(_)) => {
            Err(Error::MethodNotAllowed("GET"))
        }
        Some(r @ (ApiRoute::Receivers | ApiRoute::Receiver(_))) => {
            receivers(app, r, parts, body, conn, base.clone()).await
        }
        Some(ApiRoute::Lookup(what)) => lookup(app, what, parts, conn, base.clone()).await,
    };
    let mut resp = result.unwrap_or_else(|e| e.response());
    if let Ok(v) = HeaderValue::from_str(&format!("{base}/v1-webhooks/schemas")) {
        resp.headers_mut().insert("x-api-schemas", v);
    }
    // Receiver responses carry trigger URLs, which are capabilities.
    no_store(resp.headers_mut());
    resp
}

/// The request's headers with `Host` filled from the URI when absent (HTTP/2 carries the
/// host in the URI, not in a `Host` header).
fn with_host(parts: &Parts) -> std::borrow::Cow<'_, HeaderMap> {
    if parts.headers.contains_key(header::HOST) {
        return std::borrow::Cow::Borrowed(&parts.headers);
    }
    let mut h = parts.headers.clone();
    if let Some(v) = parts
        .uri
        .authority()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    {
        h.insert(header::HOST, v);
    }
    std::borrow::Cow::Owned(h)
}

/// The receiver routes: who is asking is settled first, from headers alone; only then is a
/// body read, within [`MAX_BODY`].
async fn receivers(
    app: &App,
    route: ApiRoute<'_>,
    parts: &Parts,
    body: Incoming,
    conn: Conn,
    base: String,
) -> Result<Resp, Error> {
    let allow = match route {
        ApiRoute::Receivers => "GET, POST",
        _ => "GET, DELETE",
    };
    let method = &parts.method;
    let known = match route {
        ApiRoute::Receivers => method == Method::GET || method == Method::POST,
        _ => method == Method::GET || method == Method::DELETE,
    };
    if !known {
        return Err(Error::MethodNotAllowed(allow));
    }
    let c = caller(conn, parts.uri.query(), &parts.headers, base)?;
    match (route, method) {
        (ApiRoute::Receivers, &Method::GET) => list(app, &c).await,
        (ApiRoute::Receivers, _) => {
            if c.read_only {
                return Err(Error::MethodNotAllowed("GET"));
            }
            let body = crate::http::read_body(
                &parts.headers,
                body,
                MAX_BODY,
                app.settings.limits.header_timeout,
            )
            .await?;
            create(app, &c, &parts.headers, &body).await
        }
        (ApiRoute::Receiver(id), &Method::GET) => get(app, &c, id).await,
        (ApiRoute::Receiver(id), _) => {
            if c.read_only {
                return Err(Error::MethodNotAllowed("GET"));
            }
            delete(app, &c, id).await
        }
        _ => Err(Error::MethodNotAllowed(allow)),
    }
}

/// The web UI's pickers: projects, services and host templates as the caller's own
/// credentials see them, id and name (and a service's kind and scale) only. Front deployment
/// only — behind Cattle's proxy, Rancher's own UI has these.
async fn lookup(
    app: &App,
    what: Lookup,
    parts: &Parts,
    conn: Conn,
    base: String,
) -> Result<Resp, Error> {
    if parts.method != Method::GET {
        return Err(Error::MethodNotAllowed("GET"));
    }
    if conn.surface != Surface::Front {
        return Err(Error::NotFound(
            "the web UI's look-ups are served by the front deployment only".into(),
        ));
    }
    let (resource, data): (&str, Vec<Value>) = match what {
        Lookup::Projects => {
            let authorization = front_credentials(&parts.headers)?;
            let projects = app
                .cattle
                .list_projects(Auth::Forward(&authorization))
                .await
                .map_err(Error::from_caller)?;
            let live = projects.into_iter().filter(|p| {
                p.removed.is_none()
                    && !matches!(p.state.as_deref(), Some("removing" | "removed" | "purged"))
            });
            (
                "project",
                live.map(|p| json!({"id": p.id, "name": p.name})).collect(),
            )
        }
        Lookup::Services => {
            let c = caller(conn, parts.uri.query(), &parts.headers, base)?;
            let services = app
                .cattle
                .list_services(c.auth(), &c.project, &[])
                .await
                .map_err(Error::from_caller)?;
            let live = services.into_iter().filter(|s| s.removed.is_none());
            let data = live
                .map(|s| json!({"id": s.id, "name": s.name, "kind": s.kind.or(s.type_), "stackId": s.stack_id, "scale": s.scale}))
                .collect();
            ("service", data)
        }
        Lookup::HostTemplates => {
            let c = caller(conn, parts.uri.query(), &parts.headers, base)?;
            let templates = app
                .cattle
                .list_host_templates(c.auth(), &c.project)
                .await
                .map_err(Error::from_caller)?;
            let live = templates.into_iter().filter(|t| t.removed.is_none());
            (
                "hostTemplate",
                live.map(|t| json!({"id": t.id, "name": t.name, "driver": t.driver}))
                    .collect(),
            )
        }
    };
    Ok(json_resp(
        StatusCode::OK,
        &json!({"type": "collection", "resourceType": resource, "data": data}),
    ))
}

fn version(base: &str, query: Option<&str>) -> Resp {
    let q = query_param(query, "projectId")
        .filter(|p| valid_id(p))
        .map(|p| format!("?projectId={p}"))
        .unwrap_or_default();
    let doc = json!({
        "id": "v1-webhooks",
        "type": "apiVersion",
        "links": {
            "self": format!("{base}/v1-webhooks{q}"),
            "receivers": format!("{base}/v1-webhooks/receivers{q}"),
            "schemas": format!("{base}/v1-webhooks/schemas{q}"),
        },
        "actions": {},
    });
    json_resp(StatusCode::OK, &doc)
}

fn caller(
    conn: Conn,
    query: Option<&str>,
    headers: &HeaderMap,
    base: String,
) -> Result<Caller, Error> {
    let from_query = query_param(query, "projectId");
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    if conn.surface == Surface::CattleProxy {
        // Cattle authenticated the caller and says who they are; without its headers the
        // request did not come through Cattle.
        let (Some(project), Some(roles)) = (header("x-api-project-id"), header("x-api-roles"))
        else {
            return Err(Error::Unauthorized(
                "X-API-Project-Id and X-API-Roles are required: requests reach this listener \
                 through Cattle's proxy"
                    .into(),
            ));
        };
        if from_query.as_deref().is_some_and(|q| q != project) {
            return Err(Error::Forbidden(
                "projectId does not match the caller's project".into(),
            ));
        }
        if !valid_id(project) {
            return Err(Error::invalid(
                400,
                "InvalidFormat",
                "projectId",
                "projectId is not a valid id",
            ));
        }
        let read_only = roles
            .split(',')
            .map(str::trim)
            .any(|r| READ_ONLY_ROLES.iter().any(|ro| ro.eq_ignore_ascii_case(r)));
        return Ok(Caller {
            project: project.to_owned(),
            authorization: None,
            read_only,
            base,
        });
    }
    let authorization = front_credentials(headers)?;
    let project = from_query
        .ok_or_else(|| Error::BadRequest("projectId must be supplied as query parameter".into()))?;
    if !valid_id(&project) {
        return Err(Error::invalid(
            400,
            "InvalidFormat",
            "projectId",
            "projectId is not a valid id",
        ));
    }
    Ok(Caller {
        project,
        authorization: Some(authorization),
        read_only: false,
        base,
    })
}

/// Front: the caller's own credentials, checked for form only (Cattle judges them).
fn front_credentials(headers: &HeaderMap) -> Result<HeaderValue, Error> {
    let mut authorization = headers
        .get(header::AUTHORIZATION)
        .filter(|v| credentials_of_form(v.as_bytes()))
        .cloned()
        .ok_or_else(|| {
            Error::Unauthorized(
                "credentials required: a Rancher API key as HTTP Basic, or a bearer token".into(),
            )
        })?;
    authorization.set_sensitive(true);
    Ok(authorization)
}

/// `Basic <base64 of user:password>` or `Bearer <token>`, of sane size and alphabet: the
/// form Cattle accepts, checked without asking Cattle.
fn credentials_of_form(v: &[u8]) -> bool {
    use base64::Engine as _;
    const MAX: usize = 4096;
    if v.len() > MAX {
        return false;
    }
    if let Some(b) = v.strip_prefix(b"Basic ") {
        return base64::engine::general_purpose::STANDARD
            .decode(b)
            .ok()
            .and_then(|d| {
                let colon = d.iter().position(|&c| c == b':')?;
                Some(colon > 0 && colon + 1 < d.len())
            })
            .unwrap_or(false);
    }
    if let Some(t) = v.strip_prefix(b"Bearer ") {
        return !t.is_empty()
            && t.iter()
                .all(|&c| c.is_ascii_alphanumeric() || b"-._~+/=:".contains(&c));
    }
    false
}

/// The receiver resource for a stored generic object, or `None` if it is not a readable
/// receiver record (Rancher's service skipped those too).
fn receiver_json(go: &GenericObject, c: &Caller) -> Option<Value> {
    let (driver, stored_url) = crate::legacy::listed(go)?;
    let mut config = go
        .resource_data
        .as_ref()?
        .get("config")?
        .as_object()?
        .clone();
    config.insert("type".into(), driver.into());
    let mut out = json!({
        "id": go.id,
        "type": "receiver",
        "name": go.name,
        "driver": driver,
        "state": go.state,
        "url": public_url(stored_url, &c.base),
        "links": {"self": format!("{}/v1-webhooks/receivers/{}?projectId={}", c.base, go.id, c.project)},
        "actions": {},
    });
    // All four configs are present; the inactive ones are `{}` (Rancher's UI relies on it).
    for d in Driver::ALL {
        out[format!("{}Config", d.name())] = json!({});
    }
    out[format!("{driver}Config")] = Value::Object(config);
    // Read-only callers see receivers, not their capabilities (as Rancher 1.6 did).
    if c.read_only {
        if let Some(m) = out.as_object_mut() {
            m.remove("url");
        }
    }
    Some(out)
}

/// A stored trigger URL shown under this service's public base (Rancher's own records
/// carry Rancher's host).
fn public_url(stored: &str, base: &str) -> String {
    match stored.find("/v1-webhooks/endpoint") {
        Some(i) => format!("{base}{}", &stored[i..]),
        None => stored.to_owned(),
    }
}

async fn list(app: &App, c: &Caller) -> Result<Resp, Error> {
    let objects = app
        .cattle
        .list_generic_objects(c.auth(), &c.project, &[("kind", KIND)])
        .await
        .map_err(Error::from_caller)?;
    let data: Vec<Value> = objects
        .iter()
        .filter_map(|go| receiver_json(go, c))
        .collect();
    let doc = json!({
        "type": "collection",
        "resourceType": "receiver",
        "links": {"self": format!("{}/v1-webhooks/receivers?projectId={}", c.base, c.project)},
        "data": data,
    });
    Ok(json_resp(StatusCode::OK, &doc))
}

async fn fetch(app: &App, c: &Caller, id: &str) -> Result<GenericObject, Error> {
    let not_found = || Error::NotFound("Webhook not found".into());
    if !valid_id(id) {
        return Err(not_found());
    }
    let go = app
        .cattle
        .get_generic_object(c.auth(), &c.project, id)
        .await
        .map_err(Error::from_caller)?
        .ok_or_else(not_found)?;
    // Cattle returns removed records by id; a deleted receiver is gone all the same.
    if go.kind.as_deref() != Some(KIND) || !go.is_live() {
        return Err(not_found());
    }
    Ok(go)
}

async fn get(app: &App, c: &Caller, id: &str) -> Result<Resp, Error> {
    let go = fetch(app, c, id).await?;
    let v = receiver_json(&go, c).ok_or_else(|| Error::NotFound("Webhook not found".into()))?;
    Ok(json_resp(StatusCode::OK, &v))
}

async fn delete(app: &App, c: &Caller, id: &str) -> Result<Resp, Error> {
    let go = fetch(app, c, id).await?;
    app.cattle
        .delete_generic_object(c.auth(), &c.project, &go.id)
        .await
        .map_err(Error::from_caller)?;
    // Revoked on this replica at once; elsewhere within the revocation TTL.
    match go.key.as_deref().map(|k| (k, ReceiverId::parse(k))) {
        Some((_, Some(rid))) => app.forget_receiver(&c.project, rid),
        Some((key, None)) => {
            // Rancher's: a key URL's record, or the uuid of a 1.4 token.
            app.legacy.forget(&c.project).await;
            app.forget_receiver(&c.project, crate::jwt::receiver_id(&c.project, key));
        }
        None => {}
    }
    tracing::info!(project_id = %c.project, receiver = %go.id, "receiver deleted");
    let mut r = Resp::new(Default::default());
    *r.status_mut() = StatusCode::NO_CONTENT;
    Ok(r)
}

async fn create(app: &App, c: &Caller, headers: &HeaderMap, body: &[u8]) -> Result<Resp, Error> {
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if !json_type {
        return Err(Error::BadRequest(
            "Content-Type must be supplied as header. Only application/json is supported".into(),
        ));
    }
    let req: CreateReceiver = serde_json::from_slice(body)
        .map_err(|e| Error::BadRequest(format!("Bad request body: {e}")))?;
    let name = req.name.as_deref().map(str::trim).unwrap_or("");
    if name.is_empty() {
        return Err(Error::invalid(
            400,
            "MissingRequired",
            "name",
            "Name not provided",
        ));
    }
    if name.len() > 255 {
        return Err(Error::invalid(
            400,
            "MaxLengthExceeded",
            "name",
            "Name is longer than 255 characters",
        ));
    }
    let config = req.config(&c.project)?;

    // Cattle decides whether these credentials reach the project at all.
    app.cattle
        .check_project(c.auth(), &c.project)
        .await
        .map_err(Error::from_caller)?;
    let taken = app
        .cattle
        .list_generic_objects(c.auth(), &c.project, &[("name", name)])
        .await
        .map_err(Error::from_caller)?;
    if taken.iter().any(|go| go.removed.is_none()) {
        return Err(Error::invalid(
            400,
            "NotUnique",
            "name",
            format!("Cannot have duplicate webhook name, webhook {name} already exists"),
        ));
    }
    config.validate(&app.cattle, c.auth(), &c.project).await?;

    let claims = Claims {
        receiver_id: ReceiverId::random()
            .map_err(|e| Error::Internal(format!("no random source: {e}")))?,
        project_id: c.project.clone(),
        issued_at: crate::unix_now(),
        expires_at: None,
        config,
    };
    let token = app
        .keys
        .seal(&claims)
        // Only oversized configs fail here (a label or value over 255 bytes, over 255 labels).
        .map_err(|e| {
            Error::BadRequest(format!(
                "the receiver's configuration cannot be sealed: {e}"
            ))
        })?;
    let rid = claims.receiver_id.to_string();
    let data = json!({
        "url": format!(
            "{}/v1-webhooks/endpoint?token={token}&route={:08x}",
            c.base,
            crate::drivers::route(&c.project, &claims.config)
        ),
        "driver": claims.config.driver().name(),
        "config": claims.config.to_json(),
    });
    let created = app
        .cattle
        .create_generic_object(
            c.auth(),
            &c.project,
            &NewGenericObject {
                name,
                key: &rid,
                kind: KIND,
                resource_data: &data,
            },
        )
        .await;
    let go = match created {
        Ok(go) => go,
        Err(e) => {
            undo_create(app, c, claims.receiver_id, &e);
            return Err(Error::from_caller(e));
        }
    };
    app.remember_receiver(&c.project, claims.receiver_id);
    tracing::info!(project_id = %c.project, receiver_id = %rid, receiver = %go.id, driver = claims.config.driver().name(), "receiver created");
    let v = receiver_json(&go, c).ok_or_else(|| {
        Error::Internal("Cattle returned the receiver record without its data".into())
    })?;
    Ok(json_resp(StatusCode::OK, &v))
}

/// A create whose answer was lost (no answer in time, a broken connection, a 5xx) may still
/// be committed by Cattle, now or a little later: in a task of its own, the record is looked
/// up by its key — a fresh receiver id, so it can only be this create's — a few times over
/// the next seconds and removed, so nothing is left half-done and the caller's retry does not
/// meet its own name for long. What cannot be removed is logged (its token was never handed
/// out, so it grants nothing).
fn undo_create(app: &App, c: &Caller, id: ReceiverId, e: &crate::cattle::CattleError) {
    use crate::cattle::CattleError as E;
    if !matches!(
        e,
        E::Timeout(_) | E::Unreachable(_) | E::Upstream { .. } | E::Decode(_)
    ) {
        return;
    }
    let (app, c) = (app.clone(), c.clone());
    tokio::spawn(async move {
        let (auth, project) = (c.auth(), &c.project);
        let rid = id.to_string();
        app.forget_receiver(project, id);
        let mut stranded = false;
        for wait in [0, 1, 2, 4] {
            tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
            let Ok(records) = app
                .cattle
                .list_generic_objects(auth, project, &[("key", rid.as_str())])
                .await
            else {
                continue;
            };
            let live: Vec<_> = records.iter().filter(|go| go.is_live()).collect();
            let mut removed = 0;
            for go in &live {
                if app
                    .cattle
                    .delete_generic_object(auth, project, &go.id)
                    .await
                    .is_ok()
                {
                    removed += 1;
                    tracing::info!(project_id = %project, receiver_id = %rid, receiver = %go.id, "removed the record of a create that failed");
                }
            }
            if !live.is_empty() && removed == live.len() {
                return;
            }
            stranded = removed < live.len();
        }
        if stranded {
            tracing::warn!(project_id = %project, receiver_id = %rid, "a failed create left a record Cattle would not let go; its token was never handed out");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_routes_its_own_paths() {
        let cases = [
            ("", Some(ApiRoute::Root)),
            ("/schemas", Some(ApiRoute::Schemas)),
            (
                "/schemas/scaleService",
                Some(ApiRoute::Schema("scaleService")),
            ),
            ("/receivers", Some(ApiRoute::Receivers)),
            ("/receivers/1go5", Some(ApiRoute::Receiver("1go5"))),
            ("/receivers/1go5/x", None),
            ("/endpoint/x", None),
            ("//receivers", None),
            ("/nowhere", None),
        ];
        for (rest, want) in cases {
            assert_eq!(route(rest), want, "{rest}");
        }
    }
}
