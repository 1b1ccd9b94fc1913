//! hookgate: receiver hooks for Rancher 1.x, as a stateless edge service.
//!
//! Module map (ARCHITECTURE.md has the whole picture), from the pure core outwards:
//! - [`receiver`]: what a receiver is — id, project, driver config. Pure types.
//! - [`token`]: seals receivers into URL-safe HMAC-SHA256 tokens and opens them. Pure.
//! - [`policy`]: dedupe, resolved alerts, cooldown. Pure decisions.
//! - [`router`]: path → route; the only code that reads raw paths.
//! - [`error`]: the one mapping from errors to statuses and Cattle's error envelope.
//! - [`cattle`]: the Cattle client, the only code that talks upstream.
//! - [`drivers`]: what receivers do (scaleService today), and their creation checks.
//! - [`trigger`]: the hot path — query, token, revocation, policy, driver, response.
//! - [`api`]: the management API, compatible with Rancher's `/v1-webhooks`.
//! - [`app`]: the `App` handle (key ring, client, caches, locks) and request entry.
//! - [`server`], [`tls`]: accept loop, limits, TLS with certificate reload.
//! - [`config`]: command line and environment → validated settings.
//! - [`metrics`]: Prometheus exposition; bounded label sets, no secrets.
//! - [`sim`]: a Cattle v2-beta simulator (own wire types; never imports the client).
//! - [`time`]: Cattle's date format.

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
pub mod server;
pub mod sim;
pub mod time;
pub mod tls;
pub mod token;
pub mod trigger;

/// Seconds since the Unix epoch, from the system clock. The only place the wall clock is
/// read for token expiry, so everything below it can take `now` as an argument.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
