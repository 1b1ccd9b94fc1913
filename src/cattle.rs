//! The Cattle client: the only code in hookgate that talks upstream.
//!
//! A pooled hyper-util client over HTTP or HTTPS (rustls), addressing Cattle v2-beta the way
//! Rancher's Go client ends up doing (docs/cattle.md): project-scoped collection URLs,
//! `actions` URLs taken from the resource (an action absent from `actions` fails locally),
//! pagination followed to the end. Each call carries either hookgate's service account or the
//! caller's own `Authorization` header. Every call is bounded by the configured timeout, and
//! every failure is classified so the trigger path can answer 502/503/504 correctly.
//!
//! Never logs or returns credentials; errors carry Cattle's code and message only.

pub mod wire;

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::de::DeserializeOwned;
use serde_json::Value;

use wire::{
    Collection, ErrorBody, GenericObject, Host, HostTemplate, NewExternalHostEvent,
    NewGenericObject, Project, ScaledService, Service, UpgradeRequest,
};

/// Largest response body read from Cattle.
const MAX_RESPONSE: usize = 32 << 20;
/// Most pages followed in one list (3000 rows at Cattle's default page size is far beyond
/// anything hookgate lists; the bound keeps a looping `next` from running forever).
const MAX_PAGES: usize = 1000;

/// Why a Cattle call failed, classified by whose fault it is and whether a retry may help.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CattleError {
    /// No complete answer within the timeout.
    #[error("Cattle did not answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// Could not connect, or the connection broke before an answer.
    #[error("Cattle is unreachable: {0}")]
    Unreachable(String),
    /// Cattle answered 5xx.
    #[error("Cattle failed with {status} {code}{}", fmt_msg(.message))]
    Upstream {
        status: u16,
        code: String,
        message: Option<String>,
    },
    /// Cattle refused the request (4xx): credentials, access, validation, state.
    #[error("Cattle refused with {status} {code}{}{}", fmt_field(.field), fmt_msg(.message))]
    Rejected {
        status: u16,
        code: String,
        message: Option<String>,
        field: Option<String>,
    },
    /// The resource does not offer the action in its current state; nothing was sent.
    #[error("action {action} is not available on {id}")]
    ActionNotAvailable { action: String, id: String },
    /// Cattle's answer could not be read.
    #[error("Cattle sent an unreadable response: {0}")]
    Decode(String),
    /// Cattle refused hookgate's own service account (401): a setting is wrong.
    #[error(
        "Cattle refused hookgate's service account: check CATTLE_ACCESS_KEY and CATTLE_SECRET_KEY"
    )]
    ServiceAccountRefused,
    /// Cattle answered with a link (`pagination.next`, an action) that is not under its API
    /// root; it was not followed, so no credentials went anywhere else.
    #[error("Cattle returned a link outside its API; not followed")]
    ForeignLink,
    /// Cattle failed too often in a row: not asked, for about `retry_after` seconds more
    /// (crate::breaker).
    #[error("Cattle is failing: not asking it again for {retry_after} s")]
    CircuitOpen { retry_after: u32 },
    /// Our own request could not be encoded: a bug of ours, not Cattle's.
    #[error("could not encode a request to Cattle: {0}")]
    Encode(String),
}

fn fmt_msg(m: &Option<String>) -> String {
    m.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
}

fn fmt_field(f: &Option<String>) -> String {
    f.as_deref()
        .map(|f| format!(" (field {f})"))
        .unwrap_or_default()
}

impl CattleError {
    /// The HTTP status Cattle answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            CattleError::Upstream { status, .. } | CattleError::Rejected { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }
}

/// How long a cached Cattle error is trusted: long enough that a flood during an outage
/// costs one call per key per this interval, short enough that recovery is seen at once.
pub const ERROR_TTL: Duration = Duration::from_secs(2);

/// Expiry for caches of Cattle answers: an answer is trusted for `ttl`, an error for
/// [`ERROR_TTL`] (at most `ttl`). Replacing an entry restarts its time.
pub struct AnswerExpiry {
    pub ttl: Duration,
}

impl AnswerExpiry {
    /// How long `v` is trusted.
    pub fn of<T>(&self, v: &Result<T, CattleError>) -> Duration {
        match v {
            Ok(_) => self.ttl,
            Err(_) => self.ttl.min(ERROR_TTL),
        }
    }
}

