//! The real Prometheus Alertmanager (Debian's `prometheus-alertmanager`) sending to hookgate:
//! one receiver over plain HTTP, one over HTTPS with a test CA (`http_config.tls_config`).
//! Alerts are posted to Alertmanager's API with short group timings, and the simulator shows
//! what happened: one firing alert is one step however often Alertmanager repeats the group;
//! its resolution undoes the step (`onResolved: reverse`); while Cattle answers 503,
//! hookgate answers 503, Alertmanager retries, and the step lands once Cattle recovers —
//! still exactly once.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use http::Method;
use serde_json::{json, Value};

use crate::support::*;

const BIN: &str = "/usr/bin/prometheus-alertmanager";

/// An Alertmanager process on loopback, killed when dropped.
pub struct Alertmanager {
    child: Child,
    pub base: String,
    _dir: TempDir,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("hookgate-e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        Self(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Alertmanager {
    /// Validates `config` with `amtool check-config`, then starts Alertmanager with it.
    pub async fn start(config: &str, dir: TempDir) -> Self {
        let file = dir.path().join("alertmanager.yml");
        std::fs::write(&file, config).expect("write config");
        let check = Command::new("amtool")
            .arg("check-config")
            .arg(&file)
            .output()
            .expect("amtool (Debian prometheus-alertmanager)");
        assert!(
            check.status.success(),
            "amtool check-config:\n{}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("alertmanager.log")).expect("log");
        let child = Command::new(BIN)
            .arg(format!("--config.file={}", file.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // A single instance: no gossip port.
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus-alertmanager");
        let am = Alertmanager {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        wait_listening(port).await;
        let ready = wait_until(Duration::from_secs(20), || async {
            let r = http(
                Method::GET,
                &format!("{}/-/ready", am.base),
                None,
                &[],
                None,
            )
            .await;
            r.status == 200
        })
        .await;
        assert!(ready, "alertmanager ready:\n{}", am.log());
        am
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("alertmanager.log")).unwrap_or_default()
    }

    /// Posts alerts as Prometheus does (`POST /api/v2/alerts`).
    async fn post(&self, alerts: Value) {
        let r = http(
            Method::POST,
            &format!("{}/api/v2/alerts", self.base),
            None,
            &[],
            Some(&alerts.to_string()),
        )
        .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
}

/// Polls `check` until it holds or `limit` passes.
pub async fn wait_until<F, Fut>(limit: Duration, check: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

fn alert(name: &str, service: &str, ends_in: Option<time::Duration>) -> Value {
    let now = time::OffsetDateTime::now_utc();
    let mut a = json!({
        "labels": {"alertname": name, "service": service, "severity": "page"},
        "annotations": {"summary": format!("{name} on {service}")},
        "generatorURL": "http://prometheus.example/graph",
    });
    if let Some(d) = ends_in {
        a["endsAt"] = json!(rfc3339(now + d));
    }
    a
}

/// `hookgate_triggers_total` for one outcome, summed over drivers, from `/metrics` (over
/// HTTPS with `ca`, the way Alertmanager reaches it, when given).
async fn triggers(serve: &Serve, ca: Option<&Path>, outcome: &str) -> f64 {
    let text = match ca {
        None => scrape(&serve.base).await,
        Some(ca) => {
            let url = format!("https://localhost:{}/metrics", serve.port);
            let out = Command::new("curl")
                .args(["-sS", "--cacert"])
                .arg(ca)
                .arg(&url)
                .output()
                .expect("curl");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
    };
    metric_sum(
        &text,
        "hookgate_triggers_total",
        &format!("outcome=\"{outcome}\""),
    )
}

async fn scale_of(sim: &SimHandle, service: &str) -> i64 {
    let v = get(
        &sim.url(&format!("/v2-beta/projects/1a5/services/{service}")),
        SERVICE,
    )
    .await
    .json();
    v["scale"].as_i64().expect("scale")
}

/// A scaleService receiver for `service` that undoes its step on resolution.
async fn receiver(serve: &Serve, name: &str, service: &str) -> String {
    let config = json!({"serviceId": service, "action": "up", "amount": 1, "min": 1,
                        "max": 10, "onResolved": "reverse"});
    create_receiver(&serve.base, name, "scaleService", config).await
}

#[tokio::test]
async fn alertmanager_fires_once_resolves_and_retries_through_a_cattle_outage() {
    let sim = start_sim(Duration::ZERO).await;
    let plain = spawn_serve(&sim, None, &[]);
    let dir = TempDir::new("am");
    let (cert, key, ca) = test_pki("localhost").write_to(dir.path());
    let tls = spawn_serve(&sim, Some((&cert, &key)), &[]);
    wait_listening(plain.port).await;
    wait_listening(tls.port).await;

    // Both processes share the key ring: a token minted by one runs on the other.
    let web_url = receiver(&plain, "am-web-up", "1s1").await;
    let lb_url = receiver(&plain, "am-lb-up", "1s2").await;
    let lb_url = lb_url.replace(&plain.base, &format!("https://localhost:{}", tls.port));
    let config = format!(
        r#"route:
  receiver: hookgate-plain
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 3s
  routes:
    - matchers: ['service="lb"']
      receiver: hookgate-tls
receivers:
  - name: hookgate-plain
    webhook_configs:
      - url: '{web_url}'
        send_resolved: true
  - name: hookgate-tls
    webhook_configs:
      - url: '{lb_url}'
        send_resolved: true
        http_config:
          tls_config:
            ca_file: '{}'
"#,
        ca.display()
    );
    let am = Alertmanager::start(&config, dir).await;

    // One firing alert per receiver: one step each, however often the group is repeated.
    am.post(json!([
        alert("HighLoad", "web", None),
        alert("HighLoad", "lb", None)
    ]))
    .await;
    let stepped = wait_until(Duration::from_secs(20), || async {
        scale_of(&sim, "1s1").await == 3 && scale_of(&sim, "1s2").await == 2
    })
    .await;
    assert!(stepped, "both services stepped once:\n{}", am.log());
    // repeat_interval 3 s: wait for Alertmanager to send the same groups again.
    let repeated = wait_until(Duration::from_secs(20), || async {
        triggers(&plain, None, "duplicate").await >= 1.0
            && triggers(&tls, Some(&ca), "duplicate").await >= 1.0
    })
    .await;
    assert!(repeated, "alertmanager repeated both groups:\n{}", am.log());
    assert_eq!(
        (scale_of(&sim, "1s1").await, scale_of(&sim, "1s2").await),
        (3, 2)
    );

    // Resolved: the step is undone (onResolved: reverse).
    am.post(json!([alert(
        "HighLoad",
        "web",
        Some(-time::Duration::seconds(1))
    )]))
    .await;
    let reversed = wait_until(Duration::from_secs(20), || async {
        scale_of(&sim, "1s1").await == 2
    })
    .await;
    assert!(reversed, "resolution reversed the step:\n{}", am.log());

    // Cattle answers 503: hookgate answers 503, Alertmanager retries; once Cattle recovers
    // the step lands, once.
    sim.fault(&json!({"pathPrefix": "/v2-beta/projects/1a5/services/1s1", "status": 503}))
        .await;
    let failed_before = triggers(&plain, None, "failed").await;
    am.post(json!([alert("QueueDeep", "web", None)])).await;
    let retried = wait_until(Duration::from_secs(20), || async {
        triggers(&plain, None, "failed").await >= failed_before + 2.0
    })
    .await;
    assert!(retried, "alertmanager retried the 503:\n{}", am.log());
    // (The fault covers every path of the service, so its scale is read once the fault is
    // lifted: 2 → 3 is one step, and the repeats below must not add another.)
    sim.clear_faults().await;
    let applied = wait_until(Duration::from_secs(30), || async {
        scale_of(&sim, "1s1").await == 3
    })
    .await;
    assert!(applied, "the retry applied the step:\n{}", am.log());
    // Further repeats of the group are duplicates: still one step.
    let dupes = triggers(&plain, None, "duplicate").await;
    let repeated = wait_until(Duration::from_secs(20), || async {
        triggers(&plain, None, "duplicate").await > dupes
    })
    .await;
    assert!(repeated, "alertmanager repeated the group:\n{}", am.log());
    assert_eq!(scale_of(&sim, "1s1").await, 3);
}
