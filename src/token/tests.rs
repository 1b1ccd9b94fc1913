use super::*;
use crate::drivers::*;
use crate::receiver::ReceiverId;
use proptest::prelude::*;

const NOW: u64 = 1_764_324_000;

fn ring(ids: &[&str]) -> KeyRing {
    KeyRing::new(ids.iter().map(|id| (*id, id.repeat(40).into_bytes()))).expect("ring")
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn claims(config: DriverConfig) -> Claims {
    Claims {
        receiver_id: ReceiverId([7; 16]),
        project_id: "1a5".into(),
        issued_at: NOW,
        expires_at: None,
        config,
    }
}

fn scale_service() -> DriverConfig {
    DriverConfig::ScaleService(ScaleServiceConfig {
        service_id: "1s1".into(),
        action: ScaleAction::Up,
        amount: 1,
        min: 1,
        max: 100,
        cooldown_seconds: 0,
        on_resolved: OnResolved::Ignore,
    })
}

fn every_driver() -> Vec<DriverConfig> {
    vec![
        scale_service(),
        DriverConfig::ScaleService(ScaleServiceConfig {
            service_id: "1s77".into(),
            action: ScaleAction::Down,
            amount: 3,
            min: 0,
            max: 9,
            cooldown_seconds: 300,
            on_resolved: OnResolved::Reverse,
        }),
        DriverConfig::ScaleHost(Box::new(ScaleHostConfig {
            host_selector: Some(labels(&[("pool", "workers"), ("zone", "a")])),
            host_template_id: None,
            action: ScaleAction::Down,
            amount: 2,
            min: 1,
            max: 5,
            delete_option: Some(DeleteOption::LeastRecent),
            cooldown_seconds: 60,
            on_resolved: OnResolved::Trigger,
        })),
        DriverConfig::ScaleHost(Box::new(ScaleHostConfig {
            host_selector: None,
            host_template_id: Some("1ht1".into()),
            action: ScaleAction::Up,
            amount: 1,
            min: 1,
            max: 4,
            delete_option: None,
            cooldown_seconds: 0,
            on_resolved: OnResolved::Ignore,
        })),
        DriverConfig::ServiceUpgrade(Box::new(ServiceUpgradeConfig {
            service_selector: labels(&[("app", "web"), ("tier", "")]),
            tag: "1.2.3-alpha1".into(),
            tag_pattern: None,
            payload_format: PayloadFormat::Alicloud,
            address_type: AddressType::RegistryVpc,
            batch_size: 2,
            interval_millis: 5,
            start_first: true,
        })),
        DriverConfig::ServiceUpgrade(Box::new(ServiceUpgradeConfig {
            service_selector: labels(&[]),
            tag: "stable".into(),
            tag_pattern: Some("v1.*-rc?".into()),
            payload_format: PayloadFormat::Registry,
            address_type: AddressType::Registry,
            batch_size: 1,
            interval_millis: 2,
            start_first: false,
        })),
        DriverConfig::ForwardPost(Box::new(ForwardPostConfig {
            project_id: "1a5".into(),
            service_name: "pipeline-server".into(),
            port: "60080".into(),
            path: "/v1".into(),
        })),
    ]
}

/// A token with a valid tag over an arbitrary payload text, for what only a key holder
/// could produce.
fn sign_raw(ring: &KeyRing, payload_b64: &str) -> String {
    let key = &ring.keys[0];
    let mut t = format!("{PREFIX}{}.{payload_b64}", key.id);
    let mut mac = key.mac.clone();
    mac.update(t.as_bytes());
    t.push('.');
    t.push_str(&URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));
    t
}

fn payload_of(c: &Claims) -> Vec<u8> {
    let mut p = Vec::new();
    codec::encode(c, &mut p);
    p
}

#[test]
fn every_driver_round_trips() {
    let r = ring(&["k1"]);
    for cfg in every_driver() {
        let c = claims(cfg);
        let t = r.seal(&c).expect("seal");
        assert_eq!(r.open(&t, NOW).expect("open"), c);
    }
}

