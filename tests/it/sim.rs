//! The simulator checked by raw HTTP with literal JSON, against docs/cattle.md.

use std::time::Duration;

use http::Method;
use serde_json::{json, Value};

use crate::support::*;

const P1: &str = "/v2-beta/projects/1a5";

#[tokio::test]
async fn authentication_and_project_scope() {
    let sim = start_sim(Duration::ZERO).await;
    let services = |p: &str| sim.url(&format!("/v2-beta/projects/{p}/services"));

    let r = http(Method::GET, &services("1a5"), None, &[], None).await;
    assert_eq!(r.status, 401);
    assert!(r.headers.contains_key("www-authenticate"));
    assert_eq!(r.json()["type"], "error");
    assert_eq!(r.json()["status"], 401);

    let r = http(
        Method::GET,
        &services("1a5"),
        None,
        &[("x-api-no-challenge", "true")],
        None,
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(!r.headers.contains_key("www-authenticate"));

    let r = http(
        Method::GET,
        &services("1a5"),
        Some(("alice", "wrong")),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 401);

    // (key, project, expected status)
    let matrix = [
        (ALICE, "1a5", 200),
        (ALICE, "1a7", 403),
        (BOB, "1a5", 403),
        (BOB, "1a7", 200),
        (SERVICE, "1a5", 200),
        (SERVICE, "1a7", 200),
        (SERVICE, "1a9", 403),
    ];
    for (key, project, want) in matrix {
        let r = get(&services(project), key).await;
        assert_eq!(r.status, want, "{} on {project}", key.0);
        let schemas = r.headers["x-api-schemas"].to_str().expect("ascii");
        assert_eq!(
            schemas,
            sim.url(&format!("/v2-beta/projects/{project}/schemas"))
        );
    }
    // A resource addressed under another project's path is 404, even for the service key.
    assert_eq!(
        get(&sim.url(&format!("{P1}/services/1s6")), SERVICE)
            .await
            .status,
        404
    );
    assert_eq!(
        get(&sim.url(&format!("{P1}/services/1s999")), SERVICE)
            .await
            .status,
        404
    );
    assert_eq!(
        get(&sim.url(&format!("{P1}/services/garbage")), SERVICE)
            .await
            .status,
        404
    );
    // `/v1` paths are served like `/v2-beta`.
    let r = get(&sim.url("/v1/projects/1a5/services/1s1"), ALICE).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["name"], "web");
}

