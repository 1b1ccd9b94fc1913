//! The accept loop: TCP, optional TLS, HTTP/1.1 and HTTP/2, limits, graceful shutdown.
//!
//! Defaults in hyper-util leave connections open forever in several ways (HARDENING.md), so:
//! every builder has a timer; a plain connection must send its first byte within the header
//! timeout (the auto builder reads the protocol version without a timer); TLS connections
//! pick h1 or h2 from ALPN and the handshake itself has a deadline; HTTP/2 pings idle peers;
//! header sizes and counts are bounded; a semaphore bounds concurrent connections.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::app::{App, ConnTls};
use crate::config::Limits;

const MAX_HEADER_BYTES: usize = 32 * 1024;
const MAX_HEADERS: usize = 64;

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting and lets
/// in-flight requests finish for up to `limits.shutdown_grace`.
pub async fn run(
    listener: TcpListener,
    tls: Option<rustls::ServerConfig>,
    app: App,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = tls.map(|c| TlsAcceptor::from(Arc::new(c)));
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        // Take a connection slot first: past the limit, new peers wait in the backlog.
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let (app, limits, acceptor, watcher) = (
            app.clone(),
            limits.clone(),
            acceptor.clone(),
            graceful.watcher(),
        );
        tokio::spawn(async move {
            serve_connection(stream, peer, acceptor, app, &limits, watcher).await;
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!(
        grace_s = limits.shutdown_grace.as_secs(),
        "stopped accepting; finishing in-flight requests"
    );
    match tokio::time::timeout(limits.shutdown_grace, graceful.shutdown()).await {
        Ok(()) => tracing::info!("all connections closed"),
        Err(_) => tracing::warn!("shutdown grace period ended with connections still open"),
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: Option<TlsAcceptor>,
    app: App,
    limits: &Limits,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let tls = ConnTls(acceptor.is_some());
    let svc = service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        let app = app.clone();
        req.extensions_mut().insert(tls);
        async move { Ok::<_, Infallible>(app.handle(req).await) }
    });
    match acceptor {
        Some(acceptor) => {
            let tls =
                match tokio::time::timeout(limits.tls_handshake_timeout, acceptor.accept(stream))
                    .await
                {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "tls handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "tls handshake timed out");
                        return;
                    }
                };
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
            let io = TokioIo::new(tls);
            let result = if h2 {
                watcher.watch(http2(limits).serve_connection(io, svc)).await
            } else {
                watcher.watch(http1(limits).serve_connection(io, svc)).await
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        }
        None => {
            // The auto builder sniffs h1 vs h2c without a timer: demand a first byte in time.
            let mut first = [0u8; 1];
            match tokio::time::timeout(limits.header_timeout, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
            let mut builder = auto::Builder::new(TokioExecutor::new());
            configure_http1(&mut builder.http1(), limits);
            configure_http2(&mut builder.http2(), limits);
            let conn = builder.serve_connection(TokioIo::new(stream), svc);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        }
    }
}

fn http1(limits: &Limits) -> hyper::server::conn::http1::Builder {
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEADER_BYTES)
        .max_headers(MAX_HEADERS);
    b
}

fn configure_http1(b: &mut auto::Http1Builder<'_, TokioExecutor>, limits: &Limits) {
    b.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEADER_BYTES)
        .max_headers(MAX_HEADERS);
}

fn http2(limits: &Limits) -> hyper::server::conn::http2::Builder<TokioExecutor> {
    let mut b = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    b.timer(TokioTimer::new())
        .keep_alive_interval(Some(limits.header_timeout))
        .keep_alive_timeout(limits.header_timeout)
        .max_header_list_size(MAX_HEADER_BYTES as u32)
        .max_concurrent_streams(256);
    b
}

fn configure_http2(b: &mut auto::Http2Builder<'_, TokioExecutor>, limits: &Limits) {
    b.timer(TokioTimer::new())
        .keep_alive_interval(Some(limits.header_timeout))
        .keep_alive_timeout(limits.header_timeout)
        .max_header_list_size(MAX_HEADER_BYTES as u32)
        .max_concurrent_streams(256);
}
