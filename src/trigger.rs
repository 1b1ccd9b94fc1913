//! The trigger path (docs/triggers.md): strict query → token (no I/O) → revocation check
//! (cached) → body (read only now, so unauthenticated senders cost nothing) → policy
//! (dedupe, resolved, cooldown) → driver → response. An action runs to its end even if the
//! sender hangs up half-way (it moves to a task of its own then).
//!
//! One structured log line per trigger that acts or fails: receiver id, driver, outcome,
//! before → after, duration. Never the token, never the query string. Triggers that change
//! nothing, dry runs and refusals of unknown senders are counted, and logged at a bounded
//! rate, so a flood cannot flood the log (docs/triggers.md, "The log line").

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_util::FutureExt as _;
use http::request::Parts;
use http::StatusCode;
use hyper::body::Incoming;
use serde_json::Value;

use crate::app::App;
use crate::cattle::Auth;
use crate::drivers::{DriverConfig, OnResolved, Outcome, Reply, Report, Request, Step};
use crate::error::Error;
use crate::http::Resp;
use crate::keyed::Lease;
use crate::policy::{self, Decision, Notification};
use crate::receiver::ReceiverId;
use crate::token::{Claims, TokenError};

/// What the query string asks for.
#[derive(Debug, PartialEq, Eq)]
pub struct TriggerQuery<'a> {
    pub target: Target<'a>,
    pub dry_run: bool,
    /// The load balancer's routing hint (`&route=`), checked against the receiver.
    pub route: Option<&'a str>,
}

/// Which receiver a trigger URL names.
#[derive(Debug, PartialEq, Eq)]
pub enum Target<'a> {
    /// hookgate's sealed token.
    Token(&'a str),
    /// A receiver created by Rancher's webhook-service: its generic object's key.
    Legacy { key: &'a str, project: &'a str },
}

/// Rancher's answer for a key that names no receiver, in any project.
const UNKNOWN_KEY: &str = "Requested webhook has been revoked/does not exist for this account";

