//! Management API request bodies: each driver's config as a create request sends it
//! (arbitrary JSON, seeded from tests/fixtures). Never a panic; a config that parses
//! serializes to Rancher's JSON that parses back to the same config, and seals into a token
//! that opens to it.
#![no_main]

use hookgate::drivers::{Driver, DriverConfig, Parse};
use hookgate::receiver::ReceiverId;
use hookgate::token::{Claims, KeyRing};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return;
    };
    let driver = Driver::ALL[usize::from(pick) % Driver::ALL.len()];
    let Ok(config) = DriverConfig::parse(driver, &value, "1a5", Parse::Create) else {
        return;
    };
    let json = config.to_json();
    let again = DriverConfig::parse(driver, &json, "1a5", Parse::Create)
        .expect("a parsed config's JSON parses");
    assert_eq!(again, config);
    let ring = KeyRing::new([("fz", vec![7u8; 32])]).expect("ring");
    let claims = Claims {
        receiver_id: ReceiverId([3; 16]),
        project_id: "1a5".into(),
        issued_at: 0,
        expires_at: None,
        config,
    };
    // Oversized configs are refused by seal (a 400 at create), never half-sealed.
    if let Ok(token) = ring.seal(&claims) {
        assert_eq!(ring.open(token.as_bytes(), 0).expect("opens"), claims);
    }
});
