//! hookgate: receiver hooks for Rancher 1.x, as a stateless edge service.
//!
//! Module map (ARCHITECTURE.md has the whole picture), from the pure core outwards:
//! - [`receiver`]: a receiver's id. Pure.
//! - [`codec`]: the canonical binary encoding a token's payload is written in. Pure.
//! - [`token`]: the claims a token carries; sealing and opening with a key ring. Pure.
//! - [`policy`]: dedupe, resolved alerts, cooldown. Pure decisions.
//! - [`registry`]: registry push notifications and image references. Pure parsing.
//! - [`router`]: path → route, and the one dispatch of requests to handlers.
//! - [`ui`]: the web UI: one hand-written page, script and style sheet, embedded.
//! - [`error`]: the one mapping from errors to statuses and Cattle's error envelope.
//! - [`cattle`]: the Cattle client, the only code that talks upstream.
//! - [`breaker`]: fail fast while Cattle is down (open, probe, close). Pure.
//! - [`drivers`]: what receivers do, one module per driver: config, Rancher's JSON for it,
//!   token encoding, policy settings, creation checks, execution, own state.
//! - [`trigger`]: the hot path — query, token, revocation, policy, driver, response.
//! - [`api`]: the management API, compatible with Rancher's `/v1-webhooks`.
//! - [`legacy`]: Rancher's own receivers, reached by key URL; cached per project.
//! - [`jwt`]: Rancher 1.4's own `?token=<JWT>` URLs: RS256 verification, claims. Pure.
//! - [`app`]: the `App` handle: key ring, client, caches, keyed state. State only.
//! - [`keyed`]: per-key state that is bounded and never evicted while in use.
//! - [`fresh`]: the trigger path's caches: entries trusted until a time, loads shared.
//! - [`http`]: response helpers, bounded body reading, what a connection serves.
//! - [`server`], [`tls`]: accept loop, limits, TLS with certificate reload.
//! - [`edge`]: settings → a bound, running service; shared by `main` and the tests.
//! - [`config`]: command line and environment → validated settings.
//! - [`metrics`]: Prometheus exposition; bounded label sets, no secrets.
//! - [`sim`]: a Cattle v2-beta simulator (own wire types; never imports the client).
//! - [`time`]: Cattle's date format.

pub mod api;
pub mod app;
pub mod breaker;
pub mod cattle;
pub mod codec;
pub mod config;
pub mod drivers;
pub mod edge;
pub mod error;
pub mod fresh;
pub mod http;
pub mod json;
pub mod jwt;
pub mod keyed;
pub mod legacy;
pub mod logging;
pub mod metrics;
pub mod pair;
pub mod policy;
pub mod receiver;
pub mod registry;
pub mod router;
pub mod server;
pub mod sim;
pub mod time;
pub mod tls;
pub mod token;
pub mod trigger;
pub mod ui;

/// Seconds since the Unix epoch, from the system clock. The only place the wall clock is
/// read for token expiry, so everything below it can take `now` as an argument.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