/// Strict parsing: known names only, each at most once, no percent-escapes or `+`
/// anywhere, the token in its raw alphabet. Errors never repeat what the query held.
pub fn parse_query(query: Option<&str>) -> Result<TriggerQuery<'_>, Error> {
    let q = query.unwrap_or("");
    if q.len() > crate::token::MAX_TOKEN_LEN + 64 {
        return Err(TokenError::TooLarge.into());
    }
    // One pass over the whole query, without an early exit, so that it vectorizes.
    let escapes = q
        .bytes()
        .fold(0u8, |n, b| n | u8::from(b == b'%') | u8::from(b == b'+'));
    if escapes != 0 {
        return Err(Error::BadRequest(
            "query parameters must not be percent-encoded".into(),
        ));
    }
    let (mut token, mut dry_run, mut key, mut project, mut route) = (None, None, None, None, None);
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (slot, known) = match name {
            "token" => (&mut token, "token"),
            "dryRun" => (&mut dry_run, "dryRun"),
            "key" => (&mut key, "key"),
            "projectId" => (&mut project, "projectId"),
            "route" => (&mut route, "route"),
            _ => {
                return Err(Error::BadRequest(
                    "unknown query parameter; a trigger URL takes token (or key and \
                     projectId), route and dryRun"
                        .into(),
                ))
            }
        };
        if slot.replace(value).is_some() {
            return Err(Error::BadRequest(format!(
                "query parameter {known} given twice"
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
    if route.is_some_and(|r| r.len() != 8 || !r.bytes().all(|b| b.is_ascii_hexdigit())) {
        return Err(Error::invalid(
            400,
            "InvalidFormat",
            "route",
            "route must be 8 hexadecimal characters, as in the trigger URL handed out",
        ));
    }
    Ok(TriggerQuery {
        target,
        dry_run,
        route,
    })
}

/// The result of a trigger that did not fail.
#[derive(Debug)]
pub struct Done {
    pub outcome: Outcome,
    pub dry_run: bool,
}

/// Serves one trigger. The body is read only once the receiver is known to be valid and
/// live, so an unauthenticated sender cannot make hookgate buffer anything.
pub async fn handle(app: &App, parts: &Parts, body: Incoming) -> Resp {
    let started = Instant::now();
    let q = match parse_query(parts.uri.query()) {
        Ok(q) => q,
        Err(e) => return refused(e, "malformed", None, started),
    };
    let claims = match q.target {
        Target::Token(token) if crate::jwt::looks_like_jwt(token) => {
            // Boxed, as the key URLs below: rare paths, whose futures every trigger would
            // otherwise carry.
            match Box::pin(rancher_token(app, token, started)).await {
                Ok(claims) => claims,
                Err(resp) => return resp,
            }
        }
        Target::Token(token) => {
            let claims = match app.keys.open(token, crate::unix_now()) {
                Ok(c) => c,
                Err(e) => {
                    let reason = match e {
                        TokenError::UnknownKey => "unknown_key_id",
                        TokenError::BadSignature => "bad_signature",
                        TokenError::Expired => "expired",
                        TokenError::TooLarge
                        | TokenError::Malformed
                        | TokenError::UnsupportedVersion
                        | TokenError::BadPayload => "malformed",
                    };
                    return refused(e.into(), reason, None, started);
                }
            };
            match app
                .receiver_exists(&claims.project_id, claims.receiver_id, token)
                .await
            {
                Ok(true) => claims,
                Ok(false) => {
                    let e = Error::Forbidden("this receiver has been deleted".into());
                    return refused(e, "revoked", Some(&claims), started);
                }
                Err(e) => return finish(&claims, Err(e), started),
            }
        }
        Target::Legacy { key, project } => {
            let parse = |driver: &str, config: &Value| {
                DriverConfig::from_stored(driver, config, project).map_err(|e| e.to_string())
            };
            let validate = |config: DriverConfig| async move {
                config.validate(&app.cattle, Auth::Service, project).await
            };
            match Box::pin(app.legacy.find(&app.cattle, project, key, parse, validate)).await {
                Ok(Some((receiver_id, config))) => Claims {
                    receiver_id,
                    project_id: project.to_owned(),
                    issued_at: 0,
                    expires_at: None,
                    config,
                },
                Ok(None) => {
                    let e = Error::Forbidden(UNKNOWN_KEY.into());
                    return refused(e, "unknown_key", None, started);
                }
                Err(e) => return unattributed(e, started),
            }
        }
    };
    if let Some(route) = q.route {
        // 8 hex digits (parse_query checked), in either case.
        let given = u32::from_str_radix(route, 16).ok();
        if given != Some(crate::drivers::route(&claims.project_id, &claims.config)) {
            let e = Error::invalid(
                400,
                "InvalidOption",
                "route",
                "route does not match this receiver: use its trigger URL as it was handed out",
            );
            return refused(e, "route_mismatch", Some(&claims), started);
        }
    }
    let body = match crate::http::read_body(
        &parts.headers,
        body,
        app.settings.limits.max_body_bytes,
        app.settings.limits.header_timeout,
    )
    .await
    {
        Ok(b) => b,
        Err(e) => return finish(&claims, Err(e), started),
    };
    // Alert notifications matter only to drivers with a policy; the rest read the body
    // their own way (a registry's push, a POST to forward).
    let policy = claims.config.policy();
    let note = match policy {
        Some(_) => match Notification::parse(&body) {
            Ok(n) => n,
            Err(e) => return finish(&claims, Err(Error::BadRequest(e.to_string())), started),
        },
        None => Notification::Plain,
    };
    let dry_run = q.dry_run;
    // A step whose answer is known now (a scale at its bound) and that no policy holds back
    // is answered here: there is nothing to run to its end, so nothing is boxed or spawned.
    if !dry_run && acts_freely(policy, &note) {
        if let Some(outcome) =
            claims
                .config
                .at_once(&app.drivers, &claims.project_id, Step::Forward)
        {
            return finish(&claims, Ok(Done { outcome, dry_run }), started);
        }
    }
    let header = |name| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let sent = Sent {
        body,
        content_type: header(http::header::CONTENT_TYPE),
        user_agent: header(http::header::USER_AGENT),
    };
    // The action and its log line, to their end even if the sender hangs up.
    let app = app.clone();
    RunToEnd::new(async move {
        let result = run(&app, &claims, &note, &sent, dry_run).await;
        let done = result.map(|outcome| Done { outcome, dry_run });
        finish(&claims, done, started)
    })
    .await
}

/// A Rancher 1.4 trigger URL, `?token=<JWT>` (docs/migrating.md): verified RS256 with the
/// installation's public key (no I/O), alive while the generic object keyed by its uuid
/// exists, its config checked as on create (both cached). `Err` is the answer to send.
async fn rancher_token(app: &App, token: &str, started: Instant) -> Result<Claims, Resp> {
    let Some(key) = &app.settings.rancher_key else {
        return Err(refused(
            crate::jwt::no_key(),
            "jwt_without_key",
            None,
            started,
        ));
    };
    let receiver = key
        .open(token, crate::unix_now())
        .map_err(|e| refused(e.clone().into(), e.reason(), None, started))?;
    let project = receiver.project_id.as_str();
    let config = DriverConfig::from_stored(&receiver.driver, &receiver.config, project)
        .map_err(|e| unattributed(e, started))?;
    let claims = Claims {
        receiver_id: receiver.id,
        project_id: receiver.project_id.clone(),
        issued_at: 0,
        expires_at: None,
        config,
    };
    match app
        .record_exists(project, receiver.id, Some(&receiver.uuid), None)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            let e = Error::Forbidden("Requested webhook has been revoked".into());
            return Err(refused(e, "revoked", Some(&claims), started));
        }
        Err(e) => return Err(finish(&claims, Err(e), started)),
    }
    let validate = claims.config.validate(&app.cattle, Auth::Service, project);
    if let Err(e) = app
        .legacy
        .token_checked(receiver.fingerprint, validate)
        .await
    {
        return Err(finish(&claims, Err(e), started));
    }
    Ok(claims)
}

/// An action, polled in the request's own task; if the request is dropped (the sender hung
/// up, the connection broke) before the action is done, the rest of it runs on as a task of
/// its own — so no action stops half-way and none goes unlogged, and the usual case costs
/// no extra task. A panic in the action is logged as an error, and answered 500 if the
/// sender still waits.
struct RunToEnd<F: Future + Send + 'static>(Option<Pin<Box<F>>>);

impl<F: Future + Send + 'static> RunToEnd<F> {
    fn new(action: F) -> Self {
        Self(Some(Box::pin(action)))
    }
}

