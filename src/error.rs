//! The one mapping from an error to an HTTP status and Cattle's error envelope
//! (docs/triggers.md, "Status codes"): 2xx is never an error; 4xx is the caller's problem
//! and permanent; 5xx is transient — 502 Cattle failed, 503 Cattle unreachable, busy or
//! refusing hookgate's own account, 504 Cattle too slow. 500 is our bug.
//!
//! Messages are for a person and never contain a token, a key, a credential or anything
//! the caller put in the query string.

use std::borrow::Cow;
use std::sync::OnceLock;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::Full;

use crate::cattle::CattleError;

/// Everything a request can fail with, by whose fault it is.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Malformed request: missing or malformed parameter, unreadable body (400).
    #[error("{0}")]
    BadRequest(String),
    /// The request names a field with a bad value (`status` 400 or 422, `code` Cattle-style).
    #[error("{message}")]
    Invalid {
        status: u16,
        code: &'static str,
        message: String,
        field: Option<Cow<'static, str>>,
    },
    /// A token was refused; `detail` says why (for the log), `class` how it is answered.
    #[error("{detail}")]
    Token {
        class: TokenRefusal,
        detail: &'static str,
    },
    /// The caller sent no credentials, or none of a usable form (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Deleted or unknown receiver (403), or credentials that do not reach the project.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The method is not one the path serves; the value lists those it does (`Allow`).
    #[error("method not allowed; this path allows {0}")]
    MethodNotAllowed(&'static str),
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("request URI is too long")]
    UriTooLong,
    /// The receiver's target no longer exists (410).
    #[error("{0}")]
    Gone(String),
    /// Understood, but the target cannot take this action (422).
    #[error("{0}")]
    Unprocessable(String),
    /// hookgate is shedding load to protect Cattle; retry after the given seconds (503).
    #[error("{message}")]
    Busy { message: String, retry_after: u32 },
    #[error("{0}")]
    Cattle(#[from] CattleError),
    /// A bug of ours: never expected.
    #[error("internal error: {0}")]
    Internal(String),
}

/// How a refused token is answered. Every refusal of one class looks the same from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    /// Not a token of a form this build reads (400).
    Malformed,
    /// Its signature does not verify with any key of the ring, or its key id is not (or no
    /// longer) in the ring (401, one message for both).
    Untrusted,
    /// Authentic, but past its expiry (401).
    Expired,
}

/// What the caller of a refused token learns: the same for a bad signature and a key id
/// that is not (or no longer) in the key ring, so a removed key cannot be told apart.
const UNTRUSTED_TOKEN: &str = "token is not valid: its signature does not verify";

impl Error {
    pub fn invalid(
        status: u16,
        code: &'static str,
        field: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Error::Invalid {
            status,
            code,
            message: message.into(),
            field: Some(field.into()),
        }
    }

    /// Status, Cattle-style code, message and field at fault.
    pub fn parts(&self) -> (StatusCode, &'static str, Cow<'_, str>, Option<&str>) {
        let (status, code, field) = self.class();
        (status, code, self.message(), field)
    }

