//! Command line and environment → typed, validated settings. Two layers (ripgrep's way):
//! clap's raw structs below, then `load_*` functions that turn them into values the rest of
//! the program can trust. A bad setting is one line naming the setting; `main` exits 64.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::jwt::RancherKey;
use crate::token::KeyRing;

#[derive(Parser, Debug)]
#[command(
    name = "hookgate",
    version,
    about = "Receiver hooks for Rancher 1.x: secret trigger URLs that scale services, add hosts, \
             upgrade on image push or forward a POST"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log format: `text` for people, `json` for log pipelines.
    #[arg(
        long,
        env = "HOOKGATE_LOG_FORMAT",
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,
}

pub use crate::logging::LogFormat;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the edge service against a Cattle (CATTLE_URL).
    Serve(ServeArgs),
    /// Run the Cattle simulator and the edge service in one process, ready to try.
    Demo(DemoArgs),
    /// Run the Cattle simulator alone.
    Sim(SimArgs),
    /// Print a new signing key line for the key ring.
    Keygen,
    /// Verify a token against the key ring and print its claims as JSON.
    Inspect(InspectArgs),
    /// Ask a running hookgate's /healthz; exit 0 if it answers 200 (for container health
    /// checks, which need no shell or curl).
    Healthcheck(HealthcheckArgs),
}

#[derive(Args, Debug, Clone)]
pub struct HealthcheckArgs {
    /// The health URL to ask.
    #[arg(
        long,
        env = "HOOKGATE_HEALTHCHECK_URL",
        default_value = "http://127.0.0.1:8085/healthz"
    )]
    pub url: String,
    /// Extra CA certificates (PEM) to trust for an https URL, besides the system's.
    #[arg(long, env = "HOOKGATE_HEALTHCHECK_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// How long to wait for the answer, in milliseconds.
    #[arg(long, default_value_t = 3_000)]
    pub timeout_ms: u64,
}

