//! `hookgate serve` as a process: real TLS (h2 and http/1.1 by ALPN), certificate reload on
//! SIGHUP, and SIGTERM draining an in-flight trigger.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hookgate::drivers::{DriverConfig, ScaleServiceConfig};
use http::{Method, Request};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::{CertificateDer, ServerName};

use crate::support::*;

fn client_config(ca_pem: &str, alpn: &[&[u8]]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
        roots.add(c.expect("ca")).expect("add ca");
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    cfg
}

/// A fresh TLS connection: the certificate the server presents and the protocol agreed.
async fn handshake(port: u16, ca_pem: &str) -> (CertificateDer<'static>, Option<Vec<u8>>) {
    let connector =
        tokio_rustls::TlsConnector::from(Arc::new(client_config(ca_pem, &[b"h2", b"http/1.1"])));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let tls = connector
        .connect(ServerName::try_from("127.0.0.1").expect("name"), tcp)
        .await
        .expect("handshake");
    let conn = tls.get_ref().1;
    let cert = conn.peer_certificates().expect("certs")[0]
        .clone()
        .into_owned();
    (cert, conn.alpn_protocol().map(<[u8]>::to_vec))
}

fn der(pem: &str) -> CertificateDer<'static> {
    rustls_pemfile::certs(&mut pem.as_bytes())
        .next()
        .expect("one")
        .expect("pem")
        .into_owned()
}

async fn https_post(url: &str, ca_pem: &str, h2: bool) -> (http::Version, u16, serde_json::Value) {
    // hyper-rustls sets ALPN from the versions enabled: h2 alone, or http/1.1 alone.
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(client_config(ca_pem, &[]))
        .https_only();
    let connector = if h2 {
        builder.enable_http2().build()
    } else {
        builder.enable_http1().build()
    };
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .http2_only(h2)
        .build(connector);
    let req = Request::builder()
        .method(Method::POST)
        .uri(url)
        .body(Full::new(Bytes::new()))
        .expect("req");
    let resp = client.request(req).await.expect("response");
    let (version, status) = (resp.version(), resp.status().as_u16());
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (
        version,
        status,
        serde_json::from_slice(&body).expect("json"),
    )
}

#[tokio::test]
async fn tls_h2_and_http1_and_reload_on_sighup() {
    let sim = start_sim(Duration::ZERO).await;
    let dir = std::env::temp_dir().join(format!("hookgate-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let first = test_pki("first");
    std::fs::write(&cert, &first.cert_pem).expect("write");
    std::fs::write(&key, &first.key_pem).expect("write");
    let serve = spawn_serve_with(&sim, Some((&cert, &key)), &[], &[], true);
    wait_listening(serve.port).await;

    let token = mint_on(
        &sim,
        &test_keys(),
        "1a5",
        DriverConfig::ScaleService(scale("1s1")),
    )
    .await;
    let url = format!("{}/v1-webhooks/endpoint?token={token}", serve.base);
    let (v, status, body) = https_post(&url, &first.ca_pem, true).await;
    assert_eq!(
        (v, status, body["to"].as_i64()),
        (http::Version::HTTP_2, 200, Some(3))
    );
    let (v, status, body) = https_post(&url, &first.ca_pem, false).await;
    assert_eq!(
        (v, status, body["to"].as_i64()),
        (http::Version::HTTP_11, 200, Some(4))
    );

    let (seen, alpn) = handshake(serve.port, &first.ca_pem).await;
    assert_eq!(seen, der(&first.cert_pem));
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));

    // A mismatched pair is refused on reload (the log says so): the old certificate keeps
    // serving.
    let second = test_pki("second");
    std::fs::write(&cert, &second.cert_pem).expect("write");
    serve.signal("HUP");
    let refused = eventually(|| async { serve.logged().contains("reload failed") }).await;
    assert!(refused, "{}", serve.logged());
    assert_eq!(
        handshake(serve.port, &first.ca_pem).await.0,
        der(&first.cert_pem)
    );

    // The matching key arrives; SIGHUP swaps the certificate for new connections.
    std::fs::write(&key, &second.key_pem).expect("write");
    serve.signal("HUP");
    let reloaded =
        eventually(|| async { serve.logged().contains("tls certificate reloaded") }).await;
    assert!(reloaded, "{}", serve.logged());
    assert_eq!(
        handshake(serve.port, &second.ca_pem).await.0,
        der(&second.cert_pem),
        "the new certificate is served after SIGHUP"
    );
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[tokio::test]
async fn a_sender_that_hangs_up_stops_neither_the_action_nor_its_log_line() {
    use tokio::io::AsyncWriteExt as _;
    let sim = start_sim(Duration::ZERO).await;
    let serve = spawn_serve_with(&sim, None, &[], &[], true);
    wait_listening(serve.port).await;
    let token = mint_on(
        &sim,
        &test_keys(),
        "1a5",
        DriverConfig::ScaleService(scale("1s1")),
    )
    .await;
    // Slow Cattle: every read and write of the service takes 700 ms.
    let r = http(
        Method::POST,
        &sim.url("/_sim/faults"),
        None,
        &[],
        Some(r#"{"pathPrefix": "/v2-beta/projects/1a5/services", "latencyMs": 700}"#),
    )
    .await;
    assert_eq!(r.status, 201);
    http(Method::DELETE, &sim.url("/_sim/calls"), None, &[], None).await;

    let mut sender = tokio::net::TcpStream::connect(("127.0.0.1", serve.port))
        .await
        .expect("connect");
    let request = format!(
        "POST /v1-webhooks/endpoint?token={token} HTTP/1.1\r\nHost: hookgate\r\n\
         Content-Length: 0\r\n\r\n"
    );
    sender.write_all(request.as_bytes()).await.expect("send");
    let calls = sim.url("/_sim/calls");
    let in_flight = eventually(|| async {
        let v = http(Method::GET, &calls, None, &[], None).await.json();
        v.as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["path"] == "/v2-beta/projects/1a5/services/1s1")
        })
    })
    .await;
    assert!(in_flight);
    // The sender hangs up while Cattle is still being asked.
    drop(sender);

    let logged = eventually(|| async { serve.logged().contains("outcome=\"scaled\"") }).await;
    assert!(logged, "the acted trigger is logged: {}", serve.logged());
    http(Method::DELETE, &sim.url("/_sim/faults"), None, &[], None).await;
    let v = get(&sim.url("/v2-beta/projects/1a5/services/1s1"), SERVICE)
        .await
        .json();
    assert_eq!(v["scale"], 3, "the step was applied once");
}