impl<F: Future<Output = Resp> + Send + 'static> Future for RunToEnd<F> {
    type Output = Resp;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Resp> {
        let Some(action) = self.0.as_mut() else {
            return Poll::Ready(Error::Internal("trigger polled after its end".into()).response());
        };
        match std::panic::catch_unwind(AssertUnwindSafe(|| action.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(resp)) => {
                self.0 = None;
                Poll::Ready(resp)
            }
            Err(_) => {
                self.0 = None;
                tracing::error!(route = "trigger", "the trigger's action panicked");
                Poll::Ready(Error::Internal("the trigger's action panicked".into()).response())
            }
        }
    }
}

impl<F: Future + Send + 'static> Drop for RunToEnd<F> {
    fn drop(&mut self) {
        if let (Some(action), Ok(rt)) = (self.0.take(), tokio::runtime::Handle::try_current()) {
            rt.spawn(async move {
                // No one is waiting for the answer, but a panic is still logged.
                if AssertUnwindSafe(action).catch_unwind().await.is_err() {
                    tracing::error!(route = "trigger", "the trigger's action panicked");
                }
            });
        }
    }
}

/// What the sender sent, owned by the action.
struct Sent {
    body: bytes::Bytes,
    content_type: Option<String>,
    user_agent: Option<String>,
}

/// Whether a trigger acts without the receiver's policy memory: its receiver has no policy,
/// or one without cooldown and the trigger names no alert (nothing to claim, and no
/// resolution will undo its step).
fn acts_freely(policy: Option<crate::drivers::Policy>, note: &Notification) -> bool {
    policy.is_none_or(|p| p.cooldown_seconds == 0 && *note == Notification::Plain)
}

