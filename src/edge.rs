//! Wiring: validated settings → a bound, running edge service. `main` (`serve`, `demo`) and
//! the integration tests build the service through this one path.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::app::{App, Settings};
use crate::cattle::{Auth, Cattle, CattleConfig, CattleError};
use crate::config::{ConfigError, EdgeArgs, ServeArgs};
use crate::http::Surface;
use crate::server::Listener;
use crate::tls::CertStore;
use crate::token::KeyRing;

/// Where the service listens, by deployment (docs/security.md, "Deployments").
#[derive(Debug, Clone)]
pub enum Deployment {
    /// One listener serving everything; the API authorizes with the caller's credentials.
    Front { listen: SocketAddr },
    /// Behind Cattle's `/v1-webhooks` proxy: the internal listener (API trusting Cattle's
    /// `X-API-*` headers, and triggers), and optionally a public one (triggers and health).
    BehindCattleProxy {
        api_listen: SocketAddr,
        public_listen: Option<SocketAddr>,
    },
}

/// Everything needed to start the edge service.
#[derive(Debug)]
pub struct EdgeConfig {
    pub keys: KeyRing,
    pub cattle: CattleConfig,
    pub settings: Settings,
    pub deployment: Deployment,
    /// PEM certificate chain and key: HTTPS on the front (or public) listener. The internal
    /// listener behind Cattle's proxy stays plain: Cattle proxies to it over loopback.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// The app settings `serve` and `demo` share, validated.
pub fn settings(args: &EdgeArgs) -> Result<Settings, ConfigError> {
    Ok(Settings {
        public_url: args.public_url.clone(),
        trust_forwarded_headers: args.trust_forwarded_headers,
        revocation_ttl: Duration::from_secs(args.revocation_ttl_secs),
        drivers: crate::drivers::Settings {
            scale_ttl: Duration::from_millis(args.scale_ttl_ms),
            upgrade_timeout: Duration::from_secs(args.upgrade_timeout_secs),
            ..crate::drivers::Settings::default()
        },
        limits: args.limits()?,
        legacy_key_urls: args.legacy_key_urls,
        rancher_key: crate::config::load_rancher_key(args)?,
    })
}

impl EdgeConfig {
    /// `hookgate serve`: a real Cattle, the deployment the flags name.
    pub fn serve(args: &ServeArgs, keys: KeyRing) -> Result<Self, ConfigError> {
        let deployment = match (args.behind_cattle_proxy, args.api_listen) {
            (false, Some(_)) => {
                return Err(ConfigError::new(
                    "--api-listen",
                    "only used with --behind-cattle-proxy",
                ))
            }
            (false, None) => Deployment::Front {
                listen: args.listen.unwrap_or(([0, 0, 0, 0], 8085).into()),
            },
            (true, api_listen) => Deployment::BehindCattleProxy {
                api_listen: api_listen.unwrap_or(([127, 0, 0, 1], 8085).into()),
                public_listen: args.listen,
            },
        };
        let extra_roots_pem = match &args.cattle_ca_file {
            Some(p) => Some(std::fs::read(p).map_err(|e| {
                ConfigError::new(
                    "--cattle-ca-file",
                    format!("cannot read {}: {e}", p.display()),
                )
            })?),
            None => None,
        };
        let timeout = Duration::from_millis(args.edge.cattle_timeout_ms);
        Ok(EdgeConfig {
            keys,
            cattle: CattleConfig {
                url: args.cattle_url.clone(),
                access_key: args.cattle_access_key.clone(),
                secret_key: args.cattle_secret_key.clone(),
                timeout,
                connect_timeout: timeout.min(Duration::from_secs(5)),
                extra_roots_pem,
            },
            settings: settings(&args.edge)?,
            deployment,
            tls: tls_paths(&args.edge),
        })
    }
}

/// `--tls-cert` and `--tls-key` (clap requires both or neither).
pub fn tls_paths(args: &EdgeArgs) -> Option<(PathBuf, PathBuf)> {
    args.tls_cert.clone().zip(args.tls_key.clone())
}

/// One bound address and what it serves.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub addr: SocketAddr,
    pub surface: Surface,
    pub tls: bool,
}

impl Bound {
    pub fn base(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }
}

