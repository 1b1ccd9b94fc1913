//! Alertmanager and Grafana bodies (seeded from tests/fixtures): arbitrary bytes never panic
//! `Notification::parse`, and parsing is a function of the bytes alone.
#![no_main]

use hookgate::policy::Notification;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let first = Notification::parse(data);
    assert_eq!(first, Notification::parse(data));
});
