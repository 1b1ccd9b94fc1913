//! Arbitrary bytes never panic `KeyRing::open`, and whatever opens re-seals to a token that
//! opens to the same claims.
#![no_main]

use hookgate::token::KeyRing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ring = KeyRing::new([("fz", vec![42u8; 32])]).expect("fixed key ring");
    if let Ok(claims) = ring.open(data, 0) {
        let again = ring.seal(&claims).expect("opened claims re-seal");
        assert_eq!(ring.open(&again, 0).expect("re-sealed token opens"), claims);
    }
});
