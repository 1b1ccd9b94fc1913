//! Hostile input against a real `hookgate serve` process: memory stays bounded whatever
//! strangers and token holders send, and what an operator reads stays usable.

use std::time::Duration;

use futures_util::future::join_all;
use hookgate::drivers::DriverConfig;
use http::Method;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::support::*;

const MB: u64 = 1 << 20;

/// Runs `f` over `items`, `width` at a time.
async fn in_waves<T, F, Fut>(items: Vec<T>, width: usize, f: F) -> Vec<Fut::Output>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future,
{
    let mut out = Vec::new();
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        let wave: Vec<_> = items.by_ref().take(width).map(&f).collect();
        out.extend(join_all(wave).await);
    }
    out
}

#[tokio::test]
async fn huge_alert_identities_are_refused_and_not_remembered() {
    let sim = start_sim(Duration::ZERO).await;
    let serve = spawn_serve(&sim, None, &[]);
    wait_listening(serve.port).await;
    let token = mint_on(
        &sim,
        &test_keys(),
        "1a5",
        DriverConfig::ScaleService(scale("1s1")),
    )
    .await;
    let url = format!("{}/v1-webhooks/endpoint?token={token}", serve.base);
    // Warm up: the process has served triggers and alert bodies before it is measured.
    let small = fixture("alertmanager-firing.json");
    for _ in 0..20 {
        http(Method::POST, &url, None, &[], Some(&small)).await;
    }
    let before = serve.rss();
    // The repro: 300 notifications, each with a 500 KB fingerprint and startsAt.
    let huge = "f".repeat(500_000);
    let body = format!(
        r#"{{"status":"firing","alerts":[{{"fingerprint":"{huge}","startsAt":"2026-11-29T10:00:00.{huge}Z"}}]}}"#
    );
    let statuses = in_waves((0..300).collect(), 10, |_| {
        let (url, body) = (url.clone(), body.clone());
        async move {
            http(Method::POST, &url, None, &[], Some(&body))
                .await
                .status
        }
    })
    .await;
    assert!(statuses.iter().all(|s| *s == 400), "{statuses:?}");
    let grown = serve.rss().saturating_sub(before);
    // Before the fix this kept ~590 MB; the bodies in flight at once are ~10 MB.
    assert!(grown < 64 * MB, "RSS grew by {} MB", grown / MB);
}

#[tokio::test]
async fn strangers_cannot_make_the_api_buffer_bodies() {
    let sim = start_sim(Duration::ZERO).await;
    let serve = spawn_serve(&sim, None, &["--header-timeout-ms", "4000"]);
    wait_listening(serve.port).await;
    let addr = ("127.0.0.1", serve.port);
    // Warm up the API path once.
    http(
        Method::GET,
        &format!("{}/v1-webhooks/receivers?projectId=1a5", serve.base),
        Some(ALICE),
        &[],
        None,
    )
    .await;
    let before = serve.rss();
    // The repro: 300 connections without credentials, each stalling near the end of a
    // 1 MiB body. Each is refused on its headers, before a byte of body is read.
    let chunk = vec![b'x'; 64 * 1024];
    let answers = join_all((0..300).map(|_| {
        let chunk = chunk.clone();
        async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
            s.write_all(
                b"POST /v1-webhooks/receivers?projectId=1a5 HTTP/1.1\r\nHost: x\r\n\
                  Content-Type: application/json\r\nContent-Length: 1048576\r\n\r\n",
            )
            .await
            .expect("head");
            // Send what the socket takes without blocking for long; the server reads none.
            for _ in 0..15 {
                match tokio::time::timeout(Duration::from_millis(50), s.write_all(&chunk)).await {
                    Ok(Ok(())) => {}
                    _ => break,
                }
            }
            let mut buf = [0u8; 64];
            let head = match tokio::time::timeout(Duration::from_secs(15), s.read(&mut buf)).await {
                Ok(Ok(n)) => String::from_utf8_lossy(&buf[..n]).to_string(),
                Ok(Err(e)) => format!("reset: {e}"),
                Err(_) => "no answer within 15 s".to_owned(),
            };
            (s, head)
        }
    }))
    .await;
    // Every connection is refused: a 401, or — the server closes each with body bytes
    // unread, and on a loaded machine the kernel's reset can overtake the 401 in flight — a
    // reset or an end of stream. Never another answer, never silence.
    let refused = answers
        .iter()
        .filter(|(_, head)| head.starts_with("HTTP/1.1 401"))
        .count();
    let bad: Vec<&String> = answers
        .iter()
        .map(|(_, h)| h)
        .filter(|h| !(h.starts_with("HTTP/1.1 401") || h.is_empty() || h.starts_with("reset")))
        .collect();
    assert!(bad.is_empty(), "{bad:?}");
    assert!(refused >= 150, "only {refused} of 300 answered 401");
    let grown = serve.rss().saturating_sub(before);
    drop(answers);
    assert!(grown < 32 * MB, "RSS grew by {} MB", grown / MB);

    // Credentials of a valid form (unchecked until a body is read) buy at most the API's
    // 64 KiB per connection: a declared 1 MiB is refused at once, and stalled bodies within
    // the limit are bounded by it.
    let before = serve.rss();
    let stalled = join_all((0..300).map(|i| async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (len, send) = if i % 2 == 0 {
            (1_048_576, 0)
        } else {
            (65_000, 64_000)
        };
        let head = format!(
            "POST /v1-webhooks/receivers?projectId=1a5 HTTP/1.1\r\nHost: x\r\n\
             Authorization: Basic YWxpY2U6YWxpY2Utc2VjcmV0\r\nContent-Type: application/json\r\n\
             Content-Length: {len}\r\n\r\n"
        );
        s.write_all(head.as_bytes()).await.expect("head");
        s.write_all(&vec![b' '; send]).await.expect("body");
        (i, s)
    }))
    .await;
    // Every declared-too-large request is answered 413 at once.
    let mut refused = 0;
    let mut held = Vec::new();
    for (i, mut s) in stalled {
        if i % 2 == 0 {
            let mut buf = [0u8; 64];
            let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
                .await
                .expect("answered")
                .expect("read");
            assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 413"));
            refused += 1;
        } else {
            held.push(s);
        }
    }
    assert_eq!(refused, 150);
    let grown = serve.rss().saturating_sub(before);
    assert!(grown < 48 * MB, "RSS grew by {} MB", grown / MB);
    drop(held);
}

