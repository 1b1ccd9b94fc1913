//! The `hookgate` binary as a user runs it: keygen, inspect, exit codes.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use hookgate::drivers::{DriverConfig, OnResolved, ScaleAction, ScaleServiceConfig};
use hookgate::receiver::ReceiverId;
use hookgate::token::Claims;
use hookgate::token::KeyRing;

fn hookgate(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hookgate"));
    cmd.args(args)
        .env_remove("HOOKGATE_KEYS")
        .env_remove("HOOKGATE_KEYS_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn hookgate");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    child.wait_with_output().expect("hookgate exits")
}

fn keygen() -> String {
    let out = hookgate(&["keygen"], &[], None);
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

fn sample_claims() -> Claims {
    Claims {
        receiver_id: ReceiverId([0xab; 16]),
        project_id: "1a5".into(),
        issued_at: 1_764_324_000,
        expires_at: None,
        config: DriverConfig::ScaleService(ScaleServiceConfig {
            service_id: "1s1".into(),
            action: ScaleAction::Up,
            amount: 1,
            min: 1,
            max: 10,
            cooldown_seconds: 0,
            on_resolved: OnResolved::Ignore,
        }),
    }
}

#[test]
fn keygen_lines_make_a_ring_that_inspect_uses() {
    let (old, new) = (keygen(), keygen());
    assert_ne!(old, new, "keygen must not repeat itself");
    let dir = std::env::temp_dir().join(format!("hookgate-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let both = dir.join("both.keys");
    let pruned = dir.join("pruned.keys");
    std::fs::write(&both, format!("{new}\n{old}\n")).expect("write");
    std::fs::write(&pruned, format!("{new}\n")).expect("write");

    // A token sealed with the old key, as an older hookgate would have.
    let old_ring = KeyRing::parse(&old).expect("keygen output parses");
    let token = old_ring.seal(&sample_claims()).expect("seal");

    let out = hookgate(
        &[
            "inspect",
            "--keys-file",
            both.to_str().expect("path"),
            &token,
        ],
        &[],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["receiverId"], "ab".repeat(16));
    assert_eq!(json["driver"], "scaleService");
    assert_eq!(json["scaleServiceConfig"]["serviceId"], "1s1");
    assert_eq!(json["scaleServiceConfig"]["max"], 10);

    // The same through stdin and the inline env form.
    let ring_text = std::fs::read_to_string(&both).expect("read");
    let out = hookgate(
        &["inspect", "-"],
        &[("HOOKGATE_KEYS", &ring_text)],
        Some(&token),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Once the old key is removed from the ring, its tokens are refused.
    let out = hookgate(
        &[
            "inspect",
            "--keys-file",
            pruned.to_str().expect("path"),
            &token,
        ],
        &[],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("key id is not in the key ring"), "{err}");
    assert!(!err.contains(&token), "the token must not be echoed");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn bad_key_rings_are_one_line_config_errors() {
    let secret_31 = "A".repeat(42); // 42 base64url characters = 31 bytes
    let cases: &[(&str, &str)] = &[
        ("", "key ring is empty"),
        ("k1", "line 1: expected"),
        (&format!("k1 {secret_31}"), "keys need at least 32"),
    ];
    for (text, want) in cases {
        let out = hookgate(&["inspect", "x"], &[("HOOKGATE_KEYS", text)], None);
        assert_eq!(out.status.code(), Some(64), "{text:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("HOOKGATE_KEYS") && err.contains(want), "{err}");
    }
    let out = hookgate(&["inspect", "x"], &[], None);
    assert_eq!(out.status.code(), Some(64));
}