#[tokio::test]
async fn sigterm_finishes_the_trigger_in_flight() {
    let sim = start_sim(Duration::ZERO).await;
    let serve = spawn_serve(&sim, None, &["--shutdown-grace-secs", "10"]);
    wait_listening(serve.port).await;
    let token = mint_on(
        &sim,
        &test_keys(),
        "1a5",
        DriverConfig::ScaleService(scale("1s1")),
    )
    .await;
    let url = format!("{}/v1-webhooks/endpoint?token={token}", serve.base);
    // Slow Cattle: the service read and the write each take 700 ms.
    let r = http(
        Method::POST,
        &sim.url("/_sim/faults"),
        None,
        &[],
        Some(r#"{"pathPrefix": "/v2-beta/projects/1a5/services", "latencyMs": 700}"#),
    )
    .await;
    assert_eq!(r.status, 201);
    http(Method::DELETE, &sim.url("/_sim/calls"), None, &[], None).await;
    let pending = tokio::spawn(async move { http(Method::POST, &url, None, &[], None).await });
    // Once Cattle has been asked for the service, the trigger is in flight.
    let calls = sim.url("/_sim/calls");
    let in_flight = eventually(|| async {
        let v = http(Method::GET, &calls, None, &[], None).await.json();
        v.as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["path"] == "/v2-beta/projects/1a5/services/1s1")
        })
    })
    .await;
    assert!(in_flight);
    serve.signal("TERM");
    let r = pending.await.expect("request task");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["to"], 3);
    let mut serve = serve;
    let status = tokio::task::spawn_blocking(move || {
        let s = serve.child.wait().expect("wait");
        (s, serve)
    })
    .await
    .expect("join")
    .0;
    assert_eq!(status.code(), Some(0), "clean exit after draining");
    http(Method::DELETE, &sim.url("/_sim/faults"), None, &[], None).await;
    let v = get(&sim.url("/v2-beta/projects/1a5/services/1s1"), SERVICE)
        .await
        .json();
    assert_eq!(v["scale"], 3);
}

