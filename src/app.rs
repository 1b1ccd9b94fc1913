//! The edge service's state and its request entry point. One `App` (cheap to clone) holds the
//! key ring, the Cattle client and every cache; there are no other globals but metrics.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;

use crate::cattle::{Auth, Cattle, CattleError};
use crate::config::Limits;
use crate::error::Error;
use crate::policy::ReceiverState;
use crate::receiver::{DriverConfig, ReceiverId};
use crate::router::{route, Route};
use crate::token::KeyRing;

/// Longest request URI accepted (a token is at most 4 KiB).
const MAX_URI: usize = 8 * 1024;

/// What the edge service needs to know besides its key ring and Cattle.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base of the trigger URLs handed out; `None`: from the request.
    pub public_url: Option<String>,
    /// How long a receiver's existence (or absence) is trusted without asking Cattle.
    pub revocation_ttl: Duration,
    /// How long a service's scale is trusted without asking Cattle.
    pub scale_ttl: Duration,
    pub limits: Limits,
    /// Deployed behind Cattle's `/v1-webhooks` proxy: trust `X-API-Project-Id`/`X-API-Roles`
    /// and use the service account (SPEC §5). Off by default.
    pub behind_cattle_proxy: bool,
}

/// Set by the server on every request: whether it arrived over TLS.
#[derive(Clone, Copy, Debug)]
pub struct ConnTls(pub bool);

pub type Resp = Response<Full<Bytes>>;

/// The edge service. Clone freely: everything is behind one `Arc`.
#[derive(Clone)]
pub struct App(Arc<Inner>);

pub struct Inner {
    pub keys: KeyRing,
    /// The only way upstream.
    pub cattle: Cattle,
    pub settings: Settings,
    /// (project, receiver id) → does its generic object exist? Both answers are cached, so a
    /// flood of triggers for a deleted receiver costs one Cattle look-up per TTL.
    revocations: moka::future::Cache<(String, ReceiverId), bool>,
    /// (project, service id) → scale, refreshed from every Cattle answer (SPEC §4.1).
    pub(crate) scales: moka::future::Cache<(String, String), i64>,
    /// Per-service locks: concurrent scale changes of one service run one after another, so
    /// none is lost. Idle entries expire; an entry in use is touched on every lock.
    service_locks: moka::sync::Cache<(String, String), Arc<tokio::sync::Mutex<()>>>,
    /// Per-receiver policy state (dedupe, cooldown), held locked from decision to record.
    receivers: moka::sync::Cache<ReceiverId, Arc<tokio::sync::Mutex<ReceiverState>>>,
    /// (project, key) → the config of a receiver reached by key URL (`None`: no such key).
    legacy: moka::future::Cache<(String, String), Option<DriverConfig>>,
}

impl std::ops::Deref for App {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl App {
    pub fn new(keys: KeyRing, cattle: Cattle, settings: Settings) -> Self {
        let revocations = moka::future::Cache::builder()
            .max_capacity(100_000)
            .time_to_live(settings.revocation_ttl)
            .build();
        let scales = moka::future::Cache::builder()
            .max_capacity(100_000)
            .time_to_live(settings.scale_ttl)
            .build();
        let service_locks = moka::sync::Cache::builder()
            .time_to_idle(Duration::from_secs(600))
            .build();
        // Cooldowns can be long; a day of idleness forgets a receiver's state.
        let receivers = moka::sync::Cache::builder()
            .max_capacity(100_000)
            .time_to_idle(Duration::from_secs(86_400))
            .build();
        let legacy = moka::future::Cache::builder()
            .max_capacity(100_000)
            .time_to_live(settings.revocation_ttl)
            .build();
        App(Arc::new(Inner {
            keys,
            cattle,
            settings,
            revocations,
            scales,
            service_locks,
            receivers,
            legacy,
        }))
    }

