//! `(path)` → `Route`, and the one dispatch of a request to its handler: the only code that
//! reads raw paths. Rancher registered every route with and without a trailing slash, so
//! both are accepted.

use http::{header, HeaderValue, Method, Request, StatusCode};
use hyper::body::Incoming;

use crate::app::App;
use crate::cattle::Auth;
use crate::error::Error;
use crate::http::{no_store, text, Conn, Resp, Surface};

/// Longest request URI accepted (a token is at most 4 KiB).
const MAX_URI: usize = 8 * 1024;

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// `POST /v1-webhooks/endpoint`
    Trigger,
    /// `GET /v1-webhooks`
    ApiRoot,
    /// `GET /v1-webhooks/schemas`
    Schemas,
    /// `GET /v1-webhooks/schemas/{id}`
    Schema(&'a str),
    /// `GET|POST /v1-webhooks/receivers`
    Receivers,
    /// `GET|DELETE /v1-webhooks/receivers/{id}`
    Receiver(&'a str),
    Healthz,
    Readyz,
    Metrics,
    /// `GET /` — the web UI.
    Ui,
    NotFound,
}

impl Route<'_> {
    /// A stable name for logs and metrics (never the raw path, which may hold anything).
    pub fn name(&self) -> &'static str {
        match self {
            Route::Trigger => "trigger",
            Route::ApiRoot => "api_root",
            Route::Schemas | Route::Schema(_) => "schemas",
            Route::Receivers | Route::Receiver(_) => "receivers",
            Route::Healthz => "healthz",
            Route::Readyz => "readyz",
            Route::Metrics => "metrics",
            Route::Ui => "ui",
            Route::NotFound => "not_found",
        }
    }
}

pub fn route(path: &str) -> Route<'_> {
    let trimmed = if path.len() > 1 {
        path.strip_suffix('/').unwrap_or(path)
    } else {
        path
    };
    match trimmed {
        "/" => return Route::Ui,
        "/healthz" => return Route::Healthz,
        "/readyz" => return Route::Readyz,
        "/metrics" => return Route::Metrics,
        _ => {}
    }
    let Some(rest) = trimmed.strip_prefix("/v1-webhooks") else {
        return Route::NotFound;
    };
    if !rest.is_empty() && !rest.starts_with('/') {
        return Route::NotFound;
    }
    let mut segs = rest.split('/').skip(1);
    match (segs.next(), segs.next(), segs.next()) {
        (None, _, _) => Route::ApiRoot,
        (Some("endpoint"), None, _) => Route::Trigger,
        (Some("schemas"), None, _) => Route::Schemas,
        (Some("schemas"), Some(id), None) if !id.is_empty() => Route::Schema(id),
        (Some("receivers"), None, _) => Route::Receivers,
        (Some("receivers"), Some(id), None) if !id.is_empty() => Route::Receiver(id),
        _ => Route::NotFound,
    }
}

/// Serves one request. Never fails: every error becomes a response.
pub async fn dispatch(app: &App, req: Request<Incoming>) -> Resp {
    if req.uri().path_and_query().map_or(0, |p| p.as_str().len()) > MAX_URI {
        return Error::UriTooLong.response();
    }
    let conn = req.extensions().get::<Conn>().copied().unwrap_or_default();
    let (parts, body) = req.into_parts();
    let r = route(parts.uri.path());
    let read = parts.method == Method::GET || parts.method == Method::HEAD;
    match r {
        Route::Trigger => {
            let mut resp = if parts.method == Method::POST {
                crate::trigger::handle(app, &parts, body).await
            } else {
                Error::MethodNotAllowed("POST").response()
            };
            no_store(resp.headers_mut());
            resp
        }
        Route::Healthz if read => text(StatusCode::OK, "ok\n"),
        Route::Readyz if read => match app.cattle.check_root(Auth::Service).await {
            Ok(()) => text(StatusCode::OK, "ready\n"),
            Err(e) => Error::Cattle(e).response(),
        },
        Route::Metrics if read => {
            let mut r = text(StatusCode::OK, &crate::metrics::render());
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            r
        }
        Route::Healthz | Route::Readyz | Route::Metrics => {
            Error::MethodNotAllowed("GET, HEAD").response()
        }
        // The public listener of the proxy deployment never serves the management API.
        Route::ApiRoot
        | Route::Schemas
        | Route::Schema(_)
        | Route::Receivers
        | Route::Receiver(_)
            if conn.surface == Surface::Public =>
        {
            Error::NotFound("no such route".into()).response()
        }
        Route::ApiRoot
        | Route::Schemas
        | Route::Schema(_)
        | Route::Receivers
        | Route::Receiver(_) => crate::api::handle(app, r, &parts, body, conn).await,
        Route::Ui => Error::NotFound(
            "the web UI is not in this build yet; the API is at /v1-webhooks".into(),
        )
        .response(),
        Route::NotFound => Error::NotFound("no such route".into()).response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let cases = [
            ("/v1-webhooks/endpoint", Route::Trigger),
            ("/v1-webhooks/endpoint/", Route::Trigger),
            ("/v1-webhooks", Route::ApiRoot),
            ("/v1-webhooks/", Route::ApiRoot),
            ("/v1-webhooks/schemas", Route::Schemas),
            (
                "/v1-webhooks/schemas/scaleService",
                Route::Schema("scaleService"),
            ),
            ("/v1-webhooks/receivers", Route::Receivers),
            ("/v1-webhooks/receivers/1go5/", Route::Receiver("1go5")),
            ("/v1-webhooks/receivers/1go5/x", Route::NotFound),
            ("/v1-webhooks/endpoint/x", Route::NotFound),
            ("/v1-webhooksx", Route::NotFound),
            ("/v1-webhooks//endpoint", Route::NotFound),
            ("/healthz", Route::Healthz),
            ("/readyz", Route::Readyz),
            ("/metrics", Route::Metrics),
            ("/", Route::Ui),
            ("/etc/passwd", Route::NotFound),
            ("", Route::NotFound),
        ];
        for (path, want) in cases {
            assert_eq!(route(path), want, "{path}");
        }
    }
}
