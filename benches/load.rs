//! Load run on loopback: the trigger path beside a bare hyper server and beside the
//! simulator called directly, measured in one run with `oha`.
//!
//!     cargo bench --bench load [-- --seconds N --rounds N]
//!
//! (needs `oha`: `cargo install oha --locked`).
//!
//! The servers run in this process on core 0 — hookgate and the simulator each on a runtime
//! of its own, so hookgate's CPU time can be told apart — and `oha` on core 1 (taskset).
//! Each target gets closed-loop runs (capacity, requests/s) in interleaved rounds — this
//! machine is shared and its speed drifts, so every ratio is taken within one round and the
//! median over rounds reported — and then a fixed-rate run at half its capacity with latency
//! correction (an honest p99; closed-loop tools under-report stalls). hookgate logs as in
//! production, to a file. Every run is bounded in time; nothing leaves 127.0.0.1. It ends
//! with `ratio <name> <value>` lines a script can read. `LOAD_ONLY=<text>[,<text>…]` runs the
//! targets whose name contains one of them (for profiling). Outside `cargo bench` (for
//! example under `cargo test --benches`) it does nothing.

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
const DEFAULT_SECS: u64 = 4;
const CONNECTIONS: u32 = 16;
/// Closed-loop rounds over all targets; medians are reported. Seven short rounds rather than
/// three long ones: on this shared machine a slow spell of a few seconds moved single
/// rounds' ratios by ±20 % (0.58–0.85 within one three-round run), and a median of seven
/// such rounds is steadier than a median of three.
const ROUNDS: usize = 7;

struct Target {
    name: &'static str,
    url: String,
    method: &'static str,
    headers: Vec<String>,
    body: Option<&'static str>,
}

/// One closed-loop run of one target.
#[derive(Clone)]
struct Sample {
    rps: f64,
    p99_ms: f64,
    success: f64,
    requests: f64,
    /// hookgate's CPU time during the run, in microseconds.
    edge_cpu_us: f64,
    /// Requests the simulator received during the run.
    sim_calls: f64,
}

/// What the table shows of a target: its median closed-loop run and its fixed-rate run.
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
    let flag = |name: &str| {
        std::env::args()
            .skip_while(|a| a != name)
            .nth(1)
            .and_then(|s| s.parse::<u64>().ok())
    };
    let secs = flag("--seconds").unwrap_or(DEFAULT_SECS);
    let n_rounds = flag("--rounds").map_or(ROUNDS, |n| n.max(1) as usize);
    pin_to_core(0);
    // hookgate logs as in production (one line per acted trigger), to a file here.
    let log_path = std::env::temp_dir().join("hookgate-load.log");
    let log_file = std::fs::File::create(&log_path).expect("log file");
    let _log = hookgate::logging::init_with(hookgate::config::LogFormat::Text, false, log_file);
    eprintln!("load: hookgate's log in {}", log_path.display());
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
    // LOAD_ONLY=<substring>[,<substring>…] runs only the matching targets (for profiling
    // some of them); the ratio column is then relative to the first of them.
    if let Ok(only) = std::env::var("LOAD_ONLY") {
        targets.retain(|t| only.split(',').any(|o| t.name.contains(o)));
    }
    // Closed-loop runs in rounds, the targets interleaved, so that a slow spell of this
    // shared machine hits every target alike; each ratio is taken within a round and the
    // median over rounds reported. Within a round the two sides of each ratio run next to
    // each other (`run_order`), and every other round runs backwards, so that a drift
    // across a round weighs on both sides alike.
    let order = run_order(&targets);
    let mut rounds: Vec<Vec<Sample>> = Vec::new();
    for round in 1..=n_rounds {
        let mut samples: Vec<Option<Sample>> = vec![None; targets.len()];
        let mut ids = order.clone();
        if round % 2 == 0 {
            ids.reverse();
        }
        for i in ids {
            let t = &targets[i];
            eprintln!("load: round {round}/{n_rounds}: {} …", t.name);
            let calls_before = sim_calls(&sim_rt, &probe);
            let cpu_before = edge_cpu_us();
            let r = oha(
                t,
                &["-z", &format!("{secs}s"), "-c", &CONNECTIONS.to_string()],
            );
            samples[i] = Some(Sample {
                rps: r.0,
                p99_ms: r.1,
                success: r.2,
                requests: r.3,
                edge_cpu_us: edge_cpu_us() - cpu_before,
                sim_calls: sim_calls(&sim_rt, &probe) - calls_before,
            });
        }
        rounds.push(samples.into_iter().flatten().collect());
    }
    let mut results = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        let mut of_target: Vec<&Sample> = rounds.iter().map(|r| &r[i]).collect();
        of_target.sort_by(|a, b| a.rps.total_cmp(&b.rps));
        let m = of_target[of_target.len() / 2].clone();
        eprintln!("load: fixed rate: {} …", t.name);
        let rate = (m.rps / 2.0).max(1.0);
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
                rps: m.rps,
                p99_ms: m.p99_ms,
                fixed_rate: rate,
                fixed_p99_ms: fixed.1,
                success: m.success.min(fixed.2),
                requests: m.requests,
                edge_cpu_us: m.edge_cpu_us,
                sim_calls: m.sim_calls,
            },
        ));
    }
    let Some(base) = results.first().map(|r| r.1.rps) else {
        eprintln!("load: no target matches LOAD_ONLY");
        std::process::exit(1);
    };
    println!(
        "\n{:<34} {:>8} {:>7} {:>6} {:>11} {:>12} {:>10} {:>10} {:>7}",
        "target",
        "req/s",
        "p99 ms",
        "ratio",
        "fixed req/s",
        "fixed p99 ms",
        "CPU µs/req",
        "Cattle/req",
        "ok"
    );
    for (name, m) in &results {
        println!(
            "{:<34} {:>8.0} {:>7.2} {:>6.3} {:>11.0} {:>12.2} {:>10.1} {:>10.3} {:>6.1}%",
            name,
            m.rps,
            m.p99_ms,
            m.rps / base,
            m.fixed_rate,
            m.fixed_p99_ms,
            m.edge_cpu_us / m.requests.max(1.0),
            m.sim_calls / m.requests.max(1.0),
            m.success * 100.0
        );
    }
    println!("\nreq/s, p99, CPU: the median of {n_rounds} closed-loop rounds ({CONNECTIONS} connections, {secs} s each);");
    println!("ratio = req/s relative to the first target;");
    println!("fixed = {secs} s at half that rate with latency correction;");
    println!("CPU µs/req = CPU time of the server's threads (edge runtime and log writer; the simulator's");
    println!("own runtime is not counted) over the closed-loop run's requests.\n");
    // A ratio per round, from that round's samples; the median of them is reported.
    let index = |key: &str| targets.iter().position(|t| t.name.starts_with(key));
    let ratio = |name: &str, f: &dyn Fn(&[Sample]) -> Option<f64>| {
        let mut v: Vec<f64> = rounds.iter().filter_map(|r| f(r)).collect();
        if v.is_empty() {
            return;
        }
        v.sort_by(f64::total_cmp);
        let all: Vec<String> = v.iter().map(|x| format!("{x:.3}")).collect();
        println!(
            "ratio {name} {:.3}   (rounds: {})",
            v[v.len() / 2],
            all.join(" ")
        );
    };
    let (bare, refused, bound, scaling, direct) = (
        index("bare"),
        index("trigger refused"),
        index("trigger at bound"),
        index("trigger scaling"),
        index("simulator direct"),
    );
    let rps_ratio =
        |a: Option<usize>, b: Option<usize>| move |r: &[Sample]| Some(r[a?].rps / r[b?].rps);
    ratio("reject_vs_bare", &rps_ratio(refused, bare));
    ratio("unchanged_vs_bare", &rps_ratio(bound, bare));
    // The same comparisons by CPU time per request (bare's over the target's): requests per
    // second stop measuring the server once `oha`'s own core is the limit, as it is for the
    // bare server on this machine; CPU time per request does not.
    let cpu_ratio = |a: Option<usize>, b: Option<usize>| {
        move |r: &[Sample]| {
            let per = |s: &Sample| s.edge_cpu_us / s.requests.max(1.0);
            Some(per(&r[b?]) / per(&r[a?]))
        }
    };
    ratio("reject_vs_bare_by_cpu", &cpu_ratio(refused, bare));
    ratio("unchanged_vs_bare_by_cpu", &cpu_ratio(bound, bare));
    ratio("scale_vs_direct", &rps_ratio(scaling, direct));
    ratio("cattle_calls_per_trigger", &|r: &[Sample]| {
        let s = &r[scaling?];
        Some(s.sim_calls / s.requests.max(1.0))
    });
    ratio("cpu_us_per_trigger", &|r: &[Sample]| {
        let s = &r[scaling?];
        Some(s.edge_cpu_us / s.requests.max(1.0))
    });
    ratio("cpu_us_per_unchanged", &|r: &[Sample]| {
        let s = &r[bound?];
        Some(s.edge_cpu_us / s.requests.max(1.0))
    });
}

