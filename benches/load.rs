//! Load run on loopback: the trigger path beside a bare hyper server and beside the
//! simulator called directly, measured in one run with `oha`.
//!
//!     cargo bench --bench load [-- --seconds N]   (needs `oha`: cargo install oha --locked)
//!
//! The servers run in this process on core 0 — hookgate and the simulator each on a runtime
//! of its own, so hookgate's CPU time can be told apart — and `oha` on core 1 (taskset).
//! Each target gets a closed-loop run (capacity, requests/s) and then a fixed-rate run at
//! half that capacity with latency correction (an honest p99; closed-loop tools
//! under-report stalls). Every run is bounded in time; nothing leaves 127.0.0.1. It ends
//! with `ratio <name> <value>` lines a script can read. Outside `cargo bench` (for example
//! under `cargo test --benches`) it does nothing.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hookgate::app::{App, Settings};
use hookgate::cattle::{Cattle, CattleConfig};
use hookgate::config::Limits;
use hookgate::drivers::{DriverConfig, OnResolved, ScaleAction, ScaleServiceConfig};
use hookgate::http::Surface;
use hookgate::receiver::ReceiverId;
use hookgate::server::Listener;
use hookgate::token::Claims;
use hookgate::token::KeyRing;
use http_body_util::Full;
use serde_json::Value;
use tokio::net::TcpListener;

/// Seconds of each run, unless `--seconds N` says otherwise.
const DEFAULT_SECS: u64 = 8;
const CONNECTIONS: u32 = 16;

struct Target {
    name: &'static str,
    url: String,
    method: &'static str,
    headers: Vec<String>,
    body: Option<&'static str>,
}

struct Measured {
    rps: f64,
    p99_ms: f64,
    fixed_rate: f64,
    fixed_p99_ms: f64,
    success: f64,
    /// Requests the closed-loop run completed.
    requests: f64,
    /// hookgate's CPU time during the closed-loop run, in microseconds.
    edge_cpu_us: f64,
    /// Requests the simulator received during the closed-loop run.
    sim_calls: f64,
}

/// Where the runs can read the simulator's call log.
struct Probe {
    sim: String,
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("load: run with `cargo bench --bench load`");
        return;
    }
    if Command::new("oha").arg("--version").output().is_err() {
        eprintln!("load: `oha` is not on PATH (cargo install oha --locked)");
        std::process::exit(1);
    }
    let secs = std::env::args()
        .skip_while(|a| a != "--seconds")
        .nth(1)
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(DEFAULT_SECS);
    pin_to_core(0);
    let runtime = |name: &'static str| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(name)
            .enable_all()
            .build()
            .expect("runtime")
    };
    let (edge_rt, sim_rt) = (runtime("edge"), runtime("sim"));
    let (mut targets, probe) = start_servers(&edge_rt, &sim_rt);
    // LOAD_ONLY=<substring> runs only the matching targets (for profiling one of them); the
    // first target stays as the baseline of the ratios.
    if let Ok(only) = std::env::var("LOAD_ONLY") {
        let mut i = 0;
        targets.retain(|t| {
            i += 1;
            i == 1 || t.name.contains(only.as_str())
        });
    }
    let mut results = Vec::new();
    for t in &targets {
        eprintln!("load: {} …", t.name);
        let calls_before = sim_calls(&sim_rt, &probe);
        let cpu_before = thread_cpu_us("edge");
        let closed = oha(
            t,
            &["-z", &format!("{secs}s"), "-c", &CONNECTIONS.to_string()],
        );
        let edge_cpu_us = thread_cpu_us("edge") - cpu_before;
        let sim_calls = sim_calls(&sim_rt, &probe) - calls_before;
        let rate = (closed.0 / 2.0).max(1.0);
        let fixed = oha(
            t,
            &[
                "-z",
                &format!("{secs}s"),
                "-c",
                &CONNECTIONS.to_string(),
                "-q",
                &format!("{rate:.0}"),
                "--latency-correction",
            ],
        );
        results.push((
            t.name,
            Measured {
                rps: closed.0,
                p99_ms: closed.1,
                fixed_rate: rate,
                fixed_p99_ms: fixed.1,
                success: closed.2.min(fixed.2),
                requests: closed.3,
                edge_cpu_us,
                sim_calls,
            },
        ));
    }
    let base = results[0].1.rps;
    println!(
        "\n{:<34} {:>10} {:>9} {:>8} {:>12} {:>13} {:>8}",
        "target", "req/s", "p99 ms", "ratio", "fixed req/s", "fixed p99 ms", "ok"
    );
    for (name, m) in &results {
        println!(
            "{:<34} {:>10.0} {:>9.2} {:>8.3} {:>12.0} {:>13.2} {:>7.1}%",
            name,
            m.rps,
            m.p99_ms,
            m.rps / base,
            m.fixed_rate,
            m.fixed_p99_ms,
            m.success * 100.0
        );
    }
    println!("\nratio = req/s relative to the bare hyper server in this run ({CONNECTIONS} connections, closed loop, {secs} s);");
    println!("fixed = {secs} s at half that rate with latency correction.\n");
    let by = |key: &str| {
        results
            .iter()
            .find(|(n, _)| n.starts_with(key))
            .map(|(_, m)| m)
    };
    let ratio = |name: &str, v: Option<f64>| {
        if let Some(v) = v {
            println!("ratio {name} {v:.3}");
        }
    };
    let bare = by("bare").map(|m| m.rps);
    ratio(
        "reject_vs_bare",
        by("trigger refused").zip(bare).map(|(m, b)| m.rps / b),
    );
    ratio(
        "unchanged_vs_bare",
        by("trigger at bound").zip(bare).map(|(m, b)| m.rps / b),
    );
    ratio(
        "scale_vs_direct",
        by("trigger scaling")
            .zip(by("simulator direct"))
            .map(|(t, d)| t.rps / d.rps),
    );
    if let Some(m) = by("trigger scaling") {
        ratio(
            "cattle_calls_per_trigger",
            Some(m.sim_calls / m.requests.max(1.0)),
        );
        ratio(
            "cpu_us_per_trigger",
            Some(m.edge_cpu_us / m.requests.max(1.0)),
        );
    }
    if let Some(m) = by("trigger at bound") {
        ratio(
            "cpu_us_per_unchanged",
            Some(m.edge_cpu_us / m.requests.max(1.0)),
        );
    }
}