/// The edge service with its sockets bound, ready to run.
pub struct Edge {
    pub app: App,
    listeners: Vec<Listener>,
    bound: Vec<Bound>,
    certs: Option<Arc<CertStore>>,
}

impl Edge {
    /// Validates the settings, builds the client and binds every listener. Errors name the
    /// setting at fault.
    pub async fn bind(cfg: EdgeConfig) -> Result<Edge, ConfigError> {
        let client =
            Cattle::new(&cfg.cattle).map_err(|e| ConfigError::new(e.setting(), e.to_string()))?;
        if let Some(url) = &cfg.settings.public_url {
            crate::cattle::normalize_url(url)
                .map_err(|e| ConfigError::new("--public-url", e.to_string()))?;
        }
        let certs = match &cfg.tls {
            Some((cert, key)) => {
                Some(CertStore::load(cert, key).map_err(|e| ConfigError::new("--tls-cert", e))?)
            }
            None => None,
        };
        let tls_config = match &certs {
            Some(store) => Some(
                store
                    .server_config()
                    .map_err(|e| ConfigError::new("--tls-cert", e))?,
            ),
            None => None,
        };
        let plan: Vec<(SocketAddr, Surface, bool, &'static str)> = match cfg.deployment {
            Deployment::Front { listen } => vec![(listen, Surface::Front, true, "--listen")],
            Deployment::BehindCattleProxy {
                api_listen,
                public_listen,
            } => {
                let mut p = vec![(api_listen, Surface::CattleProxy, false, "--api-listen")];
                if let Some(public) = public_listen {
                    p.push((public, Surface::Public, true, "--listen"));
                }
                p
            }
        };
        let mut listeners = Vec::new();
        let mut bound = Vec::new();
        for (addr, surface, may_tls, setting) in plan {
            let tcp = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| ConfigError::new(setting, format!("{addr}: {e}")))?;
            let addr = tcp
                .local_addr()
                .map_err(|e| ConfigError::new(setting, e.to_string()))?;
            let tls = tls_config.clone().filter(|_| may_tls);
            bound.push(Bound {
                addr,
                surface,
                tls: tls.is_some(),
            });
            listeners.push(Listener { tcp, tls, surface });
        }
        Ok(Edge {
            app: App::new(cfg.keys, client, cfg.settings),
            listeners,
            bound,
            certs,
        })
    }

    /// The bound addresses, the front (or internal) one first.
    pub fn bound(&self) -> &[Bound] {
        &self.bound
    }

    /// Serves until `shutdown` resolves: certificate reload on SIGHUP, a start-up check of
    /// the service account, a banner with the addresses.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        if let Some(store) = self.certs.clone() {
            tokio::spawn(reload_on_sighup(store));
        }
        tokio::spawn(check_service_account(self.app.clone()));
        for b in &self.bound {
            let base = b.base();
            let serves = match b.surface {
                Surface::Front => "triggers, management API, health",
                Surface::CattleProxy => "management API behind Cattle's proxy, triggers, health",
                Surface::Public => "triggers and health only",
            };
            tracing::info!(
                listen = %b.addr,
                serves,
                cattle = %self.app.cattle.api_root(),
                signing_key = self.app.keys.signing_key_id(),
                keys = self.app.keys.key_ids().count(),
                "hookgate serving: triggers at {base}/v1-webhooks/endpoint, health {base}/healthz, \
                 readiness {base}/readyz, metrics {base}/metrics"
            );
        }
        let s = &self.app.settings;
        tracing::info!(
            key_urls = s.legacy_key_urls,
            rancher_1_4_token_urls = s.rancher_key.is_some(),
            rsa_public_key_bits = s.rancher_key.as_ref().map(|k| k.bits()),
            "Rancher's own receivers: ?key= URLs {}, 1.4 ?token=<JWT> URLs {}",
            if s.legacy_key_urls {
                "on"
            } else {
                "off (--legacy-key-urls=false)"
            },
            if s.rancher_key.is_some() {
                "on"
            } else {
                "off (no --rsa-public-key-file)"
            },
        );
        let limits = self.app.settings.limits.clone();
        let app = self.app.clone();
        crate::server::run(self.listeners, self.app, limits, shutdown).await;
        // Background upgrades stop with the process; Cattle carries on with any upgrade it
        // accepted, and nothing is resumed on restart.
        for (project, service) in app.drivers.service_upgrade.running() {
            crate::metrics::count_upgrade("interrupted");
            tracing::warn!(project_id = %project, service_id = %service,
                "upgrade interrupted by shutdown; Cattle finishes what it accepted, hookgate will not finish it");
        }
        tracing::info!("hookgate stopped");
    }
}

