//! `(path)` → `Route`: the only code that reads raw paths. Rancher registered every route
//! with and without a trailing slash, so both are accepted. Methods are checked by handlers.

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