/// Whether a trigger is a resolution of a receiver that undoes its alerts' steps.
fn reverses(on_resolved: OnResolved, note: &Notification) -> bool {
    on_resolved == OnResolved::Reverse
        && matches!(note, Notification::Alerts { resolved: true, .. })
}

/// Policy and action. A trigger acting freely ([`acts_freely`]) just acts; otherwise it
/// claims its alerts and the cooldown under the receiver's lock, acts without it and settles
/// the claim by the result ([`claim_and_act`]); a resolution that reverses ([`reverses`])
/// waits for its alerts' steps in flight, then decides → acts → records under the lock, so
/// that it is atomic. A dry run decides under the lock, acts without it, and claims and
/// records nothing.
async fn run(
    app: &App,
    claims: &Claims,
    note: &Notification,
    sent: &Sent,
    dry_run: bool,
) -> Result<Outcome, Error> {
    let request = Request {
        body: &sent.body,
        content_type: sent.content_type.as_deref(),
        user_agent: sent.user_agent.as_deref(),
    };
    let execute = |step| {
        claims.config.execute(
            &app.cattle,
            &app.drivers,
            &claims.project_id,
            claims.receiver_id,
            request,
            step,
            dry_run,
        )
    };
    let policy = claims.config.policy();
    let Some(p) = policy.filter(|_| !acts_freely(policy, note)) else {
        // `handle` offered it `at_once` already.
        return execute(Step::Forward).await;
    };
    let lease = app.receiver_state(claims.receiver_id);
    if dry_run {
        // What a real trigger would do now (once a claim in flight its answer hangs on has
        // settled); the lock is not held while Cattle is read, so a dry run never holds back
        // a real trigger, nor claims an alert one is sending.
        let (state, decision, _) = when_settled(&lease, |state, now| {
            policy::decide_settled(state, note, p.on_resolved, p.cooldown_seconds, now)
        })
        .await;
        drop(state);
        return match then(decision, p.on_resolved) {
            Then::Step(step) => execute(step).await,
            Then::Answer(outcome) => Ok(outcome),
        };
    }
    // The policy's steps are offered `at_once` first, as `handle` does the others.
    let act = |step| async move {
        if let Some(outcome) = claims
            .config
            .at_once(&app.drivers, &claims.project_id, step)
        {
            return Ok(outcome);
        }
        execute(step).await
    };
    // Triggers run side by side (and their steps can share a batch): each claims its alerts
    // and the cooldown under the lock, acts without it, and keeps or releases the claim by
    // the result — also if the action panics. Except a resolution that reverses: it undoes
    // the steps its alerts took, so it waits until none of them is in flight, and decides,
    // acts and records under the lock — no other trigger of the receiver claims or settles
    // meanwhile, so two reversals cannot both undo one step.
    if !reverses(p.on_resolved, note) {
        return claim_and_act(&lease, note, p.on_resolved, p.cooldown_seconds, act).await;
    }
    let (mut state, decision, now) = when_settled(&lease, |state, now| {
        policy::decide_settled(state, note, p.on_resolved, p.cooldown_seconds, now)
    })
    .await;
    let outcome = match then(decision, p.on_resolved) {
        Then::Step(step) => act(step).await?,
        Then::Answer(outcome) => outcome,
    };
    // `record` keeps what the decision and its outcome say (nothing for a duplicate, a
    // cooldown, an ignored resolution).
    policy::record(&mut state, note, decision, outcome.change(), now);
    Ok(outcome)
}

