//! Cattle's service proxy, simulated (docs/cattle.md, "The service proxy"):
//! `POST /r/projects/<project>/<service>:<port><path>` with an API key reaches the service's
//! containers. The simulator has no containers: it forwards to an upstream a test registered
//! (`/_sim/upstreams`), or answers itself with an echo of what reached "the container". As the
//! simulator models Cattle, the proxy consumes the credentials: they are not passed on.

use bytes::Bytes;
use http::{header, HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use serde_json::{json, Map, Value};

use super::{authenticate, error_response, json_response, lock, ApiError, Ctx, Resp, Sim};

impl Sim {
    pub(super) async fn proxy(
        &self,
        ctx: &Ctx,
        rest: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Resp {
        // `<project>/<service>:<port>` then the path.
        let mut parts = rest.splitn(3, '/');
        let (Some(project), Some(target)) = (parts.next(), parts.next()) else {
            return error_response(&ApiError::status(404), None);
        };
        let path = format!("/{}", parts.next().unwrap_or(""));
        let Some((service, port)) = target
            .rsplit_once(':')
            .and_then(|(s, p)| Some((s, p.parse::<u16>().ok()?)))
        else {
            return error_response(&ApiError::status(404), None);
        };
        {
            let world = lock(&self.world);
            let key = match authenticate(&world, ctx) {
                Ok(k) => k,
                Err(resp) => return *resp,
            };
            if !world.keys[key].reaches(project) || world.project(project).is_none() {
                return error_response(&ApiError::status(403), None);
            }
            if !world.runs_service(project, service) {
                return error_response(&ApiError::status(404), None);
            }
        }
        if ctx.method != Method::POST {
            return error_response(&ApiError::status(405), None);
        }
        let upstream = lock(&self.upstreams)
            .get(&(project.to_owned(), service.to_owned(), port))
            .cloned();
        match upstream {
            Some(url) => self.forward(&url, &path, &ctx.query, headers, body).await,
            None => echo(service, port, &path, &ctx.query, headers, &body),
        }
    }

    async fn forward(
        &self,
        url: &str,
        path: &str,
        query: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Resp {
        let target = if query.is_empty() {
            format!("{}{path}", url.trim_end_matches('/'))
        } else {
            format!("{}{path}?{query}", url.trim_end_matches('/'))
        };
        let mut req = Request::builder().method(Method::POST).uri(target);
        for (name, value) in passed_on(headers) {
            req = req.header(name, value);
        }
        let Ok(req) = req.body(Full::new(body)) else {
            return error_response(&ApiError::status(502), None);
        };
        match self.client.request(req).await {
            Ok(resp) => {
                let (parts, body) = resp.into_parts();
                let body = match Limited::new(body, 4 << 20).collect().await {
                    Ok(b) => b.to_bytes(),
                    Err(_) => return error_response(&ApiError::status(502), None),
                };
                let mut r = Resp::new(Full::new(body));
                *r.status_mut() = parts.status;
                if let Some(ct) = parts.headers.get(header::CONTENT_TYPE) {
                    r.headers_mut().insert(header::CONTENT_TYPE, ct.clone());
                }
                r
            }
            Err(_) => error_response(&ApiError::status(503), None),
        }
    }
}

/// The request's headers minus what the proxy consumes (credentials) or sets itself.
fn passed_on(
    headers: &HeaderMap,
) -> impl Iterator<Item = (&header::HeaderName, &header::HeaderValue)> {
    headers.iter().filter(|(name, _)| {
        *name != header::AUTHORIZATION
            && *name != header::HOST
            && *name != header::CONTENT_LENGTH
            && *name != header::CONNECTION
    })
}

/// What "the container" answers when no upstream is registered: what reached it.
fn echo(
    service: &str,
    port: u16,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Resp {
    let seen: Map<String, Value> = passed_on(headers)
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into(),
            )
        })
        .collect();
    let doc = json!({
        "answeredBy": format!("service {service}, port {port} (simulated container)"),
        "method": "POST",
        "path": path,
        "query": query,
        "headers": seen,
        "body": String::from_utf8_lossy(body),
    });
    json_response(StatusCode::OK, &doc, None)
}
