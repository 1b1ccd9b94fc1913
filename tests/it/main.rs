//! The one integration-test binary: real processes, real HTTP(S), the simulator as Cattle.

mod api;
mod cattle;
mod cli;
mod drivers;
mod faults;
mod hostile;
mod hygiene;
mod jwt;
mod layout;
mod security;
mod serve;
mod sim;
mod support;
mod trigger;
