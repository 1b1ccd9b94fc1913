//! The trigger path (SPEC §4): strict query → token (no I/O) → revocation check (cached) →
//! body (read only now, so unauthenticated senders cost nothing) →
//! policy (dedupe, resolved, cooldown) → driver → response. The action runs in its own task,
//! so a sender that hangs up cannot stop it half-way (HARDENING.md, "Cancellation").
//!
//! One structured log line per trigger: receiver id, driver, outcome, before → after,
//! duration. Never the token, never the query string.

use std::time::Instant;

use http::{HeaderMap, StatusCode};
use hyper::body::Incoming;
use serde_json::{json, Value};

use crate::app::{App, Resp};
use crate::drivers::{self, Outcome};
use crate::error::Error;
use crate::policy::{self, Decision, Notification};
use crate::receiver::{Claims, DriverConfig, OnResolved, ReceiverId};

/// What the query string asks for.
#[derive(Debug, PartialEq, Eq)]
pub struct TriggerQuery<'a> {
    pub target: Target<'a>,
    pub dry_run: bool,
}

/// Which receiver a trigger URL names.
#[derive(Debug, PartialEq, Eq)]
pub enum Target<'a> {
    /// hookgate's sealed token.
    Token(&'a str),
    /// A receiver created by Rancher's webhook-service: its generic object's key.
    Legacy { key: &'a str, project: &'a str },
}

/// The policy identity of a receiver reached by key: hookgate's own receivers (whose key is
/// their id) share it with their token URL; Rancher's get a stable id derived from the key.
pub fn legacy_receiver_id(project: &str, key: &str) -> ReceiverId {
    ReceiverId::parse(key).unwrap_or_else(|| {
        use sha2::Digest as _;
        let d = sha2::Sha256::new()
            .chain_update(b"hookgate legacy receiver\0")
            .chain_update(project.as_bytes())
            .chain_update(b"\0")
            .chain_update(key.as_bytes())
            .finalize();
        let mut id = [0u8; 16];
        id.copy_from_slice(&d[..16]);
        ReceiverId(id)
    })
}

/// Strict parsing (HARDENING.md, "Query strings and tokens"): known names only, each at
/// most once, no percent-escapes or `+` anywhere, the token in its raw alphabet.
pub fn parse_query(query: Option<&str>) -> Result<TriggerQuery<'_>, Error> {
    let q = query.unwrap_or("");
    if q.len() > crate::token::MAX_TOKEN_LEN + 64 {
        return Err(Error::Token(crate::token::TokenError::TooLarge));
    }
    let (mut token, mut dry_run, mut key, mut project) = (None, None, None, None);
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if pair.contains(['%', '+']) {
            return Err(Error::BadRequest(
                "query parameters must not be percent-encoded".into(),
            ));
        }
        let slot = match name {
            "token" => &mut token,
            "dryRun" => &mut dry_run,
            "key" => &mut key,
            "projectId" => &mut project,
            _ => {
                return Err(Error::BadRequest(format!(
                    "unknown query parameter `{name}`"
                )))
            }
        };
        if slot.replace(value).is_some() {
            return Err(Error::BadRequest(format!(
                "query parameter `{name}` given twice"
            )));
        }
    }
    let id_like =
        |s: &str| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric());
    let target = match (token, key, project) {
        (Some(t), None, None) => Target::Token(t),
        (None, Some(key), Some(project)) if id_like(key) && id_like(project) => {
            Target::Legacy { key, project }
        }
        (None, Some(_), Some(_)) => {
            return Err(Error::BadRequest(
                "key and projectId must be alphanumeric".into(),
            ))
        }
        (None, Some(_), None) => {
            return Err(Error::invalid(
                400,
                "MissingRequired",
                "projectId",
                "Invalid execute url, url must contain projectId",
            ))
        }
        (None, None, _) => {
            return Err(Error::invalid(
                400,
                "MissingRequired",
                "token",
                "Invalid execute url, should have 'token' or 'key'",
            ))
        }
        (Some(_), _, _) => {
            return Err(Error::BadRequest(
                "a trigger URL has either a token or a key, not both".into(),
            ))
        }
    };
    let dry_run = match dry_run {
        None | Some("false") => false,
        Some("true" | "") => true,
        Some(_) => {
            return Err(Error::invalid(
                400,
                "InvalidOption",
                "dryRun",
                "dryRun must be true or false",
            ))
        }
    };
    Ok(TriggerQuery { target, dry_run })
}

