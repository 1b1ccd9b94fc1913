//! Shared helpers: an in-process simulator (plain or TLS), and a raw HTTP helper that
//! speaks to it with literal JSON — no hookgate client types.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use hookgate::sim::Sim;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub struct SimHandle {
    #[allow(dead_code)] // read by the TLS and trigger tests
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// Stops the simulator when dropped; `None` for a shared view of another handle's sim.
    _stop: Option<oneshot::Sender<()>>,
}

impl SimHandle {
    /// Another handle on the same simulator (for a second hookgate replica).
    pub fn share(&self) -> SimHandle {
        SimHandle {
            addr: self.addr,
            base: self.base.clone(),
            _stop: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Adds a fault (`/_sim/faults`, docs/cattle.md).
    pub async fn fault(&self, fault: &serde_json::Value) {
        self.post("/_sim/faults", fault, 201).await;
    }

    /// POSTs `body` to one of the simulator's control routes, which must answer `want`.
    async fn post(&self, path: &str, body: &Value, want: u16) {
        let r = http(
            Method::POST,
            &self.url(path),
            None,
            &[],
            Some(&body.to_string()),
        )
        .await;
        assert_eq!(r.status, want, "{}", String::from_utf8_lossy(&r.body));
    }

    pub async fn clear_faults(&self) {
        http(Method::DELETE, &self.url("/_sim/faults"), None, &[], None).await;
    }

    /// The Cattle calls received since the last `forget_calls` (`/_sim/calls`).
    pub async fn calls(&self) -> Value {
        http(Method::GET, &self.url("/_sim/calls"), None, &[], None)
            .await
            .json()
    }

    pub async fn forget_calls(&self) {
        http(Method::DELETE, &self.url("/_sim/calls"), None, &[], None).await;
    }

    /// Sets `fields` on a resource of project 1a5 (`/_sim/set`, docs/cattle.md).
    pub async fn set(&self, collection: &str, id: &str, fields: Value) {
        let body = serde_json::json!({"projectId": "1a5", "collection": collection, "id": id,
                                      "fields": fields});
        self.post("/_sim/set", &body, 204).await;
    }
}

/// Creates a receiver as alice in project 1a5 through the management API at `base`;
/// returns its trigger URL.
pub async fn create_receiver(
    base: &str,
    name: &str,
    driver: &str,
    config: serde_json::Value,
) -> String {
    let body =
        serde_json::json!({"name": name, "driver": driver, format!("{driver}Config"): config});
    let r = http(
        Method::POST,
        &format!("{base}/v1-webhooks/receivers?projectId=1a5"),
        Some(ALICE),
        &[],
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["url"].as_str().expect("url").to_owned()
}

/// The sum of a metric's samples in a scrape: lines of `name` (with or without labels)
/// that contain `label` (e.g. `outcome="scaled"`; empty for all).
pub fn metric_sum(scrape: &str, name: &str, label: &str) -> f64 {
    scrape
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
                && l.contains(label)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Starts a simulator with the default world on an ephemeral port.
pub async fn start_sim(transition: Duration) -> SimHandle {
    start_sim_with(Sim::with_default_world(transition)).await
}

pub async fn start_sim_with(sim: Sim) -> SimHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(hookgate::sim::serve(listener, Arc::new(sim), async {
        let _ = rx.await;
    }));
    SimHandle {
        addr,
        base: format!("http://{addr}"),
        _stop: Some(tx),
    }
}

pub const SERVICE: (&str, &str) = ("service", "service-secret");
pub const ALICE: (&str, &str) = ("alice", "alice-secret");
pub const BOB: (&str, &str) = ("bob", "bob-secret");

pub fn basic((user, pass): (&str, &str)) -> String {
    let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    format!("Basic {b}")
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// One HTTP request with optional Basic credentials, extra headers and a literal body.
pub async fn http(
    method: Method,
    url: &str,
    creds: Option<(&str, &str)>,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::builder().method(method).uri(url);
    if let Some(c) = creds {
        req = req.header("authorization", basic(c));
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or("").to_owned())))
        .expect("request");
    let resp = client.request(req).await.expect("response");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    Reply {
        status,
        headers,
        body,
    }
}

/// A POST with exactly the given Content-Type (or none), for content-type rules.
pub async fn raw_post(
    url: &str,
    creds: Option<(&str, &str)>,
    content_type: Option<&str>,
    body: &str,
) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::builder().method(Method::POST).uri(url);
    if let Some(c) = creds {
        req = req.header("authorization", basic(c));
    }
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let resp = client
        .request(
            req.body(Full::new(Bytes::from(body.to_owned())))
                .expect("request"),
        )
        .await
        .expect("response");
    let (status, headers) = (resp.status(), resp.headers().clone());
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    Reply {
        status,
        headers,
        body,
    }
}

pub async fn get(url: &str, creds: (&str, &str)) -> Reply {
    http(Method::GET, url, Some(creds), &[], None).await
}

/// Polls `url` until `pred` holds for its JSON, up to `limit`. Returns the last JSON.
pub async fn wait_for(
    url: &str,
    creds: (&str, &str),
    limit: Duration,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let v = get(url, creds).await.json();
        if pred(&v) || tokio::time::Instant::now() >= deadline {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `check` until it holds, for up to 10 s: waiting on an event, not on a guess of how
/// long it takes. Returns whether it held.
pub async fn eventually<F, Fut>(check: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A test CA and a server certificate for 127.0.0.1 and localhost, all PEM.
pub struct TestPki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestPki {
    /// Writes `cert.pem`, `key.pem` and `ca.pem` into `dir`; returns their paths in that order.
    pub fn write_to(
        &self,
        dir: &std::path::Path,
    ) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
        let paths = (
            dir.join("cert.pem"),
            dir.join("key.pem"),
            dir.join("ca.pem"),
        );
        for (path, pem) in [
            (&paths.0, &self.cert_pem),
            (&paths.1, &self.key_pem),
            (&paths.2, &self.ca_pem),
        ] {
            std::fs::write(path, pem).expect("write PEM");
        }
        paths
    }
}

/// A process's `/metrics`, as text.
pub async fn scrape(base: &str) -> String {
    let r = http(Method::GET, &format!("{base}/metrics"), None, &[], None).await;
    String::from_utf8_lossy(&r.body).into_owned()
}

pub fn test_pki(common_name: &str) -> TestPki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "hookgate test CA");
    let ca_key = KeyPair::generate().expect("ca key");
    let ca = ca_params.self_signed(&ca_key).expect("ca cert");
    let mut leaf_params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("leaf params");
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf = leaf_params
        .signed_by(&leaf_key, &ca, &ca_key)
        .expect("leaf cert");
    TestPki {
        ca_pem: ca.pem(),
        cert_pem: leaf.pem(),
        key_pem: leaf_key.serialize_pem(),
    }
}

/// The simulator behind TLS (HTTP/1.1), for the client's HTTPS path.
pub async fn start_tls_sim(pki: &TestPki) -> SimHandle {
    use hyper_util::rt::TokioIo;
    let certs: Vec<_> = rustls_pemfile::certs(&mut pki.cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .expect("certs");
    let key = rustls_pemfile::private_key(&mut pki.key_pem.as_bytes())
        .expect("key pem")
        .expect("a key");
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let sim = Arc::new(Sim::with_default_world(Duration::ZERO));
    let (tx, mut rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                a = listener.accept() => match a { Ok((s, _)) => s, Err(_) => continue },
                _ = &mut rx => return,
            };
            let (acceptor, sim) = (acceptor.clone(), sim.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let svc = hyper::service::service_fn(move |req| {
                    let sim = sim.clone();
                    async move { sim.handle(req).await }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    SimHandle {
        addr,
        base: format!("https://{addr}"),
        _stop: Some(tx),
    }
}

pub use edge::*;

/// The edge service in-process, against a simulator, wired as `main` wires it.
mod edge {
    use super::*;
    use hookgate::app::Settings;
    use hookgate::cattle::CattleConfig;
    use hookgate::config::Limits;
    use hookgate::drivers::{DriverConfig, OnResolved, ScaleAction, ScaleServiceConfig};
    use hookgate::edge::{Deployment, EdgeConfig};
    use hookgate::receiver::ReceiverId;
    use hookgate::token::Claims;
    use hookgate::token::KeyRing;

    pub struct Edge {
        /// The front listener (or, behind Cattle's proxy, the internal one).
        pub base: String,
        /// Behind Cattle's proxy: the public listener (triggers and health only).
        pub public_base: Option<String>,
        pub keys: KeyRing,
        pub sim: SimHandle,
        pub app: hookgate::app::App,
        _stop: oneshot::Sender<()>,
    }

    pub fn limits() -> Limits {
        Limits {
            max_body_bytes: 1 << 20,
            header_timeout: Duration::from_secs(5),
            tls_handshake_timeout: Duration::from_secs(5),
            max_connections: 1000,
            shutdown_grace: Duration::from_secs(5),
        }
    }

    pub fn test_keys() -> KeyRing {
        KeyRing::new([("t1", vec![1u8; 32]), ("t0", vec![0u8; 32])]).expect("ring")
    }

    /// How a test edge is set up; `Opts::default()` is the front deployment.
    pub struct Opts {
        pub cattle_timeout: Duration,
        /// Behind Cattle's proxy, with a public listener too.
        pub behind_cattle_proxy: bool,
        pub revocation_ttl: Duration,
        pub scale_ttl: Duration,
        pub limits: Limits,
        pub legacy_key_urls: bool,
        /// The Rancher installation's public key, for 1.4 `?token=<JWT>` URLs.
        pub rancher_key: Option<std::sync::Arc<hookgate::jwt::RancherKey>>,
        pub trust_forwarded_headers: bool,
        pub keys: KeyRing,
    }

    impl Default for Opts {
        fn default() -> Self {
            Opts {
                cattle_timeout: Duration::from_secs(5),
                behind_cattle_proxy: false,
                revocation_ttl: Duration::from_secs(30),
                scale_ttl: Duration::from_millis(100),
                limits: limits(),
                legacy_key_urls: true,
                rancher_key: None,
                trust_forwarded_headers: false,
                keys: test_keys(),
            }
        }
    }

    impl Opts {
        pub async fn start(self, sim: SimHandle) -> Edge {
            let any = "127.0.0.1:0".parse().expect("addr");
            let deployment = if self.behind_cattle_proxy {
                Deployment::BehindCattleProxy {
                    api_listen: any,
                    public_listen: Some(any),
                }
            } else {
                Deployment::Front { listen: any }
            };
            let edge = hookgate::edge::Edge::bind(EdgeConfig {
                keys: self.keys,
                cattle: CattleConfig {
                    url: format!("{}/v1", sim.base),
                    access_key: "service".into(),
                    secret_key: "service-secret".into(),
                    timeout: self.cattle_timeout,
                    connect_timeout: Duration::from_secs(2),
                    extra_roots_pem: None,
                },
                settings: Settings {
                    public_url: None,
                    trust_forwarded_headers: self.trust_forwarded_headers,
                    revocation_ttl: self.revocation_ttl,
                    drivers: hookgate::drivers::Settings {
                        scale_ttl: self.scale_ttl,
                        upgrade_poll: Duration::from_millis(20),
                        ..hookgate::drivers::Settings::default()
                    },
                    limits: self.limits,
                    legacy_key_urls: self.legacy_key_urls,
                    rancher_key: self.rancher_key,
                },
                deployment,
                tls: None,
            })
            .await
            .expect("edge binds");
            let bound = edge.bound().to_vec();
            let app = edge.app.clone();
            let (tx, rx) = oneshot::channel::<()>();
            tokio::spawn(edge.run(async {
                let _ = rx.await;
            }));
            let edge = Edge {
                base: bound[0].base(),
                public_base: bound.get(1).map(|b| b.base()),
                keys: test_keys(),
                sim,
                app,
                _stop: tx,
            };
            // The service starts by checking its account with Cattle; tests that count
            // Cattle calls start counting after that.
            let checked =
                eventually(|| async { edge.called_paths().await.iter().any(|p| p == "/v2-beta") })
                    .await;
            assert!(checked, "the edge checks its service account at start");
            edge.clear_calls().await;
            edge
        }
    }

    /// A scaleService config for `service`, up by 1 within [1, 10].
    pub fn scale(service: &str) -> ScaleServiceConfig {
        ScaleServiceConfig {
            service_id: service.into(),
            action: ScaleAction::Up,
            amount: 1,
            min: 1,
            max: 10,
            cooldown_seconds: 0,
            on_resolved: OnResolved::Ignore,
        }
    }

    pub fn seal_with(keys: &KeyRing, project: &str, config: DriverConfig) -> (String, String) {
        let rid = ReceiverId::random().expect("random");
        let claims = Claims {
            receiver_id: rid,
            project_id: project.into(),
            issued_at: hookgate::unix_now(),
            expires_at: None,
            config,
        };
        (keys.seal(&claims).expect("seal"), rid.to_string())
    }

    /// Seals a receiver with `keys` and records its generic object in the simulator.
    pub async fn mint_on(
        sim: &SimHandle,
        keys: &KeyRing,
        project: &str,
        config: DriverConfig,
    ) -> String {
        let (token, rid) = seal_with(keys, project, config);
        let body = format!(
            r#"{{"name": "r-{rid}", "key": "{rid}", "kind": "webhookReceiver", "resourceData": {{"driver": "scaleService", "url": "http://hookgate/v1-webhooks/endpoint?token={token}", "config": {{}}}}}}"#
        );
        let url = sim.url(&format!("/v2-beta/projects/{project}/genericobjects"));
        let r = http(Method::POST, &url, Some(SERVICE), &[], Some(&body)).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        token
    }

    /// The front deployment against a fresh simulator.
    pub async fn start_edge(cattle_timeout: Duration) -> Edge {
        Opts {
            cattle_timeout,
            ..Opts::default()
        }
        .start(start_sim(Duration::ZERO).await)
        .await
    }

    impl Edge {
        /// Seals a receiver and records it in Cattle the way the management API does.
        pub async fn mint(&self, project: &str, config: DriverConfig) -> String {
            mint_on(&self.sim, &self.keys, project, config).await
        }

        /// Seals a receiver without recording it (a revoked or never-created receiver).
        pub fn seal(&self, project: &str, config: DriverConfig) -> (String, String) {
            seal_with(&self.keys, project, config)
        }

        /// Stores a generic object in Cattle directly, the way Rancher's webhook-service
        /// did (or any other record); returns its id.
        pub async fn store(&self, project: &str, record: serde_json::Value) -> String {
            let r = http(
                Method::POST,
                &self
                    .sim
                    .url(&format!("/v2-beta/projects/{project}/genericobjects")),
                Some(SERVICE),
                &[],
                Some(&record.to_string()),
            )
            .await;
            assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
            r.json()["id"].as_str().expect("id").to_owned()
        }

        pub fn trigger_url(&self, token: &str) -> String {
            format!("{}/v1-webhooks/endpoint?token={token}", self.base)
        }

        pub async fn fire(&self, token: &str, body: Option<&str>) -> Reply {
            http(Method::POST, &self.trigger_url(token), None, &[], body).await
        }

        pub async fn scale_of(&self, project: &str, service: &str) -> i64 {
            let v = get(
                &self
                    .sim
                    .url(&format!("/v2-beta/projects/{project}/services/{service}")),
                SERVICE,
            )
            .await
            .json();
            v["scale"].as_i64().expect("scale")
        }

        pub async fn fault(&self, body: &str) {
            self.sim
                .fault(&serde_json::from_str(body).expect("fault JSON"))
                .await;
        }

        pub async fn clear_faults(&self) {
            self.sim.clear_faults().await;
        }

        pub async fn clear_calls(&self) {
            http(
                Method::DELETE,
                &self.sim.url("/_sim/calls"),
                None,
                &[],
                None,
            )
            .await;
        }

        /// Calls other than GET since the last `clear_calls`, as "METHOD path".
        pub async fn called_writes(&self) -> Vec<String> {
            let v = http(Method::GET, &self.sim.url("/_sim/calls"), None, &[], None)
                .await
                .json();
            v.as_array()
                .expect("calls")
                .iter()
                .filter(|c| c["method"] != "GET")
                .map(|c| format!("{} {}", c["method"], c["path"]))
                .collect()
        }

        /// Paths the simulator was asked for since the last `clear_calls`.
        pub async fn called_paths(&self) -> Vec<String> {
            let v = http(Method::GET, &self.sim.url("/_sim/calls"), None, &[], None)
                .await
                .json();
            v.as_array()
                .expect("calls")
                .iter()
                .map(|c| c["path"].as_str().expect("path").to_owned())
                .collect()
        }
    }
}

/// A sender payload from `tests/fixtures` (copied from the team's shared fixtures).
pub fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A `hookgate` process, killed when dropped.
pub struct Serve {
    pub child: Child,
    pub base: String,
    pub port: u16,
    /// Its standard error, when captured.
    pub log: Option<Arc<std::sync::Mutex<String>>>,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{sig}");
    }
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// The key ring of `test_keys()` in the text format.
pub fn keys_text() -> String {
    let b = |v: u8| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([v; 32]);
    format!("t1 {}\nt0 {}\n", b(1), b(0))
}

/// `hookgate serve` against `sim` on a free port, with the test key ring. `extra` flags and
/// `env` overrides come last; with `capture`, standard error is collected into `log`.
pub fn spawn_serve_with(
    sim: &SimHandle,
    tls: Option<(&std::path::Path, &std::path::Path)>,
    extra: &[&str],
    env: &[(&str, &str)],
    capture: bool,
) -> Serve {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hookgate"));
    cmd.arg("serve")
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(extra)
        .env("CATTLE_URL", format!("{}/v1", sim.base))
        .env("CATTLE_ACCESS_KEY", "service")
        .env("CATTLE_SECRET_KEY", "service-secret")
        .env("HOOKGATE_KEYS", keys_text())
        .env_remove("HOOKGATE_KEYS_FILE")
        .env_remove("HOOKGATE_LOG")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(if capture {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let scheme = match tls {
        Some((cert, key)) => {
            cmd.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
            "https"
        }
        None => "http",
    };
    let mut child = cmd.spawn().expect("spawn hookgate serve");
    let log = child.stderr.take().map(|mut err| {
        let log = Arc::new(std::sync::Mutex::new(String::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            use std::io::Read as _;
            let mut buf = [0u8; 8192];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                sink.lock().expect("log").push_str(&text);
            }
        });
        log
    });
    Serve {
        child,
        base: format!("{scheme}://127.0.0.1:{port}"),
        port,
        log,
    }
}

pub fn spawn_serve(
    sim: &SimHandle,
    tls: Option<(&std::path::Path, &std::path::Path)>,
    extra: &[&str],
) -> Serve {
    spawn_serve_with(sim, tls, extra, &[], false)
}

impl Serve {
    /// What the process logged so far (empty unless captured).
    pub fn logged(&self) -> String {
        self.log
            .as_ref()
            .map(|l| l.lock().expect("log").clone())
            .unwrap_or_default()
    }

    /// Resident memory of the process, in bytes (Linux).
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .expect("VmRSS")
            * 1024
    }
}

pub async fn wait_listening(port: u16) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("hookgate did not start listening on {port}");
}