/// Sends `bytes` on a fresh connection and reads everything until the server closes it (or
/// `wait` passes).
async fn raw(port: u16, bytes: &[u8], wait: Duration) -> String {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let _ = s.write_all(bytes).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(wait, s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn malformed_and_smuggled_requests_get_one_answer_and_never_a_second() {
    let sim = start_sim(Duration::ZERO).await;
    let serve = spawn_serve(&sim, None, &[]);
    wait_listening(serve.port).await;
    let huge = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(40_000)
    );
    // hyper's bound is 100 header lines: Host, Connection and 98 more pass; one more does not.
    let headers = |n: usize| {
        format!(
            "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{}\r\n",
            (0..n).map(|i| format!("X-H{i}: v\r\n")).collect::<String>()
        )
    };
    let pipelined_healthz = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let cases: Vec<(&str, Vec<u8>, &[u16])> = vec![
        ("one huge header", huge.into_bytes(), &[431]),
        ("a hundred and one header lines", headers(99).into_bytes(), &[431]),
        (
            "Content-Length and Transfer-Encoding, then a pipelined request",
            format!(
                "POST /v1-webhooks/endpoint?token=x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\
                 Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n{pipelined_healthz}"
            )
            .into_bytes(),
            &[400],
        ),
        (
            "two different Content-Lengths",
            format!(
                "POST /v1-webhooks/endpoint?token=x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\
                 Content-Length: 6\r\n\r\nhello{pipelined_healthz}"
            )
            .into_bytes(),
            &[400],
        ),
        (
            "invalid UTF-8 in the query",
            b"POST /v1-webhooks/endpoint?token=\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            &[400],
        ),
        (
            "an escaped token",
            b"POST /v1-webhooks/endpoint?token=%68g1.a.b.c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                .to_vec(),
            &[400],
        ),
        (
            "an unknown method",
            b"BREW /v1-webhooks/endpoint HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
            &[405],
        ),
    ];
    for (name, bytes, want) in cases {
        let got = raw(serve.port, &bytes, Duration::from_secs(5)).await;
        let answers = got.matches("HTTP/1.1 ").count();
        let status: u16 = got
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .unwrap_or_default();
        assert!(want.contains(&status), "{name}: {got:.200}");
        // One answer: the connection is closed after a request it cannot trust, so nothing
        // smuggled behind it is ever answered.
        assert_eq!(answers, 1, "{name}: {got:.400}");
        assert!(
            !got.contains("\r\n\r\nok\n"),
            "{name}: the pipelined request was answered"
        );
    }
    // A hundred header lines are served.
    let got = raw(serve.port, headers(98).as_bytes(), Duration::from_secs(5)).await;
    assert!(got.starts_with("HTTP/1.1 200"), "{got:.200}");
    // And the server is as it was.
    let r = http(
        Method::GET,
        &format!("{}/healthz", serve.base),
        None,
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn tls_handshakes_that_never_finish_are_cut_and_cost_nothing() {
    let sim = start_sim(Duration::ZERO).await;
    let dir = std::env::temp_dir().join(format!("hookgate-hs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let pki = test_pki("localhost");
    let (cert, key, ca) = pki.write_to(&dir);
    let serve = spawn_serve(
        &sim,
        Some((&cert, &key)),
        &["--tls-handshake-timeout-ms", "500"],
    );
    wait_listening(serve.port).await;
    let before = serve.rss();
    // 300 clients that start a TLS handshake (a record header and a few bytes of a
    // ClientHello) and never finish it.
    let stalled = join_all((0..300).map(|_| async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", serve.port))
            .await
            .expect("connect");
        s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc])
            .await
            .expect("partial hello");
        s
    }))
    .await;
    // Meanwhile a real client is served.
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "5", "--cacert"])
        .arg(&ca)
        .arg(format!("https://localhost:{}/healthz", serve.port))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n", "{out:?}");
    // Each stalled one is cut after the handshake deadline.
    let cut = join_all(stalled.into_iter().map(|mut s| async move {
        let mut buf = [0u8; 64];
        matches!(
            tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await,
            Ok(Ok(0) | Err(_))
        )
    }))
    .await;
    assert!(
        cut.iter().all(|c| *c),
        "{} of 300 still open",
        cut.iter().filter(|c| !**c).count()
    );
    let grown = serve.rss().saturating_sub(before);
    assert!(grown < 16 * MB, "RSS grew by {} MB", grown / MB);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn http2_rapid_reset_and_stream_floods_cost_nothing_lasting() {
    let sim = start_sim(Duration::ZERO).await;
    let serve = spawn_serve(&sim, None, &[]);
    wait_listening(serve.port).await;
    let before = serve.rss();
    let uri = format!(
        "http://127.0.0.1:{}/v1-webhooks/endpoint?token=x",
        serve.port
    );
    let connect = || async {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", serve.port))
            .await
            .expect("connect");
        let (client, conn) = h2::client::handshake(tcp).await.expect("h2 handshake");
        (client, tokio::spawn(conn))
    };
    // HTTP/2 with prior knowledge on the plain listener: open a stream and reset it at once,
    // 20,000 times (CVE-2023-44487's pattern). Each costs what a refused request costs and
    // leaves nothing behind.
    let (mut client, driver) = connect().await;
    let mut reset = 0;
    for _ in 0..20_000 {
        let req = http::Request::post(&uri).body(()).expect("request");
        let Ok(Ok(mut ready)) =
            tokio::time::timeout(Duration::from_secs(2), client.clone().ready()).await
        else {
            break;
        };
        let Ok((_, mut stream)) = ready.send_request(req, false) else {
            break;
        };
        stream.send_reset(h2::Reason::CANCEL);
        reset += 1;
        client = ready;
    }
    drop(client);
    let _ = tokio::time::timeout(Duration::from_secs(5), driver).await;
    assert!(reset > 1000, "only {reset} streams opened");
    // A flood of streams that never send their body: at most 256 at once are served, each is
    // refused on its token without reading a byte, and the connection stays usable.
    let (client, driver) = connect().await;
    let mut held = Vec::new();
    for _ in 0..1000 {
        let req = http::Request::post(&uri).body(()).expect("request");
        let Ok(Ok(mut ready)) =
            tokio::time::timeout(Duration::from_secs(2), client.clone().ready()).await
        else {
            break;
        };
        match ready.send_request(req, false) {
            Ok((answer, body)) => held.push((answer, body)),
            Err(_) => break,
        }
    }
    assert!(held.len() >= 256, "{} streams opened", held.len());
    let mut refused = 0;
    for (answer, _body) in held.drain(..) {
        if let Ok(Ok(r)) = tokio::time::timeout(Duration::from_secs(5), answer).await {
            assert_eq!(r.status(), 400);
            refused += 1;
        }
    }
    assert!(refused >= 256, "{refused} answered");
    drop(client);
    let _ = tokio::time::timeout(Duration::from_secs(5), driver).await;
    let grown = serve.rss().saturating_sub(before);
    assert!(grown < 16 * MB, "RSS grew by {} MB", grown / MB);
    let r = http(
        Method::GET,
        &format!("{}/healthz", serve.base),
        None,
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 200);
}
