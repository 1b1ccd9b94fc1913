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
    let builder = builder(limits);
    let (io, builder) = match acceptor {
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
            // ALPN has chosen the protocol: nothing to sniff.
            let builder = if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                builder.http2_only()
            } else {
                builder.http1_only()
            };
            (Box::new(tls) as Box<dyn Stream>, builder)
        }
        None => {
            // The auto builder sniffs h1 vs h2c without a timer: demand a first byte in time.
            let mut first = [0u8; 1];
            match tokio::time::timeout(limits.header_timeout, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
            (Box::new(stream) as Box<dyn Stream>, builder)
        }
    };
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    let result = watcher.watch(conn.into_owned()).await;
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// A plain or TLS connection, served by the same code.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

/// One builder for every connection: HTTP/1.1 and HTTP/2 with the same limits and timers.
fn builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEADER_BYTES)
        .max_headers(MAX_HEADERS);
    b.http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(limits.header_timeout))
        .keep_alive_timeout(limits.header_timeout)
        .max_header_list_size(MAX_HEADER_BYTES as u32)
        .max_concurrent_streams(256);
    b
}