    /// Whether the receiver's generic object still exists in its project (cached).
    /// Cattle errors are not cached: the caller fails closed and the sender retries.
    pub async fn receiver_exists(&self, project: &str, id: ReceiverId) -> Result<bool, Error> {
        let key = (project.to_owned(), id);
        if let Some(v) = self.revocations.get(&key).await {
            crate::metrics::count_cache("revocation", true);
            return Ok(v);
        }
        crate::metrics::count_cache("revocation", false);
        let rid = id.to_string();
        self.revocations
            .try_get_with(key, async {
                let found = self
                    .cattle
                    .list_generic_objects(
                        Auth::Service,
                        project,
                        &[("key", rid.as_str()), ("kind", "webhookReceiver")],
                    )
                    .await?;
                Ok::<_, CattleError>(!found.is_empty())
            })
            .await
            .map_err(|e| Error::Cattle((*e).clone()))
    }

    /// Marks a receiver deleted on this replica at once.
    pub async fn forget_receiver(&self, project: &str, id: ReceiverId) {
        self.revocations
            .insert((project.to_owned(), id), false)
            .await;
    }

    /// Marks a just-created receiver as existing, sparing its first trigger a look-up.
    pub async fn remember_receiver(&self, project: &str, id: ReceiverId) {
        self.revocations
            .insert((project.to_owned(), id), true)
            .await;
    }

    pub async fn forget_legacy(&self, project: &str, key: &str) {
        self.legacy
            .insert((project.to_owned(), key.to_owned()), None)
            .await;
    }

    /// The config of the receiver whose generic object has `key` in `project` (cached both
    /// ways for the revocation TTL). As Rancher's service did, the first record with that
    /// key whose data reads as a receiver wins.
    pub async fn legacy_receiver(
        &self,
        project: &str,
        key: &str,
    ) -> Result<Option<DriverConfig>, Error> {
        let k = (project.to_owned(), key.to_owned());
        if let Some(v) = self.legacy.get(&k).await {
            crate::metrics::count_cache("legacy", true);
            return Ok(v);
        }
        crate::metrics::count_cache("legacy", false);
        let found = self
            .cattle
            .list_generic_objects(Auth::Service, project, &[("key", key)])
            .await?;
        let mut config = None;
        for go in &found {
            let Some(data) = &go.resource_data else {
                continue;
            };
            let (Some(driver), Some(cfg)) = (
                data.get("driver").and_then(|d| d.as_str()),
                data.get("config"),
            ) else {
                continue;
            };
            config = Some(crate::api::wire::stored_config(driver, cfg, project)?);
            break;
        }
        self.legacy.insert(k, config.clone()).await;
        Ok(config)
    }

    /// The public base URL for links and trigger URLs: `--public-url`, else what the
    /// request says (`X-Forwarded-Proto`/`X-Forwarded-Host`, then `Host`).
    pub fn public_base(&self, headers: &HeaderMap, tls: bool) -> String {
        if let Some(u) = &self.settings.public_url {
            return u.trim_end_matches('/').to_owned();
        }
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(str::trim)
        };
        let proto = match header("x-forwarded-proto") {
            Some(p @ ("http" | "https")) => p,
            _ if tls => "https",
            _ => "http",
        };
        let host = header("x-forwarded-host")
            .or_else(|| header("host"))
            .filter(|h| {
                h.parse::<http::uri::Authority>()
                    .is_ok_and(|a| a.as_str() == *h)
            })
            .unwrap_or("localhost");
        format!("{proto}://{host}")
    }

    /// The lock of one (project, service); the key is cloned only when the entry is new.
    pub fn service_lock(&self, key: &(String, String)) -> Arc<tokio::sync::Mutex<()>> {
        self.service_locks.get_with_by_ref(key, Default::default)
    }

    pub fn receiver_state(&self, id: ReceiverId) -> Arc<tokio::sync::Mutex<ReceiverState>> {
        self.receivers.get_with(id, Default::default)
    }

