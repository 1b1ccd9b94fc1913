//! The `hookgate` binary: parse arguments, load settings, set up logging, run. Nothing here
//! is worth testing on its own; everything it calls lives in the library.

use std::io::Read as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser as _;
use hookgate::cattle::CattleConfig;
use hookgate::config::{self, Cli, Command, ConfigError, DemoArgs};
use hookgate::edge::{Deployment, Edge, EdgeConfig};
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
            // A whole trigger URL: its `token` parameter.
            let token = match hookgate::legacy::url_token(&token) {
                Some(t) => t.to_owned(),
                None => token,
            };
            match ring.open(&token, hookgate::unix_now()) {
                Ok(claims) => {
                    let json = serde_json::to_string_pretty(&claims.to_json())
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
            let _log = hookgate::logging::init(cli.log_format);
            let seed = match &args.seed {
                Some(path) => std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::new("--seed", format!("cannot read {}: {e}", path.display()))
                })?,
                None => hookgate::sim::DEFAULT_WORLD.to_owned(),
            };
            let transition = std::time::Duration::from_millis(args.transition_ms);
            let sim = hookgate::sim::Sim::new(&seed, transition)
                .map_err(|e| ConfigError::new("--seed", e.to_string()))?;
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
            let _log = hookgate::logging::init(cli.log_format);
            let keys = config::load_keys(&args.edge.keys)?;
            let cfg = EdgeConfig::serve(&args, keys)?;
            let guessing_urls =
                cfg.settings.public_url.is_none() && !cfg.settings.trust_forwarded_headers;
            runtime()?.block_on(async move {
                let edge = Edge::bind(cfg).await?;
                if guessing_urls {
                    tracing::warn!(
                        "neither --public-url nor --trust-forwarded-headers is set: trigger URLs \
                         are built from each request's Host header; set --public-url to the \
                         address senders reach"
                    );
                }
                edge.run(shutdown_signal()).await;
                Ok(ExitCode::SUCCESS)
            })
        }
        Command::Demo(args) => {
            let _log = hookgate::logging::init(cli.log_format);
            runtime()?.block_on(demo(args))
        }
        Command::Healthcheck(args) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            rt.block_on(healthcheck(args))
        }
    }
}