impl<K, T> moka::Expiry<K, Result<T, CattleError>> for AnswerExpiry {
    fn expire_after_create(
        &self,
        _key: &K,
        value: &Result<T, CattleError>,
        _at: std::time::Instant,
    ) -> Option<Duration> {
        Some(self.of(value))
    }

    fn expire_after_update(
        &self,
        _key: &K,
        value: &Result<T, CattleError>,
        _at: std::time::Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Some(self.of(value))
    }
}

/// Whose credentials a call carries.
#[derive(Clone, Copy, Debug)]
pub enum Auth<'a> {
    /// hookgate's own service account (`CATTLE_ACCESS_KEY`/`CATTLE_SECRET_KEY`).
    Service,
    /// The caller's `Authorization` header, forwarded unchanged.
    Forward(&'a HeaderValue),
}

/// Settings for [`Cattle::new`].
#[derive(Clone)]
pub struct CattleConfig {
    /// `CATTLE_URL`: `scheme://host[:port][/prefix]` optionally ending in `/v1` or `/v2-beta`.
    pub url: String,
    pub access_key: String,
    pub secret_key: String,
    /// Bound on every call, from sending to the last body byte.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Extra trusted CA certificates (PEM), besides the system's.
    pub extra_roots_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for CattleConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CattleConfig")
            .field("url", &self.url)
            .field("access_key", &self.access_key)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A client for one Cattle. Cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct Cattle {
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// `scheme://host[:port][/prefix]/v2-beta`, no trailing slash.
    api: String,
    service_auth: HeaderValue,
    timeout: Duration,
    /// Fails calls fast while Cattle is down (shared by the clones).
    breaker: std::sync::Arc<crate::breaker::Breaker>,
}

impl std::fmt::Debug for Cattle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cattle")
            .field("api", &self.api)
            .finish_non_exhaustive()
    }
}

/// Why a client could not be built from its settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    #[error("not a URL")]
    NotAUrl,
    #[error("scheme must be http or https")]
    Scheme,
    #[error("no host")]
    NoHost,
    #[error("must not have a query")]
    Query,
    #[error("CA certificates: {0}")]
    CaCertificates(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("access key or secret key has characters a header cannot carry")]
    Credentials,
}

impl SetupError {
    /// The setting at fault.
    pub fn setting(&self) -> &'static str {
        match self {
            SetupError::NotAUrl | SetupError::Scheme | SetupError::NoHost | SetupError::Query => {
                "--cattle-url"
            }
            SetupError::CaCertificates(_) => "--cattle-ca-file",
            SetupError::Tls(_) => "--cattle-url",
            SetupError::Credentials => "--cattle-access-key/--cattle-secret-key",
        }
    }
}

/// Turns `CATTLE_URL` into the v2-beta API root, as Rancher's client normalised it.
pub fn normalize_url(url: &str) -> Result<String, SetupError> {
    let uri: Uri = url.parse().map_err(|_| SetupError::NotAUrl)?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(SetupError::Scheme),
    }
    let authority = uri.authority().ok_or(SetupError::NoHost)?;
    if uri.query().is_some() {
        return Err(SetupError::Query);
    }
    let path = uri.path().trim_end_matches('/');
    let prefix = path
        .strip_suffix("/v2-beta")
        .or_else(|| path.strip_suffix("/v1"))
        .unwrap_or(path);
    Ok(format!(
        "{}://{authority}{prefix}/v2-beta",
        uri.scheme_str().unwrap_or("http")
    ))
}

fn seg(s: &str) -> impl std::fmt::Display + '_ {
    utf8_percent_encode(s, NON_ALPHANUMERIC)
}

/// An HTTP(S) client trusting the system's CAs and `extra_roots_pem`: Cattle's, and the one
/// `hookgate healthcheck` asks `/healthz` with.
pub fn http_client(
    extra_roots_pem: Option<&[u8]>,
    connect_timeout: Duration,
) -> Result<Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>, SetupError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(mut pem) = extra_roots_pem {
        for cert in rustls_pemfile::certs(&mut pem) {
            let cert = cert.map_err(|e| SetupError::CaCertificates(e.to_string()))?;
            roots
                .add(cert)
                .map_err(|e| SetupError::CaCertificates(e.to_string()))?;
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SetupError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_nodelay(true);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(connector))
}