    /// What the caller is told: the same for every token that does not verify.
    fn message(&self) -> Cow<'_, str> {
        match self {
            Error::Token {
                class: TokenRefusal::Untrusted,
                ..
            } => Cow::Borrowed(UNTRUSTED_TOKEN),
            _ => Cow::Owned(self.to_string()),
        }
    }

    /// Status, Cattle-style code and field at fault: what `parts` says besides the message,
    /// without formatting it.
    fn class(&self) -> (StatusCode, &'static str, Option<&str>) {
        use StatusCode as S;
        match self {
            Error::BadRequest(_) => (S::BAD_REQUEST, "BadRequest", None),
            Error::Invalid {
                status,
                code,
                field,
                ..
            } => (
                S::from_u16(*status).unwrap_or(S::BAD_REQUEST),
                code,
                field.as_deref(),
            ),
            Error::Token { class, .. } => match class {
                TokenRefusal::Malformed => (S::BAD_REQUEST, "InvalidToken", Some("token")),
                TokenRefusal::Untrusted | TokenRefusal::Expired => {
                    (S::UNAUTHORIZED, "InvalidToken", Some("token"))
                }
            },
            Error::Unauthorized(_) => (S::UNAUTHORIZED, "Unauthorized", None),
            Error::Forbidden(_) => (S::FORBIDDEN, "Forbidden", None),
            Error::NotFound(_) => (S::NOT_FOUND, "NotFound", None),
            Error::MethodNotAllowed(_) => (S::METHOD_NOT_ALLOWED, "MethodNotAllowed", None),
            Error::PayloadTooLarge(_) => (S::PAYLOAD_TOO_LARGE, "PayloadTooLarge", None),
            Error::UriTooLong => (S::URI_TOO_LONG, "UriTooLong", None),
            Error::Gone(_) => (S::GONE, "Gone", None),
            Error::Unprocessable(_) => (S::UNPROCESSABLE_ENTITY, "Unprocessable", None),
            Error::Busy { .. } => (S::SERVICE_UNAVAILABLE, "Busy", None),
            Error::Cattle(c) => match c {
                CattleError::Timeout(_) => (S::GATEWAY_TIMEOUT, "CattleTimeout", None),
                CattleError::Unreachable(_) | CattleError::CircuitOpen { .. } => {
                    (S::SERVICE_UNAVAILABLE, "CattleUnavailable", None)
                }
                // hookgate's own account is refused: a setting to fix, then a retry works.
                CattleError::ServiceAccountRefused => {
                    (S::SERVICE_UNAVAILABLE, "CattleServiceAccount", None)
                }
                // Busy (409) and overloaded (429) are worth a retry later.
                CattleError::Rejected {
                    status: 409 | 429, ..
                } => (S::SERVICE_UNAVAILABLE, "CattleBusy", None),
                CattleError::Upstream { .. }
                | CattleError::Rejected { .. }
                | CattleError::ActionNotAvailable { .. }
                | CattleError::Decode(_)
                | CattleError::ForeignLink => (S::BAD_GATEWAY, "CattleError", None),
                CattleError::Encode(_) => (S::INTERNAL_SERVER_ERROR, "InternalError", None),
            },
            Error::Internal(_) => (S::INTERNAL_SERVER_ERROR, "InternalError", None),
        }
    }

    /// Cattle's refusal of the *caller's* credentials (management API, front deployment)
    /// becomes the caller's own 401/403 instead of a gateway error.
    pub fn from_caller(e: CattleError) -> Self {
        match e {
            CattleError::Rejected { status: 401, .. } => {
                Error::Unauthorized("Cattle did not accept these credentials".into())
            }
            CattleError::Rejected { status: 403, .. } => {
                Error::Forbidden("these credentials cannot reach this project".into())
            }
            e => Error::Cattle(e),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.class().0
    }

    /// The response: Cattle's error envelope as JSON.
    pub fn response(&self) -> Response<Full<Bytes>> {
        let (status, code, message, field) = self.parts();
        // Rancher's error envelope: type, status, code, message, fieldName when there is one.
        let envelope = || {
            let mut body = crate::json::JsonObject::new();
            body.str("type", "error")
                .int("status", status.as_u16())
                .str("code", code)
                .str("message", &message);
            if let Some(field) = field {
                body.str("fieldName", field);
            }
            body.finish()
        };
        let body = match self {
            // The answer to every token that does not verify — what a stranger guessing or
            // forging URLs gets, over and over — is always the same: written once.
            Error::Token {
                class: TokenRefusal::Untrusted,
                ..
            } => {
                static UNTRUSTED: OnceLock<&'static [u8]> = OnceLock::new();
                Bytes::from_static(
                    UNTRUSTED.get_or_init(|| Box::leak(envelope().into_boxed_slice())),
                )
            }
            _ => Bytes::from(envelope()),
        };
        let mut r = crate::json::response(status, body);
        let h = r.headers_mut();
        match self {
            Error::MethodNotAllowed(allow) => {
                h.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            Error::Busy { retry_after, .. }
            | Error::Cattle(CattleError::CircuitOpen { retry_after }) => {
                h.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            _ => {}
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    /// Rancher's error envelope, as serde writes it: what `Error::response` must write.
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct ErrorBody<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        status: u16,
        code: &'a str,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        field_name: Option<&'a str>,
    }

    #[tokio::test]
    async fn the_envelope_is_byte_for_byte_what_serde_writes() {
        let errors = [
            Error::BadRequest("plain".into()),
            Error::BadRequest("quotes \" and \\ backslashes, a tab\t, ESC\u{1b}, DEL\u{7f}".into()),
            Error::BadRequest("non-ASCII: é → 💥".into()),
            Error::invalid(422, "InvalidOption", "serviceId", "bad \"id\""),
            Error::Token {
                class: TokenRefusal::Untrusted,
                detail: "x",
            },
            Error::MethodNotAllowed("POST"),
        ];
        for e in errors {
            let (status, code, message, field) = e.parts();
            let want = serde_json::to_vec(&ErrorBody {
                kind: "error",
                status: status.as_u16(),
                code,
                message: &message,
                field_name: field,
            })
            .expect("serializes");
            let body = e.response().into_body().collect().await.expect("body");
            assert_eq!(
                String::from_utf8_lossy(&body.to_bytes()),
                String::from_utf8_lossy(&want),
                "{e:?}"
            );
        }
    }
    use std::time::Duration;

    fn token(class: TokenRefusal) -> Error {
        Error::Token {
            class,
            detail: "refused",
        }
    }

    #[test]
    fn statuses_follow_what_senders_retry() {
        let rejected = |status| CattleError::Rejected {
            status,
            code: "x".into(),
            message: None,
            field: None,
        };
        let cases: Vec<(Error, u16)> = vec![
            (token(TokenRefusal::Malformed), 400),
            (token(TokenRefusal::Untrusted), 401),
            (token(TokenRefusal::Expired), 401),
            (Error::Forbidden("revoked".into()), 403),
            (Error::Gone("removed".into()), 410),
            (Error::PayloadTooLarge(1), 413),
            (
                Error::Cattle(CattleError::Timeout(Duration::from_secs(1))),
                504,
            ),
            (Error::Cattle(CattleError::Unreachable("x".into())), 503),
            (Error::Cattle(rejected(409)), 503),
            (Error::Cattle(rejected(422)), 502),
            (Error::Cattle(CattleError::ServiceAccountRefused), 503),
            (Error::MethodNotAllowed("GET, POST"), 405),
            (
                Error::Cattle(CattleError::Upstream {
                    status: 500,
                    code: "x".into(),
                    message: None,
                }),
                502,
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.status().as_u16(), want, "{e:?}");
            let r = e.response();
            assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        }
        assert_eq!(
            Error::MethodNotAllowed("GET, DELETE").response().headers()[header::ALLOW],
            "GET, DELETE"
        );
    }

    #[test]
    fn a_removed_key_and_a_bad_signature_look_the_same() {
        let a = Error::Token {
            class: TokenRefusal::Untrusted,
            detail: "token key id is not in the key ring",
        }
        .parts();
        let b = Error::Token {
            class: TokenRefusal::Untrusted,
            detail: "token signature is invalid",
        }
        .parts();
        assert_eq!((a.0, a.1, &a.2, a.3), (b.0, b.1, &b.2, b.3));
    }
}
