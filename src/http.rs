//! Small HTTP helpers shared by the trigger path, the management API and the operator
//! routes: the response type, JSON and text bodies, capability-safe caching headers, bounded
//! body reading, and what the server knows about each connection.

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;

use crate::error::Error;

pub type Resp = Response<Full<Bytes>>;

/// Which routes a listener serves and which headers it trusts (docs/security.md,
/// "Deployments").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Surface {
    /// The default deployment: triggers, the management API (authorized by Cattle with the
    /// caller's own credentials) and operator routes. No `X-API-*` header is trusted.
    #[default]
    Front,
    /// Behind Cattle's `/v1-webhooks` proxy, on the internal listener only Cattle reaches:
    /// the management API trusting Cattle's `X-API-Project-Id`/`X-API-Roles`, triggers and
    /// operator routes.
    CattleProxy,
    /// The public listener of the proxy deployment: triggers and operator routes, never the
    /// management API.
    Public,
}

/// What the server knows about a request's connection; handed to the router with every
/// request.
#[derive(Clone, Copy, Debug)]
pub struct Conn {
    /// The request arrived over TLS.
    pub tls: bool,
    pub surface: Surface,
}

/// Trigger URLs are capabilities: keep them out of caches and referrers; and nothing
/// answered on those paths is ever sniffed into something else.
pub fn no_store(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

pub fn text(status: StatusCode, body: &str) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body.to_owned())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

pub fn json(status: StatusCode, v: &impl serde::Serialize) -> Resp {
    // Our bodies are maps of strings and numbers: serializing them cannot fail.
    crate::json::response(status, serde_json::to_vec(v).unwrap_or_default())
}

/// Reads a request body within `limit` bytes and `timeout`. A declared length over the
/// limit is refused before anything is read: `Limited` only counts bytes that arrive, so a
/// huge declared length with a trickle of bytes would otherwise hang. A request that has
/// no body (none declared, or a length of 0) is answered at once, without arming a timer.
pub async fn read_body(
    headers: &HeaderMap,
    body: Incoming,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, Error> {
    use hyper::body::Body as _;
    if body.is_end_stream() {
        return Ok(Bytes::new());
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(Error::PayloadTooLarge(limit));
    }
    let read = Limited::new(body, limit).collect();
    match tokio::time::timeout(timeout, read).await {
        Err(_) => Err(Error::BadRequest(
            "request body was not received in time".into(),
        )),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(Error::PayloadTooLarge(limit))
        }
        Ok(Err(_)) => Err(Error::BadRequest("request body could not be read".into())),
        Ok(Ok(c)) => Ok(c.to_bytes()),
    }
}
