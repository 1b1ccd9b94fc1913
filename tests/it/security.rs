//! The holes a security review found, each pinned by its repro (docs/security.md): a
//! receiver id grants nothing, unknown keys cost no Cattle call each, proxy mode trusts no
//! stranger, nothing echoes a secret, policy keeps the user's intent, errors tell the truth.

use std::time::Duration;

use futures_util::future::join_all;
use hookgate::drivers::{DriverConfig, OnResolved, ScaleServiceConfig};
use http::Method;
use serde_json::{json, Value};

use crate::support::*;

const RANCHER_KEY: &str = "Q8fAbCdEfGhIjKlMnOpQrStUvWxYz0123456789a";

fn receivers(base: &str, project: &str) -> String {
    format!("{base}/v1-webhooks/receivers?projectId={project}")
}

async fn create(edge: &Edge, creds: (&str, &str), body: &Value) -> Reply {
    http(
        Method::POST,
        &receivers(&edge.base, "1a5"),
        Some(creds),
        &[],
        Some(&body.to_string()),
    )
    .await
}

fn scale_body(name: &str, config: Value) -> Value {
    json!({"name": name, "driver": "scaleService", "scaleServiceConfig": config})
}

fn key_url(edge: &Edge, key: &str, project: &str) -> String {
    format!(
        "{}/v1-webhooks/endpoint?key={key}&projectId={project}",
        edge.base
    )
}

fn rancher_record(key: &str, kind: &str, config: Value) -> Value {
    json!({"name": format!("r-{key}"), "key": key, "kind": kind, "resourceData": {
        "url": format!("http://rancher:8080/v1-webhooks/endpoint?key={key}&projectId=1a5"),
        "driver": "scaleService", "config": config}})
}

async fn post(url: &str) -> Reply {
    http(Method::POST, url, None, &[], None).await
}

#[tokio::test]
async fn a_receiver_id_is_not_a_capability() {
    let edge = start_edge(Duration::from_secs(5)).await;
    let made = create(
        &edge,
        ALICE,
        &scale_body(
            "up",
            json!({"serviceId": "1s1", "action": "up", "amount": 1, "min": 1, "max": 10}),
        ),
    )
    .await;
    assert_eq!(made.status, 200);
    let token_url = made.json()["url"].as_str().expect("url").to_owned();
    let fired = post(&token_url).await.json();
    let rid = fired["receiverId"]
        .as_str()
        .expect("receiver id")
        .to_owned();
    // The repro: the receiver id, which every trigger answer carries, as a key URL.
    let r = post(&key_url(&edge, &rid, "1a5")).await;
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(edge.scale_of("1a5", "1s1").await, 3, "only the token fired");

    // Removing the signing key from the ring revokes the URL, and nothing else fires it.
    let rotated = Opts {
        keys: hookgate::token::KeyRing::new([("t0", vec![0u8; 32])]).expect("ring"),
        ..Opts::default()
    }
    .start(edge.sim.share())
    .await;
    let query = &token_url[token_url.find('?').expect("query")..];
    let via_rotated = format!("{}/v1-webhooks/endpoint{query}", rotated.base);
    assert_eq!(post(&via_rotated).await.status, 401);
    assert_eq!(post(&key_url(&rotated, &rid, "1a5")).await.status, 403);
    assert_eq!(edge.scale_of("1a5", "1s1").await, 3);

    // A generic object of another kind, with a driver config in its data and a key of
    // Rancher's shape, is not a receiver.
    let ok_config = json!({"serviceId": "1s1", "action": "up", "amount": 1, "min": 1, "max": 10});
    edge.store(
        "1a5",
        rancher_record(RANCHER_KEY, "somethingElse", ok_config),
    )
    .await;
    assert_eq!(post(&key_url(&edge, RANCHER_KEY, "1a5")).await.status, 403);
    assert_eq!(edge.scale_of("1a5", "1s1").await, 3);
}

