//! The management API, compatible with Rancher's `/v1-webhooks` (SPEC §5): version root,
//! schemas, and receivers — create (minting a token), list, get, delete (revoking it).
//!
//! Authorization belongs to Cattle. In the default *front* deployment every Cattle call made
//! here carries the caller's own `Authorization` header, so a caller sees, creates and
//! deletes receivers — and mints tokens for services — only where Cattle lets them. Behind
//! Cattle's proxy (an explicit flag) Cattle has authenticated the caller already: hookgate
//! uses its service account, reads the project from `X-API-Project-Id`, and refuses create
//! and delete to read-only roles with 405, as Rancher 1.6 did.

mod schemas;
pub mod wire;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{json, Value};

use crate::app::{json as json_resp, no_store, App, Resp};
use crate::cattle::wire::{GenericObject, NewGenericObject};
use crate::cattle::Auth;
use crate::error::Error;
use crate::receiver::{Claims, ReceiverId};
use crate::router::Route;
use wire::{config_json, CreateReceiver};

/// The generic object kind Rancher's webhook-service stored receivers as.
pub const KIND: &str = "webhookReceiver";

/// Roles Rancher 1.6 refused create and delete to.
const READ_ONLY_ROLES: [&str; 4] = ["readonly", "restricted", "v1-readonly", "v1-restricted"];

/// Who is asking, for which project, and how Cattle calls are authorized.
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

pub async fn handle(
    app: &App,
    route: Route<'_>,
    method: &Method,
    query: Option<&str>,
    headers: &HeaderMap,
    tls: bool,
    body: Bytes,
) -> Resp {
    let base = app.public_base(headers, tls);
    let result = match (route, method) {
        (Route::ApiRoot, &Method::GET) => Ok(version(&base, query)),
        (Route::Schemas, &Method::GET) => {
            let doc = json!({"type": "collection", "resourceType": "schema",
                "links": {"self": format!("{base}/v1-webhooks/schemas")}, "data": schemas::all(&base)});
            Ok(json_resp(StatusCode::OK, &doc))
        }
        (Route::Schema(id), &Method::GET) => schemas::one(&base, id)
            .map(|s| json_resp(StatusCode::OK, &s))
            .ok_or_else(|| Error::NotFound(format!("no schema {id}"))),
        (Route::Receivers | Route::Receiver(_), _) => {
            receivers(app, route, method, query, headers, base.clone(), &body).await
        }
        _ => Err(Error::MethodNotAllowed),
    };
    let mut resp = result.unwrap_or_else(|e| e.response());
    if let Ok(v) = HeaderValue::from_str(&format!("{base}/v1-webhooks/schemas")) {
        resp.headers_mut().insert("x-api-schemas", v);
    }
    // Receiver responses carry trigger URLs, which are capabilities.
    no_store(resp.headers_mut());
    resp
}

/// The receiver routes: every one needs to know who is asking first.
async fn receivers(
    app: &App,
    route: Route<'_>,
    method: &Method,
    query: Option<&str>,
    headers: &HeaderMap,
    base: String,
    body: &[u8],
) -> Result<Resp, Error> {
    let c = caller(app, query, headers, base)?;
    match (route, method) {
        (Route::Receivers, &Method::GET) => list(app, &c).await,
        (Route::Receivers, &Method::POST) => create(app, &c, headers, body).await,
        (Route::Receiver(id), &Method::GET) => get(app, &c, id).await,
        (Route::Receiver(id), &Method::DELETE) => delete(app, &c, id).await,
        _ => Err(Error::MethodNotAllowed),
    }
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
    app: &App,
    query: Option<&str>,
    headers: &HeaderMap,
    base: String,
) -> Result<Caller, Error> {
    let proxied = app.settings.behind_cattle_proxy;
    let from_query = query_param(query, "projectId");
    let project = if proxied {
        // Behind Cattle's proxy the project also arrives as a header; both must agree.
        let from_header = headers
            .get("x-api-project-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match (from_query, from_header) {
            (Some(q), Some(h)) if q != h => {
                return Err(Error::Forbidden(
                    "projectId does not match the caller's project".into(),
                ))
            }
            (q, h) => q.or(h),
        }
    } else {
        from_query
    }
    .ok_or_else(|| Error::BadRequest("projectId must be supplied as query parameter".into()))?;
    if !valid_id(&project) {
        return Err(Error::invalid(
            400,
            "InvalidFormat",
            "projectId",
            "projectId is not a valid id",
        ));
    }
    if proxied {
        let roles: Vec<&str> = headers
            .get("x-api-roles")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .collect();
        let read_only = !roles.is_empty() && roles.iter().all(|r| READ_ONLY_ROLES.contains(r));
        return Ok(Caller {
            project,
            authorization: None,
            read_only,
            base,
        });
    }
    let mut authorization = headers.get(header::AUTHORIZATION).cloned().ok_or_else(|| {
        Error::Unauthorized(
            "credentials required: a Rancher API key as HTTP Basic, or a bearer token".into(),
        )
    })?;
    authorization.set_sensitive(true);
    Ok(Caller {
        project,
        authorization: Some(authorization),
        read_only: false,
        base,
    })
}

/// The receiver resource for a stored generic object, or `None` if it is not a readable
/// receiver record (Rancher's service skipped those too).
fn receiver_json(go: &GenericObject, c: &Caller) -> Option<Value> {
    if go.kind.as_deref() != Some(KIND) {
        return None;
    }
    let data = go.resource_data.as_ref()?;
    let driver = data.get("driver")?.as_str()?;
    let stored_url = data.get("url")?.as_str()?;
    let mut config = data.get("config")?.as_object()?.clone();
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
        "scaleServiceConfig": {},
        "scaleHostConfig": {},
        "serviceUpgradeConfig": {},
        "forwardPostConfig": {},
    });
    out[format!("{driver}Config")] = Value::Object(config);
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
    if go.kind.as_deref() != Some(KIND) {
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
    if c.read_only {
        return Err(Error::MethodNotAllowed);
    }
    let go = fetch(app, c, id).await?;
    app.cattle
        .delete_generic_object(c.auth(), &c.project, &go.id)
        .await
        .map_err(Error::from_caller)?;
    // Revoked on this replica at once; elsewhere within the revocation TTL.
    if let Some(key) = go.key.as_deref() {
        app.forget_receiver(
            &c.project,
            crate::trigger::legacy_receiver_id(&c.project, key),
        )
        .await;
        app.forget_legacy(&c.project, key).await;
    }
    tracing::info!(project_id = %c.project, receiver = %go.id, "receiver deleted");
    let mut r = Resp::new(Default::default());
    *r.status_mut() = StatusCode::NO_CONTENT;
    Ok(r)
}

async fn create(app: &App, c: &Caller, headers: &HeaderMap, body: &[u8]) -> Result<Resp, Error> {
    if c.read_only {
        return Err(Error::MethodNotAllowed);
    }
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
    crate::drivers::validate(app, c.auth(), &c.project, &config).await?;

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
        "url": format!("{}/v1-webhooks/endpoint?token={token}", c.base),
        "driver": claims.config.driver().name(),
        "config": config_json(&claims.config),
    });
    let go = app
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
        .await
        .map_err(Error::from_caller)?;
    app.remember_receiver(&c.project, claims.receiver_id).await;
    tracing::info!(project_id = %c.project, receiver_id = %rid, receiver = %go.id, driver = claims.config.driver().name(), "receiver created");
    let v = receiver_json(&go, c).ok_or_else(|| {
        Error::Internal("Cattle returned the receiver record without its data".into())
    })?;
    Ok(json_resp(StatusCode::OK, &v))
}