#[tokio::test]
async fn default_world_matches_the_spec() {
    let sim = start_sim(Duration::ZERO).await;
    let svc = |id: &str, p: &str| sim.url(&format!("/v2-beta/projects/{p}/services/{id}"));
    let expect = [
        (
            "1s1",
            "1a5",
            "web",
            "service",
            Some(2),
            Some("docker:acme/web:1.0"),
        ),
        ("1s2", "1a5", "lb", "loadBalancerService", Some(1), None),
        ("1s3", "1a5", "agent", "service", Some(1), None),
        ("1s4", "1a5", "alias", "dnsService", None, None),
        (
            "1s5",
            "1a5",
            "placeholder",
            "service",
            Some(1),
            Some("docker:rancher/none"),
        ),
        (
            "1s6",
            "1a7",
            "api",
            "service",
            Some(1),
            Some("docker:acme/api:2.3"),
        ),
    ];
    for (id, p, name, kind, scale, image) in expect {
        let v = get(&svc(id, p), SERVICE).await.json();
        assert_eq!(v["name"], name, "{id}");
        assert_eq!(v["kind"], kind, "{id}");
        assert_eq!(v["type"], kind, "{id}");
        assert_eq!(v["baseType"], "service", "{id}");
        if let Some(s) = scale {
            assert_eq!(v["scale"], s, "{id}");
        }
        if let Some(i) = image {
            assert_eq!(v["launchConfig"]["imageUuid"], i, "{id}");
        }
        assert_eq!(v["links"]["self"], svc(id, p));
    }
    let agent = get(&svc("1s3", "1a5"), SERVICE).await.json();
    assert_eq!(
        agent["launchConfig"]["labels"]["io.rancher.scheduler.global"],
        "true"
    );
    assert_eq!(
        get(&svc("1s1", "1a5"), SERVICE).await.json()["launchConfig"]["labels"]["app"],
        "web"
    );

    let t = get(&sim.url(&format!("{P1}/hosttemplates/1ht1")), SERVICE)
        .await
        .json();
    assert_eq!(
        (t["name"].as_str(), t["driver"].as_str()),
        (Some("worker"), Some("amazonec2"))
    );
    let hosts = get(&sim.url(&format!("{P1}/hosts?sort=created")), SERVICE)
        .await
        .json();
    let names: Vec<&str> = hosts["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|h| h["hostname"].as_str().expect("hostname"))
        .collect();
    assert_eq!(names, ["node01", "node02"]);
    for h in hosts["data"].as_array().expect("data") {
        assert_eq!(h["hostTemplateId"], "1ht1");
        assert_eq!(h["driver"], "amazonec2");
        assert_eq!(h["labels"]["pool"], "workers");
        assert_eq!(h["state"], "active");
    }
    let projects = get(&sim.url("/v2-beta/projects"), SERVICE).await.json();
    let names: Vec<&str> = projects["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|p| p["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["Default", "Staging"]);
    let projects = get(&sim.url("/v2-beta/projects"), ALICE).await.json();
    assert_eq!(projects["data"].as_array().expect("data").len(), 1);
}

#[tokio::test]
async fn schemas_drive_a_go_style_client() {
    let sim = start_sim(Duration::ZERO).await;
    // Rancher's client: GET the URL, require X-API-Schemas, GET that, index by id.
    let r = get(&sim.url("/v2-beta/projects/1a5/schemas"), SERVICE).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers["x-api-schemas"],
        sim.url("/v2-beta/projects/1a5/schemas").as_str()
    );
    let doc = r.json();
    assert_eq!(doc["type"], "collection");
    let find = |id: &str| {
        doc["data"]
            .as_array()
            .expect("data")
            .iter()
            .find(|s| s["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("schema {id}"))
    };
    for (id, plural) in [
        ("service", "services"),
        ("host", "hosts"),
        ("hostTemplate", "hosttemplates"),
        ("genericObject", "genericobjects"),
        ("externalHostEvent", "externalhostevents"),
    ] {
        let s = find(id);
        assert_eq!(s["pluralName"], plural);
        assert_eq!(
            s["links"]["collection"],
            sim.url(&format!("/v2-beta/projects/1a5/{plural}"))
        );
        assert!(
            s["collectionMethods"]
                .as_array()
                .expect("methods")
                .contains(&json!("GET")),
            "{id}"
        );
        assert!(
            s["resourceMethods"]
                .as_array()
                .expect("methods")
                .contains(&json!("GET")),
            "{id}"
        );
    }
    assert!(find("service")["resourceMethods"]
        .as_array()
        .expect("m")
        .contains(&json!("PUT")));
    assert!(find("service")["resourceActions"]["finishupgrade"].is_object());
    // Follow the schema's collection link, then a resource's self link.
    let coll = find("service")["links"]["collection"]
        .as_str()
        .expect("link")
        .to_owned();
    let list = get(&coll, SERVICE).await.json();
    let first_self = list["data"][0]["links"]["self"]
        .as_str()
        .expect("self")
        .to_owned();
    assert_eq!(
        get(&first_self, SERVICE).await.json()["id"],
        list["data"][0]["id"]
    );
    // One schema by id, matched case-insensitively.
    let one = get(
        &sim.url("/v2-beta/projects/1a5/schemas/GENERICOBJECT"),
        SERVICE,
    )
    .await;
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["id"], "genericObject");
    let root = get(&sim.url("/v2-beta"), SERVICE).await;
    assert_eq!(root.json()["type"], "apiVersion");
    assert!(root.headers.contains_key("x-api-schemas"));
}

fn ids(v: &Value) -> Vec<String> {
    v["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn filters_sorting_and_removed_rows() {
    let sim = start_sim(Duration::ZERO).await;
    let list = |q: &str| {
        let url = sim.url(&format!("{P1}/services?{q}"));
        async move { get(&url, SERVICE).await.json() }
    };
    let cases: &[(&str, &[&str])] = &[
        ("", &["1s1", "1s2", "1s3", "1s4", "1s5"]),
        ("name=web", &["1s1"]),
        ("name=web&name=lb", &["1s1", "1s2"]),
        ("name_ne=web", &["1s2", "1s3", "1s4", "1s5"]),
        ("kind=loadBalancerService", &["1s2"]),
        ("name_prefix=a", &["1s3", "1s4"]),
        ("name_like=%25a%25", &["1s3", "1s4", "1s5"]),
        ("scale_gte=2", &["1s1"]),
        ("scale_null", &["1s4"]),
        ("sort=name", &["1s3", "1s4", "1s2", "1s5", "1s1"]),
        ("sort=name&order=desc", &["1s1", "1s5", "1s2", "1s4", "1s3"]),
        ("unknownField=zzz", &["1s1", "1s2", "1s3", "1s4", "1s5"]),
        ("launchConfig=zzz", &["1s1", "1s2", "1s3", "1s4", "1s5"]),
        ("limit=2", &["1s1", "1s2"]),
    ];
    for (q, want) in cases {
        assert_eq!(ids(&list(q).await), *want, "?{q}");
    }
    let filtered = list("name=web").await;
    assert_eq!(
        filtered["filters"]["name"],
        json!([{"modifier": "eq", "value": "web"}])
    );
    assert_eq!(filtered["resourceType"], "service");
    assert_eq!(filtered["pagination"]["partial"], false);

    // Removing hides a row from lists; by id it is still there, with `removed` set.
    let r = http(
        Method::DELETE,
        &sim.url(&format!("{P1}/services/1s5")),
        Some(SERVICE),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["state"], "removing");
    assert_eq!(ids(&list("").await), ["1s1", "1s2", "1s3", "1s4"]);
    assert_eq!(ids(&list("_removed=true").await).len(), 5);
    let gone = get(&sim.url(&format!("{P1}/services/1s5")), SERVICE).await;
    assert_eq!(gone.status, 200);
    assert!(gone.json()["removed"].is_string());
    assert_eq!(gone.json()["state"], "removed");
    assert!(gone.json()["actions"]
        .as_object()
        .expect("actions")
        .is_empty());
    let again = http(
        Method::DELETE,
        &sim.url(&format!("{P1}/services/1s5")),
        Some(SERVICE),
        &[],
        None,
    )
    .await;
    assert_eq!(again.status, 405);
}

#[tokio::test]
async fn pagination_at_one_hundred() {
    let sim = start_sim(Duration::ZERO).await;
    let coll = sim.url("/v2-beta/projects/1a7/services");
    for i in 0..150 {
        let body = format!(
            r#"{{"name": "svc-{i}", "stackId": "1st2", "scale": 1, "launchConfig": {{"imageUuid": "docker:acme/x:1"}}}}"#
        );
        let r = http(Method::POST, &coll, Some(BOB), &[], Some(&body)).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    }
    let first = get(&coll, BOB).await.json();
    assert_eq!(first["data"].as_array().expect("data").len(), 100);
    assert_eq!(first["pagination"]["partial"], true);
    assert_eq!(first["pagination"]["limit"], 100);
    let next = first["pagination"]["next"]
        .as_str()
        .expect("next")
        .to_owned();
    assert!(next.contains("marker=m100"), "{next}");
    let second = get(&next, BOB).await.json();
    assert_eq!(second["data"].as_array().expect("data").len(), 51);
    assert_eq!(second["pagination"]["partial"], false);
    assert!(second["pagination"]["next"].is_null());
    let mut all = ids(&first);
    all.extend(ids(&second));
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 151);
    // Filters survive into `next`.
    let page = get(&format!("{coll}?name_prefix=svc-1&limit=5"), BOB)
        .await
        .json();
    let next = page["pagination"]["next"].as_str().expect("next");
    assert!(
        next.contains("name_prefix=svc-1") && next.contains("marker=m5"),
        "{next}"
    );
}

#[tokio::test]
async fn create_and_update_validate_like_cattle() {
    let sim = start_sim(Duration::ZERO).await;
    let coll = sim.url(&format!("{P1}/services"));
    let s1 = sim.url(&format!("{P1}/services/1s1"));
    // (method, url, body, status, expected (code, fieldName))
    type Case<'a> = (Method, &'a str, &'a str, u16, Option<(&'a str, &'a str)>);
    let cases: &[Case] = &[
        (
            Method::POST,
            &coll,
            r#"{"stackId": "1st1"}"#,
            422,
            Some(("MissingRequired", "name")),
        ),
        (
            Method::POST,
            &coll,
            r#"{"name": "WEB", "stackId": "1st1"}"#,
            422,
            Some(("NotUnique", "name")),
        ),
        (
            Method::POST,
            &coll,
            r#"{"name": "bad name", "stackId": "1st1"}"#,
            422,
            Some(("InvalidCharacters", "name")),
        ),
        (
            Method::POST,
            &coll,
            r#"{"name": "x", "stackId": "1st2"}"#,
            422,
            Some(("InvalidReference", "stackId")),
        ),
        (
            Method::POST,
            &coll,
            r#"{"name": "x", "stackId": "1st1", "scale": -2}"#,
            422,
            Some(("MinLimitExceeded", "scale")),
        ),
        (
            Method::POST,
            &coll,
            "[1, 2]",
            422,
            Some(("InvalidBodyContent", "")),
        ),
        (
            Method::PUT,
            &s1,
            r#"{"scale": -1}"#,
            422,
            Some(("MinLimitExceeded", "scale")),
        ),
        (
            Method::PUT,
            &s1,
            r#"{"scale": "three"}"#,
            422,
            Some(("InvalidFormat", "scale")),
        ),
        (
            Method::PUT,
            &s1,
            r#"{"scale": 1.5}"#,
            422,
            Some(("InvalidFormat", "scale")),
        ),
        (Method::POST, &s1, r#"{}"#, 405, None),
    ];
    for (method, url, body, status, err) in cases {
        let r = http(method.clone(), url, Some(SERVICE), &[], Some(body)).await;
        assert_eq!(r.status, *status, "{method} {body}");
        let v = r.json();
        assert_eq!(v["type"], "error");
        assert_eq!(v["status"], *status);
        if let Some((code, field)) = err {
            assert_eq!(v["code"], *code, "{body}");
            if !field.is_empty() {
                assert_eq!(v["fieldName"], *field, "{body}");
            }
        }
    }
    // Nothing above changed 1s1.
    assert_eq!(get(&s1, SERVICE).await.json()["scale"], 2);

    // PUT merges updatable fields, ignores the rest, answers 200 with the resource.
    let r = http(
        Method::PUT,
        &s1,
        Some(SERVICE),
        &[],
        Some(r#"{"scale": 5, "id": "1s99", "kind": "dnsService", "currentScale": 40, "bogus": 1}"#),
    )
    .await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(
        (v["id"].as_str(), v["kind"].as_str(), v["scale"].as_i64()),
        (Some("1s1"), Some("service"), Some(5))
    );
    assert_eq!(v["state"], "updating-active");
    assert_eq!(v["transitioning"], "yes");
    let v = get(&s1, SERVICE).await.json();
    assert_eq!(
        (
            v["state"].as_str(),
            v["scale"].as_i64(),
            v["currentScale"].as_i64()
        ),
        (Some("active"), Some(5), Some(5))
    );
    // A created service starts `registering` and settles; startOnCreate makes it active.
    let r = http(Method::POST, &coll, Some(SERVICE), &[], Some(r#"{"name": "cache", "stackId": "1st1", "startOnCreate": true, "launchConfig": {"imageUuid": "docker:redis:7"}}"#)).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["state"], "registering");
    let id = r.json()["id"].as_str().expect("id").to_owned();
    let v = get(&sim.url(&format!("{P1}/services/{id}")), SERVICE)
        .await
        .json();
    assert_eq!(v["state"], "active");
    assert_eq!(v["scale"], 1);
}

#[tokio::test]
async fn upgrade_state_machine_moves_on_by_itself() {
    let sim = start_sim(Duration::from_millis(150)).await;
    let s1 = sim.url(&format!("{P1}/services/1s1"));
    let v = get(&s1, SERVICE).await.json();
    assert!(v["actions"]["finishupgrade"].is_null());
    let upgrade = v["actions"]["upgrade"]
        .as_str()
        .expect("upgrade offered")
        .to_owned();
    assert_eq!(upgrade, format!("{s1}/?action=upgrade"));

    // Calling an action the state does not offer, or one that does not exist.
    let r = http(
        Method::POST,
        &format!("{s1}/?action=finishupgrade"),
        Some(SERVICE),
        &[],
        Some("{}"),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.json()["code"].as_str()),
        (422, Some("ActionNotAvailable"))
    );
    let r = http(
        Method::POST,
        &format!("{s1}/?action=explode"),
        Some(SERVICE),
        &[],
        Some("{}"),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.json()["code"].as_str()),
        (422, Some("InvalidAction"))
    );
    let r = http(Method::POST, &upgrade, Some(SERVICE), &[], Some("{}")).await;
    assert_eq!(
        (r.status.as_u16(), r.json()["code"].as_str()),
        (422, Some("MissingRequired"))
    );
    let r = http(
        Method::POST,
        &upgrade,
        Some(SERVICE),
        &[],
        Some(r#"{"inServiceStrategy": {"batchSize": 1}}"#),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.json()["code"].as_str()),
        (422, Some("InvalidOption"))
    );

    let body = r#"{"inServiceStrategy": {"batchSize": 1, "intervalMillis": 2000, "startFirst": false,
        "launchConfig": {"imageUuid": "docker:acme/web:1.1", "labels": {"app": "web", "io.rancher.container.pull_image": "always"}}}}"#;
    let r = http(Method::POST, &upgrade, Some(SERVICE), &[], Some(body)).await;
    assert_eq!(r.status, 202);
    let v = r.json();
    assert_eq!(
        (v["state"].as_str(), v["transitioning"].as_str()),
        (Some("upgrading"), Some("yes"))
    );
    assert!(v["actions"]["upgrade"].is_null());
    assert_eq!(v["launchConfig"]["imageUuid"], "docker:acme/web:1.1");
    // Still upgrading right away; `upgraded` with finishupgrade offered once the delay passed.
    assert_eq!(get(&s1, SERVICE).await.json()["state"], "upgrading");
    let v = wait_for(&s1, SERVICE, Duration::from_secs(5), |v| {
        v["state"] == "upgraded"
    })
    .await;
    assert_eq!(v["state"], "upgraded");
    assert_eq!(v["transitioning"], "no");
    let finish = v["actions"]["finishupgrade"]
        .as_str()
        .expect("finishupgrade offered")
        .to_owned();
    let r = http(Method::POST, &finish, Some(SERVICE), &[], None).await;
    assert_eq!(r.status, 202);
    assert_eq!(r.json()["state"], "finishing-upgrade");
    let v = wait_for(&s1, SERVICE, Duration::from_secs(5), |v| {
        v["state"] == "active"
    })
    .await;
    assert_eq!(v["state"], "active");
    assert!(v["actions"]["upgrade"].is_string());
    assert_eq!(
        v["upgrade"]["inServiceStrategy"]["previousLaunchConfig"]["imageUuid"],
        "docker:acme/web:1.0"
    );
}

#[tokio::test]
async fn generic_objects_hosts_and_host_events() {
    let seed = hookgate::sim::DEFAULT_WORLD.replace(
        r#""labels": {"pool": "workers"},
     "created": "2026-11-02T10:00:00Z"}"#,
        r#""labels": {"pool": "workers"}, "agentState": "reconnecting",
     "created": "2026-11-02T10:00:00Z"}"#,
    );
    assert_ne!(seed, hookgate::sim::DEFAULT_WORLD, "seed edit must apply");
    let sim = start_sim_with(hookgate::sim::Sim::new(&seed, Duration::ZERO).expect("seed")).await;

    // Generic objects: create 201, list by key and kind, get, delete.
    let coll = sim.url(&format!("{P1}/genericobjects"));
    let body = r#"{"name": "hook-a", "key": "k-123", "kind": "webhookReceiver", "resourceData": {"driver": "scaleService", "config": {"serviceId": "1s1"}}}"#;
    let r = http(Method::POST, &coll, Some(ALICE), &[], Some(body)).await;
    assert_eq!(r.status, 201);
    let go = r.json();
    assert!(go["id"].as_str().expect("id").starts_with("1go"));
    assert_eq!(go["resourceData"]["config"]["serviceId"], "1s1");
    let listed = get(&format!("{coll}?key=k-123&kind=webhookReceiver"), ALICE)
        .await
        .json();
    assert_eq!(ids(&listed), [go["id"].as_str().expect("id")]);
    assert!(ids(&get(&format!("{coll}?key=other"), ALICE).await.json()).is_empty());
    assert_eq!(get(&coll, BOB).await.status, 403);
    let self_url = go["links"]["self"].as_str().expect("self").to_owned();
    assert_eq!(
        http(Method::DELETE, &self_url, Some(ALICE), &[], None)
            .await
            .status,
        200
    );
    assert!(ids(&get(&format!("{coll}?key=k-123"), ALICE).await.json()).is_empty());

    // Hosts: displayed state comes from the agent while active.
    let hosts = sim.url(&format!("{P1}/hosts"));
    let h2 = get(&sim.url(&format!("{P1}/hosts/1h2")), SERVICE)
        .await
        .json();
    assert_eq!(h2["state"], "reconnecting");
    let created = http(
        Method::POST,
        &hosts,
        Some(SERVICE),
        &[],
        Some(r#"{"hostname": "node03", "hostTemplateId": "1ht1"}"#),
    )
    .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.json()["driver"], "amazonec2");
    let r = http(
        Method::POST,
        &hosts,
        Some(SERVICE),
        &[],
        Some(r#"{"hostTemplateId": "1ht1"}"#),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.json()["fieldName"].as_str()),
        (422, Some("hostname"))
    );
    let r = http(
        Method::POST,
        &hosts,
        Some(SERVICE),
        &[],
        Some(r#"{"hostname": "x", "hostTemplateId": "1ht9"}"#),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.json()["code"].as_str()),
        (422, Some("InvalidReference"))
    );
    assert_eq!(
        ids(&get(
            &format!("{hosts}?sort=created&order=desc&hostTemplateId=1ht1"),
            SERVICE
        )
        .await
        .json())
        .len(),
        3
    );

    // host.evacuate with deleteHost removes the host from lists.
    let ev = sim.url(&format!("{P1}/externalhostevents"));
    let r = http(
        Method::POST,
        &ev,
        Some(SERVICE),
        &[],
        Some(r#"{"eventType": "host.evacuate", "hostId": "1h1", "deleteHost": true}"#),
    )
    .await;
    assert_eq!(r.status, 201);
    assert!(r.json()["id"].as_str().expect("id").starts_with("1ee"));
    let left = ids(&get(&hosts, SERVICE).await.json());
    assert!(!left.contains(&"1h1".to_owned()), "{left:?}");
    assert_eq!(
        get(&sim.url(&format!("{P1}/hosts/1h1")), SERVICE)
            .await
            .json()["state"],
        "purged"
    );
}

#[tokio::test]
async fn faults_and_call_log() {
    let sim = start_sim(Duration::ZERO).await;
    let s1 = sim.url(&format!("{P1}/services/1s1"));
    let r = http(
        Method::POST,
        &sim.url("/_sim/faults"),
        None,
        &[],
        Some(r#"{"pathPrefix": "/v2-beta/projects/1a5/services", "status": 503}"#),
    )
    .await;
    assert_eq!(r.status, 201);
    let r = get(&s1, SERVICE).await;
    assert_eq!(
        (r.status.as_u16(), r.json()["status"].as_i64()),
        (503, Some(503))
    );
    // Other paths are untouched.
    assert_eq!(
        get(&sim.url(&format!("{P1}/hosts")), SERVICE).await.status,
        200
    );
    let r = http(
        Method::POST,
        &sim.url("/_sim/faults"),
        None,
        &[],
        Some(r#"{"status": "nope"}"#),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        http(Method::DELETE, &sim.url("/_sim/faults"), None, &[], None)
            .await
            .status,
        204
    );
    assert_eq!(get(&s1, SERVICE).await.status, 200);

    http(Method::DELETE, &sim.url("/_sim/calls"), None, &[], None).await;
    get(&format!("{s1}?a=b"), SERVICE).await;
    http(
        Method::PUT,
        &s1,
        Some(SERVICE),
        &[],
        Some(r#"{"scale": 3}"#),
    )
    .await;
    let calls = http(Method::GET, &sim.url("/_sim/calls"), None, &[], None)
        .await
        .json();
    assert_eq!(
        calls,
        json!([
            {"method": "GET", "path": "/v2-beta/projects/1a5/services/1s1", "query": "a=b"},
            {"method": "PUT", "path": "/v2-beta/projects/1a5/services/1s1", "query": ""}
        ])
    );
}

#[tokio::test]
async fn metrics_show_scale_and_a_load_per_container_labelled_with_the_scale() {
    let sim = start_sim(Duration::ZERO).await;
    let metrics = || async {
        let r = http(Method::GET, &sim.url("/_sim/metrics"), None, &[], None).await;
        assert_eq!(r.status, 200);
        String::from_utf8_lossy(&r.body).into_owned()
    };
    let text = metrics().await;
    assert!(text.contains(r#"sim_service_scale{project="1a5",service="1s1",name="web"} 2"#));
    assert!(!text.contains("sim_service_load_per_container{"), "{text}");
    sim.set("services", "1s1", json!({"load": 500})).await;
    let text = metrics().await;
    assert!(text.contains(
        r#"sim_service_load_per_container{project="1a5",service="1s1",name="web",scale="2"} 250"#
    ), "{text}");
    // A scale change ends the series and starts another.
    let put = http(
        Method::PUT,
        &sim.url("/v2-beta/projects/1a5/services/1s1"),
        Some(SERVICE),
        &[],
        Some(r#"{"scale": 4}"#),
    )
    .await;
    assert_eq!(put.status, 200);
    let text = metrics().await;
    assert!(
        text.contains(r#"scale="4"} 125"#) && !text.contains(r#"scale="2""#),
        "{text}"
    );
    // Services in every project are shown; the global one, and a dnsService, have no scale
    // worth scaling but are what Cattle holds.
    assert!(text.contains(r#"sim_service_scale{project="1a7",service="1s6",name="api"} 1"#));
}