/// CPU time of the servers under test: the edge runtime (bare server, hookgate) and
/// hookgate's log writer thread.
fn edge_cpu_us() -> f64 {
    thread_cpu_us("edge") + thread_cpu_us("hookgate-log")
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

/// The order `targets` run in within a round (as indices): a refusal and a trigger at its
/// bound on either side of the bare server, the simulator's PUT beside the scaling triggers
/// that wrap it — each ratio's two sides next to each other.
fn run_order(targets: &[Target]) -> Vec<usize> {
    const ORDER: [&str; 6] = [
        "hookgate GET /healthz",
        "trigger refused",
        "bare",
        "trigger at bound",
        "simulator direct",
        "trigger scaling",
    ];
    let rank = |t: &Target| {
        ORDER
            .iter()
            .position(|p| t.name.starts_with(p))
            .unwrap_or(ORDER.len())
    };
    let mut ids: Vec<usize> = (0..targets.len()).collect();
    ids.sort_by_key(|&i| rank(&targets[i]));
    ids
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
        rancher_key: None,
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
        // The query of the trigger URL the API hands out: the token and its route.
        let query = format!(
            "token={}&route={:08x}",
            keys().seal(&claims).expect("seal"),
            hookgate::drivers::route(&claims.project_id, &claims.config)
        );
        (query, claims.receiver_id.to_string())
    };
    let (acting, acting_id) = mint("1s1", 1_000_000_000);
    let (bounded, bounded_id) = mint("1s2", 1); // 1s2 has scale 1: always at its bound
    for (query, id) in [(&acting, &acting_id), (&bounded, &bounded_id)] {
        let url = format!("http://hookgate/v1-webhooks/endpoint?{query}");
        let data = serde_json::json!({"driver": "scaleService", "url": url, "config": {}});
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
            name: "hookgate GET /healthz",
            url: format!("http://{edge_addr}/healthz"),
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
            url: format!("http://{edge_addr}/v1-webhooks/endpoint?{bounded}"),
            method: "POST",
            headers: vec![],
            body: None,
        },
        Target {
            name: "trigger scaling (PUT to simulator)",
            url: format!("http://{edge_addr}/v1-webhooks/endpoint?{acting}"),
            method: "POST",
            headers: vec![],
            body: None,
        },
    ]
}
