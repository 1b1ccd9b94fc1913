//! scaleHost, serviceUpgrade and forwardPost over real HTTP against the simulator
//! (docs/triggers.md): receivers created through the API as a user would, fired as their
//! senders would.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;
use http::Method;
use http_body_util::{BodyExt as _, Full};
use serde_json::{json, Value};

use crate::support::*;

const T: Duration = Duration::from_secs(5);

/// Creates a receiver as alice in 1a5; returns its trigger URL.
async fn receiver(edge: &Edge, name: &str, driver: &str, config: Value) -> String {
    create_receiver(&edge.base, name, driver, config).await
}

async fn sim_get(edge: &Edge, path: &str) -> Value {
    get(
        &edge.sim.url(&format!("/v2-beta/projects/1a5/{path}")),
        SERVICE,
    )
    .await
    .json()
}

async fn sim_post(edge: &Edge, path: &str, body: Value) -> Value {
    let r = http(
        Method::POST,
        &edge.sim.url(path),
        Some(SERVICE),
        &[],
        Some(&body.to_string()),
    )
    .await;
    assert!(
        r.status.is_success(),
        "{path}: {}",
        String::from_utf8_lossy(&r.body)
    );
    if r.body.is_empty() {
        Value::Null
    } else {
        r.json()
    }
}

async fn post_to(url: &str, body: &str) -> Reply {
    http(Method::POST, url, None, &[], Some(body)).await
}

fn image_of(svc: &Value) -> &str {
    svc["launchConfig"]["imageUuid"].as_str().unwrap_or("")
}

// ---- serviceUpgrade ----

#[tokio::test]
async fn a_docker_hub_push_upgrades_the_matching_service_and_finishes_it() {
    let edge = start_edge(T).await;
    let url = receiver(
        &edge,
        "redeploy-web",
        "serviceUpgrade",
        json!({"serviceSelector": {"app": "web"}, "tag": "stable", "payloadFormat": "dockerhub",
               "batchSize": 1, "intervalMillis": 2}),
    )
    .await;
    // A dry run answers what would happen, and does nothing.
    let dry = post_to(
        &format!("{url}&dryRun=true"),
        &fixture("dockerhub-push.json"),
    )
    .await;
    assert_eq!(dry.status, 200);
    let v = dry.json();
    assert_eq!(v["outcome"], "upgrading", "{v}");
    assert_eq!(v["upgrading"][0]["serviceId"], "1s1");
    assert_eq!(v["upgrading"][0]["image"], "docker:acme/web:stable");
    assert_eq!(
        image_of(&sim_get(&edge, "services/1s1").await),
        "docker:acme/web:1.0"
    );

    let r = post_to(&url, &fixture("dockerhub-push.json")).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let done = eventually(|| async {
        let s = sim_get(&edge, "services/1s1").await;
        image_of(&s) == "docker:acme/web:stable" && s["state"] == "active"
    })
    .await;
    let s = sim_get(&edge, "services/1s1").await;
    assert!(done, "{s}");
    assert_eq!(
        s["launchConfig"]["labels"]["io.rancher.container.pull_image"],
        "always"
    );
    assert_eq!(
        s["launchConfig"]["labels"]["app"], "web",
        "other fields carried through"
    );
    // The float epoch of older Docker Hub payloads reads too; not a push is a 400.
    let again = post_to(&url, &fixture("dockerhub-push-float-epoch.json")).await;
    assert_eq!(again.status, 200);
    for bad in ["", "{\"hello\": 1}", &fixture("alertmanager-firing.json")] {
        assert_eq!(post_to(&url, bad).await.status, 400, "{bad}");
    }
}