/// `hookgate healthcheck`: one GET, exit 0 on a 200. Says why not on stderr.
async fn healthcheck(args: config::HealthcheckArgs) -> Result<ExitCode, Failure> {
    let ca = match &args.ca_file {
        Some(p) => Some(std::fs::read(p).map_err(|e| {
            ConfigError::new("--ca-file", format!("cannot read {}: {e}", p.display()))
        })?),
        None => None,
    };
    let uri: http::Uri = args
        .url
        .parse()
        .map_err(|_| ConfigError::new("--url", "not a URL"))?;
    let timeout = Duration::from_millis(args.timeout_ms);
    let client = hookgate::cattle::http_client(ca.as_deref(), timeout)
        .map_err(|e| ConfigError::new("--ca-file", e.to_string()))?;
    let req = http::Request::get(uri)
        .body(Default::default())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    match tokio::time::timeout(timeout, client.request(req)).await {
        Ok(Ok(resp)) if resp.status() == http::StatusCode::OK => Ok(ExitCode::SUCCESS),
        Ok(Ok(resp)) => {
            eprintln!(
                "hookgate: unhealthy: {} answered {}",
                args.url,
                resp.status()
            );
            Ok(ExitCode::FAILURE)
        }
        Ok(Err(e)) => {
            eprintln!("hookgate: unhealthy: {}: {e}", args.url);
            Ok(ExitCode::FAILURE)
        }
        Err(_) => {
            eprintln!(
                "hookgate: unhealthy: {} did not answer within {timeout:?}",
                args.url
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Other(anyhow::anyhow!("starting the runtime: {e}")))
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

/// `hookgate demo`: the simulator with the default world and the edge service against it.
async fn demo(args: DemoArgs) -> Result<ExitCode, Failure> {
    let (keys, demo_keys) = match (&args.edge.keys.keys_file, &args.edge.keys.keys) {
        (None, None) => {
            let line =
                KeyRing::generate_line().map_err(|e| anyhow::anyhow!("no random source: {e}"))?;
            let ring = KeyRing::parse(&line).map_err(|e| anyhow::anyhow!("{e}"))?;
            (ring, Some(DemoKeys::write(&line)?))
        }
        _ => (config::load_keys(&args.edge.keys)?, None),
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
    let timeout = Duration::from_millis(args.edge.cattle_timeout_ms);
    let edge = Edge::bind(EdgeConfig {
        keys,
        cattle: CattleConfig {
            url: format!("http://{sim_addr}/v1"),
            access_key: "service".into(),
            secret_key: "service-secret".into(),
            timeout,
            connect_timeout: Duration::from_secs(2),
            extra_roots_pem: None,
        },
        settings: hookgate::edge::settings(&args.edge)?,
        deployment: Deployment::Front {
            listen: args.listen,
        },
        tls: hookgate::edge::tls_paths(&args.edge),
    })
    .await?;
    let base = args
        .edge
        .public_url
        .clone()
        .unwrap_or_else(|| edge.bound()[0].base());
    let inspect = match &demo_keys {
        Some(k) => format!(
            "{} inspect --keys-file {} \"$URL\"",
            std::env::current_exe().map_or_else(|_| "hookgate".into(), |p| p.display().to_string()),
            k.path.display()
        ),
        None => "hookgate inspect --keys-file <your key ring> \"$URL\"".into(),
    };
    let key_note = if demo_keys.is_some() {
        "a fresh key for this run; tokens die with it"
    } else {
        "the configured key ring"
    };
    say!(
        "\nhookgate demo: the edge service against a Cattle simulator, in one process\n\
         \n  web UI            {base}/   open it and sign in with an API key below\
         \n  API keys          alice / alice-secret  (project 1a5 \"Default\")\
         \n                    bob / bob-secret      (project 1a7 \"Staging\")\
         \n                    service / service-secret  (all projects; hookgate's own account)\
         \n  hookgate API      {base}/v1-webhooks   (signing with {key_note})\
         \n  Cattle simulator  http://{sim_addr}/v2-beta   (default world)\
         \n\
         \n  Create a receiver that scales service 1s1 (\"web\", scale 2) up by 1, and fire it\
         \n  (paste it as often as you like: each paste makes a new receiver and scales once):\
         \n\
         \n    N=scale-web-up-$RANDOM\
         \n    R=$(curl -s -u alice:alice-secret -H 'Content-Type: application/json' \\\
         \n          -X POST '{base}/v1-webhooks/receivers?projectId=1a5' \\\
         \n          -d '{{\"name\": \"'$N'\", \"driver\": \"scaleService\", \"scaleServiceConfig\": \
         {{\"serviceId\": \"1s1\", \"action\": \"up\", \"amount\": 1, \"min\": 1, \"max\": 10}}}}')\
         \n    URL=$(printf '%s' \"$R\" | sed -n 's/.*\"url\":\"\\([^\"]*\\)\".*/\\1/p')\
         \n    curl -s -X POST \"${{URL:?could not create the receiver: $R}}\"\
         \n\
         \n  List receivers:   curl -s -u alice:alice-secret '{base}/v1-webhooks/receivers?projectId=1a5'\
         \n  Watch the scale:  curl -s -u alice:alice-secret http://{sim_addr}/v2-beta/projects/1a5/services/1s1 | grep -o '\"scale\":[0-9]*'\
         \n  Open the token:   {inspect}\
         \n\
         \n  Ctrl-C stops both.\n"
    );
    edge.run(shutdown_signal()).await;
    let _ = stop_sim.send(());
    let _ = sim_task.await;
    drop(demo_keys);
    Ok(ExitCode::SUCCESS)
}

/// The demo's fresh key ring, in a private file so `hookgate inspect` can open the demo's
/// tokens; removed when the demo stops.
struct DemoKeys {
    path: std::path::PathBuf,
}

impl DemoKeys {
    fn write(line: &str) -> Result<Self, Failure> {
        use std::io::Write as _;
        let path = std::env::temp_dir().join(format!("hookgate-demo-{}.keys", std::process::id()));
        let mut open = std::fs::OpenOptions::new();
        open.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
        let mut f = open
            .open(&path)
            .map_err(|e| anyhow::anyhow!("writing the demo key ring to {}: {e}", path.display()))?;
        writeln!(
            f,
            "# hookgate demo key ring (removed when the demo stops)\n{line}"
        )
        .map_err(|e| anyhow::anyhow!("writing the demo key ring to {}: {e}", path.display()))?;
        Ok(Self { path })
    }
}

impl Drop for DemoKeys {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
