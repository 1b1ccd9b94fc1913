//! A failing Cattle (docs/serving.md, "When Cattle fails"): after repeated failures hookgate
//! fails fast — 503 with `Retry-After`, no Cattle call, `/readyz` and a metric say so — and
//! probes until Cattle answers again.

use std::time::Duration;

use hookgate::drivers::{DriverConfig, ForwardPostConfig};
use http::Method;
use serde_json::json;

use crate::support::*;

async fn metric(serve: &Serve, name: &str) -> Option<f64> {
    let text = scrape(&serve.base).await;
    text.lines()
        .any(|l| l.starts_with(name))
        .then(|| metric_sum(&text, name, ""))
}

#[tokio::test]
async fn a_dead_cattle_is_not_asked_again_and_again() {
    let sim = start_sim(Duration::ZERO).await;
    let serve = spawn_serve(&sim, None, &[]);
    wait_listening(serve.port).await;
    // Distinct receivers, so no cached answer spares a call.
    let mut tokens = Vec::new();
    for _ in 0..8 {
        tokens.push(
            mint_on(
                &sim,
                &test_keys(),
                "1a5",
                DriverConfig::ScaleService(scale("1s1")),
            )
            .await,
        );
    }
    let fire = |token: &str| {
        let url = format!("{}/v1-webhooks/endpoint?token={token}", serve.base);
        async move { http(Method::POST, &url, None, &[], None).await }
    };
    // A forwardPost receiver, fired once while Cattle is up: its record's existence is
    // cached, so later it goes straight to Cattle's service proxy.
    let forward = mint_on(
        &sim,
        &test_keys(),
        "1a5",
        DriverConfig::ForwardPost(Box::new(ForwardPostConfig {
            project_id: "1a5".into(),
            service_name: "web".into(),
            port: "8080".into(),
            path: "/hook".into(),
        })),
    )
    .await;
    let first = fire(&forward).await.status;
    assert!(first != 503 && first != 401 && first != 403, "{first}");
    sim.fault(&json!({"pathPrefix": "/v2-beta", "status": 503}))
        .await;
    for t in &tokens[..5] {
        assert_eq!(
            fire(t).await.status,
            502,
            "Cattle's 503 passed on as a failure of Cattle's"
        );
    }
    // Five in a row: the next ones fail at once, with Retry-After, without asking Cattle.
    sim.forget_calls().await;
    let r = fire(&tokens[5]).await;
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.headers.contains_key("retry-after"));
    assert_eq!(r.json()["code"], "CattleUnavailable");
    let ready = http(
        Method::GET,
        &format!("{}/readyz", serve.base),
        None,
        &[],
        None,
    )
    .await;
    assert_eq!(ready.status, 503);
    let calls = sim.calls().await;
    assert_eq!(calls.as_array().map(Vec::len), Some(0), "{calls}");
    // The service proxy is Cattle too: a forward fails fast as well, and asks nobody.
    let r = fire(&forward).await;
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.headers.contains_key("retry-after"));
    assert_eq!(r.json()["code"], "CattleUnavailable");
    let calls = sim.calls().await;
    assert_eq!(calls.as_array().map(Vec::len), Some(0), "{calls}");
    assert_eq!(
        metric(&serve, "hookgate_cattle_circuit_open").await,
        Some(1.0)
    );
    assert_eq!(
        metric(&serve, "hookgate_cattle_circuit_opened_total").await,
        Some(1.0)
    );

    // Cattle recovers: within a period a probe finds it, and triggers act again.
    sim.clear_faults().await;
    let recovered = eventually(|| async { fire(&tokens[6]).await.status == 200 }).await;
    assert!(recovered, "a probe closed the breaker");
    assert_eq!(
        metric(&serve, "hookgate_cattle_circuit_open").await,
        Some(0.0)
    );
    assert_eq!(fire(&tokens[7]).await.status, 200);
}
