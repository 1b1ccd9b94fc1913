//! Soak: a bounded run of mixed traffic against a `hookgate serve` process — valid triggers,
//! dry runs, forged, malformed and revoked tokens, Alertmanager bodies (new alerts and
//! repeats), key URLs, API calls — while Cattle faults switch on and off. Reports resident
//! memory and open descriptors after warm-up and at the end; more than 10 % growth, a lost
//! update, an alert acted on twice or a 5xx where none may be fails it.
//! `HOOKGATE_SOAK_SECS` sets the duration (default 600; `tests/e2e/run` uses 60).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use hookgate::drivers::DriverConfig;
use http::Method;
use serde_json::{json, Value};

use crate::support::*;

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

async fn scale_of(sim: &SimHandle, service: &str) -> i64 {
    get(
        &sim.url(&format!("/v2-beta/projects/1a5/services/{service}")),
        SERVICE,
    )
    .await
    .json()["scale"]
        .as_i64()
        .expect("scale")
}

fn alert_body(name: &str) -> String {
    json!({"version": "4", "status": "firing", "receiver": "soak", "groupKey": name,
        "alerts": [{"status": "firing", "labels": {"alertname": name, "service": "lb"},
                    "startsAt": "2026-11-29T10:00:00Z", "fingerprint": name}]})
    .to_string()
}

#[derive(Default)]
struct Tally {
    by_kind: Mutex<HashMap<String, u64>>,
    scaled_web: AtomicU64,
    scaled_lb: AtomicU64,
    /// Alert name → times it acted.
    acted: Mutex<HashMap<String, u32>>,
    violations: Mutex<Vec<String>>,
}

impl Tally {
    fn count(&self, kind: &str, status: u16) {
        *self
            .by_kind
            .lock()
            .expect("tally")
            .entry(format!("{kind} {status}"))
            .or_default() += 1;
    }
    fn violation(&self, what: String) {
        self.violations.lock().expect("tally").push(what);
    }
}