/// Where the key ring comes from.
#[derive(Args, Debug, Clone, Default)]
pub struct KeyArgs {
    /// Key ring file: one `<key-id> <base64url-secret>` per line; the first key signs.
    #[arg(long, env = "HOOKGATE_KEYS_FILE")]
    pub keys_file: Option<PathBuf>,
    /// The key ring text inline (same format as the file). Prefer the environment variable.
    #[arg(long, env = "HOOKGATE_KEYS", hide_env_values = true)]
    pub keys: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct InspectArgs {
    /// The token or a whole trigger URL, or `-` to read either from standard input (keeps it
    /// out of `ps`).
    pub token: String,
    #[command(flatten)]
    pub keys: KeyArgs,
}

#[derive(Args, Debug, Clone)]
pub struct SimArgs {
    /// Address the simulator listens on.
    #[arg(long, env = "HOOKGATE_SIM_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// JSON file with the world to start from instead of the default one.
    #[arg(long, env = "HOOKGATE_SIM_SEED")]
    pub seed: Option<PathBuf>,
    /// How long a transitioning state (upgrading, finishing-upgrade, ...) lasts.
    #[arg(long, env = "HOOKGATE_SIM_TRANSITION_MS", default_value_t = 500)]
    pub transition_ms: u64,
}

/// Settings shared by `serve` and `demo`: how the edge service serves.
#[derive(Args, Debug, Clone)]
pub struct EdgeArgs {
    /// Base of the trigger URLs handed out (default: from the request).
    #[arg(long, env = "HOOKGATE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// PEM certificate chain; with --tls-key, serve HTTPS.
    #[arg(long, env = "HOOKGATE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "HOOKGATE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Timeout of each Cattle call, in milliseconds.
    #[arg(long, env = "HOOKGATE_CATTLE_TIMEOUT_MS", default_value_t = 10_000)]
    pub cattle_timeout_ms: u64,
    /// How long a receiver's revocation check is cached, in seconds.
    #[arg(long, env = "HOOKGATE_REVOCATION_TTL_SECS", default_value_t = 30)]
    pub revocation_ttl_secs: u64,
    /// How long a service's cached scale is trusted, in milliseconds. hookgate refreshes it
    /// from its own reads and writes, so a scale set by hand in Rancher is seen by the first
    /// step that comes this long after hookgate last read or wrote the service (a service
    /// hookgate writes more often than this is never re-read; see docs/triggers.md).
    #[arg(long, env = "HOOKGATE_SCALE_TTL_MS", default_value_t = 100)]
    pub scale_ttl_ms: u64,
    /// How long one service's background upgrade (serviceUpgrade) may take, in seconds.
    #[arg(long, env = "HOOKGATE_UPGRADE_TIMEOUT_SECS", default_value_t = 600)]
    pub upgrade_timeout_secs: u64,
    /// Largest request body accepted, in bytes (larger: 413).
    #[arg(long, env = "HOOKGATE_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    pub max_body_bytes: usize,
    /// Time allowed to receive a request's headers, and its body, in milliseconds.
    #[arg(long, env = "HOOKGATE_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_timeout_ms: u64,
    /// Time allowed for a TLS handshake, in milliseconds.
    #[arg(
        long,
        env = "HOOKGATE_TLS_HANDSHAKE_TIMEOUT_MS",
        default_value_t = 5_000
    )]
    pub tls_handshake_timeout_ms: u64,
    /// Most connections served at once; more wait in the kernel's backlog.
    #[arg(long, env = "HOOKGATE_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
    /// Take scheme and host for trigger URLs from X-Forwarded-Proto/-Host (only behind a
    /// proxy you control, which sets them).
    #[arg(long, env = "HOOKGATE_TRUST_FORWARDED_HEADERS")]
    pub trust_forwarded_headers: bool,
    /// Execute trigger URLs minted by Rancher's webhook-service (`?key=K&projectId=P`).
    #[arg(
        long,
        env = "HOOKGATE_LEGACY_KEY_URLS",
        default_value_t = true,
        action = clap::ArgAction::Set,
        value_name = "BOOL"
    )]
    pub legacy_key_urls: bool,
    /// The Rancher installation's RSA public key (PEM, SPKI or PKCS#1): run Rancher 1.4's
    /// `?token=<JWT>` trigger URLs (docs/migrating.md). Only the public key is needed.
    #[arg(long, env = "RSA_PUBLIC_KEY_FILE", value_name = "PATH")]
    pub rsa_public_key_file: Option<PathBuf>,
    /// The same key as PEM text, as Rancher's service read it.
    #[arg(long, env = "RSA_PUBLIC_KEY_CONTENTS", value_name = "PEM")]
    pub rsa_public_key_contents: Option<String>,
    /// On SIGTERM, how long in-flight requests may take to finish, in seconds.
    #[arg(long, env = "HOOKGATE_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    pub shutdown_grace_secs: u64,
    #[command(flatten)]
    pub keys: KeyArgs,
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on [default: 0.0.0.0:8085]. Behind Cattle's proxy: the public
    /// listener for triggers and health, bound only when given.
    #[arg(long, env = "HOOKGATE_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Deployed behind Cattle's /v1-webhooks proxy (drop-in for Rancher's webhook-service):
    /// the management API trusts X-API-Project-Id and X-API-Roles on --api-listen only.
    #[arg(long, env = "HOOKGATE_BEHIND_CATTLE_PROXY")]
    pub behind_cattle_proxy: bool,
    /// Behind Cattle's proxy: the internal listener Cattle proxies /v1-webhooks to (API and
    /// triggers) [default: 127.0.0.1:8085].
    #[arg(long, env = "HOOKGATE_API_LISTEN")]
    pub api_listen: Option<SocketAddr>,
    /// Cattle base URL (`.../v1` or `.../v2-beta`).
    #[arg(long, env = "CATTLE_URL")]
    pub cattle_url: String,
    /// Access key of hookgate's service account.
    #[arg(long, env = "CATTLE_ACCESS_KEY")]
    pub cattle_access_key: String,
    /// Secret key of hookgate's service account.
    #[arg(long, env = "CATTLE_SECRET_KEY", hide_env_values = true)]
    pub cattle_secret_key: String,
    /// Extra CA certificates (PEM) to trust for an HTTPS CATTLE_URL, besides the system's.
    #[arg(long, env = "CATTLE_CA_FILE")]
    pub cattle_ca_file: Option<PathBuf>,
    #[command(flatten)]
    pub edge: EdgeArgs,
}

#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Address the edge service listens on.
    #[arg(long, env = "HOOKGATE_LISTEN", default_value = "127.0.0.1:8085")]
    pub listen: SocketAddr,
    /// Address the embedded Cattle simulator listens on.
    #[arg(long, env = "HOOKGATE_SIM_LISTEN", default_value = "127.0.0.1:8080")]
    pub sim_listen: SocketAddr,
    #[command(flatten)]
    pub edge: EdgeArgs,
}

/// A setting that cannot be used, named for the person who set it.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub problem: String,
}

impl ConfigError {
    pub fn new(setting: &'static str, problem: impl Into<String>) -> Self {
        Self {
            setting,
            problem: problem.into(),
        }
    }
}

/// Loads the key ring from `--keys-file`, else `--keys`/`HOOKGATE_KEYS`. Errors name the
/// source and line, never a secret.
pub fn load_keys(k: &KeyArgs) -> Result<KeyRing, ConfigError> {
    let given = file_or_inline(
        &k.keys_file,
        &k.keys,
        ["--keys-file", "HOOKGATE_KEYS", "--keys-file/HOOKGATE_KEYS"],
        "the key ring",
    )?;
    let Some((setting, text)) = given else {
        return Err(ConfigError::new(
            "--keys-file",
            "no key ring: set --keys-file/HOOKGATE_KEYS_FILE or HOOKGATE_KEYS \
             (`hookgate keygen` makes a key line)",
        ));
    };
    KeyRing::parse(&text).map_err(|e| ConfigError::new(setting, e.to_string()))
}