/// The result of a trigger that did not fail.
#[derive(Debug)]
pub struct Done {
    pub outcome: Outcome,
    pub dry_run: bool,
}

/// Serves one trigger. The body is read only once the receiver is known to be valid and
/// live, so an unauthenticated sender cannot make hookgate buffer anything.
pub async fn handle(app: &App, query: Option<&str>, headers: &HeaderMap, body: Incoming) -> Resp {
    let started = Instant::now();
    let q = match parse_query(query) {
        Ok(q) => q,
        Err(e) => return refused(e, started),
    };
    let claims = match q.target {
        Target::Token(token) => {
            let claims = match app.keys.open(token, crate::unix_now()) {
                Ok(c) => c,
                Err(e) => return refused(Error::Token(e), started),
            };
            match app
                .receiver_exists(&claims.project_id, claims.receiver_id)
                .await
            {
                Ok(true) => claims,
                Ok(false) => {
                    let e = Error::Forbidden("this receiver has been deleted".into());
                    return finish(&claims, Err(e), started);
                }
                Err(e) => return finish(&claims, Err(e), started),
            }
        }
        Target::Legacy { key, project } => match app.legacy_receiver(project, key).await {
            Ok(Some(config)) => Claims {
                receiver_id: legacy_receiver_id(project, key),
                project_id: project.to_owned(),
                issued_at: 0,
                expires_at: None,
                config,
            },
            Ok(None) => {
                let e = Error::Forbidden(
                    "Requested webhook has been revoked/does not exist for this account".into(),
                );
                return refused(e, started);
            }
            Err(e) => return refused(e, started),
        },
    };
    let body = match app.read_body(headers, body).await {
        Ok(b) => b,
        Err(e) => return finish(&claims, Err(e), started),
    };
    let note = Notification::parse(&body);
    let dry_run = q.dry_run;
    // The action completes on its own even if this request future is dropped.
    let task = {
        let (app, claims) = (app.clone(), claims.clone());
        tokio::spawn(async move { run(&app, &claims, &note, dry_run).await })
    };
    let result = match task.await {
        Ok(r) => r,
        Err(e) => Err(Error::Internal(format!("trigger task failed: {e}"))),
    };
    finish(
        &claims,
        result.map(|outcome| Done { outcome, dry_run }),
        started,
    )
}

/// Policy and action, under the receiver's lock so that decide → act → record is atomic.
async fn run(
    app: &App,
    claims: &Claims,
    note: &Notification,
    dry_run: bool,
) -> Result<Outcome, Error> {
    let state = app.receiver_state(claims.receiver_id);
    let mut state = state.lock().await;
    let now = crate::unix_now();
    let (on_resolved, cooldown) = match &claims.config {
        DriverConfig::ScaleService(c) => (c.on_resolved, c.cooldown_seconds),
        DriverConfig::ScaleHost(c) => (c.on_resolved, c.cooldown_seconds),
        DriverConfig::ServiceUpgrade(_) | DriverConfig::ForwardPost(_) => (OnResolved::Trigger, 0),
    };
    let reverse = match policy::decide(&state, note, on_resolved, cooldown, now) {
        Decision::Act { reverse } => reverse,
        Decision::Duplicate => return Ok(Outcome::Duplicate),
        Decision::ResolvedIgnored => return Ok(Outcome::ResolvedIgnored),
        Decision::Cooldown { eligible_at } => return Ok(Outcome::Cooldown { eligible_at }),
    };
    let outcome = drivers::execute(app, claims, reverse, dry_run).await?;
    if !dry_run {
        policy::record(&mut state, note, now, outcome.performed());
    }
    Ok(outcome)
}

/// A request refused before its receiver was known.
fn refused(e: Error, started: Instant) -> Resp {
    let status = e.status();
    tracing::info!(
        route = "trigger",
        status = status.as_u16(),
        outcome = "refused",
        reason = %e,
        duration_ms = elapsed_ms(started),
        "trigger refused"
    );
    crate::metrics::count_trigger("unknown", "refused");
    e.response()
}