#[tokio::test]
async fn rancher_records_run_only_when_they_pass_rancher_checks() {
    let edge = start_edge(Duration::from_secs(5)).await;
    // What Rancher's UI sent and its service stored: the nested type, and fields of
    // other Rancher versions, are read leniently.
    let lenient = "L8fAbCdEfGhIjKlMnOpQrStUvWxYz0123456789a";
    edge.store(
        "1a5",
        rancher_record(
            lenient,
            "webhookReceiver",
            json!({"type": "scaleService", "serviceId": "1s1", "action": "up", "amount": 1,
                   "min": 1, "max": 10, "hostTemplateId": null, "somethingOld": true}),
        ),
    )
    .await;
    // A config for a global service never passed Rancher's checks: refused, not run.
    let global = "G8fAbCdEfGhIjKlMnOpQrStUvWxYz0123456789a";
    edge.store(
        "1a5",
        rancher_record(
            global,
            "webhookReceiver",
            json!({"serviceId": "1s3", "action": "up", "amount": 1, "min": 1, "max": 10}),
        ),
    )
    .await;
    // A stored config that is not a complete receiver is refused too.
    let broken = "B8fAbCdEfGhIjKlMnOpQrStUvWxYz0123456789a";
    edge.store(
        "1a5",
        rancher_record(broken, "webhookReceiver", json!({"serviceId": "1s1"})),
    )
    .await;
    let r = post(&key_url(&edge, lenient, "1a5")).await;
    assert_eq!((r.status.as_u16(), r.json()["to"].as_i64()), (200, Some(3)));
    let r = post(&key_url(&edge, global, "1a5")).await;
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(edge.scale_of("1a5", "1s3").await, 1);
    assert_eq!(post(&key_url(&edge, broken, "1a5")).await.status, 422);

    // Sites that never ran Rancher's service turn key URLs off: 403, no Cattle call.
    let off = Opts {
        legacy_key_urls: false,
        ..Opts::default()
    }
    .start(edge.sim.share())
    .await;
    off.clear_calls().await;
    assert_eq!(post(&key_url(&off, lenient, "1a5")).await.status, 403);
    assert!(off.called_paths().await.is_empty());
}

