//! Registry push notifications in every format (seeded from tests/fixtures): arbitrary bytes
//! never panic a parser, and every image it reports names a repository.
#![no_main]

use hookgate::registry::{parse, Format};
use libfuzzer_sys::fuzz_target;

const FORMATS: [Format; 6] = [
    Format::Dockerhub,
    Format::Alicloud {
        address: "registry",
    },
    Format::Azure,
    Format::Quay,
    Format::Harbor,
    Format::Registry,
];

fuzz_target!(|data: &[u8]| {
    for format in FORMATS {
        if let Ok(pushed) = parse(data, format) {
            for p in pushed {
                assert!(!p.repository.is_empty(), "{format:?}: {p:?}");
            }
        }
    }
});
