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
    /// The management API: the path after `/v1-webhooks` (empty, or starting with `/`),
    /// which the API routes itself.
    Api(&'a str),
    Healthz,
    Readyz,
    Metrics,
    /// `GET /` and its files under `/ui/` — the web UI.
    Ui(crate::ui::Asset),
    NotFound,
}

pub fn route(path: &str) -> Route<'_> {
    let trimmed = if path.len() > 1 {
        path.strip_suffix('/').unwrap_or(path)
    } else {
        path
    };
    match trimmed {
        "/healthz" => Route::Healthz,
        "/readyz" => Route::Readyz,
        "/metrics" => Route::Metrics,
        "/v1-webhooks/endpoint" => Route::Trigger,
        _ => match (
            crate::ui::asset(trimmed),
            trimmed.strip_prefix("/v1-webhooks"),
        ) {
            (Some(asset), _) => Route::Ui(asset),
            (None, Some(rest)) if rest.is_empty() || rest.starts_with('/') => Route::Api(rest),
            _ => Route::NotFound,
        },
    }
}

/// Serves one request. Never fails: every error becomes a response.
pub async fn dispatch(app: &App, conn: Conn, req: Request<Incoming>) -> Resp {
    if req.uri().path_and_query().map_or(0, |p| p.as_str().len()) > MAX_URI {
        return Error::UriTooLong.response();
    }
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
        Route::Readyz if read => match Box::pin(app.cattle.check_root(Auth::Service)).await {
            Ok(()) => text(StatusCode::OK, "ready\n"),
            Err(e) => Error::Cattle(e).response(),
        },
        // OpenMetrics for a scraper that asks for it (Prometheus does); the classic text
        // format for everything else.
        Route::Metrics if read => {
            let open_metrics = parts
                .headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| a.contains("application/openmetrics-text"));
            let (body, kind) = if open_metrics {
                (
                    crate::metrics::render(),
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )
            } else {
                (
                    crate::metrics::render_classic(),
                    "text/plain; version=0.0.4; charset=utf-8",
                )
            };
            let mut r = text(StatusCode::OK, &body);
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
            r
        }
        Route::Healthz | Route::Readyz | Route::Metrics => {
            Error::MethodNotAllowed("GET, HEAD").response()
        }
        // The public listener of the proxy deployment never serves the management API.
        Route::Api(_) if conn.surface == Surface::Public => {
            Error::NotFound("no such route".into()).response()
        }
        // Boxed: the API's future is several KiB, and every request's future would carry it.
        Route::Api(rest) => Box::pin(crate::api::handle(app, rest, &parts, body, conn)).await,
        // The page is the front deployment's: behind Cattle's proxy, Rancher's UI is there.
        Route::Ui(asset) if read && conn.surface == Surface::Front => crate::ui::response(asset),
        Route::Ui(_) if conn.surface == Surface::Front => {
            Error::MethodNotAllowed("GET, HEAD").response()
        }
        Route::Ui(_) => Error::NotFound("no such route".into()).response(),
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
            ("/v1-webhooks", Route::Api("")),
            ("/v1-webhooks/", Route::Api("")),
            (
                "/v1-webhooks/receivers/1go5/",
                Route::Api("/receivers/1go5"),
            ),
            ("/v1-webhooks/endpoint/x", Route::Api("/endpoint/x")),
            ("/v1-webhooksx", Route::NotFound),
            ("/healthz", Route::Healthz),
            ("/readyz", Route::Readyz),
            ("/metrics", Route::Metrics),
            ("/", Route::Ui(crate::ui::asset("/").expect("page"))),
            (
                "/ui/app.js/",
                Route::Ui(crate::ui::asset("/ui/app.js").expect("js")),
            ),
            ("/ui/x.js", Route::NotFound),
            ("/etc/passwd", Route::NotFound),
            ("", Route::NotFound),
        ];
        for (path, want) in cases {
            assert_eq!(route(path), want, "{path}");
        }
    }
}