#[tokio::test]
async fn bad_settings_are_one_line_errors() {
    let sim = start_sim(Duration::ZERO).await;
    let cases: &[(&[&str], &str)] = &[
        (&["--max-body-bytes", "0"], "--max-body-bytes"),
        (
            &[
                "--tls-cert",
                "/nonexistent/c.pem",
                "--tls-key",
                "/nonexistent/k.pem",
            ],
            "--tls-cert",
        ),
        (&["--public-url", "ftp://x"], "--public-url"),
    ];
    for (args, setting) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_hookgate"))
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(*args)
            .env("CATTLE_URL", &sim.base)
            .env("CATTLE_ACCESS_KEY", "service")
            .env("CATTLE_SECRET_KEY", "service-secret")
            .env("HOOKGATE_KEYS", keys_text())
            .env_remove("HOOKGATE_KEYS_FILE")
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(64), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().filter(|l| l.contains("hookgate:")).collect();
        assert_eq!(lines.len(), 1, "{err}");
        assert!(lines[0].contains(setting), "{err}");
    }
    // No key ring at all stops `serve`.
    let out = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("CATTLE_URL", &sim.base)
        .env("CATTLE_ACCESS_KEY", "service")
        .env("CATTLE_SECRET_KEY", "service-secret")
        .env_remove("HOOKGATE_KEYS")
        .env_remove("HOOKGATE_KEYS_FILE")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(64));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("service-secret"));
}

