//! The whole HTTP service — hyper's parser, the router, the trigger path and the management
//! API — served by `server::serve_stream` over an in-memory pipe, against the simulator in
//! the same process. The first byte picks how the rest becomes a request:
//!
//! - 0: raw bytes, then the pipe's write half closes (any framing, HTTP/2 prefaces);
//! - 1: a trigger whose token is a minted one with fuzzed bytes flipped, and a fuzzed body;
//! - 2: a trigger with a fuzzed query string and body;
//! - 3: a management API call: fuzzed method, credentials, path and body.
//!
//! Properties: every connection ends; no answer is a 5xx (the simulator has no faults, so a
//! 5xx is a bug of ours); and a token that does not verify never reaches Cattle — the
//! simulator sees no call, and the answer is a 4xx.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hookgate::app::{App, Settings};
use hookgate::cattle::{Cattle, CattleConfig};
use hookgate::config::Limits;
use hookgate::http::{Conn, Surface};
use hookgate::jwt::RancherKey;
use hookgate::sim::Sim;
use hookgate::token::KeyRing;
use hookgate::trigger::{parse_query, Target};
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

struct Harness {
    rt: tokio::runtime::Runtime,
    app: App,
    sim: Arc<Sim>,
    limits: Limits,
    /// The queries of two receivers' trigger URLs: scale `web` up, scale it down.
    minted: [String; 2],
}

static HARNESS: OnceLock<Harness> = OnceLock::new();

const ALICE: &str = "Basic YWxpY2U6YWxpY2Utc2VjcmV0"; // alice:alice-secret
const CREDENTIALS: [Option<&str>; 4] = [
    None,
    Some(ALICE),
    Some("Basic Ym9iOmJvYi1zZWNyZXQ="), // bob:bob-secret, another project
    Some("Basic YWxpY2U6d3Jvbmc="),     // alice:wrong
];
const METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"];

fuzz_target!(|data: &[u8]| {
    let h = HARNESS.get_or_init(Harness::new);
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    h.rt.block_on(h.one(mode % 4, rest));
});

