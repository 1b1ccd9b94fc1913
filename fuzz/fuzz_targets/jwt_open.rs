//! Rancher 1.4 tokens (`?token=<JWT>`): arbitrary text never panics `RancherKey::open` and
//! never verifies (only the installation's private key makes a signature that does), and
//! the claims of an authentic token, whatever they hold, are read without a panic into a
//! receiver whose project and uuid are safe to put in a Cattle URL.
#![no_main]

use std::sync::OnceLock;

use hookgate::jwt::{looks_like_jwt, read_claims, RancherKey};
use libfuzzer_sys::fuzz_target;

static KEY: OnceLock<RancherKey> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let key = KEY.get_or_init(|| {
        RancherKey::from_pem(include_str!(
            "../../tests/fixtures/rancher-1.4-test-key.pub.pem"
        ))
        .expect("test public key")
    });
    let _ = looks_like_jwt(text);
    assert!(key.open(text, 0).is_err(), "a forged token verified");
    // As if the signature had verified: `text` is the payload segment.
    if let Ok(r) = read_claims(text, text, 0) {
        for id in [&r.project_id, &r.uuid] {
            assert!(!id.is_empty() && id.len() <= 64);
            assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        }
    }
});