/// CPU time (user + system) of this process's threads whose name starts with `prefix`, in
/// microseconds (Linux: /proc/self/task/*/stat).
fn thread_cpu_us(prefix: &str) -> f64 {
    let tick = 100.0; // USER_HZ on Linux
    let mut total = 0.0;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return f64::NAN;
    };
    for t in tasks.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if !comm.trim().starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        // Fields after the command name (in parentheses): utime is the 12th, stime the 13th.
        let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        total += ticks(11) + ticks(12);
    }
    total / tick * 1e6
}

/// How many requests the simulator has received so far.
fn sim_calls(rt: &tokio::runtime::Runtime, probe: &Probe) -> f64 {
    let url = format!("{}/_sim/calls", probe.sim);
    rt.block_on(async move {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Full<Bytes>>();
        let Ok(resp) = client.get(url.parse().expect("url")).await else {
            return f64::NAN;
        };
        let body = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.as_array().map(Vec::len))
            .unwrap_or(0) as f64
    })
}

/// Runs oha against a target; returns (requests/s, p99 ms, success rate, requests).
fn oha(t: &Target, extra: &[&str]) -> (f64, f64, f64, f64) {
    let mut cmd = Command::new("taskset");
    cmd.args([
        "-c",
        "1",
        "oha",
        "--no-tui",
        "--output-format",
        "json",
        "-m",
        t.method,
    ]);
    for h in &t.headers {
        cmd.args(["-H", h]);
    }
    if let Some(b) = t.body {
        cmd.args(["-d", b]);
    }
    cmd.args(extra).arg(&t.url);
    let out = cmd.output().expect("run oha");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "oha output ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let rps = v["summary"]["requestsPerSec"].as_f64().unwrap_or(0.0);
    let p99 = v["latencyPercentiles"]["p99"].as_f64().unwrap_or(f64::NAN) * 1000.0;
    let ok = v["summary"]["successRate"].as_f64().unwrap_or(0.0);
    // Every answered request, by status; else the run's length times its rate.
    let answered: f64 = v["statusCodeDistribution"]
        .as_object()
        .map(|m| m.values().filter_map(Value::as_f64).sum())
        .unwrap_or(0.0);
    let total = if answered > 0.0 {
        answered
    } else {
        v["summary"]["total"].as_f64().unwrap_or(0.0) * rps
    };
    (rps, p99, ok, total)
}

fn pin_to_core(core: u32) {
    let pid = std::process::id().to_string();
    let _ = Command::new("taskset")
        .args(["-a", "-p", "-c", &core.to_string(), &pid])
        .output();
}

async fn bind() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let a = l.local_addr().expect("addr");
    (l, a)
}

fn start_servers(
    edge_rt: &tokio::runtime::Runtime,
    sim_rt: &tokio::runtime::Runtime,
) -> (Vec<Target>, Probe) {
    // 1. The simulator, as Cattle, on a runtime of its own.
    let (sim_l, sim_addr) = sim_rt.block_on(bind());
    let sim = Arc::new(hookgate::sim::Sim::with_default_world(Duration::ZERO));
    sim_rt.spawn(hookgate::sim::serve(sim_l, sim, std::future::pending()));
    let targets = edge_rt.block_on(edge_servers(sim_addr));
    (
        targets,
        Probe {
            sim: format!("http://{sim_addr}"),
        },
    )
}

