//! The trigger path over real HTTP against the simulator: docs/triggers.md, row by row.

use std::time::Duration;

use futures_util::future::join_all;
use hookgate::drivers::{DriverConfig, OnResolved, ScaleAction, ScaleServiceConfig};
use http::Method;

use crate::support::*;

const T: Duration = Duration::from_secs(5);

/// One row: a receiver config, a request, and what must come of it.
struct Case {
    name: &'static str,
    config: ScaleServiceConfig,
    body: Option<&'static str>,
    query: &'static str,
    status: u16,
    /// The outcome of a 200, or "" for an error answer.
    outcome: &'static str,
    /// The scale of the receiver's service afterwards.
    scale_after: Option<i64>,
}

fn cfg(
    service: &'static str,
    action: ScaleAction,
    amount: u32,
    min: u32,
    max: u32,
) -> ScaleServiceConfig {
    ScaleServiceConfig {
        action,
        amount,
        min,
        max,
        ..scale(service)
    }
}

async fn check(c: Case) {
    let edge = start_edge(T).await;
    let token = edge
        .mint("1a5", DriverConfig::ScaleService(c.config.clone()))
        .await;
    let r = http(
        Method::POST,
        &format!("{}{}", edge.trigger_url(&token), c.query),
        None,
        &[],
        c.body,
    )
    .await;
    assert_eq!(
        r.status,
        c.status,
        "{}: {}",
        c.name,
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.headers["content-type"], "application/json", "{}", c.name);
    assert_eq!(r.headers["cache-control"], "no-store", "{}", c.name);
    assert_eq!(r.headers["referrer-policy"], "no-referrer", "{}", c.name);
    assert_eq!(r.headers["x-content-type-options"], "nosniff", "{}", c.name);
    let v = r.json();
    match c.outcome {
        "" => {
            assert_eq!(v["type"], "error", "{}", c.name);
            assert_eq!(v["status"], c.status, "{}", c.name);
            assert!(
                v["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{}",
                c.name
            );
        }
        o => assert_eq!(v["outcome"], o, "{}", c.name),
    }
    if let Some(want) = c.scale_after {
        let svc = c.config.service_id.as_str();
        assert_eq!(edge.scale_of("1a5", svc).await, want, "{}", c.name);
    }
    assert!(
        !String::from_utf8_lossy(&r.body).contains(&token),
        "{}: token echoed",
        c.name
    );
}

#[tokio::test]
async fn scale_service_rows() {
    use ScaleAction::{Down, Up};
    // (case, receiver, body, query, status, outcome ("" for an error), scale afterwards)
    #[rustfmt::skip]
    let cases = [
        ("up by 1", cfg("1s1", Up, 1, 1, 10), None, "", 200, "scaled", Some(3)),
        ("down by 1", cfg("1s1", Down, 1, 1, 10), None, "", 200, "scaled", Some(1)),
        ("up clamped to max", cfg("1s1", Up, 5, 1, 4), None, "", 200, "scaled", Some(4)),
        ("down clamped to min", cfg("1s1", Down, 5, 1, 4), None, "", 200, "scaled", Some(1)),
        ("already at max", cfg("1s1", Up, 1, 1, 2), None, "", 200, "unchanged", Some(2)),
        ("already at min", cfg("1s2", Down, 1, 1, 3), None, "", 200, "unchanged", Some(1)),
        ("load balancer scales", cfg("1s2", Up, 2, 1, 5), None, "", 200, "scaled", Some(3)),
        ("dry run decides only", cfg("1s1", Up, 1, 1, 10), None, "&dryRun=true", 200, "scaled", Some(2)),
        ("any body acts as Rancher did", cfg("1s1", Up, 1, 1, 10), Some(r#"{"hello": "world"}"#), "", 200, "scaled", Some(3)),
        ("non-JSON body acts too", cfg("1s1", Up, 1, 1, 10), Some("ping"), "", 200, "scaled", Some(3)),
        ("alias service is not scalable", cfg("1s4", Up, 1, 1, 10), None, "", 422, "", None),
        ("missing service is gone", cfg("1s99", Up, 1, 1, 10), None, "", 410, "", None),
        ("service of another project is gone", cfg("1s6", Up, 1, 1, 10), None, "", 410, "", None),
        ("unknown query parameter", cfg("1s1", Up, 1, 1, 10), None, "&x=1", 400, "", Some(2)),
        ("second token", cfg("1s1", Up, 1, 1, 10), None, "&token=abc", 400, "", Some(2)),
        ("bad dryRun", cfg("1s1", Up, 1, 1, 10), None, "&dryRun=perhaps", 400, "", Some(2)),
    ];
    for (name, config, body, query, status, outcome, scale_after) in cases {
        check(Case {
            name,
            config,
            body,
            query,
            status,
            outcome,
            scale_after,
        })
        .await;
    }
}

#[tokio::test]
async fn refusals_before_any_action() {
    let edge = start_edge(T).await;
    let good = edge
        .mint("1a5", DriverConfig::ScaleService(scale("1s1")))
        .await;
    let (revoked, _) = edge.seal("1a5", DriverConfig::ScaleService(scale("1s1")));
    let mut tampered = good.clone().into_bytes();
    let i = tampered.len() - 50;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    // Signed by a key this server does not hold (as after the key was removed).
    let foreign = hookgate::token::KeyRing::new([("gone", vec![9u8; 32])]).expect("ring");
    let claims = edge.keys.open(&good, hookgate::unix_now()).expect("opens");
    let removed_key = foreign.seal(&claims).expect("seal");

    edge.clear_calls().await;
    let endpoint = format!("{}/v1-webhooks/endpoint", edge.base);
    let cases: Vec<(String, Method, Option<String>, u16)> = vec![
        (endpoint.clone(), Method::POST, None, 400),
        (format!("{endpoint}?token="), Method::POST, None, 400),
        (
            format!("{endpoint}?token=not-a-token"),
            Method::POST,
            None,
            400,
        ),
        (
            format!("{endpoint}?token={}", "A".repeat(5000)),
            Method::POST,
            None,
            400,
        ),
        (edge.trigger_url(&tampered), Method::POST, None, 401),
        (edge.trigger_url(&removed_key), Method::POST, None, 401),
        (edge.trigger_url(&revoked), Method::POST, None, 403),
        (edge.trigger_url(&good), Method::GET, None, 405),
        (edge.trigger_url(&good), Method::PUT, None, 405),
        (
            format!("{}/v1-webhooks/nowhere", edge.base),
            Method::POST,
            None,
            404,
        ),
    ];
    for (url, method, body, want) in cases {
        let r = http(method.clone(), &url, None, &[], body.as_deref()).await;
        assert_eq!(r.status, want, "{method} {}", &url[..url.len().min(120)]);
        let v = r.json();
        assert_eq!(
            (v["type"].as_str(), v["status"].as_u64()),
            (Some("error"), Some(u64::from(want)))
        );
    }
    // A body larger than the limit, declared up front, is refused at once.
    let big = "x".repeat((1 << 20) + 1);
    let r = http(
        Method::POST,
        &edge.trigger_url(&good),
        None,
        &[],
        Some(&big),
    )
    .await;
    assert_eq!(r.status, 413);
    // None of the refused requests touched a service; only the revocation look-up ran.
    let paths = edge.called_paths().await;
    assert!(paths.iter().all(|p| !p.contains("/services")), "{paths:?}");
    assert!(
        paths.iter().all(|p| p.ends_with("/genericobjects")),
        "{paths:?}"
    );
    assert_eq!(edge.scale_of("1a5", "1s1").await, 2);
}

#[tokio::test]
async fn revocation_is_cached_both_ways_and_fails_closed() {
    // A short revocation TTL also bounds how long a Cattle error is remembered.
    let edge = Opts {
        cattle_timeout: Duration::from_millis(500),
        revocation_ttl: Duration::from_secs(1),
        ..Opts::default()
    }
    .start(start_sim(Duration::ZERO).await)
    .await;
    let (unknown, _) = edge.seal("1a5", DriverConfig::ScaleService(scale("1s1")));
    edge.clear_calls().await;
    for _ in 0..3 {
        assert_eq!(edge.fire(&unknown, None).await.status, 403);
    }
    assert_eq!(
        edge.called_paths().await.len(),
        1,
        "an unknown receiver is cached too"
    );

    // Cattle failing during the look-up: the trigger fails closed, nothing is done, and
    // the error is remembered briefly, so a flood meanwhile costs no further call.
    let token = edge
        .mint("1a5", DriverConfig::ScaleService(scale("1s1")))
        .await;
    edge.fault(r#"{"pathPrefix": "/v2-beta/projects/1a5/genericobjects", "status": 500}"#)
        .await;
    let r = edge.fire(&token, None).await;
    assert_eq!(r.status, 502, "{}", String::from_utf8_lossy(&r.body));
    edge.clear_faults().await;
    edge.clear_calls().await;
    for _ in 0..5 {
        assert_eq!(edge.fire(&token, None).await.status, 502);
    }
    assert!(edge.called_paths().await.len() <= 1, "errors are cached");
    assert_eq!(edge.scale_of("1a5", "1s1").await, 2);
    // Once the error expires the receiver works again.
    let r = eventually(|| async { edge.fire(&token, None).await.status == 200 }).await;
    assert!(r, "the trigger works once Cattle answers again");
    assert_eq!(edge.scale_of("1a5", "1s1").await, 3);
    // A dropped connection is 503, likewise without acting.
    let other = edge
        .mint("1a5", DriverConfig::ScaleService(scale("1s1")))
        .await;
    edge.fault(r#"{"pathPrefix": "/v2-beta/projects/1a5/genericobjects", "drop": true}"#)
        .await;
    assert_eq!(edge.fire(&other, None).await.status, 503);
    assert_eq!(edge.scale_of("1a5", "1s1").await, 3);
}

#[tokio::test]
async fn concurrent_triggers_of_an_unchecked_receiver_share_one_look_up() {
    let edge = Opts::default().start(start_sim(Duration::ZERO).await).await;
    let (unknown, _) = edge.seal("1a5", DriverConfig::ScaleService(scale("1s1")));
    // Slow look-ups, so that every trigger arrives while the first is in flight.
    edge.fault(r#"{"pathPrefix": "/v2-beta/projects/1a5/genericobjects", "latencyMs": 300}"#)
        .await;
    edge.clear_calls().await;
    let replies = join_all((0..40).map(|_| edge.fire(&unknown, None))).await;
    assert!(replies.iter().all(|r| r.status == 403));
    let look_ups = edge.called_paths().await;
    assert_eq!(look_ups.len(), 1, "{look_ups:?}");
}

#[tokio::test]
async fn cattle_faults_map_to_502_503_504_within_the_timeout() {
    let timeout = Duration::from_millis(400);
    let cases = [
        (
            r#"{"pathPrefix": "/v2-beta/projects/1a5/services", "status": 500}"#,
            502,
        ),
        (
            r#"{"pathPrefix": "/v2-beta/projects/1a5/services", "status": 503}"#,
            502,
        ),
        (
            r#"{"pathPrefix": "/v2-beta/projects/1a5/services", "status": 409}"#,
            503,
        ),
        (
            r#"{"pathPrefix": "/v2-beta/projects/1a5/services", "drop": true}"#,
            503,
        ),
        (
            r#"{"pathPrefix": "/v2-beta/projects/1a5/services", "latencyMs": 3000}"#,
            504,
        ),
    ];
    for (fault, want) in cases {
        let edge = start_edge(timeout).await;
        let token = edge
            .mint("1a5", DriverConfig::ScaleService(scale("1s1")))
            .await;
        edge.fault(fault).await;
        let r = edge.fire(&token, None).await;
        assert_eq!(
            r.status,
            want,
            "{fault}: {}",
            String::from_utf8_lossy(&r.body)
        );
        edge.clear_faults().await;
        // The failure counted for nothing: the sender's retry acts.
        let r = edge.fire(&token, None).await;
        assert_eq!(
            (r.status.as_u16(), r.json()["outcome"].as_str()),
            (200, Some("scaled")),
            "{fault}"
        );
    }
}

#[tokio::test]
async fn concurrent_triggers_lose_no_update() {
    for (max, want) in [(500, 202), (50, 50)] {
        let edge = start_edge(T).await;
        // Four receivers on one service, so both the per-receiver and the per-service
        // serialization are exercised.
        let mut urls = Vec::new();
        for _ in 0..4 {
            let token = edge
                .mint(
                    "1a5",
                    DriverConfig::ScaleService(ScaleServiceConfig {
                        max,
                        ..scale("1s1")
                    }),
                )
                .await;
            urls.push(edge.trigger_url(&token));
        }
        let replies = join_all((0..200).map(|i| {
            let url = urls[i % urls.len()].clone();
            async move { http(Method::POST, &url, None, &[], None).await }
        }))
        .await;
        assert!(
            replies.iter().all(|r| r.status == 200),
            "every trigger answered 200"
        );
        let scaled = replies
            .iter()
            .filter(|r| r.json()["outcome"] == "scaled")
            .count();
        assert_eq!(scaled as i64, want - 2, "max {max}");
        assert_eq!(edge.scale_of("1a5", "1s1").await, want, "max {max}");
    }
}

#[tokio::test]
async fn dry_runs_beside_real_triggers_lose_no_update() {
    // The soak's repro: a dry run reads the scale while a batch writes it; its read, slower
    // to come back than the write, must not become the cached scale the next batch writes
    // from.
    let edge = start_edge(T).await;
    let token = edge
        .mint(
            "1a5",
            DriverConfig::ScaleService(ScaleServiceConfig {
                max: 1000,
                ..scale("1s1")
            }),
        )
        .await;
    edge.fault(
        r#"{"pathPrefix": "/v2-beta/projects/1a5/services/1s1", "method": "GET", "answerDelayMs": 40}"#,
    )
    .await;
    let real = edge.trigger_url(&token);
    let dry = format!("{real}&dryRun=true");
    let replies = join_all((0..120).map(|i| {
        let url = if i % 2 == 0 {
            real.clone()
        } else {
            dry.clone()
        };
        async move {
            tokio::time::sleep(Duration::from_millis(i * 3)).await;
            http(Method::POST, &url, None, &[], None).await
        }
    }))
    .await;
    let scaled = replies
        .iter()
        .filter(|r| {
            let v = r.json();
            r.status == 200 && v["outcome"] == "scaled" && v["dryRun"] == false
        })
        .count();
    assert_eq!(scaled, 60, "every real trigger scaled");
    edge.clear_faults().await;
    assert_eq!(edge.scale_of("1a5", "1s1").await, 2 + 60, "no step lost");
}

#[tokio::test]
async fn alertmanager_and_grafana_notifications() {
    let firing = fixture("alertmanager-firing.json");
    let resolved = fixture("alertmanager-resolved.json");
    // Firing three times acts once.
    let edge = start_edge(T).await;
    let token = edge
        .mint("1a5", DriverConfig::ScaleService(scale("1s1")))
        .await;
    let outcomes: Vec<String> =
        futures_util::future::join_all((0..3).map(|_| edge.fire(&token, Some(&firing))))
            .await
            .iter()
            .map(|r| r.json()["outcome"].as_str().expect("outcome").to_owned())
            .collect();
    let mut sorted = outcomes.clone();
    sorted.sort();
    assert_eq!(sorted, ["duplicate", "duplicate", "scaled"], "{outcomes:?}");
    assert_eq!(edge.scale_of("1a5", "1s1").await, 3);

    // Resolved follows onResolved.
    for (on_resolved, outcome, after) in [
        (OnResolved::Ignore, "resolved", 3),
        (OnResolved::Reverse, "scaled", 2),
        (OnResolved::Trigger, "scaled", 4),
    ] {
        let edge = start_edge(T).await;
        let token = edge
            .mint(
                "1a5",
                DriverConfig::ScaleService(ScaleServiceConfig {
                    on_resolved,
                    ..scale("1s1")
                }),
            )
            .await;
        assert_eq!(
            edge.fire(&token, Some(&firing)).await.json()["outcome"],
            "scaled"
        );
        let r = edge.fire(&token, Some(&resolved)).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["outcome"], outcome, "{on_resolved:?}");
        assert_eq!(edge.scale_of("1a5", "1s1").await, after, "{on_resolved:?}");
        // The resolved notification repeated is a duplicate once acted on.
        if outcome == "scaled" {
            assert_eq!(
                edge.fire(&token, Some(&resolved)).await.json()["outcome"],
                "duplicate"
            );
        }
    }

    // Grafana's payload has the same shape.
    let edge = start_edge(T).await;
    let token = edge
        .mint("1a5", DriverConfig::ScaleService(scale("1s1")))
        .await;
    let grafana = fixture("grafana-firing.json");
    assert_eq!(
        edge.fire(&token, Some(&grafana)).await.json()["outcome"],
        "scaled"
    );
    assert_eq!(
        edge.fire(&token, Some(&grafana)).await.json()["outcome"],
        "duplicate"
    );

    // A failed action counts toward nothing: the retry of the same notification acts.
    let edge = start_edge(T).await;
    let token = edge
        .mint("1a5", DriverConfig::ScaleService(scale("1s1")))
        .await;
    edge.fault(r#"{"pathPrefix": "/v2-beta/projects/1a5/services", "status": 503}"#)
        .await;
    assert_eq!(edge.fire(&token, Some(&firing)).await.status, 502);
    edge.clear_faults().await;
    assert_eq!(
        edge.fire(&token, Some(&firing)).await.json()["outcome"],
        "scaled"
    );
}

#[tokio::test]
async fn cooldown_skips_until_eligible() {
    let edge = start_edge(T).await;
    let token = edge
        .mint(
            "1a5",
            DriverConfig::ScaleService(ScaleServiceConfig {
                cooldown_seconds: 300,
                ..scale("1s1")
            }),
        )
        .await;
    assert_eq!(edge.fire(&token, None).await.json()["outcome"], "scaled");
    let r = edge.fire(&token, None).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["outcome"], "skipped");
    let eligible = v["nextEligibleAtTS"].as_u64().expect("eligible") / 1000;
    let now = hookgate::unix_now();
    assert!(
        (now + 298..=now + 300).contains(&eligible),
        "{eligible} vs {now}"
    );
    assert!(v["nextEligibleAt"].as_str().expect("iso").ends_with('Z'));
    assert_eq!(edge.scale_of("1a5", "1s1").await, 3);
    // A dry run during the cooldown reports the cooldown too, and changes nothing.
    let r = http(
        Method::POST,
        &format!("{}&dryRun=true", edge.trigger_url(&token)),
        None,
        &[],
        None,
    )
    .await;
    assert_eq!(r.json()["outcome"], "skipped");
}

#[tokio::test]
async fn a_burst_writes_without_reading_while_the_scale_is_trusted() {
    // A long trust, so that the second trigger surely falls inside it.
    let edge = Opts {
        scale_ttl: Duration::from_secs(30),
        ..Opts::default()
    }
    .start(start_sim(Duration::ZERO).await)
    .await;
    let token = edge
        .mint(
            "1a5",
            DriverConfig::ScaleService(ScaleServiceConfig {
                max: 100,
                ..scale("1s1")
            }),
        )
        .await;
    assert_eq!(edge.fire(&token, None).await.json()["to"], 3);
    edge.clear_calls().await;
    assert_eq!(edge.fire(&token, None).await.json()["to"], 4);
    let paths = edge.called_paths().await;
    assert_eq!(
        paths,
        ["/v2-beta/projects/1a5/services/1s1"],
        "a burst costs one write and no read"
    );
}

/// The scale is trusted for `--scale-ttl-ms` (100 ms by default, down from 1 s): a scale
/// set by hand in Rancher is honoured by the first trigger after that.
#[tokio::test]
async fn a_hand_change_is_seen_after_the_scale_ttl() {
    let edge = start_edge(T).await;
    let token = edge
        .mint(
            "1a5",
            DriverConfig::ScaleService(ScaleServiceConfig {
                max: 100,
                ..scale("1s1")
            }),
        )
        .await;
    assert_eq!(edge.fire(&token, None).await.json()["to"], 3);
    // Someone scales by hand in Rancher.
    let r = http(
        Method::PUT,
        &edge.sim.url("/v2-beta/projects/1a5/services/1s1"),
        Some(SERVICE),
        &[],
        Some(r#"{"scale": 40}"#),
    )
    .await;
    assert_eq!(r.status, 200);
    // Past the TTL, the step applies on top of the hand-set value (the old 1 s trust wrote
    // 4 from its cached 3 here).
    tokio::time::sleep(Duration::from_millis(150)).await;
    let r = edge.fire(&token, None).await.json();
    assert_eq!(
        (r["from"].as_i64(), r["to"].as_i64()),
        (Some(40), Some(41)),
        "{r}"
    );
    assert_eq!(edge.scale_of("1a5", "1s1").await, 41);
}

#[tokio::test]
async fn the_action_completes_when_the_sender_hangs_up() {
    let edge = start_edge(T).await;
    let token = edge
        .mint("1a5", DriverConfig::ScaleService(scale("1s1")))
        .await;
    // Warm the revocation cache, then make the service calls slow.
    assert_eq!(edge.fire(&token, Some("")).await.status, 200);
    edge.fault(r#"{"pathPrefix": "/v2-beta/projects/1a5/services", "latencyMs": 600}"#)
        .await;
    let url = edge.trigger_url(&token);
    let hung_up = tokio::time::timeout(
        Duration::from_millis(200),
        http(Method::POST, &url, None, &[], None),
    )
    .await;
    assert!(hung_up.is_err(), "the client gave up first");
    // The PUT still lands: 3 → 4.
    let landed = eventually(|| async { edge.scale_of("1a5", "1s1").await == 4 }).await;
    assert!(landed, "the action completed after the sender hung up");
}

#[tokio::test]
async fn other_routes() {
    let edge = start_edge(T).await;
    let r = get(&format!("{}/healthz", edge.base), SERVICE).await;
    assert_eq!(r.status, 200);
    let r = http(
        Method::GET,
        &format!("{}/readyz", edge.base),
        None,
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    edge.fault(r#"{"pathPrefix": "/v2-beta", "status": 503}"#)
        .await;
    let r = http(
        Method::GET,
        &format!("{}/readyz", edge.base),
        None,
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 502);
    edge.clear_faults().await;
    let token = edge
        .mint("1a5", DriverConfig::ScaleService(scale("1s1")))
        .await;
    edge.fire(&token, None).await;
    let m = http(
        Method::GET,
        &format!("{}/metrics", edge.base),
        None,
        &[],
        None,
    )
    .await;
    let text = String::from_utf8_lossy(&m.body).to_string();
    assert!(
        text.contains(r#"hookgate_triggers_total{driver="scaleService",outcome="scaled"}"#),
        "{text}"
    );
    assert!(
        text.contains("hookgate_cattle_call_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains(r#"hookgate_cache_lookups_total{cache="scale",result="miss"}"#),
        "{text}"
    );
    // The scaled trigger's write carried one step or more (group commit); the count of log
    // lines dropped is exposed, whatever it is.
    let batches = text
        .lines()
        .find_map(|l| l.strip_prefix("hookgate_scale_batch_steps_count "))
        .and_then(|n| n.trim().parse::<u64>().ok());
    assert!(batches.is_some_and(|n| n >= 1), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("hookgate_log_lines_dropped_total ")),
        "{text}"
    );
    assert!(!text.contains(&token) && !text.contains("service-secret"));
    // Without asking for OpenMetrics: the classic format, counters named as their samples.
    assert!(m.headers["content-type"]
        .to_str()
        .is_ok_and(|t| t.starts_with("text/plain; version=0.0.4")));
    assert!(text.contains("# TYPE hookgate_triggers_total counter") && !text.contains("# EOF"));
    // Prometheus asks for OpenMetrics, and gets it.
    let om = http(
        Method::GET,
        &format!("{}/metrics", edge.base),
        None,
        &[(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )],
        None,
    )
    .await;
    let om_text = String::from_utf8_lossy(&om.body).to_string();
    assert!(om.headers["content-type"]
        .to_str()
        .is_ok_and(|t| t.starts_with("application/openmetrics-text")));
    assert!(om_text.contains("# TYPE hookgate_triggers counter") && om_text.ends_with("# EOF\n"));
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_their_turn() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut limits = limits();
    limits.max_connections = 2;
    let edge = Opts {
        limits,
        ..Opts::default()
    }
    .start(start_sim(Duration::ZERO).await)
    .await;
    let addr = edge.base.trim_start_matches("http://").to_owned();
    // Two keep-alive connections take both slots; each is answered once, so both are
    // known to be served (and to hold their slot) before the third arrives.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).await.expect("answered");
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        held.push(s);
    }
    let mut third = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect (kernel backlog)");
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(400), third.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "the third connection was served past the limit"
    );
    drop(held.pop());
    let n = tokio::time::timeout(Duration::from_secs(3), third.read(&mut buf))
        .await
        .expect("served once a slot frees")
        .expect("read");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn bodies_are_read_only_for_valid_live_receivers() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let edge = start_edge(T).await;
    let (revoked, _) = edge.seal("1a5", DriverConfig::ScaleService(scale("1s1")));
    let foreign = hookgate::token::KeyRing::new([("gone", vec![9u8; 32])]).expect("ring");
    let (unsigned, _) = seal_with(&foreign, "1a5", DriverConfig::ScaleService(scale("1s1")));
    let addr = edge.base.trim_start_matches("http://").to_owned();
    // A huge body is declared and never sent: refused on the token alone, at once.
    for (token, want) in [
        (unsigned, "401"),
        (revoked, "403"),
        ("garbage".to_owned(), "400"),
    ] {
        let mut s = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        let head = format!("POST /v1-webhooks/endpoint?token={token} HTTP/1.1\r\nHost: x\r\nContent-Length: 900000\r\n\r\n");
        s.write_all(head.as_bytes()).await.expect("write");
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
            .await
            .expect("answered without the body")
            .expect("read");
        let status = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(status.starts_with(&format!("HTTP/1.1 {want}")), "{status}");
    }
}

// ---- group commit ----

/// Receivers on 1s1 (from 2) whose scale is trusted for 30 s, so that batches after the first
/// write without reading; and their trigger URLs.
async fn group_edge(configs: &[ScaleServiceConfig]) -> (Edge, Vec<String>) {
    let edge = Opts {
        scale_ttl: Duration::from_secs(30),
        ..Opts::default()
    }
    .start(start_sim(Duration::ZERO).await)
    .await;
    let mut urls = Vec::new();
    for c in configs {
        let token = edge
            .mint("1a5", DriverConfig::ScaleService(c.clone()))
            .await;
        urls.push(edge.trigger_url(&token));
    }
    // A dry run (it reads the scale, but does not cache it: only a service's writer does),
    // then slow Cattle down so that triggers pile up behind a write.
    let dry = format!("{}&dryRun=true", urls[0]);
    assert_eq!(http(Method::POST, &dry, None, &[], None).await.status, 200);
    edge.fault(r#"{"pathPrefix": "/v2-beta/projects/1a5/services", "latencyMs": 50}"#)
        .await;
    edge.clear_calls().await;
    (edge, urls)
}

async fn fire_all(urls: &[String], n: usize) -> Vec<Reply> {
    join_all((0..n).map(|i| {
        let url = urls[i % urls.len()].clone();
        async move { http(Method::POST, &url, None, &[], None).await }
    }))
    .await
}

fn moves(replies: &[Reply]) -> Vec<(i64, i64)> {
    replies
        .iter()
        .map(|r| {
            let v = r.json();
            (
                v["from"].as_i64().expect("from"),
                v["to"].as_i64().expect("to"),
            )
        })
        .collect()
}

#[tokio::test]
async fn concurrent_triggers_share_writes_and_each_gets_its_own_step() {
    let (edge, urls) = group_edge(&[ScaleServiceConfig {
        max: 150,
        ..scale("1s1")
    }])
    .await;
    let replies = fire_all(&urls, 200).await;
    assert!(replies.iter().all(|r| r.status == 200));
    // From 2, 200 steps up by 1 within max 150: 148 scaled, the rest at the bound, and the
    // answers form one sequential order: 2→3, 3→4, ..., 149→150, then 150→150.
    let mut m = moves(&replies);
    m.sort();
    let scaled: Vec<(i64, i64)> = m.iter().copied().filter(|(f, t)| f != t).collect();
    assert_eq!(scaled, (2..150).map(|s| (s, s + 1)).collect::<Vec<_>>());
    assert!(m.iter().filter(|(f, t)| f == t).all(|(f, _)| *f == 150));
    assert_eq!(edge.scale_of("1a5", "1s1").await, 150);
    let writes = edge
        .called_paths()
        .await
        .iter()
        .filter(|p| p.as_str() == "/v2-beta/projects/1a5/services/1s1")
        .count();
    assert!(writes < 20, "{writes} Cattle writes for 200 triggers");
}

/// Whether `moves` (each from → to) can be put in one order in which each starts where the
/// one before ended, going from `start` to `end`: an Eulerian trail of the multigraph whose
/// vertices are scales and whose edges are the moves (every edge used once; a move that
/// changed nothing is a loop at its scale).
fn one_sequential_order(start: i64, end: i64, moves: &[(i64, i64)]) -> bool {
    use std::collections::BTreeMap;
    let mut balance: BTreeMap<i64, i64> = BTreeMap::new();
    for &(from, to) in moves {
        *balance.entry(from).or_default() += 1;
        *balance.entry(to).or_default() -= 1;
    }
    // Out-degree minus in-degree: +1 at the start and -1 at the end when they differ, 0
    // everywhere else (the start and end included when they are the same).
    let want = |scale: i64| i64::from(scale == start) - i64::from(scale == end);
    let degrees_fit = balance.iter().all(|(&scale, &b)| b == want(scale))
        && [start, end]
            .iter()
            .all(|&s| balance.get(&s).copied().unwrap_or(0) == want(s));
    // Every move reachable from `start` along the moves (degrees fit, so that is enough).
    let mut seen = vec![start];
    let mut used = vec![false; moves.len()];
    while let Some(at) = seen.pop() {
        for (i, &(from, to)) in moves.iter().enumerate() {
            if !used[i] && from == at {
                used[i] = true;
                seen.push(to);
            }
        }
    }
    degrees_fit && used.iter().all(|&u| u)
}

#[test]
fn sequential_orders_are_told_apart_from_others() {
    assert!(one_sequential_order(2, 5, &[(3, 4), (2, 3), (4, 5)]));
    assert!(one_sequential_order(2, 2, &[(2, 5), (5, 2), (2, 2)]));
    assert!(one_sequential_order(7, 7, &[(7, 7), (7, 7)]));
    // Every step computed from the batch's first scale, and the sum written.
    assert!(!one_sequential_order(2, 8, &[(2, 5), (2, 5)]));
    // A step lost, one doubled, one from a scale never reached.
    assert!(!one_sequential_order(2, 5, &[(2, 3), (4, 5)]));
    assert!(!one_sequential_order(2, 4, &[(2, 3), (2, 3), (3, 4)]));
    assert!(!one_sequential_order(2, 3, &[(2, 3), (9, 9)]));
    // Nothing moved, yet the service is elsewhere.
    assert!(!one_sequential_order(2, 5, &[]));
    assert!(one_sequential_order(2, 2, &[]));
}

/// Writes of 1s1 the simulator was asked for since the last `clear_calls`.
async fn writes_of_1s1(edge: &Edge) -> usize {
    edge.called_writes()
        .await
        .iter()
        .filter(|w| w.contains("PUT") && w.ends_with("/services/1s1\""))
        .count()
}

#[tokio::test]
async fn mixed_steps_in_a_batch_equal_sequential_application() {
    use ScaleAction::{Down, Up};
    let (edge, urls) = group_edge(&[cfg("1s1", Up, 3, 1, 7), cfg("1s1", Down, 2, 1, 10)]).await;
    let replies = fire_all(&urls, 40).await;
    assert!(replies.iter().all(|r| r.status == 200));
    // Each answer is one step of its own receiver from its `from`, with its own clamp...
    let moves = moves(&replies);
    for (i, &(from, to)) in moves.iter().enumerate() {
        let want = if i % 2 == 0 {
            (from + 3).clamp(1, 7).max(from)
        } else {
            (from - 2).clamp(1, 10).min(from)
        };
        assert_eq!(to, want, "answer {i}: {from} → {to}");
    }
    // ...and the answers chain into one sequential order from 2 to where the service ended,
    // written in far fewer writes than steps.
    let end = edge.scale_of("1a5", "1s1").await;
    assert!(one_sequential_order(2, end, &moves), "{moves:?} → {end}");
    let writes = writes_of_1s1(&edge).await;
    assert!(writes < 20, "{writes} Cattle writes for 40 triggers");
}

#[tokio::test]
async fn a_failed_batch_fails_all_its_triggers_and_retries_apply_once() {
    let (edge, urls) = group_edge(&[ScaleServiceConfig {
        max: 100,
        ..scale("1s1")
    }])
    .await;
    edge.clear_faults().await;
    edge.fault(
        r#"{"pathPrefix": "/v2-beta/projects/1a5/services", "status": 503, "latencyMs": 50}"#,
    )
    .await;
    let failed = fire_all(&urls, 20).await;
    assert!(
        failed.iter().all(|r| r.status == 502),
        "every trigger of the batch fails"
    );
    edge.clear_faults().await;
    assert_eq!(edge.scale_of("1a5", "1s1").await, 2);
    // The senders retry: each step applies exactly once.
    let retried = fire_all(&urls, 20).await;
    assert!(retried.iter().all(|r| r.status == 200));
    assert_eq!(edge.scale_of("1a5", "1s1").await, 22);
}

/// Cattle refuses every scale write (and takes 50 ms to).
const WRITES_FAIL: &str = r#"{"pathPrefix": "/v2-beta/projects/1a5/services", "method": "PUT", "status": 503, "latencyMs": 50}"#;

/// An up-by-one receiver of 1s1 (max 100) whose first step was written (2 → 3), so that
/// the scale is trusted; Cattle's faults cleared. Returns its trigger URL.
async fn written_once() -> (Edge, String) {
    let (edge, urls) = group_edge(&[ScaleServiceConfig {
        max: 100,
        ..scale("1s1")
    }])
    .await;
    let r = http(Method::POST, &urls[0], None, &[], None).await;
    assert_eq!(answer(&r), (200, "scaled".into(), 2, 3));
    edge.clear_faults().await;
    (edge, urls[0].clone())
}

/// An Alertmanager notification of one firing alert.
fn firing(fingerprint: &str) -> String {
    format!(
        r#"{{"status":"firing","alerts":[{{"status":"firing","fingerprint":"{fingerprint}","startsAt":"2026-11-29T10:00:00Z"}}]}}"#
    )
}

async fn notify(url: &str, body: &str) -> Reply {
    let json = [("content-type", "application/json")];
    http(Method::POST, url, None, &json, Some(body)).await
}

/// The answers to 20 distinct alerts sent at once to an up-by-one receiver of 1s1 at 3:
/// each scaled, 1s1 at 23, in fewer than 10 Cattle writes (the calls cleared before).
async fn scaled_in_shared_writes(edge: &Edge, sent: Vec<Reply>) {
    assert!(
        sent.iter().all(|r| answer(r).1 == "scaled"),
        "{:?}",
        sent.iter().map(answer).collect::<Vec<_>>()
    );
    assert_eq!(edge.scale_of("1a5", "1s1").await, 23);
    let writes = writes_of_1s1(edge).await;
    assert!(writes < 10, "{writes} Cattle writes for 20 alerts");
}

/// A batch that fails on its write (its scale trusted, so no read before it), not on a
/// read: every trigger of it fails, the scale is as it was, and each retry applies once.
#[tokio::test]
async fn a_failed_write_fails_its_whole_batch_and_retries_apply_once() {
    let (edge, url) = written_once().await;
    let urls = [url];
    edge.fault(WRITES_FAIL).await;
    edge.clear_calls().await;
    let failed = fire_all(&urls, 20).await;
    assert!(
        failed.iter().all(|r| r.status == 502),
        "every trigger of a failed write fails"
    );
    let calls = http(Method::GET, &edge.sim.url("/_sim/calls"), None, &[], None)
        .await
        .json();
    let first = &calls[0];
    assert_eq!(
        (&first["method"], &first["path"]),
        (&"PUT".into(), &"/v2-beta/projects/1a5/services/1s1".into()),
        "the first batch wrote without reading: {calls}"
    );
    edge.clear_faults().await;
    assert_eq!(edge.scale_of("1a5", "1s1").await, 3);
    let retried = fire_all(&urls, 20).await;
    assert!(retried.iter().all(|r| r.status == 200));
    let mut m = moves(&retried);
    m.sort();
    assert_eq!(m, (3..23).map(|s| (s, s + 1)).collect::<Vec<_>>());
    assert_eq!(edge.scale_of("1a5", "1s1").await, 23);
}

/// Distinct alerts to one receiver share writes; a failed write leaves no trace in the
/// receiver's memory (the alerts' retries act), and a copy of an acted alert does not.
#[tokio::test]
async fn distinct_alerts_share_writes_and_a_failed_write_leaves_them_unremembered() {
    let (edge, url) = written_once().await;
    let send_all = |n: usize| {
        join_all((0..n).map(|i| {
            let (url, body) = (url.clone(), firing(&format!("a{i}")));
            async move { notify(&url, &body).await }
        }))
    };
    edge.fault(WRITES_FAIL).await;
    assert!(send_all(20).await.iter().all(|r| r.status == 502));
    edge.clear_faults().await;
    edge.fault(r#"{"pathPrefix": "/v2-beta/projects/1a5/services", "latencyMs": 50}"#)
        .await;
    edge.clear_calls().await;
    // The retries act, each once, in shared writes.
    scaled_in_shared_writes(&edge, send_all(20).await).await;
    // Copies of them are duplicates now.
    let copies = send_all(20).await;
    assert!(copies.iter().all(|r| answer(r).1 == "duplicate"));
    assert_eq!(edge.scale_of("1a5", "1s1").await, 23);
}

/// A receiver that reverses resolved alerts claims its firing alerts as the others do, so
/// that distinct alerts share writes; a resolution waits for the step its alert has in
/// flight, then undoes exactly that step.
#[tokio::test]
async fn a_reversing_receiver_shares_writes_and_its_resolutions_wait_for_their_steps() {
    let (edge, urls) = group_edge(&[ScaleServiceConfig {
        max: 100,
        on_resolved: OnResolved::Reverse,
        ..scale("1s1")
    }])
    .await;
    let url = urls[0].clone();
    let first = http(Method::POST, &url, None, &[], None).await;
    assert_eq!(answer(&first), (200, "scaled".into(), 2, 3));
    edge.clear_faults().await;
    edge.fault(
        r#"{"pathPrefix": "/v2-beta/projects/1a5/services", "method": "PUT", "latencyMs": 50}"#,
    )
    .await;
    edge.clear_calls().await;
    let sent = join_all((0..20).map(|i| {
        let (url, body) = (url.clone(), firing(&format!("r{i}")));
        async move { notify(&url, &body).await }
    }))
    .await;
    scaled_in_shared_writes(&edge, sent).await;

    // A slow step for one more alert, and its resolution sent while the step is in flight.
    edge.clear_faults().await;
    edge.fault(
        r#"{"pathPrefix": "/v2-beta/projects/1a5/services", "method": "PUT", "latencyMs": 1500}"#,
    )
    .await;
    edge.clear_calls().await;
    let step = spawn_trigger(&url, Some(firing("late")));
    assert!(
        eventually(|| put_reached(&edge)).await,
        "the step's write reached Cattle"
    );
    let resolved = r#"{"status":"resolved","alerts":[{"status":"resolved","fingerprint":"late","startsAt":"2026-11-29T10:00:00Z"}]}"#;
    let undo = spawn_trigger(&url, Some(resolved.to_owned()));
    assert_eq!(
        answer(&answered(step).await),
        (200, "scaled".into(), 23, 24)
    );
    assert_eq!(
        answer(&answered(undo).await),
        (200, "scaled".into(), 24, 23)
    );
    assert_eq!(edge.scale_of("1a5", "1s1").await, 23);
}

/// A dry run with an alert claims nothing: the real notification sent while the dry run
/// waits on Cattle acts (it is not taken for a duplicate of the dry run).
#[tokio::test]
async fn a_dry_run_of_an_alert_does_not_swallow_the_alert() {
    let (edge, urls) = group_edge(&[ScaleServiceConfig {
        max: 100,
        ..scale("1s1")
    }])
    .await;
    let body = firing("d1");
    // The dry run reads the scale (not trusted yet: nothing was written) slowly.
    edge.clear_faults().await;
    edge.fault(
        r#"{"pathPrefix": "/v2-beta/projects/1a5/services", "method": "GET", "latencyMs": 400}"#,
    )
    .await;
    let dry = {
        let (dry_url, body) = (format!("{}&dryRun=true", urls[0]), body.clone());
        tokio::spawn(async move { notify(&dry_url, &body).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let real = notify(&urls[0], &body).await;
    assert_eq!(answer(&real), (200, "scaled".into(), 2, 3));
    let dry = dry.await.expect("dry run");
    assert_eq!(dry.status, 200);
    assert_eq!(dry.json()["dryRun"], true);
    // And the alert is remembered now: a copy is a duplicate.
    assert_eq!(answer(&notify(&urls[0], &body).await).1, "duplicate");
}

/// A receiver with a cooldown claims it for the step in flight instead of holding its lock
/// through the write. A trigger whose answer hangs on that step — one that would act or be
/// skipped, a copy of its alert — waits for its result: after a failed step one of them acts
/// (a failure leaves no cooldown, and its alert is not a duplicate), after one that scaled
/// they are `skipped` and `duplicate`. An answer that hangs on nothing in flight (a resolved
/// notification, `onResolved: ignore`) is given while the step is still on its way.
#[tokio::test]
async fn a_step_in_flight_holds_the_cooldown_and_its_alerts_until_its_result() {
    let cooling = ScaleServiceConfig {
        cooldown_seconds: 300,
        max: 100,
        ..scale("1s1")
    };
    let (edge, urls) = group_edge(&[cooling.clone(), cooling]).await;
    let wrote = || put_reached(&edge);
    let resolved = r#"{"status":"resolved","alerts":[{"status":"resolved","fingerprint":"w0","startsAt":"2026-11-29T10:00:00Z"}]}"#;

    // The first receiver's step fails, slowly; meanwhile a copy of its alert and another
    // alert arrive and wait, and a resolution is answered at once.
    edge.clear_faults().await;
    edge.fault(r#"{"pathPrefix": "/v2-beta/projects/1a5/services/1s1", "method": "PUT", "status": 500, "latencyMs": 3000}"#)
        .await;
    edge.clear_calls().await;
    let failing = spawn_trigger(&urls[0], Some(firing("w1")));
    assert!(
        eventually(wrote).await,
        "the failing step's write reached Cattle"
    );
    let copy = spawn_trigger(&urls[0], Some(firing("w1")));
    let other = spawn_trigger(&urls[0], Some(firing("w2")));
    let ignored = notify(&urls[0], resolved).await;
    assert_eq!(answer(&ignored).1, "resolved");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !failing.is_finished(),
        "the resolution was answered, and the others arrived, while the step was in flight"
    );
    edge.clear_faults().await;
    assert_eq!(answered(failing).await.status, 502);
    let mut outcomes = [
        answer(&answered(copy).await),
        answer(&answered(other).await),
    ];
    outcomes.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        outcomes,
        [
            (200, "scaled".into(), 2, 3),
            (200, "skipped".into(), -1, -1)
        ],
        "after the failure one of them acts, and starts the cooldown"
    );

    // The second receiver's step succeeds, slowly; a copy of its alert and a plain trigger
    // wait for it.
    edge.fault(r#"{"pathPrefix": "/v2-beta/projects/1a5/services/1s1", "method": "PUT", "latencyMs": 3000}"#)
        .await;
    edge.clear_calls().await;
    let stepping = spawn_trigger(&urls[1], Some(firing("s1")));
    assert!(eventually(wrote).await, "the step's write reached Cattle");
    let copy = spawn_trigger(&urls[1], Some(firing("s1")));
    let plain = spawn_trigger(&urls[1], None);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !stepping.is_finished(),
        "they arrived while the step was in flight"
    );
    assert_eq!(
        answer(&answered(stepping).await),
        (200, "scaled".into(), 3, 4)
    );
    assert_eq!(answer(&answered(copy).await).1, "duplicate");
    let skipped = answered(plain).await.json();
    assert_eq!(skipped["outcome"], "skipped");
    let eligible = skipped["nextEligibleAtTS"].as_u64().expect("eligible") / 1000;
    let now = hookgate::unix_now();
    assert!(
        (now + 290..=now + 300).contains(&eligible),
        "{eligible} vs {now}"
    );
    assert_eq!(edge.scale_of("1a5", "1s1").await, 4);
}

/// A receiver without a cooldown: a copy of an alert whose step is in flight waits for its
/// result, and acts when that step failed — Alertmanager resends a notification whose
/// request it gave up on, and a copy told `duplicate` would never be sent again.
#[tokio::test]
async fn a_copy_of_an_alert_in_flight_acts_when_its_step_fails() {
    let (edge, urls) = group_edge(&[ScaleServiceConfig {
        max: 100,
        ..scale("1s1")
    }])
    .await;
    edge.clear_faults().await;
    edge.fault(r#"{"pathPrefix": "/v2-beta/projects/1a5/services/1s1", "method": "PUT", "status": 500, "latencyMs": 3000}"#)
        .await;
    edge.clear_calls().await;
    let send = || spawn_trigger(&urls[0], Some(firing("c1")));
    let failing = send();
    let wrote = eventually(|| put_reached(&edge)).await;
    assert!(wrote, "the failing step's write reached Cattle");
    let copy = send();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !failing.is_finished(),
        "the copy came while the step was in flight"
    );
    edge.clear_faults().await;
    assert_eq!(answered(failing).await.status, 502);
    assert_eq!(answer(&answered(copy).await), (200, "scaled".into(), 2, 3));
    assert_eq!(
        answer(&notify(&urls[0], &firing("c1")).await).1,
        "duplicate"
    );
}

/// A trigger (a notification when `body` is given) sent from a task of its own.
fn spawn_trigger(url: &str, body: Option<String>) -> tokio::task::JoinHandle<Reply> {
    let url = url.to_owned();
    tokio::spawn(async move {
        match body {
            Some(body) => notify(&url, &body).await,
            None => http(Method::POST, &url, None, &[], None).await,
        }
    })
}

/// A spawned trigger's answer, within 30 s: a trigger that waits for good fails the test
/// instead of hanging it.
async fn answered(trigger: tokio::task::JoinHandle<Reply>) -> Reply {
    tokio::time::timeout(Duration::from_secs(30), trigger)
        .await
        .expect("answered")
        .expect("trigger")
}

/// Whether a `PUT` reached the simulator since its call log was cleared.
async fn put_reached(edge: &Edge) -> bool {
    let writes = edge.called_writes().await;
    writes.iter().any(|w| w.contains("PUT"))
}

/// A trigger's answer as (status, outcome, from, to).
fn answer(r: &Reply) -> (u16, String, i64, i64) {
    let v = r.json();
    let outcome = v["outcome"].as_str().unwrap_or_default().to_owned();
    let n = |k: &str| v[k].as_i64().unwrap_or(-1);
    (r.status.as_u16(), outcome, n("from"), n("to"))
}

/// 1s1 at 2 and trusted, a receiver stepping it by one in `direction` and an `up` receiver at
/// its maximum 2; Cattle's answers slowed to `latency_ms`, and the first receiver's trigger
/// fired until its write reached Cattle. Returns the URL of the receiver at its bound and the
/// trigger in flight.
async fn at_bound_beside(
    direction: ScaleAction,
    latency_ms: u64,
) -> (Edge, String, tokio::task::JoinHandle<Reply>) {
    use ScaleAction::Up;
    let (edge, urls) =
        group_edge(&[cfg("1s1", direction, 1, 1, 100), cfg("1s1", Up, 1, 1, 2)]).await;
    // The receiver at its bound, once: its batch reads the scale, and trusts it from then.
    let r = http(Method::POST, &urls[1], None, &[], None).await;
    assert_eq!(answer(&r), (200, "unchanged".into(), 2, 2));
    edge.clear_faults().await;
    let slow =
        format!(r#"{{"pathPrefix": "/v2-beta/projects/1a5/services", "latencyMs": {latency_ms}}}"#);
    edge.fault(&slow).await;
    let url = urls[0].clone();
    let pending = tokio::spawn(async move { http(Method::POST, &url, None, &[], None).await });
    let asked = eventually(|| async {
        let writes = edge.called_writes().await;
        writes
            .iter()
            .any(|w| w.contains("PUT") && w.contains("/services/1s1"))
    })
    .await;
    assert!(asked, "the first trigger's write reached Cattle");
    assert!(
        !pending.is_finished(),
        "the first trigger's write is in flight"
    );
    (edge, urls[1].clone(), pending)
}

/// While a batch of `up` steps is in flight, a trigger at its maximum is answered at once,
/// from the trusted scale: steps of its own direction cannot bring the scale back within
/// its reach, so it need not wait for them. So is a notification (its alerts claimed under
/// the receiver's lock).
#[tokio::test]
async fn a_trigger_at_its_bound_is_answered_beside_a_batch_in_flight() {
    let (edge, at_bound, scaling) = at_bound_beside(ScaleAction::Up, 3000).await;
    let firing = fixture("alertmanager-firing.json");
    for body in [None, Some(firing.as_str())] {
        let r = http(Method::POST, &at_bound, None, &[], body).await;
        assert!(
            !scaling.is_finished(),
            "answered before the write in flight returned"
        );
        assert_eq!(answer(&r), (200, "unchanged".into(), 2, 2), "{body:?}");
    }
    let r = scaling.await.expect("trigger task");
    assert_eq!(answer(&r), (200, "scaled".into(), 2, 3));
    edge.clear_faults().await;
    assert_eq!(edge.scale_of("1a5", "1s1").await, 3);
}

/// But a trigger at its maximum that arrives while a `down` is in flight joins the batch
/// after it and is applied in arrival order: the `down` brings the scale back within its
/// reach, so it scales back up (answering at once would have left the service one lower).
#[tokio::test]
async fn a_trigger_at_its_bound_waits_for_a_step_the_other_way() {
    let (edge, at_bound, down) = at_bound_beside(ScaleAction::Down, 2000).await;
    let r = http(Method::POST, &at_bound, None, &[], None).await;
    assert!(
        down.is_finished(),
        "the step at its bound was applied after the down"
    );
    assert_eq!(answer(&r), (200, "scaled".into(), 1, 2));
    let r = down.await.expect("trigger task");
    assert_eq!(answer(&r), (200, "scaled".into(), 2, 1));
    edge.clear_faults().await;
    assert_eq!(edge.scale_of("1a5", "1s1").await, 2);
}
