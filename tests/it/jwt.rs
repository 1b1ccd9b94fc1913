//! Rancher 1.4's own trigger URLs, `?token=<JWT>` (docs/migrating.md): made here as Rancher's
//! webhook-service v0.8 made them — jwt-go, RS256 over the claims `driver`, `projectId`,
//! `uuid` and `config`, signed with the installation's RSA key (a throwaway test key) — with
//! the generic object keyed by the uuid that keeps them alive.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::Mac as _;
use hookgate::jwt::{KeyError, RancherKey};
use http::Method;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use serde_json::{json, Value};

use crate::support::*;

const PUBLIC_KEY: &str = "rancher-1.4-test-key.pub.pem";
const UUID: &str = "6f1c9a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn rancher_key() -> Arc<RancherKey> {
    Arc::new(RancherKey::from_pem(&fixture(PUBLIC_KEY)).expect("test public key"))
}

/// Signs `header.payload` with the test installation's private key, RS256.
fn rs256(signing_input: &str) -> String {
    let pem = pem::parse(fixture("rancher-1.4-test-key.pem")).expect("pem");
    let pair = RsaKeyPair::from_pkcs8(pem.contents()).expect("pkcs8 key");
    let mut sig = vec![0; pair.public().modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signing_input.as_bytes(),
        &mut sig,
    )
    .expect("sign");
    b64(&sig)
}

/// A token as Rancher's service made one: jwt-go's header, the claims map marshalled with
/// its keys sorted, RS256.
fn rancher_jwt(claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(br#"{"alg":"RS256","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes())
    );
    let sig = rs256(&input);
    format!("{input}.{sig}")
}

/// A scaleService receiver's claims, its config as Rancher's UI sent it.
fn claims(project: &str, uuid: &str, service: &str) -> Value {
    json!({
        "driver": "scaleService",
        "projectId": project,
        "uuid": uuid,
        "config": {"type": "scaleService", "serviceId": service, "action": "up",
                   "amount": 1, "min": 1, "max": 10},
    })
}

/// The generic object Rancher's service stored beside a 1.4 token.
fn record(uuid: &str, token: &str, config: &Value) -> Value {
    json!({"name": format!("r-{uuid}"), "key": uuid, "kind": "webhookReceiver", "resourceData": {
        "url": format!("http://rancher:8080/v1-webhooks/endpoint?token={token}"),
        "driver": "scaleService", "config": config}})
}

async fn start(key: Option<Arc<RancherKey>>, revocation_ttl: Duration) -> Edge {
    Opts {
        rancher_key: key,
        revocation_ttl,
        ..Opts::default()
    }
    .start(start_sim(Duration::ZERO).await)
    .await
}

#[tokio::test]
async fn a_rancher_1_4_url_fires_and_scales_until_its_record_is_deleted() {
    let edge = start(Some(rancher_key()), Duration::from_secs(30)).await;
    let c = claims("1a5", UUID, "1s1");
    let token = rancher_jwt(&c);
    let go = edge.store("1a5", record(UUID, &token, &c["config"])).await;

    let r = edge.fire(&token, None).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(
        (v["outcome"].as_str(), v["from"].as_i64(), v["to"].as_i64()),
        (Some("scaled"), Some(2), Some(3)),
        "{v}"
    );
    assert_eq!(edge.scale_of("1a5", "1s1").await, 3);
    // Same execution as hookgate's own tokens: a dry run changes nothing.
    let dry = http(
        Method::POST,
        &format!("{}&dryRun=true", edge.trigger_url(&token)),
        None,
        &[],
        None,
    )
    .await;
    assert_eq!(dry.json()["dryRun"], true, "{}", dry.json());
    assert_eq!(edge.scale_of("1a5", "1s1").await, 3);

    // Listed as Rancher listed it: the stored URL's path and query unchanged.
    let list = get(
        &format!("{}/v1-webhooks/receivers?projectId=1a5", edge.base),
        ALICE,
    )
    .await
    .json();
    let listed = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|r| r["id"] == go.as_str())
        .cloned()
        .expect("the 1.4 receiver is listed");
    let url = listed["url"].as_str().expect("url");
    assert!(
        url.ends_with(&format!("/v1-webhooks/endpoint?token={token}")),
        "{url}"
    );
    assert_eq!(listed["driver"], "scaleService");

    // Deleted through the API: its URL is revoked at once.
    let del = http(
        Method::DELETE,
        &format!("{}/v1-webhooks/receivers/{go}?projectId=1a5", edge.base),
        Some(ALICE),
        &[],
        None,
    )
    .await;
    assert_eq!(del.status, 204);
    let r = edge.fire(&token, None).await;
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["message"]
        .as_str()
        .is_some_and(|m| m.contains("revoked")));
    assert_eq!(edge.scale_of("1a5", "1s1").await, 3);
}