impl Cattle {
    pub fn new(cfg: &CattleConfig) -> Result<Self, SetupError> {
        let api = normalize_url(&cfg.url)?;
        let client = http_client(cfg.extra_roots_pem.as_deref(), cfg.connect_timeout)?;
        let basic = STANDARD.encode(format!("{}:{}", cfg.access_key, cfg.secret_key));
        let mut service_auth = HeaderValue::from_str(&format!("Basic {basic}"))
            .map_err(|_| SetupError::Credentials)?;
        service_auth.set_sensitive(true);
        Ok(Self {
            http: client,
            api,
            service_auth,
            timeout: cfg.timeout,
            breaker: Default::default(),
        })
    }

    /// The v2-beta root this client talks to.
    pub fn api_root(&self) -> &str {
        &self.api
    }

    fn collection_url(&self, project: &str, collection: &str) -> String {
        format!("{}/projects/{}/{collection}", self.api, seg(project))
    }

    fn resource_url(&self, project: &str, collection: &str, id: &str) -> String {
        format!("{}/{}", self.collection_url(project, collection), seg(id))
    }

    /// One HTTP exchange, bounded by the timeout. Returns status and body.
    async fn exchange(
        &self,
        method: Method,
        url: &str,
        auth: Auth<'_>,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Bytes), CattleError> {
        let authz = match auth {
            Auth::Service => &self.service_auth,
            Auth::Forward(h) => h,
        };
        let mut req = Request::builder()
            .method(method)
            .uri(url)
            .header(header::ACCEPT, "application/json")
            .header(header::AUTHORIZATION, authz.clone())
            // Errors as JSON, never a browser challenge.
            .header("x-api-no-challenge", "true");
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| CattleError::Encode(format!("request URL: {e}")))?;
        use crate::breaker::{Admit, Change};
        if let Admit::Refuse(left) = self.breaker.admit(Instant::now()) {
            return Err(circuit_open(left));
        }
        let result = self.send(req, MAX_RESPONSE).await;
        // Any answer means Cattle is up, except a gateway's word that it is not.
        let up = match &result {
            Ok((s, _, _)) => !matches!(s.as_u16(), 502..=504),
            Err(CattleError::Timeout(_) | CattleError::Unreachable(_)) => false,
            Err(_) => true,
        };
        match self.breaker.record(up, Instant::now()) {
            Some(Change::Opened(period)) => {
                crate::metrics::circuit(true);
                tracing::warn!(
                    cattle = %self.api,
                    failing_fast_for_s = period.as_secs(),
                    "Cattle failed {} times in a row: answering 503 at once for a while, then probing",
                    crate::breaker::THRESHOLD
                );
            }
            Some(Change::Closed) => {
                crate::metrics::circuit(false);
                tracing::info!(cattle = %self.api, "Cattle answers again");
            }
            None => {}
        }
        let (status, _, body) = result?;
        Ok((status, body))
    }

    /// Sends one request, bounded by the timeout, and reads at most `limit` bytes of its
    /// answer. Returns the status, the answer's content type and its body.
    async fn send(
        &self,
        req: Request<Full<Bytes>>,
        limit: usize,
    ) -> Result<(StatusCode, Option<HeaderValue>, Bytes), CattleError> {
        let started = Instant::now();
        let work = async {
            let resp = self.http.request(req).await.map_err(|e| {
                let what = if e.is_connect() {
                    "connect failed"
                } else {
                    "connection lost"
                };
                CattleError::Unreachable(format!("{what}: {}", error_chain(&e)))
            })?;
            let status = resp.status();
            let content_type = resp.headers().get(header::CONTENT_TYPE).cloned();
            let body = Limited::new(resp.into_body(), limit)
                .collect()
                .await
                .map_err(|e| {
                    if e.downcast_ref::<http_body_util::LengthLimitError>()
                        .is_some()
                    {
                        CattleError::Decode(format!("the answer is larger than {limit} bytes"))
                    } else {
                        CattleError::Unreachable(format!("reading the answer: {e}"))
                    }
                })?
                .to_bytes();
            Ok((status, content_type, body))
        };
        let result = match tokio::time::timeout(self.timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(CattleError::Timeout(self.timeout)),
        };
        let class = match &result {
            Ok((s, _, _)) if s.is_success() => "2xx",
            Ok((s, _, _)) if s.is_client_error() => "4xx",
            Ok((s, _, _)) if s.is_server_error() => "5xx",
            Ok(_) => "other",
            Err(CattleError::Timeout(_)) => "timeout",
            Err(_) => "error",
        };
        crate::metrics::observe_cattle_call(started.elapsed(), class);
        result
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &str,
        auth: Auth<'_>,
        body: Option<Vec<u8>>,
    ) -> Result<T, CattleError> {
        let (status, bytes) = self.exchange(method, url, auth, body).await?;
        if !status.is_success() {
            return Err(refusal(status, &bytes, auth));
        }
        serde_json::from_slice(&bytes).map_err(|e| CattleError::Decode(e.to_string()))
    }

    /// GET by id; `None` when Cattle answers 404 (as the Go client's `ById` did).
    async fn get_opt<T: DeserializeOwned>(
        &self,
        url: &str,
        auth: Auth<'_>,
    ) -> Result<Option<T>, CattleError> {
        match self.call(Method::GET, url, auth, None).await {
            Ok(v) => Ok(Some(v)),
            Err(CattleError::Rejected { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Lists a collection with filters, following `pagination.next` to the end.
    async fn list_all<T: DeserializeOwned>(
        &self,
        project: &str,
        collection: &str,
        filters: &[(&str, &str)],
        auth: Auth<'_>,
    ) -> Result<Vec<T>, CattleError> {
        self.list_url(self.collection_url(project, collection), filters, auth)
            .await
    }

    /// Lists the collection at `url` with filters, following `pagination.next` to the end.
    async fn list_url<T: DeserializeOwned>(
        &self,
        mut url: String,
        filters: &[(&str, &str)],
        auth: Auth<'_>,
    ) -> Result<Vec<T>, CattleError> {
        if !filters.is_empty() {
            let q = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(filters)
                .finish();
            url = format!("{url}?{q}");
        }
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let page: Collection<T> = self.call(Method::GET, &url, auth, None).await?;
            out.extend(page.data);
            match page.pagination {
                Some(p) if p.partial == Some(true) => match p.next {
                    // Cattle builds `next` from its own host name; credentials go only to
                    // the configured Cattle, so the link is re-rooted there.
                    Some(next) => url = self.onto_api(&next)?,
                    None => break,
                },
                _ => return Ok(out),
            }
        }
        Ok(out)
    }

    async fn action<T: DeserializeOwned>(
        &self,
        actions: &std::collections::HashMap<String, String>,
        id: &str,
        name: &str,
        auth: Auth<'_>,
        body: Option<Vec<u8>>,
    ) -> Result<T, CattleError> {
        let Some(url) = actions.get(name) else {
            return Err(CattleError::ActionNotAvailable {
                action: name.into(),
                id: id.into(),
            });
        };
        self.call(
            Method::POST,
            &self.onto_api(url)?,
            auth,
            Some(body.unwrap_or_else(|| b"{}".to_vec())),
        )
        .await
    }

    /// A link Cattle returned, re-rooted onto the configured API root: Cattle writes links
    /// with its own idea of its host (often not `CATTLE_URL`'s), and hookgate sends
    /// credentials nowhere but `CATTLE_URL`. The part after the `/v2-beta` (or `/v1`) segment
    /// is kept; a link without one is refused.
    fn onto_api(&self, link: &str) -> Result<String, CattleError> {
        let uri: Uri = link.parse().map_err(|_| CattleError::ForeignLink)?;
        let path = uri.path();
        let rest = ["/v2-beta", "/v1"]
            .iter()
            .find_map(|v| {
                let at = path.find(v)?;
                let rest = &path[at + v.len()..];
                (rest.is_empty() || rest.starts_with('/')).then_some(rest)
            })
            .ok_or(CattleError::ForeignLink)?;
        Ok(match uri.query() {
            Some(q) => format!("{}{rest}?{q}", self.api),
            None => format!("{}{rest}", self.api),
        })
    }

    // ---- services ----

    pub async fn get_service(
        &self,
        auth: Auth<'_>,
        project: &str,
        id: &str,
    ) -> Result<Option<Service>, CattleError> {
        self.get_opt(&self.resource_url(project, "services", id), auth)
            .await
    }

    pub async fn list_services(
        &self,
        auth: Auth<'_>,
        project: &str,
        filters: &[(&str, &str)],
    ) -> Result<Vec<Service>, CattleError> {
        self.list_all(project, "services", filters, auth).await
    }

    /// PUT `{"scale": n}`; Cattle answers with the updated service.
    pub async fn set_scale(
        &self,
        auth: Auth<'_>,
        project: &str,
        id: &str,
        scale: i64,
    ) -> Result<ScaledService, CattleError> {
        let body = encode(&serde_json::json!({ "scale": scale }))?;
        self.call(
            Method::PUT,
            &self.resource_url(project, "services", id),
            auth,
            Some(body),
        )
        .await
    }

    pub async fn upgrade_service(
        &self,
        auth: Auth<'_>,
        service: &Service,
        req: &UpgradeRequest,
    ) -> Result<Service, CattleError> {
        let body = encode(req)?;
        self.action(&service.actions, &service.id, "upgrade", auth, Some(body))
            .await
    }

    pub async fn finish_upgrade(
        &self,
        auth: Auth<'_>,
        service: &Service,
    ) -> Result<Service, CattleError> {
        self.action(&service.actions, &service.id, "finishupgrade", auth, None)
            .await
    }

    // ---- generic objects ----

    pub async fn create_generic_object(
        &self,
        auth: Auth<'_>,
        project: &str,
        obj: &NewGenericObject<'_>,
    ) -> Result<GenericObject, CattleError> {
        let body = encode(obj)?;
        self.call(
            Method::POST,
            &self.collection_url(project, "genericobjects"),
            auth,
            Some(body),
        )
        .await
    }

    pub async fn list_generic_objects(
        &self,
        auth: Auth<'_>,
        project: &str,
        filters: &[(&str, &str)],
    ) -> Result<Vec<GenericObject>, CattleError> {
        self.list_all(project, "genericobjects", filters, auth)
            .await
    }

    pub async fn get_generic_object(
        &self,
        auth: Auth<'_>,
        project: &str,
        id: &str,
    ) -> Result<Option<GenericObject>, CattleError> {
        self.get_opt(&self.resource_url(project, "genericobjects", id), auth)
            .await
    }

    pub async fn delete_generic_object(
        &self,
        auth: Auth<'_>,
        project: &str,
        id: &str,
    ) -> Result<(), CattleError> {
        let url = self.resource_url(project, "genericobjects", id);
        let (status, bytes) = self.exchange(Method::DELETE, &url, auth, None).await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(refusal(status, &bytes, auth))
        }
    }

    // ---- hosts ----

    pub async fn list_hosts(
        &self,
        auth: Auth<'_>,
        project: &str,
        filters: &[(&str, &str)],
    ) -> Result<Vec<Host>, CattleError> {
        self.list_all(project, "hosts", filters, auth).await
    }

    /// Creates a host from a raw body (Rancher cloned a whole host object this way).
    pub async fn create_host(
        &self,
        auth: Auth<'_>,
        project: &str,
        body: &Value,
    ) -> Result<Host, CattleError> {
        let body = encode(body)?;
        self.call(
            Method::POST,
            &self.collection_url(project, "hosts"),
            auth,
            Some(body),
        )
        .await
    }

    /// A host exactly as Cattle returns it.
    pub async fn get_host_raw(
        &self,
        auth: Auth<'_>,
        project: &str,
        id: &str,
    ) -> Result<Option<Value>, CattleError> {
        self.get_opt(&self.resource_url(project, "hosts", id), auth)
            .await
    }

    pub async fn list_host_templates(
        &self,
        auth: Auth<'_>,
        project: &str,
    ) -> Result<Vec<HostTemplate>, CattleError> {
        self.list_all(project, "hosttemplates", &[], auth).await
    }

    /// The projects (environments) these credentials reach.
    pub async fn list_projects(&self, auth: Auth<'_>) -> Result<Vec<Project>, CattleError> {
        self.list_url(format!("{}/projects", self.api), &[], auth)
            .await
    }

    pub async fn get_host_template(
        &self,
        auth: Auth<'_>,
        project: &str,
        id: &str,
    ) -> Result<Option<HostTemplate>, CattleError> {
        self.get_opt(&self.resource_url(project, "hosttemplates", id), auth)
            .await
    }

    pub async fn create_external_host_event(
        &self,
        auth: Auth<'_>,
        project: &str,
        ev: &NewExternalHostEvent<'_>,
    ) -> Result<Value, CattleError> {
        let body = encode(ev)?;
        self.call(
            Method::POST,
            &self.collection_url(project, "externalhostevents"),
            auth,
            Some(body),
        )
        .await
    }

    // ---- the service proxy (forwardPost's upstream) ----

    /// POSTs `body` to a service of `project` through Cattle's service proxy
    /// (`/r/projects/<project>/<service>:<port><path>`), with the service account, and with
    /// no other header than the content type and user agent given. Returns the answer as it
    /// came (status, content type, at most `limit` bytes). The path must be one a forward
    /// may take ([`forward_path_ok`]): nothing here can reach the Cattle API itself.
    #[allow(clippy::too_many_arguments)] // each part of the forwarded request, named
    pub async fn forward(
        &self,
        project: &str,
        service: &str,
        port: u16,
        path: &str,
        content_type: Option<&str>,
        user_agent: Option<&str>,
        body: Bytes,
        limit: usize,
    ) -> Result<(StatusCode, Option<String>, Bytes), CattleError> {
        if !forward_path_ok(path) || !service_name_ok(service) {
            return Err(CattleError::Encode(
                "forward target is not a service path".into(),
            ));
        }
        let root = self.api.strip_suffix("/v2-beta").unwrap_or(&self.api);
        let url = format!("{root}/r/projects/{}/{service}:{port}{path}", seg(project));
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(url)
            .header(header::AUTHORIZATION, self.service_auth.clone());
        for (name, value) in [
            (header::CONTENT_TYPE, content_type),
            (header::USER_AGENT, user_agent),
        ] {
            if let Some(v) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
                req = req.header(name, v);
            }
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| CattleError::Encode(format!("forward URL: {e}")))?;
        // The proxy is Cattle: while Cattle is known to be down, fail fast. A forward's own
        // failure is not counted (crate::breaker::Breaker::refusing).
        if let Some(left) = self.breaker.refusing(Instant::now()) {
            return Err(circuit_open(left));
        }
        let (status, content_type, body) = self.send(req, limit).await?;
        // Cattle's own refusal of the service account is its error envelope; a 401 of the
        // service itself is passed back like any of its answers.
        if status == StatusCode::UNAUTHORIZED
            && serde_json::from_slice::<ErrorBody>(&body)
                .is_ok_and(|e| e.kind.as_deref() == Some("error"))
        {
            return Err(CattleError::ServiceAccountRefused);
        }
        let content_type = content_type.and_then(|v| v.to_str().ok().map(str::to_owned));
        Ok((status, content_type, body))
    }

    // ---- access ----

    /// Whether Cattle answers these credentials at the API root (readiness).
    pub async fn check_root(&self, auth: Auth<'_>) -> Result<(), CattleError> {
        self.call::<Value>(Method::GET, &self.api, auth, None)
            .await
            .map(drop)
    }

    /// Whether these credentials reach the project: `Ok` or Cattle's 401/403/404 as
    /// `Rejected`.
    pub async fn check_project(&self, auth: Auth<'_>, project: &str) -> Result<(), CattleError> {
        let url = format!("{}/projects/{}", self.api, seg(project));
        self.call::<Value>(Method::GET, &url, auth, None)
            .await
            .map(drop)
    }
}

