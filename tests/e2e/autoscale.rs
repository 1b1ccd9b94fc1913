//! The whole autoscaling loop with real parts except Cattle (docs/operating.md, "Autoscale
//! with Prometheus"): the real Prometheus scrapes the simulator's per-service scale and a
//! load a test sets, evaluates `deploy/prometheus/demo-autoscale-rules.yml` (load per
//! container, the scale a label) with `deploy/prometheus/demo-prometheus.yml`, the real
//! Alertmanager routes scale-up and scale-down alerts to two hookgate receivers
//! (`onResolved: ignore`), and the service's scale follows the load up and back down within
//! the receivers' bounds.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::alertmanager::{wait_until, Alertmanager, TempDir};
use crate::support::*;

struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn receiver(serve: &Serve, name: &str, action: &str, min: u32) -> String {
    let config = json!({"serviceId": "1s1", "action": action, "amount": 1, "min": min,
                        "max": 10, "onResolved": "ignore"});
    create_receiver(&serve.base, name, "scaleService", config).await
}

async fn set_load(sim: &SimHandle, load: f64) {
    sim.set("services", "1s1", json!({"load": load})).await;
}

async fn scale(sim: &SimHandle) -> i64 {
    get(&sim.url("/v2-beta/projects/1a5/services/1s1"), SERVICE)
        .await
        .json()["scale"]
        .as_i64()
        .expect("scale")
}

#[tokio::test]
async fn the_scale_follows_the_load_up_and_back_down() {
    let sim = start_sim(Duration::ZERO).await;
    let serve = spawn_serve(&sim, None, &[]);
    wait_listening(serve.port).await;
    let up = receiver(&serve, "web-up", "up", 1).await;
    let down = receiver(&serve, "web-down", "down", 2).await;

    let dir = TempDir::new("autoscale");
    let am_config = format!(
        r#"route:
  receiver: default
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['action="scale-up"']
      receiver: hookgate-scale-up
    - matchers: ['action="scale-down"']
      receiver: hookgate-scale-down
receivers:
  - name: default
  - name: hookgate-scale-up
    webhook_configs: [{{url: '{up}', send_resolved: true}}]
  - name: hookgate-scale-down
    webhook_configs: [{{url: '{down}', send_resolved: true}}]
"#
    );
    let am = Alertmanager::start(&am_config, TempDir::new("autoscale-am")).await;

    // Prometheus as deploy/ configures it for the demo, pointed at this run's simulator and
    // Alertmanager, scraping and evaluating every second.
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus");
    let shipped = std::fs::read_to_string(deploy.join("demo-prometheus.yml")).expect("demo config");
    let am_addr = am.base.trim_start_matches("http://").to_owned();
    let config = shipped
        .replace("127.0.0.1:8080", &sim.addr.to_string())
        .replace("127.0.0.1:9093", &am_addr)
        .replace("2s", "1s")
        .replace(
            "demo-autoscale-rules.yml",
            &deploy
                .join("demo-autoscale-rules.yml")
                .display()
                .to_string(),
        );
    assert_ne!(config, shipped);
    std::fs::write(dir.path().join("prometheus.yml"), &config).expect("config");
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log");
    let _prometheus = Prometheus(
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus (Debian prometheus)"),
    );
    wait_listening(port).await;
    let prom_log =
        || std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();

    // Load 500 on scale 2 is 250 per container: up to 3 (167), 4 (125), 5 (100) — and no
    // further, since 100 is not above the threshold.
    assert_eq!(scale(&sim).await, 2);
    set_load(&sim, 500.0).await;
    let reached = wait_until(Duration::from_secs(60), || async { scale(&sim).await == 5 }).await;
    assert!(
        reached,
        "scaled up to 5, at {}:\n{}\n{}",
        scale(&sim).await,
        am.log(),
        prom_log()
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(scale(&sim).await, 5, "settled at 100 per container");

    // Load 100 on scale 5 is 20 per container: down to 4 (25), 3 (33), 2 (50) — where the
    // scale-down receiver's minimum holds it anyway.
    set_load(&sim, 100.0).await;
    let reached = wait_until(Duration::from_secs(60), || async { scale(&sim).await == 2 }).await;
    assert!(
        reached,
        "scaled down to 2, at {}:\n{}",
        scale(&sim).await,
        am.log()
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(scale(&sim).await, 2, "settled at 50 per container");
}
