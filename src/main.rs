//! The `hookgate` binary: parse arguments, load settings, set up logging, run. Nothing here
//! is worth testing on its own; everything it calls lives in the library.

use std::io::Read as _;
use std::process::ExitCode;

use clap::Parser as _;
use hookgate::config::{self, Cli, Command, ConfigError};

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
            println!("{line}");
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
                    println!("{json}");
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
        Command::Serve(_) | Command::Demo(_) => Err(Failure::Other(anyhow::anyhow!(
            "this command is not built yet"
        ))),
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