/// Asks Cattle once, at start, whether it accepts the service account, and says plainly
/// what is wrong if not. Not fatal: Cattle may come up later.
async fn check_service_account(app: App) {
    let root = app.cattle.api_root().to_owned();
    match tokio::time::timeout(
        Duration::from_secs(15),
        app.cattle.check_root(Auth::Service),
    )
    .await
    {
        Ok(Ok(())) => tracing::info!(cattle = %root, "cattle accepts the service account"),
        Ok(Err(CattleError::ServiceAccountRefused)) => tracing::warn!(
            cattle = %root,
            "cattle refused the service account: check CATTLE_ACCESS_KEY and CATTLE_SECRET_KEY \
             (triggers answer 503 until it is fixed)"
        ),
        Ok(Err(e)) => {
            tracing::warn!(cattle = %root, error = %crate::logging::Escaped(&e), "cattle is not answering the service account yet")
        }
        Err(_) => tracing::warn!(cattle = %root, "cattle did not answer within 15 s"),
    }
}

/// SIGHUP reloads the certificate; a bad pair is logged and the old one keeps serving.
async fn reload_on_sighup(store: Arc<CertStore>) {
    #[cfg(unix)]
    {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            match store.reload() {
                Ok(()) => tracing::info!("tls certificate reloaded"),
                Err(e) => {
                    tracing::error!(error = %e, "tls certificate reload failed; keeping the old one")
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = store;
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn config(flags: &[&str]) -> Result<EdgeConfig, String> {
        let mut argv = vec![
            "hookgate",
            "serve",
            "--cattle-url",
            "http://cattle:8080/v1",
            "--cattle-access-key",
            "a",
            "--cattle-secret-key",
            "s",
        ];
        argv.extend(flags);
        let cli = crate::config::Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        let crate::config::Command::Serve(args) = cli.command else {
            return Err("not serve".into());
        };
        let keys = KeyRing::new([("k", vec![1u8; 32])]).map_err(|e| e.to_string())?;
        EdgeConfig::serve(&args, keys).map_err(|e| e.to_string())
    }

    fn deployment(flags: &[&str]) -> Result<Deployment, String> {
        config(flags).map(|c| c.deployment)
    }

    #[test]
    fn the_scale_is_trusted_for_100_ms_unless_told_otherwise() {
        let ttl = |flags: &[&str]| config(flags).map(|c| c.settings.drivers.scale_ttl);
        assert_eq!(ttl(&[]), Ok(Duration::from_millis(100)));
        assert_eq!(
            ttl(&["--scale-ttl-ms", "1000"]),
            Ok(Duration::from_millis(1000))
        );
        let e = ttl(&["--scale-ttl-ms", "0"]).expect_err("refused");
        assert!(e.contains("--scale-ttl-ms"), "{e}");
    }

    #[test]
    fn deployments_bind_what_they_should() {
        let addr = |s: &str| s.parse::<SocketAddr>().expect("addr");
        assert!(matches!(
            deployment(&[]),
            Ok(Deployment::Front { listen }) if listen == addr("0.0.0.0:8085")
        ));
        // Behind Cattle's proxy nothing public is bound unless asked for.
        assert!(matches!(
            deployment(&["--behind-cattle-proxy"]),
            Ok(Deployment::BehindCattleProxy { api_listen, public_listen: None })
                if api_listen == addr("127.0.0.1:8085")
        ));
        assert!(matches!(
            deployment(&["--behind-cattle-proxy", "--listen", "0.0.0.0:8086"]),
            Ok(Deployment::BehindCattleProxy { public_listen: Some(p), .. })
                if p == addr("0.0.0.0:8086")
        ));
        let e = deployment(&["--api-listen", "127.0.0.1:9000"]).expect_err("refused");
        assert!(e.contains("--api-listen"), "{e}");
    }
}
