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
