//! The `hookgate` binary: parse arguments, load settings, set up logging, run. Nothing here
//! is worth testing on its own; everything it calls lives in the library.

use std::io::Read as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser as _;
use hookgate::app::{App, Settings};
use hookgate::cattle::{Cattle, CattleConfig};
use hookgate::config::{self, Cli, Command, ConfigError, DemoArgs, EdgeArgs, Limits};
use hookgate::tls::CertStore;
use hookgate::token::KeyRing;

/// Writes a line to stdout; a closed pipe (`hookgate inspect T | head`) is not an error.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// sysexits' EX_USAGE / EX_CONFIG family: a setting was wrong.
const EXIT_CONFIG: u8 = 64;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(Failure::Config(e)) => {
            eprintln!("hookgate: {e}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(Failure::Other(e)) => {
            eprintln!("hookgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

enum Failure {
    Config(ConfigError),
    Other(anyhow::Error),
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Failure::Config(e)
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Other(e)
    }
}

fn run(cli: Cli) -> Result<ExitCode, Failure> {
    match cli.command {
        Command::Keygen => {
            let line = hookgate::token::KeyRing::generate_line()
                .map_err(|e| anyhow::anyhow!("no random source: {e}"))?;
            say!("{line}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Inspect(args) => {
            let ring = config::load_keys(&args.keys)?;
            let token = if args.token == "-" {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .map_err(|e| anyhow::anyhow!("reading the token from stdin: {e}"))?;
                s.trim().to_owned()
            } else {
                args.token
            };
            match ring.open(&token, hookgate::unix_now()) {
                Ok(claims) => {
                    let json = serde_json::to_string_pretty(&claims.view())
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    say!("{json}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("hookgate: invalid token: {e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Sim(args) => {
            init_tracing(cli.log_format);
            let seed = match &args.seed {
                Some(path) => std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::new("--seed", format!("cannot read {}: {e}", path.display()))
                })?,
                None => hookgate::sim::DEFAULT_WORLD.to_owned(),
            };
            let transition = std::time::Duration::from_millis(args.transition_ms);
            let sim = hookgate::sim::Sim::new(&seed, transition)
                .map_err(|e| ConfigError::new("--seed", e))?;
            runtime()?.block_on(async {
                let listener = tokio::net::TcpListener::bind(args.listen)
                    .await
                    .map_err(|e| ConfigError::new("--listen", format!("{}: {e}", args.listen)))?;
                let addr = listener.local_addr().map_err(anyhow::Error::from)?;
                tracing::info!(
                    listen = %addr,
                    world = if args.seed.is_some() { "seed file" } else { "default" },
                    transition_ms = args.transition_ms,
                    "cattle simulator ready: http://{addr}/v2-beta (keys service/service-secret, \
                     alice/alice-secret, bob/bob-secret in the default world)"
                );
                hookgate::sim::serve(listener, std::sync::Arc::new(sim), shutdown_signal()).await;
                tracing::info!("cattle simulator stopped");
                Ok::<_, Failure>(ExitCode::SUCCESS)
            })
        }
        Command::Serve(args) => {
            init_tracing(cli.log_format);
            let keys = config::load_keys(&args.edge.keys)?;
            let extra_roots_pem = match &args.cattle_ca_file {
                Some(p) => Some(std::fs::read(p).map_err(|e| {
                    ConfigError::new(
                        "--cattle-ca-file",
                        format!("cannot read {}: {e}", p.display()),
                    )
                })?),
                None => None,
            };
            let edge = Edge::prepare(
                &args.edge,
                keys,
                CattleConfig {
                    url: args.cattle_url.clone(),
                    access_key: args.cattle_access_key.clone(),
                    secret_key: args.cattle_secret_key.clone(),
                    timeout: Duration::from_millis(args.edge.cattle_timeout_ms),
                    connect_timeout: Duration::from_millis(args.edge.cattle_timeout_ms.min(5_000)),
                    extra_roots_pem,
                },
            )?;
            runtime()?.block_on(async move {
                let listener = bind(args.listen).await?;
                edge.run(listener, shutdown_signal()).await;
                Ok(ExitCode::SUCCESS)
            })
        }
        Command::Demo(args) => {
            init_tracing(cli.log_format);
            runtime()?.block_on(demo(args))
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Other(anyhow::anyhow!("starting the runtime: {e}")))
}

fn init_tracing(format: config::LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("HOOKGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        config::LogFormat::Text => builder.init(),
        config::LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutdown signal received");
}

async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, Failure> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Failure::Config(ConfigError::new("--listen", format!("{addr}: {e}"))))
}

/// The edge service, configured and ready to serve.
struct Edge {
    app: App,
    limits: Limits,
    tls: Option<Arc<CertStore>>,
}

impl Edge {
    fn prepare(args: &EdgeArgs, keys: KeyRing, cattle: CattleConfig) -> Result<Self, Failure> {
        let limits = args.limits()?;
        let client = Cattle::new(&cattle).map_err(|e| ConfigError::new("--cattle-url", e))?;
        let tls = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => {
                Some(CertStore::load(cert, key).map_err(|e| ConfigError::new("--tls-cert", e))?)
            }
            _ => None,
        };
        if let Some(url) = &args.public_url {
            hookgate::cattle::normalize_url(url)
                .map_err(|e| ConfigError::new("--public-url", e))?;
        }
        let settings = Settings {
            public_url: args.public_url.clone(),
            revocation_ttl: Duration::from_secs(args.revocation_ttl_secs.max(1)),
            scale_ttl: Duration::from_millis(args.scale_ttl_ms.max(1)),
            limits: limits.clone(),
            behind_cattle_proxy: args.behind_cattle_proxy,
        };
        Ok(Edge {
            app: App::new(keys, client, settings),
            limits,
            tls,
        })
    }

    async fn run(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let addr = listener
            .local_addr()
            .map_or_else(|_| "?".into(), |a| a.to_string());
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let tls_config = match &self.tls {
            Some(store) => match store.server_config() {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::error!(error = %e, "tls configuration failed");
                    return;
                }
            },
            None => None,
        };
        if let Some(store) = self.tls.clone() {
            tokio::spawn(reload_on_sighup(store));
        }
        tracing::info!(
            listen = %addr,
            scheme,
            cattle = %self.app.cattle.api_root(),
            signing_key = self.app.keys.signing_key_id(),
            keys = self.app.keys.key_ids().count(),
            "hookgate serving: triggers at {scheme}://{addr}/v1-webhooks/endpoint, \
             health /healthz, readiness /readyz, metrics /metrics"
        );
        hookgate::server::run(listener, tls_config, self.app, self.limits, shutdown).await;
        tracing::info!("hookgate stopped");
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

/// `hookgate demo`: the simulator with the default world and the edge service against it.
async fn demo(args: DemoArgs) -> Result<ExitCode, Failure> {
    let (keys, key_note) = match (&args.edge.keys.keys_file, &args.edge.keys.keys) {
        (None, None) => {
            let line =
                KeyRing::generate_line().map_err(|e| anyhow::anyhow!("no random source: {e}"))?;
            let ring = KeyRing::parse(&line).map_err(|e| anyhow::anyhow!("{e}"))?;
            (ring, "a fresh key made for this run (tokens die with it)")
        }
        _ => (
            config::load_keys(&args.edge.keys)?,
            "the configured key ring",
        ),
    };
    let sim_listener = tokio::net::TcpListener::bind(args.sim_listen)
        .await
        .map_err(|e| ConfigError::new("--sim-listen", format!("{}: {e}", args.sim_listen)))?;
    let sim_addr = sim_listener.local_addr().map_err(anyhow::Error::from)?;
    let sim = Arc::new(hookgate::sim::Sim::with_default_world(
        Duration::from_millis(500),
    ));
    let (stop_sim, sim_stopped) = tokio::sync::oneshot::channel::<()>();
    let sim_task = tokio::spawn(hookgate::sim::serve(sim_listener, sim, async {
        let _ = sim_stopped.await;
    }));
    let edge = Edge::prepare(
        &args.edge,
        keys,
        CattleConfig {
            url: format!("http://{sim_addr}/v1"),
            access_key: "service".into(),
            secret_key: "service-secret".into(),
            timeout: Duration::from_millis(args.edge.cattle_timeout_ms),
            connect_timeout: Duration::from_secs(2),
            extra_roots_pem: None,
        },
    )?;
    let listener = bind(args.listen).await?;
    let addr = listener.local_addr().map_err(anyhow::Error::from)?;
    let scheme = if edge.tls.is_some() { "https" } else { "http" };
    let base = args
        .edge
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{addr}"));

    let create = format!(
        "curl -s -u alice:alice-secret -H 'Content-Type: application/json' \\\n\
         \x20     -X POST '{base}/v1-webhooks/receivers?projectId=1a5' \\\n\
         \x20     -d '{{\"name\": \"scale-web-up\", \"driver\": \"scaleService\", \"scaleServiceConfig\": \
         {{\"serviceId\": \"1s1\", \"action\": \"up\", \"amount\": 1, \"min\": 1, \"max\": 10}}}}'"
    );
    say!(
        "\nhookgate demo: the edge service against a Cattle simulator, in one process\n\
         \n  hookgate          {base}/v1-webhooks   (signing with {key_note})\
         \n  web UI            {base}/   (not in this build yet)\
         \n  Cattle simulator  http://{sim_addr}/v2-beta   (default world)\
         \n  API keys          alice / alice-secret  (project 1a5 \"Default\")\
         \n                    bob / bob-secret      (project 1a7 \"Staging\")\
         \n                    service / service-secret  (all projects; hookgate's own account)\
         \n\
         \n  Create a receiver that scales service 1s1 (\"web\", scale 2) up by 1, and fire it:\
         \n\
         \n    URL=$({create} | sed -n 's/.*\"url\":\"\\([^\"]*\\)\".*/\\1/p')\
         \n    curl -s -X POST \"$URL\"\
         \n\
         \n  List receivers:   curl -s -u alice:alice-secret '{base}/v1-webhooks/receivers?projectId=1a5'\
         \n  Watch the scale:  curl -s -u alice:alice-secret http://{sim_addr}/v2-beta/projects/1a5/services/1s1 | grep -o '\"scale\":[0-9]*'\
         \n\
         \n  Ctrl-C stops both.\n"
    );
    edge.run(listener, shutdown_signal()).await;
    let _ = stop_sim.send(());
    let _ = sim_task.await;
    Ok(ExitCode::SUCCESS)
}