impl Harness {
    fn new() -> Harness {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let sim = Arc::new(Sim::with_default_world(Duration::from_millis(20)));
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        rt.spawn(hookgate::sim::serve(
            listener,
            sim.clone(),
            std::future::pending(),
        ));
        let limits = Limits {
            max_body_bytes: 64 * 1024,
            header_timeout: Duration::from_secs(2),
            tls_handshake_timeout: Duration::from_secs(2),
            max_connections: 16,
            shutdown_grace: Duration::from_secs(1),
        };
        let cattle = Cattle::new(&CattleConfig {
            url,
            access_key: "service".into(),
            secret_key: "service-secret".into(),
            timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(1),
            extra_roots_pem: None,
        })
        .expect("client");
        let rancher_key = RancherKey::from_pem(include_str!(
            "../../tests/fixtures/rancher-1.4-test-key.pub.pem"
        ))
        .expect("test public key");
        let settings = Settings {
            public_url: None,
            trust_forwarded_headers: false,
            revocation_ttl: Duration::from_secs(60),
            drivers: hookgate::drivers::Settings::default(),
            limits: limits.clone(),
            legacy_key_urls: true,
            rancher_key: Some(Arc::new(rancher_key)),
        };
        let keys = KeyRing::new([("f0", vec![7u8; 32])]).expect("ring");
        let app = App::new(keys, cattle, settings);
        let mut h = Harness {
            rt,
            app,
            sim,
            limits,
            minted: [String::new(), String::new()],
        };
        for (i, action) in ["up", "down"].into_iter().enumerate() {
            let body = format!(
                r#"{{"name":"fuzz-{action}","driver":"scaleService","scaleServiceConfig":
                   {{"serviceId":"1s1","action":"{action}","amount":1,"min":1,"max":6}}}}"#
            );
            let req = request(
                "POST",
                "/v1-webhooks/receivers?projectId=1a5",
                Some(ALICE),
                body.as_bytes(),
            );
            let (status, answer) = h.rt.block_on(h.exchange(req, false));
            assert_eq!(status, Some(200), "{}", String::from_utf8_lossy(&answer));
            let answer = String::from_utf8_lossy(&answer);
            let url = answer
                .split("\"url\":\"")
                .nth(1)
                .and_then(|u| u.split('"').next())
                .expect("a trigger url");
            h.minted[i] = url.split_once('?').expect("a query").1.to_owned();
        }
        h
    }

    async fn one(&self, mode: u8, data: &[u8]) {
        let mut fields = data.split(|&b| b == 0);
        let mut next = || fields.next().unwrap_or_default();
        let (query, req, raw) = match mode {
            0 => (None, data.to_vec(), true),
            1 => {
                let edits = next();
                let which = edits.first().map_or(0, |b| usize::from(b & 1));
                let mut query = self.minted[which].clone().into_bytes();
                for pair in edits.get(1..).unwrap_or_default().chunks_exact(2).take(8) {
                    let at = usize::from(pair[0]) % query.len();
                    query[at] ^= pair[1];
                }
                let query = visible(&query);
                let path = format!("/v1-webhooks/endpoint?{query}");
                (Some(query), request("POST", &path, None, next()), false)
            }
            2 => {
                let query = visible(next());
                let path = format!("/v1-webhooks/endpoint?{query}");
                (Some(query), request("POST", &path, None, next()), false)
            }
            _ => {
                let pick = next();
                let method =
                    METHODS[usize::from(pick.first().copied().unwrap_or(0)) % METHODS.len()];
                let auth =
                    CREDENTIALS[usize::from(pick.get(1).copied().unwrap_or(0)) % CREDENTIALS.len()];
                let path = format!("/v1-webhooks{}", visible(next()));
                (None, request(method, &path, auth, next()), false)
            }
        };
        // Only the trigger path's verdict on the token is compared with Cattle's call log.
        let forged = query.as_deref().and_then(|q| match parse_query(Some(q)) {
            Ok(q) => match q.target {
                Target::Token(t) => Some(!self.verifies(t)),
                Target::Legacy { .. } => None,
            },
            Err(_) => Some(true),
        });
        let before = self.sim.calls_made();
        let (status, answer) = self.exchange(req, raw).await;
        if let Some(status) = status {
            assert!(
                status < 500,
                "answered {status}: {}",
                String::from_utf8_lossy(&answer)
            );
        }
        if forged == Some(true) {
            assert_eq!(
                self.sim.calls_made(),
                before,
                "a trigger refused before verification reached Cattle: {status:?} {}",
                String::from_utf8_lossy(&answer)
            );
            assert!(status.is_none_or(|s| (400..500).contains(&s)), "{status:?}");
        }
        if before > 100_000 {
            self.sim.forget_calls();
        }
    }

    fn verifies(&self, token: &str) -> bool {
        let now = hookgate::unix_now();
        self.app.keys.open(token, now).is_ok()
            || self
                .app
                .settings
                .rancher_key
                .as_ref()
                .is_some_and(|k| k.open(token, now).is_ok())
    }

    /// Sends `req` on a fresh connection and reads until the server closes it; the status
    /// of the first answer, if there was one. `raw`: close our write half after sending
    /// (the bytes may not frame a whole request).
    async fn exchange(&self, req: Vec<u8>, raw: bool) -> (Option<u16>, Vec<u8>) {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let conn = Conn {
            tls: false,
            surface: Surface::Front,
        };
        let serve = hookgate::server::serve_stream(server, conn, self.app.clone(), &self.limits);
        let talk = async move {
            let _ = client.write_all(&req).await;
            if raw {
                let _ = client.shutdown().await;
            }
            let mut answer = Vec::new();
            let _ = client.read_to_end(&mut answer).await;
            answer
        };
        let both = async { tokio::join!(serve, talk).1 };
        let answer = tokio::time::timeout(Duration::from_secs(10), both)
            .await
            .expect("the connection did not end within 10 s");
        let status = answer
            .strip_prefix(b"HTTP/1.1 ")
            .and_then(|s| s.get(..3))
            .and_then(|s| std::str::from_utf8(s).ok()?.parse().ok());
        (status, answer)
    }
}

/// One whole HTTP/1.1 request that asks for the connection to close after its answer.
fn request(method: &str, path: &str, auth: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nhost: fuzz\r\nconnection: close\r\n");
    if let Some(auth) = auth {
        r.push_str(&format!("authorization: {auth}\r\n"));
    }
    r.push_str(&format!(
        "content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    ));
    let mut r = r.into_bytes();
    r.extend_from_slice(body);
    r
}

/// Bytes a request target can hold as they are: visible ASCII but `#`.
fn visible(bytes: &[u8]) -> String {
    bytes
        .iter()
        .filter(|&&b| b.is_ascii_graphic() && b != b'#')
        .map(|&b| char::from(b))
        .collect()
}