/// The error of a call refused by the open breaker, `left` before it probes again.
fn circuit_open(left: Duration) -> CattleError {
    CattleError::CircuitOpen {
        retry_after: u32::try_from(left.as_secs().max(1)).unwrap_or(u32::MAX),
    }
}

fn encode<T: serde::Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, CattleError> {
    serde_json::to_vec(v).map_err(|e| CattleError::Encode(e.to_string()))
}

/// A non-2xx answer, classified; a 401 to hookgate's own account names the settings.
fn refusal(status: StatusCode, body: &[u8], auth: Auth<'_>) -> CattleError {
    match (status, auth) {
        (StatusCode::UNAUTHORIZED, Auth::Service) => CattleError::ServiceAccountRefused,
        _ => error_from(status, body),
    }
}

/// A service name as Cattle allows it (letters, digits, `-`), so it cannot change the
/// proxy URL's shape.
pub fn service_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A path a forward may take under the service proxy: empty, or `/` followed by plain
/// segments — no `..` or `.` segment, no escapes, no query or fragment — so it can never
/// climb out of `/r/projects/<project>/<service>:<port>` to Cattle's API.
pub fn forward_path_ok(path: &str) -> bool {
    path.is_empty()
        || (path.starts_with('/')
            && path.len() <= 1024
            && path
                .bytes()
                // No `;`: servlet containers read `..;` as `..`.
                .all(|b| b.is_ascii_alphanumeric() || b"/-._~!$&'()*,=:@".contains(&b))
            && path.split('/').all(|s| s != ".." && s != "."))
}