#[tokio::test]
async fn a_record_deleted_in_rancher_revokes_within_the_ttl() {
    let edge = start(Some(rancher_key()), Duration::from_millis(200)).await;
    let uuid = "0a1b2c3d-aaaa-bbbb-cccc-0123456789ab";
    let c = claims("1a5", uuid, "1s1");
    let token = rancher_jwt(&c);
    let go = edge.store("1a5", record(uuid, &token, &c["config"])).await;
    assert_eq!(edge.fire(&token, None).await.status, 200);
    // Removed behind hookgate's back, as Rancher's UI would.
    let r = http(
        Method::DELETE,
        &edge
            .sim
            .url(&format!("/v2-beta/projects/1a5/genericobjects/{go}")),
        Some(SERVICE),
        &[],
        None,
    )
    .await;
    assert!(r.status.is_success(), "{}", r.status);
    // Probed by dry runs, which check revocation but change nothing.
    let dry_run = format!("{}&dryRun=true", edge.trigger_url(&token));
    let revoked =
        eventually(|| async { http(Method::POST, &dry_run, None, &[], None).await.status == 403 })
            .await;
    assert!(revoked, "revoked after the TTL");
    assert_eq!(edge.fire(&token, None).await.status, 403);
    assert_eq!(edge.scale_of("1a5", "1s1").await, 3, "fired once");
    // A bare record keyed by the uuid (which anyone holding the URL can read from it) is
    // not a receiver the list would show, so it keeps nothing alive.
    edge.store(
        "1a5",
        json!({"name": "bare", "key": uuid, "kind": "webhookReceiver"}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(edge.fire(&token, None).await.status, 403);

    // An authentic token for a project the service account cannot reach: 403, not a 502
    // its sender would retry for ever.
    let elsewhere = rancher_jwt(&claims("1a99", uuid, "1s1"));
    assert_eq!(edge.fire(&elsewhere, None).await.status, 403);

    // Cattle failing: the trigger fails closed, nothing is run.
    edge.fault(r#"{"pathPrefix": "/v2-beta/projects/1a5/genericobjects", "status": 500}"#)
        .await;
    let c2 = claims("1a5", "9f9f9f9f-0000-1111-2222-333344445555", "1s1");
    let r = edge.fire(&rancher_jwt(&c2), None).await;
    assert!(r.status.is_server_error(), "{}", r.status);
    assert_eq!(edge.scale_of("1a5", "1s1").await, 3);
}

#[tokio::test]
async fn forged_rancher_tokens_are_refused_and_reach_no_service() {
    let edge = start(Some(rancher_key()), Duration::from_secs(30)).await;
    let c = claims("1a5", UUID, "1s1");
    let token = rancher_jwt(&c);
    edge.store("1a5", record(UUID, &token, &c["config"])).await;
    let payload = b64(c.to_string().as_bytes());

    // alg none, unsigned.
    let none = format!("{}.{payload}.", b64(br#"{"alg":"none","typ":"JWT"}"#));
    // HS256 keyed with the public key's PEM: the algorithm-confusion forgery.
    let hs_input = format!("{}.{payload}", b64(br#"{"alg":"HS256","typ":"JWT"}"#));
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(fixture(PUBLIC_KEY).as_bytes()).expect("hmac");
    mac.update(hs_input.as_bytes());
    let hs256 = format!("{hs_input}.{}", b64(&mac.finalize().into_bytes()));
    // The payload changed under a valid signature: amount 1 → 9.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut bigger = c.clone();
    bigger["config"]["amount"] = json!(9);
    parts[1] = b64(bigger.to_string().as_bytes());
    let changed = parts.join(".");
    // One base64 character of the payload flipped.
    let mut flipped = token.clone().into_bytes();
    let at = token.find('.').expect("dot") + 5;
    flipped[at] = if flipped[at] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).expect("ascii");

    edge.clear_calls().await;
    for (name, forged) in [
        ("alg none", &none),
        ("HS256 with the public key", &hs256),
        ("changed payload", &changed),
        ("flipped byte", &flipped),
    ] {
        let r = edge.fire(forged, None).await;
        assert_eq!(
            r.status,
            401,
            "{name}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    assert!(
        edge.called_paths().await.is_empty(),
        "a forged token costs no Cattle call"
    );
    assert_eq!(edge.scale_of("1a5", "1s1").await, 2);

    // Authentic tokens for a service outside the token's project reach no service either.
    // 1s6 belongs to project 1a7, claimed under 1a5:
    let foreign_uuid = "1e2e3e4e-0000-4000-8000-00000000f00d";
    let foreign = claims("1a5", foreign_uuid, "1s6");
    let foreign_token = rancher_jwt(&foreign);
    edge.store(
        "1a5",
        record(foreign_uuid, &foreign_token, &foreign["config"]),
    )
    .await;
    let r = edge.fire(&foreign_token, None).await;
    assert!(
        r.status.is_client_error(),
        "{} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    // ... and 1s1 (project 1a5) claimed under 1a7.
    let cross = claims("1a7", foreign_uuid, "1s1");
    let cross_token = rancher_jwt(&cross);
    edge.store("1a7", record(foreign_uuid, &cross_token, &cross["config"]))
        .await;
    let r = edge.fire(&cross_token, None).await;
    assert!(r.status.is_client_error(), "{}", r.status);
    assert_eq!(edge.scale_of("1a7", "1s6").await, 1);
    assert_eq!(edge.scale_of("1a5", "1s1").await, 2);
    // A global service, which Rancher's checks refused on create.
    let global = claims("1a5", "2e2e2e2e-0000-4000-8000-00000000beef", "1s3");
    let global_token = rancher_jwt(&global);
    edge.store(
        "1a5",
        record(
            "2e2e2e2e-0000-4000-8000-00000000beef",
            &global_token,
            &global["config"],
        ),
    )
    .await;
    assert_eq!(edge.fire(&global_token, None).await.status, 422);
    assert_eq!(edge.scale_of("1a5", "1s3").await, 1);
    // Stored records aside, nothing was written: looked up, refused, never acted on.
    let writes = edge.called_writes().await;
    assert!(
        writes.iter().all(|w| w.contains("genericobjects")),
        "{writes:?}"
    );
}

#[tokio::test]
async fn authentic_tokens_missing_a_claim_get_rancher_messages() {
    let edge = start(Some(rancher_key()), Duration::from_secs(30)).await;
    let full = claims("1a5", UUID, "1s1");
    let without = |name: &str| {
        let mut c = full.clone();
        c.as_object_mut().expect("object").remove(name);
        c
    };
    let mut unknown = full.clone();
    unknown["driver"] = json!("scaleEverything");
    let mut expired = full.clone();
    expired["exp"] = json!(1_000_000_000);
    let cases = [
        (without("driver"), 400, "Driver not found after decode"),
        (
            without("projectId"),
            400,
            "ProjectId not provided by server",
        ),
        (without("uuid"), 400, "Uuid not found after decode"),
        (without("config"), 400, "Driver config not found"),
        (unknown, 400, "Driver scaleEverything is not registered"),
        (expired, 401, "expired"),
    ];
    edge.clear_calls().await;
    for (c, status, message) in cases {
        let r = edge.fire(&rancher_jwt(&c), None).await;
        let v = r.json();
        assert_eq!(r.status, status, "{v}");
        assert!(
            v["message"].as_str().is_some_and(|m| m.contains(message)),
            "{v}"
        );
    }
    assert!(edge.called_paths().await.is_empty());
}

#[tokio::test]
async fn without_the_public_key_a_jwt_url_names_the_setting() {
    let edge = start(None, Duration::from_secs(30)).await;
    let token = rancher_jwt(&claims("1a5", UUID, "1s1"));
    edge.clear_calls().await;
    let r = edge.fire(&token, None).await;
    assert_eq!(r.status, 400);
    let message = r.json()["message"].as_str().expect("message").to_owned();
    assert!(
        message.contains("--rsa-public-key-file") && message.contains("RSA_PUBLIC_KEY_CONTENTS"),
        "{message}"
    );
    assert!(!message.contains(&token[..20]), "the token is not echoed");
    assert!(edge.called_paths().await.is_empty());
}

#[test]
fn public_keys_load_as_spki_or_pkcs1_and_short_ones_are_refused() {
    let spki = RancherKey::from_pem(&fixture(PUBLIC_KEY)).expect("SPKI");
    let pkcs1 = RancherKey::from_pem(&fixture("rancher-1.4-test-key.pkcs1.pem")).expect("PKCS#1");
    assert_eq!((spki.bits(), pkcs1.bits()), (2048, 2048));
    assert_eq!(
        RancherKey::from_pem(&fixture("rsa-1024-test-key.pub.pem")).err(),
        Some(KeyError::Size(1024))
    );
    // The private key is not what hookgate takes.
    assert!(matches!(
        RancherKey::from_pem(&fixture("rancher-1.4-test-key.pem")),
        Err(KeyError::WrongBlock(_))
    ));
    // A token the PKCS#1 form verifies too.
    let token = rancher_jwt(&claims("1a5", UUID, "1s1"));
    assert_eq!(
        pkcs1.open(&token, 0).expect("verifies").uuid,
        spki.open(&token, 0).expect("verifies").uuid
    );
}

#[tokio::test]
async fn hookgate_serve_runs_rancher_1_4_urls_with_its_public_key() {
    let sim = start_sim(Duration::ZERO).await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let key_file = dir.join(PUBLIC_KEY);
    let serve = spawn_serve(
        &sim,
        None,
        &["--rsa-public-key-file", key_file.to_str().expect("path")],
    );
    wait_listening(serve.port).await;
    let c = claims("1a5", UUID, "1s1");
    let token = rancher_jwt(&c);
    let stored = http(
        Method::POST,
        &sim.url("/v2-beta/projects/1a5/genericobjects"),
        Some(SERVICE),
        &[],
        Some(&record(UUID, &token, &c["config"]).to_string()),
    )
    .await;
    assert_eq!(stored.status, 201);
    let url = format!("{}/v1-webhooks/endpoint?token={token}", serve.base);
    let r = http(Method::POST, &url, None, &[], None).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["to"], 3);

    // The key as text in RSA_PUBLIC_KEY_CONTENTS, as Rancher's service read it.
    let by_env = spawn_serve_with(
        &sim,
        None,
        &[],
        &[("RSA_PUBLIC_KEY_CONTENTS", &fixture(PUBLIC_KEY))],
        false,
    );
    wait_listening(by_env.port).await;
    let url = format!("{}/v1-webhooks/endpoint?token={token}", by_env.base);
    let r = http(Method::POST, &url, None, &[], None).await;
    assert_eq!(r.json()["to"], 4, "{}", String::from_utf8_lossy(&r.body));

    // A key shorter than 2048 bits is a configuration error at start.
    let short = dir.join("rsa-1024-test-key.pub.pem");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["serve", "--listen", "127.0.0.1:0", "--rsa-public-key-file"])
        .arg(&short)
        .env("CATTLE_URL", format!("{}/v1", sim.base))
        .env("CATTLE_ACCESS_KEY", "service")
        .env("CATTLE_SECRET_KEY", "service-secret")
        .env("HOOKGATE_KEYS", keys_text())
        .env_remove("RSA_PUBLIC_KEY_CONTENTS")
        .output()
        .expect("run hookgate");
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--rsa-public-key-file") && err.contains("1024 bits"),
        "{err}"
    );
}
