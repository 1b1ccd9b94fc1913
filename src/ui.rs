//! The web UI (docs/ui.md): one page, its script and its style sheet, written by hand and
//! embedded in the binary — no build step, no CDN, nothing fetched at run time. The page
//! talks to this origin's management API only, so a strict Content-Security-Policy holds it
//! to that.

use http::{header, HeaderValue, StatusCode};

use crate::http::Resp;

/// One embedded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    pub body: &'static str,
    pub content_type: &'static str,
}

const INDEX: Asset = Asset {
    body: include_str!("ui/index.html"),
    content_type: "text/html; charset=utf-8",
};
const SCRIPT: Asset = Asset {
    body: include_str!("ui/app.js"),
    content_type: "text/javascript; charset=utf-8",
};
const STYLE: Asset = Asset {
    body: include_str!("ui/app.css"),
    content_type: "text/css; charset=utf-8",
};

/// Scripts and styles from this origin only, no inline code, requests to this origin only,
/// never framed.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                      connect-src 'self'; img-src 'self'; form-action 'self'; \
                      frame-ancestors 'none'; base-uri 'none'";

/// The file served at `path` (`/`, `/ui/app.js`, `/ui/app.css`), if any.
pub fn asset(path: &str) -> Option<Asset> {
    match path {
        "/" => Some(INDEX),
        "/ui/app.js" => Some(SCRIPT),
        "/ui/app.css" => Some(STYLE),
        _ => None,
    }
}

pub fn response(a: Asset) -> Resp {
    let mut r = Resp::new(http_body_util::Full::new(bytes::Bytes::from_static(
        a.body.as_bytes(),
    )));
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.content_type),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Always the build's own copy: a new release's page is never mixed with an old script.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_its_own_files() {
        for p in ["/", "/ui/app.js", "/ui/app.css"] {
            assert!(asset(p).is_some(), "{p}");
        }
        assert_eq!(asset("/ui/other.js"), None);
        let page = INDEX.body;
        assert!(page.contains(r#"src="/ui/app.js""#) && page.contains(r#"href="/ui/app.css""#));
        // No inline script or style, which the policy would block anyway, and no other origin.
        assert!(!page.contains("<script>") && !page.contains("<style") && !page.contains("style="));
        for file in [INDEX.body, SCRIPT.body, STYLE.body] {
            assert!(!file.contains("http://") && !file.contains("https://"));
        }
        // Shown data is set as text, never parsed as markup.
        assert!(!SCRIPT.body.contains("innerHTML") && !SCRIPT.body.contains("insertAdjacentHTML"));
    }
}
