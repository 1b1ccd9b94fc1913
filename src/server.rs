//! The accept loop: TCP, optional TLS, HTTP/1.1 and HTTP/2, limits, graceful shutdown.
//!
//! Defaults in hyper-util leave connections open forever in several ways (docs/serving.md),
//! so:
//! every builder has a timer; a plain connection must send its first byte within the header
//! timeout (the auto builder reads the protocol version without a timer); TLS connections
//! pick h1 or h2 from ALPN and the handshake itself has a deadline; HTTP/2 pings idle peers;
//! header sizes and counts are bounded (the count by hyper's own limit); a semaphore bounds
//! concurrent connections.
//!
//! One server may own several listeners (the proxy deployment has an internal one for Cattle
//! and a public one for triggers); each says which [`Surface`] it serves.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::app::App;
use crate::config::Limits;
use crate::http::{Conn, Surface};

const MAX_HEADER_BYTES: usize = 32 * 1024;

/// One bound socket and what it serves.
pub struct Listener {
    pub tcp: TcpListener,
    /// TLS for this listener (`None`: plain HTTP).
    pub tls: Option<rustls::ServerConfig>,
    pub surface: Surface,
}

impl Listener {
    pub fn plain(tcp: TcpListener, surface: Surface) -> Self {
        Self {
            tcp,
            tls: None,
            surface,
        }
    }
}

/// Serves `app` on every listener until `shutdown` resolves, then stops accepting and lets
/// in-flight requests finish for up to `limits.shutdown_grace`. The connection limit is
/// shared by all listeners.
pub async fn run(
    listeners: Vec<Listener>,
    app: App,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let listeners: Vec<(TcpListener, Option<TlsAcceptor>, Surface)> = listeners
        .into_iter()
        .map(|l| {
            (
                l.tcp,
                l.tls.map(|c| TlsAcceptor::from(Arc::new(c))),
                l.surface,
            )
        })
        .collect();
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
        let (i, accepted) = tokio::select! {
            a = accept_any(&listeners) => a,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (_, acceptor, surface) = &listeners[i];
        let (app, limits, acceptor, surface, watcher) = (
            app.clone(),
            limits.clone(),
            acceptor.clone(),
            *surface,
            graceful.watcher(),
        );
        tokio::spawn(async move {
            serve_connection(stream, peer, acceptor, surface, app, &limits, watcher).await;
            drop(permit);
        });
    }
    drop(listeners);
    tracing::info!(
        grace_s = limits.shutdown_grace.as_secs(),
        "stopped accepting; finishing in-flight requests"
    );
    match tokio::time::timeout(limits.shutdown_grace, graceful.shutdown()).await {
        Ok(()) => tracing::info!("all connections closed"),
        Err(_) => tracing::warn!("shutdown grace period ended with connections still open"),
    }
}

/// The next connection on any of the listeners, and which one it came to.
async fn accept_any(
    listeners: &[(TcpListener, Option<TlsAcceptor>, Surface)],
) -> (usize, std::io::Result<(TcpStream, SocketAddr)>) {
    std::future::poll_fn(|cx| {
        for (i, (l, _, _)) in listeners.iter().enumerate() {
            if let Poll::Ready(r) = l.poll_accept(cx) {
                return Poll::Ready((i, r));
            }
        }
        Poll::Pending
    })
    .await
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: Option<TlsAcceptor>,
    surface: Surface,
    app: App,
    limits: &Limits,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let svc = service(
        app,
        Conn {
            tls: acceptor.is_some(),
            surface,
        },
    );
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

/// Serves one connection already established on any byte stream (HTTP/1.1, or HTTP/2 after
/// its preface), with the service and limits every listener uses — but without the
/// listener's first-byte deadline, TLS or shutdown watch, which belong to the socket. The
/// fuzz target `http_service` drives the whole service this way over an in-memory pipe.
pub async fn serve_stream<I>(io: I, conn: Conn, app: App, limits: &Limits) -> Result<(), BoxError>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    builder(limits)
        .serve_connection(TokioIo::new(io), service(app, conn))
        .await
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The service of one connection: every request goes to the router, tagged with what the
/// connection serves.
fn service(
    app: App,
    conn: Conn,
) -> impl hyper::service::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = crate::http::Resp,
    Error = Infallible,
    Future = impl Future<Output = Result<crate::http::Resp, Infallible>> + Send + 'static,
> + Clone
       + Send
       + 'static {
    service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(crate::router::dispatch(&app, conn, req).await) }
    })
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
        // The header count keeps hyper's own bound, 100 (a 431 past it), on purpose: naming
        // any count, even 100, makes hyper fill its header array element by element and
        // copy it, for every request (docs/serving.md, "Limits and timeouts").
        .max_buf_size(MAX_HEADER_BYTES);
    b.http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(limits.header_timeout))
        .keep_alive_timeout(limits.header_timeout)
        .max_header_list_size(MAX_HEADER_BYTES as u32)
        .max_concurrent_streams(256);
    b
}