/// The bare server and hookgate, on the edge runtime.
async fn edge_servers(sim_addr: SocketAddr) -> Vec<Target> {
    // 1. A bare hyper server: the floor for any HTTP service on this machine.
    let (bare, bare_addr) = bind().await;
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = bare.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                        Bytes::from_static(b"ok\n"),
                    )))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                    .await;
            });
        }
    });

    // 2. hookgate against the simulator.
    let keys = || KeyRing::new([("k1", vec![7u8; 32])]).expect("ring");
    let cattle = Cattle::new(&CattleConfig {
        url: format!("http://{sim_addr}/v1"),
        access_key: "service".into(),
        secret_key: "service-secret".into(),
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(2),
        extra_roots_pem: None,
    })
    .expect("client");
    let limits = Limits {
        max_body_bytes: 1 << 20,
        header_timeout: Duration::from_secs(10),
        tls_handshake_timeout: Duration::from_secs(5),
        max_connections: 10_000,
        shutdown_grace: Duration::from_secs(1),
    };
    let settings = Settings {
        public_url: None,
        trust_forwarded_headers: false,
        revocation_ttl: Duration::from_secs(30),
        drivers: hookgate::drivers::Settings::default(),
        limits: limits.clone(),
        legacy_key_urls: true,
    };
    let app = App::new(keys(), cattle.clone(), settings);
    let (edge_l, edge_addr) = bind().await;
    tokio::spawn(hookgate::server::run(
        vec![Listener::plain(edge_l, Surface::Front)],
        app,
        limits,
        std::future::pending(),
    ));

    let mint = |service: &str, max: u32| {
        let claims = Claims {
            receiver_id: ReceiverId::random().expect("random"),
            project_id: "1a5".into(),
            issued_at: hookgate::unix_now(),
            expires_at: None,
            config: DriverConfig::ScaleService(ScaleServiceConfig {
                service_id: service.into(),
                action: ScaleAction::Up,
                amount: 1,
                min: 0,
                max,
                cooldown_seconds: 0,
                on_resolved: OnResolved::Ignore,
            }),
        };
        (
            keys().seal(&claims).expect("seal"),
            claims.receiver_id.to_string(),
        )
    };
    let (acting, acting_id) = mint("1s1", 1_000_000_000);
    let (bounded, bounded_id) = mint("1s2", 1); // 1s2 has scale 1: always at its bound
    for id in [&acting_id, &bounded_id] {
        let data = serde_json::json!({"driver": "scaleService", "url": "", "config": {}});
        cattle
            .create_generic_object(
                hookgate::cattle::Auth::Service,
                "1a5",
                &hookgate::cattle::wire::NewGenericObject {
                    name: id,
                    key: id,
                    kind: "webhookReceiver",
                    resource_data: &data,
                },
            )
            .await
            .expect("receiver record");
    }
    let basic = "Authorization: Basic c2VydmljZTpzZXJ2aWNlLXNlY3JldA==".to_owned(); // service:service-secret
                                                                                    // A token of the right shape signed by a key this server does not hold.
    let forged = {
        let other = KeyRing::new([("k1", vec![9u8; 32])]).expect("ring");
        let claims = Claims {
            receiver_id: ReceiverId([1; 16]),
            project_id: "1a5".into(),
            issued_at: 0,
            expires_at: None,
            config: DriverConfig::ScaleService(ScaleServiceConfig {
                service_id: "1s1".into(),
                action: ScaleAction::Up,
                amount: 1,
                min: 0,
                max: 10,
                cooldown_seconds: 0,
                on_resolved: OnResolved::Ignore,
            }),
        };
        other.seal(&claims).expect("seal")
    };
    vec![
        Target {
            name: "bare hyper (GET /)",
            url: format!("http://{bare_addr}/"),
            method: "GET",
            headers: vec![],
            body: None,
        },
        Target {
            name: "simulator direct (PUT scale)",
            url: format!("http://{sim_addr}/v2-beta/projects/1a5/services/1s3"),
            method: "PUT",
            headers: vec![basic.clone(), "Content-Type: application/json".into()],
            body: Some(r#"{"scale": 1}"#),
        },
        Target {
            name: "trigger refused (forged token)",
            url: format!("http://{edge_addr}/v1-webhooks/endpoint?token={forged}"),
            method: "POST",
            headers: vec![],
            body: None,
        },
        Target {
            name: "trigger at bound (no Cattle call)",
            url: format!("http://{edge_addr}/v1-webhooks/endpoint?token={bounded}"),
            method: "POST",
            headers: vec![],
            body: None,
        },
        Target {
            name: "trigger scaling (PUT to simulator)",
            url: format!("http://{edge_addr}/v1-webhooks/endpoint?token={acting}"),
            method: "POST",
            headers: vec![],
            body: None,
        },
    ]
}