/// Reads a child's stdout until `done` matches what was read so far (bounded).
fn read_until(child: &mut Child, done: impl Fn(&str) -> bool) -> String {
    use std::io::Read as _;
    let mut out = child.stdout.take().expect("stdout");
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !done(&text) && std::time::Instant::now() < deadline {
        match out.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    text
}

#[tokio::test]
async fn the_sim_command_serves_the_default_world() {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["sim", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sim");
    let serve = Serve {
        child,
        base: format!("http://127.0.0.1:{port}"),
        port,
        log: None,
    };
    wait_listening(serve.port).await;
    let url = format!("{}/v2-beta/projects/1a7/services", serve.base);
    assert_eq!(get(&url, ALICE).await.status, 403);
    assert_eq!(http(Method::GET, &url, None, &[], None).await.status, 401);
    let s = get(
        &format!("{}/v2-beta/projects/1a5/services/1s1", serve.base),
        ALICE,
    )
    .await
    .json();
    assert_eq!(
        (s["name"].as_str(), s["scale"].as_i64()),
        (Some("web"), Some(2))
    );
}

/// The README's first command, used as a newcomer would: start the demo, paste the curl
/// pair it prints, list, delete.
#[tokio::test]
async fn the_demo_as_printed() {
    let (port, sim_port) = (free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args([
            "demo",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--sim-listen",
            &format!("127.0.0.1:{sim_port}"),
        ])
        .env_remove("HOOKGATE_KEYS")
        .env_remove("HOOKGATE_KEYS_FILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn demo");
    let banner = read_until(&mut child, |t| t.contains("Ctrl-C"));
    let serve = Serve {
        child,
        base: format!("http://127.0.0.1:{port}"),
        port,
        log: None,
    };
    wait_listening(serve.port).await;
    for must in [
        "alice / alice-secret",
        "bob / bob-secret",
        "web UI",
        &format!("http://127.0.0.1:{port}/"),
    ] {
        assert!(banner.contains(must), "banner lacks {must}:\n{banner}");
    }
    // The web UI is the first address the banner gives, and it is there.
    let first = banner
        .lines()
        .find(|l| l.contains("http://"))
        .expect("an address");
    assert!(first.contains("web UI"), "{first}");
    let page = http(Method::GET, &format!("{}/", serve.base), None, &[], None).await;
    assert_eq!(page.status, 200);
    assert!(String::from_utf8_lossy(&page.body).contains("Receiver Hooks"));
    // The block after "fire it" is what a newcomer pastes, perhaps more than once.
    let start = banner.find("N=scale-web-up").expect("create command");
    let end = banner[start..].find("URL:?").expect("fire command") + start;
    let end = banner[end..].find('\n').map_or(banner.len(), |n| n + end);
    let block = banner[start..end].to_owned();
    let inspect = banner
        .lines()
        .find_map(|l| l.trim().strip_prefix("Open the token:"))
        .expect("inspect command")
        .trim()
        .to_owned();
    let paste = |script: String| async move {
        tokio::task::spawn_blocking(move || {
            Command::new("bash")
                .arg("-c")
                .arg(script)
                .output()
                .expect("bash")
        })
        .await
        .expect("join")
    };
    let mut outputs = Vec::new();
    for _ in 0..2 {
        outputs.push(paste(block.clone()).await);
    }
    // The third paste also opens the token it made, as the banner says.
    let third = paste(format!("{block}\n{inspect}\n")).await;
    assert!(
        third.status.success(),
        "{}",
        String::from_utf8_lossy(&third.stderr)
    );
    let mut docs =
        serde_json::Deserializer::from_slice(&third.stdout).into_iter::<serde_json::Value>();
    outputs.push(std::process::Output {
        stdout: serde_json::to_vec(&docs.next().expect("fired").expect("json")).expect("json"),
        ..third.clone()
    });
    let claims = docs.next().expect("inspected").expect("json");
    assert_eq!(claims["scaleServiceConfig"]["serviceId"], "1s1", "{claims}");
    assert_eq!(claims["projectId"], "1a5");
    for (i, out) in outputs.iter().enumerate() {
        let fired: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
        let from = 2 + i as i64;
        assert_eq!(
            (
                fired["outcome"].as_str(),
                fired["from"].as_i64(),
                fired["to"].as_i64()
            ),
            (Some("scaled"), Some(from), Some(from + 1)),
            "paste {i}"
        );
    }
    let sim = format!("http://127.0.0.1:{sim_port}");
    let s = get(&format!("{sim}/v2-beta/projects/1a5/services/1s1"), ALICE)
        .await
        .json();
    assert_eq!(s["scale"], 5);

    let list = get(
        &format!("{}/v1-webhooks/receivers?projectId=1a5", serve.base),
        ALICE,
    )
    .await
    .json();
    let recs = list["data"].as_array().expect("data").clone();
    assert_eq!(recs.len(), 3, "one receiver per paste");
    let rec = recs[0].clone();
    assert!(rec["name"]
        .as_str()
        .is_some_and(|n| n.starts_with("scale-web-up-")));
    let del = http(
        Method::DELETE,
        rec["links"]["self"].as_str().expect("self"),
        Some(ALICE),
        &[],
        None,
    )
    .await;
    assert_eq!(del.status, 204);
    let again = http(
        Method::POST,
        rec["url"].as_str().expect("url"),
        None,
        &[],
        None,
    )
    .await;
    assert_eq!(again.status, 403);
    // The demo's key file goes when the demo stops.
    let key_file = inspect
        .split_whitespace()
        .skip_while(|w| *w != "--keys-file")
        .nth(1)
        .expect("key file")
        .to_owned();
    assert!(std::path::Path::new(&key_file).exists());
    serve.signal("TERM");
    let stopped = eventually(|| async { !std::path::Path::new(&key_file).exists() }).await;
    assert!(stopped, "{key_file} is removed when the demo stops");
}

#[tokio::test]
async fn silent_and_slow_clients_are_cut_off() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let sim = start_sim(Duration::ZERO).await;
    let serve = spawn_serve(&sim, None, &["--header-timeout-ms", "400"]);
    wait_listening(serve.port).await;
    // Connects and sends nothing: closed at the first-byte deadline.
    let mut silent = tokio::net::TcpStream::connect(("127.0.0.1", serve.port))
        .await
        .expect("connect");
    let mut buf = [0u8; 256];
    let closed = tokio::time::timeout(Duration::from_secs(3), silent.read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "silent connection still open: {closed:?}"
    );
    // Slowloris: a header byte at a time, never finishing.
    let mut slow = tokio::net::TcpStream::connect(("127.0.0.1", serve.port))
        .await
        .expect("connect");
    let mut cut = false;
    for b in
        b"POST /v1-webhooks/endpoint HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa".iter()
    {
        if slow.write_all(&[*b]).await.is_err() {
            cut = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !cut {
        let r = tokio::time::timeout(Duration::from_secs(3), slow.read(&mut buf)).await;
        cut = matches!(r, Ok(Ok(_)) | Ok(Err(_)));
    }
    assert!(cut, "slowloris connection was not cut");
    // A body that is declared and never sent gets a 4xx within the body timeout.
    let mut stalled = tokio::net::TcpStream::connect(("127.0.0.1", serve.port))
        .await
        .expect("connect");
    stalled
        .write_all(b"POST /v1-webhooks/receivers?projectId=1a5 HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWxpY2U6YWxpY2Utc2VjcmV0\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        .await
        .expect("write");
    let n = tokio::time::timeout(Duration::from_secs(3), stalled.read(&mut buf))
        .await
        .expect("answered in time")
        .expect("read");
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
}

#[tokio::test]
async fn logs_an_operator_can_use() {
    let sim = start_sim(Duration::ZERO).await;
    let serve = spawn_serve_with(&sim, None, &[], &[("HOOKGATE_LOG_FORMAT", "json")], true);
    wait_listening(serve.port).await;
    let good = mint_on(
        &sim,
        &test_keys(),
        "1a5",
        DriverConfig::ScaleService(scale("1s1")),
    )
    .await;
    // A flood of forged tokens: every one counted, few logged.
    let mut forged = good.clone().into_bytes();
    let last = forged.len() - 10; // inside the tag, clear of its spare bits
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).expect("ascii");
    let url = format!("{}/v1-webhooks/endpoint?token={forged}", serve.base);
    let started = std::time::Instant::now();
    for _ in 0..200 {
        assert_eq!(http(Method::POST, &url, None, &[], None).await.status, 401);
    }
    // The limit is per calendar second: the run touches at most elapsed + 2 of them.
    let seconds = started.elapsed().as_secs() + 2;
    let metrics = http(
        Method::GET,
        &format!("{}/metrics", serve.base),
        None,
        &[],
        None,
    )
    .await;
    let text = String::from_utf8_lossy(&metrics.body).to_string();
    assert!(
        text.contains(r#"hookgate_trigger_refusals_total{reason="bad_signature"} 200"#),
        "{text}"
    );
    // A Cattle failure is a warning.
    http(
        Method::POST,
        &sim.url("/_sim/faults"),
        None,
        &[],
        Some(r#"{"pathPrefix": "/v2-beta/projects/1a5/services", "status": 500}"#),
    )
    .await;
    let r = http(
        Method::POST,
        &format!("{}/v1-webhooks/endpoint?token={good}", serve.base),
        None,
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 502);
    let done = eventually(|| async { serve.logged().contains(r#""status":502"#) }).await;
    assert!(done, "{}", serve.logged());
    let log = serve.logged();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let refusals = lines
        .iter()
        .filter(|l| l["message"] == "trigger refused")
        .count() as u64;
    assert!(
        refusals >= 1 && refusals <= 5 * seconds,
        "{refusals} refusal lines in {seconds} s"
    );
    let failed = lines
        .iter()
        .find(|l| l["status"] == 502)
        .expect("the failed trigger is logged");
    assert_eq!(failed["level"], "WARN", "{failed}");
    assert!(!log.contains(&good) && !log.contains(&forged));

    // Plain text for a file or a pipe: no terminal colours.
    let plain = spawn_serve_with(&sim, None, &[], &[], true);
    wait_listening(plain.port).await;
    let seen = eventually(|| async { plain.logged().contains("hookgate serving") }).await;
    assert!(seen);
    assert!(!plain.logged().contains('\u{1b}'), "{}", plain.logged());
}

#[tokio::test]
async fn a_wrong_service_account_is_named_at_start_and_on_triggers() {
    let sim = start_sim(Duration::ZERO).await;
    let serve = spawn_serve_with(
        &sim,
        None,
        &[],
        &[("CATTLE_SECRET_KEY", "not-the-secret")],
        true,
    );
    wait_listening(serve.port).await;
    let warned = eventually(|| async {
        let log = serve.logged();
        log.contains("CATTLE_ACCESS_KEY") && log.contains("CATTLE_SECRET_KEY")
    })
    .await;
    assert!(warned, "{}", serve.logged());
    assert!(
        serve.logged().contains(&sim.base),
        "the warning names the URL"
    );
    let token = mint_on(
        &sim,
        &test_keys(),
        "1a5",
        DriverConfig::ScaleService(scale("1s1")),
    )
    .await;
    let r = http(
        Method::POST,
        &format!("{}/v1-webhooks/endpoint?token={token}", serve.base),
        None,
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    let message = r.json()["message"].as_str().unwrap_or("").to_owned();
    assert!(message.contains("CATTLE_SECRET_KEY"), "{message}");
    assert!(!serve.logged().contains("not-the-secret"));
}

#[tokio::test]
async fn behind_cattles_proxy_the_api_is_internal_only() {
    let sim = start_sim(Duration::ZERO).await;
    let api_port = free_port();
    // `--listen` (set by the helper) is the public listener in this mode.
    let serve = spawn_serve_with(
        &sim,
        None,
        &[
            "--behind-cattle-proxy",
            "--api-listen",
            &format!("127.0.0.1:{api_port}"),
        ],
        &[],
        false,
    );
    wait_listening(serve.port).await;
    wait_listening(api_port).await;
    let internal = format!("http://127.0.0.1:{api_port}");
    let headers = [("x-api-project-id", "1a5"), ("x-api-roles", "owner")];
    let list = |base: String| async move {
        http(
            Method::GET,
            &format!("{base}/v1-webhooks/receivers"),
            None,
            &headers,
            None,
        )
        .await
        .status
    };
    assert_eq!(list(internal.clone()).await, 200);
    assert_eq!(list(serve.base.clone()).await, 404);
    assert_eq!(
        http(
            Method::GET,
            &format!("{internal}/v1-webhooks/receivers"),
            None,
            &[],
            None
        )
        .await
        .status,
        401
    );
}

#[tokio::test]
async fn healthcheck_needs_no_shell_and_speaks_tls() {
    let sim = start_sim(Duration::ZERO).await;
    let dir = std::env::temp_dir().join(format!("hookgate-health-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (cert, key, ca) = test_pki("localhost").write_to(&dir);
    let plain = spawn_serve(&sim, None, &[]);
    let tls = spawn_serve(&sim, Some((&cert, &key)), &[]);
    wait_listening(plain.port).await;
    wait_listening(tls.port).await;
    let check = |args: Vec<String>| {
        let out = Command::new(env!("CARGO_BIN_EXE_hookgate"))
            .arg("healthcheck")
            .args(args)
            .env_remove("HOOKGATE_HEALTHCHECK_URL")
            .output()
            .expect("run healthcheck");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let url = |scheme: &str, port: u16| format!("{scheme}://localhost:{port}/healthz");
    assert_eq!(
        check(vec!["--url".into(), url("http", plain.port)]).0,
        Some(0)
    );
    let with_ca = vec![
        "--url".into(),
        url("https", tls.port),
        "--ca-file".into(),
        ca.display().to_string(),
    ];
    assert_eq!(check(with_ca).0, Some(0));
    // Not trusted without the CA; nothing listening; a path that is not 200.
    let (code, err) = check(vec!["--url".into(), url("https", tls.port)]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("unhealthy"), "{err}");
    let (code, err) = check(vec!["--url".into(), url("http", free_port())]);
    assert_eq!(code, Some(1), "{err}");
    let (code, err) = check(vec![
        "--url".into(),
        format!("http://localhost:{}/nothing", plain.port),
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("404"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every trigger that acts is logged; triggers that change nothing (here: at the bound) are
/// logged at most 20 a second, the rest counted, and the next line written says how many
/// were left out — so the log accounts for every one of them.
#[tokio::test]
async fn every_action_is_logged_and_no_op_lines_are_bounded_but_accounted_for() {
    let sim = start_sim(Duration::ZERO).await;
    let serve = spawn_serve_with(&sim, None, &[], &[], true);
    wait_listening(serve.port).await;
    // Up by one to at most `max` on web, which runs 2 containers.
    let keys = test_keys();
    let up_to = |max: u32| {
        let config = DriverConfig::ScaleService(ScaleServiceConfig {
            max,
            ..scale("1s1")
        });
        mint_on(&sim, &keys, "1a5", config)
    };
    let idle = up_to(2).await;
    let acting = up_to(1_000).await;
    let fire = |token: &str| {
        let url = format!("{}/v1-webhooks/endpoint?token={token}", serve.base);
        async move { http(Method::POST, &url, None, &[], Some("")).await.status }
    };

    let burst = 80;
    for _ in 0..burst {
        assert_eq!(fire(&idle).await, 200);
    }
    // A second later, one more: its line reports what the burst left out.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(fire(&idle).await, 200);
    let acted = 30;
    let answers = futures_util::future::join_all((0..acted).map(|_| fire(&acting))).await;
    assert!(answers.iter().all(|s| *s == 200), "{answers:?}");

    let all_logged =
        eventually(|| async { serve.logged().matches("outcome=\"scaled\"").count() == acted })
            .await;
    let log = serve.logged();
    assert!(all_logged, "every scaling trigger has its line: {log}");
    let idle_lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("outcome=\"unchanged\""))
        .collect();
    let left_out: u64 = idle_lines
        .iter()
        .filter_map(|l| {
            l.split(" suppressed=")
                .nth(1)?
                .split(' ')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert!(
        idle_lines.len() < burst,
        "{} of {burst} no-op triggers logged",
        idle_lines.len()
    );
    assert_eq!(
        idle_lines.len() as u64 + left_out,
        burst as u64 + 1,
        "logged + reported left out = fired: {idle_lines:#?}"
    );
    let text = scrape(&serve.base).await;
    let counted = metric_sum(&text, "hookgate_triggers_total", r#"outcome="unchanged""#);
    assert_eq!(counted, (burst + 1) as f64, "every one is counted");
}