#[tokio::test]
async fn mixed_traffic_with_cattle_faults_holds_memory_and_loses_nothing() {
    let secs: u64 = std::env::var("HOOKGATE_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let sim = start_sim(Duration::ZERO).await;
    let serve = spawn_serve(&sim, None, &["--revocation-ttl-secs", "2"]);
    wait_listening(serve.port).await;
    let pid = serve.child.id();
    let keys = test_keys();
    let mut up = scale("1s1");
    up.max = 1_000_000;
    let web: Vec<String> = join_all(
        (0..4).map(|_| mint_on(&sim, &keys, "1a5", DriverConfig::ScaleService(up.clone()))),
    )
    .await;
    let mut lb_cfg = scale("1s2");
    lb_cfg.max = 1_000_000;
    let lb = mint_on(&sim, &keys, "1a5", DriverConfig::ScaleService(lb_cfg)).await;
    let (revoked, _) = seal_with(&keys, "1a5", DriverConfig::ScaleService(scale("1s1")));
    let forged = {
        let other = hookgate::token::KeyRing::new([("t1", vec![9u8; 32])]).expect("ring");
        seal_with(&other, "1a5", DriverConfig::ScaleService(scale("1s1"))).0
    };
    let (web0, lb0) = (scale_of(&sim, "1s1").await, scale_of(&sim, "1s2").await);

    let base = serve.base.clone();
    let tally = Arc::new(Tally::default());
    let alerts = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let warm = started + Duration::from_secs((secs / 6).max(10));

    // Cattle faults switching on and off: a share of 503s, then latency, then none.
    let faults = {
        let sim_base = sim.base.clone();
        tokio::spawn(async move {
            let kinds = [
                json!({"pathPrefix": "/v2-beta/projects/1a5/services", "status": 503, "rate": 0.3}),
                json!({"pathPrefix": "/v2-beta", "latencyMs": 20}),
            ];
            let mut i = 0;
            while Instant::now() < deadline {
                let url = format!("{sim_base}/_sim/faults");
                http(Method::DELETE, &url, None, &[], None).await;
                if i % 3 < 2 {
                    let f = kinds[i % 3].to_string();
                    http(Method::POST, &url, None, &[], Some(&f)).await;
                }
                i += 1;
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            http(
                Method::DELETE,
                &format!("{sim_base}/_sim/faults"),
                None,
                &[],
                None,
            )
            .await;
        })
    };

    let mut samples = Vec::new();
    let workers = (0..8u64).map(|w| {
        let (base, tally, alerts) = (base.clone(), tally.clone(), alerts.clone());
        let (web, lb, revoked, forged) = (web.clone(), lb.clone(), revoked.clone(), forged.clone());
        async move {
            let mut n = w;
            while Instant::now() < deadline {
                n += 8;
                let trigger = |t: &str, q: &str| format!("{base}/v1-webhooks/endpoint?token={t}{q}");
                match n % 10 {
                    0..=2 => {
                        let r = http(Method::POST, &trigger(&web[(n % 4) as usize], ""), None, &[], None).await;
                        tally.count("valid", r.status.as_u16());
                        if r.status == 200 && r.json()["outcome"] == "scaled" {
                            tally.scaled_web.fetch_add(1, Ordering::Relaxed);
                        } else if r.status.is_client_error() {
                            tally.violation(format!("valid trigger answered {}", r.status));
                        }
                    }
                    3 => {
                        let r = http(Method::POST, &trigger(&web[0], "&dryRun=true"), None, &[], None).await;
                        tally.count("dry run", r.status.as_u16());
                    }
                    4 | 5 => {
                        // Each alert is sent three times in a row (as a sender's repeats and
                        // retries come): it acts at most once. A receiver remembers its last
                        // 1,024 alerts (docs/security.md), so repeats are kept recent.
                        let k = alerts.fetch_add(1, Ordering::Relaxed);
                        let name = format!("Soak{}", k / 3);
                        let r = http(Method::POST, &trigger(&lb, ""), None, &[], Some(&alert_body(&name))).await;
                        tally.count("alert", r.status.as_u16());
                        if r.status == 200 && r.json()["outcome"] == "scaled" {
                            tally.scaled_lb.fetch_add(1, Ordering::Relaxed);
                            let mut acted = tally.acted.lock().expect("tally");
                            let times = acted.entry(name.clone()).or_default();
                            *times += 1;
                            if *times > 1 {
                                drop(acted);
                                tally.violation(format!("alert {name} acted twice"));
                            }
                        }
                    }
                    6 => {
                        for (kind, t, want) in [("forged", &forged, 401), ("malformed", &"hg1.x".to_owned(), 400)] {
                            let r = http(Method::POST, &trigger(t, ""), None, &[], None).await;
                            tally.count(kind, r.status.as_u16());
                            if r.status != want {
                                tally.violation(format!("{kind} answered {}", r.status));
                            }
                        }
                    }
                    7 => {
                        let r = http(Method::POST, &trigger(&revoked, ""), None, &[], None).await;
                        tally.count("revoked", r.status.as_u16());
                        if r.status.is_success() {
                            tally.violation("a revoked receiver acted".into());
                        }
                        let u = format!("{base}/v1-webhooks/endpoint?key=Q8fAbCdEfGhIjKlMnOpQrStUvWxYz0123456789a&projectId=1a5");
                        let r = http(Method::POST, &u, None, &[], None).await;
                        tally.count("unknown key", r.status.as_u16());
                    }
                    _ => {
                        let u = format!("{base}/v1-webhooks/receivers?projectId=1a5");
                        let r = http(Method::GET, &u, Some(ALICE), &[], None).await;
                        tally.count("api list", r.status.as_u16());
                        if w == 0 {
                            let body = json!({"name": format!("soak-{n}"), "driver": "scaleService",
                                "scaleServiceConfig": {"serviceId": "1s1", "action": "up", "amount": 1, "min": 1, "max": 10}});
                            let r = http(Method::POST, &u, Some(ALICE), &[], Some(&body.to_string())).await;
                            tally.count("api create", r.status.as_u16());
                            if r.status == 200 {
                                let id = r.json()["id"].as_str().unwrap_or("").to_owned();
                                let d = format!("{base}/v1-webhooks/receivers/{id}?projectId=1a5");
                                let r = http(Method::DELETE, &d, Some(ALICE), &[], None).await;
                                tally.count("api delete", r.status.as_u16());
                            }
                        }
                    }
                }
            }
        }
    });
    let sampler = async {
        tokio::time::sleep_until(warm.into()).await;
        samples.push((serve.rss(), fds(pid)));
        eprintln!(
            "soak: after warm-up RSS {} KiB, {} open descriptors",
            samples[0].0 / 1024,
            samples[0].1
        );
    };
    tokio::join!(join_all(workers), sampler);
    faults.await.expect("faults task");
    // Let in-flight work and idle connections settle before the last sample.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss_end, fds_end) = (serve.rss(), fds(pid));
    let (rss_warm, fds_warm) = samples[0];
    eprintln!(
        "soak: at the end RSS {} KiB, {} open descriptors",
        rss_end / 1024,
        fds_end
    );
    let by_kind: Value =
        serde_json::to_value(&*tally.by_kind.lock().expect("tally")).expect("json");
    eprintln!("soak: {secs} s, requests by kind and status: {by_kind}");

    let violations = tally.violations.lock().expect("tally").clone();
    assert!(violations.is_empty(), "{violations:?}");
    let (web1, lb1) = (scale_of(&sim, "1s1").await, scale_of(&sim, "1s2").await);
    assert_eq!(
        web1 - web0,
        tally.scaled_web.load(Ordering::Relaxed) as i64,
        "no lost update on web"
    );
    assert_eq!(
        lb1 - lb0,
        tally.scaled_lb.load(Ordering::Relaxed) as i64,
        "no lost update on lb"
    );
    assert!(
        rss_end <= rss_warm + rss_warm / 10,
        "RSS grew from {} to {} KiB",
        rss_warm / 1024,
        rss_end / 1024
    );
    assert!(
        fds_end <= fds_warm + fds_warm / 10 + 2,
        "open descriptors grew from {fds_warm} to {fds_end}"
    );
}