/// A trigger to a receiver whose triggers run side by side: claims its alerts and the
/// cooldown under the receiver's lock (once no claim in flight decides its answer), acts
/// without it, and keeps or releases the claim by the result — also when the action panics
/// (the panic then goes on, and `RunToEnd` answers 500).
async fn claim_and_act<Fut>(
    lease: &Lease<ReceiverId, policy::ReceiverState>,
    note: &Notification,
    on_resolved: OnResolved,
    cooldown_seconds: u32,
    act: impl FnOnce(Step) -> Fut,
) -> Result<Outcome, Error>
where
    Fut: Future<Output = Result<Outcome, Error>>,
{
    let (state, (decision, claim), _) = when_settled(lease, |state, now| {
        policy::reserve(state, note, on_resolved, cooldown_seconds, now)
    })
    .await;
    drop(state);
    let result = match then(decision, on_resolved) {
        Then::Step(step) => AssertUnwindSafe(act(step)).catch_unwind().await,
        Then::Answer(outcome) => Ok(Ok(outcome)),
    };
    let kept = match &result {
        Ok(Ok(outcome)) => Some(outcome.change()),
        _ => None,
    };
    policy::settle(&mut *lease.lock().await, claim, kept);
    result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// `f`'s answer, given under the receiver's lock: while `f` says it hangs on a claim in
/// flight (`None`), releases the lock and waits until a claim (alerts or the cooldown)
/// settles, then asks again. The wake-up is asked for before the lock is released, so it
/// cannot be missed. Returns the lock, still held, with the answer and the time it was
/// given at.
async fn when_settled<T>(
    lease: &Lease<ReceiverId, policy::ReceiverState>,
    mut f: impl FnMut(&mut policy::ReceiverState, u64) -> Option<T>,
) -> (tokio::sync::MutexGuard<'_, policy::ReceiverState>, T, u64) {
    loop {
        let mut state = lease.lock().await;
        let now = crate::unix_now();
        if let Some(answer) = f(&mut state, now) {
            return (state, answer, now);
        }
        let settled = state.settled().notified_owned();
        drop(state);
        settled.await;
    }
}

/// What a decision leads to: a step to take, or an answer given without one.
enum Then {
    Step(Step),
    Answer(Outcome),
}

fn then(decision: Decision, on_resolved: OnResolved) -> Then {
    let answer = |note| Then::Answer(Outcome::Resolved { note });
    match decision {
        Decision::Act => Then::Step(Step::Forward),
        Decision::Reverse { delta } => Then::Step(Step::Reverse { delta }),
        Decision::Duplicate => Then::Answer(Outcome::Duplicate),
        Decision::ResolvedIgnored => answer("resolved notification ignored (onResolved: ignore)"),
        Decision::NothingToReverse if on_resolved == OnResolved::Reverse => {
            answer("resolved notification: no step taken for its alerts is left to undo")
        }
        Decision::NothingToReverse => answer("resolved notification names no alert: nothing to do"),
        Decision::Cooldown { eligible_at } => Then::Answer(Outcome::Cooldown { eligible_at }),
    }
}

/// An upstream's answer passed back to the sender as it came, except that an upstream 5xx
/// becomes a 502 (the sender retries it either way; ours says whose fault it was).
fn passed_back(reply: &Reply) -> Resp {
    let status = match StatusCode::from_u16(reply.status) {
        Ok(s) if s.is_server_error() => StatusCode::BAD_GATEWAY,
        Ok(s) => s,
        Err(_) => StatusCode::BAD_GATEWAY,
    };
    let mut r = Resp::new(http_body_util::Full::new(reply.body.clone()));
    *r.status_mut() = status;
    // Whatever the service answers is shown as data, never run as a page of this origin
    // (behind Cattle's proxy that origin is Rancher's).
    r.headers_mut().insert(
        http::header::CONTENT_SECURITY_POLICY,
        http::HeaderValue::from_static("sandbox"),
    );
    if let Some(v) = reply
        .content_type
        .as_deref()
        .and_then(|c| http::HeaderValue::from_str(c).ok())
    {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r
}

fn elapsed_ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

/// A sender hookgate does not know (or no longer knows) was refused: counted by reason,
/// and logged at a bounded rate.
fn refused(e: Error, reason: &'static str, claims: Option<&Claims>, started: Instant) -> Resp {
    crate::metrics::count_trigger(
        claims.map_or("unknown", |c| c.config.driver().name()),
        "refused",
    );
    static LINES: crate::logging::LineBudget =
        crate::logging::LineBudget::new(REFUSAL_LINES_PER_SECOND);
    crate::metrics::count_refusal(reason);
    if let Some(suppressed) = LINES.take(crate::unix_now()) {
        tracing::info!(
            route = "trigger",
            status = e.status().as_u16(),
            outcome = "refused",
            reason,
            receiver_id = claims.map(|c| tracing::field::display(c.receiver_id)),
            suppressed,
            duration_ms = elapsed_ms(started),
            "trigger refused"
        );
    }
    e.response()
}

/// A request that failed before its receiver was known, for a reason other than who sent
/// it (Cattle failing, load shedding, an unusable stored receiver).
fn unattributed(e: Error, started: Instant) -> Resp {
    let status = e.status();
    if status.is_server_error() {
        tracing::warn!(route = "trigger", status = status.as_u16(), outcome = "error", reason = %crate::logging::Escaped(&e), duration_ms = elapsed_ms(started), "trigger");
    } else {
        tracing::info!(route = "trigger", status = status.as_u16(), outcome = "error", reason = %crate::logging::Escaped(&e), duration_ms = elapsed_ms(started), "trigger");
    }
    crate::metrics::count_trigger(
        "unknown",
        if status.is_server_error() {
            "failed"
        } else {
            "rejected"
        },
    );
    e.response()
}

/// The answer to a trigger that ran (docs/triggers.md, "Outcomes"): `type`, `receiverId`,
/// `driver`, `outcome`, `dryRun`, `message`, then the driver's own fields.
fn trigger_result(receiver_id: ReceiverId, driver: &str, outcome: &Outcome, dry_run: bool) -> Resp {
    let mut o = crate::json::JsonObject::new();
    o.str("type", "triggerResult")
        .str("receiverId", receiver_id.hex().as_str())
        .str("driver", driver)
        .str("outcome", outcome.name())
        .bool("dryRun", dry_run)
        .str("message", &outcome.message());
    for (k, v) in outcome.details().iter() {
        o.value(k, v);
    }
    o.into_response(StatusCode::OK)
}

/// Log lines per second for refused senders; the rest are counted, and the next line
/// logged says how many were suppressed.
const REFUSAL_LINES_PER_SECOND: u64 = 5;

/// Log lines per second, all receivers together, for triggers that changed nothing (at a
/// bound, duplicates, within the cooldown, resolved with nothing to undo) and for dry runs:
/// a sender repeating such a trigger in a loop is counted in `hookgate_triggers_total`, not
/// written to the log line by line. Every trigger that acts, and every error, is logged.
const QUIET_LINES_PER_SECOND: u64 = 20;

/// Logs, counts and answers a trigger whose receiver is known.
fn finish(claims: &Claims, result: Result<Done, Error>, started: Instant) -> Resp {
    static QUIET_LINES: crate::logging::LineBudget =
        crate::logging::LineBudget::new(QUIET_LINES_PER_SECOND);
    let driver = claims.config.driver().name();
    let rid = claims.receiver_id;
    match result {
        Ok(done) => {
            let (from, to) = done.outcome.from_to();
            let name = if done.dry_run {
                "dry_run"
            } else {
                done.outcome.name()
            };
            let resp = match &done.outcome {
                Outcome::Acted(Report {
                    reply: Some(reply), ..
                }) => passed_back(reply),
                outcome => trigger_result(rid, driver, outcome, done.dry_run),
            };
            let status = resp.status().as_u16();
            let quiet = done.dry_run || done.outcome.changed_nothing();
            if resp.status().is_server_error() {
                tracing::warn!(receiver_id = %rid, project_id = %claims.project_id, driver, outcome = done.outcome.name(), dry_run = done.dry_run, from, to, status, duration_ms = elapsed_ms(started), "trigger");
            } else if !quiet {
                tracing::info!(receiver_id = %rid, project_id = %claims.project_id, driver, outcome = done.outcome.name(), dry_run = done.dry_run, from, to, status, duration_ms = elapsed_ms(started), "trigger");
            } else if let Some(suppressed) = QUIET_LINES.take(crate::unix_now()) {
                tracing::info!(receiver_id = %rid, project_id = %claims.project_id, driver, outcome = done.outcome.name(), dry_run = done.dry_run, from, to, status, suppressed, duration_ms = elapsed_ms(started), "trigger");
            }
            crate::metrics::count_trigger(driver, name);
            resp
        }
        Err(e) => {
            let status = e.status();
            if status.is_server_error() {
                tracing::warn!(receiver_id = %rid, project_id = %claims.project_id, driver, outcome = "error", status = status.as_u16(), reason = %crate::logging::Escaped(&e), duration_ms = elapsed_ms(started), "trigger");
            } else {
                tracing::info!(receiver_id = %rid, project_id = %claims.project_id, driver, outcome = "error", status = status.as_u16(), reason = %crate::logging::Escaped(&e), duration_ms = elapsed_ms(started), "trigger");
            }
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

    const FIRING: &str = r#"{"status":"firing","alerts":[{"status":"firing","fingerprint":"f1","startsAt":"2026-11-29T10:00:00Z"}]}"#;

    async fn broken() -> Resp {
        panic!("the action broke")
    }

    #[tokio::test]
    async fn an_action_that_panics_is_answered_500() {
        let resp = RunToEnd::new(broken()).await;
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    /// A claim does not outlive a panicking action: the panic goes on, the alert and the
    /// cooldown are released, and the sender's retry acts instead of being answered
    /// `duplicate` or waiting for good on the cooldown.
    #[tokio::test]
    async fn a_panicking_action_releases_the_alerts_it_claimed() {
        let receivers = crate::keyed::KeyedState::<ReceiverId, policy::ReceiverState>::locks();
        let lease = receivers.lease(&ReceiverId::derived("test", "1a5", "k"));
        let note = Notification::parse(FIRING.as_bytes()).expect("parses");
        let on = OnResolved::Ignore;
        let acts = std::sync::atomic::AtomicU32::new(0);
        let act = |_| async {
            acts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let report = Report {
                change: 1,
                ..Report::new("scaled", String::new(), Vec::new())
            };
            Ok(Outcome::Acted(report))
        };

        let panicked = AssertUnwindSafe(claim_and_act(&lease, &note, on, 60, |_| async {
            panic!("the action broke")
        }))
        .catch_unwind()
        .await;
        assert!(panicked.is_err(), "the panic goes on");

        let retry = claim_and_act(&lease, &note, on, 60, act);
        let retried = tokio::time::timeout(std::time::Duration::from_secs(5), retry)
            .await
            .expect("the cooldown was released")
            .expect("acts");
        assert_eq!(retried.name(), "scaled", "the retry acts");
        let copy = claim_and_act(&lease, &note, on, 60, act)
            .await
            .expect("answers");
        assert_eq!(copy, Outcome::Duplicate, "and is remembered once it has");
        assert_eq!(acts.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

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
                TriggerQuery {
                    target,
                    dry_run,
                    route: None
                },
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
            (Some("hg1.k.payload.tag"), 400),
            (Some("token=a&dryRun=maybe"), 400),
            (Some("key=abc"), 400),
            (Some("key=a-b&projectId=1a5"), 400),
            (Some("token=a&key=b&projectId=1a5"), 400),
            (Some("token=a&route=xyz"), 400),
            (Some("token=a&route=0123456789"), 400),
            (Some("token=a&route=01234567&route=01234567"), 400),
            (Some("key=a&key=b&projectId=1a5"), 400),
        ];
        for (q, status) in bad {
            let e = parse_query(q).expect_err(&format!("{q:?}"));
            assert_eq!(e.status().as_u16(), status, "{q:?}");
        }
        // Nothing from the query is repeated in an error.
        for q in [
            "hg1.k.SECRETPAYLOAD.tag",
            "SECRETNAME=1&token=a",
            "token=a&token=SECRET",
        ] {
            let e = parse_query(Some(q)).expect_err(q);
            assert!(!e.to_string().contains("SECRET"), "{q}: {e}");
        }
        assert_eq!(
            parse_query(Some("token=a&route=0a1b2c3d"))
                .expect("route")
                .route,
            Some("0a1b2c3d")
        );
        let huge = format!("token={}", "a".repeat(5000));
        assert_eq!(
            parse_query(Some(&huge)).expect_err("too long").status(),
            400
        );
    }
}
