//! Secret hygiene (docs/security.md, "Secrets in logs, metrics and errors"): a full scenario
//! in both deployments, logged at trace level, and not one token, key, API secret or
//! `Authorization` value in the logs, the metrics or any error body.

use std::time::Duration;

use base64::Engine as _;
use http::Method;
use serde_json::json;

use crate::support::*;

const RANCHER_KEY: &str = "H8fAbCdEfGhIjKlMnOpQrStUvWxYz0123456789a";

/// Every secret of the scenario, and the pieces of them long enough to recognise.
fn secrets(tokens: &[String]) -> Vec<String> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut out = vec![
        "alice-secret".to_owned(),
        "service-secret".to_owned(),
        "bob-secret".to_owned(),
        b64("alice:alice-secret"),
        b64("service:service-secret"),
        RANCHER_KEY.to_owned(),
    ];
    // The key ring's secrets.
    for line in keys_text().lines() {
        if let Some((_, secret)) = line.split_once(' ') {
            out.push(secret.to_owned());
        }
    }
    for t in tokens {
        out.push(t.clone());
        // A token's payload and tag, each recognisable on its own.
        out.extend(t.split('.').filter(|p| p.len() >= 16).map(str::to_owned));
    }
    out
}

#[tokio::test]
async fn no_secret_reaches_logs_metrics_or_error_bodies() {
    let sim = start_sim(Duration::ZERO).await;
    let trace = [("HOOKGATE_LOG", "trace")];
    let front = spawn_serve_with(&sim, None, &[], &trace, true);
    let api_port = free_port();
    let api_listen = format!("127.0.0.1:{api_port}");
    let proxied = spawn_serve_with(
        &sim,
        None,
        &["--behind-cattle-proxy", "--api-listen", &api_listen],
        &trace,
        true,
    );
    wait_listening(front.port).await;
    wait_listening(proxied.port).await;
    wait_listening(api_port).await;
    let api = format!("http://{api_listen}");

    let mut bodies = Vec::new();
    let mut tokens = Vec::new();
    let mut record = |r: &Reply| {
        if !r.status.is_success() {
            bodies.push(String::from_utf8_lossy(&r.body).into_owned());
        }
    };
    let receivers = |base: &str| format!("{base}/v1-webhooks/receivers?projectId=1a5");
    let body = |name: &str| {
        json!({"name": name, "driver": "scaleService", "scaleServiceConfig": {
            "serviceId": "1s1", "action": "up", "amount": 1, "min": 1, "max": 50}})
        .to_string()
    };

    // Create through both deployments; fire each token, dry and not.
    let made = http(
        Method::POST,
        &receivers(&front.base),
        Some(ALICE),
        &[],
        Some(&body("h1")),
    )
    .await;
    record(&made);
    let proxy_headers = [("x-api-project-id", "1a5"), ("x-api-roles", "owner")];
    let made2 = http(
        Method::POST,
        &receivers(&api),
        None,
        &proxy_headers,
        Some(&body("h2")),
    )
    .await;
    record(&made2);
    for m in [&made, &made2] {
        assert_eq!(m.status, 200, "{}", String::from_utf8_lossy(&m.body));
        let url = m.json()["url"].as_str().expect("url").to_owned();
        let token = url
            .split("token=")
            .nth(1)
            .expect("token")
            .split('&')
            .next()
            .expect("t");
        tokens.push(token.to_owned());
        for base in [&front.base, &proxied.base] {
            for q in ["", "&dryRun=true"] {
                let u = format!("{base}/v1-webhooks/endpoint?token={token}{q}");
                record(
                    &http(
                        Method::POST,
                        &u,
                        None,
                        &[],
                        Some(&fixture("alertmanager-firing.json")),
                    )
                    .await,
                );
            }
        }
    }
    let token = tokens[0].clone();
    // Refusals of every kind: a flipped tag, a forged key id, malformed, too long, a
    // percent-escape, an unknown parameter carrying the token, a revoked receiver.
    let mut flipped = token.clone().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).expect("ascii");
    let forged_kid = token.replacen("hg1.t1.", "hg1.zz.", 1);
    for q in [
        format!("token={flipped}"),
        format!("token={forged_kid}"),
        format!("token={}", &token[..token.len() / 2]),
        format!("token={}", "A".repeat(5000)),
        format!("token={token}%00"),
        format!("token={token}&secret={token}"),
        format!("token={token}&token={token}"),
        format!("key={token}&projectId=1a5"),
    ] {
        for base in [&front.base, &proxied.base] {
            record(
                &http(
                    Method::POST,
                    &format!("{base}/v1-webhooks/endpoint?{q}"),
                    None,
                    &[],
                    None,
                )
                .await,
            );
        }
    }
    // A Rancher key URL, found and not.
    let rancher = json!({"name": "rk", "key": RANCHER_KEY, "kind": "webhookReceiver", "resourceData": {
        "url": "x", "driver": "scaleService", "config": {"serviceId": "1s1", "action": "up",
        "amount": 1, "min": 1, "max": 50}}});
    let r = http(
        Method::POST,
        &sim.url("/v2-beta/projects/1a5/genericobjects"),
        Some(SERVICE),
        &[],
        Some(&rancher.to_string()),
    )
    .await;
    assert_eq!(r.status, 201);
    for key in [RANCHER_KEY, "Z8fAbCdEfGhIjKlMnOpQrStUvWxYz0123456789a"] {
        let u = format!(
            "{}/v1-webhooks/endpoint?key={key}&projectId=1a5",
            front.base
        );
        record(&http(Method::POST, &u, None, &[], None).await);
    }
    // API errors: wrong and missing credentials, a bad config, a stranger on the proxy.
    let wrong = ("alice", "not-alice-secret");
    record(&http(Method::GET, &receivers(&front.base), Some(wrong), &[], None).await);
    record(
        &http(
            Method::GET,
            &receivers(&front.base),
            None,
            &[("authorization", "Bearer sekrit-bearer-token-value")],
            None,
        )
        .await,
    );
    record(&http(Method::POST, &receivers(&front.base), Some(ALICE), &[], Some(r#"{"name":"x","driver":"scaleService","scaleServiceConfig":{"serviceId":"1s1","cooldown":5}}"#)).await);
    record(&http(Method::GET, &receivers(&api), Some(ALICE), &[], None).await);
    // Cattle failing, then back.
    sim.fault(&json!({"pathPrefix": "/v2-beta/projects/1a5/services", "status": 500}))
        .await;
    let u = format!("{}/v1-webhooks/endpoint?token={token}", front.base);
    record(&http(Method::POST, &u, None, &[], None).await);
    sim.clear_faults().await;
    // Delete, then fire the revoked receiver.
    let id = made.json()["id"].as_str().expect("id").to_owned();
    let del = format!("{}/v1-webhooks/receivers/{id}?projectId=1a5", front.base);
    record(&http(Method::DELETE, &del, Some(ALICE), &[], None).await);
    record(&http(Method::POST, &u, None, &[], None).await);

    let mut watched = secrets(&tokens);
    watched.push("sekrit-bearer-token-value".to_owned());
    watched.push("not-alice-secret".to_owned());
    tokio::time::sleep(Duration::from_millis(200)).await; // the log writer's next flush
    let mut places = vec![
        ("front log", front.logged()),
        ("proxied log", proxied.logged()),
    ];
    for base in [&front.base, &api] {
        places.push(("metrics", scrape(base).await));
    }
    for b in &bodies {
        places.push(("error body", b.clone()));
    }
    assert!(
        places[0].1.contains("trigger"),
        "the log was captured at trace level"
    );
    assert!(
        bodies.len() >= 20,
        "the scenario produced errors of every kind"
    );
    for (place, text) in &places {
        for s in &watched {
            assert!(
                !text.contains(s.as_str()),
                "{place} contains a secret ({} chars)",
                s.len()
            );
        }
    }
}
