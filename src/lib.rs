//! hookgate: receiver hooks for Rancher 1.x, as a stateless edge service.
//!
//! Module map (ARCHITECTURE.md has the whole picture):
//! - [`receiver`]: what a receiver is — id, project, driver config. Pure types.
//! - [`token`]: seals receivers into URL-safe HMAC-SHA256 tokens and opens them. Pure.
//! - [`config`]: command line and environment → validated settings.
//! - [`cattle`]: the Cattle client, the only code that talks upstream.
//! - [`metrics`]: Prometheus exposition; bounded label sets, no secrets.
//! - [`sim`]: a Cattle v2-beta simulator (own wire types; never imports the client).

pub mod api;
pub mod app;
pub mod cattle;
pub mod config;
pub mod drivers;
pub mod error;
pub mod metrics;
pub mod policy;
pub mod receiver;
pub mod router;
pub mod token;

/// Seconds since the Unix epoch, from the system clock. The only place the wall clock is
/// read for token expiry, so everything below it can take `now` as an argument.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
pub mod server;
pub mod sim;
pub mod time;
pub mod tls;
pub mod trigger;