#[tokio::test]
async fn only_services_with_every_label_and_the_pushed_repository_are_upgraded() {
    let edge = start_edge(T).await;
    // Beside 1s1 (acme/web, app=web): one with only one of two labels, one of another
    // repository with the same labels.
    for (name, image, labels) in [
        ("half", "docker:acme/web:1.0", json!({"app": "web"})),
        (
            "other",
            "docker:acme/api:1.0",
            json!({"app": "web", "tier": "front"}),
        ),
        (
            "both",
            "docker:acme/web:0.9",
            json!({"app": "web", "tier": "front"}),
        ),
    ] {
        sim_post(
            &edge,
            "/v2-beta/projects/1a5/services",
            json!({"name": name, "stackId": "1st1", "scale": 1, "startOnCreate": true,
                   "launchConfig": {"imageUuid": image, "labels": labels}}),
        )
        .await;
    }
    let url = receiver(
        &edge,
        "two-labels",
        "serviceUpgrade",
        json!({"serviceSelector": {"app": "web", "tier": "front"}, "tag": "stable",
               "batchSize": 1, "intervalMillis": 2}),
    )
    .await;
    let v = post_to(&url, &fixture("dockerhub-push.json")).await.json();
    let names = |k: &str| -> Vec<String> {
        v[k].as_array()
            .expect("list")
            .iter()
            .map(|s| s["name"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(names("upgrading"), ["both"], "{v}");
    assert_eq!(names("skipped"), ["other"], "{v}");
    assert_eq!(v["skipped"][0]["reason"], "repository");
    let list = sim_get(&edge, "services?name=both").await;
    let both_id = list["data"][0]["id"].as_str().expect("id").to_owned();
    let upgraded = eventually(|| async {
        image_of(&sim_get(&edge, &format!("services/{both_id}")).await) == "docker:acme/web:stable"
    })
    .await;
    assert!(upgraded);
    assert_eq!(
        image_of(&sim_get(&edge, "services/1s1").await),
        "docker:acme/web:1.0"
    );
    let half = sim_get(&edge, "services?name=half").await;
    assert_eq!(image_of(&half["data"][0]), "docker:acme/web:1.0");

    // A tag that does not match: 200, nothing upgraded, and each labelled service says why.
    let mut other_tag: Value = serde_json::from_str(&fixture("dockerhub-push.json")).expect("json");
    other_tag["push_data"]["tag"] = "latest".into();
    let v = post_to(&url, &other_tag.to_string()).await.json();
    assert_eq!(v["outcome"], "unchanged");
    assert!(v["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .all(|s| s["reason"] == "tag"));
}

#[tokio::test]
async fn every_page_of_services_is_searched_and_aliases_stop_nothing() {
    let edge = start_edge(T).await;
    let made = join_all((0..150).map(|i| {
        let edge = &edge;
        async move {
            sim_post(
                edge,
                "/v2-beta/projects/1a5/services",
                json!({"name": format!("w{i}"), "stackId": "1st1", "scale": 1, "startOnCreate": true,
                       "launchConfig": {"imageUuid": "docker:acme/web:1.0", "labels": {"fleet": "yes"}}}),
            )
            .await["id"]
                .as_str()
                .expect("id")
                .to_owned()
        }
    }))
    .await;
    // An empty selector matches every service, the default world's alias (1s4) included.
    let url = receiver(
        &edge,
        "fleet",
        "serviceUpgrade",
        json!({"serviceSelector": {}, "tag": "stable", "batchSize": 1, "intervalMillis": 2}),
    )
    .await;
    let v = post_to(&url, &fixture("dockerhub-push.json")).await.json();
    assert_eq!(
        v["upgrading"].as_array().map(Vec::len),
        Some(151),
        "150 + 1s1"
    );
    let skipped: Vec<(&str, &str)> = v["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .map(|s| {
            (
                s["serviceId"].as_str().unwrap_or(""),
                s["reason"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        skipped.contains(&("1s4", "no launch config")),
        "{skipped:?}"
    );
    let all = eventually(|| async {
        let list = sim_get(&edge, "services?limit=1000").await;
        let data = list["data"].as_array().cloned().unwrap_or_default();
        made.iter().all(|id| {
            data.iter().any(|s| {
                s["id"] == id.as_str()
                    && image_of(s) == "docker:acme/web:stable"
                    && s["state"] == "active"
            })
        })
    })
    .await;
    assert!(all, "all 150 services upgraded and finished");
}

#[tokio::test]
async fn sidekicks_are_upgraded_on_their_own_labels() {
    let edge = start_edge(T).await;
    let svc = sim_post(
        &edge,
        "/v2-beta/projects/1a5/services",
        json!({"name": "pod", "stackId": "1st1", "scale": 1, "startOnCreate": true,
               "launchConfig": {"imageUuid": "docker:acme/base:1", "labels": {"role": "main"}},
               "secondaryLaunchConfigs": [
                   {"name": "web-side", "imageUuid": "docker:acme/web:1.0", "labels": {"role": "web"}},
                   {"name": "log-side", "imageUuid": "docker:acme/log:1", "labels": {"role": "log"}}]}),
    )
    .await;
    let id = svc["id"].as_str().expect("id").to_owned();
    let url = receiver(
        &edge,
        "sidekick",
        "serviceUpgrade",
        json!({"serviceSelector": {"role": "web"}, "tag": "stable", "batchSize": 1, "intervalMillis": 2}),
    )
    .await;
    assert_eq!(
        post_to(&url, &fixture("dockerhub-push.json")).await.status,
        200
    );
    let done = eventually(|| async {
        let s = sim_get(&edge, &format!("services/{id}")).await;
        s["secondaryLaunchConfigs"][0]["imageUuid"] == "docker:acme/web:stable"
            && s["state"] == "active"
    })
    .await;
    let s = sim_get(&edge, &format!("services/{id}")).await;
    assert!(done, "{s}");
    assert_eq!(
        image_of(&s),
        "docker:acme/base:1",
        "the primary does not match"
    );
    assert_eq!(
        s["secondaryLaunchConfigs"][1]["imageUuid"],
        "docker:acme/log:1"
    );
}

#[tokio::test]
async fn a_push_during_an_upgrade_waits_and_the_newest_wins() {
    // Transitions take a while here, so the first upgrade is still running when the next
    // pushes arrive.
    let edge = Opts::default()
        .start(start_sim(Duration::from_millis(300)).await)
        .await;
    let url = receiver(
        &edge,
        "every-tag",
        "serviceUpgrade",
        json!({"serviceSelector": {"app": "web"}, "tag": "stable", "tagPattern": "v*",
               "batchSize": 1, "intervalMillis": 2}),
    )
    .await;
    let push = |tag: &str| {
        let mut v: Value = serde_json::from_str(&fixture("dockerhub-push.json")).expect("json");
        v["push_data"]["tag"] = tag.into();
        v.to_string()
    };
    for tag in ["v1", "v2", "v3"] {
        assert_eq!(post_to(&url, &push(tag)).await.status, 200);
    }
    let settled = eventually(|| async {
        let s = sim_get(&edge, "services/1s1").await;
        image_of(&s) == "docker:acme/web:v3" && s["state"] == "active"
    })
    .await;
    assert!(settled, "{}", sim_get(&edge, "services/1s1").await);
    let calls = http(Method::GET, &edge.sim.url("/_sim/calls"), None, &[], None)
        .await
        .json();
    let upgrades = calls
        .as_array()
        .expect("calls")
        .iter()
        .filter(|c| c["query"] == "action=upgrade")
        .count();
    assert_eq!(upgrades, 2, "v1, then only the newest waiting push (v3)");
}

// ---- scaleHost ----

async fn host_names(edge: &Edge) -> Vec<String> {
    let list = sim_get(edge, "hosts").await;
    let mut names: Vec<String> = list["data"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|h| h["hostname"].as_str().unwrap_or("").to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn scale_host_adds_named_hosts_from_the_template_or_a_clone() {
    let edge = start_edge(T).await;
    let url = receiver(
        &edge,
        "more-workers",
        "scaleHost",
        json!({"hostTemplateId": "1ht1", "action": "up", "amount": 1, "min": 1, "max": 4}),
    )
    .await;
    let dry = post_to(&format!("{url}&dryRun=true"), "").await.json();
    assert_eq!(dry["created"], json!(["node03"]), "{dry}");
    assert_eq!(host_names(&edge).await, ["node01", "node02"]);
    let v = post_to(&url, "").await.json();
    assert_eq!(
        (v["outcome"].as_str(), v["from"].as_i64(), v["to"].as_i64()),
        (Some("scaled"), Some(2), Some(3)),
        "{v}"
    );
    assert_eq!(host_names(&edge).await, ["node01", "node02", "node03"]);
    let made = sim_get(&edge, "hosts?hostname=node03").await;
    assert_eq!(made["data"][0]["hostTemplateId"], "1ht1");

    // Selector mode clones the oldest machine-driver host, labels and driver included; the
    // template's node03 has no label, so it is not in this group, and its name is taken.
    let url = receiver(
        &edge,
        "workers-by-label",
        "scaleHost",
        json!({"hostSelector": {"POOL": "Workers"}, "action": "up", "amount": 2, "min": 1, "max": 10}),
    )
    .await;
    let v = post_to(&url, "").await.json();
    assert_eq!(v["created"], json!(["node04", "node05"]), "{v}");
    let clone = sim_get(&edge, "hosts?hostname=node05").await;
    assert_eq!(clone["data"][0]["labels"]["pool"], "workers");
    assert_eq!(clone["data"][0]["driver"], "amazonec2");
    // Clamped to the maximum instead of refused.
    let capped = receiver(
        &edge,
        "capped",
        "scaleHost",
        json!({"hostTemplateId": "1ht1", "action": "up", "amount": 5, "min": 1, "max": 6}),
    )
    .await;
    let v = post_to(&capped, "").await.json();
    assert_eq!(
        (v["from"].as_i64(), v["to"].as_i64()),
        (Some(5), Some(6)),
        "{v}"
    );
    assert_eq!(post_to(&capped, "").await.json()["outcome"], "unchanged");
}

#[tokio::test]
async fn scale_host_removes_hosts_in_a_bad_state_first() {
    let edge = start_edge(T).await;
    // A newer active host, and node01's agent disconnected.
    sim_post(
        &edge,
        "/v2-beta/projects/1a5/hosts",
        json!({"hostname": "node03", "hostTemplateId": "1ht1", "labels": {"pool": "workers"}}),
    )
    .await;
    sim_post(
        &edge,
        "/_sim/set",
        json!({"projectId": "1a5", "collection": "hosts", "id": "1h1", "fields": {"agentState": "disconnected"}}),
    )
    .await;
    let url = receiver(
        &edge,
        "fewer-workers",
        "scaleHost",
        json!({"hostSelector": {"pool": "workers"}, "action": "down", "amount": 1, "min": 1, "max": 10,
               "deleteOption": "mostRecent"}),
    )
    .await;
    let v = post_to(&url, "").await.json();
    assert_eq!(v["removed"][0]["name"], "node01", "{v}");
    assert_eq!(v["removed"][0]["state"], "disconnected");
    let gone = eventually(|| async { host_names(&edge).await == ["node02", "node03"] }).await;
    assert!(gone, "{:?}", host_names(&edge).await);
    // Next, the most recent goes; then the minimum holds.
    assert_eq!(
        post_to(&url, "").await.json()["removed"][0]["name"],
        "node03"
    );
    assert_eq!(post_to(&url, "").await.json()["outcome"], "unchanged");
}

#[tokio::test]
async fn custom_hosts_cannot_be_cloned() {
    let edge = start_edge(T).await;
    sim_post(
        &edge,
        "/v2-beta/projects/1a5/hosts",
        json!({"hostname": "custom1", "labels": {"pool": "custom"}}),
    )
    .await;
    let r = http(
        Method::POST,
        &format!("{}/v1-webhooks/receivers?projectId=1a5", edge.base),
        Some(ALICE),
        &[],
        Some(
            &json!({"name": "grow-custom", "driver": "scaleHost", "scaleHostConfig":
            {"hostSelector": {"pool": "custom"}, "action": "up", "amount": 1, "min": 1, "max": 4}})
            .to_string(),
        ),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["fieldName"], "hostSelector");
    // A group that had a machine host when the receiver was made, and lost it since: 422.
    let url = receiver(
        &edge,
        "grow-workers",
        "scaleHost",
        json!({"hostSelector": {"pool": "workers"}, "action": "up", "amount": 1, "min": 1, "max": 4}),
    )
    .await;
    for id in ["1h1", "1h2"] {
        sim_post(
            &edge,
            "/_sim/set",
            json!({"projectId": "1a5", "collection": "hosts", "id": id, "fields": {"driver": ""}}),
        )
        .await;
    }
    let r = post_to(&url, "").await;
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
}

// ---- forwardPost ----

/// What reached an upstream: the request target, its headers, its body.
type Seen = (String, Vec<(String, String)>, String);

/// An upstream that records what reached it and answers with the status it is given.
struct Upstream {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn upstream(status: u16) -> Upstream {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        loop {
            let s = tokio::select! {
                a = listener.accept() => match a { Ok((s, _)) => s, Err(_) => return },
                _ = &mut rx => return,
            };
            let log = log.clone();
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let log = log.clone();
                        async move {
                            let target = req.uri().to_string();
                            let headers = req
                                .headers()
                                .iter()
                                .map(|(n, v)| {
                                    (
                                        n.to_string(),
                                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                                    )
                                })
                                .collect();
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            log.lock().expect("log").push((
                                target,
                                headers,
                                String::from_utf8_lossy(&body).into_owned(),
                            ));
                            let mut r = http::Response::new(Full::new(Bytes::from_static(
                                b"{\"deployed\": true}",
                            )));
                            *r.status_mut() = http::StatusCode::from_u16(status).expect("status");
                            r.headers_mut()
                                .insert("content-type", "application/json".parse().expect("ct"));
                            Ok::<_, std::convert::Infallible>(r)
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    Upstream {
        base,
        seen,
        _stop: tx,
    }
}

#[tokio::test]
async fn forward_post_passes_the_body_and_nothing_secret() {
    let edge = start_edge(T).await;
    let up = upstream(201).await;
    sim_post(
        &edge,
        "/_sim/upstreams",
        json!({"projectId": "1a5", "service": "web", "port": 8080, "url": up.base}),
    )
    .await;
    let url = receiver(
        &edge,
        "deploy-hook",
        "forwardPost",
        json!({"serviceName": "web", "port": "8080", "path": "/hooks/deploy"}),
    )
    .await;
    let token = &url[url.find("token=").expect("token") + 6..];
    let r = http(
        Method::POST,
        &url,
        None,
        &[
            ("authorization", "Basic c2VjcmV0OnNlY3JldA=="),
            ("cookie", "session=s3cr3t"),
            ("x-custom", "nope"),
            ("user-agent", "ci/1.0"),
        ],
        Some(r#"{"ref": "main"}"#),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json(), json!({"deployed": true}));
    let seen = up.seen.lock().expect("seen").clone();
    assert_eq!(seen.len(), 1);
    let (target, headers, body) = &seen[0];
    assert_eq!(target, "/hooks/deploy", "no query string travels");
    assert_eq!(body, r#"{"ref": "main"}"#);
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("content-type"), Some("application/json"));
    assert_eq!(header("user-agent"), Some("ci/1.0"));
    for secret in ["authorization", "cookie", "x-custom"] {
        assert_eq!(header(secret), None, "{secret} reached the upstream");
    }
    let everything = format!("{seen:?}");
    assert!(
        !everything.contains(token),
        "the token reached the upstream"
    );
    assert!(
        !everything.contains("service-secret")
            && !everything.contains("c2VydmljZTpzZXJ2aWNlLXNlY3JldA")
    );

    // An upstream failure is a 502 (so senders retry); a dry run forwards nothing.
    let failing = upstream(500).await;
    sim_post(
        &edge,
        "/_sim/upstreams",
        json!({"projectId": "1a5", "service": "web", "port": 8080, "url": failing.base}),
    )
    .await;
    assert_eq!(post_to(&url, "{}").await.status, 502);
    let dry = post_to(&format!("{url}&dryRun=true"), "{}").await.json();
    assert_eq!(dry["outcome"], "forwarded");
    assert_eq!(failing.seen.lock().expect("seen").len(), 1);
}

#[tokio::test]
async fn forward_post_reaches_only_a_service_of_its_own_project() {
    let edge = start_edge(T).await;
    // Without an upstream the simulated container answers with what reached it.
    let url = receiver(
        &edge,
        "echo",
        "forwardPost",
        json!({"serviceName": "web", "port": 80, "path": "/"}),
    )
    .await;
    let v = post_to(&url, "hello").await.json();
    assert_eq!(v["body"], "hello", "{v}");
    assert_eq!(v["path"], "/");
    for (path, name) in [
        ("/../../v2-beta/projects/1a5/services", "web"),
        ("/x?y=1", "web"),
        ("/%2e%2e/", "web"),
        ("/", "web/../x"),
    ] {
        let r = http(
            Method::POST,
            &format!("{}/v1-webhooks/receivers?projectId=1a5", edge.base),
            Some(ALICE),
            &[],
            Some(
                &json!({"name": format!("escape-{path}-{name}"), "driver": "forwardPost",
                "forwardPostConfig": {"serviceName": name, "port": "80", "path": path}})
                .to_string(),
            ),
        )
        .await;
        assert_eq!(r.status, 400, "{path} {name}");
    }
}

// ---- what an attacker's review found ----

#[tokio::test]
async fn host_steps_are_bounded_and_selectors_not_empty() {
    let edge = start_edge(T).await;
    let create = |config: Value| {
        let body = json!({"name": "big", "driver": "scaleHost", "scaleHostConfig": config});
        let url = format!("{}/v1-webhooks/receivers?projectId=1a5", edge.base);
        async move {
            http(
                Method::POST,
                &url,
                Some(ALICE),
                &[],
                Some(&body.to_string()),
            )
            .await
            .json()
        }
    };
    // (config, field named in the 400)
    let cases = [
        (
            json!({"hostTemplateId": "1ht1", "action": "up", "amount": 4294967295u32, "min": 0, "max": 4294967295u32}),
            "amount",
        ),
        (
            json!({"hostTemplateId": "1ht1", "action": "up", "amount": 101, "min": 0, "max": 200}),
            "amount",
        ),
        (
            json!({"hostTemplateId": "1ht1", "action": "up", "amount": 1, "min": 0, "max": 10001}),
            "max",
        ),
        (
            json!({"hostSelector": {}, "action": "down", "amount": 1, "min": 0, "max": 10, "deleteOption": "leastRecent"}),
            "hostSelector",
        ),
    ];
    for (config, field) in cases {
        let v = create(config.clone()).await;
        assert_eq!(
            (v["status"].as_u64(), v["fieldName"].as_str()),
            (Some(400), Some(field)),
            "{config}"
        );
    }
    // A record written straight into Cattle with such a config is refused, not run.
    let key = "H8fAbCdEfGhIjKlMnOpQrStUvWxYz0123456789a";
    sim_post(
        &edge,
        "/v2-beta/projects/1a5/genericobjects",
        json!({"name": "huge", "key": key, "kind": "webhookReceiver", "resourceData": {"driver": "scaleHost",
            "config": {"hostTemplateId": "1ht1", "action": "up", "amount": 3000000000u32, "min": 0, "max": 4000000000u32}}}),
    )
    .await;
    let r = post_to(
        &format!(
            "{}/v1-webhooks/endpoint?key={key}&projectId=1a5&dryRun=true",
            edge.base
        ),
        "",
    )
    .await;
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        get(&format!("{}/healthz", edge.base), SERVICE).await.status,
        200
    );
}

#[tokio::test]
async fn overlapping_host_groups_never_share_a_new_name() {
    let edge = start_edge(T).await;
    let by_template = receiver(
        &edge,
        "by-template",
        "scaleHost",
        json!({"hostTemplateId": "1ht1", "action": "up", "amount": 1, "min": 1, "max": 4}),
    )
    .await;
    let by_label = receiver(
        &edge,
        "by-label",
        "scaleHost",
        json!({"hostSelector": {"pool": "workers"}, "action": "up", "amount": 1, "min": 1, "max": 4}),
    )
    .await;
    let replies = join_all((0..12).map(|i| {
        let url = if i % 2 == 0 {
            by_template.clone()
        } else {
            by_label.clone()
        };
        async move { post_to(&url, "").await }
    }))
    .await;
    assert!(replies.iter().all(|r| r.status == 200));
    let names = host_names(&edge).await;
    let mut unique = names.clone();
    unique.dedup();
    assert_eq!(names, unique, "no two hosts share a name");
    // No receiver added a host beyond its own max (a group may still be above it when
    // another receiver's hosts count in it too: then nothing is added).
    for (i, r) in replies.iter().enumerate() {
        let v = r.json();
        if v["outcome"] == "scaled" {
            assert!(
                v["to"].as_i64().unwrap_or(0) <= 4,
                "answer {i} went past its max: {v}"
            );
        }
    }
}

#[tokio::test]
async fn what_a_service_answers_is_passed_back_as_data() {
    let edge = start_edge(T).await;
    let html = html_upstream().await;
    sim_post(
        &edge,
        "/_sim/upstreams",
        json!({"projectId": "1a5", "service": "web", "port": 8080, "url": html.0}),
    )
    .await;
    let url = receiver(
        &edge,
        "page",
        "forwardPost",
        json!({"serviceName": "web", "port": "8080", "path": "/html"}),
    )
    .await;
    let r = post_to(&url, "x").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "text/html");
    assert_eq!(r.headers["content-security-policy"], "sandbox");
    assert_eq!(r.headers["x-content-type-options"], "nosniff");
    // The service's own 401 is its answer, not a complaint about hookgate's account.
    let url = receiver(
        &edge,
        "denied",
        "forwardPost",
        json!({"serviceName": "web", "port": "8080", "path": "/401"}),
    )
    .await;
    assert_eq!(post_to(&url, "x").await.status, 401);
    // `..;` is `..` to a servlet container: refused like `..`.
    let r = http(
        Method::POST,
        &format!("{}/v1-webhooks/receivers?projectId=1a5", edge.base),
        Some(ALICE),
        &[],
        Some(
            &json!({"name": "semi", "driver": "forwardPost", "forwardPostConfig":
            {"serviceName": "web", "port": "80", "path": "/..;/..;/v2-beta/projects"}})
            .to_string(),
        ),
    )
    .await;
    assert_eq!(r.status, 400);
}

/// An upstream answering `/html` with a page and `/401` with its own refusal.
async fn html_upstream() -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        loop {
            let s = tokio::select! {
                a = listener.accept() => match a { Ok((s, _)) => s, Err(_) => return },
                _ = &mut rx => return,
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    |req: http::Request<hyper::body::Incoming>| async move {
                        let (status, ct, body) = if req.uri().path() == "/401" {
                            (401, "text/plain", "not for you")
                        } else {
                            (200, "text/html", "<script>alert(1)</script>")
                        };
                        let mut r = http::Response::new(Full::new(Bytes::from(body)));
                        *r.status_mut() = http::StatusCode::from_u16(status).expect("status");
                        r.headers_mut()
                            .insert("content-type", ct.parse().expect("ct"));
                        Ok::<_, std::convert::Infallible>(r)
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    (base, tx)
}