#[test]
fn typical_scale_service_token_is_short_and_url_safe() {
    let t = ring(&["k1"]).seal(&claims(scale_service())).expect("seal");
    assert!(t.len() <= 400, "{} chars", t.len());
    assert!(t
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
}

#[test]
fn every_bit_flip_is_rejected() {
    let r = ring(&["k1"]);
    let t = r.seal(&claims(scale_service())).expect("seal");
    let mut flipped = t.clone().into_bytes();
    for i in 0..flipped.len() {
        for bit in 0..8 {
            flipped[i] ^= 1 << bit;
            assert!(
                r.open(&flipped, NOW).is_err(),
                "byte {i} bit {bit} still opens"
            );
            flipped[i] ^= 1 << bit;
        }
    }
    assert!(r.open(&flipped, NOW).is_ok(), "restored token must open");
}

#[test]
fn every_truncation_is_rejected() {
    let r = ring(&["k1"]);
    let t = r.seal(&claims(scale_service())).expect("seal");
    for n in 0..t.len() {
        assert!(r.open(&t[..n], NOW).is_err(), "prefix of {n} bytes opens");
    }
}

#[test]
fn rejections_have_the_right_kind() {
    let r = ring(&["k1", "k2"]);
    let c = claims(scale_service());
    let good = r.seal(&c).expect("seal");
    let other_ring = ring(&["k1"]);
    // Same key id, different secret.
    let impostor = KeyRing::new([("k1", vec![9u8; 32])]).expect("ring");
    let payload = payload_of(&c);
    let mut trailing = payload.clone();
    trailing.push(0);
    let mut expiring = c.clone();
    expiring.expires_at = Some(NOW);
    let expired = r.seal(&expiring).expect("seal");
    // Canonical base64url of the payload has zero bits at the end; set one.
    let canonical = URL_SAFE_NO_PAD.encode(&payload);
    assert!(
        !payload.len().is_multiple_of(3),
        "payload length must leave spare bits"
    );
    let mut nc = canonical.clone().into_bytes();
    let last = nc.len() - 1;
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let pos = alphabet.iter().position(|&a| a == nc[last]).expect("b64");
    nc[last] = alphabet[pos | 1];
    let non_canonical = String::from_utf8(nc).expect("ascii");

    let cases: Vec<(String, &KeyRing, TokenError)> = vec![
        ("A".repeat(MAX_TOKEN_LEN + 1), &r, TokenError::TooLarge),
        (String::new(), &r, TokenError::Malformed),
        ("hg1.k1..".into(), &r, TokenError::Malformed),
        (
            good.replacen("hg1.", "hg2.", 1),
            &r,
            TokenError::UnsupportedVersion,
        ),
        (
            good.replacen("hg1.", "hg10.", 1),
            &r,
            TokenError::UnsupportedVersion,
        ),
        (good.replacen("hg1.", "HG1.", 1), &r, TokenError::Malformed),
        (
            good.replacen("hg1.k1.", "hg1.k9.", 1),
            &r,
            TokenError::UnknownKey,
        ),
        (good.clone(), &impostor, TokenError::BadSignature),
        (format!("{good}="), &r, TokenError::Malformed),
        (format!("{good}.x"), &r, TokenError::Malformed),
        (good.replace('.', "%2E"), &r, TokenError::Malformed),
        (
            sign_raw(&r, &URL_SAFE_NO_PAD.encode(&trailing)),
            &r,
            TokenError::BadPayload,
        ),
        (sign_raw(&r, &non_canonical), &r, TokenError::BadPayload),
        (
            sign_raw(&r, &format!("{canonical}==")),
            &r,
            TokenError::Malformed,
        ),
        (
            sign_raw(&r, &URL_SAFE_NO_PAD.encode(&payload[..payload.len() - 1])),
            &r,
            TokenError::BadPayload,
        ),
        (expired, &r, TokenError::Expired),
    ];
    for (i, (token, ring, want)) in cases.iter().enumerate() {
        assert_eq!(ring.open(token, NOW).err(), Some(*want), "case {i}");
    }
    // The good token opens with a ring that still holds its key, in any position.
    assert!(other_ring.open(&good, NOW).is_ok());
    let rotated = ring(&["k2", "k1"]);
    assert_eq!(rotated.open(&good, NOW).expect("open"), c);
}

#[test]
fn removing_a_key_revokes_its_tokens() {
    let old = ring(&["old"]);
    let t = old.seal(&claims(scale_service())).expect("seal");
    let rotated = ring(&["new", "old"]);
    assert!(rotated.open(&t, NOW).is_ok());
    let pruned = ring(&["new"]);
    assert_eq!(pruned.open(&t, NOW).err(), Some(TokenError::UnknownKey));
}

#[test]
fn expiry_is_checked_against_now() {
    let r = ring(&["k1"]);
    let mut c = claims(scale_service());
    c.expires_at = Some(NOW + 10);
    let t = r.seal(&c).expect("seal");
    assert!(r.open(&t, NOW + 9).is_ok());
    assert_eq!(r.open(&t, NOW + 10).err(), Some(TokenError::Expired));
}

#[test]
fn invalid_claims_are_not_sealed() {
    let r = ring(&["k1"]);
    let mut c = claims(scale_service());
    if let DriverConfig::ScaleService(s) = &mut c.config {
        s.min = 5;
        s.max = 5;
    }
    assert!(matches!(r.seal(&c), Err(SealError::InvalidClaims(_))));
    let mut long = claims(scale_service());
    long.project_id = "x".repeat(256);
    assert_eq!(r.seal(&long), Err(SealError::TooLarge));
}

#[test]
fn key_ring_text_format() {
    let line = KeyRing::generate_line().expect("random");
    let ring = KeyRing::parse(&format!("# comment\n\n{line}\n")).expect("parse");
    assert_eq!(Some(ring.signing_key_id()), line.split(' ').next());

    let secret = URL_SAFE_NO_PAD.encode([1u8; 32]);
    let weak = URL_SAFE_NO_PAD.encode([1u8; 31]);
    let cases: Vec<(String, KeyRingError)> = vec![
        ("".into(), KeyRingError::Empty),
        ("# only a comment".into(), KeyRingError::Empty),
        ("k1".into(), KeyRingError::Syntax { line: 1 }),
        (
            format!("k1 {secret} extra"),
            KeyRingError::Syntax { line: 1 },
        ),
        (format!("k.1 {secret}"), KeyRingError::BadKeyId { line: 1 }),
        (format!("k1 {secret}="), KeyRingError::BadSecret { line: 1 }),
        (
            format!("k1 {weak}"),
            KeyRingError::WeakKey {
                line: 1,
                id: "k1".into(),
                len: 31,
            },
        ),
        (
            format!("k1 {secret}\n# x\nk1 {secret}"),
            KeyRingError::DuplicateKeyId {
                line: 3,
                id: "k1".into(),
            },
        ),
    ];
    for (text, want) in cases {
        assert_eq!(KeyRing::parse(&text).err(), Some(want), "{text:?}");
    }
}

#[test]
fn debug_output_hides_secrets() {
    let r = KeyRing::new([("k1", b"s3cret-s3cret-s3cret-s3cret-s3cret!".to_vec())]).expect("ring");
    let d = format!("{r:?}");
    assert!(d.contains("k1") && !d.contains("s3cret"), "{d}");
}

proptest! {
    #[test]
    fn arbitrary_strings_never_panic(s in ".{0,600}") {
        let r = ring(&["k1"]);
        let _ = r.open(&s, NOW);
        let with_prefix = format!("hg1.k1.{s}");
        prop_assert!(r.open(&with_prefix, NOW).is_err());
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_head_never_open(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
        let r = ring(&["k1"]);
        let mut t = b"hg1.k1.".to_vec();
        t.extend_from_slice(&bytes);
        prop_assert!(r.open(&t, NOW).is_err());
    }

    #[test]
    fn sealed_scale_configs_round_trip(amount in 1u32.., min in 0u32..1000, span in 1u32..1000, cooldown: u32, down: bool) {
        let r = ring(&["k1"]);
        let c = claims(DriverConfig::ScaleService(ScaleServiceConfig {
            service_id: "1s1".into(),
            action: if down { ScaleAction::Down } else { ScaleAction::Up },
            amount, min, max: min + span, cooldown_seconds: cooldown,
            on_resolved: OnResolved::Reverse,
        }));
        let t = r.seal(&c).expect("seal");
        prop_assert_eq!(r.open(&t, NOW).expect("open"), c);
    }
}

proptest! {
    /// The hand-written decoder agrees with the base64 crate on every input: same bytes for
    /// what both accept, and it refuses whatever the crate refuses.
    #[test]
    fn b64url_decoder_matches_the_crate(s in "[A-Za-z0-9_=.+/-]{0,80}", raw in proptest::collection::vec(any::<u8>(), 0..64)) {
        for text in [s.clone(), URL_SAFE_NO_PAD.encode(&raw)] {
            let mut mine = vec![0u8; text.len() / 4 * 3 + 2];
            let n = decode_b64url(text.as_bytes(), &mut mine);
            match URL_SAFE_NO_PAD.decode(&text) {
                Ok(theirs) => prop_assert_eq!(n.map(|n| &mine[..n]), Some(&theirs[..]), "{:?}", text),
                Err(_) => prop_assert!(n.is_none(), "{:?} accepted", text),
            }
        }
    }
}

#[test]
fn decoder_refuses_spare_bits() {
    let mut out = [0u8; 8];
    // "AU": the second digit carries four spare bits, and 'U' sets one of them.
    assert_eq!(decode_b64url(b"AU", &mut out), None);
    assert_eq!(decode_b64url(b"AQ", &mut out), Some(1));
    assert_eq!(decode_b64url(b"AAB", &mut out), None);
    assert_eq!(decode_b64url(b"AAE", &mut out), Some(2));
    assert_eq!(decode_b64url(b"A", &mut out), None);
}