/// The Rancher installation's RSA public key, from `--rsa-public-key-file` or
/// `RSA_PUBLIC_KEY_CONTENTS`; `None` when neither is set. Errors never repeat the key.
pub fn load_rancher_key(args: &EdgeArgs) -> Result<Option<Arc<RancherKey>>, ConfigError> {
    let given = file_or_inline(
        &args.rsa_public_key_file,
        &args.rsa_public_key_contents,
        [
            "--rsa-public-key-file",
            "RSA_PUBLIC_KEY_CONTENTS",
            "--rsa-public-key-file/RSA_PUBLIC_KEY_CONTENTS",
        ],
        "the public key",
    )?;
    given
        .map(|(setting, text)| {
            RancherKey::from_pem(&text)
                .map(Arc::new)
                .map_err(|e| ConfigError::new(setting, e.to_string()))
        })
        .transpose()
}

/// A secret given as a file or as inline text, never both: the text, and the name of the
/// setting it came from (for errors, which never repeat the text). `settings`: the file's,
/// the inline text's, and both together.
fn file_or_inline(
    file: &Option<PathBuf>,
    inline: &Option<String>,
    [file_setting, inline_setting, both]: [&'static str; 3],
    what: &str,
) -> Result<Option<(&'static str, String)>, ConfigError> {
    match (file, inline) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            both,
            format!("give {what} once: a file or inline text, not both"),
        )),
        (Some(path), None) => std::fs::read_to_string(path)
            .map(|text| Some((file_setting, text)))
            .map_err(|e| {
                ConfigError::new(file_setting, format!("cannot read {}: {e}", path.display()))
            }),
        (None, Some(text)) => Ok(Some((inline_setting, text.clone()))),
        (None, None) => Ok(None),
    }
}

/// Serving limits, validated.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub header_timeout: Duration,
    pub tls_handshake_timeout: Duration,
    pub max_connections: usize,
    pub shutdown_grace: Duration,
}

impl EdgeArgs {
    pub fn limits(&self) -> Result<Limits, ConfigError> {
        positive("--cattle-timeout-ms", self.cattle_timeout_ms)?;
        positive("--revocation-ttl-secs", self.revocation_ttl_secs)?;
        at_most(
            "--revocation-ttl-secs",
            self.revocation_ttl_secs,
            86_400,
            "one day",
        )?;
        positive("--scale-ttl-ms", self.scale_ttl_ms)?;
        at_most("--scale-ttl-ms", self.scale_ttl_ms, 3_600_000, "one hour")?;
        positive("--upgrade-timeout-secs", self.upgrade_timeout_secs)?;
        positive("--max-body-bytes", self.max_body_bytes as u64)?;
        positive("--header-timeout-ms", self.header_timeout_ms)?;
        positive("--tls-handshake-timeout-ms", self.tls_handshake_timeout_ms)?;
        positive("--max-connections", self.max_connections as u64)?;
        Ok(Limits {
            max_body_bytes: self.max_body_bytes,
            header_timeout: Duration::from_millis(self.header_timeout_ms),
            tls_handshake_timeout: Duration::from_millis(self.tls_handshake_timeout_ms),
            max_connections: self.max_connections,
            shutdown_grace: Duration::from_secs(self.shutdown_grace_secs),
        })
    }
}

fn positive(setting: &'static str, v: u64) -> Result<(), ConfigError> {
    if v == 0 {
        return Err(ConfigError::new(setting, "must be greater than 0"));
    }
    Ok(())
}

/// A bound for how long a cached answer may be trusted: a revoked receiver must stop
/// working, and a scale set by hand must be seen, within it.
fn at_most(setting: &'static str, v: u64, max: u64, said: &str) -> Result<(), ConfigError> {
    if v > max {
        return Err(ConfigError::new(
            setting,
            format!("must be at most {max} ({said})"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(args: &[&str]) -> Result<Limits, String> {
        let cli = Cli::try_parse_from(["hookgate", "demo"].iter().chain(args))
            .map_err(|e| e.to_string())?;
        let Command::Demo(demo) = cli.command else {
            return Err("not demo".into());
        };
        demo.edge.limits().map_err(|e| e.to_string())
    }

    #[test]
    fn cache_times_are_bounded_both_ways() {
        assert!(limits(&[]).is_ok(), "{:?}", limits(&[]).err());
        for (args, named) in [
            (["--revocation-ttl-secs", "0"], "--revocation-ttl-secs"),
            (["--revocation-ttl-secs", "86401"], "--revocation-ttl-secs"),
            (
                ["--revocation-ttl-secs", "18446744073709551615"],
                "--revocation-ttl-secs",
            ),
            (["--scale-ttl-ms", "0"], "--scale-ttl-ms"),
            (["--scale-ttl-ms", "3600001"], "--scale-ttl-ms"),
        ] {
            let err = limits(&args).expect_err("refused");
            assert!(err.contains(named), "{args:?}: {err}");
        }
        assert!(limits(&[
            "--revocation-ttl-secs",
            "86400",
            "--scale-ttl-ms",
            "3600000"
        ])
        .is_ok());
    }
}