/// Cattle's error envelope → a classified error (4xx refused, 5xx upstream failure).
fn error_from(status: StatusCode, body: &[u8]) -> CattleError {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let code = parsed
        .as_ref()
        .and_then(|b| b.code.clone())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("Error").to_owned());
    let message = parsed
        .as_ref()
        .and_then(|b| b.message.clone().or_else(|| b.detail.clone()));
    if status.is_server_error() {
        CattleError::Upstream {
            status: status.as_u16(),
            code,
            message,
        }
    } else {
        CattleError::Rejected {
            status: status.as_u16(),
            code,
            message,
            field: parsed.and_then(|b| b.field_name),
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cattle_urls_normalise_like_rancher() {
        let cases = [
            ("http://rancher:8080", "http://rancher:8080/v2-beta"),
            ("http://rancher:8080/", "http://rancher:8080/v2-beta"),
            ("http://localhost:8080/v1", "http://localhost:8080/v2-beta"),
            ("https://r.example/v2-beta/", "https://r.example/v2-beta"),
            (
                "https://r.example/rancher/v1",
                "https://r.example/rancher/v2-beta",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_url(input).as_deref(), Ok(want), "{input}");
        }
        for bad in ["rancher:8080", "ftp://x/v1", "http://x/v1?a=b", ""] {
            assert!(normalize_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn error_envelopes_are_classified() {
        let e = error_from(
            StatusCode::UNPROCESSABLE_ENTITY,
            br#"{"type":"error","status":422,"code":"MinLimitExceeded","message":null,"fieldName":"scale"}"#,
        );
        assert!(
            matches!(e, CattleError::Rejected { status: 422, ref code, field: Some(ref f), .. } if code == "MinLimitExceeded" && f == "scale")
        );
        let e = error_from(StatusCode::SERVICE_UNAVAILABLE, b"<html>busy</html>");
        assert!(
            matches!(e, CattleError::Upstream { status: 503, ref code, .. } if code == "Service Unavailable")
        );
    }

    #[test]
    fn links_are_followed_only_on_the_configured_cattle() {
        let c = Cattle::new(&CattleConfig {
            url: "https://rancher.example/rancher/v1".into(),
            access_key: "a".into(),
            secret_key: "s".into(),
            timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            extra_roots_pem: None,
        })
        .expect("client");
        let cases = [
            (
                "http://10.0.0.5:8080/v2-beta/projects/1a5/services?marker=m100",
                Some("https://rancher.example/rancher/v2-beta/projects/1a5/services?marker=m100"),
            ),
            (
                "http://evil.example/v2-beta/projects/1a5/services/1s1/?action=upgrade",
                Some("https://rancher.example/rancher/v2-beta/projects/1a5/services/1s1/?action=upgrade"),
            ),
            (
                "/v1/projects/1a5/hosts",
                Some("https://rancher.example/rancher/v2-beta/projects/1a5/hosts"),
            ),
            ("http://evil.example/steal?x=/v2-beta", None),
            ("http://evil.example/v2-betax/projects", None),
            ("not a url at all", None),
        ];
        for (link, want) in cases {
            assert_eq!(c.onto_api(link).ok().as_deref(), want, "{link}");
        }
    }

    #[test]
    fn path_segments_cannot_escape() {
        assert_eq!(seg("1a5/../x").to_string(), "1a5%2F%2E%2E%2Fx");
    }
}