fn elapsed_ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

/// Logs, counts and answers a trigger whose receiver is known.
fn finish(claims: &Claims, result: Result<Done, Error>, started: Instant) -> Resp {
    let driver = claims.config.driver().name();
    let rid = claims.receiver_id.to_string();
    match result {
        Ok(done) => {
            let (from, to) = done.outcome.from_to();
            let name = if done.dry_run {
                "dry_run"
            } else {
                done.outcome.name()
            };
            tracing::info!(
                receiver_id = %rid,
                project_id = %claims.project_id,
                driver,
                outcome = done.outcome.name(),
                dry_run = done.dry_run,
                from,
                to,
                status = 200,
                duration_ms = elapsed_ms(started),
                "trigger"
            );
            crate::metrics::count_trigger(driver, name);
            let mut body = json!({
                "type": "triggerResult",
                "receiverId": rid,
                "driver": driver,
                "outcome": done.outcome.name(),
                "dryRun": done.dry_run,
                "message": done.outcome.message(done.dry_run),
            });
            if let (Value::Object(m), Value::Object(extra)) = (&mut body, done.outcome.details()) {
                m.extend(extra);
            }
            crate::app::json(StatusCode::OK, &body)
        }
        Err(e) => {
            let status = e.status();
            tracing::info!(
                receiver_id = %rid,
                project_id = %claims.project_id,
                driver,
                outcome = "error",
                status = status.as_u16(),
                reason = %e,
                duration_ms = elapsed_ms(started),
                "trigger"
            );
            crate::metrics::count_trigger(
                driver,
                if status.is_server_error() {
                    "failed"
                } else {
                    "rejected"
                },
            );
            e.response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing_is_strict() {
        let ok = [
            ("token=hg1.k.x.y", Target::Token("hg1.k.x.y"), false),
            ("token=abc&dryRun=true", Target::Token("abc"), true),
            ("dryRun=false&token=abc", Target::Token("abc"), false),
            ("token=abc&dryRun", Target::Token("abc"), true),
            (
                "key=Q8fAb&projectId=1a5",
                Target::Legacy {
                    key: "Q8fAb",
                    project: "1a5",
                },
                false,
            ),
        ];
        for (q, target, dry_run) in ok {
            assert_eq!(
                parse_query(Some(q)).expect(q),
                TriggerQuery { target, dry_run },
                "{q}"
            );
        }
        let bad = [
            (None, 400),
            (Some(""), 400),
            (Some("token=a&token=b"), 400),
            (Some("tok%65n=abc"), 400),
            (Some("token=a%2Eb"), 400),
            (Some("token=a+b"), 400),
            (Some("token=a&extra=1"), 400),
            (Some("token=a&dryRun=maybe"), 400),
            (Some("key=abc"), 400),
            (Some("key=a-b&projectId=1a5"), 400),
            (Some("token=a&key=b&projectId=1a5"), 400),
            (Some("key=a&key=b&projectId=1a5"), 400),
        ];
        for (q, status) in bad {
            let e = parse_query(q).expect_err(&format!("{q:?}"));
            assert_eq!(e.status().as_u16(), status, "{q:?}");
        }
        let huge = format!("token={}", "a".repeat(5000));
        assert_eq!(
            parse_query(Some(&huge)).expect_err("too long").status(),
            400
        );
    }
}

#[cfg(test)]
mod legacy_tests {
    use super::*;

    #[test]
    fn legacy_ids_are_stable_and_shared_with_tokens() {
        let own = ReceiverId([0xab; 16]);
        assert_eq!(legacy_receiver_id("1a5", &own.to_string()), own);
        let a = legacy_receiver_id("1a5", "Q8fAbCdEfGhIjKlMnOpQrStUvWxYz0123456789a");
        assert_eq!(
            a,
            legacy_receiver_id("1a5", "Q8fAbCdEfGhIjKlMnOpQrStUvWxYz0123456789a")
        );
        assert_ne!(
            a,
            legacy_receiver_id("1a7", "Q8fAbCdEfGhIjKlMnOpQrStUvWxYz0123456789a")
        );
    }
}