#[tokio::test]
async fn unknown_keys_cost_no_cattle_call_each() {
    let edge = start_edge(Duration::from_secs(5)).await;
    edge.store(
        "1a5",
        rancher_record(
            RANCHER_KEY,
            "webhookReceiver",
            json!({"serviceId": "1s1", "action": "up", "amount": 1, "min": 1, "max": 10}),
        ),
    )
    .await;
    edge.clear_calls().await;
    // Keys not of Rancher's shape never reach Cattle.
    for key in ["nosuchkey", "00017f80abcdefff090a0b0c0d0e0f10"] {
        assert_eq!(post(&key_url(&edge, key, "1a5")).await.status, 403);
    }
    assert!(edge.called_paths().await.is_empty());
    // Random keys of Rancher's shape: one look-up of the project, however many keys.
    let tried = join_all((0..2000).map(|i| {
        let url = key_url(&edge, &format!("{i:0>40}"), "1a5");
        async move { post(&url).await.status.as_u16() }
    }))
    .await;
    assert!(tried.iter().all(|s| *s == 403));
    assert_eq!(edge.called_paths().await.len(), 1);
    // The real key works from the same cached index.
    assert_eq!(post(&key_url(&edge, RANCHER_KEY, "1a5")).await.status, 200);

    // "No such key" reads the same in every project, reachable or not.
    let body = |r: Reply| {
        let mut v = r.json();
        v.as_object_mut().map(|m| m.remove("id"));
        (r.status, v)
    };
    let here = body(post(&key_url(&edge, &"x".repeat(40), "1a5")).await);
    let nowhere = body(post(&key_url(&edge, &"x".repeat(40), "1a99")).await);
    assert_eq!(here, nowhere);
    assert_eq!(here.0, 403);

    // Cattle failing is remembered briefly: a flood of keys costs one call.
    let failing = start_edge(Duration::from_secs(5)).await;
    failing
        .fault(r#"{"pathPrefix": "/v2-beta/projects/1a5/genericobjects", "status": 500}"#)
        .await;
    let statuses = join_all((0..50).map(|i| {
        let url = key_url(&failing, &format!("{i:0>40}"), "1a5");
        async move { post(&url).await.status.as_u16() }
    }))
    .await;
    assert!(statuses.iter().all(|s| *s == 502), "{statuses:?}");
    assert_eq!(failing.called_paths().await.len(), 1);

    // Strangers trying projects are rate-limited: Cattle sees a bounded number of calls.
    let flooded = start_edge(Duration::from_secs(5)).await;
    flooded.clear_calls().await;
    let answers: Vec<(u16, bool)> = join_all((0..200).map(|i| {
        let url = key_url(&flooded, RANCHER_KEY, &format!("1a{}", 1000 + i));
        async move {
            let r = post(&url).await;
            (r.status.as_u16(), r.headers.contains_key("retry-after"))
        }
    }))
    .await;
    let calls = flooded.called_paths().await.len();
    assert!(calls <= 30, "{calls} Cattle calls for 200 projects");
    assert!(answers
        .iter()
        .all(|(s, retry)| (*s == 403 && !retry) || (*s == 503 && *retry)));
    assert!(answers.iter().any(|(s, _)| *s == 503), "load was shed");
}

#[tokio::test]
async fn proxy_mode_trusts_no_stranger() {
    let edge = Opts {
        behind_cattle_proxy: true,
        ..Opts::default()
    }
    .start(start_sim(Duration::ZERO).await)
    .await;
    let internal = edge.base.clone();
    let public = edge.public_base.clone().expect("public listener");
    let body = scale_body(
        "proxied",
        json!({"serviceId": "1s1", "action": "up", "amount": 1, "min": 1, "max": 10}),
    )
    .to_string();
    let with = |project: &'static str, roles: &'static str| {
        vec![("x-api-project-id", project), ("x-api-roles", roles)]
    };
    // Without Cattle's headers nothing is listed, created or deleted: 401.
    let url = format!("{internal}/v1-webhooks/receivers");
    for (method, headers) in [
        (Method::GET, vec![]),
        (Method::POST, vec![]),
        (Method::POST, vec![("x-api-project-id", "1a5")]),
        (Method::POST, vec![("x-api-roles", "owner")]),
    ] {
        let r = http(
            method.clone(),
            &format!("{url}?projectId=1a5"),
            None,
            &headers,
            Some(&body),
        )
        .await;
        assert_eq!(r.status, 401, "{method} {headers:?}");
    }
    // The query cannot stand in for the header, nor disagree with it.
    let r = http(
        Method::GET,
        &format!("{url}?projectId=1a7"),
        None,
        &with("1a5", "owner"),
        None,
    )
    .await;
    assert_eq!(r.status, 403);
    // Roles as Rancher 1.6 matched them, case-insensitively; any read-only role wins.
    for roles in ["ReadOnly", "owner, v1-RESTRICTED", "member,readonly"] {
        let r = http(Method::POST, &url, None, &with("1a5", roles), Some(&body)).await;
        assert_eq!(r.status, 405, "{roles}");
        assert_eq!(r.headers["allow"], "GET");
    }
    let made = http(Method::POST, &url, None, &with("1a5", "owner"), Some(&body)).await;
    assert_eq!(made.status, 200, "{}", String::from_utf8_lossy(&made.body));
    let trigger = made.json()["url"].as_str().expect("url").to_owned();
    // Read-only callers see receivers but not their trigger URLs.
    let listed = http(Method::GET, &url, None, &with("1a5", "readonly"), None)
        .await
        .json();
    let rec = &listed["data"][0];
    assert_eq!(rec["name"], "proxied");
    assert!(rec.get("url").is_none(), "{rec}");
    let owner_view = http(Method::GET, &url, None, &with("1a5", "owner"), None)
        .await
        .json();
    assert!(owner_view["data"][0]["url"].is_string());

    // The public listener serves triggers and health, never the API.
    for path in [
        "/v1-webhooks/receivers?projectId=1a5",
        "/v1-webhooks",
        "/v1-webhooks/schemas",
    ] {
        let r = http(
            Method::GET,
            &format!("{public}{path}"),
            None,
            &with("1a5", "owner"),
            None,
        )
        .await;
        assert_eq!(r.status, 404, "{path}");
    }
    let r = http(
        Method::POST,
        &format!("{public}/v1-webhooks/receivers"),
        None,
        &with("1a5", "owner"),
        Some(&body),
    )
    .await;
    assert_eq!(r.status, 404);
    let query = &trigger[trigger.find('?').expect("query")..];
    let fired = post(&format!("{public}/v1-webhooks/endpoint{query}")).await;
    assert_eq!(fired.status, 200);
    assert_eq!(fired.json()["to"], 3);
    assert_eq!(get(&format!("{public}/healthz"), SERVICE).await.status, 200);
}

#[tokio::test]
async fn nothing_from_the_query_is_echoed() {
    let edge = start_edge(Duration::from_secs(5)).await;
    let token = edge
        .mint("1a5", DriverConfig::ScaleService(scale("1s1")))
        .await;
    // The repro: a token without `token=`.
    for query in [token.clone(), format!("{token}=1"), format!("x{token}=y")] {
        let r = post(&format!("{}/v1-webhooks/endpoint?{query}", edge.base)).await;
        assert_eq!(r.status, 400);
        let text = String::from_utf8_lossy(&r.body);
        assert!(!text.contains(&token[4..40]), "{text}");
    }
    // A removed key id and a bad signature look the same to the caller.
    let foreign = hookgate::token::KeyRing::new([("gone", vec![9u8; 32])]).expect("ring");
    let (unknown_kid, _) = seal_with(&foreign, "1a5", DriverConfig::ScaleService(scale("1s1")));
    let mut forged = token.clone().into_bytes();
    let last = forged.len() - 10; // inside the tag, clear of its spare bits
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).expect("ascii");
    let a = edge.fire(&unknown_kid, None).await;
    let b = edge.fire(&forged, None).await;
    assert_eq!((a.status, a.json()), (b.status, b.json()));
    assert_eq!(a.status, 401);
}

