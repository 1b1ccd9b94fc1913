//! Three hookgate replicas behind the real HAProxy (Debian's `haproxy`), configured by
//! `deploy/haproxy/haproxy.cfg` as shipped (docs/operating.md, "More than one replica"):
//! concurrent triggers for one service, split over two receivers, lose no update; the same
//! Alertmanager notification sent five times acts once; stopping a replica moves only the
//! targets it owned.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::future::join_all;
use http::Method;
use serde_json::{json, Value};

use crate::support::*;

/// Services added to the default world, one target each.
const TARGETS: usize = 12;

struct Haproxy(Child);

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The default world plus `TARGETS` plain services (`1s101`...).
fn world() -> String {
    let mut w: Value = serde_json::from_str(hookgate::sim::DEFAULT_WORLD).expect("world");
    let resources = w["resources"].as_array_mut().expect("resources");
    for i in 0..TARGETS {
        resources.push(json!({"type": "service", "id": format!("1s{}", 101 + i),
            "accountId": "1a5", "stackId": "1st1", "name": format!("worker{i}"), "kind": "service",
            "scale": 1, "launchConfig": {"imageUuid": "docker:acme/worker:1.0", "labels": {}}}));
    }
    w.to_string()
}

async fn receiver(base: &str, name: &str, service: &str) -> String {
    let config = json!({"serviceId": service, "action": "up", "amount": 1, "min": 1, "max": 1000});
    create_receiver(base, name, "scaleService", config).await
}

/// `hookgate_triggers_total{outcome}` of one replica, summed over drivers.
async fn count(replica: &Serve, outcome: &str) -> f64 {
    metric_sum(
        &scrape(&replica.base).await,
        "hookgate_triggers_total",
        &format!("outcome=\"{outcome}\""),
    )
}

/// `url` (a trigger URL on some replica) re-rooted on the balancer.
fn via(lb: &str, url: &str) -> String {
    let at = url.find("/v1-webhooks/").expect("path");
    format!("{lb}{}", &url[at..])
}

/// Which replica serves each URL: one dry run each, through the balancer, watching each
/// live replica's dry-run counter.
async fn owners(lb: &str, urls: &[String], replicas: &[Option<Serve>]) -> Vec<usize> {
    let mut out = Vec::new();
    for url in urls {
        let mut before = Vec::new();
        for r in replicas {
            before.push(match r {
                Some(r) => count(r, "dry_run").await,
                None => 0.0,
            });
        }
        let r = http(
            Method::POST,
            &format!("{}&dryRun=true", via(lb, url)),
            None,
            &[],
            None,
        )
        .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let mut owner = None;
        for (i, r) in replicas.iter().enumerate() {
            if let Some(r) = r {
                if count(r, "dry_run").await > before[i] {
                    owner = Some(i);
                }
            }
        }
        out.push(owner.expect("one replica served the dry run"));
    }
    out
}

#[tokio::test]
async fn replicas_behind_haproxy_keep_each_target_on_one_replica() {
    let sim = start_sim_with(hookgate::sim::Sim::new(&world(), Duration::ZERO).expect("sim")).await;
    let mut replicas: Vec<Option<Serve>> =
        (0..3).map(|_| Some(spawn_serve(&sim, None, &[]))).collect();
    for r in replicas.iter().flatten() {
        wait_listening(r.port).await;
    }
    let addr = |i: usize| format!("127.0.0.1:{}", replicas[i].as_ref().expect("replica").port);
    let lb_port = free_port();
    let config =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/haproxy/haproxy.cfg");
    let haproxy = Haproxy(
        Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&config)
            .env("HOOKGATE_BIND", format!("127.0.0.1:{lb_port}"))
            .env("HOOKGATE_1", addr(0))
            .env("HOOKGATE_2", addr(1))
            .env("HOOKGATE_3", addr(2))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy (Debian haproxy)"),
    );
    wait_listening(lb_port).await;
    let lb = format!("http://127.0.0.1:{lb_port}");
    let first = replicas[0].as_ref().expect("replica").base.clone();

    // 200 concurrent triggers split over two receivers of one service: one replica takes
    // them all, and group commit loses none.
    let a = receiver(&first, "web-a", "1s1").await;
    let b = receiver(&first, "web-b", "1s1").await;
    let scaled_before: Vec<f64> = {
        let mut v = Vec::new();
        for r in replicas.iter().flatten() {
            v.push(count(r, "scaled").await);
        }
        v
    };
    let answers = join_all((0..200).map(|i| {
        let url = via(&lb, if i % 2 == 0 { &a } else { &b });
        async move { http(Method::POST, &url, None, &[], None).await.status }
    }))
    .await;
    assert!(answers.iter().all(|s| *s == 200), "{answers:?}");
    let scale = get(&sim.url("/v2-beta/projects/1a5/services/1s1"), SERVICE)
        .await
        .json()["scale"]
        .as_i64();
    assert_eq!(scale, Some(202), "2 + 200 steps, none lost");
    let mut served = Vec::new();
    for (i, r) in replicas.iter().flatten().enumerate() {
        served.push(count(r, "scaled").await - scaled_before[i]);
    }
    assert_eq!(
        served.iter().filter(|n| **n > 0.0).count(),
        1,
        "one replica served the service: {served:?}"
    );

    // The same Alertmanager notification, five times (a sender's retries, or HA pairs):
    // it acts once.
    let alerted = receiver(&first, "lb-alerts", "1s2").await;
    let note = fixture("alertmanager-firing.json");
    let mut outcomes = Vec::new();
    for _ in 0..5 {
        let r = http(Method::POST, &via(&lb, &alerted), None, &[], Some(&note)).await;
        assert_eq!(r.status, 200);
        outcomes.push(r.json()["outcome"].as_str().unwrap_or("").to_owned());
    }
    assert_eq!(
        outcomes,
        ["scaled", "duplicate", "duplicate", "duplicate", "duplicate"]
    );
    let lb_scale = get(&sim.url("/v2-beta/projects/1a5/services/1s2"), SERVICE)
        .await
        .json()["scale"]
        .as_i64();
    assert_eq!(lb_scale, Some(2));

    // Twelve targets spread over the replicas; stopping one moves only the ones it owned.
    let mut urls = Vec::new();
    for i in 0..TARGETS {
        urls.push(receiver(&first, &format!("t{i}"), &format!("1s{}", 101 + i)).await);
    }
    let before = owners(&lb, &urls, &replicas).await;
    let mut load: BTreeMap<usize, usize> = BTreeMap::new();
    for o in &before {
        *load.entry(*o).or_default() += 1;
    }
    assert!(load.len() >= 2, "targets spread over replicas: {before:?}");
    let (&gone, _) = load.iter().max_by_key(|(_, n)| **n).expect("an owner");
    replicas[gone] = None; // killed on drop
                           // HAProxy notices within `fall 2` checks a second apart; until then a refused
                           // connection is redispatched.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = owners(&lb, &urls, &replicas).await;
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        if *b == gone {
            assert_ne!(*a, gone, "target {i} moved off the stopped replica");
        } else {
            assert_eq!(
                a, b,
                "target {i} stayed where it was: {before:?} → {after:?}"
            );
        }
    }
    drop(haproxy);
}