    /// Serves one request. Never fails: every error becomes a response.
    pub async fn handle(&self, req: Request<Incoming>) -> Resp {
        if req.uri().path_and_query().map_or(0, |p| p.as_str().len()) > MAX_URI {
            return Error::UriTooLong.response();
        }
        let path = req.uri().path().to_owned();
        let r = route(&path);
        match (r, req.method()) {
            (Route::Trigger, &Method::POST) => {
                let (parts, body) = req.into_parts();
                let mut resp =
                    crate::trigger::handle(self, parts.uri.query(), &parts.headers, body).await;
                no_store(resp.headers_mut());
                resp
            }
            (Route::Trigger, _) => {
                let mut resp = Error::MethodNotAllowed.response();
                no_store(resp.headers_mut());
                resp
            }
            (Route::Healthz, &Method::GET) => text(StatusCode::OK, "ok\n"),
            (Route::Readyz, &Method::GET) => self.readyz().await,
            (Route::Metrics, &Method::GET) => {
                let mut r = text(StatusCode::OK, &crate::metrics::render());
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    ),
                );
                r
            }
            (Route::Healthz | Route::Readyz | Route::Metrics, _) => {
                Error::MethodNotAllowed.response()
            }
            (
                Route::ApiRoot
                | Route::Schemas
                | Route::Schema(_)
                | Route::Receivers
                | Route::Receiver(_),
                _,
            ) => self.api(r, req).await,
            (Route::Ui, _) => Error::NotFound(
                "the web UI is not in this build yet; the API is at /v1-webhooks".into(),
            )
            .response(),
            (Route::NotFound, _) => Error::NotFound("no such route".into()).response(),
        }
    }

    async fn api(&self, r: Route<'_>, req: Request<Incoming>) -> Resp {
        let tls = req.extensions().get::<ConnTls>().is_some_and(|t| t.0);
        let (mut parts, body) = req.into_parts();
        // HTTP/2 carries the host in the URI, not in a Host header.
        if !parts.headers.contains_key(header::HOST) {
            if let Some(v) = parts
                .uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            {
                parts.headers.insert(header::HOST, v);
            }
        }
        let body = if parts.method == Method::POST {
            match self.read_body(&parts.headers, body).await {
                Ok(b) => b,
                Err(e) => return e.response(),
            }
        } else {
            Bytes::new()
        };
        let query = parts.uri.query();
        crate::api::handle(self, r, &parts.method, query, &parts.headers, tls, body).await
    }

    async fn readyz(&self) -> Resp {
        match self.cattle.check_root(Auth::Service).await {
            Ok(()) => text(StatusCode::OK, "ready\n"),
            Err(e) => Error::Cattle(e).response(),
        }
    }

    /// Reads a request body within the size limit and the time limit. A declared length
    /// over the limit is refused before reading anything (HARDENING.md, "Sizes").
    pub async fn read_body(&self, headers: &HeaderMap, body: Incoming) -> Result<Bytes, Error> {
        let limit = self.settings.limits.max_body_bytes;
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(Error::PayloadTooLarge(limit));
        }
        let read = Limited::new(body, limit).collect();
        match tokio::time::timeout(self.settings.limits.header_timeout, read).await {
            Err(_) => Err(Error::BadRequest(
                "request body was not received in time".into(),
            )),
            Ok(Err(e))
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some() =>
            {
                Err(Error::PayloadTooLarge(limit))
            }
            Ok(Err(_)) => Err(Error::BadRequest("request body could not be read".into())),
            Ok(Ok(c)) => Ok(c.to_bytes()),
        }
    }
}

/// Trigger URLs are capabilities: keep them out of caches and referrers.
pub fn no_store(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
}

pub fn text(status: StatusCode, body: &str) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body.to_owned())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

pub fn json(status: StatusCode, v: &serde_json::Value) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}