#[tokio::test]
async fn reverse_keeps_the_users_intent() {
    let firing = fixture("alertmanager-firing.json");
    let resolved = fixture("alertmanager-resolved.json");
    let edge = start_edge(Duration::from_secs(5)).await;
    // The README's example: a cooldown and onResolved: reverse.
    let token = edge
        .mint(
            "1a5",
            DriverConfig::ScaleService(ScaleServiceConfig {
                cooldown_seconds: 300,
                on_resolved: OnResolved::Reverse,
                ..scale("1s1")
            }),
        )
        .await;
    let r = edge.fire(&token, Some(&firing)).await.json();
    assert_eq!((r["from"].as_i64(), r["to"].as_i64()), (Some(2), Some(3)));
    // The reversal is not held back by the cooldown the firing started.
    let r = edge.fire(&token, Some(&resolved)).await.json();
    assert_eq!(
        (r["outcome"].as_str(), r["from"].as_i64(), r["to"].as_i64()),
        (Some("scaled"), Some(3), Some(2)),
        "{r}"
    );
    // Once.
    assert_eq!(
        edge.fire(&token, Some(&resolved)).await.json()["outcome"],
        "duplicate"
    );
    assert_eq!(edge.scale_of("1a5", "1s1").await, 2);
    // The reversal started no cooldown of its own, and the firing's still holds.
    assert_eq!(edge.fire(&token, None).await.json()["outcome"], "skipped");

    // A firing that never stepped (at the bound) reverses nothing when it resolves.
    let at_max = edge
        .mint(
            "1a5",
            DriverConfig::ScaleService(ScaleServiceConfig {
                max: 2,
                on_resolved: OnResolved::Reverse,
                ..scale("1s1")
            }),
        )
        .await;
    assert_eq!(
        edge.fire(&at_max, Some(&firing)).await.json()["outcome"],
        "unchanged"
    );
    let r = edge.fire(&at_max, Some(&resolved)).await.json();
    assert_eq!(r["outcome"], "resolved", "{r}");
    assert_eq!(edge.scale_of("1a5", "1s1").await, 2);

    // A resolved notification with no alerts acts nothing, even in a dry run.
    let trig = edge
        .mint(
            "1a5",
            DriverConfig::ScaleService(ScaleServiceConfig {
                on_resolved: OnResolved::Trigger,
                ..scale("1s1")
            }),
        )
        .await;
    for body in [
        r#"{"status":"resolved"}"#,
        r#"{"status":"resolved","alerts":[]}"#,
    ] {
        let r = http(
            Method::POST,
            &format!("{}&dryRun=true", edge.trigger_url(&trig)),
            None,
            &[],
            Some(body),
        )
        .await
        .json();
        assert_eq!(r["outcome"], "resolved", "{body}: {r}");
        assert!(r.get("to").is_none(), "{r}");
    }

    // Alert identities are dates as senders write them, and small.
    for (fp, starts) in [
        ("f1", "yesterday".to_owned()),
        ("f1", "2026-11-29".to_owned()),
        (&*"f".repeat(65), "2026-11-29T10:00:00Z".to_owned()),
        ("f1", format!("2026-11-29T10:00:00.{}Z", "9".repeat(60))),
    ] {
        let body = format!(
            r#"{{"status":"firing","alerts":[{{"fingerprint":"{fp}","startsAt":"{starts}"}}]}}"#
        );
        let r = edge.fire(&trig, Some(&body)).await;
        assert_eq!(r.status, 400, "{starts}");
    }
    let go_style = r#"{"status":"firing","alerts":[{"fingerprint":"f2","startsAt":"2026-11-29T10:00:00.123456789+01:00"}]}"#;
    assert_eq!(
        edge.fire(&trig, Some(go_style)).await.json()["outcome"],
        "scaled"
    );
}

