//! Cost of the token on the trigger path. `token/hmac_sha256` is the floor: a pre-keyed
//! HMAC-SHA256 over as many bytes as `open` authenticates. `open / hmac_sha256` is what the
//! parsing, decoding and checks add on top of the cryptography.
//!
//! Wall-clock medians wander on a shared machine; instruction counts do not. With
//! `--ir open|hmac|none N` the binary runs the operation N times and nothing else, for
//! `valgrind --tool=callgrind` to count: (Ir(open) - Ir(none)) / (Ir(hmac) - Ir(none)) is
//! the same ratio, repeatably.

use std::hint::black_box;

use criterion::{criterion_group, Criterion};
use hmac::{Hmac, Mac};
use hookgate::token::KeyRing;

mod common;
use common::{scale_claims, NOW};
use sha2::Sha256;

fn token(c: &mut Criterion) {
    let secret = vec![7u8; 32];
    let ring = KeyRing::new([("k1", secret.clone())]).expect("ring");
    let claims = scale_claims(0);
    let sealed = ring.seal(&claims).expect("seal");
    // `open` authenticates everything before the last '.'.
    let signed_len = sealed.rfind('.').expect("tag separator");
    let signed = sealed.as_bytes()[..signed_len].to_vec();
    let keyed = Hmac::<Sha256>::new_from_slice(&secret).expect("any key length");

    let mut g = c.benchmark_group("token");
    g.bench_function("open", |b| {
        b.iter(|| ring.open(black_box(sealed.as_bytes()), NOW).expect("opens"))
    });
    g.bench_function("seal", |b| {
        b.iter(|| ring.seal(black_box(&claims)).expect("seals"))
    });
    g.bench_function("hmac_sha256", |b| {
        b.iter(|| {
            let mut m = keyed.clone();
            m.update(black_box(&signed));
            m.finalize().into_bytes()
        })
    });
    g.finish();
}

/// A Rancher 1.4 JWT (docs/migrating.md): an authentic one opened whole, and a forged one,
/// refused after its RSA verification — what a stranger's guess costs.
fn rancher_jwt(c: &mut Criterion) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use hookgate::jwt::RancherKey;
    use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};

    let fixture = |name: &str| {
        std::fs::read_to_string(format!(
            "{}/tests/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture")
    };
    let key = RancherKey::from_pem(&fixture("rancher-1.4-test-key.pub.pem")).expect("key");
    let private = pem::parse(fixture("rancher-1.4-test-key.pem")).expect("pem");
    let pair = RsaKeyPair::from_pkcs8(private.contents()).expect("pkcs8");
    let claims = r#"{"config":{"action":"up","amount":1,"max":10,"min":1,"serviceId":"1s1","type":"scaleService"},"driver":"scaleService","projectId":"1a5","uuid":"6f1c9a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"}"#;
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let mut sig = vec![0; pair.public().modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .expect("sign");
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&sig));
    sig[0] ^= 1;
    let forged = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&sig));

    let mut g = c.benchmark_group("rancher_jwt");
    g.bench_function("open", |b| {
        b.iter(|| key.open(black_box(&token), NOW).expect("opens"))
    });
    g.bench_function("refuse_forged", |b| {
        b.iter(|| key.open(black_box(&forged), NOW).expect_err("forged"))
    });
    g.finish();
}

criterion_group!(benches, token, rancher_jwt);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--ir") {
        let what = args.get(i + 1).map_or("none", String::as_str);
        let n: usize = args
            .get(i + 2)
            .and_then(|n| n.parse().ok())
            .unwrap_or(100_000);
        instruction_run(what, n);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

/// Runs one operation `n` times with the same setup as the benchmarks.
fn instruction_run(what: &str, n: usize) {
    let secret = vec![7u8; 32];
    let ring = KeyRing::new([("k1", secret.clone())]).expect("ring");
    let sealed = ring.seal(&scale_claims(0)).expect("seal");
    let signed = sealed.as_bytes()[..sealed.rfind('.').expect("tag")].to_vec();
    let keyed = Hmac::<Sha256>::new_from_slice(&secret).expect("any key length");
    for _ in 0..n {
        match what {
            "open" => {
                black_box(ring.open(black_box(sealed.as_bytes()), NOW).expect("opens"));
            }
            "hmac" => {
                let mut m = keyed.clone();
                m.update(black_box(&signed));
                black_box(m.finalize().into_bytes());
            }
            _ => {}
        }
    }
}
