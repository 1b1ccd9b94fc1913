//! End-to-end tests with real parts that `cargo test` does not need: run through
//! `tests/e2e/run` (which also drives the web UI in Chromium), after installing Debian's
//! `prometheus`, `prometheus-alertmanager` and `haproxy`. Cattle is the simulator; everything
//! else is the real thing.

#[allow(dead_code, unused_imports)]
#[path = "../it/support.rs"]
mod support;

mod alertmanager;
mod autoscale;
mod haproxy;
mod soak;