#[tokio::test]
async fn errors_tell_the_truth() {
    let edge = start_edge(Duration::from_secs(5)).await;
    let made = create(
        &edge,
        ALICE,
        &scale_body(
            "once",
            json!({"serviceId": "1s1", "action": "up", "amount": 1, "min": 1, "max": 10}),
        ),
    )
    .await
    .json();
    let me = made["links"]["self"].as_str().expect("self").to_owned();
    let del = |url: String| async move { http(Method::DELETE, &url, Some(ALICE), &[], None).await };
    assert_eq!(del(me.clone()).await.status, 204);
    // Deleted means gone: a second delete and a read are 404, not 502 and 200.
    assert_eq!(del(me.clone()).await.status, 404);
    assert_eq!(get(&me, ALICE).await.status, 404);

    // A misspelled field is refused, naming it, instead of silently defaulting.
    let r = create(
        &edge,
        ALICE,
        &scale_body(
            "typo",
            json!({"serviceId": "1s1", "action": "up", "amount": 1, "min": 1, "max": 10, "cooldown": 300}),
        ),
    )
    .await;
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["fieldName"], "cooldown");
    // What Rancher 1.6's UI sends on clone stays accepted: type, state, url at the top,
    // the nested type, and every field any Rancher version defined.
    let clone = json!({"type": "receiver", "name": "clone", "state": "active",
        "url": "http://rancher/v1-webhooks/endpoint?key=x&projectId=1a5",
        "driver": "scaleHost", "scaleHostConfig": {"type": "scaleHost", "hostSelector": {"pool": "workers"},
            "hostTemplateId": null, "action": "down", "amount": 1, "min": 1, "max": 4,
            "deleteOption": "leastRecent"},
        "scaleServiceConfig": {}, "serviceUpgradeConfig": null, "forwardPostConfig": {}});
    let r = create(&edge, ALICE, &clone).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));

    // 405 names what the path allows.
    let base = &edge.base;
    for (method, path, allow) in [
        (Method::GET, "/v1-webhooks/endpoint", "POST"),
        (
            Method::PUT,
            "/v1-webhooks/receivers?projectId=1a5",
            "GET, POST",
        ),
        (
            Method::PUT,
            "/v1-webhooks/receivers/1go1?projectId=1a5",
            "GET, DELETE",
        ),
        (Method::POST, "/v1-webhooks/schemas", "GET"),
        (Method::POST, "/healthz", "GET, HEAD"),
    ] {
        let r = http(
            method.clone(),
            &format!("{base}{path}"),
            Some(ALICE),
            &[],
            None,
        )
        .await;
        assert_eq!(
            (r.status.as_u16(), r.headers["allow"].to_str().ok()),
            (405, Some(allow)),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn keyed_state_is_released_after_the_burst() {
    let edge = start_edge(Duration::from_secs(5)).await;
    let mut urls = Vec::new();
    for service in ["1s1", "1s2"] {
        for _ in 0..3 {
            let t = edge
                .mint("1a5", DriverConfig::ScaleService(scale(service)))
                .await;
            urls.push(edge.trigger_url(&t));
        }
    }
    let replies = join_all((0..120).map(|i| {
        let url = urls[i % urls.len()].clone();
        async move { http(Method::POST, &url, None, &[], None).await }
    }))
    .await;
    assert!(replies.iter().all(|r| r.status == 200));
    // A batch's writer lets go of its service a few scheduler passes after its last answer.
    let released = eventually(|| async { edge.app.leases_in_use() == (0, 0) }).await;
    assert!(released, "{:?} still held", edge.app.leases_in_use());
}

#[tokio::test]
async fn a_deleted_receiver_stays_deleted() {
    let edge = Opts {
        revocation_ttl: Duration::from_millis(200),
        ..Opts::default()
    }
    .start(start_sim(Duration::ZERO).await)
    .await;
    let made = create(
        &edge,
        ALICE,
        &scale_body(
            "doomed",
            json!({"serviceId": "1s1", "action": "up", "amount": 1, "min": 1, "max": 10}),
        ),
    )
    .await;
    let v = made.json();
    let (url, go) = (
        v["url"].as_str().expect("url").to_owned(),
        v["id"].as_str().expect("id").to_owned(),
    );
    let rid = post(&url).await.json()["receiverId"]
        .as_str()
        .expect("receiver id")
        .to_owned();
    let del = http(
        Method::DELETE,
        &format!("{}/v1-webhooks/receivers/{go}?projectId=1a5", edge.base),
        Some(ALICE),
        &[],
        None,
    )
    .await;
    assert_eq!(del.status, 204);
    assert_eq!(post(&url).await.status, 403);
    // Records made from the receiver id alone, which every answer shows: a bare one (which
    // no list would show), and a complete one holding another URL. Neither revives it.
    edge.store(
        "1a5",
        json!({"name": "bare", "key": rid, "kind": "webhookReceiver"}),
    )
    .await;
    edge.store(
        "1a5",
        json!({"name": "other", "key": rid, "kind": "webhookReceiver", "resourceData": {
            "driver": "scaleService", "config": {},
            "url": "http://x/v1-webhooks/endpoint?token=hg1.k.other.tag"}}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(post(&url).await.status, 403);
    assert_eq!(
        edge.scale_of("1a5", "1s1").await,
        3,
        "fired once, before the delete"
    );

    // A project out of the service account's reach holds no receiver: 403, which senders do
    // not retry, rather than a 502 they would retry for ever.
    let (token, _) = edge.seal("1a99", DriverConfig::ScaleService(scale("1s1")));
    let r = edge.fire(&token, None).await;
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
}
